//! The admin console's sign-in sessions. Knows nothing of HTTP.
//!
//! Signing in is a login ([`Auth::login_to`]: the same lockout, rate limits
//! and dummy argon2 for unknown names), so every console session stands on a
//! real tessera session. An account with a second factor gets the login's
//! `mfa_token` (a page's, [`Door::Page`]) and finishes with a code on the
//! console's next form ([`Auth::finish_sign_in`]). The console keeps, in Redis under the SHA-256 of a
//! random cookie value, which tessera session that is and the session's
//! anti-forgery token, with an idle expiry that each use renews (`GETEX`,
//! one command). A console session whose tessera session is gone (logout-all,
//! a block, a password reset) is over at once; the role is not kept here but
//! read from PostgreSQL on every request by the caller (`Admin::actor`).

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Auth, AuthError, Door, LoginName, MfaToken, Opening};
use crate::client::ClientInfo;
use crate::mfa::Proof;
use crate::redis_client::{RedisClient, RedisFailure};
use crate::sessions::{SessionError, SessionStore};
use crate::tokens::opaque;
use crate::users::Role;

/// Random bytes of a console cookie.
const COOKIE_BYTES: usize = 32;
/// Random bytes of a console session's anti-forgery token.
const CSRF_BYTES: usize = 24;
/// Random bytes of a one-shot form's id.
const FORM_ID_BYTES: usize = 16;
/// How long a spent form id is remembered (far longer than any console
/// session stays idle).
const SPENT_FORM_TTL_SECS: u64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The credentials were good but the account is neither ADMIN nor
    /// MODERATOR; the session the login opened has been ended again.
    #[error("not a member of staff")]
    NotStaff,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("console sessions: {0}")]
    Redis(#[from] RedisFailure),
    #[error("session store: {0}")]
    Sessions(#[from] SessionError),
}

/// What a console sign-in shows: a password, or the token of its
/// second-factor step and a code.
pub enum Credentials {
    Password(LoginName, SecretString),
    SecondFactor(MfaToken, Proof),
}

/// A live console session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsoleSession {
    pub user_id: Uuid,
    /// The tessera session the sign-in opened.
    pub session_id: Uuid,
    /// Every console form carries it; a POST without it is refused.
    pub csrf: String,
}

/// A new console session and the cookie value that names it.
pub struct SignedIn {
    pub cookie: SecretString,
    pub session: ConsoleSession,
}

pub struct Console {
    redis: Arc<RedisClient>,
    auth: Arc<Auth>,
    sessions: Arc<SessionStore>,
    idle: Duration,
}

/// The Redis key of a console session: the cookie itself is never stored.
/// One key, one command per change: no script, no hash tag needed.
fn key(cookie: &str) -> String {
    opaque::digest_key("tessera:console:", cookie.as_bytes())
}

/// What spending a one-shot form id came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormSpent {
    /// Spent now: go ahead.
    Now,
    /// Sent before: do nothing again.
    Already,
    /// No id this console made.
    NotOurs,
}

/// The key that marks `form_id` spent in `session`.
fn spent_key(session: &ConsoleSession, form_id: &str) -> String {
    format!("tessera:console:sent:{}:{form_id}", session.session_id)
}

impl Console {
    /// `idle`: a console session unused this long is over.
    pub fn new(
        redis: Arc<RedisClient>,
        auth: Arc<Auth>,
        sessions: Arc<SessionStore>,
        idle: Duration,
    ) -> Self {
        Self {
            redis,
            auth,
            sessions,
            idle,
        }
    }

