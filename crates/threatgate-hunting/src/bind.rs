//! From a parsed [`Query`] to a [`Relation`]: tables, columns and `let`s resolved, types
//! checked, output columns named as KQL names them. Errors use the wording of the service
//! (`'where' operator: Failed to resolve scalar expression named 'x'`) and point at the name.

use std::cell::Cell;
use std::collections::HashMap;

use crate::ast::{
    BinaryOp, Expr, ExprKind, Ident, JoinKey, LetValue, Literal, NamedExpr, Operator, OperatorKind, OutputSchema,
    ParsePiece, Pipeline, Query, Source, TextOp,
};
use crate::error::{KqlError, Span};
use crate::functions::{Aggregate, KNOWN_UNSUPPORTED, Scalar, unify};
use crate::parser::MAX_EXPRESSION_DEPTH;
use crate::plan::{AggregateCall, Extent, Field, JoinKind, PathStep, Relation, SortKey, Typed, TypedKind};
use crate::schema::{self, Type};

/// Most plan nodes (relations and expression nodes) a query may bind to, every `let` expanded
/// where it is used: a few hundred for ordinary queries, thousands with long `in` lists.
pub const MAX_PLAN_NODES: usize = 20_000;
/// Most plan nodes a query may copy expanding its lets. A chain of lets, each reading the one
/// before, copies the earlier ones again at each step, so this is a multiple of
/// [`MAX_PLAN_NODES`]; it is checked before each copy is made, so a query that doubles a
/// `let` twenty times is refused after a few doublings, not after it has taken the memory.
pub const MAX_LET_EXPANSION: usize = 10 * MAX_PLAN_NODES;
/// Most relations nested inside one another (each operator of a pipeline is one, and so is
/// each `let` or sub-query it reads through). The SQL compilers write one sub-select per
/// relation, and SQLite's parser refuses much deeper nesting.
pub const MAX_PLAN_DEPTH: usize = 64;

/// Binds a parsed query against the hunting tables.
pub fn bind(query: &Query) -> Result<Relation, KqlError> {
    let mut scope = Scope::default();
    for statement in &query.lets {
        let name = statement.name.name.clone();
        let bound = match &statement.value {
            LetValue::Tabular(pipeline) => Bound::tabular(scope.pipeline(pipeline)?),
            LetValue::Scalar(expr) => match scope.as_table(expr)? {
                Some(relation) => Bound::tabular(relation),
                None => {
                    let value = scope.expr(expr, &[], "let")?;
                    check_extent(value.extent(), statement.name.span)?;
                    Bound::scalar(value)
                }
            },
        };
        scope.lets.insert(name, bound);
    }
    scope.pipeline(&query.body)
}

/// A `let`'s value and its size in plan nodes (what each use of it copies).
#[derive(Debug, Clone)]
enum Bound {
    Scalar(Typed, usize),
    Tabular(Relation, usize),
}

impl Bound {
    fn scalar(value: Typed) -> Self {
        let nodes = value.extent().nodes;
        Bound::Scalar(value, nodes)
    }

    fn tabular(relation: Relation) -> Self {
        let nodes = relation.extent().nodes;
        Bound::Tabular(relation, nodes)
    }
}

#[derive(Debug, Default)]
struct Scope {
    lets: HashMap<String, Bound>,
    /// Plan nodes copied from lets so far.
    expanded: Cell<usize>,
    /// Whether the expressions being bound are computed row by row over a serialized input
    /// (`extend`, `project` or `serialize` after `sort`, `top` or `serialize`), where
    /// `row_number`, `prev` and `next` have a meaning.
    serialized: Cell<bool>,
}

/// Holds a plan (or a part of one) to the limits.
fn check_extent(extent: Extent, span: Span) -> Result<(), KqlError> {
    if extent.relation_depth > MAX_PLAN_DEPTH {
        return Err(KqlError::limit(
            format!("the query nests more than {MAX_PLAN_DEPTH} operators, lets and sub-queries inside one another"),
            span,
        ));
    }
    if extent.expression_depth > MAX_EXPRESSION_DEPTH {
        return Err(KqlError::limit(
            format!("an expression nests more than {MAX_EXPRESSION_DEPTH} levels deep once its lets are expanded"),
            span,
        ));
    }
    if extent.nodes > MAX_PLAN_NODES {
        return Err(KqlError::limit(
            format!(
                "the query is larger than {MAX_PLAN_NODES} plan nodes once its lets are expanded where they are used"
            ),
            span,
        ));
    }
    Ok(())
}

fn typed(kind: TypedKind, ty: Type) -> Typed {
    Typed { kind, ty }
}

/// Where a `summarize` item's columns come from.
enum Slot {
    /// The columns that the `index`th direct aggregation made.
    Direct(usize),
    /// An expression over aggregations, which are the direct items in `aggregates` (named
    /// hidden columns the expression reads).
    Computed { name: Option<Ident>, expr: Expr, aggregates: std::ops::Range<usize> },
}

/// Replaces every aggregation call inside `expr` by the name of a hidden column, collecting
/// (name, call); `taken` numbers the names after those already made.
fn lift_aggregates(expr: &mut Expr, found: &mut Vec<(String, Expr)>, taken: usize) {
    if let ExprKind::Call { name, .. } = &expr.kind
        && Aggregate::lookup(&name.name).is_some()
    {
        let hidden = format!("__aggregate{}", taken + found.len());
        let call = std::mem::replace(&mut expr.kind, ExprKind::Name(hidden.clone()));
        found.push((hidden, Expr { kind: call, span: expr.span }));
        return;
    }
    match &mut expr.kind {
        ExprKind::Negate(inner) | ExprKind::Member { target: inner, .. } => lift_aggregates(inner, found, taken),
        ExprKind::Index { target, index } => {
            lift_aggregates(target, found, taken);
            lift_aggregates(index, found, taken);
        }
        ExprKind::Binary { left, right, .. } => {
            lift_aggregates(left, found, taken);
            lift_aggregates(right, found, taken);
        }
        ExprKind::In { expr, list, .. } | ExprKind::HasAny { expr, list, .. } => {
            lift_aggregates(expr, found, taken);
            list.iter_mut().for_each(|item| lift_aggregates(item, found, taken));
        }
        ExprKind::Between { expr, low, high, .. } => {
            lift_aggregates(expr, found, taken);
            lift_aggregates(low, found, taken);
            lift_aggregates(high, found, taken);
        }
        ExprKind::Call { args, .. } | ExprKind::Dynamic(args) => {
            args.iter_mut().for_each(|arg| lift_aggregates(arg, found, taken));
        }
        ExprKind::Literal(_)
        | ExprKind::Name(_)
        | ExprKind::Star
        | ExprKind::TypedNull(_)
        | ExprKind::Json(_)
        | ExprKind::ToScalar(_) => {}
    }
}

/// A dynamic value written in the query, as its JSON text.
fn typed_json(json: String) -> Typed {
    typed(TypedKind::Json(json), Type::Dynamic)
}

fn field(name: impl Into<String>, ty: Type) -> Field {
    Field { name: name.into(), ty }
}

/// A search predicate with each term (a string where a condition stands, under `and` and
/// `or`; Kusto takes no term inside `not()`) replaced by the condition that some string column holds it.
fn expand_search_terms(expr: &Expr, fields: &[Field], case_sensitive: bool) -> Result<Expr, KqlError> {
    let at = |kind: ExprKind| Expr { kind, span: expr.span };
    Ok(match &expr.kind {
        ExprKind::Literal(Literal::String(term)) => {
            if term.chars().all(|c| c == '*') {
                return Ok(at(ExprKind::Literal(Literal::Bool(true))));
            }
            let (op, word) = match (term.strip_prefix('*'), term.strip_suffix('*')) {
                (Some(rest), Some(_)) => (
                    if case_sensitive { TextOp::ContainsCs } else { TextOp::Contains },
                    rest.strip_suffix('*').unwrap_or(rest),
                ),
                (None, Some(prefix)) if !case_sensitive => (TextOp::HasPrefix, prefix),
                (Some(suffix), None) if !case_sensitive => (TextOp::HasSuffix, suffix),
                (None, None) => (if case_sensitive { TextOp::HasCs } else { TextOp::Has }, term.as_str()),
                _ => {
                    return Err(KqlError::unsupported(
                        "a search term with a '*' at one end is not supported with kind=case_sensitive",
                        expr.span,
                    ));
                }
            };
            let holds = |name: &str| {
                at(ExprKind::Binary {
                    op: BinaryOp::Text { op, negated: false },
                    left: Box::new(at(ExprKind::Name(name.to_owned()))),
                    right: Box::new(at(ExprKind::Literal(Literal::String(word.to_owned())))),
                })
            };
            let mut columns = fields.iter().filter(|f| f.ty == Type::String && f.name != "$table");
            match columns.next() {
                None => at(ExprKind::Literal(Literal::Bool(false))),
                Some(first) => columns.fold(holds(&first.name), |any, f| {
                    at(ExprKind::Binary { op: BinaryOp::Or, left: Box::new(any), right: Box::new(holds(&f.name)) })
                }),
            }
        }
        ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), left, right } => at(ExprKind::Binary {
            op: *op,
            left: Box::new(expand_search_terms(left, fields, case_sensitive)?),
            right: Box::new(expand_search_terms(right, fields, case_sensitive)?),
        }),
        _ => expr.clone(),
    })
}

/// `name` for a new column of a `summarize`, numbered when a key or an aggregation made so far
/// has it already.
fn fresh_summary_name<'a>(name: String, keys: &[(Field, Typed)], outputs: impl Iterator<Item = &'a Field>) -> String {
    let taken: Vec<String> = keys.iter().map(|(f, _)| f.name.clone()).chain(outputs.map(|f| f.name.clone())).collect();
    unique_name(name, &taken)
}

/// `getschema`: a row per column of the input, as Kusto answers it (`ColumnName`,
/// `ColumnOrdinal`, `DataType` the .NET type, `ColumnType` the KQL type); reads no table.
fn schema_of(fields: &[Field]) -> Relation {
    let string = |text: &str| typed(TypedKind::Literal(Literal::String(text.to_owned())), Type::String);
    let rows = fields
        .iter()
        .enumerate()
        .map(|(ordinal, f)| {
            let ordinal = i64::try_from(ordinal).unwrap_or(i64::MAX);
            vec![
                string(&f.name),
                typed(TypedKind::Literal(Literal::Long(ordinal)), Type::Long),
                string(f.ty.dotnet_name()),
                string(f.ty.kql_name()),
            ]
        })
        .collect();
    Relation::Values {
        fields: vec![
            field("ColumnName", Type::String),
            field("ColumnOrdinal", Type::Long),
            field("DataType", Type::String),
            field("ColumnType", Type::String),
        ],
        rows,
    }
}

impl Scope {
    /// A copy of a `let`'s value, counted against [`MAX_LET_EXPANSION`] before it is made.
    fn expand<T: Clone>(&self, value: &T, nodes: usize, span: Span) -> Result<T, KqlError> {
        let expanded = self.expanded.get().saturating_add(nodes);
        if expanded > MAX_LET_EXPANSION {
            return Err(KqlError::limit(
                format!(
                    "the query copies more than {MAX_LET_EXPANSION} plan nodes expanding its lets where they are used"
                ),
                span,
            ));
        }
        self.expanded.set(expanded);
        Ok(value.clone())
    }

    /// A bare name used where a table may stand: a tabular `let` or a table.
    fn as_table(&self, expr: &Expr) -> Result<Option<Relation>, KqlError> {
        let ExprKind::Name(name) = &expr.kind else { return Ok(None) };
        match self.lets.get(name) {
            Some(Bound::Tabular(relation, nodes)) => Ok(Some(self.expand(relation, *nodes, expr.span)?)),
            Some(Bound::Scalar(..)) => Ok(None),
            None => Ok(schema::table(name).map(|table| Relation::Scan { table })),
        }
    }

