//! The Microsoft Graph security API over the same incidents and events
//! (`../shared/spec/graph-security-api.md`): `GET /v1.0/security/incidents[/{id}]` and
//! `POST /v1.0/security/runHuntingQuery` (also the SDKs' namespace-qualified spelling), under
//! `/v1.0` and `/beta`. Tokens are for `https://graph.microsoft.com` with Graph's roles; the
//! refusals are the API's own ([`ApiFailure`]) written in Graph's error shape.

use axum::body::Body;
use axum::extract::{FromRequestParts, OriginalUri, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use threatgate_domain::odata::{IncidentQuery, Vocabulary, parse_filter_in};
use threatgate_domain::{
    GraphReadAlerts, GraphReadIncidents, GraphRunHunting, GraphWriteAlerts, GraphWriteIncidents, IncidentId,
    Permission, ReadIncidents, TenantScope, Ticks,
};
use threatgate_incidents::graph::{GraphContext, alert, comments, incident};
use threatgate_incidents::{AlertUpdate, IncidentUpdate, UpdateError};
use threatgate_proto::incident::Incident;
use threatgate_store::{CommentOutcome, MAX_ALERT_COMMENT_BYTES, MAX_ALERT_COMMENTS, UpdateOutcome};
use uuid::Uuid;

use super::ApiFailure;
use super::access::AccessNote;
use super::auth::Authorized;
use super::hunting::{execute, read_body};
use super::respond::{noted, throttle};
use crate::quotas::Api;
use crate::state::AppState;

/// Largest `$top` of an incidents page, and the page size without one: what Graph answers
/// (larger is refused with its message, spec §6.1).
const MAX_TOP: u32 = 50;

/// Microsoft's portal, which `incidentWebUrl` and `alertWebUrl` point into.
const PORTAL: &str = "https://security.microsoft.com";

/// A refusal of a Graph call: the API's refusal, written as Graph writes errors.
#[derive(Debug)]
pub struct GraphFailure(ApiFailure);

impl From<ApiFailure> for GraphFailure {
    fn from(failure: ApiFailure) -> Self {
        Self(failure)
    }
}

impl From<threatgate_store::StoreError> for GraphFailure {
    fn from(error: threatgate_store::StoreError) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for GraphFailure {
    /// `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`
    /// (spec §4.5), with `request-id` as a header too, and an integer `Retry-After` on 429.
    fn into_response(self) -> Response {
        let request_id = Uuid::new_v4().to_string();
        let (status, code, message) = match &self.0 {
            ApiFailure::Unauthorized(message) => {
                (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message.clone())
            }
            ApiFailure::Forbidden(message) => (StatusCode::FORBIDDEN, "Forbidden", message.clone()),
            ApiFailure::NotFound(message) => (StatusCode::NOT_FOUND, "NotFound", message.clone()),
            ApiFailure::OData(message)
            | ApiFailure::InvalidRequestBody(message)
            | ApiFailure::InvalidInput(message)
            | ApiFailure::BadRequest(message) => (StatusCode::BAD_REQUEST, "BadRequest", message.clone()),
            ApiFailure::TooLarge(limit) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "BadRequest", format!("The request body is larger than {limit} bytes."))
            }
            ApiFailure::Throttled { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Please retry again later.".into())
            }
            ApiFailure::Busy => {
                (StatusCode::SERVICE_UNAVAILABLE, "ServiceNotAvailable", "The service is busy; retry later.".into())
            }
            ApiFailure::Unavailable { status, .. } => match status.as_u16() {
                504 => (*status, "GatewayTimeout", "The gateway timed out (emulator fault).".into()),
                500 => (*status, "UnknownError", String::new()),
                _ => {
                    (*status, "ServiceNotAvailable", "The service is unavailable; retry later (emulator fault).".into())
                }
            },
            ApiFailure::Internal(detail) => {
                tracing::error!(request_id, detail, "Graph request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "UnknownError", String::new())
            }
        };
        let throttled = matches!(&self.0, ApiFailure::Throttled { .. });
        // The $top refusal Graph answers with an empty code and empty details (spec §4.5).
        let top_refusal = matches!(&self.0, ApiFailure::OData(m) if m.contains("for Top query has been exceeded"));
        let mut response = render_graph(status, if top_refusal { "" } else { code }, &message, &request_id, throttled);
        let headers = response.headers_mut();
        match &self.0 {
            ApiFailure::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiFailure::Throttled { retry_after_seconds, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            ApiFailure::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(super::errors::BUSY_RETRY_AFTER_SECONDS));
            }
            ApiFailure::Unavailable { retry_after_seconds: Some(seconds), .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            _ => {}
        }
        response.extensions_mut().insert(AccessNote {
            result: format!("{code}: {message}"),
            request_id: Some(request_id),
            ..AccessNote::default()
        });
        response
    }
}

/// Graph's error body (spec §4.5): `{"error":{"code","message","innerError":{"date",
/// "request-id","client-request-id"}}}`, with the ids also as headers. An empty `code` is the
/// observed `$top` refusal, which carries `details: []`; a throttled call's `innerError` adds
/// Graph's `code`, `message` and `status`.
pub(super) fn render_graph(
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
    throttled: bool,
) -> Response {
    let now = time::OffsetDateTime::now_utc();
    let date = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut inner = Map::new();
    if throttled {
        inner.insert("code".into(), json!("429"));
        inner.insert("message".into(), json!("Please retry after"));
        inner.insert("status".into(), json!("429"));
    }
    inner.insert("date".into(), json!(date));
    inner.insert("request-id".into(), json!(request_id));
    inner.insert("client-request-id".into(), json!(request_id));
    let error = if code.is_empty() {
        json!({"code": code, "message": message, "details": [], "innerError": inner})
    } else {
        json!({"code": code, "message": message, "innerError": inner})
    };
    let mut response = (status, crate::json::json_utf8(&json!({ "error": error }))).into_response();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("request-id", value.clone());
        response.headers_mut().insert("client-request-id", value);
    }
    response
}

