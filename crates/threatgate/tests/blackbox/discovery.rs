//! Discovery documents and JWKS (`identity-protocol.md` 5.1–5.3).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use threatgate_testkit::{seed_partner, spawn_app};

use crate::assert_aad_error;

fn keys_of(document: &Value) -> Vec<&str> {
    document.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn the_v2_document_names_the_tenant_by_guid_even_when_asked_by_domain() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &[]).await;
    let tid = &partner.consented[0];
    let response = app.get("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "max-age=86400, private");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let document: Value = response.json().await.unwrap();
    let base = &app.base_url;
    assert_eq!(document["token_endpoint"], format!("{base}/{tid}/oauth2/v2.0/token"));
    assert_eq!(document["authorization_endpoint"], format!("{base}/{tid}/oauth2/v2.0/authorize"));
    assert_eq!(document["jwks_uri"], format!("{base}/{tid}/discovery/v2.0/keys"));
    assert_eq!(document["issuer"], format!("{base}/{tid}/v2.0"));
    assert_eq!(
        keys_of(&document)[..4],
        ["token_endpoint", "token_endpoint_auth_methods_supported", "jwks_uri", "response_modes_supported"]
    );
    assert_eq!(
        document["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_post", "private_key_jwt", "client_secret_basic"])
    );
    assert!(document.get("grant_types_supported").is_none());
}

#[tokio::test]
async fn the_v1_document_issues_as_sts_and_points_to_the_common_keys() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &[]).await;
    let tid = &partner.consented[0];
    let document: Value = app.get(&format!("/{tid}/.well-known/openid-configuration")).await.json().await.unwrap();
    assert_eq!(document["issuer"], format!("https://sts.windows.net/{tid}/"));
    assert_eq!(document["token_endpoint"], format!("{}/{tid}/oauth2/token", app.base_url));
    assert_eq!(document["jwks_uri"], format!("{}/common/discovery/keys", app.base_url));
    assert_eq!(document["microsoft_multi_refresh_token"], true);
}

