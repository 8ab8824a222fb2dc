//! Client assertions signed by a certificate's key, in every variant real clients send
//! (`identity-protocol.md` 2.5), and the refusals: unknown key, wrong signature, subject
//! mismatch, wrong issuer, audience or time, an expired certificate.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use threatgate_identity::{
    AadError, Actor, ClientSecret, DirectoryAdmin, IdentityService, IdentitySettings, ManualClock, SecretHasher,
    TokenEndpoint, TokenParameters, TokenRequest,
};
use threatgate_store::SqliteStore;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const ORIGIN: &str = "https://localhost:8443";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A certificate and its private key, as a partner holds them.
struct Credential {
    key: RsaKeyPair,
    der: Vec<u8>,
    pem: String,
}

impl Credential {
    fn new(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
        let mut parameters = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        parameters.distinguished_name.push(rcgen::DnType::CommonName, "Fabrikam connector");
        parameters.not_before = not_before;
        parameters.not_after = not_after;
        let certificate = parameters.self_signed(&key).unwrap();
        Self {
            key: RsaKeyPair::from_pkcs8(&key.serialize_der()).unwrap(),
            der: certificate.der().to_vec(),
            pem: certificate.pem(),
        }
    }

    fn sha1(&self) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.der).as_ref().to_vec()
    }

    fn sha256(&self) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.der).as_ref().to_vec()
    }

    /// Signs `header.payload`, each segment encoded by `encode`.
    fn sign(
        &self,
        header: &Value,
        payload: &Value,
        encode: fn(&[u8]) -> String,
        padding: &'static dyn RsaEncoding,
    ) -> String {
        let signing_input = format!(
            "{}.{}",
            encode(&serde_json::to_vec(header).unwrap()),
            encode(&serde_json::to_vec(payload).unwrap())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key.sign(padding, &SystemRandom::new(), signing_input.as_bytes(), &mut signature).unwrap();
        format!("{signing_input}.{}", encode(&signature))
    }
}

