//! Client-credentials token issuance: the checks of `identity-protocol.md` 7.3 in the order
//! Microsoft's service makes them, then the v1-format token of spec README decision 3.
//!
//! This is a pure function of the directory view, the key ring, the secret hasher and the
//! time, so every branch is testable without a server or a clock.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::collections::HashMap;
use threatgate_domain::{AppId, BuiltInResource, Tenant, TenantId, TenantSegment, built_in_resource_named};
use threatgate_proto::AccessTokenClaims;
use time::{Duration, OffsetDateTime};

use crate::assertion::{AssertionCheck, verify_client_assertion};
use crate::error::{AadError, excerpt};
use crate::keys::KeyRing;
use crate::random::random_bytes;
use crate::request::{BasicCredentials, TokenEndpoint, TokenParameters};
use crate::secrets::{ClientSecret, SecretHasher};
use crate::view::{DirectoryView, ResolvedTenant};

/// Tokens are backdated by this much (`nbf` = `iat` = now − 5 min), as Microsoft's.
const BACKDATE: Duration = Duration::seconds(300);
/// Tokens expire this long after issue (`exp` = now + 1 h), unless the emulator's controls set
/// another lifetime for the application.
pub const TOKEN_LIFETIME: Duration = Duration::seconds(3600);
/// What the response says of the lifetime: one second less, as Microsoft's (3599).
pub const EXPIRES_IN_SECONDS: i64 = 3599;
/// The shortest and longest lifetime an application's tokens may be given.
pub const TOKEN_LIFETIME_RANGE: std::ops::RangeInclusive<i64> = 60..=86_400;

/// OIDC scopes MSAL and others send next to `/.default`; they are ignored.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

const CLIENT_ASSERTION_TYPE_JWT: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What issuance reads.
#[derive(Debug, Clone, Copy)]
pub struct IssuanceContext<'a> {
    pub view: &'a DirectoryView,
    pub keys: &'a KeyRing,
    pub hasher: &'a SecretHasher,
    pub now: OffsetDateTime,
    /// The longest a client assertion may still be valid for when it is presented.
    pub max_assertion_lifetime: time::Duration,
    /// Applications whose tokens live other than [`TOKEN_LIFETIME`].
    pub token_lifetimes: &'a HashMap<AppId, Duration>,
}

/// A token request as received.
#[derive(Debug)]
pub struct TokenRequest<'a> {
    pub endpoint: TokenEndpoint,
    /// The `{tenant}` path segment, undecoded.
    pub tenant: &'a str,
    pub parameters: TokenParameters,
    pub basic: Option<BasicCredentials>,
    /// The origins (`https://host[:port]`) clients reach the token endpoints at: a client
    /// assertion's `aud` must be a token endpoint URL at one of them.
    pub origins: &'a [String],
}

/// How the client proved who it is (the token's `appidacr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientCredentialKind {
    /// A client secret: `appidacr` "1".
    Secret,
    /// A certificate-signed client assertion: `appidacr` "2".
    Certificate,
}

impl ClientCredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Certificate => "certificate",
        }
    }

    fn application_authentication_class(self) -> &'static str {
        match self {
            Self::Secret => "1",
            Self::Certificate => "2",
        }
    }
}

/// A signed access token and what the response reports about it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    /// The resource as the request named it (v1 `resource` in the response).
    pub resource: String,
    pub expires_in: i64,
    pub expires_on: i64,
    pub not_before: i64,
    /// Who got it, for the audit trail (never the token itself).
    pub tenant_id: TenantId,
    pub app_id: AppId,
    pub app_name: String,
    /// The application's home tenant.
    pub app_tenant_id: TenantId,
    pub roles: Vec<String>,
    pub credential: ClientCredentialKind,
}

