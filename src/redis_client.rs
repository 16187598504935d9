//! The Redis connection every store shares.
//!
//! deadpool-redis creates connections (with the connect timeout), but the hot
//! paths do not check one out per request: deadpool recycles each checkout
//! with an UNWATCH+PING round trip, which would double the round trips of
//! `/verify` and refresh. A multiplexed connection pipelines any number of
//! concurrent commands, so requests share a few of them, round-robin, and a
//! connection that fails is dropped and replaced from the pool on next use.
//! With `redis.cluster_nodes` set the same holds for cluster connections,
//! which route every command and script by the slot of its first key.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use deadpool_redis::{cluster, redis, Config as PoolSettings, PoolConfig, Runtime, Timeouts};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, ScriptInvocation, Value};
use secrecy::ExposeSecret;

use crate::config::RedisConfig;

#[derive(Debug, thiserror::Error)]
pub enum RedisFailure {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("no redis connection: {0}")]
    Connect(String),
    #[error("redis command failed: {0}")]
    Command(#[from] RedisError),
}

/// Where connections come from: one Redis (`redis.url`) or a Redis Cluster
/// (`redis.cluster_nodes`). A cluster connection routes each command by the
/// slot of its first key, so a script runs on the node owning its hash tag.
enum Source {
    Single(deadpool_redis::Pool),
    Cluster(cluster::Pool),
}

impl Source {
    async fn connect(&self) -> Result<Connection, RedisFailure> {
        let failed = |e: &dyn std::fmt::Display| RedisFailure::Connect(e.to_string());
        match self {
            Source::Single(pool) => {
                let pooled = pool.get().await.map_err(|e| failed(&e))?;
                Ok(Connection::Single(deadpool_redis::Connection::take(pooled)))
            }
            Source::Cluster(pool) => {
                let pooled = pool.get().await.map_err(|e| failed(&e))?;
                Ok(Connection::Cluster(cluster::Connection::take(pooled)))
            }
        }
    }
}

/// A shareable, pipelining connection to either kind of deployment.
#[derive(Clone)]
enum Connection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

pub struct RedisClient {
    source: Source,
    shared: Vec<Mutex<Option<Connection>>>,
    next: AtomicUsize,
    timeout: Duration,
}

impl RedisClient {
    /// Builds the client without connecting: tessera starts (and reports
    /// not-ready) while Redis is down, and connects once it is back.
    pub fn new(config: &RedisConfig) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let pool_config = PoolConfig {
            max_size: config.pool_size,
            timeouts: Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            },
            ..PoolConfig::default()
        };
        let source = if config.cluster_nodes.is_empty() {
            let mut settings = PoolSettings::from_url(config.url.expose_secret());
            settings.pool = Some(pool_config);
            Source::Single(settings.create_pool(Some(Runtime::Tokio1))?)
        } else {
            let mut settings = cluster::Config::from_urls(config.cluster_nodes.clone());
            settings.pool = Some(pool_config);
            Source::Cluster(settings.create_pool(Some(Runtime::Tokio1))?)
        };
        // 0: one per core, each worker thread's requests batched on one.
        let shared = match config.shared_connections {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        Ok(Self {
            source,
            shared: (0..shared.min(config.pool_size).max(1))
                .map(|_| Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
            timeout,
        })
    }

    /// The slot's connection, and whether it was reused (as opposed to
    /// freshly made).
    async fn connection(&self, slot: usize) -> Result<(Connection, bool), RedisFailure> {
        if let Some(connection) = self.lock(slot).clone() {
            return Ok((connection, true));
        }
        let connection = self.source.connect().await?;
        *self.lock(slot) = Some(connection.clone());
        Ok((connection, false))
    }

    fn lock(&self, slot: usize) -> std::sync::MutexGuard<'_, Option<Connection>> {
        // A poisoned slot only ever holds a connection handle; keep using it.
        self.shared[slot]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets every shared connection: when one finds Redis gone, the
    /// others point at the same dead server, and each would otherwise fail
    /// one request of its own after Redis is back.
    fn drop_connections(&self) {
        for slot in 0..self.shared.len() {
            *self.lock(slot) = None;
        }
    }

    async fn run<T, F, Fut>(&self, operation: F) -> Result<T, RedisFailure>
    where
        F: Fn(Connection) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.shared.len();
        // redis's command futures are large, and every future that awaits
        // this one (a handler's, boxed by axum) would hold one inline and
        // be copied whole at each move: the profile of /verify showed those
        // copies. Boxed, each holds a pointer.
        let operation = |connection| Box::pin(operation(connection));
        let attempt = async {
            let (connection, reused) = self.connection(slot).await?;
            match operation(connection).await {
                // The connection's driver had already ended (Redis went away
                // since it was last used), so the command never left this
                // process and it is safe to send it again on a new one.
                Err(e) if reused && never_sent(&e) => {
                    self.drop_connections();
                    let (connection, _) = self.connection(slot).await?;
                    operation(connection).await.map_err(RedisFailure::from)
                }
                result => result.map_err(RedisFailure::from),
            }
        };
        let result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(RedisFailure::Timeout(self.timeout)),
        };
        match &result {
            Err(RedisFailure::Command(e)) if e.is_connection_dropped() => self.drop_connections(),
            Err(failure) if failure.is_unavailable() => *self.lock(slot) = None,
            _ => {}
        }
        result
    }

    /// Runs a Lua script by EVALSHA (loading it on NOSCRIPT).
    pub async fn script<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, RedisFailure> {
        self.run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await
    }

    /// Runs one plain command.
    pub async fn command<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, RedisFailure> {
        self.run(|mut connection| async move { command.query_async(&mut connection).await })
            .await
    }

    /// Runs commands in one round trip (not atomically); on a cluster
    /// their keys should share a slot, so that trip reaches one node.
    pub async fn pipeline<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, RedisFailure> {
        self.run(|mut connection| async move { pipe.query_async(&mut connection).await })
            .await
    }

    /// True on Redis Cluster (`redis.cluster_nodes`), where a script may
    /// touch one slot only.
    pub fn is_cluster(&self) -> bool {
        matches!(self.source, Source::Cluster(_))
    }

    /// A connection of its own, outside the shared ones, for a command that
    /// blocks (`XREAD BLOCK`): on a shared connection it would hold up every
    /// request pipelined behind it.
    pub async fn dedicated(&self) -> Result<DedicatedConnection, RedisFailure> {
        let connection = match tokio::time::timeout(self.timeout, self.source.connect()).await {
            Ok(connection) => connection?,
            Err(_) => return Err(RedisFailure::Timeout(self.timeout)),
        };
        Ok(DedicatedConnection {
            connection,
            timeout: self.timeout,
        })
    }

    /// `PING`, for readiness checks.
    pub async fn ping(&self) -> Result<(), RedisFailure> {
        self.command::<String>(&redis::cmd("PING"))
            .await
            .map(|_| ())
    }
}

