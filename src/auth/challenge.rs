//! The step between a right password and a second factor: an `mfa_token`,
//! single-use, living `mfa.token_ttl_secs`, good for at most
//! [`MAX_ATTEMPTS`] codes. It remembers the door that asked (the JSON login
//! or the OAuth password grant, with its client, scope, lifetime and DPoP
//! key), so finishing answers in that door's shape and opens what that
//! login would have opened.
//!
//! Redis key `tessera:mfa:<hex SHA-256 of the token>`, a hash: `user`,
//! `opening` (JSON), `left`. The token itself is never stored. Its wire form
//! is base64url of a door byte and 32 random bytes, so even an expired
//! token says which door's error shape it gets.

use std::time::Duration;

use redis::Script;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Opening;
use crate::mfa::Ceremony;
use crate::redis_client::{RedisClient, RedisFailure};
use crate::sessions::SessionClient;
use crate::tokens::opaque;

/// Codes one token may be tried with; the account's failure window counts
/// them too.
pub const MAX_ATTEMPTS: u32 = 5;

const RANDOM_LEN: usize = 32;
const TOKEN_LEN: usize = 1 + RANDOM_LEN;

/// Which login asked for the second factor: its answer's shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Door {
    /// `/api/v1/auth/login`: the JSON pair, `{"detail"}` errors.
    #[default]
    Login,
    /// `/oauth/token grant_type=password`: RFC 6749 §5.1 and §5.2.
    PasswordGrant,
    /// A hosted page's sign-in (the authorization page, the console): the
    /// page's next form finishes it; the JSON step refuses its token.
    Page,
}

impl Door {
    fn byte(self) -> u8 {
        match self {
            Door::Login => 1,
            Door::PasswordGrant => 2,
            Door::Page => 3,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Door::Login),
            2 => Some(Door::PasswordGrant),
            3 => Some(Door::Page),
            _ => None,
        }
    }
}

/// A presented `mfa_token` of the right form.
pub struct MfaToken {
    bytes: [u8; TOKEN_LEN],
}

impl MfaToken {
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = opaque::decode::<TOKEN_LEN>(text)?;
        Door::from_byte(bytes[0])?;
        Some(Self { bytes })
    }

    pub fn door(&self) -> Door {
        Door::from_byte(self.bytes[0]).unwrap_or_default()
    }

    fn key(&self) -> String {
        opaque::digest_key("tessera:mfa:", &self.bytes)
    }

    /// Where a passkey's ceremony for this step waits.
    pub fn passkey_ceremony(&self) -> Ceremony {
        Ceremony::sign_in_step(&self.bytes)
    }
}

/// The opening as the step keeps it.
#[derive(Serialize, Deserialize)]
struct StoredOpening {
    door: Door,
    client_id: Option<String>,
    scope: Option<String>,
    confidential: bool,
    lifetime_ms: Option<u64>,
    jkt: Option<String>,
}

impl From<&Opening> for StoredOpening {
    fn from(opening: &Opening) -> Self {
        Self {
            door: opening.door,
            client_id: opening.app.id.clone(),
            scope: opening.app.scope.clone(),
            confidential: opening.app.confidential,
            lifetime_ms: opening.lifetime.map(|l| l.as_millis() as u64),
            jkt: opening.jkt.clone(),
        }
    }
}

impl From<StoredOpening> for Opening {
    fn from(stored: StoredOpening) -> Self {
        Self {
            door: stored.door,
            app: SessionClient {
                id: stored.client_id,
                scope: stored.scope,
                confidential: stored.confidential,
            },
            lifetime: stored.lifetime_ms.map(Duration::from_millis),
            jkt: stored.jkt,
        }
    }
}

/// A step found and one attempt of it counted.
pub struct Pending {
    pub user_id: Uuid,
    pub opening: Opening,
}

pub struct Challenges {
    redis: std::sync::Arc<RedisClient>,
    ttl: Duration,
    attempt: Script,
}

impl Challenges {
    pub fn new(redis: std::sync::Arc<RedisClient>, ttl: Duration) -> Self {
        Self {
            redis,
            ttl,
            attempt: Script::new(include_str!("challenge.lua")),
        }
    }

