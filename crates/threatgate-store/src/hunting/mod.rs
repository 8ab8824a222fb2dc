//! Advanced hunting in the row stores: the KQL plan compiled to SQL (`sql.rs`), and how
//! results are written.

mod sql;

pub use sql::{Dialect, Statement, Value, compile, table_name};

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

#[cfg(test)]
mod tests {
    use super::format_timespan;

    #[test]
    fn timespans_as_kql_writes_them() {
        assert_eq!(format_timespan(0), "00:00:00");
        assert_eq!(format_timespan(36_000_000_000), "01:00:00");
        assert_eq!(format_timespan(864_000_000_000 + 5), "1.00:00:00.0000005");
        assert_eq!(format_timespan(-600_000_000), "-00:01:00");
    }
}
