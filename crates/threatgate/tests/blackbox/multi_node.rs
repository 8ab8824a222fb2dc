//! Several nodes on one PostgreSQL database behave as one service: a token from one verifies
//! on the other, a consent given through one and a revocation through the other take effect on
//! both, a key switch fails no verification on either, and a node killed in the middle of
//! ingestion loses nothing it acknowledged and leaves no half-written batch.
//!
//! Needs `THREATGATE_TEST_DATABASE_URL`; says so and passes without it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use threatgate_server::config::Role;
use threatgate_testkit::{TestApp, TestDatabase, seed_partner, spawn_app_on, spawn_app_with};

use crate::portal::{browser, decide, northwind_admin, open_consent_link};
use crate::{request_v2_token, unverified_claims};

/// Polls `check` until it holds; panics with `what` after five seconds (nodes refresh every
/// 50 ms in tests, so this is only a bound for a loaded machine).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn token(node: &TestApp, tenant: &str, app_id: &str, secret: &str) -> Option<String> {
    let response = request_v2_token(node, tenant, app_id, secret).await;
    if response.status() != 200 {
        return None;
    }
    response.json::<Value>().await.unwrap()["access_token"].as_str().map(str::to_owned)
}

async fn api_status(node: &TestApp, token: &str) -> u16 {
    node.client
        .get(format!("{}/api/incidents?$top=1", node.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn two_nodes_share_tokens_consents_revocations_and_key_switches() {
    let Some(database) = TestDatabase::create().await else { return };
    // Quotas off: the key switch below makes a few hundred calls in three seconds.
    let node1 = spawn_app_on(Arc::new(database), |config| config.quotas.enabled = false).await;
    let node2 = node1.start_node().await;
    let partner = seed_partner(&node1, &["Incident.Read.All", "Incident.ReadWrite.All"]).await;
    let (app_id, secret) = (partner.app_id.as_str(), partner.client_secret.as_str());
    let contoso = partner.consented[0].as_str();

    // A token from node 1 is accepted by node 2 (once node 2 has seen the partner: seeding
    // went through node 1's store).
    let from_node1 = token(&node1, contoso, app_id, secret).await.expect("node 1 issues");
    eventually("node 2 accepts node 1's token", || async { api_status(&node2, &from_node1).await == 200 }).await;

    // Consent through node 1's portal, then a token from node 2.
    let upn = northwind_admin(&node1, true).await;
    let northwind = partner.not_consented.as_str();
    assert!(token(&node2, northwind, app_id, secret).await.is_none(), "not consented yet");
    let browser = browser(&node1);
    let page = open_consent_link(&node1, &browser, &partner, &upn, "s").await;
    assert_eq!(decide(&node1, &browser, &page, "accept").await.status(), 303);
    let deadline = Instant::now() + Duration::from_secs(5);
    let northwind_token = loop {
        if let Some(token) = token(&node2, northwind, app_id, secret).await {
            break token;
        }
        assert!(Instant::now() < deadline, "node 2 issues after the consent on node 1: not within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(unverified_claims(&northwind_token)["tid"], northwind);
    assert_eq!(api_status(&node1, &northwind_token).await, 200);

    // Revocation through node 2; node 1 refuses the token it would have accepted.
    node2.admin().revoke_consent(northwind, partner.app()).await.unwrap();
    eventually("node 1 refuses after the revocation on node 2", || async {
        api_status(&node1, &northwind_token).await == 401
    })
    .await;

    // A key switch: the published next key starts signing two seconds from now. Tokens from both
    // nodes, before, during and after, verify on both.
    let keys = node1.identity.store().list_signing_keys().await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let next = keys.iter().find(|key| key.activates_at > now).expect("a next key is published");
    let old_kid = keys.iter().find(|key| key.activates_at <= now).unwrap().kid.as_str().to_owned();
    let switch_at = now + time::Duration::seconds(2);
    assert!(node1.identity.store().set_signing_key_activation(&next.kid, switch_at).await.unwrap());
    let mut kids = std::collections::BTreeSet::new();
    let mut checked = 0;
    while time::OffsetDateTime::now_utc() < switch_at + time::Duration::seconds(1) {
        for (issuer, verifier) in [(&node1, &node2), (&node2, &node1)] {
            let issued = token(issuer, contoso, app_id, secret).await.expect("a token during the switch");
            let header = issued.split('.').next().unwrap();
            let header: Value = serde_json::from_slice(
                &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
            )
            .unwrap();
            kids.insert(header["kid"].as_str().unwrap().to_owned());
            assert_eq!(
                api_status(verifier, &issued).await,
                200,
                "a token by {} failed on the other node",
                header["kid"]
            );
            assert_eq!(api_status(issuer, &issued).await, 200);
            checked += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(kids.contains(&old_kid) && kids.contains(next.kid.as_str()), "both keys signed: {kids:?}");
    assert!(checked > 10, "{checked} tokens checked");
    // The token from before the switch still verifies on both.
    assert_eq!(api_status(&node1, &from_node1).await, 200);
    assert_eq!(api_status(&node2, &from_node1).await, 200);
}

#[tokio::test]
async fn identity_and_api_nodes_serve_their_own_paths_and_work_together() {
    // On whichever backend the run uses: SQLite files are shared by processes on one machine too.
    let identity = spawn_app_with(|config| config.role = Role::Identity).await;
    let api = identity.start_node_with(|config| config.role = Role::Api).await;
    let partner = seed_partner(&identity, &["Incident.Read.All"]).await;
    let contoso = partner.consented[0].as_str();
    let issued = token(&identity, contoso, &partner.app_id, &partner.client_secret).await.expect("a token");
    eventually("the API node accepts the identity node's token", || async { api_status(&api, &issued).await == 200 })
        .await;

    assert_eq!(api_status(&identity, &issued).await, 404, "the identity node serves no API");
    let refused = request_v2_token(&api, contoso, &partner.app_id, &partner.client_secret).await;
    assert_eq!(refused.status(), 404, "the API node issues no token");
    assert_eq!(api.get("/portal").await.status(), 404);
    for node in [&identity, &api] {
        assert_eq!(node.get("/readyz").await.status(), 200);
        assert_eq!(node.get("/healthz").await.status(), 200);
    }
    let discovery = identity.get(&format!("/{contoso}/v2.0/.well-known/openid-configuration")).await;
    assert_eq!(discovery.status(), 200);
}

#[tokio::test]
async fn a_quota_spent_on_one_node_is_spent_on_the_other() {
    // On whichever backend the run uses; a budget of 10 list calls a minute.
    let node1 = spawn_app_with(|config| config.quotas.list_per_minute = 10).await;
    let node2 = node1.start_node().await;
    let partner = seed_partner(&node1, &["Incident.Read.All"]).await;
    let contoso = partner.consented[0].as_str();
    let issued = token(&node1, contoso, &partner.app_id, &partner.client_secret).await.expect("a token");
    // Node 2 has seen the partner once it verifies the token (a get: another budget).
    eventually("node 2 verifies the token", || async {
        let response = node2.client.get(format!("{}/api/incidents/1", node2.base_url)).bearer_auth(&issued).send();
        response.await.is_ok_and(|response| response.status() != 401)
    })
    .await;
    for call in 0..10 {
        assert_eq!(api_status(&node1, &issued).await, 200, "call {call} on node 1");
    }
    assert_eq!(api_status(&node1, &issued).await, 429);
    // Node 2 learns node 1's count within two reports (node 1 reports within 250 ms, node 2
    // reads within the next 250 ms): calls paced 500 ms apart let at most two through.
    let mut admitted = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match api_status(&node2, &issued).await {
            200 => admitted += 1,
            429 => break,
            other => panic!("node 2 answered {other}"),
        }
        assert!(Instant::now() < deadline, "node 2 never refused: {admitted} calls admitted beyond the budget");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(admitted <= 2, "node 2 admitted {admitted} calls beyond a spent budget");
}

/// Starts `threatgate serve` on a free loopback port with `store_args` (data directory and
/// database) and waits until `/readyz` answers 200, for at most `ready_within`. Returns the
/// process (killed when dropped) and its base URL.
pub(crate) async fn spawn_serve(
    store_args: Vec<std::ffi::OsString>,
    client: &reqwest::Client,
    ready_within: Duration,
) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(store_args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let deadline = Instant::now() + ready_within;
    while !client.get(format!("{base}/readyz")).send().await.is_ok_and(|response| response.status() == 200) {
        assert!(Instant::now() < deadline, "the server at {base} did not become ready within {ready_within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}

/// Alerts of one batch: all share one user, so they land in one incident together.
fn batch(number: usize, size: usize) -> Value {
    let alerts: Vec<Value> = (0..size)
        .map(|i| {
            json!({
                "alertId": format!("kill-{number}-{i}"), "serviceSource": "MicrosoftDefenderATP",
                "creationTime": "2026-11-20T10:00:00Z", "firstActivity": "2026-11-20T09:59:00Z",
                "lastActivity": "2026-11-20T10:00:00Z", "title": format!("Batch {number}"), "category": "Malware",
                "severity": "High", "detectionSource": "EDR",
                "entities": [{"entityType": "User", "userPrincipalName": format!("user{number}@contoso.com")}]
            })
        })
        .collect();
    Value::Array(alerts)
}

#[tokio::test]
async fn a_node_killed_during_ingestion_loses_no_acknowledged_batch_and_leaves_none_half_written() {
    let Some(database) = TestDatabase::create().await else { return };
    let database = Arc::new(database);
    let node1 = spawn_app_on(Arc::clone(&database), |_| {}).await;
    let partner = seed_partner(&node1, &["Incident.Read.All"]).await;
    let contoso = partner.consented[0].clone();
    // The tenant's own detection source, allowed to ingest.
    let admin = node1.admin();
    let source = admin.register_application(&contoso, "Contoso EDR", false, &[]).await.unwrap();
    let source_id = source.app_id;
    admin.add_permissions(source_id, &["Incident.ReadWrite.All".into()]).await.unwrap();
    let source_secret = admin.add_secret(source_id, "", None).await.unwrap();
    admin.grant_consent(&contoso, source_id).await.unwrap();

    // Node 2: a real process, so that it can be killed.
    let (mut node2, node2_url) = spawn_serve(node1.store_args(), &node1.client, Duration::from_secs(5)).await;
    let client = node1.client.clone();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", &source_id.to_string()),
        ("scope", crate::SCOPE),
        ("client_secret", source_secret.value.expose()),
    ];
    let response = client.post(format!("{node2_url}/{contoso}/oauth2/v2.0/token")).form(&form).send().await.unwrap();
    let source_token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    // Forty batches of 200 alerts, four at a time; the node is killed once some are in.
    const BATCHES: usize = 40;
    const SIZE: usize = 200;
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let semaphore = Arc::new(tokio::sync::Semaphore::new(4));
    let mut sends = Vec::new();
    for number in 0..BATCHES {
        let (client, url, token) = (client.clone(), node2_url.clone(), source_token.clone());
        let (acknowledged, semaphore) = (Arc::clone(&acknowledged), Arc::clone(&semaphore));
        sends.push(tokio::spawn(async move {
            let _turn = semaphore.acquire().await.unwrap();
            let sent =
                client.post(format!("{url}/api/ingest/alerts")).bearer_auth(&token).json(&batch(number, SIZE)).send();
            if sent.await.is_ok_and(|response| response.status() == 200) {
                acknowledged.lock().unwrap().push(number);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "no batch was acknowledged");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node2.start_kill().unwrap();
    node2.wait().await.unwrap();
    for send in sends {
        send.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() < BATCHES, "the kill came too late to test anything");

    // Read everything back through node 1: every batch is whole or absent, every acknowledged
    // one is whole.
    let reader = crate::api_support::token_for(&node1, &partner, &contoso).await;
    let mut per_batch = vec![0usize; BATCHES];
    let mut skip = 0;
    loop {
        let page: Value = node1
            .client
            .get(format!("{}/api/incidents?$top=100&$skip={skip}", node1.base_url))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let incidents = page["value"].as_array().unwrap().clone();
        for incident in &incidents {
            for alert in incident["alerts"].as_array().unwrap() {
                let id = alert["alertId"].as_str().unwrap();
                if let Some(rest) = id.strip_prefix("kill-") {
                    let number: usize = rest.split('-').next().unwrap().parse().unwrap();
                    per_batch[number] += 1;
                }
            }
        }
        if incidents.len() < 100 {
            break;
        }
        skip += 100;
    }
    for (number, count) in per_batch.iter().enumerate() {
        assert!(*count == 0 || *count == SIZE, "batch {number} is half-written: {count} of {SIZE} alerts");
    }
    for number in &acknowledged {
        assert_eq!(per_batch[*number], SIZE, "acknowledged batch {number} was lost");
    }
    let whole = per_batch.iter().filter(|count| **count == SIZE).count();
    eprintln!("killed with {} acknowledged, {whole} stored whole, {} absent", acknowledged.len(), BATCHES - whole);
}
