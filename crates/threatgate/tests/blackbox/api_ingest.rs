//! Ingestion and correlation: alerts sharing an entity join one incident; an alert linking two
//! open incidents merges the younger into the older.

use serde_json::{Value, json};
use threatgate_testkit::{seed_partner, spawn_app};

use crate::api_support::{api_get, assert_api_error, source_token, token_for};

fn alert(id: &str, title: &str, category: &str, severity: &str, entities: Value) -> Value {
    json!({
        "alertId": id, "serviceSource": "MicrosoftDefenderATP", "creationTime": "2026-11-20T10:00:00Z",
        "firstActivity": "2026-11-20T09:59:00Z", "lastActivity": "2026-11-20T10:00:00Z", "title": title,
        "category": category, "severity": severity, "detectionSource": "EDR", "entities": entities
    })
}

fn user(upn: &str) -> Value {
    json!([{"entityType": "User", "userPrincipalName": upn}])
}

#[tokio::test]
async fn alerts_sharing_entities_are_correlated_and_linked_incidents_merged() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    // The tenant's own detection source: an application registered in the tenant itself.
    let source_token = source_token(&app, &partner.consented[0]).await;
    let ingest = |alerts: Value| {
        app.client.post(format!("{}/api/ingest/alerts", app.base_url)).bearer_auth(&source_token).json(&alerts).send()
    };

    let first = ingest(json!([
        alert("a1", "Phishing link click observed", "InitialAccess", "Medium", user("ana@contoso.com")),
        alert("a2", "Suspicious PowerShell command line", "Execution", "High", user("ANA@contoso.com")),
        alert("b1", "Impossible travel activity", "InitialAccess", "Low", user("ben@contoso.com")),
    ]))
    .await
    .unwrap();
    assert_eq!(first.status(), 200);
    let report: Value = first.json().await.unwrap();
    assert_eq!(
        report,
        json!({"alerts_added": 3, "duplicates_skipped": 0, "incidents_created": 2, "incidents_merged": 0})
    );

    let reader = token_for(&app, &partner, &partner.consented[0]).await;
    let listed: Value = api_get(&app, &reader, "/api/incidents").await.json().await.unwrap();
    let incidents = listed["value"].as_array().unwrap();
    let ana = incidents.iter().find(|i| i["alerts"].as_array().unwrap().len() == 2).unwrap();
    assert_eq!(ana["incidentName"], "Multi-stage incident involving InitialAccess and Execution");
    assert_eq!(ana["severity"], "High", "the highest alert severity");
    let (ana_id, ben_id) = (
        ana["incidentId"].as_i64().unwrap(),
        incidents.iter().find(|i| i != &ana).unwrap()["incidentId"].as_i64().unwrap(),
    );

    // One alert naming both users links both incidents: the younger merges into the older.
    let linking = ingest(json!([
        alert(
            "c1",
            "Lateral movement",
            "LateralMovement",
            "Medium",
            json!([
                {"entityType": "User", "userPrincipalName": "ana@contoso.com"},
                {"entityType": "User", "userPrincipalName": "ben@contoso.com"}
            ])
        ),
        alert("a1", "duplicate", "InitialAccess", "Low", user("x@contoso.com"))
    ]))
    .await
    .unwrap();
    let report: Value = linking.json().await.unwrap();
    assert_eq!(report["incidents_merged"], 1);
    assert_eq!(report["duplicates_skipped"], 1, "an alert id is ingested once");
    let (older, younger) = (ana_id.min(ben_id), ana_id.max(ben_id));
    let merged: Value = api_get(&app, &reader, &format!("/api/incidents/{younger}")).await.json().await.unwrap();
    assert_eq!(merged["status"], "Redirected");
    assert_eq!(merged["redirectIncidentId"], older);
    assert_eq!(merged["alerts"], json!([]));
    let target: Value = api_get(&app, &reader, &format!("/api/incidents/{older}")).await.json().await.unwrap();
    assert_eq!(target["alerts"].as_array().unwrap().len(), 4);
    assert!(target["alerts"].as_array().unwrap().iter().all(|a| a["incidentId"] == older));

    // A partner's application reads, but cannot inject alerts into a customer.
    let partner_write = token_for(&app, &partner, &partner.consented[0]).await;
    let refused = app
        .client
        .post(format!("{}/api/ingest/alerts", app.base_url))
        .bearer_auth(&partner_write)
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_api_error(refused, 403, "Forbidden").await;
    let invalid = ingest(json!([{"alertId": "z", "title": "t"}])).await.unwrap();
    assert_api_error(invalid, 400, "InvalidRequestBody").await;
    let mut misspelt = alert("z2", "t", "Execution", "High", user("a@b.com"));
    misspelt["severty"] = json!("High");
    let refused = assert_api_error(ingest(json!([misspelt])).await.unwrap(), 400, "InvalidRequestBody").await;
    assert!(refused["error"]["message"].as_str().unwrap().contains("unknown field `severty`"), "{refused}");
    let bad_severity = ingest(json!([alert("z1", "t", "Execution", "Critical", user("a@b.com"))])).await.unwrap();
    assert_api_error(bad_severity, 400, "InvalidInput").await;
}

/// Correlation inside one batch: incidents created, joined and merged by the batch's own
/// alerts end as if the alerts had come one request at a time.
#[tokio::test]
async fn a_batch_that_creates_joins_and_merges_incidents_ends_as_one_alert_at_a_time_would() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    let source_token = source_token(&app, &partner.consented[0]).await;
    let both = json!([
        {"entityType": "User", "userPrincipalName": "ana@contoso.com"},
        {"entityType": "User", "userPrincipalName": "ben@contoso.com"}
    ]);
    let response = app
        .client
        .post(format!("{}/api/ingest/alerts", app.base_url))
        .bearer_auth(&source_token)
        .json(&json!([
            alert("a1", "Phishing link click observed", "InitialAccess", "Low", user("ana@contoso.com")),
            alert("b1", "Impossible travel activity", "CredentialAccess", "Medium", user("ben@contoso.com")),
            alert("c1", "Lateral movement", "LateralMovement", "High", both),
            alert("b2", "Suspicious inbox rule", "Persistence", "Low", user("ben@contoso.com")),
        ]))
        .send()
        .await
        .unwrap();
    let report: Value = response.json().await.unwrap();
    assert_eq!(
        report,
        json!({"alerts_added": 4, "duplicates_skipped": 0, "incidents_created": 2, "incidents_merged": 1})
    );
    let reader = token_for(&app, &partner, &partner.consented[0]).await;
    let listed: Value = api_get(&app, &reader, "/api/incidents").await.json().await.unwrap();
    let incidents = listed["value"].as_array().unwrap();
    assert_eq!(incidents.len(), 2);
    let open = incidents.iter().find(|i| i["status"] == "Active").unwrap();
    let merged = incidents.iter().find(|i| i["status"] == "Redirected").unwrap();
    let ids: Vec<&str> = open["alerts"].as_array().unwrap().iter().map(|a| a["alertId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a1", "b1", "c1", "b2"], "the later alert of ben joined the merged incident");
    assert!(open["alerts"].as_array().unwrap().iter().all(|a| a["incidentId"] == open["incidentId"]));
    assert_eq!(open["severity"], "High");
    assert_eq!(
        open["incidentName"],
        "Multi-stage incident involving InitialAccess, CredentialAccess, LateralMovement and Persistence"
    );
    assert_eq!(merged["redirectIncidentId"], open["incidentId"]);
    assert_eq!(merged["alerts"], json!([]));
}
