//! Bulk reading and writing for `threatgate migrate`, in SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{SqliteStore, parse_column};
use crate::{IncidentRecord, Result, StoredAccessEntry, StoredAuditEvent, TransferStore};

/// 10 parameters a row at most: 3,000 rows stay below SQLite's 32,766 parameters.
const ROWS_PER_INSERT: usize = 3_000;

#[async_trait]
impl TransferStore for SqliteStore {
    async fn count_all_incidents(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents").fetch_one(&self.pool).await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn export_incidents(&self, after_id: i64, limit: u32) -> Result<Vec<IncidentRecord>> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT incident_id, tenant_id, status, assigned_to, created_time, last_update_time, last_activity, document
             FROM incidents WHERE incident_id > $1 ORDER BY incident_id LIMIT $2",
        )
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return Ok(Vec::new()) };
        let range: (i64, i64) = (first.try_get("incident_id")?, last.try_get("incident_id")?);
        let mut alerts: HashMap<i64, Vec<String>> = HashMap::new();
        for row in sqlx::query("SELECT incident_id, alert_id FROM alerts WHERE incident_id BETWEEN $1 AND $2")
            .bind(range.0)
            .bind(range.1)
            .fetch_all(&mut *tx)
            .await?
        {
            alerts.entry(row.try_get("incident_id")?).or_default().push(row.try_get("alert_id")?);
        }
        let mut keys: HashMap<i64, Vec<String>> = HashMap::new();
        for row in
            sqlx::query("SELECT incident_id, entity_key FROM incident_entities WHERE incident_id BETWEEN $1 AND $2")
                .bind(range.0)
                .bind(range.1)
                .fetch_all(&mut *tx)
                .await?
        {
            keys.entry(row.try_get("incident_id")?).or_default().push(row.try_get("entity_key")?);
        }
        tx.commit().await?;
        // In one order whatever the backend's collation.
        alerts.values_mut().chain(keys.values_mut()).for_each(|values| values.sort());
        rows.iter()
            .map(|row| {
                let incident_id: i64 = row.try_get("incident_id")?;
                Ok(IncidentRecord {
                    incident_id,
                    tenant_id: parse_column(row.try_get("tenant_id")?, "incidents.tenant_id")?,
                    status: row.try_get("status")?,
                    assigned_to: row.try_get("assigned_to")?,
                    created_time: row.try_get("created_time")?,
                    last_update_time: row.try_get("last_update_time")?,
                    last_activity: row.try_get("last_activity")?,
                    document: row.try_get("document")?,
                    alert_ids: alerts.remove(&incident_id).unwrap_or_default(),
                    entity_keys: keys.remove(&incident_id).unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn import_incidents(&self, incidents: &[IncidentRecord]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for chunk in incidents.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO incidents (incident_id, tenant_id, status, assigned_to, created_time, last_update_time, \
                 last_activity, document) ",
            );
            insert.push_values(chunk, |mut row, incident| {
                row.push_bind(incident.incident_id)
                    .push_bind(incident.tenant_id.to_string())
                    .push_bind(incident.status.clone())
                    .push_bind(incident.assigned_to.clone())
                    .push_bind(incident.created_time)
                    .push_bind(incident.last_update_time)
                    .push_bind(incident.last_activity)
                    .push_bind(incident.document.clone());
            });
            insert.build().execute(&mut *tx).await?;
        }
        let alerts: Vec<(String, &str, i64)> = incidents
            .iter()
            .flat_map(|i| i.alert_ids.iter().map(move |alert| (i.tenant_id.to_string(), alert.as_str(), i.incident_id)))
            .collect();
        let keys: Vec<(String, &str, i64)> = incidents
            .iter()
            .flat_map(|i| i.entity_keys.iter().map(move |key| (i.tenant_id.to_string(), key.as_str(), i.incident_id)))
            .collect();
        for (table, column, rows) in [("alerts", "alert_id", &alerts), ("incident_entities", "entity_key", &keys)] {
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let mut insert =
                    QueryBuilder::<Sqlite>::new(format!("INSERT INTO {table} (tenant_id, {column}, incident_id) "));
                insert.push_values(chunk, |mut row, (tenant, value, incident)| {
                    row.push_bind(tenant.clone()).push_bind(value.to_string()).push_bind(*incident);
                });
                insert.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn export_access_entries(&self, after_id: i64, limit: u32) -> Result<Vec<StoredAccessEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, tenant_id, app_id, app_name, operation, incident_id, incident_ids, status, result,
                    detail, request_id, client_address
             FROM access_log WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.log_pool)
        .await?;
        rows.iter().map(super::shared::read_entry).collect()
    }

    async fn export_audit_events(&self, after_id: i64, limit: u32) -> Result<Vec<StoredAuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, at, tenant_id, app_id, app_tenant_id, app_name, category, operation, actor, target, result,
                    detail, client_address
             FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.log_pool)
        .await?;
        rows.iter().map(super::shared::read_event).collect()
    }

    async fn export_events(
        &self,
        table: &'static threatgate_hunting::schema::Table,
        after: Option<String>,
        limit: u32,
    ) -> Result<crate::EventPage> {
        self.export_event_page(table, after, limit).await
    }

    async fn import_events(
        &self,
        tenant: threatgate_domain::TenantId,
        table: &'static threatgate_hunting::schema::Table,
        rows: &[crate::EventRow],
    ) -> Result<u64> {
        self.append_events(&tenant.to_string(), table, rows).await
    }

    async fn refresh_statistics(&self) -> Result<()> {
        for pool in [&self.pool, &self.log_pool, &self.hunt_pool] {
            sqlx::query("ANALYZE").execute(pool).await?;
        }
        Ok(())
    }
}
