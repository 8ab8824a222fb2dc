//! The identity service: the directory view and key ring in memory, kept current with the
//! store, and the operations the HTTP layer calls.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use threatgate_domain::AppId;
use threatgate_store::Store;
use time::Duration;

use crate::Result;
use crate::clock::Clock;
use crate::error::AadError;
use crate::issuance::{IssuanceContext, IssuedToken, TOKEN_LIFETIME_RANGE, TokenRequest, issue_client_credentials};
use crate::keys::{KeyEncryptionKey, KeyRing, SigningKey, ensure_signing_keys};
use crate::secrets::SecretHasher;
use crate::view::DirectoryView;

/// Settings of the identity service.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// How long a signing key signs before the next one takes over.
    pub key_rotation_period: Duration,
    /// A client assertion whose `exp` is further from now than this is refused (AADSTS50027).
    /// Microsoft recommends 5 to 10 minutes and does not enforce it; real clients send 5
    /// (Rust azure_identity), 10 (MSAL) and 30 minutes (azure-identity's async client).
    pub max_assertion_lifetime: Duration,
}

/// The default of [`IdentitySettings::max_assertion_lifetime`]: every known client fits.
pub const DEFAULT_MAX_ASSERTION_LIFETIME: Duration = Duration::hours(1);

impl Default for IdentitySettings {
    fn default() -> Self {
        Self { key_rotation_period: Duration::days(30), max_assertion_lifetime: DEFAULT_MAX_ASSERTION_LIFETIME }
    }
}

/// The directory and keys as of one store revision.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub directory: DirectoryView,
    pub keys: KeyRing,
}

/// The identity service. Cheap to share (`Arc`); every read is lock-free.
#[derive(Debug)]
pub struct IdentityService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: Arc<SecretHasher>,
    kek: Arc<KeyEncryptionKey>,
    settings: IdentitySettings,
    snapshot: ArcSwap<Snapshot>,
    reload: tokio::sync::Mutex<()>,
    /// Applications whose tokens live other than an hour (the emulator's controls).
    token_lifetimes: ArcSwap<HashMap<AppId, Duration>>,
}

impl IdentityService {
    /// Makes sure signing keys exist, then loads the directory.
    pub async fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        hasher: Arc<SecretHasher>,
        kek: Arc<KeyEncryptionKey>,
        settings: IdentitySettings,
    ) -> Result<Self> {
        ensure_signing_keys(store.as_ref(), &kek, clock.now(), settings.key_rotation_period).await?;
        let service = Self {
            store,
            clock,
            hasher,
            kek,
            settings,
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            reload: tokio::sync::Mutex::new(()),
            token_lifetimes: ArcSwap::from_pointee(HashMap::new()),
        };
        service.reload().await?;
        Ok(service)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The key-encryption key that seals the signing keys' private parts.
    pub fn key_encryption(&self) -> &Arc<KeyEncryptionKey> {
        &self.kek
    }

    pub fn hasher(&self) -> &Arc<SecretHasher> {
        &self.hasher
    }

    /// The current snapshot. Hold it for one request, not longer.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Reloads the snapshot if the store changed since it was built; returns whether it did.
    pub async fn refresh(&self) -> Result<bool> {
        let revision = self.store.revision().await?;
        if revision == self.snapshot.load().directory.revision() {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Generates a next signing key when none is published yet (run periodically).
    pub async fn maintain_keys(&self) -> Result<()> {
        if ensure_signing_keys(self.store.as_ref(), &self.kek, self.clock.now(), self.settings.key_rotation_period)
            .await?
        {
            self.reload().await?;
        }
        Ok(())
    }

    /// Rotates the signing keys now (see [`crate::keys::rotate_signing_keys`]) and reloads.
    pub async fn rotate_keys(&self, emergency: bool) -> Result<crate::keys::Rotation> {
        let rotation = crate::keys::rotate_signing_keys(
            self.store.as_ref(),
            &self.kek,
            self.clock.now(),
            self.settings.key_rotation_period,
            emergency,
        )
        .await?;
        self.reload().await?;
        Ok(rotation)
    }

    async fn reload(&self) -> Result<()> {
        let _one_at_a_time = self.reload.lock().await;
        let data = self.store.load_directory().await?;
        let records = self.store.list_signing_keys().await?;
        // Keys already parsed are reused: parsing an RSA key is the costly part.
        let previous = self.snapshot.load();
        let mut keys = Vec::with_capacity(records.len());
        for record in &records {
            // A rotation can move a key's activation: then it is parsed again with the new time.
            match previous.keys.find(record.kid.as_str()).filter(|parsed| parsed.activates_at() == record.activates_at)
            {
                Some(parsed) => keys.push(Arc::clone(parsed)),
                None => keys.push(Arc::new(SigningKey::from_record(&self.kek, record)?)),
            }
        }
        let snapshot = Snapshot { directory: DirectoryView::build(data), keys: KeyRing::from_keys(keys) };
        tracing::debug!(revision = snapshot.directory.revision(), "directory reloaded");
        self.snapshot.store(Arc::new(snapshot));
        Ok(())
    }

    /// Verifies a bearer token for the Threat Protection API.
    pub fn verify_bearer(&self, token: &str) -> Result<crate::VerifiedCaller, crate::BearerError> {
        crate::verify::verify_bearer(&self.snapshot.load(), token, self.clock.now())
    }

    /// Gives `app`'s tokens `lifetime` from now on (`None`: an hour again). Refused outside
    /// [`TOKEN_LIFETIME_RANGE`] seconds.
    pub fn set_token_lifetime(&self, app: AppId, lifetime: Option<Duration>) -> std::result::Result<(), String> {
        if let Some(lifetime) = lifetime
            && !TOKEN_LIFETIME_RANGE.contains(&lifetime.whole_seconds())
        {
            return Err(format!(
                "a token lifetime must be {} to {} seconds, not {}",
                TOKEN_LIFETIME_RANGE.start(),
                TOKEN_LIFETIME_RANGE.end(),
                lifetime.whole_seconds()
            ));
        }
        self.token_lifetimes.rcu(|current| {
            let mut next = HashMap::clone(current);
            match lifetime {
                Some(lifetime) => next.insert(app, lifetime),
                None => next.remove(&app),
            };
            next
        });
        Ok(())
    }

    /// The applications whose tokens live other than an hour, and their lifetimes.
    pub fn token_lifetimes(&self) -> Vec<(AppId, Duration)> {
        let mut lifetimes: Vec<_> = self.token_lifetimes.load().iter().map(|(app, l)| (*app, *l)).collect();
        lifetimes.sort_by_key(|(app, _)| app.to_string());
        lifetimes
    }

    /// Handles a client-credentials token request.
    pub fn issue_token(&self, request: TokenRequest<'_>) -> Result<IssuedToken, AadError> {
        let snapshot = self.snapshot.load();
        let context = IssuanceContext {
            view: &snapshot.directory,
            keys: &snapshot.keys,
            hasher: &self.hasher,
            now: self.clock.now(),
            max_assertion_lifetime: self.settings.max_assertion_lifetime,
            token_lifetimes: &self.token_lifetimes.load(),
        };
        issue_client_credentials(context, request)
    }
}
