//! The caller's own account: profile changes, deletion, the balance.

use secrecy::SecretString;
use serde_json::json;

use super::{Account, AccountError};
use crate::auth::AuthError;
use crate::client::ClientInfo;
use crate::one_time_tokens::Purpose;
use crate::revocations::Reason;
use crate::tokens::AccessClaims;
use crate::users::repo::{self, ProfileChanges};
use crate::users::UserPublic;

impl Account {
    pub async fn update_profile(
        &self,
        claims: &AccessClaims,
        changes: ProfileChanges,
        client: &ClientInfo,
    ) -> Result<UserPublic, AccountError> {
        let user = repo::update_profile(&self.pool, claims.sub, &changes)
            .await?
            .ok_or(AuthError::InvalidAccessToken)?;
        let changed: Vec<&str> = [
            ("first_name", changes.first_name.is_some()),
            ("last_name", changes.last_name.is_some()),
            ("avatar_url", changes.avatar_url.is_some()),
            ("gender", changes.gender.is_some()),
            ("date_of_birth", changes.date_of_birth.is_some()),
            ("info", changes.info.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, given)| given.then_some(field))
        .collect();
        if !changed.is_empty() {
            self.audit.record(
                self.record("profile_updated", user.id, client)
                    .with_details(json!({ "fields": changed })),
            );
        }
        Ok(user.into())
    }

    /// Soft-deletes the caller's account after checking its password; every
    /// session ends and outstanding email links die.
    pub async fn delete(
        &self,
        claims: &AccessClaims,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let user = self.caller(claims).await?;
        if !self.password_matches(&user, password, client).await? {
            return Err(AccountError::WrongPassword);
        }
        if !repo::soft_delete(&self.pool, user.id).await? {
            return Err(AuthError::InvalidAccessToken.into());
        }
        let ended = self
            .sessions
            .end_all_because(user.id, None, Reason::Deleted)
            .await?;
        for purpose in [Purpose::Activation, Purpose::PasswordReset] {
            self.links.tokens.revoke(purpose, user.id).await?;
        }
        self.audit.record(
            self.record("account_deleted", user.id, client)
                .with_details(json!({ "sessions_ended": ended })),
        );
        Ok(())
    }

    /// The balance as a decimal string with two decimals ("12.50").
    pub async fn balance(&self, claims: &AccessClaims) -> Result<String, AccountError> {
        let balance = repo::balance(&self.pool, claims.sub)
            .await?
            .ok_or(AuthError::InvalidAccessToken)?;
        Ok(format!("{:.2}", balance))
    }
}
