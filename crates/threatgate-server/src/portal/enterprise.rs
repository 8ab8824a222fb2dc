//! Enterprise applications: what this organization has consented to, and Revoke.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use threatgate_domain::AppId;
use threatgate_identity::AdminError;

use super::session::{PortalSession, checked_form, is_global_admin, sign_in_redirect};
use super::{message, page};
use crate::state::AppState;

struct AppRow {
    name: String,
    app_id: String,
    permissions: String,
    consented: String,
}

#[derive(Template)]
#[template(path = "enterprise_apps.html")]
struct EnterpriseAppsPage {
    signed_in: Option<String>,
    csrf: String,
    tenant_name: String,
    apps: Vec<AppRow>,
    can_revoke: bool,
}

/// `GET /portal/enterprise-apps`. Needs a session.
pub async fn list(State(state): State<AppState>, session: Option<PortalSession>) -> Response {
    let Some(session) = session else { return sign_in_redirect("/portal/enterprise-apps") };
    let tenant = session.tenant_id.to_string();
    let consents = match super::session::directory_admin(&state, &session).list_consents(&tenant).await {
        Ok(consents) => consents,
        Err(error) => {
            return message(StatusCode::INTERNAL_SERVER_ERROR, "Unavailable", &error.to_string(), None, Some(&session));
        }
    };
    let snapshot = state.identity.snapshot();
    let tenant_name =
        snapshot.directory.tenant(session.tenant_id).map(|t| t.display_name.to_string()).unwrap_or_default();
    let apps = consents
        .into_iter()
        .map(|c| AppRow {
            name: c.display_name.clone(),
            app_id: c.app_id.to_string(),
            permissions: if c.roles.is_empty() { "none".into() } else { c.roles.join(", ") },
            consented: match (&c.consented_by, c.consented_at) {
                (Some(by), Some(at)) => format!("{} by {by}", at.date()),
                _ => "before consents were recorded".to_owned(),
            },
        })
        .collect();
    let can_revoke = is_global_admin(&state, &session).await;
    page(
        StatusCode::OK,
        &EnterpriseAppsPage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            tenant_name,
            apps,
            can_revoke,
        },
    )
}

#[derive(Deserialize)]
pub struct RevokeForm {
    csrf: String,
    app_id: String,
}

/// `POST /portal/enterprise-apps/revoke`. Needs a Global Administrator's session and its CSRF
/// token; affects only the signed-in user's tenant.
pub async fn revoke(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Form(form): Form<RevokeForm>,
) -> Response {
    let session = match checked_form(session, &form.csrf, "/portal/enterprise-apps") {
        Ok(session) => session,
        Err(response) => return response,
    };
    let revoked = match AppId::parse(&form.app_id) {
        Some(app_id) => {
            super::session::directory_admin(&state, &session)
                .revoke_consent(&session.tenant_id.to_string(), app_id)
                .await
        }
        None => Err(AdminError::NotFound { what: "application", name: form.app_id.chars().take(64).collect() }),
    };
    match revoked {
        Ok(()) => {
            if let Err(error) = state.identity.refresh().await {
                tracing::warn!(%error, "refresh after revocation failed");
            }
            tracing::info!(tenant = %session.tenant_id, app = %form.app_id, "consent revoked in the portal");
            Redirect::to("/portal/enterprise-apps").into_response()
        }
        Err(error) => super::admin_failure("Nothing revoked", error, &session),
    }
}
