//! Per-request limits: the request timeout, the cap on requests in flight,
//! the header size limit, and the bound on argon2 work that timed-out
//! requests leave behind. The slow path is a registration whose CAPTCHA
//! verifier (run by the test on a free port) takes its time.

mod common;

use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use common::{spawn_app_with, unique_name, TestApp, PASSWORD};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

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
    let mut overrides = Figment::new()
        .merge(Serialized::default(
            "captcha.verify_url",
            slow_verifier(delay).await,
        ))
        .merge(Serialized::default("captcha.secret", "s"))
        .merge(Serialized::default("captcha.timeout_ms", 10_000));
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
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
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
        let app = common::TestApp {
            address: app.address.clone(),
            client: app.client.clone(),
            pool: app.pool.clone(),
            config: app.config.clone(),
        };
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
    let text = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

#[tokio::test]
async fn logins_that_time_out_never_let_more_argon2_run_than_the_bound() {
    // One hash at a time, and a request timeout shorter than one argon2id
    // verify: every login below is abandoned while its hash still runs.
    let app = spawn_app_with(
        Figment::new()
            .merge(Serialized::default("password_hashing.max_concurrency", 1))
            .merge(Serialized::default("server.request_timeout_ms", 10)),
    )
    .await;
    for _ in 0..4 {
        let wave = (0..6).map(|i| {
            app.login_json(json!({"email": format!("nobody{i}@example.com"), "password": PASSWORD}))
        });
        for response in futures::future::join_all(wave).await {
            assert_busy(response, "REQUEST_TIMEOUT").await;
        }
    }
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
