//! The load-test kit: users by the thousand with live sessions, made in
//! seconds, and deleted as fast. Seeded users are ordinary users in every
//! respect (REGULAR, FREE, active, a real argon2id hash, sessions opened by
//! the login script) except one column: `users.load_tag`, the tag of their
//! run, by which `purge` finds them and by which alone it deletes.
//!
//! - [`LoadKit::seed`]: users go in with `COPY` in batches; the run shares
//!   one password, so one argon2 hash serves all of it; each session is
//!   opened by [`SessionStore::create`] (the login script), many in flight
//!   on the shared multiplexed connections (pipelined, and routed per key on
//!   a cluster); access tokens are signed on the blocking pool, one chunk
//!   per core. Each batch comes back as NDJSON, one [`SeededSession`] a line.
//! - [`LoadKit::tokens`]: fresh sessions for a tag's users.
//! - [`LoadKit::purge`]: hard-deletes a tag's users and ends their sessions.
//!
//! The command line (`cli`) and the HTTP routes (`http::load`) drive these
//! same functions; neither knows how they work.

pub mod cli;
mod purge;
mod repo;
mod seed;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub use purge::PurgeCounts;
pub use seed::Batch;

use crate::audit::AuditLog;
use crate::sessions::{SessionError, SessionStore};
use crate::tokens::{TokenError, TokenIssuer};
use crate::users::{rules, HashError, PasswordHasher};
use crate::validation::{all, FieldError, Integer, Text, ValidationErrors};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Validation(#[from] ValidationErrors),
    /// A seeded email or username is already someone's (a real user's, or
    /// a concurrent seed of the same tag).
    #[error("a seeded email or username is already taken (is another seed of this tag running?)")]
    Taken,
    #[error("no live user has this tag")]
    UnknownTag,
    #[error("the password does not match the tag's users")]
    WrongPassword,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("session store: {0}")]
    Sessions(#[from] SessionError),
    #[error("{0}")]
    Hashing(#[from] HashError),
    #[error("{0}")]
    Signing(#[from] TokenError),
    /// A signing task on the blocking pool panicked or was cancelled.
    #[error("a signing task failed: {0}")]
    Worker(String),
}

/// What the kit needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct LoadSettings {
    /// `jwt.access_ttl_secs`: the access-token lifetime unless asked otherwise.
    pub access_ttl: Duration,
    /// `load.max_access_ttl_secs`.
    pub max_access_ttl: Duration,
    /// `session.max_per_user` (0 = unlimited): more sessions per user than
    /// this would evict the first ones as the later ones open.
    pub max_sessions_per_user: u32,
}

impl LoadSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            access_ttl: Duration::from_secs(config.jwt.access_ttl_secs),
            max_access_ttl: Duration::from_secs(config.load.max_access_ttl_secs),
            max_sessions_per_user: config.session.max_per_user,
        }
    }
}

pub struct LoadDeps {
    pub pool: sqlx::PgPool,
    pub hasher: PasswordHasher,
    pub sessions: Arc<SessionStore>,
    pub tokens: Arc<TokenIssuer>,
    pub audit: AuditLog,
    pub settings: LoadSettings,
}

pub struct LoadKit {
    deps: LoadDeps,
}

impl LoadKit {
    pub fn new(deps: LoadDeps) -> Self {
        Self { deps }
    }
}

/// How much one seed may make: the command line may make millions; one
/// HTTP request is bounded so it cannot hold a server's cores, pool and
/// memory for long (see `http::load`).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_users: i64,
    /// Users × sessions per user.
    pub max_sessions: i64,
}

/// The command line's bounds.
pub const CLI_BOUNDS: Bounds = Bounds {
    max_users: 10_000_000,
    max_sessions: 10_000_000,
};

/// The most sessions one user may be given at once, whatever
/// `session.max_per_user` allows.
const MAX_SESSIONS_PER_USER: i64 = 1_000;

/// A run's tag: 1 to 16 lower-case letters and digits, so it fits in the
/// seeded users' emails and usernames and a tag in a URL needs no escaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

