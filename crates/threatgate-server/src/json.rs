//! JSON responses with `Content-Type: application/json; charset=utf-8`, as Microsoft's.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A JSON body with the identity platform's content type.
#[derive(Debug)]
pub struct JsonUtf8(Vec<u8>);

pub fn json_utf8(value: &impl Serialize) -> JsonUtf8 {
    // Serializing plain wire structs cannot fail; an empty object is the safe fallback.
    JsonUtf8(serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()))
}

impl IntoResponse for JsonUtf8 {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        response
    }
}
