//! Bulk reading and writing for `threatgate migrate`, in PostgreSQL: imports are one statement
//! per table and chunk (arrays unnested), and move the incident id sequence past what came in.

use async_trait::async_trait;

use super::PgStore;
use crate::{IncidentRecord, Result, StoredAccessEntry, StoredAuditEvent, TransferStore};

#[async_trait]
impl TransferStore for PgStore {
    async fn count_all_incidents(&self) -> Result<u64> {
        self.count_all_incidents_of_every_tenant().await
    }

    async fn export_incidents(&self, after_id: i64, limit: u32) -> Result<Vec<IncidentRecord>> {
        self.export_incident_page(after_id, limit).await
    }

    async fn import_incidents(&self, incidents: &[IncidentRecord]) -> Result<()> {
        if incidents.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let column = |get: fn(&IncidentRecord) -> i64| incidents.iter().map(get).collect::<Vec<_>>();
        let tenants: Vec<String> = incidents.iter().map(|i| i.tenant_id.to_string()).collect();
        let statuses: Vec<&str> = incidents.iter().map(|i| i.status.as_str()).collect();
        let assigned: Vec<Option<&str>> = incidents.iter().map(|i| i.assigned_to.as_deref()).collect();
        let documents: Vec<&str> = incidents.iter().map(|i| i.document.as_str()).collect();
        sqlx::query(
            "INSERT INTO incidents (incident_id, tenant_id, status, assigned_to, created_time, last_update_time,
                                    last_activity, document)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
                                  $7::bigint[], $8::text[])",
        )
        .bind(column(|i| i.incident_id))
        .bind(&tenants)
        .bind(&statuses)
        .bind(&assigned)
        .bind(column(|i| i.created_time))
        .bind(column(|i| i.last_update_time))
        .bind(column(|i| i.last_activity))
        .bind(&documents)
        .execute(&mut *tx)
        .await?;
        for (sql, values) in [
            (
                "INSERT INTO alerts (tenant_id, alert_id, incident_id)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])",
                incidents.iter().flat_map(|i| i.alert_ids.iter().map(move |value| (i, value))).collect::<Vec<_>>(),
            ),
            (
                "INSERT INTO incident_entities (tenant_id, entity_key, incident_id)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])",
                incidents.iter().flat_map(|i| i.entity_keys.iter().map(move |value| (i, value))).collect::<Vec<_>>(),
            ),
        ] {
            let tenants: Vec<String> = values.iter().map(|(i, _)| i.tenant_id.to_string()).collect();
            let texts: Vec<&str> = values.iter().map(|(_, value)| value.as_str()).collect();
            let ids: Vec<i64> = values.iter().map(|(i, _)| i.incident_id).collect();
            sqlx::query(sql).bind(&tenants).bind(&texts).bind(&ids).execute(&mut *tx).await?;
        }
        super::shared::import_alert_comments(&mut tx, incidents).await?;
        // New incidents continue after the highest id, as they would have in the source.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('incidents', 'incident_id'),
                           GREATEST((SELECT MAX(incident_id) FROM incidents), 1))",
        )
        .execute(&mut *tx)
        .await?;
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
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }
}
