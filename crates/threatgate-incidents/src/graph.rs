//! The Microsoft Graph view of the incident store (`../shared/spec/graph-security-api.md` §5,
//! §9): one incident document, two shapes. An MTP incident becomes a
//! `microsoft.graph.security.incident`, its alerts `microsoft.graph.security.alert`s with their
//! devices and entities as typed evidence. Keys are written in the order Microsoft's current
//! responses use, every declared property present (null where unset), enums camelCase.

use serde_json::{Map, Value, json};
use threatgate_proto::incident::{Alert, Comment, Device, Entity, Incident};

/// Where the Graph documents point (`incidentWebUrl`, `alertWebUrl`) and whose tenant they are.
#[derive(Debug, Clone, Copy)]
pub struct GraphContext<'a> {
    pub tenant_id: &'a str,
    /// The portal that shows the incident (Microsoft's: `https://security.microsoft.com`).
    pub portal: &'a str,
}

/// An MTP enum value (`TruePositive`, `InProgress`, `UnSpecified`) as Graph writes it.
fn camel(value: &str) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `severity`: `UnSpecified` is `unknown`.
fn severity(value: &str) -> String {
    match value {
        "UnSpecified" | "Unspecified" | "" => "unknown".into(),
        other => camel(other),
    }
}

/// `classification`: null where MTP has none; `Unknown` stays `unknown`.
fn classification(value: Option<&str>) -> Value {
    match value {
        None | Some("") => Value::Null,
        Some(other) => Value::String(camel(other)),
    }
}

/// `determination` (§9.1): MTP's names where Graph renamed them.
fn determination(value: Option<&str>) -> Value {
    let mapped = match value {
        None | Some("") => return Value::Null,
        Some("NotAvailable") => "unknown",
        Some("CompromisedUser") => "compromisedAccount",
        Some("ConfirmedUserActivity") => "confirmedActivity",
        Some("Clean") => "notMalicious",
        Some("NoEnoughDataToValidate" | "InsufficientData") => "notEnoughDataToValidate",
        Some(other) => return Value::String(camel(other)),
    };
    Value::String(mapped.into())
}

/// `serviceSource` (§9.2).
fn service_source(value: &str) -> &'static str {
    match value {
        "MicrosoftDefenderATP" | "MicrosoftDefenderForEndpoint" => "microsoftDefenderForEndpoint",
        "MicrosoftCloudAppSecurity" | "MicrosoftDefenderForCloudApps" => "microsoftDefenderForCloudApps",
        "OfficeATP" | "MicrosoftDefenderForOffice365" => "microsoftDefenderForOffice365",
        "AzureATP" | "MicrosoftDefenderForIdentity" => "microsoftDefenderForIdentity",
        "MTP" | "Microsoft365Defender" => "microsoft365Defender",
        "AAD" | "AzureAdIdentityProtection" => "azureAdIdentityProtection",
        "AppGovernance" | "MicrosoftAppGovernance" => "microsoftAppGovernance",
        "DataLossPrevention" => "dataLossPrevention",
        _ => "unknown",
    }
}

/// `productName` of a service source.
fn product_name(source: &str) -> Value {
    let name = match source {
        "microsoftDefenderForEndpoint" => "Microsoft Defender for Endpoint",
        "microsoftDefenderForCloudApps" => "Microsoft Defender for Cloud Apps",
        "microsoftDefenderForOffice365" => "Microsoft Defender for Office 365",
        "microsoftDefenderForIdentity" => "Microsoft Defender for Identity",
        "microsoft365Defender" => "Microsoft 365 Defender",
        "azureAdIdentityProtection" => "Microsoft Entra ID Protection",
        "microsoftAppGovernance" => "App Governance",
        "dataLossPrevention" => "Microsoft Data Loss Prevention",
        _ => return Value::Null,
    };
    Value::String(name.into())
}

/// `detectionSource` (§9.2); a source Graph does not name is `unknown`.
fn detection_source(value: &str) -> &'static str {
    match value {
        "WindowsDefenderAv" | "Antivirus" => "antivirus",
        "WindowsDefenderSmartScreen" | "SmartScreen" => "smartScreen",
        "CustomerTI" | "CustomTi" => "customTi",
        "OfficeATP" => "microsoftDefenderForOffice365",
        "AutomatedInvestigation" => "automatedInvestigation",
        "ThreatExperts" => "microsoftThreatExperts",
        "CustomDetection" => "customDetection",
        "AzureATP" => "microsoftDefenderForIdentity",
        "MCAS" => "cloudAppSecurity",
        "MTP" => "microsoft365Defender",
        "AAD" => "azureAdIdentityProtection",
        "Manual" => "manual",
        "EDR" | "MicrosoftDefenderForEndpoint" => "microsoftDefenderForEndpoint",
        _ => "unknown",
    }
}

/// Comments as `alertComment`s.
pub fn comments(comments: &[Comment]) -> Vec<Value> {
    comments
        .iter()
        .map(|c| {
            json!({
                "comment": c.comment,
                "createdByDisplayName": c.created_by,
                "createdDateTime": c.created_time,
            })
        })
        .collect()
}

