//! The PostgreSQL backend: every store trait on one database, for several stateless nodes.
//!
//! Connections come from one pool per process; each session gets a statement timeout, so a
//! stuck query fails instead of holding a connection. Migrations run at open under sqlx's
//! advisory lock, so nodes starting together apply them once. Changes that touch several rows
//! (consent, correlation, merge, an update) run in one transaction; ingestion and updates lock
//! the rows they read (`FOR UPDATE`), so two nodes never correlate a tenant's alerts at once.

mod checkpoint;
mod correlation;
mod dialect;
mod regex;
#[path = "../shared/mod.rs"]
mod shared;
mod transfer;

#[cfg(test)]
pub(crate) use dialect::PgDialect;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::Result;
use crate::columns::{from_unix_seconds, parse_column, unix_seconds};

/// The names the modules in `../shared` use for this backend (through `super`).
type Backend = PgStore;
type Db = Postgres;
type DbRow = sqlx::postgres::PgRow;
/// What this backend spells differently (see [`crate::dialect::Dialect`]).
type Dialect = dialect::PgDialect;
type DbConnection = sqlx::PgConnection;

/// How a node connects to PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Connections this process keeps at most.
    pub max_connections: u32,
    /// A statement running longer is cancelled.
    pub statement_timeout: Duration,
    /// How long to wait for a free connection before failing a request.
    pub acquire_timeout: Duration,
}

impl Default for PgSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            statement_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL implementation of every store trait.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database`) and applies pending migrations.
    pub async fn open(url: &str, settings: &PgSettings) -> Result<Self> {
        let timeout = format!("{}ms", settings.statement_timeout.as_millis());
        let options = PgConnectOptions::from_str(url)?
            .application_name("threatgate")
            .options([("statement_timeout", timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Begins a transaction; rows it changes are locked until it ends.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// The access log and audit trail live in the one database.
    fn log_pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_log_write(&self) -> Result<Transaction<'static, Postgres>> {
        self.begin_write().await
    }

    /// The advanced hunting tables live in the one database.
    fn hunt_pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_hunt_write(&self) -> Result<Transaction<'static, Postgres>> {
        self.begin_write().await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
