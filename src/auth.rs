//! The authentication flows: register, login, refresh, logout, and access
//! token checks. Knows PostgreSQL, Redis and the key set through their
//! modules; knows nothing of HTTP.

use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{AuditEvent, AuditLog};
use crate::client::ClientInfo;
use crate::metrics::{self, LoginResult, RefreshResult};
use crate::rate_limit::{
    report_limited, Limiter, PasswordOutcome, PasswordOwner, RateLimitError, RateLimiter,
};
use crate::sessions::{RefreshToken, SessionClaims, SessionError, SessionStore};
use crate::tokens::{AccessClaims, TokenError, TokenIssuer};
use crate::users::repo::{self, InsertError, NewUser};
use crate::users::{HashError, PasswordHasher, Registration, User, UserPublic};
use crate::validation::{FieldError, Fields, ValidationErrors};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("email already registered")]
    EmailTaken,
    #[error("username already taken")]
    UsernameTaken,
    #[error("incorrect username or password")]
    InvalidCredentials,
    #[error("user account is not activated")]
    NotActivated,
    #[error("user account is blocked")]
    Blocked,
    #[error("invalid or expired refresh token")]
    InvalidRefreshToken,
    #[error("invalid or expired access token")]
    InvalidAccessToken,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("session store: {0}")]
    Sessions(SessionError),
    #[error(transparent)]
    Hashing(#[from] HashError),
    #[error(transparent)]
    Signing(TokenError),
    #[error(transparent)]
    RateLimit(#[from] RateLimitError),
}

impl From<SessionError> for AuthError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::InvalidToken | SessionError::ReuseDetected { .. } => {
                AuthError::InvalidRefreshToken
            }
            SessionError::RateLimited { retry_after } => {
                AuthError::RateLimit(RateLimitError::Limited {
                    limiter: Limiter::Refresh,
                    retry_after,
                })
            }
            other => AuthError::Sessions(other),
        }
    }
}

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

pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
}

/// The tokens are bearer credentials: `Debug` shows only their lifetimes,
/// so a pair can never reach a log line.
impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish_non_exhaustive()
    }
}

pub struct Auth {
    pool: PgPool,
    hasher: PasswordHasher,
    sessions: SessionStore,
    tokens: TokenIssuer,
    audit: AuditLog,
    limits: RateLimiter,
    require_email_verification: bool,
}

impl Auth {
    pub fn new(
        pool: PgPool,
        hasher: PasswordHasher,
        sessions: SessionStore,
        tokens: TokenIssuer,
        audit: AuditLog,
        limits: RateLimiter,
        require_email_verification: bool,
    ) -> Self {
        Self {
            pool,
            hasher,
            sessions,
            tokens,
            audit,
            limits,
            require_email_verification,
        }
    }

