//! The storage traits. A backend implements all of them; `Store` bundles them for callers.

use std::collections::HashMap;

use async_trait::async_trait;
use threatgate_domain::odata::{Filter, IncidentQuery};
use threatgate_domain::{
    AppId, AppRoleAssignment, AppRoleId, Application, CertificateCredentialRecord, ClientSecretRecord, DomainName,
    IncidentId, KeyId, ObjectId, RequiredAppRole, ServicePrincipal, Tenant, TenantId, Ticks, UnixSeconds, Upn, User,
};
use threatgate_domain::{IngestAlerts, ReadAccessLog, ReadIncidents, RunHunting, TenantScope, WriteIncidents};
use threatgate_incidents::{AlertUpdate, IncidentUpdate, IngestAlert};
use threatgate_proto::incident::Comment;
use time::OffsetDateTime;

use crate::Result;

/// How a caller names a tenant it looks up.
#[derive(Debug, Clone, Copy)]
pub enum TenantKey<'a> {
    Id(TenantId),
    Domain(&'a DomainName),
}

/// Everything the token path reads, loaded at once to build an in-memory view.
#[derive(Debug, Clone, Default)]
pub struct DirectoryData {
    /// The revision the data was read at (see [`DirectoryStore::revision`]).
    pub revision: i64,
    pub tenants: Vec<Tenant>,
    pub applications: Vec<Application>,
    pub client_secrets: Vec<ClientSecretRecord>,
    pub certificates: Vec<CertificateCredentialRecord>,
    pub service_principals: Vec<ServicePrincipal>,
    pub app_role_assignments: Vec<AppRoleAssignment>,
}

/// A consent to record in one transaction: the client's service principal in `tenant_id`
/// (created unless it exists) and one assignment per role (kept when present).
#[derive(Debug, Clone)]
pub struct ConsentGrant {
    pub tenant_id: TenantId,
    pub app_id: AppId,
    /// Used only when the service principal does not exist yet.
    pub new_service_principal_id: ObjectId,
    pub service_principal_display_name: String,
    /// Each role granted: the resource's service principal in `tenant_id`, the role, and the
    /// id its assignment gets if it is new.
    pub roles: Vec<RoleGrant>,
    pub at: OffsetDateTime,
    /// Who consented: a user's UPN, or `threatgate` for the administration command line.
    pub consented_by: String,
}

/// One application role of a consent: the resource's service principal, the role, and the id
/// its assignment gets if it is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleGrant {
    pub resource_service_principal_id: ObjectId,
    pub app_role_id: AppRoleId,
    pub assignment_id: ObjectId,
}

