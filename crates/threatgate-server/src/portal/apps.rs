//! App registrations, as the partner guide walks through them: list, New registration,
//! Overview (ids and the customers' consent link), API permissions (search, add, grant admin
//! consent for the home tenant), Certificates & secrets (new secret shown once, delete).
//! Only users of an application's home tenant see it; granting consent needs a Global
//! Administrator.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use threatgate_domain::{AppId, Application, BUILT_IN_RESOURCES, ObjectId, THREAT_PROTECTION, requested_roles};
use threatgate_identity::AdminError;

use super::session::{PortalSession, checked_form, directory_admin, sign_in_redirect};
use super::{admin_failure, message, page};
use crate::state::AppState;

fn tenant_name(state: &AppState, session: &PortalSession) -> String {
    state
        .identity
        .snapshot()
        .directory
        .tenant(session.tenant_id)
        .map(|t| t.display_name.to_string())
        .unwrap_or_default()
}

fn audience_text(application: &Application) -> &'static str {
    if application.sign_in_audience.is_multi_tenant() {
        "Accounts in any organizational directory (Multitenant)"
    } else {
        "Accounts in this organizational directory only (Single tenant)"
    }
}

/// The application if it exists and belongs to the session's tenant; another tenant's
/// application is "not found", as an unknown one.
async fn own_application(state: &AppState, session: &PortalSession, app_id: &str) -> Result<Application, Response> {
    let not_found = || {
        message(
            StatusCode::NOT_FOUND,
            "Application not found",
            "No application of your organization has that id.",
            None,
            Some(session),
        )
    };
    let Some(id) = AppId::parse(app_id) else { return Err(not_found()) };
    match state.store.find_application(id).await {
        Ok(Some(application)) if application.home_tenant_id == session.tenant_id => Ok(application),
        Ok(_) => Err(not_found()),
        Err(error) => {
            Err(message(StatusCode::INTERNAL_SERVER_ERROR, "Unavailable", &error.to_string(), None, Some(session)))
        }
    }
}

/// A signed-in user's CSRF-checked form about one of their tenant's applications; otherwise
/// the response to send (sign-in, expired form, or not found).
async fn checked_app_form(
    state: &AppState,
    session: Option<PortalSession>,
    csrf: &str,
    app_id: &str,
) -> Result<(PortalSession, Application), Response> {
    let session = checked_form(session, csrf, &format!("/portal/apps/{app_id}"))?;
    let application = own_application(state, &session, app_id).await?;
    Ok((session, application))
}

#[derive(Template)]
#[template(path = "apps_list.html")]
struct AppsPage {
    signed_in: Option<String>,
    csrf: String,
    tenant_name: String,
    apps: Vec<(String, String, &'static str)>,
}

/// `GET /portal/apps`. Needs a session.
pub async fn list(State(state): State<AppState>, session: Option<PortalSession>) -> Response {
    let Some(session) = session else { return sign_in_redirect("/portal/apps") };
    let applications = match state.store.list_applications(Some(session.tenant_id)).await {
        Ok(applications) => applications,
        Err(error) => return super::store_failure("App registrations", &error, &session),
    };
    let apps = applications
        .iter()
        .map(|a| {
            (
                a.app_id.to_string(),
                a.display_name.to_string(),
                if a.sign_in_audience.is_multi_tenant() { "Multitenant" } else { "Single tenant" },
            )
        })
        .collect();
    page(
        StatusCode::OK,
        &AppsPage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            tenant_name: tenant_name(&state, &session),
            apps,
        },
    )
}

#[derive(Template)]
#[template(path = "app_new.html")]
struct NewAppPage {
    signed_in: Option<String>,
    csrf: String,
    tenant_name: String,
    error: Option<String>,
    name: String,
    redirect_uri: String,
}

/// `GET /portal/apps/new`. Needs a session.
pub async fn new_form(State(state): State<AppState>, session: Option<PortalSession>) -> Response {
    let Some(session) = session else { return sign_in_redirect("/portal/apps/new") };
    page(
        StatusCode::OK,
        &NewAppPage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            tenant_name: tenant_name(&state, &session),
            error: None,
            name: String::new(),
            redirect_uri: String::new(),
        },
    )
}

#[derive(Deserialize)]
pub struct NewAppForm {
    csrf: String,
    name: String,
    audience: String,
    redirect_uri: String,
}

