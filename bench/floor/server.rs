//! The floor under tessera's hot paths: the least server doing the same
//! irreducible work, served by tessera's own HTTP/1.1 loop
//! (`tessera::startup::serve`) with no middleware, so `make bench` can give
//! each hot path as a fraction of what this machine allows.
//!
//! - `GET /floor/bare`: a bare answer (the body `/health/live` answers);
//!   the floor under `/health/live`.
//! - `GET /floor/read`: one EVALSHA reading a hash; under `/verify` and
//!   introspection.
//! - `POST /floor/sign`: the body read, one Ed25519 signature of a JWT-sized
//!   payload, one EVALSHA writing a hash, the token answered; under
//!   refresh and the OAuth refresh grant.
//!
//! usage: floor ADDRESS REDIS_URL (runs until killed)

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use redis::aio::MultiplexedConnection;
use redis::Script;
use tessera::http::ConnectionCap;
use tessera::startup::{serve, Connections};

// As tessera's `main`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The session hash `/floor/read` reads (written at start) and the hashes
/// `/floor/sign` writes (a bounded set, so a long run does not grow Redis).
const READ_KEY: &str = "tessera:floor:read";
const WRITE_KEYS: u64 = 4096;

struct Floor {
    redis: MultiplexedConnection,
    read: Script,
    write: Script,
    key: SigningKey,
    /// `base64url({"alg":"EdDSA","typ":"at+jwt","kid":...})` and a dot.
    header: String,
    issued: AtomicU64,
}

async fn bare() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        concat!(
            r#"{"status":"ok","version":""#,
            env!("CARGO_PKG_VERSION"),
            r#""}"#
        ),
    )
}

async fn read(State(floor): State<Arc<Floor>>) -> impl IntoResponse {
    let mut redis = floor.redis.clone();
    match floor
        .read
        .key(READ_KEY)
        .invoke_async::<Vec<Option<String>>>(&mut redis)
        .await
    {
        Ok(fields) => (
            StatusCode::OK,
            fields.into_iter().flatten().collect::<Vec<_>>().join(" "),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn sign(State(floor): State<Arc<Floor>>, body: Bytes) -> impl IntoResponse {
    let n = floor.issued.fetch_add(1, Ordering::Relaxed);
    // Claims of an access token's size, new each time (sub, sid, jti, times).
    let claims = format!(
        r#"{{"iss":"http://127.0.0.1","sub":"0190b7a0-0000-7000-8000-{n:012}","aud":"tessera","exp":{exp},"iat":{n},"jti":"0190b7a0-0000-7000-8000-{n:012}","sid":"0190b7a0-0000-7000-8000-{n:012}","role":"REGULAR","subscription":"FREE","type":"access","body":{len}}}"#,
        exp = n + 900,
        len = body.len(),
    );
    let mut token = floor.header.clone();
    URL_SAFE_NO_PAD.encode_string(claims, &mut token);
    let signature = floor.key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    let mut redis = floor.redis.clone();
    let written = floor
        .write
        .key(format!("tessera:floor:w:{}", n % WRITE_KEYS))
        .arg(&token[token.len() - 43..])
        .arg(60_000)
        .invoke_async::<i64>(&mut redis)
        .await;
    match written {
        Ok(_) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":900}}"#),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain")],
            e.to_string(),
        ),
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(address), Some(redis_url)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: floor ADDRESS REDIS_URL");
    };
    let address: SocketAddr = address.parse()?;
    // As tessera's `main`: the default multi-threaded runtime.
    tokio::runtime::Runtime::new()?.block_on(async move {
        let mut redis = redis::Client::open(redis_url)?
            .get_multiplexed_async_connection()
            .await?;
        redis::cmd("HSET")
            .arg(READ_KEY)
            .arg(&[
                "role",
                "REGULAR",
                "sub",
                "0190b7a0-0000-7000-8000-000000000000",
            ])
            .exec_async(&mut redis)
            .await?;
        let header =
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"floor-key-0000"}"#);
        let floor = Arc::new(Floor {
            redis,
            read: Script::new(include_str!("read.lua")),
            write: Script::new(include_str!("write.lua")),
            key: SigningKey::from_bytes(&rand::random()),
            header: header + ".",
            issued: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/floor/bare", get(bare))
            .route("/floor/read", get(read))
            .route("/floor/sign", post(sign))
            .with_state(floor);
        let listener = tokio::net::TcpListener::bind(address).await?;
        let connections = Connections {
            header_read_timeout: Duration::from_secs(30),
            cap: ConnectionCap::new(0, Arc::from(Vec::new())),
        };
        serve(listener, router, connections, std::future::pending()).await;
        Ok(())
    })
}
