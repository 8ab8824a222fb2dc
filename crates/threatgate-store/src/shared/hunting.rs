//! Advanced hunting: events appended in batches, KQL plans compiled to one SQL statement and
//! run with the tenant's filter on every table read (`crate::hunting::sql`).
//!
//! Part of `shared` (see `mod.rs`): compiled into each backend, which `super` names.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::{AssertSqlSafe, Row};
use threatgate_domain::datetime::format_ticks;
use threatgate_domain::{IngestAlerts, RunHunting, TenantId, TenantScope, Ticks};
use threatgate_hunting::plan::{Field, Relation};
use threatgate_hunting::schema::{self, Table, Type};
use threatgate_incidents::{alert_evidence_table, alert_info_table};

use super::{Backend, DbRow, Dialect};
use crate::dialect::Dialect as _;
use crate::hunting::{Value, compile, format_timespan, quoted_columns, table_name};
use crate::{EventPage, EventRow, EventValue, HuntLimits, HuntRefusal, HuntingStore, Result, RowSink, StoreError};

#[async_trait]
impl HuntingStore for Backend {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant(), table = table.name, rows = rows.len()))]
    async fn insert_events(
        &self,
        scope: &TenantScope<IngestAlerts>,
        table: &'static Table,
        rows: &[EventRow],
    ) -> Result<u64> {
        self.append_events(&scope.tenant().to_string(), table, rows).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant()))]
    async fn stream_hunt(
        &self,
        scope: &TenantScope<RunHunting>,
        relation: &Relation,
        now: Ticks,
        limits: HuntLimits,
        sink: &mut RowSink<'_>,
    ) -> Result<std::result::Result<Vec<Field>, HuntRefusal>> {
        let statement =
            compile::<Dialect>(relation, &scope.tenant().to_string(), now.get(), limits.max_rows.saturating_add(1));
        if statement.binds.len() > Dialect::MAX_BINDS {
            return Ok(Err(HuntRefusal::Invalid(format!(
                "The query holds too many values: {} once compiled, at most {}. Use fewer literals or shorter lists.",
                statement.binds.len(),
                Dialect::MAX_BINDS
            ))));
        }
        let mut query = sqlx::query(AssertSqlSafe(statement.sql));
        for bind in statement.binds {
            query = match bind {
                Value::Text(v) => query.bind(v),
                Value::Long(v) => query.bind(v),
                Value::Real(v) => query.bind(v),
                Value::Bool(v) => query.bind(v),
            };
        }
        let fields = statement.fields;
        // The database stops the statement at the timeout; the timer here (a little later) is
        // for a statement that does not get that far.
        let mut tx = Dialect::begin_hunt(self.hunt_pool(), limits.timeout).await?;
        let read = async {
            let mut rows = query.fetch(&mut *tx);
            let mut count = 0_u64;
            while let Some(row) = rows.try_next().await? {
                count += 1;
                if count > limits.max_rows {
                    return Ok(Some(HuntRefusal::TooManyRows));
                }
                let values =
                    fields.iter().enumerate().map(|(i, f)| read_value(&row, i, f.ty)).collect::<Result<Vec<_>>>()?;
                if !sink(values) {
                    return Ok(Some(HuntRefusal::Stopped));
                }
            }
            Ok::<_, StoreError>(None)
        };
        let outcome = tokio::time::timeout(limits.timeout + TIMEOUT_GRACE, read).await;
        Dialect::end_hunt(tx).await?;
        match outcome {
            Err(_elapsed) => Ok(Err(HuntRefusal::Timeout)),
            Ok(Err(StoreError::Database(error))) if Dialect::is_timeout(&error) => Ok(Err(HuntRefusal::Timeout)),
            Ok(Err(StoreError::Database(error))) => match Dialect::client_mistake(&error) {
                Some(message) => Ok(Err(HuntRefusal::Invalid(message))),
                None => Err(StoreError::Database(error)),
            },
            Ok(Err(error)) => Err(error),
            Ok(Ok(Some(refusal))) => Ok(Err(refusal)),
            Ok(Ok(None)) => Ok(Ok(fields)),
        }
    }

    async fn refresh_event_statistics(&self) -> Result<()> {
        Dialect::refresh_event_statistics(self).await
    }

    fn event_writers(&self) -> usize {
        Dialect::EVENT_WRITERS
    }

    fn hunt_connections(&self) -> usize {
        let pool = self.hunt_pool().options().get_max_connections() as usize;
        if Dialect::HUNT_POOL_SHARED { (pool / 4).max(1) } else { pool.max(1) }
    }

    async fn delete_events_before(&self, before: Ticks) -> Result<u64> {
        let mut deleted = 0;
        // Snapshot tables (no Timestamp) hold current state, which no retention ends.
        for table in schema::TABLES.iter().filter(|t| t.column("Timestamp").is_some()) {
            let sql = format!("DELETE FROM {} WHERE \"Timestamp\" < $1", table_name(table));
            let result = sqlx::query(AssertSqlSafe(sql)).bind(before.get()).execute(self.hunt_pool()).await?;
            deleted += result.rows_affected();
        }
        Ok(deleted)
    }
}

