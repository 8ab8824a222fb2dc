//! The size limits of `docs/limits.md` that HTTP sets, each met once: a request past one is
//! refused with a 4xx in the service's wording (or HTTP's own status where no handler runs),
//! never a 5xx, and the server goes on serving.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use threatgate_testkit::{seed_partner, spawn_app};

use crate::api_support::{assert_api_error, token_for};

#[tokio::test]
async fn every_request_past_a_size_limit_is_refused_with_a_4xx() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All", "AdvancedHunting.Read.All"]).await;
    let tenant = &partner.consented[0];
    let token = token_for(&app, &partner, tenant).await;
    let api = |path: &str| format!("{}{path}", app.base_url);

    // Headers: one header past hyper's 400 KiB read buffer, or more than 100 of them: 431.
    let big = app.client.get(api("/api/incidents")).header("x-big", "a".repeat(1 << 20)).send().await.unwrap();
    assert_eq!(big.status(), 431);
    let mut many = HeaderMap::new();
    for i in 0..120 {
        many.insert(HeaderName::try_from(format!("x-h{i}")).unwrap(), HeaderValue::from_static("1"));
    }
    assert_eq!(app.client.get(api("/api/incidents")).headers(many).send().await.unwrap().status(), 431);
    // A bearer token past 16 KiB: 401 before any parsing.
    let response = app.client.get(api("/api/incidents")).bearer_auth("e".repeat(20_000)).send().await.unwrap();
    assert_api_error(response, 401, "Unauthorized").await;
    // `$filter` past 4,096 characters and `$top` past 100: 400 naming the limit.
    let filter = format!("status eq '{}'", "x".repeat(5_000));
    let response =
        app.client.get(api("/api/incidents")).query(&[("$filter", filter)]).bearer_auth(&token).send().await.unwrap();
    assert_api_error(response, 400, "ODataError").await;
    let response = app.client.get(api("/api/incidents?$top=101")).bearer_auth(&token).send().await.unwrap();
    assert_api_error(response, 400, "ODataError").await;

    // Bodies: PATCH past 64 KiB, a hunting request past 512 KiB, an ingestion past 16 MiB: 413.
    let patch = json!({"comment": "c".repeat(70_000)}).to_string();
    let response = app.client.patch(api("/api/incidents/1")).bearer_auth(&token).body(patch).send().await.unwrap();
    assert_api_error(response, 413, "BadRequest").await;
    let hunt = json!({"Query": format!("DeviceInfo | where DeviceName == '{}'", "x".repeat(600_000))}).to_string();
    let response =
        app.client.post(api("/api/advancedhunting/run")).bearer_auth(&token).body(hunt).send().await.unwrap();
    assert_api_error(response, 413, "BadRequest").await;
    let ingest = vec![b' '; 17 << 20];
    let response =
        app.client.post(api("/api/ingest/events/DeviceInfo")).bearer_auth(&token).body(ingest).send().await.unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    // A token request past 64 KiB: 413 with an AADSTS body.
    let form = format!("grant_type=client_credentials&client_id={}&scope={}", partner.app_id, "s".repeat(70_000));
    let response = app
        .client
        .post(api(&format!("/{tenant}/oauth2/v2.0/token")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Still serving.
    let response = app.client.get(api("/api/incidents")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

/// Past `api_max_in_flight` requests at once, the API answers 503 with `Retry-After` at once
/// (no queue grows), and the token endpoint, which is not counted, goes on issuing tokens.
#[tokio::test]
async fn past_its_places_the_api_sheds_load_and_tokens_are_still_issued() {
    let app = threatgate_testkit::spawn_app_with(|config| config.api_max_in_flight = 1).await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    let tenant = &partner.consented[0];
    let token = token_for(&app, &partner, tenant).await;
    let api = |path: &str| format!("{}{path}", app.base_url);

    // A request whose body arrives slowly holds the one place while its handler reads it.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    }));
    sender.send(Ok(b"{\"comment\": ".to_vec())).await.unwrap();
    let slow = {
        let request = app.client.patch(api("/api/incidents/1")).bearer_auth(&token).body(body);
        tokio::spawn(request.send())
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let shed = app.client.get(api("/api/incidents")).bearer_auth(&token).send().await.unwrap();
    let retry_after = shed.headers().get("retry-after").cloned();
    let body = assert_api_error(shed, 503, "ServiceUnavailable").await;
    assert!(retry_after.is_some(), "{body}");
    let issued = crate::request_v2_token(&app, tenant, &partner.app_id, &partner.client_secret).await;
    assert_eq!(issued.status(), 200, "the token endpoint does not count against the API's places");

    sender.send(Ok(b"\"done\"}".to_vec())).await.unwrap();
    drop(sender);
    let answered = slow.await.unwrap().unwrap();
    assert!(answered.status().is_client_error() || answered.status().is_success(), "{}", answered.status());
    assert_eq!(app.client.get(api("/api/incidents")).bearer_auth(&token).send().await.unwrap().status(), 200);
}

/// Past `max_connections` open at once, a new connection is closed as soon as it is accepted
/// (before TLS), and once an open one closes its place serves the next client.
#[tokio::test]
async fn past_max_connections_a_new_connection_is_closed_at_once() {
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    let app = threatgate_testkit::spawn_app_with(|config| config.max_connections = 2).await;
    // Two idle connections take both places (the server accepts in the order they came).
    let first = TcpStream::connect(app.address).await.unwrap();
    let _second = TcpStream::connect(app.address).await.unwrap();
    let mut third = TcpStream::connect(app.address).await.unwrap();
    let mut buffer = [0u8; 16];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), third.read(&mut buffer)).await;
    assert!(matches!(closed, Ok(Ok(0) | Err(_))), "the third connection is closed without an answer: {closed:?}");

    // The first closes: its place is free again (as soon as the server has seen it close).
    drop(first);
    let client = threatgate_testkit::client_trusting(&app.ca_certificate).unwrap();
    let mut answered = None;
    for _ in 0..100 {
        match client.get(format!("{}/healthz", app.base_url)).send().await {
            Ok(response) => {
                answered = Some(response.status());
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    assert_eq!(answered, Some(reqwest::StatusCode::OK), "a freed place serves the next client");
}
