//! Query text to tokens, each with its byte span. Comments (`//` to the end of the line) and
//! white space separate tokens and are dropped.
//!
//! Words that KQL writes with punctuation are single tokens here: the operators
//! `project-away`, `project-rename` (and the other hyphenated operator names, so that the parser
//! can name them when it refuses them), negated string operators (`!contains`, `!has`, `!in`,
//! `!startswith`, …) and `in~`/`!in~`. The text inside `datetime(…)` is kept raw, since a date
//! is not made of tokens.

use crate::error::{KqlError, Span};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// A name or keyword, as written (KQL names are case-sensitive).
    Word(String),
    /// `$left` or `$right`.
    Side(String),
    String(String),
    Long(i64),
    Real(f64),
    /// A timespan in ticks (100 ns).
    Timespan(i64),
    /// The raw text between `datetime(` and `)`.
    DateTime(String),
    Pipe,
    Comma,
    Semicolon,
    Dot,
    DotDot,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    /// `=` (naming, `kind=`).
    Assign,
    Eq,
    NotEq,
    /// `=~`
    EqTilde,
    /// `!~`
    NotTilde,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Colon,
    End,
}

impl Token {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("'{w}'"),
            Token::Side(s) => format!("'{s}'"),
            Token::String(_) => "a string".into(),
            Token::Long(n) => format!("'{n}'"),
            Token::Real(n) => format!("'{n}'"),
            Token::Timespan(_) => "a timespan".into(),
            Token::DateTime(t) => format!("'datetime({t})'"),
            Token::End => "the end of the query".into(),
            other => format!("'{}'", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Token::Pipe => "|",
            Token::Comma => ",",
            Token::Semicolon => ";",
            Token::Dot => ".",
            Token::DotDot => "..",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::Assign => "=",
            Token::Eq => "==",
            Token::NotEq => "!=",
            Token::EqTilde => "=~",
            Token::NotTilde => "!~",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::Colon => ":",
            _ => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned {
    pub token: Token,
    pub span: Span,
}

/// Operator names written with a hyphen.
const HYPHENATED: &[&str] = &[
    "project-away",
    "project-rename",
    "project-keep",
    "project-reorder",
    "mv-expand",
    "mv-apply",
    "make-series",
    "top-nested",
    "top-hitters",
    "parse-where",
    "parse-kv",
];

/// Words a `!` may negate.
const NEGATABLE: &[&str] = &[
    "contains",
    "contains_cs",
    "has",
    "has_cs",
    "hasprefix",
    "hasprefix_cs",
    "hassuffix",
    "hassuffix_cs",
    "startswith",
    "startswith_cs",
    "endswith",
    "endswith_cs",
    "in",
    "between",
    "has_any",
    "has_all",
];

const TICKS_PER_SECOND: f64 = 10_000_000.0;

/// The ticks in one of a timespan unit, or `None` if `unit` is not one.
fn timespan_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "d" | "day" | "days" => 86_400.0 * TICKS_PER_SECOND,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600.0 * TICKS_PER_SECOND,
        "m" | "min" | "minute" | "minutes" => 60.0 * TICKS_PER_SECOND,
        "s" | "sec" | "second" | "seconds" => TICKS_PER_SECOND,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => TICKS_PER_SECOND / 1_000.0,
        "microsecond" | "microseconds" => 10.0,
        "tick" | "ticks" => 1.0,
        _ => return None,
    })
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<Spanned>, KqlError> {
    Lexer { text, bytes: text.as_bytes(), at: 0, tokens: Vec::new() }.run()
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    tokens: Vec<Spanned>,
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Lexer<'a> {
    fn peek(&self, ahead: usize) -> u8 {
        self.bytes.get(self.at + ahead).copied().unwrap_or(0)
    }

    fn push(&mut self, token: Token, start: usize) {
        self.tokens.push(Spanned { token, span: Span::new(start, self.at) });
    }

    fn run(mut self) -> Result<Vec<Spanned>, KqlError> {
        loop {
            self.skip_space_and_comments();
            let start = self.at;
            let Some(&b) = self.bytes.get(self.at) else {
                self.push(Token::End, start);
                return Ok(self.tokens);
            };
            match b {
                b'"' | b'\'' => {
                    let value = self.string(b, false)?;
                    self.push(Token::String(value), start);
                }
                b'@' if matches!(self.peek(1), b'"' | b'\'') => {
                    self.at += 1;
                    let value = self.string(self.bytes[self.at], true)?;
                    self.push(Token::String(value), start);
                }
                b'0'..=b'9' => self.number()?,
                b'.' if self.peek(1).is_ascii_digit() && !self.after_dotdot() => self.number()?,
                b'$' if is_word_start(self.peek(1)) => {
                    self.at += 1;
                    let word = self.word();
                    // `$table`, the column `search` and `union withsource` name, is a name
                    // like any other; `$left` and `$right` belong to a join's `on`.
                    let token =
                        if word == "table" { Token::Word("$table".into()) } else { Token::Side(format!("${word}")) };
                    self.push(token, start);
                }
                b if is_word_start(b) => self.word_token(start)?,
                b'!' if is_word_start(self.peek(1)) => {
                    self.at += 1;
                    let word = self.word();
                    if !NEGATABLE.contains(&word) {
                        return Err(KqlError::syntax(
                            format!("'!{word}' is not an operator (use not(…) to negate an expression)"),
                            Span::new(start, self.at),
                        ));
                    }
                    let mut word = format!("!{word}");
                    if word == "!in" && self.peek(0) == b'~' {
                        self.at += 1;
                        word.push('~');
                    }
                    self.push(Token::Word(word), start);
                }
                _ => self.symbol(start)?,
            }
        }
    }

    /// Whether the previous token is `..` (so `1..2` stays long, range, long).
    fn after_dotdot(&self) -> bool {
        matches!(self.tokens.last(), Some(Spanned { token: Token::DotDot, .. }))
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            loop {
                if self.peek(0).is_ascii_whitespace() {
                    self.at += 1;
                } else if let Some(width) = self.unicode_space() {
                    self.at += width;
                } else {
                    break;
                }
            }
            if self.peek(0) == b'/' && self.peek(1) == b'/' {
                while self.at < self.bytes.len() && self.bytes[self.at] != b'\n' {
                    self.at += 1;
                }
            } else {
                return;
            }
        }
    }

    /// The width in bytes of a Unicode space at the cursor that queries copied from web pages
    /// carry and KQL reads as whitespace: no-break spaces (U+00A0, U+202F), the spaces
    /// U+2000–U+200A, the zero-width space U+200B, the ideographic space U+3000 and the byte
    /// order mark U+FEFF.
    fn unicode_space(&self) -> Option<usize> {
        match (self.peek(0), self.peek(1), self.peek(2)) {
            (0xC2, 0xA0, _) => Some(2),
            (0xE2, 0x80, 0x80..=0x8B | 0xAF) | (0xE3, 0x80, 0x80) | (0xEF, 0xBB, 0xBF) => Some(3),
            _ => None,
        }
    }

    fn word(&mut self) -> &'a str {
        let start = self.at;
        while is_word(self.peek(0)) {
            self.at += 1;
        }
        &self.text[start..self.at]
    }

    fn word_token(&mut self, start: usize) -> Result<(), KqlError> {
        let word = self.word().to_owned();
        // project-away and the other hyphenated operators.
        if self.peek(0) == b'-' && is_word_start(self.peek(1)) {
            let save = self.at;
            self.at += 1;
            let joined = format!("{word}-{}", self.word());
            if HYPHENATED.contains(&joined.as_str()) {
                self.push(Token::Word(joined), start);
                return Ok(());
            }
            self.at = save;
        }
        if word == "in" && self.peek(0) == b'~' {
            self.at += 1;
            self.push(Token::Word("in~".into()), start);
            return Ok(());
        }
        if word == "datetime" {
            let save = self.at;
            self.skip_space_and_comments();
            if self.peek(0) == b'(' {
                self.at += 1;
                let inside = self.at;
                while self.at < self.bytes.len() && self.bytes[self.at] != b')' {
                    self.at += 1;
                }
                if self.at >= self.bytes.len() {
                    return Err(KqlError::syntax("datetime( is not closed with ')'", Span::new(start, self.at)));
                }
                let raw = self.text[inside..self.at].trim().to_owned();
                self.at += 1;
                self.push(Token::DateTime(raw), start);
                return Ok(());
            }
            self.at = save;
        }
        self.push(Token::Word(word), start);
        Ok(())
    }

    /// A string literal opened by `quote` at `self.at`. Verbatim strings (`@"…"`) take
    /// backslashes as they are and a doubled quote as one quote.
    fn string(&mut self, quote: u8, verbatim: bool) -> Result<String, KqlError> {
        let start = self.at;
        self.at += 1;
        let mut value = String::new();
        loop {
            let Some(c) = self.text[self.at..].chars().next() else {
                return Err(KqlError::syntax("the string is not closed", Span::new(start, self.at)));
            };
            let width = c.len_utf8();
            match c {
                '\n' if !verbatim => {
                    return Err(KqlError::syntax("the string is not closed on its line", Span::new(start, self.at)));
                }
                c if c as u32 == u32::from(quote) => {
                    if verbatim && self.peek(1) == quote {
                        value.push(c);
                        self.at += 2;
                        continue;
                    }
                    self.at += 1;
                    return Ok(value);
                }
                '\\' if !verbatim => {
                    self.at += 1;
                    let Some(escaped) = self.text[self.at..].chars().next() else {
                        return Err(KqlError::syntax("the string is not closed", Span::new(start, self.at)));
                    };
                    value.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        other => other,
                    });
                    self.at += escaped.len_utf8();
                }
                c => {
                    value.push(c);
                    self.at += width;
                }
            }
        }
    }

    /// A long, a real, or a timespan (a number followed by a unit).
    fn number(&mut self) -> Result<(), KqlError> {
        let start = self.at;
        if self.peek(0) == b'0' && matches!(self.peek(1), b'x' | b'X') {
            self.at += 2;
            let digits = self.word().to_owned();
            let value = i64::from_str_radix(&digits, 16).map_err(|_| {
                KqlError::syntax(format!("'0x{digits}' is not a hexadecimal long"), Span::new(start, self.at))
            })?;
            self.push(Token::Long(value), start);
            return Ok(());
        }
        while self.peek(0).is_ascii_digit() {
            self.at += 1;
        }
        let mut real = false;
        if self.peek(0) == b'.' && self.peek(1) != b'.' {
            real = true;
            self.at += 1;
            while self.peek(0).is_ascii_digit() {
                self.at += 1;
            }
        }
        if matches!(self.peek(0), b'e' | b'E')
            && (self.peek(1).is_ascii_digit() || (matches!(self.peek(1), b'+' | b'-') && self.peek(2).is_ascii_digit()))
        {
            real = true;
            self.at += 2;
            while self.peek(0).is_ascii_digit() {
                self.at += 1;
            }
        }
        let digits = &self.text[start..self.at];
        if is_word_start(self.peek(0)) {
            let unit_start = self.at;
            let unit = self.word().to_owned();
            let span = Span::new(start, self.at);
            let Some(ticks) = timespan_unit(&unit) else {
                return Err(KqlError::syntax(
                    format!(
                        "'{}' is not a number or a timespan (units: d, h, m, s, ms, microsecond, tick)",
                        &self.text[start..self.at]
                    ),
                    Span::new(start, unit_start.max(self.at)),
                ));
            };
            let amount: f64 = digits.parse().map_err(|_| KqlError::syntax("not a number", span))?;
            let value = amount * ticks;
            if !value.is_finite() || value.abs() > i64::MAX as f64 {
                return Err(KqlError::syntax("the timespan is too large", span));
            }
            self.push(Token::Timespan(value.round() as i64), start);
            return Ok(());
        }
        let span = Span::new(start, self.at);
        if real {
            let value: f64 =
                digits.parse().map_err(|_| KqlError::syntax(format!("'{digits}' is not a number"), span))?;
            self.push(Token::Real(value), start);
        } else {
            let value: i64 =
                digits.parse().map_err(|_| KqlError::syntax(format!("'{digits}' does not fit in a long"), span))?;
            self.push(Token::Long(value), start);
        }
        Ok(())
    }

    fn symbol(&mut self, start: usize) -> Result<(), KqlError> {
        let (token, width) = match (self.peek(0), self.peek(1)) {
            (b'|', _) => (Token::Pipe, 1),
            (b',', _) => (Token::Comma, 1),
            (b';', _) => (Token::Semicolon, 1),
            (b'.', b'.') => (Token::DotDot, 2),
            (b'.', _) => (Token::Dot, 1),
            (b'(', _) => (Token::LParen, 1),
            (b')', _) => (Token::RParen, 1),
            (b'[', _) => (Token::LBracket, 1),
            (b']', _) => (Token::RBracket, 1),
            (b'{', _) => (Token::LBrace, 1),
            (b'}', _) => (Token::RBrace, 1),
            (b'=', b'=') => (Token::Eq, 2),
            (b'=', b'~') => (Token::EqTilde, 2),
            (b'=', _) => (Token::Assign, 1),
            (b'!', b'=') => (Token::NotEq, 2),
            (b'!', b'~') => (Token::NotTilde, 2),
            (b'<', b'=') => (Token::Le, 2),
            (b'<', b'>') => (Token::NotEq, 2),
            (b'<', _) => (Token::Lt, 1),
            (b'>', b'=') => (Token::Ge, 2),
            (b'>', _) => (Token::Gt, 1),
            (b'+', _) => (Token::Plus, 1),
            (b'-', _) => (Token::Minus, 1),
            (b'*', _) => (Token::Star, 1),
            (b'/', _) => (Token::Slash, 1),
            (b'%', _) => (Token::Percent, 1),
            (b':', _) => (Token::Colon, 1),
            _ => {
                let c = self.text[self.at..].chars().next().unwrap_or('?');
                return Err(KqlError::syntax(
                    format!("unexpected character '{c}'"),
                    Span::new(start, start + c.len_utf8()),
                ));
            }
        };
        self.at += width;
        self.push(token, start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token> {
        tokenize(text).expect("tokenizes").into_iter().map(|t| t.token).collect()
    }

    #[test]
    fn words_strings_numbers_and_timespans() {
        assert_eq!(
            tokens(r#"T | where A =~ "x\"y" and B !contains @'c:\temp' // note"#),
            vec![
                Token::Word("T".into()),
                Token::Pipe,
                Token::Word("where".into()),
                Token::Word("A".into()),
                Token::EqTilde,
                Token::String("x\"y".into()),
                Token::Word("and".into()),
                Token::Word("B".into()),
                Token::Word("!contains".into()),
                Token::String(r"c:\temp".into()),
                Token::End,
            ]
        );
        assert_eq!(
            tokens("1d 2h 30m 10s 1.5h 100ms 7 2.5 1e3 0x1F"),
            vec![
                Token::Timespan(864_000_000_000),
                Token::Timespan(72_000_000_000),
                Token::Timespan(18_000_000_000),
                Token::Timespan(100_000_000),
                Token::Timespan(54_000_000_000),
                Token::Timespan(1_000_000),
                Token::Long(7),
                Token::Real(2.5),
                Token::Real(1000.0),
                Token::Long(31),
                Token::End,
            ]
        );
    }

    #[test]
    fn hyphenated_operators_ranges_and_datetimes() {
        assert_eq!(
            tokens("project-away A | x-y | between (1 .. 10) | in~ !in~ datetime(2024-01-02 03:04)"),
            vec![
                Token::Word("project-away".into()),
                Token::Word("A".into()),
                Token::Pipe,
                Token::Word("x".into()),
                Token::Minus,
                Token::Word("y".into()),
                Token::Pipe,
                Token::Word("between".into()),
                Token::LParen,
                Token::Long(1),
                Token::DotDot,
                Token::Long(10),
                Token::RParen,
                Token::Pipe,
                Token::Word("in~".into()),
                Token::Word("!in~".into()),
                Token::DateTime("2024-01-02 03:04".into()),
                Token::End,
            ]
        );
        assert_eq!(tokens("1..10")[..3], [Token::Long(1), Token::DotDot, Token::Long(10)]);
        assert_eq!(tokens("@'it''s'"), vec![Token::String("it's".into()), Token::End]);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let error = tokenize("T | where A == \"open").expect_err("unclosed");
        assert_eq!(error.span.start, 15);
        let error = tokenize("T | where A == 5q").expect_err("bad unit");
        assert!(error.message.contains("'5q'"), "{}", error.message);
        let error = tokenize("T | where A # 1").expect_err("bad character");
        assert_eq!((error.span.start, error.message.as_str()), (12, "unexpected character '#'"));
        let error = tokenize("T | where !A").expect_err("bang");
        assert!(error.message.contains("not(…)"));
        assert!(tokenize("99999999999999999999").is_err());
    }
}
