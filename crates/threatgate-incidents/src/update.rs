//! `PATCH /api/incidents/{id}` (`threat-protection-api.md` section 6): reading the body with
//! its case-sensitive keys, and applying it.

use serde_json::{Map, Value};
use threatgate_domain::datetime::format_ticks;
use threatgate_domain::{Classification, Determination, IncidentStatus, Ticks};
use threatgate_proto::{Comment, Incident};

/// A checked update. `None` leaves a property as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentUpdate {
    pub status: Option<IncidentStatus>,
    /// `Some(None)` unassigns (an empty string does the same, as clients send it).
    pub assigned_to: Option<Option<String>>,
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    pub tags: Option<Vec<String>>,
    pub comment: Option<String>,
}

/// Why an update was refused, with the API error code it maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// `InvalidRequestBody`: not a JSON object, an unknown key, a value of the wrong type.
    #[error("{0}")]
    Body(String),
    /// `InvalidInput`: a value outside its enumeration, or a rule broken.
    #[error("{0}")]
    Input(String),
}

/// An incident keeps at most this many comments (as Graph keeps per alert); past it a
/// comment is refused with `InvalidInput`, and the document the store rewrites stays bounded.
pub const MAX_INCIDENT_COMMENTS: usize = 1_000;
const MAX_TAGS: usize = 100;
const MAX_TEXT: usize = 4096;

impl IncidentUpdate {
    /// What the update sets, for the access log: each field with its new value, except the
    /// comment's text (only that one was added) and the tags (only how many).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(status) = self.status {
            parts.push(format!("status={status}"));
        }
        match &self.assigned_to {
            Some(Some(owner)) => parts.push(format!("assignedTo={owner}")),
            Some(None) => parts.push("assignedTo=(none)".to_owned()),
            None => {}
        }
        if let Some(classification) = self.classification {
            parts.push(format!("classification={classification}"));
        }
        if let Some(determination) = self.determination {
            parts.push(format!("determination={determination}"));
        }
        if let Some(tags) = &self.tags {
            parts.push(format!("tags=({} tags)", tags.len()));
        }
        if self.comment.is_some() {
            parts.push("comment added".to_owned());
        }
        parts.join(", ")
    }

    /// Reads a PATCH body. Keys are case-sensitive; unknown keys are refused.
    pub fn from_json(body: &Value) -> Result<Self, UpdateError> {
        let object: &Map<String, Value> =
            body.as_object().ok_or_else(|| UpdateError::Body("The request body must be a JSON object.".into()))?;
        let mut update = Self::default();
        for (key, value) in object {
            match key.as_str() {
                "status" => {
                    let text = string(key, value)?;
                    let status = IncidentStatus::parse(text).ok_or_else(|| {
                        UpdateError::Input(format!(
                            "Invalid input '{text}' for status: use Active, InProgress, Resolved or Redirected."
                        ))
                    })?;
                    update.status = Some(status);
                }
                "assignedTo" => {
                    update.assigned_to = Some(match value {
                        Value::Null => None,
                        _ => {
                            let text = bounded(key, string(key, value)?)?;
                            (!text.is_empty()).then(|| text.to_owned())
                        }
                    });
                }
                "classification" => {
                    let text = string(key, value)?;
                    update.classification =
                        Some(Classification::parse(text).ok_or_else(|| {
                            UpdateError::Input(format!("Invalid input '{text}' for classification."))
                        })?);
                }
                "determination" => {
                    let text = string(key, value)?;
                    update.determination = Some(
                        Determination::parse(text)
                            .ok_or_else(|| UpdateError::Input(format!("Invalid input '{text}' for determination.")))?,
                    );
                }
                "tags" => {
                    let items = value
                        .as_array()
                        .ok_or_else(|| UpdateError::Body("tags must be an array of strings.".into()))?;
                    if items.len() > MAX_TAGS {
                        return Err(UpdateError::Input(format!("An incident has at most {MAX_TAGS} tags.")));
                    }
                    let tags = items
                        .iter()
                        .map(|item| {
                            item.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| UpdateError::Body("tags must be an array of strings.".into()))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    for tag in &tags {
                        bounded("tags", tag)?;
                    }
                    update.tags = Some(tags);
                }
                "comment" => {
                    let text = bounded(key, string(key, value)?)?;
                    if !text.trim().is_empty() {
                        update.comment = Some(text.to_owned());
                    }
                }
                other => {
                    let hint = ["status", "assignedTo", "classification", "determination", "tags", "comment"]
                        .iter()
                        .find(|known| known.eq_ignore_ascii_case(other))
                        .map(|known| format!(" Property names are case-sensitive: did you mean '{known}'?"))
                        .unwrap_or_default();
                    return Err(UpdateError::Body(format!(
                        "Invalid request body: unknown property '{}'.{hint}",
                        cut(other)
                    )));
                }
            }
        }
        Ok(update)
    }
}

