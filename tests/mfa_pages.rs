//! Second factors on the hosted pages: the account security page at
//! `/oauth/account` (set up the authenticator app from its QR code, see the
//! recovery codes once, remove it, sign out), and the authorization page's
//! sign-in asking for the code after the password, whose tokens then say
//! so (`amr`, `acr`). Headless Chromium does what a person does (codes from
//! pyotp, an independent implementation); the error paths are also walked
//! over plain HTTP by a cookie-keeping visitor.

mod common;

use common::mfa::{code_at, enrolled, fresh_step, Enrolled};
use common::pages::browser::Browser;
use common::pages::{hidden_inputs, input_value, Page, Visitor};
use common::web_app::{app, authorize_path, callback_page, web_app, WebApp, VERIFIER};
use common::{json_of, jwt_claims, TestApp, TestUser};
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{json, Value};

const WRONG_CODE: &str = "Invalid second-factor code";
const DEAD_TOKEN: &str = "Invalid or expired second-factor token";

/// Six digits that are none of the codes around `step`.
async fn wrong_code(uri: &str, step: u64) -> String {
    let mut near = Vec::new();
    for offset in [0, 30, 60, 90] {
        near.push(code_at(uri, step + offset - 30).await);
    }
    (0..)
        .map(|n: u32| format!("{:06}", n * 7919 % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// The code a redirect to the app carries.
fn code_in(location: &str, redirect: &str) -> String {
    let url = reqwest::Url::parse(location).expect("an absolute URL");
    assert!(location.starts_with(redirect), "{location}");
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap_or_else(|| panic!("no code in {location}"))
        .1
        .into_owned()
}

/// The app's token request for `code`: its ID token's and access token's
/// claims.
async fn redeem(app: &TestApp, client: &WebApp, code: &str) -> (Value, Value) {
    let response = app
        .post("/oauth/token")
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
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

fn assert_mfa(id_token: &Value, access: &Value, amr: Value) {
    for claims in [id_token, access] {
        assert_eq!(claims["amr"], amr, "{claims}");
        assert_eq!(claims["acr"], "mfa", "{claims}");
    }
    assert_eq!(id_token["auth_time"], access["auth_time"]);
}

/// The URL the browser is at.
async fn location(browser: &Browser) -> String {
    browser
        .client
        .current_url()
        .await
        .expect("the current URL")
        .to_string()
}

/// Where screenshots judged by a test go: cargo's scratch directory for
/// integration tests.
fn scratch(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// The width and height a PNG's header says, if it is a PNG.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    Some((word(16), word(20)))
}

#[tokio::test]
async fn a_user_sets_up_the_authenticator_app_on_the_account_page_from_its_qr_code() {
    let app = app().await;
    let user = app.new_user().await;

    let browser = Browser::start("mfa-account").await;
    browser.goto(&app.url("/oauth/account")).await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("#username", &user.username).await;
    browser.fill("#password", &user.password).await;
    browser.press("Sign in").await;
    let page = browser.wait_for_heading("Account security").await;
    assert!(page.contains(&user.username), "{page}");
    assert!(browser.text_of("#totp-status").await.starts_with("Off"));

    browser.press("Set up authenticator app").await;
    let page = browser.wait_for_heading("Set up authenticator app").await;
    let qr = browser.find("#qr svg").await;
    let (_, _, width, height) = qr.rectangle().await.expect("the QR code's box");
    assert!(
        width >= 150.0 && height >= 150.0,
        "the QR code is drawn: {width}×{height}"
    );
    let png = browser.client.screenshot().await.expect("a screenshot");
    let path = scratch("mfa-account-qr-code.png");
    std::fs::write(&path, &png).expect("save the screenshot");
    let (w, h) = png_size(&png).unwrap_or_else(|| panic!("{} is no PNG", path.display()));
    assert!(w >= 800 && h >= 600, "{w}×{h}");
    assert!(
        png.len() > 10_000,
        "a page with a QR code: {} bytes",
        png.len()
    );
    browser.screenshot("qr-code").await;

    // The key typed in by hand, as an app without a camera takes it.
    let secret = browser.text_of("#secret").await;
    assert!(page.contains(&secret), "{page}");
    let uri = format!("otpauth://totp/tessera:{}?secret={secret}", user.username);
    let step = fresh_step().await;
    let wrong = wrong_code(&uri, step).await;
    browser.fill("#code", &wrong).await;
    browser.press("Turn on").await;
    let page = browser.wait_for_heading("Set up authenticator app").await;
    assert!(page.contains(WRONG_CODE), "{page}");

    browser.fill("#code", &code_at(&uri, step).await).await;
    browser.press("Turn on").await;
    browser.wait_for_heading("Your recovery codes").await;
    let codes = browser
        .client
        .find_all(Locator::Css("#recovery-codes li"))
        .await
        .expect("the codes");
    assert_eq!(codes.len(), 10);
    browser.screenshot("recovery-codes").await;

    browser.press("Back to account security").await;
    browser.wait_for_heading("Account security").await;
    assert!(browser.text_of("#totp-status").await.starts_with("On"));
    assert_eq!(
        browser.text_of("#recovery-codes-left").await,
        "Recovery codes left: 10"
    );
    // The API sees the same account.
    let login = app
        .login_json(json!({"email": user.email, "password": user.password}))
        .await;
    let body = json_of(login, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["error_code"], "MFA_REQUIRED");

    browser.press("Sign out").await;
    browser.wait_for_heading("Sign in").await;
    browser.close().await;
}

#[tokio::test]
async fn an_app_signs_in_with_password_then_authenticator_code_and_its_tokens_say_mfa() {
    let app = app().await;
    let client = web_app(&app, &callback_page().await).await;
    let Enrolled {
        user,
        uri,
        recovery_codes,
        step,
        ..
    } = enrolled(&app).await;

    let browser = Browser::start("mfa-authorize").await;
    browser.goto(&app.url(&authorize_path(&client, &[]))).await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("#username", &user.username).await;
    browser.fill("#password", &user.password).await;
    browser.press("Sign in").await;
    let page = browser.wait_for_heading("Two-step verification").await;
    assert!(page.contains("Notes Web"), "{page}");
    browser.screenshot("code").await;

    // A wrong code: the page again, in the API's words.
    browser.fill("#code", &wrong_code(&uri, step).await).await;
    browser.press("Verify").await;
    let page = browser.wait_for_heading("Two-step verification").await;
    assert!(page.contains(WRONG_CODE), "{page}");
    browser.screenshot("wrong-code").await;

    browser.fill("#code", &code_at(&uri, step).await).await;
    browser.press("Verify").await;
    browser.wait_for_heading("Back at the app").await;
    let code = code_in(&location(&browser).await, &client.redirect);
    let (id_token, access) = redeem(&app, &client, &code).await;
    assert_eq!(id_token["sub"], user.id.to_string());
    assert_mfa(&id_token, &access, json!(["pwd", "otp", "mfa"]));

    // Single sign-on keeps how the user signed in.
    browser.goto(&app.url(&authorize_path(&client, &[]))).await;
    browser.wait_for_heading("Back at the app").await;
    let code = code_in(&location(&browser).await, &client.redirect);
    let (id_token, access) = redeem(&app, &client, &code).await;
    assert_mfa(&id_token, &access, json!(["pwd", "otp", "mfa"]));

    // Signing in again (prompt=login) asks for the factor again; a
    // recovery code does instead of the app's, once.
    for attempt in ["first", "again"] {
        browser
            .goto(&app.url(&authorize_path(&client, &[("prompt", "login")])))
            .await;
        browser.wait_for_heading("Sign in").await;
        browser.fill("#username", &user.username).await;
        browser.fill("#password", &user.password).await;
        browser.press("Sign in").await;
        browser.wait_for_heading("Two-step verification").await;
        browser
            .find("summary")
            .await
            .click()
            .await
            .expect("open the recovery code field");
        browser.fill("#recovery_code", &recovery_codes[0]).await;
        browser.press("Verify").await;
        if attempt == "first" {
            browser.wait_for_heading("Back at the app").await;
            let code = code_in(&location(&browser).await, &client.redirect);
            let (id_token, access) = redeem(&app, &client, &code).await;
            assert_mfa(&id_token, &access, json!(["pwd", "mfa"]));
        } else {
            let page = browser.wait_for_heading("Two-step verification").await;
            assert!(page.contains(WRONG_CODE), "a used recovery code: {page}");
        }
    }
    browser.close().await;
}

/// Posts a page's form with its hidden fields and `extra` to `path`.
async fn submit(visitor: &mut Visitor, path: &str, page: &Page, extra: &[(&str, &str)]) -> Page {
    let mut form = hidden_inputs(&page.body);
    form.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
    form.extend(
        extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    visitor.post_form(path, &form).await
}

/// Posts `fields` and the anti-forgery token of `page` (whose forms all
/// carry the same one) to `path`.
async fn post_with_csrf(
    visitor: &mut Visitor,
    path: &str,
    page: &Page,
    fields: &[(&str, &str)],
) -> Page {
    let csrf = input_value(&page.body, "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    visitor.post_form(path, &form).await
}

/// The authorization page's password step for `user`: the second-factor
/// page.
async fn factor_page(visitor: &mut Visitor, client: &WebApp, user: &TestUser) -> Page {
    let page = visitor.get(&authorize_path(client, &[])).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page = submit(
        visitor,
        "/oauth/authorize",
        &page,
        &[("username", &user.username), ("password", &user.password)],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<h1>Two-step verification</h1>"),
        "{}",
        page.body
    );
    page
}

#[tokio::test]
async fn a_second_factor_step_that_is_over_goes_back_to_the_password() {
    let app = app().await;
    let client = web_app(&app, "https://notes.example.com/cb").await;
    let enrolled = enrolled(&app).await;
    let mut visitor = Visitor::new(&app);
    let page = factor_page(&mut visitor, &client, &enrolled.user).await;
    assert!(
        !page
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("tessera_browser=")),
        "no browser session before the second factor"
    );
    let wrong = wrong_code(&enrolled.uri, enrolled.step).await;
    let right = code_at(&enrolled.uri, enrolled.step).await;

    // A token of another door (the JSON login's) is no page's step.
    let login = app
        .login_json(json!({"email": enrolled.user.email, "password": enrolled.user.password}))
        .await;
    let json_token = json_of(login, StatusCode::UNAUTHORIZED).await["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = submit(
        &mut visitor,
        "/oauth/authorize",
        &page,
        &[("mfa_token", &json_token), ("code", &wrong)],
    )
    .await;
    assert!(
        refused.body.contains("<h1>Sign in</h1>"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(DEAD_TOKEN), "{}", refused.body);
    // And a page's token is refused by the JSON step.
    let page_token = input_value(&page.body, "mfa_token");
    let response = app
        .post_json(
            "/api/v1/auth/mfa/verify",
            json!({"mfa_token": page_token, "code": wrong}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Not a code: the page again, in the API's words.
    let again = submit(
        &mut visitor,
        "/oauth/authorize",
        &page,
        &[("code", "12345")],
    )
    .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        again
            .body
            .contains("The code must be the 6 digits your authenticator app shows."),
        "{}",
        again.body
    );
    // Five wrong codes (the step's allowance, and the account's), then the
    // step is over: the sign-in form, even with the right code.
    for _ in 0..5 {
        let again = submit(&mut visitor, "/oauth/authorize", &page, &[("code", &wrong)]).await;
        assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.body);
        assert!(again.body.contains(WRONG_CODE), "{}", again.body);
        assert!(again.body.contains("<h1>Two-step verification</h1>"));
    }
    let over = submit(&mut visitor, "/oauth/authorize", &page, &[("code", &right)]).await;
    assert_eq!(over.status, StatusCode::UNAUTHORIZED, "{}", over.body);
    assert!(over.body.contains("<h1>Sign in</h1>"), "{}", over.body);
    assert!(over.body.contains(DEAD_TOKEN), "{}", over.body);

    // Without the anti-forgery token nothing is tried.
    let forged = visitor
        .post_form(
            "/oauth/authorize",
            &[
                ("action", "second_factor"),
                ("mfa_token", &page_token),
                ("code", &right),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_account_page_signs_in_with_the_factor_and_removes_it_with_a_code() {
    let app = app().await;
    let enrolled = enrolled(&app).await;
    let mut visitor = Visitor::new(&app);
    let form = visitor.get("/oauth/account").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("<h1>Sign in</h1>"), "{}", form.body);
    let csp = form.header("content-security-policy");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    // The passkey button's script, from this origin only; nothing inline.
    assert!(
        csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    let factor = submit(
        &mut visitor,
        "/oauth/account/sign-in",
        &form,
        &[
            ("username", &enrolled.user.email),
            ("password", &enrolled.user.password),
        ],
    )
    .await;
    assert_eq!(factor.status, StatusCode::OK, "{}", factor.body);
    assert!(factor.body.contains("<h1>Two-step verification</h1>"));
    let wrong = wrong_code(&enrolled.uri, enrolled.step).await;
    let again = submit(
        &mut visitor,
        "/oauth/account/second-factor",
        &factor,
        &[("code", &wrong)],
    )
    .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.body.contains(WRONG_CODE), "{}", again.body);
    let right = code_at(&enrolled.uri, enrolled.step).await;
    let signed_in = submit(
        &mut visitor,
        "/oauth/account/second-factor",
        &factor,
        &[("code", &right)],
    )
    .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.header("location"), "/oauth/account");
    assert!(visitor.cookies.contains_key("tessera_browser"));

    let page = visitor.get("/oauth/account").await;
    assert!(
        page.body.contains("<h1>Account security</h1>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Recovery codes left: 10"),
        "{}",
        page.body
    );
    // Removing needs a code now: a used one is wrong.
    let refused = post_with_csrf(
        &mut visitor,
        "/oauth/account/totp/remove",
        &page,
        &[("code", &right)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.body.contains(WRONG_CODE), "{}", refused.body);
    let next = code_at(&enrolled.uri, enrolled.step + 30).await;
    let removed = post_with_csrf(
        &mut visitor,
        "/oauth/account/totp/remove",
        &page,
        &[("code", &next)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let page = visitor.get("/oauth/account").await;
    assert!(page.body.contains("Off: signing in"), "{}", page.body);
    app.audit_events_at_least(enrolled.user.id, "mfa_totp_removed", 1)
        .await;

    // Signed out, the page asks to sign in, and its forms do nothing.
    let out = post_with_csrf(&mut visitor, "/oauth/account/sign-out", &page, &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!visitor.cookies.contains_key("tessera_browser"));
    let start = post_with_csrf(&mut visitor, "/oauth/account/totp", &page, &[]).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let form = visitor.get("/oauth/account").await;
    assert!(form.body.contains("<h1>Sign in</h1>"), "{}", form.body);
}
