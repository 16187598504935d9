//! Sessions in Redis: one per login, holding the current refresh token's hash
//! and what the access token's claims need, so refresh never reads PostgreSQL.
//!
//! Keys (every key of a user shares the `{<user id>}` hash tag):
//! - `tessera:s:{<user id>}:<session id>` — hash: `cur`/`prev` refresh token
//!   hashes, `rot` (last rotation, ms), `abs` (absolute expiry, ms), `role`,
//!   `sub`, `name`, `ua`, `ip`, `created`, `used`, `rl` (refresh rate limit
//!   state, ms), `rip` (client IP of the last rotation), and for a session
//!   an OAuth client opened: `cid` (its id), `scope`, `conf` (`1` when it is
//!   confidential: its refresh token needs its authentication), `amr` (the
//!   RFC 8176 methods the sign-in showed, space-separated) and `at` (its
//!   `auth_time`, unix s); TTL = refresh lifetime.
//! - `tessera:u:{<user id>}` — sorted set of the user's session ids by expiry,
//!   at most `session.max_per_user` of them (`create.lua` evicts the oldest).
//!
//! Every script that ends a session or cuts a user off also appends its
//! revocation event to the feed (see [`crate::revocations`]).

mod codes;

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::Script;
use uuid::Uuid;

pub use crate::tokens::refresh::RefreshToken;
pub use codes::{CodeGrant, RedeemOutcome, Redeemed, Redemption};

use crate::client::ClientInfo;
use crate::clock::now_ms;
use crate::config::Config;
use crate::dpop::Checked;
use crate::rate_limit::RefreshLimit;
use crate::redis_client::{RedisClient, RedisFailure};
use crate::revocations::{FeedSettings, FeedWriter, Kind, Reason, Revoked};
use crate::tokens::opaque::TokenKeys;
use crate::users::{Role, Subscription};

/// The store could not answer; what it answers (a verdict on a token) is a
/// value, not an error: see [`RotateOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Redis(#[from] RedisFailure),
    #[error("unexpected reply from a session script: {0}")]
    Protocol(String),
}

/// What a session carries into every access token minted from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub subscription: Subscription,
    pub client: SessionClient,
    /// How the sign-in that opened the session was made, and when.
    pub authn: Authn,
}

/// How a user proved who they are when the session opened: RFC 8176
/// `amr` values and the `auth_time` (unix s). Kept in the session hash, so
/// every token a refresh mints says the same as the sign-in's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authn {
    pub amr: Vec<String>,
    /// `None` for a session opened before sessions kept it.
    pub auth_time: Option<u64>,
}

impl Authn {
    /// A password alone, shown at `auth_time`.
    pub fn password(auth_time: u64) -> Self {
        Self {
            amr: vec!["pwd".to_owned()],
            auth_time: Some(auth_time),
        }
    }

    /// `"mfa"` when two factors were shown (the `mfa` method is there),
    /// else `"pwd"`.
    pub fn acr(&self) -> &'static str {
        if self.amr.iter().any(|m| m == "mfa") {
            "mfa"
        } else {
            "pwd"
        }
    }

    /// From a session hash's `amr` and `at` (or a code's): a session opened
    /// before they were kept was a password sign-in.
    pub fn from_fields(amr: &str, auth_time: &str) -> Self {
        let amr: Vec<String> = amr.split_whitespace().map(str::to_owned).collect();
        Self {
            amr: if amr.is_empty() {
                vec!["pwd".to_owned()]
            } else {
                amr
            },
            auth_time: auth_time.parse().ok(),
        }
    }

    /// The `amr` field's text.
    fn amr_field(&self) -> String {
        self.amr.join(" ")
    }
}

/// The app a session was opened for: its tokens' `client_id` and `scope`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionClient {
    /// A registered client's id; `None` for tessera's own login (whose
    /// tokens name [`crate::tokens::FIRST_PARTY_CLIENT_ID`]).
    pub id: Option<String>,
    /// Space-separated, as granted.
    pub scope: Option<String>,
    /// Its refresh token works only with the client's authentication.
    pub confidential: bool,
}

