//! The admin-consent link (`identity-protocol.md` 6.1, 6.2): `GET /{tenant}/oauth2/authorize`
//! with `prompt=consent|admin_consent`, and `GET /{tenant}/v2.0/adminconsent`. Sign-in if
//! needed, a consent page, then a redirect to a registered redirect URI. An unknown client or
//! an unregistered redirect URI gets an error page, never a redirect.

use askama::Template;
use axum::Form;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use threatgate_domain::{AppId, Application, THREAT_PROTECTION, TenantSegment, requested_roles};
use threatgate_identity::AdminError;

use super::session::{PortalSession, checked_form, sign_in_redirect};
use super::{message, page};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    signed_in: Option<String>,
    csrf: String,
    app_name: String,
    app_id: String,
    publisher: String,
    tenant_name: String,
    /// display name, value, resource
    permissions: Vec<(String, String, &'static str)>,
    redirect_uri: String,
    state: String,
    flow: &'static str,
    scope: String,
}

#[derive(Debug, Deserialize)]
pub struct ConsentQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    prompt: Option<String>,
    scope: Option<String>,
}

/// `GET /{tenant}/oauth2/authorize?prompt=consent&client_id=…` (the partner guide's link).
pub async fn authorize_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(query): Query<ConsentQuery>,
    OriginalUri(uri): OriginalUri,
    session: Option<PortalSession>,
) -> Response {
    if !matches!(query.prompt.as_deref(), Some("consent" | "admin_consent")) {
        return message(
            StatusCode::BAD_REQUEST,
            "Only admin consent is supported here",
            "Threatgate issues tokens with client credentials only; this link must ask for consent (prompt=consent or prompt=admin_consent).",
            Some(90014),
            session.as_ref(),
        );
    }
    show(&state, &tenant, query, &uri, session, "v1").await
}

/// `GET /{tenant}/v2.0/adminconsent?client_id=…&redirect_uri=…&state=…&scope=…`.
pub async fn admin_consent_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(query): Query<ConsentQuery>,
    OriginalUri(uri): OriginalUri,
    session: Option<PortalSession>,
) -> Response {
    show(&state, &tenant, query, &uri, session, "v2").await
}

/// Checks the client and redirect URI, then signs in or shows the consent page.
async fn show(
    state: &AppState,
    tenant: &str,
    query: ConsentQuery,
    uri: &axum::http::Uri,
    session: Option<PortalSession>,
    flow: &'static str,
) -> Response {
    let application = match registered_client(state, query.client_id.as_deref(), query.redirect_uri.as_deref()) {
        Ok(found) => found,
        Err(response) => return response(session.as_ref()),
    };
    let (application, redirect_uri) = application;
    let Some(session) = session else {
        return sign_in_redirect(uri.path_and_query().map_or("/portal", |p| p.as_str()));
    };
    let snapshot = state.identity.snapshot();
    match TenantSegment::parse(tenant) {
        Ok(segment) if segment.is_alias() => {}
        Ok(segment) => match snapshot.directory.resolve(&segment) {
            Some(threatgate_identity::view::ResolvedTenant::Tenant(t)) if t.id == session.tenant_id => {}
            _ => {
                return message(
                    StatusCode::BAD_REQUEST,
                    "Wrong organization",
                    "This consent link is for another organization than the one you are signed in to. Sign out and sign in with an account of that organization.",
                    Some(50020),
                    Some(&session),
                );
            }
        },
        Err(_) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Invalid tenant",
                "The tenant in the link is neither a GUID nor a domain.",
                Some(900023),
                Some(&session),
            );
        }
    }
    let Some(home) = snapshot.directory.tenant(session.tenant_id) else {
        return message(
            StatusCode::NOT_FOUND,
            "Tenant not found",
            "Your tenant no longer exists.",
            None,
            Some(&session),
        );
    };
    let publisher = snapshot
        .directory
        .tenant(application.home_tenant_id)
        .map(|t| format!("{} ({})", t.display_name, t.initial_domain))
        .unwrap_or_default();
    let permissions = requested_roles(&application.required_app_roles)
        .into_iter()
        .map(|(resource, role)| (role.display_name.to_owned(), role.value.to_owned(), resource.display_name))
        .collect();
    page(
        StatusCode::OK,
        &ConsentPage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            app_name: application.display_name.to_string(),
            app_id: application.app_id.to_string(),
            publisher,
            tenant_name: home.display_name.to_string(),
            permissions,
            redirect_uri,
            state: query.state.unwrap_or_default(),
            flow,
            scope: query.scope.unwrap_or_else(|| format!("{}/.default", THREAT_PROTECTION.identifier_uri)),
        },
    )
}

type ErrorPage = Box<dyn FnOnce(Option<&PortalSession>) -> Response>;

