//! The functions a query may call: scalar functions (any expression) and aggregations (in
//! `summarize` only), with the argument types each accepts and the type it returns.

use crate::schema::Type;

/// A scalar function of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Not,
    IsEmpty,
    IsNotEmpty,
    IsNull,
    IsNotNull,
    Iff,
    Case,
    Strcat,
    ToLower,
    ToUpper,
    Strlen,
    Substring,
    Split,
    ToString,
    ToInt,
    ToLong,
    ToDouble,
    Ago,
    Now,
    Bin,
    StartOfDay,
    FormatDatetime,
    /// `parse_json`, `todynamic`: a string's JSON as a dynamic value (the string itself where it
    /// is not JSON).
    ParseJson,
    /// `parse_url(u)`: a bag of the URL's `Scheme`, `Host`, `Port`, `Path`, `Username`,
    /// `Password`, `Query Parameters` (a bag) and `Fragment` ("" where the URL has none or is
    /// not one).
    ParseUrl,
    /// `parse_urlquery(q)`: `{"Query Parameters": {…}}` of a URL's query part.
    ParseUrlQuery,
    /// `parse_path(p)`: a bag of the file path's `Scheme`, `RootPath`, `DirectoryPath`,
    /// `DirectoryName`, `Filename`, `Extension` and `AlternateDataStreamName`.
    ParsePath,
    /// `totimespan(x)`, `totime`: a timespan as .NET writes one (`[-][d.]hh:mm[:ss[.fffffff]]`)
    /// as a timespan, null where it is not one; a timespan stays itself.
    ToTimeSpan,
    HourOfDay,
    /// The days since Sunday, as a timespan.
    DayOfWeek,
    DayOfMonth,
    GetMonth,
    GetYear,
    Abs,
    /// `round(x[, digits])`.
    Round,
    Sqrt,
    Exp,
    /// The natural logarithm.
    Log,
    Log10,
    Pow,
    IsNan,
    /// `todatetime`: an ISO 8601 text as a datetime (null where it is not one).
    ToDateTime,
    /// `tobool`, `toboolean`: "true"/"false" (any case) and 1/0.
    ToBool,
    ArrayLength,
    PackArray,
    Countof,
    IndexOf,
    ReplaceString,
    Coalesce,
    StrcatArray,
    SetHasElement,
    /// `extract(regex, group, text)`: the group's text of the first match, "" where none.
    /// Arguments: the pattern (a string literal, RE2), the group, the text. The regular
    /// expression functions are bound by `Binder::regex_call`, which checks the pattern.
    RegexExtract,
    /// `extract_all(regex, text)`: every match's groups, as a dynamic array (null: no match).
    /// Arguments: the pattern, the text.
    RegexExtractAll,
    /// `replace_regex(text, regex, rewrite)`, `replace(regex, rewrite, text)`: every match
    /// replaced. Arguments: the pattern, the rewrite (a string literal, `\1` for a group), the
    /// text.
    RegexReplace,
    /// `countof(text, regex, "regex")`: the number of matches. Arguments: the pattern, the text.
    RegexCount,
    /// `base64_decode_tostring`: the UTF-8 text a base64 string encodes (null characters
    /// dropped); "" where it is not base64 of UTF-8.
    Base64Decode,
    /// `base64_encode_tostring`: the base64 of a string's UTF-8 bytes.
    Base64Encode,
    /// `url_decode`: `%XX` escapes decoded; "" where the result is not UTF-8.
    UrlDecode,
    /// `bag_pack(key, value, …)`, `pack`: a property bag of the pairs.
    BagPack,
    /// `ipv4_is_private(ip)`: in 10/8, 172.16/12 or 192.168/16; null where not IPv4.
    Ipv4IsPrivate,
    /// `ipv4_is_in_range(ip, range)`: both in IPv4 prefix notation; null where either is not.
    Ipv4IsInRange,
    /// `hash_sha256(text)`: the SHA-256 of its UTF-8 bytes, lowercase hex.
    HashSha256,
    /// `row_number([start])`: the row's place in its serialized input, from `start` (1).
    /// Bound only over a serialized input (after `sort`, `top` or `serialize`).
    RowNumber,
    /// `prev(x[, offset[, default]])`: `x` of the row `offset` (1) before, or `default`
    /// (null). Serialized inputs only.
    Prev,
    /// `next(x[, offset[, default]])`: as `prev`, after.
    Next,
}

