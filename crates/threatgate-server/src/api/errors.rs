//! The API's error body, `{"error":{"code","message","target"}}` (section 9), and the one
//! place where API failures become responses. `target` is the request's tracking id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use threatgate_proto::{ApiError, ApiErrorBody};
use uuid::Uuid;

use super::access::AccessNote;

/// A refused or failed API call.
#[derive(Debug)]
pub enum ApiFailure {
    /// 401 `Unauthorized`, with `WWW-Authenticate: Bearer`.
    Unauthorized(String),
    /// 403 `Forbidden`: a valid token without the role.
    Forbidden(String),
    /// 404 `ResourceNotFound`.
    NotFound(String),
    /// 400 `ODataError`.
    OData(String),
    /// 400 `InvalidRequestBody`.
    InvalidRequestBody(String),
    /// 400 `InvalidInput`.
    InvalidInput(String),
    /// 400 `BadRequest`: an advanced hunting query that cannot run (syntax, names, types,
    /// result size, timeout), with the service's wording.
    BadRequest(String),
    /// 413: a body over the limit.
    TooLarge(usize),
    /// 429 with `Retry-After`.
    Throttled { message: String, retry_after_seconds: u64 },
    /// 503 with `Retry-After`: the store was too busy to take the call in time.
    Busy,
    /// 500; the details go to the log only.
    Internal(String),
    /// 500, 503 or 504 injected by the emulator's controls, in the service's body shape.
    Unavailable { status: StatusCode, retry_after_seconds: Option<u64> },
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unauthorized(message)
            | Self::Forbidden(message)
            | Self::NotFound(message)
            | Self::OData(message)
            | Self::InvalidRequestBody(message)
            | Self::InvalidInput(message)
            | Self::BadRequest(message)
            | Self::Internal(message) => f.write_str(message),
            Self::TooLarge(limit) => write!(f, "the request body is larger than {limit} bytes"),
            Self::Throttled { message, .. } => f.write_str(message),
            Self::Busy => f.write_str("the store is busy"),
            Self::Unavailable { status, .. } => write!(f, "{status} injected by the emulator"),
        }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let target = Uuid::new_v4();
        let (status, code, message) = match &self {
            Self::Unauthorized(message) => (StatusCode::UNAUTHORIZED, "Unauthorized", message.clone()),
            Self::Forbidden(message) => (StatusCode::FORBIDDEN, "Forbidden", message.clone()),
            Self::NotFound(message) => (StatusCode::NOT_FOUND, "ResourceNotFound", message.clone()),
            Self::OData(message) => (StatusCode::BAD_REQUEST, "ODataError", message.clone()),
            Self::InvalidRequestBody(message) => (StatusCode::BAD_REQUEST, "InvalidRequestBody", message.clone()),
            Self::InvalidInput(message) => (StatusCode::BAD_REQUEST, "InvalidInput", message.clone()),
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, "BadRequest", message.clone()),
            Self::TooLarge(limit) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "BadRequest", format!("The request body is larger than {limit} bytes."))
            }
            // The code observed on Microsoft's 429 bodies is the status itself.
            Self::Throttled { message, .. } => (StatusCode::TOO_MANY_REQUESTS, "429", message.clone()),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!("The service is busy; retry in {BUSY_RETRY_AFTER_SECONDS} seconds."),
            ),
            Self::Unavailable { status, .. } => match status.as_u16() {
                504 => {
                    (*status, "GatewayTimeout", "The gateway timed out; retry the operation (emulator fault).".into())
                }
                500 => (*status, "InternalServerError", "An internal error occurred; retry the operation.".into()),
                _ => {
                    (*status, "ServiceUnavailable", "The service is unavailable; retry later (emulator fault).".into())
                }
            },
            Self::Internal(detail) => {
                tracing::error!(%target, detail, "API request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "An internal error occurred; retry the operation.".into(),
                )
            }
        };
        let mut response = render(status, code, message, target);
        match &self {
            Self::Unauthorized(message) => {
                let challenge = format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    message.replace(['"', '\\'], "'")
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::Throttled { retry_after_seconds, .. } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            Self::Busy => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(BUSY_RETRY_AFTER_SECONDS));
            }
            Self::Unavailable { retry_after_seconds: Some(seconds), .. } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            _ => {}
        }
        response
    }
}

