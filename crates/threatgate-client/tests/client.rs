//! The partner client against a real Threatgate server (HTTPS, its local CA), and against a
//! scripted server for the failures a real one rarely shows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use threatgate_client::{
    Client, ClientSecret, Error, IncidentChanges, IncidentFilter, ManualClock, RetryPolicy, fan_out,
};
use threatgate_domain::{IncidentStatus, IngestAlerts, TenantId, TenantScope};
use threatgate_testkit::{PartnerFixture, TestApp, seed_partner, spawn_app, spawn_app_with};

fn client_for(app: &TestApp, partner: &PartnerFixture) -> threatgate_client::ClientBuilder {
    Client::builder(&partner.app_id)
        .client_secret(ClientSecret::new(&partner.client_secret))
        .authority(&app.base_url)
        .api_base(&app.base_url)
        .ca_certificate(&app.ca_certificate)
}

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()))
}

/// `count` generated incidents in `tenant`, through the same correlation as the API.
async fn seed(app: &TestApp, tenant: &str, count: u64) {
    let now = threatgate_domain::datetime::to_ticks(time::OffsetDateTime::now_utc());
    let alerts = threatgate_seed::generator::AlertGenerator::new(5, "contoso.onmicrosoft.com", count, now, 10)
        .map(|(received, alert)| threatgate_incidents::prepare_alert(alert, received).unwrap())
        .collect();
    let scope = TenantScope::<IngestAlerts>::for_administrator(TenantId::parse(tenant).unwrap());
    threatgate_store::IncidentStore::ingest_alerts(
        app.identity.store().as_ref(),
        &scope,
        alerts,
        24 * 3600 * 10_000_000,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_token_is_reused_until_five_minutes_before_it_expires() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let clock = manual_clock();
    let client = client_for(&app, &partner).clock(clock.clone()).build().unwrap();
    let tokens = client.tokens();
    let contoso = &partner.consented[0];
    let lifetime =
        tokens.request(contoso, threatgate_client::API_RESOURCE).await.unwrap()["expires_in"].as_i64().unwrap();
    assert_eq!(tokens.token_requests(), 1);

    let first = tokens.token(contoso, threatgate_client::API_RESOURCE).await.unwrap();
    let again = tokens.token(contoso, threatgate_client::API_RESOURCE).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(tokens.token_requests(), 2, "the second call makes no request");

    // One second before the renewal point: still the same token.
    clock.advance(Duration::from_secs(u64::try_from(lifetime - 300 - 1).unwrap()));
    assert_eq!(tokens.token(contoso, threatgate_client::API_RESOURCE).await.unwrap(), first);
    assert_eq!(tokens.token_requests(), 2);
    // At it: a new request.
    clock.advance(Duration::from_secs(1));
    tokens.token(contoso, threatgate_client::API_RESOURCE).await.unwrap();
    assert_eq!(tokens.token_requests(), 3, "renewed five minutes before exp");
    // Another tenant is another token.
    tokens.token(&partner.consented[1], threatgate_client::API_RESOURCE).await.unwrap();
    assert_eq!(tokens.token_requests(), 4);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let client = client_for(&app, &partner).build().unwrap();
    let contoso = partner.consented[0].clone();
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let (client, contoso) = (client.clone(), contoso.clone());
            tokio::spawn(async move { client.tokens().token(&contoso, threatgate_client::API_RESOURCE).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    for caller in callers {
        seen.insert(caller.await.unwrap());
    }
    assert_eq!(seen.len(), 1, "every caller got the same token");
    assert_eq!(client.tokens().token_requests(), 1, "twenty callers, one request");
}

#[tokio::test]
async fn the_cache_file_is_owner_only_and_outlives_the_client() {
    use std::os::unix::fs::PermissionsExt;

    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.json");
    let first = client_for(&app, &partner).cache_file(&file).build().unwrap();
    let token = first.tokens().token(&partner.consented[0], threatgate_client::API_RESOURCE).await.unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    let second = client_for(&app, &partner).cache_file(&file).build().unwrap();
    assert_eq!(second.tokens().token(&partner.consented[0], threatgate_client::API_RESOURCE).await.unwrap(), token);
    assert_eq!(second.tokens().token_requests(), 0, "read from the file");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = client_for(&app, &partner).cache_file(&file).build().unwrap_err();
    assert!(refused.to_string().contains("chmod 600"), "{refused}");
}

#[tokio::test]
async fn fan_out_over_fifty_tenants_reports_each_failure_and_serves_the_rest() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let admin = app.admin();
    let mut tenants = Vec::new();
    for n in 0..48 {
        let domain = format!("customer{n}.onmicrosoft.com");
        admin.create_tenant(&format!("Customer {n}"), Some(&domain)).await.unwrap();
        if n % 5 != 4 {
            admin.grant_consent(&domain, partner.app()).await.unwrap();
        }
        tenants.push(domain);
    }
    tenants.push(partner.consented[0].clone());
    tenants.push(partner.not_consented.clone());
    app.refresh().await;
    seed(&app, &partner.consented[0], 3).await;

    let client = client_for(&app, &partner).build().unwrap();
    let results: Vec<_> = fan_out(tenants.clone(), 8, |tenant| {
        let client = client.clone();
        async move { client.list_incidents(&tenant, &IncidentFilter::new()).await }
    })
    .collect()
    .await;
    assert_eq!(results.len(), 50);
    let (ok, failed): (Vec<_>, Vec<_>) = results.iter().partition(|(_, result)| result.is_ok());
    assert_eq!((ok.len(), failed.len()), (40, 10), "9 of the 48 and Northwind have not consented");
    for (tenant, result) in &failed {
        let error = result.as_ref().unwrap_err().service().unwrap_or_else(|| panic!("{tenant}: {result:?}"));
        assert_eq!(error.code, "AADSTS700016", "{tenant}");
        assert!(error.tracking_id.is_some());
    }
    let contoso = ok.iter().find(|(tenant, _)| tenant == &partner.consented[0]).unwrap();
    assert_eq!(contoso.1.as_ref().unwrap().len(), 3);
}

#[tokio::test]
async fn paging_through_a_thousand_incidents_has_no_duplicates_or_gaps() {
    let app = spawn_app_with(|config| config.quotas.enabled = false).await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    let contoso = &partner.consented[0];
    seed(&app, contoso, 1000).await;
    let client = client_for(&app, &partner).build().unwrap();
    for size in [100, 7] {
        let incidents = client.list_incidents(contoso, &IncidentFilter::new().page_size(size)).await.unwrap();
        let ids: HashSet<i64> = incidents.iter().map(|incident| incident.incident_id).collect();
        assert_eq!((incidents.len(), ids.len()), (1000, 1000), "page size {size}");
        assert!(incidents.windows(2).all(|w| w[0].last_update_time >= w[1].last_update_time), "newest first");
    }

    // Get, update, and a filter that sees the update.
    let first = client.list_incidents(contoso, &IncidentFilter::new().page_size(1)).await.unwrap()[0].incident_id;
    let changes = IncidentChanges {
        status: Some(IncidentStatus::Resolved),
        assigned_to: Some("soc@fabrikam.com".into()),
        comment: Some("closed by the partner".into()),
        ..IncidentChanges::default()
    };
    let updated = client.update_incident(contoso, first, &changes).await.unwrap();
    assert_eq!((updated.status.as_str(), updated.assigned_to.as_deref()), ("Resolved", Some("soc@fabrikam.com")));
    assert_eq!(client.get_incident(contoso, first).await.unwrap().comments.len(), 1);
    let filter = IncidentFilter::new().status(IncidentStatus::Resolved).assigned_to("soc@fabrikam.com");
    let resolved = client.list_incidents(contoso, &filter).await.unwrap();
    assert_eq!(resolved.iter().map(|i| i.incident_id).collect::<Vec<_>>(), vec![first]);
    let missing = client.get_incident(contoso, 99_999_999).await.unwrap_err();
    assert_eq!(missing.service().unwrap().code, "ResourceNotFound");
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_stays_typed_when_it_persists() {
    let app = spawn_app_with(|config| config.quotas.list_per_minute = 2).await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let contoso = &partner.consented[0];
    let clock = manual_clock();
    let policy = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
    let client = client_for(&app, &partner).clock(clock.clone()).retry(policy).build().unwrap();
    for _ in 0..2 {
        client.list_incidents(contoso, &IncidentFilter::new()).await.unwrap();
    }
    let throttled = client.list_incidents(contoso, &IncidentFilter::new()).await.unwrap_err();
    let error = throttled.service().unwrap();
    assert_eq!((error.status, error.code.as_str()), (429, "429"));
    assert!(error.message.contains("quota exceeded"), "{error}");
    let asked = error.retry_after.unwrap();
    assert!(asked >= Duration::from_secs(1) && asked <= Duration::from_secs(60), "{asked:?}");
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2, "waited before each of the two retries: {sleeps:?}");
    assert!(sleeps.iter().all(|s| *s >= Duration::from_secs(1) && *s <= Duration::from_secs(60)), "{sleeps:?}");

    // A wait longer than the policy allows fails at once.
    let impatient = RetryPolicy { max_retry_after: Duration::ZERO, ..RetryPolicy::default() };
    let clock = manual_clock();
    let client = client_for(&app, &partner).clock(clock.clone()).retry(impatient).build().unwrap();
    let error = client.list_incidents(contoso, &IncidentFilter::new()).await.unwrap_err();
    assert_eq!(error.service().unwrap().status, 429);
    assert!(clock.sleeps().is_empty());
}

/// Serves `app` over plain HTTP on a free loopback port; returns its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A client of a scripted server at `base` (identity platform and API alike).
fn scripted_client(base: &str) -> threatgate_client::ClientBuilder {
    Client::builder("11111111-1111-1111-1111-111111111111")
        .client_secret(ClientSecret::new("s"))
        .authority(base)
        .api_base(base)
}

fn token_response() -> serde_json::Value {
    serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "t"})
}

