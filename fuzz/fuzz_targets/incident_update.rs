//! `PATCH` bodies of an incident (the API's and Graph's) and of a Graph alert, read and applied
//! to an incident made from one ingested alert.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threatgate_domain::{IncidentId, Ticks};
use threatgate_incidents::{
    AlertUpdate, IncidentUpdate, apply_alert_update, apply_update, new_incident, parse_alerts,
};

const ALERT: &str = r#"[{"alertId": "da1", "serviceSource": "MicrosoftDefenderATP", "creationTime": "2026-11-20T10:00:00Z",
  "firstActivity": "2026-11-20T09:59:00Z", "lastActivity": "2026-11-20T10:00:00Z", "title": "Suspicious PowerShell",
  "category": "Execution", "severity": "High", "detectionSource": "EDR",
  "entities": [{"entityType": "User", "userPrincipalName": "ana@contoso.com"}]}]"#;

fuzz_target!(|body: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let now = Ticks(639_000_000_000_000_000);
    let Some(alert) = parse_alerts(ALERT.as_bytes(), now).ok().and_then(|mut alerts| alerts.pop()) else {
        return;
    };
    let incident = new_incident(IncidentId::new(1), alert.alert, now);
    for update in [IncidentUpdate::from_json(&json), IncidentUpdate::from_graph_json(&json)] {
        if let Ok(update) = update {
            let _ = update.summary();
            let _ = apply_update(&mut incident.clone(), &update, "fuzz@contoso.com", now);
        }
    }
    if let Ok(update) = AlertUpdate::from_graph_json(&json) {
        let _ = apply_alert_update(&mut incident.clone(), "da1", &update, now);
    }
});
