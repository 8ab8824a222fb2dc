//! Token signing keys: RSA-2048, each with a self-signed certificate; `kid` = `x5t` =
//! base64url SHA-1 of the certificate DER, as Microsoft's (`identity-protocol.md` 4.2, 5.3).
//!
//! Keys are parsed once, when loaded, and kept in a [`KeyRing`]: parsing an RSA private key
//! costs more than half a signature, so the token path never parses.

use std::sync::Arc;

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{CertificateParams, DistinguishedName, DnType, PKCS_RSA_SHA256, RsaKeySize, SerialNumber};
use threatgate_domain::KeyId;
use threatgate_proto::{Jwk, JwtHeader};
use threatgate_store::{KeyStore, SigningKeyRecord};
use time::{Duration, OffsetDateTime};

use crate::random::random_bytes;
use crate::{Error, Result};

/// How long a signing key's certificate is valid, as Microsoft's (5 years).
const CERTIFICATE_LIFETIME: Duration = Duration::days(5 * 365);

/// A parsed signing key, ready to sign.
pub struct SigningKey {
    kid: KeyId,
    key_pair: RsaKeyPair,
    /// The public key, kept encoded once for verification.
    public_key: UnparsedPublicKey<Vec<u8>>,
    certificate_der: Vec<u8>,
    /// The token header, already base64url-encoded with the trailing `.`.
    encoded_header: String,
    activates_at: OffsetDateTime,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

/// base64url (unpadded) SHA-1 of a certificate's DER: the key id and `x5t`.
pub fn certificate_key_id(certificate_der: &[u8]) -> KeyId {
    KeyId::new(URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, certificate_der)))
}

impl SigningKey {
    /// Generates a key and its certificate; it may sign from `activates_at` on.
    pub fn generate(now: OffsetDateTime, activates_at: OffsetDateTime) -> Result<SigningKeyRecord> {
        let rcgen_key = rcgen::KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)
            .map_err(|e| Error::KeyGeneration(e.to_string()))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "Threatgate token signing");
        params.distinguished_name = name;
        params.not_before = now - Duration::days(1);
        params.not_after = now + CERTIFICATE_LIFETIME;
        params.serial_number = Some(SerialNumber::from_slice(&random_bytes::<16>()?));
        let certificate = params.self_signed(&rcgen_key).map_err(|e| Error::KeyGeneration(e.to_string()))?;
        let certificate_der = certificate.der().to_vec();
        Ok(SigningKeyRecord {
            kid: certificate_key_id(&certificate_der),
            private_key_pkcs8: rcgen_key.serialize_der(),
            certificate_der,
            created_at: now,
            activates_at,
            retired_at: None,
        })
    }

    /// Parses a stored key, checking that its id matches its certificate.
    pub fn from_record(record: &SigningKeyRecord) -> Result<Self> {
        let key_pair = RsaKeyPair::from_pkcs8(&record.private_key_pkcs8)
            .map_err(|e| Error::KeyParse(format!("key {}: {e}", record.kid)))?;
        if certificate_key_id(&record.certificate_der) != record.kid {
            return Err(Error::KeyParse(format!("key {} does not match its certificate", record.kid)));
        }
        let header = JwtHeader {
            typ: "JWT".into(),
            alg: "RS256".into(),
            x5t: record.kid.to_string(),
            kid: record.kid.to_string(),
        };
        let header_json = serde_json::to_vec(&header).map_err(|e| Error::KeyParse(e.to_string()))?;
        let public_key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key_pair.public_key().as_ref().to_vec());
        Ok(Self {
            kid: record.kid.clone(),
            key_pair,
            public_key,
            certificate_der: record.certificate_der.clone(),
            encoded_header: format!("{}.", URL_SAFE_NO_PAD.encode(header_json)),
            activates_at: record.activates_at,
        })
    }

    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    pub fn activates_at(&self) -> OffsetDateTime {
        self.activates_at
    }

    /// Encodes and signs a JWT with these claims (RS256).
    pub fn sign_jwt(&self, claims: &impl serde::Serialize) -> Result<String> {
        let claims_json = serde_json::to_vec(claims).map_err(|e| Error::Signing(e.to_string()))?;
        let mut token = String::with_capacity(self.encoded_header.len() + claims_json.len() * 4 / 3 + 350);
        token.push_str(&self.encoded_header);
        URL_SAFE_NO_PAD.encode_string(claims_json, &mut token);
        let mut signature = vec![0u8; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), token.as_bytes(), &mut signature)
            .map_err(|_| Error::Signing("RSA signing failed".into()))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// Whether `signature` is this key's RS256 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.public_key.verify(message, signature).is_ok()
    }

    /// The public key as published in a JWKS document.
    pub fn jwk(&self, issuer: Option<String>) -> Jwk {
        let public = self.key_pair.public_key();
        Jwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            kid: self.kid.to_string(),
            x5t: self.kid.to_string(),
            n: URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            e: URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            x5c: vec![STANDARD.encode(&self.certificate_der)],
            issuer,
        }
    }
}

