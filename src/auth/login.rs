//! Login: a name and a password for a token pair, under the login rate
//! limits. Every login path (`/login`, the OAuth password grant) comes here.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::challenge::Door;
use super::{Auth, AuthError, Challenge, TokenPair};
use crate::audit::AuditEvent;
use crate::client::ClientInfo;
use crate::clock::now_secs;
use crate::metrics::{self, LoginResult};
use crate::rate_limit::{CheckOutcome, Credential, PasswordOwner};
use crate::revocations::Reason;
use crate::sessions::{Authn, SessionClaims, SessionClient};
use crate::users::repo;
use crate::users::User;

/// How a login names its account, in the one form that both the lookup and
/// the lockout key use: trimmed, and lower-cased (emails are stored so, and
/// usernames are unique case-insensitively), so a padded or re-cased name is
/// the same account to both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginName(Name);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Email(String),
    Username(String),
}

impl LoginName {
    pub fn email(typed: &str) -> Self {
        Self(Name::Email(typed.trim().to_lowercase()))
    }

    pub fn username(typed: &str) -> Self {
        Self(Name::Username(typed.trim().to_lowercase()))
    }

    /// The OAuth2 password form's `username` may hold either.
    pub fn guess(typed: &str) -> Self {
        if typed.contains('@') {
            Self::email(typed)
        } else {
            Self::username(typed)
        }
    }

    /// The normalised name (the rate limits key unknown names by it).
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Name::Email(name) | Name::Username(name) => name,
        }
    }
}

/// What a login opens: a session for an app (tessera's own by default),
/// living the configured refresh lifetime unless `lifetime` is shorter.
#[derive(Debug, Default)]
pub struct Opening {
    /// The login that asked: a second-factor step answers in its shape.
    pub door: Door,
    pub app: SessionClient,
    pub lifetime: Option<Duration>,
    /// The DPoP key the request proved it holds: the access token is bound
    /// to it, and so is the refresh token of a public client (a
    /// confidential client's is bound to its credentials instead).
    pub jkt: Option<String>,
}

impl Auth {
    /// A login under the rate limits: attempts per client IP, and failures
    /// per account (by user id, so email and username share one count; by
    /// the normalised name when no account has it, so unknown names lock
    /// alike).
    /// Every login path (`/login`, the OAuth password grant) comes here.
    pub async fn login(
        &self,
        name: LoginName,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        self.login_to(name, password, client, Opening::default())
            .await
    }

    /// [`Auth::login`] opening a session for `opening`'s app and lifetime
    /// (the OAuth password grant of a registered client, a browser sign-in).
    pub async fn login_to(
        &self,
        name: LoginName,
        password: SecretString,
        client: &ClientInfo,
        opening: Opening,
    ) -> Result<TokenPair, AuthError> {
        let result = self.attempt_login(name, password, client, opening).await;
        match &result {
            Ok(_) => metrics::login(LoginResult::Ok),
            Err(AuthError::InvalidCredentials | AuthError::Blocked | AuthError::NotActivated) => {
                metrics::login(LoginResult::Failed)
            }
            // A dependency failure is no verdict on the credentials; it is
            // counted with the dependency's errors.
            Err(_) => {}
        }
        result
    }

    async fn attempt_login(
        &self,
        name: LoginName,
        password: SecretString,
        client: &ClientInfo,
        opening: Opening,
    ) -> Result<TokenPair, AuthError> {
        self.deps.limits.login_attempt(client.ip).await?;
        let user = match &name.0 {
            Name::Email(email) => repo::find_by_email(&self.deps.pool, email).await?,
            Name::Username(username) => repo::find_by_username(&self.deps.pool, username).await?,
        };
        let owner = match &user {
            Some(user) => PasswordOwner::User(user.id),
            None => PasswordOwner::UnknownName(name.as_str()),
        };
        self.deps
            .limits
            .guard_credential_check(
                client.ip,
                Credential::Password(owner),
                self.check_and_open(user, password, client, opening),
                |result| match result {
                    Ok(_) => CheckOutcome::Accepted,
                    Err(AuthError::InvalidCredentials) => CheckOutcome::Wrong,
                    // A right password with a factor still to come is no
                    // verdict yet: the window keeps its failures, so a known
                    // password buys no fresh allowance of code guesses.
                    Err(AuthError::MfaRequired(_)) => CheckOutcome::Undecided,
                    Err(_) => CheckOutcome::Undecided,
                },
            )
            .await
    }

