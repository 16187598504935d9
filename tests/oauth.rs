//! OAuth 2.0 for off-the-shelf clients and gateways: the token endpoint
//! (RFC 6749), introspection (RFC 7662), revocation (RFC 7009), server
//! metadata (RFC 8414), and access tokens checked by an independent JWT
//! implementation from the JWKS alone.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{
    assert_oauth_error, gateway_overrides, json_of, spawn_app, spawn_app_with, TestApp, TestUser,
    Tokens, GATEWAY_ID, GATEWAY_SECRET,
};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// Asserts a §5.1 success and returns the pair.
async fn assert_token_response(response: Response) -> Tokens {
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap_or_default()
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    Tokens::from_body(&body)
}

async fn password_grant(app: &TestApp, user: &TestUser) -> Tokens {
    assert_token_response(app.password_grant(&user.email, &user.password).await).await
}

async fn refresh_grant(app: &TestApp, refresh: &str) -> Response {
    app.refresh_grant(refresh).await
}

#[tokio::test]
async fn a_public_client_logs_in_with_the_password_grant_by_email_or_username() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let by_email = password_grant(&app, &user).await;
    app.assert_verify(&by_email.access, StatusCode::OK).await;
    let by_name = assert_token_response(
        app.oauth_form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", &user.username),
                ("password", &user.password),
                ("client_id", "some-mobile-app"),
                ("scope", "ignored"),
            ],
        )
        .await,
    )
    .await;
    app.assert_verify(&by_name.access, StatusCode::OK).await;
    assert_eq!(app.audit_count(user.id, "login", 2).await, 2);
}

#[tokio::test]
async fn a_wrong_password_is_invalid_grant() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response = app
        .password_grant(&user.email, "not the password at all")
        .await;
    let body = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(body["error_description"], "Incorrect username or password");
}

#[tokio::test]
async fn malformed_token_requests_get_the_rfc_6749_errors() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for (form, error) in [
        (vec![], "invalid_request"),
        (vec![("username", user.email.as_str())], "invalid_request"),
        (
            vec![("grant_type", "password"), ("username", &user.email)],
            "invalid_request",
        ),
        (vec![("grant_type", "refresh_token")], "invalid_request"),
        // (`client_credentials` without credentials is `invalid_client`,
        // 401: tests/oauth_clients.rs.)
        (vec![("grant_type", "implicit")], "unsupported_grant_type"),
        (
            vec![("grant_type", "authorization_code"), ("code", "x")],
            "invalid_request",
        ),
        (
            vec![("grant_type", "urn:example:made-up")],
            "unsupported_grant_type",
        ),
    ] {
        assert_oauth_error(
            app.oauth_form("/oauth/token", &form).await,
            StatusCode::BAD_REQUEST,
            error,
        )
        .await;
    }
    let repeated = app
        .post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&grant_type=refresh_token")
        .send()
        .await
        .unwrap();
    assert_oauth_error(repeated, StatusCode::BAD_REQUEST, "invalid_request").await;
    let json_body = app
        .post_json(
            "/oauth/token",
            json!({"grant_type": "password", "username": user.email, "password": user.password}),
        )
        .await;
    assert_oauth_error(json_body, StatusCode::BAD_REQUEST, "invalid_request").await;
    let wrong_method = app.get("/oauth/token").send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_refresh_grant_rotates_like_the_json_refresh() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let first = password_grant(&app, &user).await;
    let second = assert_token_response(refresh_grant(&app, &first.refresh).await).await;
    assert_ne!(second.refresh, first.refresh);
    app.assert_verify(&second.access, StatusCode::OK).await;
    // A retry inside the grace window (the response was lost) gets the same
    // successor, through either endpoint: one implementation.
    let retried = assert_token_response(refresh_grant(&app, &first.refresh).await).await;
    assert_eq!(retried.refresh, second.refresh);
    let json_retry: Value = app.refresh(&first.refresh).await.json().await.unwrap();
    assert_eq!(json_retry["refresh_token"], second.refresh.as_str());
    let third: Value = app.refresh(&second.refresh).await.json().await.unwrap();
    assert_token_response(refresh_grant(&app, third["refresh_token"].as_str().unwrap()).await)
        .await;
}

