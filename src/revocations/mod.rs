//! The revocation feed, for gateways that verify access tokens offline: every
//! session end and every user-wide cut appends one event to the Redis stream
//! `tessera:revocations`, and the feed serves the stream by page, as a live
//! subscription and as a snapshot of everything still within the access
//! tokens' lifetime.
//!
//! Writing ([`FeedWriter`]): on a single Redis the session scripts append the
//! event themselves (`emit.lua` is their prelude), atomically with the
//! revocation. On Redis Cluster a script may touch its user's slot only, so
//! the session store appends right after the script (`append.lua`), at most
//! [`APPEND_ATTEMPTS`] times.
//!
//! An event's sequence number is its stream entry id (`<ms>-<n>`), so the
//! cursor is Redis's own ordering, and a cursor whose successors were trimmed
//! away is detected exactly (`read.lua`). `not_before` is in whole seconds,
//! like a JWT's `iat`, and is the second AFTER the revocation: a token issued
//! in the same second as the cut cannot be told apart from one issued just
//! before it, so it is refused too.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::{Script, ScriptInvocation, Value};
use serde::Serialize;
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit, Semaphore};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::clock::now_ms;
use crate::config::Config;
use crate::redis_client::{RedisClient, RedisFailure};

/// The stream every instance writes and reads.
pub const STREAM_KEY: &str = "tessera:revocations";

/// Appends to the stream on Redis Cluster: tries, each within the Redis
/// timeout, 100 ms apart.
pub const APPEND_ATTEMPTS: u32 = 3;

/// Most events in one page (`limit`), and in one read of a snapshot.
pub const MAX_PAGE: usize = 1000;
/// Most pages one snapshot reads (ten million events: far more than a
/// window holds; a bound, not a budget).
const MAX_SNAPSHOT_PAGES: usize = 10_000;

/// How long the live follower's `XREAD` blocks Redis-side per call.
const FOLLOW_BLOCK: Duration = Duration::from_secs(1);

/// What an event revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One session: every token of it.
    Session,
    /// A user: every token of theirs issued before `not_before`.
    User,
    /// An OAuth client, disabled or deleted: every token whose `client_id`
    /// it is (its own, and those it got by token exchange) issued before
    /// `not_before`.
    Client,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Session => "session",
            Kind::User => "user",
            Kind::Client => "client",
        }
    }
}

/// Why a revocation happened (the event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Logout,
    /// The owner or an administrator ended one session.
    SessionRevoked,
    /// A retired refresh token came back: the session was stolen.
    ReuseDetected,
    /// A login beyond `session.max_per_user` ended the oldest session.
    Evicted,
    LogoutAll,
    PasswordChanged,
    PasswordReset,
    Blocked,
    Deleted,
    /// The role or subscription went down while tokens claim the old one.
    Downgraded,
    /// An OAuth client was disabled or deleted.
    ClientDisabled,
    /// An administrator removed every second factor of the user.
    MfaReset,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Logout => "logout",
            Reason::SessionRevoked => "session_revoked",
            Reason::ReuseDetected => "reuse_detected",
            Reason::Evicted => "evicted",
            Reason::LogoutAll => "logout_all",
            Reason::PasswordChanged => "password_changed",
            Reason::PasswordReset => "password_reset",
            Reason::Blocked => "blocked",
            Reason::Deleted => "deleted",
            Reason::Downgraded => "downgraded",
            Reason::ClientDisabled => "client_disabled",
            Reason::MfaReset => "mfa_reset",
        }
    }
}

/// A position in the feed: a stream entry id, `<ms>-<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    ms: u64,
    seq: u64,
}

impl FromStr for Cursor {
    type Err = String;

    /// `<ms>-<n>`, or `<ms>` alone (as `<ms>-0`).
    fn from_str(s: &str) -> Result<Self, String> {
        let number = |part: &str| {
            (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u64>().ok())
                .flatten()
        };
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        match (number(ms), number(seq)) {
            (Some(ms), Some(seq)) => Ok(Self { ms, seq }),
            _ => Err("must be an event sequence number such as 1733100000000-0".to_owned()),
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"seq": "1795000000123-0", "kind": "user", "id": "0193a5b0-7d1e-7c3a-9f00-5b2d8e0c4a11", "not_before": 1795000001, "reason": "logout_all", "at": "2026-11-18T10:13:20.123Z"}))]
pub struct Event {
    /// The event's place in the feed (its cursor).
    #[schema(value_type = String)]
    pub seq: Cursor,
    pub kind: Kind,
    /// The session id (`kind` session), user id (`kind` user) or client id
    /// (`kind` client).
    pub id: String,
    /// Unix seconds: tokens of `id` whose `iat` is before it are invalid.
    pub not_before: u64,
    pub reason: String,
    /// When it was recorded (the stream's clock).
    pub at: DateTime<Utc>,
}

