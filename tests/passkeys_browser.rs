//! Passkeys on the hosted pages, in headless Chromium with Chrome's virtual
//! authenticator (WebDriver's WebAuthn extension) standing in for a
//! fingerprint reader: the browser, not a script of ours, runs the
//! ceremonies, so the pages' passkey script, their CSP and webauthn-rs's
//! checks of origin and relying party are all on the path.
//!
//! WebAuthn takes no IP address as relying party: the app listens on
//! 127.0.0.1, its passkeys belong to `localhost` (any port), and the browser
//! opens it as `http://localhost:PORT`.

mod common;

use common::pages::browser::Browser;
use common::web_app::{app, authorize_path, callback_page, web_app, WebApp, VERIFIER};
use common::{json_of, jwt_claims, TestApp};
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// `path` of the app as the browser opens it: on `localhost`, the relying
/// party of its passkeys.
fn local(app: &TestApp, path: &str) -> String {
    app.url(path).replacen("127.0.0.1", "localhost", 1)
}

/// The app's token request for the code the browser came back with: its
/// ID token's and access token's claims.
async fn redeem(app: &TestApp, browser: &Browser, client: &WebApp) -> (Value, Value) {
    let location = browser.client.current_url().await.expect("the URL");
    assert!(
        location.as_str().starts_with(&client.redirect),
        "{location}"
    );
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap_or_else(|| panic!("no code in {location}"))
        .1
        .into_owned();
    let response = app
        .post("/oauth/token")
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", client.redirect.as_str()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let tokens = json_of(response, StatusCode::OK).await;
    (
        jwt_claims(tokens["id_token"].as_str().unwrap()),
        jwt_claims(tokens["access_token"].as_str().unwrap()),
    )
}

/// The names the account page lists.
async fn listed(browser: &Browser) -> Vec<String> {
    let mut names = Vec::new();
    for name in browser
        .client
        .find_all(Locator::Css(".passkey-name"))
        .await
        .expect("the passkeys")
    {
        names.push(name.text().await.expect("a name"));
    }
    names
}

#[tokio::test]
async fn a_passkey_added_on_the_account_page_signs_in_to_an_app_alone() {
    let app = app().await;
    let client = web_app(&app, &callback_page().await).await;
    let user = app.new_user().await;

    let browser = Browser::start("passkeys").await;
    browser.add_virtual_authenticator().await;

    // Signed in with the password, the user adds a passkey.
    browser.goto(&local(&app, "/oauth/account")).await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("#username", &user.username).await;
    browser.fill("#password", &user.password).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Account security").await;
    assert!(browser
        .text_of("#passkeys-status")
        .await
        .starts_with("None"));
    browser.press("Add a passkey").await;
    browser.wait_for_heading("Add a passkey").await;
    browser.fill("#passkey-name", "Laptop").await;
    browser.press("Create passkey").await;
    let page = browser.wait_for_heading("Account security").await;
    assert_eq!(listed(&browser).await, ["Laptop"], "{page}");
    browser.screenshot("listed").await;

    // Renamed.
    let field = browser.find("#passkeys input[name=name]").await;
    field.clear().await.expect("clear the name");
    field.send_keys("Work laptop").await.expect("type a name");
    browser.press("Rename").await;
    browser.wait_for_heading("Account security").await;
    assert_eq!(listed(&browser).await, ["Work laptop"]);

    // The API sees it: the password alone no longer signs in.
    let login = app
        .login_json(json!({"email": user.email, "password": user.password}))
        .await;
    let body = json_of(login, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["error_code"], "MFA_REQUIRED");
    assert!(
        body["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("webauthn")),
        "{body}"
    );

    // The account page signs in with the passkey alone too.
    browser.press("Sign out").await;
    browser.wait_for_heading("Sign in").await;
    browser.press("Sign in with a passkey").await;
    browser.wait_for_heading("Account security").await;
    browser.press("Sign out").await;
    browser.wait_for_heading("Sign in").await;

    // The app's sign-in with the passkey alone: no name, no password.
    browser
        .goto(&local(&app, &authorize_path(&client, &[])))
        .await;
    browser.wait_for_heading("Sign in").await;
    browser.screenshot("sign-in").await;
    browser.press("Sign in with a passkey").await;
    browser.wait_for_heading("Back at the app").await;
    let (id_token, access) = redeem(&app, &browser, &client).await;
    assert_eq!(id_token["sub"], user.id.to_string());
    for claims in [&id_token, &access] {
        assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]), "{claims}");
        assert_eq!(claims["acr"], "mfa", "{claims}");
    }

    // With the password, the passkey answers the second step.
    browser
        .goto(&local(
            &app,
            &authorize_path(&client, &[("prompt", "login")]),
        ))
        .await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("#username", &user.username).await;
    browser.fill("#password", &user.password).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Two-step verification").await;
    browser.press("Use a passkey").await;
    browser.wait_for_heading("Back at the app").await;
    let (id_token, _) = redeem(&app, &browser, &client).await;
    let amr = id_token["amr"].as_array().unwrap();
    assert!(
        amr.contains(&json!("pwd")) && amr.contains(&json!("hwk")),
        "{id_token}"
    );
    assert_eq!(id_token["acr"], "mfa", "{id_token}");

    // The last second factor goes with the passkey asked once more.
    browser.goto(&local(&app, "/oauth/account")).await;
    browser.wait_for_heading("Account security").await;
    browser.press("Remove").await;
    browser.wait_for_heading("Account security").await;
    assert!(listed(&browser).await.is_empty());
    assert!(browser
        .text_of("#passkeys-status")
        .await
        .starts_with("None"));
    let login = app
        .login_json(json!({"email": user.email, "password": user.password}))
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    browser.close().await;
}