impl SessionClient {
    /// From a session hash's `cid` and `scope` (empty when absent).
    fn from_fields(client_id: &str, scope: &str) -> Self {
        Self {
            id: (!client_id.is_empty()).then(|| client_id.to_owned()),
            scope: (!scope.is_empty()).then(|| scope.to_owned()),
            confidential: false,
        }
    }
}

impl SessionClaims {
    /// The claims from the fields a session hash keeps them in.
    fn parse(
        user_id: Uuid,
        username: String,
        role: &str,
        subscription: &str,
        client: SessionClient,
        authn: Authn,
    ) -> Result<Self, SessionError> {
        let live = LiveClaims::parse(role, subscription)?;
        Ok(Self {
            user_id,
            username,
            role: live.role,
            subscription: live.subscription,
            client,
            authn,
        })
    }
}

/// The claims of a live session that an administrator may change while its
/// access tokens are out: read on every access token check, so gateways
/// see a demotion at once rather than at the token's `exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveClaims {
    pub role: Role,
    pub subscription: Subscription,
}

/// What [`SessionStore::live_claims`] found.
#[derive(Debug)]
pub enum Live {
    Claims(LiveClaims),
    /// Ended, expired, or never there.
    Gone,
    /// The DPoP proof that came with the token was used before.
    ProofReplayed,
}

impl Live {
    pub fn is_live(&self) -> bool {
        matches!(self, Live::Claims(_))
    }
}

impl LiveClaims {
    fn parse(role: &str, subscription: &str) -> Result<Self, SessionError> {
        Ok(Self {
            role: role
                .parse()
                .map_err(|_| SessionError::Protocol(format!("role {role}")))?,
            subscription: subscription
                .parse()
                .map_err(|_| SessionError::Protocol(format!("subscription {subscription}")))?,
        })
    }
}

/// A refresh token that is its session's current one, as introspection
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRefresh {
    pub claims: SessionClaims,
    pub session_id: Uuid,
    /// When the token was issued (the session's last rotation), unix seconds.
    pub issued_at: u64,
    /// When it expires: a refresh lifetime after issue, capped by the
    /// session's absolute expiry, unix seconds.
    pub expires_at: u64,
}

#[derive(Debug)]
pub struct IssuedRefresh {
    pub session_id: Uuid,
    pub token: RefreshToken,
    pub expires_in: Duration,
}

/// What presenting a refresh token for rotation came to.
// Made once per refresh and matched at once: boxing the rotation would add
// an allocation to the hot path to save a few bytes of stack.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum RotateOutcome {
    Rotated(Rotation),
    /// A retired token was presented again: the session is revoked.
    Reused,
    /// Unknown, expired or revoked.
    Unknown,
    /// The session refreshed too often.
    Limited {
        retry_after: Duration,
    },
    /// The session belongs to another OAuth client (or a confidential one
    /// that did not authenticate): nothing changed.
    WrongClient,
    /// The session's refresh token is bound to a DPoP key and the request's
    /// proof is by another key, or there is none: nothing changed.
    KeyMismatch,
    /// A bound session's retired token came back with its own key after the
    /// retry window: a late retry, refused; the session lives on.
    SameKeyReuse,
    /// The request's DPoP proof was used before: nothing changed.
    ProofReplayed,
}

#[derive(Debug)]
pub struct Rotation {
    pub claims: SessionClaims,
    pub refresh: IssuedRefresh,
    /// The presented token had just been rotated and came back within the
    /// grace window (a client retry): the same successor was handed out
    /// again. Holds the client IP of the rotation it repeats.
    pub retried: Option<String>,
}

