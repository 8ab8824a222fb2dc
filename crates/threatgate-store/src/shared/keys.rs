//! Signing keys.
//!
//! Part of `shared` (see `mod.rs`): compiled into each backend, which `super` names.

use async_trait::async_trait;
use sqlx::Row;
use threatgate_domain::KeyId;
use time::OffsetDateTime;

use super::{Backend, Db, Dialect, from_unix_seconds, unix_seconds};
use crate::dialect::Dialect as _;
use crate::{KeyStore, Result, SigningKeyRecord, StoreError};

#[async_trait]
impl KeyStore for Backend {
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, private_key, certificate, created_at, activates_at, retired_at
             FROM signing_keys WHERE retired_at IS NULL ORDER BY activates_at, created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRecord {
                    kid: KeyId::new(row.try_get::<String, _>("kid")?),
                    private_key_pkcs8: row.try_get("private_key")?,
                    certificate_der: row.try_get("certificate")?,
                    created_at: from_unix_seconds(row.try_get("created_at")?)?,
                    activates_at: from_unix_seconds(row.try_get("activates_at")?)?,
                    retired_at: row.try_get::<Option<i64>, _>("retired_at")?.map(from_unix_seconds).transpose()?,
                })
            })
            .collect()
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<()> {
        insert_key(&self.pool, key).await
    }

    async fn insert_signing_key_unless_published(
        &self,
        key: &SigningKeyRecord,
        from: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        // Other processes wait here until this one has decided (and inserted).
        Dialect::lock_signing_keys(&mut tx).await?;
        let published: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL AND activates_at BETWEEN $1 AND $2",
        )
        .bind(unix_seconds(from))
        .bind(unix_seconds(until))
        .fetch_one(&mut *tx)
        .await?;
        if published > 0 {
            return Ok(false);
        }
        insert_key(&mut *tx, key).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_signing_key_activation(&self, kid: &KeyId, activates_at: OffsetDateTime) -> Result<bool> {
        let result = sqlx::query("UPDATE signing_keys SET activates_at = $1 WHERE kid = $2 AND retired_at IS NULL")
            .bind(unix_seconds(activates_at))
            .bind(kid.as_str())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn retire_signing_key(&self, kid: &KeyId, at: OffsetDateTime) -> Result<bool> {
        let result = sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL")
            .bind(unix_seconds(at))
            .bind(kid.as_str())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}

/// Adds a signing key; a key id already there is a conflict.
async fn insert_key<'c>(executor: impl sqlx::Executor<'c, Database = Db>, key: &SigningKeyRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, private_key, certificate, created_at, activates_at, retired_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(key.kid.as_str())
    .bind(&key.private_key_pkcs8)
    .bind(&key.certificate_der)
    .bind(unix_seconds(key.created_at))
    .bind(unix_seconds(key.activates_at))
    .bind(key.retired_at.map(unix_seconds))
    .execute(executor)
    .await
    .map_err(|error| StoreError::on_unique(error, "signing key"))?;
    Ok(())
}
