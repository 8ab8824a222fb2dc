//! Microsoft Graph's security API over the same incidents and events
//! (`graph-security-api.md`): tokens for `https://graph.microsoft.com`, incidents listed in pages
//! of 50 with `@odata.nextLink`, `$filter` in Graph's names, `$expand=alerts` with typed evidence,
//! `runHuntingQuery` under both spellings, and every refusal in Graph's error shape.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use threatgate_testkit::{PartnerFixture, TestApp, seed_partner, spawn_app};

use crate::api_support::{api_get, seed_incidents, token_for};

async fn graph_token(app: &TestApp, partner: &PartnerFixture, tenant: &str) -> String {
    let response = app
        .post_form(
            tenant,
            "oauth2/v2.0/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &partner.app_id),
                ("scope", "https://graph.microsoft.com/.default"),
                ("client_secret", &partner.client_secret),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn get(app: &TestApp, token: &str, url: &str) -> reqwest::Response {
    let url = if url.starts_with("http") { url.to_owned() } else { format!("{}{url}", app.base_url) };
    app.client.get(url).bearer_auth(token).send().await.unwrap()
}

/// A refusal in Graph's shape: status, `error.code`, and `innerError` with its ids and date.
async fn assert_graph_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let request_id = response.headers().get("request-id").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    let inner = &body["error"]["innerError"];
    assert_eq!(inner["request-id"].as_str(), request_id.as_deref(), "{body}");
    assert_eq!(inner["client-request-id"], inner["request-id"]);
    let date = inner["date"].as_str().unwrap();
    assert_eq!(date.len(), 19, "no fraction, no zone: {date}");
    body
}

#[tokio::test]
async fn incidents_page_through_graph_as_they_list_through_the_api() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All", "SecurityIncident.Read.All"]).await;
    let (contoso, woodgrove) = (&partner.consented[0], &partner.consented[1]);
    seed_incidents(&app, contoso, 140, 7).await;
    seed_incidents(&app, woodgrove, 10, 8).await;
    let token = graph_token(&app, &partner, contoso).await;

    // Every page, by its nextLink.
    let mut graph_ids = Vec::new();
    let mut url = "/v1.0/security/incidents".to_owned();
    let mut pages = 0;
    loop {
        let response = get(&app, &token, &url).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        assert_eq!(page["@odata.context"], format!("{}/v1.0/$metadata#security/incidents", app.base_url));
        let value = page["value"].as_array().unwrap();
        assert!(value.len() <= 50);
        for incident in value {
            let keys: Vec<&str> = incident.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys[..4], ["id", "tenantId", "status", "incidentWebUrl"]);
            assert!(!keys.contains(&"alerts"), "alerts only when expanded");
            assert_eq!(incident["tenantId"], contoso.as_str());
            let status = incident["status"].as_str().unwrap();
            assert!(["active", "inProgress", "resolved", "redirected"].contains(&status), "{status}");
            graph_ids.push(incident["id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    // The same incidents as the Threat Protection API lists, in the same order.
    let mtp_token = token_for(&app, &partner, contoso).await;
    let listed: Value = api_get(&app, &mtp_token, "/api/incidents?$top=100").await.json().await.unwrap();
    let mut mtp_ids: Vec<String> =
        listed["value"].as_array().unwrap().iter().map(|i| i["incidentId"].to_string()).collect();
    if listed.get("@odata.nextLink").is_some() {
        let rest: Value = api_get(&app, &mtp_token, "/api/incidents?$top=100&$skip=100").await.json().await.unwrap();
        mtp_ids.extend(rest["value"].as_array().unwrap().iter().map(|i| i["incidentId"].to_string()));
    }
    assert_eq!(graph_ids, mtp_ids);
    assert!(graph_ids.len() > 50 && pages >= 2, "{} incidents in {pages} pages", graph_ids.len());
    assert_eq!(graph_ids.iter().collect::<BTreeSet<_>>().len(), graph_ids.len(), "no incident twice");
    // $count=true counts every match, not the page; the next link carries it.
    let counted: Value = get(&app, &token, "/v1.0/security/incidents?$count=true&$top=2").await.json().await.unwrap();
    assert_eq!(counted["@odata.count"], json!(graph_ids.len()));
    assert!(counted["@odata.nextLink"].as_str().unwrap().contains("%24count=true"), "{counted}");

    // $filter in Graph's names; $expand=alerts with typed evidence; /beta as an alias.
    let filtered: Value =
        get(&app, &token, "/v1.0/security/incidents?$filter=status%20eq%20'active'&$expand=alerts&$top=5")
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(filtered["@odata.context"], format!("{}/v1.0/$metadata#security/incidents(alerts())", app.base_url));
    let first = &filtered["value"][0];
    assert_eq!(first["status"], "active");
    let alert = &first["alerts"][0];
    assert_eq!(alert["incidentId"], first["id"]);
    assert!(alert["serviceSource"].is_string() && alert["evidence"].is_array());
    for evidence in alert["evidence"].as_array().unwrap() {
        let kind = evidence["@odata.type"].as_str().unwrap();
        assert!(kind.starts_with("#microsoft.graph.security.") && kind.ends_with("Evidence"), "{kind}");
        assert_eq!(evidence["verdict"], "unknown");
    }
    let id = first["id"].as_str().unwrap();
    // $select keeps the named properties (and the key), on a list and on one incident.
    let narrow: Value =
        get(&app, &token, "/v1.0/security/incidents?$select=status,displayName&$top=3").await.json().await.unwrap();
    let keys: Vec<&str> = narrow["value"][0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "status", "displayName"]);
    let one: Value =
        get(&app, &token, &format!("/v1.0/security/incidents/{id}?$select=severity")).await.json().await.unwrap();
    assert_eq!(one.as_object().unwrap().keys().collect::<Vec<_>>(), ["@odata.context", "id", "severity"]);
    assert_graph_error(get(&app, &token, "/v1.0/security/incidents?$select=nope").await, 400, "BadRequest").await;
    let one: Value = get(&app, &token, &format!("/beta/security/incidents/{id}")).await.json().await.unwrap();
    assert_eq!(one["@odata.context"], format!("{}/beta/$metadata#security/incidents/$entity", app.base_url));
    assert_eq!(one["id"], id);
    assert_eq!(one["displayName"], first["displayName"]);

    // Another tenant's incident is not found, as an unknown one.
    let woodgrove_token = graph_token(&app, &partner, woodgrove).await;
    assert_graph_error(get(&app, &woodgrove_token, &format!("/v1.0/security/incidents/{id}")).await, 404, "NotFound")
        .await;
}

#[tokio::test]
async fn graph_refusals_have_graphs_status_and_body() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All", "ThreatHunting.Read.All"]).await;
    let contoso = &partner.consented[0];
    let graph = graph_token(&app, &partner, contoso).await;
    let mtp = token_for(&app, &partner, contoso).await;

    // Without the incident roles: Graph's 403 wording, listing both sides.
    let body = assert_graph_error(get(&app, &graph, "/v1.0/security/incidents").await, 403, "Forbidden").await;
    assert_eq!(
        body["error"]["message"],
        "Missing application roles. API required roles: SecurityIncident.Read.All,SecurityIncident.ReadWrite.All, application roles: ThreatHunting.Read.All."
    );
    // A token for the other resource, either way round: 401.
    assert_graph_error(get(&app, &mtp, "/v1.0/security/incidents").await, 401, "InvalidAuthenticationToken").await;
    assert_eq!(api_get(&app, &graph, "/api/incidents").await.status(), 401);
    let missing = app.client.get(format!("{}/v1.0/security/incidents", app.base_url)).send().await.unwrap();
    assert_graph_error(missing, 401, "InvalidAuthenticationToken").await;

    let app = spawn_app().await;
    let reader = seed_partner(&app, &["SecurityIncident.Read.All"]).await;
    let token = graph_token(&app, &reader, &reader.consented[0]).await;
    // $top over 50: the observed message, with an empty code and empty details.
    let body = assert_graph_error(get(&app, &token, "/v1.0/security/incidents?$top=51").await, 400, "").await;
    assert_eq!(
        body["error"]["message"],
        "The query specified in the URI is not valid. The limit of '50' for Top query has been exceeded. The value from the incoming request is '51'."
    );
    assert_eq!(body["error"]["details"], json!([]));
    for bad in [
        "/v1.0/security/incidents?$filter=lastUpdateTime%20gt%202026-01-01T00:00:00Z",
        "/v1.0/security/incidents?$filter=status%20eq%20'closed'",
        "/v1.0/security/incidents?$expand=comments",
        "/v1.0/security/incidents?$orderby=createdDateTime%20asc",
        "/v1.0/security/incidents?$top=0",
    ] {
        assert_graph_error(get(&app, &token, bad).await, 400, "BadRequest").await;
    }
    // Paths and methods Graph's routes do not take: Graph's shape too.
    assert_graph_error(get(&app, &token, "/v1.0/security/nothing").await, 404, "NotFound").await;
    let delete = app
        .client
        .delete(format!("{}/v1.0/security/incidents", app.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.headers()["allow"], "GET,HEAD");
    assert_graph_error(delete, 405, "MethodNotAllowed").await;
    let ok = get(&app, &token, "/v1.0/security/incidents?$filter=lastUpdateDateTime%20gt%202026-01-01T00:00:00Z").await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn run_hunting_query_answers_schema_and_results_under_both_spellings() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["ThreatHunting.Read.All"]).await;
    let contoso = &partner.consented[0];
    let token = graph_token(&app, &partner, contoso).await;
    let query = "print FileName = \"cmd.exe\", Count = 2";
    for (path, body) in [
        ("/v1.0/security/runHuntingQuery", json!({"Query": query, "Timespan": "P30D"})),
        ("/v1.0/security/microsoft.graph.security.runHuntingQuery", json!({"query": query})),
        ("/beta/security/runHuntingQuery", json!({"QUERY": query})),
    ] {
        let response =
            app.client.post(format!("{}{path}", app.base_url)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let answer: Value = response.json().await.unwrap();
        let keys: Vec<&str> = answer.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["@odata.context", "schema", "results"]);
        assert!(
            answer["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("$metadata#microsoft.graph.security.huntingQueryResults")
        );
        assert_eq!(
            answer["schema"],
            json!([{"name": "FileName", "type": "String"}, {"name": "Count", "type": "Int64"}])
        );
        assert_eq!(answer["results"], json!([{"FileName": "cmd.exe", "Count": 2}]));
    }
    let post = |body: Value| {
        let request = app.client.post(format!("{}/v1.0/security/runHuntingQuery", app.base_url)).bearer_auth(&token);
        async move { request.json(&body).send().await.unwrap() }
    };
    let body =
        assert_graph_error(post(json!({"Query": "DeviceProcessEvents | wher x"})).await, 400, "BadRequest").await;
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Syntax error"), "{body}");
    assert_graph_error(post(json!({"Querry": "print 1"})).await, 400, "BadRequest").await;
    assert_graph_error(post(json!({})).await, 400, "BadRequest").await;
}

#[tokio::test]
async fn a_patch_and_a_comment_through_graph_are_seen_through_the_api() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All", "SecurityIncident.ReadWrite.All"]).await;
    let contoso = &partner.consented[0];
    seed_incidents(&app, contoso, 5, 3).await;
    let token = graph_token(&app, &partner, contoso).await;
    let listed: Value = get(&app, &token, "/v1.0/security/incidents?$top=1").await.json().await.unwrap();
    let id = listed["value"][0]["id"].as_str().unwrap().to_owned();
    let url = format!("{}/v1.0/security/incidents/{id}", app.base_url);

    // The SDK's body: camelCase members, only the set properties.
    let body = json!({"classification": "truePositive", "customTags": ["Demo"], "determination": "multiStagedAttack", "status": "inProgress", "assignedTo": "secop@contoso.com"});
    let response = app.client.patch(&url).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["@odata.context"], format!("{}/v1.0/$metadata#security/incidents/$entity", app.base_url));
    assert_eq!(
        (&updated["classification"], &updated["determination"], &updated["status"], &updated["customTags"]),
        (&json!("truePositive"), &json!("multiStagedAttack"), &json!("inProgress"), &json!(["Demo"]))
    );
    // One comment as an object, one as a one-element array; the answer lists them all.
    for body in [
        json!({"@odata.type": "microsoft.graph.security.alertComment", "comment": "first"}),
        json!([{"comment": "second"}]),
    ] {
        let response = app.client.post(format!("{url}/comments")).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let comments: Value = app
        .client
        .post(format!("{url}/comments"))
        .bearer_auth(&token)
        .json(&json!({"comment": "third"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        comments["@odata.context"],
        format!("{}/v1.0/$metadata#security/incidents('{id}')/comments", app.base_url)
    );
    let texts: Vec<&str> =
        comments["value"].as_array().unwrap().iter().map(|c| c["comment"].as_str().unwrap()).collect();
    assert_eq!(texts[texts.len() - 3..], ["first", "second", "third"]);
    assert!(
        comments["value"][0]["createdByDisplayName"].is_string() && comments["value"][0]["createdDateTime"].is_string()
    );

    // The Threat Protection API sees the same incident changed.
    let mtp = token_for(&app, &partner, contoso).await;
    let seen: Value = api_get(&app, &mtp, &format!("/api/incidents/{id}")).await.json().await.unwrap();
    assert_eq!(
        (&seen["classification"], &seen["status"], &seen["tags"]),
        (&json!("TruePositive"), &json!("InProgress"), &json!(["Demo"]))
    );
    assert_eq!(seen["comments"].as_array().unwrap().len(), texts.len());

    // Refusals: a property Threatgate does not change, a bad member, another tenant's id, and
    // a reader's token.
    for (body, code) in [(json!({"severity": "high"}), "BadRequest"), (json!({"status": "closed"}), "BadRequest")] {
        let response = app.client.patch(&url).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_graph_error(response, 400, code).await;
    }
    let woodgrove = graph_token(&app, &partner, &partner.consented[1]).await;
    let response =
        app.client.patch(&url).bearer_auth(&woodgrove).json(&json!({"status": "resolved"})).send().await.unwrap();
    assert_graph_error(response, 404, "NotFound").await;
}

#[tokio::test]
async fn alerts_v2_lists_and_gets_the_alerts_of_the_tenants_incidents() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["SecurityAlert.Read.All", "SecurityIncident.Read.All"]).await;
    let (contoso, woodgrove) = (&partner.consented[0], &partner.consented[1]);
    seed_incidents(&app, contoso, 30, 5).await;
    let token = graph_token(&app, &partner, contoso).await;

    // Every alert of the incidents, paged; each names its incident.
    let expanded: Value =
        get(&app, &token, "/v1.0/security/incidents?$expand=alerts&$top=50").await.json().await.unwrap();
    let mut expected: Vec<String> = Vec::new();
    for incident in expanded["value"].as_array().unwrap() {
        for alert in incident["alerts"].as_array().unwrap() {
            expected.push(alert["id"].as_str().unwrap().to_owned());
        }
    }
    let mut listed = Vec::new();
    let mut url = "/v1.0/security/alerts_v2?$top=7".to_owned();
    loop {
        let page: Value = get(&app, &token, &url).await.json().await.unwrap();
        assert_eq!(page["@odata.context"], format!("{}/v1.0/$metadata#security/alerts_v2", app.base_url));
        for alert in page["value"].as_array().unwrap() {
            assert_eq!(alert["tenantId"], contoso.as_str());
            listed.push(alert["id"].as_str().unwrap().to_owned());
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(listed, expected, "the same alerts, in the incidents' order");

    // $filter: a time range and a status, as connectors send them.
    let first: Value =
        get(&app, &token, &format!("/v1.0/security/alerts_v2/{}", listed[0])).await.json().await.unwrap();
    assert_eq!(first["@odata.context"], format!("{}/v1.0/$metadata#security/alerts_v2/$entity", app.base_url));
    assert_eq!(first["id"], listed[0].as_str());
    let created = first["createdDateTime"].as_str().unwrap();
    let status = first["status"].as_str().unwrap();
    let filter = format!("createdDateTime ge {created} and createdDateTime le {created} and status eq '{status}'");
    let url = format!("/v1.0/security/alerts_v2?$filter={}", urlencode(&filter));
    let filtered: Value = get(&app, &token, &url).await.json().await.unwrap();
    let values = filtered["value"].as_array().unwrap();
    assert!(values.iter().any(|a| a["id"] == first["id"]));
    assert!(values.iter().all(|a| a["createdDateTime"] == created && a["status"] == status));

    // Refusals.
    let refused = get(
        &app,
        &token,
        &format!("/v1.0/security/alerts_v2?$filter={}", urlencode("status eq 'new' or status eq 'resolved'")),
    )
    .await;
    assert_graph_error(refused, 400, "BadRequest").await;
    let refused = get(
        &app,
        &token,
        &format!("/v1.0/security/alerts_v2?$filter={}", urlencode("investigationState eq 'running'")),
    )
    .await;
    assert_graph_error(refused, 400, "BadRequest").await;
    let woodgrove_token = graph_token(&app, &partner, woodgrove).await;
    let other = get(&app, &woodgrove_token, &format!("/v1.0/security/alerts_v2/{}", listed[0])).await;
    assert_graph_error(other, 404, "NotFound").await;
}

/// Percent-encodes a query or form value.
pub(crate) fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn graph_shapes_are_pinned() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["SecurityIncident.Read.All"]).await;
    let customer = &partner.consented[0];
    seed_incidents(&app, customer, 3, 42).await;
    let token = graph_token(&app, &partner, customer).await;
    let incident = get(&app, &token, "/v1.0/security/incidents/1?$expand=alerts").await.text().await.unwrap();
    let refused = get(&app, &token, "/v1.0/security/incidents?$top=51").await.text().await.unwrap();
    // The tenant, the address and the request's ids differ from run to run.
    let stable = |text: String| -> Value {
        let text = text.replace(customer.as_str(), "[tenant]").replace(&app.base_url, "[base]");
        let mut value: Value = serde_json::from_str(&text).unwrap();
        if let Some(inner) = value.pointer_mut("/error/innerError") {
            *inner = json!({"date": "[date]", "request-id": "[id]", "client-request-id": "[id]"});
        }
        value
    };
    insta::assert_json_snapshot!("graph_incident_with_alerts", stable(incident));
    insta::assert_json_snapshot!("graph_top_refusal", stable(refused));
}

#[tokio::test]
async fn an_alert_changed_through_graph_is_changed_in_its_incident() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All", "SecurityAlert.ReadWrite.All"]).await;
    let contoso = &partner.consented[0];
    seed_incidents(&app, contoso, 5, 9).await;
    let token = graph_token(&app, &partner, contoso).await;
    let listed: Value = get(&app, &token, "/v1.0/security/alerts_v2?$top=1").await.json().await.unwrap();
    let alert = &listed["value"][0];
    let (id, incident_id) = (alert["id"].as_str().unwrap(), alert["incidentId"].as_str().unwrap());
    let url = format!("{}/v1.0/security/alerts_v2/{id}", app.base_url);
    let body = json!({"status": "resolved", "classification": "truePositive", "determination": "malware", "assignedTo": "soc@contoso.com"});
    let response = app.client.patch(&url).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["@odata.context"], format!("{}/v1.0/$metadata#security/alerts_v2/$entity", app.base_url));
    assert_eq!(
        (&updated["status"], &updated["classification"], &updated["determination"], &updated["assignedTo"]),
        (&json!("resolved"), &json!("truePositive"), &json!("malware"), &json!("soc@contoso.com"))
    );
    assert!(updated["resolvedDateTime"].is_string());
    // The incident, through the Threat Protection API, holds the changed alert.
    let mtp = token_for(&app, &partner, contoso).await;
    let incident: Value = api_get(&app, &mtp, &format!("/api/incidents/{incident_id}")).await.json().await.unwrap();
    let held = incident["alerts"].as_array().unwrap().iter().find(|a| a["alertId"] == id).unwrap();
    assert_eq!((&held["status"], &held["classification"]), (&json!("Resolved"), &json!("TruePositive")));
    assert_eq!(incident["lastUpdateTime"], held["lastUpdatedTime"]);

    for (body, status, code) in [
        (json!({"status": "closed"}), 400, "BadRequest"),
        (json!({"customDetails": {"a": "b"}}), 400, "BadRequest"),
        (json!({"title": "x"}), 400, "BadRequest"),
    ] {
        let response = app.client.patch(&url).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_graph_error(response, status, code).await;
    }
    let unknown = format!("{}/v1.0/security/alerts_v2/da-no-such-alert", app.base_url);
    let response = app.client.patch(&unknown).bearer_auth(&token).json(&json!({"status": "new"})).send().await.unwrap();
    assert_graph_error(response, 404, "NotFound").await;
}

