//! A bound [`Relation`] to one parameterized SQL statement, for SQLite or PostgreSQL.
//!
//! Every operator becomes a `SELECT` over the previous one's (both databases flatten such
//! nesting, so filters still reach the indexes). Output columns are named `c0`, `c1`, … by
//! position, whatever the KQL names are; the caller names them from the plan. Every table read
//! is `FROM ah_<table> WHERE tenant_id = $n` with the caller's tenant bound at `$n`: this is the
//! only place a table name is written, so a query cannot read another tenant's rows.
//!
//! Order: KQL keeps the order `sort`/`top` made through later `where`, `project`, `extend` and
//! `take`. SQL promises no order through a sub-select, so an ordered relation carries its row
//! number in a column `o`, and whatever reads it orders by `o`.
//!
//! Values: datetimes and timespans are ticks (100 ns) in `BIGINT`; `dynamic` is JSON text;
//! bools are `BOOLEAN` in PostgreSQL and 0/1 in SQLite.

use std::fmt::Write as _;

use threatgate_hunting::ast::{BinaryOp, Literal, TextOp};
use threatgate_hunting::functions::{Aggregate, Scalar};
use threatgate_hunting::plan::{AggregateCall, Field, JoinKind, Relation, SortKey, Typed, TypedKind};
use threatgate_hunting::schema::{Table, Type};

use crate::dialect::{DatePart, Dialect, rewrite_pieces};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Long(i64),
    Real(f64),
    Bool(bool),
}

/// One statement: its text, the values for `$1`, `$2`, … in order, and the output columns
/// (`c0`, `c1`, … in the SQL).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub binds: Vec<Value>,
    pub fields: Vec<Field>,
}

/// The database table holding a hunting table's rows: `ah_` and the name in snake case.
pub fn table_name(table: &Table) -> String {
    let mut name = String::from("ah_");
    let chars: Vec<char> = table.name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let after_lower = i > 0 && chars[i - 1].is_ascii_lowercase();
            let before_lower =
                chars.get(i + 1).is_some_and(char::is_ascii_lowercase) && i > 0 && chars[i - 1].is_ascii_uppercase();
            if after_lower || before_lower {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(*c);
        }
    }
    name
}

const TICKS_PER_DAY: i64 = 864_000_000_000;

/// Compiles `relation` in `D`'s SQL for `tenant`, at `now` (ticks since the Unix epoch, the
/// value of `now()` and the base of `ago()`), returning at most `row_limit` rows.
pub(crate) fn compile<D: Dialect>(relation: &Relation, tenant: &str, now: i64, row_limit: u64) -> Statement {
    let mut compiler = Compiler::<D> {
        dialect: std::marker::PhantomData,
        tenant: tenant.to_owned(),
        now,
        binds: Vec::new(),
        terms: Vec::new(),
    };
    let select = compiler.relation(relation);
    let fields = relation.fields();
    let columns = column_list("t", fields.len());
    let order = if select.ordered { " ORDER BY t.o" } else { "" };
    let sql = format!("SELECT {columns} FROM ({}) AS t{order} LIMIT {row_limit}", select.sql);
    Statement { sql, binds: compiler.binds, fields }
}

struct Select {
    sql: String,
    /// Whether the select has the row-number column `o` after its `c` columns.
    ordered: bool,
}

struct Compiler<D> {
    dialect: std::marker::PhantomData<D>,
    tenant: String,
    now: i64,
    binds: Vec<Value>,
    /// Terms that rows of the scan being compiled must hold in a term-indexed column (from
    /// `has` in the filters right above it): `(column index, lower-cased term)`.
    terms: Vec<(usize, String)>,
}

/// Columns with a term index (migrations `0002_hunting_indexes` / `0004_hunting_indexes`), one
/// per table at most (SQLite's index is the table's single FTS5 column).
const TERM_INDEXED: &[(&str, &str)] = &[("DeviceProcessEvents", "ProcessCommandLine")];

/// The column of `table` that has a term index, if one has.
pub(crate) fn term_indexed_column(table: &Table) -> Option<&'static str> {
    TERM_INDEXED.iter().find(|(name, _)| *name == table.name).map(|(_, column)| *column)
}

/// The terms a chain of filters over a scan of `table` requires by `column has "term"` (in a
/// conjunction), for term-indexed columns; only terms of letters, digits and `_`, which the
/// index holds whole.
fn required_terms(relation: &Relation, found: &mut Vec<(usize, String)>) -> Option<&'static Table> {
    match relation {
        Relation::Scan { table } => Some(table),
        Relation::Filter { input, predicate } => {
            let table = required_terms(input, found)?;
            conjunct_terms(table, predicate, found);
            Some(table)
        }
        _ => None,
    }
}

fn conjunct_terms(table: &Table, predicate: &Typed, found: &mut Vec<(usize, String)>) {
    let TypedKind::Binary { op, left, right } = &predicate.kind else { return };
    match (op, &left.kind, &right.kind) {
        (BinaryOp::And, _, _) => {
            conjunct_terms(table, left, found);
            conjunct_terms(table, right, found);
        }
        (
            BinaryOp::Text { op: TextOp::Has | TextOp::HasCs, negated: false },
            TypedKind::Column(index),
            TypedKind::Literal(Literal::String(term)),
        ) if !term.is_empty()
            && term.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && table.columns.get(*index).is_some_and(|column| term_indexed_column(table) == Some(column.name)) =>
        {
            found.push((*index, term.to_ascii_lowercase()));
        }
        _ => {}
    }
}

/// `t.c0, t.c1, …`
fn column_list(alias: &str, count: usize) -> String {
    (0..count).map(|i| format!("{alias}.c{i}")).collect::<Vec<_>>().join(", ")
}

/// `t.c0 AS c0, …`: the columns renamed into place, for selects that add or drop others.
fn column_list_as(alias: &str, count: usize, offset: usize) -> String {
    (0..count).map(|i| format!("{alias}.c{i} AS c{}", i + offset)).collect::<Vec<_>>().join(", ")
}

