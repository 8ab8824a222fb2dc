//! The customer's side of the API: the tenant's incident queue (with the API's own filters),
//! an incident with its alerts and entities, and the partner access log, as pages and as JSON
//! lines. For the tenant's Global Administrators only; read-only.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use threatgate_domain::datetime::{format_ticks, to_ticks};
use threatgate_domain::odata::IncidentQuery;
use threatgate_domain::{IncidentId, IncidentStatus, Permission, ReadAccessLog, ReadIncidents, TenantScope};
use threatgate_proto::Incident;
use threatgate_store::{AccessLogQuery, AuditTrailPages, AuditTrailQuery, StoredAccessEntry};

use super::session::{PortalSession, sign_in_redirect};
use super::{message, page};
use crate::state::AppState;

/// Incidents per page of the queue.
const QUEUE_PAGE: u32 = 25;
/// Entries per page of the access log.
const LOG_PAGE: u32 = 100;
/// Entries read per query while streaming JSON lines.
const EXPORT_CHUNK: u32 = 1_000;

/// The signed-in administrator's scope with permission `P`, with the session; or the page to
/// show instead (sign-in, or "Global Administrators only").
#[allow(clippy::result_large_err, reason = "the error is the response to send at once, not propagated")]
async fn signed_in<P: Permission>(
    state: &AppState,
    session: Option<PortalSession>,
    return_to: &str,
) -> Result<(TenantScope<P>, PortalSession), Response> {
    let Some(session) = session else { return Err(sign_in_redirect(return_to)) };
    let scope = scope_of::<P>(state, &session).await?;
    Ok((scope, session))
}

#[allow(clippy::result_large_err, reason = "the error is the response to send at once, not propagated")]
async fn scope_of<P: Permission>(state: &AppState, session: &PortalSession) -> Result<TenantScope<P>, Response> {
    match threatgate_identity::portal::administrator_scope::<P>(state.store.as_ref(), &session.upn, session.tenant_id)
        .await
    {
        Ok(Some(scope)) => Ok(scope),
        Ok(None) => Err(message(
            StatusCode::FORBIDDEN,
            "Global Administrators only",
            "Incidents and the partner access log are shown to the tenant's Global Administrators.",
            None,
            Some(session),
        )),
        Err(error) => Err(unavailable(&error.to_string(), session)),
    }
}

fn unavailable(detail: &str, session: &PortalSession) -> Response {
    tracing::error!(detail, "a portal page could not read the store");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Unavailable",
        "The data could not be read; try again.",
        None,
        Some(session),
    )
}

/// `2020-09-06T14:46:57.0733333Z` → `2020-09-06 14:46:57 UTC`.
fn shown_time(api_time: &str) -> String {
    match (api_time.get(..10), api_time.get(11..19)) {
        (Some(date), Some(clock)) => format!("{date} {clock} UTC"),
        _ => api_time.to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct QueueParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    assigned: String,
    #[serde(default)]
    updated: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    page: u32,
}

impl QueueParams {
    /// The form's choices as one OData `$filter`, the way a partner would write it.
    fn odata_filter(&self, now_ticks: i64) -> String {
        let mut parts = Vec::new();
        if IncidentStatus::parse(&self.status).is_some() {
            parts.push(format!("status eq '{}'", self.status));
        }
        if !self.assigned.trim().is_empty() {
            parts.push(format!("assignedTo eq '{}'", self.assigned.trim().replace('\'', "''")));
        }
        let hours = match self.updated.as_str() {
            "24h" => Some(24),
            "7d" => Some(24 * 7),
            "30d" => Some(24 * 30),
            _ => None,
        };
        if let Some(hours) = hours {
            parts.push(format!("lastUpdateTime ge {}", format_ticks(now_ticks - hours * 3600 * 10_000_000)));
        }
        if !self.filter.trim().is_empty() {
            parts.push(format!("({})", self.filter.trim()));
        }
        parts.join(" and ")
    }

    /// This query string with another page number.
    fn page_link(&self, page: u32) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("status", &self.status)
            .append_pair("assigned", &self.assigned)
            .append_pair("updated", &self.updated)
            .append_pair("filter", &self.filter)
            .append_pair("page", &page.to_string())
            .finish();
        format!("/portal/incidents?{query}")
    }
}

