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

/// The key-encryption key: signing keys' private parts are stored sealed under it with
/// AES-256-GCM (the key id as associated data), so a copy of the database alone signs nothing.
pub struct KeyEncryptionKey {
    key: aws_lc_rs::aead::LessSafeKey,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(<key>)")
    }
}

/// Marks a sealed private key: `TGK1`, a 12-byte nonce, then the ciphertext and its tag.
const SEALED: &[u8] = b"TGK1";

impl KeyEncryptionKey {
    /// A key of exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let unbound = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, bytes)
            .map_err(|_| Error::KeyFile("a key-encryption key has exactly 32 bytes".into()))?;
        Ok(Self { key: aws_lc_rs::aead::LessSafeKey::new(unbound) })
    }

    /// 32 bytes in standard or URL-safe base64 (the form `THREATGATE_KEY_ENCRYPTION_KEY` takes).
    pub fn from_base64(text: &str) -> Result<Self> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE.decode(text))
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| Error::KeyFile("the key-encryption key is not base64".into()))?;
        Self::from_bytes(&bytes)
    }

    /// Reads the key file, creating it (32 random bytes, owner-only) when it does not exist.
    pub fn load_or_create(path: &std::path::Path) -> Result<Self> {
        let bytes = crate::files::read_or_create_private_file(path, || Ok(random_bytes::<32>()?.to_vec()))?;
        Self::from_bytes(&bytes).map_err(|_| Error::KeyFile(format!("{} does not hold 32 bytes", path.display())))
    }

    fn seal(&self, kid: &KeyId, plaintext: &[u8]) -> Result<Vec<u8>> {
        use aws_lc_rs::aead::{Aad, Nonce};
        let nonce_bytes = random_bytes::<12>()?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(kid.as_str()), &mut sealed)
            .map_err(|_| Error::KeyGeneration("sealing a private key failed".into()))?;
        Ok([SEALED, &nonce_bytes[..], &sealed].concat())
    }

    /// The PKCS#8 bytes of a stored key: unsealed, or as stored by versions before sealing.
    fn open(&self, kid: &KeyId, stored: &[u8]) -> Result<Vec<u8>> {
        use aws_lc_rs::aead::{Aad, Nonce};
        let Some(rest) = stored.strip_prefix(SEALED) else { return Ok(stored.to_vec()) };
        let (nonce, sealed) =
            rest.split_at_checked(12).ok_or_else(|| Error::KeyParse(format!("key {kid}: truncated")))?;
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::KeyParse(format!("key {kid}: bad nonce")))?;
        let mut buffer = sealed.to_vec();
        let plaintext = self.key.open_in_place(nonce, Aad::from(kid.as_str()), &mut buffer).map_err(|_| {
            Error::KeyParse(format!("key {kid} does not open with this key-encryption key (a different key file or THREATGATE_KEY_ENCRYPTION_KEY?)"))
        })?;
        Ok(plaintext.to_vec())
    }
}

impl SigningKey {
    /// Generates a key and its certificate; it may sign from `activates_at` on. The private key
    /// is returned sealed under `kek`.
    pub fn generate(
        kek: &KeyEncryptionKey,
        now: OffsetDateTime,
        activates_at: OffsetDateTime,
    ) -> Result<SigningKeyRecord> {
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
        let kid = certificate_key_id(&certificate_der);
        Ok(SigningKeyRecord {
            private_key_pkcs8: kek.seal(&kid, &rcgen_key.serialize_der())?,
            kid,
            certificate_der,
            created_at: now,
            activates_at,
            retired_at: None,
        })
    }

