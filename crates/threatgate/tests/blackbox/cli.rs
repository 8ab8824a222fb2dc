//! The administration commands, run as a user runs them, against the data directory of a
//! running server: the server sees each change within a second.

use std::time::{Duration, Instant};

use serde_json::Value;
use threatgate_testkit::{TestApp, spawn_app};

use crate::{assert_aad_error, request_v2_token, unverified_claims};

/// Runs `threatgate <args> --data-dir <dir> --json` and returns its JSON output.
pub(crate) async fn threatgate(app: &TestApp, args: &[&str]) -> Value {
    let output = run(app, args).await;
    assert!(output.status.success(), "threatgate {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

pub(crate) async fn run(app: &TestApp, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(args)
        .args(app.store_args())
        .arg("--json")
        .output()
        .await
        .unwrap()
}

/// Polls until `check` holds, for at most two seconds.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn the_partner_flow_done_with_commands_reaches_the_running_server() {
    let app = spawn_app().await;

    let partner = threatgate(&app, &["tenant", "create", "--name", "Fabrikam"]).await;
    assert_eq!(partner["initial_domain"], "fabrikam.onmicrosoft.com");
    let admin = threatgate(
        &app,
        &[
            "user",
            "create",
            "--tenant",
            "fabrikam.onmicrosoft.com",
            "--upn",
            "admin@fabrikam.onmicrosoft.com",
            "--global-admin",
        ],
    )
    .await;
    assert_eq!(admin["role"], "GlobalAdministrator");
    assert!(admin["generated_password"].as_str().unwrap().len() >= 16);
    assert!(admin.get("password_hash").is_none(), "hashes are never printed");
    let shown = threatgate(&app, &["user", "show", "Admin@Fabrikam.onmicrosoft.com"]).await;
    assert_eq!(shown["object_id"], admin["object_id"]);

    let registered = threatgate(
        &app,
        &[
            "app",
            "register",
            "--tenant",
            "fabrikam.onmicrosoft.com",
            "--name",
            "Connector",
            "--multi-tenant",
            "--redirect-uri",
            "https://portal.azure.com",
        ],
    )
    .await;
    assert_eq!(registered["sign_in_audience"], "AzureADMultipleOrgs");
    let app_id = registered["app_id"].as_str().unwrap().to_owned();
    let permissions = threatgate(&app, &["app", "permission", "add", "--app", &app_id, "Incidents.Read.All"]).await;
    assert_eq!(permissions, serde_json::json!(["Incident.Read.All"]), "the guide's spelling is an alias");
    let secret = threatgate(&app, &["app", "secret", "add", "--app", &app_id, "--description", "ci"]).await;
    let value = secret["value"].as_str().unwrap().to_owned();
    assert_eq!(value.len(), 40);
    assert_eq!(secret["hint"], &value[..3]);
    assert!(secret.get("value_hash").is_none());

    let customer = threatgate(&app, &["tenant", "create", "--name", "Contoso"]).await;
    let tid = customer["id"].as_str().unwrap().to_owned();
    let tenant_seen = eventually(|| async {
        let response = request_v2_token(&app, &tid, &app_id, &value).await;
        let body: Value = response.json().await.unwrap();
        body["error_codes"] != serde_json::json!([90002])
    })
    .await;
    assert!(tenant_seen, "the server noticed the new tenant within two seconds");
    let denied = request_v2_token(&app, &tid, &app_id, &value).await;
    assert_aad_error(denied, 400, "unauthorized_client", 700016).await;

    let granted =
        threatgate(&app, &["consent", "grant", "--tenant", "contoso.onmicrosoft.com", "--app", &app_id]).await;
    assert_eq!(granted["roles"], serde_json::json!(["Incident.Read.All"]));
    let token_works = eventually(|| async {
        let response = request_v2_token(&app, &tid, &app_id, &value).await;
        if response.status() != 200 {
            return false;
        }
        let body: Value = response.json().await.unwrap();
        unverified_claims(body["access_token"].as_str().unwrap())["roles"] == serde_json::json!(["Incident.Read.All"])
    })
    .await;
    assert!(token_works, "the server noticed the consent within two seconds");

    threatgate(&app, &["consent", "revoke", "--tenant", &tid, "--app", &app_id]).await;
    let refused = eventually(|| async { request_v2_token(&app, &tid, &app_id, &value).await.status() == 400 }).await;
    assert!(refused, "the server noticed the revocation within two seconds");

    let key_id = secret["key_id"].as_str().unwrap().to_owned();
    threatgate(&app, &["app", "secret", "delete", "--app", &app_id, "--key-id", &key_id]).await;
    let listed = threatgate(&app, &["app", "secret", "list", "--app", &app_id]).await;
    assert_eq!(listed, serde_json::json!([]));
}

#[tokio::test]
async fn commands_report_mistakes_clearly_and_fail() {
    let app = spawn_app().await;
    let unknown =
        run(&app, &["user", "create", "--tenant", "nowhere.onmicrosoft.com", "--upn", "a@nowhere.onmicrosoft.com"])
            .await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("tenant 'nowhere.onmicrosoft.com' not found"));

    threatgate(&app, &["tenant", "create", "--name", "Contoso"]).await;
    let duplicate = run(&app, &["tenant", "create", "--name", "Contoso"]).await;
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("belongs to another tenant"));

    let registered = threatgate(&app, &["app", "register", "--tenant", "contoso.onmicrosoft.com", "--name", "X"]).await;
    let app_id = registered["app_id"].as_str().unwrap();
    let bad_role = run(&app, &["app", "permission", "add", "--app", app_id, "Machine.Isolate"]).await;
    assert!(!bad_role.status.success());
    assert!(
        String::from_utf8_lossy(&bad_role.stderr)
            .contains("choose from Microsoft Threat Protection: Incident.Read.All")
    );

    let too_long = run(&app, &["app", "secret", "add", "--app", app_id, "--expires-in-days", "1000"]).await;
    assert!(!too_long.status.success());
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("1 to 730 days"));
}

