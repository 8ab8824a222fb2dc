//! Certificate credentials and the audit trail end to end: a scripted partner session done
//! with the commands and over HTTPS (certificate upload, a token with a client assertion next
//! to one with a secret, an API call, a revocation), then `threatgate audit` for the customer
//! and for the partner holds exactly the expected records, and never a secret or a token.

use serde_json::Value;
use threatgate_testkit::{TestApp, spawn_app};

use crate::cli::{run, threatgate};
use crate::{SCOPE, unverified_claims};

/// A self-signed certificate and its private key (PEM), as a partner makes with openssl.
pub(crate) fn certificate() -> (String, String) {
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let mut parameters = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    parameters.distinguished_name.push(rcgen::DnType::CommonName, "Fabrikam connector");
    let certificate = parameters.self_signed(&key).unwrap();
    (certificate.pem(), key.serialize_pem())
}

/// A client assertion as azure-identity writes it: RS256, `x5t` = SHA-1 thumbprint, valid
/// for ten minutes.
fn assertion(app: &TestApp, tenant: &str, client_id: &str, thumbprint_hex: &str, key_pem: &str) -> String {
    let audience = format!("{}/{tenant}/oauth2/v2.0/token", app.base_url);
    assertion_for(&audience, 600, client_id, thumbprint_hex, key_pem)
}

/// A client assertion for `audience`, valid for `lifetime` seconds from now.
pub(crate) fn assertion_for(
    audience: &str,
    lifetime: i64,
    client_id: &str,
    thumbprint_hex: &str,
    key_pem: &str,
) -> String {
    use base64::Engine;
    let sha1: Vec<u8> = (0..thumbprint_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&thumbprint_hex[i..i + 2], 16).unwrap())
        .collect();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t = Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = serde_json::json!({
        "aud": audience,
        "iss": client_id, "sub": client_id, "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now, "exp": now + lifetime,
    });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// `threatgate audit --tenant T`, oldest first, as (operation, record).
async fn audit(app: &TestApp, tenant: &str) -> Vec<(String, Value)> {
    let output = run(app, &["audit", "--tenant", tenant]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut records: Vec<(String, Value)> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            (record["operation"].as_str().unwrap().to_owned(), record)
        })
        .collect();
    records.reverse();
    records
}

