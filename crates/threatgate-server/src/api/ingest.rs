//! `POST /api/ingest/alerts`: the tenant's own detection sources submit alerts (section 3.2
//! shape), as a JSON array or JSON lines; each is correlated into the tenant's incidents.
//! Needs `Incident.ReadWrite.All` held by an application registered in the tenant itself.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use threatgate_domain::IngestAlerts;
use threatgate_domain::datetime::to_ticks;
use threatgate_incidents::{IngestAlert, prepare_alert};
use threatgate_proto::Alert;

use super::ApiFailure;
use super::auth::Authorized;
use crate::routes::AppState;

/// At most this much per request; send more in several requests.
const MAX_INGEST_BYTES: usize = 16 * 1024 * 1024;

/// Ingests alerts for the caller's tenant.
pub async fn ingest_alerts(
    State(state): State<AppState>,
    Authorized(scope): Authorized<IngestAlerts>,
    body: Body,
) -> Result<Response, ApiFailure> {
    let bytes =
        axum::body::to_bytes(body, MAX_INGEST_BYTES).await.map_err(|_| ApiFailure::TooLarge(MAX_INGEST_BYTES))?;
    let now = to_ticks(state.identity.clock().now());
    let alerts = parse_alerts(&bytes, now)?;
    let report = state.identity.store().ingest_alerts(&scope, alerts, state.correlation_window_ticks).await?;
    tracing::info!(tenant = %scope.tenant(), alerts = report.alerts_added, "alerts ingested");
    let result = format!(
        "{} alerts added, {} duplicates skipped, {} incidents created, {} merged",
        report.alerts_added, report.duplicates_skipped, report.incidents_created, report.incidents_merged
    );
    let count = format!("{} alerts submitted", report.alerts_added + report.duplicates_skipped);
    Ok(super::incidents::noted(crate::json::json_utf8(&report).into_response(), Vec::new(), result, Some(count)))
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
