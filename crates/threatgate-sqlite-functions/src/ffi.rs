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
static FUNCTIONS: [Function; 15] = [
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
    Function {
        name: c"threatgate_parse_url",
        arity: 1,
        body: |args| Ok(args[0].text().map(|t| functions::parse_url(&t)).into()),
    },
    Function {
        name: c"threatgate_parse_url_query",
        arity: 1,
        body: |args| Ok(args[0].text().map(|t| functions::parse_url_query(&t)).into()),
    },
    Function {
        name: c"threatgate_parse_path",
        arity: 1,
        body: |args| Ok(args[0].text().map(|t| functions::parse_path(&t)).into()),
    },
    Function {
        name: c"threatgate_parse_timespan",
        arity: 1,
        body: |args| Ok(args[0].text().and_then(|t| functions::parse_timespan(&t)).into()),
    },
];

type Step = unsafe extern "C" fn(*mut sqlite::sqlite3_context, c_int, *mut *mut sqlite::sqlite3_value);
type Final = unsafe extern "C" fn(*mut sqlite::sqlite3_context);

/// The aggregates: name, number of arguments, and the callbacks for a row and for the end.
const AGGREGATES: [(&CStr, c_int, Step, Final); 2] = [
    (c"threatgate_percentile", 2, percentile_step, percentile_final),
    (c"threatgate_make_bag", 1, make_bag_step, make_bag_final),
];

