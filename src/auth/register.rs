//! Registration, and the username availability check that precedes it.

use super::{Auth, AuthError};
use crate::audit::AuditEvent;
use crate::client::ClientInfo;
use crate::users::repo::{self, InsertError, NewUser};
use crate::users::{Registration, UserPublic, Username};

impl Auth {
    pub async fn register(
        &self,
        registration: Registration,
        client: &ClientInfo,
    ) -> Result<UserPublic, AuthError> {
        let password_hash = self
            .deps
            .hasher
            .hash(registration.password.into_secret())
            .await?;
        let user = repo::insert(
            &self.deps.pool,
            NewUser {
                email: registration.email.as_str(),
                username: registration.username.as_str(),
                password_hash: &password_hash,
                is_active: !self.deps.require_email_verification,
            },
        )
        .await
        .map_err(|e| match e {
            InsertError::EmailTaken => AuthError::EmailTaken,
            InsertError::UsernameTaken => AuthError::UsernameTaken,
            InsertError::Database(e) => AuthError::Database(e),
        })?;
        self.deps
            .audit
            .record(AuditEvent::new("register", Some(user.id)).from_client(client));
        Ok(user.into())
    }

    /// Whether `username` is free, and if not, the first free `name<N>`;
    /// limited per client IP.
    pub async fn username_availability(
        &self,
        username: &Username,
        client: &ClientInfo,
    ) -> Result<(bool, Option<String>), AuthError> {
        self.deps.limits.username_check(client.ip).await?;
        let suggestion = crate::users::suggest_username(&self.deps.pool, username).await?;
        Ok(match suggestion {
            None => (true, None),
            Some(suggestion) => (false, Some(suggestion)),
        })
    }
}
