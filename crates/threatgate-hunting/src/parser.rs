//! Tokens to a [`Query`]: recursive descent for statements and tabular operators, precedence
//! climbing for scalar expressions. Operators and functions outside the subset are recognised
//! by name and refused as unsupported (not as a syntax error), so that the message says what is
//! missing rather than that the query is wrong.

use threatgate_domain::datetime::parse_datetime_ticks;

use crate::ast::{
    BinaryOp, Expr, ExprKind, Ident, JoinKey, Let, LetValue, Literal, NamedExpr, Operator, OperatorKind, OutputSchema,
    ParsePiece, Pipeline, Query, SortKey, Source, TextOp,
};
use crate::error::{KqlError, Span};
use crate::lexer::{Spanned, Token, tokenize};
use crate::schema::Type;

/// Deepest nesting of parentheses, sub-queries and operators accepted: enough for any real
/// query, and far from exhausting the stack.
const MAX_DEPTH: usize = 64;
/// Longest query text accepted, in bytes of UTF-8.
pub const MAX_QUERY_LENGTH: usize = 100_000;
/// Deepest expression tree accepted (an operator's operand counts a level; so does each link
/// of an arithmetic chain such as `1 + 1 + 1`). `and` and `or` chains are built balanced, so
/// a chain of any realistic length stays shallow. Every walk over expressions (binding, the
/// SQL compilers, dropping the tree) recurses at most this deep, plus a `let`'s own depth;
/// `bind` holds expanded expressions to the same limit.
pub const MAX_EXPRESSION_DEPTH: usize = 100;

/// KQL tabular operators Threatgate does not run, so that a query using one is told so.
const UNSUPPORTED_OPERATORS: &[&str] = &[
    "as",
    "consume",
    "extend-if",
    "facet",
    "find",
    "fork",
    "invoke",
    "lookup",
    "make-series",
    "mv-apply",
    "parse-kv",
    "parse-where",
    "partition",
    "project-keep",
    "reduce",
    "sample",
    "sample-distinct",
    "scan",
    "top-hitters",
];

/// Parses a whole query.
pub fn parse(text: &str) -> Result<Query, KqlError> {
    if text.len() > MAX_QUERY_LENGTH {
        return Err(KqlError::limit(format!("the query is longer than {MAX_QUERY_LENGTH} bytes"), Span::new(0, 0)));
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, at: 0, depth: 0 };
    parser.query()
}

struct Parser {
    tokens: Vec<Spanned>,
    at: usize,
    depth: usize,
}

type Parsed<T> = Result<T, KqlError>;

impl Parser {
    // ----- Tokens -----

    fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        self.tokens.get(self.at + ahead).or(self.tokens.last()).map_or(&Token::End, |t| &t.token)
    }

    fn span(&self) -> Span {
        self.tokens.get(self.at).or(self.tokens.last()).map_or(Span::default(), |t| t.span)
    }

    /// The span of the token just consumed.
    fn previous_span(&self) -> Span {
        self.at.checked_sub(1).and_then(|i| self.tokens.get(i)).map_or(Span::default(), |t| t.span)
    }

    fn advance(&mut self) -> Spanned {
        let token = self.tokens.get(self.at).cloned().unwrap_or(Spanned { token: Token::End, span: self.span() });
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Token::Word(w) if w == word)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.is_word(word) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == token {
            self.advance();
            true
        } else {
            false
        }
    }

    fn unexpected(&self, expected: &str) -> KqlError {
        KqlError::syntax(format!("expected {expected}, found {}", self.peek().describe()), self.span())
    }

    fn expect(&mut self, token: &Token, expected: &str) -> Parsed<Span> {
        if self.peek() == token { Ok(self.advance().span) } else { Err(self.unexpected(expected)) }
    }

    fn expect_word(&mut self, word: &str) -> Parsed<Span> {
        if self.is_word(word) { Ok(self.advance().span) } else { Err(self.unexpected(&format!("'{word}'"))) }
    }

    /// A name: a word, or `['name']` / `["name"]` for names that are not words.
    fn ident(&mut self, what: &str) -> Parsed<Ident> {
        match self.peek().clone() {
            Token::Word(name) if !name.starts_with('!') => {
                let span = self.advance().span;
                Ok(Ident { name, span })
            }
            Token::LBracket => {
                let start = self.advance().span;
                let Token::String(name) = self.peek().clone() else {
                    return Err(self.unexpected("a quoted name after '['"));
                };
                self.advance();
                let end = self.expect(&Token::RBracket, "']'")?;
                Ok(Ident { name, span: start.to(end) })
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn enter(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(KqlError::limit(
                format!("the query nests parentheses, sub-queries and operators more than {MAX_DEPTH} deep"),
                self.span(),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ----- Statements -----

    fn query(&mut self) -> Parsed<Query> {
        let mut lets = Vec::new();
        loop {
            while self.eat(&Token::Semicolon) {}
            if self.is_word("let") {
                lets.push(self.let_statement()?);
                continue;
            }
            if self.is_word("set") || self.is_word("declare") || self.is_word("alias") {
                return Err(KqlError::unsupported(
                    format!("the '{}' statement is not supported", self.peek().describe().trim_matches('\'')),
                    self.span(),
                ));
            }
            break;
        }
        if *self.peek() == Token::End {
            return Err(KqlError::syntax("the query has no tabular expression to run", self.span()));
        }
        let body = self.pipeline()?;
        while self.eat(&Token::Semicolon) {}
        if *self.peek() != Token::End {
            let found = self.peek().describe();
            // A query of several statements: say so in terms of what the text holds.
            let why = if lets.is_empty() {
                "a query runs one tabular expression; separate queries are run one at a time"
            } else {
                "only one tabular expression may follow the let statements"
            };
            return Err(KqlError::syntax(
                format!("expected '|' or the end of the query, found {found} ({why})"),
                self.span(),
            ));
        }
        Ok(Query { lets, body })
    }

    fn let_statement(&mut self) -> Parsed<Let> {
        self.expect_word("let")?;
        let name = self.ident("a name after 'let'")?;
        self.expect(&Token::Assign, "'=' after the let's name")?;
        let value = if matches!(self.peek(), Token::LParen) && self.looks_like_function() {
            return Err(KqlError::unsupported(
                "user-defined functions (let f = (…) { … }) are not supported",
                name.span,
            ));
        } else if self.is_word("materialize") && matches!(self.peek_at(1), Token::LParen) {
            // materialize(T) caches T for the query; here it is T.
            self.advance();
            self.advance();
            let inner = self.pipeline()?;
            self.expect(&Token::RParen, "')' after the materialized query")?;
            LetValue::Tabular(inner)
        } else if self.starts_tabular() {
            LetValue::Tabular(self.pipeline()?)
        } else {
            LetValue::Scalar(self.expr()?)
        };
        if !self.eat(&Token::Semicolon) {
            return Err(self.unexpected("';' after the let statement"));
        }
        Ok(Let { name, value })
    }

    /// `(a:long, …) {` or `() {`: a function definition (`()` and `name:` are never scalars).
    fn looks_like_function(&self) -> bool {
        matches!(self.peek_at(1), Token::RParen)
            || matches!((self.peek_at(1), self.peek_at(2)), (Token::Word(_), Token::Colon))
    }

    /// Whether a `let` value is tabular: `union …`, a name followed by `|`, or `(` whose
    /// contents are tabular.
    fn starts_tabular(&self) -> bool {
        match (self.peek(), self.peek_at(1)) {
            (Token::Word(w), _) if w == "union" => true,
            (Token::Word(w), Token::LParen) if w == "datatable" => true,
            (Token::Word(_), Token::Pipe) => true,
            (Token::LParen, Token::Word(_)) => matches!(self.peek_at(2), Token::Pipe),
            _ => false,
        }
    }

    // ----- Tabular expressions -----

    fn pipeline(&mut self) -> Parsed<Pipeline> {
        self.enter()?;
        let start = self.span();
        let source = self.source()?;
        let mut operators = Vec::new();
        while self.eat(&Token::Pipe) {
            operators.push(self.operator()?);
        }
        self.leave();
        Ok(Pipeline { source, operators, span: start.to(self.previous_span()) })
    }

    fn source(&mut self) -> Parsed<Source> {
        match self.peek().clone() {
            Token::Word(w) if w == "union" => {
                self.advance();
                Ok(Source::Union(self.union_legs()?))
            }
            Token::LParen => {
                self.advance();
                let inner = self.pipeline()?;
                self.expect(&Token::RParen, "')' after the nested query")?;
                Ok(Source::Nested(Box::new(inner)))
            }
            Token::Word(w) if w == "print" => {
                self.advance();
                Ok(Source::Print(self.named_list(false)?))
            }
            Token::Word(w) if w == "externaldata" => Err(KqlError::unsupported(EXTERNAL_DATA, self.span())),
            Token::Word(w) if w == "datatable" && matches!(self.peek_at(1), Token::LParen) => {
                self.advance();
                self.datatable()
            }
            Token::Word(w) if w == "search" => {
                self.advance();
                let (case_sensitive, tables, predicate) = self.search()?;
                Ok(Source::Search { case_sensitive, tables, predicate })
            }
            Token::Word(w) if w == "range" && !matches!(self.peek_at(1), Token::LParen) => {
                self.advance();
                let column = self.ident("the range's column name")?;
                self.expect_word("from")?;
                let start = self.expr()?;
                self.expect_word("to")?;
                let end = self.expr()?;
                self.expect_word("step")?;
                let step = self.expr()?;
                Ok(Source::Range { column, start: Box::new(start), end: Box::new(end), step: Box::new(step) })
            }
            Token::Word(w) if matches!(w.as_str(), "range" | "find") => Err(KqlError::unsupported(
                format!("'{w}' is not supported as a source of rows; start from a table"),
                self.span(),
            )),
            Token::Word(_) | Token::LBracket => Ok(Source::Named(self.ident("a table name")?)),
            _ => Err(self.unexpected("a table name")),
        }
    }

    /// `datatable(Name:type, …) [value, …]`: the values row by row.
    fn datatable(&mut self) -> Parsed<Source> {
        self.expect(&Token::LParen, "'(' after datatable")?;
        let mut columns = Vec::new();
        loop {
            let name = self.ident("a column name")?;
            self.expect(&Token::Colon, "':' and a type after the column name")?;
            let ty = self.ident("a column type")?;
            columns.push((name, ty));
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        self.expect(&Token::RParen, "')' after the datatable's columns")?;
        self.expect(&Token::LBracket, "'[' and the datatable's values")?;
        let mut values = Vec::new();
        // A comma may follow the last value.
        while *self.peek() != Token::RBracket {
            values.push(self.expr()?);
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        self.expect(&Token::RBracket, "']' after the datatable's values")?;
        Ok(Source::DataTable { columns, values })
    }

    /// `union`'s legs: tables or parenthesised queries, separated by commas.
    fn union_legs(&mut self) -> Parsed<Vec<Pipeline>> {
        // kind=outer is what union does; isfuzzy=true allows legs that do not resolve, and
        // every leg here must resolve anyway.
        loop {
            let (parameter, value) = if let Some(value) = self.parameter("kind", "the parameter's value")? {
                ("kind", value)
            } else if let Some(value) = self.parameter("isfuzzy", "the parameter's value")? {
                ("isfuzzy", value)
            } else {
                break;
            };
            let accepted = match parameter {
                "kind" => value.name == "outer",
                _ => value.name == "true" || value.name == "false",
            };
            if !accepted {
                return Err(KqlError::unsupported(
                    format!("union {parameter}={} is not supported (kind=outer and isfuzzy= are)", value.name),
                    value.span,
                ));
            }
        }
        if self.is_word("withsource") || self.is_word("kind") || self.is_word("isfuzzy") {
            return Err(KqlError::unsupported("union withsource= is not supported", self.span()));
        }
        let mut legs = Vec::new();
        loop {
            let start = self.span();
            let leg = if self.eat(&Token::LParen) {
                let inner = self.pipeline()?;
                self.expect(&Token::RParen, "')' after the union's query")?;
                inner
            } else {
                let name = self.ident("a table name or '(' in union")?;
                if name.name.contains('*') {
                    return Err(KqlError::unsupported("wildcard table names are not supported", name.span));
                }
                Pipeline { source: Source::Named(name), operators: Vec::new(), span: start }
            };
            legs.push(leg);
            if !self.eat(&Token::Comma) {
                return Ok(legs);
            }
        }
    }

    fn operator(&mut self) -> Parsed<Operator> {
        let start = self.span();
        let Token::Word(word) = self.peek().clone() else {
            return Err(self.unexpected("an operator after '|'"));
        };
        self.advance();
        let kind = match word.as_str() {
            "where" | "filter" => OperatorKind::Where(self.expr()?),
            "getschema" => OperatorKind::GetSchema,
            "serialize" => {
                let ends = matches!(self.peek(), Token::End | Token::Pipe | Token::RParen | Token::Semicolon);
                OperatorKind::Serialize(if ends { Vec::new() } else { self.named_list(false)? })
            }
            "search" => {
                let (case_sensitive, tables, predicate) = self.search()?;
                if let Some(first) = tables.and_then(|tables| tables.into_iter().next()) {
                    return Err(KqlError::syntax(
                        "'search in (…)' names tables only where search starts a query",
                        first.span,
                    ));
                }
                OperatorKind::Search { case_sensitive, predicate }
            }
            "project" => OperatorKind::Project(self.named_list(false)?),
            "extend" => OperatorKind::Extend(self.named_list(false)?),
            "project-away" => OperatorKind::ProjectAway(self.pattern_list()?),
            "project-reorder" => {
                let patterns = self.pattern_list()?;
                if self.is_word("asc")
                    || self.is_word("desc")
                    || self.is_word("granny-asc")
                    || self.is_word("granny-desc")
                {
                    return Err(KqlError::unsupported("project-reorder with an order is not supported", self.span()));
                }
                OperatorKind::ProjectReorder(patterns)
            }
            "parse" => {
                if let Some(kind) = self.parameter("kind", "a parse kind")?
                    && kind.name != "simple"
                {
                    return Err(KqlError::unsupported(
                        format!("parse kind={} is not supported (simple is)", kind.name),
                        kind.span,
                    ));
                }
                let expr = self.expr()?;
                self.expect_word("with")?;
                let mut pattern = Vec::new();
                loop {
                    match self.peek().clone() {
                        Token::Star => {
                            self.advance();
                            pattern.push(ParsePiece::Any);
                        }
                        Token::String(text) => {
                            self.advance();
                            pattern.push(ParsePiece::Literal(text));
                        }
                        Token::Word(_) | Token::LBracket => {
                            let name = self.ident("a column name")?;
                            let ty = if self.eat(&Token::Colon) { Some(self.ident("a type name")?) } else { None };
                            pattern.push(ParsePiece::Column { name, ty });
                        }
                        _ => break,
                    }
                }
                if pattern.is_empty() {
                    return Err(self.unexpected("a parse pattern after 'with'"));
                }
                OperatorKind::Parse { expr, pattern }
            }
            "render" => {
                // Everything up to the next operator: the chart's kind and its properties.
                let mut depth = 0_usize;
                loop {
                    match self.peek() {
                        Token::End | Token::Semicolon => break,
                        Token::Pipe | Token::RParen if depth == 0 => break,
                        Token::LParen => depth += 1,
                        Token::RParen => depth -= 1,
                        _ => {}
                    }
                    self.advance();
                }
                OperatorKind::Render
            }
            "project-rename" => {
                let mut pairs = Vec::new();
                loop {
                    let new = self.ident("the new column name")?;
                    self.expect(&Token::Assign, "'=' in project-rename (New = Old)")?;
                    let old = self.ident("the column to rename")?;
                    pairs.push((new, old));
                    if !self.eat(&Token::Comma) {
                        break;
                    }
                }
                OperatorKind::ProjectRename(pairs)
            }
            "summarize" => self.summarize()?,
            "order" | "sort" => {
                self.expect_word("by")?;
                let mut keys = vec![self.sort_key()?];
                while self.eat(&Token::Comma) {
                    keys.push(self.sort_key()?);
                }
                OperatorKind::Sort(keys)
            }
            "top" => {
                let count = self.expr()?;
                self.expect_word("by")?;
                let key = self.sort_key()?;
                if self.is_word("with") {
                    return Err(KqlError::unsupported("top … with others is not supported", self.span()));
                }
                OperatorKind::Top { count, key }
            }
            "top-nested" => self.top_nested()?,
            "evaluate" => self.evaluate()?,
            "take" | "limit" => OperatorKind::Take(self.expr()?),
            "distinct" => {
                if self.eat(&Token::Star) {
                    OperatorKind::Distinct(Vec::new())
                } else {
                    let mut columns = vec![self.expr()?];
                    while self.eat(&Token::Comma) {
                        columns.push(self.expr()?);
                    }
                    OperatorKind::Distinct(columns)
                }
            }
            "count" => OperatorKind::Count,
            // `mvexpand` is the legacy spelling, whose default limit is 128 rows.
            "mv-expand" | "mvexpand" => self.mv_expand(word == "mvexpand")?,
            "join" => self.join()?,
            "union" => OperatorKind::Union(self.union_legs()?),
            other if UNSUPPORTED_OPERATORS.contains(&other) => {
                return Err(KqlError::unsupported(format!("the '{other}' operator is not supported"), start));
            }
            other => {
                return Err(KqlError::syntax(format!("'{other}' is not a tabular operator"), start));
            }
        };
        Ok(Operator { kind, span: start.to(self.previous_span()) })
    }

    /// `[Name =] expr, …` (`aggregates` allows the `(A, B) = arg_max(…)` form to be refused
    /// clearly rather than misread).
    /// The value (`what` it must be) of an operator's `name=value` parameter, if one is next.
    /// After `search`: `[kind=case_sensitive|case_insensitive] [in (Table, …)]` and the
    /// predicate, `None` for `*` (every row).
    #[allow(clippy::type_complexity, reason = "the three parts of one clause, taken apart at once")]
    fn search(&mut self) -> Parsed<(bool, Option<Vec<Ident>>, Option<Expr>)> {
        let case_sensitive = match self.parameter("kind", "case_sensitive or case_insensitive")? {
            None => false,
            Some(kind) if kind.name == "case_insensitive" => false,
            Some(kind) if kind.name == "case_sensitive" => true,
            Some(kind) => {
                return Err(KqlError::syntax(
                    format!("'{}' is not a search kind (case_sensitive, case_insensitive)", kind.name),
                    kind.span,
                ));
            }
        };
        let tables = if self.is_word("in") && matches!(self.peek_at(1), Token::LParen) {
            self.advance();
            self.advance();
            let mut tables = Vec::new();
            loop {
                let table = self.ident("a table name")?;
                if table.name.contains('*') {
                    return Err(KqlError::unsupported("wildcard table names are not supported", table.span));
                }
                tables.push(table);
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
            self.expect(&Token::RParen, "')' after the tables to search")?;
            Some(tables)
        } else {
            None
        };
        let every_row = *self.peek() == Token::Star
            && matches!(self.peek_at(1), Token::End | Token::Pipe | Token::RParen | Token::Semicolon);
        if every_row {
            self.advance();
            return Ok((case_sensitive, tables, None));
        }
        Ok((case_sensitive, tables, Some(self.expr()?)))
    }

    fn parameter(&mut self, name: &str, what: &str) -> Parsed<Option<Ident>> {
        if !(self.is_word(name) && matches!(self.peek_at(1), Token::Assign)) {
            return Ok(None);
        }
        self.advance();
        self.advance();
        Ok(Some(self.ident(what)?))
    }

    fn mv_expand(&mut self, legacy: bool) -> Parsed<OperatorKind> {
        loop {
            if let Some(kind) = self.parameter("kind", "'array' or 'bag'")? {
                if kind.name != "array" && kind.name != "bag" {
                    return Err(KqlError::syntax(
                        format!("'{}' is not an mv-expand kind (array, bag)", kind.name),
                        kind.span,
                    ));
                }
            } else if self.is_word("with_itemindex") || self.is_word("bagexpansion") {
                return Err(KqlError::unsupported(
                    "mv-expand parameters other than kind= are not supported",
                    self.span(),
                ));
            } else {
                break;
            }
        }
        let mut items = self.named_list(false)?;
        let to = if self.eat_word("to") {
            self.expect_word("typeof")?;
            self.expect(&Token::LParen, "'(' after typeof")?;
            let ty = self.ident("a type name")?;
            self.expect(&Token::RParen, "')' after the type")?;
            Some(ty)
        } else {
            None
        };
        if self.is_word("to") || *self.peek() == Token::Comma || items.len() > 1 {
            return Err(KqlError::unsupported("mv-expand of several columns at once is not supported", self.span()));
        }
        let limit = if self.eat_word("limit") {
            match self.advance().token {
                Token::Long(n) if n >= 0 => Some(n as u64),
                _ => return Err(KqlError::syntax("expected a row count after 'limit'", self.previous_span())),
            }
        } else if legacy {
            Some(128)
        } else {
            None
        };
        let Some(item) = items.pop() else { return Err(self.unexpected("a column to expand")) };
        Ok(OperatorKind::MvExpand { item, to, limit })
    }

    fn named_list(&mut self, aggregates: bool) -> Parsed<Vec<NamedExpr>> {
        let mut items = Vec::new();
        loop {
            if aggregates && *self.peek() == Token::LParen && matches!(self.peek_at(2), Token::Comma) {
                // (A, B) = arg_max(…): names for the aggregation's columns, in order.
                self.advance();
                let mut names = vec![self.ident("a column name")?];
                while self.eat(&Token::Comma) {
                    names.push(self.ident("a column name")?);
                }
                self.expect(&Token::RParen, "')' after the column names")?;
                self.expect(&Token::Assign, "'=' after (names)")?;
                let first = names.remove(0);
                items.push(NamedExpr { name: Some(first), more_names: names, expr: self.expr()? });
                if !self.eat(&Token::Comma) {
                    return Ok(items);
                }
                continue;
            }
            items.push(self.named_expr()?);
            if !self.eat(&Token::Comma) {
                return Ok(items);
            }
        }
    }

    /// `[Name =] expr`.
    fn named_expr(&mut self) -> Parsed<NamedExpr> {
        let named = matches!(self.peek(), Token::Word(_) | Token::LBracket)
            && match self.peek() {
                Token::LBracket => matches!(self.peek_at(3), Token::Assign),
                _ => matches!(self.peek_at(1), Token::Assign),
            };
        let name = if named {
            let name = self.ident("a column name")?;
            self.advance(); // '='
            Some(name)
        } else {
            None
        };
        Ok(NamedExpr { name, more_names: Vec::new(), expr: self.expr()? })
    }

    /// Column names that may hold `*` wildcards (`Initiating*`, `*Id`).
    fn pattern_list(&mut self) -> Parsed<Vec<Ident>> {
        let mut patterns = Vec::new();
        loop {
            let start = self.span();
            let mut name = String::new();
            loop {
                match self.peek().clone() {
                    Token::Word(word) => name.push_str(&word),
                    Token::Star => name.push('*'),
                    Token::LBracket if name.is_empty() => {
                        let ident = self.ident("a column name")?;
                        name = ident.name;
                        break;
                    }
                    _ => break,
                }
                self.advance();
                // A pattern's pieces are adjacent: `A *` is not `A*`.
                if self.span().start != self.previous_span().end {
                    break;
                }
            }
            if name.is_empty() {
                return Err(self.unexpected("a column name"));
            }
            patterns.push(Ident { name, span: start.to(self.previous_span()) });
            if !self.eat(&Token::Comma) {
                return Ok(patterns);
            }
        }
    }

    /// `top-nested [N] of [Name =] Expr by [Name =] Aggregation [asc|desc]`: one level (several,
    /// and `with others`, are refused by name).
    fn top_nested(&mut self) -> Parsed<OperatorKind> {
        let count = if self.is_word("of") { None } else { Some(self.expr()?) };
        self.expect_word("of")?;
        let of = self.named_expr()?;
        if self.is_word("with") {
            return Err(KqlError::unsupported("top-nested … with others is not supported", self.span()));
        }
        self.expect_word("by")?;
        let by = self.named_expr()?;
        let descending = !self.eat_word("asc");
        if descending {
            self.eat_word("desc");
        }
        if *self.peek() == Token::Comma {
            return Err(KqlError::unsupported("top-nested with more than one level is not supported", self.span()));
        }
        Ok(OperatorKind::TopNested { count, of, by, descending })
    }

    /// `evaluate bag_unpack(Column [, Prefix]) [: ([*,] Name:type, …)]`; every other plugin is
    /// refused by name.
    fn evaluate(&mut self) -> Parsed<OperatorKind> {
        if self.is_word("hint.distribution") || self.is_word("hint.remote") || self.is_word("hint.pass_filters") {
            return Err(KqlError::unsupported("evaluate hints are not supported", self.span()));
        }
        let plugin = self.ident("a plugin name")?;
        if plugin.name != "bag_unpack" {
            return Err(KqlError::unsupported(
                format!("the '{}' plugin is not supported (bag_unpack is)", plugin.name),
                plugin.span,
            ));
        }
        self.expect(&Token::LParen, "'(' after bag_unpack")?;
        let column = self.ident("the column to unpack")?;
        let prefix = if self.eat(&Token::Comma) {
            let Token::String(prefix) = self.peek().clone() else {
                return Err(self.unexpected("the output column prefix (a string)"));
            };
            self.advance();
            if *self.peek() == Token::Comma {
                return Err(KqlError::unsupported(
                    "bag_unpack's columnsConflict and ignoredProperties are not supported",
                    self.span(),
                ));
            }
            prefix
        } else {
            String::new()
        };
        self.expect(&Token::RParen, "')' after bag_unpack's arguments")?;
        let schema = if self.eat(&Token::Colon) {
            self.expect(&Token::LParen, "'(' to start the output schema")?;
            let all = self.eat(&Token::Star);
            let mut columns = Vec::new();
            if !all || self.eat(&Token::Comma) {
                loop {
                    let name = self.ident("a column name")?;
                    self.expect(&Token::Colon, "':' and a type after the column name")?;
                    let ty = self.ident("a type name")?;
                    columns.push((name, ty));
                    if !self.eat(&Token::Comma) {
                        break;
                    }
                }
            }
            self.expect(&Token::RParen, "')' to end the output schema")?;
            Some(OutputSchema { all, columns })
        } else {
            None
        };
        Ok(OperatorKind::BagUnpack { column, prefix, schema, span: plugin.span })
    }

    fn summarize(&mut self) -> Parsed<OperatorKind> {
        if self.is_word("hint") {
            return Err(KqlError::unsupported("summarize hints are not supported", self.span()));
        }
        if matches!(self.peek(), Token::End | Token::Pipe | Token::RParen) {
            return Err(self.unexpected("an aggregation or 'by' after summarize"));
        }
        let aggregates = if self.is_word("by") { Vec::new() } else { self.named_list(true)? };
        let by = if self.eat_word("by") { self.named_list(false)? } else { Vec::new() };
        if aggregates.is_empty() && by.is_empty() {
            return Err(self.unexpected("an aggregation or 'by' after summarize"));
        }
        Ok(OperatorKind::Summarize { aggregates, by })
    }

    fn sort_key(&mut self) -> Parsed<SortKey> {
        let expr = self.expr()?;
        let descending = if self.eat_word("asc") {
            false
        } else {
            self.eat_word("desc");
            true
        };
        let nulls_first = if self.eat_word("nulls") {
            if self.eat_word("first") {
                Some(true)
            } else if self.eat_word("last") {
                Some(false)
            } else {
                return Err(self.unexpected("'first' or 'last' after 'nulls'"));
            }
        } else {
            None
        };
        Ok(SortKey { expr, descending, nulls_first })
    }

    fn join(&mut self) -> Parsed<OperatorKind> {
        let mut kind = None;
        loop {
            if self.is_word("kind") {
                self.advance();
                self.expect(&Token::Assign, "'=' after kind")?;
                kind = Some(self.ident("a join kind")?);
            } else if self.is_word("hint") || matches!(self.peek(), Token::Word(w) if w.starts_with("hint.")) {
                // `hint.strategy=broadcast`, `hint.shufflekey=DeviceId`, `hint.remote=auto`:
                // how Kusto distributes the join, not what it answers; read and ignored.
                self.advance();
                while self.eat(&Token::Dot) {
                    self.ident("a hint's name")?;
                }
                self.expect(&Token::Assign, "'=' after a join hint")?;
                match self.peek() {
                    Token::LParen | Token::Pipe | Token::End => return Err(self.unexpected("a join hint's value")),
                    _ => {
                        self.advance();
                    }
                }
            } else {
                break;
            }
        }
        let right = if self.eat(&Token::LParen) {
            let inner = self.pipeline()?;
            self.expect(&Token::RParen, "')' after the join's right side")?;
            inner
        } else {
            let start = self.span();
            let name = self.ident("'(' or a table name after join")?;
            Pipeline { source: Source::Named(name), operators: Vec::new(), span: start }
        };
        self.expect_word("on")?;
        let mut on = Vec::new();
        loop {
            on.push(self.join_key()?);
            if !self.eat(&Token::Comma) && !self.eat_word("and") {
                break;
            }
        }
        Ok(OperatorKind::Join { kind, right: Box::new(right), on })
    }

    fn join_key(&mut self) -> Parsed<JoinKey> {
        if let Token::Side(_) = self.peek() {
            let left = self.side_column("$left")?;
            self.expect(&Token::Eq, "'==' between $left.Column and $right.Column")?;
            let right = self.side_column("$right")?;
            return Ok(JoinKey::Pair { left, right });
        }
        Ok(JoinKey::Same(self.ident("a column name after 'on'")?))
    }

    fn side_column(&mut self, side: &str) -> Parsed<Ident> {
        match self.peek().clone() {
            Token::Side(s) if s == side => {
                self.advance();
                self.expect(&Token::Dot, &format!("'.' after {side}"))?;
                self.ident("a column name")
            }
            _ => Err(self.unexpected(&format!("{side}.Column"))),
        }
    }

    // ----- Scalar expressions -----

    pub(crate) fn expr(&mut self) -> Parsed<Expr> {
        self.enter()?;
        let result = self.or_expr();
        self.leave();
        result
    }

    fn binary(&self, op: BinaryOp, left: Expr, right: Expr) -> Parsed<Expr> {
        let span = left.span.to(right.span);
        self.node(ExprKind::Binary { op, left: Box::new(left), right: Box::new(right) }, span)
    }

    /// A node with expressions inside it, refused past [`MAX_EXPRESSION_DEPTH`] so that no
    /// deeper tree ever exists.
    fn node(&self, kind: ExprKind, span: Span) -> Parsed<Expr> {
        let expr = Expr { kind, span };
        if expr.depth() > MAX_EXPRESSION_DEPTH {
            return Err(KqlError::limit(
                format!(
                    "the expression nests more than {MAX_EXPRESSION_DEPTH} levels deep; use 'in', 'has_any' or fewer chained operators"
                ),
                span,
            ));
        }
        Ok(expr)
    }

    fn or_expr(&mut self) -> Parsed<Expr> {
        let mut operands = vec![self.and_expr()?];
        while self.eat_word("or") {
            operands.push(self.and_expr()?);
        }
        self.balanced(BinaryOp::Or, operands)
    }

    fn and_expr(&mut self) -> Parsed<Expr> {
        let mut operands = vec![self.comparison()?];
        while self.eat_word("and") {
            operands.push(self.comparison()?);
        }
        self.balanced(BinaryOp::And, operands)
    }

    /// `a or b or c …` as a balanced tree (the operators are associative, the order of the
    /// operands is kept): long chains of conditions, common in hunting queries, stay shallow.
    fn balanced(&self, op: BinaryOp, mut operands: Vec<Expr>) -> Parsed<Expr> {
        if operands.len() <= 1 {
            return operands.pop().ok_or_else(|| self.unexpected("an expression"));
        }
        let right = operands.split_off(operands.len().div_ceil(2));
        let left = self.balanced(op, operands)?;
        let right = self.balanced(op, right)?;
        self.binary(op, left, right)
    }

    /// Comparisons and string operators: one per operand pair (`a < b < c` is not KQL).
    fn comparison(&mut self) -> Parsed<Expr> {
        let left = self.additive()?;
        let symbol = match self.peek() {
            Token::Eq => Some(BinaryOp::Eq),
            Token::NotEq => Some(BinaryOp::NotEq),
            Token::EqTilde => Some(BinaryOp::EqCi),
            Token::NotTilde => Some(BinaryOp::NotEqCi),
            Token::Lt => Some(BinaryOp::Lt),
            Token::Le => Some(BinaryOp::Le),
            Token::Gt => Some(BinaryOp::Gt),
            Token::Ge => Some(BinaryOp::Ge),
            _ => None,
        };
        if let Some(op) = symbol {
            self.advance();
            let right = self.additive()?;
            return self.binary(op, left, right);
        }
        let Token::Word(word) = self.peek().clone() else { return Ok(left) };
        if let Some((op, negated)) = TextOp::parse(&word) {
            self.advance();
            let right = self.additive()?;
            return self.binary(BinaryOp::Text { op, negated }, left, right);
        }
        let start = self.span();
        match word.as_str() {
            "matches" => {
                self.advance();
                self.expect_word("regex")?;
                let right = self.additive()?;
                self.binary(BinaryOp::Text { op: TextOp::MatchesRegex, negated: false }, left, right)
            }
            "in" | "!in" | "in~" | "!in~" => {
                self.advance();
                let (list, end) = self.list()?;
                let span = left.span.to(end);
                self.node(
                    ExprKind::In {
                        expr: Box::new(left),
                        list,
                        negated: word.starts_with('!'),
                        case_insensitive: word.ends_with('~'),
                    },
                    span,
                )
            }
            "has_any" | "has_all" | "!has_any" | "!has_all" => {
                self.advance();
                let (list, end) = self.list()?;
                let span = left.span.to(end);
                self.node(
                    ExprKind::HasAny {
                        expr: Box::new(left),
                        list,
                        all: word.ends_with("has_all"),
                        negated: word.starts_with('!'),
                    },
                    span,
                )
            }
            "between" | "!between" => {
                self.advance();
                self.expect(&Token::LParen, "'(' after between")?;
                let low = self.additive()?;
                self.expect(&Token::DotDot, "'..' between the bounds")?;
                let high = self.additive()?;
                let end = self.expect(&Token::RParen, "')' after the bounds")?;
                let span = left.span.to(end);
                self.node(
                    ExprKind::Between {
                        expr: Box::new(left),
                        low: Box::new(low),
                        high: Box::new(high),
                        negated: word.starts_with('!'),
                    },
                    span,
                )
            }
            "hasprefix_cs" | "hassuffix_cs" | "contains_any" => {
                Err(KqlError::unsupported(format!("the '{word}' operator is not supported"), start))
            }
            w if w.starts_with('!') => {
                Err(KqlError::unsupported(format!("the '{w}' operator is not supported"), start))
            }
            _ => Ok(left),
        }
    }

    /// `( expr, … )` or `dynamic([…])` as the right side of `in` / `has_any`.
    fn list(&mut self) -> Parsed<(Vec<Expr>, Span)> {
        self.expect(&Token::LParen, "'(' and a list of values")?;
        if self.starts_tabular_inside_parens() {
            return Err(KqlError::unsupported("'in' with a sub-query is not supported; list the values", self.span()));
        }
        let mut items = Vec::new();
        if *self.peek() != Token::RParen {
            loop {
                let item = self.expr()?;
                match item.kind {
                    ExprKind::Dynamic(values) => items.extend(values),
                    _ => items.push(item),
                }
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
        }
        let end = self.expect(&Token::RParen, "')' after the list")?;
        Ok((items, end))
    }

    fn starts_tabular_inside_parens(&self) -> bool {
        matches!((self.peek(), self.peek_at(1)), (Token::Word(_), Token::Pipe))
    }

    fn additive(&mut self) -> Parsed<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Token::Plus => BinaryOp::Add,
                Token::Minus => BinaryOp::Sub,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.multiplicative()?;
            left = self.binary(op, left, right)?;
        }
    }

    fn multiplicative(&mut self) -> Parsed<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Token::Star => BinaryOp::Mul,
                Token::Slash => BinaryOp::Div,
                Token::Percent => BinaryOp::Mod,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.unary()?;
            left = self.binary(op, left, right)?;
        }
    }

    fn unary(&mut self) -> Parsed<Expr> {
        match self.peek() {
            Token::Minus => {
                let start = self.advance().span;
                self.enter()?;
                let inner = self.unary();
                self.leave();
                let inner = inner?;
                let span = start.to(inner.span);
                // A negative literal stays a literal (so that `-9223372036854775808` and
                // `ago(-1d)` read as written).
                match inner.kind {
                    ExprKind::Literal(Literal::Long(n)) => {
                        Ok(Expr { kind: ExprKind::Literal(Literal::Long(n.wrapping_neg())), span })
                    }
                    ExprKind::Literal(Literal::Real(n)) => {
                        Ok(Expr { kind: ExprKind::Literal(Literal::Real(-n)), span })
                    }
                    ExprKind::Literal(Literal::Timespan(n)) => {
                        Ok(Expr { kind: ExprKind::Literal(Literal::Timespan(n.wrapping_neg())), span })
                    }
                    _ => self.node(ExprKind::Negate(Box::new(inner)), span),
                }
            }
            Token::Plus => {
                self.advance();
                self.unary()
            }
            _ => self.postfix(),
        }
    }

    /// A primary expression with its property and element accesses: `parse_url(u).Host`,
    /// `AdditionalFields["Name"]`, `split(p, "\\")[-1]`.
    fn postfix(&mut self) -> Parsed<Expr> {
        let mut expr = self.primary()?;
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Token::Dot, Token::Word(name)) => {
                    let name = name.clone();
                    self.advance();
                    let span = self.advance().span;
                    let whole = expr.span.to(span);
                    expr = self.node(ExprKind::Member { target: Box::new(expr), name: Ident { name, span } }, whole)?;
                }
                (Token::LBracket, _) => {
                    self.advance();
                    self.enter()?;
                    let index = self.expr();
                    self.leave();
                    let index = index?;
                    let end = self.expect(&Token::RBracket, "']' after the index")?;
                    let whole = expr.span.to(end);
                    expr = self.node(ExprKind::Index { target: Box::new(expr), index: Box::new(index) }, whole)?;
                }
                _ => return Ok(expr),
            }
        }
    }

    fn primary(&mut self) -> Parsed<Expr> {
        let Spanned { token, span } = self.advance();
        let literal = |literal| Ok(Expr { kind: ExprKind::Literal(literal), span });
        match token {
            // Adjacent string literals are one string ("a" "b" is "ab").
            Token::String(mut s) => {
                let mut end = span;
                while let Token::String(next) = self.peek().clone() {
                    s.push_str(&next);
                    end = self.advance().span;
                }
                Ok(Expr { kind: ExprKind::Literal(Literal::String(s)), span: span.to(end) })
            }
            Token::Long(n) => literal(Literal::Long(n)),
            Token::Real(n) => literal(Literal::Real(n)),
            Token::Timespan(n) => literal(Literal::Timespan(n)),
            Token::DateTime(raw) => match datetime_ticks(&raw) {
                Some(ticks) => literal(Literal::DateTime(ticks)),
                None if raw == "null" => Ok(Expr { kind: ExprKind::TypedNull(Type::DateTime), span }),
                None => Err(KqlError::syntax(
                    format!("'{raw}' is not a datetime (e.g. 2024-05-01 or 2024-05-01T10:00:00Z)"),
                    span,
                )),
            },
            Token::Star => Ok(Expr { kind: ExprKind::Star, span }),
            Token::LParen => {
                let inner = self.expr()?;
                let end = self.expect(&Token::RParen, "')'")?;
                Ok(Expr { span: span.to(end), ..inner })
            }
            Token::LBracket => {
                // ['Column name']
                let Token::String(name) = self.peek().clone() else {
                    return Err(self.unexpected("a quoted column name after '['"));
                };
                self.advance();
                let end = self.expect(&Token::RBracket, "']'")?;
                Ok(Expr { kind: ExprKind::Name(name), span: span.to(end) })
            }
            Token::Side(side) => Err(KqlError::syntax(format!("{side} may appear only in a join's 'on' clause"), span)),
            Token::Word(word) => self.word_expr(word, span),
            other => Err(KqlError::syntax(format!("expected an expression, found {}", other.describe()), span)),
        }
    }

    fn word_expr(&mut self, word: String, span: Span) -> Parsed<Expr> {
        if word == "externaldata" {
            return Err(KqlError::unsupported(EXTERNAL_DATA, span));
        }
        if word == "range" && *self.peek() == Token::LParen {
            return Err(KqlError::unsupported(format!("'{word}' is not supported"), span));
        }
        if word == "toscalar" && *self.peek() == Token::LParen {
            self.advance();
            self.enter()?;
            let inner = self.pipeline()?;
            self.leave();
            let end = self.expect(&Token::RParen, "')' after toscalar's query")?;
            return Ok(Expr { kind: ExprKind::ToScalar(Box::new(inner)), span: span.to(end) });
        }
        match word.as_str() {
            "true" => return Ok(Expr { kind: ExprKind::Literal(Literal::Bool(true)), span }),
            "false" => return Ok(Expr { kind: ExprKind::Literal(Literal::Bool(false)), span }),
            _ => {}
        }
        if *self.peek() != Token::LParen {
            if word.starts_with('!') || is_reserved(&word) {
                return Err(KqlError::syntax(format!("expected an expression, found '{word}'"), span));
            }
            return Ok(Expr { kind: ExprKind::Name(word), span });
        }
        // A call: typed literals first.
        match word.as_str() {
            "dynamic" => return self.dynamic(span),
            "bool" | "boolean" | "long" | "int" | "real" | "double" | "timespan" | "time" | "guid" => {
                return self.typed_literal(&word, span);
            }
            _ => {}
        }
        self.advance(); // '('
        let mut args = Vec::new();
        if *self.peek() != Token::RParen {
            loop {
                args.push(self.expr()?);
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
        }
        let end = self.expect(&Token::RParen, &format!("')' after the arguments of {word}"))?;
        self.node(ExprKind::Call { name: Ident { name: word, span }, args }, span.to(end))
    }

    /// `dynamic([1, "a"])`, `dynamic(null)`; property bags are not supported.
    fn dynamic(&mut self, start: Span) -> Parsed<Expr> {
        self.advance(); // '('
        if self.eat_word("null") {
            let end = self.expect(&Token::RParen, "')'")?;
            return Ok(Expr { kind: ExprKind::Literal(Literal::Null), span: start.to(end) });
        }
        if *self.peek() == Token::LBrace {
            let value = self.json_value(0)?;
            let end = self.expect(&Token::RParen, "')'")?;
            return Ok(Expr { kind: ExprKind::Json(value), span: start.to(end) });
        }
        self.expect(&Token::LBracket, "'[' (an array) in dynamic(…)")?;
        let mut items = Vec::new();
        let mut nested = Vec::new();
        if *self.peek() != Token::RBracket {
            loop {
                if matches!(self.peek(), Token::LBrace | Token::LBracket) {
                    nested.push(items.len());
                    let span = self.span();
                    let value = self.json_value(1)?;
                    items.push(Expr { kind: ExprKind::Json(value), span });
                } else {
                    let item = self.unary()?;
                    if !matches!(item.kind, ExprKind::Literal(_)) {
                        return Err(KqlError::syntax(
                            "dynamic arrays hold literals, arrays and property bags",
                            item.span,
                        ));
                    }
                    items.push(item);
                }
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
        }
        self.expect(&Token::RBracket, "']'")?;
        let end = self.expect(&Token::RParen, "')'")?;
        if nested.is_empty() {
            return Ok(Expr { kind: ExprKind::Dynamic(items), span: start.to(end) });
        }
        // An array holding arrays or bags: one JSON value.
        let values = items
            .into_iter()
            .map(|item| match item.kind {
                ExprKind::Json(value) => Ok(value),
                ExprKind::Literal(literal) => json_of(&literal, item.span),
                _ => Err(KqlError::syntax("dynamic arrays hold literals, arrays and property bags", item.span)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Expr { kind: ExprKind::Json(serde_json::Value::Array(values)), span: start.to(end) })
    }

    /// A value of a `dynamic(…)` literal: `{"name": value, …}`, `[value, …]`, or a literal
    /// (strings, numbers, bools, null; datetimes and timespans as KQL writes them in JSON).
    fn json_value(&mut self, depth: usize) -> Parsed<serde_json::Value> {
        if depth >= MAX_DEPTH {
            return Err(KqlError::syntax("the dynamic literal nests too deeply", self.span()));
        }
        if self.eat(&Token::LBrace) {
            let mut bag = serde_json::Map::new();
            if *self.peek() != Token::RBrace {
                loop {
                    let key = match self.advance() {
                        Spanned { token: Token::String(key) | Token::Word(key), .. } => key,
                        other => {
                            return Err(KqlError::syntax(
                                format!("expected a property name, found {}", other.token.describe()),
                                other.span,
                            ));
                        }
                    };
                    self.expect(&Token::Colon, "':' after a property name")?;
                    let value = self.json_value(depth + 1)?;
                    bag.insert(key, value);
                    if !self.eat(&Token::Comma) {
                        break;
                    }
                }
            }
            self.expect(&Token::RBrace, "'}' after the property bag")?;
            return Ok(serde_json::Value::Object(bag));
        }
        if self.eat(&Token::LBracket) {
            let mut items = Vec::new();
            if *self.peek() != Token::RBracket {
                loop {
                    items.push(self.json_value(depth + 1)?);
                    if !self.eat(&Token::Comma) {
                        break;
                    }
                }
            }
            self.expect(&Token::RBracket, "']' after the array")?;
            return Ok(serde_json::Value::Array(items));
        }
        if self.eat_word("null") {
            return Ok(serde_json::Value::Null);
        }
        let item = self.unary()?;
        match &item.kind {
            ExprKind::Literal(literal) => json_of(literal, item.span),
            ExprKind::TypedNull(_) => Ok(serde_json::Value::Null),
            _ => Err(KqlError::syntax("a dynamic literal holds literals, arrays and property bags", item.span)),
        }
    }

    /// `long(5)`, `real(1.5)`, `bool(true)`, `timespan(1d)`, and `null` of each.
    fn typed_literal(&mut self, kind: &str, start: Span) -> Parsed<Expr> {
        self.advance(); // '('
        let value = self.advance();
        let end = self.expect(&Token::RParen, &format!("')' after the {kind} literal"))?;
        let span = start.to(end);
        let literal = match (kind, value.token) {
            (_, Token::Word(w)) if w == "null" => {
                let ty = match kind {
                    "bool" | "boolean" => Type::Bool,
                    "long" => Type::Long,
                    "int" => Type::Int,
                    "real" | "double" => Type::Real,
                    "timespan" | "time" => Type::TimeSpan,
                    _ => Type::String,
                };
                return Ok(Expr { kind: ExprKind::TypedNull(ty), span });
            }
            ("bool" | "boolean", Token::Word(w)) if w == "true" => Literal::Bool(true),
            ("bool" | "boolean", Token::Word(w)) if w == "false" => Literal::Bool(false),
            ("long" | "int", Token::Long(n)) => Literal::Long(n),
            ("real" | "double", Token::Long(n)) => Literal::Real(n as f64),
            ("real" | "double", Token::Real(n)) => Literal::Real(n),
            ("timespan" | "time", Token::Timespan(n)) => Literal::Timespan(n),
            // time(2) is two days.
            ("timespan" | "time", Token::Long(n)) => Literal::Timespan(n.saturating_mul(864_000_000_000)),
            ("guid", _) => {
                return Err(KqlError::unsupported("guid literals are not supported; compare as strings", span));
            }
            (kind, _) => return Err(KqlError::syntax(format!("not a {kind} literal"), span)),
        };
        Ok(Expr { kind: ExprKind::Literal(literal), span })
    }
}

/// A literal as a JSON value in a `dynamic(…)` literal.
pub(crate) fn json_of(literal: &Literal, span: Span) -> Result<serde_json::Value, KqlError> {
    Ok(match literal {
        Literal::Null => serde_json::Value::Null,
        Literal::Bool(b) => serde_json::Value::Bool(*b),
        Literal::Long(n) => serde_json::Value::from(*n),
        Literal::Real(n) => serde_json::Number::from_f64(*n)
            .map(serde_json::Value::Number)
            .ok_or_else(|| KqlError::syntax("a dynamic literal holds no NaN or infinity", span))?,
        Literal::String(text) => serde_json::Value::String(text.clone()),
        Literal::Timespan(ticks) => serde_json::Value::String(threatgate_domain::datetime::format_timespan(*ticks)),
        Literal::DateTime(ticks) => serde_json::Value::String(threatgate_domain::datetime::format_ticks(*ticks)),
    })
}

/// Why `externaldata` is refused wherever it appears.
const EXTERNAL_DATA: &str = "externaldata is not available: Threatgate reads no external URLs or storage; put the rows in a datatable or ingest them (POST /api/ingest/events/{Table})";

/// Words that cannot be a column where an expression is expected.
fn is_reserved(word: &str) -> bool {
    matches!(word, "and" | "or" | "by" | "on" | "let" | "asc" | "desc" | "with" | "in" | "in~" | "between" | "has_any")
}

/// A `datetime(…)` literal: a date, or a date and time with `T` or a space, optionally with
/// fractional seconds and `Z`; no zone means UTC.
fn datetime_ticks(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 40 {
        return None;
    }
    let mut text = raw.replacen(' ', "T", 1);
    if !text.contains('T') {
        text.push_str("T00:00:00");
    }
    let time = text.split_once('T').map_or("", |(_, t)| t);
    if time.matches(':').count() == 1 {
        text.push_str(":00");
    }
    let zoned = text.ends_with('Z') || text.ends_with('z') || {
        let time = text.split_once('T').map_or("", |(_, t)| t);
        time.contains('+') || time.contains('-')
    };
    if !zoned {
        text.push('Z');
    }
    parse_datetime_ticks(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_in_the_forms_kql_accepts() {
        let day = datetime_ticks("2024-05-01").expect("date");
        assert_eq!(datetime_ticks("2024-05-01T00:00:00Z"), Some(day));
        assert_eq!(datetime_ticks("2024-05-01 00:00"), Some(day));
        assert_eq!(datetime_ticks("2024-05-01T00:00:00.0000000Z"), Some(day));
        assert_eq!(datetime_ticks("2024-05-01T01:00:00+01:00"), Some(day));
        assert_eq!(datetime_ticks("2024-05-01T10:00:00").map(|t| t - day), Some(36_000 * 10_000_000));
        assert_eq!(datetime_ticks("yesterday"), None);
        assert_eq!(datetime_ticks(""), None);
    }
}
