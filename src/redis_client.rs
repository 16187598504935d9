//! The Redis connection every store shares.
//!
//! deadpool-redis creates connections (with the connect timeout), but the hot
//! paths do not check one out per request: deadpool recycles each checkout
//! with an UNWATCH+PING round trip, which would double the round trips of
//! `/verify` and refresh. A multiplexed connection pipelines any number of
//! concurrent commands, so requests share a few of them, round-robin, and a
//! connection that fails is dropped and replaced from the pool on next use.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use deadpool_redis::{redis, Config as PoolSettings, Pool, PoolConfig, Runtime, Timeouts};
use redis::aio::MultiplexedConnection;
use redis::{Cmd, FromRedisValue, RedisError, ScriptInvocation};
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

pub struct RedisClient {
    pool: Pool,
    shared: Vec<Mutex<Option<MultiplexedConnection>>>,
    next: AtomicUsize,
    timeout: Duration,
}

impl RedisClient {
    /// Builds the client without connecting: tessera starts (and reports
    /// not-ready) while Redis is down, and connects once it is back.
    pub fn new(config: &RedisConfig) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let mut settings = PoolSettings::from_url(config.url.expose_secret());
        settings.pool = Some(PoolConfig {
            max_size: config.pool_size,
            timeouts: Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            },
            ..PoolConfig::default()
        });
        let pool = settings.create_pool(Some(Runtime::Tokio1))?;
        Ok(Self {
            pool,
            shared: (0..config.pool_size).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            timeout,
        })
    }

    async fn connection(&self, slot: usize) -> Result<MultiplexedConnection, RedisFailure> {
        if let Some(connection) = self.lock(slot).clone() {
            return Ok(connection);
        }
        let pooled = self
            .pool
            .get()
            .await
            .map_err(|e| RedisFailure::Connect(e.to_string()))?;
        let connection = deadpool_redis::Connection::take(pooled);
        *self.lock(slot) = Some(connection.clone());
        Ok(connection)
    }

    fn lock(&self, slot: usize) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        // A poisoned slot only ever holds a connection handle; keep using it.
        self.shared[slot]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn run<T, F, Fut>(&self, operation: F) -> Result<T, RedisFailure>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.shared.len();
        let attempt = async {
            let connection = self.connection(slot).await?;
            operation(connection).await.map_err(RedisFailure::from)
        };
        let result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(RedisFailure::Timeout(self.timeout)),
        };
        if let Err(failure) = &result {
            if failure.is_unavailable() {
                *self.lock(slot) = None;
            }
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

    /// `PING`, for readiness checks.
    pub async fn ping(&self) -> Result<(), RedisFailure> {
        self.command::<String>(&redis::cmd("PING"))
            .await
            .map(|_| ())
    }
}

impl RedisFailure {
    /// True when Redis is unreachable (as opposed to rejecting a command).
    pub fn is_unavailable(&self) -> bool {
        match self {
            RedisFailure::Timeout(_) | RedisFailure::Connect(_) => true,
            RedisFailure::Command(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_unrecoverable_error()
            }
        }
    }
}