fn url_safe_unpadded(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn url_safe_padded(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

struct World {
    service: IdentityService,
    clock: Arc<ManualClock>,
    app_id: String,
    tenant_id: String,
    credential: Credential,
}

const NOW: OffsetDateTime = datetime!(2026-11-26 12:00 UTC);

async fn world() -> World {
    let store: Arc<dyn threatgate_store::Store> = Arc::new(SqliteStore::open_in_memory().await.unwrap());
    let hasher = Arc::new(SecretHasher::from_key_bytes(&[9; 32]));
    let clock = Arc::new(ManualClock::new(NOW));
    let admin = DirectoryAdmin::new(store.as_ref(), &hasher, clock.as_ref(), Actor::Operator("test"));
    admin.create_tenant("Fabrikam", Some("fabrikam.onmicrosoft.com")).await.unwrap();
    let contoso = admin.create_tenant("Contoso", Some("contoso.onmicrosoft.com")).await.unwrap();
    let app = admin.register_application("fabrikam.onmicrosoft.com", "Connector", true, &[]).await.unwrap();
    let app_id = app.app_id;
    admin.add_permissions(app_id, &["Incident.Read.All".into()]).await.unwrap();
    let credential = Credential::new(NOW - Duration::days(1), NOW + Duration::days(90));
    let record = admin.add_certificate(app_id, credential.pem.as_bytes(), None).await.unwrap();
    assert_eq!(record.description, "CN=Fabrikam connector");
    admin.grant_consent("contoso.onmicrosoft.com", app_id).await.unwrap();
    let kek = Arc::new(threatgate_identity::KeyEncryptionKey::from_bytes(&[5; 32]).unwrap());
    let service = IdentityService::open(store, clock.clone(), hasher, kek, IdentitySettings::default()).await.unwrap();
    World { service, clock, app_id: app_id.to_string(), tenant_id: contoso.id.to_string(), credential }
}

impl World {
    fn v2_audience(&self) -> String {
        format!("{ORIGIN}/{}/oauth2/v2.0/token", self.tenant_id)
    }

    /// Claims as MSAL Python writes them: float times, no `nbf`.
    fn msal_claims(&self, audience: &str) -> Value {
        let now = self.clock_now();
        json!({"aud": audience, "iss": self.app_id, "sub": self.app_id, "jti": "5d1c3c1e-8f0a-4e0e-9a53-8c7b1e2f0a11",
               "iat": now + 0.25, "exp": now + 600.25})
    }

    /// Claims as azure-identity and the Rust SDK write them: integer `nbf` and `exp`, no `iat`.
    fn sdk_claims(&self, audience: &str, lifetime: i64) -> Value {
        let now = self.clock_now() as i64;
        json!({"aud": audience, "iss": self.app_id, "sub": self.app_id, "jti": "0b8e6c52-4d9f-4c59-b7f1-1f2e3d4c5b6a",
               "nbf": now, "exp": now + lifetime})
    }

    fn clock_now(&self) -> f64 {
        self.service.clock().now().unix_timestamp() as f64
    }

    fn request(&self, assertion: &str, assertion_type: &str) -> Result<threatgate_identity::IssuedToken, AadError> {
        let parameters = TokenParameters {
            grant_type: Some("client_credentials".into()),
            client_id: Some(self.app_id.clone()),
            client_assertion_type: Some(assertion_type.into()),
            client_assertion: Some(assertion.into()),
            scope: Some("https://api.security.microsoft.com/.default".into()),
            ..TokenParameters::default()
        };
        let origins = [ORIGIN.to_owned()];
        let request = TokenRequest {
            endpoint: TokenEndpoint::V2,
            tenant: &self.tenant_id,
            parameters,
            basic: None,
            origins: &origins,
        };
        self.service.issue_token(request)
    }

    fn token(&self, assertion: &str) -> Result<threatgate_identity::IssuedToken, AadError> {
        self.request(assertion, JWT_BEARER)
    }
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn msal_python_with_a_pfx_ps256_and_x5t_s256() {
    let world = world().await;
    let header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": url_safe_padded(&world.credential.sha256())});
    let assertion =
        world.credential.sign(&header, &world.msal_claims(&world.v2_audience()), url_safe_unpadded, &RSA_PSS_SHA256);
    let issued = world.token(&assertion).unwrap();
    let claims = claims_of(&issued.access_token);
    assert_eq!(claims["appidacr"], "2");
    assert_eq!(claims["roles"], json!(["Incident.Read.All"]));
    assert_eq!(issued.credential.as_str(), "certificate");
}

#[tokio::test]
async fn msal_python_with_pem_and_thumbprint_rs256_and_x5t_reused_for_minutes() {
    let world = world().await;
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": url_safe_padded(&world.credential.sha1())});
    let assertion =
        world.credential.sign(&header, &world.msal_claims(&world.v2_audience()), url_safe_unpadded, &RSA_PKCS1_SHA256);
    world.token(&assertion).unwrap();
    // MSAL Python sends the same assertion again for up to nine minutes: same jti, accepted.
    world.clock.advance(Duration::minutes(9));
    world.token(&assertion).unwrap();
}

#[tokio::test]
async fn msal_python_with_the_public_certificate_in_x5c_as_der_lines() {
    let world = world().await;
    let body = STANDARD.encode(&world.credential.der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|chunk| std::str::from_utf8(chunk).unwrap()).collect();
    let header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": url_safe_padded(&world.credential.sha256()),
                        "x5c": [lines.join("\n")]});
    let assertion =
        world.credential.sign(&header, &world.msal_claims(&world.v2_audience()), url_safe_unpadded, &RSA_PSS_SHA256);
    world.token(&assertion).unwrap();
}

#[tokio::test]
async fn azure_identity_with_padded_segments_nbf_and_a_domain_in_the_audience() {
    let world = world().await;
    let header = json!({"typ": "JWT", "alg": "RS256", "x5t": url_safe_padded(&world.credential.sha1())});
    let audience = format!("{ORIGIN}/contoso.onmicrosoft.com/oauth2/v2.0/token");
    let assertion =
        world.credential.sign(&header, &world.sdk_claims(&audience, 1800), url_safe_padded, &RSA_PKCS1_SHA256);
    assert!(assertion.contains('='), "the segments are padded as azure-identity pads them");
    world.token(&assertion).unwrap();
}

#[tokio::test]
async fn the_rust_sdk_with_a_standard_base64_x5t_and_pem_text_in_x5c() {
    let world = world().await;
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": STANDARD.encode(world.credential.sha1()),
                        "x5c": [STANDARD.encode(world.credential.pem.as_bytes())]});
    let assertion = world.credential.sign(
        &header,
        &world.sdk_claims(&world.v2_audience(), 300),
        url_safe_unpadded,
        &RSA_PKCS1_SHA256,
    );
    world.token(&assertion).unwrap();
}

