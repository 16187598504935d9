//! Activation and password reset by email, delivered by real SMTP to a sink
//! server the test starts, and followed the way a user would: by the link.

mod common;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::servers::RedisServer;
use common::{
    assert_detail, free_port, json_of, spawn_app_with, token_in, unique_name, SmtpSink, TestApp,
    PASSWORD,
};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};

const FRONTEND: &str = "https://app.example.test";
const RESET_SENT: &str = "If the email exists, a reset link has been sent.";

async fn app_with_mail(sink: &SmtpSink, verify_emails: bool) -> TestApp {
    spawn_app_with(
        sink.overrides()
            .merge(Serialized::default(
                "auth.require_email_verification",
                verify_emails,
            ))
            .merge(Serialized::default("auth.frontend_url", FRONTEND)),
    )
    .await
}

/// Registers a user without logging in (activation may be pending).
async fn activate(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/api/v1/auth/activate", json!({ "token": token }))
        .await
}

async fn reset(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/reset-password",
        json!({ "token": token, "new_password": new_password }),
    )
    .await
}

#[tokio::test]
async fn a_new_user_activates_by_the_emailed_link_and_can_then_log_in() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, true).await;
    let user = app.new_user().await;
    let me: Value = app
        .login_json(json!({"email": user.email, "password": PASSWORD}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me, json!({"detail": "User account is not activated."}));

    let mail = sink.wait_for_mail(&user.email).await;
    assert!(mail.contains("Subject: Activate your account"), "{mail}");
    assert!(mail.contains("text/plain") && mail.contains("text/html"));
    assert!(mail.contains(&format!("Hello {},", user.username)));
    assert!(mail.contains(&format!("{FRONTEND}/auth/activate?token=")));
    assert!(mail.contains("24 hours"));
    let token = token_in(&mail, "activate");

    let response = activate(&app, &token).await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(
        body,
        json!({"message": "User account activated successfully."})
    );
    assert_eq!(
        app.login_status(&user.email, PASSWORD).await,
        StatusCode::OK
    );

    // Clicking the link again says so, rather than calling it invalid.
    assert_detail(
        activate(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "User account is already active.",
    )
    .await;
    assert_eq!(app.audit_events(user.id, "activation").await.len(), 1);
}

#[tokio::test]
async fn resending_activation_replaces_the_link_and_reveals_nothing() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, true).await;
    let user = app.new_user().await;
    let first = token_in(&sink.wait_for_mail(&user.email).await, "activate");

    let resend = |email: String| {
        let app = &app;
        async move {
            let response = app
                .post_json("/api/v1/auth/activate/resend", json!({ "email": email }))
                .await;
            (response.status(), response.text().await.unwrap())
        }
    };
    let known = resend(user.email.to_uppercase()).await;
    let unknown = resend(format!("{}@example.com", unique_name())).await;
    assert_eq!(known.0, StatusCode::ACCEPTED);
    assert_eq!(known, unknown);

    let mails = sink.wait_for_mails(&user.email, 2).await;
    let second = token_in(&mails[1], "activate");
    assert_ne!(first, second);
    assert_detail(
        activate(&app, &first).await,
        StatusCode::BAD_REQUEST,
        "Invalid or expired activation token.",
    )
    .await;
    assert_eq!(activate(&app, &second).await.status(), StatusCode::OK);
    assert_eq!(
        app.audit_events(user.id, "activation_resent").await.len(),
        1
    );

    // An active account gets no new link, and the answer is the same.
    assert_eq!(resend(user.email.clone()).await, known);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.mails_to(&user.email).len(), 2);
}

