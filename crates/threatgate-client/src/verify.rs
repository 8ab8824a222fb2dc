//! Checking an access token's signature against its issuer's published keys, as an API would:
//! the tenant's discovery document names the JWKS, whose key with the token's `kid` must
//! verify the RS256 signature.

use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};
use crate::http::{Http, Repeat, RetryPolicy};

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The JWKS the keys came from.
    pub jwks_uri: String,
    pub kid: String,
    /// Whether a published key with that `kid` verified the signature.
    pub valid: bool,
    /// Why not, when it did not.
    pub problem: Option<String>,
}

/// Verifies `token`'s signature with the keys `authority` publishes for the token's tenant
/// (`{authority}/{tid}/v2.0/.well-known/openid-configuration` → `jwks_uri`).
pub async fn verify_signature(token: &str, authority: &str, extra_ca: Option<&Path>) -> Result<SignatureCheck> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(Error::Config("not a JWT: expected three dot-separated parts".into()));
    };
    let json = |part: &str, what: &str| -> Result<serde_json::Value> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| Error::Config(format!("the token's {what} is not base64url")))?;
        serde_json::from_slice(&bytes).map_err(|_| Error::Config(format!("the token's {what} is not JSON")))
    };
    let header = json(header, "header")?;
    let claims = json(claims, "payload")?;
    let kid = header.get("kid").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let tenant = claims.get("tid").and_then(|v| v.as_str()).unwrap_or("common");
    let http = Http::new(extra_ca, RetryPolicy::default(), Arc::new(crate::SystemClock))?;
    let discovery_url = format!("{}/{tenant}/v2.0/.well-known/openid-configuration", authority.trim_end_matches('/'));
    let discovery = fetch_json(&http, &discovery_url).await?;
    let jwks_uri = discovery
        .get("jwks_uri")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::Protocol { url: discovery_url.clone(), detail: "no jwks_uri".into() })?
        .to_owned();
    let keys = fetch_json(&http, &jwks_uri).await?;
    let mut check = SignatureCheck { jwks_uri, kid: kid.clone(), valid: false, problem: None };
    if header.get("alg").and_then(|v| v.as_str()) != Some("RS256") {
        check.problem =
            Some(format!("the algorithm is {}, not RS256", header.get("alg").unwrap_or(&serde_json::Value::Null)));
        return Ok(check);
    }
    let Some(key) = keys
        .get("keys")
        .and_then(|k| k.as_array())
        .and_then(|keys| keys.iter().find(|key| key.get("kid").and_then(|v| v.as_str()) == Some(kid.as_str())))
    else {
        check.problem = Some(format!("no published key has kid {kid:?}"));
        return Ok(check);
    };
    let component = |name: &str| key.get(name).and_then(|v| v.as_str()).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    let (Some(n), Some(e), Ok(signature)) =
        (component("n"), component("e"), URL_SAFE_NO_PAD.decode(signature.trim_end_matches('=')))
    else {
        check.problem = Some("the key or the signature is malformed".into());
        return Ok(check);
    };
    let message = format!("{}.{}", parts[0], parts[1]);
    match (RsaPublicKeyComponents { n: &n, e: &e }).verify(&RSA_PKCS1_2048_8192_SHA256, message.as_bytes(), &signature)
    {
        Ok(()) => check.valid = true,
        Err(_) => check.problem = Some("the signature does not match the published key".into()),
    }
    Ok(check)
}

async fn fetch_json(http: &Http, url: &str) -> Result<serde_json::Value> {
    let answer = http.send(Repeat::Safe, || http.client().get(url)).await?;
    serde_json::from_str(&answer.body).map_err(|e| Error::Protocol { url: url.to_owned(), detail: e.to_string() })
}
