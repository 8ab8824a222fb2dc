//! Advanced hunting: events appended in batches, KQL plans compiled to one SQL statement and
//! run with the tenant's filter on every table read (`crate::hunting::sql`).
//!
//! Part of `shared` (see `mod.rs`): compiled into each backend, which `super` names.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, QueryBuilder, Row};
use threatgate_domain::datetime::format_ticks;
use threatgate_domain::{IngestAlerts, RunHunting, TenantScope};
use threatgate_hunting::plan::Relation;
use threatgate_hunting::schema::{self, Table, Type};
use threatgate_incidents::{alert_evidence_table, alert_info_table};

use super::{Backend, Db, DbRow, dialect};
use crate::hunting::{Value, compile, format_timespan, table_name};
use crate::{EventRow, EventValue, HuntLimits, HuntOutput, HuntRefusal, HuntingStore, Result, StoreError};

/// Most variables one statement binds (SQLite allows 32,766).
const MAX_BINDS: usize = 30_000;

#[async_trait]
impl HuntingStore for Backend {
    async fn insert_events(
        &self,
        scope: &TenantScope<IngestAlerts>,
        table: &'static Table,
        rows: &[EventRow],
    ) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let tenant = scope.tenant().to_string();
        let mut tx = self.begin_hunt_write().await?;
        insert_rows(&mut tx, &tenant, table, rows).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn run_hunt(
        &self,
        scope: &TenantScope<RunHunting>,
        relation: &Relation,
        now: i64,
        limits: HuntLimits,
    ) -> Result<std::result::Result<HuntOutput, HuntRefusal>> {
        let statement =
            compile(relation, dialect::HUNTING, &scope.tenant().to_string(), now, limits.max_rows.saturating_add(1));
        let mut query = sqlx::query(AssertSqlSafe(statement.sql));
        for bind in statement.binds {
            query = match bind {
                Value::Text(v) => query.bind(v),
                Value::Long(v) => query.bind(v),
                Value::Real(v) => query.bind(v),
                Value::Bool(v) => query.bind(v),
            };
        }
        let mut tx = dialect::begin_hunt(self.hunt_pool(), limits.timeout).await?;
        let rows = match tokio::time::timeout(limits.timeout, query.fetch_all(&mut *tx)).await {
            Err(_elapsed) => return Ok(Err(HuntRefusal::Timeout)),
            Ok(Err(error)) if dialect::is_timeout(&error) => return Ok(Err(HuntRefusal::Timeout)),
            Ok(result) => result?,
        };
        tx.rollback().await?;
        if rows.len() as u64 > limits.max_rows {
            return Ok(Err(HuntRefusal::TooManyRows));
        }
        let rows = rows
            .iter()
            .map(|row| statement.fields.iter().enumerate().map(|(i, f)| read_value(row, i, f.ty)).collect())
            .collect::<Result<Vec<Vec<serde_json::Value>>>>()?;
        Ok(Ok(HuntOutput { fields: statement.fields, rows }))
    }

    async fn delete_events_before(&self, before: i64) -> Result<u64> {
        let mut deleted = 0;
        for table in schema::TABLES {
            let sql = format!("DELETE FROM {} WHERE \"Timestamp\" < $1", table_name(table));
            let result = sqlx::query(AssertSqlSafe(sql)).bind(before).execute(self.hunt_pool()).await?;
            deleted += result.rows_affected();
        }
        Ok(deleted)
    }
}

