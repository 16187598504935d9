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
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower::Service as _;

use crate::account::{Account, AccountDeps, AccountSettings};
use crate::admin::Admin;
use crate::audit::AuditLog;
use crate::auth::{Auth, AuthDeps};
use crate::authorize::browser::BrowserSessions;
use crate::authorize::{Authorize, AuthorizeDeps};
use crate::captcha::CaptchaVerifier;
use crate::clients::{Clients, Registry};
use crate::config::Config;
use crate::console::Console;
use crate::dpop::{Dpop, Nonces};
use crate::http::{self, AppState, ConnectionCap, Exposure, PageSettings, RequestLimits, Services};
use crate::load::{LoadDeps, LoadKit, LoadSettings};
use crate::mail::Mailer;
use crate::mfa::{Mfa, MfaDeps, Passkeys, SecretBox};
use crate::oauth::{OAuth, OAuthDeps};
use crate::one_time_tokens::OneTimeTokens;
use crate::rate_limit::{FloodGuard, RateLimiter};
use crate::redis_client::RedisClient;
use crate::revocations::{FeedSettings, FeedWriter, RevocationFeed};
use crate::sessions::SessionStore;
use crate::tokens::opaque::TokenKeys;
use crate::tokens::{KeySet, TokenIssuer};
use crate::users::PasswordHasher;

