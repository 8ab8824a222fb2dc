//! The built-in resource applications every tenant has: Microsoft Threat Protection and
//! Microsoft Graph, with the app roles a partner application can be granted
//! (`../shared/spec/README.md`, decisions 1–2; `../shared/spec/graph-security-api.md` §3.2).

use uuid::Uuid;

use crate::directory::RequiredAppRole;
use crate::ids::{AppId, AppRoleId};

/// An application permission (app role) defined by a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppRole {
    pub id: AppRoleId,
    /// The canonical value, as it appears in a token's `roles`.
    pub value: &'static str,
    /// Other spellings a person or a script may use (the partner guide's `Incidents.*`).
    pub aliases: &'static [&'static str],
    pub display_name: &'static str,
    pub description: &'static str,
}

impl AppRole {
    /// True when `name` is this role's value or one of its aliases (ASCII case ignored).
    pub fn is_named(&self, name: &str) -> bool {
        self.value.eq_ignore_ascii_case(name) || self.aliases.iter().any(|alias| alias.eq_ignore_ascii_case(name))
    }
}

/// A resource application built into Threatgate: it exists in no tenant's app registrations,
/// but has a service principal in every tenant.
#[derive(Debug, Clone, Copy)]
pub struct BuiltInResource {
    pub app_id: AppId,
    pub identifier_uri: &'static str,
    pub display_name: &'static str,
    pub roles: &'static [AppRole],
}

impl BuiltInResource {
    /// Finds a role by value or alias, e.g. `Incidents.Read.All`.
    pub fn find_role(&self, name: &str) -> Option<&'static AppRole> {
        self.roles.iter().find(|role| role.is_named(name))
    }

    pub fn find_role_by_id(&self, id: AppRoleId) -> Option<&'static AppRole> {
        self.roles.iter().find(|role| role.id == id)
    }

    /// True when `identifier` names this resource: its identifier URI (scheme and host in any
    /// case, with or without one trailing slash) or its application id.
    pub fn is_identified_by(&self, identifier: &str) -> bool {
        let trimmed = identifier.strip_suffix('/').unwrap_or(identifier);
        trimmed.eq_ignore_ascii_case(self.identifier_uri)
            || AppId::parse(identifier).is_some_and(|id| id == self.app_id)
    }
}

/// The Threat Protection API, `https://api.security.microsoft.com`.
pub const THREAT_PROTECTION: BuiltInResource = BuiltInResource {
    app_id: AppId::from_uuid(Uuid::from_u128(0x8ee8fdad_f234_4243_8f3b_15c294843740)),
    identifier_uri: "https://api.security.microsoft.com",
    display_name: "Microsoft Threat Protection",
    roles: &[
        AppRole {
            id: AppRoleId::from_uuid(Uuid::from_u128(0xa9790345_4595_42e4_971a_ccdc79f19b7c)),
            value: "Incident.Read.All",
            aliases: &["Incidents.Read.All"],
            display_name: "Read all incidents",
            description: "Allows the app to read all incidents, alerts and their entities without a signed-in user.",
        },
        AppRole {
            id: AppRoleId::from_uuid(Uuid::from_u128(0x8d90f441_09cf_4fdc_ab45_e874fa3a28e8)),
            value: "Incident.ReadWrite.All",
            aliases: &["Incidents.ReadWrite.All"],
            display_name: "Read and write all incidents",
            description: "Allows the app to read and update all incidents without a signed-in user.",
        },
        AppRole {
            id: AppRoleId::from_uuid(Uuid::from_u128(0x7734e8e5_8dde_42fc_b5ae_6eafea078693)),
            value: "AdvancedHunting.Read.All",
            aliases: &[],
            display_name: "Run advanced queries",
            description: "Allows the app to run advanced hunting queries without a signed-in user.",
        },
    ],
};

/// A role of Microsoft Graph (ids from Microsoft's permission catalogue, spec §3.2).
const fn graph_role(id: u128, value: &'static str, display_name: &'static str, description: &'static str) -> AppRole {
    AppRole { id: AppRoleId::from_uuid(Uuid::from_u128(id)), value, aliases: &[], display_name, description }
}

