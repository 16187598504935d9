//! Browser sessions of the hosted sign-in page: the cookie that lets a
//! second app sign in without a password. Each stands on a real tessera
//! session (opened by the sign-in, listed with the user's sessions, living
//! `oauth.browser_session_ttl_secs`), so logout-all, a block, a password
//! change or reset end it at once; RP-initiated logout ends it by name.
//!
//! Kept in Redis under the SHA-256 of a random cookie value (the cookie
//! itself is never stored), one key, with the expiry of its sign-in.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::redis_client::{RedisClient, RedisFailure};
use crate::sessions::{SessionError, SessionStore};
use crate::tokens::opaque;

/// Random bytes of a browser session's cookie.
const COOKIE_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("browser sessions: {0}")]
    Redis(#[from] RedisFailure),
    #[error("session store: {0}")]
    Sessions(#[from] SessionError),
}

/// Who is signed in in this browser, and since when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrowserSession {
    pub user_id: Uuid,
    /// The tessera session the sign-in opened.
    pub session_id: Uuid,
    pub username: String,
    /// When the user signed in (unix seconds; after a second factor, when
    /// it was shown): OIDC's `auth_time`.
    pub auth_time: u64,
    /// How (RFC 8176): `pwd`, with `otp` and `mfa` after a second factor.
    pub amr: Vec<String>,
}

pub struct BrowserSessions {
    redis: Arc<RedisClient>,
    sessions: Arc<SessionStore>,
    ttl: Duration,
}

fn key(cookie: &str) -> String {
    opaque::digest_key("tessera:browser:", cookie.as_bytes())
}

impl BrowserSessions {
    pub fn new(redis: Arc<RedisClient>, sessions: Arc<SessionStore>, ttl: Duration) -> Self {
        Self {
            redis,
            sessions,
            ttl,
        }
    }

    /// How long a browser session (and the session under it) lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Remembers `session` under a new cookie value.
    pub async fn start(&self, session: &BrowserSession) -> Result<SecretString, BrowserError> {
        let cookie = opaque::encode(&rand::random::<[u8; COOKIE_BYTES]>());
        let record = serde_json::to_string(session).unwrap_or_default();
        self.redis
            .command::<()>(
                redis::cmd("SET")
                    .arg(key(&cookie))
                    .arg(record)
                    .arg("EX")
                    .arg(self.ttl.as_secs().max(1)),
            )
            .await?;
        Ok(SecretString::from(cookie))
    }

    /// The browser session `cookie` names; `None` when it has expired,
    /// never existed, or the session under it has ended.
    pub async fn resume(&self, cookie: &str) -> Result<Option<BrowserSession>, BrowserError> {
        if opaque::decode::<COOKIE_BYTES>(cookie).is_none() {
            return Ok(None);
        }
        let key = key(cookie);
        let record: Option<String> = self.redis.command(redis::cmd("GET").arg(&key)).await?;
        let Some(session) = record.and_then(|r| serde_json::from_str::<BrowserSession>(&r).ok())
        else {
            return Ok(None);
        };
        if !self
            .sessions
            .live_claims(session.user_id, session.session_id, None)
            .await?
            .is_live()
        {
            self.forget(cookie).await?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// Forgets the cookie (the session under it is the caller's to end).
    pub async fn forget(&self, cookie: &str) -> Result<(), BrowserError> {
        self.redis
            .command::<()>(redis::cmd("DEL").arg(key(cookie)))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_a_digest_of_the_cookie_never_the_cookie() {
        let cookie = opaque::encode(&[7u8; COOKIE_BYTES]);
        let stored = key(&cookie);
        assert!(stored.starts_with("tessera:browser:"));
        assert!(!stored.contains(&cookie));
        assert_ne!(stored, key(&opaque::encode(&[8u8; COOKIE_BYTES])));
    }
}
