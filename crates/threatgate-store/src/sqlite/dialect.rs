//! SQLite's side of the backends' contract ([`Dialect`]).

use std::time::Duration;

use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use threatgate_hunting::events::EventRow;
use threatgate_hunting::schema::{Table, Type};

use crate::dialect::{DatePart, Dialect, Rewrite};
use threatgate_hunting::plan::PathStep;

use crate::hunting::{Stored, Value, check_widths, quoted_columns, stored, table_name, term_indexed_column};
use crate::{Result, StoreError};

/// SQLite's SQL: the store's statements and the KQL compiler's spelling.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = Sqlite;
    type Store = super::SqliteStore;
    /// A JSON array, spread by `json_each`.
    type TextList = String;

    /// Removes log entries older than `$1`, keeping those younger than a day with the same bound
    /// as the table's trigger (which would otherwise abort the whole statement).
    const DELETE_ACCESS_LOG_BEFORE: &'static str =
        "DELETE FROM access_log WHERE at < $1 AND at <= (unixepoch() - 86400) * 10000000";
    /// As [`Dialect::DELETE_ACCESS_LOG_BEFORE`], for the audit events.
    const DELETE_AUDIT_EVENTS_BEFORE: &'static str =
        "DELETE FROM audit_events WHERE at < $1 AND at <= (unixepoch() - 86400) * 10000000";

    /// `column` is one of the texts of the list bound at `$parameter` (made by [`Dialect::text_list`]).
    fn in_text_list(column: &str, parameter: usize) -> String {
        format!("{column} IN (SELECT value FROM json_each(${parameter}))")
    }

    /// A list of texts as one parameter of any length: a JSON array.
    fn text_list(values: &[impl ToString]) -> String {
        serde_json::to_string(&values.iter().map(ToString::to_string).collect::<Vec<_>>())
            .unwrap_or_else(|_| "[]".into())
    }

    /// Nothing to do: a write transaction already holds the database's write lock.
    async fn lock_signing_keys(_tx: &mut Transaction<'static, Sqlite>) -> Result<()> {
        Ok(())
    }

    /// A hunting row's position for `threatgate migrate`'s pages: its rowid, as text.
    const EVENT_POSITION: &'static str = "CAST(rowid AS TEXT)";
    const EVENT_AFTER: &'static str = "rowid > CAST($1 AS INTEGER)";
    const EVENT_ORDER: &'static str = "rowid";
    const FIRST_EVENT_POSITION: &'static str = "0";

    /// One writer at a time (see `HuntingStore::event_writers`).
    const EVENT_WRITERS: usize = 1;

    /// A read transaction for one hunting query, whose statements SQLite interrupts once `timeout`
    /// has passed (a progress handler, checked every thousand VM steps).
    async fn begin_hunt(pool: &SqlitePool, timeout: Duration) -> Result<Transaction<'static, Sqlite>> {
        let mut tx = pool.begin().await?;
        let deadline = std::time::Instant::now() + timeout;
        tx.lock_handle().await?.set_progress_handler(1000, move || std::time::Instant::now() < deadline);
        Ok(tx)
    }

    /// Ends a hunting query's transaction; its connection goes back to the pool without the
    /// progress handler.
    async fn end_hunt(mut tx: Transaction<'static, Sqlite>) -> Result<()> {
        tx.lock_handle().await?.remove_progress_handler();
        tx.rollback().await?;
        Ok(())
    }

    /// `SQLITE_INTERRUPT`: the progress handler stopped the statement at the timeout.
    fn is_timeout(error: &sqlx::Error) -> bool {
        matches!(error, sqlx::Error::Database(e) if e.code().is_some_and(|code| code == "9"))
    }

    /// A hunting query's failure that is the client's mistake, in words for the client: SQLite
    /// reports them all as `SQLITE_ERROR` (or `SQLITE_TOOBIG`), so they are told by their text.
    fn client_mistake(error: &sqlx::Error) -> Option<String> {
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

    fn read_long(row: &SqliteRow, index: usize) -> Result<Option<i64>> {
        Ok(row.try_get(index)?)
    }

    /// A real, also where SQLite computed a whole number.
    fn read_real(row: &SqliteRow, index: usize) -> Result<Option<f64>> {
        match row.try_get::<Option<f64>, _>(index) {
            Ok(value) => Ok(value),
            Err(_) => Ok(row.try_get::<Option<i64>, _>(index)?.map(|v| v as f64)),
        }
    }

    /// Bools are 0 and 1.
    fn read_bool(row: &SqliteRow, index: usize) -> Result<Option<bool>> {
        Ok(row.try_get::<Option<i64>, _>(index)?.map(|v| v != 0))
    }

    /// `PRAGMA optimize` over every table (`0x10000`): analyzes the tables never analyzed, and
    /// those ten times larger or smaller than when last analyzed. Whole indexes are read (21 s at
    /// 20 M events): with `analysis_limit` SQLite reads an index's first rows, all of one tenant,
    /// and counts one tenant per thousand rows, which makes it read a week of a tenant's events
    /// rather than the rows a term index finds.
    async fn refresh_event_statistics(store: &super::SqliteStore) -> Result<()> {
        sqlx::query("PRAGMA optimize = 0x10002").execute(&store.hunt_writer).await?;
        Ok(())
    }

    /// Most variables one statement binds (SQLite allows 32,766).
    const MAX_BINDS: usize = 30_000;

    /// Appends hunting events to `table` for `tenant`: multi-row `INSERT`s, as few as the bind
    /// limit allows, then the new rows' terms to the table's term index (if it has one) in one
    /// statement. The caller holds the write lock (`BEGIN IMMEDIATE`), so the rows this call adds
    /// are exactly those past the largest rowid before it.
    async fn insert_events(
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
        let rows_per_statement = (Self::MAX_BINDS / (table.columns.len() + 1)).max(1);
        for chunk in rows.chunks(rows_per_statement) {
            // A column no row of the chunk has is written as its constant (fewer values to bind:
            // events fill about half their table's columns). Binding one JSON array of the rows
            // instead and spreading it with `json_each` measured two times slower.
            let absent: Vec<bool> =
                (0..table.columns.len()).map(|i| chunk.iter().all(|row| row[i].is_none())).collect();
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
    const HUNT_POOL_SHARED: bool = false;

    // The KQL compiler's spelling.

    const REAL_TYPE: &'static str = "REAL";
    /// Bools are 0 and 1.
    const BOOL_TYPE: &'static str = "INTEGER";
    /// The FTS5 index finds rowids; reading them in descending order reads the newest first.
    const TERM_LOOKUP_BY_ROWID: bool = true;

    /// Text compares by code point already (the `BINARY` collation).
    fn ordinal(text: String) -> String {
        text
    }

    fn whole_sum(sum: String) -> String {
        sum
    }

    fn distinct_json_array(value: &str) -> String {
        format!("json_group_array(DISTINCT {value}) FILTER (WHERE {value} IS NOT NULL)")
    }

    fn bag_aggregate(value: &str) -> String {
        // An aggregate of threatgate-sqlite-functions.
        format!("threatgate_make_bag({value})")
    }

    fn percentile(value: &str, percent: &str) -> String {
        // An aggregate of threatgate-sqlite-functions.
        format!("threatgate_percentile({value}, {percent})")
    }

    /// Through a JSON array of the values in order, which keeps their type (bools come back as
    /// 0 and 1, so they are turned back into a condition).
    fn first_in_order(value: &str, target: &str, direction: &str, ty: Type) -> String {
        let extracted = format!("(json_group_array({value} ORDER BY {target} {direction} NULLS LAST) ->> '$[0]')");
        if ty == Type::Bool { format!("({extracted} <> 0)") } else { extracted }
    }

    fn char_code(code: u32) -> String {
        format!("char({code})")
    }

    fn position(haystack: &str, needle: &str) -> String {
        format!("instr({haystack}, {needle})")
    }

    /// SQLite folds only ASCII case, in `lower()` as in `LIKE`; `LIKE` reads the text as it is
    /// instead of a lower-cased copy: over 2.6 M command lines the test took 0.13 s instead of
    /// 0.74 s.
    fn contains_ignoring_case(text: &str, part: &str) -> String {
        format!(
            "({text} LIKE ('%' || replace(replace(replace({part}, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%') ESCAPE '\\')"
        )
    }

    /// The `REGEXP` function of sqlx's `regexp` feature (the `regex` crate's syntax).
    fn matches_regex(text: &str, pattern: &str) -> String {
        format!("({text} REGEXP {pattern})")
    }

    /// The `regex` crate reads RE2 syntax, as KQL does.
    fn regex(pattern: &str) -> String {
        pattern.to_owned()
    }

    // The functions of `threatgate-sqlite-functions`, added to every connection.

    fn regex_extract(pattern: &str, group: &str, text: &str, bind: &mut dyn FnMut(Value) -> String) -> String {
        format!("threatgate_regex_extract({}, {group}, {text})", bind(Value::Text(pattern.to_owned())))
    }

    fn regex_extract_all(pattern: &str, text: &str, bind: &mut dyn FnMut(Value) -> String) -> String {
        format!("threatgate_regex_extract_all({}, {text})", bind(Value::Text(pattern.to_owned())))
    }

    /// The `regex` crate's replacement syntax: `${1}` for a group, `$$` for a dollar.
    fn regex_replace(
        pattern: &str,
        rewrite: &[Rewrite<'_>],
        text: &str,
        bind: &mut dyn FnMut(Value) -> String,
    ) -> String {
        let replacement: String = rewrite
            .iter()
            .map(|piece| match piece {
                Rewrite::Text(t) => t.replace('$', "$$"),
                Rewrite::Group(n) => format!("${{{n}}}"),
            })
            .collect();
        let pattern = bind(Value::Text(pattern.to_owned()));
        format!("threatgate_regex_replace({pattern}, {}, {text})", bind(Value::Text(replacement)))
    }

    fn regex_count(pattern: &str, text: &str, bind: &mut dyn FnMut(Value) -> String) -> String {
        format!("threatgate_regex_count({}, {text})", bind(Value::Text(pattern.to_owned())))
    }

    fn count_occurrences(text: &str, part: &str) -> String {
        format!("threatgate_count_occurrences({text}, {part})")
    }

    fn base64_encode(text: &str) -> String {
        format!("threatgate_base64_encode({text})")
    }

    fn datetime_text(ticks: &str) -> String {
        format!(
            "(strftime('%Y-%m-%dT%H:%M:%S', {ticks} / 10000000, 'unixepoch') || '.' || substr('0000000' || ({ticks} % 10000000), -7) || 'Z')"
        )
    }

    fn datetime_part(seconds: &str, part: DatePart) -> String {
        let pattern = match part {
            DatePart::Year => "%Y",
            DatePart::Month => "%m",
            DatePart::Day => "%d",
            DatePart::Hour => "%H",
            DatePart::Minute => "%M",
            DatePart::Second => "%S",
        };
        format!("strftime('{pattern}', {seconds}, 'unixepoch')")
    }

    fn tick_fraction(ticks: &str) -> String {
        format!("substr('0000000' || CAST({ticks} % 10000000 AS TEXT), -7)")
    }

    fn integer_argument(sql: String) -> String {
        sql
    }

    fn element_as_array(array: &str, index: &str) -> String {
        format!("json_array(json_extract({array}, '$[' || ({index}) || ']'))")
    }

    /// SQLite's cast truncates toward zero.
    fn real_to_long(sql: &str) -> String {
        format!("CAST({sql} AS BIGINT)")
    }

    fn parse_long(text: &str) -> String {
        format!(
            "(CASE WHEN trim({text}) GLOB '[0-9]*' AND trim({text}) NOT GLOB '*[^0-9]*' OR trim({text}) GLOB '-[0-9]*' AND substr(trim({text}), 2) NOT GLOB '*[^0-9]*' THEN CAST(trim({text}) AS INTEGER) END)"
        )
    }

    fn parse_real(text: &str) -> String {
        format!(
            "(CASE WHEN trim({text}) <> '' AND CAST(trim({text}) AS REAL) || '' <> '' AND trim({text}) NOT GLOB '*[^0-9.eE+-]*' THEN CAST(trim({text}) AS REAL) END)"
        )
    }

    /// SQLite's `->` with a JSON path (bound): `$."key"`, `$[2]`, `$[#-1]`.
    fn element(target: &str, step: &PathStep, bind: &mut dyn FnMut(Value) -> String) -> String {
        let path = match step {
            PathStep::Key(key) => format!("$.\"{}\"", key.replace('"', "")),
            PathStep::Index(i) if *i >= 0 => format!("$[{i}]"),
            PathStep::Index(i) => format!("$[#-{}]", i.unsigned_abs()),
        };
        format!("({target} -> {})", bind(Value::Text(path)))
    }

    fn dynamic_text(json: &str) -> String {
        format!(
            "COALESCE(CASE json_type({json}) WHEN 'text' THEN {json} ->> '$' WHEN 'null' THEN '' ELSE {json} END, '')"
        )
    }

    fn parse_json(text: &str) -> String {
        format!(
            "(CASE WHEN {text} IS NULL OR {text} = '' THEN NULL WHEN json_valid({text}) THEN json({text}) ELSE json_quote({text}) END)"
        )
    }

    fn array_length(json: &str) -> String {
        format!("(CASE WHEN json_type({json}) = 'array' THEN json_array_length({json}) END)")
    }

    /// Dynamic values as JSON (else `json_array` would quote them); bools as JSON bools.
    fn json_item(sql: &str, ty: Type) -> String {
        match ty {
            Type::Dynamic => format!("json(COALESCE({sql}, 'null'))"),
            Type::Bool => format!("json(CASE WHEN {sql} THEN 'true' WHEN NOT {sql} THEN 'false' ELSE 'null' END)"),
            Type::DateTime => Self::datetime_text(sql),
            _ => sql.to_owned(),
        }
    }

    fn json_array(items: &[String]) -> String {
        format!("json_array({})", items.join(", "))
    }

    fn json_object(pairs: &[(String, String)]) -> String {
        let items: Vec<String> = pairs.iter().map(|(key, value)| format!("{key}, {value}")).collect();
        format!("json_object({})", items.join(", "))
    }

    fn json_array_aggregate(value: &str) -> String {
        format!("json_group_array({value}) FILTER (WHERE {value} IS NOT NULL)")
    }

    fn join_array(json: &str, separator: &str) -> String {
        format!(
            "(SELECT COALESCE(group_concat(CASE WHEN type = 'text' THEN value ELSE json_quote(value) END, {separator}), '') FROM json_each({json}))"
        )
    }

    fn array_has_text(json: &str, text: &str) -> String {
        format!("EXISTS (SELECT 1 FROM json_each({json}) WHERE CAST(value AS TEXT) = {text})")
    }

    /// SQLite's date parser (null for text it cannot read), to the millisecond.
    fn parse_datetime(text: &str) -> String {
        format!("CAST(round(unixepoch({text}, 'subsec') * 10000000) AS INTEGER)")
    }

    fn round(value: &str, digits: &str) -> String {
        format!("round({value}, {digits})")
    }

    fn log10(value: &str) -> String {
        format!("log10({value})")
    }

    /// SQLite stores no NaN (it becomes null).
    fn is_nan(value: &str) -> String {
        format!("({value} IS NOT NULL AND {value} <> {value})")
    }

    /// `json_each` over the value: elements of an array, properties of a bag, or the scalar.
    fn expand(array: &str, limit: Option<u64>) -> (String, String) {
        let limit = match limit {
            Some(n) => format!(" AND (typeof(e.key) <> 'integer' OR e.key < {n})"),
            None => String::new(),
        };
        let json = "(CASE e.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'object' THEN e.value WHEN 'array' THEN e.value ELSE json_quote(e.value) END)";
        let element = format!(
            "(CASE WHEN e.type IS NULL THEN NULL WHEN json_type({array}) = 'object' THEN json_object(e.key, json({json})) ELSE {json} END)"
        );
        (format!("LEFT JOIN json_each({array}) AS e ON 1 = 1{limit}"), element)
    }

    /// The table's FTS5 index (`<table>_terms`), looked up by a phrase of the one term.
    fn term_filter(table: &str, _column: &str, term: String, bind: &mut dyn FnMut(Value) -> String) -> String {
        let phrase = bind(Value::Text(format!("\"{term}\"")));
        format!("rowid IN (SELECT rowid FROM {table}_terms WHERE {table}_terms MATCH {phrase})")
    }
}