    /// Logs in and, for ADMIN and MODERATOR only, starts a console session
    /// on the session the login opened. A password of an account with a
    /// second factor answers [`AuthError::MfaRequired`], its token for the
    /// console's next form; that token (and no other door's) and a code
    /// finish the sign-in.
    pub async fn sign_in(
        &self,
        credentials: Credentials,
        client: &ClientInfo,
    ) -> Result<SignedIn, ConsoleError> {
        let pair = match credentials {
            Credentials::Password(name, password) => {
                let opening = Opening {
                    door: Door::Page,
                    ..Opening::default()
                };
                self.auth.login_to(name, password, client, opening).await?
            }
            // Another door's token is finished where it was issued.
            Credentials::SecondFactor(token, _) if token.door() != Door::Page => {
                return Err(AuthError::InvalidMfaToken.into())
            }
            Credentials::SecondFactor(token, proof) => {
                self.auth
                    .finish_sign_in(&token, proof, client, None)
                    .await?
            }
        };
        let claims = self.auth.authenticate(&pair.access_token).await?;
        if !matches!(claims.role, Role::Admin | Role::Moderator) {
            self.auth
                .end_session(claims.sub, claims.sid, client)
                .await?;
            return Err(ConsoleError::NotStaff);
        }
        let cookie = opaque::encode(&rand::random::<[u8; COOKIE_BYTES]>());
        let session = ConsoleSession {
            user_id: claims.sub,
            session_id: claims.sid,
            csrf: opaque::encode(&rand::random::<[u8; CSRF_BYTES]>()),
        };
        let record = serde_json::to_string(&session).unwrap_or_default();
        self.redis
            .command::<()>(
                redis::cmd("SET")
                    .arg(key(&cookie))
                    .arg(record)
                    .arg("EX")
                    .arg(self.idle.as_secs().max(1)),
            )
            .await?;
        Ok(SignedIn {
            cookie: SecretString::from(cookie),
            session,
        })
    }

    /// The console session `cookie` names, its idle expiry renewed; `None`
    /// when it has expired, never existed, or its tessera session has ended.
    pub async fn resume(&self, cookie: &str) -> Result<Option<ConsoleSession>, ConsoleError> {
        if opaque::decode::<COOKIE_BYTES>(cookie).is_none() {
            return Ok(None);
        }
        let key = key(cookie);
        let record: Option<String> = self
            .redis
            .command(
                redis::cmd("GETEX")
                    .arg(&key)
                    .arg("EX")
                    .arg(self.idle.as_secs().max(1)),
            )
            .await?;
        let Some(session) = record.and_then(|r| serde_json::from_str::<ConsoleSession>(&r).ok())
        else {
            return Ok(None);
        };
        if !self
            .sessions
            .live_claims(session.user_id, session.session_id, None)
            .await?
            .is_live()
        {
            self.redis
                .command::<()>(redis::cmd("DEL").arg(&key))
                .await?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// A new one-shot form id: a form that makes something shown once (a
    /// client's secret) carries one, so sending it again makes nothing.
    pub fn new_form_id(&self) -> String {
        opaque::encode(&rand::random::<[u8; FORM_ID_BYTES]>())
    }

    /// Spends `form_id` for `session` (one atomic `SET NX`).
    pub async fn spend_form(
        &self,
        session: &ConsoleSession,
        form_id: &str,
    ) -> Result<FormSpent, ConsoleError> {
        if opaque::decode::<FORM_ID_BYTES>(form_id).is_none() {
            return Ok(FormSpent::NotOurs);
        }
        let set: Option<String> = self
            .redis
            .command(
                redis::cmd("SET")
                    .arg(spent_key(session, form_id))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(SPENT_FORM_TTL_SECS),
            )
            .await?;
        Ok(if set.is_some() {
            FormSpent::Now
        } else {
            FormSpent::Already
        })
    }

    /// Gives a spent form back when what it asked for failed, so sending it
    /// again is a retry.
    pub async fn give_back_form(&self, session: &ConsoleSession, form_id: &str) {
        if let Err(e) = self
            .redis
            .command::<()>(redis::cmd("DEL").arg(spent_key(session, form_id)))
            .await
        {
            tracing::debug!(error = %e, "cannot give a console form back");
        }
    }

    /// Ends the console session and the tessera session under it.
    pub async fn sign_out(
        &self,
        cookie: &str,
        session: &ConsoleSession,
        client: &ClientInfo,
    ) -> Result<(), ConsoleError> {
        self.redis
            .command::<()>(redis::cmd("DEL").arg(key(cookie)))
            .await?;
        self.auth
            .end_session(session.user_id, session.session_id, client)
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
        assert!(stored.starts_with("tessera:console:"));
        assert!(!stored.contains(&cookie));
        assert_eq!(stored.len(), "tessera:console:".len() + 64);
        assert_ne!(stored, key(&opaque::encode(&[8u8; COOKIE_BYTES])));
    }
}
