//! The emulator's controls (`demo --emulator`, `threatgate emulator …`): faults injected into
//! API, Graph and token calls, and short token lifetimes; and the partner toolkit, polled as a
//! connector polls, recovering from each.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use threatgate_client::{Client, ClientSecret, IncidentFilter, ManualClock, RetryPolicy};

use crate::demo::Demo;

/// `threatgate emulator ARGS --data-dir DIR --json`, which must succeed.
async fn emulator(data_dir: &Path, args: &[&str]) -> Value {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .arg("--json")
        .arg("emulator")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn a_connector_recovers_from_injected_faults_and_short_lived_tokens() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path();
    let database = threatgate_testkit::TestDatabase::for_this_run().await;
    let (demo, manifest) = Demo::start_with(dir, database.as_ref(), &["--emulator"]).await;
    let contoso = manifest.customers[0].tenant_id.clone();
    let raw = threatgate_testkit::client_trusting(Path::new(&manifest.ca_certificate)).unwrap();

    // The admin endpoint wants the key of emulator.json.
    let faults = format!("{}/_threatgate/emulator/faults", manifest.api_base);
    assert_eq!(raw.get(&faults).send().await.unwrap().status(), 401);
    assert_eq!(raw.get(&faults).bearer_auth("not-the-key").send().await.unwrap().status(), 401);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("emulator.json")).unwrap()).unwrap();
    let listed = raw.get(&faults).bearer_auth(file["key"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("emulator.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "emulator.json is the owner's only");
    }

    // The partner toolkit on a manual clock: its waits are recorded, not slept.
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let client = Client::builder(manifest.app.app_id.clone())
        .client_secret(ClientSecret::new(manifest.app.client_secret.clone()))
        .authority(manifest.authority.clone())
        .api_base(manifest.api_base.clone())
        .graph_base(manifest.api_base.clone())
        .ca_certificate(&manifest.ca_certificate)
        .retry(RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(60),
        })
        .clock(clock.clone())
        .build()
        .unwrap();
    let poll = async || client.list_incidents(&contoso, &IncidentFilter::new()).await;
    let baseline = poll().await.unwrap().len();
    assert!(baseline > 0);

    // Two 429s with Retry-After 7, then a 503 and a 504, then a dropped connection: one poll
    // rides them all out.
    let route = ["fault", "add", "--tenant", &contoso, "--route", "/api/incidents"];
    let throttle =
        emulator(dir, &[&route[..], &["--status", "429", "--retry-after", "7", "--count", "2"]].concat()).await;
    assert_eq!(throttle["status"], 429);
    emulator(dir, &[&route[..], &["--status", "503", "--count", "1"]].concat()).await;
    emulator(dir, &[&route[..], &["--status", "504", "--count", "1"]].concat()).await;
    emulator(dir, &[&route[..], &["--drop", "--count", "1"]].concat()).await;
    assert_eq!(emulator(dir, &["fault", "list"]).await.as_array().unwrap().len(), 4);
    assert_eq!(poll().await.unwrap().len(), baseline, "the poll recovered");
    let sleeps = clock.sleeps();
    assert_eq!(
        sleeps.iter().filter(|wait| **wait == Duration::from_secs(7)).count(),
        2,
        "each 429's Retry-After was honoured: {sleeps:?}"
    );
    assert_eq!(sleeps.len(), 5, "five retries: {sleeps:?}");
    assert_eq!(emulator(dir, &["fault", "list"]).await, serde_json::json!([]), "counted faults are spent");

    // The bodies are the service's: the API's error JSON, Graph's with innerError.
    let rule =
        emulator(dir, &["fault", "add", "--route", "/v1.0/security", "--status", "503", "--retry-after", "4"]).await;
    let graph = raw.get(format!("{}/v1.0/security/incidents", manifest.api_base)).send().await.unwrap();
    assert_eq!((graph.status().as_u16(), graph.headers()["retry-after"].to_str().unwrap()), (503, "4"));
    let body: Value = graph.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ServiceNotAvailable");
    assert!(body["error"]["innerError"]["request-id"].is_string(), "{body}");
    let id = rule["id"].to_string();
    emulator(dir, &["fault", "remove", &id]).await;
    emulator(dir, &["fault", "add", "--route", "/api/incidents", "--status", "500", "--count", "1"]).await;
    let api = raw.get(format!("{}/api/incidents", manifest.api_base)).send().await.unwrap();
    assert_eq!(api.status(), 500);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InternalServerError");
    assert!(body["error"]["target"].is_string(), "{body}");

    // Latency alone delays the call, which is then served.
    emulator(dir, &["fault", "add", "--route", "/api/incidents", "--latency-ms", "400", "--count", "1"]).await;
    let started = Instant::now();
    assert_eq!(poll().await.unwrap().len(), baseline);
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());

    // Short-lived tokens: 60 s. The toolkit renews half-way through their life.
    emulator(dir, &["token-lifetime", "set", "--app", &manifest.app.app_id, "--seconds", "60"]).await;
    let response = raw
        .post(format!("{}/{contoso}/oauth2/v2.0/token", manifest.authority))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &manifest.app.app_id),
            ("scope", crate::SCOPE),
            ("client_secret", &manifest.app.client_secret),
        ])
        .send()
        .await
        .unwrap();
    let issued: Value = response.json().await.unwrap();
    assert_eq!(issued["expires_in"], 59);
    let claims = crate::unverified_claims(issued["access_token"].as_str().unwrap());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60 + 300, "iat is backdated 5 min");
    clock.advance(Duration::from_secs(3600));
    let before = client.tokens().token_requests();
    poll().await.unwrap();
    poll().await.unwrap();
    assert_eq!(client.tokens().token_requests(), before + 1, "a fresh 60 s token serves the next calls");
    clock.advance(Duration::from_secs(31));
    poll().await.unwrap();
    assert_eq!(client.tokens().token_requests(), before + 2, "renewed half-way through its minute");

    // The token endpoint: an expired secret once (AADSTS7000222), then a 503; the poll that
    // meets the first fails with Microsoft's error, the next recovers.
    emulator(
        dir,
        &["fault", "add", "--route", "token", "--app", &manifest.app.app_id, "--aadsts", "7000222", "--count", "1"],
    )
    .await;
    clock.advance(Duration::from_secs(3600));
    let error = poll().await.unwrap_err();
    assert!(error.to_string().contains("7000222"), "{error}");
    emulator(dir, &["fault", "add", "--route", "token", "--status", "503", "--count", "1"]).await;
    assert_eq!(poll().await.unwrap().len(), baseline, "the next poll gets a token after the 503");
    assert_eq!(
        emulator(dir, &["token-lifetime", "list"]).await,
        serde_json::json!([{"app": manifest.app.app_id, "seconds": 60}])
    );
    emulator(dir, &["token-lifetime", "reset", "--app", &manifest.app.app_id]).await;
    demo.stop().await;
}

