//! A parsed query. Every node keeps its span, so that later checks (unknown tables and columns,
//! type errors, unsupported functions) can point at the text.

use crate::error::Span;

/// `let` statements, then the tabular expression whose rows the query returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub lets: Vec<Let>,
    pub body: Pipeline,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub value: LetValue,
}

/// What a `let` binds. A bare name (`let T = DeviceInfo;`) is parsed as an expression; whether
/// it names a table is known only once the names in scope are.
#[derive(Debug, Clone, PartialEq)]
pub enum LetValue {
    Scalar(Expr),
    Tabular(Pipeline),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A source of rows and the operators applied to it in turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub source: Source,
    pub operators: Vec<Operator>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A table or a tabular `let`.
    Named(Ident),
    /// `union A, (B | …)`.
    Union(Vec<Pipeline>),
    /// `( … )`.
    Nested(Box<Pipeline>),
    /// `print A = 1, B = "x"`: one row of the expressions.
    Print(Vec<NamedExpr>),
    /// `datatable(Name:type, …) [value, …]`: the columns (name and type name), then the values
    /// row after row.
    DataTable { columns: Vec<(Ident, Ident)>, values: Vec<Expr> },
    /// `search [kind=…] [in (Table, …)] Predicate`: the rows of those tables (all of them
    /// when none are named) that match, with `$table` first. A string in the predicate is a
    /// term any string column may hold; `predicate` is `None` for `*`.
    Search { case_sensitive: bool, tables: Option<Vec<Ident>>, predicate: Option<Expr> },
    /// `range Column from Start to End step Step`.
    Range { column: Ident, start: Box<Expr>, end: Box<Expr>, step: Box<Expr> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub kind: OperatorKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OperatorKind {
    /// `where` (or `filter`).
    Where(Expr),
    Project(Vec<NamedExpr>),
    /// Column names, each possibly with `*` wildcards.
    ProjectAway(Vec<Ident>),
    /// `project-reorder A, B*`: these columns first (names with `*` wildcards).
    ProjectReorder(Vec<Ident>),
    /// `render …`: a chart for the portal; the API ignores it.
    Render,
    /// `getschema`: the input's columns as rows (name, ordinal, .NET and KQL type).
    GetSchema,
    /// `serialize [Name = Expr, …]`: the input's rows in the order they arrive (kept from a
    /// `sort`), so that `row_number`, `prev` and `next` apply; with columns, as `extend`.
    Serialize(Vec<NamedExpr>),
    /// `| search Predicate`: the input's rows that match, as `Source::Search` matches.
    Search {
        case_sensitive: bool,
        predicate: Option<Expr>,
    },
    /// `parse Expr with * "literal" Column:type …` (kind=simple).
    Parse {
        expr: Expr,
        pattern: Vec<ParsePiece>,
    },
    /// `project-rename New = Old, …`: (new, old).
    ProjectRename(Vec<(Ident, Ident)>),
    Extend(Vec<NamedExpr>),
    Summarize {
        aggregates: Vec<NamedExpr>,
        by: Vec<NamedExpr>,
    },
    /// `order by` / `sort by`.
    Sort(Vec<SortKey>),
    Top {
        count: Expr,
        key: SortKey,
    },
    /// `take` / `limit`.
    Take(Expr),
    /// `distinct A, B`; empty for `distinct *`.
    Distinct(Vec<Expr>),
    Count,
    Join {
        kind: Option<Ident>,
        right: Box<Pipeline>,
        on: Vec<JoinKey>,
    },
    Union(Vec<Pipeline>),
    /// `top-nested [N] of Of by Aggregation [asc|desc]`, one level: the `N` values of `Of`
    /// with the greatest (least) aggregation, as `Of` and `aggregated_Of`.
    TopNested {
        count: Option<Expr>,
        of: NamedExpr,
        by: NamedExpr,
        descending: bool,
    },
    /// `evaluate bag_unpack(Column[, Prefix]) [: Schema]`: the bag's slots as columns (the
    /// binder needs the schema; the columns of one without it depend on the data).
    BagUnpack {
        column: Ident,
        prefix: String,
        schema: Option<OutputSchema>,
        /// The plugin's name, for errors.
        span: Span,
    },
    /// `mv-expand [Name =] Expr [to typeof(Type)] [limit N]` (one column).
    MvExpand {
        item: NamedExpr,
        /// The element type of `to typeof(…)`, with its place.
        to: Option<Ident>,
        /// Most rows one input row expands to.
        limit: Option<u64>,
    },
}

/// A plugin's output schema: `(*, Name:type, …)` (`all`: the input's columns first).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    pub all: bool,
    pub columns: Vec<(Ident, Ident)>,
}

/// One piece of a `parse` pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsePiece {
    /// `*`: any text.
    Any,
    /// A string the text must hold here.
    Literal(String),
    /// A column taking the text here, with its type's name (`string` unless `:type`).
    Column { name: Ident, ty: Option<Ident> },
}

