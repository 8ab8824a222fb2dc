//! Regression tests of the outside audit (issue 16), driven as the attacker drove the server:
//! a consented partner app, a customer's user who is not an administrator, an anonymous client.
//! Each test names the finding it holds closed.

use serde_json::{Value, json};
use threatgate_domain::{IngestAlerts, TenantId, TenantScope};
use threatgate_hunting::schema;
use threatgate_store::EventValue;
use threatgate_testkit::{TestApp, seed_partner, spawn_app, spawn_app_with};

use crate::api_support::{assert_api_error, token_for};
use crate::portal::{PASSWORD, browser, hidden, sign_in};

async fn hunt(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/advancedhunting/run", app.base_url))
        .bearer_auth(token)
        .json(&json!({ "Query": query }))
        .send()
        .await
        .unwrap()
}

/// `count` process events in `tenant`, all with the same file name (so that joins on it
/// multiply).
async fn same_file_processes(app: &TestApp, tenant: &str, count: usize) {
    let table = schema::table("DeviceProcessEvents").unwrap();
    let now = threatgate_domain::datetime::to_ticks(time::OffsetDateTime::now_utc());
    let row: Vec<Option<EventValue>> = table
        .columns
        .iter()
        .map(|c| match c.name {
            "Timestamp" => Some(EventValue::Long(now)),
            "DeviceName" => Some(EventValue::Text("ws-01".into())),
            "FileName" => Some(EventValue::Text("svchost.exe".into())),
            "ProcessCommandLine" => Some(EventValue::Text("x".repeat(200))),
            _ => None,
        })
        .collect();
    let scope = TenantScope::<IngestAlerts>::for_administrator(TenantId::parse(tenant).unwrap());
    app.identity.store().insert_events(&scope, table, &vec![row; count]).await.unwrap();
}

/// Findings 1 and 2: trees built by loops (operator chains, pipes, doubling lets) are refused
/// with a 400 naming the limit, and the server answers on afterwards.
#[tokio::test]
async fn deep_and_exploding_queries_are_refused_with_the_limit_they_exceed() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["AdvancedHunting.Read.All"]).await;
    let token = token_for(&app, &partner, &partner.consented[0]).await;
    let terms = vec!["1"; 3_000].join("+");
    let mut doubling = String::from("let a0 = DeviceInfo;\n");
    for i in 1..=20 {
        doubling.push_str(&format!("let a{i} = union a{}, a{};\n", i - 1, i - 1));
    }
    doubling.push_str("a20 | take 1");
    for (query, limit) in [
        (format!("DeviceInfo | extend x = {terms} | take 1"), "nests more than 100 levels deep"),
        (format!("DeviceInfo{} | take 1", " | where true".repeat(3_000)), "more than 64 operators"),
        (format!("DeviceInfo | where {}", vec!["(true"; 3_000].join(" and ")), "nests parentheses"),
        (doubling, "larger than 20000 plan nodes"),
        (format!("DeviceInfo | where DeviceName == '{}'", "x".repeat(100_000)), "longer than 100000 bytes"),
    ] {
        let body = assert_api_error(hunt(&app, &token, &query).await, 400, "BadRequest").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("Query exceeds a limit: "), "{message}");
        assert!(message.contains(limit), "{message}");
    }
    // A long chain of 'and' or 'or' is not deep: it is accepted.
    let chain = vec!["DeviceName != 'x'"; 3_000].join(" or ");
    assert_eq!(hunt(&app, &token, &format!("DeviceInfo | where {chain} | take 1")).await.status(), 200);
}

/// Finding 3: results stop at the configured number of bytes; the error says so.
#[tokio::test]
async fn results_past_the_byte_limit_are_refused_not_buffered() {
    let app = spawn_app_with(|config| config.hunting.max_result_bytes = 50_000).await;
    let partner = seed_partner(&app, &["AdvancedHunting.Read.All"]).await;
    let tenant = &partner.consented[0];
    same_file_processes(&app, tenant, 1_000).await;
    let token = token_for(&app, &partner, tenant).await;
    let body = assert_api_error(hunt(&app, &token, "DeviceProcessEvents").await, 400, "BadRequest").await;
    assert_eq!(
        body["error"]["message"],
        "Query execution has exceeded the allowed result size. Optimize your query by limiting the amount of results and try again. (At most 50000 bytes.)"
    );
    let small = hunt(&app, &token, "DeviceProcessEvents | project FileName | take 100").await;
    assert_eq!(small.status(), 200);
    assert_eq!(small.json::<Value>().await.unwrap()["Results"].as_array().unwrap().len(), 100);
}

