//! The account lifecycle around the core flows: registration with CAPTCHA
//! and activation email, activation, password reset by email, password
//! change, profile, self-service sessions, deletion and balance. Knows
//! nothing of HTTP.

pub mod requests;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Auth, AuthError};
use crate::captcha::{CaptchaError, CaptchaVerifier};
use crate::client::ClientInfo;
use crate::mail::{Email, EmailKind, Mailer};
use crate::one_time_tokens::{Consumed, OneTimeTokens, Purpose};
use crate::rate_limit::{
    EmailFlow, EmailRequest, PasswordOutcome, PasswordOwner, RateLimitError, RateLimiter,
};
use crate::redis_client::RedisFailure;
use crate::sessions::{SessionError, SessionStore, SessionSummary};
use crate::tokens::AccessClaims;
use crate::users::repo::{self, ProfileChanges};
use crate::users::{rules, HashError, PasswordHasher, Registration, User, UserPublic};
use crate::validation::{FieldError, ValidationErrors};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid or expired activation token")]
    InvalidActivationToken,
    #[error("user account is already active")]
    AlreadyActive,
    #[error("invalid or expired reset token")]
    InvalidResetToken,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("the password is wrong")]
    WrongPassword,
    #[error("no such session")]
    SessionNotFound,
    #[error(transparent)]
    Captcha(#[from] CaptchaError),
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("one-time tokens: {0}")]
    Redis(#[from] RedisFailure),
    #[error("session store: {0}")]
    Sessions(#[from] SessionError),
    #[error(transparent)]
    Hashing(#[from] HashError),
    #[error(transparent)]
    RateLimit(#[from] RateLimitError),
}

pub struct AccountSettings {
    pub frontend_url: String,
    pub activation_ttl: Duration,
    pub reset_ttl: Duration,
}

/// A live session of the caller's, flagged when it is the one asking.
#[derive(Debug, Clone)]
pub struct OwnSession {
    pub session: SessionSummary,
    pub current: bool,
}

/// What the account flows use, handed in by `startup`.
pub struct AccountDeps {
    /// Registration itself is [`Auth::register`].
    pub auth: Arc<Auth>,
    pub pool: PgPool,
    pub hasher: PasswordHasher,
    pub sessions: Arc<SessionStore>,
    pub limits: Arc<RateLimiter>,
    pub audit: AuditLog,
    pub one_time_tokens: OneTimeTokens,
    pub mailer: Mailer,
    /// `None` when CAPTCHA is off.
    pub captcha: Option<CaptchaVerifier>,
    pub settings: AccountSettings,
}

pub struct Account {
    auth: Arc<Auth>,
    pool: PgPool,
    hasher: PasswordHasher,
    sessions: Arc<SessionStore>,
    limits: Arc<RateLimiter>,
    audit: AuditLog,
    links: LinkSender,
    captcha: Option<CaptchaVerifier>,
}

/// Issues one-time tokens and emails their links, in the background.
#[derive(Clone)]
struct LinkSender {
    tokens: Arc<OneTimeTokens>,
    mailer: Mailer,
    settings: Arc<AccountSettings>,
}

impl LinkSender {
    /// Issues the token and queues the email without the caller waiting:
    /// the request that asked answers the same whether or not this happens
    /// (no account enumeration by timing), and a failure is logged.
    fn send_later(&self, kind: EmailKind, user_id: Uuid, to: &str, username: &str) {
        let this = self.clone();
        let (to, username) = (to.to_owned(), username.to_owned());
        tokio::spawn(async move {
            let (purpose, path, valid_for) = match kind {
                EmailKind::Activation => (
                    Purpose::Activation,
                    "activate",
                    this.settings.activation_ttl,
                ),
                EmailKind::PasswordReset => (
                    Purpose::PasswordReset,
                    "reset-password",
                    this.settings.reset_ttl,
                ),
            };
            match this.tokens.issue(purpose, user_id, valid_for).await {
                Ok(token) => this.mailer.send(Email {
                    kind,
                    to,
                    username,
                    link: SecretString::from(format!(
                        "{}/auth/{path}?token={}",
                        this.settings.frontend_url.trim_end_matches('/'),
                        token.encode()
                    )),
                    valid_for,
                }),
                Err(e) => tracing::warn!(
                    kind = kind.as_str(),
                    %user_id,
                    error = %e,
                    "cannot issue a one-time token; email not sent"
                ),
            }
        });
    }
}

impl Account {
    pub fn new(deps: AccountDeps) -> Self {
        Self {
            auth: deps.auth,
            pool: deps.pool,
            hasher: deps.hasher,
            sessions: deps.sessions,
            limits: deps.limits,
            audit: deps.audit,
            links: LinkSender {
                tokens: Arc::new(deps.one_time_tokens),
                mailer: deps.mailer,
                settings: Arc::new(deps.settings),
            },
            captcha: deps.captcha,
        }
    }

    fn record(&self, kind: &'static str, user_id: Uuid, client: &ClientInfo) -> AuditEvent {
        AuditEvent::new(kind, Some(user_id)).from_client(client)
    }

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
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        if self
            .email_request(EmailFlow::ActivationResend, email, client)
            .await?
        {
            return Ok(());
        }
        if let Some(user) = repo::find_by_email(&self.pool, email).await? {
            if !user.is_active && !user.is_blocked {
                self.links
                    .send_later(EmailKind::Activation, user.id, &user.email, &user.username);
                self.audit
                    .record(self.record("activation_resent", user.id, client));
            }
        }
        Ok(())
    }

    /// Sends a reset link (invalidating the previous one) when the email
    /// names an account; otherwise does nothing. Both cases do the same
    /// lookup and never wait for the mail, so they answer alike.
    pub async fn forgot_password(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        if self
            .email_request(EmailFlow::PasswordReset, email, client)
            .await?
        {
            return Ok(());
        }
        if let Some(user) = repo::find_by_email(&self.pool, email).await? {
            if !user.is_blocked {
                self.links.send_later(
                    EmailKind::PasswordReset,
                    user.id,
                    &user.email,
                    &user.username,
                );
                self.audit
                    .record(self.record("password_reset_requested", user.id, client));
            }
        }
        Ok(())
    }

    /// Applies an emailing endpoint's limits: over the per-IP one it fails
    /// (429); true when over the per-email one, which the caller answers as
    /// usual without sending anything.
    async fn email_request(
        &self,
        flow: EmailFlow,
        email: &str,
        client: &ClientInfo,
    ) -> Result<bool, AccountError> {
        let verdict = self.limits.email_request(flow, client.ip, email).await?;
        Ok(verdict == EmailRequest::Suppress)
    }

    /// Sets a new password with a reset link's token and ends every session.
    /// The token is checked first and consumed last, so a new password that
    /// breaks a rule does not burn the link.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: SecretString,
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
        let hash = self.hasher.hash(new_password).await?;
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
        let ended = self.sessions.end_all(user.id, None).await?;
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
        new_password: SecretString,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let user = self.caller(claims).await?;
        check_password_for(&user, &new_password)?;
        if !self.password_matches(&user, current, client).await? {
            return Err(AccountError::WrongCurrentPassword);
        }
        let hash = self.hasher.hash(new_password).await?;
        repo::set_password_hash(&self.pool, user.id, &hash).await?;
        let ended = self.sessions.end_all(user.id, Some(claims.sid)).await?;
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
        let ended = self.sessions.end_all(user.id, None).await?;
        for purpose in [Purpose::Activation, Purpose::PasswordReset] {
            self.links.tokens.revoke(purpose, user.id).await?;
        }
        self.audit.record(
            self.record("account_deleted", user.id, client)
                .with_details(json!({ "sessions_ended": ended })),
        );
        Ok(())
    }

    pub async fn sessions(&self, claims: &AccessClaims) -> Result<Vec<OwnSession>, AccountError> {
        let sessions = self.sessions.list(claims.sub).await?;
        Ok(sessions
            .into_iter()
            .map(|session| OwnSession {
                current: session.id == claims.sid,
                session,
            })
            .collect())
    }

    /// Ends one of the caller's sessions (possibly the calling one).
    pub async fn revoke_session(
        &self,
        claims: &AccessClaims,
        session_id: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let session_id: Uuid = session_id
            .parse()
            .map_err(|_| AccountError::SessionNotFound)?;
        if !self.sessions.end(claims.sub, session_id).await? {
            return Err(AccountError::SessionNotFound);
        }
        self.audit.record(
            self.record("session_revoked", claims.sub, client)
                .with_details(json!({ "session_id": session_id })),
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

    /// Checks the caller's password under the account's failure window, the
    /// one login uses: a stolen access token buys no guesses beyond the
    /// login limit, and a locked account is refused (429) here too.
    async fn password_matches(
        &self,
        user: &User,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<bool, AccountError> {
        self.limits
            .guard_password_check(
                client.ip,
                PasswordOwner::User(user.id),
                async {
                    Ok(self
                        .hasher
                        .verify(password, Some(user.password_hash.clone()))
                        .await?)
                },
                |matches| match matches {
                    Ok(true) => PasswordOutcome::Accepted,
                    Ok(false) => PasswordOutcome::Wrong,
                    Err(_) => PasswordOutcome::Undecided,
                },
            )
            .await
    }

    async fn caller(&self, claims: &AccessClaims) -> Result<User, AccountError> {
        Ok(repo::find_by_id(&self.pool, claims.sub)
            .await?
            .ok_or(AuthError::InvalidAccessToken)?)
    }
}

/// The password rule that needs the account: not its email or username.
fn check_password_for(user: &User, password: &SecretString) -> Result<(), ValidationErrors> {
    use secrecy::ExposeSecret;
    rules::password(
        password.expose_secret(),
        Some(&user.email),
        Some(&user.username),
    )
    .map_err(|message| ValidationErrors::single(FieldError::rule("new_password", message)))
}
