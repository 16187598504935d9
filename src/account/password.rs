//! Passwords: the reset link asked for and used, and the caller's change
//! of their own password.

use secrecy::SecretString;
use serde_json::json;

use super::{Account, AccountError};
use crate::client::ClientInfo;
use crate::mail::EmailKind;
use crate::one_time_tokens::{Consumed, Purpose};
use crate::revocations::Reason;
use crate::tokens::AccessClaims;
use crate::users::repo;
use crate::users::{self, NewPassword, User};

/// The password rule that needs the account: not its email or username.
fn check_password_for(user: &User, password: &NewPassword) -> Result<(), AccountError> {
    password
        .check_against(&user.email, &user.username)
        .map_err(AccountError::NewPasswordRefused)
}

impl Account {
    /// Sends a reset link (invalidating the previous one) when the email
    /// names an account; otherwise does nothing. Both cases do the same
    /// lookup and never wait for the mail, so they answer alike.
    pub async fn forgot_password(
        &self,
        email: &users::Email,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        self.send_link(
            EmailKind::PasswordReset,
            email,
            client,
            |user| !user.is_blocked,
            "password_reset_requested",
        )
        .await
    }

    /// Whether a reset link's token would still be accepted, without using
    /// it: the hosted reset page shows its form only for a live link, and a
    /// mail scanner opening the link changes nothing.
    pub async fn check_reset_link(&self, token: &str) -> Result<(), AccountError> {
        let token = self
            .links
            .tokens
            .parse(token)
            .ok_or(AccountError::InvalidResetToken)?;
        if self
            .links
            .tokens
            .is_valid(Purpose::PasswordReset, &token)
            .await?
        {
            Ok(())
        } else {
            Err(AccountError::InvalidResetToken)
        }
    }

    /// Sets a new password with a reset link's token and ends every session.
    /// The token is checked first and consumed last, so a new password that
    /// breaks a rule does not burn the link.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: NewPassword,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let token = self
            .links
            .tokens
            .parse(token)
            .ok_or(AccountError::InvalidResetToken)?;
        let user = repo::find_by_id(&self.pool, token.user_id())
            .await?
            .ok_or(AccountError::InvalidResetToken)?;
        let tokens = &self.links.tokens;
        if !tokens.is_valid(Purpose::PasswordReset, &token).await? {
            return Err(AccountError::InvalidResetToken);
        }
        check_password_for(&user, &new_password)?;
        let hash = self.hasher.hash(new_password.into_secret()).await?;
        if tokens
            .consume(Purpose::PasswordReset, &token, false)
            .await?
            != Consumed::Now
        {
            return Err(AccountError::InvalidResetToken);
        }
        if !repo::set_password_hash(&self.pool, user.id, &hash).await? {
            return Err(AccountError::InvalidResetToken);
        }
        let ended = self
            .sessions
            .end_all_because(user.id, None, Reason::PasswordReset)
            .await?;
        self.audit.record(
            self.record("password_reset", user.id, client)
                .with_details(json!({ "sessions_ended": ended })),
        );
        Ok(())
    }

    /// Changes the caller's password after checking the current one; every
    /// other session ends, the caller's stays.
    pub async fn change_password(
        &self,
        claims: &AccessClaims,
        current: SecretString,
        new_password: NewPassword,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let user = self.caller(claims).await?;
        check_password_for(&user, &new_password)?;
        if !self.password_matches(&user, current, client).await? {
            return Err(AccountError::WrongCurrentPassword);
        }
        let hash = self.hasher.hash(new_password.into_secret()).await?;
        repo::set_password_hash(&self.pool, user.id, &hash).await?;
        let ended = self
            .sessions
            .end_all_because(user.id, Some(claims.sid), Reason::PasswordChanged)
            .await?;
        // A reset link sent before the change must not undo it.
        self.links
            .tokens
            .revoke(Purpose::PasswordReset, user.id)
            .await?;
        self.audit.record(
            self.record("password_changed", user.id, client)
                .with_details(json!({ "sessions_ended": ended })),
        );
        Ok(())
    }
}