impl IncidentUpdate {
    /// Reads a Microsoft Graph PATCH body (`graph-security-api.md` §6.3): Graph's names
    /// (`customTags`) and enum members (`truePositive`, `notMalicious`; any case, as clients
    /// send PascalCase too), checked by the same rules as the Threat Protection API's.
    pub fn from_graph_json(body: &Value) -> Result<Self, UpdateError> {
        let object: &Map<String, Value> =
            body.as_object().ok_or_else(|| UpdateError::Body("The request body must be a JSON object.".into()))?;
        let mut translated = Map::new();
        let member = |key: &str, value: &Value, names: &[&str]| -> Result<Value, UpdateError> {
            let text = string(key, value)?;
            names
                .iter()
                .find(|name| name.eq_ignore_ascii_case(text))
                .map(|name| Value::String((*name).to_owned()))
                .ok_or_else(|| UpdateError::Input(format!("Invalid input '{}' for {key}.", cut(text))))
        };
        for (key, value) in object {
            match key.as_str() {
                "assignedTo" => {
                    translated.insert(key.clone(), value.clone());
                }
                "status" => {
                    translated
                        .insert(key.clone(), member(key, value, &["Active", "InProgress", "Resolved", "Redirected"])?);
                }
                "classification" => {
                    let names = ["Unknown", "FalsePositive", "TruePositive", "InformationalExpectedActivity"];
                    translated.insert(key.clone(), member(key, value, &names)?);
                }
                "determination" => {
                    // Graph's members, then the Threat Protection names they stand for.
                    let text = string(key, value)?;
                    let mtp = match text.to_ascii_lowercase().as_str() {
                        "unknown" => "NotAvailable",
                        "notmalicious" => "Clean",
                        "notenoughdatatovalidate" => "NoEnoughDataToValidate",
                        _ => text,
                    };
                    let names = [
                        "NotAvailable",
                        "Apt",
                        "Malware",
                        "SecurityPersonnel",
                        "SecurityTesting",
                        "UnwantedSoftware",
                        "Other",
                        "MultiStagedAttack",
                        "MaliciousUserActivity",
                        "CompromisedAccount",
                        "Phishing",
                        "LineOfBusinessApplication",
                        "ConfirmedActivity",
                        "Clean",
                        "NoEnoughDataToValidate",
                    ];
                    translated.insert(key.clone(), member(key, &Value::String(mtp.to_owned()), &names)?);
                }
                "customTags" => {
                    translated.insert("tags".into(), value.clone());
                }
                key if key.starts_with("@odata.") => {}
                "displayName" | "description" | "severity" | "resolvingComment" | "summary" => {
                    return Err(UpdateError::Input(format!(
                        "Threatgate does not change an incident's {key}; updatable: assignedTo, classification, determination, status, customTags."
                    )));
                }
                other => {
                    return Err(UpdateError::Body(format!(
                        "Invalid request body: '{}' is not a property of microsoft.graph.security.incident that PATCH takes.",
                        cut(other)
                    )));
                }
            }
        }
        Self::from_json(&Value::Object(translated))
    }
}

