//! Incidents and alerts: the enumerations of `threat-protection-api.md` section 3, the tenant
//! scope every incident operation takes, and the correlation rules (pure functions).

use std::fmt;
use std::marker::PhantomData;

use crate::ids::{AppId, IncidentId, TenantId};

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),* }

        impl $name {
            /// Every value, in the documented order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The value as on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),* }
            }

            /// Parses the wire value; case-sensitive, as the API is.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $(stringify!($variant) => Some($name::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Incident status (MTP values and the later `InProgress`).
    IncidentStatus { Active, InProgress, Resolved, Redirected }
);
wire_enum!(
    /// Incident and alert severity, lowest first.
    Severity { UnSpecified, Informational, Low, Medium, High }
);
wire_enum!(
    /// Incident classification: MTP values and the later superset (spec README decision 9).
    Classification { Unknown, FalsePositive, TruePositive, InformationalExpectedActivity }
);
wire_enum!(
    /// Incident determination: MTP values and the later superset (spec section 3.6).
    Determination {
        NotAvailable, Apt, Malware, SecurityPersonnel, SecurityTesting, UnwantedSoftware, Other,
        MultiStagedAttack, MaliciousUserActivity, CompromisedAccount, CompromisedUser, Phishing,
        LineOfBusinessApplication, ConfirmedActivity, ConfirmedUserActivity, Clean, NoEnoughDataToValidate,
        InsufficientData,
    }
);

impl IncidentStatus {
    /// Open incidents take new alerts: Active and InProgress.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Active | Self::InProgress)
    }
}

/// What a caller may do with a tenant's incidents. Marker types for [`TenantScope`].
pub trait Permission: fmt::Debug + Send + Sync + 'static {
    /// The resource whose tokens carry this permission (the token's audience).
    const RESOURCE: &'static crate::BuiltInResource = &crate::THREAT_PROTECTION;
    /// A token needs one of these roles (canonical values) for this permission.
    const ROLES: &'static [&'static str];
    /// Whether the caller's application must be registered in the tenant itself (the
    /// tenant's own detection sources), not a partner's.
    const OWN_APPLICATION_ONLY: bool = false;
}

/// List and get incidents (`Incident.Read.All` or `Incident.ReadWrite.All`).
#[derive(Debug)]
pub enum ReadIncidents {}
/// Update incidents (`Incident.ReadWrite.All`).
#[derive(Debug)]
pub enum WriteIncidents {}
/// Add alerts to the tenant's incidents (its own detection sources and administrators).
#[derive(Debug)]
pub enum IngestAlerts {}
/// Run advanced hunting queries over the tenant's events (`AdvancedHunting.Read.All`).
#[derive(Debug)]
pub enum RunHunting {}
/// Read the tenant's partner access log. No application role grants it: only the tenant's
/// administrators, in the portal or the command line.
#[derive(Debug)]
pub enum ReadAccessLog {}

impl Permission for ReadIncidents {
    const ROLES: &'static [&'static str] = &["Incident.Read.All", "Incident.ReadWrite.All"];
}
impl Permission for WriteIncidents {
    const ROLES: &'static [&'static str] = &["Incident.ReadWrite.All"];
}
impl Permission for IngestAlerts {
    const ROLES: &'static [&'static str] = &["Incident.ReadWrite.All"];
    const OWN_APPLICATION_ONLY: bool = true;
}
impl Permission for RunHunting {
    const ROLES: &'static [&'static str] = &["AdvancedHunting.Read.All"];
}
impl Permission for ReadAccessLog {
    const ROLES: &'static [&'static str] = &[];
}

/// List and get incidents through Microsoft Graph (`SecurityIncident.Read.All` or
/// `SecurityIncident.ReadWrite.All`): the same incidents as [`ReadIncidents`], another view.
#[derive(Debug)]
pub enum GraphReadIncidents {}
/// List and get alerts through Microsoft Graph (`SecurityAlert.Read.All` or
/// `SecurityAlert.ReadWrite.All`; Graph also lets the incident roles read alerts).
#[derive(Debug)]
pub enum GraphReadAlerts {}
/// Change alerts through Microsoft Graph (`SecurityAlert.ReadWrite.All`).
#[derive(Debug)]
pub enum GraphWriteAlerts {}
/// Update incidents and comment on them through Microsoft Graph
/// (`SecurityIncident.ReadWrite.All`).
#[derive(Debug)]
pub enum GraphWriteIncidents {}
/// Run hunting queries through Microsoft Graph (`ThreatHunting.Read.All`).
#[derive(Debug)]
pub enum GraphRunHunting {}
/// Read the tenant's applications and service principals through Microsoft Graph
/// (`Application.Read.All` or `Application.ReadWrite.All`).
#[derive(Debug)]
pub enum GraphReadApplications {}
/// Create applications, their secrets and service principals through Microsoft Graph
/// (`Application.ReadWrite.All`).
#[derive(Debug)]
pub enum GraphWriteApplications {}
/// Assign and remove app roles through Microsoft Graph (`AppRoleAssignment.ReadWrite.All`;
/// Graph also wants the caller able to read applications, checked beside it).
#[derive(Debug)]
pub enum GraphAssignAppRoles {}

