//! Every AADSTS error of the token endpoints, in the order Microsoft's service checks
//! (`identity-protocol.md` 7.3), with status, `error`, code and body shape; the bodies are
//! pinned by one snapshot.

use serde_json::Value;
use threatgate_domain::{AppId, ClientSecretRecord, ObjectId};
use threatgate_identity::ClientSecret;
use threatgate_testkit::{PartnerFixture, TestApp, seed_partner, spawn_app};

use crate::{RESOURCE, SCOPE, assert_aad_error, redact_error};

struct Case {
    name: &'static str,
    tenant: String,
    path: &'static str,
    form: Vec<(&'static str, String)>,
    status: u16,
    error: &'static str,
    code: u32,
}

fn cases(p: &PartnerFixture) -> Vec<Case> {
    let customer = p.consented[0].clone();
    let v2 = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", p.app_id.clone()),
            ("client_secret", p.client_secret.clone()),
            ("scope", SCOPE.to_owned()),
        ];
        for (name, value) in extra {
            form.retain(|(existing, _)| existing != name);
            if !value.is_empty() {
                form.push((name, (*value).to_owned()));
            }
        }
        form
    };
    let v1 = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        let mut form = v2(&[("scope", "")]);
        form.push(("resource", RESOURCE.to_owned()));
        for (name, value) in extra {
            form.retain(|(existing, _)| existing != name);
            if !value.is_empty() {
                form.push((name, (*value).to_owned()));
            }
        }
        form
    };
    let case = |name, tenant: &str, path, form, status, error, code| Case {
        name,
        tenant: tenant.to_owned(),
        path,
        form,
        status,
        error,
        code,
    };
    const V2: &str = "oauth2/v2.0/token";
    const V1: &str = "oauth2/token";
    vec![
        case("unknown tenant", "00000000-0000-4000-8000-000000000001", V2, v2(&[]), 400, "invalid_request", 90002),
        case("unknown tenant domain", "nowhere.onmicrosoft.com", V2, v2(&[]), 400, "invalid_request", 90002),
        case("tenant neither GUID nor domain", "not%20a%20tenant", V2, v2(&[]), 400, "invalid_request", 900023),
        case("missing grant_type", &customer, V2, v2(&[("grant_type", "")]), 400, "invalid_request", 900144),
        case(
            "unsupported grant_type",
            &customer,
            V2,
            v2(&[("grant_type", "password")]),
            400,
            "unsupported_grant_type",
            70003,
        ),
        case("missing client_id", &customer, V2, v2(&[("client_id", "")]), 400, "invalid_request", 900144),
        case("missing scope", &customer, V2, v2(&[("scope", "")]), 400, "invalid_request", 900144),
        case("missing resource on v1", &customer, V1, v1(&[("resource", "")]), 400, "invalid_request", 900144),
        case("resource on v2", &customer, V2, v2(&[("resource", RESOURCE)]), 400, "invalid_request", 901002),
        case("common", "common", V2, v2(&[]), 400, "invalid_request", 50059),
        case("organizations on v1", "organizations", V1, v1(&[]), 400, "invalid_request", 50059),
        case(
            "unknown application",
            &customer,
            V2,
            v2(&[("client_id", "11111111-2222-4333-8444-555555555555")]),
            400,
            "unauthorized_client",
            700016,
        ),
        case(
            "client_id not a GUID",
            &customer,
            V2,
            v2(&[("client_id", "fabrikam-app")]),
            400,
            "unauthorized_client",
            700016,
        ),
        case("not consented", &p.not_consented, V2, v2(&[]), 400, "unauthorized_client", 700016),
        case("no credential", &customer, V2, v2(&[("client_secret", "")]), 401, "invalid_client", 7000218),
        case("wrong secret", &customer, V2, v2(&[("client_secret", "not-the-secret")]), 401, "invalid_client", 7000215),
        case(
            "unknown certificate",
            &customer,
            V2,
            v2(&[
                ("client_secret", ""),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", "eyJhbGciOiJSUzI1NiIsIng1dCI6ImhPQmNIWmk4NDZWQ0hTSmJGQXMyNkdvOVZUUT0ifQ.e30.c2ln"),
            ]),
            401,
            "invalid_client",
            700027,
        ),
        case(
            "scope without /.default",
            &customer,
            V2,
            v2(&[("scope", "Incident.Read.All")]),
            400,
            "invalid_scope",
            1002012,
        ),
        case(
            "scope of a single role",
            &customer,
            V2,
            v2(&[("scope", "https://api.security.microsoft.com/Incident.Read.All")]),
            400,
            "invalid_scope",
            1002012,
        ),
        case(
            "unknown resource scope",
            &customer,
            V2,
            v2(&[("scope", "https://management.azure.com/.default")]),
            400,
            "invalid_scope",
            70011,
        ),
        case(
            "two resources",
            &customer,
            V2,
            v2(&[("scope", "https://api.security.microsoft.com/.default https://graph.microsoft.com/.default")]),
            400,
            "invalid_scope",
            700022,
        ),
        case(
            "unknown resource on v1",
            &customer,
            V1,
            v1(&[("resource", "https://api.securitycenter.windows.com")]),
            400,
            "invalid_resource",
            500011,
        ),
    ]
}

