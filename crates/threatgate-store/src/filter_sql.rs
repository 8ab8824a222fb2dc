//! The OData `$filter` of the incident list compiled to SQL, for both backends: fixed column
//! names and operators only, every literal a bound parameter.

use threatgate_domain::odata::{Comparison, Filter, FilterProperty, FilterValue};

/// A value bound to a placeholder of compiled SQL.
#[derive(Debug)]
pub(crate) enum Bind {
    Integer(i64),
    Text(String),
}

/// Placeholders are numbered (`$n`, which both backends read) after the `before` parameters
/// that come ahead of the filter in the statement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placeholders {
    pub(crate) before: usize,
}

impl Placeholders {
    /// The placeholder of the next bind.
    fn next(self, binds: &[Bind]) -> String {
        format!("${}", self.before + binds.len() + 1)
    }
}

/// Appends the SQL of a filter to `sql`: fixed column names and operators only; every
/// literal becomes a bound parameter.
pub(crate) fn compile_filter(filter: &Filter, style: Placeholders, sql: &mut String, binds: &mut Vec<Bind>) {
    match filter {
        Filter::And(left, right) | Filter::Or(left, right) => {
            let joiner = if matches!(filter, Filter::And(..)) { " AND " } else { " OR " };
            sql.push('(');
            compile_filter(left, style, sql, binds);
            sql.push_str(joiner);
            compile_filter(right, style, sql, binds);
            sql.push(')');
        }
        Filter::Not(inner) => {
            sql.push_str("(NOT ");
            compile_filter(inner, style, sql, binds);
            sql.push(')');
        }
        Filter::Compare { property, comparison, value } => {
            let operator = match comparison {
                Comparison::Eq => "=",
                Comparison::Ne => "<>",
                Comparison::Gt => ">",
                Comparison::Ge => ">=",
                Comparison::Lt => "<",
                Comparison::Le => "<=",
            };
            let column = match property {
                FilterProperty::LastUpdateTime => "last_update_time",
                FilterProperty::CreatedTime => "created_time",
                FilterProperty::Status => "status",
                FilterProperty::AssignedTo => "assigned_to",
            };
            match value {
                FilterValue::DateTime(ticks) => {
                    sql.push_str(&format!("({column} {operator} {})", style.next(binds)));
                    binds.push(Bind::Integer(*ticks));
                }
                FilterValue::Status(status) => {
                    sql.push_str(&format!("({column} {operator} {})", style.next(binds)));
                    binds.push(Bind::Text(status.as_str().to_owned()));
                }
                // OData: null eq 'x' is false and null ne 'x' is true, also under `not`.
                FilterValue::Text(text) => {
                    let placeholder = style.next(binds);
                    match comparison {
                        Comparison::Ne => sql.push_str(&format!("({column} IS NULL OR {column} <> {placeholder})")),
                        _ => sql.push_str(&format!("({column} IS NOT NULL AND {column} = {placeholder})")),
                    }
                    binds.push(Bind::Text(text.clone()));
                }
                FilterValue::Null => match comparison {
                    Comparison::Ne => sql.push_str(&format!("({column} IS NOT NULL)")),
                    _ => sql.push_str(&format!("({column} IS NULL)")),
                },
            }
        }
    }
}