    /// A new step for `user_id` that will open `opening`; its token.
    pub async fn issue(&self, user_id: Uuid, opening: &Opening) -> Result<String, RedisFailure> {
        let mut bytes = [0u8; TOKEN_LEN];
        bytes[0] = opening.door.byte();
        bytes[1..].copy_from_slice(&opaque::fresh_secret());
        let token = MfaToken { bytes };
        let stored = serde_json::to_string(&StoredOpening::from(opening)).unwrap_or_default();
        let mut pipe = redis::pipe();
        // MULTI: the step never exists without its expiry.
        pipe.atomic()
            .hset_multiple(
                token.key(),
                &[
                    ("user", user_id.to_string()),
                    ("opening", stored),
                    ("left", MAX_ATTEMPTS.to_string()),
                ],
            )
            .ignore()
            .pexpire(token.key(), self.ttl.as_millis() as i64)
            .ignore();
        self.redis.pipeline::<()>(&pipe).await?;
        Ok(opaque::encode(&token.bytes))
    }

    /// Counts one attempt (see `challenge.lua`); `None` when the token is
    /// dead.
    pub async fn attempt(&self, token: &MfaToken) -> Result<Option<Pending>, RedisFailure> {
        let mut invocation = self.attempt.prepare_invoke();
        invocation.key(token.key());
        let found: Option<(Option<String>, Option<String>)> =
            self.redis.script(&invocation).await?;
        let Some((Some(user), Some(opening))) = found else {
            return Ok(None);
        };
        let (Ok(user_id), Ok(stored)) = (
            user.parse::<Uuid>(),
            serde_json::from_str::<StoredOpening>(&opening),
        ) else {
            return Ok(None);
        };
        Ok(Some(Pending {
            user_id,
            opening: stored.into(),
        }))
    }

    /// The user of a live step, without counting an attempt (asking for a
    /// passkey's options is no attempt; its answer is one).
    pub async fn user(&self, token: &MfaToken) -> Result<Option<Uuid>, RedisFailure> {
        let user: Option<String> = self
            .redis
            .command(redis::cmd("HGET").arg(token.key()).arg("user"))
            .await?;
        Ok(user.and_then(|u| u.parse().ok()))
    }

    /// Spends the token after a right code: `true` for exactly one caller.
    pub async fn finish(&self, token: &MfaToken) -> Result<bool, RedisFailure> {
        let deleted: i64 = self
            .redis
            .command(redis::cmd("DEL").arg(token.key()))
            .await?;
        Ok(deleted == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_says_its_door_and_nothing_else_parses() {
        for door in [Door::Login, Door::PasswordGrant, Door::Page] {
            let mut bytes = [9u8; TOKEN_LEN];
            bytes[0] = door.byte();
            let parsed = MfaToken::parse(&opaque::encode(&bytes)).unwrap();
            assert_eq!(parsed.door(), door);
        }
        let mut unknown = [9u8; TOKEN_LEN];
        unknown[0] = 7;
        assert!(MfaToken::parse(&opaque::encode(&unknown)).is_none());
        assert!(MfaToken::parse("").is_none());
        assert!(MfaToken::parse(&"A".repeat(44)).is_none());
        assert!(MfaToken::parse(&"\0".repeat(44)).is_none());
    }

    #[test]
    fn an_opening_survives_the_store() {
        let opening = Opening {
            door: Door::PasswordGrant,
            app: SessionClient {
                id: Some("app".into()),
                scope: Some("read write".into()),
                confidential: true,
            },
            lifetime: Some(Duration::from_secs(60)),
            jkt: Some("thumbprint".into()),
        };
        let text = serde_json::to_string(&StoredOpening::from(&opening)).unwrap();
        let back: Opening = serde_json::from_str::<StoredOpening>(&text).unwrap().into();
        assert_eq!(back.door, opening.door);
        assert_eq!(back.app, opening.app);
        assert_eq!(back.lifetime, opening.lifetime);
        assert_eq!(back.jkt, opening.jkt);
    }
}
