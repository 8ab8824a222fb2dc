//! HTTPS by default: a local certificate authority and a server certificate signed by it,
//! generated on first start under `DATA_DIR/tls/` and reused afterwards.
//!
//! Clients trust `ca.pem` (curl `--cacert`, `REQUESTS_CA_BUNDLE`, the system store); the
//! server certificate is renewed by itself when names change or it nears expiry, and stays
//! trusted because the CA does not change.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// The certificate and key the server presents, and the CA that signed them.
#[derive(Clone)]
pub struct TlsMaterial {
    pub ca_certificate_path: PathBuf,
    /// Server certificate followed by the CA certificate, PEM.
    pub certificate_chain_pem: Vec<u8>,
    pub private_key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").field("ca_certificate_path", &self.ca_certificate_path).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("{0}")]
    Invalid(String),
}

/// What the server certificate was made for, kept beside it to decide on renewal.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct ServerCertificateInfo {
    names: Vec<String>,
    not_after: i64,
}

const CA_LIFETIME: Duration = Duration::days(10 * 365);
/// Within the 398 days browsers and Apple clients accept for a server certificate.
const SERVER_LIFETIME: Duration = Duration::days(397);
const RENEW_BEFORE: Duration = Duration::days(30);

/// Loads the local CA and server certificate from `dir`, creating or renewing what is
/// missing, stale or not made for `extra_names`.
/// The names the generated server certificate holds: loopback and `extra_names`. Clients can
/// reach this server over HTTPS by these names only.
pub fn server_names(extra_names: &[String]) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    for extra in extra_names {
        if !names.contains(extra) {
            names.push(extra.clone());
        }
    }
    names
}

pub fn ensure_local_tls(dir: &Path, extra_names: &[String], now: OffsetDateTime) -> Result<TlsMaterial, TlsError> {
    create_dir(dir)?;
    let ca_cert_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca-key.pem");
    let (ca_pem, ca_key) = if ca_cert_path.exists() && ca_key_path.exists() {
        let key = KeyPair::from_pem(&read_text(&ca_key_path)?)?;
        (read_text(&ca_cert_path)?, key)
    } else {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = ca_params();
        params.not_before = now - Duration::days(1);
        params.not_after = now + CA_LIFETIME;
        params.serial_number = Some(serial()?);
        let certificate = params.self_signed(&key)?;
        write_file(&ca_key_path, key.serialize_pem().as_bytes(), true)?;
        write_file(&ca_cert_path, certificate.pem().as_bytes(), false)?;
        (certificate.pem(), key)
    };

    let names = server_names(extra_names);
    let server_cert_path = dir.join("server.pem");
    let server_key_path = dir.join("server-key.pem");
    let info_path = dir.join("server.json");
    let current: Option<ServerCertificateInfo> =
        fs::read(&info_path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let usable = current.as_ref().is_some_and(|info| {
        names.iter().all(|wanted| info.names.contains(wanted)) && info.not_after > (now + RENEW_BEFORE).unix_timestamp()
    }) && server_cert_path.exists()
        && server_key_path.exists();
    if !usable {
        // The issuer is the CA's name and key; both are fixed, so the params rebuild it.
        let issuer = Issuer::new(ca_params(), &ca_key);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(names.clone())?;
        params.distinguished_name = name("Threatgate server");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = now - Duration::days(1);
        params.not_after = now + SERVER_LIFETIME;
        params.serial_number = Some(serial()?);
        params.use_authority_key_identifier_extension = true;
        let certificate = params.signed_by(&key, &issuer)?;
        write_file(&server_key_path, key.serialize_pem().as_bytes(), true)?;
        write_file(&server_cert_path, certificate.pem().as_bytes(), false)?;
        let info = ServerCertificateInfo { names, not_after: params.not_after.unix_timestamp() };
        let info_json = serde_json::to_vec_pretty(&info).map_err(|e| TlsError::Invalid(e.to_string()))?;
        write_file(&info_path, &info_json, false)?;
    }

    let mut chain = read_text(&server_cert_path)?.into_bytes();
    chain.extend_from_slice(ca_pem.as_bytes());
    let ca_certificate_path =
        fs::canonicalize(&ca_cert_path).map_err(|source| TlsError::Io { path: ca_cert_path, source })?;
    Ok(TlsMaterial {
        ca_certificate_path,
        certificate_chain_pem: chain,
        private_key_pem: read_text(&server_key_path)?.into_bytes(),
    })
}

/// The CA's name and constraints: the same on every start, so that certificates it signs
/// later chain to the `ca.pem` clients already trust.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name("Threatgate local CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "Threatgate");
    name
}

fn serial() -> Result<SerialNumber, TlsError> {
    let bytes = threatgate_identity::random::random_bytes::<16>().map_err(|e| TlsError::Invalid(e.to_string()))?;
    Ok(SerialNumber::from_slice(&bytes))
}

fn create_dir(dir: &Path) -> Result<(), TlsError> {
    fs::create_dir_all(dir).map_err(|source| TlsError::Io { path: dir.to_owned(), source })
}

fn read_text(path: &Path) -> Result<String, TlsError> {
    fs::read_to_string(path).map_err(|source| TlsError::Io { path: path.to_owned(), source })
}

/// Writes through a temporary file and a rename, so that a reader never sees half a file.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    let io = |source| TlsError::Io { path: path.to_owned(), source };
    let temporary = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if private { 0o600 } else { 0o644 });
    let mut file = options.open(&temporary).map_err(io)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io)?;
    fs::rename(&temporary, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_kept_and_the_server_certificate_follows_the_names() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let first = ensure_local_tls(dir.path(), &[], now).unwrap();
        let again = ensure_local_tls(dir.path(), &[], now).unwrap();
        assert_eq!(first.certificate_chain_pem, again.certificate_chain_pem, "nothing changed, nothing renewed");

        let ca_before = fs::read(&first.ca_certificate_path).unwrap();
        let renamed = ensure_local_tls(dir.path(), &["threatgate.test".into()], now).unwrap();
        assert_ne!(first.certificate_chain_pem, renamed.certificate_chain_pem, "a new name renews the certificate");
        assert_eq!(ca_before, fs::read(&renamed.ca_certificate_path).unwrap(), "the CA stays");

        let later = ensure_local_tls(dir.path(), &["threatgate.test".into()], now + Duration::days(380)).unwrap();
        assert_ne!(renamed.certificate_chain_pem, later.certificate_chain_pem, "a certificate near expiry is renewed");
    }
}