/// A live session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The last login or refresh (access token checks do not write).
    pub last_used_at: DateTime<Utc>,
    pub user_agent: String,
    pub ip: String,
    /// The OAuth client it was opened for; `None` for tessera's own login.
    pub client_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub refresh_ttl: Duration,
    pub absolute_ttl: Duration,
    pub reuse_grace: Duration,
    /// Tag refresh tokens and derive their successors.
    pub token_keys: TokenKeys,
    /// Live sessions a user may hold; a login beyond it evicts the oldest
    /// (see `create.lua`). 0 = unlimited.
    pub max_per_user: u32,
    /// `dpop.revoke_on_same_key_reuse`.
    pub revoke_on_same_key_reuse: bool,
}

impl SessionSettings {
    pub fn from_config(config: &Config, token_keys: TokenKeys) -> Self {
        let session = &config.session;
        Self {
            refresh_ttl: Duration::from_secs(session.refresh_ttl_secs),
            absolute_ttl: Duration::from_secs(session.absolute_ttl_secs),
            reuse_grace: Duration::from_secs(session.reuse_grace_secs),
            token_keys,
            max_per_user: session.max_per_user,
            revoke_on_same_key_reuse: config.dpop.revoke_on_same_key_reuse,
        }
    }
}

struct Scripts {
    create: Script,
    rotate: Script,
    revoke: Script,
    revoke_all: Script,
    list: Script,
    update_claims: Script,
    codes: codes::CodeScripts,
}

pub struct SessionStore {
    redis: Arc<RedisClient>,
    scripts: Scripts,
    settings: SessionSettings,
    feed: FeedWriter,
}

/// Length of a session key: the prefix and two hyphenated UUIDs.
const SESSION_KEY_LEN: usize = "tessera:s:{}:".len() + 2 * uuid::fmt::Hyphenated::LENGTH;

/// What every session key of a user starts with: the scripts that walk a
/// user's sessions derive the keys from it and the ids in the index.
fn session_prefix(user_id: Uuid) -> String {
    let mut prefix = String::with_capacity(SESSION_KEY_LEN);
    // Writing to a `String` cannot fail.
    let _ = write!(prefix, "tessera:s:{{{user_id}}}:");
    prefix
}

fn session_key(user_id: Uuid, session_id: Uuid) -> String {
    // The prefix has room for the id: one allocation on the hot path.
    let mut key = session_prefix(user_id);
    let _ = write!(key, "{session_id}");
    key
}

fn index_key(user_id: Uuid) -> String {
    format!("tessera:u:{{{user_id}}}")
}

impl SessionStore {
    /// The store as the configuration describes it, its events going to
    /// the revocation feed: what `serve` and every command line that ends or
    /// opens sessions build.
    pub fn from_config(config: &Config, redis: Arc<RedisClient>, token_keys: TokenKeys) -> Self {
        let retention = FeedSettings::from_config(config).retention;
        Self::new(
            redis.clone(),
            SessionSettings::from_config(config, token_keys),
            FeedWriter::new(redis, retention),
        )
    }

    /// `feed` is where the revoking scripts append their events.
    pub fn new(redis: Arc<RedisClient>, settings: SessionSettings, feed: FeedWriter) -> Self {
        let scripts = Scripts {
            create: FeedWriter::script(concat!(
                include_str!("open.lua"),
                include_str!("create.lua")
            )),
            rotate: FeedWriter::script(include_str!("rotate.lua")),
            revoke: FeedWriter::script(include_str!("revoke.lua")),
            revoke_all: FeedWriter::script(include_str!("revoke_all.lua")),
            list: Script::new(include_str!("list.lua")),
            update_claims: FeedWriter::script(include_str!("update_claims.lua")),
            codes: codes::CodeScripts::new(),
        };
        Self {
            redis,
            scripts,
            settings,
            feed,
        }
    }

    /// One round trip to the store: whether sessions can be opened now (a
    /// bulk job asks before it writes anything elsewhere).
    pub async fn reachable(&self) -> Result<(), SessionError> {
        Ok(self.redis.ping().await?)
    }