/// Microsoft Graph, `https://graph.microsoft.com`: the security API's roles (incidents,
/// alerts_v2, advanced hunting) and those its onboarding subset needs.
pub const MICROSOFT_GRAPH: BuiltInResource = BuiltInResource {
    app_id: AppId::from_uuid(Uuid::from_u128(0x00000003_0000_0000_c000_000000000000)),
    identifier_uri: "https://graph.microsoft.com",
    display_name: "Microsoft Graph",
    roles: &[
        graph_role(
            0x45cc0394_e837_488b_a098_1918f48d186c,
            "SecurityIncident.Read.All",
            "Read all security incidents",
            "Allows the app to read all security incidents, without a signed-in user.",
        ),
        graph_role(
            0x34bf0e97_1971_4929_b999_9e2442d941d7,
            "SecurityIncident.ReadWrite.All",
            "Read and write to all security incidents",
            "Allows the app to read and write to all security incidents, without a signed-in user.",
        ),
        graph_role(
            0x472e4a4d_bb4a_4026_98d1_0b0d74cb74a5,
            "SecurityAlert.Read.All",
            "Read all security alerts",
            "Allows the app to read all security alerts, without a signed-in user.",
        ),
        graph_role(
            0xed4fca05_be46_441f_9803_1873825f8fdb,
            "SecurityAlert.ReadWrite.All",
            "Read and write to all security alerts",
            "Allows the app to read and write to all security alerts, without a signed-in user.",
        ),
        graph_role(
            0xdd98c7f5_2d42_42d3_a0e4_633161547251,
            "ThreatHunting.Read.All",
            "Run hunting queries",
            "Allows the app to run hunting queries, without a signed-in user.",
        ),
        graph_role(
            0x9a5d68dd_52b0_4cc2_bd40_abcf44ac3a30,
            "Application.Read.All",
            "Read all applications",
            "Allows the app to read all applications and service principals without a signed-in user.",
        ),
        graph_role(
            0x1bfefb4e_e0b5_418b_a88f_73c46d2cc8e9,
            "Application.ReadWrite.All",
            "Read and write all applications",
            "Allows the app to create, read, update and delete applications and service principals without a signed-in user.",
        ),
        graph_role(
            0x06b708a9_e830_4db3_a914_8e69da51d44f,
            "AppRoleAssignment.ReadWrite.All",
            "Manage app permission grants and app role assignments",
            "Allows the app to manage permission grants for application permissions to any API, without a signed-in user.",
        ),
    ],
};

/// Every built-in resource, each with a service principal in every tenant.
pub const BUILT_IN_RESOURCES: [&BuiltInResource; 2] = [&THREAT_PROTECTION, &MICROSOFT_GRAPH];

/// The built-in resource with this application id.
pub fn built_in_resource(app_id: AppId) -> Option<&'static BuiltInResource> {
    BUILT_IN_RESOURCES.into_iter().find(|resource| resource.app_id == app_id)
}

/// The built-in resource an identifier (URI or application id) names.
pub fn built_in_resource_named(identifier: &str) -> Option<&'static BuiltInResource> {
    BUILT_IN_RESOURCES.into_iter().find(|resource| resource.is_identified_by(identifier))
}

/// The built-in roles among `required` (an application's requested permissions), resource by
/// resource, each in its resource's catalogue order whatever order they were requested in.
pub fn requested_roles(required: &[RequiredAppRole]) -> Vec<(&'static BuiltInResource, &'static AppRole)> {
    BUILT_IN_RESOURCES
        .into_iter()
        .flat_map(|resource| {
            resource
                .roles
                .iter()
                .filter(move |role| {
                    required.iter().any(|r| r.resource_app_id == resource.app_id && r.app_role_id == role.id)
                })
                .map(move |role| (resource, role))
        })
        .collect()
}

/// The built-in resource and role that a role name (value or alias) names; role values are
/// unique across the built-in resources.
pub fn built_in_role(name: &str) -> Option<(&'static BuiltInResource, &'static AppRole)> {
    BUILT_IN_RESOURCES.into_iter().find_map(|resource| resource.find_role(name).map(|role| (resource, role)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_found_by_value_and_by_the_guides_spelling() {
        let by_value = THREAT_PROTECTION.find_role("Incident.Read.All").map(|r| r.value);
        let by_alias = THREAT_PROTECTION.find_role("Incidents.Read.All").map(|r| r.value);
        assert_eq!(by_value, Some("Incident.Read.All"));
        assert_eq!(by_alias, Some("Incident.Read.All"));
        assert!(THREAT_PROTECTION.find_role("Machine.Read.All").is_none());
    }

    #[test]
    fn the_resource_is_identified_by_uri_or_application_id() {
        assert!(THREAT_PROTECTION.is_identified_by("https://api.security.microsoft.com"));
        assert!(THREAT_PROTECTION.is_identified_by("https://api.security.microsoft.com/"));
        assert!(THREAT_PROTECTION.is_identified_by("8EE8FDAD-F234-4243-8F3B-15C294843740"));
        assert!(!THREAT_PROTECTION.is_identified_by("https://api.securitycenter.windows.com"));
        assert!(!THREAT_PROTECTION.is_identified_by("https://api.security.microsoft.com//"));
    }

    #[test]
    fn graph_is_a_second_resource_with_roles_of_its_own() {
        assert!(MICROSOFT_GRAPH.is_identified_by("https://graph.microsoft.com/"));
        assert!(MICROSOFT_GRAPH.is_identified_by("00000003-0000-0000-c000-000000000000"));
        assert_eq!(
            built_in_resource_named("https://api.security.microsoft.com").map(|r| r.display_name),
            Some("Microsoft Threat Protection")
        );
        assert_eq!(
            built_in_role("SecurityIncident.ReadWrite.All").map(|(r, _)| r.display_name),
            Some("Microsoft Graph")
        );
        assert_eq!(built_in_role("Incidents.Read.All").map(|(_, role)| role.value), Some("Incident.Read.All"));
        // No role value (or alias) is shared by two resources, so a name finds one role.
        let mut names: Vec<String> = BUILT_IN_RESOURCES
            .iter()
            .flat_map(|r| {
                r.roles.iter().flat_map(|role| std::iter::once(role.value).chain(role.aliases.iter().copied()))
            })
            .map(str::to_ascii_lowercase)
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
