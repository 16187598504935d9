//! Passkeys at sign-in: the options of a second step answered with a
//! passkey, and a sign-in with a passkey alone (a discoverable credential
//! that verified its user), which opens what `/login` opens.

use serde_json::json;
use webauthn_rs::prelude::RequestChallengeResponse;

use super::challenge::MfaToken;
use super::{Auth, AuthError, Opening, TokenPair};
use crate::audit::AuditEvent;
use crate::client::ClientInfo;
use crate::clock::now_secs;
use crate::metrics::{self, LoginResult};
use crate::mfa::passkey::{SignInHandle, SignInOptions};
use crate::mfa::{Assertion, MfaError, Shown};
use crate::sessions::Authn;
use crate::users::repo;

impl Auth {
    /// The options to answer a sign-in's second step with one of the
    /// user's passkeys, kept beside the step. Asking is no attempt; the
    /// answer, at [`Auth::finish_sign_in`], is one.
    pub async fn passkey_step_options(
        &self,
        token: &MfaToken,
    ) -> Result<RequestChallengeResponse, AuthError> {
        let user_id = self
            .challenges
            .user(token)
            .await
            .map_err(|e| AuthError::Sessions(e.into()))?
            .ok_or(AuthError::InvalidMfaToken)?;
        Ok(self
            .deps
            .mfa
            .start_passkey_check(user_id, &token.passkey_ceremony())
            .await?)
    }

    /// The options of a sign-in with a passkey alone.
    pub async fn passkey_sign_in_options(&self) -> Result<SignInOptions, AuthError> {
        Ok(self.deps.mfa.start_passkey_sign_in().await?)
    }

    /// A sign-in with a passkey alone, under the login's per-IP limit; a
    /// refused answer counts against the passkey's account like a wrong
    /// code. The account's state is told only to the passkey's holder.
    pub async fn passkey_sign_in(
        &self,
        handle: &SignInHandle,
        answer: &Assertion,
        client: &ClientInfo,
        opening: Opening,
    ) -> Result<TokenPair, AuthError> {
        let result = self
            .attempt_passkey_sign_in(handle, answer, client, opening)
            .await;
        match &result {
            Ok(_) => metrics::login(LoginResult::Ok),
            Err(
                AuthError::Blocked
                | AuthError::NotActivated
                | AuthError::InvalidCredentials
                | AuthError::SecondFactor(MfaError::Passkey(_)),
            ) => metrics::login(LoginResult::Failed),
            Err(_) => {}
        }
        result
    }

    async fn attempt_passkey_sign_in(
        &self,
        handle: &SignInHandle,
        answer: &Assertion,
        client: &ClientInfo,
        opening: Opening,
    ) -> Result<TokenPair, AuthError> {
        self.deps.limits.login_attempt(client.ip).await?;
        let user_id = self
            .deps
            .mfa
            .finish_passkey_sign_in(handle, answer, client)
            .await?;
        let user = repo::find_by_id(&self.deps.pool, user_id)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        let refused = |reason: &str| {
            AuditEvent::new("login_failed", Some(user.id))
                .from_client(client)
                .with_details(json!({ "reason": reason }))
        };
        if user.is_blocked {
            self.deps.audit.record(refused("blocked"));
            return Err(AuthError::Blocked);
        }
        if !user.is_active {
            self.deps.audit.record(refused("not_activated"));
            return Err(AuthError::NotActivated);
        }
        let authn = Authn {
            amr: Shown::PasskeyAlone.amr(),
            auth_time: Some(now_secs()),
        };
        let amr = authn.amr.clone();
        let pair = self.open_session(&user, client, opening, authn).await?;
        self.deps.audit.record(
            AuditEvent::new("login", Some(user.id))
                .from_client(client)
                .with_details(json!({ "amr": amr })),
        );
        Ok(pair)
    }
}
