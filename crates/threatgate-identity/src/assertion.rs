//! Client assertions (`private_key_jwt`, `identity-protocol.md` 2.5): a JWT the client signs
//! with a certificate's private key instead of sending a secret.
//!
//! Real clients disagree on nearly every encoding detail, so this accepts all of what they
//! send: RS256 with `x5t` (SHA-1) or PS256 with `x5t#S256`, url-safe or standard base64 with
//! or without padding (in the segments and in the thumbprints), `x5c` entries holding DER or
//! PEM text, float or integer times, no `nbf` or `iat`, and the same assertion sent again
//! while it is unexpired (MSAL reuses one for nine minutes).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use threatgate_domain::{AppId, CertificateCredentialRecord, Tenant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::certificates::{Certificate, SignatureAlgorithm, first_pem_certificate, hex_upper, sha256};
use crate::error::{AadError, excerpt};

/// How far an assertion's times may be off this server's clock.
const CLOCK_SKEW_SECONDS: f64 = 300.0;

/// A certificate credential with its certificate parsed once, when the view is built.
#[derive(Debug, Clone)]
pub struct RegisteredCertificate {
    pub record: CertificateCredentialRecord,
    pub certificate: Certificate,
}

/// What an assertion is checked against.
#[derive(Debug, Clone, Copy)]
pub struct AssertionCheck<'a> {
    /// The application the request names (`client_id`).
    pub client_id: AppId,
    pub certificates: &'a [RegisteredCertificate],
    /// The tenant the request was posted to.
    pub tenant: &'a Tenant,
    /// The origins (`https://host[:port]`) the token endpoints are reached at.
    pub origins: &'a [String],
    pub now: OffsetDateTime,
    /// The longest an assertion may still be valid for (`exp` − now).
    pub max_lifetime: time::Duration,
}

/// Verifies a client assertion; on success the client is authenticated by certificate.
pub fn verify_client_assertion(assertion: &str, check: AssertionCheck<'_>) -> Result<(), AadError> {
    let malformed = |detail: &str| AadError::InvalidClientAssertion { detail: detail.to_owned() };
    let mut segments = assertion.trim().split('.');
    let (Some(header_text), Some(payload_text), Some(signature_text), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return Err(malformed("The client assertion is not a signed JWT (header.payload.signature)."));
    };
    let header = decode_json_object(header_text)
        .ok_or_else(|| malformed("The client assertion's header is not base64 JSON."))?;
    let payload = decode_json_object(payload_text)
        .ok_or_else(|| malformed("The client assertion's payload is not base64 JSON."))?;
    let signature =
        decode_base64(signature_text).ok_or_else(|| malformed("The client assertion's signature is not base64."))?;

    let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let algorithm = SignatureAlgorithm::parse(alg).ok_or_else(|| AadError::InvalidClientAssertion {
        detail: format!("The client assertion's algorithm '{}' is not supported; use RS256 or PS256.", excerpt(alg)),
    })?;

    // The key: by SHA-256 thumbprint, else SHA-1, else the certificate sent in x5c.
    let presented = PresentedKey::from_header(&header)?;
    let registered = presented.find(check.certificates);
    let Some(registered) = registered else {
        return Err(AadError::InvalidClientAssertionSignature {
            reason: "The key was not found.",
            thumbprint: presented.thumbprint_text(),
            detail: format!(
                ", Please check the certificate credentials of application '{}' (threatgate app certificate list)",
                check.client_id
            ),
        });
    };
    if let Some(leaf) = &presented.x5c_leaf
        && leaf.as_slice() != registered.certificate.der()
    {
        return Err(AadError::InvalidClientAssertionSignature {
            reason: "The certificate in x5c is not the one the thumbprint names.",
            thumbprint: presented.thumbprint_text(),
            detail: String::new(),
        });
    }

    // The signature covers the first two segments exactly as sent (padding included).
    let signed = &assertion.trim()[..header_text.len() + 1 + payload_text.len()];
    if !registered.certificate.verifies(algorithm, signed.as_bytes(), &signature) {
        return Err(AadError::InvalidClientAssertionSignature {
            reason: "The provided signature value did not match the expected signature value.",
            thumbprint: presented.thumbprint_text(),
            detail: String::new(),
        });
    }
    if !registered.record.is_valid_at(check.now) {
        return Err(AadError::ExpiredCertificate {
            app_id: check.client_id.to_string(),
            thumbprint: registered.record.thumbprint.clone(),
            start: rfc3339(registered.record.start),
            end: rfc3339(registered.record.end),
        });
    }

    check_claims(&payload, check)
}

