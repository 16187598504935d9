//! The authentication flows, one file each: [`register`](Auth::register)
//! (and username availability), [`login`](Auth::login),
//! [`refresh`](Auth::refresh), [`logout`](Auth::logout) and access token
//! checks ([`authenticate`](Auth::authenticate)), and the second-factor
//! step of a sign-in ([`finish_sign_in`](Auth::finish_sign_in), its
//! `mfa_token` in `challenge`), and a sign-in with a passkey alone
//! ([`passkey_sign_in`](Auth::passkey_sign_in)). Knows PostgreSQL, Redis and the key set
//! through their modules; knows nothing of HTTP.

mod challenge;
mod login;
mod logout;
mod passwordless;
mod refresh;
mod register;
mod second_factor;
mod verify;

use std::sync::Arc;

use sqlx::PgPool;
use uuid::Uuid;

pub use challenge::{Door, MfaToken};
pub use login::{LoginName, Opening};
pub use verify::{parse_max_age, Acr, StepUp};

use crate::audit::AuditLog;
use crate::clients::Registry;
use crate::dpop::{Dpop, DpopCheckError};
use crate::mfa::{Mfa, MfaError};
use crate::rate_limit::{RateLimitError, RateLimiter};
use crate::redis_client::RedisClient;
use crate::sessions::{RefreshToken, SessionClaims, SessionError, SessionStore};
use crate::tokens::{TokenError, TokenIssuer};
use crate::users::{HashError, PasswordHasher};

/// What an authentication flow can come to besides success: verdicts on
/// the caller, then the failures of what the flows stand on.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("email already registered")]
    EmailTaken,
    #[error("username already taken")]
    UsernameTaken,
    #[error("incorrect username or password")]
    InvalidCredentials,
    #[error("user account is not activated")]
    NotActivated,
    #[error("user account is blocked")]
    Blocked,
    #[error("invalid or expired refresh token")]
    InvalidRefreshToken,
    #[error("invalid or expired access token")]
    InvalidAccessToken,
    /// A code that is unknown, expired, used, or sent by another client,
    /// to another redirect URI or with another verifier.
    #[error("invalid, expired or used authorization code")]
    InvalidAuthorizationCode,
    /// The client registry has not been read yet (PostgreSQL was down
    /// since start-up), so a client's token cannot be judged.
    #[error("the client registry is not loaded")]
    RegistryUnavailable,
    /// A DPoP proof refused where the token's own check asks for it (its
    /// `jti` spent before, or no proof by a bound token's key).
    #[error(transparent)]
    DpopProof(tessera_dpop::DpopError),
    /// The password was right and the account has a second factor: the
    /// sign-in goes on at `mfa/verify` with this challenge.
    #[error("second factor required")]
    MfaRequired(Challenge),
    /// A live token whose sign-in is less than the route demands (RFC
    /// 9470): no second factor, or too long ago.
    #[error("insufficient user authentication")]
    InsufficientUserAuthentication(StepUp),
    /// An `mfa_token` that is unknown, expired, used, or out of attempts.
    #[error("invalid or expired second-factor step")]
    InvalidMfaToken,
    #[error(transparent)]
    SecondFactor(#[from] MfaError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("session store: {0}")]
    Sessions(#[from] SessionError),
    #[error(transparent)]
    Hashing(#[from] HashError),
    #[error(transparent)]
    Signing(#[from] TokenError),
    #[error(transparent)]
    RateLimit(#[from] RateLimitError),
}

/// What a sign-in that needs a second factor answers: the step's token
/// and the methods that finish it.
pub struct Challenge {
    pub mfa_token: String,
    pub methods: &'static [&'static str],
}

/// The token is a credential (with a code it signs in): never printed.
impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge")
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

/// A proof spent on its own: refused as a proof, or the store's failure.
impl From<DpopCheckError> for AuthError {
    fn from(e: DpopCheckError) -> Self {
        match e {
            DpopCheckError::Proof(why) => AuthError::DpopProof(why),
            DpopCheckError::Redis(e) => AuthError::Sessions(e.into()),
        }
    }
}

pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
    /// The access token is bound to a DPoP key (`token_type: "DPoP"`).
    pub dpop_bound: bool,
}

/// The tokens are bearer credentials: `Debug` shows only their lifetimes,
/// so a pair can never reach a log line.
impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish_non_exhaustive()
    }
}

/// What the flows use, handed in by `startup` (the session store, the token
/// issuer and the limiter are shared with the services that use them too).
pub struct AuthDeps {
    pub pool: PgPool,
    pub hasher: PasswordHasher,
    pub sessions: Arc<SessionStore>,
    pub tokens: Arc<TokenIssuer>,
    pub limits: Arc<RateLimiter>,
    pub audit: AuditLog,
    /// Spends the DPoP proof of a bound client token, which has no session
    /// read to carry it.
    pub dpop: Arc<Dpop>,
    /// Whether a client's tokens are still good (in-process, no round trip).
    pub registry: Arc<Registry>,
    /// New accounts start inactive until their email link is followed.
    pub require_email_verification: bool,
    /// Whether a user has a second factor, and checking one.
    pub mfa: Arc<Mfa>,
    /// Keeps the second-factor steps (`mfa_token`s).
    pub redis: Arc<RedisClient>,
    /// `mfa.token_ttl_secs`.
    pub mfa_token_ttl: std::time::Duration,
}

pub struct Auth {
    deps: AuthDeps,
    challenges: challenge::Challenges,
}

impl Auth {
    pub fn new(deps: AuthDeps) -> Self {
        let challenges = challenge::Challenges::new(deps.redis.clone(), deps.mfa_token_ttl);
        Self { deps, challenges }
    }

    /// The pair a login or a refresh hands out: a new access token for the
    /// session, beside its refresh token.
    /// `jkt`: the DPoP key the request proved it holds, which the access
    /// token is bound to.
    fn pair(
        &self,
        claims: &SessionClaims,
        session_id: Uuid,
        (refresh, refresh_expires_in): (&RefreshToken, u64),
        jkt: Option<&str>,
    ) -> Result<TokenPair, AuthError> {
        let access = self.deps.tokens.issue_bound(claims, session_id, jkt)?;
        Ok(TokenPair {
            access_token: access.token,
            refresh_token: refresh.encode(),
            expires_in: access.expires_in.as_secs(),
            refresh_expires_in,
            dpop_bound: jkt.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_pair_does_not_print_its_tokens() {
        let pair = TokenPair {
            access_token: "access-token-value".into(),
            refresh_token: "refresh-token-value".into(),
            expires_in: 900,
            refresh_expires_in: 60,
            dpop_bound: false,
        };
        let printed = format!("{pair:?}");
        assert!(!printed.contains("token-value"), "{printed}");
        assert!(printed.contains("900"), "{printed}");
    }
}
