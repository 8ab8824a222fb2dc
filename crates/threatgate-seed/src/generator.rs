//! Deterministic, realistic alerts for `threatgate seed` and the demo: the service sources,
//! detection sources, categories, MITRE techniques, devices and entity types of
//! `threat-protection-api.md` section 3. The same seed gives the same alerts.
//!
//! Each generated incident is a scenario of one to three alerts that share a device or a user
//! (so correlation joins them); scenarios use entities of their own, so `n` scenarios make `n`
//! incidents.

use threatgate_domain::Ticks;
use threatgate_domain::datetime::format_ticks;
use threatgate_proto::{Alert, Device, Entity};

use crate::dice::Dice;

const TICKS_PER_SECOND: i64 = 10_000_000;

/// Generates alerts for `incidents` scenarios spread over the `days` before `now` (ticks),
/// for a tenant whose users live under `domain`. Yields `(arrival time, alert)` in time order.
#[derive(Debug)]
pub struct AlertGenerator {
    dice: Dice,
    domain: String,
    now: i64,
    span: i64,
    remaining: u64,
    scenario: u64,
    total: u64,
    pending: Vec<(i64, Alert)>,
}

impl AlertGenerator {
    pub fn new(seed: u64, domain: &str, incidents: u64, now: i64, days: u32) -> Self {
        Self {
            dice: Dice::new(seed),
            domain: domain.to_owned(),
            now,
            span: i64::from(days.max(1)) * 86_400 * TICKS_PER_SECOND,
            remaining: incidents,
            scenario: 0,
            total: incidents,
            pending: Vec::new(),
        }
    }

    /// Numbers the scenarios (which name their users and devices, `…1`, `…2`) from `first` + 1
    /// instead of 1, so that alerts generated later for the same tenant do not share a user
    /// name with the first ones (and join their incidents).
    pub fn numbered_from(mut self, first: u64) -> Self {
        self.scenario = first;
        self.total = self.total.saturating_add(first);
        self
    }

    fn guid(&mut self) -> String {
        let h = self.dice.hex(16);
        format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }

    /// One scenario's alerts, oldest first.
    fn scenario(&mut self) -> Vec<(i64, Alert)> {
        self.scenario += 1;
        // Scenarios start evenly over the span (oldest first), with jitter.
        let slot = self.span / i64::try_from(self.total.max(1)).unwrap_or(1);
        let index = i64::try_from(self.scenario).unwrap_or(0);
        let jitter = i64::try_from(self.dice.below(u64::try_from(slot.max(1)).unwrap_or(1))).unwrap_or(0);
        let start = (self.now - self.span + (index - 1) * slot + jitter).min(self.now - TICKS_PER_SECOND * 60);
        let user = format!("{}.{}", self.dice.pick(FIRST_NAMES), self.dice.pick(LAST_NAMES)).to_lowercase()
            + &format!("{}", self.scenario);
        let upn = format!("{user}@{}", self.domain);
        let sid = format!(
            "S-1-5-21-{}-{}-{}-{}",
            1_000_000_000 + self.dice.below(999_999_999),
            100_000_000 + self.dice.below(899_999_999),
            1_000_000_000 + self.dice.below(999_999_999),
            1000 + self.scenario
        );
        let aad = self.guid();
        let device = Device {
            mdatp_device_id: self.dice.hex(20),
            aad_device_id: Some(self.guid()),
            device_dns_name: format!("{}{}.{}", self.dice.pick(DEVICE_PREFIXES), self.scenario, self.domain),
            os_platform: (*self.dice.pick(&["Windows10", "Windows11", "WindowsServer2016", "WindowsServer2019"]))
                .into(),
            version: Some((*self.dice.pick(&["1607", "1809", "21H2", "22H2"])).into()),
            os_processor: Some("x64".into()),
            os_build: Some(i64::try_from(14393 + self.dice.below(8000)).unwrap_or(14393)),
            health_status: Some("Active".into()),
            risk_score: Some((*self.dice.pick(&["Informational", "Low", "Medium", "High"])).into()),
            rbac_group_name: Some("WDATP-Ring0".into()),
            rbac_group_id: Some(9),
            first_seen: Some(format_ticks(start - 90 * 86_400 * TICKS_PER_SECOND)),
        };
        let user_entity = Entity {
            entity_type: "User".into(),
            account_name: Some(user.clone()),
            domain_name: Some(self.domain.split('.').next().unwrap_or("corp").to_owned()),
            user_sid: Some(sid),
            aad_user_id: Some(aad),
            user_principal_name: Some(upn.clone()),
            ..Entity::default()
        };
        let stages: &[Stage] = match self.dice.below(10) {
            0..=5 => std::slice::from_ref(self.dice.pick(SINGLE_STAGES)),
            6..=8 => &MULTI_STAGE[..2],
            _ => MULTI_STAGE,
        };
        let mut alerts = Vec::new();
        let mut at = start;
        for stage in stages {
            at += i64::try_from(60 + self.dice.below(3600)).unwrap_or(60) * TICKS_PER_SECOND;
            let at = at.min(self.now);
            let mut entities = vec![user_entity.clone()];
            let mut devices = Vec::new();
            if stage.on_device {
                devices.push(device.clone());
            }
            match stage.evidence {
                Evidence::File => {
                    let (sha1, sha256) = (self.dice.hex(20), self.dice.hex(32));
                    entities.push(Entity {
                        entity_type: "File".into(),
                        sha1: Some(sha1),
                        sha256: Some(sha256),
                        file_name: Some((*self.dice.pick(&["mimikatz.exe", "procdump64.exe", "invoice.xlsm", "payload.dll"])).into()),
                        file_path: Some("C:\\Users\\Public\\Downloads".into()),
                        device_id: Some(device.mdatp_device_id.clone()),
                        ..Entity::default()
                    });
                }
                Evidence::Process => entities.push(Entity {
                    entity_type: "Process".into(),
                    process_id: Some(i64::try_from(1000 + self.dice.below(30000)).unwrap_or(1000)),
                    process_command_line: Some("powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA".into()),
                    process_creation_time: Some(format_ticks(at)),
                    parent_process_id: Some(i64::try_from(500 + self.dice.below(5000)).unwrap_or(500)),
                    parent_process_creation_time: Some(format_ticks(at - 30 * TICKS_PER_SECOND)),
                    device_id: Some(device.mdatp_device_id.clone()),
                    ..Entity::default()
                }),
                Evidence::Mail => {
                    let sender = format!("billing@{}", self.dice.pick(BAD_DOMAINS));
                    entities.push(Entity {
                        entity_type: "MailMessage".into(),
                        user_principal_name: Some(upn.clone()),
                        mailbox_address: Some(upn.clone()),
                        sender: Some(sender),
                        recipient: Some(upn.clone()),
                        subject: Some((*self.dice.pick(&["[EXTERNAL] Attention", "Invoice overdue", "Your mailbox is full"])).into()),
                        delivery_action: Some("Delivered".into()),
                        ..Entity::default()
                    });
                    entities.push(Entity {
                        entity_type: "Ip".into(),
                        ip_address: Some(format!("{}.{}.{}.{}", 20 + self.dice.below(200), self.dice.below(255), self.dice.below(255), 1 + self.dice.below(254))),
                        ..Entity::default()
                    });
                }
                Evidence::Url => entities.push(Entity {
                    entity_type: "Url".into(),
                    url: Some(format!("{}/{}", self.dice.pick(BAD_DOMAINS), self.dice.hex(4))),
                    device_id: Some(device.mdatp_device_id.clone()),
                    ..Entity::default()
                }),
                Evidence::Ip => entities.push(Entity {
                    entity_type: "Ip".into(),
                    ip_address: Some(format!("{}.{}.{}.{}", 20 + self.dice.below(200), self.dice.below(255), self.dice.below(255), 1 + self.dice.below(254))),
                    ..Entity::default()
                }),
                Evidence::UserOnly => {}
            }
            let alert_id = format!("{}{}", stage.id_prefix, self.guid().to_uppercase());
            alerts.push((
                at,
                Alert {
                    alert_id,
                    incident_id: None,
                    service_source: stage.service_source.into(),
                    creation_time: format_ticks(at),
                    last_updated_time: None,
                    resolved_time: None,
                    first_activity: format_ticks(at - 120 * TICKS_PER_SECOND),
                    last_activity: format_ticks(at - 10 * TICKS_PER_SECOND),
                    title: stage.title.into(),
                    description: stage.description.replace("{user}", &upn),
                    category: stage.category.into(),
                    status: "New".into(),
                    severity: stage.severity.into(),
                    investigation_id: None,
                    investigation_state: stage.investigation_state.into(),
                    classification: None,
                    determination: None,
                    detection_source: stage.detection_source.into(),
                    assigned_to: None,
                    actor_name: None,
                    threat_family_name: stage.threat_family.map(str::to_owned),
                    mitre_techniques: stage.mitre.iter().map(|t| (*t).to_owned()).collect(),
                    devices,
                    entities,
                },
            ));
        }
        alerts
    }
}

