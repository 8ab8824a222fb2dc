//! The bridge from SQLite's C API to [`crate::functions`]: registration on a connection that
//! sqlx holds (so the handle is valid and locked), one trampoline for every function, and the
//! conversions of arguments and results. The only `unsafe` code of the workspace.
#![allow(unsafe_code)]

use std::borrow::Cow;
use std::ffi::{CStr, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use libsqlite3_sys as sqlite;
use sqlx::SqliteConnection;

use crate::functions;

/// An argument as SQLite passed it.
enum Arg<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl Arg<'_> {
    /// The argument as text (a number as its digits); `None` for null.
    fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Arg::Null => None,
            Arg::Int(value) => Some(Cow::Owned(value.to_string())),
            Arg::Text(text) => Some(Cow::Borrowed(text)),
        }
    }

    /// The argument as a whole number; `None` for null or text that is not one.
    fn int(&self) -> Option<i64> {
        match self {
            Arg::Null => None,
            Arg::Int(value) => Some(*value),
            Arg::Text(text) => text.trim().parse().ok(),
        }
    }
}

/// A function's result.
enum Out {
    Null,
    Int(i64),
    Text(String),
}

impl From<Option<String>> for Out {
    fn from(text: Option<String>) -> Self {
        text.map_or(Out::Null, Out::Text)
    }
}

impl From<Option<i64>> for Out {
    fn from(number: Option<i64>) -> Self {
        number.map_or(Out::Null, Out::Int)
    }
}