#[tokio::test]
async fn the_v1_token_endpoint_and_the_legacy_audience_are_accepted() {
    let world = world().await;
    let header = json!({"alg": "RS256", "x5t": url_safe_unpadded(&world.credential.sha1())});
    for audience in [
        format!("{ORIGIN}/{}/oauth2/token", world.tenant_id),
        format!("{ORIGIN}/{}/v2.0", world.tenant_id),
        format!("{}/", world.v2_audience().to_uppercase().replace("HTTPS://", "https://")),
    ] {
        let assertion =
            world.credential.sign(&header, &world.sdk_claims(&audience, 300), url_safe_unpadded, &RSA_PKCS1_SHA256);
        world.token(&assertion).unwrap_or_else(|error| panic!("{audience}: {error}"));
    }
}

#[tokio::test]
async fn an_x5c_certificate_without_a_thumbprint_names_the_key() {
    let world = world().await;
    let header = json!({"alg": "RS256", "x5c": [STANDARD.encode(&world.credential.der)]});
    let assertion = world.credential.sign(
        &header,
        &world.sdk_claims(&world.v2_audience(), 300),
        url_safe_unpadded,
        &RSA_PKCS1_SHA256,
    );
    world.token(&assertion).unwrap();
}

/// An assertion from the registered certificate with one change to header or claims.
fn variant(world: &World, header_change: impl Fn(&mut Value), claims_change: impl Fn(&mut Value)) -> String {
    let mut header = json!({"alg": "RS256", "typ": "JWT", "x5t": url_safe_padded(&world.credential.sha1())});
    let mut claims = world.sdk_claims(&world.v2_audience(), 300);
    header_change(&mut header);
    claims_change(&mut claims);
    let padding: &'static dyn RsaEncoding = if header["alg"] == "PS256" { &RSA_PSS_SHA256 } else { &RSA_PKCS1_SHA256 };
    world.credential.sign(&header, &claims, url_safe_unpadded, padding)
}