impl Permission for GraphReadIncidents {
    const RESOURCE: &'static crate::BuiltInResource = &crate::MICROSOFT_GRAPH;
    const ROLES: &'static [&'static str] = &["SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All"];
}
impl Permission for GraphReadAlerts {
    const RESOURCE: &'static crate::BuiltInResource = &crate::MICROSOFT_GRAPH;
    const ROLES: &'static [&'static str] = &[
        "SecurityAlert.Read.All",
        "SecurityAlert.ReadWrite.All",
        "SecurityIncident.Read.All",
        "SecurityIncident.ReadWrite.All",
    ];
}
impl Permission for GraphWriteAlerts {
    const RESOURCE: &'static crate::BuiltInResource = &crate::MICROSOFT_GRAPH;
    const ROLES: &'static [&'static str] = &["SecurityAlert.ReadWrite.All"];
}
impl Permission for GraphWriteIncidents {
    const RESOURCE: &'static crate::BuiltInResource = &crate::MICROSOFT_GRAPH;
    const ROLES: &'static [&'static str] = &["SecurityIncident.ReadWrite.All"];
}
impl Permission for GraphReadApplications {
    const RESOURCE: &'static crate::BuiltInResource = &crate::MICROSOFT_GRAPH;
    const ROLES: &'static [&'static str] = &["Application.Read.All", "Application.ReadWrite.All"];
}
impl Permission for GraphWriteApplications {
    const RESOURCE: &'static crate::BuiltInResource = &crate::MICROSOFT_GRAPH;
    const ROLES: &'static [&'static str] = &["Application.ReadWrite.All"];
}
impl Permission for GraphAssignAppRoles {
    const RESOURCE: &'static crate::BuiltInResource = &crate::MICROSOFT_GRAPH;
    const ROLES: &'static [&'static str] = &["AppRoleAssignment.ReadWrite.All"];
}
impl Permission for GraphRunHunting {
    const RESOURCE: &'static crate::BuiltInResource = &crate::MICROSOFT_GRAPH;
    const ROLES: &'static [&'static str] = &["ThreatHunting.Read.All"];
}

/// Access to one tenant's incident data, with permission `P`. Every incident operation takes
/// one, and every query it runs filters by its tenant.
///
/// **Architecture Invariant:** only the bearer-token verifier (`threatgate-identity`) calls
/// [`TenantScope::from_verified_token`]; administration paths (the CLI's `ingest` and `seed`)
/// use [`TenantScope::for_administrator`]; the portal's signed-in administrators get theirs
/// from [`TenantScope::for_signed_in_administrator`], called only by `threatgate-identity`'s
/// portal module after it checked the user's role. A test checks where each is called.
pub struct TenantScope<P: Permission> {
    tenant: TenantId,
    /// The calling application, for comments' `createdBy` and quotas; `None` for administrators.
    caller: Option<AppId>,
    caller_name: String,
    permission: PhantomData<fn() -> P>,
}

impl<P: Permission> TenantScope<P> {
    /// A scope for a caller whose access token was verified, with permission `P` checked.
    pub fn from_verified_token(tenant: TenantId, caller: AppId, caller_name: String) -> Self {
        Self { tenant, caller: Some(caller), caller_name, permission: PhantomData }
    }

    /// A scope for an administrator working on the data directory (the CLI).
    pub fn for_administrator(tenant: TenantId) -> Self {
        Self { tenant, caller: None, caller_name: "Threatgate administrator".into(), permission: PhantomData }
    }