struct QueueRow {
    id: i64,
    name: String,
    severity: String,
    status: String,
    assigned_to: String,
    alerts: usize,
    last_update: String,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct QueuePage {
    signed_in: Option<String>,
    csrf: String,
    params: QueueParams,
    statuses: Vec<&'static str>,
    odata: String,
    error: Option<String>,
    rows: Vec<QueueRow>,
    total: u64,
    previous: Option<String>,
    next: Option<String>,
    first_shown: u64,
}

/// `GET /portal/incidents`: the queue, newest change first, 25 to a page.
pub async fn queue(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Query(params): Query<QueueParams>,
) -> Response {
    let (scope, session) = match signed_in::<ReadIncidents>(&state, session, "/portal/incidents").await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let odata = params.odata_filter(to_ticks(state.clock.now()));
    let skip = u64::from(params.page) * u64::from(QUEUE_PAGE);
    let (top, skip_text) = (QUEUE_PAGE.to_string(), skip.to_string());
    let mut pairs = vec![("$top", top.as_str()), ("$skip", skip_text.as_str())];
    if !odata.is_empty() {
        pairs.push(("$filter", odata.as_str()));
    }
    let store = &state.store;
    let (status, error, rows, more) = match IncidentQuery::parse(pairs) {
        Err(error) => (StatusCode::BAD_REQUEST, Some(error.0), Vec::new(), false),
        Ok(query) => match store.list_incidents(&scope, &query).await {
            Err(error) => return unavailable(&error.to_string(), &session),
            Ok(listed) => {
                let rows = listed
                    .documents
                    .iter()
                    .filter_map(|document| serde_json::from_str::<Incident>(document).ok())
                    .map(|incident| QueueRow {
                        id: incident.incident_id,
                        name: incident.incident_name,
                        severity: incident.severity,
                        status: incident.status,
                        assigned_to: incident.assigned_to.unwrap_or_default(),
                        alerts: incident.alerts.len(),
                        last_update: shown_time(&incident.last_update_time),
                    })
                    .collect();
                (StatusCode::OK, None, rows, listed.more)
            }
        },
    };
    let total = match store.count_incidents(&scope, None).await {
        Ok(total) => total,
        Err(error) => return unavailable(&error.to_string(), &session),
    };
    page(
        status,
        &QueuePage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            previous: (params.page > 0).then(|| params.page_link(params.page - 1)),
            next: more.then(|| params.page_link(params.page + 1)),
            first_shown: skip + 1,
            statuses: IncidentStatus::ALL.iter().map(|status| status.as_str()).collect(),
            odata,
            error,
            rows,
            total,
            params,
        },
    )
}

struct AlertView {
    title: String,
    severity: String,
    category: String,
    status: String,
    detection_source: String,
    service_source: String,
    first_activity: String,
    mitre: String,
    devices: Vec<String>,
    entities: Vec<(String, String)>,
}

struct LogRow {
    time: String,
    application: String,
    app_id: String,
    operation: &'static str,
    incidents: Vec<i64>,
    status: u16,
    result: String,
    detail: String,
    client_address: String,
    request_id: String,
}

/// A log record's time as the log pages show it (UTC, named in the column's header).
fn log_time(at: i64) -> String {
    shown_time(&format_ticks(at)).trim_end_matches(" UTC").to_owned()
}

impl LogRow {
    fn from_stored(stored: &StoredAccessEntry) -> Self {
        let entry = &stored.entry;
        Self {
            time: log_time(entry.at),
            application: entry.app_name.clone(),
            app_id: entry.app_id.to_string(),
            operation: entry.operation.as_str(),
            incidents: entry.incident_ids.iter().map(|id| id.get()).take(20).collect(),
            status: entry.status,
            result: entry.result.clone(),
            detail: entry.detail.clone(),
            client_address: entry.client_address.clone().unwrap_or_default(),
            request_id: entry.request_id.clone(),
        }
    }

    fn ok(&self) -> bool {
        self.status < 400
    }
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    signed_in: Option<String>,
    csrf: String,
    incident: Incident,
    created: String,
    updated: String,
    alerts: Vec<AlertView>,
    comments: Vec<(String, String, String)>,
    access: Vec<LogRow>,
}

