//! The second step of a sign-in with a second factor: an `mfa_token` from
//! the login that asked, and a code, for what that login would have
//! answered.

use serde_json::json;

use super::challenge::MfaToken;
use super::{Auth, AuthError, TokenPair};
use crate::audit::AuditEvent;
use crate::client::ClientInfo;
use crate::clock::now_secs;
use crate::metrics::{self, LoginResult};
use crate::mfa::Proof;
use crate::sessions::Authn;
use crate::users::repo;
use tessera_dpop::DpopError;

impl Auth {
    /// Finishes a sign-in: the token's attempt is counted first (at most
    /// five codes per token), the code is checked under the account's
    /// failure window like a password, and the token is spent by the one
    /// request whose code passed. The session opened is the one the login
    /// would have opened (its client, scope, lifetime and DPoP key; `jkt`,
    /// the key this request proved it holds, must be that key), its tokens
    /// saying which factors were shown (`amr`, `acr`).
    pub async fn finish_sign_in(
        &self,
        token: &MfaToken,
        proof: Proof,
        client: &ClientInfo,
        jkt: Option<&str>,
    ) -> Result<TokenPair, AuthError> {
        let pending = self
            .challenges
            .attempt(token)
            .await
            .map_err(|e| AuthError::Sessions(e.into()))?
            .ok_or(AuthError::InvalidMfaToken)?;
        if let Some(bound) = pending.opening.jkt.as_deref() {
            match jkt {
                Some(jkt) if jkt == bound => {}
                Some(_) => return Err(AuthError::DpopProof(DpopError::WrongKey)),
                None => return Err(AuthError::DpopProof(DpopError::Missing)),
            }
        }
        let shown = self
            .deps
            .mfa
            .verify_at(pending.user_id, proof, &token.passkey_ceremony(), client)
            .await?;
        let spent = self
            .challenges
            .finish(token)
            .await
            .map_err(|e| AuthError::Sessions(e.into()))?;
        if !spent {
            return Err(AuthError::InvalidMfaToken);
        }
        // The account may have changed since the password was checked.
        let user = repo::find_by_id(&self.deps.pool, pending.user_id)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        if user.is_blocked {
            return Err(AuthError::Blocked);
        }
        if !user.is_active {
            return Err(AuthError::NotActivated);
        }
        let authn = Authn {
            amr: shown.amr(),
            auth_time: Some(now_secs()),
        };
        let amr = authn.amr.clone();
        let pair = self
            .open_session(&user, client, pending.opening, authn)
            .await?;
        metrics::login(LoginResult::Ok);
        self.deps.audit.record(
            AuditEvent::new("login", Some(user.id))
                .from_client(client)
                .with_details(json!({ "amr": amr })),
        );
        Ok(pair)
    }
}
