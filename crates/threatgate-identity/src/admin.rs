//! Directory administration: the operations behind `threatgate tenant|user|app|consent …`,
//! the demo and (later) the portal. Each checks the rules, then writes through the store.
//!
//! Changes made here reach a running server through the store's revision: the server reloads
//! its view within its refresh interval.

use serde::Serialize;
use threatgate_domain::{
    AppId, AppRoleAssignment, AppRoleId, Application, BUILT_IN_RESOURCES, CertificateCredentialRecord,
    ClientSecretRecord, CredentialState, DisplayName, DomainName, NameError, ObjectId, RedirectUri, RequiredAppRole,
    ServicePrincipal, SignInAudience, Tenant, TenantId, TenantSegment, Upn, User, UserRole, built_in_resource,
    built_in_role,
};
use threatgate_store::{AuditCategory, AuditEvent, ConsentGrant, RoleGrant, Store, StoreError, TenantKey};
use time::{Duration, OffsetDateTime};

use crate::certificates::Certificate;
use crate::clock::Clock;
use crate::passwords::{check_password_strength, generate_password, hash_password};
use crate::random::new_guid;
use crate::secrets::{ClientSecret, SecretHasher};

/// Default lifetime of a client secret, as the Azure portal's recommended choice.
pub const DEFAULT_SECRET_LIFETIME_DAYS: i64 = 180;
/// Longest lifetime of a client secret: the portal's "24 months".
pub const MAX_SECRET_LIFETIME_DAYS: i64 = 730;

/// Why an administration command was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error("{0}")]
    Refused(String),
    #[error("{what} '{name}' not found")]
    NotFound { what: &'static str, name: String },
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The signed-in user's role does not allow the change.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Service(#[from] crate::Error),
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => Self::Conflict(what),
            other => Self::Service(crate::Error::Store(other)),
        }
    }
}

pub type AdminResult<T> = std::result::Result<T, AdminError>;

/// A user just created, with the password when it was generated (shown once).
#[derive(Debug, Serialize)]
pub struct CreatedUser {
    #[serde(flatten)]
    pub user: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
}

/// A client secret just created: the record and the value, which is never shown again.
#[derive(Debug)]
pub struct CreatedSecret {
    pub record: ClientSecretRecord,
    pub value: ClientSecret,
}

/// An application's standing in a tenant: its service principal and granted roles.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentStatus {
    pub tenant_id: TenantId,
    pub app_id: AppId,
    pub display_name: String,
    pub service_principal_id: ObjectId,
    pub roles: Vec<&'static str>,
    /// Who last consented, and when (absent for consents recorded before this was kept).
    pub consented_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub consented_at: Option<OffsetDateTime>,
}

/// A credential of an application and where it stands now.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialReport {
    /// The application's home tenant (its initial domain).
    pub tenant: String,
    pub app_id: AppId,
    pub app_name: String,
    /// `client secret` or `certificate`.
    pub kind: &'static str,
    pub key_id: ObjectId,
    pub description: String,
    /// A secret's first characters, or a certificate's thumbprint (SHA-1, hex).
    pub hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    #[serde(flatten)]
    pub state: CredentialState,
}

/// Who the audit trail names for changes made from the command line.
pub const COMMAND_LINE_ACTOR: &str = "threatgate (command line)";

/// Who makes the changes, and so which changes are allowed.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// Whoever runs the installation, named for the audit trail: the command line (which
    /// opens the data directory itself), the demo, the setup link, the server's own tasks. May
    /// make every change.
    Operator(&'a str),
    /// A user signed in to the portal: may read their tenant's directory, and change apps,
    /// credentials and consents only as a Global Administrator of the tenant concerned.
    User(&'a Upn),
    /// An application calling Microsoft Graph's directory API with a token of `tenant` (its
    /// Graph roles already checked): may change `tenant`'s directory only.
    Application { name: &'a str, tenant: TenantId },
}

impl Actor<'_> {
    /// The name the audit trail records.
    pub fn name(&self) -> &str {
        match self {
            Actor::Operator(name) => name,
            Actor::User(upn) => upn.as_str(),
            Actor::Application { name, .. } => name,
        }
    }
}

/// Administration over a store. Every change is recorded in the audit trail as done by the
/// actor, and allowed only as far as the actor's role goes: this is the one place that policy
/// lives, whatever front end (portal, command line) asks.
#[derive(Debug, Clone, Copy)]
pub struct DirectoryAdmin<'a> {
    store: &'a dyn Store,
    hasher: &'a SecretHasher,
    clock: &'a dyn Clock,
    actor: Actor<'a>,
}

/// A change for the audit trail.
struct Change<'x> {
    tenant_id: TenantId,
    application: Option<&'x Application>,
    category: AuditCategory,
    operation: &'static str,
    target: String,
    detail: String,
}

