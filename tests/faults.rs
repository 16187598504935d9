//! Outages: with Redis or PostgreSQL down (or hung), requests answer 503
//! with an `error_code` within the configured timeouts; when the server is
//! back the same app instance serves again without a restart; and a Redis
//! restarted from its AOF keeps every session. Each test runs its own
//! servers on free ports (see `common::servers`).

mod common;

use std::time::{Duration, Instant};

use common::servers::{PostgresServer, RedisServer};
use common::{migrate, spawn_app_with, TestApp, PASSWORD};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const REDIS_TIMEOUT_MS: u64 = 500;
/// Few shared Redis connections, so a handful of requests uses them all.
const REDIS_CONNECTIONS: usize = 4;
const ACQUIRE_TIMEOUT_MS: u64 = 1000;
/// Scheduling slack on a shared, busy machine on top of a configured timeout.
const SLACK: Duration = Duration::from_millis(1500);

async fn app_on_redis(redis: &RedisServer) -> TestApp {
    spawn_app_with(common::overrides(&[
        ("redis.url", json!(redis.url())),
        ("redis.timeout_ms", json!(REDIS_TIMEOUT_MS)),
        ("redis.shared_connections", json!(REDIS_CONNECTIONS)),
    ]))
    .await
}

/// Verifies `access` on every shared Redis connection (they are used in
/// turn), expecting `status` each time: before an outage this opens them
/// all; after one it shows none was left stale.
async fn verify_on_every_connection(app: &TestApp, access: &str, status: StatusCode) {
    for round in 0..2 * REDIS_CONNECTIONS {
        assert_eq!(app.verify(access).await.status(), status, "verify #{round}");
    }
}

/// Asserts a 503 carrying `code`, answered within `bound` of `started`.
async fn assert_unavailable(response: Response, started: Instant, bound: Duration, code: &str) {
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["error_code"], code, "{body}");
    assert!(body["detail"].is_string(), "{body}");
    assert!(
        elapsed <= bound,
        "answered after {elapsed:?}, bound {bound:?}"
    );
}

async fn timed<F: std::future::Future<Output = Response>>(request: F) -> (Response, Instant) {
    let started = Instant::now();
    (request.await, started)
}

