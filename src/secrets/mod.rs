//! API keys and secrets (and, in `console`, the console's). A key names its company (`k{company}_{random}`), so
//! it is found by company first; the secret is 32 random bytes, stored only
//! as a keyed SHA-256 and compared in constant time.

pub mod console;

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

/// A webhook endpoint's signing secret (Standard Webhooks): `whsec_` and
/// the base64 of 32 random bytes. Kept as issued, since every delivery is
/// signed with it (docs/decisions.md).
pub fn new_webhook_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{}{}",
        crate::domain::webhooks::SECRET_PREFIX,
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Most characters of a key's random part (new keys have 18).
const MOST_RANDOM: usize = 64;

/// The company a key belongs to, read from the key itself; `None` for
/// anything not shaped like a key (`k{company}_{1 to 64 letters or
/// digits}`), which then never reaches a query: a NUL or other odd bytes
/// in a presented key are a 401 (or 404) on every store alike.
pub fn company_of_key(api_key: &str) -> Option<i64> {
    let rest = api_key.strip_prefix('k')?;
    let (company, random) = rest.split_once('_')?;
    if random.is_empty()
        || random.len() > MOST_RANDOM
        || !random.bytes().all(|byte| byte.is_ascii_alphanumeric())
        || company.is_empty()
        || company.len() > 19
        || !company.bytes().all(|byte| byte.is_ascii_digit())
    {
        return None;
    }
    company.parse().ok().filter(|id: &i64| *id > 0)
}

/// SHA-256 keyed by the API key, so equal secrets of two keys differ.
pub fn hash_secret(api_key: &str, api_secret: &str) -> String {
    hex::encode(secret_digest(api_key, api_secret))
}

/// A stored hash no secret has: an unknown key is checked against it, so
/// an unknown key and a wrong secret cost the same work (no oracle of which
/// keys exist). 64 hex digits, like every stored hash, that no SHA-256
/// digest is known to have.
pub const UNKNOWN_KEY_HASH: &str =
    "00000000000000000000000000000000000000000000000000000000000000ff";

/// Whether the presented key and secret check out against the key as found
/// (its stored hash, and whether it is revoked), or `None` when no such key
/// is stored. Every path does the same work: the secret is hashed and
/// compared in constant time against the stored hash or
/// [`UNKNOWN_KEY_HASH`], and revocation is looked at only after.
pub fn verify_key(api_key: &str, api_secret: &str, found: Option<(&str, bool)>) -> bool {
    let (stored_hash, revoked) = found.unwrap_or((UNKNOWN_KEY_HASH, true));
    let matches = secret_matches(api_key, api_secret, stored_hash);
    matches & !revoked & found.is_some()
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
    #[cfg(test)]
    tests::HASHED.with(|count| count.set(count.get() + 1));
    let mut hasher = Sha256::new();
    hasher.update(api_key.as_bytes());
    hasher.update([0u8]);
    hasher.update(api_secret.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Secrets hashed on this thread.
        pub(super) static HASHED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    fn hashes_in(check: impl FnOnce() -> bool) -> u32 {
        let before = HASHED.with(std::cell::Cell::get);
        check();
        HASHED.with(std::cell::Cell::get) - before
    }

    #[test]
    fn every_path_hashes_the_secret_once_and_compares_it() {
        let key = new_key(7);
        let found = Some((key.secret_hash.as_str(), false));
        let revoked = Some((key.secret_hash.as_str(), true));
        let paths = [
            hashes_in(|| verify_key(&key.api_key, &key.api_secret, found)),
            hashes_in(|| verify_key(&key.api_key, "wrong", found)),
            hashes_in(|| verify_key(&key.api_key, "wrong", None)),
            hashes_in(|| verify_key(&key.api_key, &key.api_secret, revoked)),
        ];
        assert_eq!(paths, [1, 1, 1, 1]);
    }

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
        let long = format!("k1_{}", "a".repeat(65));
        for bad in [
            "",
            "k",
            "k_abc",
            "kx_abc",
            "k0_abc",
            "k-1_abc",
            "k+1_abc",
            "k5_",
            "5_abc",
            "k1_\0abc",
            "k1_%00",
            "k1_ab c",
            "k1_abc\n",
            "k1_é",
            "k99999999999999999999_abc",
            &long,
        ] {
            assert_eq!(company_of_key(bad), None, "{bad:?}");
        }
        assert_eq!(company_of_key(&format!("k1_{}", "a".repeat(64))), Some(1));
    }

    #[test]
    fn unknown_keys_wrong_secrets_and_revoked_keys_all_fail_alike() {
        let key = new_key(7);
        let found = Some((key.secret_hash.as_str(), false));
        assert!(verify_key(&key.api_key, &key.api_secret, found));
        assert!(!verify_key(&key.api_key, "wrong", found));
        assert!(!verify_key(&key.api_key, &key.api_secret, None));
        let revoked = Some((key.secret_hash.as_str(), true));
        assert!(!verify_key(&key.api_key, &key.api_secret, revoked));
        // The stand-in hash is shaped like a stored one, so comparing
        // against it is the same work as against a real one.
        assert_eq!(UNKNOWN_KEY_HASH.len(), 64);
        assert!(UNKNOWN_KEY_HASH.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
