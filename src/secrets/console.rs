//! The web console's secrets (SPEC §14): browser-session tokens, Login API GUIDs and
//! passwords. Tokens and GUIDs are random 128- or 256-bit values kept only
//! as SHA-256 digests (they need checking, not reading back); passwords are
//! argon2id PHC strings with the crate's recommended parameters.

use std::sync::OnceLock;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

/// Shortest password the Password API takes (SPEC §14).
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Longest password taken: argon2 reads all of it, and a stranger should
/// not choose how much work a sign-in costs.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A browser session's token: 256 random bits, hex.
pub fn new_session_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A LoginGuid: 128 random bits as 32 hex digits, as SecureVideo writes them.
pub fn new_login_guid() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether text has the shape of a LoginGuid (32 hex digits); no SessionId
/// has it (a SessionId has at most 19 digits).
pub fn looks_like_login_guid(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// What is stored of a token or GUID.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.to_ascii_lowercase().as_bytes()))
}

/// The CSRF token of a browser session: derived from its secret token, so
/// it is unguessable without the cookie and needs no storage.
pub fn csrf_of(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"session-ledger console csrf\0");
    hasher.update(session_token.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let hashed: Result<PasswordHash, _> = Argon2::default().hash_password(password.as_bytes());
    hashed
        .map(|hash| hash.to_string())
        .map_err(|error| format!("hashing a password: {error}"))
}

/// Whether the password matches a stored PHC string (false for a malformed one).
pub fn verify_password(password: &str, stored: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// Spends the work of one verification when there is no hash to check, so
/// an unknown e-mail takes as long to refuse as a wrong password.
pub fn verify_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY
        .get_or_init(|| hash_password("not anyone's password").expect("hashing a fixed password"));
    let _ = verify_password(password, dummy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a phc string"));
    }

    #[test]
    fn guids_and_session_ids_cannot_be_confused() {
        let guid = new_login_guid();
        assert!(looks_like_login_guid(&guid), "{guid}");
        assert!(!looks_like_login_guid("1234567"));
        assert!(!looks_like_login_guid(&"9".repeat(19)));
        assert_ne!(digest(&guid), guid);
        assert_eq!(digest(&guid), digest(&guid.to_ascii_uppercase()));
    }
}
