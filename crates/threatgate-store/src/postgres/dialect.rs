//! SQL that PostgreSQL spells differently from SQLite, for the modules in `../shared`.

use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};

use crate::Result;

/// Removes log entries older than `$1`, keeping those younger than a day with the same bound
/// as the table's trigger (which would otherwise abort the whole statement).
pub(super) const DELETE_ACCESS_LOG_BEFORE: &str =
    "DELETE FROM access_log WHERE at < $1 AND at <= (EXTRACT(EPOCH FROM now())::BIGINT - 86400) * 10000000";
/// As [`DELETE_ACCESS_LOG_BEFORE`], for the audit events.
pub(super) const DELETE_AUDIT_EVENTS_BEFORE: &str =
    "DELETE FROM audit_events WHERE at < $1 AND at <= (EXTRACT(EPOCH FROM now())::BIGINT - 86400) * 10000000";

/// `column` is one of the texts of the array bound at `$parameter` (made by [`text_list`]).
pub(super) fn in_text_list(column: &str, parameter: usize) -> String {
    format!("{column} = ANY(${parameter})")
}

/// A list of texts as one parameter: a `text[]`.
pub(super) fn text_list(values: &[impl ToString]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

/// Makes the other nodes wait until this transaction has decided whether to add a signing key
/// (and added it), so that only one of them does.
pub(super) async fn lock_signing_keys(tx: &mut Transaction<'static, Postgres>) -> Result<()> {
    sqlx::query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE").execute(&mut **tx).await?;
    Ok(())
}

/// How the KQL compiler writes SQL for this backend.
pub(super) const HUNTING: crate::hunting::Dialect = crate::hunting::Dialect::Postgres;

/// A transaction for one hunting query, whose statements PostgreSQL cancels after `timeout`.
pub(super) async fn begin_hunt(pool: &PgPool, timeout: Duration) -> Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    // A number formatted here, not a value from the query.
    let limit = format!("SET LOCAL statement_timeout = {}", timeout.as_millis().max(1));
    sqlx::query(sqlx::AssertSqlSafe(limit)).execute(&mut *tx).await?;
    Ok(tx)
}

/// `query_canceled`: the statement timeout fired.
pub(super) fn is_timeout(error: &sqlx::Error) -> bool {
    error.as_database_error().and_then(|e| e.code()).as_deref() == Some("57014")
}

/// A whole number, whether PostgreSQL computed it as `bigint` or `integer`.
pub(super) fn read_long(row: &PgRow, index: usize) -> Result<Option<i64>> {
    match row.try_get::<Option<i64>, _>(index) {
        Ok(value) => Ok(value),
        Err(_) => Ok(row.try_get::<Option<i32>, _>(index)?.map(i64::from)),
    }
}

pub(super) fn read_real(row: &PgRow, index: usize) -> Result<Option<f64>> {
    Ok(row.try_get(index)?)
}

pub(super) fn read_bool(row: &PgRow, index: usize) -> Result<Option<bool>> {
    Ok(row.try_get(index)?)
}
