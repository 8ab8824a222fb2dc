//! The portal: server-rendered pages (askama; one small script, for copy buttons) for customer administrators and
//! partners: sign-in, the admin-consent link, enterprise applications (revoke), the token
//! decoder. Every form carries a CSRF token; sessions are cookies whose value is stored only as
//! a hash.

mod apps;
mod consent;
mod decode;
mod enterprise;
mod incidents;
mod session;
mod setup;
mod signin;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use threatgate_identity::AdminError;

use crate::state::AppState;

/// The portal's routes, and the consent endpoints of the identity platform.
pub fn router() -> Router<AppState> {
    Router::new()
        // The root lands on the portal (its start page, or sign-in first).
        .route("/", get(|| async { axum::response::Redirect::to("/portal") }))
        .route("/portal", get(signin::home))
        .route("/portal/audit", get(incidents::audit))
        .route("/portal/signin", get(signin::sign_in_page).post(signin::sign_in))
        .route("/portal/signout", post(signin::sign_out))
        .route("/portal/setup", get(setup::form).post(setup::create))
        .route("/portal/apps", get(apps::list))
        .route("/portal/apps/new", get(apps::new_form).post(apps::register))
        .route("/portal/apps/{app_id}", get(apps::overview))
        .route("/portal/apps/{app_id}/permissions/add", get(apps::add_permission_form).post(apps::add_permission))
        .route("/portal/apps/{app_id}/grant", post(apps::grant))
        .route("/portal/apps/{app_id}/secrets", post(apps::add_secret))
        .route("/portal/apps/{app_id}/secrets/delete", post(apps::delete_secret))
        .route("/portal/apps/{app_id}/certificates", post(apps::add_certificate))
        .route("/portal/apps/{app_id}/certificates/delete", post(apps::delete_certificate))
        .route("/portal/enterprise-apps", get(enterprise::list))
        .route("/portal/enterprise-apps/revoke", post(enterprise::revoke))
        .route("/portal/incidents", get(incidents::queue))
        .route("/portal/incidents/{id}", get(incidents::incident))
        .route("/portal/access-log", get(incidents::access_log))
        .route("/portal/access-log.jsonl", get(incidents::access_log_lines))
        .route("/portal/audit.jsonl", get(incidents::audit_lines))
        .route("/portal/consent", post(consent::decide))
        .route("/decode", get(decode::page).post(decode::decode))
        .route("/static/portal.js", get(script))
        .route("/{tenant}/oauth2/authorize", get(consent::authorize_v1))
        .route("/{tenant}/v2.0/adminconsent", get(consent::admin_consent_v2))
        .route("/{tenant}/adminconsent", get(consent::admin_consent_v2))
}

/// The portal's one script (copy buttons), compiled into the binary.
async fn script() -> Response {
    let mut response = include_str!("../../static/portal.js").into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// Renders a template as an HTML page, with headers that keep it out of caches and frames.
fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; form-action 'self' https: http://localhost:* http://127.0.0.1:*; frame-ancestors 'none'"),
            );
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}

/// A page that explains why something was refused.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    signed_in: Option<String>,
    csrf: String,
    heading: String,
    message: String,
    code: Option<u32>,
}

/// The page for a refused administration change: 403 where the user's role does not allow it
/// (the identity crate decides), 404 for what does not exist, 400 for a refused value, and a
/// generic 500 (details in the log) when the store failed.
fn admin_failure(heading: &str, error: AdminError, session: &session::PortalSession) -> Response {
    match error {
        AdminError::Forbidden(why) => {
            message(StatusCode::FORBIDDEN, "Global Administrators only", &capitalized(&why), None, Some(session))
        }
        AdminError::NotFound { .. } => {
            message(StatusCode::NOT_FOUND, heading, &capitalized(&error.to_string()), None, Some(session))
        }
        AdminError::Service(error) => {
            tracing::error!(%error, "an administration change failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                heading,
                "The change could not be saved; try again. The server's log has the details.",
                None,
                Some(session),
            )
        }
        other => message(StatusCode::BAD_REQUEST, heading, &capitalized(&other.to_string()), None, Some(session)),
    }
}

/// The page for a page the store could not read: a generic 500, the details in the log, never
/// an empty list that looks like the truth.
fn store_failure(heading: &str, error: &threatgate_store::StoreError, session: &session::PortalSession) -> Response {
    tracing::error!(%error, "a portal page could not read the store");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        heading,
        "The page could not be read; try again. The server's log has the details.",
        None,
        Some(session),
    )
}

/// Reloads the identity view after a change, so that the next page shows it. The change is
/// stored already; if the reload fails the periodic refresh brings it within a second, and the
/// log says why.
async fn refresh_after_change(state: &AppState) {
    if let Err(error) = state.identity.refresh().await {
        tracing::warn!(%error, "the directory view was not reloaded after a change; the periodic refresh will");
    }
}

/// An error message (lowercase by convention) as a sentence for a page.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn message(
    status: StatusCode,
    heading: &str,
    text: &str,
    code: Option<u32>,
    session: Option<&session::PortalSession>,
) -> Response {
    page(
        status,
        &MessagePage {
            signed_in: session.map(|s| s.upn.to_string()),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            heading: heading.to_owned(),
            message: text.to_owned(),
            code,
        },
    )
}