/// A plain-HTTP server that fails the first token request with 503, the first list with 429
/// (`Retry-After: 7`), and every update with 503.
async fn scripted_server() -> (String, Arc<AtomicU32>) {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};

    let calls = Arc::new(AtomicU32::new(0));
    let token_calls = Arc::new(AtomicU32::new(0));
    let list_calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let app = axum::Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(move || {
                let n = token_calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
                    } else {
                        axum::Json(token_response()).into_response()
                    }
                }
            }),
        )
        .route(
            "/api/incidents",
            get(move || {
                let n = list_calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "7")],
                            r#"{"error":{"code":"429","message":"slow down","target":"x"}}"#,
                        )
                            .into_response()
                    } else {
                        axum::Json(serde_json::json!({"@odata.context": "c", "value": []})).into_response()
                    }
                }
            }),
        )
        .route(
            "/api/incidents/{id}",
            axum::routing::patch(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { (StatusCode::BAD_GATEWAY, "upstream failed").into_response() }
            }),
        );
    (serve(app).await, calls)
}

#[tokio::test]
async fn server_errors_back_off_a_429_waits_as_told_and_updates_are_not_repeated() {
    let (base, patches) = scripted_server().await;
    let clock = manual_clock();
    let client = scripted_client(&base).clock(clock.clone()).build().unwrap();
    let incidents = client.list_incidents("contoso.onmicrosoft.com", &IncidentFilter::new()).await.unwrap();
    assert!(incidents.is_empty());
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(sleeps[0] >= Duration::from_millis(250) && sleeps[0] <= Duration::from_millis(500), "back-off {sleeps:?}");
    assert_eq!(sleeps[1], Duration::from_secs(7), "Retry-After honoured");
    assert_eq!(client.tokens().token_requests(), 2);

    let changes = IncidentChanges { comment: Some("once".into()), ..IncidentChanges::default() };
    let failed = client.update_incident("contoso.onmicrosoft.com", 1, &changes).await.unwrap_err();
    assert_eq!(failed.service().unwrap().status, 502);
    assert_eq!(patches.load(Ordering::SeqCst), 1, "an update is never sent twice");

    // Nobody listening: a transport error, after the bounded retries.
    let dead = scripted_client("http://127.0.0.1:9")
        .retry(RetryPolicy { max_attempts: 3, ..RetryPolicy::default() })
        .clock(manual_clock())
        .build()
        .unwrap();
    let error = dead.tokens().token("contoso.onmicrosoft.com", threatgate_client::API_RESOURCE).await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error}");
    assert_eq!(dead.tokens().token_requests(), 3);
}