/// `Name = expr`, or `expr` whose column name comes from the expression.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedExpr {
    pub name: Option<Ident>,
    /// The names after the first of `(A, B) = arg_max(…)`.
    pub more_names: Vec<Ident>,
    pub expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    /// KQL sorts descending unless told `asc`.
    pub descending: bool,
    /// `nulls first` / `nulls last`; by default nulls come last when descending, first when
    /// ascending.
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JoinKey {
    /// `on DeviceId`: the same column on both sides.
    Same(Ident),
    /// `on $left.A == $right.B`.
    Pair { left: Ident, right: Ident },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    /// The expressions directly inside this one.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            // A toscalar's query is measured by the parser's depth and the plan's limits.
            ExprKind::Literal(_)
            | ExprKind::Name(_)
            | ExprKind::Star
            | ExprKind::TypedNull(_)
            | ExprKind::Json(_)
            | ExprKind::ToScalar(_) => Vec::new(),
            ExprKind::Negate(inner) | ExprKind::Member { target: inner, .. } => vec![inner],
            ExprKind::Index { target, index } => vec![target, index],
            ExprKind::Binary { left, right, .. } => vec![left, right],
            ExprKind::In { expr, list, .. } | ExprKind::HasAny { expr, list, .. } => {
                std::iter::once(&**expr).chain(list).collect()
            }
            ExprKind::Between { expr, low, high, .. } => vec![expr, low, high],
            ExprKind::Call { args, .. } | ExprKind::Dynamic(args) => args.iter().collect(),
        }
    }

    /// How many levels the tree has (a literal has one). Walks with a stack of its own, so any
    /// tree can be measured whatever its depth.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut pending = vec![(self, 1)];
        while let Some((expr, level)) = pending.pop() {
            deepest = deepest.max(level);
            pending.extend(expr.children().into_iter().map(|child| (child, level + 1)));
        }
        deepest
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// A column or a scalar `let`.
    Name(String),
    /// `*`, as in `arg_max(Timestamp, *)`.
    Star,
    Negate(Box<Expr>),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `in`, `!in`, `in~`, `!in~`.
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
    /// `has_any`, `has_all` (and negations).
    HasAny {
        expr: Box<Expr>,
        list: Vec<Expr>,
        all: bool,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `dynamic([…])`: an array of literals.
    Dynamic(Vec<Expr>),
    /// `toscalar(Tabular)`: the first column of the first row of a query's result.
    ToScalar(Box<Pipeline>),
    /// `dynamic({…})`, or an array holding arrays or property bags: the value, as JSON.
    Json(serde_json::Value),
    /// `long(null)`, `datetime(null)`, …: a null of a type.
    TypedNull(crate::schema::Type),
    /// `x.name`: a property of a dynamic value.
    Member {
        target: Box<Expr>,
        name: Ident,
    },
    /// `x[i]`, `x["name"]`: an element or a property of a dynamic value.
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Long(i64),
    Real(f64),
    String(String),
    /// Ticks (100 ns).
    Timespan(i64),
    /// Ticks (100 ns) since the Unix epoch (as `threatgate_domain::datetime`).
    DateTime(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    /// `=~`: equal ignoring case.
    EqCi,
    /// `!~`
    NotEqCi,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    /// A string operator; `negated` for the `!` forms.
    Text {
        op: TextOp,
        negated: bool,
    },
}

/// The string operators, case-insensitive unless `_cs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Contains,
    ContainsCs,
    Has,
    HasCs,
    HasPrefix,
    HasSuffix,
    StartsWith,
    StartsWithCs,
    EndsWith,
    EndsWithCs,
    MatchesRegex,
}

impl TextOp {
    /// The operator's name as written (without `!`).
    pub fn name(self) -> &'static str {
        match self {
            TextOp::Contains => "contains",
            TextOp::ContainsCs => "contains_cs",
            TextOp::Has => "has",
            TextOp::HasCs => "has_cs",
            TextOp::HasPrefix => "hasprefix",
            TextOp::HasSuffix => "hassuffix",
            TextOp::StartsWith => "startswith",
            TextOp::StartsWithCs => "startswith_cs",
            TextOp::EndsWith => "endswith",
            TextOp::EndsWithCs => "endswith_cs",
            TextOp::MatchesRegex => "matches regex",
        }
    }

    fn from_word(word: &str) -> Option<TextOp> {
        Some(match word {
            "contains" => TextOp::Contains,
            "contains_cs" => TextOp::ContainsCs,
            "has" => TextOp::Has,
            "has_cs" => TextOp::HasCs,
            "hasprefix" => TextOp::HasPrefix,
            "hassuffix" => TextOp::HasSuffix,
            "startswith" => TextOp::StartsWith,
            "startswith_cs" => TextOp::StartsWithCs,
            "endswith" => TextOp::EndsWith,
            "endswith_cs" => TextOp::EndsWithCs,
            _ => return None,
        })
    }

    /// The operator a word names, and whether it is negated (`!has`).
    pub(crate) fn parse(word: &str) -> Option<(TextOp, bool)> {
        match word.strip_prefix('!') {
            Some(rest) => Self::from_word(rest).map(|op| (op, true)),
            None => Self::from_word(word).map(|op| (op, false)),
        }
    }
}
