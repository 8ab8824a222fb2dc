//! Building and running the service. `Application::build` binds the listener (port 0 in
//! tests) and loads everything; `run_until_stopped` serves. Tests and `main` share this path.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use threatgate_domain::{Ticks, UnixSeconds};
use threatgate_identity::{Clock, IdentityService, IdentitySettings, SystemClock};
use time::OffsetDateTime;

use crate::config::Config;
use crate::data_dir::{DataDir, DataDirError};
use crate::routes::router;
use crate::state::AppState;
use crate::tls::{TlsError, ensure_local_tls};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Identity(#[from] threatgate_identity::Error),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("emulator: {0}")]
    Emulator(String),
}

/// A bound, loaded service, ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    public_url: String,
    data_dir: DataDir,
    identity: Arc<IdentityService>,
    tls: Option<(RustlsConfig, PathBuf)>,
    refresh_interval: Duration,
    quotas: crate::quotas::QuotaLimits,
    correlation_window_ticks: i64,
    access_log_retention: time::Duration,
    hunting: crate::config::HuntingSettings,
    token_endpoint: crate::token_throttle::TokenEndpointSettings,
    api_max_in_flight: usize,
    max_connections: usize,
    emulator: Arc<crate::emulator::Emulator>,
    setup_token: Option<String>,
    role: crate::config::Role,
    /// The server certificate's names (or, behind a TLS proxy, none besides the public URL).
    host_names: Vec<String>,
}

impl Application {
    /// Opens the data directory, prepares TLS and keys, and binds the listener.
    pub async fn build(config: &Config) -> Result<Self, StartupError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let data_dir = DataDir::create(&config.data_dir)?;
        let store = data_dir.open_store(config.database_url.as_deref(), config.database_max_connections).await?;
        let hasher = data_dir.open_secret_hasher()?;
        let kek = data_dir.open_key_encryption(config.key_encryption_key_file.as_deref())?;
        let settings = IdentitySettings {
            max_assertion_lifetime: time::Duration::seconds(i64::from(
                config.token_endpoint.max_assertion_lifetime_seconds,
            )),
            ..IdentitySettings::default()
        };
        let identity = Arc::new(IdentityService::open(store, Arc::clone(&clock), hasher, kek, settings).await?);

        let tls = if config.plain_http {
            None
        } else {
            let material = ensure_local_tls(&data_dir.tls_dir(), &config.tls_names, OffsetDateTime::now_utc())?;
            let rustls = RustlsConfig::from_pem(material.certificate_chain_pem, material.private_key_pem).await?;
            Some((rustls, material.ca_certificate_path))
        };

        // First run: no tenant yet, so the portal offers a one-time setup link.
        let setup_token = if identity.store().list_tenants().await.map_err(threatgate_identity::Error::from)?.is_empty()
        {
            Some(threatgate_identity::random::random_base64url::<24>()?)
        } else {
            None
        };