impl Backend {
    /// Writes the `AlertInfo` and `AlertEvidence` rows of the alerts (by id) that have none yet,
    /// in one transaction: a batch retried after a failure here fills in what is missing, and
    /// an alert submitted twice is recorded once.
    pub(super) async fn record_alert_events(
        &self,
        tenant: &str,
        alerts: Vec<(String, EventRow, Vec<EventRow>)>,
    ) -> Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = alerts.iter().map(|(id, _, _)| id.as_str()).collect();
        let sql = format!(
            "SELECT \"AlertId\" FROM ah_alert_info WHERE tenant_id = $1 AND {}",
            dialect::in_text_list("\"AlertId\"", 2)
        );
        let mut tx = self.begin_hunt_write().await?;
        let present: std::collections::HashSet<String> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(tenant)
            .bind(dialect::text_list(&ids))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
        let mut info = Vec::new();
        let mut evidence = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (id, info_row, evidence_rows) in alerts {
            if !present.contains(&id) && seen.insert(id) {
                info.push(info_row);
                evidence.extend(evidence_rows);
            }
        }
        insert_rows(&mut tx, tenant, alert_evidence_table(), &evidence).await?;
        insert_rows(&mut tx, tenant, alert_info_table(), &info).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Appends rows to `table` for `tenant`, as few statements as the bind limit allows.
async fn insert_rows(
    tx: &mut sqlx::Transaction<'static, Db>,
    tenant: &str,
    table: &'static Table,
    rows: &[EventRow],
) -> Result<()> {
    if let Some(row) = rows.iter().find(|row| row.len() != table.columns.len()) {
        return Err(StoreError::Corrupt(format!(
            "an event for {} has {} values for {} columns",
            table.name,
            row.len(),
            table.columns.len()
        )));
    }
    let columns: Vec<String> = table.columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let head = format!("INSERT INTO {} (tenant_id, {}) ", table_name(table), columns.join(", "));
    let rows_per_statement = (MAX_BINDS / (table.columns.len() + 1)).max(1);
    for chunk in rows.chunks(rows_per_statement) {
        let mut insert = QueryBuilder::<Db>::new(head.clone());
        let mut refused = None;
        insert.push_values(chunk, |mut values, row| {
            values.push_bind(tenant.to_owned());
            for (column, value) in table.columns.iter().zip(row) {
                match stored(column.ty, value.as_ref()) {
                    Ok(Stored::Text(v)) => values.push_bind(v),
                    Ok(Stored::Long(v)) => values.push_bind(v),
                    Ok(Stored::Real(v)) => values.push_bind(v),
                    Ok(Stored::Bool(v)) => values.push_bind(v),
                    Err(message) => {
                        refused.get_or_insert(format!("{}.{}: {message}", table.name, column.name));
                        values.push_bind(None::<String>)
                    }
                };
            }
        });
        if let Some(message) = refused {
            return Err(StoreError::Corrupt(message));
        }
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

enum Stored {
    Text(Option<String>),
    Long(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
}

/// The value to bind for a column of type `ty` (a missing value is a typed null).
fn stored(ty: Type, value: Option<&EventValue>) -> std::result::Result<Stored, String> {
    Ok(match (ty, value) {
        // KQL strings are never null: a missing one is stored as "".
        (Type::String, None) => Stored::Text(Some(String::new())),
        (Type::Dynamic, None) => Stored::Text(None),
        (Type::String | Type::Dynamic, Some(EventValue::Text(v))) => Stored::Text(Some(v.clone())),
        (Type::DateTime | Type::TimeSpan | Type::Int | Type::Long, None) => Stored::Long(None),
        (Type::DateTime | Type::TimeSpan | Type::Int | Type::Long, Some(EventValue::Long(v))) => Stored::Long(Some(*v)),
        (Type::Real, None) => Stored::Real(None),
        (Type::Real, Some(EventValue::Real(v))) => Stored::Real(Some(*v)),
        (Type::Real, Some(EventValue::Long(v))) => Stored::Real(Some(*v as f64)),
        (Type::Bool, None) => Stored::Bool(None),
        (Type::Bool, Some(EventValue::Bool(v))) => Stored::Bool(Some(*v)),
        (ty, Some(other)) => return Err(format!("{other:?} is not a {}", ty.kql_name())),
    })
}

/// One result cell as the API writes it.
fn read_value(row: &DbRow, index: usize, ty: Type) -> Result<serde_json::Value> {
    use serde_json::Value as Json;
    Ok(match ty {
        // An outer join's missing string is "" in KQL, as every string is.
        Type::String => Json::String(row.try_get::<Option<String>, _>(index)?.unwrap_or_default()),
        Type::DateTime => dialect::read_long(row, index)?.map_or(Json::Null, |t| Json::String(format_ticks(t))),
        Type::TimeSpan => dialect::read_long(row, index)?.map_or(Json::Null, |t| Json::String(format_timespan(t))),
        Type::Int | Type::Long => dialect::read_long(row, index)?.map_or(Json::Null, Json::from),
        Type::Real => {
            dialect::read_real(row, index)?.and_then(serde_json::Number::from_f64).map_or(Json::Null, Json::Number)
        }
        Type::Bool => dialect::read_bool(row, index)?.map_or(Json::Null, Json::Bool),
        Type::Dynamic => match row.try_get::<Option<String>, _>(index)? {
            None => Json::Null,
            // Stored JSON is parsed; text that is not JSON stays a string.
            Some(text) => serde_json::from_str(&text).unwrap_or(Json::String(text)),
        },
    })
}