/// `GET /portal/incidents/{id}`: one incident, its alerts and entities, and which
/// applications read or changed it.
pub async fn incident(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Path(id): Path<String>,
) -> Response {
    let here = format!("/portal/incidents/{}", id.chars().take(20).collect::<String>());
    let (scope, session) = match signed_in::<ReadIncidents>(&state, session, &here).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let not_found = || {
        message(
            StatusCode::NOT_FOUND,
            "Incident not found",
            "There is no incident with this id in your tenant.",
            None,
            Some(&session),
        )
    };
    let Some(incident_id) = IncidentId::parse(&id) else { return not_found() };
    let store = &state.store;
    let document = match store.get_incident(&scope, incident_id).await {
        Ok(Some(document)) => document,
        Ok(None) => return not_found(),
        Err(error) => return unavailable(&error.to_string(), &session),
    };
    let Ok(incident) = serde_json::from_str::<Incident>(&document) else {
        return unavailable("an incident document did not parse", &session);
    };
    let log_scope = match scope_of::<ReadAccessLog>(&state, &session).await {
        Ok(scope) => scope,
        Err(response) => return response,
    };
    state.access_log.flush().await;
    let query = AccessLogQuery { incident_id: Some(incident_id), limit: 50, ..AccessLogQuery::default() };
    let access = match store.list_access_entries(&log_scope, &query).await {
        Ok(entries) => entries.iter().map(LogRow::from_stored).collect(),
        Err(error) => return unavailable(&error.to_string(), &session),
    };
    let alerts = incident.alerts.iter().map(alert_view).collect();
    let comments = incident
        .comments
        .iter()
        .map(|c| (shown_time(&c.created_time), c.created_by.clone(), c.comment.clone()))
        .collect();
    page(
        StatusCode::OK,
        &IncidentPage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            created: shown_time(&incident.created_time),
            updated: shown_time(&incident.last_update_time),
            alerts,
            comments,
            access,
            incident,
        },
    )
}