#[tokio::test]
async fn a_certificate_token_and_the_audit_trail_of_a_scripted_partner_session() {
    let app = spawn_app().await;
    let partner = threatgate(&app, &["tenant", "create", "--name", "Fabrikam"]).await;
    let customer = threatgate(&app, &["tenant", "create", "--name", "Contoso"]).await;
    let customer_id = customer["id"].as_str().unwrap().to_owned();
    let registered = threatgate(
        &app,
        &["app", "register", "--tenant", "fabrikam.onmicrosoft.com", "--name", "Connector", "--multi-tenant"],
    )
    .await;
    let app_id = registered["app_id"].as_str().unwrap().to_owned();
    threatgate(&app, &["app", "permission", "add", "--app", &app_id, "Incident.Read.All"]).await;
    let secret = threatgate(&app, &["app", "secret", "add", "--app", &app_id, "--description", "ci"]).await;
    let secret_value = secret["value"].as_str().unwrap().to_owned();

    // The certificate: its private key in the upload is refused, the certificate alone taken.
    let (certificate_pem, key_pem) = certificate();
    let files = tempfile::tempdir().unwrap();
    let bundle = files.path().join("bundle.pem");
    std::fs::write(&bundle, format!("{certificate_pem}{key_pem}")).unwrap();
    let refused =
        run(&app, &["app", "certificate", "add", "--app", &app_id, "--certificate", bundle.to_str().unwrap()]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("holds a private key"));
    let cert_file = files.path().join("connector.pem");
    std::fs::write(&cert_file, &certificate_pem).unwrap();
    let added = threatgate(
        &app,
        &["app", "certificate", "add", "--app", &app_id, "--certificate", cert_file.to_str().unwrap()],
    )
    .await;
    let thumbprint = added["thumbprint"].as_str().unwrap().to_owned();
    assert_eq!(thumbprint.len(), 40);
    assert!(thumbprint.chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)), "{thumbprint}");
    let listed = threatgate(&app, &["app", "credentials", "--app", &app_id]).await;
    let kinds: Vec<&str> = listed.as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"certificate") && kinds.contains(&"client secret"));

    threatgate(&app, &["consent", "grant", "--tenant", "contoso.onmicrosoft.com", "--app", &app_id]).await;

    // A token with the secret, once the server has seen the consent; then one with the certificate.
    let secret_form = [
        ("grant_type", "client_credentials"),
        ("client_id", app_id.as_str()),
        ("scope", SCOPE),
        ("client_secret", secret_value.as_str()),
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let secret_token = loop {
        let response = app.post_form(&customer_id, "oauth2/v2.0/token", &secret_form).await;
        if response.status() == 200 {
            break response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "the consent did not reach the server");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let client_assertion = assertion(&app, &customer_id, &app_id, &thumbprint, &key_pem);
    let response = app
        .post_form(
            &customer_id,
            "oauth2/v2.0/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", app_id.as_str()),
                ("scope", SCOPE),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", client_assertion.as_str()),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let certificate_token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let claims = unverified_claims(&certificate_token);
    assert_eq!(claims["appidacr"], "2");
    assert_eq!(claims["roles"], serde_json::json!(["Incident.Read.All"]));
    assert_eq!(unverified_claims(&secret_token)["appidacr"], "1");

    let listed =
        app.client.get(format!("{}/api/incidents", app.base_url)).bearer_auth(&certificate_token).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    threatgate(&app, &["consent", "revoke", "--tenant", "contoso.onmicrosoft.com", "--app", &app_id]).await;

    // The customer's trail: what happened in Contoso, in order.
    let expected_customer =
        ["CreateTenant", "GrantConsent", "IssueToken", "IssueToken", "ListIncidents", "RevokeConsent"];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let customer_trail = loop {
        // The token and API records are written within the writer's linger (200 ms).
        let trail = audit(&app, "contoso.onmicrosoft.com").await;
        if trail.len() >= expected_customer.len() || std::time::Instant::now() > deadline {
            break trail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let operations: Vec<&str> = customer_trail.iter().map(|(operation, _)| operation.as_str()).collect();
    assert_eq!(operations, expected_customer);
    let record = |trail: &[(String, Value)], index: usize| trail[index].1.clone();
    let consent = record(&customer_trail, 1);
    assert_eq!(consent["category"], "consent");
    assert_eq!(consent["actor"], "threatgate (command line)");
    assert_eq!(consent["applicationId"], app_id.as_str());
    assert_eq!(consent["detail"], "roles=Incident.Read.All");
    let by_secret = record(&customer_trail, 2);
    assert_eq!(by_secret["category"], "token");
    assert_eq!(by_secret["actor"], app_id.as_str());
    assert_eq!(by_secret["clientAddress"], "127.0.0.1");
    assert_eq!(by_secret["detail"], "roles=Incident.Read.All, credential=secret, endpoint=v2");
    assert_eq!(record(&customer_trail, 3)["detail"], "roles=Incident.Read.All, credential=certificate, endpoint=v2");
    assert_eq!(record(&customer_trail, 4)["category"], "api");
    assert_eq!(record(&customer_trail, 4)["status"], 200);

    // The partner's trail: its own changes, and what its application did in Contoso.
    let partner_trail = audit(&app, partner["initial_domain"].as_str().unwrap()).await;
    let operations: Vec<&str> = partner_trail.iter().map(|(operation, _)| operation.as_str()).collect();
    assert_eq!(
        operations,
        [
            "CreateTenant",
            "RegisterApplication",
            "AddPermissions",
            "AddClientSecret",
            "AddCertificate",
            "GrantConsent",
            "IssueToken",
            "IssueToken",
            "ListIncidents",
            "RevokeConsent"
        ]
    );
    assert!(record(&partner_trail, 4)["detail"].as_str().unwrap().contains(&format!("thumbprint={thumbprint}")));
    assert_eq!(record(&partner_trail, 5)["tenantId"], customer_id.as_str(), "the consent happened in Contoso");

    // Never a secret, a token or a key.
    for (_, record) in customer_trail.iter().chain(&partner_trail) {
        let text = record.to_string();
        for forbidden in [secret_value.as_str(), "eyJ", "PRIVATE KEY", &secret_token[..40], &certificate_token[..40]] {
            assert!(!text.contains(forbidden), "{text} contains {forbidden}");
        }
    }
}
