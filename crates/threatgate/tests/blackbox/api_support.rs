//! Helpers for the API tests: tokens per customer, seeded incidents, crafted tokens.

use serde_json::Value;
use threatgate_domain::{IngestAlerts, TenantId, TenantScope};
use threatgate_identity::keys::SigningKey;
use threatgate_incidents::prepare_alert;
use threatgate_seed::generator::AlertGenerator;
use threatgate_testkit::{PartnerFixture, TestApp};

use crate::request_v2_token;

/// A fixed "now" for generated data, so that incident documents are reproducible.
pub const SEED_NOW: &str = "2026-11-20T12:00:00Z";

pub async fn token_for(app: &TestApp, partner: &PartnerFixture, tenant: &str) -> String {
    let body: Value =
        request_v2_token(app, tenant, &partner.app_id, &partner.client_secret).await.json().await.unwrap();
    body["access_token"].as_str().expect("a token").to_owned()
}

/// Seeds `count` generated incidents into `tenant` (as `threatgate seed` does).
pub async fn seed_incidents(app: &TestApp, tenant: &str, count: u64, seed: u64) {
    let tenant_id = TenantId::parse(tenant).unwrap();
    let now = threatgate_domain::datetime::parse_datetime_ticks(SEED_NOW).unwrap();
    let alerts = AlertGenerator::new(seed, "contoso.onmicrosoft.com", count, now, 10)
        .map(|(received, alert)| prepare_alert(alert, received).unwrap())
        .collect();
    let scope = TenantScope::<IngestAlerts>::for_administrator(tenant_id);
    app.identity.store().ingest_alerts(&scope, alerts, 24 * 3600 * 10_000_000).await.unwrap();
}

pub async fn api_get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client.get(format!("{}{path}", app.base_url)).bearer_auth(token).send().await.unwrap()
}

pub async fn api_patch(app: &TestApp, token: &str, id: i64, body: &Value) -> reqwest::Response {
    app.client.patch(format!("{}/api/incidents/{id}", app.base_url)).bearer_auth(token).json(body).send().await.unwrap()
}

/// Asserts an API error: status, code, and the `{"error":{"code","message","target"}}` shape.
pub async fn assert_api_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let www = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    assert!(uuid::Uuid::parse_str(body["error"]["target"].as_str().unwrap()).is_ok());
    if status == 401 {
        assert!(www.unwrap_or_default().starts_with("Bearer"), "401 carries WWW-Authenticate: Bearer");
    }
    body
}

/// Signs arbitrary claims with the server's current signing key (for crafted-token tests).
pub async fn sign_with_server_key(app: &TestApp, claims: &Value) -> String {
    let records = app.identity.store().list_signing_keys().await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let record = records.iter().filter(|r| r.activates_at <= now).max_by_key(|r| r.activates_at).unwrap();
    SigningKey::from_record(app.identity.key_encryption(), record).unwrap().sign_jwt(claims).unwrap()
}

/// A token of the tenant's own detection source: an application registered in `tenant`
/// itself with `Incident.ReadWrite.All`, consented (what ingestion needs).
pub async fn source_token(app: &TestApp, tenant: &str) -> String {
    let admin = app.admin();
    let source = admin.register_application(tenant, "Contoso EDR", false, &[]).await.unwrap();
    let source_id = source.app_id;
    admin.add_permissions(source_id, &["Incident.ReadWrite.All".into()]).await.unwrap();
    let secret = admin.add_secret(source_id, "", None).await.unwrap();
    admin.grant_consent(tenant, source_id).await.unwrap();
    app.refresh().await;
    let body: Value =
        request_v2_token(app, tenant, &source_id.to_string(), secret.value.expose()).await.json().await.unwrap();
    body["access_token"].as_str().expect("a token").to_owned()
}
