//! Tokens per customer tenant with the client-credentials grant: v2 (`scope=<resource>/.default`)
//! by default, v1 (`resource=`) on request. Each token is kept until five minutes before it
//! expires; callers asking for the same (authority, tenant, client, resource) at the same time
//! share one request; an optional cache file (owner-only) keeps tokens across runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::http::{Http, Repeat};

/// Tokens are renewed this long before they expire; a token that lives less than twice this
/// (a test server's short-lived tokens) is renewed half-way through its life instead.
pub const RENEW_BEFORE: time::Duration = time::Duration::minutes(5);

/// A client secret. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(…)")
    }
}

/// How the application proves who it is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credential {
    /// A client secret, sent in the form body.
    Secret(ClientSecret),
}

/// Which token endpoint to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenVersion {
    /// `/{tenant}/oauth2/v2.0/token` with `scope=<resource>/.default`.
    #[default]
    V2,
    /// `/{tenant}/oauth2/token` with `resource=<resource>`.
    V1,
}

/// The application and where it gets tokens.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `https://login.microsoftonline.com`, or a Threatgate server's URL.
    pub authority: url::Url,
    pub client_id: String,
    pub credential: Credential,
    pub version: TokenVersion,
    /// Keep tokens in this file between runs (created owner-only).
    pub cache_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedToken {
    access_token: String,
    /// Unix seconds.
    expires_at: i64,
    /// How long before `expires_at` it is renewed, in seconds (older cache files: 300).
    #[serde(default = "renew_before_seconds")]
    renew_before: i64,
}

fn renew_before_seconds() -> i64 {
    RENEW_BEFORE.whole_seconds()
}

type Slot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// Gets and caches tokens. Share one (in an `Arc`) across all tasks.
#[derive(Debug)]
pub struct TokenProvider {
    http: Http,
    settings: TokenSettings,
    slots: Mutex<HashMap<String, Slot>>,
    /// What the cache file holds (and will hold after the next write).
    on_disk: Mutex<HashMap<String, CachedToken>>,
    requests: AtomicU64,
}

impl TokenProvider {
    pub(crate) fn new(http: Http, settings: TokenSettings) -> Result<Self> {
        let on_disk = match &settings.cache_file {
            Some(path) => read_cache(path)?,
            None => HashMap::new(),
        };
        Ok(Self {
            http,
            settings,
            slots: Mutex::new(HashMap::new()),
            on_disk: Mutex::new(on_disk),
            requests: AtomicU64::new(0),
        })
    }