/// The published keys, ordered by activation time.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
}

impl KeyRing {
    pub fn from_records(records: &[SigningKeyRecord]) -> Result<Self> {
        let mut keys = records
            .iter()
            .filter(|record| record.retired_at.is_none())
            .map(|record| SigningKey::from_record(record).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        keys.sort_by_key(|key| key.activates_at);
        Ok(Self { keys })
    }

    /// A ring of already parsed keys.
    pub fn from_keys(mut keys: Vec<Arc<SigningKey>>) -> Self {
        keys.sort_by_key(|key| key.activates_at);
        Self { keys }
    }

    /// The key that signs at `now`: the most recently activated one.
    pub fn signing_key(&self, now: OffsetDateTime) -> Option<&Arc<SigningKey>> {
        self.keys.iter().rev().find(|key| key.activates_at <= now)
    }

    /// Every published key: the signing one, the next ones, and older ones still trusted.
    pub fn published(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    pub fn find(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|key| key.kid.as_str() == kid)
    }
}

/// How long a key stays published after its successor started signing: longer than any token
/// it signed lives (60 minutes, plus 5 minutes of skew), with a day's margin.
pub const RETIRE_AFTER_SUCCESSOR: Duration = Duration::days(1);
/// How long a key is published before it may sign, so that verifiers' cached JWKS (a day, as
/// Microsoft's clients cache them) hold it first.
pub const PUBLISH_BEFORE_SIGNING: Duration = Duration::days(1);

/// Makes sure there is a key that signs now and a next key already published, generating what
/// is missing, and retires keys whose successor has signed for [`RETIRE_AFTER_SUCCESSOR`]. The
/// next key activates `rotation_period` after the newest active key did. Returns whether
/// anything changed.
pub async fn ensure_signing_keys(store: &dyn KeyStore, now: OffsetDateTime, rotation_period: Duration) -> Result<bool> {
    let records = store.list_signing_keys().await?;
    let newest_active = records.iter().filter(|r| r.activates_at <= now).map(|r| r.activates_at).max();
    let has_next = records.iter().any(|r| r.activates_at > now);
    let mut changed = false;
    let current_start = match newest_active {
        Some(start) => start,
        None => {
            store.insert_signing_key(&SigningKey::generate(now, now)?).await?;
            changed = true;
            now
        }
    };
    if !has_next {
        let activates_at = (current_start + rotation_period).max(now + PUBLISH_BEFORE_SIGNING);
        store.insert_signing_key(&SigningKey::generate(now, activates_at)?).await?;
        changed = true;
    }
    for old in records.iter().filter(|r| r.activates_at < current_start) {
        // Its successor is the next key to activate after it; all of them are active by now.
        let successor = records.iter().map(|r| r.activates_at).filter(|at| *at > old.activates_at && *at <= now).min();
        if successor.is_some_and(|at| now - at >= RETIRE_AFTER_SUCCESSOR) {
            store.retire_signing_key(&old.kid, now).await?;
            tracing::info!(kid = %old.kid.as_str(), "signing key retired: every token it signed has expired");
            changed = true;
        }
    }
    Ok(changed)
}

/// What a rotation did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    /// The key that signs from `signs_from`.
    pub new_key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub signs_from: OffsetDateTime,
    /// The key signing until then; published until a day after (or dropped, in an emergency).
    pub previous_key: Option<String>,
    /// Keys taken out of the JWKS at once (an emergency): tokens they signed stop verifying.
    pub dropped: Vec<String>,
    /// The key published now to follow `new_key`.
    pub next_key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub next_signs_from: OffsetDateTime,
}

