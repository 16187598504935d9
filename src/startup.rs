//! Wiring: builds pools, stores and the router from a [`Config`], binds, and
//! serves until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower::Service as _;

use crate::account::{Account, AccountSettings};
use crate::admin::Admin;
use crate::audit::AuditLog;
use crate::auth::Auth;
use crate::captcha::CaptchaVerifier;
use crate::config::Config;
use crate::http::{self, AppState, ConnectionCap, Exposure, RequestLimits, Services};
use crate::mail::Mailer;
use crate::oauth::OAuth;
use crate::one_time_tokens::OneTimeTokens;
use crate::opaque_token::TokenKeys;
use crate::rate_limit::{FloodGuard, RateLimiter};
use crate::redis_client::RedisClient;
use crate::sessions::{SessionSettings, SessionStore};
use crate::tokens::{KeyError, KeySet, TokenIssuer};
use crate::users::PasswordHasher;

/// A lazily connecting pool: the service starts (and reports not-ready)
/// while PostgreSQL is down, and every query fails within the acquire
/// timeout instead of hanging.
pub fn database_pool(config: &Config) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = config
        .database
        .url
        .expose_secret()
        .parse()
        .context("database.url is not a valid PostgreSQL URL")?;
    let options = options.options([(
        "statement_timeout",
        config.database.statement_timeout_ms.to_string(),
    )]);
    Ok(PgPoolOptions::new()
        .max_connections(config.database.max_connections)
        .acquire_timeout(Duration::from_millis(config.database.acquire_timeout_ms))
        .connect_lazy_with(options))
}