    /// Opens a session and returns its first refresh token, evicting the
    /// user's oldest sessions beyond `max_per_user` in the same script.
    /// `lifetime` shortens the refresh lifetime (a browser sign-in lives
    /// `oauth.browser_session_ttl_secs`); `jkt` binds the refresh token to
    /// a DPoP key (see `rotate.lua`).
    pub async fn create(
        &self,
        claims: &SessionClaims,
        client: &ClientInfo,
        lifetime: Option<Duration>,
        jkt: Option<&str>,
    ) -> Result<IssuedRefresh, SessionError> {
        let session_id = Uuid::new_v4();
        let token = RefreshToken::generate(&self.settings.token_keys, claims.user_id, session_id);
        let now = now_ms();
        let ttl = self.lifetime(lifetime);
        let mut invocation = self.scripts.create.prepare_invoke();
        invocation
            .key(session_key(claims.user_id, session_id))
            .key(index_key(claims.user_id))
            .arg(session_id.to_string())
            .arg(&token.hash()[..])
            .arg(now)
            .arg(ttl.as_millis() as u64)
            .arg(now + self.settings.absolute_ttl.as_millis() as u64)
            .arg(claims.role.as_str())
            .arg(claims.subscription.as_str())
            .arg(&claims.username);
        self.opening_args(&mut invocation, claims.user_id, client, &claims.client, jkt);
        let not_before = self.feed.attach(&mut invocation, Reason::Evicted);
        invocation
            .arg(claims.authn.amr_field())
            .arg(claims.authn.auth_time.unwrap_or_default());
        let evicted: Vec<String> = self.redis.script(&invocation).await?;
        if !evicted.is_empty() {
            tracing::debug!(user_id = %claims.user_id, evicted = evicted.len(), "oldest sessions evicted at session.max_per_user");
            let revoked = Revoked {
                kind: Kind::Session,
                ids: &evicted,
            };
            self.feed
                .after_script(Reason::Evicted, not_before, revoked)
                .await;
        }
        Ok(IssuedRefresh {
            session_id,
            token,
            expires_in: ttl,
        })
    }

    /// A new session's refresh lifetime: the configured one, or `shorter`,
    /// never past the absolute lifetime.
    fn lifetime(&self, shorter: Option<Duration>) -> Duration {
        let ttl = self.settings.refresh_ttl.min(self.settings.absolute_ttl);
        shorter.map_or(ttl, |shorter| shorter.min(ttl))
    }

    /// `open_session`'s arguments after the claims (see `open.lua`): the
    /// device, the cap, the key prefix, the app and the DPoP key.
    fn opening_args(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
        user_id: Uuid,
        device: &ClientInfo,
        app: &SessionClient,
        jkt: Option<&str>,
    ) {
        invocation
            .arg(&device.user_agent)
            .arg(device.ip_text())
            .arg(self.settings.max_per_user)
            .arg(session_prefix(user_id))
            .arg(app.id.as_deref().unwrap_or_default())
            .arg(app.scope.as_deref().unwrap_or_default())
            .arg(if app.confidential { "1" } else { "" })
            .arg(jkt.unwrap_or_default());
    }

    /// A refresh token from its wire form, if its tag shows the service
    /// issued it; a made-up token never reaches a script.
    pub fn parse_token(&self, encoded: &str) -> Option<RefreshToken> {
        RefreshToken::parse(&self.settings.token_keys, encoded)
    }