impl<'a> DirectoryAdmin<'a> {
    pub fn new(store: &'a dyn Store, hasher: &'a SecretHasher, clock: &'a dyn Clock, actor: Actor<'a>) -> Self {
        Self { store, hasher, clock, actor }
    }

    /// Refuses the change unless the actor is the operator or a Global Administrator of
    /// `tenant` (the role is read now, so a demoted administrator loses it at once).
    async fn require_global_admin(&self, tenant: TenantId, change: &str) -> AdminResult<()> {
        let upn = match self.actor {
            Actor::Operator(_) => return Ok(()),
            Actor::Application { tenant: own, .. } if own == tenant => return Ok(()),
            Actor::Application { .. } => {
                return Err(AdminError::Forbidden(format!("an application can {change} in its token's tenant only")));
            }
            Actor::User(upn) => upn,
        };
        match self.store.find_user_by_upn(upn).await? {
            Some(user) if user.tenant_id == tenant && user.role == UserRole::GlobalAdministrator => Ok(()),
            _ => Err(AdminError::Forbidden(format!("only a Global Administrator of the tenant can {change}"))),
        }
    }

    /// The application, if the actor may manage it (its registration and credentials).
    async fn managed_application(&self, app_id: AppId, change: &str) -> AdminResult<Application> {
        let application = self.get_application(app_id).await?;
        self.require_global_admin(application.home_tenant_id, change).await?;
        Ok(application)
    }

    /// Records a change made. The change is already stored (the trail lives in another
    /// database), so a failure to record it is reported in the log, not to the caller.
    async fn record(&self, change: Change<'_>) {
        let event = AuditEvent {
            at: threatgate_domain::datetime::to_ticks(self.clock.now()),
            tenant_id: change.tenant_id,
            app_id: change.application.map(|application| application.app_id),
            app_tenant_id: change.application.map(|application| application.home_tenant_id),
            app_name: change.application.map(|application| application.display_name.to_string()).unwrap_or_default(),
            category: change.category,
            operation: change.operation.to_owned(),
            actor: self.actor.name().to_owned(),
            target: change.target,
            result: "success".into(),
            detail: change.detail,
            client_address: None,
        };
        if let Err(error) = self.store.append_audit_events(&[event]).await {
            tracing::error!(%error, operation = change.operation, "the audit trail could not record a change");
        }
    }

    fn now(&self) -> OffsetDateTime {
        // Whole seconds: the store keeps seconds, and read-back records should compare equal.
        let now = self.clock.now();
        now.replace_nanosecond(0).unwrap_or(now)
    }

    /// Creates a tenant, with the built-in resource's service principal in it.
    pub async fn create_tenant(&self, name: &str, domain: Option<&str>) -> AdminResult<Tenant> {
        if let Actor::User(_) = self.actor {
            return Err(AdminError::Forbidden("only the installation's operator can create tenants".into()));
        }
        let display_name = DisplayName::parse(name)?;
        let initial_domain = match domain {
            Some(domain) => DomainName::parse(domain)?,
            None => DomainName::initial_for(name)?,
        };
        let now = self.now();
        let tenant = Tenant {
            id: TenantId::from_uuid(new_guid()?),
            display_name,
            initial_domain: initial_domain.clone(),
            domains: vec![initial_domain],
            created_at: now,
        };
        let mut resources = Vec::new();
        for resource in BUILT_IN_RESOURCES {
            resources.push(ServicePrincipal {
                object_id: ObjectId::from_uuid(new_guid()?),
                tenant_id: tenant.id,
                app_id: resource.app_id,
                display_name: resource.display_name.into(),
                created_at: now,
                consented_by: None,
                consented_at: None,
            });
        }
        self.store.insert_tenant(&tenant, &resources).await.map_err(|e| match e {
            StoreError::Conflict("domain") => AdminError::Refused(format!(
                "the domain {} belongs to another tenant already; choose another with --domain",
                tenant.initial_domain
            )),
            other => other.into(),
        })?;
        self.record(Change {
            tenant_id: tenant.id,
            application: None,
            category: AuditCategory::Directory,
            operation: "CreateTenant",
            target: tenant.initial_domain.to_string(),
            detail: format!("displayName={}", tenant.display_name),
        })
        .await;
        Ok(tenant)
    }

    /// Finds a tenant by GUID or by any of its domains.
    pub async fn get_tenant(&self, name: &str) -> AdminResult<Tenant> {
        let not_found = || AdminError::NotFound { what: "tenant", name: name.to_owned() };
        let found = match TenantSegment::parse(name)? {
            TenantSegment::Id(id) => self.store.find_tenant(TenantKey::Id(id)).await?,
            TenantSegment::Domain(domain) => self.store.find_tenant(TenantKey::Domain(&domain)).await?,
            _ => {
                return Err(AdminError::Refused(format!(
                    "'{name}' names no single tenant; use the tenant's GUID or one of its domains"
                )));
            }
        };
        found.ok_or_else(not_found)
    }

