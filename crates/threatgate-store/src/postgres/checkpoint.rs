//! The emulator's checkpoint in PostgreSQL: a copy of every saved table in the schema
//! `threatgate_checkpoint` of the same database, with the sequences' positions. A restore
//! empties the live tables in one `TRUNCATE` and copies the rows back, parents before
//! children, in one transaction. The access log and the audit trail are not touched
//! (append-only).

use std::collections::BTreeSet;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::PgStore;
use crate::dialect::quoted_identifier as quoted;
use crate::{CheckpointStore, Result, StoreError};

const SCHEMA: &str = "threatgate_checkpoint";
/// The checkpoint's table of sequence positions.
const SEQUENCES: &str = "_sequences";
/// Held while a checkpoint is saved or restored, so that two nodes never do both at once.
const LOCK: i64 = 0x7467_6370; // "tgcp"
/// Tables neither saved nor restored: the migrations' record, the revision counter (moved
/// forward instead, so that every node reloads) and the append-only logs.
const KEPT: [&str; 4] = ["_sqlx_migrations", "directory_revision", "access_log", "audit_events"];

#[async_trait]
impl CheckpointStore for PgStore {
    async fn save_checkpoint(&self) -> Result<()> {
        // One snapshot for every table; the old checkpoint is replaced only at commit.
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ").await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LOCK).execute(&mut *tx).await?;
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))).execute(&mut *tx).await?;
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {SCHEMA}"))).execute(&mut *tx).await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename <> ALL($1) \
             ORDER BY tablename",
        )
        .bind(&KEPT[..])
        .fetch_all(&mut *tx)
        .await?;
        for table in &tables {
            let table = quoted(table);
            sqlx::query(AssertSqlSafe(format!("CREATE TABLE {SCHEMA}.{table} AS SELECT * FROM {table}")))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE {SCHEMA}.{SEQUENCES} AS SELECT sequencename::text AS name, last_value \
             FROM pg_sequences WHERE schemaname = current_schema()"
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn restore_checkpoint(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LOCK).execute(&mut *tx).await?;
        let saved: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 AND tablename <> $2 ORDER BY tablename",
        )
        .bind(SCHEMA)
        .bind(SEQUENCES)
        .fetch_all(&mut *tx)
        .await?;
        if saved.is_empty() {
            return Err(StoreError::NotFound("checkpoint"));
        }
        let live: BTreeSet<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename <> ALL($1)",
        )
        .bind(&KEPT[..])
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let tables: Vec<String> = saved.into_iter().filter(|table| live.contains(table)).collect();
        let references: Vec<(String, String)> = sqlx::query_as(
            "SELECT child.relname::text, parent.relname::text FROM pg_constraint c \
               JOIN pg_class child ON child.oid = c.conrelid \
               JOIN pg_class parent ON parent.oid = c.confrelid \
               JOIN pg_namespace n ON n.oid = c.connamespace \
              WHERE c.contype = 'f' AND n.nspname = current_schema()",
        )
        .fetch_all(&mut *tx)
        .await?;

        let list = tables.iter().map(|table| quoted(table)).collect::<Vec<_>>().join(", ");
        sqlx::query(AssertSqlSafe(format!("TRUNCATE {list}"))).execute(&mut *tx).await?;
        for table in parents_first(&tables, &references) {
            // The saved columns by name: a migration since the save may have added others
            // (they take their defaults).
            let columns: String = sqlx::query_scalar(
                "SELECT string_agg(quote_ident(column_name::text), ', ' ORDER BY ordinal_position) \
                 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
            )
            .bind(SCHEMA)
            .bind(table)
            .fetch_one(&mut *tx)
            .await?;
            let table = quoted(table);
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {table} ({columns}) OVERRIDING SYSTEM VALUE SELECT {columns} FROM {SCHEMA}.{table}"
            )))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "SELECT setval(format('%I.%I', current_schema(), s.name)::regclass, COALESCE(s.last_value, 1), s.last_value IS NOT NULL) \
             FROM {SCHEMA}.{SEQUENCES} s \
             WHERE EXISTS (SELECT 1 FROM pg_sequences p WHERE p.schemaname = current_schema() AND p.sequencename = s.name)"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE directory_revision SET revision = revision + 1").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// `tables` ordered so that a table comes after every table it references (`(child, parent)`
/// pairs); a table referencing itself is filled in one statement, which PostgreSQL checks at
/// its end.
fn parents_first<'a>(tables: &'a [String], references: &[(String, String)]) -> Vec<&'a str> {
    let mut placed: Vec<&str> = Vec::with_capacity(tables.len());
    let mut waiting: Vec<&str> = tables.iter().map(String::as_str).collect();
    while !waiting.is_empty() {
        let before = waiting.len();
        waiting.retain(|&table| {
            let ready = references.iter().all(|(child, parent)| {
                child != table || parent == table || placed.contains(&parent.as_str()) || !tables.contains(parent)
            });
            if ready {
                placed.push(table);
            }
            !ready
        });
        if waiting.len() == before {
            // A cycle of references: the rest in name order (no such schema today).
            placed.append(&mut waiting);
        }
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::parents_first;

    #[test]
    fn parents_come_before_their_children() {
        let tables: Vec<String> = ["alerts", "applications", "incidents", "tenants"].map(String::from).to_vec();
        let references = [
            ("alerts", "incidents"),
            ("incidents", "tenants"),
            ("applications", "tenants"),
            ("incidents", "incidents"),
        ]
        .map(|(c, p)| (c.to_owned(), p.to_owned()));
        assert_eq!(parents_first(&tables, &references), ["tenants", "applications", "incidents", "alerts"]);
    }
}
