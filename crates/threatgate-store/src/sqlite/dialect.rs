//! SQL that SQLite spells differently from PostgreSQL, for the modules in `../shared`.

use std::time::Duration;

use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use threatgate_hunting::events::EventRow;
use threatgate_hunting::schema::{Table, Type};

use crate::hunting::{Stored, check_widths, quoted_columns, stored, table_name, term_indexed_column};
use crate::{Result, StoreError};

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

/// A hunting row's position for `threatgate migrate`'s pages: its rowid, as text.
pub(super) const EVENT_POSITION: &str = "CAST(rowid AS TEXT)";
pub(super) const EVENT_AFTER: &str = "rowid > CAST($1 AS INTEGER)";
pub(super) const EVENT_ORDER: &str = "rowid";
pub(super) const FIRST_EVENT_POSITION: &str = "0";

/// One writer at a time (see `HuntingStore::event_writers`).
pub(super) const EVENT_WRITERS: usize = 1;

/// How the KQL compiler writes SQL for this backend.
pub(super) const HUNTING: crate::hunting::Dialect = crate::hunting::Dialect::Sqlite;

/// A read transaction for one hunting query, whose statements SQLite interrupts once `timeout`
/// has passed (a progress handler, checked every thousand VM steps).
pub(super) async fn begin_hunt(pool: &SqlitePool, timeout: Duration) -> Result<Transaction<'static, Sqlite>> {
    let mut tx = pool.begin().await?;
    let deadline = std::time::Instant::now() + timeout;
    tx.lock_handle().await?.set_progress_handler(1000, move || std::time::Instant::now() < deadline);
    Ok(tx)
}

/// Ends a hunting query's transaction; its connection goes back to the pool without the
/// progress handler.
pub(super) async fn end_hunt(mut tx: Transaction<'static, Sqlite>) -> Result<()> {
    tx.lock_handle().await?.remove_progress_handler();
    tx.rollback().await?;
    Ok(())
}

/// `SQLITE_INTERRUPT`: the progress handler stopped the statement at the timeout.
pub(super) fn is_timeout(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().is_some_and(|code| code == "9"))
}