fn alert_view(alert: &threatgate_proto::Alert) -> AlertView {
    let entities = alert
        .entities
        .iter()
        .map(|entity| {
            let fields = serde_json::to_value(entity).ok();
            let described = fields
                .as_ref()
                .and_then(serde_json::Value::as_object)
                .map(|object| {
                    object
                        .iter()
                        .filter(|(key, value)| *key != "entityType" && !value.is_null())
                        .map(|(key, value)| match value {
                            serde_json::Value::String(text) => format!("{key}: {text}"),
                            other => format!("{key}: {other}"),
                        })
                        .collect::<Vec<_>>()
                        .join(" · ")
                })
                .unwrap_or_default();
            (entity.entity_type.clone(), described)
        })
        .collect();
    AlertView {
        title: alert.title.clone(),
        severity: alert.severity.clone(),
        category: alert.category.clone(),
        status: alert.status.clone(),
        detection_source: alert.detection_source.clone(),
        service_source: alert.service_source.clone(),
        first_activity: shown_time(&alert.first_activity),
        mitre: alert.mitre_techniques.join(", "),
        devices: alert.devices.iter().map(|d| format!("{} ({})", d.device_dns_name, d.os_platform)).collect(),
        entities,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LogParams {
    before: Option<i64>,
}

#[derive(Template)]
#[template(path = "access_log.html")]
struct AccessLogPage {
    signed_in: Option<String>,
    csrf: String,
    rows: Vec<LogRow>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    signed_in: Option<String>,
    csrf: String,
    rows: Vec<AuditRow>,
    next: Option<String>,
}

/// One record of the audit trail as the page shows it.
struct AuditRow {
    time: String,
    category: &'static str,
    operation: String,
    actor: String,
    target: String,
    result: String,
    ok: bool,
    detail: String,
    client_address: String,
}

impl AuditRow {
    fn from_record(record: &threatgate_store::AuditRecord) -> Self {
        match record {
            // An API call as the access log's page shows it.
            threatgate_store::AuditRecord::Api(stored) => {
                let row = LogRow::from_stored(stored);
                let incidents: Vec<String> = row.incidents.iter().map(ToString::to_string).collect();
                Self {
                    ok: row.ok(),
                    time: row.time,
                    category: "api",
                    operation: row.operation.to_owned(),
                    actor: row.application,
                    target: incidents.join(" "),
                    result: format!("{} {}", row.status, row.result),
                    detail: row.detail,
                    client_address: row.client_address,
                }
            }
            threatgate_store::AuditRecord::Event(stored) => {
                let event = &stored.event;
                let actor = if event.app_name.is_empty() || event.actor == event.app_name {
                    event.actor.clone()
                } else {
                    format!("{} ({})", event.app_name, event.actor)
                };
                Self {
                    time: log_time(event.at),
                    category: event.category.as_str(),
                    operation: event.operation.clone(),
                    actor,
                    target: event.target.clone(),
                    result: event.result.clone(),
                    ok: !matches!(event.result.as_str(), "refused" | "failed"),
                    detail: event.detail.clone(),
                    client_address: event.client_address.clone().unwrap_or_default(),
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditParams {
    /// Only records before these ticks (the link to older records).
    until: Option<i64>,
}

/// The applications registered in the tenant: their records in other tenants are part of its
/// audit trail.
async fn own_applications(
    store: &dyn threatgate_store::Store,
    scope: &TenantScope<ReadAccessLog>,
) -> Result<Vec<threatgate_domain::AppId>, threatgate_store::StoreError> {
    Ok(store.list_applications(Some(scope.tenant())).await?.into_iter().map(|application| application.app_id).collect())
}

/// `GET /portal/audit`: the tenant's whole audit trail (API calls, changes, consents, tokens,
/// sign-ins, and what its own applications did elsewhere), newest first, 100 to a page.
/// Global Administrators only.
pub async fn audit(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Query(params): Query<AuditParams>,
) -> Response {
    let (scope, session) = match signed_in::<ReadAccessLog>(&state, session, "/portal/audit").await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    state.access_log.flush().await;
    let applications = match own_applications(state.store.as_ref(), &scope).await {
        Ok(applications) => applications,
        Err(error) => return unavailable(&error.to_string(), &session),
    };
    let query = AuditTrailQuery { applications, since: None, until: params.until, limit: LOG_PAGE };
    let mut records = match threatgate_store::read_audit_trail(state.store.as_ref(), &scope, &query).await {
        Ok(records) => records,
        Err(error) => return unavailable(&error.to_string(), &session),
    };
    // A full page continues before its oldest tick; the records at that tick move to the next
    // page whole, so none is shown twice or skipped (unless one tick fills a page).
    let next = if records.len() == LOG_PAGE as usize {
        let oldest = records.last().map(threatgate_store::AuditRecord::at).unwrap_or_default();
        if records.iter().any(|record| record.at() != oldest) {
            records.retain(|record| record.at() != oldest);
            Some(oldest + 1)
        } else {
            Some(oldest)
        }
    } else {
        None
    };
    page(
        StatusCode::OK,
        &AuditPage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            rows: records.iter().map(AuditRow::from_record).collect(),
            next: next.map(|until| format!("/portal/audit?until={until}")),
        },
    )
}

/// `GET /portal/access-log`: every call partners' applications made in this tenant, newest
/// first, 100 to a page.
pub async fn access_log(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Query(params): Query<LogParams>,
) -> Response {
    let (scope, session) = match signed_in::<ReadAccessLog>(&state, session, "/portal/access-log").await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    state.access_log.flush().await;
    let query = AccessLogQuery { before_id: params.before, limit: LOG_PAGE, ..AccessLogQuery::default() };
    let entries = match state.store.list_access_entries(&scope, &query).await {
        Ok(entries) => entries,
        Err(error) => return unavailable(&error.to_string(), &session),
    };
    let next = (entries.len() == LOG_PAGE as usize)
        .then(|| entries.last().map(|last| format!("/portal/access-log?before={}", last.id)))
        .flatten();
    page(
        StatusCode::OK,
        &AccessLogPage {
            signed_in: Some(session.upn.to_string()),
            csrf: session.csrf.clone(),
            rows: entries.iter().map(LogRow::from_stored).collect(),
            next,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct ExportParams {
    /// Only the last this many days.
    days: Option<u32>,
}

/// `GET /portal/access-log.jsonl`: the whole log (or its last `days`), newest first, one JSON
/// object per line, streamed in chunks.
pub async fn access_log_lines(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Query(params): Query<ExportParams>,
) -> Response {
    let (scope, since) = match export_window(&state, session, &params).await {
        Ok(window) => window,
        Err(response) => return response,
    };
    let store = std::sync::Arc::clone(&state.store);
    let scope = std::sync::Arc::new(scope);
    let chunks = futures_util::stream::unfold(Some(None), move |cursor: Option<Option<i64>>| {
        let store = std::sync::Arc::clone(&store);
        let scope = std::sync::Arc::clone(&scope);
        async move {
            let before_id = cursor?;
            let query = AccessLogQuery { since, before_id, limit: EXPORT_CHUNK, ..AccessLogQuery::default() };
            match store.list_access_entries(&scope, &query).await {
                Ok(entries) if entries.is_empty() => None,
                Ok(entries) => {
                    let mut text = String::new();
                    for entry in &entries {
                        text.push_str(&entry.json_line());
                        text.push('\n');
                    }
                    let next = (entries.len() == EXPORT_CHUNK as usize).then(|| entries.last().map(|e| e.id));
                    Some((Ok::<_, std::io::Error>(text), next))
                }
                Err(error) => Some((Err(std::io::Error::other(error.to_string())), None)),
            }
        }
    });
    json_lines_download(chunks, "attachment; filename=\"access-log.jsonl\"")
}

/// `GET /portal/audit.jsonl`: the tenant's audit trail (or its last `days`), newest first:
/// directory and credential changes, consents, tokens issued and API calls in the tenant, and
/// what the tenant's own applications did in other tenants.
pub async fn audit_lines(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    Query(params): Query<ExportParams>,
) -> Response {
    let (scope, since) = match export_window(&state, session, &params).await {
        Ok(window) => window,
        Err(response) => return response,
    };
    let store = std::sync::Arc::clone(&state.store);
    let applications = match own_applications(store.as_ref(), &scope).await {
        Ok(applications) => applications,
        Err(error) => {
            tracing::error!(%error, "reading the tenant's applications failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let query = AuditTrailQuery { applications, since, until: None, limit: EXPORT_CHUNK };
    let pages = AuditTrailPages::new(query);
    let chunks = futures_util::stream::unfold((pages, store, scope), |(mut pages, store, scope)| async move {
        match pages.next_page(store.as_ref(), &scope).await {
            Ok(records) if records.is_empty() => None,
            Ok(records) => {
                let text: String = records.iter().map(|record| record.json_line() + "\n").collect();
                Some((Ok::<_, std::io::Error>(text), (pages, store, scope)))
            }
            Err(error) => {
                tracing::error!(%error, "reading the audit trail failed");
                None
            }
        }
    });
    json_lines_download(chunks, "attachment; filename=\"audit.jsonl\"")
}

/// The scope and start of an export: a Global Administrator's tenant, everything recorded so
/// far on this node flushed, and the start of the last `days` if given.
async fn export_window(
    state: &AppState,
    session: Option<PortalSession>,
    params: &ExportParams,
) -> Result<(TenantScope<ReadAccessLog>, Option<i64>), Response> {
    let (scope, _) = signed_in::<ReadAccessLog>(state, session, "/portal/access-log").await?;
    state.access_log.flush().await;
    let since = params.days.map(|days| to_ticks(state.clock.now() - time::Duration::days(i64::from(days.min(36_500)))));
    Ok((scope, since))
}

/// A streamed JSON lines download, never cached.
fn json_lines_download(
    chunks: impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static,
    disposition: &'static str,
) -> Response {
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson; charset=utf-8"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(disposition));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_form_becomes_an_odata_filter() {
        let params = QueueParams {
            status: "Active".into(),
            assigned: "o'brien@contoso.com".into(),
            updated: "24h".into(),
            filter: "createdTime gt 2026-01-01".into(),
            page: 0,
        };
        let now = to_ticks(time::macros::datetime!(2026-11-26 12:00 UTC));
        assert_eq!(
            params.odata_filter(now),
            "status eq 'Active' and assignedTo eq 'o''brien@contoso.com' and lastUpdateTime ge 2026-11-25T12:00:00Z \
             and (createdTime gt 2026-01-01)"
        );
        assert_eq!(QueueParams { status: "<script>".into(), ..QueueParams::default() }.odata_filter(now), "");
    }

    #[test]
    fn times_are_shown_to_the_second_in_utc() {
        assert_eq!(shown_time("2020-09-06T14:46:57.0733333Z"), "2020-09-06 14:46:57 UTC");
        assert_eq!(shown_time("garbage"), "garbage");
    }
}
