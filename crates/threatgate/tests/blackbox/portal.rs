//! The portal over HTTP, as a browser would use it (cookies, forms, redirects): the consent
//! link, Cancel, a non-admin, bad client ids and redirect URIs, CSRF, revocation, the decoder,
//! sign-in throttling and sign-out.

use serde_json::Value;
use threatgate_testkit::{PartnerFixture, TestApp, seed_partner, spawn_app};

use crate::{assert_aad_error, request_v2_token};

pub const PASSWORD: &str = "Correct-Horse-42";

/// A browser: its own cookie jar, no automatic redirects, trusting the test CA.
pub fn browser(app: &TestApp) -> reqwest::Client {
    let pem = std::fs::read(&app.ca_certificate).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of a hidden input in an HTML page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

pub async fn sign_in(app: &TestApp, browser: &reqwest::Client, upn: &str, return_to: &str) -> reqwest::Response {
    let form_page = browser
        .get(format!("{}/portal/signin?return={return_to}", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&form_page, "csrf");
    browser
        .post(format!("{}/portal/signin", app.base_url))
        .form(&[("csrf", csrf.as_str()), ("upn", upn), ("password", PASSWORD), ("return_to", return_to)])
        .send()
        .await
        .unwrap()
}

/// Opens the sign-in page and submits its form with the password "wrong".
async fn sign_in_with_a_wrong_password(app: &TestApp, browser: &reqwest::Client, upn: &str) -> reqwest::Response {
    let form_page = browser.get(format!("{}/portal/signin", app.base_url)).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&form_page, "csrf");
    browser
        .post(format!("{}/portal/signin", app.base_url))
        .form(&[("csrf", csrf.as_str()), ("upn", upn), ("password", "wrong"), ("return_to", "/portal")])
        .send()
        .await
        .unwrap()
}

pub(crate) async fn northwind_admin(app: &TestApp, global_admin: bool) -> String {
    let upn = if global_admin { "admin@northwind.onmicrosoft.com" } else { "analyst@northwind.onmicrosoft.com" };
    app.admin().create_user("northwind.onmicrosoft.com", upn, Some(PASSWORD), global_admin).await.unwrap();
    upn.to_owned()
}

/// Follows the guide's consent link as `upn` and returns the consent page's HTML.
pub(crate) async fn open_consent_link(
    app: &TestApp,
    browser: &reqwest::Client,
    partner: &PartnerFixture,
    upn: &str,
    state: &str,
) -> String {
    let link = format!(
        "/common/oauth2/authorize?prompt=consent&client_id={}&response_type=code&sso_reload=true&state={state}",
        partner.app_id
    );
    let first = browser.get(format!("{}{link}", app.base_url)).send().await.unwrap();
    assert_eq!(first.status(), 303, "not signed in: to the sign-in page");
    assert!(location(&first).starts_with("/portal/signin?return="));
    let signed_in = sign_in(app, browser, upn, &link).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), link, "back to the consent link after sign-in");
    let page = browser.get(format!("{}{link}", app.base_url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

pub(crate) async fn decide(
    app: &TestApp,
    browser: &reqwest::Client,
    consent_page: &str,
    decision: &str,
) -> reqwest::Response {
    let fields: Vec<(String, String)> = ["csrf", "client_id", "redirect_uri", "state", "flow", "scope"]
        .iter()
        .map(|name| ((*name).to_owned(), hidden(consent_page, name)))
        .chain(std::iter::once(("decision".to_owned(), decision.to_owned())))
        .collect();
    browser.post(format!("{}/portal/consent", app.base_url)).form(&fields).send().await.unwrap()
}

#[tokio::test]
async fn a_customer_admin_consents_through_the_guides_link_and_the_partner_gets_a_token() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All", "Incident.ReadWrite.All"]).await;
    let upn = northwind_admin(&app, true).await;
    let before = request_v2_token(&app, &partner.not_consented, &partner.app_id, &partner.client_secret).await;
    assert_aad_error(before, 400, "unauthorized_client", 700016).await;

    let browser = browser(&app);
    let page = open_consent_link(&app, &browser, &partner, &upn, "xyz").await;
    assert!(page.contains("Fabrikam Threat Connector"));
    assert!(page.contains("Fabrikam (fabrikam.onmicrosoft.com)"), "the publisher tenant");
    assert!(page.contains("Read all incidents") && page.contains("Read and write all incidents"));
    assert!(page.contains("Northwind"));

    let accepted = decide(&app, &browser, &page, "accept").await;
    assert_eq!(accepted.status(), 303);
    let target = url::Url::parse(&location(&accepted)).unwrap();
    assert_eq!(target.host_str(), Some("portal.azure.com"), "the first registered redirect URI");
    let query: std::collections::HashMap<String, String> = target.query_pairs().into_owned().collect();
    assert_eq!(query["admin_consent"], "True");
    assert_eq!(query["state"], "xyz");
    assert!(!query["code"].is_empty());

    let token: Value = request_v2_token(&app, &partner.not_consented, &partner.app_id, &partner.client_secret)
        .await
        .json()
        .await
        .unwrap();
    let claims = crate::unverified_claims(token["access_token"].as_str().unwrap());
    assert_eq!(claims["tid"], partner.not_consented.as_str());
    assert_eq!(claims["roles"], serde_json::json!(["Incident.Read.All", "Incident.ReadWrite.All"]));

    // Enterprise applications shows it; Revoke takes it away again.
    let listing =
        browser.get(format!("{}/portal/enterprise-apps", app.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(listing.contains("Fabrikam Threat Connector") && listing.contains("Incident.ReadWrite.All"));
    assert!(listing.contains("by admin@northwind.onmicrosoft.com"), "who consented is shown");
    let csrf = hidden(&listing, "csrf");
    let forged = browser
        .post(format!("{}/portal/enterprise-apps/revoke", app.base_url))
        .form(&[("csrf", "forged"), ("app_id", partner.app_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "a forged CSRF token changes nothing");
    assert_eq!(
        request_v2_token(&app, &partner.not_consented, &partner.app_id, &partner.client_secret).await.status(),
        200
    );
    let revoked = browser
        .post(format!("{}/portal/enterprise-apps/revoke", app.base_url))
        .form(&[("csrf", csrf.as_str()), ("app_id", partner.app_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
    let after = request_v2_token(&app, &partner.not_consented, &partner.app_id, &partner.client_secret).await;
    assert_aad_error(after, 400, "unauthorized_client", 700016).await;
}

#[tokio::test]
async fn cancel_and_a_non_admin_grant_nothing() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let admin = northwind_admin(&app, true).await;
    let analyst = northwind_admin(&app, false).await;

    let browser_a = browser(&app);
    let page = open_consent_link(&app, &browser_a, &partner, &admin, "s1").await;
    let cancelled = decide(&app, &browser_a, &page, "cancel").await;
    let target = url::Url::parse(&location(&cancelled)).unwrap();
    let query: std::collections::HashMap<String, String> = target.query_pairs().into_owned().collect();
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "s1");

    let browser_b = browser(&app);
    let page = open_consent_link(&app, &browser_b, &partner, &analyst, "s2").await;
    let refused = decide(&app, &browser_b, &page, "accept").await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("AADSTS90094"));

    let token = request_v2_token(&app, &partner.not_consented, &partner.app_id, &partner.client_secret).await;
    assert_aad_error(token, 400, "unauthorized_client", 700016).await;
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirect_uris_get_an_error_page_not_a_redirect() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let browser = browser(&app);
    let unknown = browser
        .get(format!(
            "{}/common/oauth2/authorize?prompt=consent&client_id=11111111-2222-4333-8444-555555555555",
            app.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    assert!(unknown.text().await.unwrap().contains("AADSTS700016"));
    let evil = browser
        .get(format!(
            "{}/common/v2.0/adminconsent?client_id={}&redirect_uri=https://evil.example/steal&state=x",
            app.base_url, partner.app_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 400, "never a redirect to an unregistered URI");
    assert!(evil.text().await.unwrap().contains("AADSTS50011"));
}

#[tokio::test]
async fn the_v2_admin_consent_endpoint_redirects_with_tenant_and_scope() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let upn = northwind_admin(&app, true).await;
    let browser = browser(&app);
    let link = format!(
        "/organizations/v2.0/adminconsent?client_id={}&scope=https://api.security.microsoft.com/.default&redirect_uri=https://portal.azure.com&state=12345",
        partner.app_id
    );
    sign_in(&app, &browser, &upn, "/portal").await;
    let page = browser.get(format!("{}{link}", app.base_url)).send().await.unwrap().text().await.unwrap();
    let accepted = decide(&app, &browser, &page, "accept").await;
    let target = url::Url::parse(&location(&accepted)).unwrap();
    let query: std::collections::HashMap<String, String> = target.query_pairs().into_owned().collect();
    assert_eq!(query["admin_consent"], "True");
    assert_eq!(query["tenant"], partner.not_consented);
    assert_eq!(query["scope"], "https://api.security.microsoft.com/.default");
    assert_eq!(query["state"], "12345");
}

#[tokio::test]
async fn the_decoder_explains_roles_and_tid_and_escapes_what_it_is_given() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let token: Value = request_v2_token(&app, &partner.consented[0], &partner.app_id, &partner.client_secret)
        .await
        .json()
        .await
        .unwrap();
    let browser = browser(&app);
    let form = browser.get(format!("{}/decode", app.base_url)).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&form, "csrf");
    let decoded = browser
        .post(format!("{}/decode", app.base_url))
        .form(&[("csrf", csrf.as_str()), ("token", token["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(decoded.contains("Incident.Read.All"));
    assert!(decoded.contains("The tenant whose data the token opens: Contoso"));
    assert!(decoded.contains("accepted now, with Incident.Read.All"));
    assert!(decoded.contains("expires in"));

    let csrf = hidden(&decoded, "csrf");
    let hostile = browser
        .post(format!("{}/decode", app.base_url))
        .form(&[("csrf", csrf.as_str()), ("token", "<script>alert(1)</script>")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!hostile.contains("<script>alert(1)</script>"), "input is escaped on output");
    assert!(
        hostile.contains("script&"),
        "the text is shown, escaped: {}",
        &hostile[hostile.find("script").unwrap_or(0).saturating_sub(20)..][..60]
    );

    let forged = browser
        .post(format!("{}/decode", app.base_url))
        .form(&[("csrf", "nope"), ("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}

#[tokio::test]
async fn sign_in_is_throttled_and_sign_out_ends_the_session() {
    let app = spawn_app().await;
    seed_partner(&app, &[]).await;
    let upn = northwind_admin(&app, true).await;
    let browser = browser(&app);
    for _ in 0..5 {
        assert_eq!(sign_in_with_a_wrong_password(&app, &browser, &upn).await.status(), 401);
    }
    let blocked = sign_in(&app, &browser, &upn, "/portal").await;
    assert_eq!(blocked.status(), 429, "the right password is not even checked after 5 failures");

    let other = self::browser(&app);
    let analyst = northwind_admin(&app, false).await;
    assert_eq!(sign_in(&app, &other, &analyst, "https://evil.example/").await.status(), 303);
    let home = other.get(format!("{}/portal", app.base_url)).send().await.unwrap();
    assert_eq!(home.status(), 200, "open redirects become /portal");
    let html = home.text().await.unwrap();
    assert!(html.contains("Northwind"));
    let csrf = hidden(&html, "csrf");
    other.post(format!("{}/portal/signout", app.base_url)).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    let after = other.get(format!("{}/portal", app.base_url)).send().await.unwrap();
    assert_eq!(after.status(), 303, "signed out");

    let no_cookie = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&app.ca_certificate).unwrap()).unwrap()])
        .build()
        .unwrap()
        .post(format!("{}/portal/signin", app.base_url))
        .form(&[("csrf", "x"), ("upn", upn.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 403, "sign-in without the anti-forgery cookie is refused");
}

#[tokio::test]
async fn the_partner_guide_from_new_registration_to_a_working_secret() {
    let app = spawn_app().await;
    let admin = app.admin();
    let partner = admin.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await.unwrap();
    admin
        .create_user("fabrikam.onmicrosoft.com", "admin@fabrikam.onmicrosoft.com", Some(PASSWORD), true)
        .await
        .unwrap();
    app.refresh().await;
    let browser = browser(&app);
    sign_in(&app, &browser, "admin@fabrikam.onmicrosoft.com", "/portal/apps/new").await;

    // New registration: name, any organizational directory, Web redirect URI.
    let form = browser.get(format!("{}/portal/apps/new", app.base_url)).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&form, "csrf");
    let registered = browser
        .post(format!("{}/portal/apps/new", app.base_url))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Guide <App>"),
            ("audience", "multi"),
            ("redirect_uri", "https://portal.azure.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 303);
    let overview_path = location(&registered);
    let app_id = overview_path.rsplit('/').next().unwrap().to_owned();
    let overview = browser.get(format!("{}{overview_path}", app.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(overview.contains(&app_id) && overview.contains(&partner.id.to_string()));
    assert!(!overview.contains("Guide <App>"), "names are escaped");
    assert!(
        overview.contains(&format!("/common/oauth2/authorize?prompt=consent&amp;client_id={app_id}"))
            || overview.contains(&format!("client_id={app_id}"))
    );

    // API permissions: the API appears only once its name is typed.
    let empty = browser
        .get(format!("{}/portal/apps/{app_id}/permissions/add", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!empty.contains("Application permissions"));
    let found = browser
        .get(format!("{}/portal/apps/{app_id}/permissions/add?api=Threat+Protection", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(found.contains("Application permissions") && found.contains("Incident.Read.All"));
    let csrf = hidden(&found, "csrf");
    browser
        .post(format!("{}/portal/apps/{app_id}/permissions/add", app.base_url))
        .form(&[("csrf", csrf.as_str()), ("role", "Incident.Read.All"), ("role", "AdvancedHunting.Read.All")])
        .send()
        .await
        .unwrap();
    let overview = browser.get(format!("{}{overview_path}", app.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(overview.contains("Not granted for Fabrikam"));
    browser
        .post(format!("{}/portal/apps/{app_id}/grant", app.base_url))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let overview = browser.get(format!("{}{overview_path}", app.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(overview.contains("Granted for Fabrikam") && !overview.contains("Not granted"));

    // Certificates & secrets: the value is shown once; afterwards only the hint.
    let created = browser
        .post(format!("{}/portal/apps/{app_id}/secrets", app.base_url))
        .form(&[("csrf", csrf.as_str()), ("description", "guide"), ("expires", "180"), ("custom_days", "")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(created.contains("shown only this once"));
    let marker = "id=\"secret-value\" type=\"text\" readonly value=\"";
    let start = created.find(marker).unwrap() + marker.len();
    let secret = created[start..].split('"').next().unwrap().replace("&#126;", "~").replace("&#x7e;", "~");
    let overview = browser.get(format!("{}{overview_path}", app.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(!overview.contains(&secret), "the value is never shown again");

    let token: Value = request_v2_token(&app, &partner.id.to_string(), &app_id, &secret).await.json().await.unwrap();
    let claims = crate::unverified_claims(token["access_token"].as_str().expect("a token with the portal's secret"));
    assert_eq!(claims["roles"], serde_json::json!(["Incident.Read.All", "AdvancedHunting.Read.All"]));

    // Delete the secret: the token endpoint refuses it.
    let key_id = hidden(&overview, "key_id");
    browser
        .post(format!("{}/portal/apps/{app_id}/secrets/delete", app.base_url))
        .form(&[("csrf", csrf.as_str()), ("key_id", key_id.as_str())])
        .send()
        .await
        .unwrap();
    let refused = request_v2_token(&app, &partner.id.to_string(), &app_id, &secret).await;
    assert_aad_error(refused, 401, "invalid_client", 7000215).await;

    // Certificates: a pasted private key is refused; the certificate is listed by thumbprint.
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let mut parameters = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    parameters.distinguished_name.push(rcgen::DnType::CommonName, "Guide connector");
    let certificate = parameters.self_signed(&key).unwrap();
    let upload = |pem: String| {
        browser
            .post(format!("{}/portal/apps/{app_id}/certificates", app.base_url))
            .form(&[("csrf", csrf.clone()), ("certificate", pem), ("description", String::new())])
            .send()
    };
    let with_key = upload(format!("{}{}", certificate.pem(), key.serialize_pem())).await.unwrap();
    assert_eq!(with_key.status(), 400);
    assert!(with_key.text().await.unwrap().contains("holds a private key"));
    assert_eq!(upload(certificate.pem()).await.unwrap().status(), 303);
    let overview = browser.get(format!("{}{overview_path}", app.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(overview.contains("CN=Guide connector"), "the subject is the default description");
    let key_id = hidden(&overview, "key_id");
    let audit = browser.get(format!("{}/portal/audit.jsonl", app.base_url)).send().await.unwrap().text().await.unwrap();
    let added =
        audit.lines().find(|line| line.contains("\"AddCertificate\"")).expect("the upload is in the audit trail");
    assert!(added.contains("\"actor\":\"admin@fabrikam.onmicrosoft.com\""), "{added}");
    browser
        .post(format!("{}/portal/apps/{app_id}/certificates/delete", app.base_url))
        .form(&[("csrf", csrf.as_str()), ("key_id", key_id.as_str())])
        .send()
        .await
        .unwrap();
    let overview = browser.get(format!("{}{overview_path}", app.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(overview.contains("No certificate.") && !overview.contains("CN=Guide connector"));
}

#[tokio::test]
async fn a_fresh_data_directory_offers_a_one_time_setup_link() {
    let app = spawn_app().await;
    let link = app.setup_link.clone().expect("a fresh data directory has a setup link");
    let browser = browser(&app);
    let form = browser.get(&link).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let token = hidden(&form.text().await.unwrap(), "token");
    let weak = browser
        .post(format!("{}/portal/setup", app.base_url))
        .form(&[
            ("token", token.as_str()),
            ("name", "Fabrikam"),
            ("domain", ""),
            ("user", "admin"),
            ("password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 400);
    let created = browser
        .post(format!("{}/portal/setup", app.base_url))
        .form(&[
            ("token", token.as_str()),
            ("name", "Fabrikam"),
            ("domain", ""),
            ("user", "admin"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let home = browser.get(format!("{}/portal", app.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(
        home.contains("Fabrikam")
            && home.contains("admin@fabrikam.onmicrosoft.com")
            && home.contains("Global Administrator")
    );
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 404, "the link works once");
    let forged = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&app.ca_certificate).unwrap()).unwrap()])
        .build()
        .unwrap()
        .get(format!("{}/portal/setup?token=guess", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
}

#[tokio::test]
async fn the_overview_warns_about_a_secret_that_ends_soon() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &["Incident.Read.All"]).await;
    let upn = "admin@fabrikam.onmicrosoft.com";
    app.admin().create_user("fabrikam.onmicrosoft.com", upn, Some(PASSWORD), true).await.unwrap();
    let browser = browser(&app);
    sign_in(&app, &browser, upn, "/portal").await;
    let path = format!("{}/portal/apps/{}", app.base_url, partner.app_id);
    let calm = browser.get(&path).send().await.unwrap().text().await.unwrap();
    assert!(!calm.contains("ends within 30 days"), "a 180-day secret needs no warning");

    app.admin().add_secret(partner.app(), "short-lived", Some(5)).await.unwrap();
    let warned = browser.get(&path).send().await.unwrap().text().await.unwrap();
    assert!(warned.contains("A credential ends within 30 days or has ended."), "{warned}");
    assert!(warned.contains("<span class=\"bad\">expires in "));
}

/// `/` lands on the portal; portal sign-ins, refused and accepted, are in the tenant's audit
/// trail, which has a page to browse besides its download.
#[tokio::test]
async fn the_root_lands_on_the_portal_and_sign_ins_are_audited() {
    let app = spawn_app().await;
    seed_partner(&app, &[]).await;
    let upn = northwind_admin(&app, true).await;
    let browser = browser(&app);
    let root = browser.get(format!("{}/", app.base_url)).send().await.unwrap();
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(root.headers()["location"], "/portal");

    assert_eq!(sign_in_with_a_wrong_password(&app, &browser, &upn).await.status(), 401);
    assert_eq!(sign_in(&app, &browser, &upn, "/portal").await.status(), 303);

    let lines = browser.get(format!("{}/portal/audit.jsonl", app.base_url)).send().await.unwrap().text().await.unwrap();
    let sign_ins: Vec<serde_json::Value> = lines
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|record| record["category"] == "signIn")
        .collect();
    assert_eq!(sign_ins.len(), 2, "{lines}");
    assert_eq!(sign_ins[0]["result"], "signed in", "newest first");
    assert_eq!(sign_ins[1]["result"], "refused");
    for record in &sign_ins {
        assert_eq!(record["operation"], "PortalSignIn");
        assert_eq!(record["actor"], upn.as_str());
        assert!(!record.to_string().contains("wrong") && !record.to_string().contains(PASSWORD), "no password");
    }

    let page = browser.get(format!("{}/portal/audit", app.base_url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("PortalSignIn").count(), 2, "both sign-ins are on the page");
    assert!(html.contains("refused") && html.contains("signed in"));
}
