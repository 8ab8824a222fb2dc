//! Advanced hunting in the row stores: the KQL plan compiled to SQL (`sql.rs`), and how
//! results are written.

mod sql;

use threatgate_hunting::events::{EventRow, EventValue};
use threatgate_hunting::schema::{Table, Type};

pub(crate) use sql::compile;
pub(crate) use sql::term_indexed_column;
pub use sql::{Statement, Value, table_name};
pub use threatgate_domain::datetime::format_timespan;

/// Refuses rows that do not hold one value (or none) per column of `table`.
pub(crate) fn check_widths(table: &Table, rows: &[EventRow]) -> crate::Result<()> {
    match rows.iter().find(|row| row.len() != table.columns.len()) {
        Some(row) => Err(crate::StoreError::Corrupt(format!(
            "an event for {} has {} values for {} columns",
            table.name,
            row.len(),
            table.columns.len()
        ))),
        None => Ok(()),
    }
}

/// `"Timestamp", "DeviceId", …`: the table's columns, quoted, in the schema's order.
pub(crate) fn quoted_columns(table: &Table) -> String {
    table.columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ")
}

/// A value as a column of type `ty` stores it (text borrowed from the event).
pub(crate) enum Stored<'a> {
    Text(Option<&'a str>),
    Long(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
}

/// The value to bind for a column of type `ty` (a missing value is a typed null).
pub(crate) fn stored(ty: Type, value: Option<&EventValue>) -> std::result::Result<Stored<'_>, String> {
    Ok(match (ty, value) {
        // KQL strings are never null: a missing one is stored as "".
        (Type::String, None) => Stored::Text(Some("")),
        (Type::Dynamic, None) => Stored::Text(None),
        (Type::String | Type::Dynamic, Some(EventValue::Text(v))) => Stored::Text(Some(v)),
        (Type::DateTime | Type::TimeSpan | Type::Int | Type::Long, None) => Stored::Long(None),
        (Type::DateTime | Type::TimeSpan | Type::Int | Type::Long, Some(EventValue::Long(v))) => Stored::Long(Some(*v)),
        (Type::Real, None) => Stored::Real(None),
        (Type::Real, Some(EventValue::Real(v))) => Stored::Real(Some(*v)),
        (Type::Real, Some(EventValue::Long(v))) => Stored::Real(Some(*v as f64)),
        (Type::Bool, None) => Stored::Bool(None),
        (Type::Bool, Some(EventValue::Bool(v))) => Stored::Bool(Some(*v)),
        (ty, Some(other)) => return Err(format!("{other:?} is not a {}", ty.kql_name())),
    })
}