#[tokio::test]
async fn forged_malformed_and_missing_activation_tokens_are_refused() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, true).await;
    let user = app.new_user().await;
    let real = token_in(&sink.wait_for_mail(&user.email).await, "activate");
    // Same user, same length, wrong secret and tag.
    let forged = format!("{}{}", &real[..64], "A".repeat(22));
    for token in ["garbage", forged.as_str(), ""] {
        assert_detail(
            activate(&app, token).await,
            StatusCode::BAD_REQUEST,
            "Invalid or expired activation token.",
        )
        .await;
    }
    let response = app.post_json("/api/v1/auth/activate", json!({})).await;
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["loc"], json!(["body", "token"]));
    assert_eq!(body["detail"][0]["type"], "missing");
    // The forgeries did not burn the real link.
    assert_eq!(activate(&app, &real).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_link_and_every_session_ends() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, false).await;
    let (user, laptop) = app.signed_in_user().await;
    let phone = app.login(&user).await;

    let response = app.forgot_password(&user.email.to_uppercase()).await;
    let body = json_of(response, StatusCode::ACCEPTED).await;
    assert_eq!(body, json!({ "message": RESET_SENT }));

    let mail = sink.wait_for_mail(&user.email).await;
    assert!(mail.contains("Subject: Reset your password"), "{mail}");
    assert!(mail.contains("15 minutes"));
    assert!(mail.contains(&format!("{FRONTEND}/auth/reset-password?token=")));
    let token = token_in(&mail, "reset-password");

    // A password the policy refuses does not use the link up.
    let response = reset(&app, &token, "password").await;
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["loc"], json!(["body", "new_password"]));
    assert_eq!(
        body["detail"][0]["msg"],
        "Value error, This password is too common."
    );
    let response = reset(&app, &token, &user.email).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let new_password = "a brand new passphrase";
    let response = reset(&app, &token, new_password).await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(
        body,
        json!({ "message": "Password has been reset successfully" })
    );

    for tokens in [&laptop, &phone] {
        app.assert_revoked(tokens).await;
    }
    assert_eq!(
        app.login_status(&user.email, PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_status(&user.email, new_password).await,
        StatusCode::OK
    );
    // The link works once.
    assert_detail(
        reset(&app, &token, "yet another passphrase").await,
        StatusCode::BAD_REQUEST,
        "Invalid or expired reset token",
    )
    .await;
    assert_eq!(
        app.audit_events(user.id, "password_reset_requested")
            .await
            .len(),
        1
    );
    let events = app.audit_events(user.id, "password_reset").await;
    assert_eq!(events[0]["details"]["sessions_ended"], 2);
}

#[tokio::test]
async fn a_new_reset_request_invalidates_the_previous_link() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, false).await;
    let user = app.new_user().await;
    app.forgot_password(&user.email).await;
    let first = token_in(&sink.wait_for_mail(&user.email).await, "reset-password");
    app.forgot_password(&user.email).await;
    let mails = sink.wait_for_mails(&user.email, 2).await;
    let second = token_in(&mails[1], "reset-password");
    assert_ne!(first, second);
    assert_detail(
        reset(&app, &first, "a brand new passphrase").await,
        StatusCode::BAD_REQUEST,
        "Invalid or expired reset token",
    )
    .await;
    assert_eq!(
        reset(&app, &second, "a brand new passphrase")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn reset_tokens_are_not_activation_tokens_and_garbage_is_refused() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, false).await;
    let user = app.new_user().await;
    app.forgot_password(&user.email).await;
    let token = token_in(&sink.wait_for_mail(&user.email).await, "reset-password");
    assert_detail(
        activate(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "Invalid or expired activation token.",
    )
    .await;
    assert_detail(
        reset(&app, "not-a-token", "a brand new passphrase").await,
        StatusCode::BAD_REQUEST,
        "Invalid or expired reset token",
    )
    .await;
    let response = app
        .post_json("/api/v1/auth/reset-password", json!({}))
        .await;
    let body: Value = response.json().await.unwrap();
    let fields = common::error_fields(&body);
    assert_eq!(fields, [&json!("token"), &json!("new_password")]);
}

#[tokio::test]
async fn links_made_without_the_token_secret_are_refused_without_asking_redis() {
    let sink = SmtpSink::start();
    let mut redis = RedisServer::start();
    let app = spawn_app_with(
        sink.overrides()
            .merge(Serialized::default("auth.require_email_verification", true))
            .merge(Serialized::default("redis.url", redis.url()))
            .merge(Serialized::default("redis.timeout_ms", 500)),
    )
    .await;
    let user = app.new_user().await;
    let real = token_in(&sink.wait_for_mail(&user.email).await, "activate");
    redis.kill();
    // The user id is no secret; the untagged wire form of old and the
    // tagged one with a made-up tag are both refused on sight.
    let mut bytes = user.id.as_bytes().to_vec();
    bytes.extend_from_slice(&[9u8; 32]);
    let untagged = URL_SAFE_NO_PAD.encode(&bytes);
    bytes.extend_from_slice(&[9u8; 16]);
    let tagged = URL_SAFE_NO_PAD.encode(&bytes);
    for forged in [&untagged, &tagged] {
        assert_detail(
            activate(&app, forged).await,
            StatusCode::BAD_REQUEST,
            "Invalid or expired activation token.",
        )
        .await;
        assert_detail(
            reset(&app, forged, "a brand new passphrase").await,
            StatusCode::BAD_REQUEST,
            "Invalid or expired reset token",
        )
        .await;
    }
    // The real link does need Redis, which is down.
    assert_eq!(
        activate(&app, &real).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_link_tagged_under_another_deployments_secret_is_refused() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, false).await;
    let other = spawn_app_with(sink.overrides().merge(Serialized::default(
        "session.rotation_secret",
        "another deployment's secret, 32+ bytes long",
    )))
    .await;
    let user = app.new_user().await;
    app.forgot_password(&user.email).await;
    let token = token_in(&sink.wait_for_mail(&user.email).await, "reset-password");
    assert_detail(
        reset(&other, &token, "a brand new passphrase").await,
        StatusCode::BAD_REQUEST,
        "Invalid or expired reset token",
    )
    .await;
    assert_eq!(
        reset(&app, &token, "a brand new passphrase").await.status(),
        StatusCode::OK
    );
}