/// `failure` as Graph writes it.
pub fn graph_failure(failure: ApiFailure) -> Response {
    GraphFailure(failure).into_response()
}

/// Whether `path` is one of Graph's (`/v1.0/…`, `/beta/…`).
pub fn is_graph_path(path: &str) -> bool {
    path.starts_with("/v1.0/") || path.starts_with("/beta/")
}

/// The static path segments of Graph's routes, in the spelling the router knows.
const SEGMENTS: &[&str] = &[
    "v1.0",
    "beta",
    "security",
    "incidents",
    "alerts_v2",
    "comments",
    "runHuntingQuery",
    "microsoft.graph.security.runHuntingQuery",
    "applications",
    "addPassword",
    "servicePrincipals",
    "appRoleAssignedTo",
    "appRoleAssignments",
];

/// A Graph request path in the router's spelling: static segments matched in any case (the
/// docs write `alerts_V2` and `serviceprincipals`, spec §2), and an alternate key
/// `applications(appId='…')` as two segments, `applications/appId=…`. `None` when the path
/// is not Graph's or is already in that spelling.
pub fn canonical_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    let first = rest.split('/').next()?;
    if !first.eq_ignore_ascii_case("v1.0") && !first.eq_ignore_ascii_case("beta") {
        return None;
    }
    let mut canonical = String::with_capacity(path.len() + 8);
    for segment in rest.split('/') {
        canonical.push('/');
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        if let Some((name, key)) = decoded.strip_suffix(')').and_then(|s| s.split_once('(')) {
            let name = SEGMENTS.iter().find(|known| known.eq_ignore_ascii_case(name)).copied().unwrap_or(name);
            let key = key.trim();
            let key = match key.split_once('=') {
                Some((property, value)) if property.trim().eq_ignore_ascii_case("appId") => {
                    format!("appId={}", value.trim().trim_matches('\''))
                }
                _ => key.trim_matches('\'').to_owned(),
            };
            canonical.push_str(name);
            canonical.push('/');
            canonical.extend(percent_encoding::utf8_percent_encode(&key, SEGMENT_ENCODE));
            continue;
        }
        match SEGMENTS.iter().find(|known| known.eq_ignore_ascii_case(segment)) {
            Some(known) => canonical.push_str(known),
            None => canonical.push_str(segment),
        }
    }
    (canonical != path).then_some(canonical)
}

/// What a rewritten key segment escapes.
const SEGMENT_ENCODE: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b'/').add(b'?').add(b'#').add(b'%').add(b'\'');

/// Rewrites a Graph request's path to [`canonical_path`] before routing.
pub fn canonical_request<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    let Some(path) = canonical_path(request.uri().path()) else { return request };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(value) = path_and_query.parse() {
        parts.path_and_query = Some(value);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            // The handlers read the options and the version from the URI as routed.
            request.extensions_mut().insert(OriginalUri(uri.clone()));
            *request.uri_mut() = uri;
        }
    }
    request
}

/// [`Authorized`] for Graph's routes: the same checks, refused in Graph's shape.
#[derive(Debug)]
pub struct GraphAuthorized<P: Permission>(pub TenantScope<P>);

impl<P: Permission> FromRequestParts<AppState> for GraphAuthorized<P> {
    type Rejection = GraphFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Authorized(scope) = Authorized::<P>::from_request_parts(parts, state).await?;
        Ok(Self(scope))
    }
}

/// The query options of a Graph incidents request.
#[derive(Debug)]
struct GraphQuery {
    incidents: IncidentQuery,
    expand_alerts: bool,
    /// `$count=true`: the matching incidents' number, as `@odata.count`.
    count: bool,
    /// `$select`: the properties to keep (`id` always), if given.
    select: Option<Vec<String>>,
    /// The options a next page repeats, as sent.
    carried: Vec<(String, String)>,
}