#[tokio::test]
async fn redis_down_answers_503_and_the_same_instance_recovers_when_it_returns() {
    let mut redis = RedisServer::start();
    let app = app_on_redis(&redis).await;
    let (user, tokens) = app.signed_in_user().await;
    verify_on_every_connection(&app, &tokens.access, StatusCode::OK).await;

    redis.kill();
    let bound = Duration::from_millis(REDIS_TIMEOUT_MS) + SLACK;
    let (response, started) = timed(app.verify(&tokens.access)).await;
    assert_unavailable(response, started, bound, "REDIS_UNAVAILABLE").await;
    let (response, started) = timed(app.refresh(&tokens.refresh)).await;
    assert_unavailable(response, started, bound, "REDIS_UNAVAILABLE").await;
    // Login checks the password (PostgreSQL is fine), then cannot store the
    // session.
    let (response, started) =
        timed(app.login_json(json!({"email": user.email, "password": PASSWORD}))).await;
    assert_unavailable(response, started, bound + SLACK, "REDIS_UNAVAILABLE").await;
    let ready = app.get("/health/ready").send().await.expect("ready");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = ready.json().await.expect("ready json");
    assert_eq!(ready["components"]["database"], "ok", "{ready}");
    assert_ne!(ready["components"]["redis"], "ok", "{ready}");

    // An empty Redis comes back (no persistence): the very first requests
    // after it are answered, none failed on a stale connection.
    redis.resume();
    // The session died with the unpersisted Redis.
    verify_on_every_connection(&app, &tokens.access, StatusCode::UNAUTHORIZED).await;
    let fresh = app.login(&user).await;
    app.assert_verify(&fresh.access, StatusCode::OK).await;
    let rotated = app.refresh(&fresh.refresh).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let ready = app.get("/health/ready").send().await.expect("ready");
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_hung_redis_is_cut_off_at_the_command_timeout() {
    let redis = RedisServer::start();
    let app = app_on_redis(&redis).await;
    let (_, tokens) = app.signed_in_user().await;

    // A stopped process: connections stay open and commands go unanswered.
    redis.signal("STOP");
    let bound = Duration::from_millis(REDIS_TIMEOUT_MS) + SLACK;
    let (response, started) = timed(app.verify(&tokens.access)).await;
    assert_unavailable(response, started, bound, "REDIS_UNAVAILABLE").await;
    assert!(
        started.elapsed() >= Duration::from_millis(REDIS_TIMEOUT_MS),
        "answered before the timeout: the 503 cannot come from Redis being slow"
    );
    let (response, started) = timed(app.refresh(&tokens.refresh)).await;
    assert_unavailable(response, started, bound, "REDIS_UNAVAILABLE").await;

    redis.signal("CONT");
    app.assert_verify(&tokens.access, StatusCode::OK).await;
    app.assert_refresh(&tokens.refresh, StatusCode::OK).await;
}

#[tokio::test]
async fn postgres_down_answers_503_verify_keeps_working_and_the_instance_recovers() {
    let mut postgres = PostgresServer::start();
    migrate(&postgres.url()).await;
    let app = spawn_app_with(common::overrides(&[
        ("database.url", json!(postgres.url())),
        ("database.acquire_timeout_ms", json!(ACQUIRE_TIMEOUT_MS)),
    ]))
    .await;
    let (user, tokens) = app.signed_in_user().await;

    postgres.stop();
    let bound = Duration::from_millis(ACQUIRE_TIMEOUT_MS) + SLACK;
    let (response, started) =
        timed(app.login_json(json!({"email": user.email, "password": PASSWORD}))).await;
    assert_unavailable(response, started, bound, "DB_UNAVAILABLE").await;
    let other = common::unique_name();
    let (response, started) =
        timed(app.register(&format!("{other}@example.com"), &other, PASSWORD)).await;
    assert_unavailable(response, started, bound + SLACK, "DB_UNAVAILABLE").await;
    // The hot paths never touch PostgreSQL.
    app.assert_verify(&tokens.access, StatusCode::OK).await;
    let rotated = app.refresh(&tokens.refresh).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let ready = app.get("/health/ready").send().await.expect("ready");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    postgres.resume();
    let again = app
        .login_json(json!({"email": user.email, "password": PASSWORD}))
        .await;
    assert_eq!(again.status(), StatusCode::OK, "first login after recovery");
    app.new_user().await;
    let ready = app.get("/health/ready").send().await.expect("ready");
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_redis_restarted_from_its_aof_keeps_every_session() {
    let mut redis = RedisServer::start_with_aof();
    let app = app_on_redis(&redis).await;
    let (user, first) = app.signed_in_user().await;
    let second = app.login(&user).await;
    let rotated: Value = app.refresh(&second.refresh).await.json().await.unwrap();
    let rotated = common::Tokens::from_body(&rotated);
    verify_on_every_connection(&app, &first.access, StatusCode::OK).await;

    // appendfsync everysec: a crash loses at most the last second of writes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.kill();
    redis.resume();

    // Restarted while idle: every shared connection is stale, yet no
    // request fails on one.
    verify_on_every_connection(&app, &first.access, StatusCode::OK).await;
    app.assert_verify(&rotated.access, StatusCode::OK).await;
    app.assert_refresh(&first.refresh, StatusCode::OK).await;
    app.assert_refresh(&rotated.refresh, StatusCode::OK).await;

    // A clean SHUTDOWN fsyncs at once, so nothing needs to wait.
    let third = app.login(&user).await;
    redis.shutdown();
    redis.resume();
    verify_on_every_connection(&app, &third.access, StatusCode::OK).await;
    app.assert_refresh(&third.refresh, StatusCode::OK).await;
}
