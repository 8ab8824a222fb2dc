//! Bulk reading and writing for `threatgate migrate`, in SQLite.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use crate::{IncidentRecord, Result, StoredAccessEntry, StoredAuditEvent, TransferStore};

/// 10 parameters a row at most: 3,000 rows stay below SQLite's 32,766 parameters.
const ROWS_PER_INSERT: usize = 3_000;

#[async_trait]
impl TransferStore for SqliteStore {
    async fn count_all_incidents(&self) -> Result<u64> {
        self.count_all_incidents_of_every_tenant().await
    }

    async fn export_incidents(&self, after_id: i64, limit: u32) -> Result<Vec<IncidentRecord>> {
        self.export_incident_page(after_id, limit).await
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
        super::shared::import_alert_comments(&mut tx, incidents).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn export_access_entries(&self, after_id: i64, limit: u32) -> Result<Vec<StoredAccessEntry>> {
        self.export_access_page(after_id, limit).await
    }

    async fn export_audit_events(&self, after_id: i64, limit: u32) -> Result<Vec<StoredAuditEvent>> {
        self.export_audit_page(after_id, limit).await
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
