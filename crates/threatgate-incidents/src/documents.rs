//! Incident documents: the incident as served, built from its alerts and kept in the store.

use threatgate_domain::datetime::format_ticks;
use threatgate_domain::{IncidentId, IncidentStatus, Severity, Ticks, incident_name};
use threatgate_proto::{Alert, Incident};

/// An incident holds at most this many alerts. A full incident takes no more and nothing is
/// merged into it: a matching alert opens a new incident instead (the store stops matching a
/// full incident's entity keys). This bounds every document the store rewrites per alert.
pub const MAX_ALERTS_PER_INCIDENT: usize = 1_000;

/// Whether `incident` can take `more` alerts.
pub fn has_room(incident: &Incident, more: usize) -> bool {
    incident.alerts.len().saturating_add(more) <= MAX_ALERTS_PER_INCIDENT
}

/// A new incident holding one alert.
pub fn new_incident(incident_id: IncidentId, mut alert: Alert, now: Ticks) -> Incident {
    alert.incident_id = Some(incident_id.get());
    let mut incident = Incident {
        incident_id: incident_id.get(),
        redirect_incident_id: None,
        incident_name: String::new(),
        created_time: format_ticks(now.get()),
        last_update_time: format_ticks(now.get()),
        assigned_to: None,
        classification: "Unknown".into(),
        determination: "NotAvailable".into(),
        status: IncidentStatus::Active.as_str().into(),
        severity: String::new(),
        tags: Vec::new(),
        comments: Vec::new(),
        alerts: vec![alert],
    };
    recompute(&mut incident);
    incident
}

/// Adds an alert to an incident.
pub fn add_alert(incident: &mut Incident, alert: Alert, now: Ticks) {
    push_alert(incident, alert, now);
    recompute(incident);
}

/// Adds an alert without updating severity and name: for adding many, followed by one
/// [`summarize`] (each summary reads every alert).
pub fn push_alert(incident: &mut Incident, mut alert: Alert, now: Ticks) {
    alert.incident_id = Some(incident.incident_id);
    incident.alerts.push(alert);
    incident.last_update_time = format_ticks(now.get());
}

/// Brings severity and name up to date with the alerts (after [`push_alert`]).
pub fn summarize(incident: &mut Incident) {
    recompute(incident);
}

/// Moves every alert of `younger` into `older`.
pub fn merge_into(older: &mut Incident, younger: &mut Incident, now: Ticks) {
    for mut alert in younger.alerts.drain(..) {
        alert.incident_id = Some(older.incident_id);
        older.alerts.push(alert);
    }
    older.last_update_time = format_ticks(now.get());
    recompute(older);
}

/// Marks a merged incident: `Redirected` to `target`, with no alerts of its own.
pub fn redirect(incident: &mut Incident, target: IncidentId, now: Ticks) {
    incident.status = IncidentStatus::Redirected.as_str().into();
    incident.redirect_incident_id = Some(target.get());
    incident.alerts.clear();
    incident.last_update_time = format_ticks(now.get());
}

/// Severity is the highest alert severity; the name follows the alerts.
fn recompute(incident: &mut Incident) {
    let highest =
        incident.alerts.iter().filter_map(|a| Severity::parse(&a.severity)).max().unwrap_or(Severity::UnSpecified);
    incident.severity = highest.as_str().into();
    let parts: Vec<(&str, &str)> = incident.alerts.iter().map(|a| (a.title.as_str(), a.category.as_str())).collect();
    incident.incident_name = incident_name(&parts);
}