    /// Exchanges a refresh token for its successor (see `rotate.lua`), under
    /// a per-session refresh rate limit checked by the same script in the
    /// same round trip. `client_ip` is remembered with the rotation, so a
    /// retry of it can be told where the first attempt came from.
    /// `presenter` is the OAuth client presenting the token (`""` for
    /// none): a session an OAuth client opened rotates only for it. `proof`
    /// is the request's DPoP proof: a session bound to a key rotates only
    /// for that key, and the proof's `jti` is spent by the same script.
    pub async fn rotate_limited(
        &self,
        presented: &RefreshToken,
        limit: Option<RefreshLimit>,
        client_ip: Option<IpAddr>,
        presenter: &str,
        proof: Option<&Checked>,
    ) -> Result<RotateOutcome, SessionError> {
        let (interval_ms, period_ms) = match limit {
            Some(limit) if limit.max > 0 => {
                let period_ms = limit.period.as_millis() as u64;
                ((period_ms / u64::from(limit.max)).max(1), period_ms)
            }
            _ => (0, 0),
        };
        let (user_id, session_id) = (presented.user_id(), presented.session_id());
        let successor = presented.successor(&self.settings.token_keys);
        let mut invocation = self.scripts.rotate.prepare_invoke();
        // Without a proof, KEYS[3] is named (so the feed stays KEYS[4]) but
        // never touched.
        let jti_key = proof.map_or_else(
            || format!("tessera:dpop:{{{user_id}}}:"),
            |proof| proof.jti_key(&user_id.to_string()),
        );
        invocation
            .key(session_key(user_id, session_id))
            .key(index_key(user_id))
            .key(jti_key)
            .arg(&presented.hash()[..])
            .arg(&successor.hash()[..])
            .arg(now_ms())
            .arg(self.settings.refresh_ttl.as_millis() as u64)
            .arg(self.settings.reuse_grace.as_millis() as u64)
            .arg(session_id.to_string())
            .arg(interval_ms)
            .arg(period_ms)
            .arg(client_ip.map(|ip| ip.to_string()).unwrap_or_default())
            .arg(presenter)
            .arg(proof.map_or("", Checked::jkt))
            .arg(if self.settings.revoke_on_same_key_reuse {
                "1"
            } else {
                ""
            })
            .arg(proof.map_or(0, Checked::ttl_secs));
        let not_before = self.feed.attach(&mut invocation, Reason::ReuseDetected);
        let reply: Vec<String> = self.redis.script(&invocation).await?;
        match reply.as_slice() {
            [status, role, subscription, username, remaining_ms, rotated_from, client_id, scope, amr, auth_time]
                if status == "rotated" || status == "retry" =>
            {
                let app = SessionClient::from_fields(client_id, scope);
                let authn = Authn::from_fields(amr, auth_time);
                let claims = SessionClaims::parse(
                    user_id,
                    username.clone(),
                    role,
                    subscription,
                    app,
                    authn,
                )?;
                let remaining_ms: u64 = remaining_ms.parse().unwrap_or(0);
                Ok(RotateOutcome::Rotated(Rotation {
                    claims,
                    refresh: IssuedRefresh {
                        session_id,
                        token: successor,
                        expires_in: Duration::from_millis(remaining_ms),
                    },
                    retried: (status == "retry").then(|| rotated_from.clone()),
                }))
            }
            [status] if status == "reused" => {
                let revoked = Revoked {
                    kind: Kind::Session,
                    ids: &[session_id.to_string()],
                };
                self.feed
                    .after_script(Reason::ReuseDetected, not_before, revoked)
                    .await;
                Ok(RotateOutcome::Reused)
            }
            [status] if status == "unknown" => Ok(RotateOutcome::Unknown),
            [status] if status == "wrong_client" => Ok(RotateOutcome::WrongClient),
            [status] if status == "key_mismatch" => Ok(RotateOutcome::KeyMismatch),
            [status] if status == "same_key_reuse" => Ok(RotateOutcome::SameKeyReuse),
            [status] if status == "proof_replayed" => Ok(RotateOutcome::ProofReplayed),
            [status, wait_ms] if status == "limited" => Ok(RotateOutcome::Limited {
                retry_after: Duration::from_millis(wait_ms.parse().unwrap_or(1000)),
            }),
            other => Err(SessionError::Protocol(format!("{other:?}"))),
        }
    }

