//! The partner's commands (`token`, `incidents list|get|update`, `hunt`) run as a partner runs them,
//! against a spawned server: flags, environment, profiles, several tenants with one failing.

use serde_json::Value;
use threatgate_testkit::{PartnerFixture, TestApp, seed_partner, spawn_app};

use threatgate_seed::generator::AlertGenerator;

use crate::api_support::seed_incidents;

/// Runs `threatgate <args>` with the partner's connection flags and its secret in `TG_SECRET`.
async fn partner(app: &TestApp, fixture: &PartnerFixture, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(args)
        .args(["--authority", &app.base_url, "--api-base", &app.base_url])
        .arg("--ca-cert")
        .arg(&app.ca_certificate)
        .args(["--client-id", &fixture.app_id, "--client-secret-env", "TG_SECRET"])
        .env("TG_SECRET", &fixture.client_secret)
        .env("HOME", "/nonexistent")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .await
        .unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

async fn fixture() -> (TestApp, PartnerFixture) {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    seed_incidents(&app, &partner.consented[0], 3, 11).await;
    seed_incidents(&app, &partner.consented[1], 2, 12).await;
    (app, partner)
}

#[tokio::test]
async fn token_prints_a_token_or_the_whole_response() {
    let (app, fixture) = fixture().await;
    let token = stdout(&partner(&app, &fixture, &["token", "--tenant", "contoso.onmicrosoft.com"]).await);
    let claims = crate::unverified_claims(token.trim());
    assert_eq!(claims["tid"], fixture.consented[0].as_str());
    assert_eq!(claims["roles"], serde_json::json!(["Incident.ReadWrite.All"]));

    let v1 =
        stdout(&partner(&app, &fixture, &["token", "--tenant", "contoso.onmicrosoft.com", "--v1", "--json"]).await);
    let response: Value = serde_json::from_str(&v1).unwrap();
    assert_eq!(response["resource"], "https://api.security.microsoft.com");
    assert!(response["expires_on"].is_string(), "the v1 response: {response}");

    let refused = partner(&app, &fixture, &["token", "--tenant", "northwind.onmicrosoft.com"]).await;
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("AADSTS700016 (HTTP 400)") && message.contains("tracking id"), "{message}");
}

#[tokio::test]
async fn incidents_list_in_one_tenant_as_a_table() {
    let (app, fixture) = fixture().await;
    let table = stdout(&partner(&app, &fixture, &["incidents", "list", "--tenant", "contoso.onmicrosoft.com"]).await);
    insta::assert_snapshot!("incidents_list_table", table);
}

#[tokio::test]
async fn incidents_list_over_all_tenants_reports_the_failing_one_and_exits_non_zero() {
    let (app, fixture) = fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenants.txt");
    std::fs::write(
        &file,
        "# customers\ncontoso.onmicrosoft.com\nwoodgrove.onmicrosoft.com  # the second\n\nnorthwind.onmicrosoft.com\n",
    )
    .unwrap();
    let file = format!("--all-tenants={}", file.to_str().unwrap());
    let output = partner(&app, &fixture, &["incidents", "list", &file, "--output", "ndjson"]).await;
    assert!(!output.status.success(), "a failed tenant fails the run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: northwind.onmicrosoft.com: AADSTS700016"), "{stderr}");
    assert!(stderr.contains("3 tenants, 5 incidents, 1 failed, 3 token requests"), "{stderr}");
    assert!(stderr.contains("1 of 3 tenants failed"));
    let lines: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    let in_contoso = lines.iter().filter(|l| l["tenant"] == "contoso.onmicrosoft.com").count();
    assert_eq!(in_contoso, 3);
    assert!(lines.iter().all(|l| l["incidentId"].is_i64() && l["alerts"].is_array()));

    // The generated incidents are days old: a 1-hour window finds none, a 30-day one all.
    let recent =
        partner(&app, &fixture, &["incidents", "list", "--tenant", "contoso.onmicrosoft.com", "--since", "1h"]).await;
    assert_eq!(stdout(&recent).lines().count(), 1, "only the header");
    let month = partner(
        &app,
        &fixture,
        &["incidents", "list", "--tenant", "contoso.onmicrosoft.com", "--since", "3650d", "--status", "Active"],
    )
    .await;
    assert_eq!(stdout(&month).lines().count(), 4);
}

