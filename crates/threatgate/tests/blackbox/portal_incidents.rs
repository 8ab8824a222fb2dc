//! The customer's incident pages and the partner access log: what a partner's application
//! did in a tenant is visible to that tenant's Global Administrators, page by page and as
//! JSON lines, and to nobody else.

use serde_json::{Value, json};
use threatgate_testkit::{TestApp, seed_partner, spawn_app};

use crate::api_support::{api_get, api_patch, seed_incidents, token_for};
use crate::portal::{PASSWORD, browser, location, sign_in};

async fn contoso_user(app: &TestApp, upn: &str, global_admin: bool) -> reqwest::Client {
    app.admin().create_user("contoso.onmicrosoft.com", upn, Some(PASSWORD), global_admin).await.unwrap();
    let browser = browser(app);
    assert_eq!(sign_in(app, &browser, upn, "/portal").await.status(), 303);
    browser
}

async fn get(app: &TestApp, browser: &reqwest::Client, path: &str) -> (u16, String) {
    let response = browser.get(format!("{}{path}", app.base_url)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_customer_sees_its_incidents_and_every_call_the_partner_made() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    let (contoso, woodgrove) = (&partner.consented[0], &partner.consented[1]);
    seed_incidents(&app, contoso, 30, 7).await;
    seed_incidents(&app, woodgrove, 5, 8).await;

    // The partner works in Contoso: a list, a get, an update, an unknown id, a bad filter,
    // and a filter with markup in it.
    let token = token_for(&app, &partner, contoso).await;
    let listed: Value = api_get(&app, &token, "/api/incidents?$top=5").await.json().await.unwrap();
    let ids: Vec<i64> = listed["value"].as_array().unwrap().iter().map(|i| i["incidentId"].as_i64().unwrap()).collect();
    assert_eq!(api_get(&app, &token, &format!("/api/incidents/{}", ids[0])).await.status(), 200);
    let update =
        json!({"status": "Resolved", "classification": "TruePositive", "comment": "secret-looking comment text"});
    assert_eq!(api_patch(&app, &token, ids[0], &update).await.status(), 200);
    assert_eq!(api_get(&app, &token, "/api/incidents/999999").await.status(), 404);
    assert_eq!(api_get(&app, &token, "/api/incidents?$filter=status%20eq").await.status(), 400);
    let markup = "/api/incidents?$filter=assignedTo%20eq%20%27%3Cscript%3Ealert(1)%3C%2Fscript%3E%27";
    assert_eq!(api_get(&app, &token, markup).await.status(), 200);
    // …and in Woodgrove, which Contoso must not see; and once with a bad token, which is
    // nobody's business but the server's trace.
    let other = token_for(&app, &partner, woodgrove).await;
    assert_eq!(api_get(&app, &other, "/api/incidents").await.status(), 200);
    assert_eq!(api_get(&app, "not-a-token", "/api/incidents").await.status(), 401);

    let admin = contoso_user(&app, "admin@contoso.onmicrosoft.com", true).await;

    // The queue: everything, then the API's filters from the form.
    let (status, queue) = get(&app, &admin, "/portal/incidents").await;
    assert_eq!(status, 200);
    assert!(queue.contains("30 in all"), "{queue}");
    assert!(queue.contains(&format!("href=\"/portal/incidents/{}\"", ids[1])));
    let (_, resolved) = get(&app, &admin, "/portal/incidents?status=Resolved").await;
    assert_eq!(resolved.matches("<tr>").count() - 1, 1, "one resolved incident: {resolved}");
    assert!(resolved.contains(&format!("href=\"/portal/incidents/{}\"", ids[0])));
    assert!(resolved.contains("$filter=status eq &#39;Resolved&#39;"), "the page shows the equivalent API call");
    let (status, refused) = get(&app, &admin, "/portal/incidents?filter=status%20eq").await;
    assert_eq!(status, 400);
    assert!(refused.contains("The filter was refused"));
    let (_, second_page) = get(&app, &admin, "/portal/incidents?page=1").await;
    assert!(second_page.contains("Showing from number 26"));
    assert!(second_page.contains("← Newer"));

    // One incident: alerts, entities, the comment, and the partner's own access to it.
    let (status, incident) = get(&app, &admin, &format!("/portal/incidents/{}", ids[0])).await;
    assert_eq!(status, 200);
    assert!(incident.contains("Alerts ("));
    assert!(incident.contains("secret-looking comment text"), "comments are shown to the tenant");
    assert!(incident.contains("UpdateIncident") && incident.contains("GetIncident"));
    assert!(incident.contains("status=Resolved, classification=TruePositive, comment added"));
    let woodgrove_incident: Value = api_get(&app, &other, "/api/incidents?$top=1").await.json().await.unwrap();
    let theirs = woodgrove_incident["value"][0]["incidentId"].as_i64().unwrap();
    assert_eq!(get(&app, &admin, &format!("/portal/incidents/{theirs}")).await.0, 404, "another tenant's incident");
    assert_eq!(get(&app, &admin, "/portal/incidents/%3Cx%3E").await.0, 404);

    // The access log page: every call, escaped.
    let (status, log) = get(&app, &admin, "/portal/access-log").await;
    assert_eq!(status, 200);
    for expected in ["ListIncidents", "GetIncident", "UpdateIncident", "ResourceNotFound", "ODataError"] {
        assert!(log.contains(expected), "{expected} missing from the access log page");
    }
    assert!(!log.contains("<script>"), "markup from a caller is escaped");
    assert!(log.contains("alert(1)"), "{log}");

    // And as JSON lines: exactly Contoso's six calls, newest first, without any token.
    let (status, lines) = get(&app, &admin, "/portal/access-log.jsonl").await;
    assert_eq!(status, 200);
    let entries: Vec<Value> = lines.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let operations: Vec<(&str, u64)> =
        entries.iter().map(|e| (e["operation"].as_str().unwrap(), e["status"].as_u64().unwrap())).collect();
    assert_eq!(
        operations,
        [
            ("ListIncidents", 200),
            ("ListIncidents", 400),
            ("GetIncident", 404),
            ("UpdateIncident", 200),
            ("GetIncident", 200),
            ("ListIncidents", 200)
        ]
    );
    let first_call = &entries[5];
    assert_eq!(first_call["incidentIds"], json!(ids));
    assert_eq!(first_call["applicationId"], partner.app_id.as_str());
    assert_eq!(first_call["tenantId"], contoso.as_str());
    assert_eq!(first_call["detail"], "$top=5");
    assert!(entries.iter().all(|e| e["clientAddress"] == "127.0.0.1" && e["time"].as_str().unwrap().ends_with('Z')));
    assert_eq!(entries[3]["detail"], "status=Resolved, classification=TruePositive, comment added");
    assert!(entries[2]["result"].as_str().unwrap().starts_with("ResourceNotFound: "));
    assert!(!lines.contains(&token) && !lines.contains("eyJ"), "no token text in the log");
    assert!(!lines.contains("secret-looking"), "no comment text in the log");
    let (_, recent) = get(&app, &admin, "/portal/access-log.jsonl?days=1").await;
    assert_eq!(recent.lines().count(), 6);
}

#[tokio::test]
async fn only_the_tenants_global_administrators_see_incidents_and_the_log() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    seed_incidents(&app, &partner.consented[0], 3, 1).await;

    let anonymous = browser(&app);
    let response = anonymous.get(format!("{}/portal/incidents", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/portal/signin?return="));
    let response = anonymous.get(format!("{}/portal/access-log.jsonl", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 303, "the export needs a session too");

    let analyst = contoso_user(&app, "analyst@contoso.onmicrosoft.com", false).await;
    for path in ["/portal/incidents", "/portal/incidents/1", "/portal/access-log", "/portal/access-log.jsonl"] {
        let (status, page) = get(&app, &analyst, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(page.contains("Global Administrators only"));
    }

    // Woodgrove's administrator sees Woodgrove's (empty) queue, never Contoso's incidents.
    app.admin()
        .create_user("woodgrove.onmicrosoft.com", "admin@woodgrove.onmicrosoft.com", Some(PASSWORD), true)
        .await
        .unwrap();
    let woodgrove = browser(&app);
    sign_in(&app, &woodgrove, "admin@woodgrove.onmicrosoft.com", "/portal").await;
    let (status, queue) = get(&app, &woodgrove, "/portal/incidents").await;
    assert_eq!(status, 200);
    assert!(queue.contains("0 in all") && queue.contains("No incident matches."));

    // A read-only partner's refused update is logged as the 403 it got.
    let token = token_for(&app, &partner, &partner.consented[0]).await;
    assert_eq!(api_patch(&app, &token, 1, &json!({"status": "Resolved"})).await.status(), 403);
    let admin = contoso_user(&app, "admin@contoso.onmicrosoft.com", true).await;
    let (_, lines) = get(&app, &admin, "/portal/access-log.jsonl").await;
    let entry: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!((entry["operation"].as_str(), entry["status"].as_u64()), (Some("UpdateIncident"), Some(403)));
    assert!(entry["result"].as_str().unwrap().starts_with("Forbidden: "));
}
