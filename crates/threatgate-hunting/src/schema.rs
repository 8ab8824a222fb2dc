//! The advanced hunting tables: names, columns and KQL types of spec section 7.3.
//!
//! `AlertInfo` and `AlertEvidence` are filled from the tenant's alerts; the others arrive by
//! ingestion or `threatgate seed`. Column order is the order `project *`-like results use.

/// A column's KQL type; [`Type::schema_name`] is what the API's `Schema` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    String,
    DateTime,
    /// `int`
    Int,
    /// `long`
    Long,
    /// `real`
    Real,
    Bool,
    TimeSpan,
    /// `dynamic`
    Dynamic,
}

impl Type {
    /// The .NET-style name of the response's `Schema`.
    pub fn schema_name(self) -> &'static str {
        match self {
            Type::String => "String",
            Type::DateTime => "DateTime",
            Type::Int => "Int32",
            Type::Long => "Int64",
            Type::Real => "Double",
            Type::Bool => "Boolean",
            Type::TimeSpan => "TimeSpan",
            Type::Dynamic => "Object",
        }
    }

    /// The KQL name (`string`, `datetime`, `long`, …), for error messages.
    pub fn kql_name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::DateTime => "datetime",
            Type::Int => "int",
            Type::Long => "long",
            Type::Real => "real",
            Type::Bool => "bool",
            Type::TimeSpan => "timespan",
            Type::Dynamic => "dynamic",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Long | Type::Real)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: Type,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const fn c(name: &'static str, ty: Type) -> Column {
    Column { name, ty }
}

use Type::{Bool, DateTime, Int, Long, String as Str};

/// Every table a query can name.
pub const TABLES: &[Table] = &[
    Table { name: "DeviceProcessEvents", columns: DEVICE_PROCESS_EVENTS },
    Table { name: "DeviceNetworkEvents", columns: DEVICE_NETWORK_EVENTS },
    Table { name: "DeviceFileEvents", columns: DEVICE_FILE_EVENTS },
    Table { name: "DeviceLogonEvents", columns: DEVICE_LOGON_EVENTS },
    Table { name: "DeviceRegistryEvents", columns: DEVICE_REGISTRY_EVENTS },
    Table { name: "DeviceInfo", columns: DEVICE_INFO },
    Table { name: "EmailEvents", columns: EMAIL_EVENTS },
    Table { name: "EmailAttachmentInfo", columns: EMAIL_ATTACHMENT_INFO },
    Table { name: "EmailUrlInfo", columns: EMAIL_URL_INFO },
    Table { name: "IdentityLogonEvents", columns: IDENTITY_LOGON_EVENTS },
    Table { name: "AlertInfo", columns: ALERT_INFO },
    Table { name: "AlertEvidence", columns: ALERT_EVIDENCE },
];

/// The table of that name (names are case-sensitive in KQL).
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

const DEVICE_PROCESS_EVENTS: &[Column] = &[
    c("Timestamp", DateTime),
    c("DeviceId", Str),
    c("DeviceName", Str),
    c("ActionType", Str),
    c("FileName", Str),
    c("FolderPath", Str),
    c("SHA1", Str),
    c("SHA256", Str),
    c("MD5", Str),
    c("FileSize", Long),
    c("ProcessId", Int),
    c("ProcessCommandLine", Str),
    c("ProcessIntegrityLevel", Str),
    c("ProcessTokenElevation", Str),
    c("ProcessCreationTime", DateTime),
    c("AccountDomain", Str),
    c("AccountName", Str),
    c("AccountSid", Str),
    c("AccountUpn", Str),
    c("AccountObjectId", Str),
    c("LogonId", Long),
    c("InitiatingProcessAccountDomain", Str),
    c("InitiatingProcessAccountName", Str),
    c("InitiatingProcessAccountSid", Str),
    c("InitiatingProcessAccountUpn", Str),
    c("InitiatingProcessAccountObjectId", Str),
    c("InitiatingProcessLogonId", Long),
    c("InitiatingProcessIntegrityLevel", Str),
    c("InitiatingProcessTokenElevation", Str),
    c("InitiatingProcessSHA1", Str),
    c("InitiatingProcessSHA256", Str),
    c("InitiatingProcessMD5", Str),
    c("InitiatingProcessFileName", Str),
    c("InitiatingProcessFileSize", Long),
    c("InitiatingProcessId", Int),
    c("InitiatingProcessCommandLine", Str),
    c("InitiatingProcessCreationTime", DateTime),
    c("InitiatingProcessFolderPath", Str),
    c("InitiatingProcessParentId", Int),
    c("InitiatingProcessParentFileName", Str),
    c("InitiatingProcessParentCreationTime", DateTime),
    c("ReportId", Long),
    c("AppGuardContainerId", Str),
    c("AdditionalFields", Type::Dynamic),
];