/// The directory: tenants, users, applications, credentials, service principals and grants.
///
/// Every change bumps the directory revision, so that readers of [`DirectoryStore::load_directory`]
/// can tell cheaply whether their copy is current.
#[async_trait]
pub trait DirectoryStore: Send + Sync + std::fmt::Debug + 'static {
    /// A number that grows with every change to the directory or the signing keys.
    async fn revision(&self) -> Result<i64>;
    async fn load_directory(&self) -> Result<DirectoryData>;

    /// Creates a tenant with its domains and the service principals of the built-in resources.
    async fn insert_tenant(&self, tenant: &Tenant, built_in: &[ServicePrincipal]) -> Result<()>;
    async fn find_tenant(&self, key: TenantKey<'_>) -> Result<Option<Tenant>>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;

    async fn insert_user(&self, user: &User) -> Result<()>;
    async fn find_user_by_upn(&self, upn: &Upn) -> Result<Option<User>>;
    async fn list_users(&self, tenant: TenantId) -> Result<Vec<User>>;
    /// Replaces a user's password hash; returns whether the user exists.
    async fn set_user_password(&self, upn: &Upn, password_hash: &str) -> Result<bool>;

    /// Registers an application together with its service principal in the home tenant.
    async fn insert_application(
        &self,
        application: &Application,
        home_service_principal: &ServicePrincipal,
    ) -> Result<()>;
    async fn find_application(&self, app_id: AppId) -> Result<Option<Application>>;
    /// Applications registered in `home_tenant`, or all of them.
    async fn list_applications(&self, home_tenant: Option<TenantId>) -> Result<Vec<Application>>;
    async fn set_required_app_roles(&self, app_id: AppId, roles: &[RequiredAppRole]) -> Result<()>;

    async fn insert_client_secret(&self, secret: &ClientSecretRecord) -> Result<()>;
    /// Returns whether a secret was deleted.
    async fn delete_client_secret(&self, app_id: AppId, key_id: ObjectId) -> Result<bool>;
    async fn list_client_secrets(&self, app_id: AppId) -> Result<Vec<ClientSecretRecord>>;

    /// Adds a certificate credential; an application holds each certificate once.
    async fn insert_certificate_credential(&self, certificate: &CertificateCredentialRecord) -> Result<()>;
    /// Returns whether a certificate credential was deleted.
    async fn delete_certificate_credential(&self, app_id: AppId, key_id: ObjectId) -> Result<bool>;
    async fn list_certificate_credentials(&self, app_id: AppId) -> Result<Vec<CertificateCredentialRecord>>;

    /// Records a consent; returns the client's service principal in the tenant.
    async fn grant_consent(&self, grant: &ConsentGrant) -> Result<ServicePrincipal>;
    /// Removes the application's service principal in `tenant` and with it every assignment.
    /// Returns whether there was one.
    async fn revoke_consent(&self, tenant: TenantId, app_id: AppId) -> Result<bool>;
    async fn list_service_principals(&self, tenant: TenantId) -> Result<Vec<ServicePrincipal>>;
    async fn list_app_role_assignments(&self, tenant: TenantId) -> Result<Vec<AppRoleAssignment>>;
    /// Removes one app role assignment of `tenant`; returns whether it existed.
    async fn delete_app_role_assignment(&self, tenant: TenantId, id: ObjectId) -> Result<bool>;
}

/// A stored signing key. The private key is PKCS#8 DER.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: KeyId,
    pub private_key_pkcs8: Vec<u8>,
    pub certificate_der: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// From when this key may sign; it is published before.
    pub activates_at: OffsetDateTime,
    /// When the key stopped being published, if it has.
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// The token signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Keys not retired, oldest first.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<()>;
    /// Inserts `key` unless a published key already activates within `from..=until`, as one
    /// step for every process sharing the store: nodes that find the same key missing at the
    /// same time add it once. Returns whether it was inserted.
    async fn insert_signing_key_unless_published(
        &self,
        key: &SigningKeyRecord,
        from: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool>;
    /// Moves a key's activation time; returns whether the key exists (and is not retired).
    async fn set_signing_key_activation(&self, kid: &KeyId, activates_at: OffsetDateTime) -> Result<bool>;
    /// Stops publishing a key: it no longer signs nor verifies. Returns whether it was published.
    async fn retire_signing_key(&self, kid: &KeyId, at: OffsetDateTime) -> Result<bool>;
}

/// A page of incident documents, newest first.
#[derive(Debug, Clone, Default)]
pub struct IncidentPage {
    /// Each incident as served, without `@odata.context`.
    pub documents: Vec<String>,
    /// The incident id of each document, in the same order.
    pub ids: Vec<IncidentId>,
    /// Whether more incidents follow this page.
    pub more: bool,
    /// Whether an alert of the page has comments (asked for by `IncidentQuery::comment_flags`;
    /// `false` otherwise).
    pub commented: bool,
}

/// What an ingestion did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestReport {
    pub alerts_added: u64,
    pub duplicates_skipped: u64,
    pub incidents_created: u64,
    pub incidents_merged: u64,
}

/// Most comments one alert keeps.
pub const MAX_ALERT_COMMENTS: usize = 1000;

/// Most bytes of comments (as stored, JSON) one alert keeps: a page of a thousand alerts then
/// carries at most 64 MiB of them.
pub const MAX_ALERT_COMMENT_BYTES: usize = 64 * 1024;