        let listener = std::net::TcpListener::bind(config.listen)
            .map_err(|source| StartupError::Bind { address: config.listen, source })?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let public_url = config.public_url_for(local_addr);
        let emulator = crate::emulator::Emulator::start(
            &config.emulator,
            data_dir.root(),
            &public_url,
            tls.as_ref().map(|(_, ca)| ca.as_path()),
        )
        .map_err(StartupError::Emulator)?;
        crate::emulator::apply_token_lifetimes(&config.emulator, &identity).map_err(StartupError::Emulator)?;
        Ok(Self {
            emulator: Arc::new(emulator),
            listener,
            local_addr,
            public_url,
            data_dir,
            identity,
            tls,
            refresh_interval: Duration::from_millis(config.refresh_interval_ms),
            quotas: config.quotas.clone(),
            correlation_window_ticks: i64::from(config.correlation_window_hours) * 3600 * 10_000_000,
            access_log_retention: time::Duration::days(i64::from(config.access_log_retention_days)),
            hunting: config.hunting,
            api_max_in_flight: config.api_max_in_flight,
            max_connections: config.max_connections,
            token_endpoint: config.token_endpoint,
            setup_token,
            role: config.role,
            host_names: if config.plain_http { Vec::new() } else { crate::tls::server_names(&config.tls_names) },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The base URL clients use, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    pub fn identity(&self) -> &Arc<IdentityService> {
        &self.identity
    }

    /// The first-run setup link, when the data directory has no tenant yet.
    pub fn setup_link(&self) -> Option<String> {
        self.setup_token.as_ref().map(|token| format!("{}/portal/setup?token={token}", self.public_url))
    }

    /// The local CA certificate clients should trust, when serving HTTPS.
    /// Whether the emulator's controls are on (`[emulator] enabled`).
    pub fn emulator_enabled(&self) -> bool {
        self.emulator.enabled()
    }

    pub fn ca_certificate_path(&self) -> Option<&PathBuf> {
        self.tls.as_ref().map(|(_, path)| path)
    }

    /// Serves until `shutdown` completes, then drains connections for up to 5 seconds.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let access_log = crate::access_log::AccessLog::start(Arc::clone(self.identity.store()));
        let quotas = Arc::new(crate::quotas::Quotas::new(self.quotas.clone()));
        let quota_sync = tokio::spawn(share_quota_counts(Arc::clone(&quotas), Arc::clone(self.identity.store())));
        let token_throttle = Arc::new(crate::token_throttle::TokenThrottle::new(&self.token_endpoint));
        let throttle_cleaner = tokio::spawn({
            let token_throttle = Arc::clone(&token_throttle);
            async move {
                let mut ticker = tokio::time::interval(Duration::from_secs(60));
                loop {
                    ticker.tick().await;
                    token_throttle.forget_idle();
                }
            }
        });
        let state = AppState {
            identity: Arc::clone(&self.identity),
            store: Arc::clone(self.identity.store()),
            clock: Arc::clone(self.identity.clock()),
            public_url: Arc::from(self.public_url.as_str()),
            host_names: Arc::from(self.host_names.clone()),
            quotas: Arc::clone(&quotas),
            correlation_window_ticks: self.correlation_window_ticks,
            sign_in_throttle: Arc::new(crate::sign_in_throttle::SignInThrottle::default()),
            token_throttle: Arc::clone(&token_throttle),
            setup_token: Arc::new(std::sync::Mutex::new(self.setup_token.clone())),
            access_log: access_log.clone(),
            hunting: self.hunting,
            hunt_gate: Arc::new(crate::hunt_gate::HuntGate::new(
                self.hunting.max_concurrent.unwrap_or_else(|| self.identity.store().hunt_connections()),
                self.hunting.max_concurrent_per_tenant,
            )),
            api_gate: Arc::new(tokio::sync::Semaphore::new(self.api_max_in_flight)),
            emulator: Arc::clone(&self.emulator),
        };
        let app = router(state, self.role)
            .layer(tower_http::trace::TraceLayer::new_for_http())
            .layer(axum::middleware::from_fn(crate::request_log::log_requests));
        let event_retention = time::Duration::days(i64::from(self.hunting.retention_days));
        let refresher = tokio::spawn(keep_current(
            Arc::clone(&self.identity),
            self.refresh_interval,
            self.access_log_retention,
            event_retention,
        ));
        let connections = crate::connections::ConnectionLimit::new(self.max_connections);
        let result = match self.tls {
            Some((rustls, _)) => {
                let handle = axum_server::Handle::new();
                let stopper = handle.clone();
                tokio::spawn(async move {
                    shutdown.await;
                    stopper.graceful_shutdown(Some(Duration::from_secs(5)));
                });
                // TCP_NODELAY: a response of several TLS records is not held back waiting for
                // the client's delayed ACK (40 ms on Linux).
                let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls).acceptor(
                    crate::connections::LimitAcceptor::new(axum_server::accept::NoDelayAcceptor::new(), connections),
                );
                axum_server::from_tcp(self.listener)?
                    .acceptor(acceptor)
                    .handle(handle)
                    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                    .await
            }
            None => {
                use axum::serve::ListenerExt;
                let listener = tokio::net::TcpListener::from_std(self.listener)?;
                let listener = crate::connections::LimitedListener::new(listener, connections).tap_io(|stream| {
                    if let Err(error) = stream.get_mut().set_nodelay(true) {
                        tracing::debug!(%error, "TCP_NODELAY could not be set");
                    }
                });
                axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        refresher.abort();
        quota_sync.abort();
        throttle_cleaner.abort();
        access_log.flush().await;
        result
    }
}

/// Reloads the identity view when another process changed the store; hourly, keeps a next
/// signing key published, removes expired portal sessions and access-log entries past their
/// retention, and hunting events past theirs.
async fn keep_current(
    identity: Arc<IdentityService>,
    interval: Duration,
    retention: time::Duration,
    event_retention: time::Duration,
) {
    const KEY_CHECK_EVERY: Duration = Duration::from_secs(3600);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_key_check = tokio::time::Instant::now();
    warn_about_expiring_credentials(&identity).await;
    loop {
        ticker.tick().await;
        if let Err(error) = identity.refresh().await {
            tracing::warn!(%error, "could not refresh the directory view; serving the previous one");
        }
        if last_key_check.elapsed() >= KEY_CHECK_EVERY {
            last_key_check = tokio::time::Instant::now();
            if let Err(error) = identity.maintain_keys().await {
                tracing::warn!(%error, "could not check the signing keys");
            }
            warn_about_expiring_credentials(&identity).await;
            match identity.store().delete_expired_sessions(identity.clock().now()).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "expired portal sessions removed"),
                Err(error) => tracing::warn!(%error, "could not remove expired portal sessions"),
            }
            let cutoff = Ticks::at(identity.clock().now() - retention);
            match identity.store().delete_access_entries_before(cutoff).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "access log entries past their retention removed"),
                Err(error) => tracing::warn!(%error, "could not apply the access log's retention"),
            }
            // Quota windows count real time (as `quotas` does), whatever the injected clock.
            let two_hours_ago = UnixSeconds::at(OffsetDateTime::now_utc() - time::Duration::hours(2));
            if let Err(error) = identity.store().delete_quota_counts_before(two_hours_ago).await {
                tracing::warn!(%error, "could not remove old quota counts");
            }
            match identity.store().delete_audit_events_before(cutoff).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "audit events past their retention removed"),
                Err(error) => tracing::warn!(%error, "could not apply the audit trail's retention"),
            }
            let cutoff = Ticks::at(identity.clock().now() - event_retention);
            match identity.store().delete_events_before(cutoff).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "hunting events past their retention removed"),
                Err(error) => tracing::warn!(%error, "could not apply the hunting events' retention"),
            }
            // What an hour of ingestion (and the retention) changed, for the query planner.
            if let Err(error) = identity.store().refresh_event_statistics().await {
                tracing::warn!(%error, "could not refresh the hunting tables' statistics");
            }
        }
    }
}