#[tokio::test]
async fn the_common_documents_carry_the_issuer_template() {
    let app = spawn_app().await;
    let v2: Value = app.get("/common/v2.0/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(v2["issuer"], format!("{}/{{tenantid}}/v2.0", app.base_url));
    assert_eq!(v2["token_endpoint"], format!("{}/common/oauth2/v2.0/token", app.base_url));
    assert_eq!(v2["tenant_region_scope"], Value::Null);
    let v1: Value = app.get("/common/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(v1["issuer"], "https://sts.windows.net/{tenantid}/");
    let organizations: Value =
        app.get("/organizations/v2.0/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(organizations["token_endpoint"], format!("{}/organizations/oauth2/v2.0/token", app.base_url));
}

#[tokio::test]
async fn an_unknown_tenant_gets_invalid_tenant_90002_from_discovery_and_keys() {
    let app = spawn_app().await;
    for path in [
        "/nowhere.onmicrosoft.com/v2.0/.well-known/openid-configuration",
        "/00000000-0000-4000-8000-000000000009/.well-known/openid-configuration",
        "/nowhere.onmicrosoft.com/discovery/keys",
        "/nowhere.onmicrosoft.com/discovery/v2.0/keys",
    ] {
        let body = assert_aad_error(app.get(path).await, 400, "invalid_tenant", 90002).await;
        assert!(body["error_description"].as_str().unwrap().contains("not found"), "{path}");
    }
}

#[tokio::test]
async fn every_jwks_path_publishes_at_least_two_keys_named_by_their_certificate_thumbprint() {
    let app = spawn_app().await;
    let partner = seed_partner(&app, &[]).await;
    let tid = &partner.consented[0];
    for path in [
        "/common/discovery/keys".to_owned(),
        format!("/{tid}/discovery/keys"),
        "/common/discovery/v2.0/keys".to_owned(),
        format!("/{tid}/discovery/v2.0/keys"),
    ] {
        let jwks: Value = app.get(&path).await.json().await.unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert!(keys.len() >= 2, "{path}: the signing key and the next one");
        for key in keys {
            let names: Vec<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(names[..7], ["kty", "use", "kid", "x5t", "n", "e", "x5c"]);
            assert_eq!(key["kty"], "RSA");
            assert_eq!(key["use"], "sig");
            assert_eq!(key["e"], "AQAB");
            assert!(key.get("alg").is_none());
            let der = STANDARD.decode(key["x5c"][0].as_str().unwrap()).unwrap();
            let thumbprint = openssl_sha1(&der);
            assert_eq!(key["kid"], URL_SAFE_NO_PAD.encode(thumbprint));
            assert_eq!(key["kid"], key["x5t"]);
            assert_eq!(URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap().len(), 256, "RSA-2048");
            if path.contains("v2.0") {
                assert_eq!(key["issuer"], format!("{}/{{tenantid}}/v2.0", app.base_url));
            } else {
                assert!(key.get("issuer").is_none());
            }
        }
    }
}

fn openssl_sha1(bytes: &[u8]) -> Vec<u8> {
    // The thumbprint computed independently of the server, with openssl's definition.
    let output = std::process::Command::new("openssl")
        .args(["dgst", "-sha1", "-binary"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("openssl computes SHA-1");
    output.stdout
}

#[tokio::test]
async fn instance_discovery_vouches_only_for_this_host() {
    let app = spawn_app().await;
    let ours = format!("{}/common/oauth2/v2.0/authorize", app.base_url);
    let answer: Value = app
        .client
        .get(format!("{}/common/discovery/instance", app.base_url))
        .query(&[("api-version", "1.1"), ("authorization_endpoint", ours.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["tenant_discovery_endpoint"],
        format!("{}/common/v2.0/.well-known/openid-configuration", app.base_url)
    );
    let theirs = app
        .client
        .get(format!("{}/common/discovery/instance", app.base_url))
        .query(&[
            ("api-version", "1.1"),
            ("authorization_endpoint", "https://login.example.com/common/oauth2/v2.0/authorize"),
        ])
        .send()
        .await
        .unwrap();
    assert_aad_error(theirs, 400, "invalid_instance", 50049).await;

    // MSAL for Python asks with the port dropped: the host alone names this server; another
    // explicit port does not.
    let base = url::Url::parse(&app.base_url).unwrap();
    let host = base.host_str().unwrap();
    for (endpoint, vouched) in [
        (format!("https://{host}/organizations/oauth2/v2.0/authorize"), true),
        (format!("https://{host}:1/common/oauth2/v2.0/authorize"), false),
    ] {
        let response = app
            .client
            .get(format!("{}/common/discovery/instance", app.base_url))
            .query(&[("api-version", "1.1"), ("authorization_endpoint", endpoint.as_str())])
            .send()
            .await
            .unwrap();
        if vouched {
            assert_eq!(response.status(), 200, "{endpoint}");
            let answer: Value = response.json().await.unwrap();
            let expected = format!("{}/organizations/v2.0/.well-known/openid-configuration", app.base_url);
            assert_eq!(answer["tenant_discovery_endpoint"], expected, "{endpoint}");
        } else {
            assert_aad_error(response, 400, "invalid_instance", 50049).await;
        }
    }
}

#[tokio::test]
async fn discovery_documents_keep_their_shape() {
    let app = spawn_app().await;
    let base = app.base_url.clone();
    let redact = |document: Value| -> Value {
        serde_json::from_str(&serde_json::to_string(&document).unwrap().replace(&base, "[base]")).unwrap()
    };
    let v2: Value = app.get("/common/v2.0/.well-known/openid-configuration").await.json().await.unwrap();
    insta::assert_json_snapshot!("openid_configuration_v2_common", redact(v2));
    let v1: Value = app.get("/common/.well-known/openid-configuration").await.json().await.unwrap();
    insta::assert_json_snapshot!("openid_configuration_v1_common", redact(v1));
}

/// Azure's cloud metadata document names this server as the login endpoint, in the shape of
/// the version asked, so tools configured by one URL (msticpy, `az cloud register`) find it.
#[tokio::test]
async fn the_cloud_metadata_document_names_this_server_as_the_login_endpoint() {
    let app = spawn_app().await;
    let get = |version: &'static str| {
        let url = format!("{}/metadata/endpoints?api-version={version}", app.base_url);
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    for version in ["latest", "2022-09-01"] {
        let current = get(version).await;
        assert_eq!(current["authentication"]["loginEndpoint"], app.base_url.as_str(), "{version}");
        assert_eq!(current["resourceManager"], format!("{}/", app.base_url), "{version}");
        assert_eq!(current["microsoftGraphResourceId"], "https://graph.microsoft.com/", "{version}");
    }
    let clouds = get("2019-05-01").await;
    assert_eq!(clouds[0]["authentication"]["loginEndpoint"], app.base_url.as_str());
    let first = get("2015-01-01").await;
    assert_eq!(first["authentication"]["loginEndpoint"], app.base_url.as_str());
    assert_eq!(first["portalEndpoint"], format!("{}/portal", app.base_url));
}