fn load_keys(config: &Config) -> anyhow::Result<KeySet> {
    match KeySet::load(&config.jwt.keys_dir) {
        Ok(keys) => Ok(keys),
        Err(KeyError::NoKeys(_) | KeyError::Io { .. }) if !config.is_production() => {
            let kid = KeySet::generate(&config.jwt.keys_dir)?;
            tracing::warn!(%kid, dir = %config.jwt.keys_dir.display(), "no signing key found; generated one (development only)");
            Ok(KeySet::load(&config.jwt.keys_dir)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Where development instances sharing a Redis keep their one token secret.
const SHARED_SECRET_KEY: &str = "tessera:secret:{token}";

/// The secrets that tag opaque tokens and derive refresh successors: the
/// configured ones (required in production), or else, in development, one
/// created once in Redis (`SET NX`, no expiry) and read back, so every
/// instance sharing that Redis agrees with nothing configured.
pub async fn token_keys(config: &Config, redis: &RedisClient) -> anyhow::Result<TokenKeys> {
    let configured = config.session.rotation_secrets();
    if let Some(keys) = TokenKeys::new(configured.iter().map(|s| s.expose_secret().as_bytes())) {
        return Ok(keys);
    }
    anyhow::ensure!(
        !config.is_production(),
        "session.rotation_secret is required when env = \"production\""
    );
    let candidate = rand::random::<[u8; 32]>();
    let unreachable = "cannot create the development token secret in Redis (is it reachable at redis.url / REDIS_URL?)";
    redis
        .command::<()>(
            redis::cmd("SET")
                .arg(SHARED_SECRET_KEY)
                .arg(&candidate[..])
                .arg("NX"),
        )
        .await
        .context(unreachable)?;
    let shared: Option<Vec<u8>> = redis
        .command(redis::cmd("GET").arg(SHARED_SECRET_KEY))
        .await
        .context(unreachable)?;
    let shared = shared
        .filter(|secret| secret.len() >= 32)
        .with_context(|| {
            format!("{SHARED_SECRET_KEY} in Redis holds no usable secret; delete it and restart")
        })?;
    tracing::warn!(
        key = SHARED_SECRET_KEY,
        "session.rotation_secret unset; using the development token secret shared through Redis"
    );
    TokenKeys::new([shared]).context("no token secret")
}

/// Session store settings from the configuration.
pub fn session_settings(config: &Config, token_keys: TokenKeys) -> SessionSettings {
    SessionSettings {
        refresh_ttl: Duration::from_secs(config.session.refresh_ttl_secs),
        absolute_ttl: Duration::from_secs(config.session.absolute_ttl_secs),
        reuse_grace: Duration::from_secs(config.session.reuse_grace_secs),
        token_keys,
        max_per_user: config.session.max_per_user,
    }
}

/// Re-reads the key directory every `period` (when set) and on SIGHUP, so
/// every instance picks up `tessera keys generate` / `retire` and drops
/// retired keys past their grace, without a restart.
fn spawn_key_reloader(auth: Arc<Auth>, period: Option<Duration>) -> tokio::task::JoinHandle<()> {
    // Registered before serving starts, so an early SIGHUP cannot hit the
    // default action (terminate).
    #[cfg(unix)]
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    tokio::spawn(async move {
        let mut ticks = period.map(|period| {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        loop {
            let tick = async {
                match ticks.as_mut() {
                    Some(ticks) => {
                        ticks.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            #[cfg(unix)]
            let hangup = async {
                let received = match hangups.as_mut() {
                    Some(hangups) => hangups.recv().await.is_some(),
                    None => false,
                };
                if !received {
                    std::future::pending::<()>().await;
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            tokio::select! {
                () = tick => {}
                () = hangup => tracing::info!("SIGHUP: reloading signing keys"),
            }
            match auth.tokens().reload_keys() {
                Ok(true) => {
                    let keys = auth.tokens().keys();
                    let published: Vec<&str> = keys.kids().collect();
                    tracing::info!(
                        signing = keys.signing_kid(),
                        ?published,
                        "signing keys reloaded"
                    );
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reload signing keys; keeping the current set")
                }
            }
        }
    })
}

/// How connections are served: what a client must do by when, and how many
/// one address may hold.
struct Connections {
    header_read_timeout: Duration,
    cap: Arc<ConnectionCap>,
}

/// Serves HTTP/1.1 keep-alive connections from `listener` until `shutdown`
/// completes; then closes the listener, lets each connection finish the
/// request it is on (idle ones close at once) and returns when all are gone.
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    connections: Connections,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper starts this clock whenever a connection waits for a request
    // head, the first one or the next on a kept-alive connection, so it is
    // the idle timeout too.
    http.timer(TokioTimer::new())
        .header_read_timeout(connections.header_read_timeout);
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather
                    // than spin until connections close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Over the cap: dropping the stream closes it before a byte is read.
        let Some(slot) = connections.cap.admit(peer.ip()) else {
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let Ok(service) = make_service.call(peer).await;
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            let _slot = slot;
            // Timeouts and clients that go away end here; nothing to report.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection closed");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    connections: Connections,
    pool: PgPool,
    audit_writer: tokio::task::JoinHandle<()>,
    mail_worker: tokio::task::JoinHandle<()>,
    key_reloader: tokio::task::JoinHandle<()>,
    shutdown_grace: Duration,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let keys = load_keys(&config)?;
        let pool = database_pool(&config)?;
        let redis = Arc::new(RedisClient::new(&config.redis)?);
        let hasher = PasswordHasher::new(config.password_hashing.max_concurrency)?;
        let token_keys = token_keys(&config, &redis).await?;
        let settings = session_settings(&config, token_keys.clone());
        let sessions = SessionStore::new(redis.clone(), settings.clone());
        let tokens = TokenIssuer::new(
            keys,
            config.jwt.issuer.clone(),
            config.jwt.audience.clone(),
            Duration::from_secs(config.jwt.access_ttl_secs),
        );
        let (audit, audit_writer) = AuditLog::start(pool.clone());
        let admin = Admin::new(
            pool.clone(),
            SessionStore::new(redis.clone(), settings),
            audit.clone(),
        );
        let auth = Arc::new(Auth::new(
            pool.clone(),
            hasher.clone(),
            sessions,
            tokens,
            audit.clone(),
            RateLimiter::new(redis.clone(), &config.rate_limit),
            config.auth.require_email_verification,
        ));
        let (mailer, mail_worker) = Mailer::start(&config.smtp, !config.is_production())?;
        let account = Account::new(
            auth.clone(),
            pool.clone(),
            hasher.clone(),
            audit,
            OneTimeTokens::new(redis.clone(), token_keys),
            mailer,
            CaptchaVerifier::from_config(&config.captcha)?,
            AccountSettings {
                frontend_url: config.auth.frontend_url.clone(),
                activation_ttl: Duration::from_secs(config.auth.activation_token_ttl_secs),
                reset_ttl: Duration::from_secs(config.auth.reset_token_ttl_secs),
            },
        );
        let reload_period = (config.jwt.keys_reload_secs > 0)
            .then(|| Duration::from_secs(config.jwt.keys_reload_secs));
        let key_reloader = spawn_key_reloader(auth.clone(), reload_period);
        let oauth = Arc::new(OAuth::new(
            auth.clone(),
            &config.gateway.clients,
            &config.server.public_url,
        ));
        let trusted_proxies: Arc<[ipnet::IpNet]> = config.server.trusted_proxies.clone().into();
        // Proxies speak for many clients; allow-listed load-test harnesses
        // open many connections on purpose.
        let uncapped: Vec<ipnet::IpNet> = trusted_proxies
            .iter()
            .chain(&config.rate_limit.allow_cidrs)
            .copied()
            .collect();
        let connections = Connections {
            header_read_timeout: Duration::from_secs(config.server.header_read_timeout_secs),
            cap: ConnectionCap::new(config.server.max_connections_per_ip, uncapped.into()),
        };
        let state = AppState::new(Services {
            auth,
            account: Arc::new(account),
            admin: Arc::new(admin),
            oauth,
            pool: pool.clone(),
            redis,
            trusted_proxies: trusted_proxies.clone(),
            limits: RequestLimits::new(
                FloodGuard::start(&config.rate_limit),
                config.server.max_in_flight,
                Duration::from_millis(config.server.request_timeout_ms),
                trusted_proxies,
            ),
            metrics: Exposure::new(config.metrics.enabled, &config.metrics.allow_cidrs),
            docs: Exposure::new(config.docs.enabled, &config.docs.allow_cidrs),
            hasher,
        });
        let router = http::router(state, &config.server.cors_allowed_origins);
        let listener = TcpListener::bind(config.server.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.bind))?;
        Ok(Self {
            listener,
            router,
            connections,
            pool,
            audit_writer,
            mail_worker,
            key_reloader,
            shutdown_grace: Duration::from_millis(config.server.shutdown_grace_ms),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting (the
    /// listener closes at once), lets in-flight requests finish for up to
    /// the grace period (connections still busy after it are abandoned),
    /// flushes the audit and mail queues (each again up to the grace
    /// period) and closes the PostgreSQL pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            connections,
            pool,
            audit_writer,
            mail_worker,
            key_reloader,
            shutdown_grace,
        } = self;
        let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            shutdown.await;
            let _ = signalled.send(());
        };
        let server = serve(listener, router, connections, shutdown);
        // `serve` waits for every connection to finish; the grace period
        // bounds that wait, counted from the signal.
        let grace_over = async move {
            match on_signal.await {
                Ok(()) => tokio::time::sleep(shutdown_grace).await,
                // The server ended without a signal: it reports why itself.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = server => {}
            () = grace_over => {
                tracing::warn!(?shutdown_grace, "requests still in flight when the shutdown grace period ended; abandoning them");
            }
        }
        // The reloader holds the audit queue's sender through `Auth`; the
        // writer finishes once every sender is gone.
        key_reloader.abort();
        let _ = key_reloader.await;
        if tokio::time::timeout(shutdown_grace, audit_writer)
            .await
            .is_err()
        {
            tracing::warn!("audit queue not drained before the shutdown grace period ended");
        }
        if tokio::time::timeout(shutdown_grace, mail_worker)
            .await
            .is_err()
        {
            tracing::warn!("emails still queued when the shutdown grace period ended");
        }
        pool.close().await;
        Ok(())
    }
}
