//! Column conversions both backends share: times as Unix seconds, typed values as text.

use std::str::FromStr;

use time::OffsetDateTime;

use crate::{Result, StoreError};

pub(crate) fn unix_seconds(time: OffsetDateTime) -> i64 {
    time.unix_timestamp()
}

pub(crate) fn from_unix_seconds(seconds: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| StoreError::Corrupt(format!("time {seconds} is out of range")))
}

/// Parses a stored value with its type's `FromStr`, or reports the column as corrupt.
pub(crate) fn parse_column<T: FromStr>(text: &str, column: &'static str) -> Result<T> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("{column} holds an invalid value")))
}
