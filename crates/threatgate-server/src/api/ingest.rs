//! `POST /api/ingest/alerts`: the tenant's own detection sources submit alerts (section 3.2
//! shape), as a JSON array or JSON lines; each is correlated into the tenant's incidents.
//! Needs `Incident.ReadWrite.All` held by an application registered in the tenant itself.
//! `POST /api/ingest/events/{table}`: the same sources submit events to the tenant's hunting
//! tables, with the same permission.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use threatgate_domain::IngestAlerts;
use threatgate_domain::datetime::to_ticks;
use threatgate_hunting::events::parse_events;
use threatgate_hunting::schema::{self, Table};
use threatgate_incidents::{IngestAlert, prepare_alert};
use threatgate_proto::Alert;

use super::ApiFailure;
use super::auth::Authorized;
use crate::quotas::Api;
use crate::state::AppState;

/// At most this much per request; send more in several requests.
const MAX_INGEST_BYTES: usize = 16 * 1024 * 1024;
/// At most this many alerts per request: one request's correlation holds the tenant's (and,
/// on SQLite, the store's) write lock, so its size bounds how long other writers wait.
pub const MAX_ALERTS_PER_REQUEST: usize = 1_000;

/// Ingests alerts for the caller's tenant.
pub async fn ingest_alerts(
    State(state): State<AppState>,
    Authorized(scope): Authorized<IngestAlerts>,
    body: Body,
) -> Result<Response, ApiFailure> {
    super::respond::throttle(&state, &scope, Api::Ingest)?;
    let bytes =
        axum::body::to_bytes(body, MAX_INGEST_BYTES).await.map_err(|_| ApiFailure::TooLarge(MAX_INGEST_BYTES))?;
    let now = to_ticks(state.clock.now());
    let alerts = parse_alerts(&bytes, now)?;
    if alerts.len() > MAX_ALERTS_PER_REQUEST {
        return Err(ApiFailure::InvalidInput(format!(
            "At most {MAX_ALERTS_PER_REQUEST} alerts per request; this one has {}. Send them in several requests.",
            alerts.len()
        )));
    }
    let report = state.store.ingest_alerts(&scope, alerts, state.correlation_window_ticks).await?;
    tracing::info!(tenant = %scope.tenant(), alerts = report.alerts_added, "alerts ingested");
    let result = format!(
        "{} alerts added, {} duplicates skipped, {} incidents created, {} merged",
        report.alerts_added, report.duplicates_skipped, report.incidents_created, report.incidents_merged
    );
    let count = format!("{} alerts submitted", report.alerts_added + report.duplicates_skipped);
    Ok(super::respond::noted(crate::json::json_utf8(&report).into_response(), Vec::new(), result, Some(count)))
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
pub fn parse_alerts(bytes: &[u8], now: i64) -> Result<Vec<IngestAlert>, ApiFailure> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiFailure::InvalidRequestBody("The request body is not UTF-8.".into()))?;
    let raw: Vec<(usize, Alert)> = if text.trim_start().starts_with('[') {
        let alerts: Vec<serde_json::Value> = serde_json::from_str(text)
            .map_err(|error| ApiFailure::InvalidRequestBody(format!("The alert array is invalid: {error}.")))?;
        let mut checked = Vec::with_capacity(alerts.len());
        for (index, alert) in alerts.into_iter().enumerate() {
            let alert = strict_alert(alert)
                .map_err(|error| ApiFailure::InvalidRequestBody(format!("Alert {}: {error}.", index + 1)))?;
            checked.push((index + 1, alert));
        }
        checked
    } else {
        let mut alerts = Vec::new();
        for (index, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
            let alert =
                serde_json::from_str(line).map_err(|e| e.to_string()).and_then(strict_alert).map_err(|error| {
                    ApiFailure::InvalidRequestBody(format!("Line {}: not a valid alert: {error}.", index + 1))
                })?;
            alerts.push((index + 1, alert));
        }
        alerts
    };
    raw.into_iter()
        .map(|(number, alert)| {
            prepare_alert(alert, now).map_err(|why| ApiFailure::InvalidInput(format!("Alert {number}: {why}.")))
        })
        .collect()
}

/// What `POST /api/ingest/events/{table}` answers.
#[derive(Debug, serde::Serialize)]
pub struct EventsReport {
    pub table: &'static str,
    pub events_added: u64,
}

/// Appends events to one of the caller's hunting tables: a JSON array of objects or one object
/// per line, keyed by the table's column names (`Timestamp` required). Same permission and
/// size limit as alerts; all of a request's events are added, or none.
pub async fn ingest_events(
    State(state): State<AppState>,
    Authorized(scope): Authorized<IngestAlerts>,
    Path(table): Path<String>,
    body: Body,
) -> Result<Response, ApiFailure> {
    let table = event_table(&table)?;
    super::respond::throttle(&state, &scope, Api::Ingest)?;
    let bytes =
        axum::body::to_bytes(body, MAX_INGEST_BYTES).await.map_err(|_| ApiFailure::TooLarge(MAX_INGEST_BYTES))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiFailure::InvalidRequestBody("The request body is not UTF-8.".into()))?;
    let rows = parse_events(table, text).map_err(|error| ApiFailure::InvalidRequestBody(format!("{error}.")))?;
    let added = state.store.insert_events(&scope, table, &rows).await?;
    tracing::info!(tenant = %scope.tenant(), table = table.name, events = added, "events ingested");
    let report = EventsReport { table: table.name, events_added: added };
    let result = format!("{added} {} events added", table.name);
    Ok(super::respond::noted(crate::json::json_utf8(&report).into_response(), Vec::new(), result, None))
}

/// A table events can be submitted to: any of the schema's but the two filled from alerts.
pub fn event_table(name: &str) -> Result<&'static Table, ApiFailure> {
    let accepted = || {
        schema::TABLES.iter().filter(|t| !ALERT_TABLES.contains(&t.name)).map(|t| t.name).collect::<Vec<_>>().join(", ")
    };
    match schema::table(name) {
        Some(table) if ALERT_TABLES.contains(&table.name) => Err(ApiFailure::InvalidInput(format!(
            "{} is filled from the tenant's alerts: submit alerts to /api/ingest/alerts.",
            table.name
        ))),
        Some(table) => Ok(table),
        None => Err(ApiFailure::NotFound(format!(
            "No event table named '{}'. Tables: {}.",
            name.chars().take(64).collect::<String>(),
            accepted()
        ))),
    }
}

/// The tables written from alerts, never submitted directly.
const ALERT_TABLES: [&str; 2] = ["AlertInfo", "AlertEvidence"];