/// How much longer than the database's own timeout the caller waits.
const TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

impl Backend {
    /// Appends `rows` to `table` for `tenant` in one transaction (ingestion and migration).
    pub(crate) async fn append_events(&self, tenant: &str, table: &'static Table, rows: &[EventRow]) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_hunt_write().await?;
        Dialect::insert_events(&mut tx, tenant, table, rows).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    /// One page of `table`'s events of every tenant, in storage order (see
    /// `TransferStore::export_events`); positions are the backend's row addresses as text.
    pub(crate) async fn export_event_page(
        &self,
        table: &'static Table,
        after: Option<String>,
        limit: u32,
    ) -> Result<EventPage> {
        let sql = format!(
            "SELECT {position} AS position, tenant_id, {} FROM {} WHERE {after} ORDER BY {order} LIMIT $2",
            quoted_columns(table),
            table_name(table),
            position = Dialect::EVENT_POSITION,
            after = Dialect::EVENT_AFTER,
            order = Dialect::EVENT_ORDER,
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after.unwrap_or_else(|| Dialect::FIRST_EVENT_POSITION.to_owned()))
            .bind(i64::from(limit))
            .fetch_all(self.hunt_pool())
            .await?;
        let mut page = EventPage { rows: Vec::with_capacity(rows.len()), next: None };
        for row in &rows {
            let tenant: String = row.try_get(1)?;
            let tenant = TenantId::parse(&tenant)
                .ok_or_else(|| StoreError::Corrupt(format!("{}: a row's tenant is not a GUID", table.name)))?;
            let values = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, column)| read_event_value(row, i + 2, column.ty))
                .collect::<Result<EventRow>>()?;
            page.rows.push((tenant, values));
            page.next = Some(row.try_get(0)?);
        }
        Ok(page)
    }

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
            Dialect::in_text_list("\"AlertId\"", 2)
        );
        let mut tx = self.begin_hunt_write().await?;
        let present: std::collections::HashSet<String> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(tenant)
            .bind(Dialect::text_list(&ids))
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
        Dialect::insert_events(&mut tx, tenant, alert_evidence_table(), &evidence).await?;
        Dialect::insert_events(&mut tx, tenant, alert_info_table(), &info).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// One stored cell as an event value (migration reads these; results render them).
fn read_event_value(row: &DbRow, index: usize, ty: Type) -> Result<Option<EventValue>> {
    Ok(match ty {
        Type::String | Type::Dynamic => row.try_get::<Option<String>, _>(index)?.map(EventValue::Text),
        Type::DateTime | Type::TimeSpan | Type::Int | Type::Long => {
            Dialect::read_long(row, index)?.map(EventValue::Long)
        }
        Type::Real => Dialect::read_real(row, index)?.map(EventValue::Real),
        Type::Bool => Dialect::read_bool(row, index)?.map(EventValue::Bool),
    })
}

/// One result cell as the API writes it.
fn read_value(row: &DbRow, index: usize, ty: Type) -> Result<serde_json::Value> {
    use serde_json::Value as Json;
    Ok(match (ty, read_event_value(row, index, ty)?) {
        // An outer join's missing string is "" in KQL, as every string is.
        (Type::String, None) => Json::String(String::new()),
        (_, None) => Json::Null,
        (Type::DateTime, Some(EventValue::Long(t))) => Json::String(format_ticks(t)),
        (Type::TimeSpan, Some(EventValue::Long(t))) => Json::String(format_timespan(t)),
        // Stored JSON is parsed; text that is not JSON stays a string.
        (Type::Dynamic, Some(EventValue::Text(text))) => serde_json::from_str(&text).unwrap_or(Json::String(text)),
        (_, Some(EventValue::Text(text))) => Json::String(text),
        (_, Some(EventValue::Long(n))) => Json::from(n),
        (_, Some(EventValue::Real(n))) => serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number),
        (_, Some(EventValue::Bool(b))) => Json::Bool(b),
    })
}