    /// A scope for a Global Administrator signed in to the portal, in their own tenant.
    pub fn for_signed_in_administrator(tenant: TenantId, upn: &str) -> Self {
        Self { tenant, caller: None, caller_name: upn.to_owned(), permission: PhantomData }
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn caller(&self) -> Option<AppId> {
        self.caller
    }

    /// The caller's display name (an application's name, as Microsoft records comments).
    pub fn caller_name(&self) -> &str {
        &self.caller_name
    }
}

impl TenantScope<WriteIncidents> {
    /// Writing implies reading.
    pub fn as_read(&self) -> TenantScope<ReadIncidents> {
        self.same_access()
    }
}

impl TenantScope<GraphReadIncidents> {
    /// Graph's incidents are the store's: reading them is the same access.
    pub fn as_read(&self) -> TenantScope<ReadIncidents> {
        self.same_access()
    }
}

impl TenantScope<GraphReadAlerts> {
    /// Alerts live in the store's incidents: reading them is reading incidents.
    pub fn as_read(&self) -> TenantScope<ReadIncidents> {
        self.same_access()
    }
}

impl TenantScope<GraphWriteAlerts> {
    /// Alerts live in the store's incidents: changing one changes its incident.
    pub fn as_write(&self) -> TenantScope<WriteIncidents> {
        self.same_access()
    }
}

impl TenantScope<GraphWriteIncidents> {
    /// Graph's incidents are the store's: changing them is the same access.
    pub fn as_write(&self) -> TenantScope<WriteIncidents> {
        self.same_access()
    }
}

impl TenantScope<GraphRunHunting> {
    /// Graph's hunting runs over the store's events: the same access.
    pub fn as_hunting(&self) -> TenantScope<RunHunting> {
        self.same_access()
    }
}

impl<P: Permission> TenantScope<P> {
    /// The same tenant and caller, for a permission that this one implies (only the `as_…`
    /// conversions above call it).
    fn same_access<Q: Permission>(&self) -> TenantScope<Q> {
        TenantScope {
            tenant: self.tenant,
            caller: self.caller,
            caller_name: self.caller_name.clone(),
            permission: PhantomData,
        }
    }
}

impl<P: Permission> fmt::Debug for TenantScope<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantScope")
            .field("tenant", &self.tenant)
            .field("caller", &self.caller)
            .field("permission", &std::any::type_name::<P>())
            .finish()
    }
}

/// The name of an incident from its alerts: the title of a single alert, else a multi-stage
/// name built from the distinct categories, in first-seen order.
pub fn incident_name(titles_and_categories: &[(&str, &str)]) -> String {
    match titles_and_categories {
        [] => "Incident".to_owned(),
        [(title, _)] => (*title).to_owned(),
        many => {
            let mut categories: Vec<&str> = Vec::new();
            for (_, category) in many {
                if !category.is_empty() && !categories.contains(category) {
                    categories.push(category);
                }
            }
            match categories.as_slice() {
                [] => "Multi-stage incident".to_owned(),
                [only] => format!("Multi-stage incident involving {only}"),
                [init @ .., last] => format!("Multi-stage incident involving {} and {last}", init.join(", ")),
            }
        }
    }
}

/// How a new alert's correlation ends, given the open incidents that share an entity with
/// it (oldest first, by incident id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Correlation {
    /// No open incident shares an entity: open a new one.
    NewIncident,
    /// Join this incident; merge the others (younger) into it.
    Join { into: IncidentId, merge: Vec<IncidentId> },
}

/// Picks the oldest matching incident; every younger one is merged into it.
pub fn correlate(mut matching: Vec<IncidentId>) -> Correlation {
    matching.sort_unstable();
    matching.dedup();
    match matching.split_first() {
        None => Correlation::NewIncident,
        Some((oldest, younger)) => Correlation::Join { into: *oldest, merge: younger.to_vec() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_case_sensitively() {
        assert_eq!(IncidentStatus::parse("InProgress"), Some(IncidentStatus::InProgress));
        assert_eq!(IncidentStatus::parse("inprogress"), None);
        assert_eq!(Severity::ALL.iter().max(), Some(&Severity::High));
    }

    #[test]
    fn an_incident_is_named_after_its_alert_or_its_stages() {
        assert_eq!(incident_name(&[("Ransomware activity", "Impact")]), "Ransomware activity");
        assert_eq!(
            incident_name(&[("a", "InitialAccess"), ("b", "Execution"), ("c", "InitialAccess"), ("d", "Impact")]),
            "Multi-stage incident involving InitialAccess, Execution and Impact"
        );
        assert_eq!(incident_name(&[("a", "Malware"), ("b", "Malware")]), "Multi-stage incident involving Malware");
    }

    #[test]
    fn correlation_joins_the_oldest_and_merges_the_rest() {
        assert_eq!(correlate(vec![]), Correlation::NewIncident);
        let ids = |numbers: &[i64]| numbers.iter().copied().map(IncidentId::new).collect::<Vec<_>>();
        assert_eq!(correlate(ids(&[9, 4, 7, 4])), Correlation::Join { into: IncidentId::new(4), merge: ids(&[7, 9]) });
    }
}