impl GraphQuery {
    /// `$filter`, `$top` (1..50), `$skip`, `$expand=alerts`, `$orderby` (the order served);
    /// others refused by name.
    fn parse(pairs: &[(String, String)], list: bool) -> Result<Self, ApiFailure> {
        let mut query = IncidentQuery { filter: None, top: MAX_TOP, skip: 0, comment_flags: false };
        let mut expand_alerts = false;
        let mut count = false;
        let mut select = None;
        let mut carried = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            if !name.starts_with('$') {
                continue;
            }
            if seen.contains(&name.as_str()) {
                return Err(ApiFailure::OData(format!("The query parameter '{name}' is specified more than once.")));
            }
            seen.push(name);
            match (name.as_str(), list) {
                ("$select", _) => {
                    select = Some(selection(value, INCIDENT_PROPERTIES, "microsoft.graph.security.incident")?);
                    carried.push((name.clone(), value.clone()));
                }
                ("$expand", _) => {
                    if !value.split(',').all(|item| item.trim().eq_ignore_ascii_case("alerts")) {
                        return Err(ApiFailure::OData(format!(
                            "Parsing OData Select and Expand failed: Could not find a property named '{}' on type 'microsoft.graph.security.incident'.",
                            value.chars().take(64).collect::<String>()
                        )));
                    }
                    expand_alerts = true;
                    query.comment_flags = true;
                    carried.push((name.clone(), value.clone()));
                }
                ("$filter", true) => {
                    query.filter = Some(parse_filter_in(value, Vocabulary::Graph).map_err(|e| ApiFailure::OData(e.0))?);
                    carried.push((name.clone(), value.clone()));
                }
                ("$top", true) => {
                    query.top = match value.trim().parse::<u64>() {
                        Ok(top) if top > u64::from(MAX_TOP) => {
                            return Err(ApiFailure::OData(format!(
                                "The query specified in the URI is not valid. The limit of '{MAX_TOP}' for Top query has been exceeded. The value from the incoming request is '{top}'."
                            )));
                        }
                        Ok(top) if top >= 1 => u32::try_from(top).unwrap_or(MAX_TOP),
                        _ => {
                            return Err(ApiFailure::OData(format!(
                                "Invalid value '{}' for $top query option found. The $top query option requires a non-negative integer value.",
                                value.chars().take(32).collect::<String>()
                            )));
                        }
                    };
                }
                ("$skip", true) => {
                    query.skip = value.trim().parse::<u64>().map_err(|_| {
                        ApiFailure::OData(format!(
                            "Invalid value '{}' for $skip query option found. The $skip query option requires a non-negative integer value.",
                            value.chars().take(32).collect::<String>()
                        ))
                    })?;
                }
                ("$count", true) => {
                    count = match value.trim().to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiFailure::OData(format!(
                                "Invalid value '{}' for $count query option found. Valid values are 'true' and 'false'.",
                                value.chars().take(32).collect::<String>()
                            )));
                        }
                    };
                    carried.push((name.clone(), value.clone()));
                }
                ("$orderby", true) => {
                    let order = value.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !order.eq_ignore_ascii_case("lastUpdateDateTime desc") {
                        return Err(ApiFailure::OData(format!(
                            "$orderby '{}' is not supported: incidents are served newest update first (lastUpdateDateTime desc).",
                            value.chars().take(64).collect::<String>()
                        )));
                    }
                    carried.push((name.clone(), value.clone()));
                }
                (other, _) => {
                    return Err(ApiFailure::OData(format!(
                        "The query parameter '{}' is not supported here. Supported: {}.",
                        other.chars().take(64).collect::<String>(),
                        if list {
                            "$filter, $top, $skip, $count, $expand=alerts, $orderby=lastUpdateDateTime desc"
                        } else {
                            "$expand=alerts"
                        }
                    )));
                }
            }
        }
        Ok(Self { incidents: query, expand_alerts, count, select, carried })
    }
}

/// An incident's properties, for `$select`.
const INCIDENT_PROPERTIES: &[&str] = &[
    "id",
    "tenantId",
    "status",
    "incidentWebUrl",
    "redirectIncidentId",
    "displayName",
    "createdDateTime",
    "lastUpdateDateTime",
    "assignedTo",
    "classification",
    "determination",
    "severity",
    "customTags",
    "systemTags",
    "description",
    "lastModifiedBy",
    "resolvingComment",
    "summary",
    "priorityScore",
    "comments",
    "alerts",
];

/// The properties a `$select` names (comma-separated), each a property of `entity`.
fn selection(value: &str, properties: &[&str], entity: &str) -> Result<Vec<String>, ApiFailure> {
    value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            properties.iter().find(|p| **p == name).map(|p| (*p).to_owned()).ok_or_else(|| {
                ApiFailure::OData(format!(
                    "Parsing OData Select and Expand failed: Could not find a property named '{}' on type '{entity}'.",
                    name.chars().take(64).collect::<String>()
                ))
            })
        })
        .collect()
}

/// `value` with only the selected properties (and `id`, and an expanded `alerts`), in its order.
fn selected(value: Value, select: Option<&[String]>, keep_alerts: bool) -> Value {
    let (Some(select), Value::Object(object)) = (select, &value) else { return value };
    let kept = object
        .iter()
        .filter(|(key, _)| key.as_str() == "id" || select.contains(key) || (keep_alerts && key.as_str() == "alerts"))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Value::Object(kept)
}

pub(super) fn query_pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect()
}

/// `https://host/v1.0` or `…/beta`, as the request was addressed.
pub(super) fn base(state: &AppState, uri: &axum::http::Uri) -> String {
    let version = if uri.path().starts_with("/beta/") { "beta" } else { "v1.0" };
    format!("{}/{version}", state.public_url)
}

/// Graph's 404 for an incident id (any text, cut short) the tenant does not have.
fn incident_not_found(id: &str) -> ApiFailure {
    ApiFailure::NotFound(format!("Incident '{}' was not found.", id.chars().take(32).collect::<String>()))
}

/// Graph's 404 for an alert id (any text, cut short) the tenant does not have.
fn alert_not_found(id: &str) -> ApiFailure {
    ApiFailure::NotFound(format!("Alert '{}' was not found.", id.chars().take(64).collect::<String>()))
}

/// A stored incident document, read back (whole, or as an [`IncidentHead`]).
fn stored<T: serde::de::DeserializeOwned>(document: &str) -> Result<T, ApiFailure> {
    serde_json::from_str(document)
        .map_err(|error| ApiFailure::Internal(format!("a stored incident does not read back: {error}")))
}

/// An incident's own properties, read from a stored document without its alerts (which serde
/// skips without building them): most of a document is its alerts, and Graph shows them only
/// when expanded.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncidentHead {
    incident_id: i64,
    redirect_incident_id: Option<i64>,
    incident_name: String,
    created_time: String,
    last_update_time: String,
    assigned_to: Option<String>,
    classification: String,
    determination: String,
    status: String,
    severity: String,
    tags: Vec<String>,
    comments: Vec<threatgate_proto::incident::Comment>,
}

