//! CAPTCHA on registration, checked against a siteverify server the test
//! runs on a free port.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::routing::post;
use axum::{Form, Json, Router};
use common::{assert_detail, free_port, json_of, spawn_app_with, unique_name, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

const SECRET: &str = "verifier-shared-secret";

type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A siteverify endpoint: "good" passes, "slow" passes after 2 s, "broken"
/// gets a 500, anything else fails. It records every form it receives.
async fn start_verifier() -> (String, Seen) {
    async fn siteverify(
        State(seen): State<Seen>,
        Form(form): Form<HashMap<String, String>>,
    ) -> (AxumStatus, Json<Value>) {
        seen.lock().unwrap().push(form.clone());
        let right_secret = form.get("secret").map(String::as_str) == Some(SECRET);
        match form.get("response").map(String::as_str) {
            Some("broken") => (AxumStatus::INTERNAL_SERVER_ERROR, Json(json!({}))),
            Some("slow") => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                (AxumStatus::OK, Json(json!({"success": right_secret})))
            }
            Some("good") => (AxumStatus::OK, Json(json!({"success": right_secret}))),
            _ => (
                AxumStatus::OK,
                Json(json!({"success": false, "error-codes": ["invalid-input-response"]})),
            ),
        }
    }
    let seen = Seen::default();
    let router = Router::new()
        .route("/siteverify", post(siteverify))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/siteverify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

async fn app_with_captcha(verify_url: &str) -> TestApp {
    spawn_app_with(common::overrides(&[
        ("captcha.verify_url", json!(verify_url)),
        ("captcha.secret", json!(SECRET)),
        ("captcha.timeout_ms", json!(300)),
    ]))
    .await
}

async fn register(app: &TestApp, captcha: Option<&str>) -> reqwest::Response {
    let username = unique_name();
    let mut body = json!({
        "email": format!("{username}@example.com"),
        "username": username,
        "password": PASSWORD,
    });
    if let Some(token) = captcha {
        body["captcha_token"] = json!(token);
    }
    app.post_json("/api/v1/auth/register", body).await
}

#[tokio::test]
async fn registration_passes_with_a_right_answer_and_the_verifier_sees_it() {
    let (url, seen) = start_verifier().await;
    let app = app_with_captcha(&url).await;
    assert_eq!(
        register(&app, Some("good")).await.status(),
        StatusCode::CREATED
    );
    let forms = seen.lock().unwrap().clone();
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0]["secret"], SECRET);
    assert_eq!(forms[0]["response"], "good");
    assert_eq!(forms[0]["remoteip"], "127.0.0.1");
}

#[tokio::test]
async fn a_wrong_or_missing_answer_is_refused_and_no_user_is_created() {
    let (url, seen) = start_verifier().await;
    let app = app_with_captcha(&url).await;
    let username = unique_name();
    let email = format!("{username}@example.com");
    let response = app
        .post_json(
            "/api/v1/auth/register",
            json!({"email": email, "username": username, "password": PASSWORD, "captcha_token": "wrong"}),
        )
        .await;
    assert_detail(response, StatusCode::BAD_REQUEST, "Invalid CAPTCHA answer").await;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)")
        .bind(&email)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!exists);
    assert_detail(
        register(&app, None).await,
        StatusCode::BAD_REQUEST,
        "Invalid CAPTCHA answer",
    )
    .await;
    // A missing answer never reached the verifier.
    assert_eq!(seen.lock().unwrap().len(), 1);
    // An invalid body is reported before spending a verification.
    let response = app
        .post_json(
            "/api/v1/auth/register",
            json!({"email": "bad", "captcha_token": "good"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_verifier_that_is_down_broken_or_slow_is_a_503_or_504() {
    let (url, _) = start_verifier().await;
    let app = app_with_captcha(&url).await;

    let response = register(&app, Some("broken")).await;
    let body = json_of(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error_code"], "CAPTCHA_UNAVAILABLE");

    let started = Instant::now();
    let response = register(&app, Some("slow")).await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() < Duration::from_millis(1500));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "CAPTCHA_TIMEOUT");

    let closed_port = free_port();
    let app = app_with_captcha(&format!("http://127.0.0.1:{closed_port}/siteverify")).await;
    let response = register(&app, Some("good")).await;
    let body = json_of(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error_code"], "CAPTCHA_UNAVAILABLE");
    assert!(body["detail"].as_str().unwrap().contains("CAPTCHA"));
}

#[tokio::test]
async fn without_a_verifier_configured_no_answer_is_needed() {
    let app = common::spawn_app().await;
    assert_eq!(register(&app, None).await.status(), StatusCode::CREATED);
}
