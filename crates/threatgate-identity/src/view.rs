//! An immutable in-memory view of the directory, built from one consistent read of the store
//! and swapped whole when the store's revision moves. The token path reads only this view, so
//! issuing a token touches no database.

use std::collections::HashMap;

use threatgate_domain::{
    AppId, AppRoleId, Application, BuiltInResource, ClientSecretRecord, ObjectId, ServicePrincipal, Tenant, TenantId,
    TenantSegment,
};
use threatgate_store::DirectoryData;

use crate::assertion::RegisteredCertificate;
use crate::certificates::Certificate;

/// The directory as of one revision.
#[derive(Debug, Default)]
pub struct DirectoryView {
    revision: i64,
    tenants: HashMap<TenantId, Tenant>,
    tenant_by_domain: HashMap<String, TenantId>,
    applications: HashMap<AppId, ApplicationEntry>,
    principals: HashMap<(TenantId, AppId), PrincipalEntry>,
}

/// An application with its credentials.
#[derive(Debug)]
pub struct ApplicationEntry {
    pub application: Application,
    pub secrets: Vec<ClientSecretRecord>,
    pub certificates: Vec<RegisteredCertificate>,
}

/// A service principal with the roles it holds, per resource service principal.
#[derive(Debug)]
pub struct PrincipalEntry {
    pub principal: ServicePrincipal,
    pub roles_by_resource: HashMap<ObjectId, Vec<AppRoleId>>,
}

/// How a tenant path segment resolved.
#[derive(Debug, Clone, Copy)]
pub enum ResolvedTenant<'a> {
    Tenant(&'a Tenant),
    /// `common`, `organizations` or `consumers`.
    Alias,
}

impl DirectoryView {
    pub fn build(data: DirectoryData) -> Self {
        let mut view = Self { revision: data.revision, ..Self::default() };
        for tenant in data.tenants {
            for domain in &tenant.domains {
                view.tenant_by_domain.insert(domain.to_string(), tenant.id);
            }
            view.tenants.insert(tenant.id, tenant);
        }
        for application in data.applications {
            view.applications.insert(
                application.app_id,
                ApplicationEntry { application, secrets: Vec::new(), certificates: Vec::new() },
            );
        }
        for secret in data.client_secrets {
            if let Some(entry) = view.applications.get_mut(&secret.app_id) {
                entry.secrets.push(secret);
            }
        }
        for record in data.certificates {
            // Checked when it was added; a stored certificate that no longer parses cannot
            // verify anything, so it is left out (and said so).
            let certificate = match Certificate::from_der(&record.certificate_der) {
                Ok(certificate) => certificate,
                Err(error) => {
                    tracing::warn!(app_id = %record.app_id, key_id = %record.key_id, %error, "stored certificate credential unusable");
                    continue;
                }
            };
            if let Some(entry) = view.applications.get_mut(&record.app_id) {
                entry.certificates.push(RegisteredCertificate { record, certificate });
            }
        }
        let mut principal_keys: HashMap<ObjectId, (TenantId, AppId)> = HashMap::new();
        for principal in data.service_principals {
            let key = (principal.tenant_id, principal.app_id);
            principal_keys.insert(principal.object_id, key);
            view.principals.insert(key, PrincipalEntry { principal, roles_by_resource: HashMap::new() });
        }
        for assignment in data.app_role_assignments {
            let entry = principal_keys.get(&assignment.principal_id).and_then(|key| view.principals.get_mut(key));
            if let Some(entry) = entry {
                entry.roles_by_resource.entry(assignment.resource_id).or_default().push(assignment.app_role_id);
            }
        }
        view
    }

    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Resolves a path segment: a tenant by GUID or by any of its domains, or an alias.
    /// `None` when no tenant has that id or domain.
    pub fn resolve(&self, segment: &TenantSegment) -> Option<ResolvedTenant<'_>> {
        match segment {
            TenantSegment::Id(id) => self.tenants.get(id).map(ResolvedTenant::Tenant),
            TenantSegment::Domain(domain) => self
                .tenant_by_domain
                .get(domain.as_str())
                .and_then(|id| self.tenants.get(id))
                .map(ResolvedTenant::Tenant),
            TenantSegment::Common | TenantSegment::Organizations | TenantSegment::Consumers => {
                Some(ResolvedTenant::Alias)
            }
        }
    }

    pub fn tenant(&self, id: TenantId) -> Option<&Tenant> {
        self.tenants.get(&id)
    }

    pub fn application(&self, app_id: AppId) -> Option<&ApplicationEntry> {
        self.applications.get(&app_id)
    }

    pub fn service_principal(&self, tenant: TenantId, app_id: AppId) -> Option<&PrincipalEntry> {
        self.principals.get(&(tenant, app_id))
    }

    /// The role values of `resource` that the application's service principal holds in
    /// `tenant`, in the resource's catalogue order.
    pub fn roles(&self, tenant: TenantId, app_id: AppId, resource: &BuiltInResource) -> Vec<&'static str> {
        let Some(client) = self.service_principal(tenant, app_id) else {
            return Vec::new();
        };
        let Some(resource_principal) = self.service_principal(tenant, resource.app_id) else {
            return Vec::new();
        };
        let held = client.roles_by_resource.get(&resource_principal.principal.object_id);
        resource
            .roles
            .iter()
            .filter(|role| held.is_some_and(|ids| ids.contains(&role.id)))
            .map(|role| role.value)
            .collect()
    }
}
