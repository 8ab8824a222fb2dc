//! Portal sessions and CSRF: the session cookie (`HttpOnly`, `SameSite=Lax`, `Secure` on
//! HTTPS), a per-session CSRF token for signed-in forms, and a double-submit cookie for the
//! forms shown before sign-in.

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use threatgate_domain::{TenantId, Upn, UserRole};
use threatgate_identity::portal::session_hash;

use crate::state::AppState;

pub const SESSION_COOKIE: &str = "tg_session";
pub const PRE_SESSION_COOKIE: &str = "tg_csrf";

/// A signed-in user (`None` in `Option<PortalSession>` when not signed in).
#[derive(Debug, Clone)]
pub struct PortalSession {
    pub token_hash: Vec<u8>,
    pub upn: Upn,
    pub tenant_id: TenantId,
    pub csrf: String,
}

impl PortalSession {
    /// Whether a submitted form's CSRF token is this session's, in constant time.
    pub fn accepts(&self, submitted: &str) -> bool {
        constant_time_equal(self.csrf.as_bytes(), submitted.as_bytes())
    }
}

pub fn constant_time_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The sign-in page, coming back to `return_to` (a local path) afterwards.
pub fn sign_in_redirect(return_to: &str) -> Response {
    let target = form_urlencoded::Serializer::new(String::new()).append_pair("return", return_to).finish();
    Redirect::to(&format!("/portal/signin?{target}")).into_response()
}

/// A signed-in user whose form carried the session's CSRF token; otherwise the response to
/// send instead: the sign-in page (back to `return_to`), or the expired-form page.
#[allow(clippy::result_large_err, reason = "the error is the response to send at once, not propagated")]
pub fn checked_form(session: Option<PortalSession>, csrf: &str, return_to: &str) -> Result<PortalSession, Response> {
    let Some(session) = session else { return Err(sign_in_redirect(return_to)) };
    if !session.accepts(csrf) {
        return Err(super::message(
            StatusCode::FORBIDDEN,
            "The form has expired",
            "Reload the page and try again (the anti-forgery token did not match).",
            None,
            Some(&session),
        ));
    }
    Ok(session)
}

/// Whether the signed-in user is (still) a Global Administrator of their tenant.
pub async fn is_global_admin(state: &AppState, session: &PortalSession) -> bool {
    matches!(state.store.find_user_by_upn(&session.upn).await, Ok(Some(user)) if user.role == UserRole::GlobalAdministrator)
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` header value.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_seconds: i64) -> HeaderValue {
    let secure = if state.public_url.starts_with("https://") { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("tg_invalid=1; Max-Age=0"))
}

impl axum::extract::OptionalFromRequestParts<AppState> for PortalSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else { return Ok(None) };
        let hash = session_hash(value);
        let now = state.clock.now();
        match state.store.find_session(&hash, now).await {
            Ok(Some(record)) => Ok(Some(PortalSession {
                token_hash: hash,
                upn: record.upn,
                tenant_id: record.tenant_id,
                csrf: record.csrf_token,
            })),
            Ok(None) => Ok(None),
            Err(error) => {
                tracing::warn!(%error, "session lookup failed");
                Ok(None)
            }
        }
    }
}

/// Directory administration on behalf of the signed-in user: the audit trail names them.
pub fn directory_admin<'a>(state: &'a AppState, session: &'a PortalSession) -> threatgate_identity::DirectoryAdmin<'a> {
    threatgate_identity::DirectoryAdmin::new(
        state.store.as_ref(),
        state.identity.hasher(),
        &threatgate_identity::SystemClock,
        threatgate_identity::Actor::User(&session.upn),
    )
}
