//! The partner access log: appended in batches, read per tenant, newest first.
//!
//! Part of `shared` (see `mod.rs`): compiled into each backend, which `super` names.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};
use threatgate_domain::{IncidentId, ReadAccessLog, TenantScope, Ticks};

use super::{Backend, Db, DbRow, Dialect, parse_column};
use crate::dialect::Dialect as _;
use crate::{AccessEntry, AccessLogQuery, AccessLogStore, AccessOperation, Result, StoreError, StoredAccessEntry};

/// 12 parameters a row: 80 rows stay far below SQLite's 32,766 parameters a statement.
const ROWS_PER_INSERT: usize = 80;

#[async_trait]
impl AccessLogStore for Backend {
    async fn append_access_entries(&self, entries: &[AccessEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_log_write().await?;
        // Many rows per statement: one round trip to SQLite's thread per chunk, not per row.
        for chunk in entries.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Db>::new(
                "INSERT INTO access_log (at, tenant_id, app_id, app_name, operation, incident_id, incident_ids, \
                 status, result, detail, request_id, client_address) ",
            );
            insert.push_values(chunk, |mut row, entry| {
                row.push_bind(entry.at)
                    .push_bind(entry.tenant_id.to_string())
                    .push_bind(entry.app_id.to_string())
                    .push_bind(entry.app_name.clone())
                    .push_bind(entry.operation.as_str())
                    .push_bind(entry.incident_id.map(IncidentId::get))
                    .push_bind(join_ids(&entry.incident_ids))
                    .push_bind(i64::from(entry.status))
                    .push_bind(entry.result.clone())
                    .push_bind(entry.detail.clone())
                    .push_bind(entry.request_id.clone())
                    .push_bind(entry.client_address.clone());
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_access_entries(
        &self,
        scope: &TenantScope<ReadAccessLog>,
        query: &AccessLogQuery,
    ) -> Result<Vec<StoredAccessEntry>> {
        // The tenant alone, or with its applications' entries elsewhere: two statements, so that
        // the common case keeps to the tenant's index.
        let who = if query.applications.is_empty() {
            "tenant_id = $1".to_owned()
        } else {
            format!("(tenant_id = $1 OR {})", Dialect::in_text_list("app_id", 7))
        };
        let sql = format!(
            "SELECT id, at, tenant_id, app_id, app_name, operation, incident_id, incident_ids, status, result,
                    detail, request_id, client_address
             FROM access_log
             WHERE {who}
               AND ($2 IS NULL OR at >= $2)
               AND ($3 IS NULL OR incident_id = $3)
               AND ($4 IS NULL OR id < $4)
               AND ($6 IS NULL OR at < $6)
             ORDER BY id DESC
             LIMIT $5"
        );
        let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scope.tenant().to_string())
            .bind(query.since)
            .bind(query.incident_id.map(IncidentId::get))
            .bind(query.before_id)
            .bind(i64::from(query.limit))
            .bind(query.until);
        if !query.applications.is_empty() {
            statement = statement.bind(Dialect::text_list(&query.applications));
        }
        let rows = statement.fetch_all(self.log_pool()).await?;
        rows.iter().map(read_entry).collect()
    }

    async fn delete_access_entries_before(&self, before: Ticks) -> Result<u64> {
        // Entries younger than a day are left, with the same bound as the table's trigger
        // (which would otherwise abort the whole statement).
        let result = sqlx::query(Dialect::DELETE_ACCESS_LOG_BEFORE).bind(before.get()).execute(self.log_pool()).await?;
        Ok(result.rows_affected())
    }
}

fn join_ids(ids: &[IncidentId]) -> String {
    ids.iter().map(IncidentId::to_string).collect::<Vec<_>>().join(",")
}

pub(crate) fn read_entry(row: &DbRow) -> Result<StoredAccessEntry> {
    let operation: String = row.try_get("operation")?;
    let ids: String = row.try_get("incident_ids")?;
    let status: i64 = row.try_get("status")?;
    Ok(StoredAccessEntry {
        id: row.try_get("id")?,
        entry: AccessEntry {
            at: row.try_get("at")?,
            tenant_id: parse_column(row.try_get("tenant_id")?, "access_log.tenant_id")?,
            app_id: parse_column(row.try_get("app_id")?, "access_log.app_id")?,
            app_name: row.try_get("app_name")?,
            operation: AccessOperation::parse(&operation)
                .ok_or_else(|| StoreError::Corrupt("access_log.operation holds an invalid value".into()))?,
            incident_id: row.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId::new),
            incident_ids: ids
                .split(',')
                .filter(|id| !id.is_empty())
                .map(|id| parse_column(id, "access_log.incident_ids").map(IncidentId::new))
                .collect::<Result<_>>()?,
            status: u16::try_from(status)
                .map_err(|_| StoreError::Corrupt("access_log.status holds an invalid value".into()))?,
            result: row.try_get("result")?,
            detail: row.try_get("detail")?,
            request_id: row.try_get("request_id")?,
            client_address: row.try_get("client_address")?,
        },
    })
}
