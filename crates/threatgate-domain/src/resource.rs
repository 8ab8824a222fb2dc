//! The built-in resource application every tenant has: Microsoft Threat Protection, with the
//! app roles a partner application can be granted (`../shared/spec/README.md`, decisions 1–2).

use uuid::Uuid;

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
    pub fn find_role(&self, name: &str) -> Option<&AppRole> {
        self.roles.iter().find(|role| role.is_named(name))
    }

    pub fn find_role_by_id(&self, id: AppRoleId) -> Option<&AppRole> {
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
}
