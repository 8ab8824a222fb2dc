//! Per-request trace and correlation ids, as Microsoft's identity platform returns them: the
//! correlation id echoes the client's `client-request-id` when it is a GUID.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

/// The ids of one request, and its arrival time.
#[derive(Debug, Clone, Copy)]
pub struct RequestIds {
    pub trace_id: Uuid,
    pub correlation_id: Uuid,
    pub received_at: OffsetDateTime,
}

impl RequestIds {
    pub fn new(client_request_id: Option<&str>) -> Self {
        let trace_id = random_uuid();
        let correlation_id =
            client_request_id.and_then(|text| Uuid::try_parse(text.trim()).ok()).unwrap_or_else(random_uuid);
        Self { trace_id, correlation_id, received_at: OffsetDateTime::now_utc() }
    }

    /// `YYYY-MM-DD HH:MM:SSZ`, the identity platform's timestamp format.
    pub fn timestamp(&self) -> String {
        self.received_at
            .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z"))
            .unwrap_or_default()
    }

    /// Adds `x-ms-request-id` and `client-request-id`, as Microsoft's responses carry.
    pub fn insert_headers(&self, headers: &mut HeaderMap) {
        if let Ok(value) = HeaderValue::from_str(&self.trace_id.to_string()) {
            headers.insert("x-ms-request-id", value);
        }
        if let Ok(value) = HeaderValue::from_str(&self.correlation_id.to_string()) {
            headers.insert("client-request-id", value);
        }
    }
}

fn random_uuid() -> Uuid {
    Uuid::new_v4()
}

impl<S: Send + Sync> FromRequestParts<S> for RequestIds {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ids) = parts.extensions.get::<RequestIds>() {
            return Ok(*ids);
        }
        let client_request_id = parts.headers.get("client-request-id").and_then(|value| value.to_str().ok());
        let ids = RequestIds::new(client_request_id);
        parts.extensions.insert(ids);
        Ok(ids)
    }
}
