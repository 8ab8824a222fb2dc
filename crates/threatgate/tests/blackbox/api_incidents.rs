//! `GET /api/incidents` and `GET /api/incidents/{id}`: shape, order, OData options.

use std::collections::HashSet;

use serde_json::Value;
use threatgate_testkit::{seed_partner, spawn_app};

use crate::api_support::{api_get, assert_api_error, seed_incidents, token_for};

#[tokio::test]
async fn the_guides_last_step_lists_the_customers_incidents_newest_first() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let customer = &partner.consented[0];
    seed_incidents(&app, customer, 30, 1).await;
    let token = token_for(&app, &partner, customer).await;

    let response = api_get(&app, &token, "/api/incidents").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json; charset=utf-8");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["@odata.context"], format!("{}/api/$metadata#Incidents", app.base_url));
    assert!(body.get("@odata.nextLink").is_none(), "30 incidents fit one page");
    let incidents = body["value"].as_array().unwrap();
    assert_eq!(incidents.len(), 30);
    let order: Vec<(String, i64)> = incidents
        .iter()
        .map(|i| (i["lastUpdateTime"].as_str().unwrap().to_owned(), i["incidentId"].as_i64().unwrap()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(order, sorted, "lastUpdateTime desc, incidentId desc");

    let versioned: Value = api_get(&app, &token, "/api/v1.0/incidents").await.json().await.unwrap();
    assert_eq!(versioned["value"], body["value"], "/api/v1.0 is the same API");
}

#[tokio::test]
async fn an_incident_keeps_the_documented_shape() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let customer = &partner.consented[0];
    seed_incidents(&app, customer, 3, 42).await;
    let token = token_for(&app, &partner, customer).await;

    let response = api_get(&app, &token, "/api/incidents/1").await;
    assert_eq!(response.status(), 200);
    let mut incident: Value = response.json().await.unwrap();
    assert_eq!(incident["@odata.context"], format!("{}/api/$metadata#Incidents/$entity", app.base_url));
    let keys: Vec<&str> = incident.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "@odata.context",
            "incidentId",
            "redirectIncidentId",
            "incidentName",
            "createdTime",
            "lastUpdateTime",
            "assignedTo",
            "classification",
            "determination",
            "status",
            "severity",
            "tags",
            "comments",
            "alerts"
        ]
    );
    for entity in incident["alerts"][0]["entities"].as_array().unwrap() {
        assert_eq!(entity.as_object().unwrap().len(), 31, "every entity key is present, null where not applicable");
    }
    incident["@odata.context"] = "[base]/api/$metadata#Incidents/$entity".into();
    insta::assert_json_snapshot!("incident_entity", incident);
}

#[tokio::test]
async fn filters_select_by_time_status_and_assignee() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    let customer = &partner.consented[0];
    seed_incidents(&app, customer, 20, 3).await;
    let token = token_for(&app, &partner, customer).await;
    let all: Value = api_get(&app, &token, "/api/incidents").await.json().await.unwrap();
    let all = all["value"].as_array().unwrap().clone();
    let ids = |body: &Value| -> Vec<i64> {
        body["value"].as_array().unwrap().iter().map(|i| i["incidentId"].as_i64().unwrap()).collect()
    };

    // The partner's minute poll: lastUpdateTime ge <a time>, unquoted, `+` as space.
    let pivot = all[5]["lastUpdateTime"].as_str().unwrap().to_owned();
    let recent: Value =
        api_get(&app, &token, &format!("/api/incidents?$filter=lastUpdateTime+ge+{pivot}")).await.json().await.unwrap();
    assert_eq!(ids(&recent), all[..6].iter().map(|i| i["incidentId"].as_i64().unwrap()).collect::<Vec<_>>());

    let first = all[0]["incidentId"].as_i64().unwrap();
    let patched = crate::api_support::api_patch(
        &app,
        &token,
        first,
        &serde_json::json!({"status": "Resolved", "assignedTo": "o'brien@contoso.com"}),
    )
    .await;
    assert_eq!(patched.status(), 200);
    let resolved: Value =
        api_get(&app, &token, "/api/incidents?$filter=status eq 'Resolved'").await.json().await.unwrap();
    assert_eq!(ids(&resolved), vec![first]);
    let assigned: Value = api_get(&app, &token, "/api/incidents?$filter=assignedTo eq 'o''brien@contoso.com'")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&assigned), vec![first]);
    let unassigned: Value =
        api_get(&app, &token, "/api/incidents?$filter=assignedTo eq null").await.json().await.unwrap();
    assert_eq!(ids(&unassigned).len(), 19);
    let not_resolved: Value = api_get(&app, &token, "/api/incidents?$filter=not (status eq 'Resolved') and (assignedTo ne 'x' or createdTime lt 2000-01-01T00:00:00Z)").await.json().await.unwrap();
    assert_eq!(ids(&not_resolved).len(), 19);
}

