//! SQL that PostgreSQL spells differently from SQLite, for the modules in `../shared`.

use std::fmt::Write as _;
use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use threatgate_hunting::events::EventRow;
use threatgate_hunting::schema::Table;

use crate::hunting::{Stored, check_widths, quoted_columns, stored, table_name};
use crate::{Result, StoreError};

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

/// A hunting row's position for `threatgate migrate`'s pages: its tuple id (stable while the
/// source is not being changed, as during a migration), as text.
pub(super) const EVENT_POSITION: &str = "ctid::text";
pub(super) const EVENT_AFTER: &str = "ctid > $1::tid";
pub(super) const EVENT_ORDER: &str = "ctid";
pub(super) const FIRST_EVENT_POSITION: &str = "(0,0)";

/// Two event writers at once: a core of PostgreSQL each.
pub(super) const EVENT_WRITERS: usize = 2;

/// How the KQL compiler writes SQL for this backend.
pub(super) const HUNTING: crate::hunting::Dialect = crate::hunting::Dialect::Postgres;

/// A transaction for one hunting query, whose statements PostgreSQL cancels after `timeout`.
pub(super) async fn begin_hunt(pool: &PgPool, timeout: Duration) -> Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    // A number formatted here, not a value from the query.
    let limit = format!("SET LOCAL statement_timeout = {}", timeout.as_millis().max(1));
    sqlx::query(sqlx::AssertSqlSafe(limit)).execute(&mut *tx).await?;
    // JIT compilation costs hunting queries more than it saves: half a second of the benchmark's
    // join (query c) went to inlining and optimizing, for a query of 0.8 s without it.
    sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    Ok(tx)
}

/// Ends a hunting query's (read-only) transaction.
pub(super) async fn end_hunt(tx: Transaction<'static, Postgres>) -> Result<()> {
    tx.rollback().await?;
    Ok(())
}

/// `query_canceled`: the statement timeout fired.
pub(super) fn is_timeout(error: &sqlx::Error) -> bool {
    error.as_database_error().and_then(|e| e.code()).as_deref() == Some("57014")
}

/// Most values one statement may bind (PostgreSQL's protocol limit).
pub(super) const MAX_BINDS: usize = 65_535;

/// A hunting query's failure that is the client's mistake, in words for the client: data
/// exceptions (SQLSTATE class 22: out-of-range arithmetic, an invalid regular expression, a
/// value that does not convert) and program limits (class 54).
pub(super) fn client_mistake(error: &sqlx::Error) -> Option<String> {
    let error = error.as_database_error()?;
    let code = error.code()?;
    let detail: String = error.message().chars().take(300).collect();
    let text = match code.as_ref() {
        "22003" => "A computation overflows the range of its type.".to_owned(),
        "22012" => "The query divides by zero.".to_owned(),
        "2201B" => format!("The regular expression is not valid: {detail}"),
        "54000" | "54001" | "54011" | "54023" => format!("The query is too large to run: {detail}"),
        class if class.starts_with("22") => format!("A value in the query is not valid: {detail}"),
        _ => return None,
    };
    Some(text)
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

/// Nothing to do: autovacuum analyzes tables that changed much.
pub(super) async fn refresh_event_statistics(_store: &super::PgStore) -> Result<()> {
    Ok(())
}

/// Appends hunting events to `table` for `tenant` with `COPY … FROM STDIN` (text format), the
/// bulk path: one stream per call, sent in pieces of about a megabyte.
pub(super) async fn insert_events(
    tx: &mut Transaction<'static, Postgres>,
    tenant: &str,
    table: &'static Table,
    rows: &[EventRow],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    check_widths(table, rows)?;
    let statement = format!("COPY {} (tenant_id, {}) FROM STDIN", table_name(table), quoted_columns(table));
    let mut copy = tx.copy_in_raw(&statement).await?;
    let mut buffer = String::with_capacity(COPY_PIECE + 64 * 1024);
    for row in rows {
        copy_text(&mut buffer, tenant);
        for (column, value) in table.columns.iter().zip(row) {
            buffer.push('\t');
            match stored(column.ty, value.as_ref()) {
                Ok(Stored::Text(Some(v))) => copy_text(&mut buffer, v),
                Ok(Stored::Long(Some(v))) => {
                    let _ = write!(buffer, "{v}");
                }
                Ok(Stored::Real(Some(v))) => {
                    let _ = write!(buffer, "{v}");
                }
                Ok(Stored::Bool(Some(v))) => buffer.push(if v { 't' } else { 'f' }),
                Ok(Stored::Text(None) | Stored::Long(None) | Stored::Real(None) | Stored::Bool(None)) => {
                    buffer.push_str("\\N")
                }
                Err(message) => {
                    copy.abort("a value does not fit its column").await?;
                    return Err(StoreError::Corrupt(format!("{}.{}: {message}", table.name, column.name)));
                }
            }
        }
        buffer.push('\n');
        if buffer.len() >= COPY_PIECE {
            copy.send(buffer.as_bytes()).await?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.as_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// How much COPY text is sent at a time.
const COPY_PIECE: usize = 1 << 20;

/// Text in COPY's text format: backslash, tab, newline and carriage return escaped.
fn copy_text(buffer: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => buffer.push_str("\\\\"),
            '\t' => buffer.push_str("\\t"),
            '\n' => buffer.push_str("\\n"),
            '\r' => buffer.push_str("\\r"),
            other => buffer.push(other),
        }
    }
}

/// Whether hunting queries share their pool with the rest of the store (PostgreSQL: hunting
/// shares the one pool with everything else).
pub(super) const HUNT_POOL_SHARED: bool = true;
