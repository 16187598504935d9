//! Per-request limits: the request timeout, the cap on requests in flight,
//! the header size limit, and the bound on argon2 work that timed-out
//! requests leave behind; per-connection limits: the header read (and idle)
//! timeout and the cap on connections per address, seen over raw TCP. The slow path is a registration whose CAPTCHA
//! verifier (run by the test on a free port) takes its time.

mod common;

use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use common::{json_of, spawn_app_with, unique_name, TestApp, PASSWORD};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A siteverify endpoint that answers "success" after `delay`.
async fn slow_verifier(delay: Duration) -> String {
    let router = Router::new().route(
        "/siteverify",
        post(move || async move {
            tokio::time::sleep(delay).await;
            Json(json!({ "success": true }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/siteverify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn app_with_slow_captcha(delay: Duration, server: &[(&str, Value)]) -> TestApp {
    let mut overrides = common::overrides(&[
        ("captcha.verify_url", json!(slow_verifier(delay).await)),
        ("captcha.secret", json!("s")),
        ("captcha.timeout_ms", json!(10_000)),
    ]);
    for (key, value) in server {
        overrides = overrides.merge(Serialized::default(key, value.clone()));
    }
    spawn_app_with(overrides).await
}

async fn register(app: &TestApp) -> Response {
    let name = unique_name();
    app.post_json(
        "/api/v1/auth/register",
        json!({
            "email": format!("{name}@example.com"),
            "username": name,
            "password": PASSWORD,
            "captcha_token": "anything",
        }),
    )
    .await
}

async fn assert_busy(response: Response, error_code: &str) {
    let body = json_of(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error_code"], error_code, "{body}");
    assert!(body["detail"].is_string(), "{body}");
}

#[tokio::test]
async fn a_request_running_past_the_timeout_gets_503_instead_of_hanging() {
    let app = app_with_slow_captcha(
        Duration::from_secs(3),
        &[("server.request_timeout_ms", json!(300))],
    )
    .await;
    let started = Instant::now();
    assert_busy(register(&app).await, "REQUEST_TIMEOUT").await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    // Fast requests are untouched.
    assert_eq!(app.get("/").send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn requests_over_the_in_flight_cap_are_refused_at_once() {
    let app = app_with_slow_captcha(
        Duration::from_millis(1500),
        &[("server.max_in_flight", json!(1))],
    )
    .await;
    let slow = tokio::spawn({
        let app = app.clone();
        async move { register(&app).await.status() }
    });
    // Wait (boundedly) until the slow request holds the only slot.
    let mut refused = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let response = app.get("/").send().await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("a second request is refused while the first runs");
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_busy(refused, "OVERLOADED").await;
    // Probes still answer.
    let probe = app.get("/health/live").send().await.unwrap();
    assert_eq!(probe.status(), StatusCode::OK);
    assert_eq!(slow.await.unwrap(), StatusCode::CREATED);
    assert_eq!(app.get("/").send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn oversized_request_heads_are_refused_by_hyper() {
    let app = spawn_app_with(Figment::new()).await;
    // hyper's limits: at most 100 headers, and a request head within its
    // read buffer (about 400 KiB); past either, 431.
    let mut request = app.get("/");
    for i in 0..101 {
        request = request.header(format!("x-filler-{i}"), "x");
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let huge = "x".repeat(512 * 1024);
    let response = app.get("/").header("x-huge", huge).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(app.get("/").send().await.unwrap().status(), StatusCode::OK);
}

/// One gauge from `/metrics`.
async fn gauge(app: &TestApp, name: &str) -> u64 {
    app.scrape_metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

#[tokio::test]
async fn logins_that_time_out_never_let_more_argon2_run_than_the_bound() {
    // One hash at a time, and a request timeout shorter than one argon2id
    // verify: a login that reaches its hash is abandoned while it runs.
    let app = spawn_app_with(common::overrides(&[
        ("password_hashing.max_concurrency", json!(1)),
        ("server.request_timeout_ms", json!(20)),
    ]))
    .await;
    // Waves of unknown-user logins (each verifies the dummy hash), until
    // several waves ran after the first hash began: the first ones may time
    // out while the database pool is still connecting.
    let started = Instant::now();
    let (mut timed_out, mut waves_hashing) = (0, 0);
    while waves_hashing < 4 && started.elapsed() < Duration::from_secs(20) {
        let wave = (0..6).map(|i| {
            app.login_json(json!({"email": format!("nobody{i}@example.com"), "password": PASSWORD}))
        });
        for response in futures::future::join_all(wave).await {
            if response.status() == StatusCode::UNAUTHORIZED {
                continue;
            }
            assert_busy(response, "REQUEST_TIMEOUT").await;
            timed_out += 1;
        }
        if gauge(&app, "tessera_password_hashes_in_progress_peak").await > 0 {
            waves_hashing += 1;
        }
    }
    assert_eq!(waves_hashing, 4, "no login reached argon2 in 20 s");
    assert!(timed_out >= 6, "only {timed_out} logins timed out");
    assert_eq!(
        gauge(&app, "tessera_password_hashes_max_concurrency").await,
        1
    );
    let peak = gauge(&app, "tessera_password_hashes_in_progress_peak").await;
    assert_eq!(peak, 1, "argon2 computations that ran at once");
    // The abandoned hashes finish on their own (bounded wait).
    let mut running = u64::MAX;
    for _ in 0..100 {
        running = gauge(&app, "tessera_password_hashes_in_progress").await;
        if running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(running, 0);
}

/// Connects to `app` over raw TCP, as a client that controls every byte.
async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.unwrap()
}

/// Reads (and discards) until the server closes `stream`; how long that
/// took, or `None` if it was still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    let until_closed = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, until_closed)
        .await
        .ok()
        .map(|()| started.elapsed())
}

/// Sends a complete `GET /` on `stream` and reads its response head.
async fn get_root(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: tessera\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("a response within 5 s")
        .unwrap_or(0);
    String::from_utf8_lossy(&buffer[..read]).into_owned()
}

/// A client that opens a new connection for every request.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off_at_the_header_read_timeout() {
    let app = spawn_app_with(
        Figment::new().merge(Serialized::default("server.header_read_timeout_secs", 1)),
    )
    .await;
    let mut slow = connect(&app).await;
    // The request line and one header, never the blank line that ends them.
    slow.write_all(b"GET / HTTP/1.1\r\nHost: tessera\r\n")
        .await
        .unwrap();
    let closed = closed_within(&mut slow, Duration::from_secs(3))
        .await
        .expect("a half-sent request is closed, not held open");
    assert!(
        closed >= Duration::from_millis(900) && closed <= Duration::from_millis(2000),
        "closed after {closed:?}, not at the 1 s timeout"
    );
    // A connection that never sends a byte gets the same.
    let mut silent = connect(&app).await;
    assert!(closed_within(&mut silent, Duration::from_secs(3))
        .await
        .is_some());
    // A kept-alive connection serves its request, then is closed once it
    // has sat idle for as long.
    let mut idle = connect(&app).await;
    assert!(get_root(&mut idle).await.starts_with("HTTP/1.1 200"));
    let closed = closed_within(&mut idle, Duration::from_secs(3))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(closed <= Duration::from_millis(2000), "{closed:?}");
}

#[tokio::test]
async fn one_address_holds_at_most_max_connections_per_ip() {
    let app = spawn_app_with(
        Figment::new().merge(Serialized::default("server.max_connections_per_ip", 3)),
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&app).await;
        assert!(get_root(&mut stream).await.starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    // The fourth is closed at once, before it is read.
    let mut over = connect(&app).await;
    assert!(closed_within(&mut over, Duration::from_secs(1))
        .await
        .is_some());
    assert!(fresh_client().get(app.url("/")).send().await.is_err());
    // A connection that closes gives its place back.
    drop(held.pop());
    let mut answered = false;
    for _ in 0..50 {
        if let Ok(response) = fresh_client().get(app.url("/")).send().await {
            assert_eq!(response.status(), StatusCode::OK);
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answered, "a freed place is taken by the next connection");
    // Refusals are counted for operators.
    let mut text = String::new();
    for _ in 0..50 {
        if let Ok(response) = fresh_client().get(app.url("/metrics")).send().await {
            text = response.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        text.contains("tessera_rate_limited_total{limiter=\"connections_per_ip\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn trusted_proxies_and_allow_listed_harnesses_are_not_capped() {
    // A proxy speaks for every client behind it; a load-test harness opens
    // many connections on purpose.
    for exempt in ["server.trusted_proxies", "rate_limit.allow_cidrs"] {
        let app = spawn_app_with(common::overrides(&[
            ("server.max_connections_per_ip", json!(2)),
            (exempt, json!(vec!["127.0.0.1/32"])),
        ]))
        .await;
        let mut held = Vec::new();
        for _ in 0..10 {
            let mut stream = connect(&app).await;
            assert!(
                get_root(&mut stream).await.starts_with("HTTP/1.1 200"),
                "{exempt}"
            );
            held.push(stream);
        }
    }
}

/// `/verify` with `access` on a new connection, retried (bounded) while the
/// connection is refused; its status and when it answered.
async fn verify_on_new_connection(app: &TestApp, access: &str) -> Option<(StatusCode, Duration)> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let response = fresh_client()
            .get(app.url("/api/v1/auth/verify"))
            .bearer_auth(access)
            .send()
            .await;
        if let Ok(response) = response {
            return Some((response.status(), started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn idle_connections_never_starve_verify() {
    let app = spawn_app_with(common::overrides(&[
        ("server.max_connections_per_ip", json!(50)),
        ("server.header_read_timeout_secs", json!(1)),
    ]))
    .await;
    let (_, tokens) = app.signed_in_user().await;
    // Many connections that send nothing, below the cap: /verify answers
    // at once beside them.
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(connect(&app).await);
    }
    let (status, after) = verify_on_new_connection(&app, &tokens.access)
        .await
        .expect("/verify answers beside idle connections");
    assert_eq!(status, StatusCode::OK);
    assert!(after <= Duration::from_millis(500), "{after:?}");
    // Every place taken by idle connections: within the header read timeout
    // they are cut, and /verify answers again.
    for _ in 0..15 {
        idle.push(connect(&app).await);
    }
    let (status, after) = verify_on_new_connection(&app, &tokens.access)
        .await
        .expect("/verify answers once idle connections are cut");
    assert_eq!(status, StatusCode::OK);
    assert!(after <= Duration::from_millis(2000), "{after:?}");
    for stream in &mut idle {
        assert!(closed_within(stream, Duration::from_secs(1))
            .await
            .is_some());
    }
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_cut_off_at_the_request_timeout() {
    let app = spawn_app_with(
        Figment::new().merge(Serialized::default("server.request_timeout_ms", 1000)),
    )
    .await;
    // A handler that reads the body answers 503 at the timeout; one that
    // does not answers at once. Either way the connection then closes,
    // since the rest of the body never came.
    for (head, status) in [
        (
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: tessera\r\nContent-Type: application/json\r\n",
            "HTTP/1.1 503",
        ),
        ("GET / HTTP/1.1\r\nHost: tessera\r\n", "HTTP/1.1 200"),
    ] {
        let mut stream = connect(&app).await;
        // 100 bytes announced, 8 sent, then nothing.
        let request = format!("{head}Content-Length: 100\r\n\r\n{{\"email\"");
        stream.write_all(request.as_bytes()).await.unwrap();
        let started = Instant::now();
        let mut buffer = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer))
            .await
            .expect("an answer, not a hang")
            .unwrap_or(0);
        let answer = String::from_utf8_lossy(&buffer[..read]).into_owned();
        assert!(answer.starts_with(status), "{head:?}: {answer}");
        assert!(started.elapsed() <= Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(
            closed_within(&mut stream, Duration::from_secs(1)).await.is_some(),
            "{head:?}: connection left open"
        );
    }
}