const DEVICE_NETWORK_EVENTS: &[Column] = &[
    c("Timestamp", DateTime),
    c("DeviceId", Str),
    c("DeviceName", Str),
    c("ActionType", Str),
    c("RemoteIP", Str),
    c("RemotePort", Int),
    c("RemoteUrl", Str),
    c("LocalIP", Str),
    c("LocalPort", Int),
    c("Protocol", Str),
    c("LocalIPType", Str),
    c("RemoteIPType", Str),
    c("InitiatingProcessSHA1", Str),
    c("InitiatingProcessMD5", Str),
    c("InitiatingProcessFileName", Str),
    c("InitiatingProcessId", Int),
    c("InitiatingProcessCommandLine", Str),
    c("InitiatingProcessCreationTime", DateTime),
    c("InitiatingProcessFolderPath", Str),
    c("InitiatingProcessParentFileName", Str),
    c("InitiatingProcessParentId", Int),
    c("InitiatingProcessParentCreationTime", DateTime),
    c("InitiatingProcessAccountDomain", Str),
    c("InitiatingProcessAccountName", Str),
    c("InitiatingProcessAccountSid", Str),
    c("InitiatingProcessIntegrityLevel", Str),
    c("InitiatingProcessTokenElevation", Str),
    c("ReportId", Long),
    c("AppGuardContainerId", Str),
];

const DEVICE_FILE_EVENTS: &[Column] = &[
    c("Timestamp", DateTime),
    c("DeviceId", Str),
    c("DeviceName", Str),
    c("ActionType", Str),
    c("FileName", Str),
    c("FolderPath", Str),
    c("SHA1", Str),
    c("SHA256", Str),
    c("MD5", Str),
    c("FileOriginUrl", Str),
    c("FileOriginReferrerUrl", Str),
    c("FileOriginIP", Str),
    c("InitiatingProcessAccountDomain", Str),
    c("InitiatingProcessAccountName", Str),
    c("InitiatingProcessAccountSid", Str),
    c("InitiatingProcessMD5", Str),
    c("InitiatingProcessSHA1", Str),
    c("InitiatingProcessFolderPath", Str),
    c("InitiatingProcessFileName", Str),
    c("InitiatingProcessId", Int),
    c("InitiatingProcessCommandLine", Str),
    c("InitiatingProcessCreationTime", DateTime),
    c("InitiatingProcessIntegrityLevel", Str),
    c("InitiatingProcessTokenElevation", Str),
    c("InitiatingProcessParentId", Int),
    c("InitiatingProcessParentFileName", Str),
    c("InitiatingProcessParentCreationTime", DateTime),
    c("RequestProtocol", Str),
    c("ShareName", Str),
    c("RequestSourceIP", Str),
    c("RequestSourcePort", Int),
    c("RequestAccountName", Str),
    c("RequestAccountDomain", Str),
    c("RequestAccountSid", Str),
    c("ReportId", Long),
    c("AppGuardContainerId", Str),
    c("SensitivityLabel", Str),
    c("SensitivitySubLabel", Str),
    c("IsAzureInfoProtectionApplied", Bool),
];

