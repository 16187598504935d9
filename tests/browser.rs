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
