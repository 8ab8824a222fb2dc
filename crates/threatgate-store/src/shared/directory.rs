//! The directory. Each query is a named function or trait method beside its SQL.
//!
//! Part of `shared` (see `mod.rs`): compiled into each backend, which `super` names.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{Executor, Row};
use threatgate_domain::{
    AppId, AppRoleAssignment, Application, CertificateCredentialRecord, ClientSecretRecord, DisplayName, DomainName,
    ObjectId, RedirectUri, RequiredAppRole, ServicePrincipal, SignInAudience, Tenant, TenantId, Upn, User, UserRole,
};

use super::{Backend, Db, DbConnection, DbRow, from_unix_seconds, parse_column, unix_seconds};
use crate::{ConsentGrant, DirectoryData, DirectoryStore, Result, StoreError, TenantKey};

#[async_trait]
impl DirectoryStore for Backend {
    async fn revision(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT revision FROM directory_revision WHERE id = 1").fetch_one(&self.pool).await?)
    }

    async fn load_directory(&self) -> Result<DirectoryData> {
        // One read transaction, so that the revision matches the rows.
        let mut tx = self.pool.begin().await?;
        let revision =
            sqlx::query_scalar("SELECT revision FROM directory_revision WHERE id = 1").fetch_one(&mut *tx).await?;
        let tenants = select_tenants(&mut tx, None).await?;
        let applications = select_applications(&mut tx, None, None).await?;
        let client_secrets = select_client_secrets(&mut tx, None).await?;
        let certificates = select_certificate_credentials(&mut tx, None).await?;
        let service_principals = select_service_principals(&mut tx, None).await?;
        let app_role_assignments = select_app_role_assignments(&mut tx, None).await?;
        tx.commit().await?;
        Ok(DirectoryData {
            revision,
            tenants,
            applications,
            client_secrets,
            certificates,
            service_principals,
            app_role_assignments,
        })
    }

