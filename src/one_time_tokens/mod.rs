//! One-time tokens for email links (account activation, password reset),
//! kept in Redis with a TTL.
//!
//! A token (its format is [`crate::tokens::one_time`]) names its user, which
//! tells the store where to look; only SHA-256 of the id and secret is
//! stored. Each
//! user has one slot per purpose, `tessera:ot:{<user id>}:<purpose>`: issuing
//! overwrites it (one `SET … PX`), so a new request invalidates the previous
//! link, and consuming is one script (`consume.lua`), so a token works once.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use uuid::Uuid;

use crate::redis_client::{RedisClient, RedisFailure};
use crate::tokens::one_time::{self, OneTimeToken};
use crate::tokens::opaque::TokenKeys;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Activation,
    PasswordReset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Activation => "activation",
            Purpose::PasswordReset => "reset",
        }
    }
}

/// What consuming a token found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// It was the user's newest token for the purpose; it works no more.
    Now,
    /// It was, and was consumed earlier (remembered uses only).
    Before,
    /// Unknown, expired, superseded by a newer one, or for another purpose.
    Invalid,
}

pub struct OneTimeTokens {
    redis: Arc<RedisClient>,
    keys: TokenKeys,
    consume: Script,
}

fn slot_key(purpose: Purpose, user_id: Uuid) -> String {
    format!("tessera:ot:{{{user_id}}}:{}", purpose.as_str())
}

impl OneTimeTokens {
    pub fn new(redis: Arc<RedisClient>, keys: TokenKeys) -> Self {
        Self {
            redis,
            keys,
            consume: Script::new(include_str!("consume.lua")),
        }
    }

    /// A token from a link, if its tag shows the service issued it; a
    /// made-up token never reaches Redis.
    pub fn parse(&self, encoded: &str) -> Option<OneTimeToken> {
        OneTimeToken::parse(&self.keys, encoded)
    }

    /// A new token for `user_id`, valid for `ttl`; the previous one for the
    /// same purpose stops working.
    pub async fn issue(
        &self,
        purpose: Purpose,
        user_id: Uuid,
        ttl: Duration,
    ) -> Result<OneTimeToken, RedisFailure> {
        let token = one_time::generate(&self.keys, user_id);
        self.redis
            .command::<()>(
                redis::cmd("SET")
                    .arg(slot_key(purpose, user_id))
                    .arg(&token.hash()[..])
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64),
            )
            .await?;
        Ok(token)
    }

    /// Whether `token` would be accepted now, without consuming it (so a
    /// request that fails validation does not burn the link).
    pub async fn is_valid(
        &self,
        purpose: Purpose,
        token: &OneTimeToken,
    ) -> Result<bool, RedisFailure> {
        let stored: Option<Vec<u8>> = self
            .redis
            .command(redis::cmd("GET").arg(slot_key(purpose, token.user_id())))
            .await?;
        Ok(stored.as_deref() == Some(&token.hash()[..]))
    }

    /// Consumes `token` (see `consume.lua`). With `remember_use`, a second
    /// use answers [`Consumed::Before`] until the slot would have expired.
    pub async fn consume(
        &self,
        purpose: Purpose,
        token: &OneTimeToken,
        remember_use: bool,
    ) -> Result<Consumed, RedisFailure> {
        let mut invocation = self.consume.prepare_invoke();
        invocation
            .key(slot_key(purpose, token.user_id()))
            .arg(&token.hash()[..])
            .arg(if remember_use { "1" } else { "0" });
        let outcome: i64 = self.redis.script(&invocation).await?;
        Ok(match outcome {
            1 => Consumed::Now,
            2 => Consumed::Before,
            _ => Consumed::Invalid,
        })
    }

    /// Invalidates the user's outstanding token for `purpose`, if any.
    pub async fn revoke(&self, purpose: Purpose, user_id: Uuid) -> Result<(), RedisFailure> {
        self.redis
            .command::<()>(redis::cmd("DEL").arg(slot_key(purpose, user_id)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_use_separate_slots_under_the_user_tag() {
        let user = Uuid::new_v4();
        let tag = format!("{{{user}}}");
        let activation = slot_key(Purpose::Activation, user);
        let reset = slot_key(Purpose::PasswordReset, user);
        assert_ne!(activation, reset);
        assert!(activation.contains(&tag) && reset.contains(&tag));
    }
}