    fn table(&self, name: &Ident) -> Result<Relation, KqlError> {
        match self.lets.get(&name.name) {
            Some(Bound::Tabular(relation, nodes)) => return self.expand(relation, *nodes, name.span),
            Some(Bound::Scalar(..)) => {
                return Err(KqlError::semantic(format!("'{}' is a scalar, not a table", name.name), name.span));
            }
            None => {}
        }
        if let Some(table) = schema::table(&name.name) {
            return Ok(Relation::Scan { table });
        }
        let hint = schema::TABLES
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(&name.name))
            .map(|t| format!(" (table names are case-sensitive: did you mean '{}'?)", t.name))
            .unwrap_or_default();
        Err(KqlError::semantic(
            format!("Failed to resolve table or column expression named '{}'{hint}", name.name),
            name.span,
        ))
    }

    fn pipeline(&self, pipeline: &Pipeline) -> Result<Relation, KqlError> {
        let mut relation = match &pipeline.source {
            Source::Named(name) => self.table(name)?,
            Source::Nested(inner) => self.pipeline(inner)?,
            Source::Print(items) => {
                let mut columns = self.named(items, &[], "print")?;
                // An unnamed value is print_0, print_1, … by its place.
                for (i, ((field, _), item)) in columns.iter_mut().zip(items).enumerate() {
                    if item.name.is_none() && path_name(&item.expr.kind).is_none() {
                        field.name = format!("print_{i}");
                    }
                }
                check_unique(&columns, "print", pipeline.span)?;
                Relation::Print { columns }
            }
            Source::Union(legs) => {
                self.union(legs.iter().map(|leg| self.pipeline(leg)).collect::<Result<_, _>>()?, pipeline.span)?
            }
            Source::DataTable { columns, values } => self.datatable(columns, values, pipeline.span)?,
            Source::Search { case_sensitive, tables, predicate } => {
                self.search(*case_sensitive, tables.as_deref(), predicate.as_ref(), pipeline.span)?
            }
            Source::Range { column, start, end, step } => self.range(column, start, end, step)?,
        };
        check_extent(relation.extent(), pipeline.span)?;
        for operator in &pipeline.operators {
            relation = self.operator(relation, operator)?;
            check_extent(relation.extent(), operator.span)?;
        }
        Ok(relation)
    }

    /// `range x from start to end step step` over numbers, datetimes (a timespan step) or
    /// timespans. A step written in the query must be positive.
    fn range(&self, column: &Ident, start: &Expr, end: &Expr, step: &Expr) -> Result<Relation, KqlError> {
        let error = |message: String, span: Span| KqlError::semantic(format!("'range' operator: {message}"), span);
        let (start_value, end_value, step_value) =
            (self.expr(start, &[], "range")?, self.expr(end, &[], "range")?, self.expr(step, &[], "range")?);
        let ty = match (start_value.ty, end_value.ty, step_value.ty) {
            (Type::DateTime, Type::DateTime, Type::TimeSpan) => Type::DateTime,
            (Type::TimeSpan, Type::TimeSpan, Type::TimeSpan) => Type::TimeSpan,
            (a, b, s) if a.is_numeric() && b.is_numeric() && s.is_numeric() => {
                if [a, b, s].contains(&Type::Real) {
                    Type::Real
                } else {
                    Type::Long
                }
            }
            (a, b, s) => {
                return Err(error(
                    format!(
                        "from {} to {} step {}: expected numbers, or datetimes (or timespans) with a timespan step",
                        a.kql_name(),
                        b.kql_name(),
                        s.kql_name()
                    ),
                    start.span,
                ));
            }
        };
        let positive = match &step_value.kind {
            TypedKind::Literal(Literal::Long(n) | Literal::Timespan(n)) => Some(*n > 0),
            TypedKind::Literal(Literal::Real(x)) => Some(*x > 0.0),
            TypedKind::Negate(_) => Some(false),
            _ => None,
        };
        if positive == Some(false) {
            return Err(KqlError::unsupported("'range' operator: only a positive step is supported", step.span));
        }
        Ok(Relation::Range {
            field: field(column.name.clone(), ty),
            start: start_value,
            end: end_value,
            step: step_value,
        })
    }

    /// `extend` (and `serialize` with columns): the input's columns, then the new ones (a name
    /// the input has is replaced in place).
    fn extend(
        &self,
        input: Relation,
        fields: &[Field],
        items: &[NamedExpr],
        operator: &str,
    ) -> Result<Relation, KqlError> {
        let mut columns: Vec<(Field, Typed)> =
            fields.iter().enumerate().map(|(i, f)| (f.clone(), typed(TypedKind::Column(i), f.ty))).collect();
        for (f, value) in self.row_by_row(&input, || self.named(items, fields, operator))? {
            match columns.iter_mut().find(|(existing, _)| existing.name == f.name) {
                Some(slot) => *slot = (f, value),
                None => columns.push((f, value)),
            }
        }
        Ok(Relation::Map { input: Box::new(input), columns })
    }

    /// Binds expressions computed row by row over `input`: `row_number`, `prev` and `next`
    /// are allowed when the input is serialized.
    fn row_by_row<T>(&self, input: &Relation, bind: impl FnOnce() -> Result<T, KqlError>) -> Result<T, KqlError> {
        self.serialized.set(input.is_serialized());
        let bound = bind();
        self.serialized.set(false);
        bound
    }

    /// `search [in (Tables)] Predicate`: each table's matching rows with `$table` (its name)
    /// first, as a union. Without `in`, every table; a table the predicate cannot be asked of
    /// (it names a column the table lacks) is left out, and only when none is left is that
    /// the query's error.
    fn search(
        &self,
        case_sensitive: bool,
        tables: Option<&[Ident]>,
        predicate: Option<&Expr>,
        span: Span,
    ) -> Result<Relation, KqlError> {
        let named: Vec<Ident> = match tables {
            Some(tables) => tables.to_vec(),
            None => schema::TABLES.iter().map(|t| Ident { name: t.name.to_owned(), span }).collect(),
        };
        let mut inputs = Vec::with_capacity(named.len());
        let mut first_error = None;
        for table in &named {
            let relation = self.table(table)?;
            let fields = relation.fields();
            let relation = match predicate {
                None => relation,
                Some(predicate) => match self.search_predicate(predicate, &fields, case_sensitive) {
                    Ok(predicate) => Relation::Filter { input: Box::new(relation), predicate },
                    Err(error) if error.kind == crate::error::ErrorKind::Semantic && tables.is_none() => {
                        first_error.get_or_insert(error);
                        continue;
                    }
                    Err(error) => return Err(error),
                },
            };
            let name = typed(TypedKind::Literal(Literal::String(table.name.clone())), Type::String);
            let columns = std::iter::once((field("$table", Type::String), name))
                .chain(fields.iter().enumerate().map(|(i, f)| (f.clone(), typed(TypedKind::Column(i), f.ty))))
                .collect();
            inputs.push(Relation::Map { input: Box::new(relation), columns });
        }
        if inputs.is_empty() {
            return Err(first_error
                .unwrap_or_else(|| KqlError::semantic("'search' operator: there is no table to search", span)));
        }
        self.union(inputs, span)
    }

    /// A search predicate: a string where a condition stands is a term that any string column
    /// may hold (`has`; `term*` a prefix, `*term` a suffix, `*term*` anywhere in the text), the
    /// rest an ordinary predicate over the columns.
    fn search_predicate(&self, predicate: &Expr, fields: &[Field], case_sensitive: bool) -> Result<Typed, KqlError> {
        let expanded = expand_search_terms(predicate, fields, case_sensitive)?;
        let bound = self.expr(&expanded, fields, "search")?;
        if bound.ty != Type::Bool {
            return Err(KqlError::semantic(
                format!("'search' operator: the predicate must be bool, not {}", bound.ty.kql_name()),
                predicate.span,
            ));
        }
        Ok(bound)
    }

    /// Columns by name over all inputs. A name with different types in different inputs
    /// becomes one column per type, `Name_long`, `Name_int`, … (as Kusto names them), each
    /// input's column renamed to its own.
    fn union(&self, inputs: Vec<Relation>, _span: Span) -> Result<Relation, KqlError> {
        // Each name's type in each input that has it, in order.
        let mut names: Vec<(String, Vec<Type>)> = Vec::new();
        for input in &inputs {
            for f in input.fields() {
                match names.iter_mut().find(|(name, _)| *name == f.name) {
                    Some((_, types)) => types.push(f.ty),
                    None => names.push((f.name.clone(), vec![f.ty])),
                }
            }
        }
        // As Kusto's semantic model decides: when the first two inputs that have a name agree
        // on its type, that type is the column's and inputs with another type leave it empty;
        // when they differ, the column splits into one per type.
        for (_, types) in &mut names {
            let split = types.len() > 1 && types[0] != types[1];
            if split {
                let mut distinct = Vec::new();
                for ty in types.iter() {
                    if !distinct.contains(ty) {
                        distinct.push(*ty);
                    }
                }
                *types = distinct;
            } else {
                types.truncate(1);
            }
        }
        let typed_name = |name: &str, ty: Type| format!("{name}_{}", ty.kql_name());
        let mixed = |name: &str| names.iter().any(|(n, types)| n == name && types.len() > 1);
        let kept = |name: &str, ty: Type| names.iter().any(|(n, types)| n == name && types.contains(&ty));
        let fields: Vec<Field> = names
            .iter()
            .flat_map(|(name, types)| {
                let several = types.len() > 1;
                types.iter().map(move |ty| field(if several { typed_name(name, *ty) } else { name.clone() }, *ty))
            })
            .collect();
        let inputs = inputs
            .into_iter()
            .map(|input| {
                let own = input.fields();
                if !own.iter().any(|f| mixed(&f.name) || !kept(&f.name, f.ty)) {
                    return input;
                }
                // A column left out gets a name no output column has (the union takes its
                // columns by name), so that every input keeps at least one column.
                let columns = own
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let name = if !kept(&f.name, f.ty) {
                            format!("__left_out_{i}")
                        } else if mixed(&f.name) {
                            typed_name(&f.name, f.ty)
                        } else {
                            f.name.clone()
                        };
                        (field(name, f.ty), typed(TypedKind::Column(i), f.ty))
                    })
                    .collect();
                Relation::Map { input: Box::new(input), columns }
            })
            .collect();
        Ok(Relation::Union { inputs, fields })
    }

    /// `parse Expr with …` (kind=simple): one map per literal of the pattern, each taking the
    /// text up to the literal for the column before it and keeping the rest in a hidden column,
    /// so the SQL grows with the pattern, not with its square. A text that does not match gives
    /// every column its empty value ("" or null), as KQL's simple parse does.
    fn parse_operator(
        &self,
        input: Relation,
        fields: &[Field],
        expr: &Expr,
        pattern: &[ParsePiece],
    ) -> Result<Relation, KqlError> {
        const REST: &str = "__parse_rest";
        const OK: &str = "__parse_ok";
        let text = converted_text(self.expr(expr, fields, "parse")?);
        let string = |s: &str| typed(TypedKind::Literal(Literal::String(s.to_owned())), Type::String);
        let long = |n: i64| typed(TypedKind::Literal(Literal::Long(n)), Type::Long);
        let call = |function: Scalar, args: Vec<Typed>, ty: Type| typed(TypedKind::Call { function, args }, ty);
        let binary = |op: BinaryOp, l: Typed, r: Typed, ty: Type| {
            typed(TypedKind::Binary { op, left: Box::new(l), right: Box::new(r) }, ty)
        };
        let pass = |fields: &[Field]| -> Vec<(Field, Typed)> {
            fields.iter().enumerate().map(|(i, f)| (f.clone(), typed(TypedKind::Column(i), f.ty))).collect()
        };
        // The first map: the input, the text still to read, and whether it matched so far.
        let mut columns = pass(fields);
        columns.push((field(REST, Type::String), text));
        columns.push((field(OK, Type::Bool), typed(TypedKind::Literal(Literal::Bool(true)), Type::Bool)));
        let mut relation = Relation::Map { input: Box::new(input), columns };
        // The columns taken so far (name, index in the relation, type name).
        let mut taken: Vec<(Ident, usize, Option<Ident>)> = Vec::new();
        let mut pending: Option<&ParsePiece> = None;
        for piece in pattern {
            let literal = match piece {
                ParsePiece::Literal(literal) => literal,
                ParsePiece::Column { name, .. } if matches!(pending, Some(ParsePiece::Column { .. })) => {
                    return Err(KqlError::semantic(
                        format!("'parse' operator: column '{}' follows another column with no text between", name.name),
                        name.span,
                    ));
                }
                other => {
                    pending = Some(other);
                    continue;
                }
            };
            let current = relation.fields();
            let (rest_at, ok_at) = (current.len() - 2, current.len() - 1);
            let rest = typed(TypedKind::Column(rest_at), Type::String);
            let ok = typed(TypedKind::Column(ok_at), Type::Bool);
            let width = long(literal.chars().count() as i64);
            let found_at = call(Scalar::IndexOf, vec![rest.clone(), string(literal)], Type::Long);
            let (matched, after, value) = match pending {
                // At the start of what is left: the text must begin with the literal.
                None => {
                    let head = call(Scalar::Substring, vec![rest.clone(), long(0), width.clone()], Type::String);
                    let after = call(Scalar::Substring, vec![rest.clone(), width], Type::String);
                    (binary(BinaryOp::Eq, head, string(literal), Type::Bool), after, None)
                }
                Some(piece) => {
                    let matched = binary(BinaryOp::Ge, found_at.clone(), long(0), Type::Bool);
                    let start = binary(BinaryOp::Add, found_at.clone(), width, Type::Long);
                    let after = call(Scalar::Substring, vec![rest.clone(), start], Type::String);
                    let value = matches!(piece, ParsePiece::Column { .. })
                        .then(|| call(Scalar::Substring, vec![rest.clone(), long(0), found_at], Type::String));
                    (matched, after, value)
                }
            };
            let iff = |condition: &Typed, then: Typed| {
                call(Scalar::Iff, vec![condition.clone(), then, string("")], Type::String)
            };
            let mut columns = pass(&current[..rest_at]);
            if let (Some(ParsePiece::Column { name, ty }), Some(value)) = (pending, value) {
                taken.push((name.clone(), columns.len(), ty.clone()));
                columns.push((field(format!("__parse_{}", taken.len()), Type::String), iff(&matched, value)));
            }
            columns.push((field(REST, Type::String), iff(&matched, after)));
            columns.push((field(OK, Type::Bool), binary(BinaryOp::And, ok, matched, Type::Bool)));
            relation = Relation::Map { input: Box::new(relation), columns };
            pending = None;
        }
        let current = relation.fields();
        let (rest_at, ok_at) = (current.len() - 2, current.len() - 1);
        let ok = typed(TypedKind::Column(ok_at), Type::Bool);
        // A column last in the pattern takes the rest of the text.
        if let Some(ParsePiece::Column { name, ty }) = pending {
            taken.push((name.clone(), rest_at, ty.clone()));
        }
        // The last map: the input's columns (a taken column of the same name replaces one), then
        // the new ones, converted to their types and empty where the text did not match.
        let value = |(name, at, ty): &(Ident, usize, Option<Ident>)| -> Result<(Field, Typed), KqlError> {
            let raw = typed(TypedKind::Column(*at), Type::String);
            let wanted = match ty {
                None => Type::String,
                Some(ty) => conversion_type(&ty.name).ok_or_else(|| {
                    KqlError::unsupported(format!("parse into a {} column is not supported", ty.name), ty.span)
                })?,
            };
            let converted = match wanted {
                Type::String => {
                    return Ok((
                        field(name.name.clone(), Type::String),
                        call(Scalar::Iff, vec![ok.clone(), raw, string("")], Type::String),
                    ));
                }
                // A text's JSON (`converted` keeps a dynamic value as it is; this is a string).
                Type::Dynamic => call(Scalar::ParseJson, vec![raw], Type::Dynamic),
                other => converted(raw, other),
            };
            let ty = wanted;
            let null = typed(TypedKind::Literal(Literal::Null), ty);
            Ok((field(name.name.clone(), ty), call(Scalar::Iff, vec![ok.clone(), converted, null], ty)))
        };
        let made = taken.iter().map(value).collect::<Result<Vec<_>, _>>()?;
        let mut columns: Vec<(Field, Typed)> = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            match made.iter().find(|(m, _)| m.name == f.name) {
                Some(replacement) => columns.push(replacement.clone()),
                None => columns.push((f.clone(), typed(TypedKind::Column(i), f.ty))),
            }
        }
        for (f, value) in made {
            if !fields.iter().any(|existing| existing.name == f.name) {
                columns.push((f, value));
            }
        }
        check_unique(&columns, "parse", expr.span)?;
        Ok(Relation::Map { input: Box::new(relation), columns })
    }

    /// `datetime_add(part, amount, datetime)` and `datetime_diff(part, datetime1, datetime2)` for
    /// the parts of fixed length (week down to nanosecond); months and years, of varying length,
    /// are refused.
    /// `datatable(Name:type, …) [values]`: every value a literal of its column's type (a
    /// whole number where a real is wanted, any literal where a dynamic value is).
    fn datatable(&self, columns: &[(Ident, Ident)], values: &[Expr], span: Span) -> Result<Relation, KqlError> {
        let error = |message: String, span: Span| KqlError::semantic(format!("'datatable' operator: {message}"), span);
        let mut fields: Vec<Field> = Vec::new();
        for (name, ty) in columns {
            let ty = schema_type(&ty.name).ok_or_else(|| error(format!("'{}' is not a type", ty.name), ty.span))?;
            if fields.iter().any(|f| f.name == name.name) {
                return Err(error(format!("the column '{}' is declared twice", name.name), name.span));
            }
            fields.push(field(name.name.clone(), ty));
        }
        if !values.len().is_multiple_of(fields.len()) {
            return Err(error(
                format!("{} values do not make whole rows of {} columns", values.len(), fields.len()),
                span,
            ));
        }
        let mut rows = Vec::with_capacity(values.len() / fields.len());
        for chunk in values.chunks(fields.len()) {
            let mut row = Vec::with_capacity(fields.len());
            for (value, column) in chunk.iter().zip(&fields) {
                let bound = self.expr(value, &[], "datatable")?;
                let literal = match bound.kind {
                    TypedKind::Literal(literal) => literal,
                    TypedKind::Negate(inner) => match inner.kind {
                        TypedKind::Literal(Literal::Long(n)) => Literal::Long(n.saturating_neg()),
                        TypedKind::Literal(Literal::Real(n)) => Literal::Real(-n),
                        TypedKind::Literal(Literal::Timespan(n)) => Literal::Timespan(n.saturating_neg()),
                        _ => return Err(error("values must be literals".into(), value.span)),
                    },
                    TypedKind::Array(_) | TypedKind::Json(_) if column.ty == Type::Dynamic => {
                        row.push(bound);
                        continue;
                    }
                    _ => return Err(error("values must be literals".into(), value.span)),
                };
                let literal = match (column.ty, literal) {
                    (_, Literal::Null) => Literal::Null,
                    (Type::Real, Literal::Long(n)) => Literal::Real(n as f64),
                    (Type::Int, Literal::Long(n)) if i32::try_from(n).is_err() => {
                        return Err(error(format!("{n} is out of the range of an int"), value.span));
                    }
                    (Type::Dynamic, literal) => {
                        let json = crate::parser::json_of(&literal, value.span)?;
                        row.push(typed_json(json.to_string()));
                        continue;
                    }
                    (ty, literal)
                        if literal_type(&literal) == ty
                            || (ty == Type::Int && literal_type(&literal) == Type::Long) =>
                    {
                        literal
                    }
                    (ty, literal) => {
                        return Err(error(
                            format!(
                                "a {} value in the {} column '{}'",
                                literal_type(&literal).kql_name(),
                                ty.kql_name(),
                                column.name
                            ),
                            value.span,
                        ));
                    }
                };
                row.push(typed(TypedKind::Literal(literal), column.ty));
            }
            rows.push(row);
        }
        Ok(Relation::Values { fields, rows })
    }

    /// The regular-expression functions: `extract`, `extract_all`, `replace_regex` (and the
    /// older `replace`), `countof(…, "regex")`, `trim`, `trim_start`, `trim_end`. The pattern
    /// must be a string literal: checked as RE2 here, and compiled for each store (PostgreSQL's
    /// regular expressions are another dialect) by the SQL compiler.
    fn regex_call(&self, name: &Ident, args: &[Expr], fields: &[Field], operator: &str) -> Result<Typed, KqlError> {
        let function = name.name.as_str();
        let error = |message: &str, span: Span| {
            KqlError::semantic(format!("'{operator}' operator: {function}(): {message}"), span)
        };
        let literal = |expr: &Expr, what: &str| match &expr.kind {
            ExprKind::Literal(Literal::String(text)) => Ok(text.clone()),
            _ => Err(KqlError::unsupported(format!("{function}() takes its {what} as a string literal"), expr.span)),
        };
        let pattern = |expr: &Expr| {
            let pattern = checked_regex(&literal(expr, "regular expression")?, operator, expr.span)?;
            Ok::<_, KqlError>(typed(TypedKind::Literal(Literal::String(pattern)), Type::String))
        };
        let text = |expr: &Expr| {
            let value = self.expr(expr, fields, operator)?;
            match value.ty {
                Type::String => Ok(value),
                Type::Dynamic => Ok(converted(value, Type::String)),
                other => Err(error(&format!("the text must be a string, not {}", other.kql_name()), expr.span)),
            }
        };
        let call = |function: Scalar, args: Vec<Typed>, ty: Type| typed(TypedKind::Call { function, args }, ty);
        let text_literal = |text: String| typed(TypedKind::Literal(Literal::String(text)), Type::String);
        Ok(match (function, args) {
            ("extract", [regex, group, source]) | ("extract", [regex, group, source, _]) => {
                let number = self.expr(group, fields, operator)?;
                if !matches!(number.ty, Type::Int | Type::Long) {
                    return Err(error("the capture group must be a whole number", group.span));
                }
                let value = call(Scalar::RegexExtract, vec![pattern(regex)?, number, text(source)?], Type::String);
                match args.get(3) {
                    None => value,
                    Some(ty) => {
                        let wanted = typeof_argument(ty).ok_or_else(|| {
                            KqlError::unsupported(
                                "extract()'s fourth argument must be typeof(string|long|int|real|bool|dynamic)",
                                ty.span,
                            )
                        })?;
                        match wanted {
                            Type::String => value,
                            Type::Dynamic => call(Scalar::ParseJson, vec![value], Type::Dynamic),
                            other => converted(value, other),
                        }
                    }
                }
            }
            ("extract_all" | "extractall", [regex, source]) => {
                call(Scalar::RegexExtractAll, vec![pattern(regex)?, text(source)?], Type::Dynamic)
            }
            ("extract_all" | "extractall", [_, groups, _]) => {
                return Err(KqlError::unsupported(
                    format!(
                        "{function}() with a list of capture groups is not supported; make the other groups non-capturing (?:…)"
                    ),
                    groups.span,
                ));
            }
            ("replace", [regex, rewrite, source]) | ("replace_regex", [source, regex, rewrite]) => {
                let rewrite = text_literal(literal(rewrite, "rewrite")?);
                call(Scalar::RegexReplace, vec![pattern(regex)?, rewrite, text(source)?], Type::String)
            }
            ("countof", [source, search, kind]) => match literal(kind, "kind")?.as_str() {
                "regex" => call(Scalar::RegexCount, vec![pattern(search)?, text(source)?], Type::Long),
                "normal" => call(Scalar::Countof, vec![text(source)?, text(search)?], Type::Long),
                other => {
                    return Err(error(
                        &format!("the kind must be \"normal\" or \"regex\", not \"{other}\""),
                        kind.span,
                    ));
                }
            },
            ("trim" | "trim_start" | "trim_end", [regex, source]) => {
                let body = checked_regex(&literal(regex, "regular expression")?, operator, regex.span)?;
                // Every leading (trailing) match removed: `^(?:p)+` (`(?:p)+$`) replaced by "".
                let mut value = text(source)?;
                let mut strip = |pattern: String| {
                    let args = vec![text_literal(pattern), text_literal(String::new()), value.clone()];
                    value = call(Scalar::RegexReplace, args, Type::String);
                };
                if function != "trim_end" {
                    strip(format!("^(?:{body})+"));
                }
                if function != "trim_start" {
                    strip(format!("(?:{body})+$"));
                }
                value
            }
            _ => {
                let expected = match function {
                    "extract" => "a regular expression, a capture group and a text (and optionally typeof(…))",
                    "replace" => "a regular expression, a rewrite and a text",
                    "replace_regex" => "a text, a regular expression and a rewrite",
                    "countof" => "a text, what to count and its kind",
                    _ => "a regular expression and a text",
                };
                return Err(error(&format!("expects {expected}"), name.span));
            }
        })
    }

    fn datetime_arithmetic(
        &self,
        name: &Ident,
        args: &[Expr],
        fields: &[Field],
        operator: &str,
    ) -> Result<Typed, KqlError> {
        let error = |message: String, span: Span| {
            KqlError::semantic(format!("'{operator}' operator: {}(): {message}", name.name), span)
        };
        let [part, a, b] = args else {
            return Err(error("expects a part (\"day\", \"hour\", …) and two values".into(), name.span));
        };
        let ExprKind::Literal(Literal::String(unit)) = &part.kind else {
            return Err(error("the part must be a string literal".into(), part.span));
        };
        let ticks: i64 = match unit.to_ascii_lowercase().as_str() {
            "week" => 7 * 864_000_000_000,
            "day" => 864_000_000_000,
            "hour" => 36_000_000_000,
            "minute" => 600_000_000,
            "second" => 10_000_000,
            "millisecond" => 10_000,
            "microsecond" => 10,
            "nanosecond" => 1,
            "year" | "quarter" | "month" => {
                return Err(KqlError::unsupported(
                    format!("{}() with the part '{unit}' (of varying length) is not supported", name.name),
                    part.span,
                ));
            }
            _ => return Err(error(format!("'{unit}' is not a datetime part"), part.span)),
        };
        let (a, b) = (self.expr(a, fields, operator)?, self.expr(b, fields, operator)?);
        let span = typed(TypedKind::Literal(Literal::Timespan(ticks)), Type::TimeSpan);
        let binary = |op: BinaryOp, l: Typed, r: Typed, ty: Type| {
            typed(TypedKind::Binary { op, left: Box::new(l), right: Box::new(r) }, ty)
        };
        if name.name == "datetime_add" {
            if !a.ty.is_numeric() || b.ty != Type::DateTime {
                return Err(error("expects a number of parts and a datetime".into(), name.span));
            }
            let amount = binary(BinaryOp::Mul, span, a, Type::TimeSpan);
            return Ok(binary(BinaryOp::Add, b, amount, Type::DateTime));
        }
        if a.ty != Type::DateTime || b.ty != Type::DateTime {
            return Err(error("expects two datetimes".into(), name.span));
        }
        // The part boundaries between them: bin both, then count the parts in the difference.
        let bin = |value: Typed| {
            typed(TypedKind::Call { function: Scalar::Bin, args: vec![value, span.clone()] }, Type::DateTime)
        };
        let difference = binary(BinaryOp::Sub, bin(a), bin(b), Type::TimeSpan);
        let parts = binary(BinaryOp::Div, difference, span.clone(), Type::Real);
        Ok(typed(TypedKind::Call { function: Scalar::ToLong, args: vec![parts] }, Type::Long))
    }

    fn mv_expand(
        &self,
        input: Relation,
        fields: &[Field],
        item: &NamedExpr,
        to: Option<&Ident>,
        limit: Option<u64>,
    ) -> Result<Relation, KqlError> {
        let array = self.expr(&item.expr, fields, "mv-expand")?;
        if array.ty != Type::Dynamic {
            return Err(KqlError::semantic(
                format!("'mv-expand' operator: expands a dynamic array, not a {}", array.ty.kql_name()),
                item.expr.span,
            ));
        }
        let name = match (&item.name, &item.expr.kind) {
            (Some(name), _) => name.name.clone(),
            (None, kind) => path_name(kind).ok_or_else(|| {
                KqlError::semantic("'mv-expand' operator: name the expanded column (Name = …)", item.expr.span)
            })?,
        };
        let replace = fields.iter().position(|f| f.name == name);
        let mut out: Vec<Field> = fields.to_vec();
        let position = match replace {
            Some(i) => {
                out[i] = field(name, Type::Dynamic);
                i
            }
            None => {
                out.push(field(name, Type::Dynamic));
                out.len() - 1
            }
        };
        let expanded = Relation::MvExpand { input: Box::new(input), array, replace, limit, fields: out.clone() };
        let Some(to) = to else { return Ok(expanded) };
        // `to typeof(T)`: the element converted to T, as a map over the expansion.
        let ty = match conversion_type(&to.name) {
            Some(Type::Dynamic) => return Ok(expanded),
            Some(ty) => ty,
            None => {
                return Err(KqlError::unsupported(
                    format!("mv-expand to typeof({}) is not supported", to.name),
                    to.span,
                ));
            }
        };
        let columns = out
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let column = typed(TypedKind::Column(i), f.ty);
                if i == position { (field(f.name.clone(), ty), converted(column, ty)) } else { (f.clone(), column) }
            })
            .collect();
        Ok(Relation::Map { input: Box::new(expanded), columns })
    }

    fn operator(&self, input: Relation, operator: &Operator) -> Result<Relation, KqlError> {
        let fields = input.fields();
        let span = operator.span;
        Ok(match &operator.kind {
            OperatorKind::Where(predicate) => {
                let predicate = self.expr(predicate, &fields, "where")?;
                if predicate.ty != Type::Bool {
                    return Err(KqlError::semantic(
                        format!("'where' operator: the predicate must be bool, not {}", predicate.ty.kql_name()),
                        span,
                    ));
                }
                Relation::Filter { input: Box::new(input), predicate }
            }
            OperatorKind::Project(items) => {
                let columns = self.row_by_row(&input, || self.named(items, &fields, "project"))?;
                check_unique(&columns, "project", span)?;
                Relation::Map { input: Box::new(input), columns }
            }
            OperatorKind::Extend(items) => self.extend(input, &fields, items, "extend")?,
            OperatorKind::Serialize(items) => {
                // An input with no order of its own gets the one its rows arrive in.
                let input = if input.is_serialized() {
                    input
                } else {
                    Relation::Sort { input: Box::new(input), keys: Vec::new() }
                };
                if items.is_empty() { input } else { self.extend(input, &fields, items, "serialize")? }
            }
            OperatorKind::Render => input,
            OperatorKind::GetSchema => schema_of(&fields),
            OperatorKind::Search { predicate: None, .. } => input,
            OperatorKind::Search { case_sensitive, predicate: Some(predicate) } => {
                let predicate = self.search_predicate(predicate, &fields, *case_sensitive)?;
                Relation::Filter { input: Box::new(input), predicate }
            }
            OperatorKind::Parse { expr, pattern } => self.parse_operator(input, &fields, expr, pattern)?,
            OperatorKind::ProjectReorder(patterns) => {
                let mut order: Vec<usize> = Vec::new();
                for pattern in patterns {
                    let matched: Vec<usize> =
                        (0..fields.len()).filter(|&i| glob(&pattern.name, &fields[i].name)).collect();
                    if matched.is_empty() && !pattern.name.contains('*') {
                        column_index(&fields, pattern, "project-reorder")?;
                    }
                    order.extend(matched.into_iter().filter(|i| !order.contains(i)).collect::<Vec<_>>());
                }
                order.extend((0..fields.len()).filter(|i| !order.contains(i)).collect::<Vec<_>>());
                let columns =
                    order.into_iter().map(|i| (fields[i].clone(), typed(TypedKind::Column(i), fields[i].ty))).collect();
                Relation::Map { input: Box::new(input), columns }
            }
            OperatorKind::ProjectAway(names) => {
                for name in names.iter().filter(|n| !n.name.contains('*')) {
                    column_index(&fields, name, "project-away")?;
                }
                let columns: Vec<(Field, Typed)> = fields
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !names.iter().any(|n| glob(&n.name, &f.name)))
                    .map(|(i, f)| (f.clone(), typed(TypedKind::Column(i), f.ty)))
                    .collect();
                if columns.is_empty() {
                    return Err(KqlError::semantic("'project-away' operator: no column would be left", span));
                }
                Relation::Map { input: Box::new(input), columns }
            }
            OperatorKind::ProjectRename(pairs) => {
                let mut columns: Vec<(Field, Typed)> =
                    fields.iter().enumerate().map(|(i, f)| (f.clone(), typed(TypedKind::Column(i), f.ty))).collect();
                for (new, old) in pairs {
                    let index = column_index(&fields, old, "project-rename")?;
                    columns[index].0.name = new.name.clone();
                }
                check_unique(&columns, "project-rename", span)?;
                Relation::Map { input: Box::new(input), columns }
            }
            OperatorKind::Summarize { aggregates, by } => self.summarize(input, &fields, aggregates, by, span)?,
            OperatorKind::Sort(keys) => {
                let keys = keys.iter().map(|k| self.sort_key(k, &fields, "order")).collect::<Result<_, _>>()?;
                Relation::Sort { input: Box::new(input), keys }
            }
            OperatorKind::Top { count, key } => {
                let count = self.count(count, "top")?;
                let key = self.sort_key(key, &fields, "top")?;
                Relation::Limit { input: Box::new(Relation::Sort { input: Box::new(input), keys: vec![key] }), count }
            }
            OperatorKind::Take(count) => Relation::Limit { input: Box::new(input), count: self.count(count, "take")? },
            OperatorKind::Distinct(columns) => {
                if columns.is_empty() {
                    Relation::Distinct { input: Box::new(input) }
                } else {
                    let items: Vec<NamedExpr> = columns
                        .iter()
                        .map(|e| NamedExpr { name: None, more_names: Vec::new(), expr: e.clone() })
                        .collect();
                    let columns = self.named(&items, &fields, "distinct")?;
                    check_unique(&columns, "distinct", span)?;
                    Relation::Distinct { input: Box::new(Relation::Map { input: Box::new(input), columns }) }
                }
            }
            OperatorKind::Count => Relation::Count { input: Box::new(input) },
            OperatorKind::TopNested { count, of, by, descending } => {
                self.top_nested(input, &fields, count.as_ref(), of, by, *descending, span)?
            }
            OperatorKind::BagUnpack { column, prefix, schema, span } => {
                bag_unpack(input, &fields, column, prefix, schema.as_ref(), *span)?
            }
            OperatorKind::MvExpand { item, to, limit } => self.mv_expand(input, &fields, item, to.as_ref(), *limit)?,
            OperatorKind::Join { kind, right, on } => self.join(input, kind.as_ref(), right, on)?,
            OperatorKind::Union(legs) => {
                let mut inputs = vec![input];
                for leg in legs {
                    inputs.push(self.pipeline(leg)?);
                }
                self.union(inputs, span)?
            }
        })
    }

    /// One level of `top-nested`: `summarize aggregated_Of = Aggregation by Of`, the `count`
    /// greatest (or least) aggregations first.
    #[allow(clippy::too_many_arguments, reason = "the operator's parts, as parsed")]
    fn top_nested(
        &self,
        input: Relation,
        fields: &[Field],
        count: Option<&Expr>,
        of: &NamedExpr,
        by: &NamedExpr,
        descending: bool,
        span: Span,
    ) -> Result<Relation, KqlError> {
        let of_name = match (&of.name, &of.expr.kind) {
            (Some(name), _) => name.name.clone(),
            (None, kind) => path_name(kind).unwrap_or_else(|| "Column1".to_owned()),
        };
        let named = |name: String, expr: &Expr| NamedExpr {
            name: Some(Ident { name, span: expr.span }),
            more_names: Vec::new(),
            expr: expr.clone(),
        };
        let aggregate_name = by.name.as_ref().map_or_else(|| format!("aggregated_{of_name}"), |n| n.name.clone());
        let grouped =
            self.summarize(input, fields, &[named(aggregate_name, &by.expr)], &[named(of_name, &of.expr)], span)?;
        // The key comes first, then the aggregation.
        let ty = grouped.fields().get(1).map_or(Type::Long, |f| f.ty);
        if ty == Type::Dynamic {
            return Err(KqlError::semantic(
                "'top-nested' operator: cannot order by a dynamic aggregation",
                by.expr.span,
            ));
        }
        let key = SortKey { expr: typed(TypedKind::Column(1), ty), descending, nulls_first: !descending };
        let sorted = Relation::Sort { input: Box::new(grouped), keys: vec![key] };
        Ok(match count {
            Some(count) => Relation::Limit { input: Box::new(sorted), count: self.count(count, "top-nested")? },
            None => sorted,
        })
    }

    fn count(&self, expr: &Expr, operator: &str) -> Result<u64, KqlError> {
        let value = self.expr(expr, &[], operator)?;
        match value.kind {
            TypedKind::Literal(Literal::Long(n)) if n >= 0 => Ok(n.unsigned_abs()),
            _ => Err(KqlError::semantic(
                format!("'{operator}' operator: the row count must be a whole number of at least 0"),
                expr.span,
            )),
        }
    }

    fn sort_key(&self, key: &crate::ast::SortKey, fields: &[Field], operator: &str) -> Result<SortKey, KqlError> {
        let expr = self.expr(&key.expr, fields, operator)?;
        if expr.ty == Type::Dynamic {
            return Err(KqlError::semantic(
                format!("'{operator}' operator: cannot sort by a dynamic value"),
                key.expr.span,
            ));
        }
        // KQL: nulls last when descending, first when ascending, unless told.
        let nulls_first = key.nulls_first.unwrap_or(!key.descending);
        Ok(SortKey { expr, descending: key.descending, nulls_first })
    }

    /// `project` / `extend` items with their output names.
    fn named(&self, items: &[NamedExpr], fields: &[Field], operator: &str) -> Result<Vec<(Field, Typed)>, KqlError> {
        let mut unnamed = 0;
        let mut taken: Vec<String> = Vec::new();
        items
            .iter()
            .map(|item| {
                let value = self.expr(&item.expr, fields, operator)?;
                let name = match (&item.name, &item.expr.kind) {
                    (Some(name), _) => name.name.clone(),
                    (None, ExprKind::Name(name)) => name.clone(),
                    (None, kind) if let Some(name) = path_name(kind) => unique_name(name, &taken),
                    (None, _) => {
                        unnamed += 1;
                        format!("Column{unnamed}")
                    }
                };
                taken.push(name.clone());
                Ok((field(name, value.ty), value))
            })
            .collect()
    }

    fn summarize(
        &self,
        input: Relation,
        fields: &[Field],
        aggregates: &[NamedExpr],
        by: &[NamedExpr],
        span: Span,
    ) -> Result<Relation, KqlError> {
        let mut keys = Vec::new();
        let mut unnamed = 0;
        for item in by {
            let value = self.expr(&item.expr, fields, "summarize")?;
            let name = match (&item.name, &item.expr.kind) {
                (Some(name), _) => name.name.clone(),
                (None, ExprKind::Name(name)) => name.clone(),
                // bin(Timestamp, 1h) keeps the column's name.
                (None, ExprKind::Call { name, args })
                    if matches!(Scalar::lookup(&name.name), Some(Scalar::Bin | Scalar::StartOfDay)) =>
                {
                    match args.first().map(|a| &a.kind) {
                        Some(ExprKind::Name(column)) => column.clone(),
                        _ => {
                            unnamed += 1;
                            format!("Column{unnamed}")
                        }
                    }
                }
                (None, kind) if let Some(name) = path_name(kind) => name,
                (None, _) => {
                    unnamed += 1;
                    format!("Column{unnamed}")
                }
            };
            if value.ty == Type::Dynamic {
                return Err(KqlError::semantic(
                    "'summarize' operator: cannot group by a dynamic value",
                    item.expr.span,
                ));
            }
            keys.push((field(name, value.ty), value));
        }
        // An item that computes over aggregations (`round(avg(x), 2)`, `tostring(make_set(x))`,
        // `sum(a) / count()`): its aggregations become hidden columns, and the item a column
        // computed from them after the grouping.
        let mut direct: Vec<NamedExpr> = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        for item in aggregates {
            let is_aggregate_call =
                matches!(&item.expr.kind, ExprKind::Call { name, .. } if Aggregate::lookup(&name.name).is_some());
            let mut lifted = item.expr.clone();
            let mut found = Vec::new();
            if !is_aggregate_call {
                lift_aggregates(&mut lifted, &mut found, direct.len());
            }
            if found.is_empty() {
                slots.push(Slot::Direct(direct.len()));
                direct.push(item.clone());
                continue;
            }
            if let Some(extra) = item.more_names.first() {
                return Err(KqlError::semantic("'summarize' operator: an expression makes one column", extra.span));
            }
            let first = direct.len();
            for (hidden, expr) in found {
                direct.push(NamedExpr {
                    name: Some(Ident { name: hidden, span: expr.span }),
                    more_names: Vec::new(),
                    expr,
                });
            }
            slots.push(Slot::Computed { name: item.name.clone(), expr: lifted, aggregates: first..direct.len() });
        }
        let mut outputs: Vec<(Field, AggregateCall)> = Vec::new();
        let mut made: Vec<std::ops::Range<usize>> = Vec::new();
        for item in &direct {
            let before = outputs.len();
            self.summarize_item(item, fields, &keys, &mut outputs)?;
            made.push(before..outputs.len());
        }
        let all: Vec<(Field, Typed)> = keys
            .iter()
            .cloned()
            .chain(outputs.iter().map(|(f, _)| (f.clone(), typed(TypedKind::Column(0), f.ty))))
            .collect();
        check_unique(&all, "summarize", span)?;
        if slots.iter().all(|slot| matches!(slot, Slot::Direct(_))) {
            return Ok(Relation::Aggregate { input: Box::new(input), keys, aggregates: outputs });
        }
        let aggregate = Relation::Aggregate { input: Box::new(input), keys: keys.clone(), aggregates: outputs };
        let grouped = aggregate.fields();
        let column = |i: usize| (grouped[i].clone(), typed(TypedKind::Column(i), grouped[i].ty));
        let mut columns: Vec<(Field, Typed)> = (0..keys.len()).map(column).collect();
        // (Column1, Column2, … number on from the keys'.)
        for slot in slots {
            match slot {
                Slot::Direct(i) => columns.extend(made[i].clone().map(|o| column(keys.len() + o))),
                Slot::Computed { name, expr, aggregates } => {
                    // Only the aggregations' results are in scope, as in KQL (a column, even
                    // one grouped by, must be inside an aggregation): the keys are hidden.
                    let scope: Vec<Field> = grouped
                        .iter()
                        .enumerate()
                        .map(|(i, f)| if i < keys.len() { field(format!("\0key{i}"), f.ty) } else { f.clone() })
                        .collect();
                    let value = self.expr(&expr, &scope, "summarize")?;
                    let taken: Vec<String> = columns.iter().map(|(f, _)| f.name.clone()).collect();
                    // Unnamed: named after the first argument where KQL does so, an
                    // aggregation there by the name it would have had alone.
                    let name = match name {
                        Some(name) => name.name,
                        None if let Some(name) = path_name(&expr.kind) => {
                            let hidden = direct[aggregates.clone()]
                                .iter()
                                .find(|d| d.name.as_ref().is_some_and(|n| n.name == name));
                            match hidden.map(|d| &d.expr.kind) {
                                Some(ExprKind::Call { name, args }) => {
                                    let prefix =
                                        Aggregate::lookup(&name.name).map_or("Column", Aggregate::column_prefix);
                                    match args.first().map(|a| &a.kind) {
                                        Some(ExprKind::Name(column)) => {
                                            unique_name(format!("{prefix}_{column}"), &taken)
                                        }
                                        _ => unique_name(format!("{prefix}_"), &taken),
                                    }
                                }
                                _ if !name.starts_with("__aggregate") => unique_name(name, &taken),
                                _ => {
                                    unnamed += 1;
                                    unique_name(format!("Column{unnamed}"), &taken)
                                }
                            }
                        }
                        None => {
                            unnamed += 1;
                            unique_name(format!("Column{unnamed}"), &taken)
                        }
                    };
                    columns.push((field(name, value.ty), value));
                }
            }
        }
        check_unique(&columns, "summarize", span)?;
        Ok(Relation::Map { input: Box::new(aggregate), columns })
    }

    /// One aggregation of `summarize` (a direct call: `count()`, `X = dcount(Y)`, `arg_max(…)`),
    /// its output columns appended to `outputs`.
    fn summarize_item(
        &self,
        item: &NamedExpr,
        fields: &[Field],
        keys: &[(Field, Typed)],
        outputs: &mut Vec<(Field, AggregateCall)>,
    ) -> Result<(), KqlError> {
        {
            let ExprKind::Call { name, args } = &item.expr.kind else {
                return Err(KqlError::semantic(
                    "'summarize' operator: expected an aggregation such as count() or dcount(Column)",
                    item.expr.span,
                ));
            };
            let Some(function) = Aggregate::lookup(&name.name) else {
                return Err(self.unknown_function(name, "summarize", true));
            };
            if matches!(function, Aggregate::ArgMax | Aggregate::ArgMin) {
                let keys: Vec<&str> = keys.iter().map(|(f, _): &(Field, Typed)| f.name.as_str()).collect();
                let mut made = self.arg_max(function, item, args, fields, &keys)?;
                // (A, B, …) = arg_max(…) renames the columns after the first, in order.
                if made.len() < item.more_names.len() + 1 {
                    return Err(KqlError::semantic(
                        format!(
                            "'summarize' operator: {} names for the {} columns {}() makes",
                            item.more_names.len() + 1,
                            made.len(),
                            name.name
                        ),
                        item.expr.span,
                    ));
                }
                for ((output, _), new) in made.iter_mut().skip(1).zip(&item.more_names) {
                    output.name.clone_from(&new.name);
                }
                outputs.extend(made);
                return Ok(());
            }
            if function == Aggregate::Percentile {
                let made = self.percentiles(item, name, args, fields, keys, outputs)?;
                outputs.extend(made);
                return Ok(());
            }
            if let Some(extra) = item.more_names.first() {
                return Err(KqlError::semantic(
                    format!("'summarize' operator: {}() makes one column; it takes one name", name.name),
                    extra.span,
                ));
            }
            let typed_args = args
                .iter()
                .filter(|a| !(function == Aggregate::Count && a.kind == ExprKind::Star))
                .map(|a| self.expr(a, fields, "summarize"))
                .collect::<Result<Vec<_>, _>>()?;
            let types: Vec<Type> = typed_args.iter().map(|a| a.ty).collect();
            let ty = function.result_type(&types).map_err(|e| {
                KqlError::semantic(format!("'summarize' operator: {}(): {e}", name.name), item.expr.span)
            })?;
            let generated = |name: String| fresh_summary_name(name, keys, outputs.iter().map(|(f, _)| f));
            let output = match (&item.name, args.first().map(|a| &a.kind)) {
                (Some(n), _) => n.name.clone(),
                (None, Some(ExprKind::Name(column))) if function != Aggregate::CountIf => {
                    generated(format!("{}_{column}", function.column_prefix()))
                }
                (None, _) => generated(format!("{}_", function.column_prefix())),
            };
            outputs.push((field(output, ty), AggregateCall { function, args: typed_args }));
        }
        Ok(())
    }

    /// `percentile(x, p)` and `percentiles(x, p1, p2, …)`: a column per percentile, named
    /// `percentile_x_p` (`99.5` as `99_5`) unless named, each the group's nearest-rank value.
    fn percentiles(
        &self,
        item: &NamedExpr,
        name: &Ident,
        args: &[Expr],
        fields: &[Field],
        keys: &[(Field, Typed)],
        outputs: &[(Field, AggregateCall)],
    ) -> Result<Vec<(Field, AggregateCall)>, KqlError> {
        let error = |message: String| {
            KqlError::semantic(format!("'summarize' operator: {}(): {message}", name.name), item.expr.span)
        };
        let [value, percents @ ..] = args else { return Err(error("expects a value and a percentile".into())) };
        let single = name.name == "percentile";
        if percents.is_empty() || (single && percents.len() != 1) {
            return Err(error(format!(
                "expects a value and {}",
                if single { "one percentile" } else { "percentiles" }
            )));
        }
        let typed_value = self.expr(value, fields, "summarize")?;
        let mut made: Vec<(Field, AggregateCall)> = Vec::new();
        for percent in percents {
            let number = match &percent.kind {
                ExprKind::Literal(Literal::Long(n)) => *n as f64,
                ExprKind::Literal(Literal::Real(x)) => *x,
                _ => {
                    return Err(KqlError::unsupported(
                        format!("{}() takes its percentiles as numbers written in the query", name.name),
                        percent.span,
                    ));
                }
            };
            if !(0.0..=100.0).contains(&number) {
                return Err(error(format!("{number} is not a percentile (0 to 100)")));
            }
            let typed_percent = self.expr(percent, fields, "summarize")?;
            let ty = Aggregate::Percentile.result_type(&[typed_value.ty, typed_percent.ty]).map_err(&error)?;
            let label = match &percent.kind {
                ExprKind::Literal(Literal::Long(n)) => n.to_string(),
                _ => number.to_string().replace('.', "_"),
            };
            let generated = match &value.kind {
                ExprKind::Name(column) => format!("percentile_{column}_{label}"),
                _ => format!("percentile_{label}"),
            };
            let taken = outputs.iter().chain(&made).map(|(f, _)| f);
            made.push((
                field(fresh_summary_name(generated, keys, taken), ty),
                AggregateCall { function: Aggregate::Percentile, args: vec![typed_value.clone(), typed_percent] },
            ));
        }
        // A name (or names, `(a, b) = percentiles(…)`) replaces the generated ones in order.
        let names: Vec<&Ident> = item.name.iter().chain(&item.more_names).collect();
        if names.len() > made.len() {
            return Err(error(format!("{} names for the {} columns it makes", names.len(), made.len())));
        }
        for ((output, _), new) in made.iter_mut().zip(names) {
            output.name.clone_from(&new.name);
        }
        Ok(made)
    }

    /// `arg_max(Expr, Col, …)` or `arg_max(Expr, *)`: the expression's column, then each named
    /// column, each taken at the row where the expression is largest. `*` leaves out the
    /// columns grouped by (`keys`), which the output has already.
    fn arg_max(
        &self,
        function: Aggregate,
        item: &NamedExpr,
        args: &[Expr],
        fields: &[Field],
        keys: &[&str],
    ) -> Result<Vec<(Field, AggregateCall)>, KqlError> {
        let [target, columns @ ..] = args else {
            return Err(KqlError::semantic(
                "'summarize' operator: arg_max() expects the expression to maximize, then the columns to return (or *)",
                item.expr.span,
            ));
        };
        if columns.is_empty() {
            return Err(KqlError::semantic(
                "'summarize' operator: arg_max() expects the columns to return (or *) after the expression",
                item.expr.span,
            ));
        }
        let target_value = self.expr(target, fields, "summarize")?;
        let target_name = match (&item.name, &target.kind) {
            (Some(n), _) => n.name.clone(),
            (None, ExprKind::Name(n)) => n.clone(),
            (None, _) => format!("{}_", function.column_prefix()),
        };
        let mut outputs = vec![(
            field(target_name.clone(), target_value.ty),
            AggregateCall { function, args: vec![target_value.clone(), target_value.clone()] },
        )];
        let mut indexes = Vec::new();
        for column in columns {
            match &column.kind {
                ExprKind::Star => {
                    indexes.extend((0..fields.len()).filter(|&i| !keys.contains(&fields[i].name.as_str())))
                }
                ExprKind::Name(name) => {
                    indexes.push(column_index(fields, &Ident { name: name.clone(), span: column.span }, "summarize")?);
                }
                _ => {
                    return Err(KqlError::unsupported(
                        "arg_max() returns columns: name them (or *); expressions are not supported there",
                        column.span,
                    ));
                }
            }
        }
        for index in indexes {
            let f = &fields[index];
            if f.name == target_name || outputs.iter().any(|(o, _)| o.name == f.name) {
                continue;
            }
            outputs.push((
                f.clone(),
                AggregateCall { function, args: vec![target_value.clone(), typed(TypedKind::Column(index), f.ty)] },
            ));
        }
        Ok(outputs)
    }

    fn join(
        &self,
        left: Relation,
        kind: Option<&Ident>,
        right: &Pipeline,
        on: &[JoinKey],
    ) -> Result<Relation, KqlError> {
        // rightsemi and rightanti are leftsemi and leftanti with the sides swapped.
        let (kind, swapped) = match kind.map(|k| k.name.as_str()) {
            None | Some("innerunique") => (JoinKind::InnerUnique, false),
            Some("inner") => (JoinKind::Inner, false),
            Some("leftouter") => (JoinKind::LeftOuter, false),
            Some("rightouter") => (JoinKind::RightOuter, false),
            Some("fullouter") => (JoinKind::FullOuter, false),
            Some("leftanti" | "anti" | "leftantisemi") => (JoinKind::LeftAnti, false),
            Some("leftsemi") => (JoinKind::LeftSemi, false),
            Some("rightanti" | "rightantisemi") => (JoinKind::LeftAnti, true),
            Some("rightsemi") => (JoinKind::LeftSemi, true),
            Some(other) => {
                let span = kind.map_or(Span::default(), |k| k.span);
                return Err(KqlError::semantic(format!("'{other}' is not a join kind"), span));
            }
        };
        let right = self.pipeline(right)?;
        let (left_fields, right_fields) = (left.fields(), right.fields());
        let mut pairs = Vec::new();
        for key in on {
            let (l, r) = match key {
                JoinKey::Same(name) => (name, name),
                JoinKey::Pair { left, right } => (left, right),
            };
            let li = column_index(&left_fields, l, "join")?;
            let ri = column_index(&right_fields, r, "join")?;
            let (lt, rt) = (left_fields[li].ty, right_fields[ri].ty);
            if unify(lt, rt).is_none() || lt == Type::Dynamic {
                return Err(KqlError::semantic(
                    format!(
                        "'join' operator: cannot match {} '{}' with {} '{}'",
                        lt.kql_name(),
                        l.name,
                        rt.kql_name(),
                        r.name
                    ),
                    l.span,
                ));
            }
            pairs.push((li, ri));
        }
        let mut fields = left_fields.clone();
        if kind.keeps_right_columns() {
            for f in &right_fields {
                // A right column whose name the left has gets the smallest number that names
                // no other column of either side: DeviceId1, or DeviceId2 where the right side
                // has a DeviceId1 of its own (as Kusto names them).
                let mut name = f.name.clone();
                let mut n = 1;
                while fields.iter().any(|existing| existing.name == name)
                    || (name != f.name && right_fields.iter().any(|other| other.name == name))
                {
                    name = format!("{}{n}", f.name);
                    n += 1;
                }
                fields.push(field(name, f.ty));
            }
        }
        if swapped {
            // The right side's rows that have (or lack) a match: a left semi (anti) join of the
            // right side with the left, keys paired the other way round.
            let on = pairs.into_iter().map(|(l, r)| (r, l)).collect();
            return Ok(Relation::Join { kind, left: Box::new(right), right: Box::new(left), on, fields: right_fields });
        }
        Ok(Relation::Join { kind, left: Box::new(left), right: Box::new(right), on: pairs, fields })
    }

    fn unknown_function(&self, name: &Ident, operator: &str, aggregate_context: bool) -> KqlError {
        if KNOWN_UNSUPPORTED.contains(&name.name.as_str()) {
            return KqlError::unsupported(format!("the function '{}' is not supported", name.name), name.span);
        }
        if !aggregate_context && Aggregate::lookup(&name.name).is_some() {
            return KqlError::semantic(
                format!("'{operator}' operator: the aggregation '{}' may be used only in summarize", name.name),
                name.span,
            );
        }
        if aggregate_context && Scalar::lookup(&name.name).is_some() {
            return KqlError::semantic(
                format!(
                    "'summarize' operator: '{}' is not an aggregation (count, countif, dcount, dcountif, sum, sumif, avg, min, max, any, make_set, make_set_if, make_list, make_list_if, arg_max, arg_min, stdev, variance, percentile, percentiles)",
                    name.name
                ),
                name.span,
            );
        }
        KqlError::semantic(
            format!("'{operator}' operator: Failed to resolve scalar function named '{}'", name.name),
            name.span,
        )
    }

    /// Types a scalar expression over `fields`.
    fn expr(&self, expr: &Expr, fields: &[Field], operator: &str) -> Result<Typed, KqlError> {
        let span = expr.span;
        let type_error = |message: String| KqlError::semantic(format!("'{operator}' operator: {message}"), span);
        Ok(match &expr.kind {
            ExprKind::Literal(literal) => typed(TypedKind::Literal(literal.clone()), literal_type(literal)),
            ExprKind::TypedNull(ty) => typed(TypedKind::Literal(Literal::Null), *ty),
            ExprKind::Name(name) => {
                if let Some(index) = fields.iter().position(|f| &f.name == name) {
                    typed(TypedKind::Column(index), fields[index].ty)
                } else if let Some(Bound::Scalar(value, nodes)) = self.lets.get(name) {
                    self.expand(value, *nodes, span)?
                } else {
                    return Err(type_error(format!("Failed to resolve scalar expression named '{name}'")));
                }
            }
            ExprKind::Star => return Err(type_error("'*' is allowed only in arg_max, arg_min and distinct".into())),
            ExprKind::Dynamic(items) => {
                let literals = items
                    .iter()
                    .map(|i| match &i.kind {
                        ExprKind::Literal(l) => Ok(l.clone()),
                        _ => Err(type_error("dynamic arrays hold literals only".into())),
                    })
                    .collect::<Result<_, _>>()?;
                typed(TypedKind::Array(literals), Type::Dynamic)
            }
            ExprKind::Json(value) => typed_json(value.to_string()),
            ExprKind::ToScalar(pipeline) => {
                // Its own query (the names of the rows around it are not in scope there).
                let relation = self.pipeline(pipeline)?;
                let Some(first) = relation.fields().into_iter().next() else {
                    return Err(type_error("toscalar(): the query has no column".into()));
                };
                typed(TypedKind::Rows(Box::new(relation)), first.ty)
            }
            ExprKind::Negate(inner) => {
                let inner = self.expr(inner, fields, operator)?;
                if !(inner.ty.is_numeric() || inner.ty == Type::TimeSpan) {
                    return Err(type_error(format!("cannot negate a {}", inner.ty.kql_name())));
                }
                let ty = inner.ty;
                typed(TypedKind::Negate(Box::new(inner)), ty)
            }
            ExprKind::Member { target, name } => {
                let target = self.expr(target, fields, operator)?;
                element(target, PathStep::Key(name.name.clone())).map_err(type_error)?
            }
            ExprKind::Index { target, index } => {
                let target = self.expr(target, fields, operator)?;
                let step = match &index.kind {
                    ExprKind::Literal(Literal::Long(n)) => PathStep::Index(*n),
                    ExprKind::Literal(Literal::String(key)) => PathStep::Key(key.clone()),
                    _ => {
                        return Err(KqlError::unsupported(
                            "an index into a dynamic value must be a number or a string literal",
                            index.span,
                        ));
                    }
                };
                element(target, step).map_err(type_error)?
            }
            ExprKind::Binary { op, left, right } => {
                let right_span = right.span;
                let left = self.expr(left, fields, operator)?;
                let right = self.expr(right, fields, operator)?;
                let (left, mut right) = compared(*op, left, right);
                if let (BinaryOp::Text { op: TextOp::MatchesRegex, .. }, TypedKind::Literal(Literal::String(pattern))) =
                    (op, &right.kind)
                {
                    let pattern = checked_regex(pattern, operator, right_span)?;
                    right = typed(TypedKind::Literal(Literal::String(pattern)), Type::String);
                }
                let ty = binary_type(*op, left.ty, right.ty).map_err(type_error)?;
                typed(TypedKind::Binary { op: *op, left: Box::new(left), right: Box::new(right) }, ty)
            }
            ExprKind::In { expr, list, negated, case_insensitive } => {
                let value = self.expr(expr, fields, operator)?;
                let list = self.list(list, fields, operator, value.ty, *case_insensitive)?;
                typed(
                    TypedKind::In {
                        expr: Box::new(value),
                        list,
                        negated: *negated,
                        case_insensitive: *case_insensitive,
                    },
                    Type::Bool,
                )
            }
            ExprKind::HasAny { expr, list, all, negated } => {
                let value = self.expr(expr, fields, operator)?;
                let list = self.list(list, fields, operator, Type::String, true)?;
                typed(TypedKind::HasAny { expr: Box::new(value), list, all: *all, negated: *negated }, Type::Bool)
            }
            ExprKind::Between { expr, low, high, negated } => {
                let value = self.expr(expr, fields, operator)?;
                let low = self.expr(low, fields, operator)?;
                let mut high = self.expr(high, fields, operator)?;
                // datetime between (start .. 1h) means start up to start + 1h.
                if value.ty == Type::DateTime && low.ty == Type::DateTime && high.ty == Type::TimeSpan {
                    high = typed(
                        TypedKind::Binary { op: BinaryOp::Add, left: Box::new(low.clone()), right: Box::new(high) },
                        Type::DateTime,
                    );
                }
                for bound in [&low, &high] {
                    if comparable(value.ty, bound.ty).is_none() {
                        return Err(type_error(format!(
                            "between: a {} cannot be compared with a {}",
                            value.ty.kql_name(),
                            bound.ty.kql_name()
                        )));
                    }
                }
                typed(
                    TypedKind::Between {
                        expr: Box::new(value),
                        low: Box::new(low),
                        high: Box::new(high),
                        negated: *negated,
                    },
                    Type::Bool,
                )
            }
            ExprKind::Call { name, args } if matches!(name.name.as_str(), "row_number" | "prev" | "next") => {
                if !self.serialized.get() {
                    return Err(KqlError::semantic(
                        format!(
                            "'{operator}' operator: {}() needs a serialized input: use it in extend or project after sort, top or serialize",
                            name.name
                        ),
                        name.span,
                    ));
                }
                let function = match name.name.as_str() {
                    "row_number" => Scalar::RowNumber,
                    "prev" => Scalar::Prev,
                    _ => Scalar::Next,
                };
                let args = args.iter().map(|a| self.expr(a, fields, operator)).collect::<Result<Vec<_>, _>>()?;
                // The offset and a row number's start are constants the window function takes.
                for (i, arg) in args.iter().enumerate() {
                    let constant = matches!(arg.kind, TypedKind::Literal(Literal::Long(n)) if n >= 0);
                    let is_count =
                        (function == Scalar::RowNumber && i == 0) || (function != Scalar::RowNumber && i == 1);
                    if is_count && !constant {
                        return Err(KqlError::unsupported(
                            format!(
                                "{}()'s {} must be a whole number written in the query",
                                name.name,
                                if function == Scalar::RowNumber { "start" } else { "offset" }
                            ),
                            name.span,
                        ));
                    }
                }
                let types: Vec<Type> = args.iter().map(|a| a.ty).collect();
                let ty =
                    function.result_type(&types).map_err(|error| type_error(format!("{}(): {error}", name.name)))?;
                typed(TypedKind::Call { function, args }, ty)
            }
            ExprKind::Call { name, args } if matches!(name.name.as_str(), "datetime_add" | "datetime_diff") => {
                self.datetime_arithmetic(name, args, fields, operator)?
            }
            ExprKind::Call { name, args } if is_regex_call(&name.name, args.len()) => {
                self.regex_call(name, args, fields, operator)?
            }
            ExprKind::Call { name, args } if matches!(name.name.as_str(), "extractjson" | "extract_json") => {
                // extractjson("$.a.b[0]", text): the text's JSON at the path, as a string.
                let (path, text, wanted) = match args.as_slice() {
                    [path, text] => (path, text, Type::String),
                    [path, text, ty] => {
                        // extractjson(path, text, typeof(long))
                        let wanted = typeof_argument(ty).ok_or_else(|| {
                            KqlError::unsupported(
                                format!(
                                    "{}()'s third argument must be typeof(string|long|int|real|bool|dynamic)",
                                    name.name
                                ),
                                ty.span,
                            )
                        })?;
                        (path, text, wanted)
                    }
                    _ => return Err(type_error(format!("{}() expects a JSON path and a text", name.name))),
                };
                let ExprKind::Literal(Literal::String(path_text)) = &path.kind else {
                    return Err(KqlError::unsupported(
                        format!("{}() takes its JSON path as a string literal", name.name),
                        path.span,
                    ));
                };
                let steps = json_path(path_text).filter(|steps| steps.len() <= MAX_JSON_PATH_STEPS).ok_or_else(|| {
                    KqlError::semantic(
                        format!(
                            "'{operator}' operator: '{path_text}' is not a JSON path ($.name, $['name'], $[0]; at most {MAX_JSON_PATH_STEPS} steps)"
                        ),
                        path.span,
                    )
                })?;
                let text = self.expr(text, fields, operator)?;
                let mut value = if text.ty == Type::Dynamic {
                    text
                } else {
                    typed(
                        TypedKind::Call { function: Scalar::ParseJson, args: vec![converted_text(text)] },
                        Type::Dynamic,
                    )
                };
                for step in steps {
                    value = element(value, step).map_err(type_error)?;
                }
                converted(value, wanted)
            }
            ExprKind::Call { name, args } => {
                let Some(function) = Scalar::lookup(&name.name) else {
                    return Err(self.unknown_function(name, operator, false));
                };
                let mut args = args.iter().map(|a| self.expr(a, fields, operator)).collect::<Result<Vec<_>, _>>()?;
                let types: Vec<Type> = args.iter().map(|a| a.ty).collect();
                let ty = match function.result_type(&types) {
                    Ok(ty) => ty,
                    // A function of strings takes dynamic values as their text (KQL converts
                    // them): `tolower(AdditionalFields.Name)`.
                    Err(error) if types.contains(&Type::Dynamic) => {
                        let texts: Vec<Type> =
                            types.iter().map(|t| if *t == Type::Dynamic { Type::String } else { *t }).collect();
                        let ty = function
                            .result_type(&texts)
                            .map_err(|_| type_error(format!("{}(): {error}", name.name)))?;
                        args = args
                            .into_iter()
                            .map(|a| if a.ty == Type::Dynamic { converted(a, Type::String) } else { a })
                            .collect();
                        ty
                    }
                    Err(error) => return Err(type_error(format!("{}(): {error}", name.name))),
                };
                typed(TypedKind::Call { function, args }, ty)
            }
        })
    }

    fn list(
        &self,
        list: &[Expr],
        fields: &[Field],
        operator: &str,
        ty: Type,
        text_only: bool,
    ) -> Result<Vec<Typed>, KqlError> {
        let mut items = Vec::new();
        for item in list {
            // A tabular let of one column: its values.
            if let ExprKind::Name(name) = &item.kind
                && let Some(Bound::Tabular(relation, nodes)) = self.lets.get(name)
            {
                let relation = self.expand(relation, *nodes, item.span)?;
                // Its first column (as KQL takes it).
                let columns = relation.fields();
                let Some(column) = columns.first() else {
                    return Err(KqlError::semantic(
                        format!("'{operator}' operator: '{name}' has no column"),
                        item.span,
                    ));
                };
                if comparable(ty, column.ty).is_none() || (text_only && column.ty != Type::String) {
                    return Err(KqlError::semantic(
                        format!(
                            "'{operator}' operator: '{name}' holds {} values where a {} is compared",
                            column.ty.kql_name(),
                            ty.kql_name()
                        ),
                        item.span,
                    ));
                }
                let column_ty = column.ty;
                items.push(typed(TypedKind::Rows(Box::new(relation)), column_ty));
                continue;
            }
            let value = self.expr(item, fields, operator)?;
            let values = match value.kind {
                // A dynamic array (directly or through a let) spreads into the list.
                TypedKind::Array(literals) => literals
                    .into_iter()
                    .map(|l| {
                        let t = literal_type(&l);
                        typed(TypedKind::Literal(l), t)
                    })
                    .collect(),
                _ => vec![value],
            };
            for value in values {
                // A dynamic array computed by the query (split, pack_array, make_set, …) is
                // searched as it is.
                let fits = value.ty == Type::Dynamic
                    || if text_only { value.ty == Type::String } else { comparable(ty, value.ty).is_some() };
                if !fits {
                    return Err(KqlError::semantic(
                        format!(
                            "'{operator}' operator: the list holds a {} where a {} is compared",
                            value.ty.kql_name(),
                            ty.kql_name()
                        ),
                        item.span,
                    ));
                }
                items.push(value);
            }
        }
        Ok(items)
    }
}