fn string<'a>(key: &str, value: &'a Value) -> Result<&'a str, UpdateError> {
    value.as_str().ok_or_else(|| UpdateError::Body(format!("{key} must be a string.")))
}

fn bounded<'a>(key: &str, text: &'a str) -> Result<&'a str, UpdateError> {
    if text.chars().count() > MAX_TEXT {
        Err(UpdateError::Input(format!("{key} is longer than {MAX_TEXT} characters.")))
    } else {
        Ok(text)
    }
}

fn cut(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Applies a checked update at `now` (ticks) on behalf of `author`.
pub fn apply_update(
    incident: &mut Incident,
    update: &IncidentUpdate,
    author: &str,
    now: Ticks,
) -> Result<(), UpdateError> {
    let classification =
        update.classification.map(Classification::as_str).unwrap_or(incident.classification.as_str()).to_owned();
    if let Some(determination) = update.determination
        && determination != Determination::NotAvailable
        && classification != Classification::TruePositive.as_str()
    {
        return Err(UpdateError::Input(format!(
            "Invalid input: determination '{determination}' can be set only when the classification is TruePositive (it is {classification})."
        )));
    }
    if update.status == Some(IncidentStatus::Redirected) && incident.redirect_incident_id.is_none() {
        return Err(UpdateError::Input(
            "Invalid input: an incident becomes Redirected only by being merged into another.".into(),
        ));
    }
    if update.comment.is_some() && incident.comments.len() >= MAX_INCIDENT_COMMENTS {
        return Err(UpdateError::Input(format!(
            "Invalid input: an incident keeps at most {MAX_INCIDENT_COMMENTS} comments and this one has no room left."
        )));
    }
    let stamp = format_ticks(now.get());
    if let Some(status) = update.status {
        incident.status = status.as_str().into();
    }
    if let Some(assigned) = &update.assigned_to {
        incident.assigned_to.clone_from(assigned);
    }
    if let Some(new) = update.classification {
        incident.classification = new.as_str().into();
        if new != Classification::TruePositive && update.determination.is_none() {
            incident.determination = Determination::NotAvailable.as_str().into();
        }
    }
    if let Some(determination) = update.determination {
        incident.determination = determination.as_str().into();
    }
    if let Some(tags) = &update.tags {
        incident.tags.clone_from(tags);
    }
    if let Some(comment) = &update.comment {
        incident.comments.push(Comment {
            comment: comment.clone(),
            created_by: author.to_owned(),
            created_time: stamp.clone(),
        });
    }
    incident.last_update_time.clone_from(&stamp);
    for alert in &mut incident.alerts {
        alert.last_updated_time = Some(stamp.clone());
    }
    Ok(())
}

/// A checked change to one alert (Microsoft Graph's `PATCH /security/alerts_v2/{id}`,
/// `graph-security-api.md` §7.3). `None` leaves a property as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertUpdate {
    /// `New`, `InProgress` or `Resolved`.
    pub status: Option<&'static str>,
    /// `Some(None)` unassigns.
    pub assigned_to: Option<Option<String>>,
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
}

