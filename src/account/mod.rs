//! The account lifecycle around the core flows, one file each:
//! `activation` (registration with CAPTCHA and activation email, activation,
//! resending the link), `password` (reset by email, change), `profile`
//! (profile, deletion, balance) and `sessions` (the caller's own). Knows
//! nothing of HTTP.

mod activation;
mod consents;
mod password;
mod profile;
mod sessions;

pub use sessions::OwnSession;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Auth, AuthError};
use crate::captcha::{CaptchaError, CaptchaVerifier};
use crate::client::ClientInfo;
use crate::mail::{Email, EmailKind, Mailer};
use crate::one_time_tokens::{OneTimeTokens, Purpose};
use crate::rate_limit::{
    CheckOutcome, Credential, EmailFlow, EmailRequest, PasswordOwner, RateLimitError, RateLimiter,
};
use crate::redis_client::RedisFailure;
use crate::sessions::{SessionError, SessionStore};
use crate::tokens::AccessClaims;
use crate::users::repo;
use crate::users::{self, HashError, PasswordError, PasswordHasher, User};

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
    #[error("no such consent")]
    ConsentNotFound,
    #[error(transparent)]
    Captcha(#[from] CaptchaError),
    /// A new password that breaks a rule only the account can check.
    #[error("new password refused: {0}")]
    NewPasswordRefused(PasswordError),
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

    /// An emailing endpoint (a reset link, an activation link again):
    /// over its per-IP limit it fails (429); otherwise, unless over the
    /// per-email limit, it sends `kind`'s link when the email names an
    /// account `eligible` for it and records `event`. The answer is the same
    /// in every other case (the same lookup, the mail never waited for), so
    /// it says nothing about the address.
    async fn send_link(
        &self,
        kind: EmailKind,
        email: &users::Email,
        client: &ClientInfo,
        eligible: fn(&User) -> bool,
        event: &'static str,
    ) -> Result<(), AccountError> {
        let flow = match kind {
            EmailKind::Activation => EmailFlow::ActivationResend,
            EmailKind::PasswordReset => EmailFlow::PasswordReset,
        };
        if self
            .limits
            .email_request(flow, client.ip, email.as_str())
            .await?
            == EmailRequest::Suppress
        {
            return Ok(());
        }
        if let Some(user) = repo::find_by_email(&self.pool, email.as_str()).await? {
            if eligible(&user) {
                self.links
                    .send_later(kind, user.id, &user.email, &user.username);
                self.audit.record(self.record(event, user.id, client));
            }
        }
        Ok(())
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
            .guard_credential_check(
                client.ip,
                Credential::Password(PasswordOwner::User(user.id)),
                async {
                    Ok(self
                        .hasher
                        .verify(password, Some(user.password_hash.clone()))
                        .await?)
                },
                |matches| match matches {
                    Ok(true) => CheckOutcome::Accepted,
                    Ok(false) => CheckOutcome::Wrong,
                    Err(_) => CheckOutcome::Undecided,
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