/// How adding a comment to an alert ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentOutcome {
    /// Every comment of the alert, oldest first, the new one last.
    Added(Vec<Comment>),
    NotFound,
    /// The alert has [`MAX_ALERT_COMMENTS`] already, or this one would take its comments past
    /// [`MAX_ALERT_COMMENT_BYTES`].
    Full,
}

/// How an update ended.
#[derive(Debug, Clone)]
pub enum UpdateOutcome {
    Updated(String),
    NotFound,
    Refused(threatgate_incidents::UpdateError),
}

/// Incidents. Every method takes the tenant scope first; every query filters by its tenant.
#[async_trait]
pub trait IncidentStore: Send + Sync + 'static {
    async fn list_incidents(&self, scope: &TenantScope<ReadIncidents>, query: &IncidentQuery) -> Result<IncidentPage>;
    /// How many of the tenant's incidents `filter` keeps (all without one; Graph's
    /// `$count=true`, the portal's total).
    async fn count_incidents(&self, scope: &TenantScope<ReadIncidents>, filter: Option<&Filter>) -> Result<u64>;
    /// The incident an alert of the tenant was placed in, if the tenant has that alert.
    async fn alert_incident(&self, scope: &TenantScope<ReadIncidents>, alert_id: &str) -> Result<Option<IncidentId>>;
    /// The incident as served, if it exists in the scope's tenant.
    async fn get_incident(&self, scope: &TenantScope<ReadIncidents>, incident_id: IncidentId)
    -> Result<Option<String>>;
    /// Applies a change to one alert at `now`, in one transaction; the incident holding it as
    /// updated.
    async fn update_alert(
        &self,
        scope: &TenantScope<WriteIncidents>,
        alert_id: &str,
        update: &AlertUpdate,
        now: Ticks,
    ) -> Result<UpdateOutcome>;
    /// Appends a comment by the caller at `now` to the tenant's alert `alert_id` (at most
    /// [`MAX_ALERT_COMMENTS`] an alert, and [`MAX_ALERT_COMMENT_BYTES`] of them).
    async fn add_alert_comment(
        &self,
        scope: &TenantScope<WriteIncidents>,
        alert_id: &str,
        comment: &str,
        now: Ticks,
    ) -> Result<CommentOutcome>;
    /// The comments of those of `alert_ids` that the tenant has and that carry any.
    async fn alert_comments(
        &self,
        scope: &TenantScope<ReadIncidents>,
        alert_ids: &[&str],
    ) -> Result<HashMap<String, Vec<Comment>>>;
    /// Applies an update at `now`, in one transaction.
    async fn update_incident(
        &self,
        scope: &TenantScope<WriteIncidents>,
        incident_id: IncidentId,
        update: &IncidentUpdate,
        now: Ticks,
    ) -> Result<UpdateOutcome>;
    /// Adds checked alerts, correlating each with the tenant's open incidents that share an
    /// entity and were active within `window` ticks; one transaction for the batch. Each
    /// incident's `lastUpdateTime` moves to the alert's arrival time.
    async fn ingest_alerts(
        &self,
        scope: &TenantScope<IngestAlerts>,
        alerts: Vec<IngestAlert>,
        window: i64,
    ) -> Result<IngestReport>;
}

/// A signed-in portal session.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie value.
    pub token_hash: Vec<u8>,
    pub user_id: ObjectId,
    pub tenant_id: TenantId,
    pub upn: Upn,
    /// The session's anti-forgery token, echoed by every form.
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("user_id", &self.user_id)
            .field("tenant_id", &self.tenant_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Portal sessions.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    async fn insert_session(&self, session: &SessionRecord) -> Result<()>;
    /// The session with this token hash, if it has not expired at `now`.
    async fn find_session(&self, token_hash: &[u8], now: OffsetDateTime) -> Result<Option<SessionRecord>>;
    async fn delete_session(&self, token_hash: &[u8]) -> Result<()>;
    /// Removes expired sessions; returns how many.
    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64>;
}

