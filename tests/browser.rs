//! The hosted pages in a real browser (headless Chromium through
//! chromedriver), against the real app and a real SMTP sink: what a person
//! does, from the e-mail to the result, with screenshots of each step in
//! `<target>/browser-screenshots/`.

mod common;

use common::pages::browser::Browser;
use common::pages::{spawn_app_at_own_url, wait_for_link};
use common::{unique_name, SmtpSink, TestApp, PASSWORD};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::json;

async fn login_status(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.login_json(json!({ "email": email, "password": password }))
        .await
        .status()
}

/// Signs in to the console with the keyboard alone: the name, Tab, the
/// password, Enter.
async fn sign_in(browser: &Browser, app: &TestApp, username: &str, password: &str) {
    browser.goto(&app.url("/admin/")).await;
    browser.wait_for_heading("tessera console").await;
    browser
        .fill("#username", &format!("{username}\t{password}\n"))
        .await;
    browser.wait_for_heading("Users").await;
}

#[tokio::test]
async fn a_forgotten_password_is_reset_from_the_email_in_a_browser() {
    let sink = SmtpSink::start();
    let app = spawn_app_at_own_url(sink.overrides()).await;
    let user = app.new_user().await;
    let forgot = app.forgot_password(&user.email).await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let link = wait_for_link(&sink, &user.email, "reset-password").await;
    assert!(
        link.starts_with(&app.address),
        "{link}: the default frontend_url is the service"
    );

    let browser = Browser::start("reset-password").await;
    browser.goto(&link).await;
    let form = browser.wait_for_heading("Choose a new password").await;
    assert!(form.contains("Between 8 and 128 characters"), "{form}");
    browser.screenshot("1-form").await;

    // A common password is refused in words, and the link still works.
    browser.fill("#new_password", "password").await;
    browser.fill("#confirm_password", "password").await;
    browser.press("Set new password").await;
    browser.find("[role=alert]").await;
    let refused = browser.wait_for_heading("Choose a new password").await;
    assert!(
        refused.contains("This password is too common."),
        "{refused}"
    );
    browser.screenshot("2-weak-password").await;

    let new_password = "correct horse battery staple, freshly";
    browser.fill("#new_password", new_password).await;
    browser.fill("#confirm_password", new_password).await;
    browser.press("Set new password").await;
    let done = browser.wait_for_heading("Password changed").await;
    assert!(
        done.contains("Password has been reset successfully"),
        "{done}"
    );
    browser.screenshot("3-done").await;
    browser.close().await;

    assert_eq!(
        login_status(&app, &user.email, new_password).await,
        StatusCode::OK
    );
    assert_eq!(
        login_status(&app, &user.email, &user.password).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_account_is_activated_from_the_email_in_a_browser() {
    let sink = SmtpSink::start();
    let app = spawn_app_at_own_url(
        sink.overrides()
            .merge(Serialized::default("auth.require_email_verification", true)),
    )
    .await;
    let username = unique_name();
    let email = format!("{username}@example.com");
    let registered = app.register(&email, &username, PASSWORD).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let link = wait_for_link(&sink, &email, "activate").await;

    let browser = Browser::start("activate").await;
    browser.goto(&link).await;
    browser.wait_for_heading("Activate your account").await;
    browser.screenshot("1-button").await;
    assert_eq!(
        login_status(&app, &email, PASSWORD).await,
        StatusCode::FORBIDDEN,
        "opening the link alone activated the account"
    );
    browser.press("Activate").await;
    let done = browser.wait_for_heading("Account activated").await;
    assert!(
        done.contains("User account activated successfully."),
        "{done}"
    );
    browser.screenshot("2-done").await;
    browser.close().await;
    assert_eq!(login_status(&app, &email, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn an_admin_finds_and_blocks_a_user_whose_token_is_refused_at_once() {
    let app = spawn_app_at_own_url(Figment::new()).await;
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let (victim, tokens) = app.signed_in_user().await;
    app.assert_verify(&tokens.access, StatusCode::OK).await;

    let browser = Browser::start("console-block").await;
    sign_in(&browser, &app, &admin.username, &admin.password).await;
    browser.screenshot("1-users").await;
    browser.fill("#q", &victim.username).await;
    browser.press("Search").await;
    let found = browser.wait_for_heading("Users").await;
    assert!(found.contains("1 user(s)"), "{found}");
    browser.press(&victim.username).await;
    let page = browser.wait_for_heading(&victim.username).await;
    assert!(page.contains(&victim.email), "{page}");
    browser.screenshot("2-user").await;
    browser.press("Block").await;
    let blocked = browser.wait_for_heading(&victim.username).await;
    assert!(
        blocked.contains("Blocked: every session of this user has ended."),
        "{blocked}"
    );
    assert_eq!(browser.controls("Unblock").await, 1);
    browser.screenshot("3-blocked").await;

    assert_eq!(
        app.verify(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "the blocked user's access token still verifies"
    );
    browser.press("Sign out").await;
    browser.wait_for_heading("tessera console").await;
    browser.close().await;
}

#[tokio::test]
async fn a_console_form_posted_without_its_csrf_token_is_refused() {
    let app = spawn_app_at_own_url(Figment::new()).await;
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let (victim, tokens) = app.signed_in_user().await;

    let browser = Browser::start("csrf").await;
    sign_in(&browser, &app, &admin.username, &admin.password).await;
    browser
        .goto(&app.url(&format!("/admin/users/{}", victim.id)))
        .await;
    browser.wait_for_heading(&victim.username).await;
    // What a forged form would be: the same fields, no token.
    browser
        .client
        .execute(
            "document.querySelectorAll('input[name=csrf]').forEach(i => i.remove());",
            vec![],
        )
        .await
        .expect("remove the tokens");
    browser.press("Block").await;
    let refused = browser.wait_for_heading("Not allowed").await;
    assert!(
        refused.contains("This form has expired or did not come from this site."),
        "{refused}"
    );
    browser.screenshot("refused").await;
    browser.close().await;
    app.assert_verify(&tokens.access, StatusCode::OK).await;
}

#[tokio::test]
async fn a_moderator_sees_no_way_to_act_on_an_admin() {
    let app = spawn_app_at_own_url(Figment::new()).await;
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let (moderator, _) = app.new_user_with_role("MODERATOR").await;
    let regular = app.new_user().await;

    let browser = Browser::start("moderator").await;
    sign_in(&browser, &app, &moderator.username, &moderator.password).await;
    assert_eq!(browser.controls("Audit log").await, 0);
    browser
        .goto(&app.url(&format!("/admin/users/{}", admin.id)))
        .await;
    browser.wait_for_heading(&admin.username).await;
    for label in ["Block", "Delete", "Save", "Revoke"] {
        assert_eq!(
            browser.controls(label).await,
            0,
            "{label} offered to a moderator"
        );
    }
    browser.screenshot("1-admin-page").await;
    browser
        .goto(&app.url(&format!("/admin/users/{}", regular.id)))
        .await;
    browser.wait_for_heading(&regular.username).await;
    assert_eq!(browser.controls("Block").await, 1);
    assert_eq!(browser.controls("Delete").await, 0);
    browser.goto(&app.url("/admin/audit")).await;
    let refused = browser.wait_for_heading("Not allowed").await;
    assert!(refused.contains("Not enough permissions"), "{refused}");
    browser.screenshot("2-audit-refused").await;
    browser.close().await;
}

/// A client credentials grant with `id` and `secret` (HTTP Basic).
async fn client_token(app: &TestApp, id: &str, secret: &str) -> reqwest::Response {
    app.post("/oauth/token")
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
}

/// How many registered clients are called `name` (the admin API).
async fn clients_named(app: &TestApp, admin_token: &str, name: &str) -> usize {
    let response = app
        .get_with_bearer("/api/v1/admin/clients", admin_token)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let clients: Vec<serde_json::Value> = response.json().await.expect("a list");
    clients.iter().filter(|c| c["name"] == name).count()
}

#[tokio::test]
async fn an_admin_registers_a_client_whose_secret_works_until_it_is_disabled() {
    let app = spawn_app_at_own_url(Figment::new()).await;
    let (admin, admin_tokens) = app.new_user_with_role("ADMIN").await;
    let name = format!("billing {}", unique_name());

    let browser = Browser::start("console-client").await;
    sign_in(&browser, &app, &admin.username, &admin.password).await;
    browser.press("Clients").await;
    browser.wait_for_heading("OAuth clients").await;
    browser.fill("#name", &name).await;
    browser.fill("#scopes", "orders:read\norders:write").await;
    browser.screenshot("1-form").await;
    browser.press("Register").await;
    let shown = browser.wait_for_heading("Client registered").await;
    assert!(shown.contains("it will not be shown again"), "{shown}");
    let id = browser.text_of("#client_id").await;
    let secret = browser.text_of("#client_secret").await;
    assert!(secret.len() >= 43, "a secret of 256 bits: {secret:?}");
    browser.screenshot("2-secret").await;
    assert!(
        !browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains(&secret),
        "the secret is in the URL"
    );
    let cookies = browser.client.get_all_cookies().await.expect("cookies");
    assert!(
        cookies.iter().all(|c| !c.value().contains(&secret)),
        "the secret is in a cookie"
    );

    // The secret read from the page gets the client a token of its own.
    let response = client_token(&app, &id, &secret).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("token json");
    assert_eq!(body["scope"], "orders:read orders:write");
    let token = body["access_token"].as_str().expect("a token").to_owned();
    app.assert_verify(&token, StatusCode::OK).await;

    // On to the client, then Back: the secret's page is not shown again.
    browser.press("I have copied it: go to the client").await;
    browser.wait_for_heading(&name).await;
    browser.back().await;
    let back = browser.text().await;
    assert!(
        !back.contains(&secret),
        "Back showed the secret again:\n{back}"
    );
    browser.screenshot("3-back").await;
    // Reloading sends the form again: it registers nothing more and shows
    // no secret.
    browser.reload().await;
    let reloaded = browser.text().await;
    assert!(
        !reloaded.contains(&secret),
        "a reload showed the secret:\n{reloaded}"
    );
    browser.screenshot("4-reloaded").await;
    assert_eq!(clients_named(&app, &admin_tokens.access, &name).await, 1);

    browser
        .goto(&app.url(&format!("/admin/clients/{id}")))
        .await;
    let page = browser.wait_for_heading(&name).await;
    assert!(!page.contains(&secret), "{page}");
    browser.press("Disable").await;
    let disabled_at = std::time::Instant::now();
    loop {
        let status = app.verify(&token).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            disabled_at.elapsed() < std::time::Duration::from_secs(1),
            "the disabled client's token still verifies after a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let disabled = browser.wait_for_heading(&name).await;
    assert!(
        disabled.contains("Disabled: its tokens are refused"),
        "{disabled}"
    );
    assert_eq!(browser.controls("Enable").await, 1);
    browser.screenshot("5-disabled").await;
    assert_eq!(
        client_token(&app, &id, &secret).await.status(),
        StatusCode::UNAUTHORIZED,
        "a disabled client got a token"
    );
    browser.close().await;
}
