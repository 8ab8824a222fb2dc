//! Bearer-token verification for the Threat Protection API: the signature against the
//! service's own keys (parsed once), RS256 only, `exp`/`nbf` with 5 minutes of skew, `iss`
//! for the token's own `tid`, `aud`, and then the current consent: a token whose application
//! no longer has its service principal (or any role) in the tenant stops working at once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use threatgate_domain::{
    AppId, BUILT_IN_RESOURCES, BuiltInResource, MICROSOFT_GRAPH, ObjectId, Permission, TenantId, TenantScope,
};
use threatgate_proto::AccessTokenClaims;
use time::OffsetDateTime;

use crate::service::Snapshot;

/// Clock skew allowed on `exp` and `nbf`.
const SKEW_SECONDS: i64 = 300;
/// Tokens are about 1.3 KB; anything far larger is not ours.
const MAX_TOKEN_LENGTH: usize = 16 * 1024;

/// A caller whose token verified, with the roles it holds now (token ∩ current grants).
#[derive(Debug, Clone)]
pub struct VerifiedCaller {
    /// The resource the token is for (its audience).
    pub resource: &'static BuiltInResource,
    pub tenant: TenantId,
    pub app_id: AppId,
    pub app_name: String,
    pub roles: Vec<&'static str>,
    /// Whether the application is registered in the tenant itself.
    pub own_application: bool,
}

impl VerifiedCaller {
    /// The tenant scope with permission `P`, if the caller holds one of its roles.
    pub fn authorize<P: Permission>(&self) -> Option<TenantScope<P>> {
        let allowed =
            self.resource.app_id == P::RESOURCE.app_id && P::ROLES.iter().any(|role| self.roles.contains(role));
        (allowed && (self.own_application || !P::OWN_APPLICATION_ONLY))
            .then(|| TenantScope::from_verified_token(self.tenant, self.app_id, self.app_name.clone()))
    }
}

/// Why a bearer token was refused (all 401). `Display` is the client's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("the request has no bearer token (Authorization: Bearer <token>)")]
    Missing,
    #[error("the bearer token is malformed")]
    Malformed,
    #[error("the token's algorithm '{0}' is not accepted; tokens are signed with RS256")]
    Algorithm(String),
    #[error("the token is signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's audience is not https://api.security.microsoft.com")]
    Audience,
    #[error("the token's issuer does not match its tenant")]
    Issuer,
    #[error("the application's consent in this tenant was revoked")]
    Revoked,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// Verifies `token` against the snapshot at `now`.
pub fn verify_bearer(snapshot: &Snapshot, token: &str, now: OffsetDateTime) -> Result<VerifiedCaller, BearerError> {
    if token.len() > MAX_TOKEN_LENGTH {
        return Err(BearerError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BearerError::Malformed);
    };
    let header: Header = decode_json(header_b64)?;
    if header.alg != "RS256" {
        return Err(BearerError::Algorithm(header.alg.chars().take(16).collect()));
    }
    let key = header.kid.as_deref().and_then(|kid| snapshot.keys.find(kid)).ok_or(BearerError::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| BearerError::Malformed)?;
    let signed_part = &token[..header_b64.len() + 1 + claims_b64.len()];
    if !key.verify(signed_part.as_bytes(), &signature) {
        return Err(BearerError::Signature);
    }
    let claims: AccessTokenClaims = decode_json(claims_b64)?;
    let now = now.unix_timestamp();
    if now > claims.exp + SKEW_SECONDS {
        return Err(BearerError::Expired);
    }
    if now < claims.nbf - SKEW_SECONDS {
        return Err(BearerError::NotYetValid);
    }
    // Exactly as issued: the resource's URI or application id (Graph's also with a trailing
    // slash, which Graph accepts).
    let resource = BUILT_IN_RESOURCES
        .into_iter()
        .find(|r| {
            claims.aud == r.identifier_uri
                || claims.aud == r.app_id.to_string()
                || (r.app_id == MICROSOFT_GRAPH.app_id && claims.aud.strip_suffix('/') == Some(r.identifier_uri))
        })
        .ok_or(BearerError::Audience)?;
    let tenant = TenantId::parse(&claims.tid).ok_or(BearerError::Issuer)?;
    if claims.iss != format!("https://sts.windows.net/{tenant}/") {
        return Err(BearerError::Issuer);
    }
    let app_id = AppId::parse(&claims.appid).ok_or(BearerError::Malformed)?;
    let object_id = ObjectId::parse(&claims.oid).ok_or(BearerError::Malformed)?;

    // The consent as it is now, not as it was when the token was issued.
    let directory = &snapshot.directory;
    let principal = directory.service_principal(tenant, app_id).ok_or(BearerError::Revoked)?;
    if principal.principal.object_id != object_id {
        return Err(BearerError::Revoked);
    }
    // No role of any resource left: the consent was withdrawn. (Roles of another resource
    // only: the caller is known, and the API answers that it lacks the roles.)
    if BUILT_IN_RESOURCES.into_iter().all(|r| directory.roles(tenant, app_id, r).is_empty()) {
        return Err(BearerError::Revoked);
    }
    let granted = directory.roles(tenant, app_id, resource);
    let roles = claims
        .roles
        .iter()
        .filter_map(|name| resource.find_role(name).map(|role| role.value))
        .filter(|value| granted.contains(value))
        .collect();
    let application = directory.application(app_id).map(|entry| &entry.application);
    let app_name = application.map(|a| a.display_name.to_string()).unwrap_or_default();
    let own_application = application.is_some_and(|a| a.home_tenant_id == tenant);
    Ok(VerifiedCaller { resource, tenant, app_id, app_name, roles, own_application })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, BearerError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| BearerError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| BearerError::Malformed)
}
