//! Client secrets: generation, and the keyed hash that is all the store keeps.
//!
//! Generated secrets carry 200+ bits of entropy, so a fast keyed hash (HMAC-SHA-256 with a
//! server key) is as strong as a slow password hash here, and keeps the token endpoint fast.
//! Verification is `hmac::verify`, which compares in constant time.

use std::fmt;
use std::path::Path;

use aws_lc_rs::hmac;

use crate::random::{random_bytes, random_string};
use crate::{Error, Result};

/// URL-safe symbols only (`../shared/spec/README.md`, decision 10), 64 of them.
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";

/// The length of a generated secret, as Microsoft's.
pub const SECRET_LENGTH: usize = 40;

/// A client secret value. Its `Debug` is redacted; print it only where the user asked for it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// A new random secret in Microsoft's shape: three characters, the marker `8Q~`, then
    /// random characters up to 40 in all. All but the marker are random.
    pub fn generate() -> Result<Self> {
        let head = random_string(SECRET_ALPHABET, 3)?;
        let tail = random_string(SECRET_ALPHABET, SECRET_LENGTH - 6)?;
        Ok(Self(format!("{head}8Q~{tail}")))
    }

    /// Wraps a value received from a client.
    pub fn from_presented(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The first three characters, shown in lists as Microsoft does.
    pub fn hint(&self) -> String {
        self.0.chars().take(3).collect()
    }

    /// The value itself. Call only to show it once to the person who created it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// Hashes and verifies client secrets with a server-wide HMAC key.
pub struct SecretHasher {
    key: hmac::Key,
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHasher(<key>)")
    }
}

impl SecretHasher {
    pub fn from_key_bytes(bytes: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, bytes) }
    }

    /// Reads the key file, creating it (32 random bytes, owner-only) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let bytes = crate::files::read_or_create_private_file(path, || Ok(random_bytes::<32>()?.to_vec()))?;
        if bytes.len() < 32 {
            return Err(Error::KeyFile(format!("{} holds fewer than 32 bytes", path.display())));
        }
        Ok(Self::from_key_bytes(&bytes))
    }

    pub fn hash(&self, secret: &ClientSecret) -> Vec<u8> {
        hmac::sign(&self.key, secret.0.as_bytes()).as_ref().to_vec()
    }

    /// Whether `secret` is the one `stored_hash` was made from, in constant time.
    pub fn verify(&self, secret: &ClientSecret, stored_hash: &[u8]) -> bool {
        hmac::verify(&self.key, secret.0.as_bytes(), stored_hash).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_microsofts_shape_and_differ() -> Result<()> {
        let first = ClientSecret::generate()?;
        let second = ClientSecret::generate()?;
        assert_eq!(first.expose().len(), SECRET_LENGTH);
        assert_eq!(&first.expose()[3..6], "8Q~");
        assert!(first.expose().bytes().all(|b| SECRET_ALPHABET.contains(&b) || b == b'~'));
        assert_ne!(first, second);
        Ok(())
    }

    #[test]
    fn a_secret_verifies_against_its_own_hash_only() -> Result<()> {
        let hasher = SecretHasher::from_key_bytes(&[7; 32]);
        let secret = ClientSecret::generate()?;
        let hash = hasher.hash(&secret);
        assert!(hasher.verify(&secret, &hash));
        assert!(!hasher.verify(&ClientSecret::from_presented("wrong"), &hash));
        let other_key = SecretHasher::from_key_bytes(&[8; 32]);
        assert!(!other_key.verify(&secret, &hash));
        Ok(())
    }

    #[test]
    fn secrets_never_show_in_debug_output() -> Result<()> {
        let secret = ClientSecret::generate()?;
        assert!(!format!("{secret:?}").contains(secret.expose()));
        Ok(())
    }
}
