//! The backends' contract: everything SQLite and PostgreSQL spell or do differently, as one
//! trait. `sqlite::SqliteDialect` and `postgres::PgDialect` implement it; the store code written
//! once for both (`shared/`) and the KQL compiler (`hunting/sql.rs`) reach a backend's SQL only
//! through it, so a difference the trait does not name cannot creep into shared code, and a
//! third backend is an implementation of this trait plus its migrations.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::{Database, Pool, Transaction};
use threatgate_domain::{IncidentId, Ticks};
use threatgate_hunting::events::EventRow;
use threatgate_hunting::schema::{Table, Type};
use threatgate_incidents::IngestAlert;

use crate::Result;
use crate::hunting::Value;
use threatgate_hunting::plan::PathStep;

/// One backend's SQL and database behaviour. Associated functions only: a dialect has no
/// state, and the compiler and the shared code name it as a type parameter or alias.
pub(crate) trait Dialect {
    /// The sqlx database.
    type Db: Database;
    /// The backend's store, for maintenance that needs its pools.
    type Store;
    /// A list of texts bound as one parameter (see [`Dialect::text_list`]).
    type TextList;

    // Statements and values of the store.

    /// Removes access-log entries older than `$1`, keeping those younger than a day with the
    /// same bound as the table's trigger (which would otherwise abort the whole statement).
    const DELETE_ACCESS_LOG_BEFORE: &'static str;
    /// As [`Dialect::DELETE_ACCESS_LOG_BEFORE`], for the audit events.
    const DELETE_AUDIT_EVENTS_BEFORE: &'static str;
    /// A hunting row's position for `threatgate migrate`'s pages, as text; the condition "after
    /// the position bound at `$1`"; the order of positions; the position before the first row.
    const EVENT_POSITION: &'static str;
    const EVENT_AFTER: &'static str;
    const EVENT_ORDER: &'static str;
    const FIRST_EVENT_POSITION: &'static str;
    /// How many event writers may run at once (see `HuntingStore::event_writers`).
    const EVENT_WRITERS: usize;
    /// Most values one statement may bind.
    const MAX_BINDS: usize;
    /// Whether hunting queries share their pool with the rest of the store.
    const HUNT_POOL_SHARED: bool;