/// An incident as `microsoft.graph.security.incident`, with its alerts when `alerts` is true
/// (`$expand=alerts`).
pub fn incident(incident: &Incident, context: GraphContext<'_>, alerts: bool) -> Value {
    let id = incident.incident_id.to_string();
    let mut document = json!({
        "id": id,
        "tenantId": context.tenant_id,
        "status": camel(&incident.status),
        "incidentWebUrl": format!("{}/incident2/{id}/overview?tid={}", context.portal, context.tenant_id),
        "redirectIncidentId": incident.redirect_incident_id.map(|r| r.to_string()),
        "displayName": incident.incident_name,
        "createdDateTime": incident.created_time,
        "lastUpdateDateTime": incident.last_update_time,
        "assignedTo": incident.assigned_to,
        "classification": classification(Some(&incident.classification)),
        "determination": determination(Some(&incident.determination)),
        "severity": severity(&incident.severity),
        "customTags": incident.tags,
        "systemTags": [],
        "description": Value::Null,
        "lastModifiedBy": Value::Null,
        "resolvingComment": Value::Null,
        "summary": Value::Null,
        "priorityScore": Value::Null,
        "comments": comments(&incident.comments),
    });
    if alerts && let Some(object) = document.as_object_mut() {
        let alerts = incident.alerts.iter().map(|a| alert(a, context)).collect();
        object.insert("alerts".into(), Value::Array(alerts));
    }
    document
}

/// An alert as `microsoft.graph.security.alert`.
pub fn alert(alert: &Alert, context: GraphContext<'_>) -> Value {
    let source = service_source(&alert.service_source);
    // Microsoft's ids carry a two-letter product prefix that providerAlertId drops.
    let provider_id = match alert.alert_id.get(..2) {
        Some(prefix) if prefix.chars().all(|c| c.is_ascii_lowercase()) && alert.alert_id.len() > 2 => {
            &alert.alert_id[2..]
        }
        _ => alert.alert_id.as_str(),
    };
    let incident_id = alert.incident_id.map(|id| id.to_string());
    let mut evidence: Vec<Value> = alert.devices.iter().map(|d| device_evidence(d, &alert.creation_time)).collect();
    evidence.extend(alert.entities.iter().filter_map(|e| entity_evidence(e, &alert.creation_time)));
    json!({
        "id": alert.alert_id,
        "providerAlertId": provider_id,
        "incidentId": incident_id,
        "status": camel(&alert.status),
        "severity": severity(&alert.severity),
        "classification": classification(alert.classification.as_deref()),
        "determination": determination(alert.determination.as_deref()),
        "serviceSource": source,
        "detectionSource": detection_source(&alert.detection_source),
        "productName": product_name(source),
        "detectorId": Value::Null,
        "tenantId": context.tenant_id,
        "title": alert.title,
        "description": alert.description,
        "recommendedActions": Value::Null,
        "category": alert.category,
        "assignedTo": alert.assigned_to,
        "alertWebUrl": format!("{}/alerts/{}?tid={}", context.portal, alert.alert_id, context.tenant_id),
        "incidentWebUrl": incident_id.as_ref().map(|id| format!("{}/incidents/{id}?tid={}", context.portal, context.tenant_id)),
        "actorDisplayName": alert.actor_name,
        "threatDisplayName": alert.threat_family_name,
        "threatFamilyName": alert.threat_family_name,
        "mitreTechniques": alert.mitre_techniques,
        "createdDateTime": alert.creation_time,
        "lastUpdateDateTime": alert.last_updated_time.as_ref().unwrap_or(&alert.creation_time),
        "resolvedDateTime": alert.resolved_time,
        "firstActivityDateTime": alert.first_activity,
        "lastActivityDateTime": alert.last_activity,
        "systemTags": [],
        "alertPolicyId": Value::Null,
        "investigationState": camel(&alert.investigation_state),
        "comments": [],
        "customDetails": {},
        "evidence": evidence,
        "additionalData": {},
    })
}

/// The properties every evidence has, in Microsoft's order, then the kind's own.
fn evidence(kind: &str, created: &str, roles: &[&str], own: Value) -> Value {
    let mut object = Map::new();
    object.insert("@odata.type".into(), Value::String(format!("#microsoft.graph.security.{kind}")));
    object.insert("createdDateTime".into(), Value::String(created.to_owned()));
    object.insert("verdict".into(), Value::String("unknown".into()));
    object.insert("remediationStatus".into(), Value::String("none".into()));
    object.insert("remediationStatusDetails".into(), Value::Null);
    object.insert("roles".into(), json!(roles));
    object.insert("detailedRoles".into(), json!([]));
    object.insert("tags".into(), json!([]));
    if let Value::Object(own) = own {
        object.extend(own);
    }
    Value::Object(object)
}

