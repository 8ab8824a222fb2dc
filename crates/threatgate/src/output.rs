//! Printing results: JSON for scripts (`--json`), short text for people.

use serde::Serialize;

/// Prints `value` as pretty JSON when `json`, else the text `human` makes.
pub fn emit(json: bool, value: &impl Serialize, human: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        line(serde_json::to_string_pretty(value)?)?;
    } else {
        let text = human();
        if !text.is_empty() {
            line(text.trim_end())?;
        }
    }
    Ok(())
}

/// Writes `text` and a newline to standard output. Unlike `println!`, a closed pipe
/// (`… | head -1`) is an error (`BrokenPipe`), which `main` ends on quietly.
pub fn line(text: impl std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{text}")
}

/// Writes `text` as it is to standard output (see [`line`]).
pub fn text(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::io::stdout().lock().write_all(text.as_bytes())
}

/// Whether an error is (or was caused by) writing to a closed pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<csv::Error>().is_some_and(
                |csv| matches!(csv.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe),
            )
    })
}

/// Formats a time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn when(time: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time.format(format).unwrap_or_else(|_| time.to_string())
}