    /// `column` is one of the texts of the list bound at `$parameter` (made by
    /// [`Dialect::text_list`]).
    fn in_text_list(column: &str, parameter: usize) -> String;
    /// A list of texts of any length as one parameter.
    fn text_list(values: &[impl ToString]) -> Self::TextList;
    /// Makes other writers wait until this transaction has decided whether to add a signing
    /// key (and added it), so that only one of them does.
    async fn lock_signing_keys(tx: &mut Transaction<'static, Self::Db>) -> Result<()>;
    /// A transaction for one hunting query, whose statements the database stops after
    /// `timeout`.
    async fn begin_hunt(pool: &Pool<Self::Db>, timeout: Duration) -> Result<Transaction<'static, Self::Db>>;
    /// Ends a hunting query's (read-only) transaction.
    async fn end_hunt(tx: Transaction<'static, Self::Db>) -> Result<()>;
    /// Whether `error` is the database stopping a hunting statement at its timeout.
    fn is_timeout(error: &sqlx::Error) -> bool;
    /// A hunting query's failure that is the client's mistake, in words for the client.
    fn client_mistake(error: &sqlx::Error) -> Option<String>;
    /// A `long` (or `int`, `datetime`, `timespan`) column of a hunting result.
    fn read_long(row: &<Self::Db as Database>::Row, index: usize) -> Result<Option<i64>>;
    /// A `real` column of a hunting result.
    fn read_real(row: &<Self::Db as Database>::Row, index: usize) -> Result<Option<f64>>;
    /// A `bool` column of a hunting result.
    fn read_bool(row: &<Self::Db as Database>::Row, index: usize) -> Result<Option<bool>>;
    /// Brings the planner's statistics of the hunting tables up to date after much ingestion.
    async fn refresh_event_statistics(store: &Self::Store) -> Result<()>;
    /// Appends hunting events to `table` for `tenant`, by the backend's bulk path.
    async fn insert_events(
        tx: &mut Transaction<'static, Self::Db>,
        tenant: &str,
        table: &'static Table,
        rows: &[EventRow],
    ) -> Result<()>;

    // The SQL the KQL compiler writes.

    /// The column types of a `real` and of a `bool`.
    const REAL_TYPE: &'static str;
    const BOOL_TYPE: &'static str;
    /// Whether a term lookup ([`Dialect::term_filter`]) finds rows newest first by `rowid`, so
    /// that a `take` over it stops after the newest rows.
    const TERM_LOOKUP_BY_ROWID: bool;

    /// A string expression that compares by code point, as KQL compares strings, whatever
    /// the database's collation.
    fn ordinal(text: String) -> String;
    /// `SUM` of whole numbers, as a `long`.
    fn whole_sum(sum: String) -> String;
    /// The distinct non-null values of `value` in a group, as a JSON array (`make_set`).
    fn distinct_json_array(value: &str) -> String;
    /// The group's nearest-rank percentile `percent` (0 to 100) of `value`, of its type.
    fn percentile(value: &str, percent: &str) -> String;
    /// The group's JSON objects in `value` (text) merged into one, as text (`make_bag`).
    fn bag_aggregate(value: &str) -> String;
    /// `value` at the group's first row in the order of `target` (`direction` is `ASC` or
    /// `DESC`), keeping `value`'s type `ty` (`arg_min`, `arg_max`).
    fn first_in_order(value: &str, target: &str, direction: &str, ty: Type) -> String;
    /// The character of code `code`.
    fn char_code(code: u32) -> String;
    /// The 1-based position of `needle` in `haystack`, 0 if absent.
    fn position(haystack: &str, needle: &str) -> String;
    /// Whether `text` contains `part`, ignoring case (`contains`).
    fn contains_ignoring_case(text: &str, part: &str) -> String;
    /// Whether `text` matches the regular expression `pattern`.
    fn matches_regex(text: &str, pattern: &str) -> String;
    /// A KQL (RE2) pattern as this backend's regular expressions read it, to bind.
    fn regex(pattern: &str) -> String;
    /// The text of capture group `group` (0: the whole match) of the first match of the RE2
    /// `pattern` in `text`; null where none. `bind` binds a value and returns its placeholder.
    fn regex_extract(pattern: &str, group: &str, text: &str, bind: &mut dyn FnMut(Value) -> String) -> String;
    /// Every match's groups as a JSON array (KQL's `extract_all`); null where nothing matches.
    fn regex_extract_all(pattern: &str, text: &str, bind: &mut dyn FnMut(Value) -> String) -> String;
    /// `text` with every match of `pattern` replaced by `rewrite`.
    fn regex_replace(
        pattern: &str,
        rewrite: &[Rewrite<'_>],
        text: &str,
        bind: &mut dyn FnMut(Value) -> String,
    ) -> String;
    /// The number of (non-overlapping) matches of `pattern` in `text`, as a `long`.
    fn regex_count(pattern: &str, text: &str, bind: &mut dyn FnMut(Value) -> String) -> String;
    /// How many times `part` occurs in `text`, overlapping occurrences counted (KQL's
    /// `countof`), as a `long`; 0 for an empty `part`.
    fn count_occurrences(text: &str, part: &str) -> String;
    /// The UTF-8 text the base64 `text` encodes, U+0000 dropped; null where it is not.
    fn base64_decode(text: &str) -> String {
        // Both stores define it under this name (SQLite: `threatgate-sqlite-functions`;
        // PostgreSQL: migrations 0008 and 0011).
        format!("threatgate_base64_decode({text})")
    }
    /// The base64 of the text's UTF-8 bytes.
    fn base64_encode(text: &str) -> String;
    /// `%XX` escapes decoded; null where the result is not UTF-8.
    fn url_decode(text: &str) -> String {
        // Both stores define it under this name (SQLite: `threatgate-sqlite-functions`;
        // PostgreSQL: migrations 0008 and 0011).
        format!("threatgate_url_decode({text})")
    }
    /// KQL's `parse_url` bag (JSON text) of the text; null for null.
    fn parse_url(text: &str) -> String {
        // Both stores define these under these names (SQLite: `threatgate-sqlite-functions`;
        // PostgreSQL: migration 0013), alike.
        format!("threatgate_parse_url({text})")
    }
    /// KQL's `parse_urlquery` bag (JSON text) of a URL's query part.
    fn parse_url_query(text: &str) -> String {
        format!("threatgate_parse_url_query({text})")
    }
    /// KQL's `parse_path` bag (JSON text) of a file path.
    fn parse_path(text: &str) -> String {
        format!("threatgate_parse_path({text})")
    }
    /// A .NET timespan text (`[-][d.]hh:mm[:ss[.fffffff]]`) in ticks; null where it is not one.
    fn parse_timespan(text: &str) -> String {
        format!("threatgate_parse_timespan({text})")
    }
    /// Whether the IPv4 address (prefix notation taken) is in an RFC 1918 network; null where
    /// it is not an IPv4 address.
    fn ipv4_is_private(text: &str) -> String {
        // Both stores define it under this name (SQLite: `threatgate-sqlite-functions`;
        // PostgreSQL: migrations 0008 and 0011).
        format!("threatgate_ipv4_is_private({text})")
    }
    /// Whether the IPv4 address (or network) lies within the range; null where either is not
    /// IPv4.
    fn ipv4_is_in_range(text: &str, range: &str) -> String {
        // Both stores define it under this name (SQLite: `threatgate-sqlite-functions`;
        // PostgreSQL: migrations 0008 and 0011).
        format!("threatgate_ipv4_is_in_range({text}, {range})")
    }
    /// The SHA-256 of the text's UTF-8 bytes, lowercase hex.
    fn sha256(text: &str) -> String {
        // Both stores define it under this name (SQLite: `threatgate-sqlite-functions`;
        // PostgreSQL: migrations 0008 and 0011).
        format!("threatgate_sha256({text})")
    }
    /// Ticks to `2024-05-01T10:00:00.0000000Z`.
    fn datetime_text(ticks: &str) -> String;
    /// One field of the UTC date and time `seconds` after the Unix epoch, zero-padded.
    fn datetime_part(seconds: &str, part: DatePart) -> String;
    /// The seven digits of ticks below a second.
    fn tick_fraction(ticks: &str) -> String;
    /// A `long` where a function takes an `integer` (PostgreSQL's `substr`).
    fn integer_argument(sql: String) -> String;
    /// A JSON array of one element: the `index`th of the JSON array `array` (`split(t, s, i)`).
    fn element_as_array(array: &str, index: &str) -> String;
    /// A `real` to a `long`, toward zero.
    fn real_to_long(sql: &str) -> String;
    /// A string to a `long`, or null when it is not one (`tolong`).
    fn parse_long(text: &str) -> String;
    /// A string to a `real`, or null when it is not one (`todouble`).
    fn parse_real(text: &str) -> String;
    /// A property or element of the dynamic (JSON text) value `target`, as JSON text; null
    /// where there is none. `bind` binds a value and returns its placeholder.
    fn element(target: &str, step: &PathStep, bind: &mut dyn FnMut(Value) -> String) -> String;
    /// A dynamic value as `tostring` writes it: a JSON string's text, other JSON as it is,
    /// `""` for null.
    fn dynamic_text(json: &str) -> String;
    /// `parse_json`: the string's JSON (normalized), or the string as a JSON string where it is
    /// not JSON; null for null or "".
    fn parse_json(text: &str) -> String;
    /// The length of a JSON array; null for other JSON.
    fn array_length(json: &str) -> String;
    /// A value of type `ty` as a JSON value for [`Dialect::json_array`].
    fn json_item(sql: &str, ty: Type) -> String;
    /// A JSON array of the items (made by [`Dialect::json_item`]), as text.
    fn json_array(items: &[String]) -> String;
    /// A JSON object of (key, item) pairs, the items made by [`Dialect::json_item`], as text.
    fn json_object(pairs: &[(String, String)]) -> String;
    /// Every non-null `value` of a group, as a JSON array (`make_list`).
    fn json_array_aggregate(value: &str) -> String;
    /// The texts of a JSON array's elements joined with `separator`.
    fn join_array(json: &str, separator: &str) -> String;
    /// Whether a JSON array holds an element whose text is `text`.
    fn array_has_text(json: &str, text: &str) -> String;
    /// An ISO 8601 text as ticks, null where it is not a datetime (`todatetime`).
    fn parse_datetime(text: &str) -> String;
    /// `round(x, digits)` of a real, as a real.
    fn round(value: &str, digits: &str) -> String;
    /// The base-10 logarithm (of a positive number).
    fn log10(value: &str) -> String;
    /// Whether a real is NaN (false for null).
    fn is_nan(value: &str) -> String;
    /// `mv-expand` of the dynamic `array` (an expression over the alias `t`): the join clause
    /// that follows `FROM (…) AS t`, keeping rows whose value is null or an empty array (one
    /// null element), and the element's JSON text (an array's element, a bag's one-property
    /// bag, a scalar itself), at most `limit` per row.
    fn expand(array: &str, limit: Option<u64>) -> (String, String);
    /// A condition that rows of table `table` hold `term` (letters, digits and `_`, lower case)
    /// among the terms of its term-indexed `column`; `bind` binds a value and returns its
    /// placeholder.
    fn term_filter(table: &str, column: &str, term: String, bind: &mut dyn FnMut(Value) -> String) -> String;
}

/// A piece of a regular-expression replacement (KQL writes `\1` for a group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rewrite<'a> {
    Text(&'a str),
    /// A capture group; 0 is the whole match.
    Group(u8),
}

/// The pieces of a KQL rewrite: `\0` to `\9` name groups, every other character is itself.
pub(crate) fn rewrite_pieces(rewrite: &str) -> Vec<Rewrite<'_>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let bytes = rewrite.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            if start < i {
                pieces.push(Rewrite::Text(&rewrite[start..i]));
            }
            pieces.push(Rewrite::Group(bytes[i + 1] - b'0'));
            i += 2;
            start = i;
        } else {
            i += 1;
        }
    }
    if start < rewrite.len() {
        pieces.push(Rewrite::Text(&rewrite[start..]));
    }
    pieces
}

