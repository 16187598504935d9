//! A Rust service embedding `tessera-verify` takes tessera's DPoP-bound
//! access tokens (RFC 9449) the way tessera's own resources do: only as
//! `Authorization: DPoP` with a fresh proof by the token's key for the
//! service's own URL, each proof once; unbound tokens pass as `Bearer` as
//! before. A real tessera (PostgreSQL, Redis) issues the tokens and
//! publishes the keys and the revocation feed; proofs are signed by
//! jsonwebtoken with Ed25519 keys made here, as an app would.

mod common;

use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::dpop::AppKey;
use common::pages::spawn_app_at_own_url;
use common::revocations::{feed_overrides, verifier_config};
use common::{TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_verify::{DpopError, Token, Verifier, VerifyLayer};

/// A tessera whose public URL is its own address (so its login proofs name
/// it) and which serves the revocation feed to the gateway client.
async fn tessera() -> TestApp {
    spawn_app_at_own_url(feed_overrides()).await
}

/// Logs `user` in with a proof by `key`: the login's answer.
async fn bound_login(app: &TestApp, user: &TestUser, key: &AppKey) -> Value {
    let response = app
        .post("/api/v1/auth/login")
        .header(
            "DPoP",
            key.proof_for("POST", &app.url("/api/v1/auth/login"), None),
        )
        .json(&json!({ "email": user.email, "password": user.password }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A JWT's claims, decoded (no check: tessera signed it).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has claims");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A service embedding tessera-verify at its own address, which is its
/// configured public URL: `GET /orders/{id}` through the extractor,
/// `GET /api/items` through the layer in a nested router; both answer the
/// caller's user id.
struct Service {
    url: String,
    http: reqwest::Client,
}

impl Service {
    async fn start(app: &TestApp) -> Service {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut config = verifier_config(&app.address);
        config.public_url = Some(url.clone());
        let verifier = Verifier::start(config).await.expect("verifier starts");
        let who = |token: Token| async move {
            token.user_id().map(|id| id.to_string()).unwrap_or_default()
        };
        let items = Router::new()
            .route(
                "/items",
                get(|Extension(token): Extension<Token>| async move {
                    token.user_id().map(|id| id.to_string()).unwrap_or_default()
                }),
            )
            .route_layer(VerifyLayer::new(verifier.clone()));
        let service = Router::new()
            .route("/orders/{id}", get(who))
            .nest("/api", items)
            .with_state(verifier);
        tokio::spawn(async move { axum::serve(listener, service).await });
        Service {
            url,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `GET path` with `Authorization: {scheme} {token}` and `proof`, if
    /// any, as the `DPoP` header.
    async fn get(
        &self,
        path: &str,
        scheme: &str,
        token: &str,
        proof: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .get(self.url(path))
            .header("Authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send().await.expect("the service answers")
    }
}

/// Asserts a 401 with RFC 9449's challenge naming `why`, and the crate's
/// `{"detail"}` saying it.
async fn assert_proof_refused(response: reqwest::Response, why: DpopError, what: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(r#"DPoP error="invalid_dpop_proof""#),
        "{what}: {challenge}"
    );
    assert!(
        challenge.contains(&format!(r#"error_description="{}""#, why.words())),
        "{what}: {challenge}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"], why.words(), "{what}");
}

#[tokio::test]
async fn a_bound_token_from_tessera_passes_the_service_only_with_a_fresh_proof_by_its_key() {
    let app = tessera().await;
    let service = Service::start(&app).await;
    let user = app.new_user().await;
    let (owner, thief) = (AppKey::new(), AppKey::new());
    let pair = bound_login(&app, &user, &owner).await;
    assert_eq!(pair["token_type"], "DPoP");
    let access = pair["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&access)["cnf"]["jkt"], owner.jkt());
    let order = service.url("/orders/7");

    // A fresh proof by the owner's key for this request: admitted.
    let proof = owner.proof_for("GET", &order, Some(&access));
    let answer = service
        .get("/orders/7", "DPoP", &access, Some(&proof))
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.text().await.unwrap(), user.id.to_string());

    let refusals = [
        (
            "the same proof again",
            "DPoP",
            Some(proof),
            DpopError::Replayed,
        ),
        (
            "a proof by another key",
            "DPoP",
            Some(thief.proof_for("GET", &order, Some(&access))),
            DpopError::WrongKey,
        ),
        (
            "a proof for another URI",
            "DPoP",
            Some(owner.proof_for("GET", &service.url("/orders/8"), Some(&access))),
            DpopError::WrongUri,
        ),
        (
            // The same path at tessera: a proof made for another service
            // is no good here.
            "a proof for tessera's URL",
            "DPoP",
            Some(owner.proof_for("GET", &app.url("/orders/7"), Some(&access))),
            DpopError::WrongUri,
        ),
        (
            "a proof for another method",
            "DPoP",
            Some(owner.proof_for("DELETE", &order, Some(&access))),
            DpopError::WrongMethod,
        ),
        (
            "a proof without the token's hash",
            "DPoP",
            Some(owner.proof_for("GET", &order, None)),
            DpopError::WrongAth,
        ),
        ("no proof", "DPoP", None, DpopError::Missing),
        (
            "the bound token as Bearer, with a good proof",
            "Bearer",
            Some(owner.proof_for("GET", &order, Some(&access))),
            DpopError::Missing,
        ),
        (
            "the bound token as Bearer",
            "Bearer",
            None,
            DpopError::Missing,
        ),
    ];
    for (what, scheme, proof, why) in refusals {
        let answer = service
            .get("/orders/7", scheme, &access, proof.as_deref())
            .await;
        assert_proof_refused(answer, why, what).await;
    }

    // Behind the layer, in a nested router: the proof names the whole path
    // the client called, and the query is no part of it.
    let items = service.url("/api/items");
    let proof = owner.proof_for("GET", &items, Some(&access));
    let answer = service
        .get("/api/items?page=2", "DPoP", &access, Some(&proof))
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.text().await.unwrap(), user.id.to_string());
    let answer = service
        .get("/api/items", "DPoP", &access, Some(&proof))
        .await;
    assert_proof_refused(answer, DpopError::Replayed, "replayed behind the layer").await;
    let answer = service
        .get(
            "/api/items",
            "Bearer",
            &access,
            Some(&owner.proof_for("GET", &items, Some(&access))),
        )
        .await;
    assert_proof_refused(answer, DpopError::Missing, "Bearer behind the layer").await;

    // The key is no pass past a revocation: once the owner logs out, the
    // feed refuses the token whatever proof goes with it.
    let logout = app
        .post("/api/v1/auth/logout")
        .header(
            "DPoP",
            owner.proof_for("POST", &app.url("/api/v1/auth/logout"), None),
        )
        .json(&json!({ "refresh_token": pair["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let mut status = StatusCode::OK;
    for _ in 0..100 {
        let proof = owner.proof_for("GET", &order, Some(&access));
        status = service
            .get("/orders/7", "DPoP", &access, Some(&proof))
            .await
            .status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "still admitted after logout"
    );
}

#[tokio::test]
async fn an_unbound_token_from_tessera_still_passes_the_service_as_bearer() {
    let app = tessera().await;
    let service = Service::start(&app).await;
    let (user, tokens) = app.signed_in_user().await;
    assert!(claims_of(&tokens.access).get("cnf").is_none());

    for path in ["/orders/7", "/api/items"] {
        let answer = service.get(path, "Bearer", &tokens.access, None).await;
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        assert_eq!(answer.text().await.unwrap(), user.id.to_string());
    }
    // A stray DPoP header changes nothing for a bearer token.
    let key = AppKey::new();
    let proof = key.proof_for("GET", &service.url("/orders/7"), Some(&tokens.access));
    let answer = service
        .get("/orders/7", "Bearer", &tokens.access, Some(&proof))
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    // Sent as DPoP, it claims a key binding it does not have.
    let answer = service
        .get("/orders/7", "DPoP", &tokens.access, Some(&proof))
        .await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers()["www-authenticate"], "Bearer");
    // No token at all: the challenge it always was.
    let answer = service
        .http
        .get(service.url("/orders/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers()["www-authenticate"], "Bearer");
}
