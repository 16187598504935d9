//! Opaque refresh tokens.
//!
//! A token is base64url(user id ‖ session id ‖ 256-bit secret). The ids let
//! the store find the session with no lookup table; only SHA-256 of the whole
//! token is stored. A token's successor is HMAC-SHA256(rotation secret, token),
//! so a retried refresh computes the same successor while no one without the
//! secret can predict it from a stolen predecessor.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const SECRET_LEN: usize = 32;
const TOKEN_LEN: usize = 16 + 16 + SECRET_LEN;
#[cfg(test)]
const ENCODED_LEN: usize = crate::opaque_token::encoded_len(TOKEN_LEN);

#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    bytes: [u8; TOKEN_LEN],
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshToken")
            .field("user_id", &self.user_id())
            .field("session_id", &self.session_id())
            .finish_non_exhaustive()
    }
}

impl RefreshToken {
    /// A fresh token with a random secret.
    pub fn generate(user_id: Uuid, session_id: Uuid) -> Self {
        let mut secret = [0u8; SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self::from_parts(user_id, session_id, &secret)
    }

    fn from_parts(user_id: Uuid, session_id: Uuid, secret: &[u8]) -> Self {
        let mut bytes = [0u8; TOKEN_LEN];
        bytes[..16].copy_from_slice(user_id.as_bytes());
        bytes[16..32].copy_from_slice(session_id.as_bytes());
        bytes[32..].copy_from_slice(&secret[..SECRET_LEN]);
        Self { bytes }
    }

    /// Parses the wire form; anything malformed is `None`.
    pub fn parse(encoded: &str) -> Option<Self> {
        crate::opaque_token::decode::<TOKEN_LEN>(encoded).map(|bytes| Self { bytes })
    }

    pub fn encode(&self) -> String {
        crate::opaque_token::encode(&self.bytes)
    }

    pub fn user_id(&self) -> Uuid {
        Uuid::from_slice(&self.bytes[..16]).unwrap_or_default()
    }

    pub fn session_id(&self) -> Uuid {
        Uuid::from_slice(&self.bytes[16..32]).unwrap_or_default()
    }

    /// What the store keeps instead of the token.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.bytes).into()
    }

    /// The token that replaces this one on rotation.
    pub fn successor(&self, rotation_secret: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(rotation_secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(&self.bytes);
        let secret = mac.finalize().into_bytes();
        Self::from_parts(self.user_id(), self.session_id(), &secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let token = RefreshToken::generate(Uuid::new_v4(), Uuid::new_v4());
        let encoded = token.encode();
        assert_eq!(encoded.len(), ENCODED_LEN);
        assert_eq!(RefreshToken::parse(&encoded), Some(token.clone()));
        assert_eq!(RefreshToken::parse("short"), None);
        assert_eq!(RefreshToken::parse(&"!".repeat(ENCODED_LEN)), None);
        assert_eq!(RefreshToken::parse(&format!("{encoded}A")), None);
    }

    #[test]
    fn successor_is_deterministic_keyed_and_keeps_the_ids() {
        let token = RefreshToken::generate(Uuid::new_v4(), Uuid::new_v4());
        let a = token.successor(b"first secret, at least 32 bytes long");
        let b = token.successor(b"first secret, at least 32 bytes long");
        let c = token.successor(b"other secret, at least 32 bytes long");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, token);
        assert_eq!(a.user_id(), token.user_id());
        assert_eq!(a.session_id(), token.session_id());
        assert_ne!(a.hash(), token.hash());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = RefreshToken::generate(Uuid::new_v4(), Uuid::new_v4());
        assert!(!format!("{token:?}").contains(&token.encode()));
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_string_never_panics(raw in ".*") {
            if let Some(token) = RefreshToken::parse(&raw) {
                proptest::prop_assert_eq!(token.encode(), raw);
            }
        }

        #[test]
        fn parsing_any_86_chars_of_the_alphabet_never_panics(raw in "[A-Za-z0-9_-]{86}") {
            if let Some(token) = RefreshToken::parse(&raw) {
                proptest::prop_assert_eq!(RefreshToken::parse(&token.encode()), Some(token));
            }
        }
    }
}