/// An aggregation of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    CountIf,
    DCount,
    Sum,
    Avg,
    Min,
    Max,
    MakeSet,
    /// `make_list`, `makelist`: every non-null value, in the group's order.
    MakeList,
    /// `dcountif(x, predicate)`.
    DCountIf,
    /// `sumif(x, predicate)`.
    SumIf,
    /// `make_set_if(x, predicate)`.
    MakeSetIf,
    /// `make_list_if(x, predicate)`.
    MakeListIf,
    /// `any`, `take_any`: a value of the group (here, the least).
    Any,
    ArgMax,
    ArgMin,
    /// `stdev`, `variance`: of the group as a sample (n - 1); `stdevp`, `variancep`: as the
    /// population (n). 0 for one value, null for none.
    Stdev,
    Variance,
    StdevP,
    VarianceP,
    /// `percentile(x, p)` (and each of `percentiles(x, p1, p2, …)`): the group's nearest-rank
    /// percentile, of `x`'s type; `p` a number written in the query, 0 to 100.
    Percentile,
    /// `make_bag(bag[, maxSize])`: the group's property bags merged into one (the first value
    /// of a key kept; values that are not bags left out); `{}` for none.
    MakeBag,
}

impl Scalar {
    pub fn lookup(name: &str) -> Option<Scalar> {
        Some(match name {
            "not" => Scalar::Not,
            "isempty" => Scalar::IsEmpty,
            "isnotempty" => Scalar::IsNotEmpty,
            "isnull" => Scalar::IsNull,
            "isnotnull" => Scalar::IsNotNull,
            "iff" | "iif" => Scalar::Iff,
            "case" => Scalar::Case,
            "strcat" => Scalar::Strcat,
            "tolower" => Scalar::ToLower,
            "toupper" => Scalar::ToUpper,
            "strlen" => Scalar::Strlen,
            "substring" => Scalar::Substring,
            "split" => Scalar::Split,
            "tostring" => Scalar::ToString,
            "toint" => Scalar::ToInt,
            "tolong" => Scalar::ToLong,
            "todouble" | "toreal" => Scalar::ToDouble,
            "ago" => Scalar::Ago,
            "now" => Scalar::Now,
            "bin" | "floor" => Scalar::Bin,
            "startofday" => Scalar::StartOfDay,
            "format_datetime" => Scalar::FormatDatetime,
            "parse_json" | "parsejson" | "todynamic" | "toobject" => Scalar::ParseJson,
            "abs" => Scalar::Abs,
            "hourofday" => Scalar::HourOfDay,
            "dayofweek" => Scalar::DayOfWeek,
            "dayofmonth" => Scalar::DayOfMonth,
            "getmonth" | "monthofyear" => Scalar::GetMonth,
            "getyear" => Scalar::GetYear,
            "round" => Scalar::Round,
            "sqrt" => Scalar::Sqrt,
            "exp" => Scalar::Exp,
            "log" => Scalar::Log,
            "log10" => Scalar::Log10,
            "pow" => Scalar::Pow,
            "isnan" => Scalar::IsNan,
            "array_length" => Scalar::ArrayLength,
            "tobool" | "toboolean" => Scalar::ToBool,
            "todatetime" => Scalar::ToDateTime,
            "totimespan" | "totime" => Scalar::ToTimeSpan,
            "parse_url" | "parseurl" => Scalar::ParseUrl,
            "parse_urlquery" | "parseurlquery" => Scalar::ParseUrlQuery,
            "parse_path" => Scalar::ParsePath,
            "pack_array" => Scalar::PackArray,
            "countof" => Scalar::Countof,
            "indexof" => Scalar::IndexOf,
            "replace_string" => Scalar::ReplaceString,
            "coalesce" => Scalar::Coalesce,
            "strcat_array" => Scalar::StrcatArray,
            "set_has_element" => Scalar::SetHasElement,
            "base64_decode_tostring" | "base64_decodestring" => Scalar::Base64Decode,
            "base64_encode_tostring" | "base64_encodestring" => Scalar::Base64Encode,
            "url_decode" => Scalar::UrlDecode,
            "bag_pack" | "pack" => Scalar::BagPack,
            "ipv4_is_private" => Scalar::Ipv4IsPrivate,
            "ipv4_is_in_range" => Scalar::Ipv4IsInRange,
            "hash_sha256" => Scalar::HashSha256,
            _ => return None,
        })
    }

