//! The one table from identity errors to AADSTS responses: code, OAuth `error`, HTTP status
//! (`identity-protocol.md` 7.1–7.3; spec README decision 13 for the statuses it leaves open).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use threatgate_identity::AadError;
use threatgate_proto::AadErrorBody;

use crate::request_ids::RequestIds;

/// Which family of endpoints answers: the token endpoints and discovery name an unknown
/// tenant differently (`invalid_request` there, `invalid_tenant` here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Token,
    Discovery,
}

/// HTTP status, OAuth `error` and AADSTS code of each refusal.
pub fn classify(error: &AadError, surface: Surface) -> (StatusCode, &'static str, u32) {
    let tenant_error = match surface {
        Surface::Token => "invalid_request",
        Surface::Discovery => "invalid_tenant",
    };
    use StatusCode as S;
    match error {
        AadError::MalformedRequest { .. } => (S::BAD_REQUEST, "invalid_request", 9002313),
        AadError::InvalidTenantIdentifier { .. } => (S::BAD_REQUEST, tenant_error, 900023),
        AadError::TenantNotFound { .. } => (S::BAD_REQUEST, tenant_error, 90002),
        AadError::MissingParameter { .. } => (S::BAD_REQUEST, "invalid_request", 900144),
        AadError::UnsupportedGrantType { .. } => (S::BAD_REQUEST, "unsupported_grant_type", 70003),
        AadError::ResourceParameterNotSupported => (S::BAD_REQUEST, "invalid_request", 901002),
        AadError::NoTenantIdentifyingInformation => (S::BAD_REQUEST, "invalid_request", 50059),
        AadError::ApplicationNotFound { .. } => (S::BAD_REQUEST, "unauthorized_client", 700016),
        AadError::MissingClientCredential => (S::UNAUTHORIZED, "invalid_client", 7000218),
        AadError::InvalidClientSecret { .. } => (S::UNAUTHORIZED, "invalid_client", 7000215),
        AadError::ExpiredClientSecret { .. } => (S::UNAUTHORIZED, "invalid_client", 7000222),
        AadError::InvalidClientAssertionSignature { .. } => (S::UNAUTHORIZED, "invalid_client", 700027),
        AadError::ExpiredCertificate { .. } => (S::UNAUTHORIZED, "invalid_client", 700027),
        AadError::InvalidClientAssertion { .. } => (S::UNAUTHORIZED, "invalid_client", 50027),
        AadError::AssertionSubjectMismatch => (S::UNAUTHORIZED, "invalid_client", 50048),
        AadError::UnsupportedAssertionType { .. } => (S::BAD_REQUEST, "invalid_request", 9002313),
        AadError::ScopeWithoutDefault { .. } => (S::BAD_REQUEST, "invalid_scope", 1002012),
        AadError::InvalidScope { .. } => (S::BAD_REQUEST, "invalid_scope", 70011),
        AadError::MultipleResourcesScope { .. } => (S::BAD_REQUEST, "invalid_scope", 700022),
        AadError::ResourceNotFound { .. } => (S::BAD_REQUEST, "invalid_resource", 500011),
        AadError::MethodNotAllowed { .. } => (S::BAD_REQUEST, "invalid_request", 900561),
        AadError::RequestTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "invalid_request", 9002313),
        AadError::UnknownInstance => (S::BAD_REQUEST, "invalid_instance", 50049),
        AadError::Throttled { .. } => (S::TOO_MANY_REQUESTS, "temporarily_unavailable", 90055),
        AadError::Internal => (S::INTERNAL_SERVER_ERROR, "server_error", 50000),
    }
}

/// Renders an identity error as Microsoft's JSON error body.
pub fn aad_error_response(error: &AadError, surface: Surface, ids: &RequestIds, public_url: &str) -> Response {
    let (status, oauth_error, code) = classify(error, surface);
    let timestamp = ids.timestamp();
    let body = AadErrorBody {
        error: oauth_error.to_owned(),
        error_description: format!(
            "AADSTS{code}: {error}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {timestamp}",
            ids.trace_id, ids.correlation_id
        ),
        error_codes: vec![code],
        timestamp,
        trace_id: ids.trace_id.to_string(),
        correlation_id: ids.correlation_id.to_string(),
        error_uri: format!("{public_url}/error?code={code}"),
    };
    tracing::info!(code, status = status.as_u16(), "identity request refused");
    let mut response = (status, crate::json::json_utf8(&body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let AadError::Throttled { retry_after_seconds, .. } = error {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
    }
    ids.insert_headers(headers);
    response
}
