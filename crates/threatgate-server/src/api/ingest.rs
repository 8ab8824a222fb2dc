//! `POST /api/ingest/alerts`: the tenant's own detection sources submit alerts (section 3.2
//! shape), as a JSON array or JSON lines; each is correlated into the tenant's incidents.
//! Needs `Incident.ReadWrite.All` held by an application registered in the tenant itself.
//! `POST /api/ingest/events/{table}`: the same sources submit events to the tenant's hunting
//! tables, with the same permission.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use threatgate_domain::{IngestAlerts, Ticks};
use threatgate_hunting::events::{TableError, parse_events};
use threatgate_hunting::schema::Table;
use threatgate_incidents::{AlertsError, IngestAlert};
use threatgate_proto::EventsReport;

use super::ApiFailure;
use super::auth::Authorized;
use super::respond::{noted, throttle};
use crate::quotas::Api;
use crate::state::AppState;

/// At most this much per request; send more in several requests.
const MAX_INGEST_BYTES: usize = 16 * 1024 * 1024;
/// At most this many alerts per request: one request's correlation holds the tenant's (and,
/// on SQLite, the store's) write lock, so its size bounds how long other writers wait.
pub const MAX_ALERTS_PER_REQUEST: usize = 1_000;

/// Ingests alerts for the caller's tenant.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn ingest_alerts(
    State(state): State<AppState>,
    Authorized(scope): Authorized<IngestAlerts>,
    body: Body,
) -> Result<Response, ApiFailure> {
    throttle(&state, &scope, Api::Ingest)?;
    let bytes =
        axum::body::to_bytes(body, MAX_INGEST_BYTES).await.map_err(|_| ApiFailure::TooLarge(MAX_INGEST_BYTES))?;
    let now = Ticks::at(state.clock.now());
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
    Ok(noted(crate::json::json_utf8(&report).into_response(), Vec::new(), result, Some(count)))
}

/// Reads a JSON array of alerts, or one alert per line (the incidents crate's rules), as the
/// API's refusals.
fn parse_alerts(bytes: &[u8], now: Ticks) -> Result<Vec<IngestAlert>, ApiFailure> {
    threatgate_incidents::parse_alerts(bytes, now).map_err(|error| match error {
        AlertsError::Body(message) => ApiFailure::InvalidRequestBody(message),
        AlertsError::Input(message) => ApiFailure::InvalidInput(message),
    })
}

/// Appends events to one of the caller's hunting tables: a JSON array of objects or one object
/// per line, keyed by the table's column names (`Timestamp` required). Same permission and
/// size limit as alerts; all of a request's events are added, or none.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn ingest_events(
    State(state): State<AppState>,
    Authorized(scope): Authorized<IngestAlerts>,
    Path(table): Path<String>,
    body: Body,
) -> Result<Response, ApiFailure> {
    let table = event_table(&table)?;
    throttle(&state, &scope, Api::Ingest)?;
    let bytes =
        axum::body::to_bytes(body, MAX_INGEST_BYTES).await.map_err(|_| ApiFailure::TooLarge(MAX_INGEST_BYTES))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiFailure::InvalidRequestBody("The request body is not UTF-8.".into()))?;
    let rows = parse_events(table, text).map_err(|error| ApiFailure::InvalidRequestBody(format!("{error}.")))?;
    let added = state.store.insert_events(&scope, table, &rows).await?;
    tracing::info!(tenant = %scope.tenant(), table = table.name, events = added, "events ingested");
    let report = EventsReport { table: table.name.to_owned(), events_added: added };
    let result = format!("{added} {} events added", table.name);
    Ok(noted(crate::json::json_utf8(&report).into_response(), Vec::new(), result, None))
}

/// A table events can be submitted to (the hunting crate's rule), as the API's refusals.
fn event_table(name: &str) -> Result<&'static Table, ApiFailure> {
    threatgate_hunting::events::submittable_table(name).map_err(|error| match error {
        TableError::FilledFromAlerts(_) => ApiFailure::InvalidInput(error.to_string()),
        TableError::Unknown { .. } => ApiFailure::NotFound(error.to_string()),
    })
}