/// The error body with its access-log note.
fn render(status: StatusCode, code: &str, message: String, target: Uuid) -> Response {
    if status.is_client_error() {
        tracing::info!(%target, code, status = status.as_u16(), "API request refused");
    }
    let body = ApiErrorBody { error: ApiError { code: code.into(), message, target: target.to_string() } };
    let note = AccessNote {
        result: format!("{}: {}", body.error.code, body.error.message),
        request_id: Some(body.error.target.clone()),
        ..AccessNote::default()
    };
    let mut response = (status, crate::json::json_utf8(&body)).into_response();
    response.extensions_mut().insert(note);
    response
}

/// Past `api_max_in_flight` API and Graph requests at once, a request is answered at once with
/// the busy answer (503, `Retry-After`) rather than waiting in a queue that grows without bound.
pub async fn shed_load(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match std::sync::Arc::clone(&state.api_gate).try_acquire_owned() {
        Ok(place) => {
            let response = next.run(request).await;
            drop(place);
            response
        }
        Err(_) => {
            tracing::debug!("API request shed: every place is taken");
            ApiFailure::Busy.into_response()
        }
    }
}

/// Longest text of a refusal that is kept as the error's message.
const MAX_REFUSAL_TEXT: usize = 1_024;

/// Whether `path` is one of the API's.
fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Every refusal under `/api` in the API's error JSON (under `/v1.0` and `/beta` in Graph's),
/// also those no handler wrote: an unknown
/// path (404), a method the path does not take (405, with `Allow`), and the extractors' own
/// refusals (a body that is not JSON, a missing content type), whose text becomes the message.
pub async fn json_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let graph = super::graph::is_graph_path(request.uri().path());
    if !is_api_path(request.uri().path()) && !graph {
        return next.run(request).await;
    }
    let path: String = request.uri().path().chars().take(200).collect();
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let text = match axum::body::to_bytes(response.into_body(), MAX_REFUSAL_TEXT * 4).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).chars().take(MAX_REFUSAL_TEXT).collect::<String>(),
        Err(_) => String::new(),
    };
    let text = text.trim();
    let (status, code, message) = match status {
        StatusCode::NOT_FOUND => (status, "ResourceNotFound", format!("No API answers at '{path}'.")),
        StatusCode::METHOD_NOT_ALLOWED => (
            status,
            "MethodNotAllowed",
            format!(
                "'{path}' does not take {method}{}.",
                allow.as_ref().and_then(|v| v.to_str().ok()).map(|v| format!("; it takes {v}")).unwrap_or_default()
            ),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            (status, "UnsupportedMediaType", non_empty(text, "Send the body as JSON (Content-Type: application/json)."))
        }
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
            (StatusCode::BAD_REQUEST, "InvalidRequestBody", non_empty(text, "The request is not valid."))
        }
        StatusCode::PAYLOAD_TOO_LARGE => (status, "BadRequest", non_empty(text, "The request body is too large.")),
        _ => (status, "BadRequest", non_empty(text, status.canonical_reason().unwrap_or("The request is not valid."))),
    };
    let mut response = if graph {
        // Graph's wording for the same refusals (its code for an unknown path is NotFound here).
        let code = if code == "ResourceNotFound" { "NotFound" } else { code };
        super::graph::render_graph(status, code, &message, &Uuid::new_v4().to_string(), false)
    } else {
        render(status, code, message, Uuid::new_v4())
    };
    if let Some(allow) = allow {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

fn non_empty(text: &str, otherwise: &str) -> String {
    if text.is_empty() { otherwise.to_owned() } else { text.to_owned() }
}

/// What a caller finding the store busy is told to wait.
pub(super) const BUSY_RETRY_AFTER_SECONDS: u64 = 2;

impl From<threatgate_store::StoreError> for ApiFailure {
    fn from(error: threatgate_store::StoreError) -> Self {
        if error.is_busy() {
            tracing::warn!(%error, "the store was too busy for an API call");
            return Self::Busy;
        }
        Self::Internal(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_store_is_a_503_with_retry_after_not_a_500() {
        let response = ApiFailure::Busy.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