/// A stored incident document in Graph's shape.
fn graph_incident(document: &str, tenant: &str, expand_alerts: bool) -> Result<Value, ApiFailure> {
    let context = GraphContext { tenant_id: tenant, portal: PORTAL };
    if expand_alerts {
        return Ok(incident(&stored::<Incident>(document)?, context, true));
    }
    let head: IncidentHead = stored(document)?;
    let parsed = Incident {
        incident_id: head.incident_id,
        redirect_incident_id: head.redirect_incident_id,
        incident_name: head.incident_name,
        created_time: head.created_time,
        last_update_time: head.last_update_time,
        assigned_to: head.assigned_to,
        classification: head.classification,
        determination: head.determination,
        status: head.status,
        severity: head.severity,
        tags: head.tags,
        comments: head.comments,
        alerts: Vec::new(),
    };
    Ok(incident(&parsed, context, false))
}

/// One entity of `set` (`security/incidents`, `security/alerts_v2`): its `@odata.context`, then
/// its properties.
fn entity_response(state: &AppState, uri: &axum::http::Uri, set: &str, value: Value) -> Response {
    let mut entity = Map::new();
    entity.insert("@odata.context".into(), json!(format!("{}/$metadata#{set}/$entity", base(state, uri))));
    if let Value::Object(fields) = value {
        entity.extend(fields);
    }
    json_response(&Value::Object(entity))
}

pub(super) fn json_response(value: &Value) -> Response {
    let mut response = value.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
        ),
    );
    response.headers_mut().insert("OData-Version", HeaderValue::from_static("4.0"));
    response
}

/// `GET /v1.0/security/incidents`: the tenant's incidents, newest update first, 50 a page, with
/// `@odata.nextLink` while more follow. Needs `SecurityIncident.Read.All` or `.ReadWrite.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn list_incidents(
    State(state): State<AppState>,
    GraphAuthorized(scope): GraphAuthorized<GraphReadIncidents>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, GraphFailure> {
    throttle(&state, &scope, Api::ListIncidents)?;
    let pairs = query_pairs(&uri);
    let query = GraphQuery::parse(&pairs, true)?;
    let page = state.store.list_incidents(&scope.as_read(), &query.incidents).await?;
    let tenant = scope.tenant().to_string();
    let mut value = page
        .documents
        .iter()
        .map(|document| {
            graph_incident(document, &tenant, query.expand_alerts)
                .map(|value| selected(value, query.select.as_deref(), query.expand_alerts))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if query.expand_alerts && page.commented {
        expanded_comments(&state, &scope.as_read(), &mut value).await?;
    }
    let base = base(&state, &uri);
    let context = if query.expand_alerts { "security/incidents(alerts())" } else { "security/incidents" };
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{base}/$metadata#{context}")));
    if query.count {
        let total = state.store.count_incidents(&scope.as_read(), query.incidents.filter.as_ref()).await?;
        body.insert("@odata.count".into(), json!(total));
    }
    if page.more {
        let mut next = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &query.carried {
            next.append_pair(name, value);
        }
        next.append_pair("$top", &query.incidents.top.to_string());
        next.append_pair("$skip", &(query.incidents.skip + u64::from(query.incidents.top)).to_string());
        body.insert("@odata.nextLink".into(), json!(format!("{base}/security/incidents?{}", next.finish())));
    }
    body.insert("value".into(), Value::Array(value));
    let result = format!("{} incidents", page.ids.len());
    Ok(noted(json_response(&Value::Object(body)), page.ids, result, None))
}

/// `GET /v1.0/security/incidents/{id}`. Another tenant's incident is a 404, as an unknown one.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn get_incident(
    State(state): State<AppState>,
    GraphAuthorized(scope): GraphAuthorized<GraphReadIncidents>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, GraphFailure> {
    throttle(&state, &scope, Api::GetIncident)?;
    let query = GraphQuery::parse(&query_pairs(&uri), false)?;
    let not_found = || incident_not_found(&id);
    let incident_id = IncidentId::parse(&id).ok_or_else(not_found)?;
    let document = state.store.get_incident(&scope.as_read(), incident_id).await?.ok_or_else(not_found)?;
    let value = graph_incident(&document, &scope.tenant().to_string(), query.expand_alerts)?;
    let mut value = [selected(value, query.select.as_deref(), query.expand_alerts)];
    if query.expand_alerts {
        expanded_comments(&state, &scope.as_read(), &mut value).await?;
    }
    let [value] = value;
    Ok(noted(entity_response(&state, &uri, "security/incidents", value), vec![incident_id], "read".into(), None))
}

/// PATCH and comment bodies larger than this are refused; a real one is a few hundred bytes.
const MAX_WRITE_BYTES: usize = 64 * 1024;

pub(super) async fn write_body(body: Body) -> Result<Value, ApiFailure> {
    let bytes = axum::body::to_bytes(body, MAX_WRITE_BYTES).await.map_err(|_| ApiFailure::TooLarge(MAX_WRITE_BYTES))?;
    serde_json::from_slice(&bytes)
        .map_err(|error| ApiFailure::InvalidRequestBody(format!("The request body is not valid JSON: {error}.")))
}

fn refusal(error: UpdateError) -> ApiFailure {
    match error {
        UpdateError::Body(message) => ApiFailure::InvalidRequestBody(message),
        UpdateError::Input(message) => ApiFailure::InvalidInput(message),
    }
}

/// Applies `update` to incident `id` of the caller's tenant; the updated incident as stored.
async fn apply(
    state: &AppState,
    scope: &TenantScope<GraphWriteIncidents>,
    id: &str,
    update: &IncidentUpdate,
) -> Result<(IncidentId, Incident), ApiFailure> {
    let not_found = || incident_not_found(id);
    let incident_id = IncidentId::parse(id).ok_or_else(not_found)?;
    let now = Ticks::at(state.clock.now());
    match state.store.update_incident(&scope.as_write(), incident_id, update, now).await? {
        UpdateOutcome::Updated(document) => {
            tracing::info!(%incident_id, tenant = %scope.tenant(), "incident updated through Graph");
            Ok((incident_id, stored(&document)?))
        }
        UpdateOutcome::NotFound => Err(not_found()),
        UpdateOutcome::Refused(error) => Err(refusal(error)),
    }
}

/// `PATCH /v1.0/security/incidents/{id}`: `assignedTo`, `classification`, `determination`,
/// `status`, `customTags` (spec §6.3); the incident as updated. Needs
/// `SecurityIncident.ReadWrite.All`. The Threat Protection API sees the same change.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn update_incident(
    State(state): State<AppState>,
    GraphAuthorized(scope): GraphAuthorized<GraphWriteIncidents>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    body: Body,
) -> Result<Response, GraphFailure> {
    throttle(&state, &scope, Api::UpdateIncident)?;
    let update = IncidentUpdate::from_graph_json(&write_body(body).await?).map_err(refusal)?;
    let (incident_id, updated) = apply(&state, &scope, &id, &update).await?;
    let context = GraphContext { tenant_id: &scope.tenant().to_string(), portal: PORTAL };
    let value = incident(&updated, context, false);
    Ok(noted(
        entity_response(&state, &uri, "security/incidents", value),
        vec![incident_id],
        "updated".into(),
        Some(update.summary()),
    ))
}

/// `POST /v1.0/security/incidents/{id}/comments`: `{"comment": …}` (or a one-element array of
/// it); answered with every comment of the incident. Needs `SecurityIncident.ReadWrite.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn comment_incident(
    State(state): State<AppState>,
    GraphAuthorized(scope): GraphAuthorized<GraphWriteIncidents>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    body: Body,
) -> Result<Response, GraphFailure> {
    throttle(&state, &scope, Api::UpdateIncident)?;
    let text = comment_text(&write_body(body).await?)?;
    let update = IncidentUpdate::from_json(&json!({ "comment": text })).map_err(refusal)?;
    let (incident_id, updated) = apply(&state, &scope, &id, &update).await?;
    let context = format!("{}/$metadata#security/incidents('{incident_id}')/comments", base(&state, &uri));
    let answer = json!({ "@odata.context": context, "value": comments(&updated.comments) });
    Ok(noted(json_response(&answer), vec![incident_id], "commented".into(), Some(update.summary())))
}

