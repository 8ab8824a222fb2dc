//! A security partner's client for Microsoft's partner access to the Threat Protection API,
//! working the same against Microsoft's service and against Threatgate (the authority and the
//! API base are settings).
//!
//! - [`TokenProvider`]: client-credentials tokens per customer tenant, cached until five
//!   minutes before they expire, one request for concurrent callers, optionally kept in an
//!   owner-only file.
//! - [`Client::list_incidents`] (a typed [`IncidentFilter`], every page followed),
//!   [`Client::get_incident`], [`Client::update_incident`].
//! - [`Client::run_hunting_query`]: advanced hunting (KQL) in one tenant.
//! - Retries ([`RetryPolicy`]): 429 waits for `Retry-After`; 5xx and connection failures back
//!   off exponentially with jitter. Errors are typed ([`Error`], [`ServiceError`]) and carry
//!   the service's code, message and tracking id.
//! - [`fan_out`]: one operation over hundreds of tenants with bounded concurrency.
//!
//! ```no_run
//! # async fn poll() -> threatgate_client::Result<()> {
//! use futures_util::StreamExt;
//! use threatgate_client::{Client, ClientSecret, IncidentFilter, fan_out};
//!
//! let client = Client::builder("00000000-0000-0000-0000-000000000001")
//!     .client_secret(ClientSecret::new(std::env::var("PARTNER_SECRET").unwrap_or_default()))
//!     .build()?;
//! let since = time::OffsetDateTime::now_utc() - time::Duration::hours(24);
//! let filter = IncidentFilter::new().updated_since(since);
//! let tenants = vec!["contoso.onmicrosoft.com".to_owned(), "woodgrove.onmicrosoft.com".to_owned()];
//! let mut results = fan_out(tenants, 16, |tenant| {
//!     let (client, filter) = (client.clone(), filter.clone());
//!     async move { client.list_incidents(&tenant, &filter).await }
//! });
//! while let Some((tenant, result)) = results.next().await {
//!     match result {
//!         Ok(incidents) => println!("{tenant}: {} incidents", incidents.len()),
//!         Err(error) => eprintln!("{tenant}: {error}"),
//!     }
//! }
//! # Ok(()) }
//! ```

mod clock;
mod error;
mod fanout;
mod http;
mod hunting;
mod incidents;
mod token;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result, ServiceError};
pub use fanout::fan_out;
pub use http::RetryPolicy;
pub use hunting::{HuntingColumn, HuntingResult};
pub use incidents::{API_RESOURCE, IncidentChanges, IncidentFilter, MAX_PAGE};
pub use threatgate_proto::Incident;
pub use token::{ClientSecret, Credential, RENEW_BEFORE, TokenProvider, TokenSettings, TokenVersion};
pub use verify::{SignatureCheck, verify_signature};

/// Microsoft's identity platform.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Microsoft's Threat Protection API.
pub const DEFAULT_API_BASE: &str = "https://api.security.microsoft.com";
/// Microsoft Graph.
pub const DEFAULT_GRAPH_BASE: &str = "https://graph.microsoft.com";

/// The partner's client: tokens and the API. Cheap to clone; clones share the token cache.
#[derive(Debug, Clone)]
pub struct Client {
    http: http::Http,
    tokens: Arc<TokenProvider>,
    api_base: url::Url,
    graph_base: url::Url,
}

impl Client {
    pub fn builder(client_id: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            client_id: client_id.into(),
            authority: DEFAULT_AUTHORITY.into(),
            api_base: DEFAULT_API_BASE.into(),
            graph_base: DEFAULT_GRAPH_BASE.into(),
            credential: None,
            version: TokenVersion::V2,
            ca_certificate: None,
            cache_file: None,
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The token provider (shared by every clone of this client).
    pub fn tokens(&self) -> &Arc<TokenProvider> {
        &self.tokens
    }

    pub fn api_base(&self) -> &url::Url {
        &self.api_base
    }

    /// Microsoft Graph's base (its security API is under `v1.0/security/`).
    pub fn graph_base(&self) -> &url::Url {
        &self.graph_base
    }
}

/// Settings for a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    client_id: String,
    authority: String,
    api_base: String,
    graph_base: String,
    credential: Option<Credential>,
    version: TokenVersion,
    ca_certificate: Option<PathBuf>,
    cache_file: Option<PathBuf>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl ClientBuilder {
    /// The identity platform (default `https://login.microsoftonline.com`).
    pub fn authority(mut self, url: impl Into<String>) -> Self {
        self.authority = url.into();
        self
    }

    /// The API (default `https://api.security.microsoft.com`).
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = url.into();
        self
    }

    /// Microsoft Graph (default `https://graph.microsoft.com`; Threatgate serves it on the
    /// same address as its API).
    pub fn graph_base(mut self, url: impl Into<String>) -> Self {
        self.graph_base = url.into();
        self
    }

    pub fn client_secret(mut self, secret: ClientSecret) -> Self {
        self.credential = Some(Credential::Secret(secret));
        self
    }

    /// Use the v1 token endpoint (`resource=`) instead of v2.
    pub fn version(mut self, version: TokenVersion) -> Self {
        self.version = version;
        self
    }

    /// Trust this CA (PEM) besides the system's roots: Threatgate's local CA, say.
    pub fn ca_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_certificate = Some(path.into());
        self
    }

    /// Keep tokens in this file between runs (written owner-only).
    pub fn cache_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_file = Some(path.into());
        self
    }

    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The clock for token expiry and retry waits (tests inject a [`ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn build(self) -> Result<Client> {
        let credential = self.credential.ok_or_else(|| {
            Error::Config("no credential: give a client secret (certificates come with the server's support)".into())
        })?;
        let authority = parse_base(&self.authority, "authority")?;
        let api_base = parse_base(&self.api_base, "API base")?;
        let graph_base = parse_base(&self.graph_base, "Graph base")?;
        if self.client_id.trim().is_empty() {
            return Err(Error::Config("no client id".into()));
        }
        let http = http::Http::new(self.ca_certificate.as_deref(), self.retry, self.clock)?;
        let settings = TokenSettings {
            authority,
            client_id: self.client_id.trim().to_owned(),
            credential,
            version: self.version,
            cache_file: self.cache_file,
        };
        let tokens = Arc::new(TokenProvider::new(http.clone(), settings)?);
        Ok(Client { http, tokens, api_base, graph_base })
    }
}

/// An https (or http) base URL, kept with a trailing slash so that paths join under it.
fn parse_base(text: &str, what: &str) -> Result<url::Url> {
    let mut url = url::Url::parse(text.trim()).map_err(|e| Error::Config(format!("{what} '{text}': {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(Error::Config(format!("{what} '{text}' must be an https URL")));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_query(None);
    Ok(url)
}