#[tokio::test]
async fn profiles_hold_everything_but_the_secret_itself() {
    let (app, fixture) = fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles.toml");
    std::fs::copy(&app.ca_certificate, dir.path().join("ca.pem")).unwrap();
    std::fs::write(
        &profiles,
        format!(
            "[fabrikam]\nauthority = \"{base}\"\napi_base = \"{base}\"\nca_cert = \"ca.pem\"\nclient_id = \"{id}\"\n\
             client_secret_env = \"FABRIKAM_SECRET\"\ntenants = [\"contoso.onmicrosoft.com\", \"woodgrove.onmicrosoft.com\"]\n\
             [leaky]\nclient_id = \"{id}\"\nclient_secret = \"{secret}\"\n",
            base = app.base_url,
            id = fixture.app_id,
            secret = fixture.client_secret
        ),
    )
    .unwrap();
    let run = |profile: &'static str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
            .args(["incidents", "list", "--all-tenants", "--output", "json", "--profile", profile])
            .arg("--profiles")
            .arg(&profiles)
            .env("FABRIKAM_SECRET", &fixture.client_secret)
            .output()
    };
    let listed: Value = serde_json::from_str(&stdout(&run("fabrikam").await.unwrap())).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 5);
    assert_eq!(listed[0]["tenant"], "contoso.onmicrosoft.com", "in the profile's order");

    let leaky = run("leaky").await.unwrap();
    assert!(!leaky.status.success());
    assert!(String::from_utf8_lossy(&leaky.stderr).contains("holds a client secret inline"));
    let missing = run("nobody").await.unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no profile 'nobody'"));
}

#[tokio::test]
async fn incidents_get_and_update_one_incident() {
    let (app, fixture) = fixture().await;
    let tenant = "contoso.onmicrosoft.com";
    let got: Value =
        serde_json::from_str(&stdout(&partner(&app, &fixture, &["incidents", "get", "--tenant", tenant, "1"]).await))
            .unwrap();
    assert_eq!(got["incidentId"], 1);
    let updated = partner(
        &app,
        &fixture,
        &[
            "incidents",
            "update",
            "--tenant",
            tenant,
            "1",
            "--status",
            "Resolved",
            "--classification",
            "TruePositive",
            "--determination",
            "Malware",
            "--tag",
            "partner",
            "--comment",
            "contained",
        ],
    )
    .await;
    let updated: Value = serde_json::from_str(&stdout(&updated)).unwrap();
    assert_eq!((updated["status"].as_str(), updated["determination"].as_str()), (Some("Resolved"), Some("Malware")));
    assert_eq!(updated["tags"], serde_json::json!(["partner"]));
    assert_eq!(updated["comments"][0]["comment"], "contained");

    let bad = partner(&app, &fixture, &["incidents", "update", "--tenant", tenant, "1", "--status", "Closed"]).await;
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("--status 'Closed' is not one of: Active, InProgress, Resolved, Redirected")
    );
    let nothing = partner(&app, &fixture, &["incidents", "update", "--tenant", tenant, "1"]).await;
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("nothing to change"));
    let unknown = partner(&app, &fixture, &["incidents", "get", "--tenant", tenant, "424242"]).await;
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("ResourceNotFound (HTTP 404)"));
}

#[tokio::test]
async fn hunt_runs_one_query_in_every_tenant_as_csv_json_or_a_table() {
    let app = spawn_app().await;
    let fixture = seed_partner(&app, &["AdvancedHunting.Read.All"]).await;
    seed_incidents(&app, &fixture.consented[0], 3, 11).await;
    seed_incidents(&app, &fixture.consented[1], 2, 12).await;
    // Each seeded alert is one AlertInfo row.
    let now = threatgate_domain::datetime::parse_datetime_ticks(crate::api_support::SEED_NOW).unwrap();
    let alerts = |count, seed| AlertGenerator::new(seed, "contoso.onmicrosoft.com", count, now, 10).count();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenants.txt");
    std::fs::write(&file, "contoso.onmicrosoft.com\nwoodgrove.onmicrosoft.com\nnorthwind.onmicrosoft.com\n").unwrap();
    let file = format!("--all-tenants={}", file.to_str().unwrap());

    let output = partner(&app, &fixture, &["hunt", &file, "--output", "csv", "AlertInfo | count"]).await;
    assert!(!output.status.success(), "a failed tenant fails the run");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!(
            "tenant,Count\ncontoso.onmicrosoft.com,{}\nwoodgrove.onmicrosoft.com,{}\n",
            alerts(3, 11),
            alerts(2, 12)
        )
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: northwind.onmicrosoft.com: AADSTS700016"), "{stderr}");
    assert!(stderr.contains("3 tenants, 2 rows, 1 failed"), "{stderr}");

    let json = partner(
        &app,
        &fixture,
        &[
            "hunt",
            "--tenant",
            "contoso.onmicrosoft.com",
            "--output",
            "json",
            "AlertInfo | project AlertId, Severity | take 2",
        ],
    )
    .await;
    let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].keys().collect::<Vec<_>>(), ["tenant", "AlertId", "Severity"]);
    assert_eq!(rows[0]["tenant"], "contoso.onmicrosoft.com");

    let table = partner(
        &app,
        &fixture,
        &["hunt", "--tenant", "contoso.onmicrosoft.com", "AlertInfo | summarize n = count() | extend Source = \"all\""],
    )
    .await;
    let text = stdout(&table);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["TENANT", "n", "Source"]);
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["contoso.onmicrosoft.com", &alerts(3, 11).to_string(), "all"]
    );

    let wrong = partner(&app, &fixture, &["hunt", "--tenant", "contoso.onmicrosoft.com", "AlertInfo | where"]).await;
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("Syntax error") && stderr.contains("[line:position=1:18]"), "{stderr}");
}

