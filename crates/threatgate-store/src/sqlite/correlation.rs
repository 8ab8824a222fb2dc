//! The statements of correlation that SQLite spells differently from PostgreSQL, for
//! `../shared/incidents.rs`. Every write runs under the database's write lock, taken when the
//! transaction began.

use std::collections::HashSet;

use sqlx::{AssertSqlSafe, Sqlite, Transaction};
use threatgate_domain::{IncidentId, Ticks};
use threatgate_incidents::IngestAlert;

use super::dialect::SqliteDialect;
use crate::Result;
use crate::dialect::{Correlation, Dialect};

impl Correlation for SqliteDialect {
    type IncidentIds = IncidentIds;

    async fn start_incident_ids(tx: &mut Transaction<'static, Sqlite>) -> Result<IncidentIds> {
        let next = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM sqlite_sequence WHERE name = 'incidents'")
            .fetch_one(&mut **tx)
            .await?;
        Ok(IncidentIds { next })
    }

    async fn next_incident_id(ids: &mut IncidentIds, _tx: &mut Transaction<'static, Sqlite>) -> Result<IncidentId> {
        ids.next += 1;
        Ok(IncidentId::new(ids.next - 1))
    }

    /// An incident's document, to change it (the transaction already holds the write lock).
    const SELECT_INCIDENT_FOR_UPDATE: &'static str =
        "SELECT document FROM incidents WHERE tenant_id = $1 AND incident_id = $2";

    /// Nothing more to lock: the write transaction excludes every other writer.
    async fn begin_ingestion(_tx: &mut Transaction<'static, Sqlite>, _tenant: &str) -> Result<()> {
        Ok(())
    }

    /// The alert ids of `alerts` the tenant already has.
    async fn known_alert_ids(
        tx: &mut Transaction<'static, Sqlite>,
        tenant: &str,
        alerts: &[IngestAlert],
    ) -> Result<HashSet<String>> {
        let mut known = HashSet::new();
        for chunk in alerts.chunks(Self::MAX_BINDS) {
            let sql = format!(
                "SELECT alert_id FROM alerts WHERE tenant_id = ? AND alert_id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            // Built from fixed fragments and `?` only; every id is bound.
            let mut statement = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql)).bind(tenant);
            for alert in chunk {
                statement = statement.bind(&alert.alert.alert_id);
            }
            known.extend(statement.fetch_all(&mut **tx).await?);
        }
        Ok(known)
    }

    /// Records which incident each alert of the batch landed in.
    async fn insert_alerts(
        tx: &mut Transaction<'static, Sqlite>,
        tenant: &str,
        placed: &[(String, IncidentId)],
    ) -> Result<()> {
        for chunk in placed.chunks(Self::MAX_BINDS / 3) {
            let sql = format!(
                "INSERT INTO alerts (tenant_id, alert_id, incident_id) VALUES {}",
                vec!["(?, ?, ?)"; chunk.len()].join(", ")
            );
            // Built from fixed fragments and `?` only; every value is bound.
            let mut statement = sqlx::query(AssertSqlSafe(sql));
            for (alert_id, incident_id) in chunk {
                statement = statement.bind(tenant).bind(alert_id).bind(incident_id.get());
            }
            statement.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Indexes an incident under the alert's entity keys, in one statement.
    async fn insert_entity_keys(
        tx: &mut Transaction<'static, Sqlite>,
        tenant: &str,
        keys: &[String],
        incident_id: IncidentId,
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT OR IGNORE INTO incident_entities (tenant_id, entity_key, incident_id) VALUES {}",
            vec!["(?, ?, ?)"; keys.len()].join(", ")
        );
        // Built from fixed fragments and `?` only; every value is bound.
        let mut statement = sqlx::query(AssertSqlSafe(sql));
        for key in keys {
            statement = statement.bind(tenant).bind(key).bind(incident_id.get());
        }
        statement.execute(&mut **tx).await?;
        Ok(())
    }

    /// Open incidents of the tenant holding any of `keys`, active since `since`.
    async fn open_incidents_sharing(
        tx: &mut Transaction<'static, Sqlite>,
        tenant: &str,
        keys: &[String],
        since: Ticks,
    ) -> Result<Vec<IncidentId>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; keys.len()].join(", ");
        let sql = format!(
            "SELECT DISTINCT e.incident_id FROM incident_entities e JOIN incidents i ON i.incident_id = e.incident_id
             WHERE e.tenant_id = ? AND e.entity_key IN ({placeholders})
               AND i.status IN ('Active', 'InProgress') AND i.last_activity >= ?"
        );
        // Built from fixed fragments and `?` only; every key is bound.
        let mut statement = sqlx::query_scalar(AssertSqlSafe(sql)).bind(tenant);
        for key in keys {
            statement = statement.bind(key);
        }
        let ids: Vec<i64> = statement.bind(since.get()).fetch_all(&mut **tx).await?;
        Ok(ids.into_iter().map(IncidentId::new).collect())
    }
}

/// New incidents' ids, assigned here under the write lock, so that a new incident is one INSERT.
pub(crate) struct IncidentIds {
    next: i64,
}
