//! Portal sessions.
//!
//! Part of `shared` (see `mod.rs`): compiled into each backend, which `super` names.

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;

use super::{Backend, from_unix_seconds, parse_column, unix_seconds};
use crate::{Result, SessionRecord, SessionStore};

#[async_trait]
impl SessionStore for Backend {
    async fn insert_session(&self, session: &SessionRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO portal_sessions (token_hash, user_id, tenant_id, upn, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&session.token_hash)
        .bind(session.user_id.to_string())
        .bind(session.tenant_id.to_string())
        .bind(session.upn.as_str())
        .bind(&session.csrf_token)
        .bind(unix_seconds(session.created_at))
        .bind(unix_seconds(session.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &[u8], now: OffsetDateTime) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT token_hash, user_id, tenant_id, upn, csrf_token, created_at, expires_at
             FROM portal_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(unix_seconds(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SessionRecord {
                token_hash: row.try_get("token_hash")?,
                user_id: parse_column(row.try_get("user_id")?, "portal_sessions.user_id")?,
                tenant_id: parse_column(row.try_get("tenant_id")?, "portal_sessions.tenant_id")?,
                upn: threatgate_domain::Upn::parse(row.try_get("upn")?)
                    .map_err(|_| crate::StoreError::Corrupt("portal_sessions.upn holds an invalid value".into()))?,
                csrf_token: row.try_get("csrf_token")?,
                created_at: from_unix_seconds(row.try_get("created_at")?)?,
                expires_at: from_unix_seconds(row.try_get("expires_at")?)?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM portal_sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM portal_sessions WHERE expires_at <= $1")
            .bind(unix_seconds(now))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}
