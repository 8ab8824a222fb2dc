//! Copying a whole store into an empty one (`threatgate migrate`): the directory through the
//! ordinary trait methods, incidents, the logs and the hunting events in pages through
//! [`crate::TransferStore`]; then the target's statistics are refreshed (`ANALYZE`).
//! Works between any two backends.
//!
//! Not copied: portal sessions (people sign in again). Kept as they were: every id (tenants,
//! applications, secrets, incidents…), secret hashes, sealed signing keys. Service principals
//! created by a consent take the consent's time as their creation time.

use threatgate_domain::{TenantId, built_in_resource};
use threatgate_hunting::schema;

use crate::{ConsentGrant, EventRow, RoleGrant, Store, StoreError};

/// Incidents (or log records) per page.
const PAGE: u32 = 5_000;

/// Why a copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target database is not empty ({0}); migrate into a new, empty database")]
    TargetNotEmpty(&'static str),
    #[error("the source is inconsistent: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    pub tenants: u64,
    pub users: u64,
    pub applications: u64,
    pub client_secrets: u64,
    pub certificates: u64,
    pub consents: u64,
    pub signing_keys: u64,
    pub incidents: u64,
    pub access_log_entries: u64,
    pub audit_events: u64,
    pub hunting_events: u64,
}

/// Where a copy is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyProgress {
    /// The directory and keys are copied.
    Directory,
    /// Incidents copied so far, of `total`.
    Incidents { done: u64, total: u64 },
    /// Access log entries and audit events copied so far.
    Logs { done: u64 },
    /// Hunting events copied so far, the last of them of `table`.
    Events { table: &'static str, done: u64 },
}

/// Copies everything in `from` into `to`, which must be empty.
pub async fn copy_store(
    from: &dyn Store,
    to: &dyn Store,
    mut progress: impl FnMut(CopyProgress),
) -> Result<CopyReport, CopyError> {
    refuse_unless_empty(to).await?;
    let mut report = CopyReport::default();
    copy_directory(from, to, &mut report).await?;
    for key in from.list_signing_keys().await? {
        to.insert_signing_key(&key).await?;
        report.signing_keys += 1;
    }
    progress(CopyProgress::Directory);

    let total = from.count_all_incidents().await?;
    let mut after = 0;
    loop {
        let page = from.export_incidents(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.incident_id;
        to.import_incidents(&page).await?;
        report.incidents += page.len() as u64;
        progress(CopyProgress::Incidents { done: report.incidents, total });
    }

    let mut after = 0;
    loop {
        let page = from.export_access_entries(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let entries: Vec<_> = page.into_iter().map(|stored| stored.entry).collect();
        to.append_access_entries(&entries).await?;
        report.access_log_entries += entries.len() as u64;
        progress(CopyProgress::Logs { done: report.access_log_entries + report.audit_events });
    }
    let mut after = 0;
    loop {
        let page = from.export_audit_events(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let events: Vec<_> = page.into_iter().map(|stored| stored.event).collect();
        to.append_audit_events(&events).await?;
        report.audit_events += events.len() as u64;
        progress(CopyProgress::Logs { done: report.access_log_entries + report.audit_events });
    }
    for table in schema::TABLES {
        let mut after = None;
        loop {
            let page = from.export_events(table, after, EVENT_PAGE).await?;
            // Each tenant's rows of the page, in their order, in one write.
            let mut tenants: Vec<(TenantId, Vec<EventRow>)> = Vec::new();
            for (tenant, row) in page.rows {
                match tenants.iter_mut().find(|(t, _)| *t == tenant) {
                    Some((_, rows)) => rows.push(row),
                    None => tenants.push((tenant, vec![row])),
                }
            }
            for (tenant, rows) in tenants {
                report.hunting_events += to.import_events(tenant, table, &rows).await?;
            }
            progress(CopyProgress::Events { table: table.name, done: report.hunting_events });
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    // The target's planner has seen none of this yet.
    to.refresh_statistics().await?;
    Ok(report)
}

/// Hunting events per page.
const EVENT_PAGE: u32 = 10_000;

async fn refuse_unless_empty(to: &dyn Store) -> Result<(), CopyError> {
    if !to.list_tenants().await?.is_empty() {
        return Err(CopyError::TargetNotEmpty("it has tenants"));
    }
    if !to.list_signing_keys().await?.is_empty() {
        return Err(CopyError::TargetNotEmpty("it has signing keys"));
    }
    if !to.export_access_entries(0, 1).await?.is_empty() || !to.export_audit_events(0, 1).await?.is_empty() {
        return Err(CopyError::TargetNotEmpty("it has log records"));
    }
    Ok(())
}

async fn copy_directory(from: &dyn Store, to: &dyn Store, report: &mut CopyReport) -> Result<(), CopyError> {
    let data = from.load_directory().await?;
    let is_built_in = |app_id| built_in_resource(app_id).is_some();
    for tenant in &data.tenants {
        let built_in: Vec<_> = data
            .service_principals
            .iter()
            .filter(|p| p.tenant_id == tenant.id && is_built_in(p.app_id))
            .cloned()
            .collect();
        to.insert_tenant(tenant, &built_in).await?;
        report.tenants += 1;
        for user in from.list_users(tenant.id).await? {
            to.insert_user(&user).await?;
            report.users += 1;
        }
    }
    for application in &data.applications {
        let home = data
            .service_principals
            .iter()
            .find(|p| p.tenant_id == application.home_tenant_id && p.app_id == application.app_id)
            .ok_or_else(|| {
                CopyError::Inconsistent(format!("application {} has no home service principal", application.app_id))
            })?;
        to.insert_application(application, home).await?;
        report.applications += 1;
    }
    for secret in &data.client_secrets {
        to.insert_client_secret(secret).await?;
        report.client_secrets += 1;
    }
    for certificate in &data.certificates {
        to.insert_certificate_credential(certificate).await?;
        report.certificates += 1;
    }
    // Every consent: a service principal of an application with its grants.
    for principal in data.service_principals.iter().filter(|p| !is_built_in(p.app_id)) {
        let roles: Vec<RoleGrant> = data
            .app_role_assignments
            .iter()
            .filter(|a| a.principal_id == principal.object_id)
            .map(|a| RoleGrant {
                resource_service_principal_id: a.resource_id,
                app_role_id: a.app_role_id,
                assignment_id: a.id,
            })
            .collect();
        if roles.is_empty() && principal.consented_by.is_none() {
            continue; // a home service principal nobody consented for: copied with its application
        }
        let grant = ConsentGrant {
            tenant_id: principal.tenant_id,
            app_id: principal.app_id,
            new_service_principal_id: principal.object_id,
            service_principal_display_name: principal.display_name.clone(),
            roles,
            at: principal.consented_at.unwrap_or(principal.created_at),
            consented_by: principal.consented_by.clone().unwrap_or_else(|| "(not recorded)".into()),
        };
        to.grant_consent(&grant).await?;
        report.consents += 1;
    }
    Ok(())
}
