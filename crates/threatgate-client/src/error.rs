//! Every failure is typed, and a service's refusal carries what the service said: its code
//! (`AADSTS700016`, `ResourceNotFound`, `429`…), its message and its tracking id.

use std::time::Duration;

/// A refusal from the identity platform or the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// The HTTP status.
    pub status: u16,
    /// `AADSTS<n>` for the identity platform, the API's `error.code` otherwise.
    pub code: String,
    /// The OAuth error (`invalid_client`, `unauthorized_client`…), for identity errors.
    pub oauth_error: Option<String>,
    /// The message, first line only for identity errors.
    pub message: String,
    /// The identity platform's `trace_id`, or the API's `error.target`.
    pub tracking_id: Option<String>,
    /// How long the service asked to wait (429), from `Retry-After` or the message.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.code, self.status, self.message)?;
        if let Some(id) = &self.tracking_id {
            write!(f, " [tracking id {id}]")?;
        }
        Ok(())
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error.
    #[error("{0}")]
    Service(ServiceError),
    /// The service could not be reached (after the retries).
    #[error("could not reach {url}: {message}")]
    Transport { url: String, message: String },
    /// The service answered something that is not what the protocol says.
    #[error("unexpected answer from {url}: {detail}")]
    Protocol { url: String, detail: String },
    /// A setting is missing or wrong.
    #[error("{0}")]
    Config(String),
    /// The on-disk token cache could not be read or written.
    #[error("token cache {path}: {message}")]
    Cache { path: String, message: String },
}

impl Error {
    /// The service's error, when the service refused.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            Self::Service(error) => Some(error),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads an error response body of either service.
pub(crate) fn service_error(status: u16, body: &str, retry_after: Option<Duration>) -> ServiceError {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    // The identity platform: {"error", "error_description", "error_codes", "trace_id", …}.
    if let Some(oauth_error) = json.get("error").and_then(serde_json::Value::as_str) {
        let description = json.get("error_description").and_then(serde_json::Value::as_str).unwrap_or_default();
        let code = json
            .get("error_codes")
            .and_then(|codes| codes.get(0))
            .and_then(serde_json::Value::as_u64)
            .map_or_else(|| oauth_error.to_owned(), |code| format!("AADSTS{code}"));
        let first_line = description.lines().next().unwrap_or_default();
        let message = first_line.strip_prefix(&format!("{code}: ")).unwrap_or(first_line).to_owned();
        return ServiceError {
            status,
            code,
            oauth_error: Some(oauth_error.to_owned()),
            message,
            tracking_id: json.get("trace_id").and_then(serde_json::Value::as_str).map(str::to_owned),
            retry_after,
        };
    }
    // The API: {"error": {"code", "message", "target"}}.
    if let Some(error) = json.get("error").filter(|e| e.is_object()) {
        let text = |key: &str| error.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
        let message = text("message").unwrap_or_default();
        return ServiceError {
            status,
            code: text("code").unwrap_or_else(|| status.to_string()),
            oauth_error: None,
            retry_after: retry_after.or_else(|| seconds_in_message(&message)),
            message,
            tracking_id: text("target"),
        };
    }
    ServiceError {
        status,
        code: status.to_string(),
        oauth_error: None,
        message: body.chars().take(300).collect(),
        tracking_id: None,
        retry_after,
    }
}

/// "… Try again in 12 seconds." → 12 s (the API's 429 message).
fn seconds_in_message(message: &str) -> Option<Duration> {
    let after = message.split("Try again in ").nth(1)?;
    let number: String = after.chars().take_while(char::is_ascii_digit).collect();
    number.parse().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_errors_keep_code_message_and_trace_id() {
        let body = r#"{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier 'x' was not found in the directory 'y'.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-01-01 00:00:00Z","error_codes":[700016],"timestamp":"2026-01-01 00:00:00Z","trace_id":"t-1","correlation_id":"c","error_uri":"u"}"#;
        let error = service_error(400, body, None);
        assert_eq!(error.code, "AADSTS700016");
        assert_eq!(error.oauth_error.as_deref(), Some("unauthorized_client"));
        assert_eq!(error.message, "Application with identifier 'x' was not found in the directory 'y'.");
        assert_eq!(error.tracking_id.as_deref(), Some("t-1"));
    }

    #[test]
    fn api_errors_keep_code_target_and_the_wait_of_a_429() {
        let body = r#"{"error":{"code":"429","message":"API calls quota exceeded! maximum allowed 50 per 00:01:00. Try again in 17 seconds.","target":"abc"}}"#;
        let error = service_error(429, body, None);
        assert_eq!((error.code.as_str(), error.tracking_id.as_deref()), ("429", Some("abc")));
        assert_eq!(error.retry_after, Some(Duration::from_secs(17)));
        let header_wins = service_error(429, body, Some(Duration::from_secs(3)));
        assert_eq!(header_wins.retry_after, Some(Duration::from_secs(3)));
        let other = service_error(502, "<html>bad gateway</html>", None);
        assert_eq!((other.code.as_str(), other.message.as_str()), ("502", "<html>bad gateway</html>"));
    }
}
