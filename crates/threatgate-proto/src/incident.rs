//! The Threat Protection API's incident resource (`threat-protection-api.md` section 3), in
//! the documented key order, and its error body (section 9). Datetimes are strings already in
//! the API's format (`threatgate_domain::datetime::format_ticks`).

use serde::{Deserialize, Serialize};

/// An incident with its alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub incident_id: i64,
    pub redirect_incident_id: Option<i64>,
    pub incident_name: String,
    pub created_time: String,
    pub last_update_time: String,
    pub assigned_to: Option<String>,
    pub classification: String,
    pub determination: String,
    pub status: String,
    pub severity: String,
    pub tags: Vec<String>,
    pub comments: Vec<Comment>,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub comment: String,
    pub created_by: String,
    pub created_time: String,
}

/// An alert (section 3.2), as listed in an incident and as detection sources submit it.
/// Unknown keys are ignored when reading (Microsoft's service adds fields over time);
/// ingestion refuses them itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub alert_id: String,
    /// Set by Threatgate on ingestion; a submitted value is ignored.
    #[serde(default)]
    pub incident_id: Option<i64>,
    pub service_source: String,
    pub creation_time: String,
    #[serde(default)]
    pub last_updated_time: Option<String>,
    #[serde(default)]
    pub resolved_time: Option<String>,
    pub first_activity: String,
    pub last_activity: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    #[serde(default = "new_status")]
    pub status: String,
    pub severity: String,
    #[serde(default)]
    pub investigation_id: Option<i64>,
    #[serde(default = "unknown_state")]
    pub investigation_state: String,
    #[serde(default)]
    pub classification: Option<String>,
    #[serde(default)]
    pub determination: Option<String>,
    pub detection_source: String,
    #[serde(default)]
    pub assigned_to: Option<String>,
    #[serde(default)]
    pub actor_name: Option<String>,
    #[serde(default)]
    pub threat_family_name: Option<String>,
    #[serde(default)]
    pub mitre_techniques: Vec<String>,
    #[serde(default)]
    pub devices: Vec<Device>,
    #[serde(default)]
    pub entities: Vec<Entity>,
}

fn new_status() -> String {
    "New".into()
}

fn unknown_state() -> String {
    "Unknown".into()
}

/// A device of an alert (section 3.3, the wire names of the examples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub mdatp_device_id: String,
    #[serde(default)]
    pub aad_device_id: Option<String>,
    pub device_dns_name: String,
    pub os_platform: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub os_processor: Option<String>,
    #[serde(default)]
    pub os_build: Option<i64>,
    #[serde(default)]
    pub health_status: Option<String>,
    #[serde(default)]
    pub risk_score: Option<String>,
    #[serde(default)]
    pub rbac_group_name: Option<String>,
    #[serde(default)]
    pub rbac_group_id: Option<i64>,
    #[serde(default)]
    pub first_seen: Option<String>,
}

/// An entity of an alert (section 3.4): every key present, `null` where not applicable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Entity {
    pub entity_type: String,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub file_name: Option<String>,
    pub file_path: Option<String>,
    pub process_id: Option<i64>,
    pub process_command_line: Option<String>,
    pub process_creation_time: Option<String>,
    pub parent_process_id: Option<i64>,
    pub parent_process_creation_time: Option<String>,
    pub ip_address: Option<String>,
    pub url: Option<String>,
    pub account_name: Option<String>,
    pub domain_name: Option<String>,
    pub user_sid: Option<String>,
    pub aad_user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub mailbox_display_name: Option<String>,
    pub mailbox_address: Option<String>,
    pub cluster_by: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub delivery_action: Option<String>,
    pub security_group_id: Option<String>,
    pub security_group_name: Option<String>,
    pub registry_hive: Option<String>,
    pub registry_key: Option<String>,
    pub registry_value_type: Option<String>,
    pub registry_value: Option<String>,
    pub device_id: Option<String>,
}

/// `{"error":{"code","message","target"}}` (section 9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub error: ApiError,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    /// The tracking id of the request (a GUID).
    pub target: String,
}

/// What `POST /api/ingest/events/{table}` answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventsReport {
    pub table: String,
    pub events_added: u64,
}