const DEVICE_LOGON_EVENTS: &[Column] = &[
    c("Timestamp", DateTime),
    c("DeviceId", Str),
    c("DeviceName", Str),
    c("ActionType", Str),
    c("AccountDomain", Str),
    c("AccountName", Str),
    c("AccountSid", Str),
    c("LogonType", Str),
    c("LogonId", Long),
    c("RemoteDeviceName", Str),
    c("RemoteIP", Str),
    c("RemoteIPType", Str),
    c("RemotePort", Int),
    c("AdditionalFields", Type::Dynamic),
    c("InitiatingProcessAccountDomain", Str),
    c("InitiatingProcessAccountName", Str),
    c("InitiatingProcessAccountSid", Str),
    c("InitiatingProcessFileName", Str),
    c("InitiatingProcessId", Int),
    c("InitiatingProcessCommandLine", Str),
    c("InitiatingProcessCreationTime", DateTime),
    c("InitiatingProcessFolderPath", Str),
    c("InitiatingProcessParentFileName", Str),
    c("InitiatingProcessParentId", Int),
    c("ReportId", Long),
    c("AppGuardContainerId", Str),
    c("IsLocalAdmin", Bool),
];

const DEVICE_REGISTRY_EVENTS: &[Column] = &[
    c("Timestamp", DateTime),
    c("DeviceId", Str),
    c("DeviceName", Str),
    c("ActionType", Str),
    c("RegistryKey", Str),
    c("RegistryValueType", Str),
    c("RegistryValueName", Str),
    c("RegistryValueData", Str),
    c("PreviousRegistryKey", Str),
    c("PreviousRegistryValueName", Str),
    c("PreviousRegistryValueData", Str),
    c("InitiatingProcessAccountDomain", Str),
    c("InitiatingProcessAccountName", Str),
    c("InitiatingProcessAccountSid", Str),
    c("InitiatingProcessSHA1", Str),
    c("InitiatingProcessMD5", Str),
    c("InitiatingProcessFileName", Str),
    c("InitiatingProcessId", Int),
    c("InitiatingProcessCommandLine", Str),
    c("InitiatingProcessCreationTime", DateTime),
    c("InitiatingProcessFolderPath", Str),
    c("InitiatingProcessParentId", Int),
    c("InitiatingProcessParentFileName", Str),
    c("InitiatingProcessParentCreationTime", DateTime),
    c("InitiatingProcessIntegrityLevel", Str),
    c("InitiatingProcessTokenElevation", Str),
    c("ReportId", Long),
    c("AppGuardContainerId", Str),
];

const DEVICE_INFO: &[Column] = &[
    c("Timestamp", DateTime),
    c("DeviceId", Str),
    c("DeviceName", Str),
    c("ClientVersion", Str),
    c("PublicIP", Str),
    c("OSArchitecture", Str),
    c("OSPlatform", Str),
    c("OSBuild", Long),
    c("IsAzureADJoined", Bool),
    c("AadObjectId", Str),
    c("LoggedOnUsers", Type::Dynamic),
    c("RegistryDeviceTag", Str),
    c("OSVersion", Str),
    c("MachineGroup", Str),
    c("ReportId", Long),
    c("AdditionalFields", Type::Dynamic),
];

const EMAIL_EVENTS: &[Column] = &[
    c("Timestamp", DateTime),
    c("NetworkMessageId", Str),
    c("InternetMessageId", Str),
    c("SenderMailFromAddress", Str),
    c("SenderFromAddress", Str),
    c("SenderDisplayName", Str),
    c("SenderObjectId", Str),
    c("SenderMailFromDomain", Str),
    c("SenderFromDomain", Str),
    c("SenderIPv4", Str),
    c("SenderIPv6", Str),
    c("RecipientEmailAddress", Str),
    c("Subject", Str),
    c("EmailClusterId", Long),
    c("EmailDirection", Str),
    c("DeliveryAction", Str),
    c("DeliveryLocation", Str),
    c("PhishFilterVerdict", Str),
    c("PhishDetectionMethod", Str),
    c("MalwareFilterVerdict", Str),
    c("MalwareDetectionMethod", Str),
    c("EmailAction", Str),
    c("EmailActionPolicy", Str),
    c("EmailActionPolicyGuid", Str),
    c("ThreatTypes", Str),
    c("ThreatNames", Str),
    c("DetectionMethods", Str),
    c("ConfidenceLevel", Str),
    c("AttachmentCount", Int),
    c("UrlCount", Int),
    c("EmailLanguage", Str),
    c("Connectors", Str),
    c("OrgLevelAction", Str),
    c("OrgLevelPolicy", Str),
    c("UserLevelAction", Str),
    c("UserLevelPolicy", Str),
    c("ReportId", Long),
];

