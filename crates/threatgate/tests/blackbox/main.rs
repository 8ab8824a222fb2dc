//! Black-box tests: a real server per test (HTTPS on 127.0.0.1:0, fresh data directory),
//! driven over the wire as partners' tools drive Microsoft's service. One test binary, a
//! module per feature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod api_auth;
mod api_hunting;
mod api_incidents;
mod api_ingest;
mod api_support;
mod api_update;
mod architecture;
mod audit;
mod bad_input;
mod browser;
mod cli;
mod crash;
mod demo;
mod discovery;
mod emulator;
mod errors;
mod graph;
mod interop;
mod limits;
mod migrate;
mod multi_node;
mod partner_cli;
mod portal;
mod portal_incidents;
mod restart;
mod security;
mod token_v1;
mod token_v2;

use serde_json::Value;
use threatgate_testkit::TestApp;

pub const RESOURCE: &str = "https://api.security.microsoft.com";
pub const SCOPE: &str = "https://api.security.microsoft.com/.default";

/// The guide's v2 request for `tenant`.
pub async fn request_v2_token(app: &TestApp, tenant: &str, client_id: &str, secret: &str) -> reqwest::Response {
    app.post_form(
        tenant,
        "oauth2/v2.0/token",
        &[("grant_type", "client_credentials"), ("client_id", client_id), ("scope", SCOPE), ("client_secret", secret)],
    )
    .await
}

/// Verifies `token` as a resource server would: signature against the server's JWKS (the
/// key named by `kid`), RS256 only, `aud`, `iss` for the token's `tid`, `exp`/`nbf`.
/// Returns the claims.
pub async fn verify_token(app: &TestApp, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("a JWT header");
    let kid = header.kid.clone().expect("kid");
    assert_eq!(header.x5t.as_deref(), Some(kid.as_str()), "x5t = kid in v1 tokens");
    let jwks: Value = app.get("/common/discovery/keys").await.json().await.unwrap();
    let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("the kid is published");
    let decoding_key =
        jsonwebtoken::DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let unverified = unverified_claims(token);
    let tid = unverified["tid"].as_str().unwrap().to_owned();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[RESOURCE]);
    validation.set_issuer(&[format!("https://sts.windows.net/{tid}/")]);
    validation.leeway = 300;
    jsonwebtoken::decode::<Value>(token, &decoding_key, &validation).expect("the token verifies").claims
}

/// The claims, without verification.
pub fn unverified_claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Asserts an AADSTS error: status, `error`, code, and the shape of section 7.1.
pub async fn assert_aad_error(response: reqwest::Response, status: u16, error: &str, code: u32) -> Value {
    assert_eq!(response.status().as_u16(), status, "status for AADSTS{code}");
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json; charset=utf-8")
    );
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.starts_with(&format!("AADSTS{code}: ")), "{description}");
    let trace = body["trace_id"].as_str().unwrap();
    let correlation = body["correlation_id"].as_str().unwrap();
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        description
            .ends_with(&format!("\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}")),
        "{description}"
    );
    assert_eq!(timestamp.len(), "2026-01-09 02:02:12Z".len());
    assert!(body["error_uri"].as_str().unwrap().ends_with(&format!("/error?code={code}")));
    body
}

/// Replaces per-request values so that a snapshot pins only the shape and the fixed text.
pub fn redact_error(mut body: Value) -> Value {
    let trace = body["trace_id"].as_str().unwrap_or_default().to_owned();
    let correlation = body["correlation_id"].as_str().unwrap_or_default().to_owned();
    let timestamp = body["timestamp"].as_str().unwrap_or_default().to_owned();
    let description = body["error_description"]
        .as_str()
        .unwrap_or_default()
        .replace(&trace, "[trace]")
        .replace(&correlation, "[correlation]")
        .replace(&timestamp, "[timestamp]");
    body["error_description"] = Value::String(description);
    body["trace_id"] = Value::String("[trace]".into());
    body["correlation_id"] = Value::String("[correlation]".into());
    body["timestamp"] = Value::String("[timestamp]".into());
    if let Some(uri) = body["error_uri"].as_str() {
        let path = uri.find("/error").map(|at| uri[at..].to_owned()).unwrap_or_default();
        body["error_uri"] = Value::String(format!("[base]{path}"));
    }
    body
}
