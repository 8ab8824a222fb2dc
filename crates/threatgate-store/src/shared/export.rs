//! The export half of `TransferStore` (`threatgate migrate` reads a store page by page): the
//! same statements on both backends. Each backend's `transfer.rs` implements the trait with
//! these and its own bulk import.

use std::collections::HashMap;

use sqlx::Row;

use super::{Backend, parse_column};
use crate::{IncidentRecord, Result, StoredAccessEntry, StoredAuditEvent};

impl Backend {
    pub(crate) async fn count_all_incidents_of_every_tenant(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents").fetch_one(&self.pool).await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    pub(crate) async fn export_incident_page(&self, after_id: i64, limit: u32) -> Result<Vec<IncidentRecord>> {
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
        let mut comments: HashMap<i64, Vec<(String, String)>> = HashMap::new();
        for row in sqlx::query("SELECT incident_id, alert_id, comments FROM alerts WHERE incident_id BETWEEN $1 AND $2")
            .bind(range.0)
            .bind(range.1)
            .fetch_all(&mut *tx)
            .await?
        {
            let incident_id: i64 = row.try_get("incident_id")?;
            let alert_id: String = row.try_get("alert_id")?;
            if let Some(text) = row.try_get::<Option<String>, _>("comments")? {
                comments.entry(incident_id).or_default().push((alert_id.clone(), text));
            }
            alerts.entry(incident_id).or_default().push(alert_id);
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
        comments.values_mut().for_each(|values| values.sort());
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
                    alert_comments: comments.remove(&incident_id).unwrap_or_default(),
                    entity_keys: keys.remove(&incident_id).unwrap_or_default(),
                })
            })
            .collect()
    }

    pub(crate) async fn export_access_page(&self, after_id: i64, limit: u32) -> Result<Vec<StoredAccessEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, tenant_id, app_id, app_name, operation, incident_id, incident_ids, status, result,
                    detail, request_id, client_address
             FROM access_log WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(self.log_pool())
        .await?;
        rows.iter().map(super::read_entry).collect()
    }

    pub(crate) async fn export_audit_page(&self, after_id: i64, limit: u32) -> Result<Vec<StoredAuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, at, tenant_id, app_id, app_tenant_id, app_name, category, operation, actor, target, result,
                    detail, client_address
             FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(self.log_pool())
        .await?;
        rows.iter().map(super::read_event).collect()
    }
}

/// The import half for alert comments, after the alerts are in: comments are rare (a person
/// writes each), so one statement per commented alert.
pub(crate) async fn import_alert_comments(
    tx: &mut sqlx::Transaction<'_, super::Db>,
    incidents: &[IncidentRecord],
) -> Result<()> {
    for incident in incidents {
        for (alert_id, comments) in &incident.alert_comments {
            sqlx::query("UPDATE alerts SET comments = $1 WHERE tenant_id = $2 AND alert_id = $3")
                .bind(comments)
                .bind(incident.tenant_id.to_string())
                .bind(alert_id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}