/// `iss`, `sub`, `aud` and the time claims.
fn check_claims(payload: &Map<String, Value>, check: AssertionCheck<'_>) -> Result<(), AadError> {
    let text = |name: &str| payload.get(name).and_then(Value::as_str);
    let issuer = text("iss").unwrap_or_default();
    let subject = text("sub").unwrap_or_default();
    if issuer != subject {
        return Err(AadError::AssertionSubjectMismatch);
    }
    if AppId::parse(issuer) != Some(check.client_id) {
        return Err(AadError::InvalidClientAssertion {
            detail: format!(
                "The client assertion's issuer '{}' is not the client_id '{}'.",
                excerpt(issuer),
                check.client_id
            ),
        });
    }

    let audiences: Vec<&str> = match payload.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|audience| is_token_endpoint_of(audience, check.tenant, check.origins)) {
        let first = audiences.first().copied().unwrap_or_default();
        let expected = check.origins.first().map(String::as_str).unwrap_or_default();
        return Err(AadError::InvalidClientAssertion {
            detail: format!(
                "The client assertion's audience '{}' is not this tenant's token endpoint, e.g. '{expected}/{}/oauth2/v2.0/token'.",
                excerpt(first),
                check.tenant.id
            ),
        });
    }

    let now = check.now.unix_timestamp() as f64;
    let time_claim = |name: &str| -> Result<Option<f64>, AadError> {
        match payload.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_f64().map(Some).ok_or_else(|| AadError::InvalidClientAssertion {
                detail: format!("The client assertion's '{name}' claim is not a number."),
            }),
        }
    };
    let expires = time_claim("exp")?.ok_or_else(|| AadError::InvalidClientAssertion {
        detail: "The client assertion has no 'exp' claim.".into(),
    })?;
    let not_before = time_claim("nbf")?;
    time_claim("iat")?;
    let too_early = not_before.is_some_and(|nbf| nbf - CLOCK_SKEW_SECONDS > now);
    if expires + CLOCK_SKEW_SECONDS <= now || too_early {
        return Err(AadError::InvalidClientAssertion {
            detail: format!(
                "The client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}.",
                describe_time(Some(now)),
                describe_time(not_before),
                describe_time(Some(expires)),
            ),
        });
    }
    let max_lifetime = check.max_lifetime.as_seconds_f64();
    if expires - now > max_lifetime + CLOCK_SKEW_SECONDS {
        return Err(AadError::InvalidClientAssertion {
            detail: format!(
                "The client assertion is valid for too long: it expires at {}, more than {} seconds from now (current time {}). Make assertions that expire within 10 minutes.",
                describe_time(Some(expires)),
                max_lifetime,
                describe_time(Some(now)),
            ),
        });
    }
    Ok(())
}

/// Whether `audience` is a token endpoint of `tenant` at one of `origins`: the v2 or v1 token
/// URL with the tenant's GUID or any of its domains, or the legacy `{origin}/{tid}/v2.0`.
fn is_token_endpoint_of(audience: &str, tenant: &Tenant, origins: &[String]) -> bool {
    // URLs compare without case (hosts, GUIDs and domains are case-insensitive; clients differ
    // in how they spell them) and without a trailing slash.
    let audience = audience.trim_end_matches('/').to_ascii_lowercase();
    let tenant_id = tenant.id.to_string();
    origins.iter().any(|origin| {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        let Some((segment, rest)) = audience
            .strip_prefix(&origin)
            .and_then(|path| path.strip_prefix('/'))
            .and_then(|path| path.split_once('/'))
        else {
            return false;
        };
        let names_tenant =
            segment == tenant_id || tenant.domains.iter().any(|domain| segment.eq_ignore_ascii_case(domain.as_str()));
        match rest {
            "oauth2/v2.0/token" | "oauth2/token" => names_tenant,
            "v2.0" => segment == tenant_id,
            _ => false,
        }
    })
}

