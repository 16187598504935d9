//! Verify tessera's access tokens inside a Rust service: offline speed,
//! online truth within a second.
//!
//! A [`Verifier`] fetches tessera's key set (JWKS) and follows its
//! revocation feed (Server-Sent Events, authenticated as a
//! `gateway.clients` entry). [`Verifier::check`] then costs a hash lookup
//! for a token seen before and one Ed25519 verification for a new one, and
//! refuses tokens whose session ended, whose user was cut off (logout-all,
//! password change, block, delete, demotion) or whose OAuth client was
//! disabled as soon as the feed says so.
//!
//! Both kinds of access token tessera issues are accepted: a user's (with a
//! session) and an OAuth client's own (client_credentials grant); the
//! verified [`Claims`] tell them apart by their [`Subject`].
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use tessera_verify::{Config, Subject, Token, Verifier};
//!
//! # async fn run() -> Result<(), tessera_verify::StartError> {
//! let verifier = Verifier::start(Config::new("http://127.0.0.1:8000", "edge", "secret")).await?;
//! let me = |token: Token| async move {
//!     match &token.subject {
//!         Subject::User { id, .. } => format!("user {id}"),
//!         Subject::Client { id } => format!("client {id}"),
//!     }
//! };
//! let app: Router = Router::new().route("/me", get(me)).with_state(verifier);
//! # Ok(()) }
//! ```
//!
//! When the feed is lost for longer than [`Config::max_feed_silence`], every
//! check fails ([`Rejection::FeedLost`]) unless the verifier was configured
//! to [`FeedLoss::FailOpen`].
//!
//! A DPoP-bound token (its claims carry `cnf.jkt`, RFC 9449) is accepted by
//! the extractor, the layer and [`Verifier::verify_request`] only as
//! `Authorization: DPoP <token>` with a fresh `DPoP` proof by its key for
//! the request (method and [`Config::public_url`] + path); each proof is
//! accepted once per process.

#![forbid(unsafe_code)]

mod dpop;
mod feed;
mod jwt;
mod state;
mod web;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use jwt::{Actor, Claims, Confirmation, Subject};
pub use tessera_dpop::DpopError;
pub use web::{Token, VerifyLayer, VerifyService};

use axum::http::HeaderMap;
use dpop::{Dpop, Presented};

use state::{read, write, Revoked, VerifiedCache};

/// What a verifier does while it has lost the revocation feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedLoss {
    /// Refuse every token: a revoked token is never accepted (the default).
    FailClosed,
    /// Keep accepting tokens that verify: availability over revocations.
    FailOpen,
}

/// Where tessera is and how to check its tokens.
#[derive(Debug, Clone)]
pub struct Config {
    /// tessera's base URL, e.g. `http://tessera:8000`.
    pub base_url: String,
    /// A `gateway.clients` entry (HTTP Basic at the feed).
    pub client_id: String,
    pub client_secret: String,
    /// `jwt.issuer` and `jwt.audience` of the tessera deployment.
    pub issuer: String,
    pub audience: String,
    /// How long the feed may be silent (no event, no heartbeat) before it
    /// counts as lost. Keep it above tessera's `revocations.heartbeat_secs`.
    pub max_feed_silence: Duration,
    pub on_feed_lost: FeedLoss,
    /// The key set is refetched for an unknown `kid` at most this often.
    pub jwks_refetch_interval: Duration,
    /// Most tokens remembered as verified.
    pub cache_capacity: usize,
    /// How long a revocation is remembered: at least the longest access
    /// token lifetime of the deployment (`jwt.access_ttl_secs`).
    pub revocation_memory: Duration,
    /// How long [`Verifier::start`] waits for the keys and the first
    /// snapshot.
    pub start_timeout: Duration,
    /// This service's own public URL, as its clients call it (scheme, host,
    /// port, and any path prefix a proxy in front strips), e.g.
    /// `https://api.example.com`: a DPoP proof must name it followed by the
    /// request's path. It is configured, never read from `Host`, so a
    /// proof made for another service is no good here. `None` (the
    /// default): DPoP-bound tokens are refused
    /// ([`Rejection::DpopNotAccepted`]); unbound ones work as ever.
    pub public_url: Option<String>,
    /// How old a DPoP proof may be (its `iat`): tessera's
    /// `dpop.max_proof_age_secs`.
    pub max_proof_age: Duration,
    /// Most DPoP proofs remembered as spent at once, each for
    /// `max_proof_age` + 5 s. Full, the verifier refuses new proofs
    /// ([`Rejection::ReplayStoreFull`], 503) rather than forget one that
    /// could be replayed: size it above the DPoP requests per second times
    /// (`max_proof_age` + 5 s).
    pub spent_proof_capacity: usize,
}

