//! The functions, in safe Rust, over already-converted arguments.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use regex::{Regex, RegexBuilder};

/// Most memory a pattern may compile to: the KQL binder's limit, so that what it accepts
/// compiles here.
pub const MAX_REGEX_SIZE: usize = 1 << 20;

/// Compiled patterns kept per thread (a connection runs on one thread at a time); past this
/// many the cache starts again.
const CACHED_PATTERNS: usize = 64;

thread_local! {
    static PATTERNS: RefCell<HashMap<String, Arc<Regex>>> = RefCell::new(HashMap::new());
}

/// The compiled `pattern`, or the `regex` crate's reason it is not one.
pub fn regex(pattern: &str) -> Result<Arc<Regex>, String> {
    if let Some(found) = PATTERNS.with(|cache| cache.borrow().get(pattern).cloned()) {
        return Ok(found);
    }
    let compiled = RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_SIZE)
        // RE2's octal escapes (`\0`), as the binder's check allows.
        .octal(true)
        .build()
        .map(Arc::new)
        .map_err(|error| format!("regex: {error}"))?;
    PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHED_PATTERNS {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), Arc::clone(&compiled));
    });
    Ok(compiled)
}

/// The text of capture group `group` (0: the whole match) of the first match.
pub fn extract(pattern: &str, group: i64, text: &str) -> Result<Option<String>, String> {
    let regex = regex(pattern)?;
    let Ok(group) = usize::try_from(group) else { return Ok(None) };
    Ok(regex.captures(text).and_then(|c| c.get(group)).map(|m| m.as_str().to_owned()))
}

/// Every match's capture groups as a JSON array: one string per match where the pattern has
/// one group (the whole match where it has none), an array of strings per match otherwise; a
/// group that did not take part is "". `None` when nothing matches.
pub fn extract_all(pattern: &str, text: &str) -> Result<Option<String>, String> {
    let regex = regex(pattern)?;
    let groups = regex.captures_len() - 1;
    let text_of = |m: Option<regex::Match<'_>>| serde_json::Value::String(m.map(|m| m.as_str()).unwrap_or("").into());
    let matches: Vec<serde_json::Value> = regex
        .captures_iter(text)
        .map(|c| match groups {
            0 => text_of(c.get(0)),
            1 => text_of(c.get(1)),
            _ => serde_json::Value::Array((1..=groups).map(|g| text_of(c.get(g))).collect()),
        })
        .collect();
    if matches.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(&matches).map(Some).map_err(|error| error.to_string())
}

/// `text` with every match of `pattern` replaced by `replacement` (`$1`, `${1}`, `$$`).
pub fn replace(pattern: &str, replacement: &str, text: &str) -> Result<String, String> {
    Ok(regex(pattern)?.replace_all(text, replacement).into_owned())
}

/// How many non-overlapping matches of `pattern` `text` holds.
pub fn count(pattern: &str, text: &str) -> Result<i64, String> {
    Ok(i64::try_from(regex(pattern)?.find_iter(text).count()).unwrap_or(i64::MAX))
}

/// How many times `part` occurs in `text`, overlapping occurrences counted (KQL's `countof`:
/// "aa" occurs 3 times in "aaaa"); 0 for an empty `part`.
pub fn count_occurrences(text: &str, part: &str) -> i64 {
    if part.is_empty() {
        return 0;
    }
    let mut count = 0i64;
    let mut start = 0;
    while let Some(found) = text.get(start..).and_then(|rest| rest.find(part)) {
        count += 1;
        // The next search starts one character after this occurrence's start.
        let at = start + found;
        start = at + text[at..].chars().next().map_or(1, char::len_utf8);
    }
    count
}

/// Standard base64, padding optional (as .NET's decoder in KQL is lenient about it).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The UTF-8 text `encoded` encodes, without U+0000 (which PostgreSQL's text cannot hold, so
/// both stores drop it: a decoded UTF-16 command line reads as its characters); `None` when
/// it is not base64 or the bytes are not UTF-8.
pub fn base64_decode(encoded: &str) -> Option<String> {
    let bytes = BASE64.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Some(text.replace('\0', ""))
}

/// The base64 of the text's UTF-8 bytes, padded.
pub fn base64_encode(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `%XX` escapes decoded (`+` stays); `None` when the bytes are not UTF-8.
pub fn url_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text).decode_utf8().ok().map(|t| t.replace('\0', ""))
}

