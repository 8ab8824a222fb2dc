//! The HTTP routes. `router()` is separate from binding, so tests can call it with `oneshot`.

mod discovery;
mod health;
mod token;
mod token_throttle;

pub use token_throttle::{TokenEndpointSettings, TokenThrottle};

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{any, get};
use threatgate_identity::IdentityService;
use tower_http::set_header::SetResponseHeaderLayer;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub identity: Arc<IdentityService>,
    /// Base URL clients use, without a trailing slash.
    pub public_url: Arc<str>,
    /// Other host names clients may reach this server by (the server certificate's names): a
    /// client assertion's `aud` may name them.
    pub host_names: Arc<[String]>,
    pub quotas: Arc<crate::api::quotas::Quotas>,
    /// How long after an incident's last activity a new alert may still join it (ticks).
    pub correlation_window_ticks: i64,
    pub sign_in_throttle: Arc<crate::portal::SignInThrottle>,
    /// Token requests per client and per address.
    pub token_throttle: Arc<TokenThrottle>,
    /// The one-time first-run setup token, while the data directory has no tenant.
    pub setup_token: Arc<std::sync::Mutex<Option<String>>>,
    /// The partner access log's writer.
    pub access_log: crate::access_log::AccessLog,
    /// Advanced hunting's limits.
    pub hunting: crate::config::HuntingSettings,
    /// Advanced hunting's places, shared fairly between tenants.
    pub hunt_gate: Arc<crate::api::HuntGate>,
}

/// The routes of a node with `role`; health and readiness on every node.
pub fn router(state: AppState, role: crate::config::Role) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(health::health))
        .route("/readyz", get(health::ready))
        .route("/error", get(health::error_code_page));
    if role.serves_identity() {
        router = router.merge(identity_routes()).merge(crate::portal::router());
    }
    if role.serves_api() {
        router =
            router.merge(crate::api::router(state.clone())).layer(axum::middleware::from_fn(crate::api::json_errors));
    }
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
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
}
