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
    /// 500; the details go to the log only.
    Internal(String),
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
            Self::Internal(detail) => {
                tracing::error!(%target, detail, "API request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "An internal error occurred; retry the operation.".into(),
                )
            }
        };
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
            _ => {}
        }
        response
    }
}

impl From<threatgate_store::StoreError> for ApiFailure {
    fn from(error: threatgate_store::StoreError) -> Self {
        Self::Internal(error.to_string())
    }
}
