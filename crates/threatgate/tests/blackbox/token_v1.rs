//! The v1 token endpoint, as the guide's PowerShell and ADAL samples use it.

use serde_json::Value;
use threatgate_testkit::{seed_partner, spawn_app};

use crate::{RESOURCE, verify_token};

#[tokio::test]
async fn the_v1_endpoint_answers_with_string_typed_numbers_and_the_resource() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let customer = &partner.consented[0];

    // The order and fields of the guide's PowerShell hashtable.
    let response = app
        .post_form(
            customer,
            "oauth2/token",
            &[
                ("resource", RESOURCE),
                ("client_id", &partner.app_id),
                ("client_secret", &partner.client_secret),
                ("grant_type", "client_credentials"),
            ],
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store, no-cache");
    let body: Value = response.json().await.unwrap();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["token_type", "expires_in", "ext_expires_in", "expires_on", "not_before", "resource", "access_token"]
    );
    for field in ["expires_in", "ext_expires_in", "expires_on", "not_before"] {
        assert!(body[field].is_string(), "{field} is a string on v1: {body}");
    }
    assert_eq!(body["expires_in"], "3599");
    assert_eq!(body["resource"], RESOURCE);
    let expires_on: i64 = body["expires_on"].as_str().unwrap().parse().unwrap();
    let not_before: i64 = body["not_before"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires_on - not_before, 3900);

    let claims = verify_token(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["tid"], customer.as_str());
    assert_eq!(claims["exp"].as_i64(), Some(expires_on));
    assert_eq!(claims["nbf"].as_i64(), Some(not_before));
    assert_eq!(claims["roles"], serde_json::json!(["Incident.Read.All"]));
}

#[tokio::test]
async fn the_v1_endpoint_ignores_scope() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let response = app
        .post_form(
            &partner.consented[0],
            "oauth2/token",
            &[
                ("resource", RESOURCE),
                ("scope", "openid"),
                ("client_id", &partner.app_id),
                ("client_secret", &partner.client_secret),
                ("grant_type", "client_credentials"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
}
