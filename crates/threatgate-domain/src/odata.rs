//! The OData query options of `GET /api/incidents`: `$filter` (on `lastUpdateTime`,
//! `createdTime`, `status`, `assignedTo`), `$top` (1..100, default 100) and `$skip`.
//!
//! `$filter` is parsed into an AST ([`Filter`]) that the store compiles to parameterized SQL.
//! Every refusal names the problem and its position (1-based character offset).

use std::fmt;

use crate::datetime::parse_datetime_ticks;
use crate::incidents::IncidentStatus;

/// Largest page (`$top`), and the default.
pub const MAX_TOP: u32 = 100;
/// Longest `$filter` accepted, in characters.
const MAX_FILTER_LENGTH: usize = 4096;
/// Deepest nesting of parentheses and `not`.
const MAX_DEPTH: usize = 32;

/// A filterable incident property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterProperty {
    LastUpdateTime,
    CreatedTime,
    Status,
    AssignedTo,
}

impl FilterProperty {
    fn parse(name: &str, vocabulary: Vocabulary) -> Option<Self> {
        match (name, vocabulary) {
            ("lastUpdateTime", Vocabulary::ThreatProtection) | ("lastUpdateDateTime", Vocabulary::Graph) => {
                Some(Self::LastUpdateTime)
            }
            ("createdTime", Vocabulary::ThreatProtection) | ("createdDateTime", Vocabulary::Graph) => {
                Some(Self::CreatedTime)
            }
            ("status", _) => Some(Self::Status),
            ("assignedTo", _) => Some(Self::AssignedTo),
            _ => None,
        }
    }
}

/// Whose names a `$filter` uses: the Threat Protection API's (`lastUpdateTime`, `'Active'`) or
/// Microsoft Graph's for the same incidents (`lastUpdateDateTime`, `'active'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    ThreatProtection,
    Graph,
}

impl Vocabulary {
    fn properties(self) -> &'static str {
        match self {
            Self::ThreatProtection => "lastUpdateTime, createdTime, status or assignedTo",
            Self::Graph => "lastUpdateDateTime, createdDateTime, status or assignedTo",
        }
    }

    /// A status literal: PascalCase for Threat Protection, camelCase (any case) for Graph.
    fn status(self, text: &str) -> Option<IncidentStatus> {
        match self {
            Self::ThreatProtection => IncidentStatus::parse(text),
            Self::Graph => ["Active", "InProgress", "Resolved", "Redirected"]
                .into_iter()
                .find(|name| name.eq_ignore_ascii_case(text))
                .and_then(IncidentStatus::parse),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparison {
    fn parse(word: &str) -> Option<Self> {
        match word {
            "eq" => Some(Self::Eq),
            "ne" => Some(Self::Ne),
            "gt" => Some(Self::Gt),
            "ge" => Some(Self::Ge),
            "lt" => Some(Self::Lt),
            "le" => Some(Self::Le),
            _ => None,
        }
    }
}

/// A literal of the right type for its property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    /// 100 ns ticks since the Unix epoch.
    DateTime(i64),
    Status(IncidentStatus),
    Text(String),
    Null,
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Compare { property: FilterProperty, comparison: Comparison, value: FilterValue },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// The validated query options of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentQuery {
    pub filter: Option<Filter>,
    pub top: u32,
    pub skip: u64,
    /// Also say, for the page, whether any of its alerts has comments (Microsoft Graph's
    /// expanded alerts read them only then).
    pub comment_flags: bool,
}

/// Why a query was refused; the message is for the client (`ODataError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ODataError(pub String);

impl fmt::Display for ODataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ODataError {}

impl IncidentQuery {
    /// Reads the decoded query parameters. Unknown `$` options and repeated ones are refused;
    /// parameters without `$` are ignored.
    pub fn parse<'a>(parameters: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ODataError> {
        let (mut filter, mut top, mut skip) = (None, None, None);
        for (name, value) in parameters {
            let slot_taken = match name {
                "$filter" => filter.replace(value).is_some(),
                "$top" => top.replace(value).is_some(),
                "$skip" => skip.replace(value).is_some(),
                other if other.starts_with('$') => {
                    return Err(ODataError(format!(
                        "The query parameter '{}' is not supported. Supported: $filter, $top, $skip.",
                        cut(other)
                    )));
                }
                _ => false,
            };
            if slot_taken {
                return Err(ODataError(format!("The query parameter '{name}' is specified more than once.")));
            }
        }
        let top = match top {
            None => MAX_TOP,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(value) if (1..=MAX_TOP).contains(&value) => value,
                _ => {
                    return Err(ODataError(format!(
                        "The value '{}' of $top is not valid: $top must be an integer from 1 to {MAX_TOP}.",
                        cut(text)
                    )));
                }
            },
        };
        let skip = match skip {
            None => 0,
            Some(text) => text.trim().parse::<u64>().map_err(|_| {
                ODataError(format!(
                    "The value '{}' of $skip is not valid: $skip must be a non-negative integer.",
                    cut(text)
                ))
            })?,
        };
        let filter = filter.map(parse_filter).transpose()?;
        Ok(Self { filter, top, skip, comment_flags: false })
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() > 64 { text.chars().take(64).chain("…".chars()).collect() } else { text.to_owned() }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

/// Parses a `$filter` expression of the Threat Protection API.
pub fn parse_filter(text: &str) -> Result<Filter, ODataError> {
    parse_filter_in(text, Vocabulary::ThreatProtection)
}

/// Parses a `$filter` expression in `vocabulary`'s names.
pub fn parse_filter_in(text: &str, vocabulary: Vocabulary) -> Result<Filter, ODataError> {
    if text.chars().count() > MAX_FILTER_LENGTH {
        return Err(ODataError(format!("The $filter is longer than {MAX_FILTER_LENGTH} characters.")));
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err(ODataError("The $filter is empty.".into()));
    }
    let mut parser = Parser { tokens: &tokens, at: 0, text, depth: 0, vocabulary };
    let filter = parser.or()?;
    if let Some((token, position)) = parser.tokens.get(parser.at) {
        return Err(parser.error(*position, &format!("unexpected {}", describe(token))));
    }
    Ok(filter)
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(word) => format!("'{}'", cut(word)),
        Token::Text(text) => format!("string '{}'", cut(text)),
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
    }
}

