//! Access token checks: a token verifies and its session is live; and the
//! user behind it.

use super::{Auth, AuthError};
use crate::tokens::AccessClaims;
use crate::users::{repo, UserPublic};

impl Auth {
    /// A verified access token whose session is still live: one signature
    /// check and one Redis round trip. The role and subscription returned
    /// are the session's current ones, not the token's: an administrator
    /// may have changed them since it was signed.
    pub async fn authenticate(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        let mut claims = self
            .deps
            .tokens
            .verify(access_token)
            .map_err(|_| AuthError::InvalidAccessToken)?;
        let live = self
            .deps
            .sessions
            .live_claims(claims.sub, claims.sid)
            .await?
            .ok_or(AuthError::InvalidAccessToken)?;
        claims.role = live.role;
        claims.subscription = live.subscription;
        Ok(claims)
    }

    pub async fn current_user(&self, claims: &AccessClaims) -> Result<UserPublic, AuthError> {
        repo::find_by_id(&self.deps.pool, claims.sub)
            .await?
            .map(UserPublic::from)
            .ok_or(AuthError::InvalidAccessToken)
    }
}
