//! Bearer validation, tenant isolation, live revocation and quotas.

use serde_json::{Value, json};
use threatgate_testkit::{seed_partner, spawn_app};

use crate::api_support::{api_get, api_patch, assert_api_error, seed_incidents, sign_with_server_key, token_for};
use crate::unverified_claims;

#[tokio::test]
async fn bad_tokens_get_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    let customer = &partner.consented[0];
    let good = token_for(&app, &partner, customer).await;
    let claims = unverified_claims(&good);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let with = |changes: Value| {
        let mut crafted = claims.clone();
        for (key, value) in changes.as_object().unwrap() {
            crafted[key] = value.clone();
        }
        crafted
    };

    let no_header = app.client.get(format!("{}/api/incidents", app.base_url)).send().await.unwrap();
    assert_api_error(no_header, 401, "Unauthorized").await;
    let basic =
        app.client.get(format!("{}/api/incidents", app.base_url)).basic_auth("a", Some("b")).send().await.unwrap();
    assert_api_error(basic, 401, "Unauthorized").await;

    let mut cases: Vec<(&str, String)> = vec![
        ("garbage", "not-a-token".into()),
        ("truncated", good[..good.len() - 10].to_owned()),
        ("two parts", good.rsplit_once('.').unwrap().0.to_owned()),
    ];
    // The good token's claims with one change each, signed with the server's own key:
    // only the checks can refuse them.
    for (name, change) in [
        ("expired", json!({"exp": now - 400, "nbf": now - 4000, "iat": now - 4000})),
        ("not yet valid", json!({"nbf": now + 900, "iat": now + 900, "exp": now + 4000})),
        ("wrong audience", json!({"aud": "https://graph.microsoft.com"})),
        ("wrong issuer", json!({"iss": "https://sts.windows.net/00000000-0000-4000-8000-000000000000/"})),
        ("other tenant", json!({"tid": partner.consented[1]})),
    ] {
        cases.push((name, sign_with_server_key(&app, &with(change)).await));
    }
    // Re-signed: the same claims with a payload edit but the original signature.
    let parts: Vec<&str> = good.split('.').collect();
    let edited = with(json!({"roles": ["Incident.ReadWrite.All", "AdvancedHunting.Read.All"]}));
    let edited_payload = base64_url(&serde_json::to_vec(&edited).unwrap());
    cases.push(("re-signed", format!("{}.{edited_payload}.{}", parts[0], parts[2])));
    // alg confusion: none, and HS256 keyed with public material.
    cases.push(("alg none", format!("{}.{}.", base64_url(br#"{"typ":"JWT","alg":"none"}"#), parts[1])));
    let hs_header = base64_url(format!(r#"{{"typ":"JWT","alg":"HS256","kid":"{}"}}"#, claims_kid(&good)).as_bytes());
    cases.push(("alg HS256", format!("{hs_header}.{}.{}", parts[1], parts[2])));

    for (name, token) in cases {
        let response = api_get(&app, &token, "/api/incidents").await;
        assert_eq!(response.status(), 401, "{name}");
        assert_api_error(response, 401, "Unauthorized").await;
    }
    assert_eq!(api_get(&app, &good, "/api/incidents").await.status(), 200);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn claims_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn no_tenant_can_read_or_change_another_tenants_incidents() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    app.admin().grant_consent(&partner.partner_tenant, partner.app()).await.unwrap();
    app.refresh().await;
    let tenants = [partner.partner_tenant.clone(), partner.consented[0].clone(), partner.consented[1].clone()];
    let mut own_ids = Vec::new();
    for (index, tenant) in tenants.iter().enumerate() {
        seed_incidents(&app, tenant, 4, index as u64 + 11).await;
        let token = token_for(&app, &partner, tenant).await;
        let listed: Value = api_get(&app, &token, "/api/incidents").await.json().await.unwrap();
        own_ids.push(
            listed["value"].as_array().unwrap().iter().map(|i| i["incidentId"].as_i64().unwrap()).collect::<Vec<_>>(),
        );
    }
    let mut snapshots = Vec::new();
    for (index, tenant) in tenants.iter().enumerate() {
        let token = token_for(&app, &partner, tenant).await;
        assert_eq!(own_ids[index].len(), 4, "each tenant sees exactly its own incidents");
        snapshots.push(api_get(&app, &token, "/api/incidents").await.json::<Value>().await.unwrap());
    }
    for (caller, tenant) in tenants.iter().enumerate() {
        let token = token_for(&app, &partner, tenant).await;
        for (owner, ids) in own_ids.iter().enumerate() {
            if owner == caller {
                continue;
            }
            for id in ids {
                assert_api_error(api_get(&app, &token, &format!("/api/incidents/{id}")).await, 404, "ResourceNotFound")
                    .await;
                let patch = api_patch(&app, &token, *id, &json!({"status": "Resolved", "comment": "leak?"})).await;
                assert_api_error(patch, 404, "ResourceNotFound").await;
            }
        }
    }
    for (index, tenant) in tenants.iter().enumerate() {
        let token = token_for(&app, &partner, tenant).await;
        let now: Value = api_get(&app, &token, "/api/incidents").await.json().await.unwrap();
        assert_eq!(now, snapshots[index], "nothing changed in tenant {index}");
    }
}

#[tokio::test]
async fn a_revoked_consent_stops_tokens_already_issued() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let customer = &partner.consented[0];
    let token = token_for(&app, &partner, customer).await;
    assert_eq!(api_get(&app, &token, "/api/incidents").await.status(), 200);
    app.admin().revoke_consent(customer, partner.app()).await.unwrap();
    app.refresh().await;
    let body = assert_api_error(api_get(&app, &token, "/api/incidents").await, 401, "Unauthorized").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("revoked"));
    app.admin().grant_consent(customer, partner.app()).await.unwrap();
    app.refresh().await;
    assert_eq!(
        api_get(&app, &token, "/api/incidents").await.status(),
        401,
        "a new consent does not revive the old token"
    );
    let fresh = token_for(&app, &partner, customer).await;
    assert_eq!(api_get(&app, &fresh, "/api/incidents").await.status(), 200);
}

#[tokio::test]
async fn the_list_quota_throttles_the_51st_call_in_a_minute() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let customer = &partner.consented[0];
    let token = token_for(&app, &partner, customer).await;
    for _ in 0..50 {
        assert_eq!(api_get(&app, &token, "/api/incidents?$top=1").await.status(), 200);
    }
    let response = api_get(&app, &token, "/api/incidents").await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    let body = assert_api_error(response, 429, "429").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("maximum allowed 50 per 00:01:00"));
    let other = token_for(&app, &partner, &partner.consented[1]).await;
    assert_eq!(api_get(&app, &other, "/api/incidents").await.status(), 200, "quotas are per tenant");
    assert_eq!(api_get(&app, &token, "/api/incidents/1").await.status(), 404, "get has its own quota");
}