fn device_evidence(device: &Device, created: &str) -> Value {
    let host = device.device_dns_name.split('.').next().unwrap_or_default().to_owned();
    let domain = device.device_dns_name.split_once('.').map(|(_, d)| d.to_owned());
    evidence(
        "deviceEvidence",
        created,
        &[],
        json!({
            "firstSeenDateTime": device.first_seen,
            "mdeDeviceId": device.mdatp_device_id,
            "azureAdDeviceId": device.aad_device_id,
            "deviceDnsName": device.device_dns_name,
            "hostName": host,
            "ntDomain": Value::Null,
            "dnsDomain": domain,
            "osPlatform": device.os_platform,
            "osBuild": device.os_build,
            "version": device.version,
            "healthStatus": device.health_status.as_deref().map(camel),
            "riskScore": device.risk_score.as_deref().map(camel),
            "rbacGroupId": device.rbac_group_id,
            "rbacGroupName": device.rbac_group_name,
            "onboardingStatus": "onboarded",
            "defenderAvStatus": "unknown",
            "lastIpAddress": Value::Null,
            "lastExternalIpAddress": Value::Null,
            "ipInterfaces": [],
            "vmMetadata": Value::Null,
            "loggedOnUsers": [],
            "resourceAccessEvents": [],
        }),
    )
}

fn file_details(entity: &Entity) -> Value {
    json!({
        "sha1": entity.sha1,
        "sha256": entity.sha256,
        "md5": Value::Null,
        "sha256Ac": Value::Null,
        "fileName": entity.file_name,
        "filePath": entity.file_path,
        "fileSize": Value::Null,
        "filePublisher": Value::Null,
        "signer": Value::Null,
        "issuer": Value::Null,
    })
}

fn user_account(entity: &Entity) -> Value {
    json!({
        "accountName": entity.account_name,
        "domainName": entity.domain_name,
        "userSid": entity.user_sid,
        "azureAdUserId": entity.aad_user_id,
        "userPrincipalName": entity.user_principal_name,
        "displayName": Value::Null,
        "activeDirectoryObjectGuid": Value::Null,
        "resourceAccessEvents": [],
    })
}

/// An MTP entity as its Graph evidence (§9.3); kinds Graph has no evidence for are left out.
fn entity_evidence(entity: &Entity, created: &str) -> Option<Value> {
    let (kind, own) = match entity.entity_type.as_str() {
        "User" => ("userEvidence", json!({ "stream": Value::Null, "userAccount": user_account(entity) })),
        "Ip" => (
            "ipEvidence",
            json!({ "ipAddress": entity.ip_address, "countryLetterCode": Value::Null, "stream": Value::Null, "location": Value::Null }),
        ),
        "Url" => ("urlEvidence", json!({ "url": entity.url })),
        "File" => (
            "fileEvidence",
            json!({ "detectionStatus": Value::Null, "fileDetails": file_details(entity), "mdeDeviceId": entity.device_id }),
        ),
        "Process" => (
            "processEvidence",
            json!({
                "processId": entity.process_id,
                "parentProcessId": entity.parent_process_id,
                "processCommandLine": entity.process_command_line,
                "processCreationDateTime": entity.process_creation_time,
                "parentProcessCreationDateTime": entity.parent_process_creation_time,
                "detectionStatus": Value::Null,
                "mdeDeviceId": entity.device_id,
                "imageFile": file_details(entity),
                "parentProcessImageFile": Value::Null,
                "userAccount": Value::Null,
            }),
        ),
        "MailBox" => (
            "mailboxEvidence",
            json!({
                "displayName": entity.mailbox_display_name,
                "primaryAddress": entity.mailbox_address,
                "upn": entity.user_principal_name,
                "userAccount": Value::Null,
            }),
        ),
        "MailCluster" => ("mailClusterEvidence", json!({ "clusterBy": entity.cluster_by })),
        "Registry" => (
            "registryValueEvidence",
            json!({
                "mdeDeviceId": entity.device_id,
                "registryHive": entity.registry_hive,
                "registryKey": entity.registry_key,
                "registryValue": entity.registry_value,
                "registryValueName": Value::Null,
                "registryValueType": entity.registry_value_type,
            }),
        ),
        "SecurityGroup" => (
            "securityGroupEvidence",
            json!({ "securityGroupId": entity.security_group_id, "displayName": entity.security_group_name }),
        ),
        _ => return None,
    };
    Some(evidence(kind, created, &[], own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_are_written_as_graph_names_them() {
        assert_eq!(camel("TruePositive"), "truePositive");
        assert_eq!(camel("InProgress"), "inProgress");
        assert_eq!(severity("UnSpecified"), "unknown");
        assert_eq!(determination(Some("NotAvailable")), json!("unknown"));
        assert_eq!(determination(Some("Clean")), json!("notMalicious"));
        assert_eq!(determination(Some("MultiStagedAttack")), json!("multiStagedAttack"));
        assert_eq!(classification(None), Value::Null);
        assert_eq!(service_source("MicrosoftDefenderATP"), "microsoftDefenderForEndpoint");
        assert_eq!(detection_source("WindowsDefenderAv"), "antivirus");
        assert_eq!(detection_source("SomethingNew"), "unknown");
    }
}