/// Checks a client-credentials request and issues a token for it.
pub fn issue_client_credentials(
    context: IssuanceContext<'_>,
    request: TokenRequest<'_>,
) -> Result<IssuedToken, AadError> {
    let IssuanceContext { view, keys, hasher, now, max_assertion_lifetime, token_lifetimes } = context;
    let TokenRequest { endpoint, tenant: segment_text, parameters, basic, origins } = request;

    // 1. The tenant (90002).
    let segment = TenantSegment::parse(segment_text)
        .map_err(|_| AadError::InvalidTenantIdentifier { segment: excerpt(segment_text) })?;
    let resolved = view.resolve(&segment).ok_or_else(|| AadError::TenantNotFound { segment: excerpt(segment_text) })?;

    // 2. The parameters (900144, 70003, 901002).
    let grant_type = parameters.grant_type.as_deref().ok_or(AadError::MissingParameter { name: "grant_type" })?;
    if grant_type != "client_credentials" {
        return Err(AadError::UnsupportedGrantType { grant_type: excerpt(grant_type) });
    }
    let (client_id, secret) = client_credentials_of(&parameters, basic)?;
    let requested = match endpoint {
        TokenEndpoint::V2 => {
            let scope = parameters.scope.as_deref().ok_or(AadError::MissingParameter { name: "scope" })?;
            if parameters.resource.is_some() {
                return Err(AadError::ResourceParameterNotSupported);
            }
            scope
        }
        TokenEndpoint::V1 => parameters.resource.as_deref().ok_or(AadError::MissingParameter { name: "resource" })?,
    };

    // 3. A specific tenant (50059).
    let tenant = match resolved {
        ResolvedTenant::Tenant(tenant) => tenant,
        ResolvedTenant::Alias => return Err(AadError::NoTenantIdentifyingInformation),
    };

    // 4. The client exists in that tenant (700016).
    let not_found =
        || AadError::ApplicationNotFound { client_id: excerpt(&client_id), directory: tenant.display_name.to_string() };
    let app_id = AppId::parse(&client_id).ok_or_else(not_found)?;
    let application = view.application(app_id).ok_or_else(not_found)?;
    let principal = view.service_principal(tenant.id, app_id).ok_or_else(not_found)?;

    // 5. Its credential (7000218, 7000215, 7000222; 700027, 50027, 50048).
    let app_text = app_id.to_string();
    let credential = match (secret, parameters.client_assertion.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(AadError::MalformedRequest {
                detail: "The request authenticates the client twice (client_secret and client_assertion).".into(),
            });
        }
        (Some(secret), None) => {
            verify_secret(hasher, &application.secrets, &secret, now, &app_text)?;
            ClientCredentialKind::Secret
        }
        (None, Some(assertion)) => {
            match parameters.client_assertion_type.as_deref() {
                None => return Err(AadError::MissingParameter { name: "client_assertion_type" }),
                Some(CLIENT_ASSERTION_TYPE_JWT) => {}
                Some(other) => return Err(AadError::UnsupportedAssertionType { assertion_type: excerpt(other) }),
            }
            let check = AssertionCheck {
                client_id: app_id,
                certificates: &application.certificates,
                tenant,
                origins,
                now,
                max_lifetime: max_assertion_lifetime,
            };
            verify_client_assertion(assertion, check)?;
            ClientCredentialKind::Certificate
        }
        (None, None) => return Err(AadError::MissingClientCredential),
    };

    // 6. The resource (1002012, 70011, 700022, 500011).
    let (resource, audience) = match endpoint {
        TokenEndpoint::V2 => audience_from_scope(requested)?,
        TokenEndpoint::V1 => audience_from_resource(requested, tenant)?,
    };

    // 7. The token, with the roles of that resource.
    let roles: Vec<String> = view.roles(tenant.id, app_id, resource).into_iter().map(str::to_owned).collect();
    let issuer = format!("https://sts.windows.net/{}/", tenant.id);
    let issued_at = now - BACKDATE;
    let lifetime = token_lifetimes.get(&app_id).copied().unwrap_or(TOKEN_LIFETIME);
    let expires = now + lifetime;
    let internal = |error: crate::Error| {
        tracing::error!(%error, "token issuance failed");
        AadError::Internal
    };
    let claims = AccessTokenClaims {
        aud: audience,
        iss: issuer.clone(),
        iat: issued_at.unix_timestamp(),
        nbf: issued_at.unix_timestamp(),
        exp: expires.unix_timestamp(),
        aio: STANDARD.encode(random_bytes::<48>().map_err(internal)?),
        appid: app_text,
        appidacr: credential.application_authentication_class().into(),
        idp: issuer,
        idtyp: "app".into(),
        oid: principal.principal.object_id.to_string(),
        rh: format!("1.{}.", URL_SAFE_NO_PAD.encode(random_bytes::<36>().map_err(internal)?)),
        roles: roles.clone(),
        sub: principal.principal.object_id.to_string(),
        tid: tenant.id.to_string(),
        uti: URL_SAFE_NO_PAD.encode(random_bytes::<16>().map_err(internal)?),
        ver: "1.0".into(),
    };
    let key = keys.signing_key(now).ok_or_else(|| internal(crate::Error::NoSigningKey))?;
    let access_token = key.sign_jwt(&claims).map_err(internal)?;
    Ok(IssuedToken {
        access_token,
        resource: requested.to_owned(),
        expires_in: lifetime.whole_seconds() - (TOKEN_LIFETIME.whole_seconds() - EXPIRES_IN_SECONDS),
        expires_on: expires.unix_timestamp(),
        not_before: issued_at.unix_timestamp(),
        tenant_id: tenant.id,
        app_id,
        app_name: application.application.display_name.to_string(),
        app_tenant_id: application.application.home_tenant_id,
        roles,
        credential,
    })
}

