//! GUID identifiers, one newtype per kind so that an application id can never be passed where
//! a tenant id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! guid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a GUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The GUID itself.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Parses the hyphenated form, case-insensitively. Braces, URNs and the
            /// 32-digit simple form are refused: Microsoft's endpoints print and expect
            /// the hyphenated form.
            pub fn parse(text: &str) -> Option<Self> {
                if text.len() != 36 {
                    return None;
                }
                Uuid::try_parse(text).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Lower-case hyphenated, as Microsoft prints GUIDs in tokens and URLs.
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = crate::names::NameError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text).ok_or_else(|| crate::names::NameError::NotAGuid(text.chars().take(64).collect()))
            }
        }
    };
}

guid_id!(
    /// A directory (tenant) id, the `tid` claim.
    TenantId
);
guid_id!(
    /// An application (client) id, the `appid` claim and the `client_id` parameter.
    AppId
);
guid_id!(
    /// The object id of a directory object: an application object, a service principal
    /// (the `oid` claim), a user or an app role assignment.
    ObjectId
);
guid_id!(
    /// The id of an app role defined by a resource application.
    AppRoleId
);

/// The id of a signing key: base64url SHA-1 of its certificate, `kid` = `x5t`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// Wraps a key id computed by the identity crate.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The key id as sent in `kid` and `x5t`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// An incident's id within its tenant: a positive number, the `incidentId` of the API.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(i64);

impl IncidentId {
    /// Wraps an id the store assigned (or read back).
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    /// The number, as the API and the store's columns carry it.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// Parses an id from a URL path segment: a positive 64-bit number.
    pub fn parse(text: &str) -> Option<Self> {
        text.parse::<i64>().ok().filter(|id| *id > 0).map(Self)
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IncidentId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_ids_parse_case_insensitively_and_print_lower_case() {
        let id = TenantId::parse("72F988BF-86F1-41AF-91AB-2D7CD011DB47");
        assert_eq!(id.map(|id| id.to_string()).as_deref(), Some("72f988bf-86f1-41af-91ab-2d7cd011db47"));
    }

    #[test]
    fn guid_ids_refuse_other_forms() {
        assert!(TenantId::parse("72f988bf86f141af91ab2d7cd011db47").is_none());
        assert!(TenantId::parse("{72f988bf-86f1-41af-91ab-2d7cd011db47}").is_none());
        assert!(TenantId::parse("contoso.onmicrosoft.com").is_none());
        assert!(TenantId::parse("").is_none());
    }

    #[test]
    fn incident_ids_are_positive_numbers() {
        assert_eq!(IncidentId::parse("42"), Some(IncidentId::new(42)));
        assert_eq!(IncidentId::parse("42").map(|id| id.to_string()).as_deref(), Some("42"));
        for refused in ["0", "-3", "", "4x", "99999999999999999999", " 4"] {
            assert_eq!(IncidentId::parse(refused), None, "{refused:?}");
        }
    }
}
