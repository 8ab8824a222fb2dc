//! `PATCH /api/incidents/{id}` (section 6).

use serde_json::{Value, json};
use threatgate_testkit::{seed_partner, spawn_app};

use crate::api_support::{api_get, api_patch, assert_api_error, seed_incidents, token_for};

#[tokio::test]
async fn the_documented_update_changes_the_incident_and_moves_its_times() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    let customer = &partner.consented[0];
    seed_incidents(&app, customer, 2, 9).await;
    let token = token_for(&app, &partner, customer).await;
    let before: Value = api_get(&app, &token, "/api/incidents/1").await.json().await.unwrap();

    let body = json!({
        "status": "Resolved",
        "assignedTo": "secop2@contoso.com",
        "classification": "TruePositive",
        "determination": "Malware",
        "tags": ["Yossi's playground", "Don't mess with the Zohan"],
        "comment": "pen testing"
    });
    let response = api_patch(&app, &token, 1, &body).await;
    assert_eq!(response.status(), 200);
    let after: Value = response.json().await.unwrap();
    assert_eq!(after["@odata.context"], format!("{}/api/$metadata#Incidents/$entity", app.base_url));
    assert_eq!(after["status"], "Resolved");
    assert_eq!(after["assignedTo"], "secop2@contoso.com");
    assert_eq!(after["classification"], "TruePositive");
    assert_eq!(after["determination"], "Malware");
    assert_eq!(after["tags"], json!(["Yossi's playground", "Don't mess with the Zohan"]));
    assert_eq!(after["comments"][0]["comment"], "pen testing");
    assert_eq!(after["comments"][0]["createdBy"], "Fabrikam Threat Connector", "comments name the calling application");
    assert!(after["lastUpdateTime"].as_str().unwrap() > before["lastUpdateTime"].as_str().unwrap());
    for alert in after["alerts"].as_array().unwrap() {
        assert_eq!(alert["lastUpdatedTime"], after["lastUpdateTime"]);
    }
    assert_eq!(
        api_get(&app, &token, "/api/incidents/1").await.json::<Value>().await.unwrap(),
        after,
        "the change is kept"
    );

    let retagged: Value =
        api_patch(&app, &token, 1, &json!({"tags": ["one"], "comment": "second"})).await.json().await.unwrap();
    assert_eq!(retagged["tags"], json!(["one"]), "tags are replaced");
    assert_eq!(retagged["comments"].as_array().unwrap().len(), 2, "comments are appended");
    let unassigned: Value = api_patch(&app, &token, 1, &json!({"assignedTo": ""})).await.json().await.unwrap();
    assert_eq!(unassigned["assignedTo"], Value::Null);
}

#[tokio::test]
async fn invalid_updates_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    let customer = &partner.consented[0];
    seed_incidents(&app, customer, 1, 4).await;
    let token = token_for(&app, &partner, customer).await;
    let before: Value = api_get(&app, &token, "/api/incidents/1").await.json().await.unwrap();

    let cases: Vec<(Value, &str)> = vec![
        (json!({"determination": "Malware"}), "InvalidInput"),
        (json!({"status": "Closed"}), "InvalidInput"),
        (json!({"status": "resolved"}), "InvalidInput"),
        (json!({"Status": "Resolved"}), "InvalidRequestBody"),
        (json!({"severity": "High"}), "InvalidRequestBody"),
        (json!({"tags": "not-a-list"}), "InvalidRequestBody"),
        (json!(["status"]), "InvalidRequestBody"),
        (json!({"status": "Redirected"}), "InvalidInput"),
        (json!({"comment": "x".repeat(5000)}), "InvalidInput"),
    ];
    for (body, code) in cases {
        let response = api_patch(&app, &token, 1, &body).await;
        assert_api_error(response, 400, code).await;
    }
    let nested = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let response = app
        .client
        .patch(format!("{}/api/incidents/1", app.base_url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    assert_api_error(response, 400, "InvalidRequestBody").await;
    let huge = json!({"comment": "x".repeat(100 * 1024)});
    assert_eq!(api_patch(&app, &token, 1, &huge).await.status(), 413);
    assert_api_error(api_patch(&app, &token, 424242, &json!({"status": "Resolved"})).await, 404, "ResourceNotFound")
        .await;

    let after: Value = api_get(&app, &token, "/api/incidents/1").await.json().await.unwrap();
    assert_eq!(before, after, "no refused call changed anything");
}

#[tokio::test]
async fn a_read_only_application_cannot_update() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incidents.Read.All"]).await;
    let customer = &partner.consented[0];
    seed_incidents(&app, customer, 1, 4).await;
    let token = token_for(&app, &partner, customer).await;
    assert_eq!(api_get(&app, &token, "/api/incidents/1").await.status(), 200, "the guide's spelling grants reading");
    let body =
        assert_api_error(api_patch(&app, &token, 1, &json!({"status": "Resolved"})).await, 403, "Forbidden").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("Incident.ReadWrite.All"));
}
