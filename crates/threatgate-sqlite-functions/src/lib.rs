//! SQL functions that SQLite lacks and KQL needs, added to each of the store's SQLite
//! connections: regular-expression extraction, replacement and counting (KQL's `extract`,
//! `extract_all`, `replace_regex`, `countof`, `trim`), base64 and URL decoding, IPv4 ranges,
//! SHA-256, URL, path and timespan parsing, and KQL's `percentile` and `make_bag` as aggregates.
//!
//! The functions themselves ([`functions`]) are safe Rust; `ffi.rs` is the one module with
//! `unsafe`, the bridge from SQLite's C calling convention (`sqlite3_create_function_v2`) to
//! them. Regular expressions use the `regex` crate (RE2 syntax, as KQL's), with the same size
//! limit as the KQL binder's check, and each connection keeps its compiled patterns.
//!
//! | SQL function | arguments | result |
//! |---|---|---|
//! | `threatgate_regex_extract` | pattern, group, text | the group's text; null when no match or the group did not take part |
//! | `threatgate_regex_extract_all` | pattern, text | JSON array of every match's groups (strings where the pattern has one group, arrays of strings otherwise); null when no match |
//! | `threatgate_regex_replace` | pattern, replacement (the `regex` crate's `$1` syntax), text | the text with every match replaced |
//! | `threatgate_regex_count` | pattern, text | the number of (non-overlapping) matches |
//! | `threatgate_count_occurrences` | text, part | how many times the part occurs, overlapping occurrences counted |
//! | `threatgate_base64_decode` | text | the UTF-8 text it encodes (U+0000 dropped); null when not base64 or not UTF-8 |
//! | `threatgate_base64_encode` | text | the base64 of its UTF-8 bytes |
//! | `threatgate_url_decode` | text | `%XX` escapes decoded; null when the result is not UTF-8 |
//! | `threatgate_ipv4_is_private` | text | 1 within 10/8, 172.16/12 or 192.168/16, else 0; null when not IPv4 (prefix notation taken) |
//! | `threatgate_ipv4_is_in_range` | address, range | 1 when the address (or network) lies within the range, else 0; null when either is not IPv4 |
//! | `threatgate_sha256` | text | the SHA-256 of its UTF-8 bytes, lowercase hex |
//! | `threatgate_parse_url` | text | KQL's `parse_url` bag as JSON (`Scheme`, `Host`, `Port`, `Path`, `Username`, `Password`, `Query Parameters`, `Fragment`) |
//! | `threatgate_parse_url_query` | text | KQL's `parse_urlquery`: `{"Query Parameters": {…}}` |
//! | `threatgate_parse_path` | text | KQL's `parse_path` bag as JSON (`Scheme`, `RootPath`, `DirectoryPath`, `DirectoryName`, `Filename`, `Extension`, `AlternateDataStreamName`) |
//! | `threatgate_parse_timespan` | text | a .NET timespan (`[-][d.]hh:mm[:ss[.fffffff]]`) in ticks; null when not one |
//! | `threatgate_make_bag` (aggregate) | JSON text | the group's JSON objects merged (a key's first value kept; anything else left out; at most 100,000 keys), `{}` for none |
//! | `threatgate_percentile` (aggregate) | value, percent (0 to 100) | the group's nearest-rank percentile (a whole number stays whole); null for no values; an error past 1,000,000 values in a group |
//!
//! A null argument gives a null result.

mod ffi;
pub mod functions;

pub use ffi::register;
