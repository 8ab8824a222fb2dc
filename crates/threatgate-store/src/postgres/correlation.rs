//! The statements of correlation that PostgreSQL spells differently from SQLite, for
//! `../shared/incidents.rs`: arrays instead of lists of parameters, a sequence for ids, and
//! row locks, since other nodes write to the same tables at the same time.

use std::collections::HashSet;

use sqlx::{Postgres, Transaction};
use threatgate_domain::{IncidentId, Ticks};
use threatgate_incidents::IngestAlert;

use super::dialect::PgDialect;
use crate::Result;
use crate::dialect::Correlation;

impl Correlation for PgDialect {
    type IncidentIds = IncidentIds;

    async fn start_incident_ids(_tx: &mut Transaction<'static, Postgres>) -> Result<IncidentIds> {
        Ok(IncidentIds)
    }

    async fn next_incident_id(_ids: &mut IncidentIds, tx: &mut Transaction<'static, Postgres>) -> Result<IncidentId> {
        let id = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('incidents', 'incident_id'))")
            .fetch_one(&mut **tx)
            .await?;
        Ok(IncidentId::new(id))
    }

    /// An incident's document, locking its row until the transaction ends.
    const SELECT_INCIDENT_FOR_UPDATE: &'static str =
        "SELECT document FROM incidents WHERE tenant_id = $1 AND incident_id = $2 FOR UPDATE";

    /// One ingestion per tenant at a time, across every node: correlation reads, then writes.
    async fn begin_ingestion(tx: &mut Transaction<'static, Postgres>, tenant: &str) -> Result<()> {
        sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE").bind(tenant).execute(&mut **tx).await?;
        // The correlation queries run once per alert against tables this very batch grows: a
        // cached generic plan made while they were small turns into sequential scans (seen:
        // 10 incidents/s at 6,000). Planned per execution instead, for this transaction only.
        sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan").execute(&mut **tx).await?;
        Ok(())
    }

    /// The alert ids of `alerts` the tenant already has.
    async fn known_alert_ids(
        tx: &mut Transaction<'static, Postgres>,
        tenant: &str,
        alerts: &[IngestAlert],
    ) -> Result<HashSet<String>> {
        let ids: Vec<&str> = alerts.iter().map(|alert| alert.alert.alert_id.as_str()).collect();
        let known: Vec<String> =
            sqlx::query_scalar("SELECT alert_id FROM alerts WHERE tenant_id = $1 AND alert_id = ANY($2)")
                .bind(tenant)
                .bind(&ids)
                .fetch_all(&mut **tx)
                .await?;
        Ok(known.into_iter().collect())
    }

    /// Records which incident each alert of the batch landed in, in one statement.
    async fn insert_alerts(
        tx: &mut Transaction<'static, Postgres>,
        tenant: &str,
        placed: &[(String, IncidentId)],
    ) -> Result<()> {
        let alert_ids: Vec<&str> = placed.iter().map(|(alert_id, _)| alert_id.as_str()).collect();
        let incident_ids: Vec<i64> = placed.iter().map(|(_, incident_id)| incident_id.get()).collect();
        sqlx::query(
            "INSERT INTO alerts (tenant_id, alert_id, incident_id)
             SELECT $1, alert_id, incident_id FROM UNNEST($2::text[], $3::bigint[]) AS placed (alert_id, incident_id)",
        )
        .bind(tenant)
        .bind(&alert_ids)
        .bind(&incident_ids)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Indexes an incident under the alert's entity keys, in one statement.
    async fn insert_entity_keys(
        tx: &mut Transaction<'static, Postgres>,
        tenant: &str,
        keys: &[String],
        incident_id: IncidentId,
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO incident_entities (tenant_id, entity_key, incident_id)
             SELECT $1, entity_key, $3 FROM UNNEST($2::text[]) AS keys (entity_key)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(keys)
        .bind(incident_id.get())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Open incidents of the tenant holding any of `keys`, active since `since`.
    async fn open_incidents_sharing(
        tx: &mut Transaction<'static, Postgres>,
        tenant: &str,
        keys: &[String],
        since: Ticks,
    ) -> Result<Vec<IncidentId>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT e.incident_id FROM incident_entities e JOIN incidents i ON i.incident_id = e.incident_id
             WHERE e.tenant_id = $1 AND e.entity_key = ANY($2)
               AND i.status IN ('Active', 'InProgress') AND i.last_activity >= $3
             ORDER BY e.incident_id",
        )
        .bind(tenant)
        .bind(keys)
        .bind(since.get())
        .fetch_all(&mut **tx)
        .await?;
        Ok(ids.into_iter().map(IncidentId::new).collect())
    }
}

/// New incidents' ids, from the table's sequence (other nodes take ids from it too).
pub(crate) struct IncidentIds;
