//! The v2 token endpoint, as the partner guide's curl uses it.

use serde_json::Value;
use threatgate_testkit::{seed_partner, spawn_app};

use crate::{RESOURCE, SCOPE, request_v2_token, unverified_claims, verify_token};

#[tokio::test]
async fn the_guides_curl_request_returns_a_token_with_the_customers_roles_and_tid() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All", "Incident.ReadWrite.All"]).await;
    let customer = &partner.consented[0];

    let response = request_v2_token(&app, customer, &partner.app_id, &partner.client_secret).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store, no-cache");
    assert_eq!(response.headers()["pragma"], "no-cache");
    assert_eq!(response.headers()["content-type"], "application/json; charset=utf-8");
    let body: Value = response.json().await.unwrap();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["token_type", "expires_in", "ext_expires_in", "access_token"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599, "an integer on v2");
    assert_eq!(body["ext_expires_in"], 3599);

    let claims = verify_token(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["tid"], customer.as_str());
    assert_eq!(claims["roles"], serde_json::json!(["Incident.Read.All", "Incident.ReadWrite.All"]));
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["appid"], partner.app_id.as_str());
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["oid"], claims["sub"]);
    assert_eq!(claims["idp"], claims["iss"]);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3900);
    assert_eq!(claims["nbf"], claims["iat"]);
    assert_eq!(claims["uti"].as_str().unwrap().len(), 22);
    let names: Vec<&str> = claims.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "aud", "iss", "iat", "nbf", "exp", "aio", "appid", "appidacr", "idp", "idtyp", "oid", "rh", "roles", "sub",
            "tid", "uti", "ver"
        ]
    );
}

#[tokio::test]
async fn each_customer_gets_its_own_service_principal_as_oid() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let mut oids = Vec::new();
    for tenant in &partner.consented {
        let body: Value =
            request_v2_token(&app, tenant, &partner.app_id, &partner.client_secret).await.json().await.unwrap();
        let claims = unverified_claims(body["access_token"].as_str().unwrap());
        assert_eq!(claims["tid"], tenant.as_str());
        oids.push(claims["oid"].as_str().unwrap().to_owned());
    }
    assert_ne!(oids[0], oids[1]);
}

#[tokio::test]
async fn the_secret_may_come_in_http_basic_with_url_encoded_halves() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let encoded_id = partner.app_id.to_uppercase(); // GUIDs compare case-insensitively
    let encoded_secret: String = partner.client_secret.replace('~', "%7E").replace('.', "%2E");
    let response = app
        .client
        .post(format!("{}/{}/oauth2/v2.0/token", app.base_url, partner.consented[0]))
        .basic_auth(encoded_id, Some(encoded_secret))
        .form(&[("grant_type", "client_credentials"), ("scope", SCOPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn msal_extra_parameters_and_headers_are_ignored() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let scope = format!("{SCOPE} offline_access openid profile");
    let response = app
        .client
        .post(format!("{}/{}/oauth2/v2.0/token", app.base_url, partner.consented[0]))
        .header("x-client-sku", "MSAL.Python")
        .header("x-client-ver", "1.39.0")
        .header("x-ms-lib-capability", "retry-after, h429")
        .header("client-request-id", "6b1f7e3e-3b79-4bb8-9f2c-2f3b2f7e3e3e")
        .header("x-client-current-telemetry", "4|730,2|,,,|,|")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &partner.app_id),
            ("client_secret", &partner.client_secret),
            ("scope", &scope),
            ("client_info", "1"),
            ("claims", r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#),
            ("x-client-SKU", "msal.js.node"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["client-request-id"], "6b1f7e3e-3b79-4bb8-9f2c-2f3b2f7e3e3e");
}

#[tokio::test]
async fn the_tenant_may_be_named_by_domain_and_the_resource_by_application_id() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let response = app
        .post_form(
            "Contoso.onmicrosoft.com",
            "oauth2/v2.0/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &partner.app_id),
                ("client_secret", &partner.client_secret),
                ("scope", "8ee8fdad-f234-4243-8f3b-15c294843740/.default"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let claims = unverified_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["tid"], partner.consented[0].as_str());
    assert_eq!(claims["aud"], "8ee8fdad-f234-4243-8f3b-15c294843740");
}

#[tokio::test]
async fn an_app_consented_without_permissions_gets_a_token_without_roles() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &[]).await;
    let body: Value = request_v2_token(&app, &partner.consented[0], &partner.app_id, &partner.client_secret)
        .await
        .json()
        .await
        .unwrap();
    let claims = verify_token(&app, body["access_token"].as_str().unwrap()).await;
    assert!(claims.get("roles").is_none(), "no roles claim when none is granted: {claims}");
}