/// A SQL function: its name, number of arguments, and body.
struct Function {
    name: &'static CStr,
    arity: usize,
    body: fn(&[Arg<'_>]) -> Result<Out, String>,
}

/// Every function this crate adds (see the crate's documentation for each).
static FUNCTIONS: [Function; 11] = [
    Function {
        name: c"threatgate_regex_extract",
        arity: 3,
        body: |args| {
            let (Some(pattern), Some(group), Some(text)) = (args[0].text(), args[1].int(), args[2].text()) else {
                return Ok(Out::Null);
            };
            functions::extract(&pattern, group, &text).map(Out::from)
        },
    },
    Function {
        name: c"threatgate_regex_extract_all",
        arity: 2,
        body: |args| {
            let (Some(pattern), Some(text)) = (args[0].text(), args[1].text()) else { return Ok(Out::Null) };
            functions::extract_all(&pattern, &text).map(Out::from)
        },
    },
    Function {
        name: c"threatgate_regex_replace",
        arity: 3,
        body: |args| {
            let (Some(pattern), Some(replacement), Some(text)) = (args[0].text(), args[1].text(), args[2].text())
            else {
                return Ok(Out::Null);
            };
            functions::replace(&pattern, &replacement, &text).map(Out::Text)
        },
    },
    Function {
        name: c"threatgate_regex_count",
        arity: 2,
        body: |args| {
            let (Some(pattern), Some(text)) = (args[0].text(), args[1].text()) else { return Ok(Out::Null) };
            functions::count(&pattern, &text).map(Out::Int)
        },
    },
    Function {
        name: c"threatgate_count_occurrences",
        arity: 2,
        body: |args| {
            let (Some(text), Some(part)) = (args[0].text(), args[1].text()) else { return Ok(Out::Null) };
            Ok(Out::Int(functions::count_occurrences(&text, &part)))
        },
    },
    Function {
        name: c"threatgate_base64_decode",
        arity: 1,
        body: |args| Ok(args[0].text().and_then(|t| functions::base64_decode(&t)).into()),
    },
    Function {
        name: c"threatgate_base64_encode",
        arity: 1,
        body: |args| Ok(args[0].text().map(|t| functions::base64_encode(&t)).into()),
    },
    Function {
        name: c"threatgate_url_decode",
        arity: 1,
        body: |args| Ok(args[0].text().and_then(|t| functions::url_decode(&t)).into()),
    },
    Function {
        name: c"threatgate_ipv4_is_private",
        arity: 1,
        body: |args| Ok(args[0].text().and_then(|t| functions::ipv4_is_private(&t)).map(i64::from).into()),
    },
    Function {
        name: c"threatgate_ipv4_is_in_range",
        arity: 2,
        body: |args| {
            let (Some(ip), Some(range)) = (args[0].text(), args[1].text()) else { return Ok(Out::Null) };
            Ok(functions::ipv4_is_in_range(&ip, &range).map(i64::from).into())
        },
    },
    Function {
        name: c"threatgate_sha256",
        arity: 1,
        body: |args| Ok(args[0].text().map(|t| functions::sha256_hex(&t)).into()),
    },
];

/// Adds every function to the connection (for `SqlitePoolOptions::after_connect`).
pub async fn register(connection: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    for function in &FUNCTIONS {
        let arity = c_int::try_from(function.arity).unwrap_or(c_int::MAX);
        // SAFETY: `db` is the open connection that sqlx locked for us until `handle` drops;
        // the name is NUL-terminated and static; the user data points at a static `Function`
        // that outlives the connection, so no destructor is needed.
        let code = unsafe {
            sqlite::sqlite3_create_function_v2(
                db,
                function.name.as_ptr(),
                arity,
                sqlite::SQLITE_UTF8 | sqlite::SQLITE_DETERMINISTIC,
                std::ptr::from_ref(function).cast_mut().cast::<c_void>(),
                Some(trampoline),
                None,
                None,
                None,
            )
        };
        if code != sqlite::SQLITE_OK {
            let name = function.name.to_string_lossy();
            return Err(sqlx::Error::Configuration(
                format!("SQLite refused to add the function {name} (result code {code})").into(),
            ));
        }
    }
    Ok(())
}

/// What SQLite calls for each of the functions: converts the arguments, runs the body (a panic
/// becomes an SQL error, never unwinds into C), and sets the result.
unsafe extern "C" fn trampoline(
    context: *mut sqlite::sqlite3_context,
    count: c_int,
    values: *mut *mut sqlite::sqlite3_value,
) {
    // SAFETY: SQLite calls this with the user data given at registration (a `&'static
    // Function`), and `values` pointing at `count` valid values for the call's duration.
    let function = unsafe { &*sqlite::sqlite3_user_data(context).cast::<Function>() };
    let count = usize::try_from(count).unwrap_or(0);
    let values: &[*mut sqlite::sqlite3_value] =
        if values.is_null() || count == 0 { &[] } else { unsafe { std::slice::from_raw_parts(values, count) } };
    let mut args = Vec::with_capacity(values.len());
    for &value in values {
        // SAFETY: a value SQLite passed for this call.
        match unsafe { arg(value) } {
            Ok(arg) => args.push(arg),
            Err(message) => return unsafe { error(context, &message) },
        }
    }
    if args.len() != function.arity {
        return unsafe { error(context, "wrong number of arguments") };
    }
    let result = catch_unwind(AssertUnwindSafe(|| (function.body)(&args)))
        .unwrap_or_else(|_| Err(format!("{} failed", function.name.to_string_lossy())));
    // SAFETY: `context` is this call's; text is copied by SQLite (SQLITE_TRANSIENT).
    unsafe {
        match result {
            Ok(Out::Null) => sqlite::sqlite3_result_null(context),
            Ok(Out::Int(value)) => sqlite::sqlite3_result_int64(context, value),
            Ok(Out::Text(text)) => sqlite::sqlite3_result_text64(
                context,
                text.as_ptr().cast(),
                text.len() as u64,
                sqlite::SQLITE_TRANSIENT(),
                sqlite::SQLITE_UTF8 as u8,
            ),
            Err(message) => error(context, &message),
        }
    }
}

/// One argument, borrowed from SQLite for the call.
///
/// # Safety
/// `value` must be a value SQLite passed to the current call.
unsafe fn arg<'a>(value: *mut sqlite::sqlite3_value) -> Result<Arg<'a>, String> {
    unsafe {
        match sqlite::sqlite3_value_type(value) {
            sqlite::SQLITE_NULL => Ok(Arg::Null),
            sqlite::SQLITE_INTEGER => Ok(Arg::Int(sqlite::sqlite3_value_int64(value))),
            _ => {
                // Text as UTF-8 (SQLite converts reals and blobs); the pointer is valid until the
                // value changes, which it does not during the call.
                let text = sqlite::sqlite3_value_text(value);
                let length = usize::try_from(sqlite::sqlite3_value_bytes(value)).unwrap_or(0);
                if text.is_null() {
                    return Ok(Arg::Text(""));
                }
                let bytes = std::slice::from_raw_parts(text, length);
                std::str::from_utf8(bytes).map(Arg::Text).map_err(|_| "an argument is not UTF-8 text".to_owned())
            }
        }
    }
}

/// Ends the call with an SQL error carrying `message`.
///
/// # Safety
/// `context` must be the current call's.
unsafe fn error(context: *mut sqlite::sqlite3_context, message: &str) {
    let length = c_int::try_from(message.len()).unwrap_or(c_int::MAX);
    // SAFETY: SQLite copies the message.
    unsafe { sqlite::sqlite3_result_error(context, message.as_ptr().cast(), length) }
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, Row};

    use super::*;

    async fn connection() -> SqliteConnection {
        let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap_or_else(|e| unreachable!("{e}"));
        register(&mut connection).await.unwrap_or_else(|e| unreachable!("{e}"));
        connection
    }

    async fn one(connection: &mut SqliteConnection, sql: &'static str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query(sql).fetch_one(connection).await.map(|row| row.get::<Option<String>, _>(0))
    }

    #[tokio::test]
    async fn the_functions_answer_in_sql() {
        let mut c = connection().await;
        let cases = [
            ("SELECT threatgate_regex_extract('-p ([0-9]+)', 1, 'ssh -p 22')", Some("22")),
            ("SELECT threatgate_regex_extract('(x)', '1', 'x')", Some("x")),
            ("SELECT threatgate_regex_extract('(x)', 1, NULL)", None),
            ("SELECT threatgate_regex_extract_all('(\\d)', 'a1b2')", Some(r#"["1","2"]"#)),
            ("SELECT threatgate_regex_replace('(a)', '<$1>', 'banana')", Some("b<a>n<a>n<a>")),
            ("SELECT CAST(threatgate_regex_count('\\d', 12345) AS TEXT)", Some("5")),
            ("SELECT CAST(threatgate_count_occurrences('aaaa', 'aa') AS TEXT)", Some("3")),
            ("SELECT threatgate_base64_decode('aGVsbG8=')", Some("hello")),
            ("SELECT threatgate_base64_decode('***')", None),
            ("SELECT threatgate_base64_encode('hello')", Some("aGVsbG8=")),
            ("SELECT threatgate_url_decode('a%20b')", Some("a b")),
            ("SELECT CAST(threatgate_ipv4_is_private('10.1.2.3/24') AS TEXT)", Some("1")),
            ("SELECT CAST(threatgate_ipv4_is_private('8.8.8.8') AS TEXT)", Some("0")),
            ("SELECT CAST(threatgate_ipv4_is_private('nope') AS TEXT)", None),
            ("SELECT CAST(threatgate_ipv4_is_in_range('192.168.1.1', '192.168.2.1/16') AS TEXT)", Some("1")),
            (
                "SELECT threatgate_sha256('abc')",
                Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(one(&mut c, sql).await.ok().flatten().as_deref(), expected, "{sql}");
        }
    }

    #[tokio::test]
    async fn a_bad_pattern_is_an_sql_error_naming_the_regex() {
        let mut c = connection().await;
        let error = one(&mut c, "SELECT threatgate_regex_extract('(', 0, 'x')").await.err().map(|e| e.to_string());
        assert!(error.as_deref().is_some_and(|e| e.contains("regex")), "{error:?}");
        let error = one(&mut c, "SELECT threatgate_regex_count('a')").await.err().map(|e| e.to_string());
        assert!(error.is_some(), "a wrong number of arguments is refused by SQLite");
    }
}
