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
        // Two places in all (the PostgreSQL test servers' pool of 4 gives one by default).
        config.hunting.max_concurrent = Some(2);
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
    let existing = admin.add_certificate(partner.app(), certificate.pem().as_bytes(), Some("kept")).await.unwrap();
    app.refresh().await;
    let before = (
        admin.list_applications(Some("fabrikam.onmicrosoft.com")).await.unwrap(),
        admin.list_secrets(partner.app()).await.unwrap(),
        admin.list_certificates(partner.app()).await.unwrap(),
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
        admin.list_secrets(partner.app()).await.unwrap(),
        admin.list_certificates(partner.app()).await.unwrap(),
        admin.list_consents("contoso.onmicrosoft.com").await.unwrap(),
    );
    assert_eq!(format!("{before:?}"), format!("{after:?}"), "nothing changed");
}

/// Finding 7: a `return` that a browser would resolve off the site (tabs and line breaks are
/// dropped by browsers) leads to `/portal`; control characters are not a 500.
#[tokio::test]
async fn sign_in_returns_only_to_this_site() {
    let app = spawn_app().await;
    seed_partner(&app, &[]).await;
    let upn = "admin@northwind.onmicrosoft.com";
    app.admin().create_user("northwind.onmicrosoft.com", upn, Some(PASSWORD), true).await.unwrap();
    for (return_to, expected) in [
        ("/\t/evil.example", "/portal"),
        ("/\n/evil.example", "/portal"),
        ("/\r\nSet-Cookie: x=y", "/portal"),
        ("/\\evil.example", "/portal"),
        ("/\u{0}", "/portal"),
        ("/%09/evil.example", "/%09/evil.example"),
        ("/portal/apps", "/portal/apps"),
    ] {
        let browser = browser(&app);
        // The form page echoes `return` (decoded) into the form, which posts it back.
        let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        let page = browser.get(format!("{}/portal/signin?return={encoded}", app.base_url)).send().await.unwrap();
        assert_eq!(page.status(), 200, "{return_to:?}");
        let csrf = hidden(&page.text().await.unwrap(), "csrf");
        let response = browser
            .post(format!("{}/portal/signin", app.base_url))
            .form(&[("csrf", csrf.as_str()), ("upn", upn), ("password", PASSWORD), ("return_to", return_to)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{return_to:?}");
        assert_eq!(crate::portal::location(&response), expected, "{return_to:?}");
    }
}

/// Finding 9: five wrong passwords for an administrator from one address block that address
/// only; the administrator signs in from their own.
#[tokio::test]
async fn failed_sign_ins_from_one_address_do_not_lock_the_owner_out() {
    let app = spawn_app().await;
    seed_partner(&app, &[]).await;
    let upn = "admin@northwind.onmicrosoft.com";
    app.admin().create_user("northwind.onmicrosoft.com", upn, Some(PASSWORD), true).await.unwrap();
    let pem = std::fs::read(&app.ca_certificate).unwrap();
    let attacker = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let page = attacker.get(format!("{}/portal/signin", app.base_url)).send().await.unwrap().text().await.unwrap();
        let wrong = attacker
            .post(format!("{}/portal/signin", app.base_url))
            .form(&[("csrf", hidden(&page, "csrf").as_str()), ("upn", upn), ("password", "guess"), ("return_to", "/")])
            .send()
            .await
            .unwrap();
        statuses.push(wrong.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    let owner = browser(&app);
    let signed_in = sign_in(&app, &owner, upn, "/portal").await;
    assert_eq!(signed_in.status(), 303, "the owner's correct password from another address works");
}

/// Finding 11: an assertion made for another service on this host (another port) is refused
/// even when the request's `Host` names that port, and so is one valid for ten years.
#[tokio::test]
async fn client_assertions_must_name_this_server_and_expire_soon() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let (certificate, key) = crate::audit::certificate();
    let added = app.admin().add_certificate(partner.app(), certificate.as_bytes(), None).await.unwrap();
    app.refresh().await;
    let tenant = &partner.consented[0];
    let url = url::Url::parse(&app.base_url).unwrap();
    let port = url.port().unwrap();
    let other_port = if port == 9 { 10 } else { 9 };
    let host = url.host_str().unwrap();
    let request = |assertion: String, host_header: Option<String>| {
        let mut request = app.client.post(format!("{}/{tenant}/oauth2/v2.0/token", app.base_url)).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", partner.app_id.as_str()),
            ("scope", crate::SCOPE),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion.as_str()),
        ]);
        if let Some(host_header) = host_header {
            request = request.header(reqwest::header::HOST, host_header);
        }
        request.send()
    };
    let sign = |audience: &str, lifetime: i64| {
        crate::audit::assertion_for(audience, lifetime, &partner.app_id, &added.thumbprint, &key)
    };
    let this_server = format!("{}/{tenant}/oauth2/v2.0/token", app.base_url);
    let other_service = format!("https://{host}:{other_port}/{tenant}/oauth2/v2.0/token");

    let replayed = request(sign(&other_service, 600), Some(format!("{host}:{other_port}"))).await.unwrap();
    let body = crate::assert_aad_error(replayed, 401, "invalid_client", 50027).await;
    assert!(body["error_description"].as_str().unwrap().contains("audience"), "{body}");
    let ten_years = request(sign(&this_server, 10 * 365 * 86_400), None).await.unwrap();
    let body = crate::assert_aad_error(ten_years, 401, "invalid_client", 50027).await;
    assert!(body["error_description"].as_str().unwrap().contains("valid for too long"), "{body}");
    assert_eq!(request(sign(&this_server, 1800), None).await.unwrap().status(), 200, "azure-identity's 30 minutes");
}

