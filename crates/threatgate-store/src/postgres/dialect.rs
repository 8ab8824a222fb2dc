//! PostgreSQL's side of the backends' contract ([`Dialect`]).

use std::fmt::Write as _;
use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use threatgate_hunting::events::EventRow;
use threatgate_hunting::schema::{Table, Type};

use super::regex::translate;
use crate::dialect::{DatePart, Dialect, Rewrite};
use threatgate_hunting::plan::PathStep;

use crate::hunting::{Stored, Value, check_widths, quoted_columns, stored, table_name};
use crate::{Result, StoreError};

/// PostgreSQL's SQL: the store's statements and the KQL compiler's spelling.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgDialect;

impl Dialect for PgDialect {
    type Db = Postgres;
    type Store = super::PgStore;
    /// A `text[]`.
    type TextList = Vec<String>;

    /// Removes log entries older than `$1`, keeping those younger than a day with the same bound
    /// as the table's trigger (which would otherwise abort the whole statement).
    const DELETE_ACCESS_LOG_BEFORE: &'static str =
        "DELETE FROM access_log WHERE at < $1 AND at <= (EXTRACT(EPOCH FROM now())::BIGINT - 86400) * 10000000";
    /// As [`Dialect::DELETE_ACCESS_LOG_BEFORE`], for the audit events.
    const DELETE_AUDIT_EVENTS_BEFORE: &'static str =
        "DELETE FROM audit_events WHERE at < $1 AND at <= (EXTRACT(EPOCH FROM now())::BIGINT - 86400) * 10000000";

    /// `column` is one of the texts of the array bound at `$parameter` (made by [`Dialect::text_list`]).
    fn in_text_list(column: &str, parameter: usize) -> String {
        format!("{column} = ANY(${parameter})")
    }

    /// A list of texts as one parameter: a `text[]`.
    fn text_list(values: &[impl ToString]) -> Vec<String> {
        values.iter().map(ToString::to_string).collect()
    }

    /// Makes the other nodes wait until this transaction has decided whether to add a signing key
    /// (and added it), so that only one of them does.
    async fn lock_signing_keys(tx: &mut Transaction<'static, Postgres>) -> Result<()> {
        sqlx::query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE").execute(&mut **tx).await?;
        Ok(())
    }

    /// A hunting row's position for `threatgate migrate`'s pages: its tuple id (stable while the
    /// source is not being changed, as during a migration), as text.
    const EVENT_POSITION: &'static str = "ctid::text";
    const EVENT_AFTER: &'static str = "ctid > $1::tid";
    const EVENT_ORDER: &'static str = "ctid";
    const FIRST_EVENT_POSITION: &'static str = "(0,0)";

    /// Two event writers at once: a core of PostgreSQL each.
    const EVENT_WRITERS: usize = 2;

    /// A transaction for one hunting query, whose statements PostgreSQL cancels after `timeout`.
    async fn begin_hunt(pool: &PgPool, timeout: Duration) -> Result<Transaction<'static, Postgres>> {
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
    async fn end_hunt(tx: Transaction<'static, Postgres>) -> Result<()> {
        tx.rollback().await?;
        Ok(())
    }

    /// `query_canceled`: the statement timeout fired.
    fn is_timeout(error: &sqlx::Error) -> bool {
        error.as_database_error().and_then(|e| e.code()).as_deref() == Some("57014")
    }

    /// Most values one statement may bind (PostgreSQL's protocol limit).
    const MAX_BINDS: usize = 65_535;