const TAG_MAX: usize = 16;
const GENERATED_TAG_LEN: usize = 10;

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = (1..=TAG_MAX).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "a tag is 1 to {TAG_MAX} lower-case letters (a-z) and digits"
            ))
        }
    }

    /// A fresh random tag (a run that names none).
    pub fn random() -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        Self(
            (0..GENERATED_TAG_LEN)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `n`th user of the tag: a valid, unique email and username (the
    /// username rules: letters, digits and one `_`, never a reserved word).
    fn email(&self, n: u64) -> String {
        format!("load-{}-{n}@example.com", self.0)
    }

    fn username(&self, n: u64) -> String {
        format!("{}_{n}", self.0)
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A seed as asked for, field by field (the command line's flags or the
/// HTTP body), before its rules are checked.
#[derive(Debug, Default)]
pub struct SeedRequest {
    pub users: Integer,
    pub sessions_per_user: Integer,
    pub tag: Text,
    pub password: Text,
    pub access_ttl: Integer,
}

/// `load tokens` as asked for.
#[derive(Debug, Default)]
pub struct TokensRequest {
    pub tag: Text,
    pub sessions_per_user: Integer,
    pub password: Text,
    pub access_ttl: Integer,
}

/// A seed that passed every rule.
#[derive(Debug)]
pub struct SeedOptions {
    pub users: u64,
    pub sessions_per_user: u32,
    pub tag: Tag,
    /// No tag was given: this one was made up (and must be told).
    pub tag_generated: bool,
    pub password: SecretString,
    pub access_ttl: Duration,
}

/// A `load tokens` that passed every rule.
#[derive(Debug)]
pub struct TokensOptions {
    pub tag: Tag,
    pub sessions_per_user: u32,
    /// Written in each line when given (checked against the tag's users
    /// first); the kit stores no password, so it cannot know it otherwise.
    pub password: Option<SecretString>,
    pub access_ttl: Duration,
}

/// A strong random password for a run that names none: 24 characters of
/// base64url (144 bits).
fn random_password() -> SecretString {
    use base64::Engine;
    let bytes: [u8; 18] = rand::random();
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl LoadKit {
    /// Checks a seed against its rules and this service's settings,
    /// reporting every problem at once.
    pub fn seed_options(
        &self,
        request: SeedRequest,
        bounds: Bounds,
    ) -> Result<SeedOptions, ValidationErrors> {
        let users = request.users.required_in("users", 1..=bounds.max_users);
        let sessions_per_user = self.sessions_per_user(request.sessions_per_user);
        let tag = request.tag.optional("tag", |t| Tag::parse(&t));
        let password = request.password.optional("password", |p| {
            rules::password(&p, None, None).map(|()| SecretString::from(p))
        });
        let access_ttl = self.access_ttl(request.access_ttl);
        let (users, sessions_per_user, tag, password, access_ttl) =
            all((users, sessions_per_user, tag, password, access_ttl))?;
        if users * i64::from(sessions_per_user) > bounds.max_sessions {
            return Err(FieldError::rule(
                "sessions_per_user",
                format!(
                    "users × sessions_per_user must be at most {}",
                    bounds.max_sessions
                ),
            )
            .into());
        }
        Ok(SeedOptions {
            users: users as u64,
            sessions_per_user,
            tag_generated: tag.is_none(),
            tag: tag.unwrap_or_else(Tag::random),
            password: password.unwrap_or_else(random_password),
            access_ttl,
        })
    }

    pub fn tokens_options(
        &self,
        request: TokensRequest,
    ) -> Result<TokensOptions, ValidationErrors> {
        let tag = request.tag.required("tag", |t| Tag::parse(&t));
        let sessions_per_user = self.sessions_per_user(request.sessions_per_user);
        let password = request
            .password
            .optional("password", |p| Ok(SecretString::from(p)));
        let access_ttl = self.access_ttl(request.access_ttl);
        let (tag, sessions_per_user, password, access_ttl) =
            all((tag, sessions_per_user, password, access_ttl))?;
        Ok(TokensOptions {
            tag,
            sessions_per_user,
            password,
            access_ttl,
        })
    }

    /// 1 by default; never more than `session.max_per_user`, which would
    /// evict the first sessions of a user as its later ones open.
    fn sessions_per_user(&self, raw: Integer) -> Result<u32, FieldError> {
        let cap = match self.deps.settings.max_sessions_per_user {
            0 => MAX_SESSIONS_PER_USER,
            n => i64::from(n).min(MAX_SESSIONS_PER_USER),
        };
        Ok(raw
            .optional_in("sessions_per_user", 1..=cap)?
            .map_or(1, |n| n as u32))
    }

    /// `jwt.access_ttl_secs` by default (or the cap, if that is shorter);
    /// more than `load.max_access_ttl_secs` is refused rather than cut, so a
    /// harness never learns mid-run that its tokens expire early.
    fn access_ttl(&self, raw: Integer) -> Result<Duration, FieldError> {
        let settings = self.deps.settings;
        let cap = settings.max_access_ttl.as_secs() as i64;
        Ok(raw
            .optional_in("access_ttl", 1..=cap)?
            .map_or(settings.access_ttl.min(settings.max_access_ttl), |secs| {
                Duration::from_secs(secs as u64)
            }))
    }
}

/// One line of a seed's NDJSON: a session of a seeded user, with all a
/// virtual user needs to log in again, verify and refresh.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "tag": "k3x9q2m7za", "user_id": "0192f0c4-5a4e-7d1b-8c3e-2f1a6b7c8d9e",
    "email": "load-k3x9q2m7za-1@example.com", "username": "k3x9q2m7za_1",
    "password": "q8Yy0dJ5m2v7Lw3Xn1Rb6TzA", "session_id": "5f0c8a2e-1b3d-4e6f-9a7c-0d2e4f6a8b1c",
    "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9...", "refresh_token": "AZLwxFpOfRuM..."
}))]
pub struct SeededSession<'a> {
    pub tag: &'a str,
    pub user_id: Uuid,
    pub email: &'a str,
    pub username: &'a str,
    /// `null` from `load tokens` when no password was given (none is stored
    /// in plain text).
    pub password: Option<&'a str>,
    pub session_id: Uuid,
    pub access_token: &'a str,
    pub refresh_token: &'a str,
}
