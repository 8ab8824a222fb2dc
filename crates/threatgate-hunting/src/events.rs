//! Event rows: one value (or none) per column of a table, in the schema's order, as ingestion,
//! the seed and the alerts' own tables produce them; and the JSON form events arrive in.

use crate::schema::{Table, Type};
use threatgate_domain::datetime::parse_datetime_ticks;

/// A value of one column of a hunting event, as stored: datetimes and timespans in ticks,
/// `dynamic` as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub enum EventValue {
    Text(String),
    Long(i64),
    Real(f64),
    Bool(bool),
}

impl From<&str> for EventValue {
    fn from(value: &str) -> Self {
        EventValue::Text(value.to_owned())
    }
}

impl From<String> for EventValue {
    fn from(value: String) -> Self {
        EventValue::Text(value)
    }
}

impl From<i64> for EventValue {
    fn from(value: i64) -> Self {
        EventValue::Long(value)
    }
}

impl From<bool> for EventValue {
    fn from(value: bool) -> Self {
        EventValue::Bool(value)
    }
}

/// One event of a table: a value or none per column, in the schema's order.
pub type EventRow = Vec<Option<EventValue>>;

/// Builds a row by column name (for code that knows the columns it fills).
#[derive(Debug, Clone)]
pub struct RowBuilder {
    table: &'static Table,
    values: EventRow,
}

impl RowBuilder {
    pub fn new(table: &'static Table) -> Self {
        Self { table, values: vec![None; table.columns.len()] }
    }

    /// Sets `column` (a name of the table's schema; the callers' names are checked by tests).
    pub fn set(mut self, column: &str, value: impl Into<EventValue>) -> Self {
        match self.table.columns.iter().position(|c| c.name == column) {
            Some(index) => self.values[index] = Some(value.into()),
            None => debug_assert!(false, "{} has no column {column}", self.table.name),
        }
        self
    }

    /// Sets `column` when there is a value.
    pub fn maybe(self, column: &str, value: Option<impl Into<EventValue>>) -> Self {
        match value {
            Some(value) => self.set(column, value),
            None => self,
        }
    }

    pub fn build(self) -> EventRow {
        self.values
    }
}

/// Why submitted events were refused: the first bad one, by its line (or array position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct EventError {
    pub place: String,
    pub message: String,
}

/// Reads events for `table` from a JSON array of objects or one object per line (blank lines
/// skipped). Keys are the table's column names, case-sensitive; a missing column is empty.
pub fn parse_events(table: &'static Table, text: &str) -> Result<Vec<EventRow>, EventError> {
    if text.trim_start().starts_with('[') {
        let events: Vec<serde_json::Value> = serde_json::from_str(text)
            .map_err(|error| EventError { place: "The event array".into(), message: format!("{error}") })?;
        events
            .iter()
            .enumerate()
            .map(|(index, event)| {
                event_from_json(table, event)
                    .map_err(|message| EventError { place: format!("Event {}", index + 1), message })
            })
            .collect()
    } else {
        let mut rows = Vec::new();
        for (index, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
            let place = || format!("Line {}", index + 1);
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|error| EventError { place: place(), message: format!("not JSON: {error}") })?;
            rows.push(event_from_json(table, &value).map_err(|message| EventError { place: place(), message })?);
        }
        Ok(rows)
    }
}

