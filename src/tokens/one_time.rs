//! The one-time token of an e-mail link (account activation, password
//! reset): base64url(user id ‖ 256-bit secret ‖ tag), the tag being the
//! shared integrity tag of [`super::opaque`] under the token secret, so a
//! made-up token is refused before Redis is asked. Its store is
//! `crate::one_time_tokens`.

use uuid::Uuid;

use super::opaque::{Domain, Kind, Token, TokenKeys, TAG_LEN};

const SECRET_LEN: usize = 32;
const PAYLOAD_LEN: usize = 16 + SECRET_LEN;
const TOKEN_LEN: usize = PAYLOAD_LEN + TAG_LEN;
#[cfg(test)]
const ENCODED_LEN: usize = super::opaque::encoded_len(TOKEN_LEN);

/// The one-time token kind: user id ‖ secret ‖ tag.
pub struct OneTime;

impl Kind for OneTime {
    const TAG: Domain = Domain::OneTimeTag;
    const NAME: &'static str = "OneTimeToken";
}

pub type OneTimeToken = Token<OneTime, TOKEN_LEN>;

/// A fresh token for `user_id` with a random secret.
pub fn generate(keys: &TokenKeys, user_id: Uuid) -> OneTimeToken {
    // rand's thread generator: a CSPRNG seeded from the OS.
    let secret: [u8; SECRET_LEN] = rand::random();
    OneTimeToken::seal(keys, user_id, &secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &[u8]) -> TokenKeys {
        TokenKeys::new([secret]).unwrap()
    }

    #[test]
    fn tokens_round_trip_and_carry_the_user() {
        let keys = keys(b"one-time token test secret, 32+ bytes");
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
        let token = generate(
            &keys(b"one secret of at least 32 bytes...."),
            Uuid::new_v4(),
        );
        let other = keys(b"another secret of at least 32 bytes");
        assert!(OneTimeToken::parse(&other, &token.encode()).is_none());
    }
}
