//! The emulator's controls over HTTP: faults injected into API, Graph and token calls, and the
//! admin endpoint `/_threatgate/emulator/…` (see `crate::emulator` for the rules themselves).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};
use threatgate_domain::AppId;
use threatgate_identity::AadError;

use crate::api::ApiFailure;
use crate::emulator::{Call, FaultSpec};
use crate::state::AppState;

fn refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": {"code": status.as_u16().to_string(), "message": message}}))).into_response()
}

/// The tenant (`tid`) and application (`appid`, or `azp`) a bearer token names, read without
/// checking it: only to match faults, never to grant anything.
fn bearer_claims(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let claims = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .filter(|value| value.len() <= 16 * 1024)
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| token.split('.').nth(1))
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let text = |name: &str| claims.as_ref().and_then(|c| c[name].as_str()).map(str::to_owned);
    (text("tid"), text("appid").or_else(|| text("azp")))
}

/// A response whose body fails at once: the server closes the connection without a complete
/// answer, as a dropped connection looks to the client.
fn dropped() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("connection dropped by an emulator fault"))
    });
    Response::new(Body::from_stream(failing))
}

/// API and Graph calls: a fault that matches answers instead of the handler (after its
/// latency); latency alone delays the handler.
pub async fn inject(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.emulator.armed() {
        return next.run(request).await;
    }
    let (tenant, app) = bearer_claims(request.headers());
    let path = request.uri().path().to_owned();
    let call = Call { path: Some(&path), tenant: tenant.as_deref(), app: app.as_deref() };
    let Some(fault) = state.emulator.take(&call) else { return next.run(request).await };
    tracing::info!(path, status = ?fault.status, drop = fault.drop, latency_ms = ?fault.latency_ms, "emulator fault injected");
    if let Some(ms) = fault.latency_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if fault.drop {
        return dropped();
    }
    let Some(status) = fault.status else { return next.run(request).await };
    let failure = match status {
        401 => ApiFailure::Unauthorized("The token has expired.".into()),
        429 => {
            let retry = fault.retry_after.unwrap_or(5);
            ApiFailure::Throttled {
                message: format!("API calls quota exceeded! Try again in {retry} seconds."),
                retry_after_seconds: retry,
            }
        }
        _ => ApiFailure::Unavailable {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            retry_after_seconds: fault.retry_after,
        },
    };
    if crate::api::is_graph_path(&path) { crate::api::graph_failure(failure) } else { failure.into_response() }
}

/// The token endpoints' faults, once the request's tenant segment and client id are known:
/// `Some(answer)` when a fault answers, after its latency.
pub async fn token_fault(state: &AppState, tenant: &str, client_id: Option<&str>) -> Option<TokenFault> {
    let fault = state.emulator.take(&Call { path: None, tenant: Some(tenant), app: client_id })?;
    tracing::info!(status = ?fault.status, aadsts = ?fault.aadsts, "emulator fault injected at the token endpoint");
    if let Some(ms) = fault.latency_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if fault.drop {
        return Some(TokenFault::Answer(dropped()));
    }
    let client = client_id.unwrap_or_default().to_owned();
    let retry = fault.retry_after.unwrap_or(5);
    let error = match (fault.status, fault.aadsts) {
        (_, Some(7000222)) => AadError::ExpiredClientSecret { app_id: client },
        (_, Some(7000215)) => AadError::InvalidClientSecret { app_id: client },
        (_, Some(700016)) => AadError::ApplicationNotFound { client_id: client, directory: tenant.to_owned() },
        (Some(429), _) | (_, Some(90055)) => {
            AadError::Throttled { source_of_requests: "application", retry_after_seconds: retry }
        }
        (Some(status), _) => {
            return Some(TokenFault::Error(AadError::Internal, StatusCode::from_u16(status).ok()));
        }
        (None, Some(_)) => AadError::Internal,
        (None, None) => return None,
    };
    Some(TokenFault::Error(error, None))
}

/// What a token-endpoint fault answers: an AADSTS error (with another status for 503/504), or
/// a finished response.
#[derive(Debug)]
pub enum TokenFault {
    Error(AadError, Option<StatusCode>),
    Answer(Response),
}

/// `/_threatgate/emulator/…`: faults (`GET`, `POST`, `DELETE`, `DELETE /{id}`), token
/// lifetimes (`GET`, `PUT /{app}` with `{"seconds": N}`, `DELETE /{app}`), and the state
/// (`POST /checkpoint` saves it, `POST /reset` returns to it).
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/_threatgate/emulator/checkpoint", post(save_checkpoint))
        .route("/_threatgate/emulator/reset", post(reset))
        .route("/_threatgate/emulator/faults", get(list_faults).post(add_fault).delete(clear_faults))
        .route("/_threatgate/emulator/faults/{id}", delete(remove_fault))
        .route("/_threatgate/emulator/token-lifetimes", get(list_lifetimes))
        .route("/_threatgate/emulator/token-lifetimes/{app}", put(set_lifetime).delete(reset_lifetime))
}

type Peer = Option<axum::Extension<ConnectInfo<SocketAddr>>>;

fn peer_of(peer: &Peer) -> Option<SocketAddr> {
    peer.as_ref().map(|axum::Extension(ConnectInfo(address))| *address)
}

async fn list_faults(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> Response {
    if let Err((status, why)) = state.emulator.authorize(&headers, peer_of(&peer)) {
        return refusal(status, why);
    }
    Json(json!({"value": state.emulator.list()})).into_response()
}

async fn add_fault(State(state): State<AppState>, peer: Peer, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err((status, why)) = state.emulator.authorize(&headers, peer_of(&peer)) {
        return refusal(status, why);
    }
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(error) => return refusal(StatusCode::BAD_REQUEST, &format!("not a fault: {error}")),
    };
    match state.emulator.add(spec) {
        Ok(rule) => {
            tracing::info!(id = rule.id, "emulator fault added");
            (StatusCode::CREATED, Json(rule)).into_response()
        }
        Err(why) => refusal(StatusCode::BAD_REQUEST, &why),
    }
}