async fn post(app: &TestApp, token: &str, url: &str, body: &Value) -> reqwest::Response {
    app.client.post(format!("{}{url}", app.base_url)).bearer_auth(token).json(body).send().await.unwrap()
}

#[tokio::test]
async fn alert_comments_are_kept_and_shown_wherever_the_alert_is() {
    let app = spawn_app().await;
    let partner =
        seed_partner(&app, &["Incident.Read.All", "SecurityAlert.ReadWrite.All", "SecurityIncident.Read.All"]).await;
    let (contoso, woodgrove) = (&partner.consented[0], &partner.consented[1]);
    seed_incidents(&app, contoso, 4, 11).await;
    let token = graph_token(&app, &partner, contoso).await;
    // Path segments in any case, as the docs write them.
    let listed: Value = get(&app, &token, "/V1.0/Security/alerts_V2?$top=1").await.json().await.unwrap();
    let alert = &listed["value"][0];
    assert_eq!(alert["comments"], json!([]));
    let (id, incident_id) = (alert["id"].as_str().unwrap(), alert["incidentId"].as_str().unwrap());
    let url = format!("/v1.0/security/alerts_v2/{id}/comments");

    // The documented object, then the one-element array msgraph-sdk sends.
    let first = post(
        &app,
        &token,
        &url,
        &json!({"@odata.type": "microsoft.graph.security.alertComment", "comment": "triaged"}),
    )
    .await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["@odata.context"], format!("{}/v1.0/$metadata#security/alerts_v2('{id}')/comments", app.base_url));
    assert_eq!(first["value"].as_array().unwrap().len(), 1);
    let second: Value = post(&app, &token, &url, &json!([{"comment": "escalated"}])).await.json().await.unwrap();
    let texts: Vec<&str> = second["value"].as_array().unwrap().iter().map(|c| c["comment"].as_str().unwrap()).collect();
    assert_eq!(texts, ["triaged", "escalated"]);
    let comment = &second["value"][1];
    assert_eq!(comment["createdByDisplayName"], "Fabrikam Threat Connector");
    assert!(comment["createdDateTime"].as_str().unwrap().ends_with('Z'));

    // The alert, its list, and its incident expanded all show them; $select keeps what is named.
    let got: Value = get(&app, &token, &format!("/v1.0/security/alerts_v2/{id}")).await.json().await.unwrap();
    assert_eq!(got["comments"], second["value"]);
    let selected: Value = get(&app, &token, &format!("/v1.0/security/alerts_v2/{id}?$select=status,comments"))
        .await
        .json()
        .await
        .unwrap();
    let keys: Vec<&str> = selected.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["@odata.context", "id", "status", "comments"]);
    assert_eq!(selected["comments"], second["value"]);
    let page: Value = get(&app, &token, "/v1.0/security/alerts_v2?$select=title").await.json().await.unwrap();
    assert!(page["value"].as_array().unwrap().iter().all(|a| a.as_object().unwrap().len() == 2));
    let expanded: Value = get(&app, &token, &format!("/v1.0/security/incidents/{incident_id}?$expand=alerts"))
        .await
        .json()
        .await
        .unwrap();
    let held = expanded["alerts"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap();
    assert_eq!(held["comments"], second["value"]);
    // The Threat Protection API's alert has no comments: its document is unchanged.
    let mtp = token_for(&app, &partner, contoso).await;
    let incident: Value = api_get(&app, &mtp, &format!("/api/incidents/{incident_id}")).await.json().await.unwrap();
    let held = incident["alerts"].as_array().unwrap().iter().find(|a| a["alertId"] == id).unwrap();
    assert!(held.get("comments").is_none(), "{held}");

    // Refusals: an empty or oversized comment, an unknown option, another tenant's alert, no role.
    for body in [json!({"comment": " "}), json!({"text": "x"}), json!([{"comment": "a"}, {"comment": "b"}])] {
        assert_graph_error(post(&app, &token, &url, &body).await, 400, "BadRequest").await;
    }
    let long = json!({"comment": "x".repeat(4097)});
    assert_graph_error(post(&app, &token, &url, &long).await, 400, "BadRequest").await;
    let refused = get(&app, &token, &format!("/v1.0/security/alerts_v2/{id}?$select=nonsense")).await;
    assert_graph_error(refused, 400, "BadRequest").await;
    let woodgrove_token = graph_token(&app, &partner, woodgrove).await;
    let other = post(&app, &woodgrove_token, &url, &json!({"comment": "x"})).await;
    assert_graph_error(other, 404, "NotFound").await;
    let reader = seed_partner_reader(&app, contoso).await;
    let refused = post(&app, &reader, &url, &json!({"comment": "x"})).await;
    let body = assert_graph_error(refused, 403, "Forbidden").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("SecurityAlert.ReadWrite.All"), "{body}");

    // The customer's access log shows each Graph call by its operation (it is written in the
    // background, so it is read until it has them).
    let wanted = ["ListAlerts", "CommentAlert", "GetAlert", "GetIncident"];
    let scope = threatgate_domain::TenantScope::for_administrator(threatgate_domain::TenantId::parse(contoso).unwrap());
    let query = threatgate_store::AccessLogQuery { limit: 1000, ..Default::default() };
    let mut operations = Vec::new();
    for _ in 0..200 {
        let entries = app.identity.store().list_access_entries(&scope, &query).await.unwrap();
        operations = entries.iter().map(|e| e.entry.operation.as_str()).collect::<Vec<_>>();
        if wanted.iter().all(|w| operations.contains(w)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(wanted.iter().all(|w| operations.contains(w)), "{operations:?}");
}

/// A Graph token of a second application that may only read alerts in `tenant`.
async fn seed_partner_reader(app: &TestApp, tenant: &str) -> String {
    let admin = app.admin();
    let registered = admin.register_application(tenant, "Alert Reader", false, &[]).await.unwrap();
    admin.add_permissions(registered.app_id, &["SecurityAlert.Read.All".into()]).await.unwrap();
    let secret = admin.add_secret(registered.app_id, "test", None).await.unwrap();
    admin.grant_consent(tenant, registered.app_id).await.unwrap();
    app.refresh().await;
    let fixture = PartnerFixture {
        partner_tenant: tenant.to_owned(),
        app_id: registered.app_id.to_string(),
        client_secret: secret.value.expose().to_owned(),
        secret_key_id: secret.record.key_id.to_string(),
        consented: vec![tenant.to_owned()],
        not_consented: String::new(),
    };
    graph_token(app, &fixture, tenant).await
}

const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
const SECURITY_INCIDENT_READ_ALL: &str = "45cc0394-e837-488b-a098-1918f48d186c";

/// The partner's onboarding script through Graph alone: register a multi-tenant application
/// that asks for a Graph role, give it a secret, create its service principal in a customer
/// tenant and assign the role there; the new application then reads the customer's incidents.
#[tokio::test]
async fn a_partner_onboards_a_customer_through_graphs_directory_api() {
    let app = spawn_app().await;
    let manager = seed_partner(&app, &["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"]).await;
    let contoso = &manager.consented[0];
    seed_incidents(&app, contoso, 3, 5).await;
    // The manager acts in its own tenant too.
    app.admin().grant_consent("fabrikam.onmicrosoft.com", manager.app()).await.unwrap();
    app.refresh().await;
    let home = graph_token(&app, &manager, &manager.partner_tenant).await;

    // 1. Register the connector in the partner's tenant.
    let body = json!({
        "displayName": "Fabrikam Graph Connector",
        "signInAudience": "AzureADMultipleOrgs",
        "requiredResourceAccess": [{"resourceAppId": GRAPH, "resourceAccess": [{"id": SECURITY_INCIDENT_READ_ALL, "type": "Role"}]}],
    });
    let response = post(&app, &home, "/v1.0/applications", &body).await;
    assert_eq!(response.status(), 201);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(registered["@odata.context"], format!("{}/v1.0/$metadata#applications/$entity", app.base_url));
    let keys: Vec<&str> = registered.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys[..5], ["@odata.context", "id", "deletedDateTime", "isFallbackPublicClient", "appId"]);
    assert_eq!(registered["signInAudience"], "AzureADMultipleOrgs");
    assert_eq!(registered["publisherDomain"], "fabrikam.onmicrosoft.com");
    assert_eq!(
        registered["requiredResourceAccess"],
        json!([{"resourceAccess": [{"id": SECURITY_INCIDENT_READ_ALL, "type": "Role"}], "resourceAppId": GRAPH}])
    );
    let connector = registered["appId"].as_str().unwrap().to_owned();

    // 2. A secret, by the alternate key.
    let response = post(
        &app,
        &home,
        &format!("/v1.0/applications(appId='{connector}')/addPassword"),
        &json!({"passwordCredential": {"displayName": "ci"}}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let password: Value = response.json().await.unwrap();
    let secret = password["secretText"].as_str().unwrap().to_owned();
    assert_eq!(password["hint"].as_str().unwrap(), &secret[..3]);
    assert_eq!(password["displayName"], "ci");
    let read_back: Value = get(&app, &home, &format!("/v1.0/applications/{}", registered["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read_back["passwordCredentials"][0]["secretText"], Value::Null, "a secret is shown once");

    // 3. In the customer's tenant: its service principal (once), Graph's with its roles, the
    //    role assigned on Graph's (paths in the older docs' lower case).
    let customer = graph_token(&app, &manager, contoso).await;
    let response = post(&app, &customer, "/v1.0/servicePrincipals", &json!({"appId": connector})).await;
    assert_eq!(response.status(), 201);
    let principal: Value = response.json().await.unwrap();
    assert_eq!(principal["appId"], connector.as_str());
    assert_eq!(principal["appOwnerOrganizationId"], manager.partner_tenant.as_str());
    let again = post(&app, &customer, "/v1.0/servicePrincipals", &json!({"appId": connector})).await;
    assert_graph_error(again, 409, "Request_MultipleObjectsWithSameKeyValue").await;
    let graph: Value =
        get(&app, &customer, &format!("/v1.0/serviceprincipals(appId='{GRAPH}')")).await.json().await.unwrap();
    assert_eq!(graph["displayName"], "Microsoft Graph");
    let role =
        graph["appRoles"].as_array().unwrap().iter().find(|r| r["value"] == "SecurityIncident.Read.All").unwrap();
    assert_eq!(role["id"], SECURITY_INCIDENT_READ_ALL);
    let found: Value = get(&app, &customer, "/v1.0/servicePrincipals?$filter=displayName%20eq%20'Microsoft%20Graph'")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["value"][0]["id"], graph["id"]);
    let assignment_body =
        json!({"principalId": principal["id"], "resourceId": graph["id"], "appRoleId": SECURITY_INCIDENT_READ_ALL});
    let assigned_to = format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo", graph["id"].as_str().unwrap());
    let response = post(&app, &customer, &assigned_to, &assignment_body).await;
    assert_eq!(response.status(), 201);
    let assignment: Value = response.json().await.unwrap();
    assert_eq!(
        (&assignment["principalDisplayName"], &assignment["resourceDisplayName"], &assignment["principalType"]),
        (&json!("Fabrikam Graph Connector"), &json!("Microsoft Graph"), &json!("ServicePrincipal"))
    );
    let twice = post(&app, &customer, &assigned_to, &assignment_body).await;
    assert_graph_error(twice, 400, "Request_BadRequest").await;
    let of_client: Value = get(
        &app,
        &customer,
        &format!("/v1.0/servicePrincipals/{}/appRoleAssignments", principal["id"].as_str().unwrap()),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        of_client["value"],
        json!([assignment
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.starts_with('@'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>()])
    );

    // 4. The connector gets a Graph token for the customer holding the role, and reads.
    app.refresh().await;
    let connector_fixture = PartnerFixture {
        partner_tenant: manager.partner_tenant.clone(),
        app_id: connector.clone(),
        client_secret: secret,
        secret_key_id: password["keyId"].as_str().unwrap().to_owned(),
        consented: vec![contoso.clone()],
        not_consented: String::new(),
    };
    let token = graph_token(&app, &connector_fixture, contoso).await;
    assert_eq!(get(&app, &token, "/v1.0/security/incidents").await.status(), 200);

    // Refusals: no directory role, another tenant's application, a role Graph does not define.
    let refused = post(&app, &token, "/v1.0/applications", &json!({"displayName": "x"})).await;
    let body = assert_graph_error(refused, 403, "Authorization_RequestDenied").await;
    assert_eq!(body["error"]["message"], "Insufficient privileges to complete the operation.");
    let elsewhere = get(&app, &customer, &format!("/v1.0/applications(appId='{connector}')")).await;
    assert_graph_error(elsewhere, 404, "Request_ResourceNotFound").await;
    let bad_role = json!({"displayName": "x", "requiredResourceAccess": [{"resourceAppId": GRAPH, "resourceAccess": [{"id": "00000000-0000-0000-0000-000000000001", "type": "Role"}]}]});
    assert_graph_error(post(&app, &home, "/v1.0/applications", &bad_role).await, 400, "Request_BadRequest").await;
    assert_graph_error(
        post(&app, &home, "/v1.0/applications", &json!({"signInAudience": "AzureADMyOrg"})).await,
        400,
        "Request_BadRequest",
    )
    .await;
    // A credential refused is refused before anything is created.
    let far = json!({"displayName": "Too far", "passwordCredentials": [{"displayName": "x", "endDateTime": "2099-01-01T00:00:00Z"}]});
    assert_graph_error(post(&app, &home, "/v1.0/applications", &far).await, 400, "Request_BadRequest").await;
    let listed: Value =
        get(&app, &home, "/v1.0/applications?$filter=displayName%20eq%20'Too%20far'").await.json().await.unwrap();
    assert_eq!(listed["value"], json!([]));

    // 5. The assignment removed: the connector holds no role in the tenant, so its tokens are
    //    refused as a withdrawn consent's are.
    let response = app
        .client
        .delete(format!("{}{assigned_to}/{}", app.base_url, assignment["id"].as_str().unwrap()))
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    app.refresh().await;
    let token = graph_token(&app, &connector_fixture, contoso).await;
    assert_graph_error(get(&app, &token, "/v1.0/security/incidents").await, 401, "InvalidAuthenticationToken").await;

    // The audit trail of the customer names the manager for each change.
    let trail = app
        .identity
        .store()
        .list_audit_events(
            &threatgate_domain::TenantScope::for_administrator(threatgate_domain::TenantId::parse(contoso).unwrap()),
            &threatgate_store::AuditQuery { since: None, until: None, limit: 100 },
        )
        .await
        .unwrap();
    let operations: Vec<(&str, &str)> =
        trail.iter().map(|e| (e.event.operation.as_str(), e.event.actor.as_str())).collect();
    for operation in ["CreateServicePrincipal", "AssignAppRole", "RemoveAppRoleAssignment"] {
        assert!(operations.contains(&(operation, "Fabrikam Threat Connector")), "{operation}: {operations:?}");
    }
}