/// The Threat Protection API operations the access log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AccessOperation {
    ListIncidents,
    GetIncident,
    UpdateIncident,
    IngestAlerts,
    IngestEvents,
    RunAdvancedHunting,
    /// Microsoft Graph's `POST /security/incidents/{id}/comments`.
    CommentIncident,
    /// Microsoft Graph's `alerts_v2`.
    ListAlerts,
    GetAlert,
    UpdateAlert,
    CommentAlert,
}

impl AccessOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ListIncidents => "ListIncidents",
            Self::GetIncident => "GetIncident",
            Self::UpdateIncident => "UpdateIncident",
            Self::IngestAlerts => "IngestAlerts",
            Self::IngestEvents => "IngestEvents",
            Self::RunAdvancedHunting => "RunAdvancedHunting",
            Self::CommentIncident => "CommentIncident",
            Self::ListAlerts => "ListAlerts",
            Self::GetAlert => "GetAlert",
            Self::UpdateAlert => "UpdateAlert",
            Self::CommentAlert => "CommentAlert",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::ListIncidents,
            Self::GetIncident,
            Self::UpdateIncident,
            Self::IngestAlerts,
            Self::IngestEvents,
            Self::RunAdvancedHunting,
            Self::CommentIncident,
            Self::ListAlerts,
            Self::GetAlert,
            Self::UpdateAlert,
            Self::CommentAlert,
        ]
        .into_iter()
        .find(|operation| operation.as_str() == text)
    }
}

/// One call of the Threat Protection API by an application, as the access log keeps it.
/// Never holds a token or a request body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    /// When the call was answered, in 100 ns ticks since the Unix epoch.
    #[serde(skip)]
    pub at: i64,
    pub tenant_id: TenantId,
    #[serde(rename = "applicationId")]
    pub app_id: AppId,
    #[serde(rename = "applicationName")]
    pub app_name: String,
    pub operation: AccessOperation,
    /// The incident a get or an update named.
    #[serde(skip)]
    pub incident_id: Option<IncidentId>,
    /// Every incident the call returned or changed.
    pub incident_ids: Vec<IncidentId>,
    /// The HTTP status answered.
    pub status: u16,
    /// What happened: a count, or the error code and message.
    pub result: String,
    /// The query string of a list (`$filter`, `$top`, `$skip`), or the fields an update set.
    pub detail: String,
    pub request_id: String,
    pub client_address: Option<String>,
}

/// An entry with the position the log gave it (ascending, never reused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccessEntry {
    pub id: i64,
    pub entry: AccessEntry,
}

impl StoredAccessEntry {
    /// The entry as one line of JSON (no newline): `id`, `time` as the API prints datetimes,
    /// then the entry's fields.
    pub fn json_line(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            id: i64,
            time: String,
            #[serde(flatten)]
            entry: &'a AccessEntry,
        }
        let line =
            Line { id: self.id, time: threatgate_domain::datetime::format_ticks(self.entry.at), entry: &self.entry };
        serde_json::to_string(&line).unwrap_or_default()
    }
}

/// Which entries of a tenant's access log to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AccessLogQuery {
    /// Only entries at or after these ticks.
    pub since: Option<i64>,
    /// Only gets and updates of this incident.
    pub incident_id: Option<IncidentId>,
    /// Only entries before this id (the next page after a page ending at it).
    pub before_id: Option<i64>,
    /// Only entries before these ticks.
    pub until: Option<i64>,
    /// Also the entries of these applications in every other tenant (a partner's view of
    /// what its applications did).
    pub applications: Vec<AppId>,
    pub limit: u32,
}

/// The partner access log: append-only, read per tenant.
#[async_trait]
pub trait AccessLogStore: Send + Sync + 'static {
    /// Appends entries in one transaction, in order.
    async fn append_access_entries(&self, entries: &[AccessEntry]) -> Result<()>;
    async fn list_access_entries(
        &self,
        scope: &TenantScope<ReadAccessLog>,
        query: &AccessLogQuery,
    ) -> Result<Vec<StoredAccessEntry>>;
    /// The retention cleanup: removes entries older than `before`; entries younger
    /// than a day are never removed. Returns how many went.
    async fn delete_access_entries_before(&self, before: Ticks) -> Result<u64>;
}