fn column_index(fields: &[Field], name: &Ident, operator: &str) -> Result<usize, KqlError> {
    fields.iter().position(|f| f.name == name.name).ok_or_else(|| {
        KqlError::semantic(format!("'{operator}' operator: Failed to resolve column named '{}'", name.name), name.span)
    })
}

fn check_unique(columns: &[(Field, Typed)], operator: &str, span: Span) -> Result<(), KqlError> {
    for (i, (f, _)) in columns.iter().enumerate() {
        if columns[..i].iter().any(|(other, _)| other.name == f.name) {
            return Err(KqlError::semantic(
                format!("'{operator}' operator: the column '{}' appears twice", f.name),
                span,
            ));
        }
    }
    Ok(())
}

fn literal_type(literal: &Literal) -> Type {
    match literal {
        // A bare null compares with anything; typed as dynamic.
        Literal::Null => Type::Dynamic,
        Literal::Bool(_) => Type::Bool,
        Literal::Long(_) => Type::Long,
        Literal::Real(_) => Type::Real,
        Literal::String(_) => Type::String,
        Literal::Timespan(_) => Type::TimeSpan,
        Literal::DateTime(_) => Type::DateTime,
    }
}

/// The functions whose result KQL names after their first argument (`tostring(x.a)` is
/// `x_a`, `bin(Timestamp, 1h)` is `Timestamp`, `round(avg(x), 2)` is `avg_x`): those of the
/// subset that Kusto.Language marks so (`ResultNameKind.FirstArgument`); others are `Column1`….
const FIRST_ARGUMENT_NAMED: &[&str] = &[
    "tostring",
    "toint",
    "tolong",
    "todouble",
    "toreal",
    "tobool",
    "toboolean",
    "todynamic",
    "toobject",
    "parse_json",
    "parsejson",
    "todatetime",
    "totimespan",
    "split",
    "format_datetime",
    "startofday",
    "bin",
    "floor",
    "round",
    "pow",
    "sqrt",
    "log",
    "log10",
    "exp",
    "abs",
];