/// Finding 10: token requests past the per-client budget get 429, AADSTS90055 and
/// `Retry-After`; another client is not affected.
#[tokio::test]
async fn token_requests_are_throttled_per_client_and_per_address() {
    let app = spawn_app_with(|config| {
        config.token_endpoint.per_client_per_minute = 3;
        config.token_endpoint.per_address_per_minute = 5;
    })
    .await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let tenant = &partner.consented[0];
    for _ in 0..3 {
        let response = crate::request_v2_token(&app, tenant, &partner.app_id, &partner.client_secret).await;
        assert_eq!(response.status(), 200);
    }
    let throttled = crate::request_v2_token(&app, tenant, &partner.app_id, &partner.client_secret).await;
    let retry_after: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=21).contains(&retry_after), "{retry_after}");
    let body = crate::assert_aad_error(throttled, 429, "temporarily_unavailable", 90055).await;
    assert!(body["error_description"].as_str().unwrap().contains("too many incoming requests from this client"));

    // The address's budget (5) is spent by a sixth request, whatever client it names.
    let other = "00000000-0000-0000-0000-000000000001";
    assert_eq!(crate::request_v2_token(&app, tenant, other, "x").await.status(), 400, "unknown, not throttled");
    let by_address = crate::request_v2_token(&app, tenant, other, "x").await;
    let body = crate::assert_aad_error(by_address, 429, "temporarily_unavailable", 90055).await;
    assert!(body["error_description"].as_str().unwrap().contains("from this address"));
}