/// What an audit event is about. API calls are in the access log; the audit trail shows them
/// as the category `api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AuditCategory {
    /// Tenants, users, applications and their permissions.
    Directory,
    /// Client secrets and certificates added or removed.
    Credential,
    /// Consent given or revoked.
    Consent,
    /// A token issued.
    Token,
    /// A portal sign-in, accepted or refused.
    SignIn,
}

impl AuditCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Directory => "directory",
            Self::Credential => "credential",
            Self::Consent => "consent",
            Self::Token => "token",
            Self::SignIn => "signIn",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Directory, Self::Credential, Self::Consent, Self::Token, Self::SignIn]
            .into_iter()
            .find(|category| category.as_str() == text)
    }
}

/// A change or a token issued, as the audit trail keeps it. Never holds a secret, a password
/// or a token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// When it happened, in 100 ns ticks since the Unix epoch.
    #[serde(skip)]
    pub at: i64,
    /// Where it happened: the customer's tenant for a consent or a token, the home tenant for
    /// an application's own changes.
    pub tenant_id: TenantId,
    #[serde(rename = "applicationId")]
    pub app_id: Option<AppId>,
    /// The application's home tenant: the partner sees its applications' events everywhere.
    #[serde(skip)]
    pub app_tenant_id: Option<TenantId>,
    #[serde(rename = "applicationName")]
    pub app_name: String,
    /// Written by [`crate::AuditRecord::json_line`] as the line's second field.
    #[serde(skip)]
    pub category: AuditCategory,
    /// What was done, e.g. `AddCertificate`, `GrantConsent`, `IssueToken`.
    pub operation: String,
    /// Who did it: a user's UPN, `threatgate (command line)`, or the application for a token.
    pub actor: String,
    /// What it was done to: a domain, a UPN, a credential's key id, a resource.
    pub target: String,
    pub result: String,
    /// More about it: roles granted, a credential's dates, a token's roles and credential type.
    pub detail: String,
    pub client_address: Option<String>,
}

/// An audit event with the position the trail gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    pub id: i64,
    pub event: AuditEvent,
}

/// Which audit events of a tenant to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only events at or after these ticks.
    pub since: Option<i64>,
    /// Only events before these ticks.
    pub until: Option<i64>,
    pub limit: u32,
}

/// The audit trail beyond API calls: append-only, read per tenant.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends events in one transaction, in order.
    async fn append_audit_events(&self, events: &[AuditEvent]) -> Result<()>;
    /// The events that happened in the scope's tenant or were done by an application
    /// registered in it, newest first.
    async fn list_audit_events(
        &self,
        scope: &TenantScope<ReadAccessLog>,
        query: &AuditQuery,
    ) -> Result<Vec<StoredAuditEvent>>;
    /// The retention cleanup, as [`AccessLogStore::delete_access_entries_before`].
    async fn delete_audit_events_before(&self, before: Ticks) -> Result<u64>;
}

/// An incident with everything stored about it, for copying a store into another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    pub incident_id: i64,
    pub tenant_id: TenantId,
    pub status: String,
    pub assigned_to: Option<String>,
    pub created_time: i64,
    pub last_update_time: i64,
    pub last_activity: i64,
    /// The incident as served.
    pub document: String,
    /// The alerts placed in it.
    pub alert_ids: Vec<String>,
    /// The comments of those of its alerts that have any: the alert id and the stored JSON.
    pub alert_comments: Vec<(String, String)>,
    /// The entity keys it is found by.
    pub entity_keys: Vec<String>,
}

pub use threatgate_hunting::events::{EventRow, EventValue};