/// Longest comment, as the incidents API's.
const MAX_COMMENT_CHARS: usize = 4096;

/// The text of an `alertComment` body: `{"comment": …}` or a one-element array of it (what
/// msgraph-sdk sends, spec §7.4).
fn comment_text(body: &Value) -> Result<String, ApiFailure> {
    let object = match body {
        Value::Array(items) if items.len() == 1 => &items[0],
        other => other,
    };
    let text = object
        .as_object()
        .and_then(|o| o.iter().find(|(key, _)| key.eq_ignore_ascii_case("comment")))
        .and_then(|(_, value)| value.as_str())
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| {
            ApiFailure::InvalidRequestBody(
                "The body must be an alertComment: {\"comment\": \"…\"} (or a one-element array of it).".into(),
            )
        })?;
    if text.chars().count() > MAX_COMMENT_CHARS {
        return Err(ApiFailure::InvalidInput(format!("comment is longer than {MAX_COMMENT_CHARS} characters.")));
    }
    Ok(text.to_owned())
}

/// Sets each Graph alert's `comments` from the store (alert comments live beside the incident
/// document, which the Threat Protection API serves as it is).
async fn attach_comments(
    state: &AppState,
    scope: &TenantScope<ReadIncidents>,
    alerts: &mut [Value],
) -> Result<(), ApiFailure> {
    let ids: Vec<&str> = alerts.iter().filter_map(|a| a["id"].as_str()).collect();
    let mut found = state.store.alert_comments(scope, &ids).await?;
    if found.is_empty() {
        return Ok(());
    }
    for alert in alerts.iter_mut() {
        let Some(list) = alert["id"].as_str().and_then(|id| found.remove(id)) else { continue };
        if let Some(object) = alert.as_object_mut() {
            object.insert("comments".into(), Value::Array(comments(&list)));
        }
    }
    Ok(())
}

/// Sets the comments of the expanded alerts of Graph incidents (one lookup for all).
async fn expanded_comments(
    state: &AppState,
    scope: &TenantScope<ReadIncidents>,
    incidents: &mut [Value],
) -> Result<(), ApiFailure> {
    let mut taken: Vec<Vec<Value>> = incidents
        .iter_mut()
        .map(|incident| {
            incident.get_mut("alerts").and_then(Value::as_array_mut).map(std::mem::take).unwrap_or_default()
        })
        .collect();
    let counts: Vec<usize> = taken.iter().map(Vec::len).collect();
    let mut alerts: Vec<Value> = taken.drain(..).flatten().collect();
    attach_comments(state, scope, &mut alerts).await?;
    let mut alerts = alerts.into_iter();
    for (incident, count) in incidents.iter_mut().zip(counts) {
        if let Some(list) = incident.get_mut("alerts").and_then(Value::as_array_mut) {
            list.extend(alerts.by_ref().take(count));
        }
    }
    Ok(())
}

/// An alert's properties, for `$select`.
const ALERT_PROPERTIES: &[&str] = &[
    "id",
    "providerAlertId",
    "incidentId",
    "status",
    "severity",
    "classification",
    "determination",
    "serviceSource",
    "detectionSource",
    "productName",
    "detectorId",
    "tenantId",
    "title",
    "description",
    "recommendedActions",
    "category",
    "assignedTo",
    "alertWebUrl",
    "incidentWebUrl",
    "actorDisplayName",
    "threatDisplayName",
    "threatFamilyName",
    "mitreTechniques",
    "createdDateTime",
    "lastUpdateDateTime",
    "resolvedDateTime",
    "firstActivityDateTime",
    "lastActivityDateTime",
    "systemTags",
    "alertPolicyId",
    "investigationState",
    "comments",
    "customDetails",
    "evidence",
    "additionalData",
];

