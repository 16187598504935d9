//! Off-the-shelf OAuth clients drive tessera's grants: authlib (Python)
//! fetches client credentials tokens with `client_secret_basic`,
//! `client_secret_post` and `private_key_jwt` (keys made on the Python side,
//! Ed25519 and P-256, of which tessera only ever sees the public JWKs), and
//! exchanges a user's token; PyJWT checks every access token against the
//! published JWKS alone. `tests/python/oauth_authlib.py` reports what the
//! libraries saw as JSON and these tests judge it.
//!
//! The Python side runs in the suite's virtualenv, made by
//! `scripts/test-deps.d/python-venv.sh`: `$TESSERA_VENV` (which
//! `scripts/test.sh` exports), else `.dev/venv` in this repository.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::pages::spawn_app_at_own_url;
use common::{venv_python, TestApp, Tokens};
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/oauth_authlib.py");
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Longest one run of the script may take (a few HTTP calls on loopback).
const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one story of the script and returns the JSON it printed. Async, so
/// the app (served by this test's runtime) answers the script meanwhile.
async fn python(story: &str, args: Value) -> Value {
    let interpreter = venv_python();
    assert!(
        interpreter.exists(),
        "no test virtualenv at {}: run scripts/test-deps.d/python-venv.sh (make test does)",
        interpreter.display()
    );
    let run = tokio::process::Command::new(&interpreter)
        .arg(SCRIPT)
        .arg(story)
        .arg(args.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PYTHON_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("{story} took over {PYTHON_TIMEOUT:?}"))
        .expect("the virtualenv's python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "a Python test client is missing: run scripts/test-deps.d/python-venv.sh ({stderr})"
    );
    assert!(output.status.success(), "{story} failed:\n{stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{story} printed no JSON ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// An app whose public URL is its real address: the token endpoint that
/// discovery names (and that an assertion's `aud` names) is where it listens.
async fn app_and_admin() -> (TestApp, Tokens) {
    let app = spawn_app_at_own_url(Figment::new()).await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    (app, admin)
}

/// What every client credentials story checks of the token authlib got:
/// the §5.1 answer, the check at `/verify` made by authlib's own session,
/// RFC 9068 as PyJWT read it, and tessera's `/verify` for the scope.
async fn assert_client_token(app: &TestApp, result: &Value, client_id: &str, scope: &str) {
    let token = &result["token"];
    assert_eq!(token["token_type"], "Bearer", "{result}");
    assert_eq!(token["scope"], scope, "{result}");
    assert_eq!(token["expires_in"], 900, "{result}");
    assert!(
        token["expires_at"].is_u64(),
        "authlib read no expiry: {result}"
    );
    assert!(token.get("refresh_token").is_none(), "{result}");

    let by_authlib = &result["verify"];
    assert_eq!(by_authlib["status"], 200, "{result}");
    assert_eq!(by_authlib["x_client_id"], client_id, "{result}");
    assert_eq!(by_authlib["x_scope"], scope, "{result}");

    let header = &result["pyjwt"]["header"];
    assert_eq!(header["typ"], "at+jwt", "{result}");
    assert_eq!(header["alg"], "EdDSA", "{result}");
    let claims = &result["pyjwt"]["claims"];
    assert_eq!(claims["client_id"], client_id, "{claims}");
    assert_eq!(claims["sub"], client_id, "{claims}");
    assert_eq!(claims["scope"], scope, "{claims}");
    assert_eq!(claims["iss"], app.config.jwt.issuer.as_str(), "{claims}");
    assert_eq!(claims["aud"], app.config.jwt.audience.as_str(), "{claims}");
    assert!(claims["jti"].is_string(), "{claims}");

    let access = token["access_token"].as_str().unwrap();
    let verified = app.verify_with(&format!("?scope={scope}"), access).await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(verified.headers()["x-client-id"], client_id);
    let lacking = app.verify_with("?scope=not-granted", access).await;
    assert_eq!(lacking.status(), StatusCode::FORBIDDEN);
}

/// authlib raised its `OAuthError` with RFC 6749's `error` code.
fn assert_authlib_refused(outcome: &Value, error: &str) {
    assert_eq!(outcome["raised"], "OAuthError", "{outcome}");
    assert_eq!(outcome["error"], error, "{outcome}");
    assert!(outcome.get("token").is_none(), "{outcome}");
}

/// Story 1 and 2: a secret, sent the way `method` says.
async fn secret_story(method: &str) -> Value {
    let (app, admin) = app_and_admin().await;
    let (id, secret) = app
        .register_client(
            &admin.access,
            json!({
                "name": format!("reports-{method}"),
                "auth_method": method,
                "scopes": ["reports:read", "reports:write"],
                "grant_types": ["client_credentials"],
            }),
        )
        .await;
    let secret = secret.expect("a client with a secret method gets a secret");
    let result = python(
        "secret",
        json!({
            "base_url": app.address,
            "client_id": id,
            "client_secret": secret,
            "method": method,
            "scope": "reports:read",
            "issuer": app.config.jwt.issuer,
            "audience": app.config.jwt.audience,
        }),
    )
    .await;
    assert_client_token(&app, &result, &id, "reports:read").await;
    assert_authlib_refused(&result["wrong_secret"], "invalid_client");
    let supported = result["methods_supported"].as_array().unwrap();
    assert!(supported.contains(&json!(method)), "{result}");
    result
}

#[tokio::test]
async fn authlib_gets_a_client_credentials_token_with_client_secret_basic() {
    let result = secret_story("client_secret_basic").await;
    // authlib sent the secret in the header, not the form.
    assert_eq!(result["sent"]["authorization"], "Basic", "{result}");
    assert_eq!(
        result["sent"]["form_keys"],
        json!(["grant_type", "scope"]),
        "{result}"
    );
}

#[tokio::test]
async fn authlib_gets_a_client_credentials_token_with_client_secret_post() {
    let result = secret_story("client_secret_post").await;
    // authlib sent the secret in the form, no Authorization header.
    assert_eq!(result["sent"]["authorization"], "", "{result}");
    assert_eq!(
        result["sent"]["form_keys"],
        json!(["client_id", "client_secret", "grant_type", "scope"]),
        "{result}"
    );
}

/// A folder for the keys the script makes, removed when the test ends.
struct KeyDir(PathBuf);

impl KeyDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("tessera-authlib-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).expect("a key folder");
        KeyDir(dir)
    }

    fn pem(&self, name: &str) -> String {
        self.0
            .join(format!("{name}.pem"))
            .to_str()
            .unwrap()
            .to_owned()
    }
}

impl Drop for KeyDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

#[tokio::test]
async fn authlib_signs_in_with_keys_made_in_python_and_an_assertion_works_once() {
    let (app, admin) = app_and_admin().await;
    let keys = KeyDir::new();
    let public = python("keygen", json!({"dir": keys.0})).await;
    let token_endpoint = format!(
        "{}/oauth/token",
        app.config.server.public_url.trim_end_matches('/')
    );

    // (name, JWK, alg, the other key) for an Ed25519 and a P-256 client.
    for (name, alg, other, other_alg) in [
        ("ed25519", "EdDSA", "p256", "ES256"),
        ("p256", "ES256", "ed25519", "EdDSA"),
    ] {
        let jwk = &public[name];
        assert_eq!(jwk["alg"], alg, "{public}");
        assert!(
            jwk.get("d").is_none(),
            "a private key left Python: {public}"
        );
        let kid = jwk["kid"].as_str().unwrap();
        let (id, secret) = app
            .register_client(
                &admin.access,
                json!({
                    "name": format!("python-{name}-signer"),
                    "auth_method": "private_key_jwt",
                    "jwks": {"keys": [jwk]},
                    "scopes": ["jobs:run"],
                    "grant_types": ["client_credentials"],
                }),
            )
            .await;
        assert!(secret.is_none(), "a key client has no secret");

        let result = python(
            "private_key",
            json!({
                "base_url": app.address,
                "client_id": id,
                "key": keys.pem(name),
                "alg": alg,
                "kid": kid,
                "scope": "jobs:run",
                "other_key": keys.pem(other),
                "other_alg": other_alg,
                "issuer": app.config.jwt.issuer,
                "audience": app.config.jwt.audience,
            }),
        )
        .await;
        assert_client_token(&app, &result, &id, "jobs:run").await;
        // authlib proved the client with an assertion alone.
        let sent = &result["sent"];
        assert_eq!(sent["authorization"], "", "{result}");
        let form_keys = sent["form_keys"].as_array().unwrap();
        for key in ["client_assertion", "client_assertion_type", "grant_type"] {
            assert!(form_keys.contains(&json!(key)), "{key}: {result}");
        }
        assert!(!form_keys.contains(&json!("client_secret")), "{result}");

        // The assertion authlib made: RFC 7523 §3 for this client.
        let header = &result["assertion_header"];
        assert_eq!(
            (header["alg"].as_str(), header["kid"].as_str()),
            (Some(alg), Some(kid))
        );
        let claims = &result["assertion_claims"];
        assert_eq!(claims["iss"], id.as_str(), "{claims}");
        assert_eq!(claims["sub"], id.as_str(), "{claims}");
        assert_eq!(claims["aud"], token_endpoint.as_str(), "{claims}");
        assert!(claims["jti"].is_string(), "{claims}");

        // Sent twice by hand: once a token, then a replay.
        let replay = result["replay"].as_array().unwrap();
        assert_eq!(replay[0]["status"], 200, "{result}");
        assert_eq!(replay[0]["body"]["scope"], "jobs:run", "{result}");
        assert_eq!(replay[1]["status"], 401, "{result}");
        assert_eq!(replay[1]["body"]["error"], "invalid_client", "{result}");
        assert!(replay[1]["body"].get("access_token").is_none(), "{result}");

        // The other client's key does not sign for this one.
        assert_authlib_refused(&result["other_key"], "invalid_client");
    }
}

#[tokio::test]
async fn authlib_exchanges_a_users_token_for_a_downstream_service() {
    let (app, admin) = app_and_admin().await;
    let (id, secret) = app
        .register_client(
            &admin.access,
            json!({
                "name": "orders-gateway",
                "grant_types": [TOKEN_EXCHANGE],
                "scopes": ["orders:read", "orders:write"],
                "audiences": ["orders"],
            }),
        )
        .await;
    let (user, tokens) = app.signed_in_user().await;
    let result = python(
        "exchange",
        json!({
            "base_url": app.address,
            "client_id": id,
            "client_secret": secret.expect("a confidential client gets a secret"),
            "subject_token": tokens.access,
            "audience": "orders",
            "scope": "orders:read",
            "issuer": app.config.jwt.issuer,
        }),
    )
    .await;
    let token = &result["token"];
    assert_eq!(token["issued_token_type"], ACCESS_TOKEN_TYPE, "{result}");
    assert_eq!(token["token_type"], "Bearer", "{result}");
    assert_eq!(token["scope"], "orders:read", "{result}");
    assert_eq!(result["sent"]["authorization"], "Basic", "{result}");
    assert_eq!(result["pyjwt"]["header"]["typ"], "at+jwt", "{result}");
    let claims = &result["pyjwt"]["claims"];
    assert_eq!(claims["sub"], user.id.to_string(), "{claims}");
    assert_eq!(claims["aud"], "orders", "{claims}");
    assert_eq!(claims["client_id"], id.as_str(), "{claims}");
    assert_eq!(claims["act"]["sub"], id.as_str(), "{claims}");
    assert_eq!(claims["scope"], "orders:read", "{claims}");

    let exchanged = token["access_token"].as_str().unwrap();
    let verified = app
        .verify_with("?audience=orders&scope=orders:read", exchanged)
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(
        verified.headers()["x-user-id"],
        user.id.to_string().as_str()
    );
    // It dies with the user's session.
    let logout = app
        .post_with_bearer("/api/v1/auth/logout", &tokens.access)
        .await;
    assert!(logout.status().is_success());
    let dead = app.verify_with("?audience=orders", exchanged).await;
    assert_eq!(dead.status(), StatusCode::UNAUTHORIZED);
}
