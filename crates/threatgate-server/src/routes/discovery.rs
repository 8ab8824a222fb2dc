//! OpenID Connect discovery (v1 and v2), JWKS and instance discovery
//! (`identity-protocol.md` 5.1–5.4). URLs are built from the configured public base URL.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use threatgate_domain::TenantSegment;
use threatgate_identity::AadError;
use threatgate_identity::view::ResolvedTenant;
use threatgate_proto::{InstanceDiscovery, InstanceMetadata, JwkSet, OpenIdConfigurationV1, OpenIdConfigurationV2};

use crate::aad_errors::{Surface, aad_error_response};
use crate::json::json_utf8;
use crate::request_ids::RequestIds;
use crate::state::AppState;

/// How a discovery path named its tenant, after resolution.
enum Named {
    /// A tenant, named in URLs by its GUID whatever the request used.
    Tenant(String),
    /// `common`, `organizations` or `consumers`, kept as written (lower case).
    Alias(String),
}

impl Named {
    fn segment(&self) -> &str {
        match self {
            Self::Tenant(id) | Self::Alias(id) => id,
        }
    }
}

fn resolve(state: &AppState, tenant: Result<Path<String>, PathRejection>) -> Result<Named, AadError> {
    let Ok(Path(text)) = tenant else {
        return Err(AadError::InvalidTenantIdentifier { segment: "(not valid UTF-8)".into() });
    };
    let segment = TenantSegment::parse(&text)
        .map_err(|_| AadError::InvalidTenantIdentifier { segment: text.chars().take(256).collect() })?;
    let snapshot = state.identity.snapshot();
    match snapshot.directory.resolve(&segment) {
        Some(ResolvedTenant::Tenant(tenant)) => Ok(Named::Tenant(tenant.id.to_string())),
        Some(ResolvedTenant::Alias) => Ok(Named::Alias(text.to_ascii_lowercase())),
        None => Err(AadError::TenantNotFound { segment: text.chars().take(256).collect() }),
    }
}

/// Discovery answers are public and cacheable for a day, as Microsoft's.
fn discovery_response(body: Response) -> Response {
    let mut response = body;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=86400, private"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, OPTIONS"));
    response
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

const AUTH_METHODS: [&str; 3] = ["client_secret_post", "private_key_jwt", "client_secret_basic"];
const RESPONSE_MODES: [&str; 3] = ["query", "fragment", "form_post"];

