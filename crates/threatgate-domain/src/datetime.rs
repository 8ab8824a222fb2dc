//! The API's datetimes: UTC, `Z`, up to 7 fractional digits (100 ns ticks), trailing zeros
//! dropped, as Microsoft prints them (`2020-09-06T14:46:57.0733333Z`, `…57.29Z`, `…59Z`).

use time::{OffsetDateTime, UtcOffset};

/// An instant as 100-nanosecond ticks since the Unix epoch: how the store keeps incident,
/// log and event times, and what KQL's `datetime` counts. A type of its own so that it is never
/// mistaken for [`UnixSeconds`] (which the quotas and the directory's columns count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ticks(pub i64);

impl Ticks {
    /// The instant `time`, to the tick.
    pub fn at(time: OffsetDateTime) -> Self {
        Self(to_ticks(time))
    }

    /// The instant as a date and time.
    pub fn to_datetime(self) -> OffsetDateTime {
        from_ticks(self.0)
    }

    /// The number of ticks, as the store's columns and KQL's values carry it.
    pub const fn get(self) -> i64 {
        self.0
    }
}

/// An instant as whole seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct UnixSeconds(pub i64);

impl UnixSeconds {
    /// The instant `time`, to the second (rounded down).
    pub fn at(time: OffsetDateTime) -> Self {
        Self(time.unix_timestamp())
    }

    /// The number of seconds.
    pub const fn get(self) -> i64 {
        self.0
    }
}

/// 100-nanosecond ticks since the Unix epoch: how the store keeps incident times.
pub fn to_ticks(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 100).unwrap_or(i64::MAX)
}

pub fn from_ticks(ticks: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ticks) * 100).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A timespan as KQL writes it: `[-][d.]hh:mm:ss[.fffffff]`.
pub fn format_timespan(ticks: i64) -> String {
    let sign = if ticks < 0 { "-" } else { "" };
    let ticks = ticks.unsigned_abs();
    let fraction = ticks % 10_000_000;
    let seconds = ticks / 10_000_000;
    let (days, hours, minutes, seconds) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60);
    let mut text = String::from(sign);
    if days > 0 {
        text.push_str(&format!("{days}."));
    }
    text.push_str(&format!("{hours:02}:{minutes:02}:{seconds:02}"));
    if fraction > 0 {
        text.push_str(&format!(".{fraction:07}"));
    }
    text
}

/// Formats ticks as the API does.
pub fn format_ticks(ticks: i64) -> String {
    let time = from_ticks(ticks).to_offset(UtcOffset::UTC);
    let fraction = ticks.rem_euclid(10_000_000);
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    if fraction != 0 {
        let digits = format!("{fraction:07}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// Parses an ISO-8601 datetime as OData and the ingestion path accept it: a date
/// (`2020-06-03`, midnight UTC), or a date and time with optional fraction (more than 7 digits
/// are cut to 7) and `Z` or an offset; `2018-08-01Z` too.
pub fn parse_datetime_ticks(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.bytes().all(|b| b.is_ascii_digit()) { part.parse().ok() } else { None }
    };
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let rest = &text[10..];
    if rest.is_empty() || rest == "Z" {
        return Some(to_ticks(date.midnight().assume_utc()));
    }
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix('t'))?;
    let (hour, minute) = (rest.get(0..2)?, rest.get(3..5)?);
    if rest.as_bytes().get(2) != Some(&b':') {
        return None;
    }
    let mut at = 5;
    let mut second = 0;
    if rest.as_bytes().get(at) == Some(&b':') {
        second = rest.get(at + 1..at + 3)?.parse::<u8>().ok()?;
        at += 3;
    }
    let mut ticks_fraction: i64 = 0;
    if rest.as_bytes().get(at) == Some(&b'.') {
        let fraction: String = rest[at + 1..].chars().take_while(char::is_ascii_digit).collect();
        if fraction.is_empty() {
            return None;
        }
        at += 1 + fraction.len();
        let seven: String = fraction.chars().chain(std::iter::repeat('0')).take(7).collect();
        ticks_fraction = seven.parse().ok()?;
    }
    let offset_text = &rest[at..];
    let offset_seconds: i64 = match offset_text {
        "Z" | "z" => 0,
        _ => {
            let sign = match offset_text.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if offset_text.len() != 6 || offset_text.as_bytes()[3] != b':' {
                return None;
            }
            let hours: i64 = offset_text[1..3].parse().ok()?;
            let minutes: i64 = offset_text[4..6].parse().ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let time = time::Time::from_hms(hour.parse().ok()?, minute.parse().ok()?, second).ok()?;
    let local = to_ticks(date.with_time(time).assume_utc());
    Some(local + ticks_fraction - offset_seconds * 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_as_kql_writes_them() {
        assert_eq!(format_timespan(0), "00:00:00");
        assert_eq!(format_timespan(36_000_000_000), "01:00:00");
        assert_eq!(format_timespan(864_000_000_000 + 5), "1.00:00:00.0000005");
        assert_eq!(format_timespan(-600_000_000), "-00:01:00");
    }

    #[test]
    fn datetimes_print_with_up_to_seven_fractional_digits() {
        let ticks = parse_datetime_ticks("2020-09-06T14:46:57.0733333Z").unwrap();
        assert_eq!(format_ticks(ticks), "2020-09-06T14:46:57.0733333Z");
        let ticks = parse_datetime_ticks("2020-09-06T14:46:57.29Z").unwrap();
        assert_eq!(format_ticks(ticks), "2020-09-06T14:46:57.29Z");
        let ticks = parse_datetime_ticks("2020-09-04T05:22:59Z").unwrap();
        assert_eq!(format_ticks(ticks), "2020-09-04T05:22:59Z");
    }

    #[test]
    fn offsets_dates_and_long_fractions_are_understood() {
        assert_eq!(parse_datetime_ticks("2020-06-03T20:04:29+02:00"), parse_datetime_ticks("2020-06-03T18:04:29Z"));
        assert_eq!(parse_datetime_ticks("2018-08-01Z"), parse_datetime_ticks("2018-08-01T00:00:00Z"));
        assert_eq!(parse_datetime_ticks("2018-08-01"), parse_datetime_ticks("2018-08-01T00:00:00Z"));
        assert_eq!(
            parse_datetime_ticks("2020-06-03T18:04:29.463333399Z"),
            parse_datetime_ticks("2020-06-03T18:04:29.4633333Z")
        );
    }

    #[test]
    fn malformed_datetimes_are_refused() {
        for text in [
            "2020-13-01T00:00:00Z",
            "2020-06-03T25:00:00Z",
            "2020-06-03T18:04",
            "yesterday",
            "2020-06-03T18:04:29.Z",
            "2020-06-03T18:04:29+2",
        ] {
            assert_eq!(parse_datetime_ticks(text), None, "{text}");
        }
    }
}