/// Adds every function to the connection (for `SqlitePoolOptions::after_connect`).
pub async fn register(connection: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    for (name, arity, step, last) in AGGREGATES {
        // SAFETY: as below; the aggregates' callbacks take no user data.
        let code = unsafe {
            sqlite::sqlite3_create_function_v2(
                db,
                name.as_ptr(),
                arity,
                sqlite::SQLITE_UTF8 | sqlite::SQLITE_DETERMINISTIC,
                std::ptr::null_mut(),
                None,
                Some(step),
                Some(last),
                None,
            )
        };
        if code != sqlite::SQLITE_OK {
            let name = name.to_string_lossy();
            return Err(sqlx::Error::Configuration(
                format!("SQLite refused to add the aggregate {name} (result code {code})").into(),
            ));
        }
    }
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

/// A group's state for `threatgate_percentile`: its values and the percentile asked.
#[derive(Default)]
struct PercentileState {
    values: Vec<functions::Number>,
    percent: Option<f64>,
    too_many: bool,
}

/// A group's state, created on its first row: SQLite's aggregate context holds a pointer to
/// it (zeroed until then); the aggregate's final callback takes it back with `Box::from_raw`.
///
/// # Safety
/// `context` must be the current call's, of an aggregate whose state is always a `T`.
unsafe fn aggregate_state<'a, T: Default>(context: *mut sqlite::sqlite3_context, create: bool) -> Option<&'a mut T> {
    let size = if create { c_int::try_from(std::mem::size_of::<*mut T>()).unwrap_or(8) } else { 0 };
    // SAFETY: SQLite returns the same zeroed block for every call of one group (null when
    // `size` is 0 and the group never had a row, or when out of memory).
    let slot = unsafe { sqlite::sqlite3_aggregate_context(context, size) }.cast::<*mut T>();
    if slot.is_null() {
        return None;
    }
    // SAFETY: the block is ours, aligned by SQLite for any pointer.
    unsafe {
        if (*slot).is_null() {
            if !create {
                return None;
            }
            *slot = Box::into_raw(Box::default());
        }
        Some(&mut **slot)
    }
}

/// The group's state, taken back at its end (`None` when the group had no row).
///
/// # Safety
/// As [`aggregate_state`]; called once per group, from the final callback.
unsafe fn take_aggregate_state<T: Default>(context: *mut sqlite::sqlite3_context) -> Option<Box<T>> {
    // SAFETY: the state was made by `Box::into_raw` in `aggregate_state` and is taken back
    // exactly once, here; the slot is not read again.
    unsafe { aggregate_state::<T>(context, false).map(|state| Box::from_raw(std::ptr::from_mut(state))) }
}

/// `threatgate_percentile(value, percent)`, one row: keeps a non-null number.
unsafe extern "C" fn percentile_step(
    context: *mut sqlite::sqlite3_context,
    count: c_int,
    values: *mut *mut sqlite::sqlite3_value,
) {
    if count != 2 || values.is_null() {
        return unsafe { error(context, "threatgate_percentile takes a value and a percent") };
    }
    // SAFETY: SQLite passes `count` valid values for the call.
    let (value, percent) = unsafe { (*values, *values.add(1)) };
    // SAFETY: this call's context; the aggregate's state is a `PercentileState`.
    let Some(state) = (unsafe { aggregate_state::<PercentileState>(context, true) }) else {
        return unsafe { sqlite::sqlite3_result_error_nomem(context) };
    };
    // SAFETY: values of this call.
    unsafe {
        if state.percent.is_none() && sqlite::sqlite3_value_type(percent) != sqlite::SQLITE_NULL {
            state.percent = Some(sqlite::sqlite3_value_double(percent));
        }
        let number = match sqlite::sqlite3_value_type(value) {
            sqlite::SQLITE_INTEGER => functions::Number::Int(sqlite::sqlite3_value_int64(value)),
            sqlite::SQLITE_FLOAT => functions::Number::Real(sqlite::sqlite3_value_double(value)),
            _ => return,
        };
        if state.values.len() >= functions::MAX_PERCENTILE_VALUES {
            state.too_many = true;
            return;
        }
        state.values.push(number);
    }
}

/// `threatgate_percentile`, the group's end: the percentile, and the state freed.
unsafe extern "C" fn percentile_final(context: *mut sqlite::sqlite3_context) {
    // SAFETY: this call's context, at the group's end.
    let Some(mut state) = (unsafe { take_aggregate_state::<PercentileState>(context) }) else {
        return unsafe { sqlite::sqlite3_result_null(context) };
    };
    if state.too_many {
        let message = format!(
            "percentile over more than {} values in one group is not supported",
            functions::MAX_PERCENTILE_VALUES
        );
        return unsafe { error(context, &message) };
    }
    let percent = state.percent.unwrap_or(50.0);
    // SAFETY: this call's context.
    unsafe {
        match functions::percentile(&mut state.values, percent) {
            None => sqlite::sqlite3_result_null(context),
            Some(functions::Number::Int(n)) => sqlite::sqlite3_result_int64(context, n),
            Some(functions::Number::Real(x)) => sqlite::sqlite3_result_double(context, x),
        }
    }
}

/// A group's state for `threatgate_make_bag`: the merged bag.
#[derive(Default)]
struct BagState {
    bag: functions::Bag,
}

/// `threatgate_make_bag(json)`, one row: merges a JSON object (other values are skipped).
unsafe extern "C" fn make_bag_step(
    context: *mut sqlite::sqlite3_context,
    count: c_int,
    values: *mut *mut sqlite::sqlite3_value,
) {
    if count != 1 || values.is_null() {
        return unsafe { error(context, "threatgate_make_bag takes one value") };
    }
    // SAFETY: SQLite passes one valid value for the call.
    let value = unsafe { *values };
    // SAFETY: this call's context; the aggregate's state is a `BagState`.
    let Some(state) = (unsafe { aggregate_state::<BagState>(context, true) }) else {
        return unsafe { sqlite::sqlite3_result_error_nomem(context) };
    };
    // SAFETY: a value of this call.
    if let Ok(Arg::Text(text)) = unsafe { arg(value) } {
        state.bag.merge(text);
    }
}

/// `threatgate_make_bag`, the group's end: the bag as JSON text (`{}` when nothing merged).
unsafe extern "C" fn make_bag_final(context: *mut sqlite::sqlite3_context) {
    // SAFETY: this call's context, at the group's end.
    let text =
        unsafe { take_aggregate_state::<BagState>(context) }.map_or_else(|| "{}".to_owned(), |s| s.bag.to_json());
    // SAFETY: this call's context; SQLite copies the text.
    unsafe {
        sqlite::sqlite3_result_text64(
            context,
            text.as_ptr().cast(),
            text.len() as u64,
            sqlite::SQLITE_TRANSIENT(),
            sqlite::SQLITE_UTF8 as u8,
        );
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

    #[tokio::test]
    async fn percentile_is_an_aggregate_of_nearest_rank() {
        let mut connection = connection().await;
        let values = "(VALUES (445), (443), (80), (443), (443), (NULL))";
        for (percent, expected) in [(0, "80"), (20, "80"), (50, "443"), (90, "445"), (100, "445")] {
            let sql = format!("SELECT CAST(threatgate_percentile(column1, {percent}) AS TEXT) FROM {values}");
            let answer: Option<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut connection)
                .await
                .map(|row| row.get::<Option<String>, _>(0))
                .unwrap();
            assert_eq!(answer.as_deref(), Some(expected), "p{percent}");
        }
        let real = one(
            &mut connection,
            "SELECT CAST(threatgate_percentile(column1, 50) AS TEXT) FROM (VALUES (1.5), (0.5), (2.5))",
        );
        assert_eq!(real.await.unwrap().as_deref(), Some("1.5"));
        // No rows, and groups each with a state of their own.
        let empty = one(&mut connection, "SELECT threatgate_percentile(column1, 50) FROM (VALUES (1)) WHERE 0");
        assert_eq!(empty.await.unwrap(), None);
        let grouped = one(
            &mut connection,
            "SELECT group_concat(p, ',') FROM (SELECT column1 AS g, threatgate_percentile(column2, 50) AS p FROM (VALUES (1, 10), (1, 30), (2, 7)) GROUP BY column1 ORDER BY column1)",
        );
        assert_eq!(grouped.await.unwrap().as_deref(), Some("10,7"));
    }

    #[tokio::test]
    async fn make_bag_merges_objects_per_group() {
        let mut connection = connection().await;
        let merged = one(
            &mut connection,
            r#"SELECT threatgate_make_bag(column1) FROM (VALUES ('{"a":1}'), ('[1]'), ('not json'), (NULL), ('{"a":2,"b":[true]}'))"#,
        );
        assert_eq!(merged.await.unwrap().as_deref(), Some(r#"{"a":1,"b":[true]}"#));
        let none = one(&mut connection, "SELECT threatgate_make_bag(column1) FROM (VALUES ('{}')) WHERE 0");
        assert_eq!(none.await.unwrap().as_deref(), Some("{}"));
        let grouped = one(
            &mut connection,
            r#"SELECT group_concat(b, ';') FROM (SELECT threatgate_make_bag(column2) AS b FROM (VALUES (1, '{"x":1}'), (2, '{"y":2}'), (1, '{"z":3}')) GROUP BY column1 ORDER BY column1)"#,
        );
        assert_eq!(grouped.await.unwrap().as_deref(), Some(r#"{"x":1,"z":3};{"y":2}"#));
    }
}
