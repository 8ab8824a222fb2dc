//! Printing results: JSON for scripts (`--json`), short text for people.

use serde::Serialize;

/// Prints `value` as pretty JSON when `json`, else the text `human` makes.
pub fn emit(json: bool, value: &impl Serialize, human: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        let text = human();
        if !text.is_empty() {
            println!("{}", text.trim_end());
        }
    }
    Ok(())
}

/// Formats a time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn when(time: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time.format(format).unwrap_or_else(|_| time.to_string())
}