impl Config {
    /// Defaults: issuer and audience `tessera`, the feed lost after 30 s of
    /// silence, fail closed, keys refetched at most every 30 s, 100,000
    /// cached tokens, revocations remembered for an hour; no public URL (so
    /// no DPoP-bound tokens), proofs up to 60 s old, 200,000 spent proofs
    /// remembered (about 3,000 DPoP requests a second; some 20 MB at most).
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            issuer: "tessera".into(),
            audience: "tessera".into(),
            max_feed_silence: Duration::from_secs(30),
            on_feed_lost: FeedLoss::FailClosed,
            jwks_refetch_interval: Duration::from_secs(30),
            cache_capacity: 100_000,
            revocation_memory: Duration::from_secs(3600),
            start_timeout: Duration::from_secs(10),
            public_url: None,
            max_proof_age: Duration::from_secs(60),
            spent_proof_capacity: 200_000,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a well-formed EdDSA JWT with a kid")]
    Malformed,
    #[error("the token is signed by a key tessera does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token is for another issuer or audience")]
    WrongIssuerOrAudience,
    /// Not an access token: a header `typ` other than `at+jwt` or `JWT`
    /// (a DPoP proof, say), or a `type` claim other than `access`.
    #[error("the token is not an access token")]
    NotAnAccessToken,
    #[error("the token has expired")]
    Expired,
    /// Its session ended, its user was cut off, or its client (`client_id`)
    /// was disabled.
    #[error("the token's session, user or client has been revoked")]
    Revoked,
    /// Fail-closed: the revocation feed has been silent too long, so a
    /// revoked token cannot be told from a good one.
    #[error("the revocation feed is unavailable")]
    FeedLost,
    /// A DPoP-bound token without a good proof by its key for this request
    /// (RFC 9449 §7.1): no proof, a bad one, one spent before, or the token
    /// sent as `Bearer`. 401 with `WWW-Authenticate: DPoP
    /// error="invalid_dpop_proof"`.
    #[error("{0}")]
    Dpop(DpopError),
    /// A token bound to no key, sent as `DPoP`: there is no key to check
    /// the proof against; send it as `Bearer`.
    #[error("the token is not bound to a DPoP key: send it as Bearer")]
    NotBound,
    /// A DPoP-bound token at a service with no [`Config::public_url`]: its
    /// proofs cannot be checked.
    #[error("this service does not take DPoP-bound tokens")]
    DpopNotAccepted,
    /// [`Config::spent_proof_capacity`] proofs are remembered already and
    /// none has expired: a new one is refused rather than an old one
    /// forgotten. 503 with `Retry-After`.
    #[error("too many DPoP proofs to remember another; retry in {retry_after_secs} s")]
    ReplayStoreFull { retry_after_secs: u64 },
}