const EMAIL_ATTACHMENT_INFO: &[Column] = &[
    c("Timestamp", DateTime),
    c("NetworkMessageId", Str),
    c("SenderFromAddress", Str),
    c("SenderDisplayName", Str),
    c("SenderObjectId", Str),
    c("RecipientEmailAddress", Str),
    c("RecipientObjectId", Str),
    c("FileName", Str),
    c("FileType", Str),
    c("SHA256", Str),
    c("ThreatTypes", Str),
    c("ThreatNames", Str),
    c("DetectionMethods", Str),
    c("ReportId", Long),
];

const EMAIL_URL_INFO: &[Column] =
    &[c("Timestamp", DateTime), c("NetworkMessageId", Str), c("Url", Str), c("UrlDomain", Str), c("ReportId", Long)];

const IDENTITY_LOGON_EVENTS: &[Column] = &[
    c("Timestamp", DateTime),
    c("ActionType", Str),
    c("LogonType", Str),
    c("Application", Str),
    c("Protocol", Str),
    c("FailureReason", Str),
    c("AccountName", Str),
    c("AccountDomain", Str),
    c("AccountUpn", Str),
    c("AccountSid", Str),
    c("AccountObjectId", Str),
    c("AccountDisplayName", Str),
    c("DeviceName", Str),
    c("DeviceType", Str),
    c("OSPlatform", Str),
    c("IPAddress", Str),
    c("Port", Int),
    c("DestinationDeviceName", Str),
    c("DestinationIPAddress", Str),
    c("DestinationPort", Int),
    c("TargetDeviceName", Str),
    c("TargetAccountDisplayName", Str),
    c("Location", Str),
    c("Isp", Str),
    c("ReportId", Long),
    c("AdditionalFields", Type::Dynamic),
];

const ALERT_INFO: &[Column] = &[
    c("Timestamp", DateTime),
    c("AlertId", Str),
    c("Title", Str),
    c("Category", Str),
    c("Severity", Str),
    c("ServiceSource", Str),
    c("DetectionSource", Str),
    c("AttackTechniques", Str),
];

const ALERT_EVIDENCE: &[Column] = &[
    c("Timestamp", DateTime),
    c("AlertId", Str),
    c("Title", Str),
    c("Categories", Str),
    c("AttackTechniques", Str),
    c("ServiceSource", Str),
    c("DetectionSource", Str),
    c("EntityType", Str),
    c("EvidenceRole", Str),
    c("EvidenceDirection", Str),
    c("FileName", Str),
    c("FolderPath", Str),
    c("SHA1", Str),
    c("SHA256", Str),
    c("FileSize", Int),
    c("ThreatFamily", Str),
    c("RemoteIP", Str),
    c("RemoteUrl", Str),
    c("AccountName", Str),
    c("AccountDomain", Str),
    c("AccountSid", Str),
    c("AccountObjectId", Str),
    c("AccountUpn", Str),
    c("DeviceId", Str),
    c("DeviceName", Str),
    c("LocalIP", Str),
    c("NetworkMessageId", Str),
    c("EmailSubject", Str),
    c("ApplicationId", Int),
    c("Application", Str),
    c("ProcessCommandLine", Str),
    c("AdditionalFields", Type::Dynamic),
    c("RegistryKey", Str),
    c("RegistryValueName", Str),
    c("RegistryValueData", Str),
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_table_has_unique_columns_and_a_timestamp_first() {
        for table in TABLES {
            let names: HashSet<_> = table.columns.iter().map(|c| c.name).collect();
            assert_eq!(names.len(), table.columns.len(), "{} repeats a column", table.name);
            assert_eq!(table.columns[0], c("Timestamp", DateTime), "{}", table.name);
        }
        assert_eq!(TABLES.len(), 12);
        assert_eq!(table("DeviceNetworkEvents").and_then(|t| t.column("RemotePort")).map(|c| c.ty), Some(Int));
        assert!(table("deviceinfo").is_none(), "table names are case-sensitive");
    }
}
