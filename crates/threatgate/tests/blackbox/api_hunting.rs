//! `POST /api/advancedhunting/run`: the spec's request and response shapes, the role it needs,
//! errors with the service's wording, the row limit, the quota, and the tenant boundary.

use serde_json::{Value, json};
use threatgate_domain::{IngestAlerts, TenantId, TenantScope};
use threatgate_hunting::schema;
use threatgate_store::EventValue;
use threatgate_testkit::{TestApp, seed_partner, spawn_app, spawn_app_with};

use crate::api_support::{assert_api_error, source_token, token_for};

async fn hunt(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}/api/advancedhunting/run", app.base_url))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Process events in `tenant`, `minutes` ago each, as ingestion stores them.
async fn processes(app: &TestApp, tenant: &str, rows: &[(i64, &str, &str)]) {
    let table = schema::table("DeviceProcessEvents").unwrap();
    let now = threatgate_domain::datetime::to_ticks(time::OffsetDateTime::now_utc());
    let rows: Vec<Vec<Option<EventValue>>> = rows
        .iter()
        .map(|(minutes, file, parent)| {
            table
                .columns
                .iter()
                .map(|c| match c.name {
                    "Timestamp" => Some(EventValue::Long(now - minutes * 600_000_000)),
                    "DeviceName" => Some(EventValue::Text("ws-01".into())),
                    "FileName" => Some(EventValue::Text((*file).into())),
                    "InitiatingProcessFileName" => Some(EventValue::Text((*parent).into())),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let scope = TenantScope::<IngestAlerts>::for_administrator(TenantId::parse(tenant).unwrap());
    app.identity.store().insert_events(&scope, table, &rows).await.unwrap();
}

#[tokio::test]
async fn the_spec_example_answers_with_stats_schema_and_results() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["AdvancedHunting.Read.All"]).await;
    let (contoso, woodgrove) = (&partner.consented[0], &partner.consented[1]);
    processes(
        &app,
        contoso,
        &[(5, "conhost.exe", "powershell.exe"), (3, "cmd.exe", "PowerShell.exe"), (1, "a.exe", "b.exe")],
    )
    .await;
    processes(&app, woodgrove, &[(2, "woodgrove.exe", "powershell.exe")]).await;
    let token = token_for(&app, &partner, contoso).await;

    let query = "DeviceProcessEvents | where InitiatingProcessFileName =~ \"powershell.exe\" | project Timestamp, FileName, InitiatingProcessFileName | order by Timestamp desc | limit 2";
    let response = hunt(&app, &token, &json!({ "Query": query })).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["Schema"],
        json!([
            {"Name": "Timestamp", "Type": "DateTime"},
            {"Name": "FileName", "Type": "String"},
            {"Name": "InitiatingProcessFileName", "Type": "String"}
        ])
    );
    let results = body["Results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["FileName"], "cmd.exe", "newest first");
    assert_eq!(results[1]["FileName"], "conhost.exe");
    assert_eq!(
        results[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["Timestamp", "FileName", "InitiatingProcessFileName"]
    );
    assert!(results[0]["Timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(body["Stats"]["ExecutionTime"].as_f64().unwrap() >= 0.0);
    assert_eq!(body["Stats"]["dataset_statistics"][0]["table_row_count"], 2);

    // Woodgrove's rows are not Contoso's, whatever the query says.
    let everything =
        hunt(&app, &token, &json!({"Query": "union DeviceProcessEvents, DeviceNetworkEvents | count"})).await;
    assert_eq!(everything.json::<Value>().await.unwrap()["Results"], json!([{"Count": 3}]));
}

#[tokio::test]
async fn query_errors_say_what_and_where() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["AdvancedHunting.Read.All"]).await;
    let token = token_for(&app, &partner, &partner.consented[0]).await;
    for (query, message) in [
        (
            "DeviceProcessEvents | wher FileName == 'x'",
            "Syntax error: A recognition error occurred. 'wher' is not a tabular operator [line:position=1:23]",
        ),
        (
            "DeviceProcessEvents\n| project Nope",
            "Semantic error: 'project' operator: Failed to resolve scalar expression named 'Nope' [line:position=2:11]",
        ),
        (
            "DeviceEventz | take 1",
            "Semantic error: Failed to resolve table or column expression named 'DeviceEventz' [line:position=1:1]",
        ),
        (
            "DeviceInfo | mv-apply LoggedOnUsers on (take 1)",
            "Unsupported query: the 'mv-apply' operator is not supported [line:position=1:14]",
        ),
    ] {
        let body = assert_api_error(hunt(&app, &token, &json!({ "Query": query })).await, 400, "BadRequest").await;
        assert_eq!(body["error"]["message"], message, "{query}");
    }
    // The body's key is case-sensitive, as documented.
    assert_api_error(hunt(&app, &token, &json!({"query": "DeviceInfo"})).await, 400, "InvalidRequestBody").await;
}

#[tokio::test]
async fn hunting_needs_its_role_and_counts_against_its_quota() {
    let app = spawn_app_with(|config| {
        config.hunting.max_rows = 2;
        config.quotas.hunting_per_minute = 3;
    })
    .await;
    let incidents_only = seed_partner(&app, &["Incident.Read.All"]).await;
    let token = token_for(&app, &incidents_only, &incidents_only.consented[0]).await;
    assert_api_error(hunt(&app, &token, &json!({"Query": "DeviceInfo"})).await, 403, "Forbidden").await;

    let admin = app.admin();
    admin.add_permissions(incidents_only.app(), &["AdvancedHunting.Read.All".into()]).await.unwrap();
    admin.grant_consent(&incidents_only.consented[0], incidents_only.app()).await.unwrap();
    app.refresh().await;
    let token = token_for(&app, &incidents_only, &incidents_only.consented[0]).await;
    processes(&app, &incidents_only.consented[0], &[(1, "a", "b"), (2, "c", "d"), (3, "e", "f")]).await;
    let body =
        assert_api_error(hunt(&app, &token, &json!({"Query": "DeviceProcessEvents"})).await, 400, "BadRequest").await;
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Result size limit exceeded."), "{body}");
    let taken = hunt(&app, &token, &json!({"Query": "DeviceProcessEvents | take 2"})).await;
    assert_eq!(taken.status(), 200);
    assert_eq!(hunt(&app, &token, &json!({"Query": "DeviceInfo"})).await.status(), 200, "the third call");
    let throttled = hunt(&app, &token, &json!({"Query": "DeviceInfo"})).await;
    assert_eq!(throttled.status(), 429, "the fourth call in a minute");
    assert!(throttled.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn events_arrive_by_ingestion_and_alerts_fill_alert_info_and_evidence() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["AdvancedHunting.Read.All"]).await;
    let contoso = partner.consented[0].clone();
    let source = source_token(&app, &contoso).await;
    let post = |path: &str, body: String| {
        app.client.post(format!("{}{path}", app.base_url)).bearer_auth(&source).body(body).send()
    };

    let now = time::OffsetDateTime::now_utc();
    let at = |minutes: i64| {
        threatgate_domain::datetime::format_ticks(threatgate_domain::datetime::to_ticks(now) - minutes * 600_000_000)
    };
    let lines = format!(
        "{}\n{}\n",
        json!({"Timestamp": at(5), "DeviceName": "ws-01", "RemoteIP": "203.0.113.7", "RemotePort": 443}),
        json!({"Timestamp": at(3), "DeviceName": "ws-02", "RemoteIP": "203.0.113.7", "RemotePort": 80, "RemoteUrl": null}),
    );
    let response = post("/api/ingest/events/DeviceNetworkEvents", lines).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"table": "DeviceNetworkEvents", "events_added": 2}));

    // Refusals name the problem; nothing of a refused request is added.
    let bad =
        format!("{}\n{}", json!({"Timestamp": at(1), "RemotePort": 22}), json!({"Timestamp": at(1), "remoteport": 22}));
    let body =
        assert_api_error(post("/api/ingest/events/DeviceNetworkEvents", bad).await.unwrap(), 400, "InvalidRequestBody")
            .await;
    assert_eq!(
        body["error"]["message"],
        "Line 2: DeviceNetworkEvents has no column `remoteport` (names are case-sensitive: `RemotePort`)."
    );
    let body =
        assert_api_error(post("/api/ingest/events/NoSuchTable", "{}".into()).await.unwrap(), 404, "ResourceNotFound")
            .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No event table named 'NoSuchTable'. Tables: DeviceProcessEvents")
    );
    assert_api_error(post("/api/ingest/events/AlertInfo", "{}".into()).await.unwrap(), 400, "InvalidInput").await;
    let reader = token_for(&app, &partner, &contoso).await;
    let refused = app
        .client
        .post(format!("{}/api/ingest/events/DeviceNetworkEvents", app.base_url))
        .bearer_auth(&reader)
        .body(json!({"Timestamp": at(1)}).to_string())
        .send()
        .await
        .unwrap();
    assert_api_error(refused, 403, "Forbidden").await;

    // An alert submitted (twice) is in AlertInfo once, its device and user in AlertEvidence.
    let alert = json!({
        "alertId": "da-1", "serviceSource": "MicrosoftDefenderATP", "creationTime": at(2),
        "firstActivity": at(4), "lastActivity": at(2), "title": "Suspicious PowerShell command line",
        "category": "Execution", "severity": "High", "detectionSource": "EDR", "mitreTechniques": ["T1059.001"],
        "devices": [{"mdatpDeviceId": "dev-1", "deviceDnsName": "ws-01", "osPlatform": "Windows11"}],
        "entities": [{"entityType": "User", "userPrincipalName": "ana@contoso.com", "accountName": "ana"}]
    });
    for _ in 0..2 {
        assert_eq!(post("/api/ingest/alerts", json!([alert]).to_string()).await.unwrap().status(), 200);
    }
    let query = "AlertInfo | join kind=inner (AlertEvidence) on AlertId | project AlertId, Severity, AttackTechniques, EntityType, DeviceName, AccountUpn | order by EntityType asc";
    let body: Value = hunt(&app, &reader, &json!({ "Query": query })).await.json().await.unwrap();
    assert_eq!(
        body["Results"],
        json!([
            {"AlertId": "da-1", "Severity": "High", "AttackTechniques": "[\"T1059.001\"]", "EntityType": "Machine", "DeviceName": "ws-01", "AccountUpn": ""},
            {"AlertId": "da-1", "Severity": "High", "AttackTechniques": "[\"T1059.001\"]", "EntityType": "User", "DeviceName": "", "AccountUpn": "ana@contoso.com"}
        ])
    );
    // Hunting joins the alert's device to the ingested events (both sides have a RemoteIP: the
    // right one is RemoteIP1).
    let query = "AlertEvidence | where EntityType == \"Machine\" | join kind=inner (DeviceNetworkEvents) on DeviceName | project DeviceName, RemoteIP1, RemotePort";
    let body: Value = hunt(&app, &reader, &json!({ "Query": query })).await.json().await.unwrap();
    assert_eq!(body["Results"], json!([{"DeviceName": "ws-01", "RemoteIP1": "203.0.113.7", "RemotePort": 443}]));
}
