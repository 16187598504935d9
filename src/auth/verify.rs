//! Access token checks: a token verifies, and its session (a user's token)
//! or its client (a client's own token, or one got by token exchange) is
//! still live; and the user behind it.

use super::{Auth, AuthError};
use crate::clients::TokenClient;
use crate::tokens::{AccessClaims, Bearer};
use crate::users::{repo, UserPublic};

impl Auth {
    /// A verified user's access token for this service (`jwt.audience`)
    /// whose session is still live: one signature check and one Redis round
    /// trip. A client's own token has no user, so it is refused here.
    pub async fn authenticate(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        match self
            .authenticate_for(access_token, self.deps.tokens.audience())
            .await?
        {
            Bearer::User(claims) => Ok(claims),
            Bearer::Client(_) => Err(AuthError::InvalidAccessToken),
        }
    }

    /// Either kind of access token naming `audience`. A user's token needs
    /// its session (one Redis round trip), whose current role and
    /// subscription replace the token's (an administrator may have changed
    /// them since it was signed). A client's own token needs its client
    /// enabled, which the registry's in-process copy answers (no round
    /// trip).
    pub async fn authenticate_for(
        &self,
        access_token: &str,
        audience: &str,
    ) -> Result<Bearer, AuthError> {
        let bearer = self
            .deps
            .tokens
            .verify_for(access_token, audience)
            .map_err(|_| AuthError::InvalidAccessToken)?;
        self.client_still_live(&bearer)?;
        match bearer {
            Bearer::User(mut claims) => {
                let live = self
                    .deps
                    .sessions
                    .live_claims(claims.sub, claims.sid)
                    .await?
                    .ok_or(AuthError::InvalidAccessToken)?;
                claims.role = live.role;
                claims.subscription = live.subscription;
                Ok(Bearer::User(claims))
            }
            client => Ok(client),
        }
    }

    /// A token naming a registered client dies when the client is disabled
    /// or removed. A client's own token and an exchanged one must name a
    /// registered client; a first-party or public app's token names none.
    /// In-process: no round trip.
    pub fn client_still_live(&self, bearer: &Bearer) -> Result<(), AuthError> {
        let needs_registered = match bearer {
            Bearer::Client(_) => true,
            Bearer::User(claims) => claims.act.is_some(),
        };
        match self
            .deps
            .registry
            .judge_token(bearer.client_id(), bearer.iat())
        {
            TokenClient::Live => Ok(()),
            TokenClient::Unregistered if !needs_registered => Ok(()),
            TokenClient::Unknown if !needs_registered => Ok(()),
            TokenClient::Unknown => Err(AuthError::RegistryUnavailable),
            TokenClient::Unregistered | TokenClient::Dead => Err(AuthError::InvalidAccessToken),
        }
    }

    pub async fn current_user(&self, claims: &AccessClaims) -> Result<UserPublic, AuthError> {
        repo::find_by_id(&self.deps.pool, claims.sub)
            .await?
            .map(UserPublic::from)
            .ok_or(AuthError::InvalidAccessToken)
    }
}