#[tokio::test]
async fn an_unknown_certificate_is_700027_with_its_thumbprint_in_hex() {
    let world = world().await;
    let stranger = Credential::new(NOW - Duration::days(1), NOW + Duration::days(30));
    let header = json!({"alg": "RS256", "x5t": url_safe_padded(&stranger.sha1())});
    let assertion =
        stranger.sign(&header, &world.sdk_claims(&world.v2_audience(), 300), url_safe_unpadded, &RSA_PKCS1_SHA256);
    let error = world.token(&assertion).unwrap_err();
    let hex: String = stranger.sha1().iter().map(|b| format!("{b:02X}")).collect();
    assert!(
        matches!(error, AadError::InvalidClientAssertionSignature { reason: "The key was not found.", .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&format!("Thumbprint of key used by client: '{hex}'")), "{error}");
}

#[tokio::test]
async fn a_signature_by_another_key_is_700027() {
    let world = world().await;
    let stranger = Credential::new(NOW - Duration::days(1), NOW + Duration::days(30));
    // The registered certificate's thumbprint, signed with the stranger's key.
    let header = json!({"alg": "RS256", "x5t": url_safe_padded(&world.credential.sha1())});
    let assertion =
        stranger.sign(&header, &world.sdk_claims(&world.v2_audience(), 300), url_safe_unpadded, &RSA_PKCS1_SHA256);
    let error = world.token(&assertion).unwrap_err();
    assert!(error.to_string().contains("did not match the expected signature"), "{error}");
    // A valid assertion with one byte of its payload changed.
    let good = variant(&world, |_| {}, |_| {});
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    parts[1] = url_safe_unpadded(&serde_json::to_vec(&claims).unwrap());
    let error = world.token(&parts.join(".")).unwrap_err();
    assert!(matches!(error, AadError::InvalidClientAssertionSignature { .. }), "{error}");
    // An x5c that is not the certificate the thumbprint names.
    let mixed = variant(&world, |h| h["x5c"] = json!([STANDARD.encode(&stranger.der)]), |_| {});
    assert!(world.token(&mixed).unwrap_err().to_string().contains("x5c"));
}

#[tokio::test]
async fn claims_that_do_not_fit_are_50027_or_50048() {
    let world = world().await;
    let check = |assertion: String, expected: &str| {
        let error = world.token(&assertion).unwrap_err();
        assert!(error.to_string().contains(expected), "expected '{expected}', got: {error}");
        error
    };
    let error = check(variant(&world, |_| {}, |c| c["sub"] = json!("someone-else")), "Subject mismatches Issuer");
    assert!(matches!(error, AadError::AssertionSubjectMismatch));
    let other = "11111111-2222-3333-4444-555555555555";
    check(
        variant(
            &world,
            |_| {},
            |c| {
                c["iss"] = json!(other);
                c["sub"] = json!(other)
            },
        ),
        "is not the client_id",
    );
    check(
        variant(&world, |_| {}, |c| c["aud"] = json!("https://login.microsoftonline.com/x/oauth2/v2.0/token")),
        "audience",
    );
    check(
        variant(&world, |_| {}, |c| c["aud"] = json!(format!("{ORIGIN}/fabrikam.onmicrosoft.com/oauth2/v2.0/token"))),
        "audience",
    );
    let now = NOW.unix_timestamp();
    check(variant(&world, |_| {}, |c| c["exp"] = json!(now - 301)), "valid time range");
    check(variant(&world, |_| {}, |c| c["nbf"] = json!(now + 600)), "valid time range");
    check(
        variant(
            &world,
            |_| {},
            |c| {
                c.as_object_mut().unwrap().remove("exp");
            },
        ),
        "no 'exp'",
    );
    check(variant(&world, |_| {}, |c| c["exp"] = json!("tomorrow")), "not a number");
    let error = check(variant(&world, |h| h["alg"] = json!("HS256"), |_| {}), "algorithm 'HS256'");
    assert!(matches!(error, AadError::InvalidClientAssertion { .. }));
    check("not-a-jwt".into(), "not a signed JWT");
    // Within the five minutes of clock skew, an assertion just expired is still accepted.
    world.token(&variant(&world, |_| {}, |c| c["exp"] = json!(now - 60))).unwrap();

    // Lifetime: ten years is refused (the audit's finding 11); azure-identity's 30 minutes and
    // the default's full hour are accepted.
    check(variant(&world, |_| {}, |c| c["exp"] = json!(now + 10 * 365 * 86_400)), "valid for too long");
    check(variant(&world, |_| {}, |c| c["exp"] = json!(now + 3600 + 301)), "more than 3600 seconds from now");
    world.token(&variant(&world, |_| {}, |c| c["exp"] = json!(now + 1800))).unwrap();
    world.token(&variant(&world, |_| {}, |c| c["exp"] = json!(now + 3600))).unwrap();
}

#[tokio::test]
async fn an_expired_certificate_has_its_own_error() {
    let world = world().await;
    world.clock.advance(Duration::days(91));
    let assertion = variant(&world, |_| {}, |_| {});
    let error = world.token(&assertion).unwrap_err();
    assert!(matches!(error, AadError::ExpiredCertificate { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("The key used is expired.") && text.contains("End=2027-02-24"), "{text}");
}

#[tokio::test]
async fn the_assertion_type_must_be_jwt_bearer_and_a_secret_cannot_come_too() {
    let world = world().await;
    let assertion = variant(&world, |_| {}, |_| {});
    let error = world.request(&assertion, "urn:ietf:params:oauth:client-assertion-type:saml2-bearer").unwrap_err();
    assert!(matches!(error, AadError::UnsupportedAssertionType { .. }), "{error}");
    let parameters = TokenParameters {
        grant_type: Some("client_credentials".into()),
        client_id: Some(world.app_id.clone()),
        client_secret: Some(ClientSecret::from_presented("s")),
        client_assertion_type: Some(JWT_BEARER.into()),
        client_assertion: Some(assertion),
        scope: Some("https://api.security.microsoft.com/.default".into()),
        ..TokenParameters::default()
    };
    let request =
        TokenRequest { endpoint: TokenEndpoint::V2, tenant: &world.tenant_id, parameters, basic: None, origins: &[] };
    assert!(matches!(world.service.issue_token(request), Err(AadError::MalformedRequest { .. })));
}
