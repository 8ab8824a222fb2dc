//! Threatgate's identity service without HTTP: the directory view, client authentication,
//! consent, token minting and signing keys.
//!
//! This is the only crate that holds private signing keys. The HTTP layer hands it a parsed
//! request and gets back a token or an [`AadError`]; it never sees a key or a secret hash.

pub mod admin;
pub mod assertion;
pub mod certificates;
pub mod clock;
mod error;
mod files;
pub mod issuance;
pub mod keys;
pub mod passwords;
pub mod portal;
pub mod random;
pub mod request;
pub mod secrets;
pub mod service;
pub mod verify;
pub mod view;

pub use admin::{Actor, AdminError, CredentialReport, DirectoryAdmin};
pub use certificates::{Certificate, CertificateError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AadError, Error, Result};
pub use files::read_or_create_private_file;
pub use issuance::{IssuedToken, TokenRequest};
pub use keys::KeyEncryptionKey;
pub use request::{BasicCredentials, TokenEndpoint, TokenParameters};
pub use secrets::{ClientSecret, SecretHasher};
pub use service::{DEFAULT_MAX_ASSERTION_LIFETIME, IdentityService, IdentitySettings, Snapshot};
pub use verify::{BearerError, VerifiedCaller};