impl Iterator for AlertGenerator {
    /// When the alert arrives, and the alert.
    type Item = (Ticks, Alert);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pending.is_empty() {
            if self.remaining == 0 {
                return None;
            }
            self.remaining -= 1;
            let mut alerts = self.scenario();
            alerts.reverse();
            self.pending = alerts;
        }
        self.pending.pop().map(|(received, alert)| (Ticks(received), alert))
    }
}

#[derive(Debug, Clone, Copy)]
enum Evidence {
    File,
    Process,
    Mail,
    Url,
    Ip,
    UserOnly,
}

#[derive(Debug)]
struct Stage {
    title: &'static str,
    description: &'static str,
    category: &'static str,
    severity: &'static str,
    service_source: &'static str,
    detection_source: &'static str,
    investigation_state: &'static str,
    id_prefix: &'static str,
    mitre: &'static [&'static str],
    threat_family: Option<&'static str>,
    on_device: bool,
    evidence: Evidence,
}

const SINGLE_STAGES: &[Stage] = &[
    Stage {
        title: "Ransomware activity",
        description: "The user {user} manipulated 99 files with multiple extensions ending with the uncommon extension herunterladen.",
        category: "Impact",
        severity: "Medium",
        service_source: "MicrosoftCloudAppSecurity",
        detection_source: "MCAS",
        investigation_state: "UnsupportedAlertType",
        id_prefix: "ca",
        mitre: &[],
        threat_family: None,
        on_device: false,
        evidence: Evidence::UserOnly,
    },
    Stage {
        title: "'Mimikatz' hacktool was detected",
        description: "Readily available tools, such as hacking programs, can be used by unauthorized individuals to spy on users.",
        category: "Malware",
        severity: "Low",
        service_source: "MicrosoftDefenderATP",
        detection_source: "WindowsDefenderAv",
        investigation_state: "UnsupportedOs",
        id_prefix: "da",
        mitre: &["T1003"],
        threat_family: Some("Mimikatz"),
        on_device: true,
        evidence: Evidence::File,
    },
    Stage {
        title: "Email reported by user as malware or phish",
        description: "This alert is triggered when any email message is reported as malware or phish by users.",
        category: "InitialAccess",
        severity: "Informational",
        service_source: "OfficeATP",
        detection_source: "OfficeATP",
        investigation_state: "Queued",
        id_prefix: "fa",
        mitre: &["T1566"],
        threat_family: None,
        on_device: false,
        evidence: Evidence::Mail,
    },
    Stage {
        title: "Impossible travel activity",
        description: "The user {user} signed in from two distant locations within a short time.",
        category: "InitialAccess",
        severity: "Medium",
        service_source: "MicrosoftCloudAppSecurity",
        detection_source: "MCAS",
        investigation_state: "UnsupportedAlertType",
        id_prefix: "ca",
        mitre: &["T1078"],
        threat_family: None,
        on_device: false,
        evidence: Evidence::Ip,
    },
    Stage {
        title: "Connection to a custom network indicator",
        description: "A connection was made to a URL on the organization's indicator list.",
        category: "CommandAndControl",
        severity: "High",
        service_source: "MicrosoftDefenderATP",
        detection_source: "CustomTI",
        investigation_state: "Running",
        id_prefix: "da",
        mitre: &["T1071"],
        threat_family: None,
        on_device: true,
        evidence: Evidence::Url,
    },
];

