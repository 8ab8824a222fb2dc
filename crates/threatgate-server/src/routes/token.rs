//! `POST /{tenant}/oauth2/token` (v1) and `POST /{tenant}/oauth2/v2.0/token` (v2):
//! client-credentials tokens (`identity-protocol.md` sections 2–4, 7).

use std::net::SocketAddr;

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use threatgate_identity::{AadError, BasicCredentials, IssuedToken, TokenEndpoint, TokenParameters, TokenRequest};
use threatgate_proto::{TokenResponseV1, TokenResponseV2};
use threatgate_store::{AuditCategory, AuditEvent};

use crate::aad_errors::{Surface, aad_error_response};
use crate::json::json_utf8;
use crate::request_ids::RequestIds;
use crate::state::AppState;

/// Token request bodies larger than this are refused (413); real ones are under 4 KiB.
pub const MAX_TOKEN_REQUEST_BYTES: usize = 64 * 1024;

/// v1 token endpoint. Needs no authentication beyond the client credential in the request.
pub async fn token_v1(
    state: State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    tenant: Result<Path<String>, PathRejection>,
    ids: RequestIds,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    token(state, TokenEndpoint::V1, peer, tenant, ids, method, headers, body).await
}

/// v2 token endpoint. Needs no authentication beyond the client credential in the request.
pub async fn token_v2(
    state: State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    tenant: Result<Path<String>, PathRejection>,
    ids: RequestIds,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    token(state, TokenEndpoint::V2, peer, tenant, ids, method, headers, body).await
}

#[allow(clippy::too_many_arguments, reason = "the extractors of two handlers, passed on")]
#[tracing::instrument(skip_all, fields(?endpoint))]
async fn token(
    State(state): State<AppState>,
    endpoint: TokenEndpoint,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    tenant: Result<Path<String>, PathRejection>,
    ids: RequestIds,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let refuse = |error: AadError| aad_error_response(&error, Surface::Token, &ids, &state.public_url);
    let Ok(Path(tenant)) = tenant else {
        return refuse(AadError::InvalidTenantIdentifier { segment: "(not valid UTF-8)".into() });
    };
    if method != Method::POST {
        return refuse(AadError::MethodNotAllowed { allowed: "POST", received: method.to_string() });
    }
    let parameters = match read_parameters(&headers, body).await {
        Ok(parameters) => parameters,
        Err(error) => return refuse(error),
    };
    let basic = match headers.get(header::AUTHORIZATION).map(|value| value.to_str()) {
        None => Ok(None),
        Some(Ok(value)) => BasicCredentials::from_authorization_header(value).transpose(),
        Some(Err(_)) => {
            Err(AadError::MalformedRequest { detail: "The Authorization header is not valid text.".into() })
        }
    };
    let basic = match basic {
        Ok(basic) => basic,
        Err(error) => return refuse(error),
    };
    let client_id = parameters.client_id.as_deref().or(basic.as_ref().map(|b| b.client_id.as_str()));
    if let Some(fault) = super::emulator::token_fault(&state, &tenant, client_id).await {
        return match fault {
            super::emulator::TokenFault::Answer(response) => response,
            super::emulator::TokenFault::Error(error, status) => {
                let mut response = refuse(error);
                if let Some(status) = status {
                    *response.status_mut() = status;
                }
                response
            }
        };
    }
    let address = peer.as_ref().map(|Extension(ConnectInfo(address))| address.ip());
    if let Err(error) = state.token_throttle.check(client_id, address) {
        return refuse(error);
    }
    let origins = origins_of(&state.public_url, &state.host_names, &headers);
    let request = TokenRequest { endpoint, tenant: &tenant, parameters, basic, origins: &origins };
    match state.identity.issue_token(request) {
        Ok(issued) => {
            tracing::info!(?endpoint, %tenant, "token issued");
            state.access_log.record_event(token_event(&issued, endpoint, peer, state.clock.now())).await;
            token_response(endpoint, issued, &ids)
        }
        Err(error) => refuse(error),
    }
}

/// The audit trail's record of a token issued: who got it, for which tenant, with which roles
/// and which kind of credential, from where. Never the token.
fn token_event(
    issued: &IssuedToken,
    endpoint: TokenEndpoint,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    now: time::OffsetDateTime,
) -> AuditEvent {
    let version = match endpoint {
        TokenEndpoint::V1 => "v1",
        TokenEndpoint::V2 => "v2",
    };
    AuditEvent {
        at: threatgate_domain::datetime::to_ticks(now),
        tenant_id: issued.tenant_id,
        app_id: Some(issued.app_id),
        app_tenant_id: Some(issued.app_tenant_id),
        app_name: issued.app_name.clone(),
        category: AuditCategory::Token,
        operation: "IssueToken".into(),
        actor: issued.app_id.to_string(),
        target: issued.resource.clone(),
        result: "issued".into(),
        detail: format!(
            "roles={}, credential={}, endpoint={version}",
            issued.roles.join(","),
            issued.credential.as_str()
        ),
        client_address: peer.map(|Extension(ConnectInfo(address))| address.ip().to_string()),
    }
}