/// `name`, or `name1`, `name2`, … if a column of `taken` has it already (how KQL names an
/// unnamed column whose name repeats another's).
fn unique_name(name: String, taken: &[String]) -> String {
    if !taken.contains(&name) {
        return name;
    }
    (1..).map(|n| format!("{name}{n}")).find(|candidate| !taken.contains(candidate)).unwrap_or(name)
}

/// A value as text for a function of strings (a string stays as it is).
fn converted_text(value: Typed) -> Typed {
    if value.ty == Type::String { value } else { converted(value, Type::String) }
}

/// `evaluate bag_unpack(Column[, Prefix]) : ([*,] Name:type, …)`: with `*` the input's other
/// columns, then each named column: an input column of that name, or else the bag's slot of
/// that name (less the prefix) converted to its type. Without a schema the columns would depend
/// on the data, which a query's plan cannot: refused, saying how to name them.
fn bag_unpack(
    input: Relation,
    fields: &[Field],
    column: &Ident,
    prefix: &str,
    schema: Option<&OutputSchema>,
    span: Span,
) -> Result<Relation, KqlError> {
    let bag = column_index(fields, column, "bag_unpack")?;
    if fields[bag].ty != Type::Dynamic {
        return Err(KqlError::semantic(
            format!("bag_unpack(): '{}' must be dynamic, not {}", column.name, fields[bag].ty.kql_name()),
            column.span,
        ));
    }
    let Some(schema) = schema else {
        return Err(KqlError::unsupported(
            format!(
                "evaluate bag_unpack() without an output schema is not supported (its columns would depend on the data); name them: evaluate bag_unpack({}) : (*, Name:string, …)",
                column.name
            ),
            span,
        ));
    };
    let input_column = |i: usize| (fields[i].clone(), typed(TypedKind::Column(i), fields[i].ty));
    let mut columns: Vec<(Field, Typed)> =
        if schema.all { (0..fields.len()).filter(|&i| i != bag).map(input_column).collect() } else { Vec::new() };
    for (name, ty_name) in &schema.columns {
        let ty = schema_type(&ty_name.name).ok_or_else(|| {
            KqlError::semantic(format!("bag_unpack(): '{}' is not a type", ty_name.name), ty_name.span)
        })?;
        if columns.iter().any(|(f, _)| f.name == name.name) {
            continue;
        }
        if let Some(i) = fields.iter().position(|f| f.name == name.name).filter(|&i| i != bag) {
            columns.push(input_column(i));
            continue;
        }
        let slot = name.name.strip_prefix(prefix).unwrap_or(&name.name).to_owned();
        let value = element(typed(TypedKind::Column(bag), Type::Dynamic), PathStep::Key(slot))
            .map_err(|message| KqlError::semantic(format!("bag_unpack(): {message}"), name.span))?;
        let value = match ty {
            // A dynamic datetime or timespan is its text.
            Type::DateTime | Type::TimeSpan => {
                let function = if ty == Type::DateTime { Scalar::ToDateTime } else { Scalar::ToTimeSpan };
                typed(TypedKind::Call { function, args: vec![converted_text(value)] }, ty)
            }
            _ => converted(value, ty),
        };
        columns.push((field(name.name.clone(), ty), value));
    }
    if columns.is_empty() {
        return Err(KqlError::semantic("bag_unpack(): the output schema names no column", span));
    }
    Ok(Relation::Map { input: Box::new(input), columns })
}