/// One event from its JSON object: strings for `string` and `datetime` (ISO 8601, UTC),
/// numbers for `int`, `long`, `real`, integers of ticks for `timespan`, `true`/`false` for
/// `bool`, any JSON for `dynamic`; `null` or absent for none. `Timestamp` is required where the
/// table has one.
pub fn event_from_json(table: &'static Table, value: &serde_json::Value) -> Result<EventRow, String> {
    use serde_json::Value as Json;
    let object = value.as_object().ok_or("an event is a JSON object of column names and values")?;
    let mut row: EventRow = vec![None; table.columns.len()];
    for (key, given) in object {
        let Some(index) = table.columns.iter().position(|c| c.name == key.as_str()) else {
            let shown: String = key.chars().take(64).collect();
            return Err(match table.columns.iter().find(|c| c.name.eq_ignore_ascii_case(key)) {
                Some(column) => {
                    format!("{} has no column `{shown}` (names are case-sensitive: `{}`)", table.name, column.name)
                }
                None => format!("{} has no column `{shown}`", table.name),
            });
        };
        let column = &table.columns[index];
        let wrong = || format!("`{}` takes {} values; {given} is not one", column.name, column.ty.kql_name());
        row[index] = match (column.ty, given) {
            (_, Json::Null) => None,
            (Type::Dynamic, any) => Some(EventValue::Text(any.to_string())),
            (Type::String, Json::String(text)) => Some(EventValue::Text(text.clone())),
            (Type::DateTime, Json::String(text)) => {
                Some(EventValue::Long(parse_datetime_ticks(text).ok_or_else(|| {
                    format!("`{}` is not a date and time in ISO 8601 (2026-11-20T12:00:00Z): {given}", column.name)
                })?))
            }
            (Type::Int, Json::Number(n)) => {
                Some(EventValue::Long(n.as_i64().and_then(|v| i32::try_from(v).ok()).ok_or_else(wrong)?.into()))
            }
            (Type::Long | Type::TimeSpan, Json::Number(n)) => Some(EventValue::Long(n.as_i64().ok_or_else(wrong)?)),
            (Type::Real, Json::Number(n)) => Some(EventValue::Real(n.as_f64().ok_or_else(wrong)?)),
            (Type::Bool, Json::Bool(b)) => Some(EventValue::Bool(*b)),
            _ => return Err(wrong()),
        };
    }
    // A snapshot table (vulnerability management) has no time of its own.
    if let Some(index) = table.columns.iter().position(|c| c.name == "Timestamp")
        && row[index].is_none()
    {
        return Err("`Timestamp` is required".into());
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::schema::table;

    fn process() -> &'static Table {
        table("DeviceProcessEvents").expect("a table of the schema")
    }

    fn value_of(row: &EventRow, column: &str) -> Option<EventValue> {
        let index = process().columns.iter().position(|c| c.name == column).expect("a column");
        row[index].clone()
    }

    #[test]
    fn json_lines_fill_their_columns_in_schema_order() {
        let text = r#"{"Timestamp":"2026-11-20T12:00:00Z","FileName":"cmd.exe","ProcessId":42,"AdditionalFields":{"a":[1]}}

{"Timestamp":"2026-11-20T12:00:01.5Z","DeviceName":null}"#;
        let rows = parse_events(process(), text).expect("valid events");
        assert_eq!(rows.len(), 2);
        assert_eq!(value_of(&rows[0], "FileName"), Some(EventValue::Text("cmd.exe".into())));
        assert_eq!(value_of(&rows[0], "ProcessId"), Some(EventValue::Long(42)));
        assert_eq!(value_of(&rows[0], "AdditionalFields"), Some(EventValue::Text(r#"{"a":[1]}"#.into())));
        assert_eq!(value_of(&rows[0], "Timestamp"), parse_datetime_ticks("2026-11-20T12:00:00Z").map(EventValue::Long));
        assert_eq!(value_of(&rows[1], "DeviceName"), None);
        assert_eq!(
            value_of(&rows[1], "Timestamp"),
            Some(EventValue::Long(parse_datetime_ticks("2026-11-20T12:00:00Z").expect("a time") + 15_000_000))
        );
        let array = parse_events(process(), r#"[{"Timestamp":"2026-11-20T12:00:00Z"}]"#).expect("an array");
        assert_eq!(array.len(), 1);
    }

    #[test]
    fn bad_events_are_refused_with_their_place_and_reason() {
        let cases = [
            (
                r#"{"Timestamp":"2026-11-20T12:00:00Z","filename":"x"}"#,
                "Line 1: DeviceProcessEvents has no column `filename` (names are case-sensitive: `FileName`)",
            ),
            (r#"{"Timestamp":"2026-11-20T12:00:00Z","Nope":1}"#, "Line 1: DeviceProcessEvents has no column `Nope`"),
            (r#"{"FileName":"x"}"#, "Line 1: `Timestamp` is required"),
            (
                r#"{"Timestamp":"yesterday"}"#,
                "Line 1: `Timestamp` is not a date and time in ISO 8601 (2026-11-20T12:00:00Z): \"yesterday\"",
            ),
            (
                r#"{"Timestamp":"2026-11-20T12:00:00Z","ProcessId":3000000000}"#,
                "Line 1: `ProcessId` takes int values; 3000000000 is not one",
            ),
            (
                r#"{"Timestamp":"2026-11-20T12:00:00Z","FileSize":"big"}"#,
                "Line 1: `FileSize` takes long values; \"big\" is not one",
            ),
            ("[1]", "Event 1: an event is a JSON object of column names and values"),
            ("\n\n{oops", "Line 3: not JSON: key must be a string at line 1 column 2"),
        ];
        for (text, expected) in cases {
            let error = parse_events(process(), text).expect_err(text);
            assert_eq!(error.to_string(), expected, "{text}");
        }
    }

    #[test]
    fn the_builder_places_values_by_name() {
        let row =
            RowBuilder::new(process()).set("Timestamp", 5).set("DeviceName", "d").maybe("SHA1", None::<&str>).build();
        assert_eq!(value_of(&row, "Timestamp"), Some(EventValue::Long(5)));
        assert_eq!(value_of(&row, "DeviceName"), Some(EventValue::Text("d".into())));
        assert_eq!(value_of(&row, "SHA1"), None);
    }
}

/// The tables written from alerts, never submitted directly.
const ALERT_TABLES: [&str; 2] = ["AlertInfo", "AlertEvidence"];

/// Why events cannot be submitted to a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("{0} is filled from the tenant's alerts: submit alerts to /api/ingest/alerts.")]
    FilledFromAlerts(&'static str),
    #[error("No event table named '{name}'. Tables: {accepted}.")]
    Unknown { name: String, accepted: String },
}

/// A table events can be submitted to: any of the schema's but the two filled from alerts.
pub fn submittable_table(name: &str) -> Result<&'static Table, TableError> {
    match crate::schema::table(name) {
        Some(table) if ALERT_TABLES.contains(&table.name) => Err(TableError::FilledFromAlerts(table.name)),
        Some(table) => Ok(table),
        None => Err(TableError::Unknown {
            name: name.chars().take(64).collect(),
            accepted: crate::schema::TABLES
                .iter()
                .filter(|t| !ALERT_TABLES.contains(&t.name))
                .map(|t| t.name)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