/// A server that pages by `$top`/`$skip` only, never with a next link: 250 incidents.
#[tokio::test]
async fn without_next_links_pages_are_followed_by_skip_until_a_short_page() {
    use axum::extract::Query;
    use axum::routing::{get, post};

    async fn page(Query(query): Query<std::collections::HashMap<String, String>>) -> axum::Json<serde_json::Value> {
        let top: i64 = query.get("$top").and_then(|t| t.parse().ok()).unwrap_or(100);
        let skip: i64 = query.get("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
        let ids = (skip..(skip + top).min(250)).map(|n| 250 - n);
        let value: Vec<serde_json::Value> = ids
            .map(|id| {
                serde_json::json!({
                    "incidentId": id, "redirectIncidentId": null, "incidentName": "i", "createdTime": "2026-11-26T00:00:00Z",
                    "lastUpdateTime": "2026-11-26T00:00:00Z", "assignedTo": null, "classification": "Unknown",
                    "determination": "NotAvailable", "status": "Active", "severity": "Low", "tags": [], "comments": [],
                    "alerts": [], "someFieldFromTheFuture": true
                })
            })
            .collect();
        axum::Json(serde_json::json!({ "@odata.context": "c", "value": value }))
    }
    let app = axum::Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(|| async { axum::Json(token_response()) }))
        .route("/api/incidents", get(page));
    let base = serve(app).await;
    let client = scripted_client(&base).build().unwrap();
    let incidents = client.list_incidents("contoso.onmicrosoft.com", &IncidentFilter::new()).await.unwrap();
    let ids: Vec<i64> = incidents.iter().map(|i| i.incident_id).collect();
    assert_eq!(ids, (1..=250).rev().collect::<Vec<_>>(), "three pages by $skip, unknown fields ignored");
}
