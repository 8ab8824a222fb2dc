//! Sign-in, sign-out and the home page.

use std::net::SocketAddr;
use std::time::Instant;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use threatgate_identity::portal::{SESSION_LIFETIME, authenticate, start_session};

use super::session::{PRE_SESSION_COOKIE, PortalSession, constant_time_equal, cookie, set_cookie};
use super::{message, page};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    signed_in: Option<String>,
    csrf: String,
    error: Option<String>,
    upn: String,
    return_to: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    signed_in: Option<String>,
    csrf: String,
    tenant_name: String,
    tenant_id: String,
    domains: String,
    upn: String,
    role: &'static str,
}

#[derive(Debug, Deserialize)]
pub struct ReturnTo {
    #[serde(rename = "return")]
    return_to: Option<String>,
}

/// Only a path on this site: no scheme, no host, no `//` (no open redirect). Browsers drop
/// tabs and line breaks from a `Location` and read `\` as `/`, so `/\t/evil.example` would
/// leave the site: only visible ASCII other than `\` is kept (percent-encoded text stays
/// encoded, so nothing is lost), which also keeps the `Location` header valid.
pub fn safe_return(path: Option<&str>) -> String {
    match path {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.len() <= 4096
                && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            p.to_owned()
        }
        _ => "/portal".to_owned(),
    }
}

/// `GET /portal/signin`: the form, with a fresh pre-session CSRF cookie. Public.
pub async fn sign_in_page(State(state): State<AppState>, Query(query): Query<ReturnTo>) -> Response {
    sign_in_form(&state, None, String::new(), safe_return(query.return_to.as_deref()), StatusCode::OK)
}

fn sign_in_form(
    state: &AppState,
    error: Option<String>,
    upn: String,
    return_to: String,
    status: StatusCode,
) -> Response {
    let csrf = threatgate_identity::random::random_base64url::<24>().unwrap_or_default();
    let mut response = page(status, &SignInPage { signed_in: None, csrf: csrf.clone(), error, upn, return_to });
    response.headers_mut().append(header::SET_COOKIE, set_cookie(state, PRE_SESSION_COOKIE, &csrf, 3600));
    response
}

#[derive(Deserialize)]
pub struct SignInForm {
    csrf: String,
    upn: String,
    password: String,
    return_to: Option<String>,
}

/// `POST /portal/signin`. Public; CSRF by double-submit cookie; throttled.
pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let return_to = safe_return(form.return_to.as_deref());
    let expected = cookie(&headers, PRE_SESSION_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_equal(expected.as_bytes(), form.csrf.as_bytes()) {
        return message(
            StatusCode::FORBIDDEN,
            "The form has expired",
            "Reload the sign-in page and try again (the anti-forgery token did not match).",
            None,
            None,
        );
    }
    let account = form.upn.trim().to_lowercase();
    let address = peer.ip();
    let now = Instant::now();
    if let Some(wait) = state.sign_in_throttle.blocked(&account, address, now) {
        let text = format!("Too many failed sign-ins. Try again in {} minutes.", wait.div_ceil(60));
        return sign_in_form(&state, Some(text), form.upn, return_to, StatusCode::TOO_MANY_REQUESTS);
    }
    let user = match authenticate(state.store.as_ref(), &account, &form.password).await {
        Ok(user) => user,
        Err(error) => {
            tracing::error!(%error, "sign-in failed");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in is unavailable",
                "Try again in a moment.",
                None,
                None,
            );
        }
    };
    let Some(user) = user else {
        state.sign_in_throttle.record_failure(&account, address, now);
        tracing::info!("portal sign-in refused");
        // In the audit trail of the tenant the name's domain belongs to, if any.
        let domain = account.rsplit_once('@').map(|(_, domain)| domain).unwrap_or_default();
        let tenant = threatgate_domain::TenantSegment::parse(domain).ok().and_then(|segment| {
            match state.identity.snapshot().directory.resolve(&segment) {
                Some(threatgate_identity::view::ResolvedTenant::Tenant(tenant)) => Some(tenant.id),
                _ => None,
            }
        });
        if let Some(tenant) = tenant {
            state.access_log.record_event(sign_in_event(&state, tenant, &account, "refused", address)).await;
        }
        return sign_in_form(
            &state,
            Some("The user name or password is incorrect.".into()),
            form.upn,
            return_to,
            StatusCode::UNAUTHORIZED,
        );
    };
    state.sign_in_throttle.record_success(&account, address);
    match start_session(state.store.as_ref(), &user, state.clock.now()).await {
        Ok(session) => {
            tracing::info!(tenant = %user.tenant_id, "portal sign-in");
            let event = sign_in_event(&state, user.tenant_id, user.upn.as_str(), "signed in", address);
            state.access_log.record_event(event).await;
            let mut response = Redirect::to(&return_to).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(
                    &state,
                    super::session::SESSION_COOKIE,
                    &session.cookie_value,
                    SESSION_LIFETIME.whole_seconds(),
                ),
            );
            headers.append(header::SET_COOKIE, set_cookie(&state, PRE_SESSION_COOKIE, "", 0));
            response
        }
        Err(error) => {
            tracing::error!(%error, "starting a session failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in is unavailable", "Try again in a moment.", None, None)
        }
    }
}

