//! SQL that SQLite spells differently from PostgreSQL, for the modules in `../shared`.

use std::time::Duration;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use crate::Result;

/// Removes log entries older than `$1`, keeping those younger than a day with the same bound
/// as the table's trigger (which would otherwise abort the whole statement).
pub(super) const DELETE_ACCESS_LOG_BEFORE: &str =
    "DELETE FROM access_log WHERE at < $1 AND at <= (unixepoch() - 86400) * 10000000";
/// As [`DELETE_ACCESS_LOG_BEFORE`], for the audit events.
pub(super) const DELETE_AUDIT_EVENTS_BEFORE: &str =
    "DELETE FROM audit_events WHERE at < $1 AND at <= (unixepoch() - 86400) * 10000000";

/// `column` is one of the texts of the list bound at `$parameter` (made by [`text_list`]).
pub(super) fn in_text_list(column: &str, parameter: usize) -> String {
    format!("{column} IN (SELECT value FROM json_each(${parameter}))")
}

/// A list of texts as one parameter of any length: a JSON array.
pub(super) fn text_list(values: &[impl ToString]) -> String {
    serde_json::to_string(&values.iter().map(ToString::to_string).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// Nothing to do: a write transaction already holds the database's write lock.
pub(super) async fn lock_signing_keys(_tx: &mut Transaction<'static, Sqlite>) -> Result<()> {
    Ok(())
}

/// How the KQL compiler writes SQL for this backend.
pub(super) const HUNTING: crate::hunting::Dialect = crate::hunting::Dialect::Sqlite;

/// A read transaction for one hunting query. SQLite has no statement timeout: the caller's
/// timer stops waiting for the answer (the statement finishes on its own thread).
pub(super) async fn begin_hunt(pool: &SqlitePool, _timeout: Duration) -> Result<Transaction<'static, Sqlite>> {
    Ok(pool.begin().await?)
}

/// SQLite reports no timeouts of its own.
pub(super) fn is_timeout(_error: &sqlx::Error) -> bool {
    false
}

pub(super) fn read_long(row: &SqliteRow, index: usize) -> Result<Option<i64>> {
    Ok(row.try_get(index)?)
}

/// A real, also where SQLite computed a whole number.
pub(super) fn read_real(row: &SqliteRow, index: usize) -> Result<Option<f64>> {
    match row.try_get::<Option<f64>, _>(index) {
        Ok(value) => Ok(value),
        Err(_) => Ok(row.try_get::<Option<i64>, _>(index)?.map(|v| v as f64)),
    }
}

/// Bools are 0 and 1.
pub(super) fn read_bool(row: &SqliteRow, index: usize) -> Result<Option<bool>> {
    Ok(row.try_get::<Option<i64>, _>(index)?.map(|v| v != 0))
}
