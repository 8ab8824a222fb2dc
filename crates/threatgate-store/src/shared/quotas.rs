//! Quota counts shared by every process on the database.
//!
//! Part of `shared` (see `mod.rs`): compiled into each backend, which `super` names.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};
use threatgate_domain::UnixSeconds;

use super::{Backend, Db, DbRow};
use crate::{QuotaCount, QuotaStore, Result};

/// 4 parameters a row: 20,000 a statement, below SQLite's 32,766 (and PostgreSQL's 65,535).
const ROWS_PER_STATEMENT: usize = 5_000;

#[async_trait]
impl QuotaStore for Backend {
    async fn add_quota_counts(&self, counts: &[QuotaCount]) -> Result<Vec<QuotaCount>> {
        let mut totals = Vec::with_capacity(counts.len());
        let mut tx = self.begin_write().await?;
        for chunk in counts.chunks(ROWS_PER_STATEMENT) {
            let mut upsert =
                QueryBuilder::<Db>::new("INSERT INTO quota_usage (key, length_seconds, window_index, calls) ");
            upsert.push_values(chunk, |mut row, count| {
                row.push_bind(count.key.clone())
                    .push_bind(count.length_seconds)
                    .push_bind(count.window_index)
                    .push_bind(count.calls);
            });
            upsert.push(
                " ON CONFLICT (key, length_seconds, window_index) DO UPDATE SET calls = quota_usage.calls + excluded.calls \
                 RETURNING key, length_seconds, window_index, calls",
            );
            let rows = upsert.build().fetch_all(&mut *tx).await?;
            let mut returned: Vec<QuotaCount> = rows.iter().map(read_count).collect::<Result<_>>()?;
            // RETURNING gives no order: put the totals in the order asked.
            for count in chunk {
                let at = returned.iter().position(|total| {
                    (&total.key, total.length_seconds, total.window_index)
                        == (&count.key, count.length_seconds, count.window_index)
                });
                if let Some(at) = at {
                    totals.push(returned.swap_remove(at));
                }
            }
        }
        tx.commit().await?;
        Ok(totals)
    }

    async fn delete_quota_counts_before(&self, window_start: UnixSeconds) -> Result<u64> {
        let result = sqlx::query("DELETE FROM quota_usage WHERE (window_index + 1) * length_seconds <= $1")
            .bind(window_start.get())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}

fn read_count(row: &DbRow) -> Result<QuotaCount> {
    Ok(QuotaCount {
        key: row.try_get("key")?,
        length_seconds: row.try_get("length_seconds")?,
        window_index: row.try_get("window_index")?,
        calls: row.try_get("calls")?,
    })
}