#[tokio::test]
async fn paging_with_top_and_skip_visits_every_incident_once() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let customer = &partner.consented[0];
    seed_incidents(&app, customer, 23, 5).await;
    let token = token_for(&app, &partner, customer).await;
    let mut seen = Vec::new();
    let mut next = Some(format!("{}/api/incidents?$top=5", app.base_url));
    let mut pages = 0;
    while let Some(url) = next {
        let body: Value = app.client.get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        seen.extend(body["value"].as_array().unwrap().iter().map(|i| i["incidentId"].as_i64().unwrap()));
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
        pages += 1;
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 23);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 23, "no repeats");
    let skipped: Value = api_get(&app, &token, "/api/incidents?$top=100&$skip=20").await.json().await.unwrap();
    assert_eq!(skipped["value"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn unsupported_queries_are_odata_errors_that_name_the_problem() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let token = token_for(&app, &partner, &partner.consented[0]).await;
    for (query, words) in [
        ("$filter=severity eq 'High'", "'severity' is not a filterable property"),
        ("$filter=lastUpdateTime ge yesterday", "position 19"),
        ("$top=101", "$top must be an integer from 1 to 100"),
        ("$skip=-1", "$skip"),
        ("$orderby=createdTime", "'$orderby' is not supported"),
        ("$filter=status eq 'Active'&$filter=status eq 'Resolved'", "more than once"),
    ] {
        let response = api_get(&app, &token, &format!("/api/incidents?{query}")).await;
        let body = assert_api_error(response, 400, "ODataError").await;
        assert!(body["error"]["message"].as_str().unwrap().contains(words), "{query}: {body}");
    }
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_refused() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let token = token_for(&app, &partner, &partner.consented[0]).await;
    assert_api_error(api_get(&app, &token, "/api/incidents/999999").await, 404, "ResourceNotFound").await;
    assert_api_error(api_get(&app, &token, "/api/incidents/abc").await, 400, "InvalidInput").await;
    assert_api_error(api_get(&app, &token, "/api/incidents/-4").await, 400, "InvalidInput").await;
}

/// `@odata.context` names `/api/$metadata`: it resolves, without a token, to a CSDL document
/// that declares every property the incidents carry (an incident's, its comments', alerts',
/// devices' and entities').
#[tokio::test]
async fn the_odata_context_resolves_to_a_document_of_every_property() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let customer = &partner.consented[0];
    seed_incidents(&app, customer, 20, 7).await;
    let token = token_for(&app, &partner, customer).await;
    let page: Value = api_get(&app, &token, "/api/incidents").await.json().await.unwrap();
    let context = page["@odata.context"].as_str().unwrap();
    let (document_url, fragment) = context.split_once('#').unwrap();
    assert_eq!(fragment, "Incidents");
    let response = app.client.get(document_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/xml; charset=utf-8");
    let document = response.text().await.unwrap();
    assert!(
        document.contains(r#"<EntitySet Name="Incidents" EntityType="microsoft.windowsDefenderATP.api.Incident" />"#)
    );
    // The declared properties of each type, from its element to the element's end.
    let declared = |kind: &str, name: &str| -> HashSet<String> {
        let start = document.find(&format!(r#"<{kind} Name="{name}">"#)).unwrap_or_else(|| panic!("{name} declared"));
        let end = start + document[start..].find(&format!("</{kind}>")).unwrap();
        document[start..end]
            .split(r#"<Property Name=""#)
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect()
    };
    let mut seen = [0_usize; 4];
    for incident in page["value"].as_array().unwrap() {
        let check = |value: &Value, kind: &str, name: &str| {
            let declared = declared(kind, name);
            for key in value.as_object().unwrap().keys() {
                assert!(declared.contains(key), "{name}.{key} is not in $metadata");
            }
        };
        check(incident, "EntityType", "Incident");
        for comment in incident["comments"].as_array().unwrap() {
            check(comment, "ComplexType", "Comment");
            seen[0] += 1;
        }
        for alert in incident["alerts"].as_array().unwrap() {
            check(alert, "ComplexType", "Alert");
            seen[1] += 1;
            for device in alert["devices"].as_array().unwrap() {
                check(device, "ComplexType", "Device");
                seen[2] += 1;
            }
            for entity in alert["entities"].as_array().unwrap() {
                check(entity, "ComplexType", "Entity");
                seen[3] += 1;
            }
        }
    }
    assert!(seen[1..].iter().all(|&n| n > 0), "alerts, devices and entities were checked: {seen:?}");
    let versioned = app.client.get(format!("{}/api/v1.0/$metadata", app.base_url)).send().await.unwrap();
    assert_eq!(versioned.text().await.unwrap(), document);
}
