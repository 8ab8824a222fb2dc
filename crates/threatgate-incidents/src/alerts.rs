//! Submitted alerts: required fields, enumerations and times checked; times normalised to the
//! API's format; the entity keys that correlate alerts computed.

use threatgate_domain::datetime::{format_ticks, parse_datetime_ticks};
use threatgate_domain::{Severity, Ticks};
use threatgate_proto::Alert;

/// Why a body of submitted alerts is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertsError {
    /// The body is not alerts: not UTF-8, not JSON, a misspelt key.
    #[error("{0}")]
    Body(String),
    /// An alert breaks a rule (a required field missing, an unknown severity).
    #[error("{0}")]
    Input(String),
}

/// A checked alert, ready for correlation.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestAlert {
    pub alert: Alert,
    pub severity: Severity,
    pub first_activity: Ticks,
    pub last_activity: Ticks,
    /// When the alert arrived (ticks): the incident's `lastUpdateTime` moves to it.
    pub received: Ticks,
    /// Normalised entity keys (`device:…`, `sid:…`, `upn:…`, `sha256:…`, …).
    pub keys: Vec<String>,
}

/// Checks and normalises an alert received at `now` (ticks), which stamps `lastUpdatedTime`.
pub fn prepare_alert(mut alert: Alert, now: Ticks) -> Result<IngestAlert, String> {
    let required = [
        ("alertId", &alert.alert_id),
        ("serviceSource", &alert.service_source),
        ("title", &alert.title),
        ("category", &alert.category),
        ("detectionSource", &alert.detection_source),
    ];
    for (name, value) in required {
        if value.trim().is_empty() {
            return Err(format!("{name} is required"));
        }
        if value.len() > 1024 {
            return Err(format!("{name} is longer than 1024 characters"));
        }
    }
    if alert.description.len() > 16 * 1024 {
        return Err("description is longer than 16384 characters".into());
    }
    if alert.entities.len() > 500 || alert.devices.len() > 100 || alert.mitre_techniques.len() > 100 {
        return Err("an alert has at most 500 entities, 100 devices and 100 MITRE techniques".into());
    }
    let severity = Severity::parse(&alert.severity)
        .filter(|s| *s != Severity::UnSpecified)
        .ok_or_else(|| format!("severity '{}' is not one of Informational, Low, Medium, High", alert.severity))?;
    if !matches!(alert.status.as_str(), "New" | "InProgress" | "Active" | "Resolved") {
        return Err(format!("status '{}' is not one of New, InProgress, Active, Resolved", alert.status));
    }
    let time = |name: &str, text: &str| {
        parse_datetime_ticks(text).ok_or_else(|| format!("{name} '{text}' is not an ISO-8601 datetime"))
    };
    let creation = time("creationTime", &alert.creation_time)?;
    let first_activity = time("firstActivity", &alert.first_activity)?;
    let last_activity = time("lastActivity", &alert.last_activity)?;
    if last_activity < first_activity {
        return Err("lastActivity is before firstActivity".into());
    }
    alert.creation_time = format_ticks(creation);
    alert.first_activity = format_ticks(first_activity);
    alert.last_activity = format_ticks(last_activity);
    alert.last_updated_time = Some(format_ticks(now.get()));
    if let Some(resolved) = &alert.resolved_time {
        alert.resolved_time = Some(format_ticks(time("resolvedTime", resolved)?));
    }
    alert.incident_id = None;
    let keys = correlation_keys(&alert);
    Ok(IngestAlert {
        alert,
        severity,
        first_activity: Ticks(first_activity),
        last_activity: Ticks(last_activity),
        received: now,
        keys,
    })
}

/// The entities an alert shares with others: devices, user SIDs, UPNs and AAD object ids,
/// file hashes, IP addresses, URLs, mailbox addresses. Case-insensitive, deduplicated.
pub fn correlation_keys(alert: &Alert) -> Vec<String> {
    let mut keys = Vec::new();
    let mut add = |kind: &str, value: Option<&str>| {
        if let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) {
            let key = format!("{kind}:{}", value.to_lowercase());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    };
    for device in &alert.devices {
        add("device", Some(&device.mdatp_device_id));
    }
    for entity in &alert.entities {
        add("device", entity.device_id.as_deref());
        add("sid", entity.user_sid.as_deref());
        add("upn", entity.user_principal_name.as_deref());
        add("aad", entity.aad_user_id.as_deref());
        add("sha1", entity.sha1.as_deref());
        add("sha256", entity.sha256.as_deref());
        add("ip", entity.ip_address.as_deref());
        add("url", entity.url.as_deref());
        add("mailbox", entity.mailbox_address.as_deref());
    }
    keys
}

/// An alert whose every key is one of the alert's fields: a misspelt key is refused, not
/// silently ignored.
fn strict_alert(value: serde_json::Value) -> Result<Alert, String> {
    let alert: Alert = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let known = serde_json::to_value(&alert).map_err(|e| e.to_string())?;
    if let (Some(given), Some(known)) = (value.as_object(), known.as_object())
        && let Some(unknown) = given.keys().find(|key| !known.contains_key(*key))
    {
        return Err(format!("unknown field `{}`", unknown.chars().take(64).collect::<String>()));
    }
    Ok(alert)
}

/// Reads a JSON array of alerts, or one alert per line; names the first bad one.
pub fn parse_alerts(bytes: &[u8], now: Ticks) -> Result<Vec<IngestAlert>, AlertsError> {
    let text = std::str::from_utf8(bytes).map_err(|_| AlertsError::Body("The request body is not UTF-8.".into()))?;
    let raw: Vec<(usize, Alert)> = if text.trim_start().starts_with('[') {
        let alerts: Vec<serde_json::Value> = serde_json::from_str(text)
            .map_err(|error| AlertsError::Body(format!("The alert array is invalid: {error}.")))?;
        let mut checked = Vec::with_capacity(alerts.len());
        for (index, alert) in alerts.into_iter().enumerate() {
            let alert =
                strict_alert(alert).map_err(|error| AlertsError::Body(format!("Alert {}: {error}.", index + 1)))?;
            checked.push((index + 1, alert));
        }
        checked
    } else {
        let mut alerts = Vec::new();
        for (index, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
            let alert = serde_json::from_str(line)
                .map_err(|e| e.to_string())
                .and_then(strict_alert)
                .map_err(|error| AlertsError::Body(format!("Line {}: not a valid alert: {error}.", index + 1)))?;
            alerts.push((index + 1, alert));
        }
        alerts
    };
    raw.into_iter()
        .map(|(number, alert)| {
            prepare_alert(alert, now).map_err(|why| AlertsError::Input(format!("Alert {number}: {why}.")))
        })
        .collect()
}