/// The origins a client assertion's `aud` may name: the configured public URL, and the host
/// this request was sent to when it is one of the server certificate's names (`127.0.0.1` for
/// a `localhost` public URL, say) on the public URL's port. Any other `Host` is ignored: an
/// assertion made for another server (Microsoft's, or another service on this machine) must
/// not be replayable here by naming that server in the header.
fn origins_of(public_url: &str, host_names: &[String], headers: &HeaderMap) -> Vec<String> {
    let public = public_url.trim_end_matches('/');
    let mut origins = vec![public.to_owned()];
    let (scheme, authority) = public.split_once("://").unwrap_or(("https", public));
    let default_port = if scheme.eq_ignore_ascii_case("http") { "80" } else { "443" };
    let (_, public_port) = split_host(authority, default_port);
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).filter(|host| !host.is_empty());
    let Some(host) = host else { return origins };
    let (name, port) = split_host(host, default_port);
    if port == public_port && host_names.iter().any(|known| known.eq_ignore_ascii_case(name)) {
        let origin = format!("{scheme}://{host}");
        if !origin.eq_ignore_ascii_case(&origins[0]) {
            origins.push(origin);
        }
    }
    origins
}

/// A `host[:port]` (IPv6 hosts in brackets) as its name and port, `default_port` if none.
fn split_host<'a>(authority: &'a str, default_port: &'a str) -> (&'a str, &'a str) {
    match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (name, rest) = bracketed.split_once(']').unwrap_or((bracketed, ""));
            (name, rest.strip_prefix(':').unwrap_or(default_port))
        }
        None => authority.rsplit_once(':').unwrap_or((authority, default_port)),
    }
}

/// Reads the form body. A body without `Content-Type` is read as a form too, as Microsoft's
/// service does (msticpy's Defender driver sends one so); a body of another content type
/// (JSON, say) carries no parameters, and the service then reports the first missing one.
async fn read_parameters(headers: &HeaderMap, body: Body) -> Result<TokenParameters, AadError> {
    let bytes = axum::body::to_bytes(body, MAX_TOKEN_REQUEST_BYTES)
        .await
        .map_err(|_| AadError::RequestTooLarge { limit: MAX_TOKEN_REQUEST_BYTES })?;
    if is_form_or_untyped(headers) { TokenParameters::from_form_body(&bytes) } else { Ok(TokenParameters::default()) }
}

/// Whether a token request's body is a form: `application/x-www-form-urlencoded`, or no
/// `Content-Type` at all.
fn is_form_or_untyped(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")),
    }
}

fn token_response(endpoint: TokenEndpoint, issued: IssuedToken, ids: &RequestIds) -> Response {
    let mut response = match endpoint {
        TokenEndpoint::V2 => json_utf8(&TokenResponseV2 {
            token_type: "Bearer".into(),
            expires_in: issued.expires_in,
            ext_expires_in: issued.expires_in,
            access_token: issued.access_token,
        })
        .into_response(),
        TokenEndpoint::V1 => json_utf8(&TokenResponseV1 {
            token_type: "Bearer".into(),
            expires_in: issued.expires_in.to_string(),
            ext_expires_in: issued.expires_in.to_string(),
            expires_on: issued.expires_on.to_string(),
            not_before: issued.not_before.to_string(),
            resource: issued.resource,
            access_token: issued.access_token,
        })
        .into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("-1"));
    ids.insert_headers(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_certificates_names_join_the_public_url_as_assertion_audiences() {
        let names = crate::tls::server_names(&["threatgate.internal".into()]);
        let with_host = |host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            origins_of("https://localhost:8443", &names, &headers)
        };
        assert_eq!(with_host("127.0.0.1:8443"), ["https://localhost:8443", "https://127.0.0.1:8443"]);
        assert_eq!(with_host("[::1]:8443"), ["https://localhost:8443", "https://[::1]:8443"]);
        assert_eq!(
            with_host("threatgate.internal:8443"),
            ["https://localhost:8443", "https://threatgate.internal:8443"]
        );
        // Another port is another service: the audit's finding 11.
        assert_eq!(with_host("127.0.0.1:9443"), ["https://localhost:8443"]);
        assert_eq!(with_host("threatgate.internal"), ["https://localhost:8443"], "port 443 is not 8443");
        assert_eq!(with_host("[::1]"), ["https://localhost:8443"]);
        assert_eq!(with_host("localhost:8443"), ["https://localhost:8443"]);
        assert_eq!(with_host("login.microsoftonline.com"), ["https://localhost:8443"], "not a name of this server");
    }
}