/// An IPv4 address with an optional prefix length (`10.1.2.3`, `10.1.2.3/24`): the address and
/// the prefix (32 without one). Octets are decimal, leading zeros allowed (as PostgreSQL's
/// `inet` reads them); `None` for anything else.
pub fn ipv4_prefix(text: &str) -> Option<(u32, u32)> {
    let text = text.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, prefix),
        None => (text, "32"),
    };
    let prefix = prefix.parse::<u32>().ok().filter(|p| *p <= 32 && !prefix.starts_with('+'))?;
    let mut value: u32 = 0;
    let mut octets = 0;
    for octet in address.split('.') {
        if octet.is_empty() || octet.len() > 3 || !octet.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        value = (value << 8) | u32::from(octet.parse::<u8>().ok()?);
        octets += 1;
    }
    (octets == 4).then_some((value, prefix))
}

fn mask(prefix: u32) -> u32 {
    u32::MAX.checked_shl(32 - prefix).unwrap_or(0)
}

/// KQL's `ipv4_is_in_range(ip, range)`: whether the address (or the network, with a prefix)
/// lies within the range; `None` when either is not IPv4.
pub fn ipv4_is_in_range(ip: &str, range: &str) -> Option<bool> {
    let (address, prefix) = ipv4_prefix(ip)?;
    let (network, range_prefix) = ipv4_prefix(range)?;
    Some(prefix >= range_prefix && address & mask(range_prefix) == network & mask(range_prefix))
}

/// KQL's `ipv4_is_private(ip)`: within 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918);
/// `None` when it is not IPv4.
pub fn ipv4_is_private(ip: &str) -> Option<bool> {
    ipv4_prefix(ip)?;
    Some(
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].iter().any(|range| ipv4_is_in_range(ip, range) == Some(true)),
    )
}

/// The SHA-256 of the text's UTF-8 bytes, as lowercase hex (KQL's `hash_sha256`).
pub fn sha256_hex(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A JSON object of the pairs, in their order (as KQL writes a bag: no spaces).
fn json_object<'a>(pairs: impl IntoIterator<Item = (&'a str, serde_json::Value)>) -> String {
    let object: serde_json::Map<String, serde_json::Value> =
        pairs.into_iter().map(|(key, value)| (key.to_owned(), value)).collect();
    serde_json::Value::Object(object).to_string()
}

/// KQL's `parse_url`: `scheme://[user[:password]@]host[:port][path][?query][#fragment]` as a
/// bag of `Scheme`, `Host`, `Port`, `Path`, `Username`, `Password`, `Query Parameters` (a bag of
/// the `&`-separated `key=value` pairs, `%XX` decoded, a key's first value kept) and
/// `Fragment`; every part "" (and no parameters) when the text has no `://`.
pub fn parse_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (user_info, host_port) = authority.split_once('@').unwrap_or(("", authority));
    let (username, password) = user_info.split_once(':').unwrap_or((user_info, ""));
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, ""));
    let (before_fragment, fragment) = tail.split_once('#').unwrap_or((tail, ""));
    let (path, query) = before_fragment.split_once('?').unwrap_or((before_fragment, ""));
    json_object([
        ("Scheme", scheme.into()),
        ("Host", host.into()),
        ("Port", port.into()),
        ("Path", path.into()),
        ("Username", username.into()),
        ("Password", password.into()),
        ("Query Parameters", query_parameters(query)),
        ("Fragment", fragment.into()),
    ])
}

/// KQL's `parse_urlquery`: `{"Query Parameters": {…}}` of a URL's query part.
pub fn parse_url_query(query: &str) -> String {
    json_object([("Query Parameters", query_parameters(query))])
}

/// The `&`-separated `key=value` pairs of a URL's query as a bag, `%XX` decoded (where the
/// result is UTF-8), a key's first value kept.
fn query_parameters(query: &str) -> serde_json::Value {
    let decoded = |text: &str| url_decode(text).unwrap_or_else(|| text.to_owned());
    let mut parameters = serde_json::Map::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        parameters.entry(decoded(key)).or_insert_with(|| decoded(value).into());
    }
    parameters.into()
}