/// The audit trail's record of a portal sign-in (never the password).
fn sign_in_event(
    state: &AppState,
    tenant: threatgate_domain::TenantId,
    account: &str,
    result: &str,
    address: std::net::IpAddr,
) -> threatgate_store::AuditEvent {
    threatgate_store::AuditEvent {
        at: threatgate_domain::datetime::to_ticks(state.clock.now()),
        tenant_id: tenant,
        app_id: None,
        app_tenant_id: None,
        app_name: String::new(),
        category: threatgate_store::AuditCategory::SignIn,
        operation: "PortalSignIn".into(),
        actor: account.chars().take(256).collect(),
        target: "portal".into(),
        result: result.into(),
        detail: String::new(),
        client_address: Some(address.to_string()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /portal/signout`: ends the session. Needs the session's CSRF token.
pub async fn sign_out(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(session) = &session {
        if !session.accepts(&form.csrf) {
            return message(
                StatusCode::FORBIDDEN,
                "The form has expired",
                "Reload the page and try again.",
                None,
                Some(session),
            );
        }
        if let Err(error) = state.store.delete_session(&session.token_hash).await {
            tracing::error!(%error, "ending a session failed");
        }
    }
    let mut response = Redirect::to("/portal/signin").into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&state, super::session::SESSION_COOKIE, "", 0));
    response
}

/// `GET /portal`: the signed-in user's tenant. Needs a session.
pub async fn home(State(state): State<AppState>, session: Option<PortalSession>) -> Response {
    let Some(session) = session else { return super::session::sign_in_redirect("/portal") };
    let snapshot = state.identity.snapshot();
    let Some(tenant) = snapshot.directory.tenant(session.tenant_id) else {
        return message(
            StatusCode::NOT_FOUND,
            "Tenant not found",
            "Your tenant no longer exists.",
            None,
            Some(&session),
        );
    };
    let role = if super::session::is_global_admin(&state, &session).await { "Global Administrator" } else { "User" };
    page(
        StatusCode::OK,
        &HomePage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            tenant_name: tenant.display_name.to_string(),
            tenant_id: tenant.id.to_string(),
            domains: tenant.domains.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            upn: session.upn.to_string(),
            role,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::safe_return;

    #[test]
    fn only_paths_of_this_site_are_returned_to() {
        for kept in ["/portal", "/portal/apps/x?y=%2F%2Fz", "/common/oauth2/authorize?prompt=consent&client_id=a"] {
            assert_eq!(safe_return(Some(kept)), kept);
        }
        for refused in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            "/\u{0}",
            "/caf\u{e9}",
            "portal",
            "",
        ] {
            assert_eq!(safe_return(Some(refused)), "/portal", "{refused:?}");
        }
        assert_eq!(safe_return(Some(&format!("/{}", "a".repeat(5_000)))), "/portal");
        assert_eq!(safe_return(None), "/portal");
    }
}