/// `GET /{tenant}/.well-known/openid-configuration`. Public.
pub async fn openid_configuration_v1(
    State(state): State<AppState>,
    ids: RequestIds,
    tenant: Result<Path<String>, PathRejection>,
) -> Response {
    let named = match resolve(&state, tenant) {
        Ok(named) => named,
        Err(error) => {
            return aad_error_response(&error, Surface::Discovery, &ids, &state.public_url);
        }
    };
    let base = &state.public_url;
    let t = named.segment();
    let (issuer, region) = match &named {
        Named::Tenant(id) => (format!("https://sts.windows.net/{id}/"), Some("WW".to_owned())),
        Named::Alias(_) => ("https://sts.windows.net/{tenantid}/".to_owned(), None),
    };
    let document = OpenIdConfigurationV1 {
        token_endpoint: format!("{base}/{t}/oauth2/token"),
        token_endpoint_auth_methods_supported: strings(&AUTH_METHODS),
        jwks_uri: format!("{base}/common/discovery/keys"),
        response_modes_supported: strings(&RESPONSE_MODES),
        subject_types_supported: strings(&["pairwise"]),
        id_token_signing_alg_values_supported: strings(&["RS256"]),
        response_types_supported: strings(&["code", "id_token", "code id_token", "token id_token", "token"]),
        scopes_supported: strings(&["openid"]),
        issuer,
        microsoft_multi_refresh_token: true,
        authorization_endpoint: format!("{base}/{t}/oauth2/authorize"),
        device_authorization_endpoint: format!("{base}/{t}/oauth2/devicecode"),
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: format!("{base}/{t}/oauth2/logout"),
        claims_supported: strings(&[
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "amr",
            "nonce",
            "email",
            "given_name",
            "family_name",
            "nickname",
        ]),
        check_session_iframe: format!("{base}/{t}/oauth2/checksession"),
        userinfo_endpoint: format!("{base}/{t}/openid/userinfo"),
        kerberos_endpoint: format!("{base}/{t}/kerberos"),
        tenant_region_scope: region,
        cloud_instance_name: "microsoftonline.com".into(),
        cloud_graph_host_name: "graph.windows.net".into(),
        msgraph_host: "graph.microsoft.com".into(),
        rbac_url: base.to_string(),
    };
    discovery_response(json_utf8(&document).into_response())
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`. Public.
pub async fn openid_configuration_v2(
    State(state): State<AppState>,
    ids: RequestIds,
    tenant: Result<Path<String>, PathRejection>,
) -> Response {
    let named = match resolve(&state, tenant) {
        Ok(named) => named,
        Err(error) => {
            return aad_error_response(&error, Surface::Discovery, &ids, &state.public_url);
        }
    };
    let base = &state.public_url;
    let t = named.segment();
    let (issuer, region) = match &named {
        Named::Tenant(id) => (format!("{base}/{id}/v2.0"), Some("WW".to_owned())),
        Named::Alias(_) => (format!("{base}/{{tenantid}}/v2.0"), None),
    };
    let document = OpenIdConfigurationV2 {
        token_endpoint: format!("{base}/{t}/oauth2/v2.0/token"),
        token_endpoint_auth_methods_supported: strings(&AUTH_METHODS),
        jwks_uri: format!("{base}/{t}/discovery/v2.0/keys"),
        response_modes_supported: strings(&RESPONSE_MODES),
        subject_types_supported: strings(&["pairwise"]),
        id_token_signing_alg_values_supported: strings(&["RS256"]),
        response_types_supported: strings(&["code", "id_token", "code id_token", "id_token token"]),
        scopes_supported: strings(&["openid", "profile", "email", "offline_access"]),
        issuer,
        request_uri_parameter_supported: false,
        userinfo_endpoint: format!("{base}/oidc/userinfo"),
        authorization_endpoint: format!("{base}/{t}/oauth2/v2.0/authorize"),
        device_authorization_endpoint: format!("{base}/{t}/oauth2/v2.0/devicecode"),
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: format!("{base}/{t}/oauth2/v2.0/logout"),
        claims_supported: strings(&[
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ]),
        kerberos_endpoint: format!("{base}/{t}/kerberos"),
        tenant_region_scope: region,
        cloud_instance_name: "microsoftonline.com".into(),
        cloud_graph_host_name: "graph.windows.net".into(),
        msgraph_host: "graph.microsoft.com".into(),
        rbac_url: base.to_string(),
    };
    discovery_response(json_utf8(&document).into_response())
}

/// `GET /{tenant}/discovery/keys`: the published signing keys (v1 form). Public.
pub async fn keys_v1(
    State(state): State<AppState>,
    ids: RequestIds,
    tenant: Result<Path<String>, PathRejection>,
) -> Response {
    keys(&state, &ids, tenant, None)
}

/// `GET /{tenant}/discovery/v2.0/keys`: the published signing keys, each with the v2 issuer
/// template. Public.
pub async fn keys_v2(
    State(state): State<AppState>,
    ids: RequestIds,
    tenant: Result<Path<String>, PathRejection>,
) -> Response {
    let issuer = format!("{}/{{tenantid}}/v2.0", state.public_url);
    keys(&state, &ids, tenant, Some(issuer))
}

fn keys(
    state: &AppState,
    ids: &RequestIds,
    tenant: Result<Path<String>, PathRejection>,
    issuer: Option<String>,
) -> Response {
    if let Err(error) = resolve(state, tenant) {
        return aad_error_response(&error, Surface::Discovery, ids, &state.public_url);
    }
    let snapshot = state.identity.snapshot();
    let keys = snapshot.keys.published().iter().map(|key| key.jwk(issuer.clone())).collect();
    discovery_response(json_utf8(&JwkSet { keys }).into_response())
}

#[derive(Debug, Deserialize)]
pub struct InstanceQuery {
    authorization_endpoint: Option<String>,
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

/// `GET /common/discovery/instance`: lets MSAL validate this server as an authority when it
/// is pointed here with `instance_discovery="<this URL>"`. Public.
pub async fn instance_discovery(
    State(state): State<AppState>,
    ids: RequestIds,
    query: Result<Query<InstanceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let refuse = || aad_error_response(&AadError::UnknownInstance, Surface::Discovery, &ids, &state.public_url);
    let Ok(Query(query)) = query else {
        return refuse();
    };
    let ours = url::Url::parse(&state.public_url).ok();
    let theirs = query.authorization_endpoint.as_deref().and_then(|text| url::Url::parse(text).ok());
    let (Some(ours), Some(theirs)) = (ours, theirs) else {
        return refuse();
    };
    // MSAL for Python asks about its authority with the port dropped (`https://host/tenant/…`
    // for `https://host:8443/tenant`): a URL without a port names this server by host alone.
    let same_port = theirs.port().is_none() || ours.port_or_known_default() == theirs.port_or_known_default();
    let same_host =
        ours.host_str().map(str::to_ascii_lowercase) == theirs.host_str().map(str::to_ascii_lowercase) && same_port;
    let tenant = theirs.path_segments().and_then(|mut segments| segments.next()).filter(|s| !s.is_empty());
    let (true, Some(tenant)) = (same_host, tenant) else {
        return refuse();
    };
    let host = match ours.port() {
        Some(port) => format!("{}:{port}", ours.host_str().unwrap_or_default()),
        None => ours.host_str().unwrap_or_default().to_owned(),
    };
    let answer = InstanceDiscovery {
        tenant_discovery_endpoint: format!("{}/{tenant}/v2.0/.well-known/openid-configuration", state.public_url),
        api_version: query.api_version.unwrap_or_else(|| "1.1".into()),
        metadata: vec![InstanceMetadata {
            preferred_network: host.clone(),
            preferred_cache: host.clone(),
            aliases: vec![host],
        }],
    };
    discovery_response(json_utf8(&answer).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CloudMetadataQuery {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

/// `GET /metadata/endpoints?api-version=…`: Azure Resource Manager's cloud metadata document,
/// which Azure tools read to configure a cloud from one URL (msticpy's `resource_manager_url`,
/// `az cloud register --endpoint-resource-manager`). Its login endpoint and resource manager
/// are this server; the resource identifiers are Microsoft's, since tokens are asked for them
/// by those names. Public.
///
/// The shape follows the version asked: `1.0` and `2015-01-01` the first document (one object,
/// `…Endpoint` names), `2019-05-01` and `2020-06-01` an array of clouds (this one), any later
/// version (and `latest`, or none) the current single object.
pub async fn cloud_metadata(
    State(state): State<AppState>,
    query: Result<Query<CloudMetadataQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let version = query.ok().and_then(|Query(query)| query.api_version).unwrap_or_default();
    let base = state.public_url.trim_end_matches('/');
    let audiences = ["https://management.core.windows.net/", "https://management.azure.com/"];
    let document = match version.as_str() {
        "1.0" | "2015-01-01" => serde_json::json!({
            "galleryEndpoint": format!("{base}/"),
            "graphEndpoint": "https://graph.windows.net/",
            "portalEndpoint": format!("{base}/portal"),
            "authentication": { "loginEndpoint": base, "audiences": audiences },
        }),
        _ => {
            let cloud = serde_json::json!({
                "portal": format!("{base}/portal"),
                "authentication": {
                    "loginEndpoint": base,
                    "audiences": audiences,
                    "tenant": "common",
                    "identityProvider": "AAD",
                },
                "graphAudience": "https://graph.windows.net/",
                "graph": "https://graph.windows.net/",
                "name": "AzureCloud",
                "suffixes": {},
                "resourceManager": format!("{base}/"),
                "microsoftGraphResourceId": format!("{}/", threatgate_domain::MICROSOFT_GRAPH.identifier_uri),
            });
            match version.as_str() {
                "2019-05-01" | "2020-06-01" => serde_json::Value::Array(vec![cloud]),
                _ => cloud,
            }
        }
    };
    discovery_response(json_utf8(&document).into_response())
}