/// KQL's `parse_path`: a file path as a bag of `Scheme` (before `://`), `RootPath` (a drive,
/// `C:`), `DirectoryPath` (up to the last `/` or `\`; the separator kept when that is the
/// root), `DirectoryName` (its last part), `Filename`, `Extension` (after the file name's last
/// dot) and `AlternateDataStreamName` (after a colon in the file name).
pub fn parse_path(path: &str) -> String {
    let (scheme, rest) = match path.split_once("://") {
        Some((scheme, rest))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) =>
        {
            (scheme, rest)
        }
        _ => ("", path),
    };
    let unprefixed = rest.strip_prefix(r"\\?\").or_else(|| rest.strip_prefix("//?/")).unwrap_or(rest);
    let bytes = unprefixed.as_bytes();
    let root =
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' { &unprefixed[..2] } else { "" };
    // Where the root (with a long path's prefix) ends in `rest`.
    let root_end = rest.len() - unprefixed.len() + root.len();
    let (directory, name) = match rest.rfind(['/', '\\']) {
        None => (&rest[..root_end], &rest[root_end..]),
        // The root's own separator (`C:\file.txt`, `/file.txt`) stays: the directory is the root.
        Some(i) if i <= root_end => (&rest[..=i], &rest[i + 1..]),
        Some(i) => (&rest[..i], &rest[i + 1..]),
    };
    let directory_name =
        if directory.len() <= root_end + 1 { "" } else { directory.rsplit(['/', '\\']).next().unwrap_or("") };
    let (filename, stream) = name.split_once(':').unwrap_or((name, ""));
    let extension = filename.rsplit_once('.').map_or("", |(_, extension)| extension);
    json_object([
        ("Scheme", scheme.into()),
        ("RootPath", root.into()),
        ("DirectoryPath", directory.into()),
        ("DirectoryName", directory_name.into()),
        ("Filename", filename.into()),
        ("Extension", extension.into()),
        ("AlternateDataStreamName", stream.into()),
    ])
}

/// A timespan written as .NET writes one, `[-][d.]hh:mm[:ss[.fffffff]]`, in ticks (100 ns);
/// `None` for anything else or a part out of range (hours past 23, minutes or seconds past 59).
pub fn parse_timespan(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    // Days end at a dot before the first colon; a fraction follows the seconds.
    let first_colon = text.find(':')?;
    let (days, clock) = match text[..first_colon].split_once('.') {
        Some((days, _)) => (Some(days), &text[days.len() + 1..]),
        None => (None, text),
    };
    let number = |part: &str, most: usize| {
        if part.is_empty() || part.len() > most || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse::<i64>().ok()
    };
    let (hours, minutes, seconds, fraction) = match clock.split(':').collect::<Vec<_>>().as_slice() {
        [h, m] => (number(h, 2)?, number(m, 2)?, 0, 0),
        [h, m, s] => {
            let (s, fraction) = match s.split_once('.') {
                Some((s, fraction)) => (s, number(fraction, 7)? * 10_i64.pow(7 - fraction.len() as u32)),
                None => (*s, 0),
            };
            (number(h, 2)?, number(m, 2)?, number(s, 2)?, fraction)
        }
        _ => return None,
    };
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let days = match days {
        Some(days) => number(days, 8)?,
        None => 0,
    };
    let ticks = (((days * 24 + hours) * 60 + minutes) * 60 + seconds) * 10_000_000 + fraction;
    Some(if negative { -ticks } else { ticks })
}

/// Most values one group's percentile keeps; past it the query fails with an SQL error that
/// says so (a group's values are sorted in memory).
pub const MAX_PERCENTILE_VALUES: usize = 1_000_000;

/// A number as SQLite stored it: whole numbers stay whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Real(f64),
}

impl Number {
    fn value(self) -> f64 {
        match self {
            Number::Int(n) => n as f64,
            Number::Real(x) => x,
        }
    }
}

/// The nearest-rank percentile `p` (0 to 100) of `values`: the smallest value with at least
/// `p` percent of the values at or below it (KQL's `percentile` for exact counts). `None` for
/// no values.
pub fn percentile(values: &mut [Number], p: f64) -> Option<Number> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.value().total_cmp(&b.value()));
    let n = values.len();
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    values.get(rank.clamp(1, n) - 1).copied()
}

/// Most keys one `make_bag` keeps; later keys are dropped (as KQL's `maxSize` cuts a bag).
pub const MAX_BAG_KEYS: usize = 100_000;

/// The property bag `make_bag` builds: the objects of a group merged, the first value of a key
/// kept.
#[derive(Debug, Default)]
pub struct Bag {
    entries: serde_json::Map<String, serde_json::Value>,
}

