//! The SQLite backend: one database file under the data directory, WAL journal, migrations
//! applied at open.
//!
//! Several processes may open the same file (the server and an administration command):
//! writes take the database lock up front (`BEGIN IMMEDIATE`) and wait for it up to the busy
//! timeout, so they never fail half-way on a lock upgrade.

mod checkpoint;
mod correlation;
mod dialect;
#[path = "../shared/mod.rs"]
mod shared;
mod transfer;

#[cfg(test)]
pub(crate) use dialect::SqliteDialect;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crate::Result;
use crate::columns::{from_unix_seconds, parse_column, unix_seconds};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite, SqlitePool, Transaction};

/// The names the modules in `../shared` use for this backend (through `super`).
type Backend = SqliteStore;
type Db = Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
/// What this backend spells differently (see [`crate::dialect::Dialect`]).
type Dialect = dialect::SqliteDialect;
type DbConnection = sqlx::SqliteConnection;

/// The SQLite implementation of every store trait.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The partner access log, in a database file of its own (`<name>-access-log.db`).
    log_pool: SqlitePool,
    /// The advanced hunting tables, in a file of their own (`<name>-hunting.db`), so that event
    /// ingestion never waits for the directory's writes or holds them up.
    hunt_pool: SqlitePool,
    /// The hunting database's one writing connection. Always the same connection, so that its
    /// page cache stays valid from one batch of events to the next: a connection whose cache
    /// another one's commit made stale reads every page again (a million events added to 20 M
    /// took 27% less CPU on one connection than taking turns over the pool's).
    hunt_writer: SqlitePool,
    /// Where the emulator's checkpoint is saved (`<name>-checkpoint/`); `None` in memory.
    checkpoint_dir: Option<std::path::PathBuf>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, and the access log's next to it, and
    /// applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let pool = connect(Self::file_options(path), 8, &MAIN, Location::File).await?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "threatgate".into());
        let log_path = path.with_file_name(format!("{stem}-access-log.db"));
        let log_pool = connect(Self::file_options(&log_path), 2, &ACCESS_LOG, Location::File).await?;
        let hunt_path = path.with_file_name(format!("{stem}-hunting.db"));
        let hunt_options = Self::file_options(&hunt_path)
            .with_regexp()
            // Hunting queries have their own timeout and report their time; a batch of events
            // taking more than a second is expected. Neither is worth a warning per statement.
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
        let hunt_pool = connect(hunt_options.clone(), 4, &HUNTING, Location::File).await?;
        let hunt_writer = connect(
            hunt_options
                // Up to 512 MB of pages: the leaves that a batch of events adds to (one per
                // device in each device index) stay in memory from batch to batch.
                .pragma("cache_size", "-524288")
                // Checkpoint every 128 MB of log rather than 8 MB: a page that batch after
                // batch changes is copied back to the database once per checkpoint.
                .pragma("wal_autocheckpoint", "16384"),
            1,
            &HUNTING,
            Location::File,
        )
        .await?;
        let checkpoint_dir = Some(path.with_file_name(format!("{stem}-checkpoint")));
        Ok(Self { pool, log_pool, hunt_pool, hunt_writer, checkpoint_dir })
    }

    fn file_options(path: &Path) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Incident documents are a few KB: larger pages mean fewer overflow pages.
            .page_size(8192)
            // 64 MB of page cache per connection, so a batch of ingestion stays in memory
            // until it commits instead of spilling to the WAL half-way.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            // Read through a memory map (up to 16 GiB of file): no copy from the page cache
            // for every page a list reads.
            .pragma("mmap_size", "17179869184")
    }

    /// A private in-memory database, for tests.
    pub async fn open_in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: each in-memory connection would otherwise be its own database.
        let pool = connect(options, 1, &MAIN, Location::Memory).await?;
        // A second in-memory database (each parse of `sqlite::memory:` names a new one).
        let log_options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        let hunt_options = SqliteConnectOptions::from_str("sqlite::memory:")?.with_regexp();
        let hunt_pool = connect(hunt_options, 1, &HUNTING, Location::Memory).await?;
        Ok(Self {
            pool,
            log_pool: connect(log_options, 1, &ACCESS_LOG, Location::Memory).await?,
            // The same connection: it is the database.
            hunt_writer: hunt_pool.clone(),
            hunt_pool,
            checkpoint_dir: None,
        })
    }

    /// Begins a write transaction holding the main database's write lock.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        begin_immediate(&self.pool).await
    }

    /// The access log's and audit trail's database.
    fn log_pool(&self) -> &SqlitePool {
        &self.log_pool
    }

    /// Begins a write transaction holding the log database's write lock.
    async fn begin_log_write(&self) -> Result<Transaction<'static, Sqlite>> {
        begin_immediate(&self.log_pool).await
    }

    /// The advanced hunting tables' database.
    fn hunt_pool(&self) -> &SqlitePool {
        &self.hunt_pool
    }

    /// Begins a write transaction holding the hunting database's write lock.
    async fn begin_hunt_write(&self) -> Result<Transaction<'static, Sqlite>> {
        begin_immediate(&self.hunt_writer).await
    }
}

static MAIN: Migrator = sqlx::migrate!("./migrations/sqlite");
static ACCESS_LOG: Migrator = sqlx::migrate!("./migrations/sqlite-access-log");
static HUNTING: Migrator = sqlx::migrate!("./migrations/sqlite-hunting");

/// A pool whose connections are kept for its life (an in-memory database lives only as long as
/// one of its connections does), with `migrator` applied.
/// Where a pool's database lives, which decides where its migrations run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    File,
    Memory,
}

async fn connect(
    options: SqliteConnectOptions,
    max_connections: u32,
    migrator: &Migrator,
    location: Location,
) -> Result<SqlitePool> {
    // A file's migrations first, on a connection of their own, before the pool opens any: a
    // pool connection opened in the background while a migration holds the write lock could
    // fail its opening pragmas with "database is locked" (seen once on a fresh data
    // directory). An in-memory database lives in its one pool connection: migrated there.
    let in_memory = location == Location::Memory;
    if !in_memory {
        use sqlx::{ConnectOptions, Connection};
        let mut connection = options.connect().await?;
        migrator.run(&mut connection).await?;
        connection.close().await?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        // The functions KQL needs that SQLite lacks (regular-expression extraction, base64…).
        .after_connect(|connection, _| Box::pin(threatgate_sqlite_functions::register(connection)))
        .connect_with(options)
        .await?;
    if in_memory {
        migrator.run(&pool).await?;
    }
    Ok(pool)
}

/// Begins a write transaction on `pool` that takes the database's write lock up front.
pub(crate) async fn begin_immediate(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}
