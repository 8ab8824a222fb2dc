//! Query errors with the place they refer to.

use std::fmt;

/// A byte range of the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// What kind of mistake a query makes, which decides the wording of the API's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not KQL ("A recognition error occurred.").
    Syntax,
    /// Valid KQL that Threatgate does not run (an operator or function outside the subset).
    Unsupported,
    /// Valid KQL naming something that does not exist or mixing types.
    Semantic,
    /// A query past one of the size limits that keep a query's cost bounded (tree depth, plan
    /// size); the message names the limit.
    Limit,
}

/// A query that cannot run, with the place it refers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KqlError {
    pub kind: ErrorKind,
    pub message: String,
    pub span: Span,
}

impl KqlError {
    pub fn syntax(message: impl Into<String>, span: Span) -> Self {
        Self { kind: ErrorKind::Syntax, message: message.into(), span }
    }

    pub fn unsupported(message: impl Into<String>, span: Span) -> Self {
        Self { kind: ErrorKind::Unsupported, message: message.into(), span }
    }

    pub fn semantic(message: impl Into<String>, span: Span) -> Self {
        Self { kind: ErrorKind::Semantic, message: message.into(), span }
    }

    pub fn limit(message: impl Into<String>, span: Span) -> Self {
        Self { kind: ErrorKind::Limit, message: message.into(), span }
    }

    /// Line and column (both from 1, columns in characters) of the error's start in `query`.
    pub fn position(&self, query: &str) -> (usize, usize) {
        let start = self.span.start.min(query.len());
        let before = query.get(..start).unwrap_or(query);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// The message as the API returns it: Microsoft's wording for the kind, then what is wrong
    /// and where.
    pub fn describe(&self, query: &str) -> String {
        let (line, column) = self.position(query);
        let lead = match self.kind {
            ErrorKind::Syntax => "Syntax error: A recognition error occurred.",
            ErrorKind::Unsupported => "Unsupported query:",
            ErrorKind::Semantic => "Semantic error:",
            ErrorKind::Limit => "Query exceeds a limit:",
        };
        format!("{lead} {} [line:position={line}:{column}]", self.message)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}
