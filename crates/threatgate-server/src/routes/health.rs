//! Liveness and readiness for load balancers, and the page behind `error_uri` in identity
//! error bodies.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::json::json_utf8;
use crate::state::AppState;

/// `GET /healthz`: liveness, 200 with the directory revision the server serves (from memory,
/// whatever the database does). Public.
pub async fn health(State(state): State<AppState>) -> Response {
    let revision = state.identity.snapshot().directory.revision();
    json_utf8(&serde_json::json!({ "status": "ok", "directory_revision": revision })).into_response()
}

/// How long readiness waits for the database.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz`: readiness, 200 when the database answers within 2 s, else 503, so that a
/// load balancer sends no request to a node that cannot reach it. Public; the reason is in the
/// log, not the body.
pub async fn ready(State(state): State<AppState>) -> Response {
    let checked = tokio::time::timeout(READINESS_TIMEOUT, state.store.revision()).await;
    match checked {
        Ok(Ok(revision)) => {
            json_utf8(&serde_json::json!({ "status": "ready", "database_revision": revision })).into_response()
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "not ready: the database refused");
            not_ready("the database cannot be reached")
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer within 2 s");
            not_ready("the database did not answer in time")
        }
    }
}

fn not_ready(reason: &str) -> Response {
    let body = json_utf8(&serde_json::json!({ "status": "unavailable", "reason": reason }));
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

#[derive(Debug, Deserialize)]
pub struct ErrorCodeQuery {
    code: Option<u32>,
}

/// `GET /error?code=N`: what an AADSTS code means and what to do about it. Public.
pub async fn error_code_page(Query(query): Query<ErrorCodeQuery>) -> Response {
    let Some(code) = query.code else {
        return (StatusCode::BAD_REQUEST, "name an AADSTS code: /error?code=700016\n").into_response();
    };
    let text = match code {
        900023 => "The tenant segment of the URL is neither a tenant GUID nor a domain name.",
        90002 => "No tenant has that GUID or domain. Check the tenant in the URL.",
        9002313 => {
            "The request is malformed: a repeated parameter, a body that is not UTF-8, or conflicting credentials."
        }
        900144 => "A required parameter is missing from the form body (grant_type, client_id, scope or resource).",
        70003 => "Only grant_type=client_credentials is supported by this endpoint.",
        901002 => "The v2.0 endpoint takes scope=<resource>/.default, not resource=.",
        50059 => "Client credentials need a specific tenant in the URL, not common or organizations.",
        700016 => {
            "The application does not exist, or has no service principal in this tenant: a Global Administrator of the tenant must consent first (threatgate consent grant, or the consent link)."
        }
        7000218 => "Send client_secret in the body or HTTP Basic, or a client assertion.",
        7000215 => "The client secret is wrong. Send the secret's value, not its id.",
        7000222 => "Every matching client secret has expired. Create a new one (threatgate app secret add).",
        700027 => {
            "The client assertion names a certificate the application does not have (x5t, x5t#S256, x5c), is not signed by that certificate's key, or the certificate has expired. List them with threatgate app certificate list."
        }
        50027 => {
            "The client assertion is not a valid JWT for this request: base64 JSON header and payload, iss = sub = client_id, aud = this tenant's token endpoint, exp in the future and within the server's maximum assertion lifetime (1 hour unless configured)."
        }
        50048 => "The client assertion's sub differs from its iss; both must be the client_id.",
        1002012 => "Client credentials need scope=<resource>/.default.",
        70011 => {
            "The scope names a resource this server does not host. Use https://api.security.microsoft.com/.default."
        }
        700022 => "The scope names more than one resource.",
        500011 => "The resource is not hosted here. Use resource=https://api.security.microsoft.com.",
        900561 => "Token endpoints accept POST only.",
        50049 => "Instance discovery was asked about a host that is not this server.",
        90055 => {
            "Too many token requests from this client or this address in the last minute. Wait for Retry-After seconds, and cache tokens: each is valid for an hour."
        }
        50000 => "The server failed while issuing the token; the trace id is in its log.",
        _ => {
            return (StatusCode::NOT_FOUND, format!("AADSTS{code} is not an error code of this server\n"))
                .into_response();
        }
    };
    format!("AADSTS{code}: {text}\n").into_response()
}