    /// The result type for arguments of `args` types, or what is wrong with them.
    pub fn result_type(self, args: &[Type]) -> Result<Type, String> {
        use Type::*;
        let count = |range: std::ops::RangeInclusive<usize>| {
            if range.contains(&args.len()) {
                Ok(())
            } else if range.start() == range.end() {
                Err(format!("expects {} argument(s), got {}", range.start(), args.len()))
            } else {
                Err(format!("expects {} to {} arguments, got {}", range.start(), range.end(), args.len()))
            }
        };
        let want = |index: usize, accepts: &dyn Fn(Type) -> bool, what: &str| match args.get(index) {
            Some(ty) if accepts(*ty) => Ok(()),
            Some(ty) => Err(format!("argument {} must be {what}, not {}", index + 1, ty.kql_name())),
            None => Ok(()),
        };
        let string = |t: Type| t == String;
        let numeric = |t: Type| t.is_numeric();
        let datetime = |t: Type| t == DateTime;
        let timespan = |t: Type| t == TimeSpan;
        let boolean = |t: Type| t == Bool;
        match self {
            Scalar::Not => {
                count(1..=1)?;
                want(0, &boolean, "a bool")?;
                Ok(Bool)
            }
            Scalar::IsEmpty | Scalar::IsNotEmpty | Scalar::IsNull | Scalar::IsNotNull => {
                count(1..=1)?;
                Ok(Bool)
            }
            Scalar::Iff => {
                count(3..=3)?;
                want(0, &boolean, "a bool")?;
                unify(args[1], args[2]).ok_or_else(|| {
                    format!("its two results differ in type ({} and {})", args[1].kql_name(), args[2].kql_name())
                })
            }
            Scalar::Case => {
                if args.len() < 3 || args.len().is_multiple_of(2) {
                    return Err("expects pairs of condition and value, then a value for else".into());
                }
                let mut ty = args[args.len() - 1];
                for pair in args[..args.len() - 1].chunks(2) {
                    if pair[0] != Bool {
                        return Err(format!("conditions must be bool, not {}", pair[0].kql_name()));
                    }
                    ty = unify(ty, pair[1]).ok_or("its values differ in type")?;
                }
                Ok(ty)
            }
            Scalar::Strcat => {
                count(1..=64)?;
                Ok(String)
            }
            Scalar::ToLower | Scalar::ToUpper => {
                count(1..=1)?;
                want(0, &string, "a string")?;
                Ok(String)
            }
            Scalar::Strlen => {
                count(1..=1)?;
                want(0, &string, "a string")?;
                Ok(Long)
            }
            Scalar::Substring => {
                count(2..=3)?;
                want(0, &string, "a string")?;
                want(1, &numeric, "a number")?;
                want(2, &numeric, "a number")?;
                Ok(String)
            }
            Scalar::Split => {
                count(2..=3)?;
                want(0, &string, "a string")?;
                want(1, &string, "a string")?;
                want(2, &numeric, "a number")?;
                Ok(Dynamic)
            }
            Scalar::ToString => {
                count(1..=1)?;
                Ok(String)
            }
            Scalar::ToInt => {
                count(1..=1)?;
                Ok(Int)
            }
            Scalar::ToLong => {
                count(1..=1)?;
                Ok(Long)
            }
            Scalar::ToDouble => {
                count(1..=1)?;
                Ok(Real)
            }
            Scalar::Ago => {
                count(1..=1)?;
                want(0, &timespan, "a timespan")?;
                Ok(DateTime)
            }
            Scalar::Now => {
                count(0..=1)?;
                want(0, &timespan, "a timespan")?;
                Ok(DateTime)
            }
            Scalar::Bin => {
                count(2..=2)?;
                match (args[0], args[1]) {
                    (DateTime, TimeSpan) => Ok(DateTime),
                    (TimeSpan, TimeSpan) => Ok(TimeSpan),
                    (a, b) if a.is_numeric() && b.is_numeric() => Ok(a),
                    (a, b) => Err(format!("cannot round a {} to a multiple of a {}", a.kql_name(), b.kql_name())),
                }
            }
            Scalar::ParseJson => {
                count(1..=1)?;
                want(0, &|t| t == String || t == Dynamic, "a string")?;
                Ok(Dynamic)
            }
            Scalar::ToBool => {
                count(1..=1)?;
                Ok(Bool)
            }
            Scalar::ToDateTime => {
                count(1..=1)?;
                want(0, &|t| t == String || t == DateTime, "a string or a datetime")?;
                Ok(DateTime)
            }
            Scalar::ToTimeSpan => {
                count(1..=1)?;
                want(0, &|t| t == String || t == TimeSpan, "a string or a timespan")?;
                Ok(TimeSpan)
            }
            Scalar::ParseUrl | Scalar::ParseUrlQuery | Scalar::ParsePath => {
                count(1..=1)?;
                want(0, &string, "a string")?;
                Ok(Dynamic)
            }
            Scalar::HourOfDay | Scalar::DayOfWeek | Scalar::DayOfMonth | Scalar::GetMonth | Scalar::GetYear => {
                count(1..=1)?;
                want(0, &datetime, "a datetime")?;
                Ok(if self == Scalar::DayOfWeek { TimeSpan } else { Int })
            }
            Scalar::Abs => {
                count(1..=1)?;
                want(0, &|t| numeric(t) || t == TimeSpan, "a number")?;
                Ok(args[0])
            }
            Scalar::Round => {
                count(1..=2)?;
                want(0, &numeric, "a number")?;
                want(1, &numeric, "a number of digits")?;
                Ok(if args[0] == Real { Real } else { args[0] })
            }
            Scalar::Sqrt | Scalar::Exp | Scalar::Log | Scalar::Log10 => {
                count(1..=1)?;
                want(0, &numeric, "a number")?;
                Ok(Real)
            }
            Scalar::Pow => {
                count(2..=2)?;
                want(0, &numeric, "a number")?;
                want(1, &numeric, "a number")?;
                Ok(Real)
            }
            Scalar::IsNan => {
                count(1..=1)?;
                want(0, &numeric, "a number")?;
                Ok(Bool)
            }
            Scalar::ArrayLength => {
                count(1..=1)?;
                want(0, &|t| t == Dynamic, "a dynamic array")?;
                Ok(Long)
            }
            Scalar::PackArray => {
                count(1..=1024)?;
                Ok(Dynamic)
            }
            Scalar::Countof => {
                count(2..=2)?;
                want(0, &string, "a string")?;
                want(1, &string, "a string")?;
                Ok(Long)
            }
            Scalar::IndexOf => {
                count(2..=2)?;
                want(0, &string, "a string")?;
                want(1, &string, "a string")?;
                Ok(Long)
            }
            Scalar::ReplaceString => {
                count(3..=3)?;
                for i in 0..3 {
                    want(i, &string, "a string")?;
                }
                Ok(String)
            }
            Scalar::Coalesce => {
                count(2..=64)?;
                let mut ty = args[0];
                for t in &args[1..] {
                    ty = unify(ty, *t).ok_or("its values differ in type")?;
                }
                Ok(ty)
            }
            Scalar::StrcatArray => {
                count(2..=2)?;
                want(0, &|t| t == Dynamic, "a dynamic array")?;
                want(1, &string, "a string")?;
                Ok(String)
            }
            Scalar::SetHasElement => {
                count(2..=2)?;
                want(0, &|t| t == Dynamic, "a dynamic array")?;
                Ok(Bool)
            }
            Scalar::StartOfDay => {
                count(1..=1)?;
                want(0, &datetime, "a datetime")?;
                Ok(DateTime)
            }
            Scalar::FormatDatetime => {
                count(2..=2)?;
                want(0, &datetime, "a datetime")?;
                want(1, &string, "a format string")?;
                Ok(String)
            }
            Scalar::RegexExtract | Scalar::RegexReplace => {
                count(3..=3)?;
                want(0, &string, "a regular expression")?;
                if self == Scalar::RegexExtract {
                    want(1, &numeric, "a capture group number")?;
                } else {
                    want(1, &string, "a string")?;
                }
                want(2, &string, "a string")?;
                Ok(String)
            }
            Scalar::RegexExtractAll | Scalar::RegexCount => {
                count(2..=2)?;
                want(0, &string, "a regular expression")?;
                want(1, &string, "a string")?;
                Ok(if self == Scalar::RegexCount { Long } else { Dynamic })
            }
            Scalar::BagPack => {
                if args.is_empty() || !args.len().is_multiple_of(2) || args.len() > 1024 {
                    return Err("expects pairs of a key and a value (at most 512)".into());
                }
                for (i, key) in args.iter().step_by(2).enumerate() {
                    if *key != String {
                        return Err(format!("key {} must be a string, not {}", i + 1, key.kql_name()));
                    }
                }
                Ok(Dynamic)
            }
            Scalar::RowNumber => {
                count(0..=1)?;
                if args.first().is_some_and(|t| !t.is_numeric()) {
                    return Err("the start must be a number".into());
                }
                Ok(Long)
            }
            Scalar::Prev | Scalar::Next => {
                count(1..=3)?;
                if args.get(1).is_some_and(|t| !matches!(t, Int | Long)) {
                    return Err("the offset must be a whole number".into());
                }
                match args.get(2) {
                    // A whole number for a datetime or a timespan is taken as its ticks, as
                    // Kusto accepts `next(Timestamp, 1, 0)`.
                    Some(Int | Long) if matches!(args[0], DateTime | TimeSpan) => Ok(args[0]),
                    Some(default) => unify(args[0], *default)
                        .ok_or_else(|| format!("the default ({}) is not a {}", default.kql_name(), args[0].kql_name())),
                    None => Ok(args[0]),
                }
            }
            Scalar::Base64Decode | Scalar::Base64Encode | Scalar::UrlDecode | Scalar::HashSha256 => {
                count(1..=1)?;
                want(0, &string, "a string")?;
                Ok(String)
            }
            Scalar::Ipv4IsPrivate => {
                count(1..=1)?;
                want(0, &string, "a string")?;
                Ok(Bool)
            }
            Scalar::Ipv4IsInRange => {
                count(2..=2)?;
                want(0, &string, "a string")?;
                want(1, &string, "a string")?;
                Ok(Bool)
            }
        }
    }
}

