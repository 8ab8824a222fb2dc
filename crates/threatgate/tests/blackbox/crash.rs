//! Crash-kill: the server is SIGKILLed at a random moment while it takes event and alert
//! ingestion, incident updates and consents (an application registered in the customer's
//! tenant and a Threat Protection role assigned to its service principal, through Graph),
//! then restarted on the same store. Every write it acknowledged must be there, no batch may be
//! half-written, and the store must pass its integrity check. `THREATGATE_CRASH_ITERATIONS` kills (3 by default; the long run is 50), on
//! SQLite, or on PostgreSQL with `THREATGATE_TEST_BACKEND=postgres`.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use threatgate_proto::DemoManifest;
use tokio::sync::Mutex;

use crate::SCOPE;
use crate::demo::Demo;

/// Rows in one event batch: a batch is all there or not at all.
const BATCH: usize = 5;

/// No quotas or token throttling: the writers run as fast as the server takes them.
const CONFIG: &str = "[quotas]
enabled = false
[token_endpoint]
per_client_per_minute = 0
per_address_per_minute = 0
";

/// What the server acknowledged (a 2xx answer received in full).
#[derive(Default)]
struct Acked {
    batches: BTreeSet<String>,
    alerts: BTreeSet<String>,
    comments: BTreeSet<String>,
    consents: BTreeSet<String>,
}

/// Threat Protection's application and its `Incident.Read.All` role.
const THREAT_PROTECTION: &str = "8ee8fdad-f234-4243-8f3b-15c294843740";
const INCIDENT_READ_ALL: &str = "a9790345-4595-42e4-971a-ccdc79f19b7c";
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