    /// How many token requests this provider has sent (each attempt of a retry counts once).
    pub fn token_requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// A token for `resource` in `tenant` (a GUID or a domain), from the cache while it has
    /// more than five minutes left.
    pub async fn token(&self, tenant: &str, resource: &str) -> Result<String> {
        let key = self.key(tenant, resource);
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(slots.entry(key.clone()).or_insert_with(|| {
                let disk = self.on_disk.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                Arc::new(tokio::sync::Mutex::new(disk.get(&key).cloned()))
            }))
        };
        // Callers of the same key wait here for the one request in flight.
        let mut cached = slot.lock().await;
        let now = self.http.clock().now();
        if let Some(token) = cached.as_ref().filter(|t| fresh(t, now)) {
            return Ok(token.access_token.clone());
        }
        let response = self.request(tenant, resource).await?;
        let token = cached_from(&response, now, &self.token_url(tenant))?;
        *cached = Some(token.clone());
        drop(cached);
        if let Some(path) = &self.settings.cache_file {
            let snapshot = {
                let mut disk = self.on_disk.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                disk.retain(|_, t| t.expires_at > now.unix_timestamp());
                disk.insert(key, token.clone());
                disk.clone()
            };
            write_cache(path, &snapshot)?;
        }
        Ok(token.access_token)
    }

    /// Forgets the cached token (after the API refused it), so the next call gets a new one.
    pub async fn invalidate(&self, tenant: &str, resource: &str) {
        let key = self.key(tenant, resource);
        let slot = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned();
        if let Some(slot) = slot {
            *slot.lock().await = None;
        }
        self.on_disk.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key);
    }

    /// Sends a token request, bypassing the cache, and returns the whole JSON response.
    pub async fn request(&self, tenant: &str, resource: &str) -> Result<serde_json::Value> {
        let url = self.token_url(tenant);
        let Credential::Secret(secret) = &self.settings.credential;
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.settings.client_id.clone()),
            ("client_secret", secret.expose().to_owned()),
        ];
        match self.settings.version {
            TokenVersion::V2 => form.push(("scope", format!("{}/.default", resource.trim_end_matches('/')))),
            TokenVersion::V1 => form.push(("resource", resource.to_owned())),
        }
        let answer = self
            .http
            .send(Repeat::Safe, || {
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.http.client().post(url.clone()).form(&form)
            })
            .await?;
        serde_json::from_str(&answer.body).map_err(|e| Error::Protocol {
            url: url.to_string(),
            detail: format!("the token response is not JSON: {e}"),
        })
    }

    fn token_url(&self, tenant: &str) -> url::Url {
        let path = match self.settings.version {
            TokenVersion::V2 => "oauth2/v2.0/token",
            TokenVersion::V1 => "oauth2/token",
        };
        let mut url = self.settings.authority.clone();
        url.set_path(&format!("{}/{}/{path}", url.path().trim_end_matches('/'), tenant.trim()));
        url
    }

    fn key(&self, tenant: &str, resource: &str) -> String {
        let version = match self.settings.version {
            TokenVersion::V2 => "v2",
            TokenVersion::V1 => "v1",
        };
        format!(
            "{}|{}|{}|{}|{version}",
            self.settings.authority.as_str().trim_end_matches('/'),
            tenant.trim().to_ascii_lowercase(),
            self.settings.client_id.to_ascii_lowercase(),
            resource.trim_end_matches('/')
        )
    }
}

fn fresh(token: &CachedToken, now: OffsetDateTime) -> bool {
    now.unix_timestamp() < token.expires_at - token.renew_before
}

/// The token and when it expires: `expires_in` (a number in v2, a string in v1) from `now`.
fn cached_from(response: &serde_json::Value, now: OffsetDateTime, url: &url::Url) -> Result<CachedToken> {
    let protocol = |detail: &str| Error::Protocol { url: url.to_string(), detail: detail.to_owned() };
    let access_token = response
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| protocol("the token response has no access_token"))?;
    let expires_in = match response.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| protocol("the token response has no expires_in"))?;
    Ok(CachedToken {
        access_token: access_token.to_owned(),
        expires_at: now.unix_timestamp() + expires_in,
        renew_before: RENEW_BEFORE.whole_seconds().min(expires_in / 2),
    })
}

fn read_cache(path: &Path) -> Result<HashMap<String, CachedToken>> {
    let cache_error = |message: String| Error::Cache { path: path.display().to_string(), message };
    match std::fs::read(path) {
        Ok(bytes) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).map_err(|e| cache_error(e.to_string()))?.permissions().mode();
                if mode & 0o077 != 0 {
                    return Err(cache_error(format!(
                        "others can read it (mode {:o}); it holds access tokens: chmod 600 it",
                        mode & 0o777
                    )));
                }
            }
            // A cache that cannot be read is started afresh, not fatal.
            Ok(serde_json::from_slice(&bytes).unwrap_or_default())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
        Err(error) => Err(cache_error(error.to_string())),
    }
}

/// Writes the cache owner-only, through a temporary file and a rename.
fn write_cache(path: &Path, tokens: &HashMap<String, CachedToken>) -> Result<()> {
    use std::io::Write;

    let cache_error = |message: String| Error::Cache { path: path.display().to_string(), message };
    let json = serde_json::to_vec(tokens).map_err(|e| cache_error(e.to_string()))?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary).map_err(|e| cache_error(e.to_string()))?;
    file.write_all(&json).and_then(|()| file.sync_all()).map_err(|e| cache_error(e.to_string()))?;
    std::fs::rename(&temporary, path).map_err(|e| cache_error(e.to_string()))
}