/// The client id and secret, from the body or from HTTP Basic (not both).
fn client_credentials_of(
    parameters: &TokenParameters,
    basic: Option<BasicCredentials>,
) -> Result<(String, Option<ClientSecret>), AadError> {
    match basic {
        None => {
            let client_id = parameters.client_id.clone().ok_or(AadError::MissingParameter { name: "client_id" })?;
            Ok((client_id, parameters.client_secret.clone()))
        }
        Some(basic) => {
            if parameters.client_secret.is_some() || parameters.client_assertion.is_some() {
                return Err(AadError::MalformedRequest {
                    detail: "The request authenticates the client more than once (HTTP Basic and the request body)."
                        .into(),
                });
            }
            if parameters.client_id.as_deref().is_some_and(|id| !id.eq_ignore_ascii_case(&basic.client_id)) {
                return Err(AadError::MalformedRequest {
                    detail: "The client_id in the request body differs from the one in the Authorization header."
                        .into(),
                });
            }
            if basic.client_id.is_empty() {
                return Err(AadError::MissingParameter { name: "client_id" });
            }
            let secret = (!basic.client_secret.expose().is_empty()).then_some(basic.client_secret);
            Ok((basic.client_id, secret))
        }
    }
}

/// Accepts the secret if it matches an unexpired secret of the application.
fn verify_secret(
    hasher: &SecretHasher,
    secrets: &[threatgate_domain::ClientSecretRecord],
    presented: &ClientSecret,
    now: OffsetDateTime,
    app_id: &str,
) -> Result<(), AadError> {
    // Check every secret, so that the time taken does not tell which one matched.
    let mut valid = false;
    let mut expired = false;
    for secret in secrets {
        if hasher.verify(presented, &secret.value_hash) {
            if secret.is_valid_at(now) {
                valid = true;
            } else {
                expired = true;
            }
        }
    }
    match (valid, expired) {
        (true, _) => Ok(()),
        (false, true) => Err(AadError::ExpiredClientSecret { app_id: app_id.to_owned() }),
        (false, false) => Err(AadError::InvalidClientSecret { app_id: app_id.to_owned() }),
    }
}

/// The resource and token audience for a v2 `scope`: exactly one built-in resource, with
/// `/.default`, ignoring OIDC scopes next to it.
fn audience_from_scope(scope: &str) -> Result<(&'static BuiltInResource, String), AadError> {
    let resources: Vec<&str> = scope.split_whitespace().filter(|item| !OIDC_SCOPES.contains(item)).collect();
    let [single] = resources.as_slice() else {
        return Err(if resources.is_empty() {
            AadError::ScopeWithoutDefault { scope: excerpt(scope) }
        } else {
            AadError::MultipleResourcesScope { scope: excerpt(scope) }
        });
    };
    let identifier =
        single.strip_suffix("/.default").ok_or_else(|| AadError::ScopeWithoutDefault { scope: excerpt(scope) })?;
    let resource =
        built_in_resource_named(identifier).ok_or_else(|| AadError::InvalidScope { scope: excerpt(single) })?;
    Ok((resource, canonical_audience(resource, identifier)))
}

/// The resource and token audience for a v1 `resource`.
fn audience_from_resource(resource: &str, tenant: &Tenant) -> Result<(&'static BuiltInResource, String), AadError> {
    let found = built_in_resource_named(resource).ok_or_else(|| AadError::ResourceNotFound {
        resource: excerpt(resource),
        tenant: tenant.display_name.to_string(),
    })?;
    Ok((found, canonical_audience(found, resource)))
}

/// `aud` is the resource as named: its application id when named by id, else its URI.
fn canonical_audience(resource: &BuiltInResource, identifier: &str) -> String {
    if AppId::parse(identifier).is_some() { resource.app_id.to_string() } else { resource.identifier_uri.to_owned() }
}
