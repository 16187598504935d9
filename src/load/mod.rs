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

use std::ops::RangeInclusive;
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
use crate::users::{HashError, NewPassword, PasswordHasher};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
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
pub struct LoadTag(String);

const TAG_MAX: usize = 16;
const GENERATED_TAG_LEN: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tag is 1 to {TAG_MAX} lower-case letters (a-z) and digits")]
pub struct TagError;

impl LoadTag {
    pub fn parse(raw: &str) -> Result<Self, TagError> {
        let valid = (1..=TAG_MAX).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(TagError)
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

impl std::fmt::Display for LoadTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A seed that passed every rule.
#[derive(Debug)]
pub struct SeedOptions {
    pub users: u64,
    pub sessions_per_user: u32,
    pub tag: LoadTag,
    /// No tag was given: this one was made up (and must be told).
    pub tag_generated: bool,
    pub password: SecretString,
    pub access_ttl: Duration,
}

/// A `load tokens` that passed every rule.
#[derive(Debug)]
pub struct TokensOptions {
    pub tag: LoadTag,
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

/// A number out of the range this service allows for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between {} and {}", .0.start(), .0.end())]
pub struct OutOfRange(RangeInclusive<i64>);

/// Users × sessions per user over what one seed may make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("users × sessions_per_user must be at most {0}")]
pub struct TooManySessions(i64);

/// What one seed or `load tokens` may ask for here: its bounds and this
/// service's settings. Each rule returns the value to use; the callers
/// (an HTTP body, the command line) report every broken one at once.
#[derive(Debug, Clone)]
pub struct SeedLimits {
    bounds: Bounds,
    max_sessions_per_user: i64,
    max_access_ttl: i64,
    default_access_ttl: Duration,
}

fn within(n: i64, range: RangeInclusive<i64>) -> Result<i64, OutOfRange> {
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(OutOfRange(range))
    }
}

impl SeedLimits {
    pub fn users(&self, n: i64) -> Result<u64, OutOfRange> {
        within(n, 1..=self.bounds.max_users).map(|n| n as u64)
    }

    /// 1 by default; never more than `session.max_per_user`, which would
    /// evict the first sessions of a user as its later ones open.
    pub fn sessions_per_user(&self, n: Option<i64>) -> Result<u32, OutOfRange> {
        n.map_or(Ok(1), |n| {
            within(n, 1..=self.max_sessions_per_user).map(|n| n as u32)
        })
    }

    /// `jwt.access_ttl_secs` by default (or the cap, if that is shorter);
    /// more than `load.max_access_ttl_secs` is refused rather than cut, so
    /// a harness never learns mid-run that its tokens expire early.
    pub fn access_ttl(&self, secs: Option<i64>) -> Result<Duration, OutOfRange> {
        secs.map_or(Ok(self.default_access_ttl), |secs| {
            within(secs, 1..=self.max_access_ttl).map(|secs| Duration::from_secs(secs as u64))
        })
    }

    /// A seed of values that passed their rules; a made-up tag and
    /// password where none was given.
    pub fn seed(
        &self,
        users: u64,
        sessions_per_user: u32,
        tag: Option<LoadTag>,
        password: Option<NewPassword>,
        access_ttl: Duration,
    ) -> Result<SeedOptions, TooManySessions> {
        if users as i64 * i64::from(sessions_per_user) > self.bounds.max_sessions {
            return Err(TooManySessions(self.bounds.max_sessions));
        }
        Ok(SeedOptions {
            users,
            sessions_per_user,
            tag_generated: tag.is_none(),
            tag: tag.unwrap_or_else(LoadTag::random),
            password: password.map_or_else(random_password, NewPassword::into_secret),
            access_ttl,
        })
    }
}

impl LoadKit {
    /// The limits of a seed within `bounds` (the command line's or one HTTP
    /// request's).
    pub fn limits(&self, bounds: Bounds) -> SeedLimits {
        let settings = self.deps.settings;
        SeedLimits {
            bounds,
            max_sessions_per_user: match settings.max_sessions_per_user {
                0 => MAX_SESSIONS_PER_USER,
                n => i64::from(n).min(MAX_SESSIONS_PER_USER),
            },
            max_access_ttl: settings.max_access_ttl.as_secs() as i64,
            default_access_ttl: settings.access_ttl.min(settings.max_access_ttl),
        }
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