/// `POST /portal/apps/new`. Needs a session and its CSRF token.
pub async fn register(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Form(form): Form<NewAppForm>,
) -> Response {
    let session = match checked_form(session, &form.csrf, "/portal/apps/new") {
        Ok(session) => session,
        Err(response) => return response,
    };
    let uris: Vec<String> = Some(form.redirect_uri.trim().to_owned()).filter(|u| !u.is_empty()).into_iter().collect();
    let tenant = session.tenant_id.to_string();
    match directory_admin(&state, &session)
        .register_application(&tenant, &form.name, form.audience == "multi", &uris)
        .await
    {
        Ok(application) => {
            super::refresh_after_change(&state).await;
            Redirect::to(&format!("/portal/apps/{}", application.app_id)).into_response()
        }
        Err(error @ (AdminError::Forbidden(_) | AdminError::Service(_))) => {
            admin_failure("Application not registered", error, &session)
        }
        Err(error) => page(
            StatusCode::BAD_REQUEST,
            &NewAppPage {
                signed_in: Some(session.upn.to_string()),
                csrf: session.csrf.clone(),
                tenant_name: tenant_name(&state, &session),
                error: Some(error.to_string()),
                name: form.name,
                redirect_uri: form.redirect_uri,
            },
        ),
    }
}

#[derive(Template)]
#[template(path = "app_overview.html")]
struct OverviewPage {
    signed_in: Option<String>,
    csrf: String,
    name: String,
    app_id: String,
    tenant_id: String,
    tenant_name: String,
    object_id: String,
    audience: &'static str,
    redirect_uris: String,
    multi_tenant: bool,
    consent_link: String,
    /// value, display name, granted in the home tenant
    /// resource, value, display name, granted in the home tenant
    permissions: Vec<(&'static str, &'static str, &'static str, bool)>,
    /// Id, description, hint, end date, state, whether it needs rotating.
    secrets: Vec<(String, String, String, String, String, bool)>,
    /// Id, description, thumbprint, end date, state, whether it needs rotating.
    certificates: Vec<(String, String, String, String, String, bool)>,
    secrets_need_rotation: bool,
}

/// A row of the credentials tables: id, description, hint or thumbprint, end date, state, and
/// whether it needs rotating.
fn credential_row(
    key_id: threatgate_domain::ObjectId,
    description: String,
    hint: String,
    end: time::OffsetDateTime,
    state: threatgate_domain::CredentialState,
) -> (String, String, String, String, String, bool) {
    (key_id.to_string(), description, hint, end.date().to_string(), state.to_string(), state.needs_rotation())
}

/// `GET /portal/apps/{app_id}`: Overview, API permissions, Certificates & secrets. Needs a
/// session of the application's home tenant.
pub async fn overview(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Path(app_id): Path<String>,
) -> Response {
    let Some(session) = session else { return sign_in_redirect(&format!("/portal/apps/{app_id}")) };
    let application = match own_application(&state, &session, &app_id).await {
        Ok(application) => application,
        Err(response) => return response,
    };
    let snapshot = state.identity.snapshot();
    let permissions = requested_roles(&application.required_app_roles)
        .into_iter()
        .map(|(resource, role)| {
            let granted = snapshot.directory.roles(session.tenant_id, application.app_id, resource);
            (resource.display_name, role.value, role.display_name, granted.contains(&role.value))
        })
        .collect();
    let now = state.clock.now();
    let store = &state.store;
    let (secrets, certificates) = match tokio::try_join!(
        store.list_client_secrets(application.app_id),
        store.list_certificate_credentials(application.app_id)
    ) {
        Ok(credentials) => credentials,
        Err(error) => return super::store_failure(&application.display_name.to_string(), &error, &session),
    };
    let secrets = secrets
        .into_iter()
        .map(|s| {
            let state = s.state_at(now);
            credential_row(s.key_id, s.description, s.hint, s.end, state)
        })
        .collect::<Vec<_>>();
    let certificates = certificates
        .into_iter()
        .map(|c| {
            let state = c.state_at(now);
            credential_row(c.key_id, c.description, c.thumbprint, c.end, state)
        })
        .collect::<Vec<_>>();
    let redirect_uris = application.redirect_uris.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    page(
        StatusCode::OK,
        &OverviewPage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            name: application.display_name.to_string(),
            app_id: application.app_id.to_string(),
            tenant_id: application.home_tenant_id.to_string(),
            tenant_name: tenant_name(&state, &session),
            object_id: application.object_id.to_string(),
            audience: audience_text(&application),
            redirect_uris: if redirect_uris.is_empty() { "none".into() } else { redirect_uris },
            multi_tenant: application.sign_in_audience.is_multi_tenant(),
            consent_link: format!(
                "{}/common/oauth2/authorize?prompt=consent&client_id={}&response_type=code&sso_reload=true",
                state.public_url, application.app_id
            ),
            permissions,
            secrets_need_rotation: secrets.iter().chain(&certificates).any(|s| s.5),
            secrets,
            certificates,
        },
    )
}

