//! Registration and activation: the CAPTCHA, the activation link, its
//! use, and sending it again.

use super::{Account, AccountError};
use crate::client::ClientInfo;
use crate::mail::EmailKind;
use crate::one_time_tokens::{Consumed, Purpose};
use crate::users::repo;
use crate::users::{self, Registration, UserPublic};

impl Account {
    /// Registers after the CAPTCHA (when configured) passes; an inactive
    /// new user is sent an activation link.
    pub async fn register(
        &self,
        registration: Registration,
        client: &ClientInfo,
    ) -> Result<UserPublic, AccountError> {
        self.limits.register(client.ip).await?;
        if let Some(captcha) = &self.captcha {
            captcha
                .verify(registration.captcha_token.as_deref(), client.ip)
                .await?;
        }
        let user = self.auth.register(registration, client).await?;
        if !user.is_active {
            self.links
                .send_later(EmailKind::Activation, user.id, &user.email, &user.username);
        }
        Ok(user)
    }

    /// Activates the account a link's token names. A second use of the same
    /// link says the account is active already.
    pub async fn activate(&self, token: &str, client: &ClientInfo) -> Result<(), AccountError> {
        let token = self
            .links
            .tokens
            .parse(token)
            .ok_or(AccountError::InvalidActivationToken)?;
        let user_id = token.user_id();
        match self
            .links
            .tokens
            .consume(Purpose::Activation, &token, true)
            .await?
        {
            Consumed::Now => match repo::activate(&self.pool, user_id).await? {
                Some(true) => {
                    self.audit
                        .record(self.record("activation", user_id, client));
                    Ok(())
                }
                Some(false) => Err(AccountError::AlreadyActive),
                None => Err(AccountError::InvalidActivationToken),
            },
            Consumed::Before => match repo::find_by_id(&self.pool, user_id).await? {
                Some(user) if user.is_active => Err(AccountError::AlreadyActive),
                _ => Err(AccountError::InvalidActivationToken),
            },
            Consumed::Invalid => Err(AccountError::InvalidActivationToken),
        }
    }

    /// Sends a new activation link (invalidating the previous one) when the
    /// email names an account awaiting activation; otherwise does nothing.
    /// The caller cannot tell which.
    pub async fn resend_activation(
        &self,
        email: &users::Email,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        self.send_link(
            EmailKind::Activation,
            email,
            client,
            |user| !user.is_active && !user.is_blocked,
            "activation_resent",
        )
        .await
    }
}