/// Without `--emulator` there is no admin endpoint, and a fault cannot be added.
#[tokio::test]
async fn the_emulator_controls_are_off_by_default() {
    let data_dir = tempfile::tempdir().unwrap();
    let database = threatgate_testkit::TestDatabase::for_this_run().await;
    let (demo, manifest) = Demo::start_with(data_dir.path(), database.as_ref(), &[]).await;
    let raw = threatgate_testkit::client_trusting(Path::new(&manifest.ca_certificate)).unwrap();
    let response = raw.get(format!("{}/_threatgate/emulator/faults", manifest.api_base)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(!data_dir.path().join("emulator.json").exists());
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["emulator", "fault", "add", "--status", "429", "--data-dir"])
        .arg(data_dir.path())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--emulator"), "says how to turn them on");
    demo.stop().await;
}

/// `emulator reset` returns a demo to the state it was ready in: incidents as seeded, consents
/// as seeded (the directory reloaded before the answer), no faults, no short tokens.
#[tokio::test]
async fn a_reset_returns_the_demo_to_its_initial_state() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path();
    let database = threatgate_testkit::TestDatabase::for_this_run().await;
    let (demo, manifest) = Demo::start_with(dir, database.as_ref(), &["--emulator"]).await;
    let raw = threatgate_testkit::client_trusting(Path::new(&manifest.ca_certificate)).unwrap();
    let access_token = async |tenant: &str| {
        let response = crate::demo::token(&raw, &manifest, tenant).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        (status, body["access_token"].as_str().map(str::to_owned))
    };
    let contoso = &manifest.customers[0].tenant_id;
    let northwind = &manifest.customers[2].tenant_id;
    let (_, bearer) = access_token(contoso).await;
    let bearer = bearer.unwrap();
    let incidents = async || -> Value {
        let response =
            raw.get(format!("{}/api/incidents", manifest.api_base)).bearer_auth(&bearer).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    };
    let seeded = incidents().await;

    // A connector's run: it resolves an incident; the test also consents Northwind, adds a
    // fault and shortens the tokens.
    let id =
        seeded["value"].as_array().unwrap().iter().find(|i| i["status"] == "Active").unwrap()["incidentId"].clone();
    let patched = raw
        .patch(format!("{}/api/incidents/{id}", manifest.api_base))
        .bearer_auth(&bearer)
        .json(&serde_json::json!({"status": "Resolved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_ne!(incidents().await, seeded);
    let granted = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["consent", "grant", "--tenant", northwind, "--app", &manifest.app.app_id])
        .args(threatgate_testkit::store_args(dir, database.as_ref()))
        .output()
        .await
        .unwrap();
    assert!(granted.status.success(), "{}", String::from_utf8_lossy(&granted.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    while access_token(northwind).await.0 != 200 {
        assert!(Instant::now() < deadline, "the consent reaches the server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    emulator(dir, &["fault", "add", "--route", "/api/advancedhunting/run", "--status", "503"]).await;
    emulator(dir, &["token-lifetime", "set", "--app", &manifest.app.app_id, "--seconds", "60"]).await;

    let reset = emulator(dir, &["reset"]).await;
    assert_eq!(reset["reset"], true);
    assert!(reset["elapsed_ms"].is_u64(), "{reset}");
    assert_eq!(incidents().await, seeded, "the incidents as seeded, to the last field");
    assert_eq!(access_token(northwind).await.0, 400, "Northwind's consent is gone at once");
    assert_eq!(emulator(dir, &["fault", "list"]).await, serde_json::json!([]));
    assert_eq!(emulator(dir, &["token-lifetime", "list"]).await, serde_json::json!([]));
    // Lifetimes outside 60 s to a day are refused.
    let key: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("emulator.json")).unwrap()).unwrap();
    for seconds in [59, 86_401] {
        let refused = raw
            .put(format!("{}/_threatgate/emulator/token-lifetimes/{}", manifest.api_base, manifest.app.app_id))
            .bearer_auth(key["key"].as_str().unwrap())
            .json(&serde_json::json!({ "seconds": seconds }))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{seconds} s");
    }
    let (status, fresh) = access_token(contoso).await;
    assert_eq!(status, 200);
    let claims = crate::unverified_claims(&fresh.unwrap());
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(lifetime > 3000, "an hour's token again, not a minute's: {lifetime} s");

    // A checkpoint of a changed state is what the next reset returns to.
    let patched = raw
        .patch(format!("{}/api/incidents/{id}", manifest.api_base))
        .bearer_auth(&bearer)
        .json(&serde_json::json!({"assignedTo": "analyst@fabrikam.onmicrosoft.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let assigned = incidents().await;
    assert_eq!(emulator(dir, &["checkpoint"]).await["saved"], true);
    emulator(dir, &["reset"]).await;
    assert_eq!(incidents().await, assigned);
    demo.stop().await;
}

/// `threatgate scenario`, with the documented example file, against a running demo: a poller
/// sees new incidents appear and one updated, while it polls.
#[tokio::test]
async fn a_scenario_brings_new_and_updated_incidents_to_a_poller() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path();
    let database = threatgate_testkit::TestDatabase::for_this_run().await;
    let (demo, manifest) = Demo::start(dir, database.as_ref()).await;
    let raw = threatgate_testkit::client_trusting(Path::new(&manifest.ca_certificate)).unwrap();
    let bearer = |tenant: String| {
        let (raw, manifest) = (&raw, &manifest);
        async move {
            let body: Value = crate::demo::token(raw, manifest, &tenant).await.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let contoso = bearer(manifest.customers[0].tenant_id.clone()).await;
    let woodgrove = bearer(manifest.customers[1].tenant_id.clone()).await;
    let since = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let changed = async |token: &str| -> Vec<Value> {
        let url = format!("{}/api/incidents?$filter=lastUpdateTime ge {since}", manifest.api_base);
        let page: Value = raw.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        page["value"].as_array().unwrap().clone()
    };
    assert!(changed(&contoso).await.is_empty());

    // The example runs 3 minutes; at 60 times the speed, 3 s.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/scenario.toml");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["--json", "scenario", "--speed", "60"])
        .arg(&example)
        .args(threatgate_testkit::store_args(dir, database.as_ref()))
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let runs: Vec<Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let summary: Vec<(u64, &str, &str, u64)> = runs
        .iter()
        .map(|run| {
            (
                run["step"].as_u64().unwrap(),
                run["action"].as_str().unwrap(),
                run["tenant"].as_str().unwrap(),
                run["incidents_created"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "new_incidents", "Contoso", 2),
            (2, "follow_up", "Contoso", 0),
            (3, "alerts_file", "Woodgrove", 1),
            (4, "new_incidents", "Contoso", 1),
            (4, "new_incidents", "Contoso", 1),
        ]
    );
    assert_eq!(runs[1]["alerts_added"], 1, "the follow-up joined an incident");
    assert_eq!(runs[3]["at_seconds"], 120.0);
    assert_eq!(runs[4]["at_seconds"], 180.0);

    // The poller's view: four new Contoso incidents holding every alert the scenario added
    // there (the follow-up among them), one in Woodgrove.
    let contoso_changed = changed(&contoso).await;
    assert_eq!(contoso_changed.len(), 4, "{contoso_changed:#?}");
    let alerts: usize = contoso_changed.iter().map(|i| i["alerts"].as_array().unwrap().len()).sum();
    let added: u64 =
        runs.iter().filter(|r| r["tenant"] == "Contoso").map(|r| r["alerts_added"].as_u64().unwrap()).sum();
    assert_eq!(alerts as u64, added);
    let woodgrove_changed = changed(&woodgrove).await;
    assert_eq!(woodgrove_changed.len(), 1);
    assert_eq!(woodgrove_changed[0]["alerts"][0]["title"], "Suspicious PowerShell download cradle");

    // A file is checked whole before anything runs.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[step]]\ntenant = \"contoso.onmicrosoft.com\"\nfollow_up = 1\n").unwrap();
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["scenario"])
        .arg(&bad)
        .args(threatgate_testkit::store_args(dir, database.as_ref()))
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("step 1: follow_up needs an earlier new_incidents step in Contoso"), "{said}");
    std::fs::write(&bad, "[[step]]\ntenant = \"nowhere.onmicrosoft.com\"\nnew_incidents = 1\n").unwrap();
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .arg("scenario")
        .arg(&bad)
        .args(threatgate_testkit::store_args(dir, database.as_ref()))
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("step 1: nowhere.onmicrosoft.com"));
    demo.stop().await;
}