/// [`Verifier::start`] could not reach tessera in time: which half failed,
/// and why.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot fetch tessera's keys: {0}")]
    Keys(#[source] FetchError),
    #[error("cannot read tessera's revocation feed: {0}")]
    Feed(#[source] FetchError),
    /// [`Config::public_url`] is not an absolute http(s) URL: no proof
    /// could ever name it.
    #[error("public_url {0:?} is not an absolute http or https URL")]
    PublicUrl(String),
}

/// Why tessera could not be read: its key set, its revocation snapshot or
/// its revocation stream. After the start these are only logged: the
/// follower reconnects by itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The HTTP client could not be built (no usable TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The request failed: refused or reset connection, TLS, a body cut
    /// short or not the JSON expected.
    #[error("the request to tessera failed: {0}")]
    Http(#[source] reqwest::Error),
    /// tessera answered, but not with a success.
    #[error("{what} answered {status}")]
    Status {
        /// `the key set`, `the snapshot` or `the stream`.
        what: &'static str,
        status: reqwest::StatusCode,
    },
    /// No answer in time: `start_timeout` at the start, `max_feed_silence`
    /// for the stream's response.
    #[error("tessera did not answer in time")]
    TimedOut,
    /// The key set is not a JWKS document.
    #[error("JWKS: {0}")]
    Jwks(#[source] serde_json::Error),
    /// A key set entry that says Ed25519 does not hold an Ed25519 public
    /// key.
    #[error("JWKS key {kid}: not an Ed25519 public key")]
    JwksKey { kid: String },
    /// The stream sent nothing, not even a heartbeat, for
    /// `max_feed_silence`.
    #[error("the revocation stream was silent too long")]
    Silent,
    /// tessera ended the stream.
    #[error("the revocation stream closed")]
    Closed,
    /// The stream is not a readable `text/event-stream` (a field that is not
    /// UTF-8).
    #[error("the revocation stream does not read as Server-Sent Events: {0}")]
    EventStream(#[source] Box<dyn std::error::Error + Send + Sync>),
}

struct Inner {
    config: Config,
    http: reqwest::Client,
    keys: RwLock<Arc<HashMap<String, jwt::Key>>>,
    /// When the keys were last fetched, for the refetch rate.
    keys_fetched: tokio::sync::Mutex<Instant>,
    /// The issuer, audience and algorithm checks, built once.
    validation: jsonwebtoken::Validation,
    verified: VerifiedCache,
    revoked: RwLock<Revoked>,
    dpop: Dpop,
    /// Unix ms of the feed's last sign of life (event, heartbeat, snapshot).
    feed_alive_ms: AtomicU64,
    synced: AtomicBool,
}

/// Checks tessera's access tokens; cheap to clone (one `Arc`). Its feed
/// follower runs until the last clone is dropped.
#[derive(Clone)]
pub struct Verifier(Arc<Inner>);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Verifier {
    /// Fetches the key set and the revocation snapshot (each within
    /// `config.start_timeout`), then follows the feed in the background.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        if let Some(url) = &config.public_url {
            let absolute = reqwest::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !absolute {
                return Err(StartError::PublicUrl(url.clone()));
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.start_timeout)
            .build()
            .map_err(|e| StartError::Keys(FetchError::Client(e)))?;
        let inner = Arc::new(Inner {
            verified: VerifiedCache::new(config.cache_capacity),
            validation: jwt::validation(&config.issuer, &config.audience),
            dpop: Dpop::new(
                config.public_url.as_deref(),
                config.max_proof_age.as_secs(),
                config.spent_proof_capacity,
            ),
            config,
            http,
            keys: RwLock::new(Arc::new(HashMap::new())),
            keys_fetched: tokio::sync::Mutex::new(Instant::now()),
            revoked: RwLock::new(Revoked::default()),
            feed_alive_ms: AtomicU64::new(0),
            synced: AtomicBool::new(false),
        });
        let verifier = Self(inner);
        let timeout = verifier.0.config.start_timeout;
        tokio::time::timeout(timeout, verifier.0.fetch_keys())
            .await
            .map_err(|_| StartError::Keys(FetchError::TimedOut))?
            .map_err(StartError::Keys)?;
        let cursor = tokio::time::timeout(timeout, verifier.0.resync())
            .await
            .map_err(|_| StartError::Feed(FetchError::TimedOut))?
            .map_err(StartError::Feed)?;
        tokio::spawn(feed::follow(Arc::downgrade(&verifier.0), cursor));
        Ok(verifier)
    }

    /// Checks a token without waiting: a token seen before costs a hash
    /// lookup; a new one, one Ed25519 verification. A token naming a key
    /// not yet known is [`Rejection::UnknownKey`] here; [`Verifier::verify`]
    /// refetches the key set for it. A DPoP-bound token is refused
    /// (`Rejection::Dpop(DpopError::Missing)`): it needs its proof, which
    /// [`Verifier::verify_request`] checks.
    pub fn check(&self, token: &str) -> Result<Arc<Claims>, Rejection> {
        unbound(self.check_token(token)?)
    }

    /// [`Verifier::check`], refetching the key set once when the token
    /// names an unknown key (at most once per `jwks_refetch_interval`, so a
    /// stream of forged `kid`s cannot hammer tessera).
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, Rejection> {
        unbound(self.verify_token(token).await?)
    }

    /// Checks the access token of a request to `method` `path` (the path
    /// the client called, without the query) from its `headers`, as the
    /// extractor and the layer do: `Authorization: Bearer <token>` for an
    /// unbound token; for a token bound to a key (`cnf.jkt`),
    /// `Authorization: DPoP <token>` with a `DPoP` proof by that key for
    /// `method` and [`Config::public_url`] + `path`, carrying the token's
    /// `ath`, not spent before in this process. The proof is spent once
    /// everything else has passed.
    pub async fn verify_request(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Arc<Claims>, Rejection> {
        let (scheme, token) = web::authorization(headers)?;
        let claims = self.verify_token(token).await?;
        let presented = Presented {
            scheme,
            token,
            proof: web::dpop_header(headers),
            method,
            path,
        };
        self.0.dpop.admit(&claims, &presented, now_ms() / 1000)?;
        Ok(claims)
    }

    /// The token's signature, claims and revocations, whether bound or not.
    fn check_token(&self, token: &str) -> Result<Arc<Claims>, Rejection> {
        let inner = &self.0;
        let now_ms = now_ms();
        if inner.config.on_feed_lost == FeedLoss::FailClosed && !inner.feed_is_live(now_ms) {
            return Err(Rejection::FeedLost);
        }
        let now = now_ms / 1000;
        let claims = match inner.verified.get(token) {
            Some(claims) if claims.exp > now => claims,
            Some(_) => {
                inner.verified.remove(token);
                return Err(Rejection::Expired);
            }
            None => {
                let kid = jwt::kid_of(token)?;
                let keys = read(&inner.keys).clone();
                let key = keys.get(&kid).ok_or(Rejection::UnknownKey)?;
                let claims = Arc::new(jwt::verify(token, key, &inner.validation, now)?);
                inner.verified.insert(token.into(), claims.clone());
                claims
            }
        };
        if read(&inner.revoked).is_revoked(&claims) {
            return Err(Rejection::Revoked);
        }
        Ok(claims)
    }

    /// [`Verifier::check_token`], refetching the key set once for an
    /// unknown key.
    async fn verify_token(&self, token: &str) -> Result<Arc<Claims>, Rejection> {
        match self.check_token(token) {
            Err(Rejection::UnknownKey) => {
                self.0.refetch_keys().await;
                self.check_token(token)
            }
            outcome => outcome,
        }
    }

    /// True while the feed is live (or the verifier fails open).
    pub fn feed_is_live(&self) -> bool {
        self.0.feed_is_live(now_ms())
    }
}

/// A token without its request: good only if bound to no key.
fn unbound(claims: Arc<Claims>) -> Result<Arc<Claims>, Rejection> {
    match claims.cnf {
        Some(_) => Err(Rejection::Dpop(DpopError::Missing)),
        None => Ok(claims),
    }
}

impl Inner {
    fn feed_is_live(&self, now_ms: u64) -> bool {
        self.synced.load(Ordering::Relaxed)
            && now_ms.saturating_sub(self.feed_alive_ms.load(Ordering::Relaxed))
                <= self.config.max_feed_silence.as_millis() as u64
    }

    fn feed_alive(&self) {
        self.feed_alive_ms.store(now_ms(), Ordering::Relaxed);
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    /// Sends `request` (within `start_timeout`); an answer other than a
    /// success is an error naming `what` was asked for.
    async fn fetch(
        &self,
        request: reqwest::RequestBuilder,
        what: &'static str,
    ) -> Result<reqwest::Response, FetchError> {
        let response = request
            .timeout(self.config.start_timeout)
            .send()
            .await
            .map_err(FetchError::Http)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status { what, status });
        }
        Ok(response)
    }

    async fn fetch_keys(&self) -> Result<(), FetchError> {
        let request = self.http.get(self.url("/.well-known/jwks.json"));
        let response = self.fetch(request, "the key set").await?;
        let body = response.bytes().await.map_err(FetchError::Http)?;
        let keys = jwt::parse_jwks(&body)?;
        let changed = **read(&self.keys) != keys;
        *write(&self.keys) = Arc::new(keys);
        if changed {
            self.verified.clear();
        }
        Ok(())
    }

    async fn refetch_keys(&self) {
        let mut fetched = self.keys_fetched.lock().await;
        if fetched.elapsed() < self.config.jwks_refetch_interval {
            return;
        }
        *fetched = Instant::now();
        if let Err(e) = self.fetch_keys().await {
            tracing::warn!(error = %e, "cannot refetch tessera's keys");
        }
    }

    /// Replaces the revocations with the snapshot's; returns the cursor to
    /// follow from.
    async fn resync(&self) -> Result<String, FetchError> {
        let snapshot = feed::snapshot(self).await?;
        let now = now_ms() / 1000;
        let mut revoked = Revoked::default();
        for event in &snapshot.events {
            revoked.apply(event, now);
        }
        *write(&self.revoked) = revoked;
        self.synced.store(true, Ordering::Relaxed);
        self.feed_alive();
        Ok(snapshot.next)
    }
}

#[cfg(test)]
mod tests {
    //! A verifier against a stand-in tessera (key set, snapshot, stream).

    use std::convert::Infallible;

    use axum::body::Body;
    use axum::routing::get;
    use axum::{Json, Router};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use ed25519_dalek::SigningKey;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::{json, Value};
    use tokio::sync::broadcast;
    use uuid::Uuid;

    use super::*;
    use crate::dpop::tests::ClientKey;

    struct Tessera {
        base: String,
        key: SigningKey,
        /// Revocation events, each sent as one SSE message on every open
        /// stream.
        events: broadcast::Sender<Value>,
    }

    impl Tessera {
        async fn start(snapshot: Vec<Value>) -> Self {
            let key = SigningKey::from_bytes(&rand::random());
            let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
            let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1"}]});
            let snapshot = json!({"events": snapshot, "next": "0-1"});
            let (events, _) = broadcast::channel::<Value>(16);
            let sender = events.clone();
            let stream = move || {
                let receiver = sender.subscribe();
                async move {
                    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
                        let event = receiver.recv().await.ok()?;
                        let message = format!("id: {}\ndata: {event}\n\n", event["seq"].as_str()?);
                        Some((Ok::<_, Infallible>(message), receiver))
                    });
                    Body::from_stream(body)
                }
            };
            let app = Router::new()
                .route(
                    "/.well-known/jwks.json",
                    get(move || async move { Json(jwks) }),
                )
                .route(
                    "/api/v1/revocations/snapshot",
                    get(move || async move { Json(snapshot) }),
                )
                .route("/api/v1/revocations/stream", get(stream));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
            Self { base, key, events }
        }

        fn sign(&self, typ: &str, claims: &Value) -> String {
            let der = self.key.to_pkcs8_der().unwrap();
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some("k1".into());
            header.typ = Some(typ.into());
            jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes()))
                .unwrap()
        }

        /// Sends `event` once the verifier follows the stream.
        async fn revoke(&self, event: Value) {
            while self.events.receiver_count() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            self.events.send(event).unwrap();
        }
    }

    fn user_claims(iat: u64) -> Value {
        json!({
            "iss": "tessera", "aud": "tessera", "sub": Uuid::new_v4(), "exp": iat + 600,
            "iat": iat, "jti": Uuid::new_v4(), "sid": Uuid::new_v4(), "type": "access",
            "role": "REGULAR", "subscription": "FREE",
        })
    }

    fn client_claims(client: &str, iat: u64) -> Value {
        json!({
            "iss": "tessera", "aud": "tessera", "sub": client, "exp": iat + 600,
            "iat": iat, "jti": Uuid::new_v4(), "type": "access", "client_id": client,
        })
    }

    fn client_event(seq: &str, client: &str, not_before: u64) -> Value {
        json!({"seq": seq, "kind": "client", "id": client, "not_before": not_before,
            "reason": "client_disabled", "at": "2026-12-07T10:00:00.000Z"})
    }

    #[tokio::test]
    async fn old_and_new_tokens_verify_and_a_disabled_client_is_refused_within_the_feed() {
        let now = now_ms() / 1000;
        let tessera = Tessera::start(vec![
            client_event("0-1", "gone", now + 1),
            json!({"seq": "0-1", "kind": "user", "id": Uuid::new_v4(), "not_before": now,
                "reason": "a_reason_from_later", "at": "2026-12-07T10:00:00.000Z"}),
        ])
        .await;
        let verifier = Verifier::start(Config::new(&tessera.base, "edge", "secret"))
            .await
            .unwrap();

        let old = tessera.sign("JWT", &user_claims(now - 10));
        assert!(matches!(
            verifier.check(&old).unwrap().subject,
            Subject::User { .. }
        ));
        let own = tessera.sign("at+jwt", &client_claims("billing", now - 10));
        assert_eq!(
            verifier.check(&own).unwrap().subject,
            Subject::Client {
                id: "billing".into()
            }
        );
        let mut exchange = user_claims(now - 10);
        exchange["client_id"] = json!("billing");
        exchange["act"] = json!({"sub": "billing"});
        exchange["scope"] = json!("reports:read");
        let exchanged = tessera.sign("at+jwt", &exchange);
        assert_eq!(
            verifier.check(&exchanged).unwrap().client_id.as_deref(),
            Some("billing")
        );
        // Disabled in the snapshot already.
        let gone = tessera.sign("at+jwt", &client_claims("gone", now));
        assert_eq!(verifier.check(&gone), Err(Rejection::Revoked));
        // Signed by tessera's key, claims and all, but typed as a DPoP proof.
        let proof = tessera.sign("dpop+jwt", &user_claims(now));
        assert_eq!(verifier.check(&proof), Err(Rejection::NotAnAccessToken));

        // `billing` disabled through the stream: its own token and the one it
        // exchanged, both verified and cached before, are refused; tokens
        // issued from not_before on are not.
        tessera
            .revoke(client_event("1-0", "billing", now + 1))
            .await;
        let waited = Instant::now();
        while verifier.check(&own).is_ok() {
            assert!(waited.elapsed() < Duration::from_secs(5), "not revoked");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(verifier.check(&own), Err(Rejection::Revoked));
        assert_eq!(verifier.check(&exchanged), Err(Rejection::Revoked));
        assert!(verifier.check(&old).is_ok());
        let fresh = tessera.sign("at+jwt", &client_claims("billing", now + 1));
        assert!(verifier.check(&fresh).is_ok());
    }

    /// A service embedding the verifier, at its own address: `GET
    /// /orders/{id}` through the extractor, `GET /api/items` through the
    /// layer in a nested router.
    struct Service {
        url: String,
        verifier: Verifier,
        http: reqwest::Client,
    }

    impl Service {
        async fn start(tessera: &Tessera) -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let mut config = Config::new(&tessera.base, "edge", "secret");
            config.public_url = Some(format!("{url}/"));
            let verifier = Verifier::start(config).await.unwrap();
            let who = |token: Token| async move { token.user_id().unwrap().to_string() };
            let items = Router::new()
                .route(
                    "/items",
                    get(
                        |axum::Extension(token): axum::Extension<Token>| async move {
                            token.user_id().unwrap().to_string()
                        },
                    ),
                )
                .route_layer(VerifyLayer::new(verifier.clone()));
            let app = Router::new()
                .route("/orders/{id}", get(who))
                .nest("/api", items)
                .with_state(verifier.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
            Self {
                url,
                verifier,
                http: reqwest::Client::new(),
            }
        }

        /// `GET path` with `Authorization: {scheme} {token}` and `proof`.
        async fn get(
            &self,
            path: &str,
            scheme: &str,
            token: &str,
            proof: Option<&str>,
        ) -> reqwest::Response {
            let mut request = self
                .http
                .get(format!("{}{path}", self.url))
                .header("Authorization", format!("{scheme} {token}"));
            if let Some(proof) = proof {
                request = request.header("DPoP", proof);
            }
            request.send().await.unwrap()
        }
    }

    /// Asserts a 401 with the DPoP challenge naming `why`.
    async fn assert_dpop_refused(response: reqwest::Response, why: DpopError) {
        assert_eq!(response.status(), 401);
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert_eq!(
            challenge,
            format!(
                r#"DPoP error="invalid_dpop_proof", error_description="{}", algs="EdDSA ES256""#,
                why.words()
            )
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"], why.words());
    }

    #[tokio::test]
    async fn a_bound_token_passes_the_extractor_and_the_layer_only_with_a_fresh_proof_by_its_key() {
        let now = now_ms() / 1000;
        let tessera = Tessera::start(Vec::new()).await;
        let service = Service::start(&tessera).await;
        let (owner, thief) = (ClientKey::new(), ClientKey::new());
        let mut claims = user_claims(now);
        claims["cnf"] = json!({"jkt": owner.jkt()});
        let bound = tessera.sign("at+jwt", &claims);
        let url = |path: &str| format!("{}{path}", service.url);
        let proof = |key: &ClientKey, path: &str| key.proof("GET", &url(path), &bound, now);

        let good = proof(&owner, "/orders/7");
        let answer = service.get("/orders/7", "DPoP", &bound, Some(&good)).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.text().await.unwrap(),
            claims["sub"].as_str().unwrap()
        );
        // Replayed, by another key, for another URI, as a bearer token,
        // without a proof.
        let refusals = [
            (Some(good.clone()), "DPoP", DpopError::Replayed),
            (
                Some(proof(&thief, "/orders/7")),
                "DPoP",
                DpopError::WrongKey,
            ),
            (
                Some(proof(&owner, "/orders/8")),
                "DPoP",
                DpopError::WrongUri,
            ),
            (
                Some(proof(&owner, "/orders/7")),
                "Bearer",
                DpopError::Missing,
            ),
            (None, "Bearer", DpopError::Missing),
            (None, "DPoP", DpopError::Missing),
        ];
        for (proof, scheme, why) in refusals {
            let answer = service
                .get("/orders/7", scheme, &bound, proof.as_deref())
                .await;
            assert_dpop_refused(answer, why).await;
        }
        // Behind the layer in a nested router: the proof names the whole
        // path the client called.
        let inner_path = proof(&owner, "/items");
        let answer = service
            .get("/api/items", "DPoP", &bound, Some(&inner_path))
            .await;
        assert_dpop_refused(answer, DpopError::WrongUri).await;
        let whole_path = proof(&owner, "/api/items");
        let answer = service
            .get("/api/items?page=2", "DPoP", &bound, Some(&whole_path))
            .await;
        assert_eq!(answer.status(), 200);
        let answer = service
            .get("/api/items", "DPoP", &bound, Some(&whole_path))
            .await;
        assert_dpop_refused(answer, DpopError::Replayed).await;
        // Asked directly, without a request, a bound token has no proof.
        assert_eq!(
            service.verifier.check(&bound),
            Err(Rejection::Dpop(DpopError::Missing))
        );
    }

    #[tokio::test]
    async fn an_unbound_token_works_as_before_and_a_token_bound_otherwise_is_refused() {
        let now = now_ms() / 1000;
        let tessera = Tessera::start(Vec::new()).await;
        let service = Service::start(&tessera).await;
        let unbound = tessera.sign("at+jwt", &user_claims(now));
        let key = ClientKey::new();
        let proof = key.proof("GET", &format!("{}/orders/7", service.url), &unbound, now);
        for proof in [None, Some(proof.as_str())] {
            let answer = service.get("/orders/7", "Bearer", &unbound, proof).await;
            assert_eq!(answer.status(), 200);
        }
        assert!(service.verifier.check(&unbound).is_ok());
        let answer = service
            .get("/orders/7", "DPoP", &unbound, Some(&proof))
            .await;
        assert_eq!(answer.status(), 401);
        assert_eq!(answer.headers()["www-authenticate"], "Bearer");
        // Bound by something other than a key's thumbprint (mTLS, say): not
        // a token this verifier can hold to its binding.
        let mut claims = user_claims(now);
        claims["cnf"] = json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"});
        let other = tessera.sign("at+jwt", &claims);
        assert_eq!(service.verifier.check(&other), Err(Rejection::Malformed));
        // A public URL no proof could name stops the start.
        let mut config = Config::new(&tessera.base, "edge", "secret");
        config.public_url = Some("api.example.com".into());
        assert!(matches!(
            Verifier::start(config).await,
            Err(StartError::PublicUrl(_))
        ));
    }

    #[tokio::test]
    async fn a_full_proof_store_answers_503_with_retry_after() {
        let now = now_ms() / 1000;
        let tessera = Tessera::start(Vec::new()).await;
        let mut config = Config::new(&tessera.base, "edge", "secret");
        config.public_url = Some("https://api.example.com".into());
        config.spent_proof_capacity = 1;
        let verifier = Verifier::start(config).await.unwrap();
        let key = ClientKey::new();
        let mut claims = user_claims(now);
        claims["cnf"] = json!({"jkt": key.jkt()});
        let bound = tessera.sign("at+jwt", &claims);
        let call = |proof: String| {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", format!("DPoP {bound}").parse().unwrap());
            headers.insert("dpop", proof.parse().unwrap());
            let verifier = verifier.clone();
            async move { verifier.verify_request("GET", "/orders/7", &headers).await }
        };
        let url = "https://api.example.com/orders/7";
        assert!(call(key.proof("GET", url, &bound, now)).await.is_ok());
        let full = call(key.proof("GET", url, &bound, now)).await.unwrap_err();
        // The first proof is remembered until its iat + 60 + 5 s.
        let Rejection::ReplayStoreFull { retry_after_secs } = full else {
            panic!("{full:?}");
        };
        assert!((60..=65).contains(&retry_after_secs), "{retry_after_secs}");
        let response = axum::response::IntoResponse::into_response(full);
        assert_eq!(response.status(), 503);
        assert_eq!(
            response.headers()["retry-after"],
            retry_after_secs.to_string().as_str()
        );
    }
}
