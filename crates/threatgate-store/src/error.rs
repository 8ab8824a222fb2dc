//! The store's error type, in storage terms; callers map it to their own.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken: the named thing exists already.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The row a change refers to does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database failed. The text is for logs, never for a response body.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// This store cannot do what was asked (e.g. a checkpoint of an in-memory database).
    #[error("{0}")]
    Unsupported(&'static str),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Whether the database was too busy to take the request in time (every connection in
    /// use, a lock held past the wait, a serialization conflict): worth retrying shortly,
    /// and not the server's fault the way a failure is.
    pub fn is_busy(&self) -> bool {
        let Self::Database(error) = self else { return false };
        match error {
            sqlx::Error::PoolTimedOut => true,
            sqlx::Error::Database(db) => matches!(
                db.code().as_deref(),
                // SQLite: SQLITE_BUSY and its extended codes, SQLITE_LOCKED.
                Some("5" | "6" | "261" | "262" | "517")
                // PostgreSQL: serialization failure, deadlock, lock not available, too many connections.
                | Some("40001" | "40P01" | "55P03" | "53300")
            ),
            _ => false,
        }
    }

    /// Maps a unique-constraint violation to `Conflict(what)`, leaving other errors as they are.
    pub(crate) fn on_unique(error: sqlx::Error, what: &'static str) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what),
            _ => Self::Database(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn waiting_too_long_is_busy_and_failures_are_not() {
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_busy());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_busy());
        assert!(!StoreError::Corrupt("x".into()).is_busy());
    }
}