#[tokio::test]
async fn hunt_runs_through_microsoft_graph_when_asked() {
    let app = spawn_app().await;
    // Graph's role only: the Threat Protection API would refuse this application.
    let fixture = seed_partner(&app, &["ThreatHunting.Read.All"]).await;
    seed_incidents(&app, &fixture.consented[0], 3, 11).await;
    let now = threatgate_domain::datetime::parse_datetime_ticks(crate::api_support::SEED_NOW).unwrap();
    let alerts = AlertGenerator::new(11, "contoso.onmicrosoft.com", 3, now, 10).count();
    let query = "AlertInfo | summarize n = count()";
    let graph = partner(
        &app,
        &fixture,
        &["hunt", "--api", "graph", "--tenant", "contoso.onmicrosoft.com", "--output", "csv", query],
    )
    .await;
    assert_eq!(stdout(&graph), format!("tenant,n\ncontoso.onmicrosoft.com,{alerts}\n"));
    // The same application through the Threat Protection API: no role there.
    let refused = partner(&app, &fixture, &["hunt", "--tenant", "contoso.onmicrosoft.com", query]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"), "{}", String::from_utf8_lossy(&refused.stderr));
    // Graph's refusal (a syntax error) reaches the user with Graph's code.
    let wrong = partner(
        &app,
        &fixture,
        &["hunt", "--api", "graph", "--tenant", "contoso.onmicrosoft.com", "AlertInfo | where"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success() && stderr.contains("Syntax error"), "{stderr}");
}

#[tokio::test]
async fn incidents_go_through_microsoft_graph_when_asked() {
    let app = spawn_app().await;
    // Graph's role only: the Threat Protection API would refuse this application.
    let fixture = seed_partner(&app, &["SecurityIncident.ReadWrite.All"]).await;
    seed_incidents(&app, &fixture.consented[0], 60, 11).await;
    seed_incidents(&app, &fixture.consented[1], 2, 12).await;

    // Every tenant, every page (Graph serves 50 at most), in Graph's shape.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenants.txt");
    std::fs::write(&file, "contoso.onmicrosoft.com\nwoodgrove.onmicrosoft.com\n").unwrap();
    let file = format!("--all-tenants={}", file.to_str().unwrap());
    let listed = partner(&app, &fixture, &["incidents", "list", "--api", "graph", &file, "--output", "ndjson"]).await;
    let lines: Vec<Value> = stdout(&listed).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let per_tenant = |tenant: &str| lines.iter().filter(|line| line["tenant"] == tenant).count();
    assert_eq!((per_tenant("contoso.onmicrosoft.com"), per_tenant("woodgrove.onmicrosoft.com")), (60, 2), "{lines:?}");
    assert!(lines.iter().all(|line| line["displayName"].is_string() && line.get("incidentName").is_none()));

    // A status filter in Graph's names, and the table.
    let active = partner(
        &app,
        &fixture,
        &["incidents", "list", "--api", "graph", "--tenant", "contoso.onmicrosoft.com", "--status", "Active"],
    )
    .await;
    let text = stdout(&active);
    assert!(text.starts_with("TENANT"), "{text}");
    assert!(text.lines().skip(1).all(|line| line.split_whitespace().nth(3) == Some("active")), "{text}");

    // An update through Graph (a PATCH and the comment), seen through Graph's get.
    let id =
        lines.iter().find(|l| l["tenant"] == "contoso.onmicrosoft.com").unwrap()["id"].as_str().unwrap().to_owned();
    let updated = partner(
        &app,
        &fixture,
        &[
            "incidents",
            "update",
            "--api",
            "graph",
            "--tenant",
            "contoso.onmicrosoft.com",
            &id,
            "--status",
            "Resolved",
            "--classification",
            "TruePositive",
            "--determination",
            "Malware",
            "--comment",
            "closed by the SOC",
        ],
    )
    .await;
    let updated: Value = serde_json::from_str(&stdout(&updated)).unwrap();
    assert_eq!(
        (&updated["status"], &updated["classification"]),
        (&Value::from("resolved"), &Value::from("truePositive"))
    );
    assert_eq!(updated["comments"][0]["comment"], "closed by the SOC");
    let got =
        partner(&app, &fixture, &["incidents", "get", "--api", "graph", "--tenant", "contoso.onmicrosoft.com", &id])
            .await;
    let got: Value = serde_json::from_str(&stdout(&got)).unwrap();
    assert_eq!(got["determination"], "malware");

    // The same application through the Threat Protection API: no role there.
    let refused = partner(&app, &fixture, &["incidents", "list", "--tenant", "contoso.onmicrosoft.com"]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"), "{}", String::from_utf8_lossy(&refused.stderr));
}