/// See [`RedisClient::dedicated`].
pub struct DedicatedConnection {
    connection: Connection,
    timeout: Duration,
}

impl DedicatedConnection {
    /// Runs `command`, which may block Redis-side for up to `blocks_for`;
    /// the usual timeout applies beyond that.
    pub async fn query<T: FromRedisValue>(
        &mut self,
        command: &Cmd,
        blocks_for: Duration,
    ) -> Result<T, RedisFailure> {
        let limit = self.timeout + blocks_for;
        match tokio::time::timeout(limit, command.query_async(&mut self.connection)).await {
            Ok(result) => result.map_err(RedisFailure::from),
            Err(_) => Err(RedisFailure::Timeout(limit)),
        }
    }
}

/// A broken pipe: the connection's driver had ended (or the socket was
/// already closed by Redis) before the command could be written.
fn never_sent(error: &RedisError) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

impl RedisFailure {
    /// True when Redis is unreachable (as opposed to rejecting a command).
    pub fn is_unavailable(&self) -> bool {
        match self {
            RedisFailure::Timeout(_) | RedisFailure::Connect(_) => true,
            RedisFailure::Command(e) => {
                // Loading its AOF after a restart, or a cluster failing over
                // or missing a node: Redis cannot serve, but will again.
                matches!(
                    e.kind(),
                    redis::ErrorKind::BusyLoadingError
                        | redis::ErrorKind::TryAgain
                        | redis::ErrorKind::ClusterDown
                        | redis::ErrorKind::MasterDown
                        | redis::ErrorKind::ClusterConnectionNotFound
                ) || e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_unrecoverable_error()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use secrecy::SecretString;

    use super::*;

    #[tokio::test]
    async fn zero_shared_connections_means_one_per_core_within_the_pool() {
        let config = |shared_connections, pool_size| RedisConfig {
            url: SecretString::from("redis://127.0.0.1:1"),
            cluster_nodes: Vec::new(),
            pool_size,
            shared_connections,
            timeout_ms: 100,
        };
        let shared = |shared, pool| {
            RedisClient::new(&config(shared, pool))
                .unwrap()
                .shared
                .len()
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(shared(0, 64), cores.min(64));
        assert_eq!(shared(0, 1), 1);
        assert_eq!(shared(3, 64), 3);
        assert_eq!(shared(8, 2), 2);
    }

    #[test]
    fn only_a_broken_pipe_counts_as_never_sent() {
        let io_error = |kind| RedisError::from(io::Error::from(kind));
        assert!(never_sent(&io_error(io::ErrorKind::BrokenPipe)));
        // A reset or EOF may come after Redis ran the command: not resent.
        assert!(!never_sent(&io_error(io::ErrorKind::ConnectionReset)));
        assert!(!never_sent(&io_error(io::ErrorKind::UnexpectedEof)));
    }

    #[test]
    fn a_loading_or_failing_over_redis_is_unavailable_not_a_bug() {
        for kind in [
            redis::ErrorKind::BusyLoadingError,
            redis::ErrorKind::ClusterDown,
            redis::ErrorKind::TryAgain,
            redis::ErrorKind::MasterDown,
        ] {
            let failure = RedisFailure::Command(RedisError::from((kind, "from redis")));
            assert!(failure.is_unavailable(), "{kind:?}");
        }
        let script_bug = RedisError::from((redis::ErrorKind::ResponseError, "ERR in script"));
        assert!(!RedisFailure::Command(script_bug).is_unavailable());
    }
}
