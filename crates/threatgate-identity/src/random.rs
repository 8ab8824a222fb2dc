//! Randomness from the operating system's CSPRNG (through aws-lc-rs).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{Error, Result};

/// Fills an array with random bytes.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).map_err(|_| Error::Random)?;
    Ok(bytes)
}

/// `N` random bytes as unpadded base64url text.
pub fn random_base64url<const N: usize>() -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<N>()?))
}

/// A random string of `length` characters drawn uniformly from `alphabet` (at most 256
/// symbols), by rejection sampling so that no symbol is favoured.
pub fn random_string(alphabet: &[u8], length: usize) -> Result<String> {
    let symbols = alphabet.len();
    if symbols == 0 || symbols > 256 {
        return Err(Error::Random);
    }
    // Largest multiple of the alphabet size that fits in a byte: bytes above it are rejected.
    let limit = 256 - (256 % symbols);
    let mut out = String::with_capacity(length);
    while out.len() < length {
        for byte in random_bytes::<64>()? {
            if usize::from(byte) < limit && out.len() < length {
                out.push(char::from(alphabet[usize::from(byte) % symbols]));
            }
        }
    }
    Ok(out)
}

/// A new random (version 4) GUID.
pub fn new_guid() -> Result<uuid::Uuid> {
    Ok(uuid::Builder::from_random_bytes(random_bytes::<16>()?).into_uuid())
}
