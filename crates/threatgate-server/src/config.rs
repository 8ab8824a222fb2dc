//! The server's configuration: defaults, then a TOML file, then `THREATGATE_*` environment
//! variables, then command-line flags; validated once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Which path sets a node serves, so that the identity side and the API scale separately
/// behind a load balancer that routes by path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Both.
    #[default]
    All,
    /// Token endpoints, discovery and keys, and the portal (consent, registrations, the
    /// customer's pages).
    Identity,
    /// The Threat Protection API (`/api/…`).
    Api,
}

impl Role {
    pub fn serves_identity(self) -> bool {
        matches!(self, Self::All | Self::Identity)
    }

    pub fn serves_api(self) -> bool {
        matches!(self, Self::All | Self::Api)
    }
}

/// Every setting of `threatgate serve` and `threatgate demo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory holding the database, the key files and the TLS material.
    pub data_dir: PathBuf,
    /// The database: `postgres://user[:password]@host[:port]/database` for PostgreSQL (several
    /// nodes may share it), `sqlite://PATH` for another SQLite file; unset, the data
    /// directory's `threatgate.db`. The key files and TLS material stay in the data directory,
    /// which nodes of one service share (or copy).
    pub database_url: Option<String>,
    /// PostgreSQL connections this node keeps at most.
    pub database_max_connections: u32,
    /// Which paths this node serves: `all`, `identity` or `api`. Health (`/healthz`,
    /// `/readyz`) is served by every node.
    pub role: Role,
    /// Address and port to listen on: an IP address, or a host name (`localhost:8443`)
    /// resolved when the configuration is read (its first IPv4 address, else its first).
    #[serde(deserialize_with = "listen_address")]
    pub listen: SocketAddr,
    /// Base URL clients use to reach this server, without a trailing slash. It appears in
    /// discovery documents and error links. Default: `https://{listen}` (`http://` with
    /// `plain_http`), with `localhost` for an unspecified address.
    pub public_url: Option<String>,
    /// Serve plain HTTP instead of HTTPS, for deployments that terminate TLS in front.
    /// Microsoft's clients (MSAL, azure-identity) refuse `http://` authorities.
    pub plain_http: bool,
    /// Extra DNS names or IP addresses for the generated server certificate, besides
    /// `localhost`, `127.0.0.1` and `::1`.
    pub tls_names: Vec<String>,
    /// How often the server checks the store for changes made by other processes
    /// (administration commands, other nodes), in milliseconds.
    pub refresh_interval_ms: u64,
    /// API call quotas per tenant and application (`[quotas]` in the file; `enabled = false`
    /// turns them off).
    pub quotas: crate::quotas::QuotaLimits,
    /// How long after an incident's last activity a new alert sharing an entity still joins it,
    /// in hours.
    pub correlation_window_hours: u32,
    /// How long the audit trail (the partner access log, changes, consents, tokens) keeps its
    /// records, in days (at least 1).
    pub access_log_retention_days: u32,
    /// Advanced hunting's limits and retention (`[hunting]` in the file).
    pub hunting: HuntingSettings,
    /// The token endpoints' throttling and client-assertion lifetime (`[token_endpoint]`).
    pub token_endpoint: crate::token_throttle::TokenEndpointSettings,
    /// API and Graph requests this node works on at once; past it a request is answered at
    /// once with 503 and `Retry-After` instead of waiting in a queue without bound. The token
    /// endpoints, discovery and the portal are not counted, so tokens keep being issued while
    /// the API is overloaded.
    pub api_max_in_flight: usize,
    /// Connections open at once; a connection past it is closed as soon as it is accepted
    /// (keep it under the process's open-file limit, `ulimit -n`).
    pub max_connections: usize,
    /// The emulator's controls for connector tests: fault injection and token lifetimes
    /// (`[emulator]`; off by default).
    pub emulator: crate::emulator::EmulatorSettings,
    /// The file holding the signing keys' key-encryption key (32 bytes, owner-only) [default:
    /// DATA_DIR/keys/signing-key-encryption.key]; `THREATGATE_KEY_ENCRYPTION_KEY` (base64) wins.
    pub key_encryption_key_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("threatgate-data"),
            database_url: None,
            database_max_connections: 16,
            api_max_in_flight: 512,
            max_connections: 10_000,
            emulator: crate::emulator::EmulatorSettings::default(),
            role: Role::All,
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_url: None,
            plain_http: false,
            tls_names: Vec::new(),
            refresh_interval_ms: 500,
            quotas: crate::quotas::QuotaLimits::default(),
            correlation_window_hours: 24,
            access_log_retention_days: 90,
            hunting: HuntingSettings::default(),
            token_endpoint: crate::token_throttle::TokenEndpointSettings::default(),
            key_encryption_key_file: None,
        }
    }
}

