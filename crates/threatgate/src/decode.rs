//! `threatgate decode`: shows an access token's header and claims, without verifying it.

use std::io::Read;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::cli::DecodeArgs;
use crate::output::{emit, when};

pub async fn decode(args: DecodeArgs, json: bool) -> anyhow::Result<()> {
    let input = if args.token == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading standard input")?;
        text
    } else {
        args.token.clone()
    };
    let token = token_from(input.trim())?;
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, _signature] = parts.as_slice() else {
        bail!("not a JWT: expected three dot-separated parts, found {}", parts.len());
    };
    let header = decode_part(header).context("decoding the header")?;
    let claims = decode_part(claims).context("decoding the claims")?;
    let check = if args.verify {
        let authority = args.authority.as_deref().unwrap_or(threatgate_client::DEFAULT_AUTHORITY);
        Some(threatgate_client::verify_signature(&token, authority, args.ca_cert.as_deref()).await?)
    } else {
        None
    };
    let mut output = serde_json::json!({ "header": header, "claims": claims });
    if let Some(check) = &check {
        output["signature"] = serde_json::json!({
            "valid": check.valid, "kid": check.kid, "jwks_uri": check.jwks_uri, "problem": check.problem,
        });
    }
    let result = emit(json, &output, || {
        let mut text = format!(
            "header\n{}\n\nclaims\n{}\n",
            serde_json::to_string_pretty(&header).unwrap_or_default(),
            serde_json::to_string_pretty(&claims).unwrap_or_default()
        );
        if let Some(exp) = claims.get("exp").and_then(Value::as_i64)
            && let Ok(expiry) = time::OffsetDateTime::from_unix_timestamp(exp)
        {
            let left = exp - time::OffsetDateTime::now_utc().unix_timestamp();
            let state = if left > 0 { format!("in {} min", left / 60) } else { "expired".into() };
            text.push_str(&format!("\nexpires {} ({state})\n", when(expiry)));
        }
        match &check {
            None => text.push_str("(signature not verified; --verify checks it against the issuer's keys)"),
            Some(check) if check.valid => {
                text.push_str(&format!("signature: valid (key {} of {})", check.kid, check.jwks_uri));
            }
            Some(check) => text.push_str(&format!(
                "signature: INVALID: {} (keys of {})",
                check.problem.as_deref().unwrap_or("unknown"),
                check.jwks_uri
            )),
        }
        text
    });
    result?;
    if check.is_some_and(|c| !c.valid) {
        bail!("the token's signature did not verify");
    }
    Ok(())
}

/// Accepts a bare token or a token endpoint response holding `access_token`.
fn token_from(input: &str) -> anyhow::Result<String> {
    if input.starts_with('{') {
        let response: Value = serde_json::from_str(input).context("reading the JSON input")?;
        return response
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .context("the JSON input has no access_token");
    }
    Ok(input.to_owned())
}

fn decode_part(part: &str) -> anyhow::Result<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).or_else(|_| URL_SAFE.decode(part)).context("not base64url")?;
    serde_json::from_slice(&bytes).context("not JSON")
}