/// How much one hunting query may return and take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HuntLimits {
    /// More rows than this is an error (spec 7.1: 100,000).
    pub max_rows: u64,
    /// A query running longer is cancelled.
    pub timeout: std::time::Duration,
}

/// A hunting query's answer: the columns, then each row's values in column order, ready for
/// the API's `Results` (datetimes as the API writes them, `dynamic` parsed).
#[derive(Debug, Clone, PartialEq)]
pub struct HuntOutput {
    pub fields: Vec<threatgate_hunting::plan::Field>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// What a hunting query did not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HuntRefusal {
    /// It would return more than `HuntLimits::max_rows` rows.
    TooManyRows,
    /// It ran longer than `HuntLimits::timeout`.
    Timeout,
    /// The row sink asked to stop (e.g. the results grew past a size limit).
    Stopped,
    /// A client's mistake that only running the query showed (a regular expression the
    /// database cannot compile, arithmetic out of range): what the database said, in words
    /// for the client.
    Invalid(String),
}

/// Takes a hunting query's rows one at a time, as the database hands them over (each row's
/// values in column order, as in [`HuntOutput`]); returns `false` to stop the query, which then
/// reads no further rows. The caller decides what a row costs and keeps only what it needs.
pub type RowSink<'a> = dyn FnMut(Vec<serde_json::Value>) -> bool + Send + 'a;

/// The advanced hunting tables: events appended per tenant, KQL plans run over them.
#[async_trait]
pub trait HuntingStore: Send + Sync + 'static {
    /// Appends rows to `table`; each row holds one value (or none) per column of the table, in
    /// the schema's order. Returns the rows added.
    async fn insert_events(
        &self,
        scope: &TenantScope<IngestAlerts>,
        table: &'static threatgate_hunting::schema::Table,
        rows: &[EventRow],
    ) -> Result<u64>;

    /// Runs a bound query over the tenant's rows at `now`, handing each row to `sink`
    /// as it is read, so that what a query returns never has to be held whole. Returns the
    /// output columns.
    async fn stream_hunt(
        &self,
        scope: &TenantScope<RunHunting>,
        relation: &threatgate_hunting::plan::Relation,
        now: Ticks,
        limits: HuntLimits,
        sink: &mut RowSink<'_>,
    ) -> Result<std::result::Result<Vec<threatgate_hunting::plan::Field>, HuntRefusal>>;

    /// Runs a bound query and collects its rows (for small answers: tests, the demo's check).
    async fn run_hunt(
        &self,
        scope: &TenantScope<RunHunting>,
        relation: &threatgate_hunting::plan::Relation,
        now: Ticks,
        limits: HuntLimits,
    ) -> Result<std::result::Result<HuntOutput, HuntRefusal>> {
        let mut rows = Vec::new();
        let mut collect = |row| {
            rows.push(row);
            true
        };
        Ok(self
            .stream_hunt(scope, relation, now, limits, &mut collect)
            .await?
            .map(|fields| HuntOutput { fields, rows }))
    }

    /// Deletes events with a `Timestamp` before `before`, every tenant's.
    async fn delete_events_before(&self, before: Ticks) -> Result<u64>;

    /// Brings the query planner's statistics of the event tables up to date where they changed
    /// much since last taken (after a bulk load, and hourly): without them SQLite picks plans
    /// blind, e.g. reading a week of events instead of the few rows a term index finds.
    /// PostgreSQL's autovacuum does this itself.
    async fn refresh_event_statistics(&self) -> Result<()>;

    /// How many `insert_events` calls are worth running at once: SQLite has one writer (and
    /// writers taking turns without a pause starve its WAL checkpoints, so the WAL file grows
    /// without bound), PostgreSQL writes each on a connection of its own.
    fn event_writers(&self) -> usize;

    /// How many hunting queries can run at once without waiting for a connection (and, where
    /// the pool is shared, leaving most of it to the rest of the API).
    fn hunt_connections(&self) -> usize;
}