async fn send(app: &TestApp, case: &Case) -> reqwest::Response {
    let form: Vec<(&str, &str)> = case.form.iter().map(|(name, value)| (*name, value.as_str())).collect();
    app.post_form(&case.tenant, case.path, &form).await
}

#[tokio::test]
async fn every_refusal_has_its_code_error_status_and_body() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let mut bodies = serde_json::Map::new();
    for case in cases(&partner) {
        let response = send(&app, &case).await;
        let body = assert_aad_error(response, case.status, case.error, case.code).await;
        // The application id and tenants vary per run; the snapshot keeps the wording.
        let text = serde_json::to_string(&redact_error(body)).unwrap();
        let text = text.replace(&partner.app_id, "[app_id]");
        bodies.insert(case.name.to_owned(), serde_json::from_str::<Value>(&text).unwrap());
    }
    insta::assert_json_snapshot!("token_error_bodies", Value::Object(bodies));
}

#[tokio::test]
async fn an_expired_secret_is_refused_with_7000222_while_a_valid_one_still_works() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let expired = ClientSecret::from_presented("exp8Q~expired-secret-value-0123456789abc");
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let record = ClientSecretRecord {
        key_id: ObjectId::parse("0f0f0f0f-0000-4000-8000-000000000001").unwrap(),
        app_id: AppId::parse(&partner.app_id).unwrap(),
        description: "old".into(),
        hint: expired.hint(),
        value_hash: app.identity.hasher().hash(&expired),
        start: now - time::Duration::days(200),
        end: now - time::Duration::days(20),
    };
    app.identity.store().insert_client_secret(&record).await.unwrap();
    app.refresh().await;

    let response = crate::request_v2_token(&app, &partner.consented[0], &partner.app_id, expired.expose()).await;
    let body = assert_aad_error(response, 401, "invalid_client", 7000222).await;
    assert!(body["error_description"].as_str().unwrap().contains(&partner.app_id));

    let response = crate::request_v2_token(&app, &partner.consented[0], &partner.app_id, &partner.client_secret).await;
    assert_eq!(response.status(), 200, "the other secret is still valid");
}

#[tokio::test]
async fn a_single_tenant_app_cannot_get_tokens_or_consent_outside_its_home_tenant() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let admin = app.admin();
    let single = admin.register_application(&partner.partner_tenant, "Internal tool", false, &[]).await.unwrap();
    let app_id = single.app_id;
    admin.add_permissions(app_id, &["Incident.Read.All".into()]).await.unwrap();
    let secret = admin.add_secret(app_id, "", None).await.unwrap();
    assert!(admin.grant_consent(&partner.consented[0], app_id).await.is_err());
    admin.grant_consent(&partner.partner_tenant, app_id).await.unwrap();
    app.refresh().await;

    let foreign =
        crate::request_v2_token(&app, &partner.consented[0], &app_id.to_string(), secret.value.expose()).await;
    assert_aad_error(foreign, 400, "unauthorized_client", 700016).await;
    let home = crate::request_v2_token(&app, &partner.partner_tenant, &app_id.to_string(), secret.value.expose()).await;
    assert_eq!(home.status(), 200);
}

#[tokio::test]
async fn the_token_endpoints_refuse_other_verbs_with_900561() {
    let app = spawn_app().await;
    for path in ["oauth2/token", "oauth2/v2.0/token"] {
        let response = app.get(&format!("/common/{path}")).await;
        let body = assert_aad_error(response, 400, "invalid_request", 900561).await;
        assert!(body["error_description"].as_str().unwrap().contains("Received a GET request"));
        let put = app.client.put(format!("{}/common/{path}", app.base_url)).send().await.unwrap();
        assert_aad_error(put, 400, "invalid_request", 900561).await;
    }
}

#[tokio::test]
async fn the_correlation_id_echoes_the_clients_request_id() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/common/oauth2/v2.0/token", app.base_url))
        .header("client-request-id", "0a0b0c0d-0000-4000-8000-000000000042")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body = assert_aad_error(response, 400, "invalid_request", 900144).await;
    assert_eq!(body["correlation_id"], "0a0b0c0d-0000-4000-8000-000000000042");
}