#[derive(Template)]
#[template(path = "app_add_permission.html")]
struct AddPermissionPage {
    signed_in: Option<String>,
    csrf: String,
    app_id: String,
    search: String,
    found: bool,
    resource: &'static str,
    resource_uri: &'static str,
    /// value, display name, already configured
    roles: Vec<(&'static str, &'static str, bool)>,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    api: Option<String>,
}

/// `GET /portal/apps/{app_id}/permissions/add?api=…`: the API appears once its name (or
/// identifier URI) is typed, as the guide notes.
pub async fn add_permission_form(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Path(app_id): Path<String>,
    Query(query): Query<SearchQuery>,
) -> Response {
    let Some(session) = session else { return sign_in_redirect(&format!("/portal/apps/{app_id}")) };
    let application = match own_application(&state, &session, &app_id).await {
        Ok(application) => application,
        Err(response) => return response,
    };
    let search = query.api.unwrap_or_default().trim().chars().take(256).collect::<String>();
    let needle = search.to_lowercase();
    let resource = BUILT_IN_RESOURCES.into_iter().find(|resource| {
        needle.len() >= 3
            && (resource.display_name.to_lowercase().contains(&needle)
                || resource.identifier_uri.contains(&needle)
                || resource.app_id.to_string() == needle)
    });
    let found = resource.is_some();
    let resource = resource.unwrap_or(&THREAT_PROTECTION);
    let roles = resource
        .roles
        .iter()
        .map(|role| {
            (role.value, role.display_name, application.required_app_roles.iter().any(|r| r.app_role_id == role.id))
        })
        .collect();
    page(
        StatusCode::OK,
        &AddPermissionPage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            app_id: application.app_id.to_string(),
            search,
            found,
            resource: resource.display_name,
            resource_uri: resource.identifier_uri,
            roles,
        },
    )
}