async fn cli(data_dir: &Path, database: Option<&threatgate_testkit::TestDatabase>, args: &[&str]) -> Value {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(args)
        .args(threatgate_testkit::store_args(data_dir, database))
        .arg("--json")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn token(
    client: &reqwest::Client,
    manifest: &DemoManifest,
    tenant: &str,
    (app, secret): (&str, &str),
    scope: &str,
) -> String {
    let response = client
        .post(format!("{}/{tenant}/oauth2/v2.0/token", manifest.authority))
        .form(&[("grant_type", "client_credentials"), ("client_id", app), ("scope", scope), ("client_secret", secret)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A number from 0 to `below` − 1 that differs from run to run.
fn random(below: u64) -> u64 {
    (uuid::Uuid::new_v4().as_u128() % u128::from(below)) as u64
}

/// Sends `request` and says whether the server acknowledged it (a 2xx with its whole body).
async fn acknowledged(request: reqwest::RequestBuilder) -> bool {
    answer(request).await.is_some()
}

/// The body of a 2xx answer to `request`, else `None`.
async fn answer(request: reqwest::RequestBuilder) -> Option<Value> {
    match request.send().await {
        Ok(response) if response.status().is_success() => response.json().await.ok(),
        _ => None,
    }
}

/// One consent through Graph: the application `name` registered in the token's tenant (which
/// gives it a service principal there) and Threat Protection's `Incident.Read.All` assigned to
/// its principal. Acknowledged when the assignment was.
async fn consent(client: reqwest::Client, graph: String, token: String, resource: String, name: String) -> bool {
    let post = |path: &str, body: Value| client.post(format!("{graph}{path}")).bearer_auth(&token).json(&body);
    let registration = json!({
        "displayName": name,
        "signInAudience": "AzureADMultipleOrgs",
        "requiredResourceAccess": [{"resourceAppId": THREAT_PROTECTION, "resourceAccess": [{"id": INCIDENT_READ_ALL, "type": "Role"}]}],
    });
    let Some(registered) = answer(post("/v1.0/applications", registration)).await else { return false };
    // Registering in its home tenant gave the application its service principal there.
    let app_id = registered["appId"].as_str().unwrap_or_default();
    let path = format!("{graph}/v1.0/servicePrincipals(appId='{app_id}')");
    let Some(principal) = answer(client.get(path).bearer_auth(&token)).await else { return false };
    let assignment = json!({"principalId": principal["id"], "resourceId": resource, "appRoleId": INCIDENT_READ_ALL});
    acknowledged(post(&format!("/v1.0/servicePrincipals/{resource}/appRoleAssignedTo"), assignment)).await
}

#[tokio::test]
async fn a_killed_server_keeps_every_write_it_acknowledged() {
    let iterations: usize = std::env::var("THREATGATE_CRASH_ITERATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(3);
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path();
    let database = threatgate_testkit::TestDatabase::for_this_run().await;
    let config = dir.join("crash.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let config_arg = config.to_str().unwrap().to_owned();
    let demo_args = ["--config", config_arg.as_str()];

    // The demo's data, and a detection source in Contoso that may ingest.
    let (demo, manifest) = Demo::start_with(dir, database.as_ref(), &demo_args).await;
    demo.stop().await;
    let contoso = manifest.customers[0].tenant_id.clone();
    let source =
        cli(dir, database.as_ref(), &["app", "register", "--tenant", &contoso, "--name", "Crash source"]).await;
    let source_id = source["app_id"].as_str().unwrap().to_owned();
    cli(dir, database.as_ref(), &["app", "permission", "add", "--app", &source_id, "Incident.ReadWrite.All"]).await;
    for role in ["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"] {
        cli(dir, database.as_ref(), &["app", "permission", "add", "--app", &source_id, role]).await;
    }
    let secret = cli(dir, database.as_ref(), &["app", "secret", "add", "--app", &source_id]).await;
    let source_secret = secret["value"].as_str().unwrap().to_owned();
    cli(dir, database.as_ref(), &["consent", "grant", "--tenant", &contoso, "--app", &source_id]).await;

    let acked = Arc::new(Mutex::new(Acked::default()));
    // The incidents that take comments, a few iterations each (an incident keeps 1,000).
    let mut incidents = Vec::new();
    let source = (source_id.as_str(), source_secret.as_str());
    for iteration in 0..iterations {
        let (demo, manifest) = Demo::start_with(dir, database.as_ref(), &demo_args).await;
        let client = threatgate_testkit::client_trusting(Path::new(&manifest.ca_certificate)).unwrap();
        let partner =
            token(&client, &manifest, &contoso, (&manifest.app.app_id, &manifest.app.client_secret), SCOPE).await;
        let ingest = token(&client, &manifest, &contoso, source, SCOPE).await;
        let directory = token(&client, &manifest, &contoso, source, GRAPH_SCOPE).await;
        // Every acknowledged write of the iterations before is still there.
        check(&client, &manifest, (&partner, &directory), &incidents, &*acked.lock().await).await;
        if incidents.is_empty() {
            let page: Value = client
                .get(format!("{}/api/incidents?$top=20", manifest.api_base))
                .bearer_auth(&partner)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            incidents = page["value"].as_array().unwrap().iter().filter_map(|i| i["incidentId"].as_i64()).collect();
        }
        let incident = incidents[iteration / 5 % incidents.len()];
        let resource = threat_protection_principal(&client, &manifest, &directory).await;

        // Writers, until the kill; then the server is SIGKILLed mid-traffic.
        let stop = Arc::new(AtomicBool::new(false));
        let base = manifest.api_base.clone();
        let events = {
            let (client, token, base) = (client.clone(), ingest.clone(), base.clone());
            writer(
                iteration,
                &stop,
                &acked,
                |acked| &mut acked.batches,
                move |batch| {
                    let now = now();
                    let rows: Vec<Value> = (0..BATCH)
                    .map(|k| json!({"Timestamp": now, "DeviceId": batch, "DeviceName": format!("{batch}-{k}"), "OSPlatform": "Windows11"}))
                    .collect();
                    acknowledged(
                        client.post(format!("{base}/api/ingest/events/DeviceInfo")).bearer_auth(&token).json(&rows),
                    )
                },
            )
        };
        let alerts = {
            let (client, token, base) = (client.clone(), ingest.clone(), base.clone());
            writer(
                iteration,
                &stop,
                &acked,
                |acked| &mut acked.alerts,
                move |id| {
                    let now = now();
                    let alert = json!([{
                        "alertId": id, "serviceSource": "MicrosoftDefenderATP", "creationTime": now,
                        "firstActivity": now, "lastActivity": now, "title": "Crash test", "category": "Execution",
                        "severity": "Low", "detectionSource": "EDR",
                        "entities": [{"entityType": "User", "userPrincipalName": format!("{id}@contoso.com")}]
                    }]);
                    acknowledged(client.post(format!("{base}/api/ingest/alerts")).bearer_auth(&token).json(&alert))
                },
            )
        };
        let updates = {
            let (client, token, base) = (client.clone(), partner.clone(), base.clone());
            writer(
                iteration,
                &stop,
                &acked,
                |acked| &mut acked.comments,
                move |comment| {
                    acknowledged(
                        client
                            .patch(format!("{base}/api/incidents/{incident}"))
                            .bearer_auth(&token)
                            .json(&json!({"comment": comment})),
                    )
                },
            )
        };
        let consents = {
            let (client, token, base) = (client.clone(), directory.clone(), base.clone());
            writer(
                iteration,
                &stop,
                &acked,
                |acked| &mut acked.consents,
                move |name| consent(client.clone(), base.clone(), token.clone(), resource.clone(), name),
            )
        };
        tokio::time::sleep(Duration::from_millis(200 + random(1_300))).await;
        // Before the last kill every writer has had a write acknowledged (on a loaded machine
        // a short life may end before the slowest one's first answer), up to 30 s more.
        if iteration + 1 == iterations {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let progressed = {
                    let acked = acked.lock().await;
                    !acked.batches.is_empty() && !acked.comments.is_empty() && !acked.consents.is_empty()
                };
                if progressed || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        demo.stop().await;
        stop.store(true, Ordering::Relaxed);
        for writer in [events, alerts, updates, consents] {
            writer.await.unwrap();
        }
    }

    // The last kill's writes, then the store's own check.
    let (demo, manifest) = Demo::start_with(dir, database.as_ref(), &demo_args).await;
    let client = threatgate_testkit::client_trusting(Path::new(&manifest.ca_certificate)).unwrap();
    let partner = token(&client, &manifest, &contoso, (&manifest.app.app_id, &manifest.app.client_secret), SCOPE).await;
    let directory = token(&client, &manifest, &contoso, source, GRAPH_SCOPE).await;
    let acked = acked.lock().await;
    assert!(
        !acked.batches.is_empty() && !acked.comments.is_empty() && !acked.consents.is_empty(),
        "the writers made progress"
    );
    check(&client, &manifest, (&partner, &directory), &incidents, &acked).await;
    demo.stop().await;
    if database.is_none() {
        for file in ["threatgate.db", "threatgate-hunting.db", "threatgate-access-log.db"] {
            let output = std::process::Command::new("sqlite3")
                .arg(dir.join(file))
                .arg("PRAGMA integrity_check;")
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).trim(),
                "ok",
                "{file}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    eprintln!(
        "crash-kill: {iterations} kills; acknowledged and found after restart: {} event batches ({} rows), {} alerts, {} comments, {} consents",
        acked.batches.len(),
        acked.batches.len() * BATCH,
        acked.alerts.len(),
        acked.comments.len(),
        acked.consents.len()
    );
}

/// Writes `crash-ITERATION-N` for N = 0, 1, … (`write` says whether the server acknowledged
/// it) until `stop` or the first write not acknowledged; `set` names where the acknowledged
/// keys go.
fn writer<W: Future<Output = bool> + Send + 'static>(
    iteration: usize,
    stop: &Arc<AtomicBool>,
    acked: &Arc<Mutex<Acked>>,
    set: fn(&mut Acked) -> &mut BTreeSet<String>,
    write: impl Fn(String) -> W + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let (stop, acked) = (Arc::clone(stop), Arc::clone(acked));
    tokio::spawn(async move {
        for n in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let key = format!("crash-{iteration}-{n}");
            if !write(key.clone()).await {
                break;
            }
            set(&mut *acked.lock().await).insert(key);
        }
    })
}

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// Threat Protection's service principal in the directory token's tenant.
async fn threat_protection_principal(client: &reqwest::Client, manifest: &DemoManifest, directory: &str) -> String {
    let path = format!("{}/v1.0/servicePrincipals(appId='{THREAT_PROTECTION}')", manifest.api_base);
    let principal = answer(client.get(path).bearer_auth(directory)).await.expect("Threat Protection's principal");
    principal["id"].as_str().unwrap().to_owned()
}

/// Every acknowledged batch, alert, comment and consent is there; every batch there is whole.
async fn check(
    client: &reqwest::Client,
    manifest: &DemoManifest,
    (token, directory): (&str, &str),
    incidents: &[i64],
    acked: &Acked,
) {
    let hunt = async |query: &str| -> Value {
        let response = client
            .post(format!("{}/api/advancedhunting/run", manifest.api_base))
            .bearer_auth(token)
            .json(&json!({"Query": query}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{query}: {body}");
        body
    };
    let body = hunt("DeviceInfo | where DeviceId startswith 'crash-' | summarize n = count() by DeviceId").await;
    let mut found = BTreeSet::new();
    for row in body["Results"].as_array().unwrap() {
        let batch = row["DeviceId"].as_str().unwrap().to_owned();
        assert_eq!(row["n"], BATCH, "batch {batch} is half-written");
        found.insert(batch);
    }
    let lost: Vec<_> = acked.batches.difference(&found).collect();
    assert!(lost.is_empty(), "acknowledged event batches lost: {lost:?}");

    let body = hunt("AlertInfo | where AlertId startswith 'crash-' | distinct AlertId").await;
    let found: BTreeSet<String> =
        body["Results"].as_array().unwrap().iter().map(|r| r["AlertId"].as_str().unwrap().to_owned()).collect();
    let lost: Vec<_> = acked.alerts.difference(&found).collect();
    assert!(lost.is_empty(), "acknowledged alerts lost: {lost:?}");

    let mut found = BTreeSet::new();
    for incident in incidents {
        let body: Value = client
            .get(format!("{}/api/incidents/{incident}", manifest.api_base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        found.extend(
            body["comments"].as_array().unwrap().iter().filter_map(|c| c["comment"].as_str().map(str::to_owned)),
        );
    }
    let lost: Vec<_> = acked.comments.difference(&found).collect();
    assert!(lost.is_empty(), "acknowledged comments lost: {lost:?}");

    // Each acknowledged consent: its principal holds the role (pages of the assignments).
    let resource = threat_protection_principal(client, manifest, directory).await;
    let mut found = BTreeSet::new();
    let mut next = Some(format!("{}/v1.0/servicePrincipals/{resource}/appRoleAssignedTo", manifest.api_base));
    while let Some(url) = next {
        let page = answer(client.get(url).bearer_auth(directory)).await.expect("the role's assignments");
        for assignment in page["value"].as_array().unwrap() {
            if assignment["appRoleId"] == INCIDENT_READ_ALL {
                found.insert(assignment["principalDisplayName"].as_str().unwrap_or_default().to_owned());
            }
        }
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    let lost: Vec<_> = acked.consents.difference(&found).collect();
    assert!(lost.is_empty(), "acknowledged consents lost: {lost:?}");
}
