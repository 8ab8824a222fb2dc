//! Portal sessions and CSRF: the session cookie (`HttpOnly`, `SameSite=Lax`, `Secure` on
//! HTTPS), a per-session CSRF token for signed-in forms, and a double-submit cookie for the
//! forms shown before sign-in. Also the sign-in throttle.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use threatgate_domain::{TenantId, Upn, UserRole};
use threatgate_identity::portal::session_hash;

use crate::routes::AppState;

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
    matches!(state.identity.store().find_user_by_upn(&session.upn).await, Ok(Some(user)) if user.role == UserRole::GlobalAdministrator)
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
        let now = state.identity.clock().now();
        match state.identity.store().find_session(&hash, now).await {
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

/// Failed sign-ins are limited per account and address (5 per 15 minutes) and per address (20
/// per 15 minutes); past that, sign-in from that address is refused without checking the
/// password. Someone who knows an administrator's user name can thus block only their own
/// addresses, never the owner's sign-in from another one; guessing a password from many
/// addresses meets the slow password hash and 20 guesses per address per window.
///
/// The table holds at most [`MAX_THROTTLE_KEYS`] keys: past that, expired ones are dropped, and
/// if it is still full new keys are not added (the existing ones go on counting), so no
/// number of invented user names grows the memory.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    times: HashMap<ThrottleKey, VecDeque<Instant>>,
    /// When expired keys were last dropped (at most every [`PRUNE_INTERVAL`] when full).
    pruned_at: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    AccountAtAddress(String, IpAddr),
    Address(IpAddr),
}

const WINDOW: Duration = Duration::from_secs(15 * 60);
const PER_ACCOUNT_AND_ADDRESS: usize = 5;
const PER_ADDRESS: usize = 20;
const MAX_THROTTLE_KEYS: usize = 100_000;
const PRUNE_INTERVAL: Duration = Duration::from_secs(10);

impl SignInThrottle {
    /// Seconds to wait, if either key has spent its failures.
    pub fn blocked(&self, account: &str, address: IpAddr, now: Instant) -> Option<u64> {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut wait = None;
        for (key, limit) in [
            (ThrottleKey::AccountAtAddress(account.to_owned(), address), PER_ACCOUNT_AND_ADDRESS),
            (ThrottleKey::Address(address), PER_ADDRESS),
        ] {
            if let Some(times) = failures.times.get_mut(&key) {
                while times.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
                    times.pop_front();
                }
                if times.len() >= limit {
                    let oldest = times.front().copied().unwrap_or(now);
                    let left = WINDOW.saturating_sub(now.duration_since(oldest)).as_secs().max(1);
                    wait = Some(wait.map_or(left, |w: u64| w.max(left)));
                }
            }
        }
        wait
    }

    pub fn record_failure(&self, account: &str, address: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = failures.pruned_at.is_none_or(|at| now.saturating_duration_since(at) >= PRUNE_INTERVAL);
        if failures.times.len() + 2 > MAX_THROTTLE_KEYS && due {
            failures.times.retain(|_, times| times.back().is_some_and(|t| now.saturating_duration_since(*t) <= WINDOW));
            failures.pruned_at = Some(now);
        }
        for key in [ThrottleKey::AccountAtAddress(account.to_owned(), address), ThrottleKey::Address(address)] {
            let full = failures.times.len() >= MAX_THROTTLE_KEYS;
            match failures.times.get_mut(&key) {
                Some(times) => times.push_back(now),
                None if !full => {
                    failures.times.insert(key, VecDeque::from([now]));
                }
                None => {}
            }
        }
    }

    /// A correct password from `address` clears that address's failures for the account.
    pub fn record_success(&self, account: &str, address: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.times.remove(&ThrottleKey::AccountAtAddress(account.to_owned(), address));
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).times.len()
    }
}

/// Directory administration on behalf of the signed-in user: the audit trail names them.
pub fn directory_admin<'a>(state: &'a AppState, session: &'a PortalSession) -> threatgate_identity::DirectoryAdmin<'a> {
    threatgate_identity::DirectoryAdmin::new(
        state.identity.store().as_ref(),
        state.identity.hasher(),
        &threatgate_identity::SystemClock,
        threatgate_identity::Actor::User(&session.upn),
    )
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::time::{Duration, Instant};

    use super::{MAX_THROTTLE_KEYS, SignInThrottle};

    const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    const OWNER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

    #[test]
    fn failures_from_one_address_do_not_lock_the_account_elsewhere() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(throttle.blocked("admin@x", ATTACKER, now), None);
            throttle.record_failure("admin@x", ATTACKER, now);
        }
        assert_eq!(throttle.blocked("admin@x", ATTACKER, now), Some(15 * 60), "the attacker waits");
        assert_eq!(throttle.blocked("admin@x", OWNER, now), None, "the owner signs in from elsewhere");
        assert_eq!(throttle.blocked("other@x", ATTACKER, now), None, "another account from that address");
        assert_eq!(throttle.blocked("admin@x", ATTACKER, now + Duration::from_secs(15 * 60 + 1)), None);
    }

    #[test]
    fn one_address_guessing_many_accounts_is_stopped() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for i in 0..20 {
            throttle.record_failure(&format!("user{i}@x"), ATTACKER, now);
        }
        assert!(throttle.blocked("user99@x", ATTACKER, now).is_some());
        assert_eq!(throttle.blocked("user99@x", OWNER, now), None);
    }

    #[test]
    fn a_correct_password_clears_only_its_own_address() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..4 {
            throttle.record_failure("admin@x", ATTACKER, now);
            throttle.record_failure("admin@x", OWNER, now);
        }
        throttle.record_success("admin@x", OWNER);
        throttle.record_failure("admin@x", ATTACKER, now);
        throttle.record_failure("admin@x", OWNER, now);
        assert!(throttle.blocked("admin@x", ATTACKER, now).is_some());
        assert_eq!(throttle.blocked("admin@x", OWNER, now), None);
    }

    #[test]
    fn invented_user_names_do_not_grow_the_table_without_bound() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for i in 0..MAX_THROTTLE_KEYS as u32 {
            let address = IpAddr::V6(Ipv6Addr::from(u128::from(i)));
            throttle.record_failure(&format!("u{i}"), address, now);
        }
        assert!(throttle.keys() <= MAX_THROTTLE_KEYS);
        // Once they have expired, new keys are taken again.
        let later = now + Duration::from_secs(15 * 60 + 1);
        throttle.record_failure("admin@x", ATTACKER, later);
        assert_eq!(throttle.keys(), 2);
    }
}
