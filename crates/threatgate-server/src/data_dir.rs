//! The data directory's layout, and opening what lives in it. Shared by the server and the
//! administration commands, which work on the same directory while the server runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use threatgate_identity::{KeyEncryptionKey, SecretHasher};
use threatgate_store::{PgSettings, PgStore, SqliteStore, Store};

/// Where the store lives, from a database URL.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    /// The URL as given (it may hold a password: never printed).
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(_) => f.write_str("Postgres(<url>)"),
        }
    }
}

impl StoreLocation {
    pub fn parse(url: &str) -> Result<Self, DataDirError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        Err(DataDirError::DatabaseUrl { scheme: url.chars().take_while(|c| *c != ':').take(16).collect() })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("opening the database {path}: {source}")]
    Store { path: PathBuf, source: threatgate_store::StoreError },
    #[error("opening the PostgreSQL database: {0}")]
    Postgres(threatgate_store::StoreError),
    #[error("the database URL must start with postgres://, postgresql:// or sqlite:// (got '{scheme}…')")]
    DatabaseUrl { scheme: String },
    #[error(transparent)]
    Identity(#[from] threatgate_identity::Error),
}

impl DataDir {
    /// Creates the directory (owner-only) if needed.
    pub fn create(root: &Path) -> Result<Self, DataDirError> {
        std::fs::create_dir_all(root).map_err(|source| DataDirError::Io { path: root.to_owned(), source })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let permissions = std::fs::Permissions::from_mode(0o700);
            std::fs::set_permissions(root, permissions)
                .map_err(|source| DataDirError::Io { path: root.to_owned(), source })?;
        }
        let root = std::fs::canonicalize(root).map_err(|source| DataDirError::Io { path: root.to_owned(), source })?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database_path(&self) -> PathBuf {
        self.root.join("threatgate.db")
    }

    pub fn secret_hash_key_path(&self) -> PathBuf {
        self.root.join("keys").join("client-secret-hmac.key")
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.root.join("tls")
    }

    pub fn demo_manifest_path(&self) -> PathBuf {
        self.root.join("demo.json")
    }

    /// Opens the store (`database_url`, or the data directory's SQLite file), applying
    /// migrations. `max_connections` sizes a PostgreSQL pool.
    pub async fn open_store(
        &self,
        database_url: Option<&str>,
        max_connections: u32,
    ) -> Result<Arc<dyn Store>, DataDirError> {
        let location = match database_url {
            Some(url) => StoreLocation::parse(url)?,
            None => StoreLocation::Sqlite(self.database_path()),
        };
        match location {
            StoreLocation::Sqlite(path) => {
                let store = SqliteStore::open(&path).await.map_err(|source| DataDirError::Store { path, source })?;
                Ok(Arc::new(store))
            }
            StoreLocation::Postgres(url) => {
                let settings = PgSettings { max_connections, ..PgSettings::default() };
                let store = PgStore::open(&url, &settings).await.map_err(DataDirError::Postgres)?;
                Ok(Arc::new(store))
            }
        }
    }

    pub fn key_encryption_key_path(&self) -> PathBuf {
        self.root.join("keys").join("signing-key-encryption.key")
    }

    /// The key-encryption key of the signing keys: `THREATGATE_KEY_ENCRYPTION_KEY` (32 bytes,
    /// base64) when set, else the file `file` (or `keys/signing-key-encryption.key`), created
    /// owner-only on first use; a file others can read is refused.
    pub fn open_key_encryption(&self, file: Option<&Path>) -> Result<Arc<KeyEncryptionKey>, DataDirError> {
        if let Ok(text) = std::env::var("THREATGATE_KEY_ENCRYPTION_KEY") {
            return Ok(Arc::new(KeyEncryptionKey::from_base64(&text)?));
        }
        let path = file.map_or_else(|| self.key_encryption_key_path(), Path::to_path_buf);
        #[cfg(unix)]
        if let Ok(metadata) = std::fs::metadata(&path) {
            use std::os::unix::fs::PermissionsExt;
            if metadata.permissions().mode() & 0o077 != 0 {
                return Err(DataDirError::Io {
                    path,
                    source: std::io::Error::other("the key-encryption key file can be read by others: chmod 600 it"),
                });
            }
        }
        Ok(Arc::new(KeyEncryptionKey::load_or_create(&path)?))
    }

    /// Loads the client-secret hashing key, creating it on first use.
    pub fn open_secret_hasher(&self) -> Result<Arc<SecretHasher>, DataDirError> {
        Ok(Arc::new(SecretHasher::load_or_create(&self.secret_hash_key_path())?))
    }
}
