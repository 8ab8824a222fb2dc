//! Validated names: domain names, tenant path segments, user principal names, display names
//! and redirect URIs. Each has a `parse` constructor; holding one means it passed the rules.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::TenantId;

/// Why a name was refused. Messages are meant for the person who typed the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("'{0}' is not a GUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")]
    NotAGuid(String),
    #[error("'{0}' is not a valid domain name")]
    InvalidDomain(String),
    #[error("'{0}' is neither a tenant GUID nor a domain name")]
    InvalidTenantSegment(String),
    #[error("'{0}' is not a valid user principal name (expected user@domain)")]
    InvalidUpn(String),
    #[error("a display name must have 1 to 256 characters and no control characters")]
    InvalidDisplayName,
    #[error("'{0}' is not a valid redirect URI: {1}")]
    InvalidRedirectUri(String, &'static str),
}

/// Keeps error messages short when the input is absurdly long.
fn excerpt(text: &str) -> String {
    const LIMIT: usize = 80;
    if text.chars().count() <= LIMIT {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(LIMIT).collect();
        short.push('…');
        short
    }
}

/// A DNS domain name such as `contoso.onmicrosoft.com`, stored in lower case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

impl DomainName {
    /// Accepts two or more labels of letters, digits and inner hyphens, 253 characters at most.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let lower = text.to_ascii_lowercase();
        let labels: Vec<&str> = lower.split('.').collect();
        let valid = lower.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
            // The last label of a real domain is never all digits; this keeps IP addresses out.
            && labels.last().is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
        if valid { Ok(Self(lower)) } else { Err(NameError::InvalidDomain(excerpt(text))) }
    }

    /// The initial domain Microsoft gives a new tenant: `{label}.onmicrosoft.com`, where the
    /// label is the display name's letters and digits in lower case (at most 27 of them).
    pub fn initial_for(display_name: &str) -> Result<Self, NameError> {
        let label: String =
            display_name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).take(27).collect();
        if label.is_empty() {
            return Err(NameError::InvalidDomain(excerpt(display_name)));
        }
        Self::parse(&format!("{label}.onmicrosoft.com"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DomainName {
    type Err = NameError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for DomainName {
    type Error = NameError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<DomainName> for String {
    fn from(name: DomainName) -> Self {
        name.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainName({})", self.0)
    }
}

/// The `{tenant}` segment of an identity endpoint path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSegment {
    Id(TenantId),
    Domain(DomainName),
    /// `common`: any organisation or personal account.
    Common,
    /// `organizations`: any organisation.
    Organizations,
    /// `consumers`: personal accounts.
    Consumers,
}

impl TenantSegment {
    /// Reads a path segment: a GUID, one of the three aliases (any case), or a domain name.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        if let Some(id) = TenantId::parse(text) {
            return Ok(Self::Id(id));
        }
        match text.to_ascii_lowercase().as_str() {
            "common" => return Ok(Self::Common),
            "organizations" => return Ok(Self::Organizations),
            "consumers" => return Ok(Self::Consumers),
            _ => {}
        }
        DomainName::parse(text).map(Self::Domain).map_err(|_| NameError::InvalidTenantSegment(excerpt(text)))
    }

    /// True for `common`, `organizations` and `consumers`, which name no single tenant.
    pub fn is_alias(&self) -> bool {
        matches!(self, Self::Common | Self::Organizations | Self::Consumers)
    }
}

/// A user principal name, `user@domain`, stored in lower case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Upn(String);

impl Upn {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let invalid = || NameError::InvalidUpn(excerpt(text));
        let (local, domain) = text.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"._%+-'".contains(&b));
        if !local_ok {
            return Err(invalid());
        }
        let domain = DomainName::parse(domain).map_err(|_| invalid())?;
        Ok(Self(format!("{}@{}", local.to_ascii_lowercase(), domain)))
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Upn {
    type Error = NameError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Upn> for String {
    fn from(upn: Upn) -> Self {
        upn.0
    }
}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Upn({})", self.0)
    }
}

