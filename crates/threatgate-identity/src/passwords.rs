//! Human passwords: Argon2id (default parameters of the argon2 crate), and generation of
//! initial passwords. Never used for client secrets (see `secrets`).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::random::random_string;
use crate::{Error, Result};

/// Hashes a password into a PHC string (`$argon2id$v=19$…`).
pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| Error::PasswordHash(e.to_string()))
}

/// Whether `password` matches the PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A random 20-character password with upper and lower case letters, digits and symbols,
/// which meets Microsoft's complexity rules.
pub fn generate_password() -> Result<String> {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    loop {
        let candidate = random_string(LETTERS, 18)? + &random_string(b"!#%+-=?@", 1)? + &random_string(b"23456789", 1)?;
        let has_upper = candidate.bytes().any(|b| b.is_ascii_uppercase());
        let has_lower = candidate.bytes().any(|b| b.is_ascii_lowercase());
        if has_upper && has_lower {
            return Ok(candidate);
        }
    }
}

/// Checks a password chosen by a person: 8 to 256 characters, three of the four classes.
pub fn check_password_strength(password: &str) -> Result<(), &'static str> {
    let length = password.chars().count();
    if !(8..=256).contains(&length) {
        return Err("a password must have 8 to 256 characters");
    }
    let classes = [
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|&&has| has).count() < 3 {
        return Err("a password needs three of: upper case, lower case, digits, symbols");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() -> Result<()> {
        let hash = hash_password("Correct-Horse-9")?;
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("Correct-Horse-9", &hash));
        assert!(!verify_password("correct-horse-9", &hash));
        assert!(!verify_password("Correct-Horse-9", "not a hash"));
        Ok(())
    }

    #[test]
    fn generated_passwords_pass_the_strength_check() -> Result<()> {
        for _ in 0..50 {
            let password = generate_password()?;
            assert_eq!(check_password_strength(&password), Ok(()), "{password}");
        }
        Ok(())
    }
}