impl Aggregate {
    pub fn lookup(name: &str) -> Option<Aggregate> {
        Some(match name {
            "count" => Aggregate::Count,
            "countif" => Aggregate::CountIf,
            "dcount" => Aggregate::DCount,
            "sum" => Aggregate::Sum,
            "avg" => Aggregate::Avg,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            "make_set" | "makeset" => Aggregate::MakeSet,
            "make_list" | "makelist" => Aggregate::MakeList,
            "any" | "take_any" => Aggregate::Any,
            "dcountif" => Aggregate::DCountIf,
            "sumif" => Aggregate::SumIf,
            "make_set_if" => Aggregate::MakeSetIf,
            "make_list_if" => Aggregate::MakeListIf,
            "arg_max" | "argmax" => Aggregate::ArgMax,
            "arg_min" | "argmin" => Aggregate::ArgMin,
            "stdev" => Aggregate::Stdev,
            "variance" => Aggregate::Variance,
            "stdevp" => Aggregate::StdevP,
            "variancep" => Aggregate::VarianceP,
            "percentile" | "percentiles" => Aggregate::Percentile,
            "make_bag" | "make_dictionary" => Aggregate::MakeBag,
            _ => return None,
        })
    }

    /// The prefix of the column an unnamed aggregation makes (`count_`, `dcount_RemoteIP`).
    pub fn column_prefix(self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::CountIf => "countif",
            Aggregate::DCount => "dcount",
            Aggregate::Sum => "sum",
            Aggregate::Avg => "avg",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::MakeSet => "set",
            Aggregate::MakeList => "list",
            Aggregate::DCountIf => "dcountif",
            Aggregate::SumIf => "sumif",
            Aggregate::MakeSetIf => "set",
            Aggregate::MakeListIf => "list",
            Aggregate::Any => "any",
            Aggregate::ArgMax => "max",
            Aggregate::ArgMin => "min",
            Aggregate::Stdev => "stdev",
            Aggregate::Variance => "variance",
            Aggregate::StdevP => "stdevp",
            Aggregate::VarianceP => "variancep",
            Aggregate::Percentile => "percentile",
            Aggregate::MakeBag => "bag",
        }
    }

    /// The result type of the aggregation over `args` (`arg_max`/`arg_min` are typed by the
    /// binder, since they make several columns).
    pub fn result_type(self, args: &[Type]) -> Result<Type, String> {
        use Type::*;
        let one = || if args.len() == 1 { Ok(args[0]) } else { Err(format!("expects 1 argument, got {}", args.len())) };
        match self {
            Aggregate::Count => {
                if args.is_empty() {
                    Ok(Long)
                } else {
                    Err("count() takes no argument (use countif(predicate))".into())
                }
            }
            Aggregate::CountIf => match one()? {
                Bool => Ok(Long),
                other => Err(format!("the predicate must be bool, not {}", other.kql_name())),
            },
            Aggregate::DCount => {
                if args.is_empty() || args.len() > 2 {
                    return Err("expects 1 argument (and an optional accuracy)".into());
                }
                Ok(Long)
            }
            Aggregate::Sum => summed(one()?),
            Aggregate::DCountIf | Aggregate::SumIf | Aggregate::MakeSetIf | Aggregate::MakeListIf => {
                let [value, predicate, ..] = args else {
                    return Err("expects a value and a predicate".into());
                };
                if *predicate != Bool {
                    return Err(format!("the predicate must be bool, not {}", predicate.kql_name()));
                }
                match self {
                    Aggregate::DCountIf => Ok(Long),
                    Aggregate::SumIf => summed(*value),
                    _ => Ok(Dynamic),
                }
            }
            Aggregate::Avg => match one()? {
                t if t.is_numeric() => Ok(Real),
                other => Err(format!("cannot average a {}", other.kql_name())),
            },
            Aggregate::Min | Aggregate::Max => match one()? {
                Dynamic => Err("expects a number, string, bool, datetime or timespan".into()),
                t => Ok(t),
            },
            Aggregate::MakeBag => match args {
                [Dynamic] | [Dynamic, Int | Long] => Ok(Dynamic),
                [other, ..] if *other != Dynamic => {
                    Err(format!("expects a dynamic property bag, not {}", other.kql_name()))
                }
                _ => Err("expects a property bag (and an optional maximum size)".into()),
            },
            Aggregate::Percentile => match args {
                // An int's percentile is a long, as Kusto types it.
                [Int, p] if p.is_numeric() => Ok(Long),
                [t, p] if t.is_numeric() && p.is_numeric() => Ok(*t),
                [t, _] => Err(format!("expects a number, not {}", t.kql_name())),
                _ => Err("expects a value and a percentile (0 to 100)".into()),
            },
            Aggregate::Stdev | Aggregate::Variance | Aggregate::StdevP | Aggregate::VarianceP => match one()? {
                t if t.is_numeric() => Ok(Real),
                other => Err(format!("expects a number, not {}", other.kql_name())),
            },
            Aggregate::Any => match one()? {
                Dynamic | Bool => Err("expects a number, string, datetime or timespan".into()),
                t => Ok(t),
            },
            Aggregate::MakeSet | Aggregate::MakeList => {
                if args.is_empty() || args.len() > 2 {
                    return Err("expects 1 argument (and an optional maximum size)".into());
                }
                Ok(Dynamic)
            }
            Aggregate::ArgMax | Aggregate::ArgMin => {
                if args.len() < 2 {
                    return Err("expects the expression to maximize, then the columns to return (or *)".into());
                }
                Ok(args[0])
            }
        }
    }
}