    /// Opens and parses a stored key, checking that its id matches its certificate.
    pub fn from_record(kek: &KeyEncryptionKey, record: &SigningKeyRecord) -> Result<Self> {
        let pkcs8 = kek.open(&record.kid, &record.private_key_pkcs8)?;
        let key_pair =
            RsaKeyPair::from_pkcs8(&pkcs8).map_err(|e| Error::KeyParse(format!("key {}: {e}", record.kid)))?;
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
    pub fn from_records(kek: &KeyEncryptionKey, records: &[SigningKeyRecord]) -> Result<Self> {
        let mut keys = records
            .iter()
            .filter(|record| record.retired_at.is_none())
            .map(|record| SigningKey::from_record(kek, record).map(Arc::new))
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
pub async fn ensure_signing_keys(
    store: &dyn KeyStore,
    kek: &KeyEncryptionKey,
    now: OffsetDateTime,
    rotation_period: Duration,
) -> Result<bool> {
    let records = store.list_signing_keys().await?;
    let newest_active = records.iter().filter(|r| r.activates_at <= now).map(|r| r.activates_at).max();
    let has_next = records.iter().any(|r| r.activates_at > now);
    let mut changed = false;
    // Each insertion is conditional in the store, so that nodes sharing it that find the same
    // key missing at once add it once ("one node rotates"); the others load it on refresh, a
    // day before it signs.
    let current_start = match newest_active {
        Some(start) => start,
        None => {
            let key = SigningKey::generate(kek, now, now)?;
            changed |= store.insert_signing_key_unless_published(&key, OffsetDateTime::UNIX_EPOCH, now).await?;
            now
        }
    };
    if !has_next {
        let activates_at = (current_start + rotation_period).max(now + PUBLISH_BEFORE_SIGNING);
        let key = SigningKey::generate(kek, now, activates_at)?;
        let far_future = now + Duration::days(365 * 100);
        changed |= store.insert_signing_key_unless_published(&key, now + Duration::seconds(1), far_future).await?;
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
    kek: &KeyEncryptionKey,
    now: OffsetDateTime,
    rotation_period: Duration,
    emergency: bool,
) -> Result<Rotation> {
    // Nothing changes unless this key-encryption key opens every stored key: keys sealed under
    // another one would leave the servers unable to sign.
    KeyRing::from_records(kek, &store.list_signing_keys().await?)?;
    ensure_signing_keys(store, kek, now, rotation_period).await?;
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
    let following = SigningKey::generate(kek, now, next_signs_from)?;
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

    fn kek() -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes(&[3; 32]).unwrap_or_else(|_| unreachable!())
    }

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn the_key_id_is_the_certificate_thumbprint_and_tokens_verify() -> Result<()> {
        let record = SigningKey::generate(&kek(), at(0), at(0))?;
        let key = SigningKey::from_record(&kek(), &record)?;
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
    fn private_keys_are_stored_sealed_and_open_only_with_their_key_and_id() -> Result<()> {
        let record = SigningKey::generate(&kek(), at(0), at(0))?;
        assert!(record.private_key_pkcs8.starts_with(SEALED), "sealed at rest");
        assert!(RsaKeyPair::from_pkcs8(&record.private_key_pkcs8).is_err(), "not usable as stored");
        let other = KeyEncryptionKey::from_bytes(&[4; 32])?;
        let refused = SigningKey::from_record(&other, &record).map(|_| ()).unwrap_err();
        assert!(refused.to_string().contains("does not open with this key-encryption key"), "{refused}");
        // The key id is bound in: a sealed key moved under another id does not open.
        let mut moved = SigningKey::generate(&kek(), at(0), at(0))?;
        moved.private_key_pkcs8 = record.private_key_pkcs8.clone();
        assert!(SigningKey::from_record(&kek(), &moved).is_err());
        // Keys stored in plain by earlier versions still open.
        let plain = kek().open(&record.kid, &record.private_key_pkcs8)?;
        let legacy = SigningKeyRecord { private_key_pkcs8: plain, ..record };
        assert!(SigningKey::from_record(&kek(), &legacy).is_ok());
        assert!(KeyEncryptionKey::from_base64("AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=").is_ok());
        assert!(KeyEncryptionKey::from_base64("c2hvcnQ=").is_err(), "32 bytes exactly");
        Ok(())
    }

    #[test]
    fn a_record_whose_id_does_not_match_its_certificate_is_refused() -> Result<()> {
        let mut record = SigningKey::generate(&kek(), at(0), at(0))?;
        record.kid = KeyId::new("not-the-thumbprint");
        assert!(SigningKey::from_record(&kek(), &record).is_err());
        Ok(())
    }

    #[test]
    fn the_ring_signs_with_the_newest_active_key_and_publishes_all() -> Result<()> {
        let old = SigningKey::generate(&kek(), at(0), at(0))?;
        let next = SigningKey::generate(&kek(), at(0), at(1000))?;
        let ring = KeyRing::from_records(&kek(), &[next.clone(), old.clone()])?;
        assert_eq!(ring.published().len(), 2);
        assert_eq!(ring.signing_key(at(10)).map(|k| k.kid().clone()), Some(old.kid.clone()));
        assert_eq!(ring.signing_key(at(1000)).map(|k| k.kid().clone()), Some(next.kid));
        assert!(ring.signing_key(at(-1)).is_none());
        Ok(())
    }
}
