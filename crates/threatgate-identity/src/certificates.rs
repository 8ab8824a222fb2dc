//! Certificate credentials: reading an uploaded certificate (PEM or DER), its thumbprints as
//! Microsoft shows them, and the RSA public key that verifies the application's client
//! assertions.

use aws_lc_rs::digest;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// The smallest RSA key accepted, as Microsoft's (2048 bits).
const MIN_RSA_BITS: usize = 2048;

/// Why an uploaded file is not a usable certificate credential. `Display` is for the person
/// who uploaded it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error(
        "the file holds a private key; upload only the certificate (the public part), e.g. `openssl x509 -in key.pem -out cert.pem`"
    )]
    PrivateKeyIncluded,
    #[error("the file holds no certificate: expected PEM (-----BEGIN CERTIFICATE-----) or DER")]
    NoCertificate,
    #[error("the certificate cannot be read: {0}")]
    Malformed(String),
    #[error("the certificate's key is not RSA; client assertions are signed with RS256 or PS256")]
    NotRsa,
    #[error("the certificate's RSA key has {bits} bits; at least 2048 are needed")]
    KeyTooSmall { bits: usize },
    #[error("the certificate expired on {0}")]
    Expired(String),
}

/// A certificate read from an upload or from a stored credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    /// PKCS#1 `RSAPublicKey`, DER: what the signature check takes.
    rsa_public_key: Vec<u8>,
    subject: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("thumbprint", &self.thumbprint())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Reads an upload: PEM text (the first `CERTIFICATE` block) or DER. A file that also holds
    /// a private key is refused, so that a key pasted by mistake is never stored.
    pub fn from_upload(bytes: &[u8]) -> Result<Self, CertificateError> {
        let text = std::str::from_utf8(bytes).ok();
        if text.is_some_and(|text| text.contains("PRIVATE KEY-----")) {
            return Err(CertificateError::PrivateKeyIncluded);
        }
        if text.is_some_and(|text| text.contains("-----BEGIN")) {
            return Self::from_der(&first_pem_certificate(bytes).ok_or(CertificateError::NoCertificate)?);
        }
        if bytes.first() != Some(&0x30) {
            return Err(CertificateError::NoCertificate);
        }
        Self::from_der(bytes)
    }

    /// Reads a DER certificate with an RSA key of at least 2048 bits.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let (rest, certificate) =
            X509Certificate::from_der(der).map_err(|error| CertificateError::Malformed(error.to_string()))?;
        if !rest.is_empty() {
            return Err(CertificateError::Malformed("bytes follow the certificate".into()));
        }
        let spki = certificate.public_key();
        let bits = match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
            Ok(_) => return Err(CertificateError::NotRsa),
            Err(error) => return Err(CertificateError::Malformed(error.to_string())),
        };
        if bits < MIN_RSA_BITS {
            return Err(CertificateError::KeyTooSmall { bits });
        }
        let validity = certificate.validity();
        let time = |seconds: i64| {
            OffsetDateTime::from_unix_timestamp(seconds).map_err(|error| CertificateError::Malformed(error.to_string()))
        };
        Ok(Self {
            der: der[..der.len() - rest.len()].to_vec(),
            rsa_public_key: spki.subject_public_key.data.to_vec(),
            subject: certificate.subject().to_string(),
            not_before: time(validity.not_before.timestamp())?,
            not_after: time(validity.not_after.timestamp())?,
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject's distinguished name, e.g. `CN=partner`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// SHA-1 of the DER in upper-case hex: Microsoft's "thumbprint", what `x5t` encodes.
    pub fn thumbprint(&self) -> String {
        hex_upper(&sha1(&self.der))
    }

    /// SHA-256 of the DER in upper-case hex: what `x5t#S256` encodes.
    pub fn thumbprint_sha256(&self) -> String {
        hex_upper(&sha256(&self.der))
    }

    /// Whether `signature` over `message` verifies with this certificate's key, as RS256
    /// (PKCS#1 v1.5) or PS256 (PSS, salt of the hash's length).
    pub fn verifies(&self, algorithm: SignatureAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, UnparsedPublicKey};
        let parameters = match algorithm {
            SignatureAlgorithm::Rs256 => &RSA_PKCS1_2048_8192_SHA256,
            SignatureAlgorithm::Ps256 => &RSA_PSS_2048_8192_SHA256,
        };
        UnparsedPublicKey::new(parameters, &self.rsa_public_key).verify(message, signature).is_ok()
    }
}

/// The JWS algorithms a client assertion may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    Rs256,
    Ps256,
}

impl SignatureAlgorithm {
    pub fn parse(alg: &str) -> Option<Self> {
        match alg {
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            _ => None,
        }
    }
}

/// The DER of the first `CERTIFICATE` block of PEM text.
pub(crate) fn first_pem_certificate(bytes: &[u8]) -> Option<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(bytes)
        .map_while(Result::ok)
        .find(|pem| pem.label == "CERTIFICATE")
        .map(|pem| pem.contents)
}

pub(crate) fn sha1(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, bytes).as_ref().to_vec()
}

pub(crate) fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(key: &rcgen::KeyPair) -> rcgen::Certificate {
        let mut parameters = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        parameters.distinguished_name.push(rcgen::DnType::CommonName, "partner-cert");
        parameters.self_signed(key).unwrap()
    }

    fn rsa_key() -> rcgen::KeyPair {
        rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap()
    }

    #[test]
    fn pem_and_der_uploads_read_the_same_certificate() {
        let certificate = self_signed(&rsa_key());
        let from_pem = Certificate::from_upload(certificate.pem().as_bytes()).unwrap();
        let from_der = Certificate::from_upload(certificate.der()).unwrap();
        assert_eq!(from_pem, from_der);
        assert_eq!(from_pem.subject(), "CN=partner-cert");
        assert_eq!(from_pem.thumbprint().len(), 40);
        assert_eq!(from_pem.thumbprint_sha256().len(), 64);
        assert_eq!(from_pem.thumbprint(), hex_upper(&sha1(certificate.der())));
    }

    #[test]
    fn a_private_key_in_the_upload_is_refused() {
        let key = rsa_key();
        let certificate = self_signed(&key);
        let bundle = format!("{}{}", certificate.pem(), key.serialize_pem());
        assert_eq!(Certificate::from_upload(bundle.as_bytes()), Err(CertificateError::PrivateKeyIncluded));
    }

    #[test]
    fn non_rsa_keys_and_garbage_are_refused() {
        let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        assert_eq!(Certificate::from_upload(self_signed(&ec).der()), Err(CertificateError::NotRsa));
        assert_eq!(Certificate::from_upload(b"hello"), Err(CertificateError::NoCertificate));
        assert!(matches!(Certificate::from_upload(&[0x30, 0x03, 0x01]), Err(CertificateError::Malformed(_))));
        assert_eq!(
            Certificate::from_upload(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Err(CertificateError::NoCertificate)
        );
    }

    #[test]
    fn the_thumbprint_matches_microsofts_example_encoding() {
        // identity-protocol.md 2.5: hex 84E05C1D… is x5t "hOBcHZi846VCHSJbFAs26Go9VTQ=".
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE.decode("hOBcHZi846VCHSJbFAs26Go9VTQ=").unwrap();
        assert_eq!(hex_upper(&bytes), "84E05C1D98BCE3A5421D225B140B36E86A3D5534");
    }
}
