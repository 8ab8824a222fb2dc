//! Threatgate's domain: the identifiers, names and rules of the directory (tenants, users,
//! applications, service principals, app roles) and the built-in Threat Protection resource.
//!
//! This crate does no IO: no files, no network, no clock, no randomness. Callers pass the
//! current time and any random values in, so every rule here is a plain function to test.

pub mod datetime;
pub mod directory;
pub mod ids;
pub mod incidents;
pub mod names;
pub mod odata;
pub mod resource;

pub use datetime::{Ticks, UnixSeconds};
pub use directory::{
    AppRoleAssignment, Application, CertificateCredentialRecord, ClientSecretRecord, CredentialState,
    EXPIRY_WARNING_DAYS, RequiredAppRole, ServicePrincipal, SignInAudience, Tenant, User, UserRole,
};
pub use ids::{AppId, AppRoleId, IncidentId, KeyId, ObjectId, TenantId};
pub use incidents::{
    Classification, Correlation, Determination, GraphAssignAppRoles, GraphReadAlerts, GraphReadApplications,
    GraphReadIncidents, GraphRunHunting, GraphWriteAlerts, GraphWriteApplications, GraphWriteIncidents, IncidentStatus,
    IngestAlerts, Permission, ReadAccessLog, ReadIncidents, RunHunting, Severity, TenantScope, WriteIncidents,
    correlate, incident_name,
};
pub use names::{DisplayName, DomainName, NameError, RedirectUri, TenantSegment, Upn};
pub use resource::{
    AppRole, BUILT_IN_RESOURCES, BuiltInResource, MICROSOFT_GRAPH, THREAT_PROTECTION, built_in_resource,
    built_in_resource_named, built_in_role, requested_roles,
};
