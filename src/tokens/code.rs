//! Authorization codes (RFC 6749 §4.1.2): base64url(user id ‖ 256-bit
//! secret ‖ tag), the tag under the token secret like every opaque token, so
//! a made-up code never reaches the store. The user id puts the code's key
//! in its user's Redis Cluster slot, beside the sessions its redemption
//! opens and a replay ends (`sessions::codes`); only SHA-256 of the code is
//! stored.

use uuid::Uuid;

use super::opaque::{fresh_secret, token_len, Domain, Kind, Token, TokenKeys};

/// The authorization code kind: user id ‖ secret ‖ tag.
pub struct Code;

impl Kind for Code {
    const TAG: Domain = Domain::CodeTag;
    const NAME: &'static str = "AuthorizationCode";
}

pub type AuthorizationCode = Token<Code, { token_len(1) }>;

impl AuthorizationCode {
    /// A fresh code for `user_id`, with a random secret.
    pub fn generate(keys: &TokenKeys, user_id: Uuid) -> Self {
        Self::seal(keys, user_id, &fresh_secret())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::opaque::tests::{keys, NEW, OLD};
    use crate::tokens::refresh::RefreshToken;

    #[test]
    fn a_code_round_trips_and_is_no_other_token() {
        let old = keys(&[OLD]);
        let user = Uuid::new_v4();
        let code = AuthorizationCode::generate(&old, user);
        let encoded = code.encode();
        assert_eq!(encoded.len(), AuthorizationCode::ENCODED_LEN);
        let parsed = AuthorizationCode::parse(&old, &encoded).unwrap();
        assert_eq!(parsed.user_id(), user);
        assert_eq!(parsed.hash(), code.hash());
        assert!(AuthorizationCode::parse(&keys(&[NEW]), &encoded).is_none());
        // A refresh token is never read as a code, nor a code as one.
        let refresh = RefreshToken::generate(&old, user, Uuid::new_v4());
        assert!(AuthorizationCode::parse(&old, &refresh.encode()).is_none());
        assert!(RefreshToken::parse(&old, &encoded).is_none());
        assert!(!format!("{code:?}").contains(&encoded));
    }
}