impl<D: Dialect> Compiler<D> {
    fn bind(&mut self, value: Value) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn relation(&mut self, relation: &Relation) -> Select {
        match relation {
            Relation::Scan { table } => {
                let columns = table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("\"{}\" AS c{i}", c.name))
                    .collect::<Vec<_>>()
                    .join(", ");
                let name = table_name(table);
                let tenant = self.bind(Value::Text(self.tenant.clone()));
                let mut sql = format!("SELECT {columns} FROM {name} WHERE tenant_id = {tenant}");
                let mut newest_first = false;
                for (index, term) in std::mem::take(&mut self.terms) {
                    let column = table.columns[index].name;
                    let condition = D::term_filter(&name, column, term, &mut |value| self.bind(value));
                    let _ = write!(sql, " AND {condition}");
                    newest_first = D::TERM_LOOKUP_BY_ROWID;
                }
                if newest_first {
                    // The rows the index finds, newest (last written) first: a `take` stops
                    // after the first rows that pass the filters above, which for a recent time
                    // range are the newest. (Only an order of work: rows without a `sort` have
                    // none in KQL.)
                    sql.push_str(" ORDER BY rowid DESC");
                }
                Select { sql, ordered: false }
            }
            Relation::Filter { input, predicate } => {
                // The term index narrows the scan; the filter's own `has` stays the exact test.
                let mut terms = Vec::new();
                if required_terms(relation, &mut terms).is_some() && self.terms.is_empty() {
                    self.terms = terms;
                }
                let inner = self.relation(input);
                let predicate = self.expr(predicate, "t");
                Select { sql: format!("SELECT * FROM ({}) AS t WHERE {predicate}", inner.sql), ordered: inner.ordered }
            }
            Relation::Map { input, columns } => {
                let inner = self.relation(input);
                let mut list: Vec<String> =
                    columns.iter().enumerate().map(|(i, (_, e))| format!("{} AS c{i}", self.expr(e, "t"))).collect();
                if inner.ordered {
                    list.push("t.o AS o".into());
                }
                Select { sql: format!("SELECT {} FROM ({}) AS t", list.join(", "), inner.sql), ordered: inner.ordered }
            }
            Relation::Aggregate { input, keys, aggregates } => {
                let inner = self.relation(input);
                let mut list = Vec::new();
                for (i, (_, key)) in keys.iter().enumerate() {
                    list.push(format!("{} AS c{i}", self.expr(key, "t")));
                }
                for (i, (f, call)) in aggregates.iter().enumerate() {
                    list.push(format!("{} AS c{}", self.aggregate(call, f.ty), keys.len() + i));
                }
                let group = if keys.is_empty() {
                    String::new()
                } else {
                    format!(" GROUP BY {}", (1..=keys.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
                };
                Select { sql: format!("SELECT {} FROM ({}) AS t{group}", list.join(", "), inner.sql), ordered: false }
            }
            Relation::Print { columns } => {
                let list: Vec<String> =
                    columns.iter().enumerate().map(|(i, (_, e))| format!("{} AS c{i}", self.expr(e, "t"))).collect();
                Select { sql: format!("SELECT {}", list.join(", ")), ordered: false }
            }
            Relation::Values { fields, rows } => {
                // VALUES names its columns column1, column2, … on both stores; the last is the
                // row's place, which keeps the datatable's order.
                let count = fields.len();
                let mut list: Vec<String> = (0..count).map(|i| format!("column{} AS c{i}", i + 1)).collect();
                list.push(format!("column{} AS o", count + 1));
                let mut tuples = Vec::with_capacity(rows.len());
                for (place, row) in rows.iter().enumerate() {
                    let mut items: Vec<String> = row
                        .iter()
                        .zip(fields)
                        .map(|(value, field)| format!("CAST({} AS {})", self.expr(value, "t"), self.sql_type(field.ty)))
                        .collect();
                    items.push(place.to_string());
                    tuples.push(format!("({})", items.join(", ")));
                }
                if tuples.is_empty() {
                    // No rows: one row of nulls, filtered out.
                    let nulls: Vec<String> = fields
                        .iter()
                        .map(|f| format!("CAST(NULL AS {})", self.sql_type(f.ty)))
                        .chain(["0".into()])
                        .collect();
                    tuples.push(format!("({})", nulls.join(", ")));
                    let sql =
                        format!("SELECT {} FROM (VALUES {}) AS v WHERE 1 = 0", list.join(", "), tuples.join(", "));
                    return Select { sql, ordered: true };
                }
                Select {
                    sql: format!("SELECT {} FROM (VALUES {}) AS v", list.join(", "), tuples.join(", ")),
                    ordered: true,
                }
            }
            Relation::MvExpand { input, array, replace, limit, .. } => {
                let count = input.fields().len();
                let inner = self.relation(input);
                let array = self.expr(array, "t");
                let (join, element) = D::expand(&array, *limit);
                let mut list: Vec<String> = (0..count)
                    .map(|i| if Some(i) == *replace { format!("{element} AS c{i}") } else { format!("t.c{i} AS c{i}") })
                    .collect();
                if replace.is_none() {
                    list.push(format!("{element} AS c{count}"));
                }
                if inner.ordered {
                    list.push("t.o AS o".into());
                }
                Select {
                    sql: format!("SELECT {} FROM ({}) AS t {join}", list.join(", "), inner.sql),
                    ordered: inner.ordered,
                }
            }
            Relation::Range { field, start, end, step } => {
                // A recursive query counting its rows (`n`, also the order), stopped at the end
                // or after MAX_RANGE_ROWS rows; a start past the end gives none.
                let ty = self.sql_type(field.ty);
                let (start, end, step) = (self.expr(start, "t"), self.expr(end, "t"), self.expr(step, "t"));
                let limit = threatgate_hunting::plan::MAX_RANGE_ROWS;
                Select {
                    sql: format!(
                        "SELECT r.x AS c0, r.n AS o FROM (WITH RECURSIVE r(x, n) AS (SELECT CAST({start} AS {ty}), 1 UNION ALL SELECT CAST(r.x + {step} AS {ty}), r.n + 1 FROM r WHERE r.x + {step} <= {end} AND r.n < {limit} AND {step} > 0) SELECT x, n FROM r) AS r WHERE r.x <= {end}"
                    ),
                    ordered: true,
                }
            }
            Relation::Sort { input, keys } if keys.is_empty() => {
                // `serialize` of an input with no order: the order its rows arrive in.
                let count = input.fields().len();
                let inner = self.relation(input);
                Select {
                    sql: format!(
                        "SELECT {}, ROW_NUMBER() OVER () AS o FROM ({}) AS t",
                        column_list_as("t", count, 0),
                        inner.sql
                    ),
                    ordered: true,
                }
            }
            Relation::Sort { input, keys } => {
                let count = input.fields().len();
                let inner = self.relation(input);
                let order = self.order_by(keys, "t");
                Select {
                    sql: format!(
                        "SELECT {}, ROW_NUMBER() OVER (ORDER BY {order}) AS o FROM ({}) AS t",
                        column_list_as("t", count, 0),
                        inner.sql
                    ),
                    ordered: true,
                }
            }
            Relation::Limit { input, count } => {
                // top N / sort … | take N: the database's top-N sort, then numbered.
                if let Relation::Sort { input: sorted, keys } = input.as_ref()
                    && !keys.is_empty()
                {
                    let columns = sorted.fields().len();
                    let inner = self.relation(sorted);
                    let order = self.order_by(keys, "t");
                    let order_outer = self.order_by(keys, "s");
                    return Select {
                        sql: format!(
                            "SELECT {}, ROW_NUMBER() OVER (ORDER BY {order_outer}) AS o FROM (SELECT * FROM ({}) AS t ORDER BY {order} LIMIT {count}) AS s",
                            column_list_as("s", columns, 0),
                            inner.sql
                        ),
                        ordered: true,
                    };
                }
                let inner = self.relation(input);
                let order = if inner.ordered { " ORDER BY t.o" } else { "" };
                Select {
                    sql: format!("SELECT * FROM ({}) AS t{order} LIMIT {count}", inner.sql),
                    ordered: inner.ordered,
                }
            }
            Relation::Distinct { input } => {
                let count = input.fields().len();
                let inner = self.relation(input);
                Select {
                    sql: format!("SELECT DISTINCT {} FROM ({}) AS t", column_list_as("t", count, 0), inner.sql),
                    ordered: false,
                }
            }
            Relation::Count { input } => {
                let inner = self.relation(input);
                Select { sql: format!("SELECT COUNT(*) AS c0 FROM ({}) AS t", inner.sql), ordered: false }
            }
            Relation::Join { kind, left, right, on, .. } => self.join(*kind, left, right, on),
            Relation::Union { inputs, fields } => {
                let parts: Vec<String> = inputs
                    .iter()
                    .map(|input| {
                        let own = input.fields();
                        let inner = self.relation(input);
                        let list = fields
                            .iter()
                            .enumerate()
                            .map(|(i, f)| match own.iter().position(|o| o.name == f.name) {
                                Some(at) => format!("t.c{at} AS c{i}"),
                                None => format!("CAST(NULL AS {}) AS c{i}", self.sql_type(f.ty)),
                            })
                            .collect::<Vec<_>>()
                            .join(", ");
                        format!("SELECT {list} FROM ({}) AS t", inner.sql)
                    })
                    .collect();
                Select { sql: parts.join(" UNION ALL "), ordered: false }
            }
        }
    }

    fn join(&mut self, kind: JoinKind, left: &Relation, right: &Relation, on: &[(usize, usize)]) -> Select {
        let (left_count, right_count) = (left.fields().len(), right.fields().len());
        let mut left_sql = self.relation(left).sql;
        if kind == JoinKind::InnerUnique {
            // KQL's default: each left key once (one row of its group), then inner.
            let partition = on.iter().map(|(l, _)| format!("u.c{l}")).collect::<Vec<_>>().join(", ");
            left_sql = format!(
                "SELECT {} FROM (SELECT u.*, ROW_NUMBER() OVER (PARTITION BY {partition}) AS n FROM ({left_sql}) AS u) AS d WHERE d.n = 1",
                column_list_as("d", left_count, 0)
            );
        }
        let right_sql = self.relation(right).sql;
        let condition = on.iter().map(|(l, r)| format!("l.c{l} = r.c{r}")).collect::<Vec<_>>().join(" AND ");
        let sql = match kind {
            JoinKind::InnerUnique
            | JoinKind::Inner
            | JoinKind::LeftOuter
            | JoinKind::RightOuter
            | JoinKind::FullOuter => {
                let join = match kind {
                    JoinKind::LeftOuter => "LEFT JOIN",
                    JoinKind::RightOuter => "RIGHT JOIN",
                    JoinKind::FullOuter => "FULL JOIN",
                    _ => "JOIN",
                };
                let mut list = column_list_as("l", left_count, 0);
                let rights = (0..right_count).map(|i| format!("r.c{i} AS c{}", left_count + i)).collect::<Vec<_>>();
                if !rights.is_empty() {
                    list.push_str(", ");
                    list.push_str(&rights.join(", "));
                }
                format!("SELECT {list} FROM ({left_sql}) AS l {join} ({right_sql}) AS r ON {condition}")
            }
            JoinKind::LeftSemi | JoinKind::LeftAnti => {
                let not = if kind == JoinKind::LeftAnti { "NOT " } else { "" };
                format!(
                    "SELECT {} FROM ({left_sql}) AS l WHERE {not}EXISTS (SELECT 1 FROM ({right_sql}) AS r WHERE {condition})",
                    column_list_as("l", left_count, 0)
                )
            }
        };
        Select { sql, ordered: false }
    }

    fn order_by(&mut self, keys: &[SortKey], alias: &str) -> String {
        keys.iter()
            .map(|k| {
                let key = self.expr(&k.expr, alias);
                format!(
                    "{} {} NULLS {}",
                    self.ordinal(key, k.expr.ty),
                    if k.descending { "DESC" } else { "ASC" },
                    if k.nulls_first { "FIRST" } else { "LAST" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Strings compare by code point, as KQL compares them, whatever the database's collation.
    fn ordinal(&self, sql: String, ty: Type) -> String {
        match ty {
            Type::String => D::ordinal(sql),
            _ => sql,
        }
    }

    fn sql_type(&self, ty: Type) -> &'static str {
        match ty {
            Type::String | Type::Dynamic => "TEXT",
            Type::DateTime | Type::TimeSpan | Type::Int | Type::Long => "BIGINT",
            Type::Real => D::REAL_TYPE,
            Type::Bool => D::BOOL_TYPE,
        }
    }

    fn aggregate(&mut self, call: &AggregateCall, ty: Type) -> String {
        let arg = |c: &mut Self, i: usize| call.args.get(i).map(|a| c.expr(a, "t")).unwrap_or_else(|| "NULL".into());
        // The value (first argument) of the rows where the predicate (second) holds, for the
        // `…if` aggregations.
        let only_if = |c: &mut Self| {
            let (predicate, value) = (arg(c, 1), arg(c, 0));
            format!("(CASE WHEN {predicate} THEN {value} END)")
        };
        match call.function {
            Aggregate::Count => "COUNT(*)".into(),
            Aggregate::CountIf => format!("COUNT(CASE WHEN {} THEN 1 END)", arg(self, 0)),
            Aggregate::DCount => format!("COUNT(DISTINCT {})", arg(self, 0)),
            // KQL sums no rows (or only nulls) to 0.
            Aggregate::Sum | Aggregate::SumIf => {
                let value = if call.function == Aggregate::SumIf { only_if(self) } else { arg(self, 0) };
                let sum = format!("COALESCE(SUM({value}), 0)");
                if ty == Type::Real { sum } else { D::whole_sum(sum) }
            }
            Aggregate::DCountIf => format!("COUNT(DISTINCT {})", only_if(self)),
            Aggregate::MakeSetIf => D::distinct_json_array(&only_if(self)),
            Aggregate::MakeListIf => D::json_array_aggregate(&only_if(self)),
            Aggregate::Avg => format!("CAST(AVG({}) AS {})", arg(self, 0), self.sql_type(Type::Real)),
            Aggregate::Min | Aggregate::Max | Aggregate::Any => {
                let value = arg(self, 0);
                let function = if call.function == Aggregate::Max { "MAX" } else { "MIN" };
                if ty == Type::Bool {
                    // True above false, in SQL of both stores (PostgreSQL has no MAX(boolean)).
                    return format!("({function}(CASE WHEN {value} THEN 1 WHEN NOT {value} THEN 0 END) = 1)");
                }
                let value = self.ordinal(value, ty);
                format!("{function}({value})")
            }
            Aggregate::Stdev | Aggregate::Variance | Aggregate::StdevP | Aggregate::VarianceP => {
                let real = self.sql_type(Type::Real);
                let x = format!("CAST({} AS {real})", arg(self, 0));
                let n = format!("COUNT({x})");
                let sample = matches!(call.function, Aggregate::Stdev | Aggregate::Variance);
                let divisor = if sample { format!("({n} - 1)") } else { n.clone() };
                // (Σx² − (Σx)²/n) / divisor, never below 0 (rounding); 0 for one value.
                let spread = format!("(SUM({x} * {x}) - SUM({x}) * SUM({x}) / {n})");
                let variance = format!(
                    "(CASE WHEN {n} = 0 THEN NULL WHEN {n} = 1 OR {spread} <= 0 THEN CAST(0 AS {real}) ELSE {spread} / {divisor} END)"
                );
                if matches!(call.function, Aggregate::Stdev | Aggregate::StdevP) {
                    format!("sqrt({variance})")
                } else {
                    variance
                }
            }
            Aggregate::MakeList => {
                let value = arg(self, 0);
                D::json_array_aggregate(&value)
            }
            Aggregate::MakeBag => {
                let value = arg(self, 0);
                D::bag_aggregate(&value)
            }
            Aggregate::Percentile => {
                let value = arg(self, 0);
                let percent = arg(self, 1);
                format!("CAST({} AS {})", D::percentile(&value, &percent), self.sql_type(ty))
            }
            Aggregate::MakeSet => {
                let value = arg(self, 0);
                D::distinct_json_array(&value)
            }
            Aggregate::ArgMax | Aggregate::ArgMin => {
                let (target, value) = (arg(self, 0), arg(self, 1));
                let direction = if call.function == Aggregate::ArgMax { "DESC" } else { "ASC" };
                D::first_in_order(&value, &target, direction, ty)
            }
        }
    }

    fn literal(&mut self, literal: &Literal) -> String {
        match literal {
            Literal::Null => "NULL".into(),
            Literal::Bool(b) => self.bind(Value::Bool(*b)),
            Literal::Long(n) | Literal::Timespan(n) | Literal::DateTime(n) => self.bind(Value::Long(*n)),
            Literal::Real(n) => self.bind(Value::Real(*n)),
            Literal::String(s) => self.bind(Value::Text(s.clone())),
        }
    }

    /// `x` lower-cased, with every character that is not a letter or digit turned into a space,
    /// and a space at each end: the text as its terms, for `has`.
    fn terms(&self, text: &str) -> String {
        let mut sql = format!("lower({text})");
        for separator in SEPARATORS {
            let quoted = if *separator == '\'' { "''".to_owned() } else { separator.to_string() };
            sql = format!("replace({sql}, '{quoted}', ' ')");
        }
        // Tabs and line breaks.
        for code in [9, 10, 13] {
            sql = format!("replace({sql}, {}, ' ')", D::char_code(code));
        }
        format!("(' ' || {sql} || ' ')")
    }

    fn text_op(&mut self, op: TextOp, left: &str, right: &str) -> String {
        let (l, r) = (format!("lower({left})"), format!("lower({right})"));
        match op {
            TextOp::Contains => D::contains_ignoring_case(left, right),
            TextOp::ContainsCs => format!("({} > 0)", D::position(left, right)),
            TextOp::StartsWith => format!("(substr({l}, 1, length({r})) = {r})"),
            TextOp::StartsWithCs => format!("(substr({left}, 1, length({right})) = {right})"),
            TextOp::EndsWith => format!("(substr({l}, length({l}) - length({r}) + 1) = {r})"),
            TextOp::EndsWithCs => format!("(substr({left}, length({left}) - length({right}) + 1) = {right})"),
            TextOp::Has | TextOp::HasCs | TextOp::HasPrefix | TextOp::HasSuffix => {
                let haystack = self.terms(left);
                let needle = self.terms(right);
                let needle = match op {
                    // A term that starts (ends) with the text: drop the needle's trailing
                    // (leading) space.
                    TextOp::HasPrefix => format!("rtrim({needle})"),
                    TextOp::HasSuffix => format!("ltrim({needle})"),
                    _ => needle,
                };
                let found = format!("({} > 0)", D::position(&haystack, &needle));
                if op == TextOp::HasCs { format!("({found} AND ({} > 0))", D::position(left, right)) } else { found }
            }
            TextOp::MatchesRegex => D::matches_regex(left, right),
        }
    }

    /// The expression as text: strings as they are, others as `tostring` writes them.
    fn as_text(&mut self, expr: &Typed, alias: &str) -> String {
        let sql = self.expr(expr, alias);
        Self::text_of(sql, expr.ty)
    }

    /// An expression of type `ty`, already compiled, as `tostring` writes it.
    fn text_of(sql: String, ty: Type) -> String {
        match ty {
            Type::String => sql,
            Type::Dynamic => D::dynamic_text(&sql),
            Type::Bool => format!("(CASE WHEN {sql} THEN 'true' WHEN NOT {sql} THEN 'false' END)"),
            Type::DateTime => D::datetime_text(&sql),
            _ => format!("CAST({sql} AS TEXT)"),
        }
    }

    fn expr(&mut self, expr: &Typed, alias: &str) -> String {
        match &expr.kind {
            TypedKind::Column(i) => format!("{alias}.c{i}"),
            TypedKind::Literal(literal) => self.literal(literal),
            TypedKind::Array(items) => {
                let json = serde_json_array(items);
                self.bind(Value::Text(json))
            }
            TypedKind::Json(json) => self.bind(Value::Text(json.clone())),
            TypedKind::Negate(inner) => format!("(-{})", self.expr(inner, alias)),
            // Outside an `in` list: the first row's value (what toscalar() gives).
            TypedKind::Rows(relation) => {
                let rows = self.relation(relation);
                let order = if rows.ordered { " ORDER BY s.o" } else { "" };
                format!("(SELECT s.c0 FROM ({}) AS s{order} LIMIT 1)", rows.sql)
            }
            TypedKind::Element { target, step } => {
                let target = self.expr(target, alias);
                D::element(&target, step, &mut |value| self.bind(value))
            }
            TypedKind::Binary { op, left, right } => {
                let (l, r) = (self.expr(left, alias), self.expr(right, alias));
                match op {
                    BinaryOp::Or => format!("({l} OR {r})"),
                    BinaryOp::And => format!("({l} AND {r})"),
                    BinaryOp::Eq => format!("({l} = {r})"),
                    BinaryOp::NotEq => format!("({l} <> {r})"),
                    BinaryOp::EqCi => format!("(lower({l}) = lower({r}))"),
                    BinaryOp::NotEqCi => format!("(lower({l}) <> lower({r}))"),
                    BinaryOp::Lt => format!("({l} < {r})"),
                    BinaryOp::Le => format!("({l} <= {r})"),
                    BinaryOp::Gt => format!("({l} > {r})"),
                    BinaryOp::Ge => format!("({l} >= {r})"),
                    BinaryOp::Add => format!("({l} + {r})"),
                    BinaryOp::Sub => format!("({l} - {r})"),
                    BinaryOp::Mul => self.arithmetic("*", left, right, &l, &r),
                    BinaryOp::Div => self.arithmetic("/", left, right, &l, &r),
                    BinaryOp::Mod => format!("({l} % {r})"),
                    BinaryOp::Text { op, negated } => {
                        let text = if left.ty == Type::String { l } else { self.as_text(left, alias) };
                        // A pattern written in the query, in the backend's regular expressions.
                        let r = match (op, &right.kind) {
                            (TextOp::MatchesRegex, TypedKind::Literal(Literal::String(pattern))) => {
                                self.bind(Value::Text(D::regex(pattern)))
                            }
                            _ => r,
                        };
                        let test = self.text_op(*op, &text, &r);
                        if *negated { format!("(NOT {test})") } else { test }
                    }
                }
            }
            TypedKind::In { expr, list, negated, case_insensitive } => {
                if list.is_empty() {
                    return if *negated { "(1 = 1)".into() } else { "(1 = 0)".into() };
                }
                let compiled = self.expr(expr, alias);
                // The value as text, for the arrays of the list (compiled once, above).
                let text = Self::text_of(compiled.clone(), expr.ty);
                let value = if *case_insensitive { format!("lower({compiled})") } else { compiled };
                let mut plain = Vec::new();
                let mut tests = Vec::new();
                for item in list {
                    match &item.kind {
                        TypedKind::Rows(relation) => {
                            let rows = self.relation(relation);
                            let column = if *case_insensitive { "lower(s.c0)" } else { "s.c0" };
                            tests.push(format!("{value} IN (SELECT {column} FROM ({}) AS s)", rows.sql));
                        }
                        _ if item.ty == Type::Dynamic && expr.ty != Type::Dynamic => {
                            let array = self.expr(item, alias);
                            // in~: the array's JSON text lower-cased lowers its strings.
                            let test = if *case_insensitive {
                                D::array_has_text(&format!("lower({array})"), &format!("lower({text})"))
                            } else {
                                D::array_has_text(&array, &text)
                            };
                            tests.push(test);
                        }
                        _ => {
                            let item = self.expr(item, alias);
                            plain.push(if *case_insensitive { format!("lower({item})") } else { item });
                        }
                    }
                }
                if !plain.is_empty() {
                    tests.insert(0, format!("{value} IN ({})", plain.join(", ")));
                }
                let any = tests.join(" OR ");
                if *negated { format!("(NOT ({any}))") } else { format!("({any})") }
            }
            TypedKind::HasAny { expr, list, all, negated } => {
                if list.is_empty() {
                    return if *all != *negated { "(1 = 1)".into() } else { "(1 = 0)".into() };
                }
                let text = self.as_text(expr, alias);
                let tests: Vec<String> = list
                    .iter()
                    .map(|i| {
                        let item = self.expr(i, alias);
                        self.text_op(TextOp::Has, &text, &item)
                    })
                    .collect();
                let joined = tests.join(if *all { " AND " } else { " OR " });
                if *negated { format!("(NOT ({joined}))") } else { format!("({joined})") }
            }
            TypedKind::Between { expr, low, high, negated } => {
                let (value, low, high) = (self.expr(expr, alias), self.expr(low, alias), self.expr(high, alias));
                format!("({value} {}BETWEEN {low} AND {high})", if *negated { "NOT " } else { "" })
            }
            TypedKind::Call { function, args } => self.call(*function, args, expr.ty, alias),
        }
    }

    /// `*` and `/`: a timespan times a real stays whole ticks; long / long stays whole.
    fn arithmetic(&mut self, op: &str, left: &Typed, right: &Typed, l: &str, r: &str) -> String {
        if (left.ty == Type::TimeSpan || right.ty == Type::TimeSpan)
            && (left.ty == Type::Real || right.ty == Type::Real)
        {
            return format!("CAST(({l} {op} {r}) AS BIGINT)");
        }
        if left.ty == Type::TimeSpan && right.ty == Type::TimeSpan && op == "/" {
            let real = self.sql_type(Type::Real);
            return format!("(CAST({l} AS {real}) / {r})");
        }
        format!("({l} {op} {r})")
    }

    fn call(&mut self, function: Scalar, args: &[Typed], ty: Type, alias: &str) -> String {
        let arg = |c: &mut Self, i: usize| args.get(i).map(|a| c.expr(a, alias)).unwrap_or_else(|| "NULL".into());
        match function {
            Scalar::Not => format!("(NOT {})", arg(self, 0)),
            Scalar::IsEmpty | Scalar::IsNotEmpty => {
                let value = arg(self, 0);
                let empty = if args.first().map(|a| a.ty) == Some(Type::String) {
                    format!("({value} IS NULL OR {value} = '')")
                } else {
                    format!("({value} IS NULL)")
                };
                if function == Scalar::IsEmpty { empty } else { format!("(NOT {empty})") }
            }
            // KQL strings are never null (a missing one is ""): `isnull` of a string is false.
            Scalar::IsNull | Scalar::IsNotNull if args.first().map(|a| a.ty) == Some(Type::String) => {
                (if function == Scalar::IsNull { "(1 = 0)" } else { "(1 = 1)" }).to_owned()
            }
            Scalar::IsNull => format!("({} IS NULL)", arg(self, 0)),
            Scalar::IsNotNull => format!("({} IS NOT NULL)", arg(self, 0)),
            Scalar::Iff => format!("(CASE WHEN {} THEN {} ELSE {} END)", arg(self, 0), arg(self, 1), arg(self, 2)),
            Scalar::Case => {
                let mut sql = String::from("(CASE");
                let pairs = args.len() / 2;
                for i in 0..pairs {
                    let (condition, value) = (arg(self, 2 * i), arg(self, 2 * i + 1));
                    let _ = write!(sql, " WHEN {condition} THEN {value}");
                }
                let _ = write!(sql, " ELSE {} END)", arg(self, args.len() - 1));
                sql
            }
            Scalar::Strcat => {
                let parts: Vec<String> =
                    args.iter().map(|a| format!("COALESCE({}, '')", self.as_text(a, alias))).collect();
                format!("({})", parts.join(" || "))
            }
            Scalar::ToLower => format!("lower({})", arg(self, 0)),
            Scalar::ToUpper => format!("upper({})", arg(self, 0)),
            Scalar::Strlen => format!("CAST(length({}) AS BIGINT)", arg(self, 0)),
            Scalar::Substring => {
                let (text, start) = (arg(self, 0), arg(self, 1));
                // PostgreSQL's substr takes integers, not bigints.
                let start = D::integer_argument(format!("({start}) + 1"));
                match args.get(2) {
                    Some(_) => {
                        let length = D::integer_argument(arg(self, 2));
                        format!("substr({text}, {start}, {length})")
                    }
                    None => format!("substr({text}, {start})"),
                }
            }
            Scalar::Split => {
                let (text, separator) = (arg(self, 0), arg(self, 1));
                // The parts as a JSON array of strings: quotes and backslashes escaped, then
                // every separator closes one string and opens the next.
                let array = format!(
                    "('[\"' || replace(replace(replace({text}, '\\', '\\\\'), '\"', '\\\"'), {separator}, '\",\"') || '\"]')"
                );
                match args.get(2) {
                    None => array,
                    Some(_) => {
                        let index = arg(self, 2);
                        D::element_as_array(&array, &index)
                    }
                }
            }
            Scalar::ToString => {
                let Some(value) = args.first() else { return "NULL".into() };
                self.as_text(value, alias)
            }
            Scalar::ToInt | Scalar::ToLong => {
                let Some(value) = args.first() else { return "NULL".into() };
                let sql = self.expr(value, alias);
                match value.ty {
                    Type::String => self.parse_number(&sql, false),
                    Type::Dynamic => self.parse_number(&D::dynamic_text(&sql), false),
                    // Toward zero, as KQL converts (PostgreSQL's cast rounds).
                    Type::Real => D::real_to_long(&sql),
                    Type::Bool => format!("(CASE WHEN {sql} THEN 1 WHEN NOT {sql} THEN 0 END)"),
                    _ => sql,
                }
            }
            Scalar::ToDouble => {
                let Some(value) = args.first() else { return "NULL".into() };
                let sql = self.expr(value, alias);
                match value.ty {
                    Type::String => self.parse_number(&sql, true),
                    Type::Dynamic => self.parse_number(&D::dynamic_text(&sql), true),
                    _ => format!("CAST({sql} AS {})", self.sql_type(Type::Real)),
                }
            }
            Scalar::Ago => {
                let now = self.bind(Value::Long(self.now));
                format!("({now} - {})", arg(self, 0))
            }
            Scalar::Now => {
                let now = self.bind(Value::Long(self.now));
                match args.first() {
                    Some(_) => format!("({now} + {})", arg(self, 0)),
                    None => now,
                }
            }
            Scalar::Bin => {
                let (value, size) = (arg(self, 0), arg(self, 1));
                match ty {
                    Type::Real => format!("(CAST(({value}) / ({size}) AS BIGINT) * ({size}))"),
                    // Ticks and whole numbers: round down to the multiple (also before 1970).
                    _ => format!("(({value}) - ((({value}) % ({size})) + ({size})) % ({size}))"),
                }
            }
            Scalar::StartOfDay => {
                let value = arg(self, 0);
                format!("(({value}) - ((({value}) % {TICKS_PER_DAY}) + {TICKS_PER_DAY}) % {TICKS_PER_DAY})")
            }
            Scalar::FormatDatetime => {
                let value = arg(self, 0);
                let format = match args.get(1).map(|a| &a.kind) {
                    Some(TypedKind::Literal(Literal::String(f))) => f.clone(),
                    _ => "yyyy-MM-ddTHH:mm:ss".into(),
                };
                self.format_datetime(&value, &format)
            }
            Scalar::ParseJson => match args.first() {
                Some(value) if value.ty == Type::Dynamic => self.expr(value, alias),
                _ => D::parse_json(&arg(self, 0)),
            },
            Scalar::ArrayLength => D::array_length(&arg(self, 0)),
            Scalar::ParseUrl => D::parse_url(&arg(self, 0)),
            Scalar::ParseUrlQuery => D::parse_url_query(&arg(self, 0)),
            Scalar::ParsePath => D::parse_path(&arg(self, 0)),
            Scalar::ToTimeSpan => match args.first() {
                Some(value) if value.ty == Type::TimeSpan => self.expr(value, alias),
                _ => D::parse_timespan(&arg(self, 0)),
            },
            Scalar::HourOfDay => {
                let value = arg(self, 0);
                format!("((((({value}) % {TICKS_PER_DAY}) + {TICKS_PER_DAY}) % {TICKS_PER_DAY}) / 36000000000)")
            }
            Scalar::DayOfWeek => {
                // 1970-01-01 was a Thursday (4 days after a Sunday).
                let value = arg(self, 0);
                let days = format!(
                    "((({value}) - (((({value}) % {TICKS_PER_DAY}) + {TICKS_PER_DAY}) % {TICKS_PER_DAY})) / {TICKS_PER_DAY})"
                );
                format!("((((({days}) + 4) % 7) + 7) % 7 * {TICKS_PER_DAY})")
            }
            Scalar::DayOfMonth | Scalar::GetMonth | Scalar::GetYear => {
                let value = arg(self, 0);
                let part = match function {
                    Scalar::DayOfMonth => DatePart::Day,
                    Scalar::GetMonth => DatePart::Month,
                    _ => DatePart::Year,
                };
                format!("CAST({} AS BIGINT)", D::datetime_part(&format!("(({value}) / 10000000)"), part))
            }
            Scalar::Abs => format!("abs({})", arg(self, 0)),
            Scalar::Round => {
                let value = arg(self, 0);
                match args.first().map(|a| a.ty) {
                    // A whole number has no digits to round.
                    Some(Type::Real) => {
                        let digits = if args.len() > 1 { arg(self, 1) } else { "0".into() };
                        D::round(&value, &digits)
                    }
                    _ => value,
                }
            }
            // Outside their domains the functions are null (KQL's NaN), never a database error.
            Scalar::Sqrt => {
                let value = arg(self, 0);
                format!("(CASE WHEN {value} >= 0 THEN sqrt({value}) END)")
            }
            Scalar::Exp => {
                let value = arg(self, 0);
                format!("(CASE WHEN {value} <= 709 THEN exp({value}) END)")
            }
            Scalar::Log => {
                let value = arg(self, 0);
                format!("(CASE WHEN {value} > 0 THEN ln({value}) END)")
            }
            Scalar::Log10 => {
                let value = arg(self, 0);
                format!("(CASE WHEN {value} > 0 THEN {} END)", D::log10(&value))
            }
            Scalar::Pow => {
                let (base, exponent) = (arg(self, 0), arg(self, 1));
                let real = self.sql_type(Type::Real);
                format!(
                    "(CASE WHEN ({base} > 0 OR ({base} = 0 AND {exponent} >= 0) OR ({base} < 0 AND {exponent} = CAST(CAST({exponent} AS BIGINT) AS {real}))) AND abs({exponent} * ln(abs({base}) + 1)) < 700 THEN power(CAST({base} AS {real}), CAST({exponent} AS {real})) END)"
                )
            }
            Scalar::IsNan => D::is_nan(&arg(self, 0)),
            Scalar::ToDateTime => match args.first() {
                Some(value) if value.ty == Type::DateTime => self.expr(value, alias),
                _ => D::parse_datetime(&arg(self, 0)),
            },
            Scalar::ToBool => {
                let Some(value) = args.first() else { return "NULL".into() };
                match value.ty {
                    Type::Bool => self.expr(value, alias),
                    ty if ty.is_numeric() => {
                        let sql = self.expr(value, alias);
                        format!("(CASE WHEN {sql} IS NULL THEN NULL WHEN {sql} <> 0 THEN TRUE ELSE FALSE END)")
                    }
                    _ => {
                        let text = self.as_text(value, alias);
                        format!(
                            "(CASE lower(trim({text})) WHEN 'true' THEN TRUE WHEN '1' THEN TRUE WHEN 'false' THEN FALSE WHEN '0' THEN FALSE END)"
                        )
                    }
                }
            }
            Scalar::PackArray => {
                let items: Vec<String> = args
                    .iter()
                    .map(|a| {
                        let sql = self.expr(a, alias);
                        D::json_item(&sql, a.ty)
                    })
                    .collect();
                D::json_array(&items)
            }
            Scalar::Countof => {
                let (text, part) = (arg(self, 0), arg(self, 1));
                format!("COALESCE({}, 0)", D::count_occurrences(&text, &part))
            }
            Scalar::IndexOf => {
                let (text, part) = (arg(self, 0), arg(self, 1));
                format!("CAST({} - 1 AS BIGINT)", D::position(&text, &part))
            }
            Scalar::ReplaceString => {
                let (text, lookup, rewrite) = (arg(self, 0), arg(self, 1), arg(self, 2));
                format!("(CASE WHEN length({lookup}) > 0 THEN replace({text}, {lookup}, {rewrite}) ELSE {text} END)")
            }
            Scalar::Coalesce => {
                // Strings: the first that is not empty, as KQL's coalesce.
                let parts: Vec<String> = args
                    .iter()
                    .map(|a| {
                        let sql = self.expr(a, alias);
                        if a.ty == Type::String { format!("NULLIF({sql}, '')") } else { sql }
                    })
                    .collect();
                let fallback = if ty == Type::String { ", ''" } else { "" };
                format!("COALESCE({}{fallback})", parts.join(", "))
            }
            Scalar::StrcatArray => {
                let (array, separator) = (arg(self, 0), arg(self, 1));
                D::join_array(&array, &separator)
            }
            Scalar::RegexExtract | Scalar::RegexExtractAll | Scalar::RegexReplace | Scalar::RegexCount => {
                // The binder made the pattern (and a rewrite) string literals.
                let literal = |i: usize| match args.get(i).map(|a| &a.kind) {
                    Some(TypedKind::Literal(Literal::String(text))) => text.clone(),
                    _ => String::new(),
                };
                let pattern = literal(0);
                let text = arg(self, args.len() - 1);
                let mut bind = |value| self.bind(value);
                match function {
                    Scalar::RegexExtract => {
                        let group = self.expr(&args[1], alias);
                        let mut bind = |value| self.bind(value);
                        format!("COALESCE({}, '')", D::regex_extract(&pattern, &group, &text, &mut bind))
                    }
                    Scalar::RegexExtractAll => D::regex_extract_all(&pattern, &text, &mut bind),
                    Scalar::RegexReplace => {
                        let rewrite = literal(1);
                        D::regex_replace(&pattern, &rewrite_pieces(&rewrite), &text, &mut bind)
                    }
                    _ => format!("COALESCE({}, 0)", D::regex_count(&pattern, &text, &mut bind)),
                }
            }
            Scalar::BagPack => {
                let pairs: Vec<(String, String)> = args
                    .chunks(2)
                    .map(|pair| {
                        // (KQL strings are never null; a computed one may be here.)
                        let key = format!("COALESCE({}, '')", self.expr(&pair[0], alias));
                        let value =
                            pair.get(1).map_or_else(|| "NULL".to_owned(), |v| D::json_item(&self.expr(v, alias), v.ty));
                        (key, value)
                    })
                    .collect();
                D::json_object(&pairs)
            }
            Scalar::Base64Decode => format!("COALESCE({}, '')", D::base64_decode(&arg(self, 0))),
            Scalar::Base64Encode => D::base64_encode(&arg(self, 0)),
            Scalar::UrlDecode => format!("COALESCE({}, '')", D::url_decode(&arg(self, 0))),
            Scalar::Ipv4IsPrivate => D::ipv4_is_private(&arg(self, 0)),
            Scalar::Ipv4IsInRange => D::ipv4_is_in_range(&arg(self, 0), &arg(self, 1)),
            Scalar::HashSha256 => D::sha256(&arg(self, 0)),
            // The binder allows these only over a serialized input, which carries its order
            // as the hidden column `o`.
            Scalar::RowNumber => {
                let start = args.first().map_or_else(|| "1".to_owned(), |start| self.expr(start, alias));
                format!("(ROW_NUMBER() OVER (ORDER BY {alias}.o) + {start} - 1)")
            }
            Scalar::Prev | Scalar::Next => {
                let function = if function == Scalar::Prev { "LAG" } else { "LEAD" };
                let value = arg(self, 0);
                let offset = args.get(1).map_or_else(|| "1".to_owned(), |offset| self.expr(offset, alias));
                let default = match args.get(2) {
                    Some(default) => format!("CAST({} AS {})", self.expr(default, alias), self.sql_type(ty)),
                    None => "NULL".to_owned(),
                };
                // PostgreSQL's LAG and LEAD take the offset as an integer.
                format!("{function}({value}, CAST({offset} AS INTEGER), {default}) OVER (ORDER BY {alias}.o)")
            }
            Scalar::SetHasElement => {
                let array = arg(self, 0);
                let Some(value) = args.get(1) else { return "NULL".into() };
                let text = self.as_text(value, alias);
                D::array_has_text(&array, &text)
            }
        }
    }

    /// A string to a number, or null when it is not one (as KQL's `tolong`/`todouble`).
    fn parse_number(&self, text: &str, real: bool) -> String {
        if real { D::parse_real(text) } else { D::parse_long(text) }
    }

    /// `format_datetime` with .NET-style patterns (yyyy, MM, dd, HH, mm, ss, fffffff).
    fn format_datetime(&mut self, ticks: &str, format: &str) -> String {
        let mut pieces: Vec<String> = Vec::new();
        let mut literal = String::new();
        // The pattern's literal text is bound, never written into the SQL.
        let flush = |compiler: &mut Self, literal: &mut String, pieces: &mut Vec<String>| {
            if !literal.is_empty() {
                pieces.push(compiler.bind(Value::Text(std::mem::take(literal))));
            }
        };
        let seconds = format!("({ticks} / 10000000)");
        let part = |part| D::datetime_part(&seconds, part);
        let chars: Vec<char> = format.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let run = chars[i..].iter().take_while(|&&x| x == c).count();
            let piece = match (c, run) {
                ('y', 4) => Some(part(DatePart::Year)),
                ('y', 2) => Some(format!("substr({}, 3)", part(DatePart::Year))),
                ('M', 2) => Some(part(DatePart::Month)),
                ('d', 2) => Some(part(DatePart::Day)),
                ('H', 2) => Some(part(DatePart::Hour)),
                ('m', 2) => Some(part(DatePart::Minute)),
                ('s', 2) => Some(part(DatePart::Second)),
                ('f', n @ 1..=7) => {
                    let fraction = D::tick_fraction(ticks);
                    Some(format!("substr({fraction}, 1, {n})"))
                }
                _ => None,
            };
            match piece {
                Some(piece) => {
                    flush(self, &mut literal, &mut pieces);
                    pieces.push(piece);
                    i += run;
                }
                None => {
                    literal.push(c);
                    i += 1;
                }
            }
        }
        flush(self, &mut literal, &mut pieces);
        if pieces.is_empty() {
            return "''".into();
        }
        format!("({})", pieces.join(" || "))
    }
}

/// Characters that separate terms for `has` (letters and digits make terms).
const SEPARATORS: &[char] = &[
    '\\', '/', '.', ',', ';', ':', '-', '=', '+', '(', ')', '[', ']', '{', '}', '"', '\'', '@', '#', '$', '%', '^',
    '&', '*', '!', '?', '<', '>', '|', '~', '`',
];

/// A `dynamic([...])` literal as JSON text.
fn serde_json_array(items: &[Literal]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|l| match l {
            Literal::Null => "null".into(),
            Literal::Bool(b) => b.to_string(),
            Literal::Long(n) | Literal::Timespan(n) | Literal::DateTime(n) => n.to_string(),
            Literal::Real(n) if n.is_finite() => n.to_string(),
            Literal::Real(_) => "null".into(),
            Literal::String(s) => {
                let mut quoted = String::from("\"");
                for c in s.chars() {
                    match c {
                        '"' => quoted.push_str("\\\""),
                        '\\' => quoted.push_str("\\\\"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(quoted, "\\u{:04x}", c as u32);
                        }
                        c => quoted.push(c),
                    }
                }
                quoted.push('"');
                quoted
            }
        })
        .collect();
    format!("[{}]", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::PgDialect;
    use crate::sqlite::SqliteDialect;
    use threatgate_hunting::schema;

    #[test]
    fn table_names() {
        let name = |t: &str| schema::table(t).map(table_name);
        assert_eq!(name("DeviceProcessEvents").as_deref(), Some("ah_device_process_events"));
        assert_eq!(name("DeviceInfo").as_deref(), Some("ah_device_info"));
        assert_eq!(name("EmailUrlInfo").as_deref(), Some("ah_email_url_info"));
        assert_eq!(name("AlertEvidence").as_deref(), Some("ah_alert_evidence"));
    }

    #[test]
    fn sqlite_reads_the_rows_a_term_index_finds_newest_first() {
        fn compiled<D: Dialect>(text: &str) -> String {
            let query = threatgate_hunting::parse(text).expect("parses");
            compile::<D>(&threatgate_hunting::bind(&query).expect("binds"), "t", 0, 100).sql
        }
        let has = "DeviceProcessEvents | where ProcessCommandLine has \"MiniDump\" | take 5";
        let sql = compiled::<SqliteDialect>(has);
        assert!(sql.contains("_terms MATCH $2) ORDER BY rowid DESC)"), "{sql}");
        // Without a term to look up, the scan has no order of its own.
        let contains = "DeviceProcessEvents | where ProcessCommandLine contains \"MiniDump\" | take 5";
        assert!(!compiled::<SqliteDialect>(contains).contains("rowid DESC"));
        assert!(!compiled::<PgDialect>(has).contains("rowid"));
    }

    #[test]
    fn dynamic_arrays_are_json() {
        assert_eq!(
            serde_json_array(&[Literal::String("a\"b\\".into()), Literal::Long(5), Literal::Bool(true), Literal::Null]),
            r#"["a\"b\\",5,true,null]"#
        );
    }
}

#[cfg(test)]
mod tenant_filter {
    use proptest::prelude::*;

    use super::*;
    use crate::postgres::PgDialect;
    use crate::sqlite::SqliteDialect;

    /// Where rows come from: tables, unions, a tabular let.
    fn source() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("DeviceProcessEvents"),
            Just("DeviceNetworkEvents"),
            Just("DeviceInfo"),
            Just("AlertInfo"),
            Just("union DeviceFileEvents, DeviceRegistryEvents"),
            Just("let T = DeviceInfo | where Timestamp > ago(2d);\nT"),
        ]
    }

    /// Operators, several of which read more tables.
    fn operator() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just(" | where Timestamp > ago(1d)"),
            Just(" | join kind=inner (DeviceNetworkEvents | where RemotePort == 443) on Timestamp"),
            Just(" | join kind=leftanti (DeviceInfo) on Timestamp"),
            Just(" | join (AlertEvidence) on Timestamp"),
            Just(" | union DeviceLogonEvents, (EmailEvents | take 3)"),
            Just(" | summarize count() by bin(Timestamp, 1h)"),
            Just(" | take 5"),
            Just(" | top 3 by Timestamp"),
            Just(" | distinct Timestamp"),
            Just(" | extend X = 1"),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Every table the SQL reads is read with the tenant's filter, bound to the tenant.
        #[test]
        fn no_table_is_read_without_the_tenant_filter(
            source in source(),
            operators in proptest::collection::vec(operator(), 0..6),
        ) {
            let text = format!("{source}{}", operators.concat());
            let query = threatgate_hunting::parse(&text).map_err(|e| TestCaseError::fail(e.describe(&text)))?;
            let plan = threatgate_hunting::bind(&query).map_err(|e| TestCaseError::fail(e.describe(&text)))?;
            for statement in [
                compile::<SqliteDialect>(&plan, "tenant-a", 0, 100),
                compile::<PgDialect>(&plan, "tenant-a", 0, 100),
            ] {
                let reads = statement.sql.matches(" FROM ah_").count();
                prop_assert_eq!(reads, plan.scans().len(), "{}", statement.sql);
                let mut filtered = 0;
                for (at, _) in statement.sql.match_indices(" FROM ah_") {
                    let rest = &statement.sql[at + 6..];
                    let table_end = rest.find(' ').unwrap_or(rest.len());
                    let after = &rest[table_end..];
                    prop_assert!(after.starts_with(" WHERE tenant_id = $"), "{}", &statement.sql[at..]);
                    let number: String = after[" WHERE tenant_id = $".len()..].chars().take_while(char::is_ascii_digit).collect();
                    let index: usize = number.parse().unwrap_or(0);
                    prop_assert_eq!(statement.binds.get(index.wrapping_sub(1)), Some(&Value::Text("tenant-a".into())));
                    filtered += 1;
                }
                prop_assert_eq!(filtered, reads);
            }
        }
    }
}