/// The type a schema names (`datatable(Name:type)`, a plugin's output schema).
fn schema_type(name: &str) -> Option<Type> {
    match name {
        "datetime" | "date" => Some(Type::DateTime),
        "timespan" | "time" => Some(Type::TimeSpan),
        "decimal" => Some(Type::Real),
        "guid" => Some(Type::String),
        other => conversion_type(other),
    }
}

/// The type a conversion names (`to typeof(long)`, `Column:long`, `typeof(long)`): the types a
/// text or a dynamic value converts to.
fn conversion_type(name: &str) -> Option<Type> {
    Some(match name {
        "string" => Type::String,
        "long" => Type::Long,
        "int" => Type::Int,
        "real" | "double" => Type::Real,
        "bool" | "boolean" => Type::Bool,
        "dynamic" => Type::Dynamic,
        _ => return None,
    })
}

/// The type a `typeof(long)` argument names, among those [`conversion_type`] knows.
fn typeof_argument(expr: &Expr) -> Option<Type> {
    match &expr.kind {
        ExprKind::Call { name, args } if name.name == "typeof" => match args.as_slice() {
            [Expr { kind: ExprKind::Name(t), .. }] => conversion_type(t),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a call of `name` with `count` arguments is one of the regular-expression functions
/// (bound by `Binder::regex_call`).
fn is_regex_call(name: &str, count: usize) -> bool {
    matches!(
        name,
        "extract" | "extract_all" | "extractall" | "replace" | "replace_regex" | "trim" | "trim_start" | "trim_end"
    ) || (name == "countof" && count == 3)
}

/// Most steps an `extractjson` path may take (each is a level of the expression).
const MAX_JSON_PATH_STEPS: usize = 32;

/// The steps of a JSONPath of names and indexes: `$.a.b`, `$['a']`, `$["a"][0]`, `$.a[-1]`.
fn json_path(path: &str) -> Option<Vec<PathStep>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() {
                return None;
            }
            steps.push(PathStep::Key(name.to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inside = after[..end].trim();
            let quoted = inside
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            steps.push(match quoted {
                Some(key) => PathStep::Key(key.to_owned()),
                None => PathStep::Index(inside.parse().ok()?),
            });
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The name KQL gives an unnamed property path: `RawEventData.Operation` and
/// `RawEventData["Operation"]` make `RawEventData_Operation`.
fn path_name(kind: &ExprKind) -> Option<String> {
    match kind {
        ExprKind::Name(name) => Some(name.clone()),
        ExprKind::Member { target, name } => Some(format!("{}_{}", path_name(&target.kind)?, name.name)),
        ExprKind::Index { target, index } => match &index.kind {
            ExprKind::Literal(Literal::String(key)) => Some(format!("{}_{key}", path_name(&target.kind)?)),
            ExprKind::Literal(Literal::Long(i)) => Some(format!("{}_{i}", path_name(&target.kind)?)),
            _ => None,
        },
        // tostring(RawEventData.Operation) keeps its argument's name.
        ExprKind::Call { name, args } if FIRST_ARGUMENT_NAMED.contains(&name.name.as_str()) => {
            path_name(&args.first()?.kind)
        }
        _ => None,
    }
}

/// A property or element of `target`, which must be dynamic.
fn element(target: Typed, step: PathStep) -> Result<Typed, String> {
    if target.ty != Type::Dynamic {
        let what = match &step {
            PathStep::Key(key) => format!("property '{key}'"),
            PathStep::Index(i) => format!("element [{i}]"),
        };
        return Err(format!("a {} has no {what}; only dynamic values do (use parse_json)", target.ty.kql_name()));
    }
    Ok(typed(TypedKind::Element { target: Box::new(target), step }, Type::Dynamic))
}

/// A dynamic value as the type `ty` it is compared or computed with, as KQL converts it.
fn converted(value: Typed, ty: Type) -> Typed {
    let function = match ty {
        Type::String => Scalar::ToString,
        Type::Int => Scalar::ToInt,
        // Datetimes and timespans are ticks: a JSON number is read as ticks.
        Type::Long | Type::DateTime | Type::TimeSpan => Scalar::ToLong,
        Type::Real => Scalar::ToDouble,
        Type::Bool => Scalar::ToBool,
        Type::Dynamic => return value,
    };
    typed(TypedKind::Call { function, args: vec![value] }, ty)
}

/// The operands of a binary operator with a dynamic side converted to the other side's type
/// (text for the string operators), as KQL compares them.
fn compared(op: BinaryOp, left: Typed, right: Typed) -> (Typed, Typed) {
    let text_op = matches!(op, BinaryOp::EqCi | BinaryOp::NotEqCi | BinaryOp::Text { .. });
    let comparison =
        matches!(op, BinaryOp::Eq | BinaryOp::NotEq | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge);
    let number = |t: Type| matches!(t, Type::Int | Type::Long);
    let equality = matches!(op, BinaryOp::Eq | BinaryOp::NotEq);
    match (left.ty, right.ty) {
        // A number equal to a string is equal to the string's number (RemotePort == "3389");
        // KQL orders no number against a string.
        (Type::String, other) if equality && other.is_numeric() => (converted(left, other), right),
        (other, Type::String) if equality && other.is_numeric() => (left, converted(right, other)),
        // A bool compared with a number is 1 or 0 (IsSigned == 1).
        (Type::Bool, other) if comparison && number(other) => (converted(left, Type::Long), right),
        (other, Type::Bool) if comparison && number(other) => (left, converted(right, Type::Long)),
        (Type::Dynamic, Type::Dynamic) if text_op => (converted(left, Type::String), converted(right, Type::String)),
        // (Compared with another dynamic value, `converted` leaves a dynamic value as it is.)
        (Type::Dynamic, other) if text_op || comparison => {
            let to = if text_op { Type::String } else { other };
            (converted(left, to), right)
        }
        (other, Type::Dynamic) if text_op || comparison => {
            let to = if text_op { Type::String } else { other };
            (left, converted(right, to))
        }
        _ => (left, right),
    }
}

/// The type two values are compared as, if they can be.
fn comparable(a: Type, b: Type) -> Option<Type> {
    match (a, b) {
        (Type::Dynamic, t) | (t, Type::Dynamic) => Some(t),
        _ => unify(a, b),
    }
}

/// Most memory a regular expression may compile to (the database compiles it again).
const MAX_REGEX_SIZE: usize = 1 << 20;

/// A pattern (of `matches regex` and the regular-expression functions) must be valid RE2
/// syntax, as KQL's are: checked here, so that both stores answer the same and the error points
/// at the pattern. RE2 has no look-around or back-references; the `regex` crate is SQLite's
/// REGEXP and follows RE2, octal escapes (`\0`, `\012`) included. Returns the pattern as the
/// `regex` crate reads it the same way (see [`rust_syntax`]), which is what the stores get.
fn checked_regex(pattern: &str, operator: &str, span: Span) -> Result<String, KqlError> {
    let pattern = rust_syntax(pattern);
    regex::RegexBuilder::new(&pattern).size_limit(MAX_REGEX_SIZE).octal(true).build().map_err(|error| {
        let reason = match error {
            regex::Error::CompiledTooBig(_) => "it is too large".to_owned(),
            regex::Error::Syntax(text) => text.lines().last().unwrap_or_default().trim().to_owned(),
            other => other.to_string(),
        };
        KqlError::semantic(
            format!("'{operator}' operator: the regular expression is not valid ({reason}); KQL uses RE2 syntax"),
            span,
        )
    })?;
    Ok(pattern)
}

/// An RE2 pattern in the `regex` crate's syntax: the same but for character classes, where
/// the crate reads `[` as a nested class and `&&`, `~~` as set operations, and RE2 reads them
/// as the characters (`[[",\]]` is the class of `[`, `"`, `,` and `]`). Those are escaped;
/// `[:alpha:]` stays.
fn rust_syntax(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                if chars.peek() == Some(&'^') {
                    out.extend(chars.next());
                }
                // A `]` first in a class is the character.
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class, to its `:]`.
                out.push(c);
                for next in chars.by_ref() {
                    out.push(next);
                    if next == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str("\\["),
            '&' | '~' if in_class && chars.peek() == Some(&c) => {
                chars.next();
                out.push('\\');
                out.push(c);
                out.push('\\');
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn binary_type(op: BinaryOp, a: Type, b: Type) -> Result<Type, String> {
    use Type::*;
    let mismatch = |verb: &str| Err(format!("cannot {verb} a {} and a {}", a.kql_name(), b.kql_name()));
    match op {
        BinaryOp::And | BinaryOp::Or => {
            if a == Bool && b == Bool {
                Ok(Bool)
            } else {
                Err(format!("'and' and 'or' need bool operands, not {} and {}", a.kql_name(), b.kql_name()))
            }
        }
        BinaryOp::Eq | BinaryOp::NotEq | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            match comparable(a, b) {
                Some(_) => Ok(Bool),
                None => mismatch("compare"),
            }
        }
        BinaryOp::EqCi | BinaryOp::NotEqCi => {
            if a == String && b == String {
                Ok(Bool)
            } else {
                Err(format!("=~ and !~ compare strings, not {} and {}", a.kql_name(), b.kql_name()))
            }
        }
        BinaryOp::Text { op, .. } => {
            if b != String {
                return Err(format!("'{}' needs a string on its right, not {}", op.name(), b.kql_name()));
            }
            Ok(Bool)
        }
        BinaryOp::Add | BinaryOp::Sub => match (a, b) {
            (DateTime, TimeSpan) => Ok(DateTime),
            (TimeSpan, DateTime) if op == BinaryOp::Add => Ok(DateTime),
            (DateTime, DateTime) if op == BinaryOp::Sub => Ok(TimeSpan),
            (TimeSpan, TimeSpan) => Ok(TimeSpan),
            (a, b) if a.is_numeric() && b.is_numeric() => unify(a, b).ok_or(()).or_else(|()| mismatch("add")),
            _ => mismatch(if op == BinaryOp::Add { "add" } else { "subtract" }),
        },
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => match (a, b) {
            (TimeSpan, n) if n.is_numeric() && op != BinaryOp::Mod => Ok(TimeSpan),
            (n, TimeSpan) if n.is_numeric() && op == BinaryOp::Mul => Ok(TimeSpan),
            (TimeSpan, TimeSpan) if op == BinaryOp::Div => Ok(Real),
            (a, b) if a.is_numeric() && b.is_numeric() => unify(a, b).ok_or(()).or_else(|()| mismatch("multiply")),
            _ => mismatch(match op {
                BinaryOp::Mul => "multiply",
                BinaryOp::Div => "divide",
                _ => "take the remainder of",
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::rust_syntax;

    #[test]
    fn re2_classes_read_the_same_in_the_regex_crate() {
        assert_eq!(rust_syntax(r#"[[",\]]"#), r#"[\[",\]]"#);
        assert_eq!(rust_syntax(r"[[:alpha:]_]+"), r"[[:alpha:]_]+");
        assert_eq!(rust_syntax(r"[]a]"), r"[\]a]");
        assert_eq!(rust_syntax(r"[^]a]"), r"[^\]a]");
        assert_eq!(rust_syntax(r"[a&&b]"), r"[a\&\&b]");
        assert_eq!(rust_syntax(r"\[x\]|[a-z]"), r"\[x\]|[a-z]");
        let class = regex::Regex::new(&rust_syntax(r#"[[",\]]"#)).map(|r| r.replace_all(r#"["a",b]"#, ""));
        assert_eq!(class.as_deref().ok(), Some("ab"));
    }
}