/// Advanced hunting's limits (spec 7.1) and how long events are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HuntingSettings {
    /// A query answering more rows fails ("Result size limit exceeded").
    pub max_rows: u64,
    /// A query running longer fails ("Query exceeded the timeout period.").
    pub timeout_seconds: u64,
    /// A query whose `Results` grow past this many bytes of JSON fails ("Query execution has
    /// exceeded the allowed result size", 124 MB as Microsoft documents); the server stops
    /// reading rows there, so this also bounds a query's memory.
    pub max_result_bytes: u64,
    /// Queries of one tenant running at once; past it, 429 with `Retry-After`.
    pub max_concurrent_per_tenant: usize,
    /// Queries of all tenants running at once [default: as many as the store has hunting
    /// connections for: SQLite 4, PostgreSQL a quarter of `database_max_connections`].
    pub max_concurrent: Option<usize>,
    /// Events older than this are deleted, hourly.
    pub retention_days: u32,
}

impl Default for HuntingSettings {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            timeout_seconds: 180,
            max_result_bytes: 124 * 1024 * 1024,
            max_concurrent_per_tenant: 2,
            max_concurrent: None,
            retention_days: 30,
        }
    }
}

/// The configuration could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Figment(Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// `listen` as an address, or a `host:port` resolved to one.
fn listen_address<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    use serde::de::Error;
    let text = String::deserialize(deserializer)?;
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let resolved: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(text.as_str())
        .map_err(|error| D::Error::custom(format!("listen '{text}' is not an address:port or a host:port ({error})")))?
        .collect();
    resolved
        .iter()
        .find(|address| address.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| D::Error::custom(format!("listen '{text}' resolves to no address")))
}

impl Config {
    /// Layers the sources; `overrides` (command-line flags) win. Only the settings above are
    /// read from the environment, so unrelated `THREATGATE_*` variables do no harm.
    pub fn load(file: Option<&Path>, overrides: &impl Serialize) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!("config file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            .merge(Env::prefixed("THREATGATE_").only(&[
                "data_dir",
                "database_url",
                "database_max_connections",
                "role",
                "listen",
                "public_url",
                "plain_http",
                "tls_names",
                "refresh_interval_ms",
                "correlation_window_hours",
                "access_log_retention_days",
                "key_encryption_key_file",
            ]))
            .merge(Serialized::globals(overrides))
            .extract()
            .map_err(|e| ConfigError::Figment(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url)
                .map_err(|e| ConfigError::Invalid(format!("public_url '{url}' is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
                return Err(ConfigError::Invalid(format!("public_url '{url}' must be an http(s) URL with a host")));
            }
            if parsed.path() != "/" || parsed.query().is_some() {
                return Err(ConfigError::Invalid(format!("public_url '{url}' must have no path or query")));
            }
        }
        if !(50..=60_000).contains(&self.refresh_interval_ms) {
            return Err(ConfigError::Invalid("refresh_interval_ms must be between 50 and 60000".into()));
        }
        if let Some(url) = &self.database_url {
            crate::data_dir::StoreLocation::parse(url).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        if !(1..=1_000).contains(&self.database_max_connections) {
            return Err(ConfigError::Invalid("database_max_connections must be between 1 and 1000".into()));
        }
        if !(1..=100_000).contains(&self.api_max_in_flight) {
            return Err(ConfigError::Invalid("api_max_in_flight must be between 1 and 100000".into()));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(ConfigError::Invalid("max_connections must be between 1 and 1000000".into()));
        }
        if !(60..=86_400).contains(&self.token_endpoint.max_assertion_lifetime_seconds) {
            return Err(ConfigError::Invalid(
                "token_endpoint.max_assertion_lifetime_seconds must be between 60 and 86400".into(),
            ));
        }
        if self.access_log_retention_days == 0 {
            return Err(ConfigError::Invalid("access_log_retention_days must be at least 1".into()));
        }
        if !(1..=10_000_000).contains(&self.hunting.max_rows) {
            return Err(ConfigError::Invalid("hunting.max_rows must be between 1 and 10000000".into()));
        }
        if !(1..=3_600).contains(&self.hunting.timeout_seconds) {
            return Err(ConfigError::Invalid("hunting.timeout_seconds must be between 1 and 3600".into()));
        }
        if !(1_024..=4 * 1024 * 1024 * 1024).contains(&self.hunting.max_result_bytes) {
            return Err(ConfigError::Invalid("hunting.max_result_bytes must be between 1024 and 4294967296".into()));
        }
        if !(1..=1_000).contains(&self.hunting.max_concurrent_per_tenant) {
            return Err(ConfigError::Invalid("hunting.max_concurrent_per_tenant must be between 1 and 1000".into()));
        }
        if self.hunting.max_concurrent.is_some_and(|n| !(1..=1_000).contains(&n)) {
            return Err(ConfigError::Invalid("hunting.max_concurrent must be between 1 and 1000".into()));
        }
        if self.hunting.retention_days == 0 {
            return Err(ConfigError::Invalid("hunting.retention_days must be at least 1".into()));
        }
        Ok(())
    }

    /// The public base URL for a server bound to `bound` (which tells the port when
    /// `listen` asked for port 0).
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let scheme = if self.plain_http { "http" } else { "https" };
        let host = match bound.ip() {
            ip if ip.is_unspecified() => "localhost".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("{scheme}://{host}:{}", bound.port())
    }
}