/// A hunting query's failure that is the client's mistake, in words for the client: SQLite
/// reports them all as `SQLITE_ERROR` (or `SQLITE_TOOBIG`), so they are told by their text.
pub(super) fn client_mistake(error: &sqlx::Error) -> Option<String> {
    // SQLite turns integer arithmetic that overflows into a real: a long column that arrives
    // as a real overflowed.
    if let sqlx::Error::ColumnDecode { source, .. } = error
        && let text = source.to_string()
        && text.contains("<i64>")
        && text.ends_with("SQL type `REAL`")
    {
        return Some("A computation overflows the range of long (64-bit) integers.".into());
    }
    let error = error.as_database_error()?;
    let message = error.message();
    match error.code().as_deref() {
        Some("18") => return Some("A value the query computes is too large.".into()),
        // SQLITE_CONSTRAINT_FUNCTION: a function refused its arguments (REGEXP a pattern that
        // came from a column; hunting reads, so no table constraint can fail).
        Some("1043") => {
            return Some("A function refused one of its values (a regular expression that is not valid?).".into());
        }
        _ => {}
    }
    let known = [
        ("integer overflow", "A computation overflows the range of long (64-bit) integers."),
        ("too many SQL variables", "The query holds too many values; use fewer literals or a shorter list."),
        ("parser stack overflow", "The query nests too deeply."),
        ("Expression tree is too large", "The query's expressions are too large."),
        ("LIKE or GLOB pattern too complex", "A string pattern in the query is too complex."),
        ("too many terms in compound SELECT", "The query unions too many tables or sub-queries."),
    ];
    if let Some((_, text)) = known.iter().find(|(needle, _)| message.contains(needle)) {
        return Some((*text).to_owned());
    }
    // The REGEXP function (sqlx's `regexp` feature) reports the regex crate's parse error.
    if message.contains("regex") || message.contains("Regular expression") || message.contains("REGEXP") {
        let detail: String = message.chars().take(300).collect();
        return Some(format!("The regular expression is not valid: {detail}"));
    }
    None
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

/// `PRAGMA optimize` over every table (`0x10000`): analyzes the tables never analyzed, and
/// those ten times larger or smaller than when last analyzed. Whole indexes are read (21 s at
/// 20 M events): with `analysis_limit` SQLite reads an index's first rows, all of one tenant,
/// and counts one tenant per thousand rows, which makes it read a week of a tenant's events
/// rather than the rows a term index finds.
pub(super) async fn refresh_event_statistics(store: &super::SqliteStore) -> Result<()> {
    sqlx::query("PRAGMA optimize = 0x10002").execute(&store.hunt_writer).await?;
    Ok(())
}

/// Most variables one statement binds (SQLite allows 32,766).
pub(super) const MAX_BINDS: usize = 30_000;

/// Appends hunting events to `table` for `tenant`: multi-row `INSERT`s, as few as the bind
/// limit allows, then the new rows' terms to the table's term index (if it has one) in one
/// statement. The caller holds the write lock (`BEGIN IMMEDIATE`), so the rows this call adds
/// are exactly those past the largest rowid before it.
pub(super) async fn insert_events(
    tx: &mut Transaction<'static, Sqlite>,
    tenant: &str,
    table: &'static Table,
    rows: &[EventRow],
) -> Result<()> {
    check_widths(table, rows)?;
    let name = table_name(table);
    // The table's term-indexed column, if any, with the largest rowid before this batch.
    let terms: Option<(&str, i64)> = match term_indexed_column(table) {
        Some(column) => {
            let sql = format!("SELECT coalesce(max(rowid), 0) FROM {name}");
            Some((column, sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&mut **tx).await?))
        }
        None => None,
    };
    // `OR FAIL` rather than the default `ABORT`: a multi-row statement that may abort makes
    // SQLite copy every page it touches to a statement journal first (to undo only that
    // statement), and an error here rolls the whole transaction back anyway.
    let head = format!("INSERT OR FAIL INTO {name} (tenant_id, {}) ", quoted_columns(table));
    let rows_per_statement = (MAX_BINDS / (table.columns.len() + 1)).max(1);
    for chunk in rows.chunks(rows_per_statement) {
        // A column no row of the chunk has is written as its constant (fewer values to bind:
        // events fill about half their table's columns). Binding one JSON array of the rows
        // instead and spreading it with `json_each` measured two times slower.
        let absent: Vec<bool> = (0..table.columns.len()).map(|i| chunk.iter().all(|row| row[i].is_none())).collect();
        let mut insert = QueryBuilder::<Sqlite>::new(head.clone());
        let mut refused = None;
        insert.push_values(chunk, |mut values, row| {
            values.push_bind(tenant);
            for ((column, value), absent) in table.columns.iter().zip(row).zip(&absent) {
                if *absent {
                    // KQL strings are never null (see `stored`).
                    values.push(if column.ty == Type::String { "''" } else { "NULL" });
                    continue;
                }
                match stored(column.ty, value.as_ref()) {
                    Ok(Stored::Text(v)) => values.push_bind(v),
                    Ok(Stored::Long(v)) => values.push_bind(v),
                    Ok(Stored::Real(v)) => values.push_bind(v),
                    Ok(Stored::Bool(v)) => values.push_bind(v),
                    Err(message) => {
                        refused.get_or_insert(format!("{}.{}: {message}", table.name, column.name));
                        values.push_bind(None::<&str>)
                    }
                };
            }
        });
        if let Some(message) = refused {
            return Err(StoreError::Corrupt(message));
        }
        insert.build().execute(&mut **tx).await?;
    }
    // One statement for the whole batch: a trigger per row (as the index first had) made the
    // inserts twice as slow (SQLite alone, a million events).
    if let Some((column, last_rowid)) = terms {
        let sql = format!(
            "INSERT INTO {name}_terms (rowid, \"{column}\") SELECT rowid, \"{column}\" FROM {name} WHERE rowid > $1"
        );
        sqlx::query(AssertSqlSafe(sql)).bind(last_rowid).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Whether hunting queries share their pool with the rest of the store (SQLite: the hunting
/// file has a pool of its own).
pub(super) const HUNT_POOL_SHARED: bool = false;