    async fn insert_tenant(&self, tenant: &Tenant, built_in: &[ServicePrincipal]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO tenants (id, display_name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.id.to_string())
            .bind(tenant.display_name.as_str())
            .bind(unix_seconds(tenant.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::on_unique(e, "tenant"))?;
        for domain in &tenant.domains {
            sqlx::query("INSERT INTO tenant_domains (domain, tenant_id, is_initial) VALUES ($1, $2, $3)")
                .bind(domain.as_str())
                .bind(tenant.id.to_string())
                .bind(*domain == tenant.initial_domain)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::on_unique(e, "domain"))?;
        }
        for principal in built_in {
            insert_service_principal(&mut *tx, principal).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn find_tenant(&self, key: TenantKey<'_>) -> Result<Option<Tenant>> {
        let id = match key {
            TenantKey::Id(id) => id,
            TenantKey::Domain(domain) => {
                let found: Option<String> =
                    sqlx::query_scalar("SELECT tenant_id FROM tenant_domains WHERE domain = $1")
                        .bind(domain.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                match found {
                    Some(text) => parse_column(&text, "tenant_domains.tenant_id")?,
                    None => return Ok(None),
                }
            }
        };
        let mut conn = self.pool.acquire().await?;
        Ok(select_tenants(&mut conn, Some(id)).await?.pop())
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let mut conn = self.pool.acquire().await?;
        select_tenants(&mut conn, None).await
    }

    async fn insert_user(&self, user: &User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (object_id, tenant_id, upn, display_name, password_hash, role, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user.object_id.to_string())
        .bind(user.tenant_id.to_string())
        .bind(user.upn.as_str())
        .bind(user.display_name.as_str())
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(unix_seconds(user.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::on_unique(e, "user"))?;
        Ok(())
    }

    async fn find_user_by_upn(&self, upn: &Upn) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT object_id, tenant_id, upn, display_name, password_hash, role, created_at
             FROM users WHERE upn = $1",
        )
        .bind(upn.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(read_user).transpose()
    }

    async fn list_users(&self, tenant: TenantId) -> Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT object_id, tenant_id, upn, display_name, password_hash, role, created_at
             FROM users WHERE tenant_id = $1 ORDER BY upn",
        )
        .bind(tenant.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(read_user).collect()
    }

    async fn set_user_password(&self, upn: &Upn, password_hash: &str) -> Result<bool> {
        let result = sqlx::query("UPDATE users SET password_hash = $1 WHERE upn = $2")
            .bind(password_hash)
            .bind(upn.as_str())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn insert_application(
        &self,
        application: &Application,
        home_service_principal: &ServicePrincipal,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO applications (app_id, object_id, home_tenant_id, display_name, sign_in_audience, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(application.app_id.to_string())
        .bind(application.object_id.to_string())
        .bind(application.home_tenant_id.to_string())
        .bind(application.display_name.as_str())
        .bind(application.sign_in_audience.as_str())
        .bind(unix_seconds(application.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "application"))?;
        for (position, uri) in application.redirect_uris.iter().enumerate() {
            sqlx::query("INSERT INTO application_redirect_uris (app_id, position, uri) VALUES ($1, $2, $3)")
                .bind(application.app_id.to_string())
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .bind(uri.as_str())
                .execute(&mut *tx)
                .await?;
        }
        insert_required_roles(&mut tx, application.app_id, &application.required_app_roles).await?;
        insert_service_principal(&mut *tx, home_service_principal).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_application(&self, app_id: AppId) -> Result<Option<Application>> {
        let mut conn = self.pool.acquire().await?;
        Ok(select_applications(&mut conn, Some(app_id), None).await?.pop())
    }

    async fn list_applications(&self, home_tenant: Option<TenantId>) -> Result<Vec<Application>> {
        let mut conn = self.pool.acquire().await?;
        select_applications(&mut conn, None, home_tenant).await
    }

    async fn set_required_app_roles(&self, app_id: AppId, roles: &[RequiredAppRole]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM applications WHERE app_id = $1")
            .bind(app_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound("application"));
        }
        sqlx::query("DELETE FROM application_required_roles WHERE app_id = $1")
            .bind(app_id.to_string())
            .execute(&mut *tx)
            .await?;
        insert_required_roles(&mut tx, app_id, roles).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_client_secret(&self, secret: &ClientSecretRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO client_secrets (key_id, app_id, description, hint, value_hash, start_at, end_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(secret.key_id.to_string())
        .bind(secret.app_id.to_string())
        .bind(&secret.description)
        .bind(&secret.hint)
        .bind(&secret.value_hash)
        .bind(unix_seconds(secret.start))
        .bind(unix_seconds(secret.end))
        .execute(&self.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => StoreError::NotFound("application"),
            other => StoreError::on_unique(other, "client secret"),
        })?;
        Ok(())
    }

    async fn delete_client_secret(&self, app_id: AppId, key_id: ObjectId) -> Result<bool> {
        let result = sqlx::query("DELETE FROM client_secrets WHERE app_id = $1 AND key_id = $2")
            .bind(app_id.to_string())
            .bind(key_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn list_client_secrets(&self, app_id: AppId) -> Result<Vec<ClientSecretRecord>> {
        let mut conn = self.pool.acquire().await?;
        select_client_secrets(&mut conn, Some(app_id)).await
    }

    async fn insert_certificate_credential(&self, certificate: &CertificateCredentialRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO certificate_credentials
                (key_id, app_id, description, thumbprint, thumbprint_sha256, certificate, start_at, end_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(certificate.key_id.to_string())
        .bind(certificate.app_id.to_string())
        .bind(&certificate.description)
        .bind(&certificate.thumbprint)
        .bind(&certificate.thumbprint_sha256)
        .bind(&certificate.certificate_der)
        .bind(unix_seconds(certificate.start))
        .bind(unix_seconds(certificate.end))
        .execute(&self.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => StoreError::NotFound("application"),
            other => StoreError::on_unique(other, "certificate credential"),
        })?;
        Ok(())
    }

    async fn delete_certificate_credential(&self, app_id: AppId, key_id: ObjectId) -> Result<bool> {
        let result = sqlx::query("DELETE FROM certificate_credentials WHERE app_id = $1 AND key_id = $2")
            .bind(app_id.to_string())
            .bind(key_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn list_certificate_credentials(&self, app_id: AppId) -> Result<Vec<CertificateCredentialRecord>> {
        let mut conn = self.pool.acquire().await?;
        select_certificate_credentials(&mut conn, Some(app_id)).await
    }

    async fn grant_consent(&self, grant: &ConsentGrant) -> Result<ServicePrincipal> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO service_principals (object_id, tenant_id, app_id, display_name, created_at, consented_by, consented_at)
             VALUES ($1, $2, $3, $4, $5, $6, $5)
             ON CONFLICT (tenant_id, app_id) DO UPDATE SET consented_by = excluded.consented_by, consented_at = excluded.consented_at",
        )
        .bind(grant.new_service_principal_id.to_string())
        .bind(grant.tenant_id.to_string())
        .bind(grant.app_id.to_string())
        .bind(&grant.service_principal_display_name)
        .bind(unix_seconds(grant.at))
        .bind(&grant.consented_by)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT object_id, tenant_id, app_id, display_name, created_at, consented_by, consented_at
             FROM service_principals WHERE tenant_id = $1 AND app_id = $2",
        )
        .bind(grant.tenant_id.to_string())
        .bind(grant.app_id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let principal = read_service_principal(&row)?;
        for role in &grant.roles {
            sqlx::query(
                "INSERT INTO app_role_assignments (id, tenant_id, principal_id, resource_id, app_role_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (principal_id, resource_id, app_role_id) DO NOTHING",
            )
            .bind(role.assignment_id.to_string())
            .bind(grant.tenant_id.to_string())
            .bind(principal.object_id.to_string())
            .bind(role.resource_service_principal_id.to_string())
            .bind(role.app_role_id.to_string())
            .bind(unix_seconds(grant.at))
            .execute(&mut *tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => {
                    StoreError::NotFound("resource service principal")
                }
                other => StoreError::Database(other),
            })?;
        }
        tx.commit().await?;
        Ok(principal)
    }

    async fn revoke_consent(&self, tenant: TenantId, app_id: AppId) -> Result<bool> {
        // Assignments go with the service principal (ON DELETE CASCADE).
        let result = sqlx::query("DELETE FROM service_principals WHERE tenant_id = $1 AND app_id = $2")
            .bind(tenant.to_string())
            .bind(app_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn list_service_principals(&self, tenant: TenantId) -> Result<Vec<ServicePrincipal>> {
        let mut conn = self.pool.acquire().await?;
        select_service_principals(&mut conn, Some(tenant)).await
    }

    async fn list_app_role_assignments(&self, tenant: TenantId) -> Result<Vec<AppRoleAssignment>> {
        let mut conn = self.pool.acquire().await?;
        select_app_role_assignments(&mut conn, Some(tenant)).await
    }

    async fn delete_app_role_assignment(&self, tenant: TenantId, id: ObjectId) -> Result<bool> {
        let result = sqlx::query("DELETE FROM app_role_assignments WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }
}

async fn insert_service_principal<'c>(
    executor: impl Executor<'c, Database = Db>,
    principal: &ServicePrincipal,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO service_principals (object_id, tenant_id, app_id, display_name, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(principal.object_id.to_string())
    .bind(principal.tenant_id.to_string())
    .bind(principal.app_id.to_string())
    .bind(&principal.display_name)
    .bind(unix_seconds(principal.created_at))
    .execute(executor)
    .await
    .map_err(|e| StoreError::on_unique(e, "service principal"))?;
    Ok(())
}

async fn insert_required_roles(
    tx: &mut sqlx::Transaction<'static, Db>,
    app_id: AppId,
    roles: &[RequiredAppRole],
) -> Result<()> {
    for role in roles {
        sqlx::query(
            "INSERT INTO application_required_roles (app_id, resource_app_id, app_role_id)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(app_id.to_string())
        .bind(role.resource_app_id.to_string())
        .bind(role.app_role_id.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Tenants with their domains; all of them, or the one with `only`.
async fn select_tenants(conn: &mut DbConnection, only: Option<TenantId>) -> Result<Vec<Tenant>> {
    let only = only.map(|id| id.to_string());
    let tenant_rows = sqlx::query(
        "SELECT id, display_name, created_at FROM tenants
         WHERE $1 IS NULL OR id = $1 ORDER BY created_at, id",
    )
    .bind(&only)
    .fetch_all(&mut *conn)
    .await?;
    let domain_rows = sqlx::query(
        "SELECT domain, tenant_id, is_initial FROM tenant_domains
         WHERE $1 IS NULL OR tenant_id = $1 ORDER BY is_initial DESC, domain",
    )
    .bind(&only)
    .fetch_all(&mut *conn)
    .await?;
    let mut domains: HashMap<String, (Option<DomainName>, Vec<DomainName>)> = HashMap::new();
    for row in &domain_rows {
        let domain: DomainName = parse_column(row.try_get("domain")?, "tenant_domains.domain")?;
        let entry = domains.entry(row.try_get("tenant_id")?).or_default();
        if row.try_get::<bool, _>("is_initial")? {
            entry.0 = Some(domain.clone());
        }
        entry.1.push(domain);
    }
    tenant_rows
        .iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let (initial, all) = domains.remove(&id).unwrap_or_default();
            Ok(Tenant {
                id: parse_column(&id, "tenants.id")?,
                display_name: parse_display_name(row.try_get("display_name")?)?,
                initial_domain: initial
                    .ok_or_else(|| StoreError::Corrupt(format!("tenant {id} has no initial domain")))?,
                domains: all,
                created_at: from_unix_seconds(row.try_get("created_at")?)?,
            })
        })
        .collect()
}

/// Applications with their redirect URIs and required roles, filtered by id or home tenant.
async fn select_applications(
    conn: &mut DbConnection,
    app_id: Option<AppId>,
    home_tenant: Option<TenantId>,
) -> Result<Vec<Application>> {
    let app_id = app_id.map(|id| id.to_string());
    let home_tenant = home_tenant.map(|id| id.to_string());
    let rows = sqlx::query(
        "SELECT app_id, object_id, home_tenant_id, display_name, sign_in_audience, created_at
         FROM applications WHERE ($1 IS NULL OR app_id = $1) AND ($2 IS NULL OR home_tenant_id = $2)
         ORDER BY created_at, app_id",
    )
    .bind(&app_id)
    .bind(&home_tenant)
    .fetch_all(&mut *conn)
    .await?;
    let uri_rows = sqlx::query(
        "SELECT app_id, uri FROM application_redirect_uris
         WHERE $1 IS NULL OR app_id = $1 ORDER BY app_id, position",
    )
    .bind(&app_id)
    .fetch_all(&mut *conn)
    .await?;
    let role_rows = sqlx::query(
        "SELECT app_id, resource_app_id, app_role_id FROM application_required_roles
         WHERE $1 IS NULL OR app_id = $1 ORDER BY app_id, resource_app_id, app_role_id",
    )
    .bind(&app_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut uris: HashMap<String, Vec<RedirectUri>> = HashMap::new();
    for row in &uri_rows {
        let uri = RedirectUri::parse(row.try_get("uri")?)
            .map_err(|_| StoreError::Corrupt("application_redirect_uris.uri holds an invalid value".into()))?;
        uris.entry(row.try_get("app_id")?).or_default().push(uri);
    }
    let mut roles: HashMap<String, Vec<RequiredAppRole>> = HashMap::new();
    for row in &role_rows {
        roles.entry(row.try_get("app_id")?).or_default().push(RequiredAppRole {
            resource_app_id: parse_column(
                row.try_get("resource_app_id")?,
                "application_required_roles.resource_app_id",
            )?,
            app_role_id: parse_column(row.try_get("app_role_id")?, "application_required_roles.app_role_id")?,
        });
    }
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("app_id")?;
            let audience: String = row.try_get("sign_in_audience")?;
            Ok(Application {
                app_id: parse_column(&id, "applications.app_id")?,
                object_id: parse_column(row.try_get("object_id")?, "applications.object_id")?,
                home_tenant_id: parse_column(row.try_get("home_tenant_id")?, "applications.home_tenant_id")?,
                display_name: parse_display_name(row.try_get("display_name")?)?,
                sign_in_audience: SignInAudience::parse(&audience)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown sign-in audience {audience}")))?,
                redirect_uris: uris.remove(&id).unwrap_or_default(),
                required_app_roles: roles.remove(&id).unwrap_or_default(),
                created_at: from_unix_seconds(row.try_get("created_at")?)?,
            })
        })
        .collect()
}

async fn select_client_secrets(conn: &mut DbConnection, app_id: Option<AppId>) -> Result<Vec<ClientSecretRecord>> {
    let rows = sqlx::query(
        "SELECT key_id, app_id, description, hint, value_hash, start_at, end_at FROM client_secrets
         WHERE $1 IS NULL OR app_id = $1 ORDER BY app_id, start_at, key_id",
    )
    .bind(app_id.map(|id| id.to_string()))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ClientSecretRecord {
                key_id: parse_column(row.try_get("key_id")?, "client_secrets.key_id")?,
                app_id: parse_column(row.try_get("app_id")?, "client_secrets.app_id")?,
                description: row.try_get("description")?,
                hint: row.try_get("hint")?,
                value_hash: row.try_get("value_hash")?,
                start: from_unix_seconds(row.try_get("start_at")?)?,
                end: from_unix_seconds(row.try_get("end_at")?)?,
            })
        })
        .collect()
}

async fn select_certificate_credentials(
    conn: &mut DbConnection,
    app_id: Option<AppId>,
) -> Result<Vec<CertificateCredentialRecord>> {
    let rows = sqlx::query(
        "SELECT key_id, app_id, description, thumbprint, thumbprint_sha256, certificate, start_at, end_at
         FROM certificate_credentials WHERE $1 IS NULL OR app_id = $1 ORDER BY app_id, start_at, key_id",
    )
    .bind(app_id.map(|id| id.to_string()))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CertificateCredentialRecord {
                key_id: parse_column(row.try_get("key_id")?, "certificate_credentials.key_id")?,
                app_id: parse_column(row.try_get("app_id")?, "certificate_credentials.app_id")?,
                description: row.try_get("description")?,
                thumbprint: row.try_get("thumbprint")?,
                thumbprint_sha256: row.try_get("thumbprint_sha256")?,
                certificate_der: row.try_get("certificate")?,
                start: from_unix_seconds(row.try_get("start_at")?)?,
                end: from_unix_seconds(row.try_get("end_at")?)?,
            })
        })
        .collect()
}

async fn select_service_principals(conn: &mut DbConnection, tenant: Option<TenantId>) -> Result<Vec<ServicePrincipal>> {
    let rows = sqlx::query(
        "SELECT object_id, tenant_id, app_id, display_name, created_at, consented_by, consented_at FROM service_principals
         WHERE $1 IS NULL OR tenant_id = $1 ORDER BY tenant_id, created_at, object_id",
    )
    .bind(tenant.map(|id| id.to_string()))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(read_service_principal).collect()
}

async fn select_app_role_assignments(
    conn: &mut DbConnection,
    tenant: Option<TenantId>,
) -> Result<Vec<AppRoleAssignment>> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, principal_id, resource_id, app_role_id, created_at FROM app_role_assignments
         WHERE $1 IS NULL OR tenant_id = $1 ORDER BY tenant_id, principal_id, app_role_id",
    )
    .bind(tenant.map(|id| id.to_string()))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(AppRoleAssignment {
                id: parse_column(row.try_get("id")?, "app_role_assignments.id")?,
                tenant_id: parse_column(row.try_get("tenant_id")?, "app_role_assignments.tenant_id")?,
                principal_id: parse_column(row.try_get("principal_id")?, "app_role_assignments.principal_id")?,
                resource_id: parse_column(row.try_get("resource_id")?, "app_role_assignments.resource_id")?,
                app_role_id: parse_column(row.try_get("app_role_id")?, "app_role_assignments.app_role_id")?,
                created_at: from_unix_seconds(row.try_get("created_at")?)?,
            })
        })
        .collect()
}

fn read_service_principal(row: &DbRow) -> Result<ServicePrincipal> {
    Ok(ServicePrincipal {
        object_id: parse_column(row.try_get("object_id")?, "service_principals.object_id")?,
        tenant_id: parse_column(row.try_get("tenant_id")?, "service_principals.tenant_id")?,
        app_id: parse_column(row.try_get("app_id")?, "service_principals.app_id")?,
        display_name: row.try_get("display_name")?,
        created_at: from_unix_seconds(row.try_get("created_at")?)?,
        consented_by: row.try_get("consented_by")?,
        consented_at: row.try_get::<Option<i64>, _>("consented_at")?.map(from_unix_seconds).transpose()?,
    })
}

fn read_user(row: &DbRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        object_id: parse_column(row.try_get("object_id")?, "users.object_id")?,
        tenant_id: parse_column(row.try_get("tenant_id")?, "users.tenant_id")?,
        upn: Upn::parse(row.try_get("upn")?)
            .map_err(|_| StoreError::Corrupt("users.upn holds an invalid value".into()))?,
        display_name: parse_display_name(row.try_get("display_name")?)?,
        password_hash: row.try_get("password_hash")?,
        role: UserRole::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown user role {role}")))?,
        created_at: from_unix_seconds(row.try_get("created_at")?)?,
    })
}

fn parse_display_name(text: &str) -> Result<DisplayName> {
    DisplayName::parse(text).map_err(|_| StoreError::Corrupt("a display name holds an invalid value".into()))
}
