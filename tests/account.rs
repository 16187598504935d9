//! The signed-in user's own account: password change, profile, devices,
//! deletion and balance.

mod common;

use common::{
    assert_detail, json_of, random_ip, spawn_app, spawn_app_with, TestApp, TestUser, Tokens,
    PASSWORD,
};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn change_password(app: &TestApp, access: &str, body: Value) -> reqwest::Response {
    app.post("/api/v1/auth/change-password")
        .bearer_auth(access)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn session_id(app: &TestApp, tokens: &Tokens) -> String {
    let claims: Value = app.verify(&tokens.access).await.json().await.unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

async fn me(app: &TestApp, access: &str) -> reqwest::Response {
    app.get_with_bearer("/api/v1/users/me", access).await
}

async fn patch_me(app: &TestApp, access: &str, body: Value) -> reqwest::Response {
    app.patch("/api/v1/users/me")
        .bearer_auth(access)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn changing_the_password_keeps_this_device_and_signs_out_the_others() {
    let app = spawn_app().await;
    let (user, here) = app.signed_in_user().await;
    let elsewhere = app.login(&user).await;
    let new_password = "a different long passphrase";

    assert_detail(
        change_password(
            &app,
            &here.access,
            json!({"current_password": "not my password", "new_password": new_password}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "Incorrect current password",
    )
    .await;
    for (new, message) in [
        ("qwerty123", "Value error, This password is too common."),
        (
            user.username.as_str(),
            "Value error, The password cannot be the same as the email or username.",
        ),
        (
            PASSWORD,
            "Value error, The new password must be different from the current password.",
        ),
    ] {
        let response = change_password(
            &app,
            &here.access,
            json!({"current_password": PASSWORD, "new_password": new}),
        )
        .await;
        let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["detail"][0]["loc"], json!(["body", "new_password"]));
        assert_eq!(body["detail"][0]["msg"], message);
    }
    // Nothing above changed anything.
    app.assert_verify(&elsewhere.access, StatusCode::OK).await;

    let response = change_password(
        &app,
        &here.access,
        json!({"current_password": PASSWORD, "new_password": new_password}),
    )
    .await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(
        body,
        json!({"message": "Password has been changed successfully"})
    );

    app.assert_verify(&here.access, StatusCode::OK).await;
    app.assert_refresh(&here.refresh, StatusCode::OK).await;
    app.assert_revoked(&elsewhere).await;
    let old = app
        .login_json(json!({"email": user.email, "password": PASSWORD}))
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let mut renamed = user.clone();
    renamed.password = new_password.into();
    app.login(&renamed).await;
    let events = app.audit_events(user.id, "password_changed").await;
    assert_eq!(events[0]["details"]["sessions_ended"], 1);
}

#[tokio::test]
async fn change_password_needs_a_signed_in_user_and_both_fields() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/api/v1/auth/change-password",
            json!({"current_password": PASSWORD, "new_password": "whatever long enough"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (_, tokens) = app.signed_in_user().await;
    let response = change_password(&app, &tokens.access, json!({})).await;
    let body: Value = response.json().await.unwrap();
    let missing = common::error_fields(&body);
    assert_eq!(
        missing,
        [&json!("current_password"), &json!("new_password")]
    );
}

#[tokio::test]
async fn the_profile_changes_only_the_fields_sent() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    let body: Value = me(&app, &tokens.access).await.json().await.unwrap();
    assert_eq!(
        body["profile"],
        json!({"first_name": null, "last_name": null, "avatar_url": null,
               "gender": null, "date_of_birth": null, "info": null})
    );

    let response = patch_me(
        &app,
        &tokens.access,
        json!({"first_name": "Ada", "last_name": "Lovelace", "gender": "FEMALE",
               "date_of_birth": "1815-12-10", "avatar_url": "https://cdn.example.com/ada.png",
               "info": "Analyst.", "email": "not-changed@example.com", "account_role": "ADMIN"}),
    )
    .await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["email"], user.email);
    assert_eq!(body["account_role"], "REGULAR");

    let response = patch_me(
        &app,
        &tokens.access,
        json!({"info": null, "first_name": "Augusta Ada"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = me(&app, &tokens.access).await.json().await.unwrap();
    assert_eq!(
        body["profile"],
        json!({"first_name": "Augusta Ada", "last_name": "Lovelace",
               "avatar_url": "https://cdn.example.com/ada.png", "gender": "FEMALE",
               "date_of_birth": "1815-12-10", "info": null})
    );
    let events = app
        .audit_events_at_least(user.id, "profile_updated", 2)
        .await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1]["details"]["fields"],
        json!(["first_name", "info"])
    );
}

#[tokio::test]
async fn invalid_profile_fields_are_all_reported_and_nothing_changes() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    patch_me(&app, &tokens.access, json!({"first_name": "Grace"})).await;
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    let response = patch_me(
        &app,
        &tokens.access,
        json!({"first_name": "Someone Else", "avatar_url": "javascript:alert(1)",
               "gender": "ROBOT", "date_of_birth": tomorrow, "info": "x".repeat(1001)}),
    )
    .await;
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let problems: Vec<(String, String)> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["type"], "value_error");
            (
                e["loc"][1].as_str().unwrap().to_owned(),
                e["msg"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["avatar_url", "gender", "date_of_birth", "info"]);
    assert!(problems[0].1.contains("http or https URL"));
    assert!(problems[1]
        .1
        .contains("MALE, FEMALE, OTHER, PREFER_NOT_TO_SAY"));
    assert!(problems[2].1.contains("in the past"));
    assert!(problems[3].1.contains("at most 1000 characters"));
    let body: Value = me(&app, &tokens.access).await.json().await.unwrap();
    assert_eq!(body["profile"]["first_name"], "Grace");
}

#[tokio::test]
async fn a_deleted_account_is_gone_but_its_email_and_username_stay_taken() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    let other_device = app.login(&user).await;
    let delete = |body: Value| {
        app.delete("/api/v1/users/me")
            .bearer_auth(&tokens.access)
            .json(&body)
            .send()
    };

    assert_detail(
        delete(json!({"password": "not my password"}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "Incorrect password",
    )
    .await;
    let response = delete(json!({})).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(me(&app, &tokens.access).await.status(), StatusCode::OK);

    let response = delete(json!({"password": PASSWORD})).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    for device in [&tokens, &other_device] {
        assert_eq!(
            me(&app, &device.access).await.status(),
            StatusCode::UNAUTHORIZED
        );
        app.assert_refresh(&device.refresh, StatusCode::UNAUTHORIZED)
            .await;
    }
    // Logging in answers exactly as for an account that never existed.
    let deleted = app
        .login_json(json!({"email": user.email, "password": PASSWORD}))
        .await;
    let unknown = app
        .login_json(json!({"email": "nobody-at-all@example.com", "password": PASSWORD}))
        .await;
    assert_eq!(deleted.status(), unknown.status());
    assert_eq!(deleted.text().await.unwrap(), unknown.text().await.unwrap());
    app.assert_login_refused(
        json!({"username": user.username, "password": PASSWORD}),
        StatusCode::UNAUTHORIZED,
        "Incorrect username or password",
    )
    .await;

    let again = app
        .register(&user.email, "someone_new_name", PASSWORD)
        .await;
    assert_detail(again, StatusCode::CONFLICT, "Email already registered").await;
    let again = app
        .register("someone-new@example.com", &user.username, PASSWORD)
        .await;
    assert_detail(again, StatusCode::CONFLICT, "Username already taken").await;

    let events = app.audit_events(user.id, "account_deleted").await;
    assert_eq!(events[0]["details"]["sessions_ended"], 2);
}

#[tokio::test]
async fn each_device_is_listed_and_can_be_signed_out_on_its_own() {
    let app = spawn_app_with(Figment::new().merge(Serialized::default(
        "server.trusted_proxies",
        vec!["127.0.0.1/32"],
    )))
    .await;
    let user = app.new_user().await;
    let login_from = |agent: &'static str, ip: &'static str| {
        let app = &app;
        let user: &TestUser = &user;
        async move {
            let response = app
                .post("/api/v1/auth/login")
                .header("user-agent", agent)
                .header("x-forwarded-for", ip)
                .json(&json!({"email": user.email, "password": user.password}))
                .send()
                .await
                .unwrap();
            Tokens::from_body(&response.json().await.unwrap())
        }
    };
    let laptop = login_from("Laptop/1.0", "203.0.113.7").await;
    let phone = login_from("Phone/2.0", "198.51.100.23").await;
    let (laptop_sid, phone_sid) = (
        session_id(&app, &laptop).await,
        session_id(&app, &phone).await,
    );

    let sessions = app.my_sessions(&laptop.access).await;
    assert_eq!(sessions.len(), 2);
    let find = |sid: &str| {
        sessions
            .iter()
            .find(|s| s["id"] == sid)
            .unwrap_or_else(|| panic!("session {sid} listed"))
            .clone()
    };
    let (mine, theirs) = (find(&laptop_sid), find(&phone_sid));
    assert_eq!(mine["current"], true);
    assert_eq!(theirs["current"], false);
    assert_eq!(mine["user_agent"], "Laptop/1.0");
    assert_eq!(mine["ip"], "203.0.113.7");
    assert_eq!(theirs["user_agent"], "Phone/2.0");
    assert_eq!(theirs["ip"], "198.51.100.23");
    for field in ["created_at", "last_used_at"] {
        let time = mine[field].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(time).is_ok(),
            "{field}: {time}"
        );
    }

    // The phone's refresh moves its last_used_at forward.
    let phone = Tokens::from_body(&app.refresh(&phone.refresh).await.json().await.unwrap());
    let seen_by_phone = app.my_sessions(&phone.access).await;
    let refreshed = seen_by_phone.iter().find(|s| s["id"] == phone_sid).unwrap();
    assert_eq!(refreshed["current"], true);
    assert!(refreshed["last_used_at"].as_str() >= theirs["last_used_at"].as_str());

    let revoke = |sid: String| {
        app.delete(&format!("/api/v1/users/me/sessions/{sid}"))
            .bearer_auth(&laptop.access)
            .send()
    };
    assert_eq!(
        revoke(phone_sid.clone()).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    app.assert_revoked(&phone).await;
    app.assert_verify(&laptop.access, StatusCode::OK).await;
    let remaining = app.my_sessions(&laptop.access).await;
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0]["id"], laptop_sid);

    for unknown in [
        phone_sid.clone(),
        uuid::Uuid::new_v4().to_string(),
        "nope".into(),
    ] {
        assert_detail(
            revoke(unknown).await.unwrap(),
            StatusCode::NOT_FOUND,
            "Session not found",
        )
        .await;
    }
    let events = app.audit_events(user.id, "session_revoked").await;
    assert_eq!(events[0]["details"]["session_id"], phone_sid);
}

#[tokio::test]
async fn nobody_can_sign_out_another_users_device() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let alice_tokens = app.login(&alice).await;
    let bob_tokens = app.login(&bob).await;
    let bob_sid = session_id(&app, &bob_tokens).await;
    let response = app
        .delete(&format!("/api/v1/users/me/sessions/{bob_sid}"))
        .bearer_auth(&alice_tokens.access)
        .send()
        .await
        .unwrap();
    assert_detail(response, StatusCode::NOT_FOUND, "Session not found").await;
    app.assert_verify(&bob_tokens.access, StatusCode::OK).await;
    let response = app.get("/api/v1/users/me/sessions").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_balance_is_a_two_decimal_string() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    let balance = || async {
        let response = app
            .get_with_bearer("/api/v1/users/me/balance", &tokens.access)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };
    assert_eq!(balance().await, json!({"balance": "0.00"}));
    app.update_user(user.id, "balance = 12.5").await;
    assert_eq!(balance().await, json!({"balance": "12.50"}));
    let response = app.get("/api/v1/users/me/balance").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// Rate limiting on, one failure window of `failures` per account, and a
/// random client address (through a trusted 127.0.0.1) no other test uses.
async fn spawn_limited(failures: u32) -> TestApp {
    let app = spawn_app_with(common::overrides(&[
        ("rate_limit.enabled", json!(true)),
        ("rate_limit.login_failures_per_account", json!(failures)),
        ("server.trusted_proxies", json!(["127.0.0.1/32"])),
    ]))
    .await;
    app.forwarded_for(&random_ip())
}

async fn assert_locked(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn a_stolen_access_token_guesses_the_password_no_more_often_than_a_login_may() {
    let app = spawn_limited(3).await;
    let (user, tokens) = app.signed_in_user().await;
    let guess = |current: &str| {
        change_password(
            &app,
            &tokens.access,
            json!({"current_password": current, "new_password": "a different long passphrase"}),
        )
    };
    for _ in 0..3 {
        assert_eq!(
            guess("a wrong guess").await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    // The window is full: even the right password is refused, here, at
    // deletion and at login, which share the account's one window.
    assert_locked(guess(PASSWORD).await).await;
    let delete = app
        .delete("/api/v1/users/me")
        .bearer_auth(&tokens.access)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_locked(delete).await;
    assert_locked(
        app.login_json(json!({"email": user.email, "password": PASSWORD}))
            .await,
    )
    .await;
    assert_eq!(me(&app, &tokens.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_passwords_at_deletion_count_like_failed_logins() {
    let app = spawn_limited(3).await;
    let (user, tokens) = app.signed_in_user().await;
    let delete = |password: &str| {
        app.delete("/api/v1/users/me")
            .bearer_auth(&tokens.access)
            .json(&json!({ "password": password }))
            .send()
    };
    // Two wrong logins and one wrong deletion fill one window.
    for _ in 0..2 {
        let wrong = app
            .login_json(json!({"username": user.username, "password": "wrong guess"}))
            .await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        delete("wrong guess").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_locked(delete(PASSWORD).await.unwrap()).await;
    assert_eq!(me(&app, &tokens.access).await.status(), StatusCode::OK);
}
