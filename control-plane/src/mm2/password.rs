//! MirrorManager2 site passwords as legacy checkin credentials (data-model.md §7.1): stored
//! only as argon2id PHC strings. A stored hash that still verifies against the source's
//! password is kept, so a second import of the same source changes nothing (a new hash would
//! differ by its salt).

use std::io::Read;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::Argon2Section;

/// A hashing failure (bad parameters, no randomness).
#[derive(Debug, thiserror::Error)]
#[error("cannot hash a site password: {0}")]
pub struct HashError(String);

/// The argon2id hasher of `[auth.argon2]`.
pub fn hasher(params: &Argon2Section) -> Result<Argon2<'static>, HashError> {
    let p = Params::new(
        params.memory_kib,
        params.time_cost,
        params.parallelism,
        None,
    )
    .map_err(|e| HashError(format!("[auth.argon2]: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

/// An argon2id PHC string of `password`, with a fresh random salt.
pub fn hash(argon: &Argon2<'_>, password: &str) -> Result<String, HashError> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| HashError(format!("reading /dev/urandom: {e}")))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| HashError(e.to_string()))?;
    argon
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// True when `phc` is an argon2id hash of `password` (its own parameters are used).
pub fn verifies(phc: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    parsed.algorithm.as_str() == "argon2id"
        && Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let params = Argon2Section {
            memory_kib: 8,
            time_cost: 1,
            parallelism: 1,
        };
        let argon = hasher(&params).unwrap();
        let phc = hash(&argon, "s3cret").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verifies(&phc, "s3cret"));
        assert!(!verifies(&phc, "other"));
        assert_ne!(hash(&argon, "s3cret").unwrap(), phc, "salted");
        assert!(!verifies("plain text", "plain text"));
    }
}