/// Rotates on demand: the next key signs as soon as it has been published for
/// [`PUBLISH_BEFORE_SIGNING`] (now, when it was published long enough ago), and a new next key
/// is published. An `emergency` rotation drops the signing key at once (its tokens stop
/// verifying) and lets the next key sign now, whatever caches hold.
pub async fn rotate_signing_keys(
    store: &dyn KeyStore,
    now: OffsetDateTime,
    rotation_period: Duration,
    emergency: bool,
) -> Result<Rotation> {
    ensure_signing_keys(store, now, rotation_period).await?;
    let records = store.list_signing_keys().await?;
    let current = records.iter().filter(|r| r.activates_at <= now).max_by_key(|r| r.activates_at);
    let next = records.iter().filter(|r| r.activates_at > now).min_by_key(|r| r.activates_at);
    let (Some(current), Some(next)) = (current, next) else {
        return Err(crate::Error::NoSigningKey);
    };
    let signs_from = if emergency { now } else { (next.created_at + PUBLISH_BEFORE_SIGNING).max(now) };
    store.set_signing_key_activation(&next.kid, signs_from).await?;
    let mut dropped = Vec::new();
    if emergency {
        for active in records.iter().filter(|r| r.activates_at <= now) {
            store.retire_signing_key(&active.kid, now).await?;
            dropped.push(active.kid.as_str().to_owned());
        }
    }
    let next_signs_from = (signs_from + rotation_period).max(now + PUBLISH_BEFORE_SIGNING);
    let following = SigningKey::generate(now, next_signs_from)?;
    store.insert_signing_key(&following).await?;
    tracing::warn!(
        new_key = %next.kid.as_str(), %signs_from, emergency, dropped = dropped.len(),
        "signing keys rotated"
    );
    Ok(Rotation {
        new_key: next.kid.as_str().to_owned(),
        signs_from,
        previous_key: (!emergency).then(|| current.kid.as_str().to_owned()),
        dropped,
        next_key: following.kid.as_str().to_owned(),
        next_signs_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn the_key_id_is_the_certificate_thumbprint_and_tokens_verify() -> Result<()> {
        let record = SigningKey::generate(at(0), at(0))?;
        let key = SigningKey::from_record(&record)?;
        assert_eq!(key.kid().as_str().len(), 27, "base64url of 20 bytes, unpadded");

        let token = key.sign_jwt(&serde_json::json!({"aud": "x", "exp": 4_000_000_000i64}))?;
        let jwk = key.jwk(None);
        let decoding_key = jsonwebtoken::DecodingKey::from_rsa_components(&jwk.n, &jwk.e)
            .map_err(|e| Error::KeyParse(e.to_string()))?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["x"]);
        let header = jsonwebtoken::decode_header(&token).map_err(|e| Error::KeyParse(e.to_string()))?;
        assert_eq!(header.kid.as_deref(), Some(key.kid().as_str()));
        assert_eq!(header.x5t.as_deref(), Some(key.kid().as_str()));
        jsonwebtoken::decode::<serde_json::Value>(&token, &decoding_key, &validation)
            .map_err(|e| Error::KeyParse(e.to_string()))?;
        Ok(())
    }

    #[test]
    fn a_record_whose_id_does_not_match_its_certificate_is_refused() -> Result<()> {
        let mut record = SigningKey::generate(at(0), at(0))?;
        record.kid = KeyId::new("not-the-thumbprint");
        assert!(SigningKey::from_record(&record).is_err());
        Ok(())
    }

    #[test]
    fn the_ring_signs_with_the_newest_active_key_and_publishes_all() -> Result<()> {
        let old = SigningKey::generate(at(0), at(0))?;
        let next = SigningKey::generate(at(0), at(1000))?;
        let ring = KeyRing::from_records(&[next.clone(), old.clone()])?;
        assert_eq!(ring.published().len(), 2);
        assert_eq!(ring.signing_key(at(10)).map(|k| k.kid().clone()), Some(old.kid.clone()));
        assert_eq!(ring.signing_key(at(1000)).map(|k| k.kid().clone()), Some(next.kid));
        assert!(ring.signing_key(at(-1)).is_none());
        Ok(())
    }
}