const MULTI_STAGE: &[Stage] = &[
    Stage {
        title: "Phishing link click observed",
        description: "The user {user} clicked a link in an email that was later found malicious.",
        category: "InitialAccess",
        severity: "Medium",
        service_source: "OfficeATP",
        detection_source: "OfficeATP",
        investigation_state: "Queued",
        id_prefix: "fa",
        mitre: &["T1566.002"],
        threat_family: None,
        on_device: false,
        evidence: Evidence::Mail,
    },
    Stage {
        title: "Suspicious PowerShell command line",
        description: "A suspicious PowerShell activity was observed on the device, run by {user}.",
        category: "Execution",
        severity: "Medium",
        service_source: "MicrosoftDefenderATP",
        detection_source: "EDR",
        investigation_state: "PendingApproval",
        id_prefix: "da",
        mitre: &["T1059.001", "T1027"],
        threat_family: None,
        on_device: true,
        evidence: Evidence::Process,
    },
    Stage {
        title: "Possible credential dumping",
        description: "A process accessed the memory of lsass.exe, as credential theft tools do.",
        category: "CredentialAccess",
        severity: "High",
        service_source: "MicrosoftDefenderATP",
        detection_source: "EDR",
        investigation_state: "Running",
        id_prefix: "da",
        mitre: &["T1003.001"],
        threat_family: Some("Mimikatz"),
        on_device: true,
        evidence: Evidence::File,
    },
];

const FIRST_NAMES: &[&str] = &[
    "Avery", "Blake", "Casey", "Dana", "Emery", "Finley", "Gray", "Harper", "Jordan", "Kai", "Logan", "Morgan",
    "Parker", "Quinn", "Riley", "Sage",
];
const LAST_NAMES: &[&str] = &[
    "Adams", "Brooks", "Chen", "Diaz", "Evans", "Foster", "Garcia", "Hughes", "Ito", "Jensen", "Khan", "Lopez",
    "Meyer", "Novak", "Okafor", "Patel",
];
const DEVICE_PREFIXES: &[&str] = &["desktop-", "laptop-", "srv-app-", "srv-sql-", "wks-"];
const BAD_DOMAINS: &[&str] = &["down.esales360.cn", "login-micros0ft.com", "invoice-portal.top", "cdn-update.xyz"];

#[cfg(test)]
mod tests {
    use super::*;
    use threatgate_incidents::prepare_alert;

    #[test]
    fn the_same_seed_gives_the_same_alerts_and_all_of_them_are_valid() {
        let now = 17_900_000_000_000_000;
        let first: Vec<(Ticks, Alert)> = AlertGenerator::new(7, "contoso.onmicrosoft.com", 50, now, 30).collect();
        let again: Vec<(Ticks, Alert)> = AlertGenerator::new(7, "contoso.onmicrosoft.com", 50, now, 30).collect();
        assert_eq!(first, again);
        assert!(first.len() >= 50);
        for (received, alert) in first {
            assert!(received <= Ticks(now));
            prepare_alert(alert, received).unwrap();
        }
        let other: Vec<(Ticks, Alert)> = AlertGenerator::new(8, "contoso.onmicrosoft.com", 50, now, 30).collect();
        assert_ne!(
            other[0].1.alert_id,
            AlertGenerator::new(7, "contoso.onmicrosoft.com", 1, now, 30).next().unwrap().1.alert_id
        );
    }
}