impl Bag {
    /// Merges `json` when it is an object; anything else (an array, a scalar, text that is not
    /// JSON) is left out.
    pub fn merge(&mut self, json: &str) {
        let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(json) else { return };
        for (key, value) in object {
            if self.entries.len() >= MAX_BAG_KEYS {
                return;
            }
            self.entries.entry(key).or_insert(value);
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::Value::Object(self.entries.clone()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_paths_and_timespans_parse_as_kql_documents_them() {
        assert_eq!(
            parse_url("scheme://username:password@host:1234/this/is/a/path?k1=v1&k2=v%202&k1=x#fragment"),
            r#"{"Scheme":"scheme","Host":"host","Port":"1234","Path":"/this/is/a/path","Username":"username","Password":"password","Query Parameters":{"k1":"v1","k2":"v 2"},"Fragment":"fragment"}"#
        );
        assert_eq!(
            parse_url("no scheme"),
            r#"{"Scheme":"","Host":"","Port":"","Path":"","Username":"","Password":"","Query Parameters":{},"Fragment":""}"#
        );
        assert_eq!(parse_url_query("k1=v1&k2"), r#"{"Query Parameters":{"k1":"v1","k2":""}}"#);
        // The documentation's examples, and the roots.
        let path = |p: &str| -> Vec<String> {
            let value: serde_json::Value = serde_json::from_str(&parse_path(p)).unwrap_or_default();
            value
                .as_object()
                .map(|o| o.values().map(|v| v.as_str().unwrap_or("?").to_owned()).collect())
                .unwrap_or_default()
        };
        assert_eq!(path(r"C:\temp\file.txt"), ["", "C:", r"C:\temp", "temp", "file.txt", "txt", ""]);
        assert_eq!(path(r"temp\file.txt"), ["", "", "temp", "temp", "file.txt", "txt", ""]);
        assert_eq!(
            path("file://C:/temp/file.txt:some.exe"),
            ["file", "C:", "C:/temp", "temp", "file.txt", "txt", "some.exe"]
        );
        assert_eq!(
            path(r"\\shared\users\temp\file.txt.gz"),
            ["", "", r"\\shared\users\temp", "temp", "file.txt.gz", "gz", ""]
        );
        assert_eq!(path("/usr/lib/temp/file.txt"), ["", "", "/usr/lib/temp", "temp", "file.txt", "txt", ""]);
        assert_eq!(path(r"C:\file"), ["", "C:", r"C:\", "", "file", "", ""]);
        assert_eq!(path("/file.tar.gz"), ["", "", "/", "", "file.tar.gz", "gz", ""]);
        assert_eq!(path(r"\\?\D:\a\b.dll"), ["", "D:", r"\\?\D:\a", "a", "b.dll", "dll", ""]);
        assert_eq!(path("file.txt"), ["", "", "", "", "file.txt", "txt", ""]);
        assert_eq!(path(""), ["", "", "", "", "", "", ""]);

        assert_eq!(parse_timespan("0.00:03:00"), Some(3 * 60 * 10_000_000));
        assert_eq!(parse_timespan(" 1.02:03:04.5 "), Some((((24 + 2) * 60 + 3) * 60 + 4) * 10_000_000 + 5_000_000));
        assert_eq!(parse_timespan("-00:00:01"), Some(-10_000_000));
        assert_eq!(parse_timespan("10:30"), Some(630 * 60 * 10_000_000));
        assert_eq!(parse_timespan("00:00:00.0000001"), Some(1));
        for bad in ["", "1d", "24:00:00", "00:60:00", "00:00:00.12345678", "1.2.3:00", "a:b", "12", ":", "00:00:00:00"]
        {
            assert_eq!(parse_timespan(bad), None, "{bad}");
        }
    }

    #[test]
    fn ipv4_ranges_and_private_networks() {
        assert_eq!(ipv4_prefix("10.1.2.3"), Some((0x0a01_0203, 32)));
        assert_eq!(ipv4_prefix(" 010.001.2.3/24 "), Some((0x0a01_0203, 24)));
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4/33", "1.2.3.4/", "a.b.c.d", "::1", "1.2.3.-4"] {
            assert_eq!(ipv4_prefix(bad), None, "{bad}");
        }
        // The documentation's examples.
        assert_eq!(ipv4_is_in_range("192.168.1.1", "192.168.2.1/16"), Some(true));
        assert_eq!(ipv4_is_in_range("192.168.1.1/24", "192.168.2.1/16"), Some(true));
        assert_eq!(ipv4_is_in_range("192.168.1.1", "192.168.2.1/24"), Some(false));
        assert_eq!(ipv4_is_in_range("10.0.0.0/4", "10.0.0.0/8"), Some(false));
        assert_eq!(ipv4_is_in_range("1.2.3.4", "0.0.0.0/0"), Some(true));
        assert_eq!(ipv4_is_in_range("x", "10.0.0.0/8"), None);
        for (ip, private) in [
            ("192.168.1.1/24", true),
            ("10.1.2.3/24", true),
            ("202.1.2.3", false),
            ("127.0.0.1", false),
            ("172.31.255.255", true),
            ("172.32.0.1", false),
        ] {
            assert_eq!(ipv4_is_private(ip), Some(private), "{ip}");
        }
        assert_eq!(ipv4_is_private("not an address"), None);
    }

    #[test]
    fn sha256_is_lowercase_hex_of_the_utf8_bytes() {
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn extraction() {
        assert_eq!(extract(r"-p ([0-9]{1,5})", 1, "ssh -p 2222 host"), Ok(Some("2222".into())));
        assert_eq!(extract(r"[^@]+$", 0, "alice@contoso.com"), Ok(Some("contoso.com".into())));
        assert_eq!(extract(r"(a)|(b)", 2, "a"), Ok(None));
        assert_eq!(extract(r"x", 0, "y"), Ok(None));
        assert_eq!(extract(r"(x)", 5, "x"), Ok(None));
        assert_eq!(extract(r"(x)", -1, "x"), Ok(None));
        assert!(extract(r"(", 0, "x").is_err_and(|e| e.starts_with("regex:")));
    }

    #[test]
    fn extraction_of_every_match() {
        assert_eq!(extract_all(r"([a-c])", "abcd"), Ok(Some(r#"["a","b","c"]"#.into())));
        assert_eq!(extract_all(r"(\w)=(\d)?", "a=1 b="), Ok(Some(r#"[["a","1"],["b",""]]"#.into())));
        assert_eq!(extract_all(r"\d", "a1b2"), Ok(Some(r#"["1","2"]"#.into())));
        assert_eq!(extract_all(r"(z)", "abc"), Ok(None));
    }

    #[test]
    fn replacement_and_counting() {
        assert_eq!(replace(r"(\w+)@", "${1} at ", "bob@x"), Ok("bob at x".into()));
        assert_eq!(replace(r"\x00", "", "a\0b"), Ok("ab".into()));
        assert_eq!(replace(r"\0", "", "a\0b"), Ok("ab".into()));
        assert_eq!(replace(r"a", "$$", "banana"), Ok("b$n$n$".into()));
        assert_eq!(count(r"[A-Z]", "PowerShell -Enc"), Ok(3));
        assert_eq!(count(r"aa", "aaaa"), Ok(2));
        assert_eq!(count(r"q", ""), Ok(0));
        // The examples of KQL's documentation of countof.
        assert_eq!(count_occurrences("aaa", "a"), 3);
        assert_eq!(count_occurrences("aaaa", "aa"), 3);
        assert_eq!(count_occurrences("ababa", "ab"), 2);
        assert_eq!(count_occurrences("ababa", "aba"), 2);
        assert_eq!(count("aba", "ababa"), Ok(1));
        assert_eq!(count("a.c", "abcabc"), Ok(2));
        assert_eq!(count_occurrences("ééé", "éé"), 2);
        assert_eq!(count_occurrences("abc", ""), 0);
    }

    #[test]
    fn base64_and_urls() {
        assert_eq!(base64_decode("aGVsbG8="), Some("hello".into()));
        assert_eq!(base64_decode("aGVsbG8"), Some("hello".into()));
        // "ab" in UTF-16LE: the NULs dropped.
        assert_eq!(base64_decode("YQBiAA=="), Some("ab".into()));
        assert_eq!(base64_decode("not base64!"), None);
        assert_eq!(base64_decode("/w=="), None, "0xFF is not UTF-8");
        assert_eq!(base64_encode("abracadabra"), "YWJyYWNhZGFicmE=");
        assert_eq!(url_decode("https%3a%2f%2fwww.bing.com%2f?q=a+b"), Some("https://www.bing.com/?q=a+b".into()));
        assert_eq!(url_decode("%ff"), None);
        assert_eq!(url_decode("100%"), Some("100%".into()));
    }

    #[test]
    fn patterns_too_large_are_refused() {
        assert!(regex(r"\w{1000}\w{1000}").is_err());
    }
}
