//! The emulator's checkpoint in SQLite: `VACUUM INTO` a copy of the main and hunting database
//! files in `<name>-checkpoint/`; a restore attaches each copy to its database's writing
//! connection and, in one `BEGIN IMMEDIATE` transaction, empties every saved table, copies
//! the saved rows back and rebuilds the full-text indexes over them. The access log's file is
//! not touched (append-only).

use std::path::Path;

use async_trait::async_trait;
use sqlx::SqlitePool;

use super::SqliteStore;
use crate::dialect::quoted_identifier as quoted;
use crate::{CheckpointStore, Result, StoreError};

/// The copies in the checkpoint directory, by database.
const MAIN_FILE: &str = "main.db";
const HUNTING_FILE: &str = "hunting.db";

/// Tables a restore leaves alone: the migrations' record, and the revision counter, which
/// moves forward instead so that every reader reloads.
const KEPT: [&str; 2] = ["_sqlx_migrations", "directory_revision"];

#[async_trait]
impl CheckpointStore for SqliteStore {
    async fn save_checkpoint(&self) -> Result<()> {
        let dir =
            self.checkpoint_dir.as_ref().ok_or(StoreError::Unsupported("an in-memory database has no checkpoint"))?;
        // The new copy is made beside the old one and takes its place only when complete.
        let next = dir.with_extension("new");
        remove_dir(&next)?;
        std::fs::create_dir_all(&next).map_err(io_error)?;
        for (pool, file) in [(&self.pool, MAIN_FILE), (&self.hunt_writer, HUNTING_FILE)] {
            let target = next.join(file);
            let target = target.to_str().ok_or(StoreError::Unsupported("a checkpoint path that is not UTF-8"))?;
            sqlx::query("VACUUM INTO ?").bind(target).execute(pool).await?;
        }
        remove_dir(dir)?;
        std::fs::rename(&next, dir).map_err(io_error)?;
        Ok(())
    }

    async fn restore_checkpoint(&self) -> Result<()> {
        let dir =
            self.checkpoint_dir.as_ref().ok_or(StoreError::Unsupported("an in-memory database has no checkpoint"))?;
        if !dir.join(MAIN_FILE).is_file() || !dir.join(HUNTING_FILE).is_file() {
            return Err(StoreError::NotFound("checkpoint"));
        }
        restore_file(&self.pool, &dir.join(MAIN_FILE)).await?;
        restore_file(&self.hunt_writer, &dir.join(HUNTING_FILE)).await
    }
}

/// Copies every table of the saved `file` back into `pool`'s database, on one connection.
async fn restore_file(pool: &SqlitePool, file: &Path) -> Result<()> {
    let file = file.to_str().ok_or(StoreError::Unsupported("a checkpoint path that is not UTF-8"))?;
    let mut connection = pool.acquire().await?;
    sqlx::query("ATTACH DATABASE ? AS checkpoint").bind(file).execute(&mut *connection).await?;
    let restored = copy_back(&mut connection).await;
    // A connection left with the checkpoint attached is not given back to the pool.
    if sqlx::query("DETACH DATABASE checkpoint").execute(&mut *connection).await.is_err() {
        connection.close_on_drop();
    }
    restored
}

async fn copy_back(connection: &mut sqlx::SqliteConnection) -> Result<()> {
    use sqlx::Connection;
    // Ordinary tables only: a full-text index (a virtual table and its shadow tables) is
    // rebuilt from its content table below.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT t.name FROM checkpoint.sqlite_master t
          WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%' AND t.sql NOT LIKE 'CREATE VIRTUAL%'
            AND NOT EXISTS (SELECT 1 FROM checkpoint.sqlite_master v
                             WHERE v.type = 'table' AND v.sql LIKE 'CREATE VIRTUAL%' AND substr(t.name, 1, length(v.name) + 1) = v.name || '_')
          ORDER BY t.name",
    )
    .fetch_all(&mut *connection)
    .await?;
    let tables: Vec<String> = tables.into_iter().filter(|name| !KEPT.contains(&name.as_str())).collect();
    let mut columns = Vec::with_capacity(tables.len());
    for table in &tables {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?, 'checkpoint') ORDER BY cid")
            .bind(table)
            .fetch_all(&mut *connection)
            .await?;
        columns.push(names.iter().map(|name| quoted(name)).collect::<Vec<_>>().join(", "));
    }
    // Full-text indexes over a content table are written by the store, not by triggers, as
    // rows arrive: rebuilt from the restored rows.
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM main.sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%USING fts5%content%'",
    )
    .fetch_all(&mut *connection)
    .await?;
    let sequence: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM checkpoint.sqlite_master WHERE name = 'sqlite_sequence')")
            .fetch_one(&mut *connection)
            .await?;
    let revision: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE name = 'directory_revision')")
            .fetch_one(&mut *connection)
            .await?;

    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    // Rows come back in name order, children before parents at times: foreign keys are
    // checked once, at commit.
    sqlx::query("PRAGMA defer_foreign_keys = ON").execute(&mut *tx).await?;
    // Everything out first: a cascade from a parent emptied later would take restored rows.
    for table in &tables {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM main.{}", quoted(table)))).execute(&mut *tx).await?;
    }
    for (table, columns) in tables.iter().zip(&columns) {
        let table = quoted(table);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO main.{table} ({columns}) SELECT {columns} FROM checkpoint.{table}"
        )))
        .execute(&mut *tx)
        .await?;
    }
    for index in &indexes {
        let index = quoted(index);
        sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO main.{index} ({index}) VALUES ('rebuild')")))
            .execute(&mut *tx)
            .await?;
    }
    if sequence {
        sqlx::query("DELETE FROM main.sqlite_sequence").execute(&mut *tx).await?;
        sqlx::query("INSERT INTO main.sqlite_sequence (name, seq) SELECT name, seq FROM checkpoint.sqlite_sequence")
            .execute(&mut *tx)
            .await?;
    }
    if revision {
        sqlx::query("UPDATE main.directory_revision SET revision = revision + 1").execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io_error(error)),
        _ => Ok(()),
    }
}

fn io_error(error: std::io::Error) -> StoreError {
    StoreError::Database(sqlx::Error::Io(error))
}