#[tokio::test]
async fn permissions_added_later_reach_tokens_only_after_consent_again() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let customer = &partner.consented[0];
    app.admin().add_permissions(partner.app(), &["Incidents.ReadWrite.All".into()]).await.unwrap();
    app.refresh().await;
    let roles = |body: Value| unverified_claims(body["access_token"].as_str().unwrap())["roles"].clone();

    let before = request_v2_token(&app, customer, &partner.app_id, &partner.client_secret).await.json().await.unwrap();
    assert_eq!(roles(before), serde_json::json!(["Incident.Read.All"]));

    app.admin().grant_consent(customer, partner.app()).await.unwrap();
    app.refresh().await;
    let after = request_v2_token(&app, customer, &partner.app_id, &partner.client_secret).await.json().await.unwrap();
    assert_eq!(roles(after), serde_json::json!(["Incident.Read.All", "Incident.ReadWrite.All"]));
}

#[tokio::test]
async fn a_revoked_consent_stops_new_tokens() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let customer = &partner.consented[1];
    app.admin().revoke_consent(customer, partner.app()).await.unwrap();
    app.refresh().await;
    let response = request_v2_token(&app, customer, &partner.app_id, &partner.client_secret).await;
    crate::assert_aad_error(response, 400, "unauthorized_client", 700016).await;
}

#[tokio::test]
async fn token_responses_and_tokens_keep_their_shape() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let tenant = &partner.consented[0];
    let mut v2: Value =
        request_v2_token(&app, tenant, &partner.app_id, &partner.client_secret).await.json().await.unwrap();
    let token = v2["access_token"].as_str().unwrap().to_owned();
    v2["access_token"] = "[token]".into();
    let mut v1: Value = app
        .post_form(
            tenant,
            "oauth2/token",
            &[
                ("resource", RESOURCE),
                ("client_id", &partner.app_id),
                ("client_secret", &partner.client_secret),
                ("grant_type", "client_credentials"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    for field in ["expires_on", "not_before", "access_token"] {
        v1[field] = "[varies]".into();
    }
    insta::assert_json_snapshot!("token_response_v2", v2);
    insta::assert_json_snapshot!("token_response_v1", v1);

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let mut claims = unverified_claims(&token);
    let text =
        serde_json::to_string(&claims).unwrap().replace(tenant.as_str(), "[tid]").replace(&partner.app_id, "[app_id]");
    claims = serde_json::from_str(&text).unwrap();
    for field in ["iat", "nbf", "exp", "aio", "rh", "uti", "oid", "sub"] {
        claims[field] = "[varies]".into();
    }
    insta::assert_json_snapshot!("access_token_claims", claims);
}

#[tokio::test]
async fn the_jwks_document_keeps_its_shape() {
    let app = spawn_app().await;
    let mut jwks: Value = app.get("/common/discovery/v2.0/keys").await.json().await.unwrap();
    for key in jwks["keys"].as_array_mut().unwrap() {
        for field in ["kid", "x5t", "n"] {
            key[field] = "[varies]".into();
        }
        key["x5c"] = serde_json::json!(["[certificate]"]);
        key["issuer"] = key["issuer"].as_str().unwrap().replace(&app.base_url, "[base]").into();
    }
    insta::assert_json_snapshot!("jwks_v2", jwks);
}
