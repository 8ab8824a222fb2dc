//! SQL that PostgreSQL spells differently from SQLite, for the modules in `../shared`.

use sqlx::{Postgres, Transaction};

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
