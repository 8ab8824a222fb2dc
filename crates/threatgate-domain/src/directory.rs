//! The directory's records, as the store keeps them and the identity service reads them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AppId, AppRoleId, ObjectId, TenantId};
use crate::names::{DisplayName, DomainName, RedirectUri, Upn};

/// An organisation's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: DisplayName,
    /// The `*.onmicrosoft.com` domain given at creation; it is also in `domains`.
    pub initial_domain: DomainName,
    /// Every domain that names this tenant in an endpoint path, the initial one first.
    pub domains: Vec<DomainName>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The directory role of a user. Only these two matter to the partner flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserRole {
    GlobalAdministrator,
    None,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GlobalAdministrator => "GlobalAdministrator",
            Self::None => "None",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "GlobalAdministrator" => Some(Self::GlobalAdministrator),
            "None" => Some(Self::None),
            _ => None,
        }
    }
}

/// A person who signs in to a tenant. The password is kept only as an Argon2id PHC string.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub object_id: ObjectId,
    pub tenant_id: TenantId,
    pub upn: Upn,
    pub display_name: DisplayName,
    #[serde(skip_serializing)]
    pub password_hash: String,
    pub role: UserRole,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("object_id", &self.object_id)
            .field("tenant_id", &self.tenant_id)
            .field("upn", &self.upn)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Which accounts may use an application (`signInAudience`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignInAudience {
    /// "Accounts in this organizational directory only".
    AzureADMyOrg,
    /// "Accounts in any organizational directory": the partner case.
    AzureADMultipleOrgs,
}

impl SignInAudience {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AzureADMyOrg => "AzureADMyOrg",
            Self::AzureADMultipleOrgs => "AzureADMultipleOrgs",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "AzureADMyOrg" => Some(Self::AzureADMyOrg),
            "AzureADMultipleOrgs" => Some(Self::AzureADMultipleOrgs),
            _ => None,
        }
    }

    pub fn is_multi_tenant(self) -> bool {
        self == Self::AzureADMultipleOrgs
    }
}

/// An application registration: the one object, in its home tenant, that holds credentials
/// and the permissions it asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub app_id: AppId,
    pub object_id: ObjectId,
    pub home_tenant_id: TenantId,
    pub display_name: DisplayName,
    pub sign_in_audience: SignInAudience,
    pub redirect_uris: Vec<RedirectUri>,
    /// Application permissions requested (`requiredResourceAccess`), as resource + role ids.
    pub required_app_roles: Vec<RequiredAppRole>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Application {
    /// Whether a service principal of this application may exist in `tenant`.
    pub fn may_be_used_in(&self, tenant: TenantId) -> bool {
        tenant == self.home_tenant_id || self.sign_in_audience.is_multi_tenant()
    }
}

/// One application permission an application requests from a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequiredAppRole {
    pub resource_app_id: AppId,
    pub app_role_id: AppRoleId,
}

/// A client secret of an application. The value itself is never stored: only a keyed hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecretRecord {
    /// The secret's id (Microsoft's `keyId`), used to delete it.
    pub key_id: ObjectId,
    pub app_id: AppId,
    pub description: String,
    /// The first three characters of the value, shown in lists.
    pub hint: String,
    #[serde(skip_serializing)]
    pub value_hash: Vec<u8>,
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

impl ClientSecretRecord {
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.start <= now && now < self.end
    }

    /// Where the secret stands at `now`: warned about from [`EXPIRY_WARNING_DAYS`] before its end.
    pub fn state_at(&self, now: OffsetDateTime) -> CredentialState {
        CredentialState::of(self.start, self.end, now)
    }
}

/// A certificate credential of an application: the public part of a certificate whose private
/// key signs the application's client assertions. Matched by its thumbprints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateCredentialRecord {
    /// The credential's id (Microsoft's `keyId`), used to delete it.
    pub key_id: ObjectId,
    pub app_id: AppId,
    /// What the uploader called it; the certificate's subject when they did not say.
    pub description: String,
    /// SHA-1 of the certificate's DER (what `x5t` names), as Microsoft shows it: upper-case hex.
    pub thumbprint: String,
    /// SHA-256 of the certificate's DER (what `x5t#S256` names), upper-case hex.
    pub thumbprint_sha256: String,
    /// The certificate, DER.
    #[serde(skip_serializing)]
    pub certificate_der: Vec<u8>,
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

impl CertificateCredentialRecord {
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.start <= now && now < self.end
    }

    pub fn state_at(&self, now: OffsetDateTime) -> CredentialState {
        CredentialState::of(self.start, self.end, now)
    }
}

/// Credentials (secrets and certificates) are warned about this many days before they end.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Where a credential stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CredentialState {
    NotYetValid,
    Valid,
    /// Ends within [`EXPIRY_WARNING_DAYS`]; `days_left` rounds down (0: ends within a day).
    ExpiringSoon {
        days_left: i64,
    },
    Expired,
}

impl CredentialState {
    pub fn of(start: OffsetDateTime, end: OffsetDateTime, now: OffsetDateTime) -> Self {
        if now >= end {
            Self::Expired
        } else if now < start {
            Self::NotYetValid
        } else if end - now <= time::Duration::days(EXPIRY_WARNING_DAYS) {
            Self::ExpiringSoon { days_left: (end - now).whole_days() }
        } else {
            Self::Valid
        }
    }

    /// Whether someone should act: expiring soon or expired.
    pub fn needs_rotation(self) -> bool {
        matches!(self, Self::ExpiringSoon { .. } | Self::Expired)
    }
}

impl std::fmt::Display for CredentialState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotYetValid => f.write_str("not valid yet"),
            Self::Valid => f.write_str("valid"),
            Self::ExpiringSoon { days_left: 0 } => f.write_str("expires within a day"),
            Self::ExpiringSoon { days_left: 1 } => f.write_str("expires in 1 day"),
            Self::ExpiringSoon { days_left } => write!(f, "expires in {days_left} days"),
            Self::Expired => f.write_str("expired"),
        }
    }
}

impl std::fmt::Debug for ClientSecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecretRecord")
            .field("key_id", &self.key_id)
            .field("app_id", &self.app_id)
            .field("hint", &self.hint)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// An application's (or a built-in resource's) presence in one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePrincipal {
    pub object_id: ObjectId,
    pub tenant_id: TenantId,
    pub app_id: AppId,
    pub display_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who last consented (a UPN, or the command line); `None` for built-in resources.
    #[serde(default)]
    pub consented_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub consented_at: Option<OffsetDateTime>,
}

/// An application permission granted in a tenant: client service principal → resource
/// service principal, one app role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRoleAssignment {
    pub id: ObjectId,
    pub tenant_id: TenantId,
    pub principal_id: ObjectId,
    pub resource_id: ObjectId,
    pub app_role_id: AppRoleId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