/// Finding 12: refusals that no handler writes (an unknown path, a wrong method, a body that is
/// not JSON) are the API's error JSON too.
#[tokio::test]
async fn every_refusal_under_the_api_is_its_error_json() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All", "AdvancedHunting.Read.All"]).await;
    let token = token_for(&app, &partner, &partner.consented[0]).await;
    let url = |path: &str| format!("{}{path}", app.base_url);
    let unknown = app.client.get(url("/api/nothing-here")).bearer_auth(&token).send().await.unwrap();
    assert_api_error(unknown, 404, "ResourceNotFound").await;
    let anonymous_unknown = app.client.get(url("/api/v1.0/x/y")).send().await.unwrap();
    assert_api_error(anonymous_unknown, 404, "ResourceNotFound").await;
    let wrong_method = app.client.delete(url("/api/incidents")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(wrong_method.headers()["allow"], "GET,HEAD");
    let body = assert_api_error(wrong_method, 405, "MethodNotAllowed").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("DELETE"), "{body}");
    let not_json = app
        .client
        .patch(url("/api/incidents/1"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(not_json.status().is_client_error());
    assert_eq!(not_json.headers()["content-type"], "application/json; charset=utf-8");
    let hunt_not_json = app
        .client
        .post(url("/api/advancedhunting/run"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("DeviceInfo")
        .send()
        .await
        .unwrap();
    assert_api_error(hunt_not_json, 400, "InvalidRequestBody").await;
    // Outside /api, the portal's and identity's own pages are untouched.
    let portal_unknown = app.client.get(url("/portal/nothing-here")).send().await.unwrap();
    assert_ne!(
        portal_unknown.headers().get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/json; charset=utf-8")
    );
}

/// Finding 8: client mistakes in a query (an invalid regular expression, arithmetic out of
/// range, division by zero, awkward separators) are 400s with the service's wording, never
/// 500s.
#[tokio::test]
async fn query_mistakes_found_while_running_are_400s() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["AdvancedHunting.Read.All"]).await;
    let tenant = &partner.consented[0];
    same_file_processes(&app, tenant, 3).await;
    let token = token_for(&app, &partner, tenant).await;
    for (query, message) in [
        (
            "DeviceProcessEvents | where FileName matches regex '('",
            "Semantic error: 'where' operator: the regular expression is not valid",
        ),
        (
            "DeviceProcessEvents | extend x = strlen(FileName) * 9223372036854775807",
            "Semantic error: A computation overflows",
        ),
    ] {
        let body = assert_api_error(hunt(&app, &token, query).await, 400, "BadRequest").await;
        assert!(body["error"]["message"].as_str().unwrap().starts_with(message), "{query}: {body}");
    }
    for query in [
        "DeviceProcessEvents | extend x = strlen(FileName) / 0",
        "DeviceProcessEvents | extend y = split(FileName, '\"')",
        "DeviceProcessEvents | extend y = split(FileName, \"\\\"\")",
    ] {
        let status = hunt(&app, &token, query).await.status();
        assert!(status == 200 || status == 400, "{query}: {status}");
    }
}

/// Finding 6: one request's alerts are bounded (its correlation holds the write lock), and
/// ingestion has a quota of its own.
#[tokio::test]
async fn ingestion_is_bounded_per_request_and_per_minute() {
    let app = spawn_app_with(|config| config.quotas.ingest_per_minute = 2).await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let source = crate::api_support::source_token(&app, &partner.consented[0]).await;
    let alert = |i: usize| {
        json!({
            "alertId": format!("x{i}"), "serviceSource": "MicrosoftDefenderATP", "creationTime": "2026-11-20T10:00:00Z",
            "firstActivity": "2026-11-20T09:59:00Z", "lastActivity": "2026-11-20T10:00:00Z", "title": "T",
            "category": "Execution", "severity": "Low", "detectionSource": "EDR",
            "entities": [{"entityType": "User", "userPrincipalName": "ana@contoso.com"}]
        })
    };
    let post = |body: Value| {
        app.client.post(format!("{}/api/ingest/alerts", app.base_url)).bearer_auth(&source).json(&body).send()
    };
    let too_many: Vec<Value> = (0..1_001).map(alert).collect();
    let body = assert_api_error(post(Value::Array(too_many)).await.unwrap(), 400, "InvalidInput").await;
    assert!(body["error"]["message"].as_str().unwrap().starts_with("At most 1000 alerts per request"), "{body}");
    let most: Vec<Value> = (0..1_000).map(alert).collect();
    assert_eq!(post(Value::Array(most)).await.unwrap().status(), 200, "1,000 in one incident");
    let throttled = post(json!([alert(5_000)])).await.unwrap();
    assert!(throttled.headers().contains_key("retry-after"));
    assert_api_error(throttled, 429, "429").await;
}