    /// Checks the password (argon2 even for unknown users, so timing reveals
    /// nothing), then the account's state, then opens a session.
    async fn check_and_open(
        &self,
        user: Option<User>,
        password: SecretString,
        client: &ClientInfo,
        opening: Opening,
    ) -> Result<TokenPair, AuthError> {
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let matches = self.deps.hasher.verify(password, hash).await?;
        let failure = |reason: &str, subject: Option<Uuid>| {
            AuditEvent::new("login_failed", subject)
                .from_client(client)
                .with_details(json!({ "reason": reason }))
        };
        let user = match user {
            Some(user) if matches => user,
            Some(user) => {
                self.deps
                    .audit
                    .record(failure("wrong_password", Some(user.id)));
                return Err(AuthError::InvalidCredentials);
            }
            None => {
                self.deps.audit.record(failure("unknown_user", None));
                return Err(AuthError::InvalidCredentials);
            }
        };
        if user.is_blocked {
            self.deps.audit.record(failure("blocked", Some(user.id)));
            return Err(AuthError::Blocked);
        }
        if !user.is_active {
            self.deps
                .audit
                .record(failure("not_activated", Some(user.id)));
            return Err(AuthError::NotActivated);
        }
        // Asked only now the password is right, so a wrong one reveals
        // nothing about the account's factors.
        let methods = self.deps.mfa.sign_in_methods(user.id).await?;
        if !methods.is_empty() {
            let mfa_token = self
                .challenges
                .issue(user.id, &opening)
                .await
                .map_err(|e| AuthError::Sessions(e.into()))?;
            self.deps
                .audit
                .record(AuditEvent::new("login_mfa_required", Some(user.id)).from_client(client));
            return Err(AuthError::MfaRequired(Challenge { mfa_token, methods }));
        }
        let pair = self
            .open_session(&user, client, opening, Authn::password(now_secs()))
            .await?;
        self.deps
            .audit
            .record(AuditEvent::new("login", Some(user.id)).from_client(client));
        Ok(pair)
    }

    /// Opens the session a login (or its second-factor step) ends in;
    /// `authn` says how the user signed in.
    pub(super) async fn open_session(
        &self,
        user: &User,
        client: &ClientInfo,
        opening: Opening,
        authn: Authn,
    ) -> Result<TokenPair, AuthError> {
        let session_jkt = opening
            .jkt
            .as_deref()
            .filter(|_| !opening.app.confidential)
            .map(str::to_owned);
        let mut claims = SessionClaims {
            user_id: user.id,
            username: user.username.clone(),
            role: user.account_role,
            subscription: user.account_subscription,
            client: opening.app,
            authn,
        };
        let refresh = self
            .deps
            .sessions
            .create(&claims, client, opening.lifetime, session_jkt.as_deref())
            .await?;
        // An administrator may have blocked, deleted or re-roled the user
        // since the row was read: re-read it now the session exists (waiting
        // for a change in progress), so the change either sees this session
        // or is seen here.
        match repo::login_gate(&self.deps.pool, user.id).await? {
            Some(gate) if !gate.is_blocked && !gate.is_deleted => {
                if (gate.account_role, gate.account_subscription)
                    != (claims.role, claims.subscription)
                {
                    claims.role = gate.account_role;
                    claims.subscription = gate.account_subscription;
                    self.deps
                        .sessions
                        .update_claims(user.id, claims.role, claims.subscription)
                        .await?;
                }
            }
            gate => {
                self.deps
                    .sessions
                    .end_because(user.id, refresh.session_id, Reason::SessionRevoked)
                    .await?;
                let blocked = gate.is_some_and(|g| g.is_blocked && !g.is_deleted);
                self.deps.audit.record(
                    AuditEvent::new("login_failed", Some(user.id))
                        .from_client(client)
                        .with_details(
                            json!({ "reason": if blocked { "blocked" } else { "deleted" } }),
                        ),
                );
                return Err(if blocked {
                    AuthError::Blocked
                } else {
                    AuthError::InvalidCredentials
                });
            }
        }
        self.pair(
            &claims,
            refresh.session_id,
            (&refresh.token, refresh.expires_in.as_secs()),
            opening.jkt.as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_name_has_one_form_however_it_is_typed() {
        assert_eq!(
            LoginName::email("  Alice@Example.com "),
            LoginName::email("alice@example.com")
        );
        assert_eq!(
            LoginName::guess("\tAlice@Example.COM\n").as_str(),
            "alice@example.com"
        );
        assert_eq!(LoginName::guess(" Bob_1 "), LoginName::username("bob_1"));
        assert_ne!(
            LoginName::email("bob@x.io"),
            LoginName::username("bob@x.io")
        );
    }
}