/// `POST /portal/apps/{app_id}/permissions/add` (form: csrf, role…). Needs a session and its
/// CSRF token.
pub async fn add_permission(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Path(app_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let csrf = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or_default();
    let (session, application) = match checked_app_form(&state, session, csrf, &app_id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let roles: Vec<String> = fields.into_iter().filter(|(k, _)| k == "role").map(|(_, v)| v).collect();
    if roles.is_empty() {
        return Redirect::to(&format!("/portal/apps/{}#permissions", application.app_id)).into_response();
    }
    match directory_admin(&state, &session).add_permissions(application.app_id, &roles).await {
        Ok(_) => {
            super::refresh_after_change(&state).await;
            Redirect::to(&format!("/portal/apps/{}#permissions", application.app_id)).into_response()
        }
        Err(error) => admin_failure("Permissions not added", error, &session),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /portal/apps/{app_id}/grant`: "Grant admin consent for <tenant>". Needs a Global
/// Administrator's session and its CSRF token.
pub async fn grant(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Path(app_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (session, application) = match checked_app_form(&state, session, &form.csrf, &app_id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match directory_admin(&state, &session).grant_consent(&session.tenant_id.to_string(), application.app_id).await {
        Ok(_) => {
            super::refresh_after_change(&state).await;
            Redirect::to(&format!("/portal/apps/{}#permissions", application.app_id)).into_response()
        }
        Err(error) => admin_failure("Consent failed", error, &session),
    }
}

#[derive(Template)]
#[template(path = "app_secret_created.html")]
struct SecretCreatedPage {
    signed_in: Option<String>,
    csrf: String,
    app_id: String,
    value: String,
    description: String,
    key_id: String,
    expires: String,
}

#[derive(Deserialize)]
pub struct NewSecretForm {
    csrf: String,
    description: String,
    expires: String,
    custom_days: Option<String>,
}

/// `POST /portal/apps/{app_id}/secrets`: a new client secret, shown once. Needs a session and
/// its CSRF token.
pub async fn add_secret(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Path(app_id): Path<String>,
    Form(form): Form<NewSecretForm>,
) -> Response {
    let (session, application) = match checked_app_form(&state, session, &form.csrf, &app_id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let days = match form.expires.as_str() {
        "custom" => form.custom_days.as_deref().unwrap_or_default().trim().parse::<i64>().ok(),
        other => other.parse::<i64>().ok(),
    };
    let Some(days) = days else {
        return message(
            StatusCode::BAD_REQUEST,
            "Invalid expiry",
            "Choose an expiry, or a custom lifetime of 1 to 730 days.",
            None,
            Some(&session),
        );
    };
    match directory_admin(&state, &session).add_secret(application.app_id, &form.description, Some(days)).await {
        Ok(created) => {
            super::refresh_after_change(&state).await;
            page(
                StatusCode::OK,
                &SecretCreatedPage {
                    signed_in: Some(session.upn.to_string()),
                    csrf: session.csrf.clone(),
                    app_id: application.app_id.to_string(),
                    value: created.value.expose().to_owned(),
                    description: created.record.description,
                    key_id: created.record.key_id.to_string(),
                    expires: created.record.end.date().to_string(),
                },
            )
        }
        Err(error) => admin_failure("Secret not added", error, &session),
    }
}

#[derive(Deserialize)]
pub struct NewCertificateForm {
    csrf: String,
    /// The certificate as PEM text (`-----BEGIN CERTIFICATE-----` …).
    certificate: String,
    description: String,
}

/// `POST /portal/apps/{app_id}/certificates`: upload a certificate's public part (PEM pasted).
/// Needs a session and its CSRF token.
pub async fn add_certificate(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Path(app_id): Path<String>,
    Form(form): Form<NewCertificateForm>,
) -> Response {
    let (session, application) = match checked_app_form(&state, session, &form.csrf, &app_id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let description = Some(form.description.trim()).filter(|description| !description.is_empty());
    match directory_admin(&state, &session)
        .add_certificate(application.app_id, form.certificate.as_bytes(), description)
        .await
    {
        Ok(_) => {
            super::refresh_after_change(&state).await;
            Redirect::to(&format!("/portal/apps/{}#secrets", application.app_id)).into_response()
        }
        Err(error) => admin_failure("Certificate not added", error, &session),
    }
}

/// `POST /portal/apps/{app_id}/certificates/delete`. Needs a session and its CSRF token.
pub async fn delete_certificate(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Path(app_id): Path<String>,
    Form(form): Form<DeleteSecretForm>,
) -> Response {
    let (session, application) = match checked_app_form(&state, session, &form.csrf, &app_id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match directory_admin(&state, &session).delete_certificate(application.app_id, &form.key_id).await {
        Ok(()) => {
            super::refresh_after_change(&state).await;
            Redirect::to(&format!("/portal/apps/{}#secrets", application.app_id)).into_response()
        }
        Err(error) => admin_failure("Certificate not removed", error, &session),
    }
}

#[derive(Deserialize)]
pub struct DeleteSecretForm {
    csrf: String,
    key_id: String,
}

/// `POST /portal/apps/{app_id}/secrets/delete`. Needs a session and its CSRF token.
pub async fn delete_secret(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Path(app_id): Path<String>,
    Form(form): Form<DeleteSecretForm>,
) -> Response {
    let (session, application) = match checked_app_form(&state, session, &form.csrf, &app_id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(key_id) = ObjectId::parse(&form.key_id) else {
        let unknown = AdminError::NotFound { what: "client secret", name: form.key_id.chars().take(64).collect() };
        return admin_failure("Secret not removed", unknown, &session);
    };
    match directory_admin(&state, &session).delete_secret(application.app_id, key_id).await {
        Ok(()) => {
            super::refresh_after_change(&state).await;
            Redirect::to(&format!("/portal/apps/{}#secrets", application.app_id)).into_response()
        }
        Err(error) => admin_failure("Secret not removed", error, &session),
    }
}
