//! The portal in real headless Chromium, driven through WebDriver (chromedriver), as a person
//! uses it: the partner guide from New registration to a copied secret, a customer's consent
//! through the link, and the decoder; then Cancel, a non-admin, a forged form, Revoke and the
//! customer's incident pages. Screenshots of each page go to
//! `target/test-output/screenshots/` to be looked at.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages; `.ci/run` installs them). Without
//! them the test says so and passes, as on a machine where nobody installed a browser.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use threatgate_testkit::{TestApp, spawn_app};

const PASSWORD: &str = "Correct-Horse-42";

struct Browser {
    client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    async fn start() -> Option<Self> {
        let driver_path =
            ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].into_iter().find(|p| Path::new(p).exists())?;
        let chromium =
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists())?;
        let port = free_port();
        let driver = tokio::process::Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        let profile = tempfile::tempdir().ok()?;
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-quic", "--ignore-certificate-errors",
                    "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())
                ]
            }),
        );
        let mut client = None;
        for _ in 0..50 {
            match ClientBuilder::new(hyper_connector())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(connected) => {
                    client = Some(connected);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-output/screenshots");
        std::fs::create_dir_all(&shots).ok()?;
        Some(Self { client: client?, driver, _profile: profile, shots })
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn fill(&self, id: &str, text: &str) {
        let field = self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        let element = self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await;
        element.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    }

    /// The current URL once its path satisfies `wanted` (navigation after a click is
    /// asynchronous), or panics after 10 seconds.
    async fn wait_for_path(&self, wanted: impl Fn(&str) -> bool) -> url::Url {
        for _ in 0..100 {
            let url = self.client.current_url().await.unwrap();
            if wanted(url.path()) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the browser stayed on {}", self.client.current_url().await.unwrap())
    }

    /// The page's main text once it contains `needle` (pages load after clicks), or panics
    /// with what the page shows after 10 seconds.
    async fn wait_for_text(&self, needle: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            if let Ok(main) = self.client.find(Locator::Css("main")).await
                && let Ok(text) = main.text().await
            {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {needle:?}; it shows:\n{last}")
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}

fn hyper_connector() -> hyper_util::client::legacy::connect::HttpConnector {
    hyper_util::client::legacy::connect::HttpConnector::new()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(9515)
}

async fn sign_in(browser: &Browser, app: &TestApp, upn: &str) {
    browser.client.goto(&format!("{}/portal/signin", app.base_url)).await.unwrap();
    browser.fill("upn", upn).await;
    browser.fill("password", PASSWORD).await;
    browser.shot("01-sign-in").await;
    browser.click("form[action='/portal/signin'] button[type=submit]").await;
}

async fn start_or_skip() -> Option<Browser> {
    let browser = Browser::start().await;
    if browser.is_none() {
        eprintln!(
            "SKIPPED browser test: chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)"
        );
    }
    browser
}

async fn sign_out(browser: &Browser, app: &TestApp) {
    browser.client.goto(&format!("{}/portal", app.base_url)).await.unwrap();
    browser.click("form[action='/portal/signout'] button").await;
    // Let the sign-out finish, or its redirect would race the next navigation.
    browser.wait_for_path(|path| path == "/portal/signin").await;
}

#[tokio::test]
async fn a_person_follows_the_partner_guide_and_a_customer_consents_in_chromium() {
    let Some(browser) = start_or_skip().await else { return };
    let app = spawn_app().await;
    let admin = app.admin();
    admin.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await.unwrap();
    admin
        .create_user("fabrikam.onmicrosoft.com", "admin@fabrikam.onmicrosoft.com", Some(PASSWORD), true)
        .await
        .unwrap();
    let customer = admin.create_tenant("Contoso", Some("contoso.onmicrosoft.com")).await.unwrap();
    admin.create_user("contoso.onmicrosoft.com", "admin@contoso.onmicrosoft.com", Some(PASSWORD), true).await.unwrap();
    app.refresh().await;

    // The partner: New registration.
    sign_in(&browser, &app, "admin@fabrikam.onmicrosoft.com").await;
    browser.wait_for_path(|path| path == "/portal").await;
    browser.client.goto(&format!("{}/portal/apps/new", app.base_url)).await.unwrap();
    browser.fill("name", "Fabrikam Threat Connector").await;
    // The redirect URI is this server, so the browser can land there after consent.
    browser.fill("redirect_uri", &format!("{}/healthz", app.base_url)).await;
    browser.shot("02-new-registration").await;
    browser.click("form[action='/portal/apps/new'] button[type=submit]").await;
    let overview_url =
        browser.wait_for_path(|path| path.starts_with("/portal/apps/") && path != "/portal/apps/new").await;
    let app_id = overview_url.path().rsplit('/').next().unwrap().to_owned();
    browser.wait_for_text(&app_id).await;

    // API permissions: type the API's name, tick the roles, add, grant admin consent.
    browser.client.goto(&format!("{}/portal/apps/{app_id}/permissions/add", app.base_url)).await.unwrap();
    browser.fill("api", "Microsoft Threat Protection").await;
    browser.click("form[method='get'] button[type=submit]").await;
    browser.click("input[value='Incident.Read.All']").await;
    browser.click("input[value='Incident.ReadWrite.All']").await;
    browser.shot("03-request-api-permissions").await;
    browser.click(&format!("form[method='post'][action='/portal/apps/{app_id}/permissions/add'] button")).await;
    browser.click(&format!("form[action='/portal/apps/{app_id}/grant'] button")).await;
    browser.wait_for_text("Granted for Fabrikam").await;
    browser.shot("04-overview-permissions").await;

    // Certificates & secrets: a new secret, copied from the page.
    browser.fill("description", "guide").await;
    browser.click(&format!("form[action='/portal/apps/{app_id}/secrets'] button")).await;
    let secret = browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("secret-value"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(secret.len(), 40);
    browser.click("button[data-copy='secret-value']").await;
    let copy = browser.client.find(Locator::Css("button[data-copy='secret-value']")).await.unwrap();
    let mut label = String::new();
    for _ in 0..50 {
        label = copy.text().await.unwrap();
        if label == "Copied" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(label, "Copied", "the copy button copied the secret");
    browser.shot("05-secret-shown-once").await;
    let consent_link = {
        browser.client.goto(overview_url.as_str()).await.unwrap();
        browser
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id("consent-link"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    };
    sign_out(&browser, &app).await;

    // The customer's Global Administrator opens the consent link and accepts.
    browser.client.goto(&consent_link).await.unwrap();
    browser.fill("upn", "admin@contoso.onmicrosoft.com").await;
    browser.fill("password", PASSWORD).await;
    browser.click("form[action='/portal/signin'] button[type=submit]").await;
    browser.wait_for_path(|path| path.ends_with("/oauth2/authorize")).await;
    let page = browser.wait_for_text("Read all incidents").await;
    assert!(page.contains("Fabrikam Threat Connector"), "{page}");
    browser.shot("06-consent").await;
    browser.click("button[value='accept']").await;
    let landed = browser.wait_for_path(|path| path == "/healthz").await;
    assert_eq!(landed.path(), "/healthz");
    assert!(landed.query().unwrap_or_default().contains("admin_consent=True"));

    // The partner's token for the customer now works.
    let token: Value =
        crate::request_v2_token(&app, &customer.id.to_string(), &app_id, &secret).await.json().await.unwrap();
    let access_token = token["access_token"].as_str().expect("a token after consent").to_owned();

    // Enterprise applications, then the decoder with the token.
    browser.client.goto(&format!("{}/portal/enterprise-apps", app.base_url)).await.unwrap();
    browser.wait_for_text("Fabrikam Threat Connector").await;
    browser.shot("07-enterprise-applications").await;
    browser.client.goto(&format!("{}/decode", app.base_url)).await.unwrap();
    browser.fill("token", &access_token).await;
    browser.click("form[action='/decode'] button").await;
    let decoded = browser.wait_for_text("The tenant whose data the token opens: Contoso").await;
    assert!(decoded.contains("Incident.ReadWrite.All"));
    browser.shot("08-decoder").await;
    browser.stop().await;
}

#[tokio::test]
async fn cancel_a_non_admin_a_forged_form_revoke_and_the_incident_pages_in_chromium() {
    let Some(browser) = start_or_skip().await else { return };
    let app = spawn_app().await;
    let partner = threatgate_testkit::seed_partner(&app, &["Incident.ReadWrite.All"]).await;
    let admin = app.admin();
    // A registration whose redirect URI is this server, so the browser lands somewhere real.
    let local = admin
        .register_application(
            "fabrikam.onmicrosoft.com",
            "Fabrikam Local Connector",
            true,
            &[format!("{}/healthz", app.base_url)],
        )
        .await
        .unwrap()
        .app_id
        .to_string();
    admin.add_permissions(local.parse().unwrap(), &["Incident.Read.All".into()]).await.unwrap();
    for (upn, global) in [
        ("admin@northwind.onmicrosoft.com", true),
        ("analyst@northwind.onmicrosoft.com", false),
        ("admin@contoso.onmicrosoft.com", true),
    ] {
        let domain = upn.split('@').nth(1).unwrap();
        admin.create_user(domain, upn, Some(PASSWORD), global).await.unwrap();
    }
    app.refresh().await;
    let link = format!(
        "{}/common/oauth2/authorize?prompt=consent&client_id={local}&response_type=code&sso_reload=true&state=s1",
        app.base_url
    );

    // A user who is not a Global Administrator is told why, and nothing is granted.
    browser.client.goto(&link).await.unwrap();
    sign_in_here(&browser, "analyst@northwind.onmicrosoft.com").await;
    browser.wait_for_text("Fabrikam Local Connector").await;
    browser.click("button[value='accept']").await;
    let refused = browser.wait_for_text("AADSTS90094").await;
    assert!(refused.contains("Global Administrator") && refused.contains("Nothing was granted"), "{refused}");
    browser.shot("09-consent-needs-an-administrator").await;
    sign_out(&browser, &app).await;

    // Cancel: back to the application with error=access_denied, and still no grant.
    browser.client.goto(&link).await.unwrap();
    sign_in_here(&browser, "admin@northwind.onmicrosoft.com").await;
    browser.wait_for_text("Fabrikam Local Connector").await;
    browser.click("button[value='cancel']").await;
    let landed = browser.wait_for_path(|path| path == "/healthz").await;
    let query: std::collections::HashMap<String, String> = landed.query_pairs().into_owned().collect();
    assert_eq!((query["error"].as_str(), query["state"].as_str()), ("access_denied", "s1"));
    let consents = admin.list_consents("northwind.onmicrosoft.com").await.unwrap();
    assert!(consents.iter().all(|c| c.app_id.to_string() != local), "Cancel granted nothing");
    sign_out(&browser, &app).await;

    // Contoso's administrator: the partner's calls show in the incident pages and the log.
    let contoso = &partner.consented[0];
    crate::api_support::seed_incidents(&app, contoso, 12, 3).await;
    let token = crate::api_support::token_for(&app, &partner, contoso).await;
    let listed: Value = crate::api_support::api_get(&app, &token, "/api/incidents?$top=3").await.json().await.unwrap();
    let first = listed["value"][0]["incidentId"].as_i64().unwrap();
    let update = json!({"status": "InProgress", "assignedTo": "soc@fabrikam.com"});
    assert_eq!(crate::api_support::api_patch(&app, &token, first, &update).await.status(), 200);
    sign_in(&browser, &app, "admin@contoso.onmicrosoft.com").await;
    browser.wait_for_path(|path| path == "/portal").await;
    browser.client.goto(&format!("{}/portal/incidents", app.base_url)).await.unwrap();
    browser.wait_for_text("12 in all").await;
    browser.shot("10-incident-queue").await;
    browser.client.find(Locator::Id("status")).await.unwrap().select_by_value("InProgress").await.unwrap();
    browser.click("form.filters button[type=submit]").await;
    let filtered = browser.wait_for_text("GET /api/incidents?$filter=status eq 'InProgress'").await;
    assert!(filtered.contains("soc@fabrikam.com"), "{filtered}");
    browser.click(&format!("a[href='/portal/incidents/{first}']")).await;
    let incident = browser.wait_for_text("Partner access to this incident").await;
    assert!(incident.contains("UpdateIncident") && incident.contains("status=InProgress, assignedTo=soc@fabrikam.com"));
    browser.shot("11-incident").await;
    // A long $filter makes a long detail: the log still fits a 1280-pixel window.
    let long_filter = format!("/api/incidents?$filter=assignedTo eq '{}'", "x".repeat(400));
    assert_eq!(crate::api_support::api_get(&app, &token, &long_filter).await.status(), 200);
    browser.client.goto(&format!("{}/portal/access-log", app.base_url)).await.unwrap();
    let log = browser.wait_for_text("ListIncidents").await;
    assert!(log.contains("Fabrikam Threat Connector"));
    browser.shot("12-access-log").await;
    let page_width = || async {
        let width = browser.client.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap();
        width.as_u64().unwrap()
    };
    assert!(page_width().await <= 1280, "the access log is wider than the window: {}", page_width().await);
    // The audit trail has a page too, with the sign-in that opened this session.
    browser.client.goto(&format!("{}/portal/audit", app.base_url)).await.unwrap();
    let audit = browser.wait_for_text("PortalSignIn").await;
    assert!(audit.contains("admin@contoso.onmicrosoft.com") && audit.contains("IssueToken"), "{audit}");
    browser.shot("12b-audit-trail").await;
    assert!(page_width().await <= 1280, "the audit trail is wider than the window: {}", page_width().await);

    // A forged form (its anti-forgery token replaced) is refused and changes nothing.
    browser.client.goto(&format!("{}/portal/enterprise-apps", app.base_url)).await.unwrap();
    browser.wait_for_text("Fabrikam Threat Connector").await;
    browser
        .client
        .execute("document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged');", vec![])
        .await
        .unwrap();
    browser.click("form[action='/portal/enterprise-apps/revoke'] button").await;
    browser.wait_for_text("The form has expired").await;
    browser.shot("13-forged-form-refused").await;
    assert_eq!(crate::api_support::api_get(&app, &token, "/api/incidents?$top=1").await.status(), 200);

    // Revoke: the application disappears, new tokens get AADSTS700016, the old one a 401.
    browser.client.goto(&format!("{}/portal/enterprise-apps", app.base_url)).await.unwrap();
    browser.wait_for_text("Fabrikam Threat Connector").await;
    browser.click("form[action='/portal/enterprise-apps/revoke'] button").await;
    browser.wait_for_text("No application has been granted access.").await;
    browser.shot("14-after-revoke").await;
    let refused = crate::request_v2_token(&app, contoso, &partner.app_id, &partner.client_secret).await;
    crate::assert_aad_error(refused, 400, "unauthorized_client", 700016).await;
    assert_eq!(crate::api_support::api_get(&app, &token, "/api/incidents?$top=1").await.status(), 401);
    browser.stop().await;
}

/// Signs in on the sign-in page the browser was sent to.
async fn sign_in_here(browser: &Browser, upn: &str) {
    browser.wait_for_path(|path| path == "/portal/signin").await;
    browser.fill("upn", upn).await;
    browser.fill("password", PASSWORD).await;
    browser.click("form[action='/portal/signin'] button[type=submit]").await;
}