    /// A hunting query's failure that is the client's mistake, in words for the client: data
    /// exceptions (SQLSTATE class 22: out-of-range arithmetic, an invalid regular expression, a
    /// value that does not convert) and program limits (class 54).
    fn client_mistake(error: &sqlx::Error) -> Option<String> {
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
    fn read_long(row: &PgRow, index: usize) -> Result<Option<i64>> {
        match row.try_get::<Option<i64>, _>(index) {
            Ok(value) => Ok(value),
            Err(_) => Ok(row.try_get::<Option<i32>, _>(index)?.map(i64::from)),
        }
    }

    fn read_real(row: &PgRow, index: usize) -> Result<Option<f64>> {
        Ok(row.try_get(index)?)
    }

    fn read_bool(row: &PgRow, index: usize) -> Result<Option<bool>> {
        Ok(row.try_get(index)?)
    }

    /// Nothing to do: autovacuum analyzes tables that changed much.
    async fn refresh_event_statistics(_store: &super::PgStore) -> Result<()> {
        Ok(())
    }

    /// Appends hunting events to `table` for `tenant` with `COPY … FROM STDIN` (text format), the
    /// bulk path: one stream per call, sent in pieces of about a megabyte.
    async fn insert_events(
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

    /// Whether hunting queries share their pool with the rest of the store (PostgreSQL: hunting
    /// shares the one pool with everything else).
    const HUNT_POOL_SHARED: bool = true;

    // The KQL compiler's spelling.

    const REAL_TYPE: &'static str = "DOUBLE PRECISION";
    const BOOL_TYPE: &'static str = "BOOLEAN";
    const TERM_LOOKUP_BY_ROWID: bool = false;

    fn ordinal(text: String) -> String {
        format!("{text} COLLATE \"C\"")
    }

    /// PostgreSQL sums `bigint` as `numeric`.
    fn whole_sum(sum: String) -> String {
        format!("CAST({sum} AS BIGINT)")
    }

    fn distinct_json_array(value: &str) -> String {
        format!("COALESCE(CAST(json_agg(DISTINCT {value}) FILTER (WHERE {value} IS NOT NULL) AS TEXT), '[]')")
    }

    fn bag_aggregate(value: &str) -> String {
        // An aggregate of migration 0012.
        format!("threatgate_make_bag({value})")
    }

    fn percentile(value: &str, percent: &str) -> String {
        // The first value whose cumulative share reaches the percentile: nearest rank.
        format!("percentile_disc(CAST({percent} AS DOUBLE PRECISION) / 100.0) WITHIN GROUP (ORDER BY {value})")
    }

    fn first_in_order(value: &str, target: &str, direction: &str, _ty: Type) -> String {
        format!("(array_agg({value} ORDER BY {target} {direction} NULLS LAST))[1]")
    }

    fn char_code(code: u32) -> String {
        format!("chr({code})")
    }

    fn position(haystack: &str, needle: &str) -> String {
        format!("strpos({haystack}, {needle})")
    }

    fn contains_ignoring_case(text: &str, part: &str) -> String {
        format!("({} > 0)", Self::position(&format!("lower({text})"), &format!("lower({part})")))
    }

    /// POSIX regular expressions (`~`).
    fn matches_regex(text: &str, pattern: &str) -> String {
        format!("({text} ~ {pattern})")
    }

    /// RE2 rewritten in PostgreSQL's syntax (see `regex.rs`).
    fn regex(pattern: &str) -> String {
        translate(pattern, false).pattern
    }

    /// With the whole pattern as group 1, the pattern's group `n` is the match's `n + 1`th
    /// (outside the array: null).
    fn regex_extract(pattern: &str, group: &str, text: &str, bind: &mut dyn FnMut(Value) -> String) -> String {
        let pattern = bind(Value::Text(translate(pattern, true).pattern));
        format!("(regexp_match({text}, {pattern}))[CAST(LEAST(GREATEST({group}, -1), 1000) + 1 AS INTEGER)]")
    }

    fn regex_extract_all(pattern: &str, text: &str, bind: &mut dyn FnMut(Value) -> String) -> String {
        let translated = translate(pattern, true);
        let element = match translated.groups {
            0 => "m[1]".to_owned(),
            1 => "COALESCE(m[2], '')".to_owned(),
            groups => format!("to_json(array_replace(m[2:{}], NULL, ''))", groups + 1),
        };
        let pattern = bind(Value::Text(translated.pattern));
        format!("(SELECT CAST(json_agg({element}) AS TEXT) FROM regexp_matches({text}, {pattern}, 'g') AS r(m))")
    }

    /// `\&` for the whole match, `\1` for a group, `\\` for a backslash.
    fn regex_replace(
        pattern: &str,
        rewrite: &[Rewrite<'_>],
        text: &str,
        bind: &mut dyn FnMut(Value) -> String,
    ) -> String {
        let replacement: String = rewrite
            .iter()
            .map(|piece| match piece {
                Rewrite::Text(t) => t.replace('\\', "\\\\"),
                Rewrite::Group(0) => "\\&".to_owned(),
                Rewrite::Group(n) => format!("\\{n}"),
            })
            .collect();
        let pattern = bind(Value::Text(Self::regex(pattern)));
        format!("regexp_replace({text}, {pattern}, {}, 'g')", bind(Value::Text(replacement)))
    }

    fn regex_count(pattern: &str, text: &str, bind: &mut dyn FnMut(Value) -> String) -> String {
        let pattern = bind(Value::Text(Self::regex(pattern)));
        format!("(SELECT count(*) FROM regexp_matches({text}, {pattern}, 'g'))")
    }

    /// Every position where the part could start, compared.
    fn count_occurrences(text: &str, part: &str) -> String {
        format!(
            "(CASE WHEN length({part}) > 0 THEN (SELECT count(*) FROM generate_series(1, length({text}) - length({part}) + 1) AS i WHERE substr({text}, i, length({part})) = {part}) ELSE 0 END)"
        )
    }

    /// `encode` breaks its base64 into lines of 76 characters: the breaks removed.
    fn base64_encode(text: &str) -> String {
        format!("replace(encode(convert_to({text}, 'UTF8'), 'base64'), chr(10), '')")
    }

    fn datetime_text(ticks: &str) -> String {
        format!(
            "(to_char(to_timestamp({ticks} / 10000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '.' || lpad(CAST({ticks} % 10000000 AS TEXT), 7, '0') || 'Z')"
        )
    }

    fn datetime_part(seconds: &str, part: DatePart) -> String {
        let pattern = match part {
            DatePart::Year => "YYYY",
            DatePart::Month => "MM",
            DatePart::Day => "DD",
            DatePart::Hour => "HH24",
            DatePart::Minute => "MI",
            DatePart::Second => "SS",
        };
        format!("to_char(to_timestamp({seconds}) AT TIME ZONE 'UTC', '{pattern}')")
    }

    fn tick_fraction(ticks: &str) -> String {
        format!("lpad(CAST({ticks} % 10000000 AS TEXT), 7, '0')")
    }

    /// PostgreSQL's `substr` takes integers, not bigints.
    fn integer_argument(sql: String) -> String {
        format!("CAST({sql} AS INTEGER)")
    }

    fn element_as_array(array: &str, index: &str) -> String {
        format!("CAST(json_build_array(CAST({array} AS json) ->> CAST({index} AS INTEGER)) AS TEXT)")
    }

    /// Toward zero, as KQL converts (PostgreSQL's cast rounds).
    fn real_to_long(sql: &str) -> String {
        format!("CAST(trunc({sql}) AS BIGINT)")
    }

    fn parse_long(text: &str) -> String {
        format!("(CASE WHEN {text} ~ '^\\s*-?[0-9]{{1,18}}\\s*$' THEN CAST(trim({text}) AS BIGINT) END)")
    }

    fn parse_real(text: &str) -> String {
        format!(
            "(CASE WHEN {text} ~ '^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$' THEN CAST(trim({text}) AS DOUBLE PRECISION) END)"
        )
    }

    /// The `json` operators, which keep the stored text as it is (`jsonb` would respace it).
    fn element(target: &str, step: &PathStep, bind: &mut dyn FnMut(Value) -> String) -> String {
        let step = match step {
            PathStep::Key(key) => bind(Value::Text(key.clone())),
            PathStep::Index(i) => {
                format!("CAST({} AS INTEGER)", bind(Value::Long((*i).clamp(-1 << 31, (1 << 31) - 1))))
            }
        };
        format!("CAST(CAST({target} AS json) -> {step} AS TEXT)")
    }

    fn dynamic_text(json: &str) -> String {
        format!(
            "COALESCE(CASE json_typeof(CAST({json} AS json)) WHEN 'string' THEN CAST({json} AS json) #>> '{{}}' WHEN 'null' THEN '' ELSE {json} END, '')"
        )
    }

    /// `threatgate_parse_json` (migration `0006_parse_json`) catches the cast's error.
    fn parse_json(text: &str) -> String {
        format!("threatgate_parse_json({text})")
    }

    fn array_length(json: &str) -> String {
        format!(
            "(CASE WHEN json_typeof(CAST({json} AS json)) = 'array' THEN CAST(json_array_length(CAST({json} AS json)) AS BIGINT) END)"
        )
    }

    fn json_item(sql: &str, ty: Type) -> String {
        match ty {
            Type::Dynamic => format!("CAST({sql} AS json)"),
            Type::DateTime => Self::datetime_text(sql),
            _ => sql.to_owned(),
        }
    }

    fn json_array(items: &[String]) -> String {
        format!("CAST(json_build_array({}) AS TEXT)", items.join(", "))
    }

    /// Written out as KQL writes a bag (`{"a":1,"b":"x"}`, in the keys' order; PostgreSQL's
    /// `json_build_object` puts spaces around its colons).
    fn json_object(pairs: &[(String, String)]) -> String {
        let items: Vec<String> = pairs
            .iter()
            .map(|(key, value)| {
                format!(
                    "CAST(to_json(CAST({key} AS TEXT)) AS TEXT) || ':' || COALESCE(CAST(to_json({value}) AS TEXT), 'null')"
                )
            })
            .collect();
        format!("('{{' || {} || '}}')", items.join(" || ',' || "))
    }

    fn json_array_aggregate(value: &str) -> String {
        format!("COALESCE(CAST(json_agg({value}) FILTER (WHERE {value} IS NOT NULL) AS TEXT), '[]')")
    }

    fn join_array(json: &str, separator: &str) -> String {
        format!(
            "(SELECT COALESCE(string_agg({}, {separator}), '') FROM json_array_elements(CAST({json} AS json)) AS e)",
            element_text("e")
        )
    }

    fn array_has_text(json: &str, text: &str) -> String {
        format!(
            "EXISTS (SELECT 1 FROM json_array_elements(CAST({json} AS json)) AS e WHERE {} = {text})",
            element_text("e")
        )
    }

    /// `threatgate_todatetime` (migration `0007_todatetime`) catches the cast's error.
    fn parse_datetime(text: &str) -> String {
        format!("threatgate_todatetime({text})")
    }

    /// PostgreSQL rounds `numeric` to a number of digits, not `double precision`.
    fn round(value: &str, digits: &str) -> String {
        format!("CAST(round(CAST({value} AS numeric), CAST({digits} AS INTEGER)) AS DOUBLE PRECISION)")
    }

    fn log10(value: &str) -> String {
        format!("log({value})")
    }

    fn is_nan(value: &str) -> String {
        format!("COALESCE(CAST({value} AS DOUBLE PRECISION) = CAST('NaN' AS DOUBLE PRECISION), FALSE)")
    }

    /// A lateral union of the array's elements, the bag's properties and the scalar (the
    /// `json` functions refuse values of the other kinds, hence the `CASE`s).
    fn expand(array: &str, limit: Option<u64>) -> (String, String) {
        let json = format!("CAST({array} AS json)");
        let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        let join = format!(
            "LEFT JOIN LATERAL (SELECT element FROM (\
             SELECT CAST(v AS TEXT) AS element, 0 AS part, n FROM json_array_elements(CASE WHEN json_typeof({json}) = 'array' THEN {json} ELSE CAST('[]' AS json) END) WITH ORDINALITY AS a (v, n) \
             UNION ALL SELECT CAST(json_build_object(k, v) AS TEXT), 1, n FROM json_each(CASE WHEN json_typeof({json}) = 'object' THEN {json} ELSE CAST('{{}}' AS json) END) WITH ORDINALITY AS b (k, v, n) \
             UNION ALL SELECT {array}, 2, 1 WHERE json_typeof({json}) NOT IN ('array', 'object')\
             ) AS parts ORDER BY part, n{limit}) AS e ON TRUE"
        );
        (join, "e.element".into())
    }

    /// The expression index on the column's terms (`regexp_split_to_array`), by containment.
    fn term_filter(_table: &str, column: &str, term: String, bind: &mut dyn FnMut(Value) -> String) -> String {
        let term = bind(Value::Text(term));
        format!("regexp_split_to_array(lower(\"{column}\"), '[^a-z0-9_]+') @> ARRAY[{term}]::text[]")
    }
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

/// A JSON array element (`json`) as text: a string's own text, other JSON as written.
fn element_text(element: &str) -> String {
    format!("(CASE WHEN json_typeof({element}) = 'string' THEN {element} #>> '{{}}' ELSE CAST({element} AS TEXT) END)")
}