/// `$select` of an alert request, the only option a single alert takes.
fn alert_selection(pairs: &[(String, String)]) -> Result<Option<Vec<String>>, ApiFailure> {
    let mut select = None;
    for (name, value) in pairs {
        match name.as_str() {
            "$select" => select = Some(selection(value, ALERT_PROPERTIES, "microsoft.graph.security.alert")?),
            other if other.starts_with('$') => {
                return Err(ApiFailure::OData(format!(
                    "The query parameter '{}' is not supported here. Supported: $select.",
                    other.chars().take(64).collect::<String>()
                )));
            }
            _ => {}
        }
    }
    Ok(select)
}

/// `POST /v1.0/security/alerts_v2/{id}/comments`: `{"comment": …}` (or a one-element array of
/// it); answered with every comment of the alert (spec §7.4). Needs
/// `SecurityAlert.ReadWrite.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn comment_alert(
    State(state): State<AppState>,
    GraphAuthorized(scope): GraphAuthorized<GraphWriteAlerts>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    body: Body,
) -> Result<Response, GraphFailure> {
    throttle(&state, &scope, Api::UpdateIncident)?;
    let text = comment_text(&write_body(body).await?)?;
    let not_found = || alert_not_found(&id);
    let now = Ticks::at(state.clock.now());
    let list = match state.store.add_alert_comment(&scope.as_write(), &id, &text, now).await? {
        CommentOutcome::Added(list) => list,
        CommentOutcome::NotFound => return Err(not_found().into()),
        CommentOutcome::Full => {
            return Err(ApiFailure::InvalidInput(format!(
                "An alert keeps at most {MAX_ALERT_COMMENTS} comments and {} KiB of them; this one has no room left.",
                MAX_ALERT_COMMENT_BYTES / 1024
            ))
            .into());
        }
    };
    let incident = state.store.alert_incident(&scope.as_write().as_read(), &id).await?;
    let context = format!("{}/$metadata#security/alerts_v2('{id}')/comments", base(&state, &uri));
    let answer = json!({ "@odata.context": context, "value": comments(&list) });
    Ok(noted(json_response(&answer), incident.into_iter().collect(), format!("alert {id} commented"), None))
}

/// Largest `$top` of an alerts page, and the page size without one.
const MAX_ALERTS_TOP: u32 = 1000;
const DEFAULT_ALERTS_TOP: u32 = 100;

/// One comparison of an alerts `$filter`: a property, an operator, a literal.
#[derive(Debug)]
struct AlertCondition {
    property: &'static str,
    comparison: &'static str,
    value: AlertLiteral,
}

#[derive(Debug)]
enum AlertLiteral {
    Text(String),
    Ticks(i64),
}