    /// The role and subscription the session holds now (kept current by
    /// `update_claims.lua`), `None` once it is gone: the one check every
    /// access token needs, and what gateways are told, in one round trip.
    /// `proof`: a DPoP proof that came with the token, whose `jti` is spent
    /// in the same round trip (a pipeline in the user's slot).
    pub async fn live_claims(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        proof: Option<&Checked>,
    ) -> Result<Live, SessionError> {
        let read = redis::cmd("HMGET")
            .arg(session_key(user_id, session_id))
            .arg(&["role", "sub"])
            .to_owned();
        let (role, subscription): (Option<String>, Option<String>) = match proof {
            None => self.redis.command(&read).await?,
            Some(proof) => {
                let mut pipe = redis::pipe();
                pipe.cmd("SET")
                    .arg(proof.jti_key(&user_id.to_string()))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(proof.ttl_secs())
                    .add_command(read);
                let (fresh, fields): (Option<String>, _) = self.redis.pipeline(&pipe).await?;
                if fresh.is_none() {
                    return Ok(Live::ProofReplayed);
                }
                fields
            }
        };
        let (Some(role), Some(subscription)) = (role, subscription) else {
            return Ok(Live::Gone);
        };
        Ok(Live::Claims(LiveClaims::parse(&role, &subscription)?))
    }

    /// Everything a live session carries into its tokens (name, role,
    /// subscription), `None` once it is gone: what introspection reports
    /// of an access token, in one round trip.
    pub async fn live_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<SessionClaims>, SessionError> {
        type Fields = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let (username, role, subscription, client_id, scope, amr, auth_time): Fields = self
            .redis
            .command(
                redis::cmd("HMGET")
                    .arg(session_key(user_id, session_id))
                    .arg(&["name", "role", "sub", "cid", "scope", "amr", "at"]),
            )
            .await?;
        let (Some(username), Some(role), Some(subscription)) = (username, role, subscription)
        else {
            return Ok(None);
        };
        let app = SessionClient::from_fields(
            client_id.as_deref().unwrap_or_default(),
            scope.as_deref().unwrap_or_default(),
        );
        let authn = Authn::from_fields(
            amr.as_deref().unwrap_or_default(),
            auth_time.as_deref().unwrap_or_default(),
        );
        Ok(Some(SessionClaims::parse(
            user_id,
            username,
            &role,
            &subscription,
            app,
            authn,
        )?))
    }

    /// The session behind `token` if the token is its CURRENT refresh token
    /// (a just-rotated one is no longer active), in one round trip.
    pub async fn live_refresh(
        &self,
        token: &RefreshToken,
    ) -> Result<Option<LiveRefresh>, SessionError> {
        let (user_id, session_id) = (token.user_id(), token.session_id());
        let fields: Vec<Option<Vec<u8>>> = self
            .redis
            .command(
                redis::cmd("HMGET")
                    .arg(session_key(user_id, session_id))
                    .arg(&[
                        "cur", "rot", "abs", "role", "sub", "name", "cid", "scope", "amr", "at",
                    ]),
            )
            .await?;
        let [Some(current), Some(rotated), Some(absolute), Some(role), Some(subscription), Some(username), client_id, scope, amr, auth_time] =
            <[Option<Vec<u8>>; 10]>::try_from(fields)
                .map_err(|f| SessionError::Protocol(format!("HMGET gave {} fields", f.len())))?
        else {
            return Ok(None);
        };
        if current[..] != token.hash()[..] {
            return Ok(None);
        }
        let text = |bytes: Vec<u8>, what: &str| {
            String::from_utf8(bytes)
                .map_err(|_| SessionError::Protocol(format!("{what} is not text")))
        };
        let number = |bytes: Vec<u8>, what: &str| -> Result<u64, SessionError> {
            text(bytes, what)?
                .parse()
                .map_err(|_| SessionError::Protocol(format!("{what} is not a number")))
        };
        let rotated_ms = number(rotated, "rot")?;
        let absolute_ms = number(absolute, "abs")?;
        let role = text(role, "role")?;
        let subscription = text(subscription, "sub")?;
        let expires_ms =
            (rotated_ms + self.settings.refresh_ttl.as_millis() as u64).min(absolute_ms);
        let app = SessionClient::from_fields(
            &text(client_id.unwrap_or_default(), "cid")?,
            &text(scope.unwrap_or_default(), "scope")?,
        );
        let authn = Authn::from_fields(
            &text(amr.unwrap_or_default(), "amr")?,
            &text(auth_time.unwrap_or_default(), "at")?,
        );
        Ok(Some(LiveRefresh {
            claims: SessionClaims::parse(
                user_id,
                text(username, "name")?,
                &role,
                &subscription,
                app,
                authn,
            )?,
            session_id,
            issued_at: rotated_ms / 1000,
            expires_at: expires_ms / 1000,
        }))
    }

