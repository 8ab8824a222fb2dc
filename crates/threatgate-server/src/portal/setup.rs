//! First run: a data directory with no tenant gets a one-time setup link (printed by
//! `threatgate serve`) whose page creates the first tenant and its Global Administrator.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use threatgate_identity::portal::{SESSION_LIFETIME, start_session};
use threatgate_identity::{Actor, DirectoryAdmin, SystemClock};

use super::session::{SESSION_COOKIE, constant_time_equal, set_cookie};
use super::{message, page};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    signed_in: Option<String>,
    csrf: String,
    token: String,
    error: Option<String>,
    name: String,
    domain: String,
    user: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn token_matches(state: &AppState, presented: &str) -> bool {
    let guard = state.setup_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    guard.as_deref().is_some_and(|token| constant_time_equal(token.as_bytes(), presented.as_bytes()))
}

fn expired() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Setup link expired",
        "This setup link was used already, or the server was restarted. Sign in, or restart the server on an empty data directory for a new link.",
        None,
        None,
    )
}

/// `GET /portal/setup?token=…`. Needs the one-time token.
pub async fn form(State(state): State<AppState>, Query(query): Query<TokenQuery>) -> Response {
    let token = query.token.unwrap_or_default();
    if !token_matches(&state, &token) {
        return expired();
    }
    page(
        StatusCode::OK,
        &SetupPage {
            signed_in: None,
            csrf: String::new(),
            token,
            error: None,
            name: String::new(),
            domain: String::new(),
            user: "admin".into(),
        },
    )
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    name: String,
    domain: String,
    user: String,
    password: String,
}

/// `POST /portal/setup`: creates the tenant and its Global Administrator, signs them in, and
/// retires the token. The token is the form's anti-forgery proof.
pub async fn create(State(state): State<AppState>, Form(form): Form<SetupForm>) -> Response {
    if !token_matches(&state, &form.token) {
        return expired();
    }
    let admin = DirectoryAdmin::new(
        state.store.as_ref(),
        state.identity.hasher(),
        &SystemClock,
        Actor::Operator("threatgate (portal setup link)"),
    );
    let again = |error: String| {
        page(
            StatusCode::BAD_REQUEST,
            &SetupPage {
                signed_in: None,
                csrf: String::new(),
                token: form.token.clone(),
                error: Some(error),
                name: form.name.clone(),
                domain: form.domain.clone(),
                user: form.user.clone(),
            },
        )
    };
    if let Err(why) = threatgate_identity::passwords::check_password_strength(&form.password) {
        return again(why.to_owned());
    }
    let domain = Some(form.domain.trim()).filter(|d| !d.is_empty());
    let tenant = match admin.create_tenant(&form.name, domain).await {
        Ok(tenant) => tenant,
        Err(error) => return again(error.to_string()),
    };
    let upn = format!("{}@{}", form.user.trim(), tenant.initial_domain);
    let created = match admin.create_user(&tenant.id.to_string(), &upn, Some(&form.password), true).await {
        Ok(created) => created,
        Err(error) => return again(error.to_string()),
    };
    *state.setup_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    super::refresh_after_change(&state).await;
    tracing::info!(tenant = %tenant.id, "first tenant created through the setup link");
    match start_session(state.store.as_ref(), &created.user, state.clock.now()).await {
        Ok(session) => {
            let mut response = Redirect::to("/portal").into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&state, SESSION_COOKIE, &session.cookie_value, SESSION_LIFETIME.whole_seconds()),
            );
            response
        }
        Err(_) => Redirect::to("/portal/signin").into_response(),
    }
}