impl AlertUpdate {
    /// Reads a Graph PATCH body: `status`, `assignedTo`, `classification`, `determination`
    /// (Graph's members, any case); `@odata.*` keys are ignored, others refused.
    pub fn from_graph_json(body: &Value) -> Result<Self, UpdateError> {
        let object: &Map<String, Value> =
            body.as_object().ok_or_else(|| UpdateError::Body("The request body must be a JSON object.".into()))?;
        // The incident reader knows the shared members (classification, determination).
        let mut shared = Map::new();
        let mut update = Self::default();
        for (key, value) in object {
            match key.as_str() {
                "status" => {
                    let text = string(key, value)?;
                    update.status = Some(
                        ["New", "InProgress", "Resolved"]
                            .into_iter()
                            .find(|s| s.eq_ignore_ascii_case(text))
                            .ok_or_else(|| {
                                UpdateError::Input(format!(
                                    "Invalid input '{}' for status: use new, inProgress or resolved.",
                                    cut(text)
                                ))
                            })?,
                    );
                }
                "assignedTo" | "classification" | "determination" => {
                    shared.insert(key.clone(), value.clone());
                }
                key if key.starts_with("@odata.") => {}
                "customDetails" => {
                    return Err(UpdateError::Input(
                        "Threatgate does not keep an alert's customDetails; updatable: status, assignedTo, classification, determination.".into(),
                    ));
                }
                other => {
                    return Err(UpdateError::Body(format!(
                        "Invalid request body: '{}' is not a property of microsoft.graph.security.alert that PATCH takes.",
                        cut(other)
                    )));
                }
            }
        }
        let incident = IncidentUpdate::from_graph_json(&Value::Object(shared))?;
        update.assigned_to = incident.assigned_to;
        update.classification = incident.classification;
        update.determination = incident.determination;
        Ok(update)
    }
}