async fn clear_faults(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> Response {
    if let Err((status, why)) = state.emulator.authorize(&headers, peer_of(&peer)) {
        return refusal(status, why);
    }
    Json(json!({"removed": state.emulator.remove(None)})).into_response()
}

async fn remove_fault(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<u64>,
) -> Response {
    if let Err((status, why)) = state.emulator.authorize(&headers, peer_of(&peer)) {
        return refusal(status, why);
    }
    match state.emulator.remove(Some(id)) {
        0 => refusal(StatusCode::NOT_FOUND, &format!("no fault {id}")),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

fn lifetimes(state: &AppState) -> Value {
    let value: Vec<Value> = state
        .identity
        .token_lifetimes()
        .into_iter()
        .map(|(app, lifetime)| json!({"app": app.to_string(), "seconds": lifetime.whole_seconds()}))
        .collect();
    json!({ "value": value })
}

async fn list_lifetimes(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> Response {
    if let Err((status, why)) = state.emulator.authorize(&headers, peer_of(&peer)) {
        return refusal(status, why);
    }
    Json(lifetimes(&state)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lifetime {
    seconds: i64,
}

async fn set_lifetime(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    axum::extract::Path(app): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err((status, why)) = state.emulator.authorize(&headers, peer_of(&peer)) {
        return refusal(status, why);
    }
    let Some(app) = AppId::parse(&app) else { return refusal(StatusCode::BAD_REQUEST, "the application id is a GUID") };
    let Ok(Lifetime { seconds }) = serde_json::from_slice(&body) else {
        return refusal(StatusCode::BAD_REQUEST, "send {\"seconds\": N}");
    };
    match state.identity.set_token_lifetime(app, Some(time::Duration::seconds(seconds))) {
        Ok(()) => Json(lifetimes(&state)).into_response(),
        Err(why) => refusal(StatusCode::BAD_REQUEST, &why),
    }
}

async fn reset_lifetime(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    axum::extract::Path(app): axum::extract::Path<String>,
) -> Response {
    if let Err((status, why)) = state.emulator.authorize(&headers, peer_of(&peer)) {
        return refusal(status, why);
    }
    let Some(app) = AppId::parse(&app) else { return refusal(StatusCode::BAD_REQUEST, "the application id is a GUID") };
    match state.identity.set_token_lifetime(app, None) {
        Ok(()) => Json(lifetimes(&state)).into_response(),
        Err(why) => refusal(StatusCode::BAD_REQUEST, &why),
    }
}

async fn save_checkpoint(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> Response {
    if let Err((status, why)) = state.emulator.authorize(&headers, peer_of(&peer)) {
        return refusal(status, why);
    }
    let started = std::time::Instant::now();
    match state.store.save_checkpoint().await {
        Ok(()) => {
            tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "emulator checkpoint saved");
            Json(json!({"saved": true, "elapsed_ms": started.elapsed().as_millis() as u64})).into_response()
        }
        Err(error) => store_refusal(&error, "saving the checkpoint"),
    }
}

/// Back to the checkpoint: the store's saved tables, the configuration's faults and token
/// lifetimes, and fresh quotas; the identity view reloads before the answer.
async fn reset(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> Response {
    if let Err((status, why)) = state.emulator.authorize(&headers, peer_of(&peer)) {
        return refusal(status, why);
    }
    let started = std::time::Instant::now();
    if let Err(error) = state.store.restore_checkpoint().await {
        return store_refusal(&error, "restoring the checkpoint");
    }
    if let Err(error) = state.identity.refresh().await {
        tracing::error!(%error, "reloading the directory after the reset failed");
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "reloading after the reset failed; the server log says why");
    }
    let cleared = async {
        state.store.refresh_event_statistics().await?;
        // Quota windows of every node: the counts of the restored table are old news.
        state.store.delete_quota_counts_before(threatgate_domain::UnixSeconds(i64::MAX)).await
    };
    if let Err(error) = cleared.await {
        return store_refusal(&error, "reloading after the reset");
    }
    state.quotas.forget();
    for (app, _) in state.identity.token_lifetimes() {
        let _ = state.identity.set_token_lifetime(app, None);
    }
    let restored = crate::emulator::apply_token_lifetimes(state.emulator.initial(), &state.identity)
        .and_then(|()| state.emulator.restore_initial_rules());
    if let Err(why) = restored {
        return refusal(StatusCode::CONFLICT, &why);
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(elapsed_ms, "emulator reset to the checkpoint");
    Json(json!({"reset": true, "elapsed_ms": elapsed_ms})).into_response()
}

/// A checkpoint the store cannot find or make is the caller's to fix (409); a failing database
/// is the server's (503, logged).
fn store_refusal(error: &threatgate_store::StoreError, doing: &str) -> Response {
    use threatgate_store::StoreError;
    match error {
        StoreError::NotFound(_) => refusal(
            StatusCode::CONFLICT,
            "no checkpoint saved: `demo --emulator` saves one once it is ready, POST /_threatgate/emulator/checkpoint saves the current state",
        ),
        StoreError::Unsupported(why) => refusal(StatusCode::CONFLICT, why),
        _ => {
            tracing::error!(%error, "{doing} failed");
            refusal(StatusCode::SERVICE_UNAVAILABLE, &format!("{doing} failed; the server log says why"))
        }
    }
}
