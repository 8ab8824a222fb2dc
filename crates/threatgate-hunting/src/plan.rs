//! A bound query: every name resolved to a table, a column or a `let`, every expression typed,
//! every output column named as KQL names it. This is the seam between the language and the
//! engines: a backend turns a [`Relation`] into whatever it runs (SQL for the row stores).

use crate::ast::{BinaryOp, Literal};
use crate::functions::{Aggregate, Scalar};
use crate::schema::{Table, Type};

/// An output column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: Type,
}

/// How rows are joined (KQL's `kind=`; `innerunique` is KQL's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Each left key once (the first row of its group), then an inner join.
    InnerUnique,
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
    /// Left rows with no match; left columns only.
    LeftAnti,
    /// Left rows with a match; left columns only.
    LeftSemi,
}

impl JoinKind {
    pub fn keeps_right_columns(self) -> bool {
        matches!(
            self,
            JoinKind::InnerUnique | JoinKind::Inner | JoinKind::LeftOuter | JoinKind::RightOuter | JoinKind::FullOuter
        )
    }
}

/// A table of rows, built from the query's operators.
#[derive(Debug, Clone, PartialEq)]
pub enum Relation {
    /// One row of constant expressions (`print`); reads no table.
    Print {
        columns: Vec<(Field, Typed)>,
    },
    /// Rows of literals (`datatable`), in order; reads no table.
    Values {
        fields: Vec<Field>,
        rows: Vec<Vec<Typed>>,
    },
    /// The tenant's rows of a table (a backend adds the tenant's filter here, and only here).
    Scan {
        table: &'static Table,
    },
    Filter {
        input: Box<Relation>,
        predicate: Typed,
    },
    /// The output columns, each computed from the input's (`project`, `extend`, `project-away`,
    /// `project-rename` all become one).
    Map {
        input: Box<Relation>,
        columns: Vec<(Field, Typed)>,
    },
    /// Group by `keys` (which come first in the output), then the aggregations.
    Aggregate {
        input: Box<Relation>,
        keys: Vec<(Field, Typed)>,
        aggregates: Vec<(Field, AggregateCall)>,
    },
    Sort {
        input: Box<Relation>,
        keys: Vec<SortKey>,
    },
    Limit {
        input: Box<Relation>,
        count: u64,
    },
    Distinct {
        input: Box<Relation>,
    },
    /// One row, one column `Count`.
    Count {
        input: Box<Relation>,
    },
    /// `on` pairs column indexes of the left and the right input.
    Join {
        kind: JoinKind,
        left: Box<Relation>,
        right: Box<Relation>,
        on: Vec<(usize, usize)>,
        fields: Vec<Field>,
    },
    /// Each input row once per element of the dynamic `array` (a scalar is one element; null
    /// and an empty array keep the row, with a null element): the element, as dynamic, takes
    /// the place of column `replace`, or is appended. At most `limit` rows per input row.
    MvExpand {
        input: Box<Relation>,
        array: Typed,
        replace: Option<usize>,
        limit: Option<u64>,
        fields: Vec<Field>,
    },
    /// Columns by name over all inputs (a column an input lacks is null there).
    Union {
        inputs: Vec<Relation>,
        fields: Vec<Field>,
    },
    /// `range x from start to end step step`: one column, from `start` while at most `end`,
    /// in order; at most [`MAX_RANGE_ROWS`] rows. Reads no table.
    Range {
        field: Field,
        start: Typed,
        end: Typed,
        step: Typed,
    },
}

/// Most rows one `range` makes.
pub const MAX_RANGE_ROWS: u64 = 1_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Typed,
    pub descending: bool,
    pub nulls_first: bool,
}

