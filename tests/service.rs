//! Service-wide behaviour: status and health, published keys, error shapes,
//! request ids, and answers while PostgreSQL or Redis is unreachable.

mod common;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{assert_detail, json_of, spawn_app, spawn_app_with, PASSWORD};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn root_and_health_report_ok() {
    let app = spawn_app().await;
    let root = app.get_json("/").await;
    assert_eq!(root, json!({"status": "ok"}));
    let live = app.get_json("/health/live").await;
    assert_eq!(live["status"], "ok");
    assert_eq!(live["version"], env!("CARGO_PKG_VERSION"));
    let response = app.get("/health/ready").send().await.unwrap();
    let ready = json_of(response, StatusCode::OK).await;
    assert_eq!(
        ready,
        json!({"status": "ok", "components": {"database": "ok", "redis": "ok"}})
    );
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_have_json_errors() {
    let app = spawn_app().await;
    assert_detail(
        app.get("/nope").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "Not Found",
    )
    .await;
    assert_detail(
        app.get("/api/v1/auth/login").send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    )
    .await;
    assert_detail(
        app.post("/api/v1/auth/verify").send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    )
    .await;
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let big =
        json!({"email": "a@example.com", "username": "someone", "password": "x".repeat(70 * 1024)});
    let response = app.post_json("/api/v1/auth/register", big).await;
    let body = json_of(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(body["detail"].as_str().unwrap().contains("64 KiB"));
    let fits =
        json!({"email": "not-an-email", "username": "someone", "password": "x".repeat(60 * 1024)});
    assert_eq!(
        app.post_json("/api/v1/auth/register", fits).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_clients() {
    let app = spawn_app().await;
    let response = app.get("/").send().await.unwrap();
    assert!(!response.headers()["x-request-id"].is_empty());
    let response = app
        .get("/nope")
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn access_tokens_verify_against_the_published_jwks_alone() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let tokens = app.login(&user).await;
    let response = app.get("/.well-known/jwks.json").send().await.unwrap();
    assert!(response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let jwks: Value = response.json().await.unwrap();
    let parts: Vec<&str> = tokens.access.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("signing key is published");
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
            jwk["use"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("sig"))
    );
    // Verified with ed25519-dalek directly: no code shared with the signer.
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("signature verifies");
    let mut tampered = format!("{}.{}", parts[0], parts[1]).into_bytes();
    tampered[parts[0].len() + 5] ^= 1;
    assert!(key.verify(&tampered, &signature).is_err());
}

#[tokio::test]
async fn an_unreachable_database_is_a_quick_503_not_a_hang() {
    let overrides = Figment::new()
        .merge(Serialized::default(
            "database.url",
            "postgres://postgres@127.0.0.1:1/none",
        ))
        .merge(Serialized::default("database.acquire_timeout_ms", 500));
    let app = spawn_app_with(overrides).await;
    let start = Instant::now();
    let response = app
        .register("someone@example.com", "someone_new", PASSWORD)
        .await;
    let body = json_of(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error_code"], "DB_UNAVAILABLE");
    assert!(body["detail"].as_str().is_some());
    let login = app
        .login_json(json!({"email": "someone@example.com", "password": PASSWORD}))
        .await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    let ready = app.get("/health/ready").send().await.unwrap();
    let ready = json_of(ready, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        ready["components"],
        json!({"database": "unavailable", "redis": "ok"})
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_a_quick_503_not_a_hang() {
    let healthy = spawn_app().await;
    let user = healthy.new_user().await;
    let tokens = healthy.login(&user).await;
    let overrides = Figment::new()
        .merge(Serialized::default("redis.url", "redis://127.0.0.1:1"))
        .merge(Serialized::default("redis.timeout_ms", 500));
    let app = spawn_app_with(overrides).await;
    let start = Instant::now();
    for response in [
        app.login_json(json!({"email": user.email, "password": PASSWORD}))
            .await,
        app.refresh(&tokens.refresh).await,
        app.verify(&tokens.access).await,
    ] {
        let body = json_of(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(body["error_code"], "REDIS_UNAVAILABLE");
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    let ready = app.get_json("/health/ready").await;
    assert_eq!(
        ready["components"],
        json!({"database": "ok", "redis": "unavailable"})
    );
}
