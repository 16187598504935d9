//! Opaque refresh tokens.
//!
//! A token is base64url(user id ‖ session id ‖ 256-bit secret ‖ tag), the tag
//! being the shared integrity tag of [`super::opaque`] under the token
//! secret, so only the service can make a token the rotate script will judge
//! (and a made-up one never counts as reuse). The ids let the store find the
//! session with no lookup table; only SHA-256 of the ids and secret is
//! stored. A token's successor secret is an HMAC of the token under the
//! secret that tagged it, so a retried refresh computes the same successor
//! on every instance, while no one without the secret can predict it from a
//! stolen predecessor.

use uuid::Uuid;

use super::opaque::{fresh_secret, token_len, Domain, Kind, Token, TokenKeys, SECRET_LEN};

/// The refresh token kind: user id ‖ session id ‖ secret ‖ tag.
pub struct Refresh;

impl Kind for Refresh {
    const TAG: Domain = Domain::RefreshTag;
    const NAME: &'static str = "RefreshToken";
}

pub type RefreshToken = Token<Refresh, { token_len(2) }>;

impl RefreshToken {
    /// A fresh token with a random secret.
    pub fn generate(keys: &TokenKeys, user_id: Uuid, session_id: Uuid) -> Self {
        Self::from_parts(keys, user_id, session_id, &fresh_secret())
    }

    fn from_parts(keys: &TokenKeys, user_id: Uuid, session_id: Uuid, secret: &[u8]) -> Self {
        let mut rest = [0u8; 16 + SECRET_LEN];
        rest[..16].copy_from_slice(session_id.as_bytes());
        rest[16..].copy_from_slice(&secret[..SECRET_LEN]);
        Self::seal(keys, user_id, &rest)
    }

    pub fn session_id(&self) -> Uuid {
        Uuid::from_slice(&self.payload()[16..32]).unwrap_or_default()
    }

    /// The token that replaces this one on rotation. Its secret is derived
    /// under the secret that tagged this token (so every instance that can
    /// verify this token computes the same one, before, during and after a
    /// secret rotation); it is tagged under the signing secret, so tokens
    /// move to a new secret as they rotate.
    pub fn successor(&self, keys: &TokenKeys) -> Self {
        let secret = keys.derive(self.key(), Domain::Successor, self.payload());
        Self::from_parts(keys, self.user_id(), self.session_id(), &secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::opaque::tests::{keys, NEW, OLD};
    use crate::tokens::opaque::TAG_LEN;

    const ENCODED_LEN: usize = RefreshToken::ENCODED_LEN;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let keys = keys(&[OLD]);
        let token = RefreshToken::generate(&keys, Uuid::new_v4(), Uuid::new_v4());
        let encoded = token.encode();
        assert_eq!(encoded.len(), ENCODED_LEN);
        assert_eq!(RefreshToken::parse(&keys, &encoded), Some(token.clone()));
        assert_eq!(RefreshToken::parse(&keys, "short"), None);
        assert_eq!(RefreshToken::parse(&keys, &"!".repeat(ENCODED_LEN)), None);
        assert_eq!(RefreshToken::parse(&keys, &format!("{encoded}A")), None);
    }

    #[test]
    fn a_token_built_from_known_ids_without_the_secret_is_refused() {
        let keys = keys(&[OLD]);
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let mut forged = Vec::new();
        forged.extend_from_slice(user.as_bytes());
        forged.extend_from_slice(session.as_bytes());
        forged.extend_from_slice(&[0u8; SECRET_LEN + TAG_LEN]);
        let forged = crate::tokens::opaque::encode(&forged);
        assert_eq!(forged.len(), ENCODED_LEN);
        assert_eq!(RefreshToken::parse(&keys, &forged), None);
    }

    #[test]
    fn successor_is_deterministic_keyed_and_keeps_the_ids() {
        let keys_a = keys(&[OLD]);
        let token = RefreshToken::generate(&keys_a, Uuid::new_v4(), Uuid::new_v4());
        let a = token.successor(&keys_a);
        let b = token.successor(&keys_a);
        let other = RefreshToken::parse(&keys(&[NEW, OLD]), &token.encode()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.user_id(), token.user_id());
        assert_eq!(a.session_id(), token.session_id());
        assert_ne!(a.hash(), token.hash());
        // An instance that lists a newer signing secret derives the same
        // successor (a retry may land there) but tags it under the new one.
        let c = other.successor(&keys(&[NEW, OLD]));
        assert_eq!(c.hash(), a.hash());
        assert_ne!(c.encode(), a.encode());
        assert!(RefreshToken::parse(&keys(&[NEW]), &c.encode()).is_some());
        // A different secret derives a different successor.
        let unrelated = RefreshToken::generate(&keys(&[NEW]), token.user_id(), token.session_id());
        assert_ne!(unrelated.successor(&keys(&[NEW])).hash(), a.hash());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = RefreshToken::generate(&keys(&[OLD]), Uuid::new_v4(), Uuid::new_v4());
        assert!(!format!("{token:?}").contains(&token.encode()));
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_string_never_panics(raw in ".*") {
            let keys = keys(&[OLD]);
            if let Some(token) = RefreshToken::parse(&keys, &raw) {
                proptest::prop_assert_eq!(token.encode(), raw);
            }
        }

        #[test]
        fn parsing_any_107_chars_of_the_alphabet_never_passes(raw in "[A-Za-z0-9_-]{107}") {
            proptest::prop_assert_eq!(RefreshToken::parse(&keys(&[OLD]), &raw), None);
        }
    }
}