    /// Ends a session the caller proved it owns with a verified access token
    /// (a logout).
    pub async fn end(&self, user_id: Uuid, session_id: Uuid) -> Result<bool, SessionError> {
        self.end_because(user_id, session_id, Reason::Logout).await
    }

    /// [`SessionStore::end`], for `reason`.
    pub async fn end_because(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        reason: Reason,
    ) -> Result<bool, SessionError> {
        self.revoke(user_id, session_id, (&[], ""), reason).await
    }

    /// Ends the session a refresh token belongs to, if the token is its
    /// current or just-retired one and, for a session bound to a DPoP key,
    /// `jkt` is that key.
    pub async fn end_by_refresh_token(
        &self,
        token: &RefreshToken,
        jkt: Option<&str>,
    ) -> Result<bool, SessionError> {
        self.revoke(
            token.user_id(),
            token.session_id(),
            (&token.hash(), jkt.unwrap_or_default()),
            Reason::Logout,
        )
        .await
    }

    async fn revoke(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        (token_hash, jkt): (&[u8], &str),
        reason: Reason,
    ) -> Result<bool, SessionError> {
        let mut invocation = self.scripts.revoke.prepare_invoke();
        invocation
            .key(session_key(user_id, session_id))
            .key(index_key(user_id))
            .arg(session_id.to_string())
            .arg(token_hash)
            .arg(jkt);
        let not_before = self.feed.attach(&mut invocation, reason);
        let ended: i64 = self.redis.script(&invocation).await?;
        if ended > 0 {
            let revoked = Revoked {
                kind: Kind::Session,
                ids: &[session_id.to_string()],
            };
            self.feed.after_script(reason, not_before, revoked).await;
        }
        Ok(ended > 0)
    }

    /// Ends every session of a user but `keep` (a logout-all); returns how
    /// many ended.
    pub async fn end_all(&self, user_id: Uuid, keep: Option<Uuid>) -> Result<u64, SessionError> {
        self.end_all_because(user_id, keep, Reason::LogoutAll).await
    }

    /// [`SessionStore::end_all`], for `reason`. The feed gets one event per
    /// session ended and, without `keep`, one for the user (with it, the
    /// kept session's tokens stay good).
    pub async fn end_all_because(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: Reason,
    ) -> Result<u64, SessionError> {
        self.cut(user_id, keep, reason, false).await
    }

    /// Ends every session of a user deleted for good (a load purge) with a
    /// single feed event, for the user, valid past every live token (see
    /// [`FeedWriter::attach_for_good`]): a purge of a million sessions adds
    /// one event per user to the feed, not a million.
    pub async fn end_all_for_good(&self, user_id: Uuid) -> Result<u64, SessionError> {
        self.cut(user_id, None, Reason::Deleted, true).await
    }

