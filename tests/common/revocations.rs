//! The revocation feed's harness: an app that serves the feed to the
//! gateway client, a service that checks tokens with `tessera-verify`, and
//! a TCP proxy between them that can cut the feed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Extension, Router};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::Value;
use tessera_verify::{Config, FeedLoss, Token, Verifier, VerifyLayer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{gateway_overrides, TestApp, GATEWAY_ID, GATEWAY_SECRET};

/// The feed's settings for tests: heartbeats every second.
pub fn feed_overrides() -> Figment {
    gateway_overrides().merge(Serialized::default("revocations.heartbeat_secs", 1))
}

/// A verifier's configuration against `base_url`: the feed lost after 2 s
/// of silence (heartbeats come every second), keys refetched at once.
pub fn verifier_config(base_url: &str) -> Config {
    let mut config = Config::new(base_url, GATEWAY_ID, GATEWAY_SECRET);
    config.max_feed_silence = Duration::from_secs(2);
    config.jwks_refetch_interval = Duration::ZERO;
    config.start_timeout = Duration::from_secs(5);
    config
}

/// A service that answers `GET /me` (the extractor) and `GET /layered` (the
/// tower layer) with the caller's user id, for a good token only: what a
/// team embedding the crate writes.
pub struct Service {
    pub url: String,
    pub verifier: Verifier,
    client: reqwest::Client,
}

impl Service {
    pub async fn start(config: Config) -> Service {
        let verifier = Verifier::start(config).await.expect("verifier starts");
        let who = |token: Token| async move {
            token.user_id().map(|id| id.to_string()).unwrap_or_default()
        };
        let layered = Router::new()
            // Only the layer checks here: the handler reads what it left.
            .route(
                "/layered",
                get(|Extension(token): Extension<Token>| async move {
                    token.user_id().map(|id| id.to_string()).unwrap_or_default()
                }),
            )
            .route_layer(VerifyLayer::new(verifier.clone()));
        let app = Router::new()
            .route("/me", get(who))
            .merge(layered)
            .with_state(verifier.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Service {
            url,
            verifier,
            client: reqwest::Client::new(),
        }
    }

    /// The service's answer to `access_token` at `GET /me`.
    pub async fn call(&self, access_token: &str) -> StatusCode {
        self.call_at("/me", access_token).await
    }

    pub async fn call_at(&self, path: &str, access_token: &str) -> StatusCode {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("service answers")
            .status()
    }

    /// How long until the service answers `status` to `access_token`
    /// (polled every 5 ms), or `None` after `within`.
    pub async fn time_until(
        &self,
        access_token: &str,
        status: StatusCode,
        within: Duration,
    ) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.call(access_token).await == status {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }
}

/// A TCP proxy to a target address that can cut every connection through
/// it and refuse new ones until resumed: a feed lost on the network.
pub struct Proxy {
    pub url: String,
    open: watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (open, _) = watch::channel(true);
        let gate = Arc::new(open.subscribe());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut gate = (*gate).clone();
                if !*gate.borrow() {
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = gate.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        Proxy { url, open }
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    pub fn resume(&self) {
        self.open.send_replace(true);
    }
}

impl TestApp {
    /// The app's listening address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.address
            .trim_start_matches("http://")
            .parse()
            .expect("a socket address")
    }

    /// `GET` a feed endpoint as the gateway client.
    pub async fn feed_get(&self, path_and_query: &str) -> reqwest::Response {
        self.get(path_and_query)
            .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
            .send()
            .await
            .expect("feed request")
    }

    /// Every event in the feed's snapshot about `id`.
    pub async fn revocations_of(&self, id: uuid::Uuid) -> Vec<Value> {
        let response = self.feed_get("/api/v1/revocations/snapshot").await;
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.expect("snapshot json");
        page["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["id"] == id.to_string())
            .cloned()
            .collect()
    }
}

/// A fail-open copy of `config`.
pub fn fail_open(mut config: Config) -> Config {
    config.on_feed_lost = FeedLoss::FailOpen;
    config
}

/// A JWT's header, decoded.
pub fn jwt_header(token: &str) -> Value {
    use base64::Engine;
    let header = token.split('.').next().expect("a JWT has a header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}