/// Finding 5: a tenant past its share of running queries is told to retry (429 with
/// `Retry-After`); another tenant's query runs meanwhile.
#[tokio::test]
async fn one_tenant_cannot_take_every_hunting_place() {
    let app = spawn_app_with(|config| {
        config.hunting.max_concurrent_per_tenant = 1;
        config.hunting.timeout_seconds = 8;
    })
    .await;
    let partner = seed_partner(&app, &["AdvancedHunting.Read.All"]).await;
    let (contoso, woodgrove) = (&partner.consented[0], &partner.consented[1]);
    same_file_processes(&app, contoso, 2_000).await;
    let contoso_token = token_for(&app, &partner, contoso).await;
    let woodgrove_token = token_for(&app, &partner, woodgrove).await;
    // Eight billion joined rows: runs until its timeout.
    let endless = "DeviceProcessEvents | join kind=inner (DeviceProcessEvents) on FileName | join kind=inner (DeviceProcessEvents) on FileName | count";
    let slow = tokio::spawn({
        let (app_client, url, token) =
            (app.client.clone(), format!("{}/api/advancedhunting/run", app.base_url), contoso_token.clone());
        async move { app_client.post(url).bearer_auth(token).json(&json!({ "Query": endless })).send().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let refused = hunt(&app, &contoso_token, "DeviceInfo | take 1").await;
    assert_eq!(refused.headers()["retry-after"], "5");
    let body = assert_api_error(refused, 429, "429").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("at most 1 at once"), "{body}");
    assert_eq!(hunt(&app, &woodgrove_token, "DeviceInfo | take 1").await.status(), 200, "another tenant runs");
    let slow = slow.await.unwrap().unwrap();
    let body = assert_api_error(slow, 400, "BadRequest").await;
    assert_eq!(body["error"]["message"], "Query exceeded the timeout period.");
    assert_eq!(hunt(&app, &contoso_token, "DeviceInfo | take 1").await.status(), 200, "the place is given back");
}

/// Finding 4: a user of the partner tenant who is not a Global Administrator can open the
/// portal but change nothing of the tenant's applications: every form answers 403, and the
/// app's credentials, permissions and consents stay as they were.
#[tokio::test]
async fn a_non_admin_user_changes_nothing_through_any_portal_form() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let admin = app.admin();
    admin
        .create_user("fabrikam.onmicrosoft.com", "analyst@fabrikam.onmicrosoft.com", Some(PASSWORD), false)
        .await
        .unwrap();
    admin
        .create_user("contoso.onmicrosoft.com", "analyst@contoso.onmicrosoft.com", Some(PASSWORD), false)
        .await
        .unwrap();
    let certificate = {
        let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
        let parameters = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        parameters.self_signed(&key).unwrap()
    };
    let existing = admin.add_certificate(&partner.app_id, certificate.pem().as_bytes(), Some("kept")).await.unwrap();
    app.refresh().await;
    let before = (
        admin.list_applications(Some("fabrikam.onmicrosoft.com")).await.unwrap(),
        admin.list_secrets(&partner.app_id).await.unwrap(),
        admin.list_certificates(&partner.app_id).await.unwrap(),
        admin.list_consents("contoso.onmicrosoft.com").await.unwrap(),
    );

    let partner_user = browser(&app);
    sign_in(&app, &partner_user, "analyst@fabrikam.onmicrosoft.com", "/portal").await;
    let page = partner_user.get(format!("{}/decode", app.base_url)).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    let app_path = format!("/portal/apps/{}", partner.app_id);
    let forms: Vec<(String, Vec<(&str, String)>)> = vec![
        (
            "/portal/apps/new".into(),
            vec![
                ("name", "Shadow app".into()),
                ("audience", "multi".into()),
                ("redirect_uri", "https://portal.azure.com".into()),
            ],
        ),
        (format!("{app_path}/permissions/add"), vec![("role", "Incident.ReadWrite.All".into())]),
        (format!("{app_path}/grant"), vec![]),
        (
            format!("{app_path}/secrets"),
            vec![("description", "stolen".into()), ("expires", "180".into()), ("custom_days", String::new())],
        ),
        (format!("{app_path}/secrets/delete"), vec![("key_id", partner.secret_key_id.clone())]),
        (format!("{app_path}/certificates"), vec![("certificate", certificate.pem()), ("description", String::new())]),
        (format!("{app_path}/certificates/delete"), vec![("key_id", existing.key_id.to_string())]),
    ];
    for (path, fields) in forms {
        let mut fields = fields;
        fields.push(("csrf", csrf.clone()));
        let response = partner_user.post(format!("{}{path}", app.base_url)).form(&fields).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.text().await.unwrap().contains("Global Administrator"), "{path}: the page says why");
    }

    // A customer's user who is not an administrator cannot revoke the partner's access.
    let customer_user = browser(&app);
    sign_in(&app, &customer_user, "analyst@contoso.onmicrosoft.com", "/portal").await;
    let page = customer_user.get(format!("{}/decode", app.base_url)).send().await.unwrap().text().await.unwrap();
    let revoke = customer_user
        .post(format!("{}/portal/enterprise-apps/revoke", app.base_url))
        .form(&[("csrf", hidden(&page, "csrf")), ("app_id", partner.app_id.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 403);

    let after = (
        admin.list_applications(Some("fabrikam.onmicrosoft.com")).await.unwrap(),
        admin.list_secrets(&partner.app_id).await.unwrap(),
        admin.list_certificates(&partner.app_id).await.unwrap(),
        admin.list_consents("contoso.onmicrosoft.com").await.unwrap(),
    );
    assert_eq!(format!("{before:?}"), format!("{after:?}"), "nothing changed");
}