/// A field of a date and time, for [`Dialect::datetime_part`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DatePart {
    /// Four digits.
    Year,
    Month,
    Day,
    /// 00 to 23.
    Hour,
    Minute,
    Second,
}

/// The statements of alert correlation (`shared/incidents.rs`) that the backends spell
/// differently, implemented in each backend's `correlation.rs` on its [`Dialect`] type.
pub(crate) trait Correlation: Dialect {
    /// Where new incidents' ids come from during one ingestion.
    type IncidentIds: Send;

    /// An incident's document, by tenant (`$1`) and id (`$2`), locked until the transaction
    /// ends.
    const SELECT_INCIDENT_FOR_UPDATE: &'static str;

    /// Makes other writers wait while this transaction correlates the tenant's alerts.
    async fn begin_ingestion(tx: &mut Transaction<'static, Self::Db>, tenant: &str) -> Result<()>;
    /// Ready to hand out new incidents' ids in this transaction.
    async fn start_incident_ids(tx: &mut Transaction<'static, Self::Db>) -> Result<Self::IncidentIds>;
    /// A new incident's id.
    async fn next_incident_id(
        ids: &mut Self::IncidentIds,
        tx: &mut Transaction<'static, Self::Db>,
    ) -> Result<IncidentId>;
    /// The alert ids of `alerts` the tenant already has.
    async fn known_alert_ids(
        tx: &mut Transaction<'static, Self::Db>,
        tenant: &str,
        alerts: &[IngestAlert],
    ) -> Result<HashSet<String>>;
    /// Records which incident each alert of the batch landed in.
    async fn insert_alerts(
        tx: &mut Transaction<'static, Self::Db>,
        tenant: &str,
        placed: &[(String, IncidentId)],
    ) -> Result<()>;
    /// Indexes an incident under an alert's entity keys.
    async fn insert_entity_keys(
        tx: &mut Transaction<'static, Self::Db>,
        tenant: &str,
        keys: &[String],
        incident_id: IncidentId,
    ) -> Result<()>;
    /// Open incidents of the tenant holding any of `keys`, active since `since`.
    async fn open_incidents_sharing(
        tx: &mut Transaction<'static, Self::Db>,
        tenant: &str,
        keys: &[String],
        since: Ticks,
    ) -> Result<Vec<IncidentId>>;
}

/// An identifier in double quotes, as both backends spell it (names from the schema, quoted
/// all the same).
pub(crate) fn quoted_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
