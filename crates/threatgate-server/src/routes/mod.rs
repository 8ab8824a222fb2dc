//! The HTTP routes. `router()` is separate from binding, so tests can call it with `oneshot`.

mod discovery;
mod emulator;
mod health;
mod token;

use crate::state::AppState;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{any, get};
use tower_http::set_header::SetResponseHeaderLayer;

/// The routes of a node with `role`; health and readiness on every node.
pub fn router(state: AppState, role: crate::config::Role) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(health::health))
        .route("/readyz", get(health::ready))
        .route("/error", get(health::error_code_page));
    if role.serves_identity() {
        router = router.merge(identity_routes()).merge(crate::portal::router());
    }
    if state.emulator.enabled() {
        router = router.merge(emulator::router());
    }
    if role.serves_api() {
        let api = crate::api::router(state.clone())
            .layer(axum::middleware::from_fn_with_state(state.clone(), crate::api::shed_load))
            .layer(axum::middleware::from_fn_with_state(state.clone(), emulator::inject));
        router = router.merge(api).layer(axum::middleware::from_fn(crate::api::json_errors));
    }
    let router = router
        .layer(axum::middleware::from_fn(crate::drain::drain_unread_bodies))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state);
    // Graph's paths are matched in any case, and with `(appId='…')` keys: rewritten before
    // routing (a layer on the router itself would run after it).
    Router::new().fallback_service(
        tower::ServiceBuilder::new().map_request(crate::api::canonical_request::<axum::body::Body>).service(router),
    )
}

/// The identity platform's endpoints: tokens, discovery, keys.
fn identity_routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/token", any(token::token_v1))
        .route("/{tenant}/oauth2/v2.0/token", any(token::token_v2))
        .route("/{tenant}/.well-known/openid-configuration", get(discovery::openid_configuration_v1))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery::openid_configuration_v2))
        .route("/{tenant}/discovery/keys", get(discovery::keys_v1))
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys_v2))
        .route("/common/discovery/instance", get(discovery::instance_discovery))
        .route("/metadata/endpoints", get(discovery::cloud_metadata))
}