/// An alerts `$filter`: comparisons joined by `and` (what connectors send: `createdDateTime ge
/// … and createdDateTime lt …`, `status eq 'new'`); `or`, `not` and parentheses are refused by
/// name.
fn alert_filter(text: &str) -> Result<Vec<AlertCondition>, ApiFailure> {
    const PROPERTIES: [&str; 8] = [
        "status",
        "severity",
        "serviceSource",
        "classification",
        "determination",
        "assignedTo",
        "createdDateTime",
        "lastUpdateDateTime",
    ];
    let refuse = |what: String| ApiFailure::OData(format!("Invalid filter clause: {what}"));
    if text.chars().count() > 4096 {
        return Err(refuse("the $filter is longer than 4096 characters.".into()));
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.iter().any(|w| w.eq_ignore_ascii_case("or") || w.eq_ignore_ascii_case("not") || w.starts_with('(')) {
        return Err(refuse("on alerts_v2 only comparisons joined by 'and' are supported.".into()));
    }
    let mut conditions = Vec::new();
    for clause in words.split(|w| w.eq_ignore_ascii_case("and")) {
        let [name, operator, rest @ ..] = clause else {
            return Err(refuse(format!("'{}' is not a comparison.", clause.join(" "))));
        };
        let property = PROPERTIES
            .into_iter()
            .find(|p| p == name)
            .ok_or_else(|| refuse(format!("Could not find a property named '{name}' on type 'microsoft.graph.security.alert' that $filter takes ({}).", PROPERTIES.join(", "))))?;
        let comparison = ["eq", "ne", "gt", "ge", "lt", "le"]
            .into_iter()
            .find(|o| o.eq_ignore_ascii_case(operator))
            .ok_or_else(|| refuse(format!("'{operator}' is not a comparison operator.")))?;
        let literal = rest.join(" ");
        let value = if property.ends_with("DateTime") {
            AlertLiteral::Ticks(
                threatgate_domain::datetime::parse_datetime_ticks(literal.trim_matches('\''))
                    .ok_or_else(|| refuse(format!("'{literal}' is not a datetime.")))?,
            )
        } else {
            let quoted = literal.strip_prefix('\'').and_then(|l| l.strip_suffix('\''));
            AlertLiteral::Text(
                quoted.ok_or_else(|| refuse(format!("'{literal}' is not a quoted string.")))?.replace("''", "'"),
            )
        };
        conditions.push(AlertCondition { property, comparison, value });
    }
    Ok(conditions)
}

/// Whether a Graph alert meets every condition (enum members compared in any case).
fn alert_matches(alert: &Value, conditions: &[AlertCondition]) -> bool {
    conditions.iter().all(|condition| {
        let field = &alert[condition.property];
        let ordering = match &condition.value {
            AlertLiteral::Ticks(ticks) => {
                match field.as_str().and_then(threatgate_domain::datetime::parse_datetime_ticks) {
                    Some(value) => value.cmp(ticks),
                    None => return condition.comparison == "ne",
                }
            }
            AlertLiteral::Text(text) => match field.as_str() {
                Some(value) => value.to_ascii_lowercase().cmp(&text.to_ascii_lowercase()),
                None => return condition.comparison == "ne",
            },
        };
        match condition.comparison {
            "eq" => ordering.is_eq(),
            "ne" => ordering.is_ne(),
            "gt" => ordering.is_gt(),
            "ge" => ordering.is_ge(),
            "lt" => ordering.is_lt(),
            _ => ordering.is_le(),
        }
    })
}

/// `GET /v1.0/security/alerts_v2`: the tenant's alerts, those of the most recently updated
/// incidents first; `$filter` (comparisons joined by `and`), `$top` (1..1000, default 100),
/// `$skip`, `@odata.nextLink`. Needs `SecurityAlert.Read.All` (or `.ReadWrite.All`, or an
/// incident role).
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn list_alerts(
    State(state): State<AppState>,
    GraphAuthorized(scope): GraphAuthorized<GraphReadAlerts>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, GraphFailure> {
    throttle(&state, &scope, Api::ListIncidents)?;
    let pairs = query_pairs(&uri);
    let (mut conditions, mut top, mut skip) = (Vec::new(), DEFAULT_ALERTS_TOP, 0u64);
    let (mut carried, mut select) = (Vec::new(), None);
    for (name, value) in &pairs {
        match name.as_str() {
            "$filter" => {
                conditions = alert_filter(value)?;
                carried.push((name.clone(), value.clone()));
            }
            "$top" => {
                top =
                    value.trim().parse::<u32>().ok().filter(|t| (1..=MAX_ALERTS_TOP).contains(t)).ok_or_else(|| {
                        ApiFailure::OData(format!(
                            "The value '{}' of $top is not valid: alerts_v2 takes 1 to {MAX_ALERTS_TOP}.",
                            value.chars().take(32).collect::<String>()
                        ))
                    })?;
            }
            "$skip" => {
                skip = value.trim().parse().map_err(|_| {
                    ApiFailure::OData(format!(
                        "Invalid value '{}' for $skip query option found. The $skip query option requires a non-negative integer value.",
                        value.chars().take(32).collect::<String>()
                    ))
                })?;
            }
            "$select" => {
                select = Some(selection(value, ALERT_PROPERTIES, "microsoft.graph.security.alert")?);
                carried.push((name.clone(), value.clone()));
            }
            other if other.starts_with('$') => {
                return Err(ApiFailure::OData(format!(
                    "The query parameter '{}' is not supported on alerts_v2. Supported: $filter, $top, $skip, $select.",
                    other.chars().take(64).collect::<String>()
                ))
                .into());
            }
            _ => {}
        }
    }
    let tenant = scope.tenant().to_string();
    let context = GraphContext { tenant_id: &tenant, portal: PORTAL };
    let read = scope.as_read();
    // Through the incidents, a page at a time, until the page of alerts (and one more) is full.
    let (mut value, mut skipped, mut more, mut ids) = (Vec::new(), 0u64, false, Vec::new());
    let mut incidents = IncidentQuery { filter: None, top: 100, skip: 0, comment_flags: false };
    'pages: loop {
        let page = state.store.list_incidents(&read, &incidents).await?;
        for (document, id) in page.documents.iter().zip(&page.ids) {
            let parsed: Incident = stored(document)?;
            for item in &parsed.alerts {
                let graph = alert(item, context);
                if !alert_matches(&graph, &conditions) {
                    continue;
                }
                if skipped < skip {
                    skipped += 1;
                } else if value.len() < top as usize {
                    value.push(graph);
                    if ids.last() != Some(id) {
                        ids.push(*id);
                    }
                } else {
                    more = true;
                    break 'pages;
                }
            }
        }
        if !page.more {
            break;
        }
        incidents.skip += u64::from(incidents.top);
    }
    let base = base(&state, &uri);
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{base}/$metadata#security/alerts_v2")));
    if more {
        let mut next = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &carried {
            next.append_pair(name, value);
        }
        next.append_pair("$top", &top.to_string());
        next.append_pair("$skip", &(skip + u64::from(top)).to_string());
        body.insert("@odata.nextLink".into(), json!(format!("{base}/security/alerts_v2?{}", next.finish())));
    }
    attach_comments(&state, &read, &mut value).await?;
    let count = value.len();
    let value = value.into_iter().map(|alert| selected(alert, select.as_deref(), false)).collect();
    body.insert("value".into(), Value::Array(value));
    Ok(noted(json_response(&Value::Object(body)), ids, format!("{count} alerts"), None))
}

/// `GET /v1.0/security/alerts_v2/{id}`. Another tenant's alert is a 404, as an unknown one.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn get_alert(
    State(state): State<AppState>,
    GraphAuthorized(scope): GraphAuthorized<GraphReadAlerts>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, GraphFailure> {
    throttle(&state, &scope, Api::GetIncident)?;
    let select = alert_selection(&query_pairs(&uri))?;
    let not_found = || alert_not_found(&id);
    let read = scope.as_read();
    let incident_id = state.store.alert_incident(&read, &id).await?.ok_or_else(not_found)?;
    let document = state.store.get_incident(&read, incident_id).await?.ok_or_else(not_found)?;
    let parsed: Incident = stored(&document)?;
    let found = parsed.alerts.iter().find(|a| a.alert_id == id).ok_or_else(not_found)?;
    let tenant = scope.tenant().to_string();
    let mut value = [alert(found, GraphContext { tenant_id: &tenant, portal: PORTAL })];
    attach_comments(&state, &read, &mut value).await?;
    let [value] = value;
    let value = selected(value, select.as_deref(), false);
    Ok(noted(entity_response(&state, &uri, "security/alerts_v2", value), vec![incident_id], "read".into(), None))
}

/// `PATCH /v1.0/security/alerts_v2/{id}`: `status`, `assignedTo`, `classification`,
/// `determination` (spec §7.3); the alert as updated. Needs `SecurityAlert.ReadWrite.All`. The
/// incident holding it (both APIs) shows the change.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn update_alert(
    State(state): State<AppState>,
    GraphAuthorized(scope): GraphAuthorized<GraphWriteAlerts>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    body: Body,
) -> Result<Response, GraphFailure> {
    throttle(&state, &scope, Api::UpdateIncident)?;
    let update = AlertUpdate::from_graph_json(&write_body(body).await?).map_err(refusal)?;
    let not_found = || alert_not_found(&id);
    let now = Ticks::at(state.clock.now());
    let document = match state.store.update_alert(&scope.as_write(), &id, &update, now).await? {
        UpdateOutcome::Updated(document) => document,
        UpdateOutcome::NotFound => return Err(not_found().into()),
        UpdateOutcome::Refused(error) => return Err(refusal(error).into()),
    };
    let updated: Incident = stored(&document)?;
    let found = updated.alerts.iter().find(|a| a.alert_id == id).ok_or_else(not_found)?;
    let incident_id = IncidentId::new(updated.incident_id);
    let mut value = [alert(found, GraphContext { tenant_id: &scope.tenant().to_string(), portal: PORTAL })];
    attach_comments(&state, &scope.as_write().as_read(), &mut value).await?;
    let [value] = value;
    Ok(noted(
        entity_response(&state, &uri, "security/alerts_v2", value),
        vec![incident_id],
        format!("alert {id} updated"),
        None,
    ))
}