/// Events and the cursor to read on from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page {
    pub events: Vec<Event>,
    #[schema(value_type = String, example = "1795000000123-0")]
    pub next: Cursor,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Events after the cursor are gone: resync from the snapshot.
    #[error("the cursor is older than the retained feed")]
    Gap,
    /// This instance serves `revocations.max_streams` streams already.
    #[error("too many feed streams on this instance")]
    Busy,
    #[error(transparent)]
    Redis(#[from] RedisFailure),
    #[error("unexpected reply from the feed: {0}")]
    Protocol(String),
}

/// Where the session store's scripts write their events.
pub struct FeedWriter {
    redis: Arc<RedisClient>,
    /// On a single Redis the scripts append themselves.
    inline: bool,
    retention_ms: u64,
    append: Script,
}

/// What a script revoked, for [`FeedWriter::after_script`] to append on a
/// cluster.
pub struct Revoked<'a> {
    pub kind: Kind,
    pub ids: &'a [String],
}

impl FeedWriter {
    pub fn new(redis: Arc<RedisClient>, retention: Duration) -> Self {
        Self {
            inline: !redis.is_cluster(),
            redis,
            retention_ms: retention.as_millis() as u64,
            append: Script::new(concat!(
                include_str!("emit.lua"),
                include_str!("append.lua")
            )),
        }
    }

    /// A script that may revoke, with `emit.lua` before it.
    pub fn script(source: &str) -> Script {
        Script::new(&format!("{}{source}", include_str!("emit.lua")))
    }

    /// Adds the feed's key (single Redis only) and its three arguments
    /// (retention, not_before, reason) after a script's own keys and
    /// arguments; returns the events' not_before.
    pub fn attach(&self, invocation: &mut ScriptInvocation<'_>, reason: Reason) -> u64 {
        self.attach_at(invocation, reason, now_ms() / 1000 + 1)
    }

    /// [`FeedWriter::attach`] for a user deleted for good (a load purge: the
    /// row is gone, no token of theirs is ever issued again): `not_before`
    /// lies past the life of every token still alive, so one user event
    /// refuses them all, whatever their `iat` or their signer's clock.
    pub fn attach_for_good(&self, invocation: &mut ScriptInvocation<'_>) -> u64 {
        let not_before = (now_ms() + self.retention_ms) / 1000 + 1;
        self.attach_at(invocation, Reason::Deleted, not_before)
    }

    fn attach_at(
        &self,
        invocation: &mut ScriptInvocation<'_>,
        reason: Reason,
        not_before: u64,
    ) -> u64 {
        if self.inline {
            invocation.key(STREAM_KEY);
        }
        invocation
            .arg(self.retention_ms)
            .arg(not_before)
            .arg(reason.as_str());
        not_before
    }

    /// On Redis Cluster, appends what the script revoked (on a single Redis
    /// the script did). A failure after [`APPEND_ATTEMPTS`] is logged: the
    /// revocation itself stands, and offline verifiers see it at the
    /// tokens' `exp` at the latest.
    pub async fn after_script(&self, reason: Reason, not_before: u64, revoked: Revoked<'_>) {
        if self.inline {
            return;
        }
        self.publish(reason, not_before, revoked).await;
    }

