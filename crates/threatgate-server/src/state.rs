//! What every handler can reach: the services, the store, the clock, the settings and the
//! shared counters. Its own module, so that the routers (`routes`, `api`, `portal`) depend on it
//! and it on none of them.

use std::sync::Arc;

use threatgate_identity::{Clock, IdentityService};
use threatgate_store::Store;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub identity: Arc<IdentityService>,
    /// The store (the identity service's): incidents, hunting, sessions, the audit trail.
    pub store: Arc<dyn Store>,
    /// The time every handler uses (the identity service's clock).
    pub clock: Arc<dyn Clock>,
    /// Base URL clients use, without a trailing slash.
    pub public_url: Arc<str>,
    /// Other host names clients may reach this server by (the server certificate's names): a
    /// client assertion's `aud` may name them.
    pub host_names: Arc<[String]>,
    pub quotas: Arc<crate::quotas::Quotas>,
    /// How long after an incident's last activity a new alert may still join it (ticks).
    pub correlation_window_ticks: i64,
    pub sign_in_throttle: Arc<crate::sign_in_throttle::SignInThrottle>,
    /// Token requests per client and per address.
    pub token_throttle: Arc<crate::token_throttle::TokenThrottle>,
    /// The one-time first-run setup token, while the data directory has no tenant.
    pub setup_token: Arc<std::sync::Mutex<Option<String>>>,
    /// The partner access log's writer.
    pub access_log: crate::access_log::AccessLog,
    /// Advanced hunting's limits.
    pub hunting: crate::config::HuntingSettings,
    /// Advanced hunting's places, shared fairly between tenants.
    pub hunt_gate: Arc<crate::hunt_gate::HuntGate>,
    /// A place for each API or Graph request being worked on (`api_max_in_flight`).
    pub api_gate: Arc<tokio::sync::Semaphore>,
    /// The emulator's controls (faults; off unless `[emulator] enabled`).
    pub emulator: Arc<crate::emulator::Emulator>,
}