/// The key an assertion's header names.
#[derive(Debug, Default)]
struct PresentedKey {
    sha256: Option<Vec<u8>>,
    sha1: Option<Vec<u8>>,
    /// The first certificate of `x5c`, DER.
    x5c_leaf: Option<Vec<u8>>,
}

impl PresentedKey {
    fn from_header(header: &Map<String, Value>) -> Result<Self, AadError> {
        let malformed = |name: &str| AadError::InvalidClientAssertion {
            detail: format!("The client assertion's '{name}' header is not a base64 thumbprint."),
        };
        let thumbprint = |name: &str, length: usize| -> Result<Option<Vec<u8>>, AadError> {
            match header.get(name) {
                None => Ok(None),
                Some(value) => {
                    let bytes = value.as_str().and_then(decode_base64).filter(|bytes| bytes.len() == length);
                    bytes.map(Some).ok_or_else(|| malformed(name))
                }
            }
        };
        let x5c_leaf = match header.get("x5c") {
            None => None,
            Some(chain) => Some(x5c_leaf(chain).ok_or_else(|| AadError::InvalidClientAssertion {
                detail: "The client assertion's 'x5c' header is not a list of base64 certificates.".into(),
            })?),
        };
        Ok(Self { sha256: thumbprint("x5t#S256", 32)?, sha1: thumbprint("x5t", 20)?, x5c_leaf })
    }

    /// The registered certificate the header names: by `x5t#S256`, else `x5t`, else `x5c[0]`.
    fn find<'c>(&self, certificates: &'c [RegisteredCertificate]) -> Option<&'c RegisteredCertificate> {
        if let Some(sha256) = &self.sha256 {
            let hex = hex_upper(sha256);
            return certificates.iter().find(|registered| registered.record.thumbprint_sha256 == hex);
        }
        if let Some(sha1) = &self.sha1 {
            let hex = hex_upper(sha1);
            return certificates.iter().find(|registered| registered.record.thumbprint == hex);
        }
        let leaf = self.x5c_leaf.as_deref()?;
        let hex = hex_upper(&sha256(leaf));
        certificates.iter().find(|registered| registered.record.thumbprint_sha256 == hex)
    }

    /// The thumbprint for error messages, upper-case hex as Microsoft prints it.
    fn thumbprint_text(&self) -> String {
        match (&self.sha1, &self.sha256, &self.x5c_leaf) {
            (Some(sha1), _, _) => hex_upper(sha1),
            (None, Some(sha256), _) => hex_upper(sha256),
            (None, None, Some(leaf)) => hex_upper(&sha256(leaf)),
            (None, None, None) => String::new(),
        }
    }
}

/// The DER of `x5c[0]`: base64 of DER, or (the Rust SDK's quirk) base64 of PEM text; line
/// breaks inside the entry are ignored.
fn x5c_leaf(chain: &Value) -> Option<Vec<u8>> {
    let first = chain.as_array()?.first()?.as_str()?;
    let compact: String = first.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = decode_base64(&compact)?;
    if bytes.starts_with(b"-----BEGIN CERTIFICATE-----") { first_pem_certificate(&bytes) } else { Some(bytes) }
}

/// Base64 in either alphabet, with or without padding.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let normalized: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(normalized).ok()
}

fn decode_json_object(segment: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&decode_base64(segment)?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn describe_time(seconds: Option<f64>) -> String {
    let Some(seconds) = seconds else { return "(not given)".into() };
    OffsetDateTime::from_unix_timestamp(seconds as i64).map(rfc3339).unwrap_or_else(|_| seconds.to_string())
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}