    async fn cut(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: Reason,
        for_good: bool,
    ) -> Result<u64, SessionError> {
        let mut invocation = self.scripts.revoke_all.prepare_invoke();
        invocation
            .key(index_key(user_id))
            .arg(session_prefix(user_id))
            .arg(keep.map(|sid| sid.to_string()).unwrap_or_default())
            .arg(now_ms())
            .arg(user_id.to_string());
        let not_before = if for_good {
            self.feed.attach_for_good(&mut invocation)
        } else {
            self.feed.attach(&mut invocation, reason)
        };
        invocation.arg(if for_good { "1" } else { "" });
        let ended: Vec<String> = self.redis.script(&invocation).await?;
        if !for_good {
            let sessions = Revoked {
                kind: Kind::Session,
                ids: &ended,
            };
            self.feed.after_script(reason, not_before, sessions).await;
        }
        if keep.is_none() {
            let user = Revoked {
                kind: Kind::User,
                ids: &[user_id.to_string()],
            };
            self.feed.after_script(reason, not_before, user).await;
        }
        Ok(ended.len() as u64)
    }

    /// The user's live sessions, most recently used first (one script).
    pub async fn list(&self, user_id: Uuid) -> Result<Vec<SessionSummary>, SessionError> {
        let mut invocation = self.scripts.list.prepare_invoke();
        invocation
            .key(index_key(user_id))
            .arg(session_prefix(user_id))
            .arg(now_ms());
        let rows: Vec<Vec<String>> = self.redis.script(&invocation).await?;
        let time = |ms: &str| {
            ms.parse::<i64>()
                .ok()
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .ok_or_else(|| SessionError::Protocol(format!("timestamp {ms}")))
        };
        let mut sessions = rows
            .into_iter()
            .map(|row| match row.as_slice() {
                [id, created, used, user_agent, ip, client_id] => Ok(SessionSummary {
                    id: id
                        .parse()
                        .map_err(|_| SessionError::Protocol(format!("session id {id}")))?,
                    created_at: time(created)?,
                    last_used_at: time(used)?,
                    user_agent: user_agent.clone(),
                    ip: ip.clone(),
                    client_id: (!client_id.is_empty()).then(|| client_id.clone()),
                }),
                other => Err(SessionError::Protocol(format!("{other:?}"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        sessions.sort_by_key(|s| std::cmp::Reverse(s.last_used_at));
        Ok(sessions)
    }

    /// Sets the role and subscription every live session of a user carries
    /// into the access tokens it mints; returns how many sessions changed.
    /// A downgrade (a session held more) is a revocation of the user's
    /// tokens issued before it: offline verifiers cannot see the new claims.
    pub async fn update_claims(
        &self,
        user_id: Uuid,
        role: Role,
        subscription: Subscription,
    ) -> Result<u64, SessionError> {
        let mut invocation = self.scripts.update_claims.prepare_invoke();
        invocation
            .key(index_key(user_id))
            .arg(session_prefix(user_id))
            .arg(role.as_str())
            .arg(subscription.as_str())
            .arg(now_ms())
            .arg(user_id.to_string())
            .arg(words(
                Role::ALL
                    .iter()
                    .filter(|r| r.outranks(role))
                    .map(|r| r.as_str()),
            ))
            .arg(words(
                Subscription::ALL
                    .iter()
                    .filter(|s| s.outranks(subscription))
                    .map(|s| s.as_str()),
            ));
        let not_before = self.feed.attach(&mut invocation, Reason::Downgraded);
        let (updated, downgraded): (u64, u8) = self.redis.script(&invocation).await?;
        if downgraded == 1 {
            let revoked = Revoked {
                kind: Kind::User,
                ids: &[user_id.to_string()],
            };
            self.feed
                .after_script(Reason::Downgraded, not_before, revoked)
                .await;
        }
        Ok(updated)
    }
}

/// Names as a script argument: space-separated.
fn words<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_user_share_a_hash_tag() {
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let tag = format!("{{{user}}}");
        assert!(session_key(user, session).contains(&tag));
        assert!(index_key(user).contains(&tag));
        assert_eq!(session_key(user, session).matches('{').count(), 1);
        assert!(session_key(user, session).starts_with(&session_prefix(user)));
        assert_eq!(session_key(user, session).len(), SESSION_KEY_LEN);
        assert_eq!(
            session_key(user, session),
            format!("tessera:s:{{{user}}}:{session}")
        );
    }
}
