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
    let (_, tokens) = app.signed_in_user().await;
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
    let (user, tokens) = healthy.signed_in_user().await;
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

/// Asserts `answer` may not be kept by any cache: `Cache-Control: no-store`
/// and, for HTTP/1.0 caches, `Pragma: no-cache`.
fn assert_not_cached(what: &str, headers: &reqwest::header::HeaderMap) {
    assert_eq!(
        headers.get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{what}"
    );
    assert_eq!(
        headers.get("pragma").map(|v| v.to_str().unwrap()),
        Some("no-cache"),
        "{what}"
    );
}

/// Every answer that carries a token or a secret (or claims about one) may
/// not be cached, on every route that gives one: a shared cache or the
/// browser's history would hand it to the next reader.
#[tokio::test]
async fn every_answer_carrying_a_token_or_a_secret_is_never_cached() {
    let app = spawn_app_with(
        common::gateway_overrides().merge(Serialized::default("load.enabled", true)),
    )
    .await;
    let (admin, admin_tokens) = app.new_user_with_role("ADMIN").await;
    let user = app.new_user().await;
    let mut answers: Vec<(&str, reqwest::Response)> = Vec::new();

    let login = app
        .login_json(json!({"username": user.username, "password": user.password}))
        .await;
    let tokens = common::Tokens::from_body(&login.json::<Value>().await.unwrap());
    answers.push((
        "login (JSON)",
        app.login_json(json!({"username": user.username, "password": user.password}))
            .await,
    ));
    answers.push((
        "login (form)",
        app.post("/api/v1/auth/login")
            .form(&[("username", &user.username), ("password", &user.password)])
            .send()
            .await
            .unwrap(),
    ));
    let refreshed = app.refresh(&tokens.refresh).await;
    let refreshed = common::Tokens::from_body(&refreshed.json::<Value>().await.unwrap());
    answers.push(("refresh", app.refresh(&refreshed.refresh).await));
    answers.push(("verify", app.verify(&refreshed.access).await));
    answers.push((
        "users/me",
        app.get_with_bearer("/api/v1/users/me", &refreshed.access)
            .await,
    ));
    let grant = app.password_grant(&user.username, &user.password).await;
    let granted = common::Tokens::from_body(&grant.json::<Value>().await.unwrap());
    answers.push((
        "oauth password grant",
        app.password_grant(&user.username, &user.password).await,
    ));
    answers.push((
        "oauth refresh grant",
        app.refresh_grant(&granted.refresh).await,
    ));
    answers.push((
        "introspection",
        app.post("/oauth/introspect")
            .basic_auth(common::GATEWAY_ID, Some(common::GATEWAY_SECRET))
            .form(&[("token", &admin_tokens.access)])
            .send()
            .await
            .unwrap(),
    ));
    answers.push((
        "load seed (passwords in every line)",
        app.seed_over_http(&admin_tokens.access, json!({"users": 1}))
            .await,
    ));
    answers.push((
        "a refused login",
        app.login_json(json!({"username": user.username, "password": "wrong wrong wrong"}))
            .await,
    ));
    for (what, answer) in answers {
        assert!(
            answer.status().is_success() || what.starts_with("a refused"),
            "{what}: {}",
            answer.status()
        );
        assert_not_cached(what, answer.headers());
    }

    // The pages: a reset link's token in the form, the console's cookie.
    let reset = app
        .get("/auth/reset-password?token=anything")
        .send()
        .await
        .unwrap();
    assert_not_cached("the reset-password page", reset.headers());
    let mut console = common::pages::Visitor::new(&app);
    let signed_in = console.sign_in(&admin).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert!(!signed_in.set_cookies().is_empty());
    assert_not_cached("the console sign-in", &signed_in.headers);
}