/// `POST /v1.0/security/runHuntingQuery` (and `…/microsoft.graph.security.runHuntingQuery`):
/// `{"query": …, "timespan"?: …}`, the keys in any case; answered as `{@odata.context, schema,
/// results}`. Needs `ThreatHunting.Read.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn run_hunting_query(
    State(state): State<AppState>,
    GraphAuthorized(scope): GraphAuthorized<GraphRunHunting>,
    OriginalUri(uri): OriginalUri,
    body: Body,
) -> Result<Response, GraphFailure> {
    throttle(&state, &scope, Api::AdvancedHunting)?;
    let bytes = read_body(body).await?;
    let request: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|error| {
        ApiFailure::InvalidRequestBody(format!("The body must be a JSON object with the query in \"query\": {error}."))
    })?;
    let parameter = |wanted: &str| request.iter().find(|(key, _)| key.eq_ignore_ascii_case(wanted)).map(|(_, v)| v);
    let query = match parameter("query") {
        Some(Value::String(query)) if !query.trim().is_empty() => query.clone(),
        _ => return Err(ApiFailure::BadRequest("The parameter 'query' is missing or is not a string.".into()).into()),
    };
    if let Some(unknown) = request.keys().find(|key| {
        !["query", "timespan", "workspaceid"].contains(&key.to_ascii_lowercase().as_str()) && !key.starts_with('@')
    }) {
        return Err(ApiFailure::BadRequest(format!(
            "The parameter '{}' in the request payload is not a valid parameter for the operation 'runHuntingQuery'.",
            unknown.chars().take(64).collect::<String>()
        ))
        .into());
    }
    let answer = execute(&state, &scope.as_hunting(), &query).await?;
    let schema: Vec<Value> =
        answer.fields.iter().map(|f| json!({"name": f.name, "type": f.ty.schema_name()})).collect();
    let context = format!("{}/$metadata#microsoft.graph.security.huntingQueryResults", base(&state, &uri));
    let head = format!("{{\"@odata.context\":{},\"schema\":{},\"results\":", json!(context), Value::Array(schema));
    Ok(answer.respond(head, &query))
}

#[cfg(test)]
mod tests {
    use super::canonical_path;

    #[test]
    fn graph_paths_are_matched_in_any_case_and_with_alternate_keys() {
        assert_eq!(canonical_path("/v1.0/security/alerts_V2").as_deref(), Some("/v1.0/security/alerts_v2"));
        assert_eq!(canonical_path("/V1.0/Security/Incidents/12").as_deref(), Some("/v1.0/security/incidents/12"));
        assert_eq!(canonical_path("/beta/serviceprincipals").as_deref(), Some("/beta/servicePrincipals"));
        assert_eq!(
            canonical_path("/v1.0/applications(appId='631a96bc-a705-4eda-9f99-fdaf9f54f6a2')/addPassword").as_deref(),
            Some("/v1.0/applications/appId=631a96bc-a705-4eda-9f99-fdaf9f54f6a2/addPassword")
        );
        assert_eq!(
            canonical_path("/v1.0/servicePrincipals(appId=%2700000003-0000-0000-c000-000000000000%27)").as_deref(),
            Some("/v1.0/servicePrincipals/appId=00000003-0000-0000-c000-000000000000")
        );
        // Ids keep their case; other paths and canonical ones are left alone.
        assert_eq!(canonical_path("/v1.0/security/alerts_v2/DA637/comments"), None);
        assert_eq!(canonical_path("/api/incidents"), None);
        assert_eq!(canonical_path("/V1.0x/security"), None);
        // A key cannot smuggle a path separator.
        assert_eq!(
            canonical_path("/v1.0/applications(appId='a%2F..%2Fb')").as_deref(),
            Some("/v1.0/applications/appId=a%2F..%2Fb")
        );
    }
}
