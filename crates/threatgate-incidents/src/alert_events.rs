//! An alert as advanced hunting sees it: one `AlertInfo` row and one `AlertEvidence` row per
//! device and entity, so that hunting and the incidents API agree about the tenant's alerts.

use threatgate_domain::datetime::parse_datetime_ticks;
use threatgate_hunting::events::{EventRow, RowBuilder};
use threatgate_hunting::schema::{self, Table};
use threatgate_proto::{Alert, Entity};

/// The `AlertInfo` table.
pub fn alert_info_table() -> &'static Table {
    table("AlertInfo")
}

/// The `AlertEvidence` table.
pub fn alert_evidence_table() -> &'static Table {
    table("AlertEvidence")
}

fn table(name: &str) -> &'static Table {
    // Both are tables of the schema (its test lists them); the fallback is never taken.
    schema::table(name).unwrap_or(&schema::TABLES[0])
}

/// The alert's `AlertInfo` row and its `AlertEvidence` rows; `Timestamp` is the alert's
/// creation time. `None` when that time is not a time (prepared alerts always have one).
pub fn alert_rows(alert: &Alert) -> Option<(EventRow, Vec<EventRow>)> {
    let timestamp = parse_datetime_ticks(&alert.creation_time)?;
    let techniques = serde_json::Value::from(alert.mitre_techniques.clone()).to_string();
    let info = RowBuilder::new(alert_info_table())
        .set("Timestamp", timestamp)
        .set("AlertId", alert.alert_id.as_str())
        .set("Title", alert.title.as_str())
        .set("Category", alert.category.as_str())
        .set("Severity", alert.severity.as_str())
        .set("ServiceSource", alert.service_source.as_str())
        .set("DetectionSource", alert.detection_source.as_str())
        .set("AttackTechniques", techniques.as_str())
        .build();
    let categories = serde_json::Value::from(vec![alert.category.clone()]).to_string();
    let common = || {
        RowBuilder::new(alert_evidence_table())
            .set("Timestamp", timestamp)
            .set("AlertId", alert.alert_id.as_str())
            .set("Title", alert.title.as_str())
            .set("Categories", categories.as_str())
            .set("AttackTechniques", techniques.as_str())
            .set("ServiceSource", alert.service_source.as_str())
            .set("DetectionSource", alert.detection_source.as_str())
    };
    let mut evidence: Vec<EventRow> = alert
        .devices
        .iter()
        .map(|device| {
            common()
                .set("EntityType", "Machine")
                .set("EvidenceRole", "Impacted")
                .set("DeviceId", device.mdatp_device_id.as_str())
                .set("DeviceName", device.device_dns_name.as_str())
                .build()
        })
        .collect();
    let device_name = |id: &Option<String>| {
        id.as_ref()
            .and_then(|id| alert.devices.iter().find(|d| &d.mdatp_device_id == id))
            .map(|d| d.device_dns_name.as_str())
    };
    for entity in &alert.entities {
        let row = common()
            .set("EntityType", evidence_type(entity))
            .set("EvidenceRole", if entity.entity_type == "User" { "Impacted" } else { "Related" })
            .maybe("FileName", entity.file_name.as_deref().or_else(|| process_file_name(entity)))
            .maybe("FolderPath", entity.file_path.as_deref())
            .maybe("SHA1", entity.sha1.as_deref())
            .maybe("SHA256", entity.sha256.as_deref())
            .maybe("RemoteIP", entity.ip_address.as_deref())
            .maybe("RemoteUrl", entity.url.as_deref())
            .maybe("AccountName", entity.account_name.as_deref())
            .maybe("AccountDomain", entity.domain_name.as_deref())
            .maybe("AccountSid", entity.user_sid.as_deref())
            .maybe("AccountObjectId", entity.aad_user_id.as_deref())
            .maybe("AccountUpn", entity.user_principal_name.as_deref().or(entity.recipient.as_deref()))
            .maybe("DeviceId", entity.device_id.as_deref())
            .maybe("DeviceName", device_name(&entity.device_id))
            .maybe("EmailSubject", entity.subject.as_deref())
            .maybe("ProcessCommandLine", entity.process_command_line.as_deref())
            .maybe("ThreatFamily", alert.threat_family_name.as_deref().filter(|_| entity.entity_type == "File"))
            .maybe("RegistryKey", entity.registry_key.as_deref())
            .maybe("RegistryValueName", entity.registry_value_type.as_deref())
            .maybe("RegistryValueData", entity.registry_value.as_deref());
        evidence.push(row.build());
    }
    Some((info, evidence))
}

/// `AlertEvidence.EntityType` for an entity of the API's `entityType`.
fn evidence_type(entity: &Entity) -> &str {
    match entity.entity_type.as_str() {
        "Registry" => "RegistryValue",
        other => other,
    }
}

/// A process's image name, from its command line.
fn process_file_name(entity: &Entity) -> Option<&str> {
    let line = entity.process_command_line.as_deref()?;
    let first = line.split_whitespace().next()?.trim_matches('"');
    first.rsplit(['\\', '/']).next()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "tests")]

    use threatgate_hunting::events::EventValue;

    use super::*;
    use threatgate_seed::generator::AlertGenerator;

    fn get(table: &Table, row: &EventRow, column: &str) -> Option<EventValue> {
        let index = table.columns.iter().position(|c| c.name == column).expect("a column");
        row[index].clone()
    }

    #[test]
    fn every_device_and_entity_of_an_alert_is_evidence() {
        let now = parse_datetime_ticks("2026-11-20T12:00:00Z").expect("a time");
        for (_, alert) in AlertGenerator::new(7, "contoso.com", 40, now, 30) {
            let (info, evidence) = alert_rows(&alert).expect("a generated alert has a creation time");
            let info_table = alert_info_table();
            assert_eq!(get(info_table, &info, "AlertId"), Some(EventValue::Text(alert.alert_id.clone())));
            assert_eq!(get(info_table, &info, "Severity"), Some(EventValue::Text(alert.severity.clone())));
            assert_eq!(evidence.len(), alert.devices.len() + alert.entities.len());
            let table = alert_evidence_table();
            for (row, device) in evidence.iter().zip(&alert.devices) {
                assert_eq!(get(table, row, "EntityType"), Some(EventValue::Text("Machine".into())));
                assert_eq!(get(table, row, "DeviceName"), Some(EventValue::Text(device.device_dns_name.clone())));
            }
            for (row, entity) in evidence[alert.devices.len()..].iter().zip(&alert.entities) {
                assert_eq!(get(table, row, "EntityType"), Some(EventValue::Text(entity.entity_type.clone())));
                if let Some(sha256) = &entity.sha256 {
                    assert_eq!(get(table, row, "SHA256"), Some(EventValue::Text(sha256.clone())));
                }
                if let Some(upn) = &entity.user_principal_name {
                    assert_eq!(get(table, row, "AccountUpn"), Some(EventValue::Text(upn.clone())));
                }
                if entity.entity_type == "Process" {
                    assert_eq!(get(table, row, "FileName"), Some(EventValue::Text("powershell.exe".into())));
                }
            }
        }
    }
}