/// The type of a sum of `ty` values.
fn summed(ty: Type) -> Result<Type, String> {
    match ty {
        Type::Int | Type::Long => Ok(Type::Long),
        Type::Real => Ok(Type::Real),
        Type::TimeSpan => Ok(Type::TimeSpan),
        other => Err(format!("cannot sum a {}", other.kql_name())),
    }
}

/// The common type of two branches: the same type, or numbers widened.
pub fn unify(a: Type, b: Type) -> Option<Type> {
    use Type::*;
    match (a, b) {
        (a, b) if a == b => Some(a),
        (Real, t) | (t, Real) if t.is_numeric() => Some(Real),
        (Long, Int) | (Int, Long) => Some(Long),
        _ => None,
    }
}

/// Names of KQL functions outside the subset that a query may reasonably use, so that the error
/// says the function is not supported rather than unknown.
pub const KNOWN_UNSUPPORTED: &[&str] = &[
    "bag_unpack",
    "hash",
    "startofweek",
    "startofmonth",
    "endofday",
    "FileProfile",
    "DeviceFromIP",
    "AssignedIPAddresses",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Type::*;

    #[test]
    fn result_types_and_refusals() {
        assert_eq!(Scalar::lookup("iif"), Some(Scalar::Iff));
        assert_eq!(Scalar::Iff.result_type(&[Bool, Int, Real]), Ok(Real));
        assert!(Scalar::Iff.result_type(&[Bool, String, Long]).is_err());
        assert_eq!(Scalar::Bin.result_type(&[DateTime, TimeSpan]), Ok(DateTime));
        assert_eq!(Scalar::Bin.result_type(&[Long, Int]), Ok(Long));
        assert_eq!(Scalar::ToLower.result_type(&[Long]), Err("argument 1 must be a string, not long".to_owned()));
        assert_eq!(Scalar::Case.result_type(&[Bool, String, Bool, String, String]), Ok(String));
        assert!(Scalar::Case.result_type(&[Bool, String]).is_err());
        assert_eq!(Scalar::Now.result_type(&[]), Ok(DateTime));
        assert_eq!(Aggregate::Sum.result_type(&[Int]), Ok(Long));
        assert_eq!(Aggregate::Avg.result_type(&[Long]), Ok(Real));
        assert_eq!(Aggregate::Count.result_type(&[]), Ok(Long));
        assert!(Aggregate::Count.result_type(&[Long]).is_err());
        assert!(Aggregate::CountIf.result_type(&[String]).is_err());
        assert_eq!(Aggregate::MakeSet.column_prefix(), "set");
    }

    #[test]
    fn the_unsupported_list_names_no_supported_function() {
        for name in KNOWN_UNSUPPORTED {
            assert!(Scalar::lookup(name).is_none() && Aggregate::lookup(name).is_none(), "{name} is supported");
        }
    }
}