    pub fn rate_limits(&self) -> &RateLimiter {
        &self.limits
    }

    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    pub async fn register(
        &self,
        registration: Registration,
        client: &ClientInfo,
    ) -> Result<UserPublic, AuthError> {
        let password_hash = self.hasher.hash(registration.password).await?;
        let user = repo::insert(
            &self.pool,
            NewUser {
                email: &registration.email,
                username: &registration.username,
                password_hash: &password_hash,
                is_active: !self.require_email_verification,
            },
        )
        .await
        .map_err(|e| match e {
            InsertError::EmailTaken => AuthError::EmailTaken,
            InsertError::UsernameTaken => AuthError::UsernameTaken,
            InsertError::Database(e) => AuthError::Database(e),
        })?;
        self.audit
            .record(AuditEvent::new("register", Some(user.id)).from_client(client));
        Ok(user.into())
    }

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
        let result = self.attempt_login(name, password, client).await;
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
    ) -> Result<TokenPair, AuthError> {
        self.limits.login_attempt(client.ip).await?;
        let user = match &name.0 {
            Name::Email(email) => repo::find_by_email(&self.pool, email).await?,
            Name::Username(username) => repo::find_by_username(&self.pool, username).await?,
        };
        let owner = match &user {
            Some(user) => PasswordOwner::User(user.id),
            None => PasswordOwner::UnknownName(name.as_str()),
        };
        self.limits
            .guard_password_check(
                client.ip,
                owner,
                self.check_and_open(user, password, client),
                |result| match result {
                    Ok(_) => PasswordOutcome::Accepted,
                    Err(AuthError::InvalidCredentials) => PasswordOutcome::Wrong,
                    Err(_) => PasswordOutcome::Undecided,
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
    ) -> Result<TokenPair, AuthError> {
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let matches = self.hasher.verify(password, hash).await?;
        let failure = |reason: &str, subject: Option<Uuid>| {
            AuditEvent::new("login_failed", subject)
                .from_client(client)
                .with_details(json!({ "reason": reason }))
        };
        let user = match user {
            Some(user) if matches => user,
            Some(user) => {
                self.audit.record(failure("wrong_password", Some(user.id)));
                return Err(AuthError::InvalidCredentials);
            }
            None => {
                self.audit.record(failure("unknown_user", None));
                return Err(AuthError::InvalidCredentials);
            }
        };
        if user.is_blocked {
            self.audit.record(failure("blocked", Some(user.id)));
            return Err(AuthError::Blocked);
        }
        if !user.is_active {
            self.audit.record(failure("not_activated", Some(user.id)));
            return Err(AuthError::NotActivated);
        }
        let pair = self.open_session(&user, client).await?;
        self.audit
            .record(AuditEvent::new("login", Some(user.id)).from_client(client));
        Ok(pair)
    }

    async fn open_session(&self, user: &User, client: &ClientInfo) -> Result<TokenPair, AuthError> {
        let mut claims = SessionClaims {
            user_id: user.id,
            username: user.username.clone(),
            role: user.account_role,
            subscription: user.account_subscription,
        };
        let refresh = self.sessions.create(&claims, client).await?;
        // An administrator may have blocked, deleted or re-roled the user
        // since the row was read: re-read it now the session exists (waiting
        // for a change in progress), so the change either sees this session
        // or is seen here.
        match repo::login_gate(&self.pool, user.id).await? {
            Some(gate) if !gate.is_blocked && !gate.is_deleted => {
                if (gate.account_role, gate.account_subscription)
                    != (claims.role, claims.subscription)
                {
                    claims.role = gate.account_role;
                    claims.subscription = gate.account_subscription;
                    self.sessions
                        .update_claims(user.id, claims.role, claims.subscription)
                        .await?;
                }
            }
            gate => {
                self.sessions.end(user.id, refresh.session_id).await?;
                let blocked = gate.is_some_and(|g| g.is_blocked && !g.is_deleted);
                self.audit.record(
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
            &refresh.token,
            refresh.expires_in.as_secs(),
        )
    }

    fn pair(
        &self,
        claims: &SessionClaims,
        session_id: Uuid,
        refresh: &RefreshToken,
        refresh_expires_in: u64,
    ) -> Result<TokenPair, AuthError> {
        let access = self
            .tokens
            .issue(claims, session_id)
            .map_err(AuthError::Signing)?;
        Ok(TokenPair {
            access_token: access.token,
            refresh_token: refresh.encode(),
            expires_in: access.expires_in.as_secs(),
            refresh_expires_in,
        })
    }

    /// Rotates a refresh token under the per-session refresh limit: Redis
    /// only, one script. A token the service did not tag is refused before
    /// the script runs, so it can end nothing.
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let Some(token) = self.sessions.parse_token(presented) else {
            metrics::refresh(RefreshResult::Invalid);
            return Err(AuthError::InvalidRefreshToken);
        };
        let limit = self.limits.refresh_limit(client.ip);
        match self.sessions.rotate_limited(&token, limit, client.ip).await {
            Ok(rotation) => {
                match &rotation.retried {
                    // A lost response retried, maybe from another network
                    // (Wi-Fi to cellular): audited, never revoked for that.
                    Some(rotated_from) => {
                        metrics::refresh(RefreshResult::Retry);
                        self.audit.record(
                            AuditEvent::new("refresh_retried", Some(rotation.claims.user_id))
                                .from_client(client)
                                .with_details(json!({
                                    "session_id": rotation.refresh.session_id,
                                    "rotated_from_ip": rotated_from,
                                })),
                        );
                    }
                    None => metrics::refresh(RefreshResult::Rotated),
                }
                self.pair(
                    &rotation.claims,
                    rotation.refresh.session_id,
                    &rotation.refresh.token,
                    rotation.refresh.expires_in.as_secs(),
                )
            }
            Err(SessionError::RateLimited { retry_after }) => {
                report_limited(Limiter::Refresh, retry_after);
                Err(SessionError::RateLimited { retry_after }.into())
            }
            Err(SessionError::ReuseDetected {
                user_id,
                session_id,
            }) => {
                metrics::refresh(RefreshResult::Invalid);
                metrics::refresh_reuse_detected();
                tracing::warn!(%user_id, %session_id, "refresh token reuse detected; session revoked");
                self.audit.record(
                    AuditEvent::new("refresh_reuse_detected", Some(user_id))
                        .from_client(client)
                        .with_details(json!({ "session_id": session_id })),
                );
                Err(AuthError::InvalidRefreshToken)
            }
            Err(SessionError::InvalidToken) => {
                metrics::refresh(RefreshResult::Invalid);
                Err(AuthError::InvalidRefreshToken)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Ends the sessions named by a refresh token and/or an access token.
    /// Unknown or invalid tokens are ignored: logout always succeeds.
    pub async fn logout(
        &self,
        refresh: Option<&str>,
        access: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if let Some(token) = refresh.and_then(|t| self.sessions.parse_token(t)) {
            if self.sessions.end_by_refresh_token(&token).await? {
                self.record_logout(token.user_id(), token.session_id(), client);
            }
        }
        if let Some(claims) = access.and_then(|t| self.tokens.verify(t).ok()) {
            if self.sessions.end(claims.sub, claims.sid).await? {
                self.record_logout(claims.sub, claims.sid, client);
            }
        }
        Ok(())
    }

    fn record_logout(&self, user_id: Uuid, session_id: Uuid, client: &ClientInfo) {
        self.audit.record(
            AuditEvent::new("logout", Some(user_id))
                .from_client(client)
                .with_details(json!({ "session_id": session_id })),
        );
    }

    /// Ends every session of the token's user.
    pub async fn logout_all(
        &self,
        claims: &AccessClaims,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let ended = self.sessions.end_all(claims.sub, None).await?;
        self.audit.record(
            AuditEvent::new("logout_all", Some(claims.sub))
                .from_client(client)
                .with_details(json!({ "sessions_ended": ended })),
        );
        Ok(())
    }

    /// A verified access token whose session is still live: one signature
    /// check and one Redis round trip. The role and subscription returned
    /// are the session's current ones, not the token's: an administrator
    /// may have changed them since it was signed.
    pub async fn authenticate(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        let mut claims = self
            .tokens
            .verify(access_token)
            .map_err(|_| AuthError::InvalidAccessToken)?;
        let live = self
            .sessions
            .live_claims(claims.sub, claims.sid)
            .await?
            .ok_or(AuthError::InvalidAccessToken)?;
        claims.role = live.role;
        claims.subscription = live.subscription;
        Ok(claims)
    }

    /// Whether `username` is free, and if not, the first free `name<N>`;
    /// limited per client IP.
    pub async fn username_availability(
        &self,
        username: &str,
        client: &ClientInfo,
    ) -> Result<(bool, Option<String>), AuthError> {
        self.limits.username_check(client.ip).await?;
        let suggestion = crate::users::suggest_username(&self.pool, username).await?;
        Ok(match suggestion {
            None => (true, None),
            Some(suggestion) => (false, Some(suggestion)),
        })
    }

    pub async fn current_user(&self, claims: &AccessClaims) -> Result<UserPublic, AuthError> {
        repo::find_by_id(&self.pool, claims.sub)
            .await?
            .map(UserPublic::from)
            .ok_or(AuthError::InvalidAccessToken)
    }
}

/// Reads a login body: the OAuth2 password form (`username` holds an email
/// or a username) or JSON with `email` or `username`, and `password`.
pub fn parse_login(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<(LoginName, SecretString), ValidationErrors> {
    let mut fields = Fields::new(body);
    let email = fields.optional_string("email");
    let username = fields.optional_string("username");
    let name = match (email, username) {
        (Some(email), _) => Some(LoginName::email(email)),
        (None, Some(username)) => Some(LoginName::guess(username)),
        (None, None) => {
            fields.push(FieldError::missing("username"));
            None
        }
    };
    let password = fields.string("password");
    fields.finish()?;
    match (name, password) {
        (Some(name), Some(password)) => Ok((name, SecretString::from(password))),
        _ => Err(ValidationErrors::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::arbitrary;

    #[test]
    fn a_token_pair_does_not_print_its_tokens() {
        let pair = TokenPair {
            access_token: "access-token-value".into(),
            refresh_token: "refresh-token-value".into(),
            expires_in: 900,
            refresh_expires_in: 60,
        };
        let printed = format!("{pair:?}");
        assert!(!printed.contains("token-value"), "{printed}");
        assert!(printed.contains("900"), "{printed}");
    }

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

    proptest::proptest! {
        #[test]
        fn parsing_any_login_body_never_panics(
            body in arbitrary::body(&["email", "username", "password"]),
        ) {
            match parse_login(&body) {
                Ok((name, _)) => {
                    let typed = body.get("email").filter(|v| !v.is_null())
                        .or_else(|| body.get("username"))
                        .and_then(|v| v.as_str());
                    let expected = typed.map(|t| t.trim().to_lowercase());
                    proptest::prop_assert_eq!(Some(name.as_str().to_owned()), expected);
                }
                Err(errors) => proptest::prop_assert!(!errors.0.is_empty()),
            }
        }
    }
}
