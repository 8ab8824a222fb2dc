//! The audit trail beyond API calls (in SQLite, in the access log's file).
//!
//! Part of `shared` (see `mod.rs`): compiled into each backend, which `super` names.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};
use threatgate_domain::{ReadAccessLog, TenantScope, Ticks};

use super::{Backend, Db, DbRow, Dialect, parse_column};
use crate::dialect::Dialect as _;
use crate::{AuditCategory, AuditEvent, AuditQuery, AuditStore, Result, StoreError, StoredAuditEvent};

/// 13 parameters a row.
const ROWS_PER_INSERT: usize = 80;

#[async_trait]
impl AuditStore for Backend {
    async fn append_audit_events(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_log_write().await?;
        for chunk in events.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Db>::new(
                "INSERT INTO audit_events (at, tenant_id, app_id, app_tenant_id, app_name, category, operation, \
                 actor, target, result, detail, client_address) ",
            );
            insert.push_values(chunk, |mut row, event| {
                row.push_bind(event.at)
                    .push_bind(event.tenant_id.to_string())
                    .push_bind(event.app_id.map(|id| id.to_string()))
                    .push_bind(event.app_tenant_id.map(|id| id.to_string()))
                    .push_bind(event.app_name.clone())
                    .push_bind(event.category.as_str())
                    .push_bind(event.operation.clone())
                    .push_bind(event.actor.clone())
                    .push_bind(event.target.clone())
                    .push_bind(event.result.clone())
                    .push_bind(event.detail.clone())
                    .push_bind(event.client_address.clone());
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit_events(
        &self,
        scope: &TenantScope<ReadAccessLog>,
        query: &AuditQuery,
    ) -> Result<Vec<StoredAuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, at, tenant_id, app_id, app_tenant_id, app_name, category, operation, actor, target, result,
                    detail, client_address
             FROM audit_events
             WHERE (tenant_id = $1 OR app_tenant_id = $1)
               AND ($2 IS NULL OR at >= $2)
               AND ($3 IS NULL OR at < $3)
             ORDER BY at DESC, id DESC
             LIMIT $4",
        )
        .bind(scope.tenant().to_string())
        .bind(query.since)
        .bind(query.until)
        .bind(i64::from(query.limit))
        .fetch_all(self.log_pool())
        .await?;
        rows.iter().map(read_event).collect()
    }

    async fn delete_audit_events_before(&self, before: Ticks) -> Result<u64> {
        // The trigger's own bound: records younger than a day stay.
        let result =
            sqlx::query(Dialect::DELETE_AUDIT_EVENTS_BEFORE).bind(before.get()).execute(self.log_pool()).await?;
        Ok(result.rows_affected())
    }
}

pub(crate) fn read_event(row: &DbRow) -> Result<StoredAuditEvent> {
    let category: String = row.try_get("category")?;
    let optional = |column: &'static str| -> Result<Option<String>> { Ok(row.try_get(column)?) };
    Ok(StoredAuditEvent {
        id: row.try_get("id")?,
        event: AuditEvent {
            at: row.try_get("at")?,
            tenant_id: parse_column(row.try_get("tenant_id")?, "audit_events.tenant_id")?,
            app_id: optional("app_id")?.map(|id| parse_column(&id, "audit_events.app_id")).transpose()?,
            app_tenant_id: optional("app_tenant_id")?
                .map(|id| parse_column(&id, "audit_events.app_tenant_id"))
                .transpose()?,
            app_name: row.try_get("app_name")?,
            category: AuditCategory::parse(&category)
                .ok_or_else(|| StoreError::Corrupt("audit_events.category holds an invalid value".into()))?,
            operation: row.try_get("operation")?,
            actor: row.try_get("actor")?,
            target: row.try_get("target")?,
            result: row.try_get("result")?,
            detail: row.try_get("detail")?,
            client_address: row.try_get("client_address")?,
        },
    })
}
