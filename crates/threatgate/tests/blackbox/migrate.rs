//! `threatgate migrate`: a demo's SQLite data directory moved to PostgreSQL, then served from
//! there with the same directory: the same secret gets a token, a token from before the move
//! still verifies, the incidents and the hunting events are the same; a second migration into
//! it is refused.
//!
//! Needs `THREATGATE_TEST_DATABASE_URL`; says so and passes without it.

use serde_json::Value;
use threatgate_testkit::TestDatabase;

use crate::demo::Demo;

#[tokio::test]
async fn a_demo_directory_moves_to_postgresql_and_serves_the_same_state() {
    let Some(database) = TestDatabase::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let (demo, manifest) = Demo::start(data_dir.path(), None).await;
    let client = threatgate_testkit::client_trusting(std::path::Path::new(&manifest.ca_certificate)).unwrap();
    let contoso = &manifest.customers[0].tenant_id;
    let token = |authority: String| {
        let client = client.clone();
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", manifest.app.app_id.clone()),
            ("scope", crate::SCOPE.to_owned()),
            ("client_secret", manifest.app.client_secret.clone()),
        ];
        let url = format!("{authority}/{contoso}/oauth2/v2.0/token");
        async move {
            let response = client.post(url).form(&form).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let list = |base: String, token: String| {
        let client = client.clone();
        async move {
            let response =
                client.get(format!("{base}/api/incidents?$top=100")).bearer_auth(token).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()["value"].clone()
        }
    };
    // Every hunting table's rows, counted per table, and a sample of rows in a fixed order.
    let hunt = |base: String, token: String| {
        let client = client.clone();
        async move {
            let mut answers = Vec::new();
            for query in [
                "DeviceProcessEvents | count",
                "union DeviceProcessEvents, DeviceNetworkEvents, DeviceFileEvents, DeviceLogonEvents, DeviceRegistryEvents, DeviceInfo, EmailEvents, EmailAttachmentInfo, EmailUrlInfo, IdentityLogonEvents, AlertInfo, AlertEvidence | count",
                "AlertEvidence | summarize n = count() by EntityType | order by EntityType asc",
                "DeviceProcessEvents | top 5 by ReportId asc | project Timestamp, DeviceName, FileName, ProcessCommandLine, FileSize",
            ] {
                let response = client
                    .post(format!("{base}/api/advancedhunting/run"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "Query": query }))
                    .send()
                    .await
                    .unwrap();
                answers.push(response.json::<Value>().await.unwrap()["Results"].clone());
            }
            answers
        }
    };
    let before = token(manifest.authority.clone()).await;
    let incidents = list(manifest.api_base.clone(), before.clone()).await;
    let events = hunt(manifest.api_base.clone(), before.clone()).await;
    demo.stop().await;

    let migrate = |from: String| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
            .args(["migrate", "--json", "--from", &from, "--to", database.url()])
            .output()
    };
    let moved = migrate(format!("sqlite://{}", data_dir.path().display())).await.unwrap();
    assert!(moved.status.success(), "{}", String::from_utf8_lossy(&moved.stderr));
    let report: Value = serde_json::from_slice(&moved.stdout).unwrap();
    assert_eq!(report["tenants"], 4);
    assert_eq!(report["incidents"], 80, "Contoso's and Woodgrove's 40 each");
    assert!(report["hunting_events"].as_u64().unwrap() > 10_000, "the demo's events: {report}");
    let again = migrate(format!("sqlite://{}", data_dir.path().display())).await.unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"), "{}", String::from_utf8_lossy(&again.stderr));

    // Served from PostgreSQL with the same directory: same TLS, keys, secrets, incidents.
    let store = threatgate_testkit::store_args(data_dir.path(), Some(&database));
    let (mut server, base) = crate::multi_node::spawn_serve(store, &client, std::time::Duration::from_secs(30)).await;
    assert_eq!(list(base.clone(), before).await, incidents, "a token from before the move still verifies");
    let after = token(base.clone()).await;
    assert_eq!(list(base.clone(), after.clone()).await, incidents, "the same incidents");
    assert_eq!(hunt(base, after).await, events, "the same hunting events");
    server.start_kill().unwrap();
    let _ = server.wait().await;
}