/// A display name of a tenant or an application: trimmed, 1 to 256 characters, no controls.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let trimmed = text.trim();
        let count = trimmed.chars().count();
        if count == 0 || count > 256 || trimmed.chars().any(char::is_control) {
            return Err(NameError::InvalidDisplayName);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DisplayName {
    type Error = NameError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<DisplayName> for String {
    fn from(name: DisplayName) -> Self {
        name.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Web redirect URI of an application: `https://…`, or `http://localhost…` for development,
/// as Microsoft allows; no fragment; 256 characters at most.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let invalid = |why| NameError::InvalidRedirectUri(excerpt(text), why);
        if text.len() > 256 {
            return Err(invalid("it is longer than 256 characters"));
        }
        let url = url::Url::parse(text).map_err(|_| invalid("it is not an absolute URL"))?;
        if url.fragment().is_some() {
            return Err(invalid("it must not contain a fragment"));
        }
        let local_http = url.scheme() == "http" && matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if url.scheme() != "https" && !local_http {
            return Err(invalid("it must use https (http is allowed only for localhost)"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = NameError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> Self {
        uri.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_tenant_segment_is_a_guid_an_alias_or_a_domain() {
        assert!(matches!(TenantSegment::parse("72f988bf-86f1-41af-91ab-2d7cd011db47"), Ok(TenantSegment::Id(_))));
        assert_eq!(TenantSegment::parse("Common"), Ok(TenantSegment::Common));
        assert_eq!(TenantSegment::parse("organizations"), Ok(TenantSegment::Organizations));
        assert!(matches!(
            TenantSegment::parse("Contoso.OnMicrosoft.com"),
            Ok(TenantSegment::Domain(d)) if d.as_str() == "contoso.onmicrosoft.com"
        ));
    }

    #[test]
    fn a_tenant_segment_that_is_neither_guid_nor_domain_is_refused() {
        for text in ["contoso", "a b.com", "-x.com", "x..com", "127.0.0.1", "", "ä.com"] {
            assert!(
                matches!(TenantSegment::parse(text), Err(NameError::InvalidTenantSegment(_))),
                "{text:?} should be refused"
            );
        }
    }

    #[test]
    fn the_initial_domain_follows_the_display_name() {
        let domain = DomainName::initial_for("Woodgrove Bank, Inc.");
        assert_eq!(domain.map(|d| d.to_string()).as_deref(), Ok("woodgrovebankinc.onmicrosoft.com"));
        assert!(DomainName::initial_for("!!!").is_err());
    }

    #[test]
    fn user_principal_names_are_lower_cased_and_checked() {
        assert_eq!(
            Upn::parse("Admin@Contoso.onmicrosoft.com").map(|u| u.to_string()).as_deref(),
            Ok("admin@contoso.onmicrosoft.com")
        );
        assert!(Upn::parse("admin").is_err());
        assert!(Upn::parse("@contoso.com").is_err());
        assert!(Upn::parse("a b@contoso.com").is_err());
    }

    #[test]
    fn redirect_uris_must_be_https_or_local_http() {
        assert!(RedirectUri::parse("https://portal.azure.com").is_ok());
        assert!(RedirectUri::parse("http://localhost:8400/callback").is_ok());
        assert!(RedirectUri::parse("http://example.com/").is_err());
        assert!(RedirectUri::parse("https://example.com/#x").is_err());
        assert!(RedirectUri::parse("portal.azure.com").is_err());
    }

    proptest! {
        #[test]
        fn parsing_a_tenant_segment_never_panics(text in ".{0,300}") {
            let _ = TenantSegment::parse(&text);
        }

        #[test]
        fn a_parsed_domain_parses_again_to_itself(text in "[a-zA-Z0-9-]{1,20}(\\.[a-zA-Z0-9-]{1,20}){1,3}") {
            if let Ok(domain) = DomainName::parse(&text) {
                prop_assert_eq!(DomainName::parse(domain.as_str()), Ok(domain.clone()));
            }
        }
    }
}
