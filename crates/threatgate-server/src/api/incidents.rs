//! `GET /api/incidents`, `GET /api/incidents/{id}`, `PATCH /api/incidents/{id}`.

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use threatgate_domain::odata::IncidentQuery;
use threatgate_domain::{IncidentId, ReadIncidents, Ticks, WriteIncidents};
use threatgate_incidents::{IncidentUpdate, UpdateError};
use threatgate_store::UpdateOutcome;

use super::ApiFailure;
use super::auth::Authorized;
use super::respond::{noted, throttle};
use crate::quotas::Api;
use crate::state::AppState;

/// PATCH bodies larger than this are refused; a real one is a few hundred bytes.
const MAX_PATCH_BYTES: usize = 64 * 1024;

/// Lists the caller's tenant's incidents, newest first. Needs `Incident.Read.All` or
/// `Incident.ReadWrite.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn list_incidents(
    State(state): State<AppState>,
    Authorized(scope): Authorized<ReadIncidents>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiFailure> {
    throttle(&state, &scope, Api::ListIncidents)?;
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let query = IncidentQuery::parse(pairs.iter().map(|(name, value)| (name.as_str(), value.as_str())))
        .map_err(|error| ApiFailure::OData(error.0))?;
    let page = state.store.list_incidents(&scope, &query).await?;

    let mut body = String::with_capacity(64 + page.documents.iter().map(String::len).sum::<usize>());
    body.push_str("{\"@odata.context\":");
    push_json_string(&mut body, &format!("{}/api/$metadata#Incidents", state.public_url));
    if page.more {
        let mut next = form_urlencoded::Serializer::new(String::new());
        if let Some((_, filter)) = pairs.iter().find(|(name, _)| name == "$filter") {
            next.append_pair("$filter", filter);
        }
        next.append_pair("$top", &query.top.to_string());
        next.append_pair("$skip", &(query.skip + u64::from(query.top)).to_string());
        body.push_str(",\"@odata.nextLink\":");
        push_json_string(&mut body, &format!("{}{}?{}", state.public_url, uri.path(), next.finish()));
    }
    body.push_str(",\"value\":[");
    body.push_str(&page.documents.join(","));
    body.push_str("]}");
    let result = format!("{} incidents", page.ids.len());
    Ok(noted(json_response(body), page.ids, result, None))
}

/// Gets one incident of the caller's tenant. Needs `Incident.Read.All` or
/// `Incident.ReadWrite.All`. Another tenant's incident is a 404, as an unknown one.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn get_incident(
    State(state): State<AppState>,
    Authorized(scope): Authorized<ReadIncidents>,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    throttle(&state, &scope, Api::GetIncident)?;
    let incident_id = parse_id(&id)?;
    match state.store.get_incident(&scope, incident_id).await? {
        Some(document) => Ok(noted(entity_response(&state, &document), vec![incident_id], "read".into(), None)),
        None => Err(not_found(incident_id)),
    }
}

/// Updates an incident of the caller's tenant (section 6). Needs `Incident.ReadWrite.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn update_incident(
    State(state): State<AppState>,
    Authorized(scope): Authorized<WriteIncidents>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiFailure> {
    throttle(&state, &scope, Api::UpdateIncident)?;
    let incident_id = parse_id(&id)?;
    let bytes: Bytes =
        axum::body::to_bytes(body, MAX_PATCH_BYTES).await.map_err(|_| ApiFailure::TooLarge(MAX_PATCH_BYTES))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|error| ApiFailure::InvalidRequestBody(format!("The request body is not valid JSON: {error}.")))?;
    let update = IncidentUpdate::from_json(&json).map_err(refusal)?;
    let now = Ticks::at(state.clock.now());
    match state.store.update_incident(&scope, incident_id, &update, now).await? {
        UpdateOutcome::Updated(document) => {
            tracing::info!(%incident_id, tenant = %scope.tenant(), "incident updated");
            Ok(noted(entity_response(&state, &document), vec![incident_id], "updated".into(), Some(update.summary())))
        }
        UpdateOutcome::NotFound => Err(not_found(incident_id)),
        UpdateOutcome::Refused(error) => Err(refusal(error)),
    }
}

fn refusal(error: UpdateError) -> ApiFailure {
    match error {
        UpdateError::Body(message) => ApiFailure::InvalidRequestBody(message),
        UpdateError::Input(message) => ApiFailure::InvalidInput(message),
    }
}

fn parse_id(text: &str) -> Result<IncidentId, ApiFailure> {
    IncidentId::parse(text).ok_or_else(|| {
        ApiFailure::InvalidInput(format!(
            "Invalid input '{}': an incident id is a positive integer.",
            text.chars().take(32).collect::<String>()
        ))
    })
}

fn not_found(incident_id: IncidentId) -> ApiFailure {
    ApiFailure::NotFound(format!("Incident {incident_id} was not found"))
}

/// One incident with its `@odata.context`, spliced in front of the stored document.
fn entity_response(state: &AppState, document: &str) -> Response {
    let mut body = String::with_capacity(document.len() + 96);
    body.push_str("{\"@odata.context\":");
    push_json_string(&mut body, &format!("{}/api/$metadata#Incidents/$entity", state.public_url));
    if let Some(rest) = document.strip_prefix('{') {
        body.push(',');
        body.push_str(rest);
    } else {
        body.push('}');
    }
    json_response(body)
}

fn push_json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::Value::String(text.to_owned()).to_string());
}

fn json_response(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}
