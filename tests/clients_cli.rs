//! `tessera client create | list | rotate-secret | disable`, run as the real
//! binary against the test PostgreSQL and Redis.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{database_url, migrate, one_error_line, spawn_app, unique_name, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

/// Runs `tessera` on the test database (Redis: `REDIS_URL`, inherited).
async fn tessera(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env("DATABASE_URL", database_url())
        .output()
        .await
        .expect("run tessera")
}

/// The command's standard output, which must be one JSON object per line.
fn json_lines(output: &Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON object per line"))
        .collect()
}

fn json_object(output: &Output) -> Value {
    let mut lines = json_lines(output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.remove(0)
}

async fn create(args: &[&str]) -> Value {
    let args = [&["client", "create"], args].concat();
    json_object(&tessera(&args).await)
}

async fn list() -> Vec<Value> {
    json_lines(&tessera(&["client", "list"]).await)
}

/// The client `id` as `client list` shows it.
async fn listed(id: &str) -> Value {
    let clients = list().await;
    for client in &clients {
        assert!(client.get("client_secret").is_none(), "{client}");
    }
    clients
        .into_iter()
        .find(|client| client["client_id"] == id)
        .expect("the client is listed")
}

/// The audit events of `kind` about client `id`: written before the command
/// exited.
async fn audit_kinds(id: &str) -> Vec<String> {
    let pool = sqlx::PgPool::connect(&database_url()).await.unwrap();
    let kinds = sqlx::query_scalar(
        "SELECT kind FROM audit_events WHERE details->>'client_id' = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    kinds
}

async fn clients_named(name: &str) -> i64 {
    let pool = sqlx::PgPool::connect(&database_url()).await.unwrap();
    let count = sqlx::query_scalar("SELECT count(*) FROM oauth_clients WHERE name = $1")
        .bind(name)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    count
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a string")
}

#[tokio::test]
async fn a_confidential_client_is_created_listed_rotated_and_disabled() {
    migrate(&database_url()).await;
    let name = unique_name();
    let created = create(&[
        "--name",
        &name,
        "--scope",
        "orders:read",
        "--scope",
        "orders:write",
        "--audience",
        "orders",
        "--access-ttl",
        "300",
    ])
    .await;
    let id = text(&created["client_id"]).to_owned();
    let secret = text(&created["client_secret"]).to_owned();
    assert!(secret.len() >= 43, "256 bits: {secret}");
    assert_eq!(created["name"], name.as_str());
    assert_eq!(created["kind"], "confidential");
    assert_eq!(created["auth_method"], "client_secret_basic");
    assert_eq!(
        created["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(
        created["scopes"],
        serde_json::json!(["orders:read", "orders:write"])
    );
    assert_eq!(created["audiences"], serde_json::json!(["orders"]));
    assert_eq!(created["access_ttl_secs"], 300);
    assert_eq!(created["has_secret"], true);
    assert_eq!(created["disabled"], false);
    for field in [
        "redirect_uris",
        "post_logout_redirect_uris",
        "first_party",
        "dpop_bound",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    ] {
        assert!(created.get(field).is_some(), "{field} missing: {created}");
    }

    // Listed as created, without its secret.
    let mut shown = listed(&id).await;
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("client_secret");
    assert_eq!(shown, expected);

    let rotated = json_object(&tessera(&["client", "rotate-secret", &id]).await);
    assert_eq!(rotated.as_object().unwrap().len(), 2, "{rotated}");
    assert_eq!(rotated["client_id"], id.as_str());
    let new_secret = text(&rotated["client_secret"]);
    assert!(new_secret.len() >= 43);
    assert_ne!(new_secret, secret);
    shown = listed(&id).await;
    assert!(shown["previous_secret_expires_at"].is_string(), "{shown}");

    let disabled = json_object(&tessera(&["client", "disable", &id]).await);
    assert_eq!(disabled["client_id"], id.as_str());
    assert_eq!(disabled["disabled"], true);
    assert!(disabled.get("client_secret").is_none());
    assert_eq!(listed(&id).await["disabled"], true);

    // Each command's audit event is written before it exits.
    assert_eq!(
        audit_kinds(&id).await,
        ["client_created", "client_secret_rotated", "client_disabled"]
    );
}

#[tokio::test]
async fn a_public_client_gets_the_public_defaults_and_no_secret() {
    migrate(&database_url()).await;
    let name = unique_name();
    let created = create(&[
        "--name",
        &name,
        "--kind",
        "public",
        "--redirect-uri",
        "com.example.app:/cb",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--first-party",
        "--dpop-bound",
    ])
    .await;
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["auth_method"], "none");
    assert_eq!(
        created["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        created["redirect_uris"],
        serde_json::json!(["com.example.app:/cb", "http://127.0.0.1/cb"])
    );
    assert_eq!(created["has_secret"], false);
    assert_eq!(created["first_party"], true);
    assert_eq!(created["dpop_bound"], true);
    assert_eq!(created["access_ttl_secs"], Value::Null);

    // Nothing to rotate: one clear line, a failure exit, nothing changed.
    let id = text(&created["client_id"]);
    let output = tessera(&["client", "rotate-secret", id]).await;
    assert_eq!(output.status.code(), Some(1));
    let line = one_error_line(&output);
    assert!(line.contains("has no secret"), "{line}");
    assert_eq!(listed(id).await, created);
}

#[tokio::test]
async fn flags_that_break_a_rule_are_refused_in_the_rules_words() {
    migrate(&database_url()).await;
    let name = unique_name();
    for (flags, needle) in [
        (
            &["--redirect-uri", "http://app.example.com/cb"][..],
            "invalid value 'http://app.example.com/cb' for '--redirect-uri <URI>': must use https, http on a loopback address",
        ),
        (
            &["--redirect-uri", "https://app.example.com/cb#frag"],
            "must be an absolute URI without a fragment",
        ),
        (
            &["--redirect-uri", "https://*.example.com/cb"],
            "must not hold a wildcard",
        ),
        // A private-use scheme is for public clients only: the kind is read
        // after the URI.
        (
            &["--redirect-uri", "com.example.app:/cb"],
            "invalid value 'com.example.app:/cb' for '--redirect-uri <URI>': must use https",
        ),
        (
            &["--grant-type", "implicit"],
            "invalid value 'implicit' for '--grant-type <GRANT_TYPE>': must be one of: client_credentials",
        ),
        (
            &["--kind", "public", "--grant-type", "client_credentials", "--redirect-uri", "https://app.example.com/cb"],
            "client_credentials needs a confidential client",
        ),
        (
            &["--kind", "public", "--auth-method", "client_secret_basic"],
            "a public client authenticates with none",
        ),
        (&["--kind", "secret"], "must be one of: confidential, public"),
        (
            &["--auth-method", "private_key_jwt"],
            "private_key_jwt needs a jwks",
        ),
        (&["--scope", "a b"], "a scope is printable ASCII"),
        (&["--access-ttl", "0"], "must be between 1 and 86400"),
        (&["--audience", ""], "must not be empty"),
    ] {
        let args = [&["client", "create", "--name", name.as_str()], flags].concat();
        let output = tessera(&args).await;
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let line = one_error_line(&output);
        assert!(line.contains(needle), "{flags:?}: {line}");
    }
    let output = tessera(&["client", "create", "--name", " "]).await;
    assert!(one_error_line(&output).contains("'--name <NAME>': must not be empty"));
    assert_eq!(clients_named(&name).await, 0);
}

#[tokio::test]
async fn an_unknown_client_id_is_an_error() {
    migrate(&database_url()).await;
    let unknown = unique_name();
    for command in ["rotate-secret", "disable"] {
        let output = tessera(&["client", command, &unknown]).await;
        assert_eq!(output.status.code(), Some(1), "{command}");
        let line = one_error_line(&output);
        assert_eq!(line, format!("error: no client with id {unknown}"));
    }
    let output = tessera(&["client", "rotate-secret"]).await;
    assert_eq!(output.status.code(), Some(2));
}

/// A `client_credentials` token for `id` with `secret`.
async fn client_token(app: &TestApp, id: &str, secret: &str) -> reqwest::Response {
    app.post("/oauth/token")
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
}

/// Waits (boundedly) until `/verify` answers `status` for `token`: instances
/// see a registry change within a second.
async fn verify_becomes(app: &TestApp, token: &str, status: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let answer = app.verify(token).await.status();
        if answer == status {
            return;
        }
        assert!(Instant::now() < deadline, "/verify still answers {answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_client_made_on_the_command_line_gets_tokens_until_it_is_disabled() {
    let app = spawn_app().await;
    let created = create(&["--name", &unique_name(), "--scope", "orders:read"]).await;
    let id = text(&created["client_id"]);
    let first = text(&created["client_secret"]);

    // The running instance sees the new client within a second.
    let deadline = Instant::now() + Duration::from_secs(3);
    let response = loop {
        let response = client_token(&app, id, first).await;
        if response.status() == StatusCode::OK || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "orders:read");
    let token = text(&body["access_token"]).to_owned();
    app.assert_verify(&token, StatusCode::OK).await;

    // After a rotation both secrets work, the old one for its grace.
    let rotated = json_object(&tessera(&["client", "rotate-secret", id]).await);
    let second = text(&rotated["client_secret"]);
    let deadline = Instant::now() + Duration::from_secs(3);
    while client_token(&app, id, second).await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "the new secret is refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(client_token(&app, id, first).await.status(), StatusCode::OK);

    json_object(&tessera(&["client", "disable", id]).await);
    verify_becomes(&app, &token, StatusCode::UNAUTHORIZED).await;
    assert_ne!(
        client_token(&app, id, second).await.status(),
        StatusCode::OK
    );
}
