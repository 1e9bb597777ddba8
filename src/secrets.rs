//! API keys and secrets. A key names its company (`k{company}_{random}`), so
//! it is found by company first; the secret is 32 random bytes, stored only
//! as a keyed SHA-256 and compared in constant time.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub struct NewKey {
    pub api_key: String,
    pub api_secret: String,
    pub secret_hash: String,
}

pub fn new_key(company_id: i64) -> NewKey {
    let mut key_bytes = [0u8; 9];
    let mut secret_bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut key_bytes);
    rand::rng().fill_bytes(&mut secret_bytes);
    let api_key = format!("k{company_id}_{}", hex::encode(key_bytes));
    let api_secret = hex::encode(secret_bytes);
    let secret_hash = hash_secret(&api_key, &api_secret);
    NewKey {
        api_key,
        api_secret,
        secret_hash,
    }
}

/// The company a key belongs to, read from the key itself.
pub fn company_of_key(api_key: &str) -> Option<i64> {
    let rest = api_key.strip_prefix('k')?;
    let (company, random) = rest.split_once('_')?;
    if random.is_empty() {
        return None;
    }
    company.parse().ok().filter(|id: &i64| *id > 0)
}

/// SHA-256 keyed by the API key, so equal secrets of two keys differ.
pub fn hash_secret(api_key: &str, api_secret: &str) -> String {
    hex::encode(secret_digest(api_key, api_secret))
}

/// Checked on every request: the presented secret's hash is hex-encoded on
/// the stack, not into a new `String`.
pub fn secret_matches(api_key: &str, api_secret: &str, stored_hash: &str) -> bool {
    let mut presented = [0u8; 64];
    hex::encode_to_slice(secret_digest(api_key, api_secret), &mut presented)
        .expect("a SHA-256 digest is 64 hex digits");
    presented.ct_eq(stored_hash.as_bytes()).into()
}

fn secret_digest(api_key: &str, api_secret: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(api_key.as_bytes());
    hasher.update([0u8]);
    hasher.update(api_secret.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_verifies_and_names_its_company() {
        let key = new_key(42);
        assert_eq!(company_of_key(&key.api_key), Some(42));
        assert_eq!(key.api_secret.len(), 64);
        assert!(secret_matches(
            &key.api_key,
            &key.api_secret,
            &key.secret_hash
        ));
        assert!(!secret_matches(&key.api_key, "wrong", &key.secret_hash));
        assert_ne!(key.secret_hash, key.api_secret);
    }

    #[test]
    fn stored_hashes_keep_their_format() {
        // Hashes already stored must keep verifying: SHA-256 of key, NUL,
        // secret, as 64 lower-case hex digits.
        let stored = "f4316874beda0b7033e6175b6a641bd9559ec654b381e0fad315d0339688176d";
        assert_eq!(hash_secret("k42_abcdef", "s3cret"), stored);
        assert!(secret_matches("k42_abcdef", "s3cret", stored));
        assert!(!secret_matches(
            "k42_abcdef",
            "s3cret",
            &stored.to_uppercase()
        ));
        assert!(!secret_matches("k42_abcdef", "s3cret", &stored[..63]));
        assert!(!secret_matches("k42_abcdef", "s3cret", ""));
    }

    #[test]
    fn malformed_keys_name_no_company() {
        for bad in [
            "", "k", "k_abc", "kx_abc", "k0_abc", "k-1_abc", "k5_", "5_abc",
        ] {
            assert_eq!(company_of_key(bad), None, "{bad}");
        }
    }
}