    pub async fn list_tenants(&self) -> AdminResult<Vec<Tenant>> {
        Ok(self.store.list_tenants().await?)
    }

    /// Creates a user. Without a password, one is generated and returned once.
    pub async fn create_user(
        &self,
        tenant: &str,
        upn: &str,
        password: Option<&str>,
        global_admin: bool,
    ) -> AdminResult<CreatedUser> {
        let tenant = self.get_tenant(tenant).await?;
        self.require_global_admin(tenant.id, "create users").await?;
        let upn = Upn::parse(upn)?;
        if !tenant.domains.iter().any(|domain| domain.as_str() == upn.domain()) {
            return Err(AdminError::Refused(format!(
                "the domain of {upn} is not a domain of tenant {} ({})",
                tenant.display_name,
                tenant.domains.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            )));
        }
        let (password, generated) = match password {
            Some(password) => {
                check_password_strength(password).map_err(|why| AdminError::Refused(why.into()))?;
                (password.to_owned(), None)
            }
            None => {
                let password = generate_password()?;
                (password.clone(), Some(password))
            }
        };
        let local_part = upn.as_str().split('@').next().unwrap_or_default().to_owned();
        let hashed = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| AdminError::Refused(format!("password hashing was interrupted: {e}")))??;
        let user = User {
            object_id: ObjectId::from_uuid(new_guid()?),
            tenant_id: tenant.id,
            display_name: DisplayName::parse(&local_part)?,
            upn,
            password_hash: hashed,
            role: if global_admin { UserRole::GlobalAdministrator } else { UserRole::None },
            created_at: self.now(),
        };
        self.store.insert_user(&user).await?;
        self.record(Change {
            tenant_id: tenant.id,
            application: None,
            category: AuditCategory::Directory,
            operation: "CreateUser",
            target: user.upn.to_string(),
            detail: format!("role={}", if global_admin { "Global Administrator" } else { "none" }),
        })
        .await;
        Ok(CreatedUser { user, generated_password: generated })
    }

    /// Finds a user by user principal name.
    pub async fn get_user(&self, upn: &str) -> AdminResult<User> {
        let parsed = Upn::parse(upn)?;
        self.store
            .find_user_by_upn(&parsed)
            .await?
            .ok_or_else(|| AdminError::NotFound { what: "user", name: upn.to_owned() })
    }

    /// Sets a new generated password for a user and returns it (shown once).
    pub async fn reset_password(&self, upn: &str) -> AdminResult<String> {
        let user = self.get_user(upn).await?;
        self.require_global_admin(user.tenant_id, "reset passwords").await?;
        let upn = user.upn;
        let password = generate_password()?;
        let to_hash = password.clone();
        let hashed = tokio::task::spawn_blocking(move || hash_password(&to_hash))
            .await
            .map_err(|e| AdminError::Refused(format!("password hashing was interrupted: {e}")))??;
        if self.store.set_user_password(&upn, &hashed).await? {
            self.record(Change {
                tenant_id: user.tenant_id,
                application: None,
                category: AuditCategory::Directory,
                operation: "ResetPassword",
                target: upn.to_string(),
                detail: String::new(),
            })
            .await;
            Ok(password)
        } else {
            Err(AdminError::NotFound { what: "user", name: upn.to_string() })
        }
    }

    /// Whether `password` is the user's password (Argon2id, on a blocking thread).
    pub async fn check_password(&self, upn: &str, password: &str) -> AdminResult<bool> {
        let Ok(upn) = Upn::parse(upn) else {
            return Ok(false);
        };
        let Some(user) = self.store.find_user_by_upn(&upn).await? else {
            return Ok(false);
        };
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || crate::passwords::verify_password(&password, &user.password_hash))
            .await
            .map_err(|e| AdminError::Refused(format!("password check was interrupted: {e}")))
    }

    pub async fn list_users(&self, tenant: &str) -> AdminResult<Vec<User>> {
        let tenant = self.get_tenant(tenant).await?;
        Ok(self.store.list_users(tenant.id).await?)
    }

    /// Registers an application in `tenant`, with its service principal there.
    pub async fn register_application(
        &self,
        tenant: &str,
        name: &str,
        multi_tenant: bool,
        redirect_uris: &[String],
    ) -> AdminResult<Application> {
        let tenant = self.get_tenant(tenant).await?;
        self.require_global_admin(tenant.id, "register applications").await?;
        let display_name = DisplayName::parse(name)?;
        let redirect_uris = redirect_uris.iter().map(|uri| RedirectUri::parse(uri)).collect::<Result<Vec<_>, _>>()?;
        let now = self.now();
        let application = Application {
            app_id: AppId::from_uuid(new_guid()?),
            object_id: ObjectId::from_uuid(new_guid()?),
            home_tenant_id: tenant.id,
            display_name: display_name.clone(),
            sign_in_audience: if multi_tenant {
                SignInAudience::AzureADMultipleOrgs
            } else {
                SignInAudience::AzureADMyOrg
            },
            redirect_uris,
            required_app_roles: Vec::new(),
            created_at: now,
        };
        let principal = ServicePrincipal {
            object_id: ObjectId::from_uuid(new_guid()?),
            tenant_id: tenant.id,
            app_id: application.app_id,
            display_name: display_name.to_string(),
            created_at: now,
            consented_by: None,
            consented_at: None,
        };
        self.store.insert_application(&application, &principal).await?;
        self.record(Change {
            tenant_id: tenant.id,
            application: Some(&application),
            category: AuditCategory::Directory,
            operation: "RegisterApplication",
            target: application.app_id.to_string(),
            detail: format!("signInAudience={}", application.sign_in_audience.as_str()),
        })
        .await;
        Ok(application)
    }

    /// Finds an application by its application (client) id.
    pub async fn get_application(&self, app_id: AppId) -> AdminResult<Application> {
        let not_found = || AdminError::NotFound { what: "application", name: app_id.to_string() };
        self.store.find_application(app_id).await?.ok_or_else(not_found)
    }

    /// Applications registered in `tenant`, or all.
    pub async fn list_applications(&self, tenant: Option<&str>) -> AdminResult<Vec<Application>> {
        let home = match tenant {
            Some(name) => Some(self.get_tenant(name).await?.id),
            None => None,
        };
        Ok(self.store.list_applications(home).await?)
    }

    /// Adds Threat Protection application permissions (by value or alias) to what the
    /// application requests. Returns the application as updated.
    pub async fn add_permissions(&self, app_id: AppId, role_names: &[String]) -> AdminResult<Application> {
        let application = self.managed_application(app_id, "change an application's permissions").await?;
        if role_names.is_empty() {
            return Err(AdminError::Refused("name at least one permission".into()));
        }
        let mut wanted = Vec::new();
        for name in role_names {
            let (resource, role) = built_in_role(name).ok_or_else(|| {
                let known: Vec<String> = BUILT_IN_RESOURCES
                    .iter()
                    .map(|r| {
                        format!(
                            "{}: {}",
                            r.display_name,
                            r.roles.iter().map(|role| role.value).collect::<Vec<_>>().join(", ")
                        )
                    })
                    .collect();
                AdminError::Refused(format!("'{name}' is not a permission; choose from {}", known.join("; ")))
            })?;
            wanted.push(RequiredAppRole { resource_app_id: resource.app_id, app_role_id: role.id });
        }
        self.request_app_roles(application, &wanted).await
    }

    /// Adds application permissions given by resource and role id (Graph's
    /// `requiredResourceAccess`); each must be a role of a built-in resource.
    pub async fn add_app_roles(&self, app_id: AppId, roles: &[RequiredAppRole]) -> AdminResult<Application> {
        let application = self.managed_application(app_id, "change an application's permissions").await?;
        for role in roles {
            built_in_resource(role.resource_app_id).and_then(|r| r.find_role_by_id(role.app_role_id)).ok_or_else(
                || {
                    AdminError::Refused(format!(
                        "{} is not an application permission (app role) of {}",
                        role.app_role_id, role.resource_app_id
                    ))
                },
            )?;
        }
        self.request_app_roles(application, roles).await
    }

    async fn request_app_roles(&self, application: Application, roles: &[RequiredAppRole]) -> AdminResult<Application> {
        let mut required = application.required_app_roles.clone();
        for role in roles {
            if !required.contains(role) {
                required.push(*role);
            }
        }
        self.store.set_required_app_roles(application.app_id, &required).await?;
        let names: Vec<&str> = roles
            .iter()
            .filter_map(|r| built_in_resource(r.resource_app_id).and_then(|res| res.find_role_by_id(r.app_role_id)))
            .map(|role| role.value)
            .collect();
        self.record(Change {
            tenant_id: application.home_tenant_id,
            application: Some(&application),
            category: AuditCategory::Directory,
            operation: "AddPermissions",
            target: application.app_id.to_string(),
            detail: format!("requested={}", names.join(",")),
        })
        .await;
        Ok(Application { required_app_roles: required, ..application })
    }

    /// Adds a client secret valid from now for `days` days.
    pub async fn add_secret(&self, app_id: AppId, description: &str, days: Option<i64>) -> AdminResult<CreatedSecret> {
        let application = self.managed_application(app_id, "add client secrets").await?;
        let days = days.unwrap_or(DEFAULT_SECRET_LIFETIME_DAYS);
        if !(1..=MAX_SECRET_LIFETIME_DAYS).contains(&days) {
            return Err(AdminError::Refused(format!(
                "a secret's lifetime must be 1 to {MAX_SECRET_LIFETIME_DAYS} days, not {days}"
            )));
        }
        let description = checked_description(description)?;
        let value = ClientSecret::generate()?;
        let now = self.now();
        let record = ClientSecretRecord {
            key_id: ObjectId::from_uuid(new_guid()?),
            app_id: application.app_id,
            description: description.to_owned(),
            hint: value.hint(),
            value_hash: self.hasher.hash(&value),
            start: now,
            end: now + Duration::days(days),
        };
        self.store.insert_client_secret(&record).await?;
        self.record(Change {
            tenant_id: application.home_tenant_id,
            application: Some(&application),
            category: AuditCategory::Credential,
            operation: "AddClientSecret",
            target: record.key_id.to_string(),
            detail: credential_detail(&record.description, record.start, record.end),
        })
        .await;
        Ok(CreatedSecret { record, value })
    }

    /// Adds a certificate credential from an upload (PEM or DER), valid as the certificate
    /// says. `description` defaults to the certificate's subject.
    pub async fn add_certificate(
        &self,
        app_id: AppId,
        upload: &[u8],
        description: Option<&str>,
    ) -> AdminResult<CertificateCredentialRecord> {
        let application = self.managed_application(app_id, "add certificates").await?;
        let certificate = Certificate::from_upload(upload)
            .map_err(|error| AdminError::Refused(format!("certificate refused: {error}")))?;
        if certificate.not_after() <= self.now() {
            let end =
                certificate.not_after().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            return Err(AdminError::Refused(format!("certificate refused: it expired on {end}")));
        }
        let description = match description {
            Some(description) => checked_description(description)?.to_owned(),
            None => certificate.subject().chars().take(256).collect(),
        };
        let record = CertificateCredentialRecord {
            key_id: ObjectId::from_uuid(new_guid()?),
            app_id: application.app_id,
            description,
            thumbprint: certificate.thumbprint(),
            thumbprint_sha256: certificate.thumbprint_sha256(),
            certificate_der: certificate.der().to_vec(),
            start: certificate.not_before(),
            end: certificate.not_after(),
        };
        self.store.insert_certificate_credential(&record).await.map_err(|error| match error {
            StoreError::Conflict(_) => {
                AdminError::Refused(format!("the application already has the certificate {}", record.thumbprint))
            }
            other => other.into(),
        })?;
        self.record(Change {
            tenant_id: application.home_tenant_id,
            application: Some(&application),
            category: AuditCategory::Credential,
            operation: "AddCertificate",
            target: record.key_id.to_string(),
            detail: format!(
                "thumbprint={}, {}",
                record.thumbprint,
                credential_detail(&record.description, record.start, record.end)
            ),
        })
        .await;
        Ok(record)
    }

    /// Removes a certificate credential, named by its key id or its thumbprint.
    pub async fn delete_certificate(&self, app_id: AppId, key_id_or_thumbprint: &str) -> AdminResult<()> {
        let application = self.managed_application(app_id, "remove certificates").await?;
        let not_found =
            || AdminError::NotFound { what: "certificate credential", name: key_id_or_thumbprint.to_owned() };
        let wanted = key_id_or_thumbprint.trim();
        let key_id = match ObjectId::parse(wanted) {
            Some(key_id) => key_id,
            None => self
                .store
                .list_certificate_credentials(application.app_id)
                .await?
                .into_iter()
                .find(|certificate| certificate.thumbprint.eq_ignore_ascii_case(wanted))
                .map(|certificate| certificate.key_id)
                .ok_or_else(not_found)?,
        };
        if !self.store.delete_certificate_credential(application.app_id, key_id).await? {
            return Err(not_found());
        }
        self.record(Change {
            tenant_id: application.home_tenant_id,
            application: Some(&application),
            category: AuditCategory::Credential,
            operation: "DeleteCertificate",
            target: key_id.to_string(),
            detail: String::new(),
        })
        .await;
        Ok(())
    }

    pub async fn list_certificates(&self, app_id: AppId) -> AdminResult<Vec<CertificateCredentialRecord>> {
        let application = self.get_application(app_id).await?;
        Ok(self.store.list_certificate_credentials(application.app_id).await?)
    }

    /// Whether `value` is a current (valid now) client secret of the application.
    pub async fn is_current_secret(&self, app_id: AppId, value: &ClientSecret) -> AdminResult<bool> {
        let now = self.clock.now();
        let secrets = self.list_secrets(app_id).await?;
        Ok(secrets.iter().any(|s| s.is_valid_at(now) && self.hasher.verify(value, &s.value_hash)))
    }

    pub async fn delete_secret(&self, app_id: AppId, key_id: ObjectId) -> AdminResult<()> {
        let application = self.managed_application(app_id, "remove client secrets").await?;
        let not_found = || AdminError::NotFound { what: "client secret", name: key_id.to_string() };
        if !self.store.delete_client_secret(application.app_id, key_id).await? {
            return Err(not_found());
        }
        self.record(Change {
            tenant_id: application.home_tenant_id,
            application: Some(&application),
            category: AuditCategory::Credential,
            operation: "DeleteClientSecret",
            target: key_id.to_string(),
            detail: String::new(),
        })
        .await;
        Ok(())
    }

    /// Every credential of the applications registered in `tenant` (or of `app`, or of all),
    /// soonest to end first, with where each stands now.
    pub async fn credential_report(
        &self,
        tenant: Option<&str>,
        app: Option<AppId>,
    ) -> AdminResult<Vec<CredentialReport>> {
        let applications = match app {
            Some(app) => vec![self.get_application(app).await?],
            None => self.list_applications(tenant).await?,
        };
        let tenants = self.store.list_tenants().await?;
        let now = self.now();
        let mut report = Vec::new();
        for application in applications {
            let home = tenants
                .iter()
                .find(|t| t.id == application.home_tenant_id)
                .map_or_else(|| application.home_tenant_id.to_string(), |t| t.initial_domain.to_string());
            for secret in self.store.list_client_secrets(application.app_id).await? {
                report.push(CredentialReport {
                    tenant: home.clone(),
                    app_id: application.app_id,
                    app_name: application.display_name.to_string(),
                    kind: "client secret",
                    key_id: secret.key_id,
                    state: secret.state_at(now),
                    description: secret.description,
                    hint: secret.hint,
                    end: secret.end,
                });
            }
            for certificate in self.store.list_certificate_credentials(application.app_id).await? {
                report.push(CredentialReport {
                    tenant: home.clone(),
                    app_id: application.app_id,
                    app_name: application.display_name.to_string(),
                    kind: "certificate",
                    key_id: certificate.key_id,
                    state: certificate.state_at(now),
                    description: certificate.description,
                    hint: certificate.thumbprint,
                    end: certificate.end,
                });
            }
        }
        report.sort_by_key(|credential| credential.end);
        Ok(report)
    }

    pub async fn list_secrets(&self, app_id: AppId) -> AdminResult<Vec<ClientSecretRecord>> {
        let application = self.get_application(app_id).await?;
        Ok(self.store.list_client_secrets(application.app_id).await?)
    }

    /// Consents to the application in `tenant` on behalf of the organisation: creates its
    /// service principal there and grants every Threat Protection permission it requests.
    /// The consent is recorded as given by the actor.
    pub async fn grant_consent(&self, tenant: &str, app_id: AppId) -> AdminResult<ConsentStatus> {
        let tenant = self.get_tenant(tenant).await?;
        self.require_global_admin(tenant.id, "grant consent").await?;
        let application = self.get_application(app_id).await?;
        if !application.may_be_used_in(tenant.id) {
            return Err(AdminError::Refused(format!(
                "application {} is registered for its home tenant only (AzureADMyOrg); register it as multi-tenant to consent in {}",
                application.app_id, tenant.display_name
            )));
        }
        // Each requested role of a built-in resource, granted on that resource's service
        // principal in the tenant.
        let principals = self.store.list_service_principals(tenant.id).await?;
        let mut roles = Vec::new();
        for required in &application.required_app_roles {
            let Some(resource) = built_in_resource(required.resource_app_id) else { continue };
            let principal = principals.iter().find(|p| p.app_id == resource.app_id).ok_or_else(|| {
                AdminError::Refused(format!("tenant {} has no {} service principal", tenant.id, resource.display_name))
            })?;
            roles.push(RoleGrant {
                resource_service_principal_id: principal.object_id,
                app_role_id: required.app_role_id,
                assignment_id: ObjectId::from_uuid(new_guid()?),
            });
        }
        let grant = ConsentGrant {
            tenant_id: tenant.id,
            app_id: application.app_id,
            new_service_principal_id: ObjectId::from_uuid(new_guid()?),
            service_principal_display_name: application.display_name.to_string(),
            roles,
            at: self.now(),
            consented_by: self.actor.name().to_owned(),
        };
        self.store.grant_consent(&grant).await?;
        let status = self
            .consent_status(&tenant, application.app_id)
            .await?
            .ok_or_else(|| AdminError::Refused("the consent was recorded but cannot be read back".into()))?;
        self.record(Change {
            tenant_id: tenant.id,
            application: Some(&application),
            category: AuditCategory::Consent,
            operation: "GrantConsent",
            target: application.app_id.to_string(),
            detail: format!("roles={}", status.roles.join(",")),
        })
        .await;
        Ok(status)
    }

    /// Removes the application's service principal from `tenant`, and with it every grant.
    pub async fn revoke_consent(&self, tenant: &str, app_id: AppId) -> AdminResult<()> {
        let tenant = self.get_tenant(tenant).await?;
        self.require_global_admin(tenant.id, "revoke consent").await?;
        let application = self.get_application(app_id).await?;
        if !self.store.revoke_consent(tenant.id, application.app_id).await? {
            return Err(AdminError::NotFound {
                what: "consent for application",
                name: format!("{} in {}", application.app_id, tenant.id),
            });
        }
        self.record(Change {
            tenant_id: tenant.id,
            application: Some(&application),
            category: AuditCategory::Consent,
            operation: "RevokeConsent",
            target: application.app_id.to_string(),
            detail: String::new(),
        })
        .await;
        Ok(())
    }

    /// The applications (other than built-in resources) present in `tenant`, with their roles.
    pub async fn list_consents(&self, tenant: &str) -> AdminResult<Vec<ConsentStatus>> {
        let tenant = self.get_tenant(tenant).await?;
        let principals = self.store.list_service_principals(tenant.id).await?;
        let assignments = self.store.list_app_role_assignments(tenant.id).await?;
        // The role values held, resource by resource in their catalogue order.
        let assignments = &assignments;
        let principals = &principals;
        let held = |principal: &ServicePrincipal| -> Vec<&'static str> {
            BUILT_IN_RESOURCES
                .into_iter()
                .flat_map(|resource| {
                    let resource_id = principals.iter().find(|p| p.app_id == resource.app_id).map(|p| p.object_id);
                    resource.roles.iter().filter(move |role| {
                        assignments.iter().any(|a| {
                            a.principal_id == principal.object_id
                                && Some(a.resource_id) == resource_id
                                && a.app_role_id == role.id
                        })
                    })
                })
                .map(|role| role.value)
                .collect()
        };
        Ok(principals
            .iter()
            .filter(|principal| built_in_resource(principal.app_id).is_none())
            .map(|principal| ConsentStatus {
                tenant_id: tenant.id,
                app_id: principal.app_id,
                display_name: principal.display_name.clone(),
                service_principal_id: principal.object_id,
                consented_by: principal.consented_by.clone(),
                consented_at: principal.consented_at,
                roles: held(principal),
            })
            .collect())
    }

    /// The service principals of `tenant` (the built-in resources' among them).
    pub async fn service_principals(&self, tenant: TenantId) -> AdminResult<Vec<ServicePrincipal>> {
        Ok(self.store.list_service_principals(tenant).await?)
    }

    /// The app role assignments of `tenant`.
    pub async fn app_role_assignments(&self, tenant: TenantId) -> AdminResult<Vec<AppRoleAssignment>> {
        Ok(self.store.list_app_role_assignments(tenant).await?)
    }

    /// Creates the application's service principal in `tenant`, with no roles (Graph's `POST
    /// /servicePrincipals`); roles are then assigned one by one ([`Self::assign_app_role`]).
    pub async fn create_service_principal(&self, tenant: TenantId, app_id: AppId) -> AdminResult<ServicePrincipal> {
        self.require_global_admin(tenant, "create service principals").await?;
        let application = self.get_application(app_id).await?;
        if !application.may_be_used_in(tenant) {
            return Err(AdminError::Refused(format!(
                "application {} is registered for its home tenant only (AzureADMyOrg)",
                application.app_id
            )));
        }
        if self.store.list_service_principals(tenant).await?.iter().any(|p| p.app_id == app_id) {
            return Err(AdminError::Conflict("service principal"));
        }
        let principal = self
            .store
            .grant_consent(&ConsentGrant {
                tenant_id: tenant,
                app_id,
                new_service_principal_id: ObjectId::from_uuid(new_guid()?),
                service_principal_display_name: application.display_name.to_string(),
                roles: Vec::new(),
                at: self.now(),
                consented_by: self.actor.name().to_owned(),
            })
            .await?;
        self.record(Change {
            tenant_id: tenant,
            application: Some(&application),
            category: AuditCategory::Consent,
            operation: "CreateServicePrincipal",
            target: principal.object_id.to_string(),
            detail: String::new(),
        })
        .await;
        Ok(principal)
    }

    /// Grants the client service principal `principal_id` the role `app_role_id` of the
    /// built-in resource whose service principal in `tenant` is `resource_id` (Graph's `POST
    /// /servicePrincipals/{id}/appRoleAssignedTo`). A role held already is a conflict.
    pub async fn assign_app_role(
        &self,
        tenant: TenantId,
        principal_id: ObjectId,
        resource_id: ObjectId,
        app_role_id: AppRoleId,
    ) -> AdminResult<AppRoleAssignment> {
        self.require_global_admin(tenant, "assign application roles").await?;
        let principals = self.store.list_service_principals(tenant).await?;
        let find = |id: ObjectId, what: &'static str| {
            principals
                .iter()
                .find(|p| p.object_id == id)
                .ok_or_else(|| AdminError::NotFound { what, name: id.to_string() })
        };
        let principal = find(principal_id, "service principal")?;
        let resource_principal = find(resource_id, "resource service principal")?;
        let resource = built_in_resource(resource_principal.app_id).ok_or_else(|| {
            AdminError::Refused(format!("service principal {resource_id} is not a resource that defines app roles"))
        })?;
        let role = resource.find_role_by_id(app_role_id).ok_or_else(|| {
            AdminError::Refused(format!("{app_role_id} is not an app role of {}", resource.display_name))
        })?;
        if built_in_resource(principal.app_id).is_some() {
            return Err(AdminError::Refused(format!("{} cannot be assigned app roles", principal.display_name)));
        }
        let held =
            self.store.list_app_role_assignments(tenant).await?.into_iter().any(|a| {
                a.principal_id == principal_id && a.resource_id == resource_id && a.app_role_id == app_role_id
            });
        if held {
            return Err(AdminError::Conflict("app role assignment"));
        }
        let application = self.store.find_application(principal.app_id).await?;
        self.store
            .grant_consent(&ConsentGrant {
                tenant_id: tenant,
                app_id: principal.app_id,
                new_service_principal_id: principal.object_id,
                service_principal_display_name: principal.display_name.clone(),
                roles: vec![RoleGrant {
                    resource_service_principal_id: resource_id,
                    app_role_id,
                    assignment_id: ObjectId::from_uuid(new_guid()?),
                }],
                at: self.now(),
                consented_by: self.actor.name().to_owned(),
            })
            .await?;
        let assignment = self
            .store
            .list_app_role_assignments(tenant)
            .await?
            .into_iter()
            .find(|a| a.principal_id == principal_id && a.resource_id == resource_id && a.app_role_id == app_role_id)
            .ok_or_else(|| AdminError::Refused("the assignment was recorded but cannot be read back".into()))?;
        self.record(Change {
            tenant_id: tenant,
            application: application.as_ref(),
            category: AuditCategory::Consent,
            operation: "AssignAppRole",
            target: assignment.id.to_string(),
            detail: format!("role={}", role.value),
        })
        .await;
        Ok(assignment)
    }

    /// Removes app role assignment `id` of `tenant`.
    pub async fn remove_app_role_assignment(&self, tenant: TenantId, id: ObjectId) -> AdminResult<()> {
        self.require_global_admin(tenant, "remove application roles").await?;
        let assignments = self.store.list_app_role_assignments(tenant).await?;
        let not_found = || AdminError::NotFound { what: "app role assignment", name: id.to_string() };
        let assignment = assignments.iter().find(|a| a.id == id).ok_or_else(not_found)?;
        let principals = self.store.list_service_principals(tenant).await?;
        let application = match principals.iter().find(|p| p.object_id == assignment.principal_id) {
            Some(principal) => self.store.find_application(principal.app_id).await?,
            None => None,
        };
        if !self.store.delete_app_role_assignment(tenant, id).await? {
            return Err(not_found());
        }
        self.record(Change {
            tenant_id: tenant,
            application: application.as_ref(),
            category: AuditCategory::Consent,
            operation: "RemoveAppRoleAssignment",
            target: id.to_string(),
            detail: String::new(),
        })
        .await;
        Ok(())
    }

    async fn consent_status(&self, tenant: &Tenant, app_id: AppId) -> AdminResult<Option<ConsentStatus>> {
        let statuses = self.list_consents(&tenant.id.to_string()).await?;
        Ok(statuses.into_iter().find(|status| status.app_id == app_id))
    }
}

/// A credential's description and validity, for the audit trail.
fn credential_detail(description: &str, start: OffsetDateTime, end: OffsetDateTime) -> String {
    let format = |time: OffsetDateTime| time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    format!("description={description:?}, start={}, end={}", format(start), format(end))
}

/// A credential's description: at most 256 characters, no control characters.
fn checked_description(description: &str) -> AdminResult<&str> {
    if description.chars().count() > 256 || description.chars().any(char::is_control) {
        return Err(AdminError::Refused("a description has at most 256 characters and no control characters".into()));
    }
    Ok(description)
}