/// Splits into words (names, operators, unquoted literals), quoted strings and parentheses,
/// each with its 1-based character position.
fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, ODataError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let start = at;
        match chars[at] {
            c if c.is_whitespace() => at += 1,
            '(' => {
                tokens.push((Token::Open, start + 1));
                at += 1;
            }
            ')' => {
                tokens.push((Token::Close, start + 1));
                at += 1;
            }
            '\'' => {
                let mut value = String::new();
                at += 1;
                loop {
                    match chars.get(at) {
                        None => {
                            return Err(ODataError(format!(
                                "Syntax error at position {} in $filter: unterminated string.",
                                start + 1
                            )));
                        }
                        Some('\'') if chars.get(at + 1) == Some(&'\'') => {
                            value.push('\'');
                            at += 2;
                        }
                        Some('\'') => {
                            at += 1;
                            break;
                        }
                        Some(c) => {
                            value.push(*c);
                            at += 1;
                        }
                    }
                }
                tokens.push((Token::Text(value), start + 1));
            }
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '+') => {
                while at < chars.len()
                    && (chars[at].is_ascii_alphanumeric() || matches!(chars[at], '_' | '-' | ':' | '.' | '+'))
                {
                    at += 1;
                }
                tokens.push((Token::Word(chars[start..at].iter().collect()), start + 1));
            }
            other => {
                return Err(ODataError(format!(
                    "Syntax error at position {} in $filter: unexpected character '{other}'.",
                    start + 1
                )));
            }
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [(Token, usize)],
    at: usize,
    text: &'a str,
    depth: usize,
    vocabulary: Vocabulary,
}