    /// Appends events that no session script wrote (a client disabled),
    /// with the same retries as [`FeedWriter::after_script`].
    pub async fn publish(&self, reason: Reason, not_before: u64, revoked: Revoked<'_>) {
        if revoked.ids.is_empty() {
            return;
        }
        let mut invocation = self.append.prepare_invoke();
        invocation
            .key(STREAM_KEY)
            .arg(self.retention_ms)
            .arg(not_before)
            .arg(reason.as_str())
            .arg(revoked.kind.as_str());
        for id in revoked.ids {
            invocation.arg(id);
        }
        for attempt in 1..=APPEND_ATTEMPTS {
            match self.redis.script::<u64>(&invocation).await {
                Ok(_) => return,
                Err(e) if attempt == APPEND_ATTEMPTS => {
                    tracing::error!(error = %e, reason = reason.as_str(), "revocation not appended to the feed");
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "revocation feed append failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// The feed's settings, from `revocations.*` and `jwt.access_ttl_secs`.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    pub retention: Duration,
    pub max_streams: usize,
    pub heartbeat: Duration,
}

impl FeedSettings {
    /// Events are kept for the longest access-token lifetime and a margin:
    /// an older event concerns expired tokens only. The load kit may mint
    /// tokens up to `load.max_access_ttl_secs`, so that counts too.
    pub fn from_config(config: &Config) -> Self {
        let longest_access = config
            .jwt
            .access_ttl_secs
            .max(config.load.max_access_ttl_secs);
        Self {
            retention: Duration::from_secs(
                longest_access + config.revocations.retention_margin_secs,
            ),
            max_streams: config.revocations.max_streams,
            heartbeat: Duration::from_secs(config.revocations.heartbeat_secs),
        }
    }
}

/// Reads the feed: pages, snapshots, and live subscriptions fed by one
/// follower per instance (one `XREAD BLOCK` on a connection of its own).
pub struct RevocationFeed {
    redis: Arc<RedisClient>,
    read: Script,
    retention_ms: u64,
    heartbeat: Duration,
    streams: Arc<Semaphore>,
    live: broadcast::Sender<Arc<[Event]>>,
    closed: watch::Sender<bool>,
}

/// Live batches a subscriber may fall behind by before it is cut off (it
/// reconnects and catches up from its cursor).
const LIVE_BACKLOG: usize = 1024;

impl RevocationFeed {
    /// The feed, and its follower running until [`RevocationFeed::close`].
    pub fn start(
        redis: Arc<RedisClient>,
        settings: &FeedSettings,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (live, _) = broadcast::channel(LIVE_BACKLOG);
        let feed = Arc::new(Self {
            redis,
            read: Script::new(include_str!("read.lua")),
            retention_ms: settings.retention.as_millis() as u64,
            heartbeat: settings.heartbeat,
            streams: Arc::new(Semaphore::new(settings.max_streams)),
            live,
            closed: watch::channel(false).0,
        });
        let follower = tokio::spawn(feed.clone().follow());
        (feed, follower)
    }

    /// Ends the follower and every subscription (at shutdown: an open stream
    /// would otherwise hold its connection through the grace period).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// The longest silence a stream keeps before a heartbeat.
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    async fn read(
        &self,
        mode: &str,
        cursor: Option<Cursor>,
        count: usize,
    ) -> Result<Page, FeedError> {
        let mut invocation = self.read.prepare_invoke();
        invocation
            .key(STREAM_KEY)
            .arg(mode)
            .arg(cursor.map(|c| c.to_string()).unwrap_or_default())
            .arg(count)
            .arg(self.retention_ms);
        let reply: Value = self.redis.script(&invocation).await?;
        parse_page(reply)
    }

    /// Up to `limit` events after `after` (from the start of the retained
    /// window when `None`).
    pub async fn page(&self, after: Option<Cursor>, limit: usize) -> Result<Page, FeedError> {
        let limit = limit.clamp(1, MAX_PAGE);
        match after {
            Some(after) => self.read("after", Some(after), limit).await,
            None => self.read("window", None, limit).await,
        }
    }

    /// Every event within the retention window, and the cursor to follow on
    /// from. Read a page at a time: one script over the whole window held
    /// Redis, and every request behind it, for as long as the window was
    /// large (seconds at a few hundred thousand events). Events appended
    /// while it reads come with it, up to the cursor it answers.
    pub async fn snapshot(&self) -> Result<Page, FeedError> {
        let mut snapshot = self.read("window", None, MAX_PAGE).await?;
        let mut full = snapshot.events.len() == MAX_PAGE;
        for _ in 0..MAX_SNAPSHOT_PAGES {
            if !full {
                return Ok(snapshot);
            }
            let page = self.read("from", Some(snapshot.next), MAX_PAGE).await?;
            full = page.events.len() == MAX_PAGE;
            snapshot.events.extend(page.events);
            snapshot.next = page.next;
        }
        Err(FeedError::Protocol(format!(
            "the retention window holds over {} events",
            MAX_SNAPSHOT_PAGES * MAX_PAGE
        )))
    }

    /// Events after `after` as they come (after the newest when `None`).
    /// Refused when this instance serves its maximum of streams, and with
    /// [`FeedError::Gap`] when `after` has been trimmed away.
    pub async fn subscribe(
        self: &Arc<Self>,
        after: Option<Cursor>,
    ) -> Result<Subscription, FeedError> {
        let permit = self
            .streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| FeedError::Busy)?;
        // Subscribed before catching up, so nothing falls between the two.
        let live = self.live.subscribe();
        let mut backlog = VecDeque::new();
        let start = match after {
            Some(after) => after,
            None => self.read("tail", None, 0).await?.next,
        };
        let mut cursor = start;
        // Bounded: the stream holds at most the retention window, and a
        // catch-up longer than this many pages is better served by a resync.
        for _ in 0..100 {
            let page = self.read("after", Some(cursor), MAX_PAGE).await?;
            let full = page.events.len() == MAX_PAGE;
            backlog.extend(page.events);
            cursor = page.next;
            if !full {
                break;
            }
        }
        Ok(Subscription {
            backlog,
            cursor: start,
            live,
            closed: self.closed.subscribe(),
            _permit: permit,
        })
    }

    /// Follows the stream and hands every new event to the subscriptions.
    async fn follow(self: Arc<Self>) {
        let mut closed = self.closed.subscribe();
        let mut connection = None;
        let mut last: Option<Cursor> = None;
        while !*closed.borrow() {
            let step = async {
                if connection.is_none() {
                    connection = Some(self.redis.dedicated().await?);
                }
                let last = match last {
                    Some(last) => last,
                    None => *last.insert(self.read("tail", None, 0).await?.next),
                };
                let Some(connection) = connection.as_mut() else {
                    return Ok(None);
                };
                let reply: Value = connection
                    .query(
                        redis::cmd("XREAD")
                            .arg("COUNT")
                            .arg(MAX_PAGE)
                            .arg("BLOCK")
                            .arg(FOLLOW_BLOCK.as_millis() as u64)
                            .arg("STREAMS")
                            .arg(STREAM_KEY)
                            .arg(last.to_string()),
                        FOLLOW_BLOCK,
                    )
                    .await?;
                parse_xread(reply).map(Some)
            };
            let outcome: Result<Option<Vec<Event>>, FeedError> = tokio::select! {
                outcome = step => outcome,
                _ = closed.changed() => break,
            };
            match outcome {
                Ok(Some(events)) if !events.is_empty() => {
                    last = events.last().map(|e| e.seq);
                    // No subscriber is not an error.
                    let _ = self.live.send(events.into());
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "revocation feed follower lost Redis; retrying");
                    connection = None;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// One live stream: the events after its cursor, first those already in the
/// stream, then new ones as the follower reads them.
pub struct Subscription {
    backlog: VecDeque<Event>,
    cursor: Cursor,
    live: broadcast::Receiver<Arc<[Event]>>,
    closed: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

impl Subscription {
    /// The next event; `None` when the stream should end (the instance is
    /// shutting down, or this subscriber fell too far behind and must
    /// reconnect from its cursor).
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                if event.seq > self.cursor {
                    self.cursor = event.seq;
                    return Some(event);
                }
                continue;
            }
            if *self.closed.borrow() {
                return None;
            }
            tokio::select! {
                batch = self.live.recv() => match batch {
                    Ok(batch) => self.backlog.extend(batch.iter().cloned()),
                    Err(_) => return None,
                },
                _ = self.closed.changed() => return None,
            }
        }
    }
}

/// `{'gap'}` or `{next, entries}` from `read.lua`.
fn parse_page(reply: Value) -> Result<Page, FeedError> {
    let Value::Array(parts) = reply else {
        return Err(FeedError::Protocol(format!("{reply:?}")));
    };
    match <[Value; 2]>::try_from(parts) {
        Ok([next, entries]) => Ok(Page {
            next: text(&next)?.parse().map_err(FeedError::Protocol)?,
            events: parse_entries(entries)?,
        }),
        Err(parts) if parts.len() == 1 && text(&parts[0]).ok().as_deref() == Some("gap") => {
            Err(FeedError::Gap)
        }
        Err(parts) => Err(FeedError::Protocol(format!("{parts:?}"))),
    }
}

/// `XREAD`'s reply for one stream (nil when it blocked without news).
fn parse_xread(reply: Value) -> Result<Vec<Event>, FeedError> {
    match reply {
        Value::Nil => Ok(Vec::new()),
        Value::Array(streams) => match streams.into_iter().next() {
            Some(Value::Array(stream)) => match <[Value; 2]>::try_from(stream) {
                Ok([_, entries]) => parse_entries(entries),
                Err(other) => Err(FeedError::Protocol(format!("{other:?}"))),
            },
            other => Err(FeedError::Protocol(format!("{other:?}"))),
        },
        Value::Map(streams) => match streams.into_iter().next() {
            Some((_, entries)) => parse_entries(entries),
            None => Ok(Vec::new()),
        },
        other => Err(FeedError::Protocol(format!("{other:?}"))),
    }
}

fn text(value: &Value) -> Result<String, FeedError> {
    redis::from_redis_value(value).map_err(|e| FeedError::Protocol(e.to_string()))
}

/// Stream entries, `[[id, [field, value, ...]], ...]`, as events.
fn parse_entries(entries: Value) -> Result<Vec<Event>, FeedError> {
    let entries: Vec<(String, Vec<String>)> =
        redis::from_redis_value(&entries).map_err(|e| FeedError::Protocol(e.to_string()))?;
    entries
        .into_iter()
        .map(|(id, fields)| parse_event(&id, &fields))
        .collect()
}

fn parse_event(id: &str, fields: &[String]) -> Result<Event, FeedError> {
    let bad = || FeedError::Protocol(format!("stream entry {id}: {fields:?}"));
    let field = |name: &str| {
        fields
            .chunks_exact(2)
            .find(|pair| pair[0] == name)
            .map(|pair| pair[1].as_str())
            .ok_or_else(bad)
    };
    let seq: Cursor = id.parse().map_err(|_| bad())?;
    let kind = match field("kind")? {
        "session" => Kind::Session,
        "user" => Kind::User,
        "client" => Kind::Client,
        _ => return Err(bad()),
    };
    let id = field("id")?;
    if kind != Kind::Client && id.parse::<Uuid>().is_err() {
        return Err(bad());
    }
    Ok(Event {
        seq,
        kind,
        id: id.to_owned(),
        not_before: field("nbf")?.parse().map_err(|_| bad())?,
        reason: field("reason")?.to_owned(),
        at: DateTime::<Utc>::from_timestamp_millis(seq.ms as i64).ok_or_else(bad)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_as_stream_ids_and_order_like_them() {
        let a: Cursor = "1795000000123-0".parse().unwrap();
        let b: Cursor = "1795000000123-1".parse().unwrap();
        let c: Cursor = "1795000000124".parse().unwrap();
        assert!(a < b && b < c);
        assert_eq!(c.to_string(), "1795000000124-0");
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "+1-0",
            "1 -0",
            "99999999999999999999-0",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_stream_entry_is_an_event() {
        let user = Uuid::new_v4();
        let fields: Vec<String> = [
            "kind",
            "user",
            "id",
            &user.to_string(),
            "nbf",
            "1795000001",
            "reason",
            "blocked",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let event = parse_event("1795000000123-4", &fields).unwrap();
        assert_eq!(event.kind, Kind::User);
        assert_eq!(event.id, user.to_string());
        assert_eq!(event.not_before, 1_795_000_001);
        assert_eq!(event.seq.to_string(), "1795000000123-4");
        assert_eq!(event.at.timestamp_millis(), 1_795_000_000_123);
        assert!(parse_event("1-0", &fields[2..]).is_err());

        let mut not_a_user = fields.clone();
        not_a_user[3] = "billing-service".into();
        assert!(parse_event("1-0", &not_a_user).is_err());
        not_a_user[1] = "client".into();
        let client = parse_event("1-0", &not_a_user).unwrap();
        assert_eq!(
            (client.kind, client.id.as_str()),
            (Kind::Client, "billing-service")
        );
    }
}