#[tokio::test]
async fn the_access_log_command_prints_a_tenants_entries_as_json_lines() {
    let app = spawn_app().await;
    let partner = threatgate_testkit::seed_partner(&app, &["Incident.Read.All"]).await;
    crate::api_support::seed_incidents(&app, &partner.consented[0], 3, 2).await;
    let token = crate::api_support::token_for(&app, &partner, &partner.consented[0]).await;
    let listed: Value = crate::api_support::api_get(&app, &token, "/api/incidents").await.json().await.unwrap();
    let id = listed["value"][0]["incidentId"].as_i64().unwrap();
    assert_eq!(crate::api_support::api_get(&app, &token, &format!("/api/incidents/{id}")).await.status(), 200);

    let lines = |output: std::process::Output| -> Vec<Value> {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    };
    let tenant = "contoso.onmicrosoft.com";
    // The server writes the log in batches; the command sees them within a moment.
    assert!(
        eventually(|| async { lines(run(&app, &["access-log", "--tenant", tenant]).await).len() == 2 }).await,
        "both calls reach the log"
    );
    let all = lines(run(&app, &["access-log", "--tenant", tenant]).await);
    assert_eq!(all[0]["operation"], "GetIncident");
    assert_eq!(all[1]["operation"], "ListIncidents");
    assert_eq!(all[1]["incidentIds"].as_array().unwrap().len(), 3);
    assert_eq!(lines(run(&app, &["access-log", "--tenant", tenant, "--incident", &id.to_string()]).await).len(), 1);
    assert_eq!(lines(run(&app, &["access-log", "--tenant", tenant, "--limit", "1"]).await).len(), 1);
    assert_eq!(lines(run(&app, &["access-log", "--tenant", tenant, "--since", "1h"]).await).len(), 2);
    assert_eq!(lines(run(&app, &["access-log", "--tenant", tenant, "--since", "2099-01-01T00:00:00Z"]).await).len(), 0);
    assert!(lines(run(&app, &["access-log", "--tenant", "woodgrove.onmicrosoft.com"]).await).is_empty());

    let bad = run(&app, &["access-log", "--tenant", tenant, "--since", "yesterday"]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("give a period such as 30m, 48h or 7d"));
}

