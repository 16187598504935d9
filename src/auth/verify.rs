//! Access token checks: a token verifies, and its session (a user's token)
//! or its client (a client's own token, or one got by token exchange) is
//! still live; and the user behind it.

use super::{Auth, AuthError};
use crate::clients::TokenClient;
use crate::dpop::Checked;
use crate::sessions::Live;
use crate::tokens::{AccessClaims, Bearer, Confirmation};
use crate::users::{repo, UserPublic};
use tessera_dpop::DpopError;

impl Auth {
    /// A verified user's access token for this service (`jwt.audience`)
    /// whose session is still live: one signature check and one Redis round
    /// trip. A client's own token has no user, so it is refused here. Its
    /// DPoP binding is not asked for: for the tokens tessera holds itself
    /// (the console's, the browser session's) and token exchange's subject,
    /// which are not resource requests.
    pub async fn authenticate(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        self.authenticate_user(access_token, |_| Ok(None)).await
    }

    /// [`Auth::authenticate`] for a resource request: `bind` checks the
    /// DPoP proof a bound token needs (see [`Auth::authenticate_for`]).
    pub async fn authenticate_user(
        &self,
        access_token: &str,
        bind: impl FnOnce(&Confirmation) -> Result<Option<Checked>, DpopError>,
    ) -> Result<AccessClaims, AuthError> {
        match self
            .authenticate_for(access_token, self.deps.tokens.audience(), bind)
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
    /// trip). A token bound to a DPoP key (`cnf`) is handed to `bind`,
    /// which checks the request's proof in process; its `jti` is spent in
    /// the session's round trip (a client's token, which has none, spends
    /// it with one `SET NX`).
    pub async fn authenticate_for(
        &self,
        access_token: &str,
        audience: &str,
        bind: impl FnOnce(&Confirmation) -> Result<Option<Checked>, DpopError>,
    ) -> Result<Bearer, AuthError> {
        let bearer = self
            .deps
            .tokens
            .verify_for(access_token, audience)
            .map_err(|_| AuthError::InvalidAccessToken)?;
        self.client_still_live(&bearer)?;
        let proof = match bearer.cnf() {
            Some(cnf) => bind(cnf).map_err(AuthError::DpopProof)?,
            None => None,
        };
        match bearer {
            Bearer::User(mut claims) => {
                match self
                    .deps
                    .sessions
                    .live_claims(claims.sub, claims.sid, proof.as_ref())
                    .await?
                {
                    Live::Claims(live) => {
                        claims.role = live.role;
                        claims.subscription = live.subscription;
                        Ok(Bearer::User(claims))
                    }
                    Live::Gone => Err(AuthError::InvalidAccessToken),
                    Live::ProofReplayed => Err(AuthError::DpopProof(DpopError::Replayed)),
                }
            }
            client => {
                if let Some(proof) = &proof {
                    self.deps.dpop.spend(proof).await?;
                }
                Ok(client)
            }
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