/// The application and the redirect URI to use: the one given if registered, else the first
/// registered one (spec README decision 8).
fn registered_client(
    state: &AppState,
    client_id: Option<&str>,
    redirect_uri: Option<&str>,
) -> Result<(Application, String), ErrorPage> {
    let snapshot = state.identity.snapshot();
    let application = client_id
        .and_then(AppId::parse)
        .and_then(|id| snapshot.directory.application(id))
        .map(|entry| entry.application.clone());
    let Some(application) = application else {
        let shown: String = client_id.unwrap_or_default().chars().take(64).collect();
        return Err(Box::new(move |session| {
            message(
                StatusCode::BAD_REQUEST,
                "Application not found",
                &format!("Application with identifier '{shown}' was not found. Check the client_id in the link."),
                Some(700016),
                session,
            )
        }));
    };
    let registered: Vec<String> = application.redirect_uris.iter().map(ToString::to_string).collect();
    let chosen = match redirect_uri {
        Some(uri) if registered.iter().any(|r| r == uri) => uri.to_owned(),
        Some(uri) => {
            let shown: String = uri.chars().take(256).collect();
            return Err(Box::new(move |session| {
                message(
                    StatusCode::BAD_REQUEST,
                    "Redirect URI not registered",
                    &format!(
                        "The redirect URI '{shown}' is not registered for this application, so Threatgate will not send you there."
                    ),
                    Some(50011),
                    session,
                )
            }));
        }
        None => match registered.first() {
            Some(first) => first.clone(),
            None => {
                return Err(Box::new(|session| {
                    message(
                        StatusCode::BAD_REQUEST,
                        "No redirect URI",
                        "The application has no Web redirect URI registered.",
                        Some(500113),
                        session,
                    )
                }));
            }
        },
    };
    Ok((application, chosen))
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    flow: String,
    scope: String,
    decision: String,
}

/// `POST /portal/consent`: Accept or Cancel. Needs a session and its CSRF token; Accept needs a
/// Global Administrator.
pub async fn decide(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let session = match checked_form(session, &form.csrf, "/portal") {
        Ok(session) => session,
        Err(response) => return response,
    };
    // Checked again: the form's fields come from the browser.
    let (application, redirect_uri) = match registered_client(&state, Some(&form.client_id), Some(&form.redirect_uri)) {
        Ok(found) => found,
        Err(response) => return response(Some(&session)),
    };
    let v2 = form.flow == "v2";
    let mut target = match url::Url::parse(&redirect_uri) {
        Ok(url) => url,
        Err(_) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Invalid redirect URI",
                "The registered redirect URI is not a URL.",
                Some(50011),
                Some(&session),
            );
        }
    };
    if form.decision != "accept" {
        {
            let mut query = target.query_pairs_mut();
            if v2 {
                query.append_pair("admin_consent", "True").append_pair("error", "consent_required").append_pair(
                    "error_description",
                    "AADSTS65004: The resource owner or authorization server denied the request.",
                );
            } else {
                query
                    .append_pair("error", "access_denied")
                    .append_pair("error_description", "the user canceled the authentication");
            }
            if !form.state.is_empty() {
                query.append_pair("state", &form.state);
            }
        }
        return Redirect::to(target.as_str()).into_response();
    }
    let granted = super::session::directory_admin(&state, &session)
        .grant_consent(&session.tenant_id.to_string(), application.app_id)
        .await;
    match granted {
        Ok(_) => {}
        Err(AdminError::Forbidden(_)) => {
            return message(
                StatusCode::FORBIDDEN,
                "Need admin approval",
                &format!(
                    "{} needs permission to access resources in your organization that only an admin can grant. Ask a Global Administrator of your organization to open this link and approve it. Nothing was granted.",
                    application.display_name
                ),
                Some(90094),
                Some(&session),
            );
        }
        Err(AdminError::Service(error)) => {
            tracing::error!(%error, "consent could not be recorded");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Consent failed",
                "The consent could not be saved; try again. Nothing was granted.",
                None,
                Some(&session),
            );
        }
        Err(error) => {
            return message(StatusCode::BAD_REQUEST, "Consent failed", &error.to_string(), Some(65005), Some(&session));
        }
    }
    if let Err(error) = state.identity.refresh().await {
        tracing::warn!(%error, "refresh after consent failed");
    }
    tracing::info!(tenant = %session.tenant_id, app = %application.app_id, "admin consent granted");
    {
        let mut query = target.query_pairs_mut();
        if v2 {
            query
                .append_pair("admin_consent", "True")
                .append_pair("tenant", &session.tenant_id.to_string())
                .append_pair("scope", &form.scope);
        } else {
            let code = threatgate_identity::random::random_base64url::<32>().unwrap_or_default();
            query
                .append_pair("code", &code)
                .append_pair("admin_consent", "True")
                .append_pair("session_state", &uuid::Uuid::new_v4().to_string());
        }
        if !form.state.is_empty() {
            query.append_pair("state", &form.state);
        }
    }
    Redirect::to(target.as_str()).into_response()
}