#[tokio::test]
async fn a_refresh_token_replayed_after_the_grace_window_ends_the_session_at_the_token_endpoint() {
    let app =
        spawn_app_with(Figment::new().merge(Serialized::default("session.reuse_grace_secs", 0)))
            .await;
    let user = app.new_user().await;
    let stolen = password_grant(&app, &user).await;
    let current = assert_token_response(refresh_grant(&app, &stolen.refresh).await).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let body = assert_oauth_error(
        refresh_grant(&app, &stolen.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        body["error_description"],
        "Invalid or expired refresh token"
    );
    assert_oauth_error(
        refresh_grant(&app, &current.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    app.assert_verify(&current.access, StatusCode::UNAUTHORIZED)
        .await;
    assert_eq!(
        app.audit_events(user.id, "refresh_reuse_detected")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn confidential_clients_must_prove_their_secret_at_the_token_endpoint() {
    let app = spawn_app_with(gateway_overrides()).await;
    let user = app.new_user().await;
    let grant = [
        ("grant_type", "password"),
        ("username", user.email.as_str()),
        ("password", user.password.as_str()),
    ];
    let basic = app
        .post("/oauth/token")
        .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
        .form(&grant)
        .send()
        .await
        .unwrap();
    assert_token_response(basic).await;
    let mut posted = grant.to_vec();
    posted.extend([("client_id", GATEWAY_ID), ("client_secret", GATEWAY_SECRET)]);
    assert_token_response(app.oauth_form("/oauth/token", &posted).await).await;

    let wrong_secret = app
        .post("/oauth/token")
        .basic_auth(GATEWAY_ID, Some("not the secret"))
        .form(&grant)
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong_secret.headers()["www-authenticate"],
        "Basic realm=\"tessera\""
    );
    assert_oauth_error(wrong_secret, StatusCode::UNAUTHORIZED, "invalid_client").await;
    for extra in [
        vec![("client_id", GATEWAY_ID)],
        vec![("client_id", GATEWAY_ID), ("client_secret", "wrong")],
        vec![("client_id", "stranger"), ("client_secret", "anything")],
    ] {
        let mut form = grant.to_vec();
        form.extend(extra);
        assert_oauth_error(
            app.oauth_form("/oauth/token", &form).await,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        )
        .await;
    }
    // Client authentication comes first: a bad client learns nothing of its grant.
    let bad_client_bad_grant = app
        .post("/oauth/token")
        .basic_auth(GATEWAY_ID, Some("wrong"))
        .form(&[("grant_type", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(
        bad_client_bad_grant,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    let both_methods = app
        .post("/oauth/token")
        .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
        .form(&posted)
        .send()
        .await
        .unwrap();
    assert_oauth_error(both_methods, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn introspection_describes_live_tokens_and_nothing_else() {
    let app = spawn_app_with(gateway_overrides()).await;
    let (user, tokens) = app.signed_in_user().await;

    let access = app.introspect(&tokens.access).await;
    let claims: Value = app.verify(&tokens.access).await.json().await.unwrap();
    assert_eq!(access["active"], true);
    for field in [
        "sub",
        "exp",
        "iat",
        "iss",
        "aud",
        "jti",
        "sid",
        "role",
        "subscription",
    ] {
        assert_eq!(access[field], claims[field], "{field}");
    }
    assert_eq!(access["token_type"], "Bearer");
    assert_eq!(access["username"], user.username.as_str());
    assert_eq!(access["role"], "REGULAR");
    assert_eq!(access["subscription"], "FREE");

    let refresh = app.introspect(&tokens.refresh).await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");
    assert_eq!(refresh["sub"], user.id.to_string());
    assert_eq!(refresh["sid"], claims["sid"]);
    assert_eq!(refresh["username"], user.username.as_str());
    assert_eq!(
        (refresh["iss"].as_str(), refresh["aud"].as_str()),
        (Some("tessera"), Some("tessera"))
    );
    let lifetime = refresh["exp"].as_u64().unwrap() - refresh["iat"].as_u64().unwrap();
    assert!((2_591_999..=2_592_000).contains(&lifetime), "{lifetime}");

    // Only the current refresh token is active; a rotated one is not.
    let rotated =
        common::Tokens::from_body(&app.refresh(&tokens.refresh).await.json().await.unwrap());
    assert_eq!(
        app.introspect(&tokens.refresh).await,
        json!({"active": false})
    );
    assert_eq!(app.introspect(&rotated.refresh).await["active"], true);

    for garbage in ["garbage", "a.b.c", &"A".repeat(86)] {
        assert_eq!(app.introspect(garbage).await, json!({"active": false}));
    }

    // Logout is seen at once, for both tokens of the session.
    app.post_json(
        "/api/v1/auth/logout",
        json!({"refresh_token": rotated.refresh}),
    )
    .await;
    assert_eq!(
        app.introspect(&rotated.access).await,
        json!({"active": false})
    );
    assert_eq!(
        app.introspect(&rotated.refresh).await,
        json!({"active": false})
    );
    assert_eq!(
        app.introspect(&tokens.access).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn introspection_is_only_for_gateway_clients_over_basic() {
    let app = spawn_app_with(gateway_overrides()).await;
    let (_, tokens) = app.signed_in_user().await;
    let form = [("token", tokens.access.as_str())];
    let anonymous = app.oauth_form("/oauth/introspect", &form).await;
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"tessera\""
    );
    assert_oauth_error(anonymous, StatusCode::UNAUTHORIZED, "invalid_client").await;
    for (id, secret) in [
        (GATEWAY_ID, "wrong"),
        ("stranger", GATEWAY_SECRET),
        (GATEWAY_ID, ""),
    ] {
        let response = app
            .post("/oauth/introspect")
            .basic_auth(id, Some(secret))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    let bearer = app
        .post("/oauth/introspect")
        .bearer_auth(&tokens.access)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_oauth_error(bearer, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let posted = app
        .oauth_form(
            "/oauth/introspect",
            &[
                ("token", &tokens.access),
                ("client_id", GATEWAY_ID),
                ("client_secret", GATEWAY_SECRET),
            ],
        )
        .await;
    assert_oauth_error(posted, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let no_token = app
        .post("/oauth/introspect")
        .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(no_token, StatusCode::BAD_REQUEST, "invalid_request").await;
    // With no gateway.clients configured, nobody may introspect.
    let closed = spawn_app().await;
    let response = closed
        .post("/oauth/introspect")
        .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn revoking_either_token_ends_its_session_and_unknown_tokens_are_fine() {
    let app = spawn_app_with(gateway_overrides()).await;
    let (user, by_refresh) = app.signed_in_user().await;
    let other = app.login(&user).await;
    let response = app
        .oauth_form(
            "/oauth/revoke",
            &[
                ("token", &by_refresh.refresh),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    app.assert_revoked(&by_refresh).await;
    assert_eq!(
        app.verify(&other.access).await.status(),
        StatusCode::OK,
        "other sessions live on"
    );

    let by_access = app.login(&user).await;
    let response = app
        .post("/oauth/revoke")
        .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
        .form(&[("token", by_access.access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.assert_refresh(&by_access.refresh, StatusCode::UNAUTHORIZED)
        .await;
    assert_eq!(
        app.introspect(&by_access.access).await,
        json!({"active": false})
    );
    assert_eq!(app.audit_count(user.id, "logout", 2).await, 2);

    for token in ["unknown", by_refresh.refresh.as_str(), &"A".repeat(86)] {
        let response = app.oauth_form("/oauth/revoke", &[("token", token)]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_oauth_error(
        app.oauth_form("/oauth/revoke", &[]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let wrong_secret = app
        .post("/oauth/revoke")
        .basic_auth(GATEWAY_ID, Some("wrong"))
        .form(&[("token", other.refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(wrong_secret, StatusCode::UNAUTHORIZED, "invalid_client").await;
    app.assert_verify(&other.access, StatusCode::OK).await;
}

#[tokio::test]
async fn metadata_points_clients_at_every_endpoint() {
    let app = spawn_app_with(
        Figment::new()
            .merge(Serialized::default(
                "server.public_url",
                "https://auth.example.com/",
            ))
            .merge(Serialized::default(
                "jwt.issuer",
                "https://auth.example.com",
            )),
    )
    .await;
    let response = app
        .get("/.well-known/oauth-authorization-server")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let metadata: Value = response.json().await.unwrap();
    assert_eq!(metadata["issuer"], "https://auth.example.com");
    assert_eq!(
        metadata["token_endpoint"],
        "https://auth.example.com/oauth/token"
    );
    assert_eq!(
        metadata["introspection_endpoint"],
        "https://auth.example.com/oauth/introspect"
    );
    assert_eq!(
        metadata["revocation_endpoint"],
        "https://auth.example.com/oauth/revoke"
    );
    assert_eq!(
        metadata["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    assert_eq!(
        metadata["grant_types_supported"],
        json!([
            "authorization_code",
            "password",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!([
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        metadata["token_endpoint_auth_signing_alg_values_supported"],
        json!(["EdDSA", "ES256"])
    );
    assert_eq!(
        metadata["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic"])
    );
    // A token issued here carries the advertised issuer.
    let (_, tokens) = app.signed_in_user().await;
    let claims: Value = app.verify(&tokens.access).await.json().await.unwrap();
    assert_eq!(claims["iss"], metadata["issuer"]);
}

/// Runs `tests/jwks_verify.py` (PyJWT): true when it accepts the token.
fn pyjwt_accepts(jwks: &Value, token: &str, issuer: &str, audience: &str) -> bool {
    let file = std::env::temp_dir().join(format!("tessera-jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, jwks.to_string()).unwrap();
    let output = Command::new(common::venv_python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jwks_verify.py"))
        .args([file.to_str().unwrap(), token, issuer, audience])
        .output()
        .expect("the suite's Python runs (scripts/test-deps.d/python-venv.sh makes it)");
    std::fs::remove_file(&file).ok();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "PyJWT is missing: run scripts/test-deps.d/python-venv.sh ({stderr})"
    );
    output.status.success()
}

#[tokio::test]
async fn pyjwt_verifies_access_tokens_from_the_published_jwks_alone() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let tokens = password_grant(&app, &user).await;
    let jwks = app.jwks().await;
    assert!(pyjwt_accepts(&jwks, &tokens.access, "tessera", "tessera"));
    assert!(!pyjwt_accepts(
        &jwks,
        &tokens.access,
        "tessera",
        "another-api"
    ));
    assert!(!pyjwt_accepts(
        &jwks,
        &tokens.access,
        "someone-else",
        "tessera"
    ));
    let mut tampered = tokens.access.clone().into_bytes();
    let middle = tokens.access.find('.').unwrap() + 8;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    assert!(!pyjwt_accepts(
        &jwks,
        &String::from_utf8(tampered).unwrap(),
        "tessera",
        "tessera"
    ));
    assert!(!pyjwt_accepts(
        &json!({"keys": []}),
        &tokens.access,
        "tessera",
        "tessera"
    ));
}

#[tokio::test]
async fn an_unreachable_redis_is_a_503_at_the_oauth_endpoints_not_an_oauth_error() {
    let healthy = spawn_app_with(gateway_overrides()).await;
    let (_, tokens) = healthy.signed_in_user().await;
    let app = spawn_app_with(
        gateway_overrides()
            .merge(Serialized::default("redis.url", "redis://127.0.0.1:1"))
            .merge(Serialized::default("redis.timeout_ms", 500)),
    )
    .await;
    let introspection = app
        .post("/oauth/introspect")
        .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
        .form(&[("token", tokens.access.as_str())])
        .send()
        .await
        .unwrap();
    for response in [
        introspection,
        refresh_grant(&app, &tokens.refresh).await,
        app.oauth_form("/oauth/revoke", &[("token", &tokens.refresh)])
            .await,
    ] {
        let body = json_of(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(body["error_code"], "REDIS_UNAVAILABLE");
    }
    healthy.assert_verify(&tokens.access, StatusCode::OK).await;
}