impl Parser<'_> {
    fn error(&self, position: usize, what: &str) -> ODataError {
        ODataError(format!("Syntax error at position {position} in $filter '{}': {what}.", cut(self.text)))
    }

    fn end_position(&self) -> usize {
        self.text.chars().count() + 1
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some((Token::Word(w), _)) if w == word)
    }

    fn or(&mut self) -> Result<Filter, ODataError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ODataError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ODataError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let position = self.tokens.get(self.at).map_or(self.end_position(), |(_, p)| *p);
            return Err(self.error(position, &format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let result = match self.tokens.get(self.at) {
            Some((Token::Word(word), _)) if word == "not" => {
                self.at += 1;
                self.unary().map(|inner| Filter::Not(Box::new(inner)))
            }
            Some((Token::Open, position)) => {
                let open = *position;
                self.at += 1;
                let inner = self.or()?;
                match self.tokens.get(self.at) {
                    Some((Token::Close, _)) => {
                        self.at += 1;
                        Ok(inner)
                    }
                    _ => Err(self.error(open, "'(' is never closed")),
                }
            }
            _ => self.comparison(),
        };
        self.depth -= 1;
        result
    }

    fn comparison(&mut self) -> Result<Filter, ODataError> {
        let end = self.end_position();
        let (property, position) = match self.tokens.get(self.at) {
            Some((Token::Word(name), position)) => match FilterProperty::parse(name, self.vocabulary) {
                Some(property) => (property, *position),
                None => {
                    return Err(self.error(
                        *position,
                        &format!("'{}' is not a filterable property; use {}", cut(name), self.vocabulary.properties()),
                    ));
                }
            },
            Some((token, position)) => {
                return Err(self.error(*position, &format!("expected a property, found {}", describe(token))));
            }
            None => return Err(self.error(end, "expected a property, found the end")),
        };
        self.at += 1;
        let comparison = match self.tokens.get(self.at) {
            Some((Token::Word(word), position)) => Comparison::parse(word).ok_or_else(|| {
                self.error(*position, &format!("'{}' is not an operator; use eq, ne, gt, ge, lt or le", cut(word)))
            })?,
            Some((token, position)) => {
                return Err(self.error(*position, &format!("expected an operator, found {}", describe(token))));
            }
            None => return Err(self.error(end, "expected an operator, found the end")),
        };
        self.at += 1;
        let (literal, literal_position) = match self.tokens.get(self.at) {
            Some((token @ (Token::Word(_) | Token::Text(_)), position)) => (token.clone(), *position),
            Some((token, position)) => {
                return Err(self.error(*position, &format!("expected a value, found {}", describe(token))));
            }
            None => return Err(self.error(end, "expected a value, found the end")),
        };
        self.at += 1;
        let value = self.value(property, comparison, literal, literal_position)?;
        let _ = position;
        Ok(Filter::Compare { property, comparison, value })
    }

    fn value(
        &self,
        property: FilterProperty,
        comparison: Comparison,
        literal: Token,
        position: usize,
    ) -> Result<FilterValue, ODataError> {
        let equality = matches!(comparison, Comparison::Eq | Comparison::Ne);
        match (property, literal) {
            (FilterProperty::LastUpdateTime | FilterProperty::CreatedTime, Token::Word(word)) => {
                parse_datetime_ticks(&word).map(FilterValue::DateTime).ok_or_else(|| {
                    self.error(
                        position,
                        &format!("'{}' is not an ISO-8601 datetime such as 2020-06-03T18:04:29.4633333Z", cut(&word)),
                    )
                })
            }
            (FilterProperty::LastUpdateTime | FilterProperty::CreatedTime, Token::Text(text)) => Err(self.error(
                position,
                &format!("datetimes are not quoted: write {} instead of '{}'", cut(&text), cut(&text)),
            )),
            (FilterProperty::Status, Token::Text(text)) if equality => {
                self.vocabulary.status(&text).map(FilterValue::Status).ok_or_else(|| {
                    let names = match self.vocabulary {
                        Vocabulary::ThreatProtection => "Active, InProgress, Resolved or Redirected",
                        Vocabulary::Graph => "active, inProgress, resolved or redirected",
                    };
                    self.error(position, &format!("'{}' is not a status; use {names}", cut(&text)))
                })
            }
            (FilterProperty::AssignedTo, Token::Text(text)) if equality => Ok(FilterValue::Text(text)),
            (FilterProperty::AssignedTo, Token::Word(word)) if equality && word == "null" => Ok(FilterValue::Null),
            (FilterProperty::Status | FilterProperty::AssignedTo, _) if !equality => {
                Err(self.error(position, "status and assignedTo compare only with eq and ne"))
            }
            (_, Token::Word(word)) => Err(self.error(
                position,
                &format!("'{}' is not a valid value here; quote strings: '{}'", cut(&word), cut(&word)),
            )),
            (_, other) => Err(self.error(position, &format!("unexpected {}", describe(&other)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn query(pairs: &[(&str, &str)]) -> Result<IncidentQuery, ODataError> {
        IncidentQuery::parse(pairs.iter().copied())
    }

    #[test]
    fn the_documented_filters_parse() {
        let filter = parse_filter("lastUpdateTime ge 2020-06-03T18:04:29.4633333Z").unwrap();
        assert!(matches!(
            filter,
            Filter::Compare { property: FilterProperty::LastUpdateTime, comparison: Comparison::Ge, .. }
        ));
        let combined = parse_filter(
            "status eq 'Active' and assignedTo eq 'o''brien@contoso.com' and createdTime gt 2021-01-01T00:00:00Z",
        )
        .unwrap();
        let Filter::And(left, right) = combined else { panic!("and") };
        assert!(matches!(*right, Filter::Compare { property: FilterProperty::CreatedTime, .. }));
        let Filter::And(_, assigned) = *left else { panic!("and") };
        assert_eq!(
            *assigned,
            Filter::Compare {
                property: FilterProperty::AssignedTo,
                comparison: Comparison::Eq,
                value: FilterValue::Text("o'brien@contoso.com".into())
            }
        );
        assert!(parse_filter("not (status eq 'Resolved' or status eq 'Redirected')").is_ok());
        assert!(parse_filter("assignedTo eq null").is_ok());
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let filter = parse_filter("status eq 'Active' or status eq 'Resolved' and assignedTo eq 'a'").unwrap();
        assert!(matches!(filter, Filter::Or(_, right) if matches!(*right, Filter::And(_, _))));
    }

    #[test]
    fn refusals_name_the_problem_and_its_position() {
        let cases = [
            ("severity eq 'High'", "position 1", "'severity' is not a filterable property"),
            ("status eq 'Open'", "position 11", "'Open' is not a status"),
            ("lastUpdateTime gee 2020-01-01Z", "position 16", "'gee' is not an operator"),
            ("lastUpdateTime ge '2020-01-01T00:00:00Z'", "position 19", "datetimes are not quoted"),
            ("lastUpdateTime ge yesterday", "position 19", "not an ISO-8601 datetime"),
            ("(status eq 'Active'", "position 1", "never closed"),
            ("status eq 'Active' status", "position 20", "unexpected 'status'"),
            ("status eq 'Active", "position 11", "unterminated string"),
            ("status gt 'Active'", "position 11", "compare only with eq and ne"),
            ("status eq", "position 10", "expected a value"),
        ];
        for (filter, position, words) in cases {
            let error = parse_filter(filter).unwrap_err().0;
            assert!(error.contains(position) && error.contains(words), "{filter}: {error}");
        }
    }

    #[test]
    fn top_skip_and_unknown_options_are_checked() {
        assert_eq!(query(&[]).unwrap(), IncidentQuery { filter: None, top: 100, skip: 0, comment_flags: false });
        assert_eq!(query(&[("$top", "10"), ("$skip", "20"), ("api-version", "1")]).unwrap().top, 10);
        for bad in [("$top", "101"), ("$top", "0"), ("$top", "-1"), ("$top", "ten"), ("$skip", "-5")] {
            assert!(query(&[bad]).is_err(), "{bad:?}");
        }
        assert!(query(&[("$orderby", "createdTime")]).unwrap_err().0.contains("'$orderby' is not supported"));
        assert!(query(&[("$top", "1"), ("$top", "2")]).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        let deep = format!("{}status eq 'Active'{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_filter(&deep).is_err());
        let nots = format!("{}status eq 'Active'", "not ".repeat(500));
        assert!(parse_filter(&nots).unwrap_err().0.contains("nesting deeper"));
    }

    proptest! {
        #[test]
        fn the_parser_never_panics(text in "\\PC{0,200}") {
            let _ = parse_filter(&text);
        }

        #[test]
        fn the_parser_never_panics_on_near_misses(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("status"), Just("lastUpdateTime"), Just("assignedTo"), Just("eq"), Just("ge"), Just("and"),
                    Just("or"), Just("not"), Just("("), Just(")"), Just("'Active'"), Just("'x''y'"), Just("null"),
                    Just("2020-01-01T00:00:00Z"), Just("'"), Just("2020-13-45")
                ],
                0..12,
            )
        ) {
            let _ = parse_filter(&parts.join(" "));
        }
    }
}