#[tokio::test]
async fn app_credentials_lists_every_secret_and_marks_those_to_rotate() {
    let app = spawn_app().await;
    let partner = threatgate_testkit::seed_partner(&app, &["Incident.Read.All"]).await;
    let admin = app.admin();
    admin.add_secret(partner.app(), "ending soon", Some(10)).await.unwrap();
    let tenant = "fabrikam.onmicrosoft.com";

    let all = threatgate(&app, &["app", "credentials", "--tenant", tenant]).await;
    assert_eq!(all.as_array().unwrap().len(), 2, "the fixture's secret and the new one: {all}");
    assert_eq!(all[0]["description"], "ending soon", "soonest first");
    assert_eq!(all[0]["state"], "expiring_soon");
    // Ten days exactly, or just under when a second passed between the two commands.
    assert!(matches!(all[0]["days_left"].as_i64(), Some(9 | 10)), "{all}");
    assert_eq!(all[1]["state"], "valid");

    let due = threatgate(&app, &["app", "credentials", "--app", &partner.app_id, "--expiring"]).await;
    assert_eq!(due.as_array().unwrap().len(), 1);
    let text = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["app", "credentials", "--expiring"])
        .args(app.store_args())
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(" days  <- rotate it"), "{text}");
    assert!(text.contains("1 credential(s) end within 30 days"), "{text}");
}

#[tokio::test]
async fn keys_rotate_emergency_takes_effect_on_the_running_server() {
    let app = spawn_app().await;
    let partner = threatgate_testkit::seed_partner(&app, &["Incident.Read.All"]).await;
    let contoso = &partner.consented[0];
    let old = crate::api_support::token_for(&app, &partner, contoso).await;
    assert_eq!(crate::api_support::api_get(&app, &old, "/api/incidents").await.status(), 200);

    let planned = threatgate(&app, &["keys", "rotate"]).await;
    assert!(planned["previous_key"].is_string() && planned["dropped"] == serde_json::json!([]), "{planned}");
    let rotation = threatgate(&app, &["keys", "rotate", "--emergency"]).await;
    assert_eq!(rotation["dropped"].as_array().unwrap().len(), 1, "{rotation}");
    let dropped = rotation["dropped"][0].as_str().unwrap().to_owned();
    assert_eq!(unverified_header_kid(&old), dropped);

    // The server follows within its refresh interval: the old token is refused, a new one works.
    assert!(
        eventually(|| async { crate::api_support::api_get(&app, &old, "/api/incidents").await.status() == 401 }).await,
        "the dropped key's token is refused"
    );
    let fresh = crate::api_support::token_for(&app, &partner, contoso).await;
    assert_eq!(unverified_header_kid(&fresh), rotation["new_key"].as_str().unwrap());
    assert_eq!(crate::api_support::api_get(&app, &fresh, "/api/incidents").await.status(), 200);
    let next = rotation["next_key"].as_str().unwrap().to_owned();
    let published = || async {
        let jwks: Value = app.get("/common/discovery/v2.0/keys").await.json().await.unwrap();
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert!(
        eventually(|| async { published().await.contains(&next) }).await,
        "the new next key is published within the refresh interval"
    );
    assert!(!published().await.contains(&dropped), "the dropped key is not");
}

fn unverified_header_kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn signing_keys_are_sealed_at_rest_and_a_wrong_key_encryption_key_changes_nothing() {
    let app = spawn_app().await;
    let records = app.identity.store().list_signing_keys().await.unwrap();
    assert!(records.iter().all(|r| r.private_key_pkcs8.starts_with(b"TGK1")), "sealed in the database");
    let key_file = app.data_dir().join("keys/signing-key-encryption.key");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key_file).unwrap().permissions()) & 0o777,
        0o600
    );

    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["keys", "rotate"])
        .args(app.store_args())
        .env("THREATGATE_KEY_ENCRYPTION_KEY", "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not open with this key-encryption key"));
    assert_eq!(app.identity.store().list_signing_keys().await.unwrap(), records, "nothing changed");
}