/// Applies `update` to the incident's alert `alert_id` at `now`; `false` when the incident has
/// no such alert. The alert's and the incident's update times move to `now`.
pub fn apply_alert_update(incident: &mut Incident, alert_id: &str, update: &AlertUpdate, now: Ticks) -> bool {
    let stamp = format_ticks(now.get());
    let Some(alert) = incident.alerts.iter_mut().find(|a| a.alert_id == alert_id) else { return false };
    if let Some(status) = update.status {
        alert.status = status.to_owned();
        alert.resolved_time = (status == "Resolved").then(|| stamp.clone());
    }
    if let Some(owner) = &update.assigned_to {
        alert.assigned_to.clone_from(owner);
    }
    if let Some(classification) = update.classification {
        alert.classification = Some(classification.as_str().to_owned());
    }
    if let Some(determination) = update.determination {
        alert.determination = Some(determination.as_str().to_owned());
    }
    alert.last_updated_time = Some(stamp.clone());
    incident.last_update_time = stamp;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_alert_update_changes_that_alert_only() {
        let update = AlertUpdate::from_graph_json(&json!({"status": "resolved", "classification": "truePositive", "determination": "malware", "assignedTo": "soc@contoso.com"})).unwrap();
        assert_eq!(update.status, Some("Resolved"));
        assert_eq!(update.determination, Some(Determination::Malware));
        assert!(AlertUpdate::from_graph_json(&json!({"status": "redirected"})).is_err());
        assert!(AlertUpdate::from_graph_json(&json!({"customDetails": {}})).is_err());
        assert!(AlertUpdate::from_graph_json(&json!({"title": "x"})).is_err());
    }

    #[test]
    fn graph_bodies_read_in_graphs_names_and_either_case() {
        // The docs' example (PascalCase) and the SDK's (camelCase) mean the same.
        for body in [
            json!({"classification": "TruePositive", "determination": "MultiStagedAttack", "customTags": ["Demo"]}),
            json!({"@odata.type": "#microsoft.graph.security.incident", "classification": "truePositive", "customTags": ["Demo"], "determination": "multiStagedAttack"}),
        ] {
            let update = IncidentUpdate::from_graph_json(&body).unwrap();
            assert_eq!(update.classification, Some(Classification::TruePositive));
            assert_eq!(update.determination, Some(Determination::MultiStagedAttack));
            assert_eq!(update.tags, Some(vec!["Demo".to_owned()]));
        }
        let update = IncidentUpdate::from_graph_json(&json!({"status": "inProgress", "determination": "notMalicious"}));
        assert_eq!(
            update.as_ref().map(|u| (u.status, u.determination)),
            Ok((Some(IncidentStatus::InProgress), Some(Determination::Clean)))
        );
        let refused = IncidentUpdate::from_graph_json(&json!({"severity": "high"})).unwrap_err();
        assert!(refused.to_string().contains("does not change an incident's severity"), "{refused}");
        assert!(matches!(IncidentUpdate::from_graph_json(&json!({"tags": []})), Err(UpdateError::Body(_))));
        assert!(matches!(IncidentUpdate::from_graph_json(&json!({"status": "closed"})), Err(UpdateError::Input(_))));
    }

    #[test]
    fn the_documented_example_body_is_accepted() {
        let body = json!({
            "status": "Resolved",
            "assignedTo": "secop2@contoso.com",
            "classification": "TruePositive",
            "determination": "Malware",
            "tags": ["Yossi's playground", "Don't mess with the Zohan"],
            "comment": "pen testing"
        });
        let update = IncidentUpdate::from_json(&body).unwrap();
        assert_eq!(update.status, Some(IncidentStatus::Resolved));
        assert_eq!(update.determination, Some(Determination::Malware));
        assert_eq!(update.tags.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn keys_are_case_sensitive_and_unknown_keys_refused() {
        let error = IncidentUpdate::from_json(&json!({"Status": "Resolved"})).unwrap_err();
        assert!(matches!(&error, UpdateError::Body(text) if text.contains("did you mean 'status'")), "{error}");
        assert!(matches!(IncidentUpdate::from_json(&json!({"severity": "High"})), Err(UpdateError::Body(_))));
        assert!(matches!(IncidentUpdate::from_json(&json!([1])), Err(UpdateError::Body(_))));
        assert!(matches!(IncidentUpdate::from_json(&json!({"status": 3})), Err(UpdateError::Body(_))));
    }

    #[test]
    fn bad_enum_values_are_invalid_input() {
        assert!(matches!(IncidentUpdate::from_json(&json!({"status": "resolved"})), Err(UpdateError::Input(_))));
        assert!(matches!(IncidentUpdate::from_json(&json!({"classification": "Maybe"})), Err(UpdateError::Input(_))));
    }

    #[test]
    fn an_empty_assignee_unassigns() {
        let update = IncidentUpdate::from_json(&json!({"assignedTo": ""})).unwrap();
        assert_eq!(update.assigned_to, Some(None));
    }

    #[test]
    fn an_incident_keeps_a_bounded_number_of_comments() {
        let mut incident = Incident {
            incident_id: 7,
            redirect_incident_id: None,
            incident_name: "x".into(),
            created_time: format_ticks(0),
            last_update_time: format_ticks(0),
            assigned_to: None,
            classification: "Unknown".into(),
            determination: "NotAvailable".into(),
            status: "Active".into(),
            severity: "Low".into(),
            tags: Vec::new(),
            comments: Vec::new(),
            alerts: Vec::new(),
        };
        let comment = IncidentUpdate { comment: Some("note".into()), ..IncidentUpdate::default() };
        for n in 0..MAX_INCIDENT_COMMENTS {
            apply_update(&mut incident, &comment, "soc@contoso.com", Ticks(n as i64)).unwrap();
        }
        assert_eq!(incident.comments.len(), MAX_INCIDENT_COMMENTS);
        let before = incident.clone();
        let refused = apply_update(&mut incident, &comment, "soc@contoso.com", Ticks(5_000)).unwrap_err();
        assert!(matches!(&refused, UpdateError::Input(text) if text.contains("at most 1000 comments")), "{refused}");
        assert_eq!(incident, before, "a refused update changes nothing");
        // The rest of an update still applies to a full incident.
        let status = IncidentUpdate { status: Some(IncidentStatus::Resolved), ..IncidentUpdate::default() };
        apply_update(&mut incident, &status, "soc@contoso.com", Ticks(6_000)).unwrap();
        assert_eq!(incident.status, "Resolved");
    }
}
