//! The one-time token of an e-mail link (account activation, password
//! reset): base64url(user id ‖ 256-bit secret ‖ tag), the tag being the
//! shared integrity tag of [`super::opaque`] under the token secret, so a
//! made-up token is refused before Redis is asked. Its store is
//! `crate::one_time_tokens`.

use uuid::Uuid;

use super::opaque::{fresh_secret, token_len, Domain, Kind, Token, TokenKeys};

/// The one-time token kind: user id ‖ secret ‖ tag.
pub struct OneTime;

impl Kind for OneTime {
    const TAG: Domain = Domain::OneTimeTag;
    const NAME: &'static str = "OneTimeToken";
}

pub type OneTimeToken = Token<OneTime, { token_len(1) }>;

/// A fresh token for `user_id` with a random secret.
pub fn generate(keys: &TokenKeys, user_id: Uuid) -> OneTimeToken {
    OneTimeToken::seal(keys, user_id, &fresh_secret())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::opaque::tests::{keys, NEW, OLD};

    const ENCODED_LEN: usize = OneTimeToken::ENCODED_LEN;

    #[test]
    fn tokens_round_trip_and_carry_the_user() {
        let keys = keys(&[OLD]);
        let user = Uuid::new_v4();
        let token = generate(&keys, user);
        let encoded = token.encode();
        assert_eq!(encoded.len(), ENCODED_LEN);
        let parsed = OneTimeToken::parse(&keys, &encoded).unwrap();
        assert_eq!(parsed, token);
        assert_eq!(parsed.user_id(), user);
        assert!(!format!("{token:?}").contains(&encoded));
        assert_ne!(generate(&keys, user), token);
        assert!(OneTimeToken::parse(&keys, "short").is_none());
        assert!(OneTimeToken::parse(&keys, &"!".repeat(ENCODED_LEN)).is_none());
    }

    #[test]
    fn a_token_tagged_under_another_secret_is_refused() {
        let token = generate(&keys(&[OLD]), Uuid::new_v4());
        let other = keys(&[NEW]);
        assert!(OneTimeToken::parse(&other, &token.encode()).is_none());
    }
}