/// Reports this node's quota counts and learns the other nodes', every
/// [`crate::quotas::SYNC_INTERVAL`]. While the store refuses, each node counts alone (said
/// once, and again when sharing resumes).
async fn share_quota_counts(quotas: Arc<crate::quotas::Quotas>, store: Arc<dyn threatgate_store::Store>) {
    let mut ticker = tokio::time::interval(crate::quotas::SYNC_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticker.tick().await;
        let now = crate::quotas::unix_millis(OffsetDateTime::now_utc());
        match quotas.sync(store.as_ref(), now).await {
            Ok(()) if failing => {
                tracing::info!("quota counts are shared across nodes again");
                failing = false;
            }
            Ok(()) => {}
            Err(error) if !failing => {
                tracing::warn!(%error, "quota counts cannot be shared; this node counts alone until the store answers");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// A warning in the log for each credential that ends within 30 days or has ended (at start
/// and hourly), so that whoever reads the log rotates it in time.
async fn warn_about_expiring_credentials(identity: &IdentityService) {
    let admin = threatgate_identity::DirectoryAdmin::new(
        identity.store().as_ref(),
        identity.hasher(),
        identity.clock().as_ref(),
        threatgate_identity::Actor::Operator("threatgate (server)"),
    );
    match admin.credential_report(None, None).await {
        Ok(report) => {
            for credential in report.iter().filter(|c| c.state.needs_rotation()) {
                tracing::warn!(
                    app_id = %credential.app_id,
                    app = %credential.app_name,
                    tenant = %credential.tenant,
                    key_id = %credential.key_id,
                    ends = %credential.end,
                    "a {} {}: add a new one, move clients to it, delete the old one",
                    credential.kind,
                    credential.state
                );
            }
        }
        Err(error) => tracing::warn!(%error, "could not check credential expiry"),
    }
}