/// An aggregation over the group's rows. `ArgMax`/`ArgMin` have two arguments: the expression
/// to maximise and the column whose value at that row this output column takes.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateCall {
    pub function: Aggregate,
    pub args: Vec<Typed>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Typed {
    pub kind: TypedKind,
    pub ty: Type,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypedKind {
    /// The input's column at this index.
    Column(usize),
    Literal(Literal),
    Negate(Box<Typed>),
    Binary {
        op: BinaryOp,
        left: Box<Typed>,
        right: Box<Typed>,
    },
    In {
        expr: Box<Typed>,
        list: Vec<Typed>,
        negated: bool,
        case_insensitive: bool,
    },
    HasAny {
        expr: Box<Typed>,
        list: Vec<Typed>,
        all: bool,
        negated: bool,
    },
    Between {
        expr: Box<Typed>,
        low: Box<Typed>,
        high: Box<Typed>,
        negated: bool,
    },
    Call {
        function: Scalar,
        args: Vec<Typed>,
    },
    /// `dynamic([…])`.
    Array(Vec<Literal>),
    /// `dynamic({…})` and nested arrays: the value's JSON text.
    Json(String),
    /// The values of a one-column relation, as the list of `in` (`x in (T)`, T a tabular let).
    Rows(Box<Relation>),
    /// A property or an element of a dynamic value (`x.a`, `x["a"]`, `x[0]`, `x[-1]`): dynamic,
    /// null where the value has none.
    Element {
        target: Box<Typed>,
        step: PathStep,
    },
}

/// One step into a dynamic value.
#[derive(Debug, Clone, PartialEq)]
pub enum PathStep {
    Key(String),
    /// From 0; negative counts from the end (-1 is the last).
    Index(i64),
}

/// How big a plan is: what `bind` holds to its limits, and how deep a backend's walk over it
/// recurses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extent {
    /// Relations and expression nodes, every `let` expanded where it is used.
    pub nodes: usize,
    /// Relations inside relations along the longest path (a table read alone is 1).
    pub relation_depth: usize,
    /// Levels of the deepest expression.
    pub expression_depth: usize,
}

impl Typed {
    /// The expressions directly inside this one.
    pub fn children(&self) -> Vec<&Typed> {
        match &self.kind {
            TypedKind::Column(_)
            | TypedKind::Literal(_)
            | TypedKind::Array(_)
            | TypedKind::Json(_)
            | TypedKind::Rows(_) => Vec::new(),
            TypedKind::Negate(inner) | TypedKind::Element { target: inner, .. } => vec![inner],
            TypedKind::Binary { left, right, .. } => vec![left, right],
            TypedKind::In { expr, list, .. } | TypedKind::HasAny { expr, list, .. } => {
                std::iter::once(&**expr).chain(list).collect()
            }
            TypedKind::Between { expr, low, high, .. } => vec![expr, low, high],
            TypedKind::Call { args, .. } => args.iter().collect(),
        }
    }

    /// The relations this expression reads (the `Rows` of `in` lists), at any depth.
    pub fn relations(&self) -> Vec<&Relation> {
        let mut found = Vec::new();
        let mut pending = vec![self];
        while let Some(expr) = pending.pop() {
            if let TypedKind::Rows(relation) = &expr.kind {
                found.push(relation.as_ref());
            }
            pending.extend(expr.children());
        }
        found
    }

    /// Nodes and depth of this expression (relation depth 0), measured with a stack of its own
    /// so that any tree can be measured.
    pub fn extent(&self) -> Extent {
        let mut extent = Extent::default();
        let mut pending = vec![(self, 1)];
        while let Some((expr, level)) = pending.pop() {
            extent.nodes += 1;
            extent.expression_depth = extent.expression_depth.max(level);
            pending.extend(expr.children().into_iter().map(|child| (child, level + 1)));
        }
        extent
    }
}

impl Relation {
    /// The output columns, in order.
    pub fn fields(&self) -> Vec<Field> {
        match self {
            Relation::Scan { table } => {
                table.columns.iter().map(|c| Field { name: c.name.to_owned(), ty: c.ty }).collect()
            }
            Relation::Filter { input, .. }
            | Relation::Sort { input, .. }
            | Relation::Limit { input, .. }
            | Relation::Distinct { input } => input.fields(),
            Relation::Map { columns, .. } | Relation::Print { columns } => {
                columns.iter().map(|(f, _)| f.clone()).collect()
            }
            Relation::Aggregate { keys, aggregates, .. } => {
                keys.iter().map(|(f, _)| f.clone()).chain(aggregates.iter().map(|(f, _)| f.clone())).collect()
            }
            Relation::Count { .. } => vec![Field { name: "Count".into(), ty: Type::Long }],
            Relation::Join { fields, .. }
            | Relation::Union { fields, .. }
            | Relation::MvExpand { fields, .. }
            | Relation::Values { fields, .. } => fields.clone(),
            Relation::Range { field, .. } => vec![field.clone()],
        }
    }

