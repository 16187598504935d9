//! Every instance's copy of the client registry, so the token endpoint and
//! `/verify` never read PostgreSQL per request. A change bumps a version
//! key in Redis; each instance reads that key every [`POLL`] and reloads the
//! table when it moved (and every [`FULL_RELOAD`] regardless, in case a bump
//! was lost), so every instance sees a change within a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::repo::{self, RepoError, StoredClient};
use crate::redis_client::RedisClient;

const VERSION_KEY: &str = "tessera:clients:version";
pub const POLL: Duration = Duration::from_millis(250);
const FULL_RELOAD: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Snapshot {
    clients: HashMap<String, Arc<StoredClient>>,
    /// False until the table has been read once: until then no client can
    /// be judged, and callers answer "unavailable" rather than "unknown".
    loaded: bool,
}

/// What the registry says of a token naming a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClient {
    /// Not a registered client (a first-party login, a public app).
    Unregistered,
    /// Registered, enabled, and the token is not older than its last cut.
    Live,
    /// Disabled, or the token predates the client's last cut.
    Dead,
    /// The registry has not been read yet.
    Unknown,
}

pub struct Registry {
    pool: PgPool,
    redis: Arc<RedisClient>,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Registry {
    pub fn new(pool: PgPool, redis: Arc<RedisClient>) -> Arc<Self> {
        Arc::new(Self {
            pool,
            redis,
            snapshot: RwLock::new(Arc::default()),
        })
    }

    fn current(&self) -> Arc<Snapshot> {
        // A poisoned lock still holds a whole snapshot.
        self.snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The client `id`, with its secret digests; [`NotLoaded`] before the first
    /// load.
    pub fn get(&self, id: &str) -> Result<Option<Arc<StoredClient>>, NotLoaded> {
        let snapshot = self.current();
        if !snapshot.loaded {
            return Err(NotLoaded);
        }
        Ok(snapshot.clients.get(id).cloned())
    }

    /// Every scope an enabled client holds, sorted (the RFC 8414 document's
    /// `scopes_supported`).
    pub fn scopes_in_use(&self) -> Vec<String> {
        let snapshot = self.current();
        let mut scopes: Vec<String> = snapshot
            .clients
            .values()
            .filter(|stored| !stored.client.disabled)
            .flat_map(|stored| stored.client.settings.scopes.to_vec())
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// Whether a token of `client_id` issued at `iat` may still be used.
    pub fn judge_token(&self, client_id: &str, iat: u64) -> TokenClient {
        let snapshot = self.current();
        match snapshot.clients.get(client_id) {
            Some(stored) if stored.client.disabled || iat < stored.client.tokens_not_before => {
                TokenClient::Dead
            }
            Some(_) => TokenClient::Live,
            None if snapshot.loaded => TokenClient::Unregistered,
            None => TokenClient::Unknown,
        }
    }

    /// Reads the whole table and swaps it in.
    pub async fn load(&self) -> Result<(), RepoError> {
        let clients = repo::all(&self.pool)
            .await?
            .into_iter()
            .map(|stored| (stored.client.client_id.clone(), Arc::new(stored)))
            .collect();
        let fresh = Arc::new(Snapshot {
            clients,
            loaded: true,
        });
        *self
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        Ok(())
    }

    /// After a change is committed: tells every instance (the version key)
    /// and reloads this one at once.
    pub async fn changed(&self) {
        if let Err(e) = self
            .redis
            .command::<i64>(redis::cmd("INCR").arg(VERSION_KEY))
            .await
        {
            tracing::warn!(error = %e, "cannot announce a client registry change; other instances see it within their full reload");
        }
        if let Err(e) = self.load().await {
            tracing::warn!(error = %e, "cannot reload the client registry");
        }
    }

    /// Follows the version key until aborted.
    pub fn spawn_follower(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut seen: Option<i64> = None;
            let mut loaded_at: Option<Instant> = None;
            let mut failing = false;
            let mut ticks = tokio::time::interval(POLL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let version = self
                    .redis
                    .command::<Option<i64>>(redis::cmd("GET").arg(VERSION_KEY))
                    .await;
                let stale = loaded_at.is_none_or(|at| at.elapsed() >= FULL_RELOAD);
                let moved = matches!(&version, Ok(v) if *v != seen);
                if !(stale || moved) {
                    continue;
                }
                match self.load().await {
                    Ok(()) => {
                        if failing {
                            tracing::info!("client registry reloaded");
                        }
                        failing = false;
                        loaded_at = Some(Instant::now());
                        if let Ok(version) = version {
                            seen = version;
                        }
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "cannot reload the client registry; keeping the copy in hand");
                        }
                        failing = true;
                    }
                }
            }
        })
    }
}

/// The registry has not been read from PostgreSQL yet.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the client registry is not loaded yet")]
pub struct NotLoaded;