/// Median of request times, in milliseconds.
fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

#[tokio::test]
async fn forgot_password_answers_alike_and_at_once_for_known_and_unknown_emails() {
    // A mail server that takes 3 s to greet: the answer must not wait for it.
    let sink = SmtpSink::start_with(&["--greeting-delay-ms", "3000"]);
    let app = app_with_mail(&sink, false).await;
    let user = app.new_user().await;

    let mut known_times = Vec::new();
    let mut unknown_times = Vec::new();
    let mut bodies = std::collections::HashSet::new();
    for round in 0..10 {
        for known in [round % 2 == 0, round % 2 != 0] {
            let email = if known {
                user.email.clone()
            } else {
                format!("{}@example.com", unique_name())
            };
            let started = Instant::now();
            let response = app.forgot_password(&email).await;
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            bodies.insert(response.text().await.unwrap());
            if known {
                known_times.push(elapsed);
            } else {
                unknown_times.push(elapsed);
            }
        }
    }
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let (known, unknown) = (median(known_times.clone()), median(unknown_times));
    assert!(
        known_times.iter().all(|t| *t < 1000.0),
        "a response waited for the mail server: {known_times:?}"
    );
    assert!(
        (known - unknown).abs() < 50.0,
        "known {known:.1} ms vs unknown {unknown:.1} ms"
    );
    // The slow server still gets the (last) link.
    sink.wait_for_mail(&user.email).await;
}

#[tokio::test]
async fn a_mail_server_that_fails_at_first_gets_the_email_on_retry() {
    let sink = SmtpSink::start_with(&["--fail-first", "2"]);
    let app = app_with_mail(&sink, false).await;
    let user = app.new_user().await;
    let started = Instant::now();
    assert_eq!(
        app.forgot_password(&user.email).await.status(),
        StatusCode::ACCEPTED
    );
    let mail = sink.wait_for_mail(&user.email).await;
    // Two refusals, then backoff of 200 ms and 400 ms before success.
    assert!(started.elapsed() >= Duration::from_millis(600));
    let token = token_in(&mail, "reset-password");
    assert_eq!(
        reset(&app, &token, "a brand new passphrase").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unreachable_mail_server_does_not_fail_the_request() {
    let closed_port = free_port();
    let app = spawn_app_with(common::overrides(&[
        ("smtp.host", json!("127.0.0.1")),
        ("smtp.port", json!(closed_port)),
        ("smtp.tls", json!("none")),
        ("smtp.retry_backoff_ms", json!(10)),
    ]))
    .await;
    let user = app.new_user().await;
    let response = app.forgot_password(&user.email).await;
    let body = json_of(response, StatusCode::ACCEPTED).await;
    assert_eq!(body, json!({ "message": RESET_SENT }));
}

#[tokio::test]
async fn without_smtp_configured_links_are_logged_and_requests_still_succeed() {
    // No smtp.host: emails are logged instead (development default).
    let app = spawn_app_with(
        Figment::new().merge(Serialized::default("auth.require_email_verification", true)),
    )
    .await;
    let username = unique_name();
    let email = format!("{username}@example.com");
    let response = app.register(&email, &username, PASSWORD).await;
    let body = json_of(response, StatusCode::CREATED).await;
    assert_eq!(body["is_active"], false);
    assert_eq!(
        app.forgot_password(&email).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn starttls_mode_never_falls_back_to_plain_text() {
    // The sink offers no STARTTLS: with smtp.tls = "starttls" nothing may be
    // sent to it in the clear.
    let sink = SmtpSink::start();
    let app = spawn_app_with(
        sink.overrides()
            .merge(Serialized::default("smtp.tls", "starttls"))
            .merge(Serialized::default("smtp.max_attempts", 1)),
    )
    .await;
    let user = app.new_user().await;
    assert_eq!(
        app.forgot_password(&user.email).await.status(),
        StatusCode::ACCEPTED
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(sink.mails_to(&user.email).is_empty());
}
