//! Logging in by form or JSON, by email or username, and the ways it fails.

mod common;

use common::{assert_detail, error_locs, json_of, spawn_app, spawn_app_with, Tokens, PASSWORD};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn assert_token_response(body: &Value) {
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_expires_in"], 2_592_000);
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(
        body["refresh_token"].as_str().unwrap().len() >= 43,
        "≥ 256 bits, base64url"
    );
}

#[tokio::test]
async fn the_oauth2_password_form_accepts_an_email_or_a_username() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for name in [
        user.email.to_uppercase(),
        user.username.clone(),
        user.username.to_uppercase(),
    ] {
        let response = app
            .post("/api/v1/auth/login")
            .form(&[
                ("username", name.as_str()),
                ("password", PASSWORD),
                ("grant_type", "password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert_token_response(&response.json().await.unwrap());
    }
}

#[tokio::test]
async fn json_login_accepts_email_or_username() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for body in [
        json!({"email": user.email, "password": PASSWORD}),
        json!({"username": user.username, "password": PASSWORD}),
    ] {
        let response = app.login_json(body).await;
        let body = json_of(response, StatusCode::OK).await;
        assert_token_response(&body);
        let tokens = Tokens::from_body(&body);
        app.assert_verify(&tokens.access, StatusCode::OK).await;
    }
    assert!(!app.audit_events(user.id, "login").await.is_empty());
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let wrong = app
        .login_json(json!({"email": user.email, "password": "not the password"}))
        .await;
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    assert_detail(
        wrong,
        StatusCode::UNAUTHORIZED,
        "Incorrect username or password",
    )
    .await;
    app.assert_login_refused(
        json!({"email": "nobody-here@example.com", "password": PASSWORD}),
        StatusCode::UNAUTHORIZED,
        "Incorrect username or password",
    )
    .await;
    let events = app.audit_events(user.id, "login_failed").await;
    assert_eq!(events[0]["details"]["reason"], "wrong_password");
}

#[tokio::test]
async fn an_unknown_user_costs_as_much_time_as_a_wrong_password() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let attempt = |email: String| {
        let app = &app;
        async move {
            let start = std::time::Instant::now();
            let response = app
                .login_json(json!({"email": email, "password": "not the password"}))
                .await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            start.elapsed().as_secs_f64()
        }
    };
    // Interleaved, so both see the same load from tests running alongside.
    let mut ratios = Vec::new();
    for _ in 0..9 {
        let known = attempt(user.email.clone()).await;
        let unknown = attempt("nobody-at-all@example.com".into()).await;
        ratios.push(unknown / known);
    }
    ratios.sort_by(f64::total_cmp);
    // Both pay one argon2 verify; without the dummy verify an unknown user
    // would answer in a small fraction of the time.
    let median = ratios[ratios.len() / 2];
    assert!(median > 0.5, "unknown/known latency ratios {ratios:?}");
}

#[tokio::test]
async fn a_blocked_user_is_refused_after_the_password_checks_out() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.update_user(user.id, "is_blocked = true").await;
    app.assert_login_refused(
        json!({"email": user.email, "password": PASSWORD}),
        StatusCode::FORBIDDEN,
        "User account is blocked.",
    )
    .await;
    let wrong = app
        .login_json(json!({"email": user.email, "password": "not the password"}))
        .await;
    assert_eq!(
        wrong.status(),
        StatusCode::UNAUTHORIZED,
        "a blocked account is not revealed without the password"
    );
}

#[tokio::test]
async fn an_inactive_user_is_refused_when_verification_is_required() {
    let app = spawn_app_with(
        Figment::new().merge(Serialized::default("auth.require_email_verification", true)),
    )
    .await;
    let user = app.new_user().await;
    let stored: (bool,) = sqlx::query_as("SELECT is_active FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!stored.0, "registration creates an inactive user");
    app.assert_login_refused(
        json!({"username": user.username, "password": PASSWORD}),
        StatusCode::FORBIDDEN,
        "User account is not activated.",
    )
    .await;
}

#[tokio::test]
async fn a_soft_deleted_user_logs_in_like_an_unknown_one() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.update_user(user.id, "deleted_at = now()").await;
    app.assert_login_refused(
        json!({"email": user.email, "password": PASSWORD}),
        StatusCode::UNAUTHORIZED,
        "Incorrect username or password",
    )
    .await;
}

#[tokio::test]
async fn login_bodies_missing_fields_are_422() {
    let app = spawn_app().await;
    let response = app.login_json(json!({})).await;
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let locs = error_locs(&body);
    assert_eq!(
        locs,
        [&json!(["body", "username"]), &json!(["body", "password"])]
    );
    let response = app
        .post("/api/v1/auth/login")
        .form(&[("username", "someone")])
        .send()
        .await
        .unwrap();
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
    assert_eq!(body["detail"][0]["type"], "missing");
}

#[tokio::test]
async fn a_padded_mixed_case_name_logs_in() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (local, domain) = user.email.split_once('@').unwrap();
    let typed = format!("  {}@{} ", local.to_uppercase(), domain.to_uppercase());
    for body in [
        json!({"email": typed, "password": PASSWORD}),
        json!({"username": typed, "password": PASSWORD}),
        json!({"username": format!(" {}  ", user.username.to_uppercase()), "password": PASSWORD}),
    ] {
        let response = app.login_json(body.clone()).await;
        assert_eq!(response.status(), StatusCode::OK, "{body}");
    }
    let grant = app.password_grant(&typed, PASSWORD).await;
    assert_eq!(grant.status(), StatusCode::OK);
}
