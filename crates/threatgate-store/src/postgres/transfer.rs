//! Bulk reading and writing for `threatgate migrate`, in PostgreSQL: imports are one statement
//! per table and chunk (arrays unnested), and move the incident id sequence past what came in.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;

use super::{PgStore, parse_column};
use crate::{IncidentRecord, Result, StoredAccessEntry, StoredAuditEvent, TransferStore};

#[async_trait]
impl TransferStore for PgStore {
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
        let rows = sqlx::query(
            "SELECT id, at, tenant_id, app_id, app_name, operation, incident_id, incident_ids, status, result,
                    detail, request_id, client_address
             FROM access_log WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
        .fetch_all(&self.pool)
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
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }
}