/// Bulk reading and writing for `threatgate migrate`: what the other traits do not expose
/// (incidents with their ids and correlation rows, the logs in order).
#[async_trait]
pub trait TransferStore: Send + Sync + 'static {
    /// Incidents of every tenant.
    async fn count_all_incidents(&self) -> Result<u64>;
    /// Incidents with ids above `after_id`, ascending, at most `limit`.
    async fn export_incidents(&self, after_id: i64, limit: u32) -> Result<Vec<IncidentRecord>>;
    /// Writes incidents as they are (ids included) in one transaction; new incidents get ids
    /// above every imported one.
    async fn import_incidents(&self, incidents: &[IncidentRecord]) -> Result<()>;
    /// Access log entries with ids above `after_id`, oldest first.
    async fn export_access_entries(&self, after_id: i64, limit: u32) -> Result<Vec<StoredAccessEntry>>;
    /// Audit events with ids above `after_id`, oldest first.
    async fn export_audit_events(&self, after_id: i64, limit: u32) -> Result<Vec<StoredAuditEvent>>;
    /// Hunting events of `table`, every tenant's, in storage order: the page after `after` (the
    /// previous page's `next`; `None` for the first), at most `limit` rows.
    async fn export_events(
        &self,
        table: &'static threatgate_hunting::schema::Table,
        after: Option<String>,
        limit: u32,
    ) -> Result<EventPage>;
    /// Appends a page's events of one tenant to `table` (the other side of `export_events`).
    async fn import_events(
        &self,
        tenant: TenantId,
        table: &'static threatgate_hunting::schema::Table,
        rows: &[EventRow],
    ) -> Result<u64>;
    /// Brings the query planner's statistics up to date (after a bulk copy).
    async fn refresh_statistics(&self) -> Result<()>;
}

/// One page of a hunting table's events for [`TransferStore::export_events`].
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub rows: Vec<(TenantId, EventRow)>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<String>,
}

/// Calls counted in one quota window: by one node since its last report (when adding), or by
/// every node (when read back).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuotaCount {
    /// `tenant/application/api`.
    pub key: String,
    pub length_seconds: i64,
    /// Unix seconds / `length_seconds`.
    pub window_index: i64,
    pub calls: i64,
}

/// Quota counts shared by the nodes on one database.
#[async_trait]
pub trait QuotaStore: Send + Sync + 'static {
    /// Adds each count (0 adds nothing) to its window's total, in one statement, and returns
    /// every window's total after the addition, in the same order.
    async fn add_quota_counts(&self, counts: &[QuotaCount]) -> Result<Vec<QuotaCount>>;
    /// Removes windows that ended before `window_start`; returns how many.
    async fn delete_quota_counts_before(&self, window_start: UnixSeconds) -> Result<u64>;
}

/// A saved copy of the store's state to return to: the emulator's reset. Saved are the
/// directory (tenants, applications, secrets, consents, keys, sessions), incidents with their
/// alerts and comments, quota counts and the hunting events; the partner access log and the
/// audit trail are append-only and stay as they are. Id sequences return with the rows, so an
/// incident created after a reset gets the id it would have got after the save.
#[async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    /// Saves the current state as the checkpoint, replacing the previous one (the old one stays
    /// whole until the new one is complete).
    async fn save_checkpoint(&self) -> Result<()>;
    /// Puts every saved table back as it was at the last save, in one transaction per database
    /// file (SQLite) or one transaction (PostgreSQL). `NotFound("checkpoint")` when none was
    /// saved.
    async fn restore_checkpoint(&self) -> Result<()>;
}

/// Everything a backend provides.
pub trait Store:
    DirectoryStore
    + KeyStore
    + IncidentStore
    + SessionStore
    + AccessLogStore
    + AuditStore
    + TransferStore
    + QuotaStore
    + HuntingStore
    + CheckpointStore
{
}

impl<T> Store for T where
    T: DirectoryStore
        + KeyStore
        + IncidentStore
        + SessionStore
        + AccessLogStore
        + AuditStore
        + TransferStore
        + QuotaStore
        + HuntingStore
        + CheckpointStore
{
}