    /// Whether the rows come in an order KQL keeps (serialized): after `sort`, `top` or
    /// `serialize`, or a `datatable`, and through the operators that keep it. The
    /// stores carry that order as a hidden column; `row_number`, `prev` and `next` use it.
    pub fn is_serialized(&self) -> bool {
        match self {
            Relation::Sort { .. } | Relation::Values { .. } | Relation::Range { .. } => true,
            Relation::Filter { input, .. }
            | Relation::Map { input, .. }
            | Relation::Limit { input, .. }
            | Relation::MvExpand { input, .. } => input.is_serialized(),
            Relation::Scan { .. }
            | Relation::Print { .. }
            | Relation::Aggregate { .. }
            | Relation::Distinct { .. }
            | Relation::Count { .. }
            | Relation::Join { .. }
            | Relation::Union { .. } => false,
        }
    }

    /// The relations this one reads.
    pub fn inputs(&self) -> Vec<&Relation> {
        match self {
            Relation::Scan { .. } | Relation::Print { .. } | Relation::Values { .. } | Relation::Range { .. } => {
                Vec::new()
            }
            Relation::Filter { input, .. }
            | Relation::Sort { input, .. }
            | Relation::Limit { input, .. }
            | Relation::Distinct { input }
            | Relation::Count { input }
            | Relation::Map { input, .. }
            | Relation::MvExpand { input, .. }
            | Relation::Aggregate { input, .. } => vec![input],
            Relation::Join { left, right, .. } => vec![left, right],
            Relation::Union { inputs, .. } => inputs.iter().collect(),
        }
    }

    /// The expressions this relation computes (not its inputs').
    pub fn expressions(&self) -> Vec<&Typed> {
        match self {
            Relation::Filter { predicate, .. } | Relation::MvExpand { array: predicate, .. } => vec![predicate],
            Relation::Map { columns, .. } | Relation::Print { columns } => columns.iter().map(|(_, e)| e).collect(),
            Relation::Aggregate { keys, aggregates, .. } => {
                keys.iter().map(|(_, e)| e).chain(aggregates.iter().flat_map(|(_, call)| &call.args)).collect()
            }
            Relation::Sort { keys, .. } => keys.iter().map(|k| &k.expr).collect(),
            Relation::Values { rows, .. } => rows.iter().flatten().collect(),
            Relation::Range { start, end, step, .. } => vec![start, end, step],
            Relation::Scan { .. }
            | Relation::Limit { .. }
            | Relation::Distinct { .. }
            | Relation::Count { .. }
            | Relation::Join { .. }
            | Relation::Union { .. } => Vec::new(),
        }
    }

    /// Nodes and depths of the whole plan, measured with a stack of its own.
    pub fn extent(&self) -> Extent {
        let mut extent = Extent::default();
        let mut pending = vec![(self, 1)];
        while let Some((relation, level)) = pending.pop() {
            extent.nodes += 1;
            extent.relation_depth = extent.relation_depth.max(level);
            for expr in relation.expressions() {
                let inner = expr.extent();
                extent.nodes += inner.nodes;
                extent.expression_depth = extent.expression_depth.max(inner.expression_depth);
                pending.extend(expr.relations().into_iter().map(|rows| (rows, level + 1)));
            }
            pending.extend(relation.inputs().into_iter().map(|input| (input, level + 1)));
        }
        extent
    }

    /// Every table this relation reads, for tests that each read carries the tenant filter.
    pub fn scans(&self) -> Vec<&'static Table> {
        match self {
            Relation::Scan { table } => vec![*table],
            other => other
                .inputs()
                .into_iter()
                .chain(other.expressions().into_iter().flat_map(Typed::relations))
                .flat_map(Relation::scans)
                .collect(),
        }
    }
}