/// Re-reads the key directory every `period` (when set) and on SIGHUP, so
/// every instance picks up `tessera keys generate` / `retire` and drops
/// retired keys past their grace, without a restart.
fn spawn_key_reloader(
    tokens: Arc<TokenIssuer>,
    period: Option<Duration>,
) -> tokio::task::JoinHandle<()> {
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
            match tokens.reload_keys() {
                Ok(true) => {
                    let keys = tokens.keys();
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
pub struct Connections {
    pub header_read_timeout: Duration,
    pub cap: Arc<ConnectionCap>,
}

/// Serves HTTP/1.1 keep-alive connections from `listener` until `shutdown`
/// completes; then closes the listener, lets each connection finish the
/// request it is on (idle ones close at once) and returns when all are gone.
/// Public for the bench's floor server (`bench/floor/server.rs`), which
/// serves its routes with this same loop.
pub async fn serve(
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
    /// Closed at shutdown, so open feed streams end instead of holding
    /// their connections through the grace period.
    revocations: Arc<RevocationFeed>,
    feed_follower: tokio::task::JoinHandle<()>,
    registry_follower: tokio::task::JoinHandle<()>,
    shutdown_grace: Duration,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let keys = KeySet::load_or_generate(&config.jwt.keys_dir, !config.is_production())?;
        let pool = config.database.pool()?;
        let redis = Arc::new(RedisClient::new(&config.redis)?);
        let hasher = PasswordHasher::new(config.password_hashing.max_concurrency)?;
        let token_keys =
            TokenKeys::from_config(&config.session, config.is_production(), &redis).await?;
        let feed_settings = FeedSettings::from_config(&config);
        let sessions = Arc::new(SessionStore::from_config(
            &config,
            redis.clone(),
            token_keys.clone(),
        ));
        // The hosted pages' anti-forgery tokens use the same secrets.
        let pages = PageSettings {
            form_keys: token_keys.clone(),
            secure_cookies: config.server.public_url.starts_with("https://"),
        };
        let (revocations, feed_follower) = RevocationFeed::start(redis.clone(), &feed_settings);
        // One issuer: the key reloader swaps the key set every user of it
        // signs and verifies with.
        let tokens = Arc::new(TokenIssuer::new(
            keys,
            config.jwt.issuer.clone(),
            config.jwt.audience.clone(),
            Duration::from_secs(config.jwt.access_ttl_secs),
        ));
        let limits = Arc::new(RateLimiter::new(redis.clone(), &config.rate_limit));
        let (audit, audit_writer) = AuditLog::start(pool.clone());
        // Read before serving, so the first token request finds its client;
        // if PostgreSQL is down the follower keeps trying.
        let registry = Registry::new(pool.clone(), redis.clone());
        if let Err(e) = registry.load().await {
            tracing::warn!(error = %e, "cannot read the client registry yet; clients' tokens wait for it");
        }
        let registry_follower = registry.clone().spawn_follower();
        let clients = Arc::new(Clients::new(
            pool.clone(),
            registry.clone(),
            audit.clone(),
            FeedWriter::new(redis.clone(), feed_settings.retention),
            Duration::from_secs(config.oauth.secret_grace_secs),
        ));
        let admin = Admin::new(pool.clone(), sessions.clone(), audit.clone());
        if config.load.enabled {
            tracing::warn!("load.enabled: ADMINs may seed and purge load-test users over HTTP");
        }
        let load = Arc::new(LoadKit::new(LoadDeps {
            pool: pool.clone(),
            hasher: hasher.clone(),
            sessions: sessions.clone(),
            tokens: tokens.clone(),
            audit: audit.clone(),
            settings: LoadSettings::from_config(&config),
        }));
        let dpop = Arc::new(Dpop::new(
            redis.clone(),
            &config.server.public_url,
            config.dpop.max_proof_age_secs,
            config
                .dpop
                .require_nonce
                .then(|| Nonces::new(token_keys.clone(), config.dpop.max_proof_age_secs)),
        ));
        let (mailer, mail_worker) = Mailer::start(&config.smtp, !config.is_production())?;
        let mfa = Arc::new(Mfa::new(MfaDeps {
            pool: pool.clone(),
            cipher: SecretBox::from_config(&config.mfa, config.is_production(), &redis).await?,
            issuer: config.mfa.issuer.clone(),
            limits: limits.clone(),
            audit: audit.clone(),
            mailer: mailer.clone(),
            sessions: sessions.clone(),
            passkeys: Passkeys::new(
                &config.webauthn,
                &config.mfa.issuer,
                redis.clone(),
                Duration::from_secs(config.mfa.token_ttl_secs),
            )?,
        }));
        let auth = Arc::new(Auth::new(AuthDeps {
            pool: pool.clone(),
            hasher: hasher.clone(),
            sessions: sessions.clone(),
            tokens: tokens.clone(),
            limits: limits.clone(),
            audit: audit.clone(),
            dpop: dpop.clone(),
            registry: registry.clone(),
            require_email_verification: config.auth.require_email_verification,
            mfa: mfa.clone(),
            redis: redis.clone(),
            mfa_token_ttl: Duration::from_secs(config.mfa.token_ttl_secs),
        }));
        let console = Arc::new(Console::new(
            redis.clone(),
            auth.clone(),
            sessions.clone(),
            Duration::from_secs(config.console.idle_timeout_secs),
        ));
        let account = Account::new(AccountDeps {
            auth: auth.clone(),
            pool: pool.clone(),
            hasher: hasher.clone(),
            sessions: sessions.clone(),
            limits: limits.clone(),
            audit: audit.clone(),
            one_time_tokens: OneTimeTokens::new(redis.clone(), token_keys),
            mailer,
            captcha: CaptchaVerifier::from_config(&config.captcha)?,
            settings: AccountSettings {
                frontend_url: config.auth.frontend_url.clone(),
                activation_ttl: Duration::from_secs(config.auth.activation_token_ttl_secs),
                reset_ttl: Duration::from_secs(config.auth.reset_token_ttl_secs),
            },
        });
        let reload_period = (config.jwt.keys_reload_secs > 0)
            .then(|| Duration::from_secs(config.jwt.keys_reload_secs));
        let key_reloader = spawn_key_reloader(tokens.clone(), reload_period);
        if config.is_production() && !config.jwt.issuer.starts_with("https://") {
            tracing::warn!(issuer = %config.jwt.issuer, "jwt.issuer is not an https URL: /oauth/authorize (the code flow, OpenID Connect) answers 503 until it is");
        }
        let authorize = Arc::new(Authorize::new(AuthorizeDeps {
            auth: auth.clone(),
            tokens: tokens.clone(),
            sessions: sessions.clone(),
            browser: BrowserSessions::new(
                redis.clone(),
                sessions.clone(),
                Duration::from_secs(config.oauth.browser_session_ttl_secs),
            ),
            registry: registry.clone(),
            pool: pool.clone(),
            audit: audit.clone(),
            issuer: config.jwt.issuer.clone(),
            production: config.is_production(),
            code_ttl: Duration::from_secs(config.oauth.code_ttl_secs),
        }));
        let oauth = Arc::new(OAuth::new(
            OAuthDeps {
                auth: auth.clone(),
                sessions,
                tokens: tokens.clone(),
                limits,
                registry,
                redis: redis.clone(),
                dpop: dpop.clone(),
                audit,
                pool: pool.clone(),
                id_token_ttl: Duration::from_secs(config.oauth.id_token_ttl_secs),
            },
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
            tokens,
            account: Arc::new(account),
            mfa,
            admin: Arc::new(admin),
            oauth,
            authorize,
            dpop,
            clients,
            revocations: revocations.clone(),
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
            load,
            load_routes: Exposure::new(config.load.enabled, &[]),
            console,
            pages,
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
            revocations,
            feed_follower,
            registry_follower,
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
        let shutdown_grace = self.shutdown_grace;
        let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
        let revocations = self.revocations;
        let shutdown = async move {
            shutdown.await;
            revocations.close();
            let _ = signalled.send(());
        };
        let server = serve(self.listener, self.router, self.connections, shutdown);
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
        self.key_reloader.abort();
        let _ = self.key_reloader.await;
        self.feed_follower.abort();
        let _ = self.feed_follower.await;
        self.registry_follower.abort();
        let _ = self.registry_follower.await;
        if tokio::time::timeout(shutdown_grace, self.audit_writer)
            .await
            .is_err()
        {
            tracing::warn!("audit queue not drained before the shutdown grace period ended");
        }
        if tokio::time::timeout(shutdown_grace, self.mail_worker)
            .await
            .is_err()
        {
            tracing::warn!("emails still queued when the shutdown grace period ended");
        }
        self.pool.close().await;
        Ok(())
    }
}