#[tokio::test]
async fn seed_and_ingest_fill_the_hunting_tables_and_the_alerts_devices_appear_in_events() {
    let app = spawn_app().await;
    let partner = threatgate_testkit::seed_partner(&app, &["AdvancedHunting.Read.All"]).await;
    let (contoso, woodgrove) = ("contoso.onmicrosoft.com", "woodgrove.onmicrosoft.com");
    let seeded = threatgate(&app, &["seed", "--tenant", contoso, "--incidents", "6", "--events", "3000"]).await;
    assert!(seeded["alerts_added"].as_u64().unwrap() >= 6, "{seeded}");
    assert!(
        seeded["events_added"].as_u64().unwrap() > 3000,
        "the events behind the alerts and the fleet too: {seeded}"
    );
    let only = threatgate(
        &app,
        &[
            "seed",
            "--tenant",
            woodgrove,
            "--incidents",
            "0",
            "--events",
            "1000",
            "--event-tables",
            "DeviceProcessEvents,DeviceNetworkEvents",
        ],
    )
    .await;
    assert_eq!(only["events_added"], 1000);

    let hunt = |tenant: &'static str, query: &'static str| {
        let (app, partner) = (&app, &partner);
        async move {
            let index = if tenant == contoso { 0 } else { 1 };
            let token = crate::api_support::token_for(app, partner, &partner.consented[index]).await;
            let response = app
                .client
                .post(format!("{}/api/advancedhunting/run", app.base_url))
                .bearer_auth(token)
                .json(&serde_json::json!({ "Query": query }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{query}");
            response.json::<Value>().await.unwrap()["Results"].clone()
        }
    };
    // Every device of an alert is in the events, and so is every alert's user.
    let missing = "AlertEvidence | where EntityType == \"Machine\" | distinct DeviceName | join kind=leftanti (union DeviceProcessEvents, DeviceNetworkEvents, DeviceFileEvents, DeviceLogonEvents, DeviceInfo | distinct DeviceName) on DeviceName | count";
    assert_eq!(hunt(contoso, missing).await, serde_json::json!([{"Count": 0}]));
    let users = "AlertEvidence | where EntityType == \"User\" | distinct AccountSid | join kind=leftanti (union DeviceProcessEvents, DeviceLogonEvents, IdentityLogonEvents | distinct AccountSid) on AccountSid | count";
    assert_eq!(hunt(contoso, users).await, serde_json::json!([{"Count": 0}]));
    let tables = "union DeviceFileEvents, EmailEvents, DeviceInfo | count";
    assert_eq!(hunt(woodgrove, tables).await, serde_json::json!([{"Count": 0}]), "only the chosen tables");
    let chosen = "union DeviceProcessEvents, DeviceNetworkEvents | count";
    assert_eq!(hunt(woodgrove, chosen).await, serde_json::json!([{"Count": 1000}]));

    // Events from a file, for one table.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("logons.jsonl");
    std::fs::write(
        &file,
        "{\"Timestamp\":\"2026-11-20T10:00:00Z\",\"DeviceName\":\"ws-01\",\"ActionType\":\"LogonFailed\"}\n{\"Timestamp\":\"2026-11-20T10:01:00Z\",\"DeviceName\":\"ws-01\",\"ActionType\":\"LogonSuccess\"}\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let ingested = threatgate(&app, &["ingest", "--tenant", woodgrove, "--table", "DeviceLogonEvents", file]).await;
    assert_eq!(ingested, serde_json::json!({"table": "DeviceLogonEvents", "events_added": 2}));

    let wrong = run(&app, &["seed", "--tenant", woodgrove, "--incidents", "1", "--event-tables", "AlertInfo"]).await;
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--event-tables: the seed does not write AlertInfo"));
    let wrong = run(&app, &["ingest", "--tenant", woodgrove, "--table", "Nope", file]).await;
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("No event table named 'Nope'"));
}

/// A mistyped `--data-dir` is an error that names the path, not a new empty store; `--create`
/// makes one on purpose.
#[tokio::test]
async fn an_administration_command_refuses_a_data_directory_that_does_not_exist() {
    let parent = tempfile::tempdir().unwrap();
    let typo = parent.path().join("threatgate-dta");
    let command = |extra: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"));
        command.args(["tenant", "list", "--data-dir"]).arg(&typo).args(extra).env_remove("THREATGATE_DATABASE_URL");
        command
    };
    let refused = command(&[]).output().await.unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("threatgate-dta") && message.contains("does not exist"), "{message}");
    assert!(message.contains("--create"), "{message}");
    assert!(!typo.exists(), "nothing was created");
    let created = command(&["--create"]).output().await.unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(typo.join("threatgate.db").exists());
}

/// `threatgate completions SHELL` prints a completion script for that shell.
#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef threatgate"), ("fish", "complete -c threatgate")]
    {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
            .args(["completions", shell])
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains(marker) && script.contains("incidents"), "{shell}: {script:.200}");
    }
}

/// `--listen` takes a host name (`localhost:PORT`) as well as an address.
#[tokio::test]
async fn serve_listens_on_a_host_name() {
    use tokio::io::AsyncBufReadExt;
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["serve", "--listen", "localhost:0", "--data-dir"])
        .arg(data_dir.path())
        .env_remove("THREATGATE_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap().unwrap();
    assert!(first.starts_with("Threatgate listening on https://127.0.0.1:"), "{first}");
    let _ = child.kill().await;
}
