//! Apps sign users in the OAuth 2.1 way: the authorization code flow with
//! PKCE on tessera's own sign-in page, single sign-on across apps, consent
//! for third-party apps, OpenID Connect (ID tokens, userinfo, discovery,
//! RP-initiated logout). Driven over plain HTTP by a cookie-keeping visitor
//! (`tests/oidc_browser.rs` drives the same pages in Chromium with a real
//! relying-party library).

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::pages::{hidden_inputs, spawn_app_at_own_url, Page, Visitor};
use common::{assert_oauth_error, jwt_claims, TestApp, TestUser, Tokens};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An app whose issuer is its own address (what OIDC asks of an issuer).
async fn app() -> TestApp {
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    spawn_app_at_own_url(
        Figment::new()
            .merge(Serialized::default(
                "server.bind",
                format!("127.0.0.1:{port}"),
            ))
            .merge(Serialized::default("server.public_url", &base))
            .merge(Serialized::default("jwt.issuer", &base)),
    )
    .await
}

struct App {
    id: String,
    secret: Option<String>,
    redirect: String,
}

async fn register(app: &TestApp, admin: &Tokens, body: Value) -> App {
    let redirect = body["redirect_uris"][0].as_str().unwrap().to_owned();
    let (id, secret) = app.register_client(&admin.access, body).await;
    App {
        id,
        secret,
        redirect,
    }
}

/// A native app: public, first-party, a loopback redirect on any port.
async fn native_app(app: &TestApp, admin: &Tokens) -> App {
    register(
        app,
        admin,
        json!({
            "name": "Notes for iOS", "kind": "public",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": ["http://127.0.0.1/callback"],
            "first_party": true,
        }),
    )
    .await
}

/// A web app with a secret.
async fn web_app(app: &TestApp, admin: &Tokens, name: &str, first_party: bool) -> App {
    register(
        app,
        admin,
        json!({
            "name": name,
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["notes:read"],
            "redirect_uris": [format!("https://{}.example.com/cb", name.to_lowercase().replace(' ', "-"))],
            "post_logout_redirect_uris": [format!("https://{}.example.com/bye", name.to_lowercase().replace(' ', "-"))],
            "first_party": first_party,
        }),
    )
    .await
}

fn authorize_path(client: &App, redirect: &str, extra: &[(&str, &str)]) -> String {
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", redirect),
        ("scope", "openid profile email"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge_method", "S256"),
    ];
    let challenge = challenge(VERIFIER);
    query.push(("code_challenge", &challenge));
    query.extend_from_slice(extra);
    format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(&query).unwrap()
    )
}

/// Posts a page's form with its hidden fields and `extra`.
async fn submit(visitor: &mut Visitor, page: &Page, extra: &[(&str, &str)]) -> Page {
    let mut form = hidden_inputs(&page.body);
    form.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
    form.extend(
        extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    visitor.post_form("/oauth/authorize", &form).await
}

async fn sign_in(visitor: &mut Visitor, page: &Page, user: &TestUser) -> Page {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<h1>Sign in</h1>"), "{}", page.body);
    submit(
        visitor,
        page,
        &[("username", &user.username), ("password", &user.password)],
    )
    .await
}

/// The query of a redirect to the app, which must go to `redirect`.
fn redirected(page: &Page, redirect: &str) -> Vec<(String, String)> {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.header("location");
    let (target, query) = location.split_once('?').expect("a query");
    assert_eq!(target, redirect, "{location}");
    serde_urlencoded::from_str(query).unwrap()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn exchange(
    app: &TestApp,
    client: &App,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> reqwest::Response {
    let mut request = app.post("/oauth/token");
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ];
    match &client.secret {
        Some(secret) => request = request.basic_auth(&client.id, Some(secret)),
        None => form.push(("client_id", &client.id)),
    }
    request.form(&form).send().await.unwrap()
}

async fn tokens_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Signs `user` in for `client` and redeems the code.
async fn code_for(visitor: &mut Visitor, client: &App, redirect: &str) -> String {
    let page = visitor.get(&authorize_path(client, redirect, &[])).await;
    let query = redirected(&page, redirect);
    param(&query, "code").unwrap().to_owned()
}

#[tokio::test]
async fn a_native_app_signs_in_on_a_loopback_port_and_refreshes() {
    let app = app().await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let client = native_app(&app, &admin).await;
    let user = app.new_user().await;
    let redirect = "http://127.0.0.1:53682/callback";

    // Discovery says where everything is.
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], app.address);
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{}/oauth/authorize", app.address)
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    for scope in ["openid", "profile", "email", "offline_access"] {
        assert!(
            discovery["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(scope)),
            "{discovery}"
        );
    }
    assert!(discovery["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("RS256")));

    let mut visitor = Visitor::new(&app);
    let page = visitor.get(&authorize_path(&client, redirect, &[])).await;
    assert!(page.body.contains("Notes for iOS"), "{}", page.body);
    let csp = page.header("content-security-policy").to_owned();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:53682"),
        "{csp}"
    );
    // The passkey button's script, from this origin only; nothing inline.
    assert!(
        csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options"), "DENY");

    // A wrong password: the form again, in words, nothing redirected.
    let wrong = submit(
        &mut visitor,
        &page,
        &[
            ("username", &user.username),
            ("password", "not-the-password"),
        ],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.body.contains("Incorrect username or password"),
        "{}",
        wrong.body
    );

    let answer = sign_in(&mut visitor, &page, &user).await;
    let cookie = answer
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("tessera_browser="))
        .expect("a browser session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(cookie.contains("Path=/oauth"), "{cookie}");
    let query = redirected(&answer, redirect);
    assert_eq!(param(&query, "state"), Some("st-123"));
    assert_eq!(param(&query, "iss"), Some(app.address.as_str()));
    let code = param(&query, "code").unwrap();

    let tokens = tokens_of(exchange(&app, &client, code, redirect, VERIFIER).await).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "email openid profile");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = jwt_claims(access);
    assert_eq!(claims["client_id"], client.id);
    assert_eq!(claims["sub"], user.id.to_string());
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], client.id);
    assert_eq!(id_token["iss"], app.address);
    assert_eq!(id_token["nonce"], "n-456");
    assert_eq!(id_token["email"], user.email);
    assert_eq!(id_token["email_verified"], false, "no activation proved it");
    assert_eq!(id_token["preferred_username"], user.username);
    assert_eq!(id_token["sid"], claims["sid"]);
    assert_eq!(id_token["amr"], json!(["pwd"]));
    assert_eq!(id_token["acr"], "pwd");
    assert!(id_token["auth_time"].as_u64().unwrap() <= id_token["iat"].as_u64().unwrap());

    // Userinfo says the same; the session is listed with the app's name.
    let info: Value = app
        .get("/oauth/userinfo")
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], user.id.to_string());
    assert_eq!(info["email"], user.email);
    let sessions: Value = app
        .get("/api/v1/users/me/sessions")
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["client_name"] == "Notes for iOS" && s["current"] == true),
        "{sessions}"
    );

    // First-party: a refresh token, which the app (a public client) rotates.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let rotated = app
        .post("/oauth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client.id),
        ])
        .send()
        .await
        .unwrap();
    let rotated = tokens_of(rotated).await;
    assert_eq!(
        jwt_claims(rotated["access_token"].as_str().unwrap())["client_id"],
        client.id
    );
}

#[tokio::test]
async fn a_code_works_once_for_its_client_redirect_and_verifier_and_a_replay_ends_its_session() {
    let app = app().await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let web = web_app(&app, &admin, "Notes Web", true).await;
    let user = app.new_user().await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get(&authorize_path(&web, &web.redirect, &[])).await;
    let query = redirected(&sign_in(&mut visitor, &page, &user).await, &web.redirect);
    let code = param(&query, "code").unwrap().to_owned();

    // A wrong verifier spends the code.
    let other_verifier = "x".repeat(43);
    assert_oauth_error(
        exchange(&app, &web, &code, &web.redirect, &other_verifier).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        exchange(&app, &web, &code, &web.redirect, VERIFIER).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    // A fresh code (single sign-on: no page) works once; its replay ends
    // the session the first redemption opened.
    let code = code_for(&mut visitor, &web, &web.redirect).await;
    let first = tokens_of(exchange(&app, &web, &code, &web.redirect, VERIFIER).await).await;
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/users/me")
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_oauth_error(
        exchange(&app, &web, &code, &web.redirect, VERIFIER).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/users/me")
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "the replay ended the session"
    );
    assert_oauth_error(
        app.post("/oauth/token")
            .basic_auth(&web.id, web.secret.as_deref())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    // Another client, or another redirect URI, cannot redeem a code.
    let other = web_app(&app, &admin, "Other Web", true).await;
    let code = code_for(&mut visitor, &web, &web.redirect).await;
    assert_oauth_error(
        exchange(&app, &other, &code, &web.redirect, VERIFIER).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let code = code_for(&mut visitor, &web, &web.redirect).await;
    assert_oauth_error(
        exchange(&app, &web, &code, &other.redirect, VERIFIER).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    // A confidential client's refresh token needs its secret.
    let code = code_for(&mut visitor, &web, &web.redirect).await;
    let tokens = tokens_of(exchange(&app, &web, &code, &web.redirect, VERIFIER).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let without = app
        .post("/api/v1/auth/refresh")
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn single_sign_on_is_silent_for_confidential_apps_and_one_click_for_public_ones() {
    let app = app().await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let web = web_app(&app, &admin, "Notes Web", true).await;
    let native = native_app(&app, &admin).await;
    let user = app.new_user().await;
    let loopback = "http://127.0.0.1:40001/callback";
    let mut visitor = Visitor::new(&app);

    // Without a browser session, prompt=none is login_required.
    let silent = visitor
        .get(&authorize_path(&web, &web.redirect, &[("prompt", "none")]))
        .await;
    let query = redirected(&silent, &web.redirect);
    assert_eq!(param(&query, "error"), Some("login_required"));
    assert_eq!(param(&query, "state"), Some("st-123"));

    let page = visitor.get(&authorize_path(&web, &web.redirect, &[])).await;
    redirected(&sign_in(&mut visitor, &page, &user).await, &web.redirect);

    // A confidential app: silently, prompt=none too.
    let silent = visitor
        .get(&authorize_path(&web, &web.redirect, &[("prompt", "none")]))
        .await;
    assert!(param(&redirected(&silent, &web.redirect), "code").is_some());

    // A public app: never silently (RFC 8252 §8.6).
    let silent = visitor
        .get(&authorize_path(&native, loopback, &[("prompt", "none")]))
        .await;
    assert_eq!(
        param(&redirected(&silent, loopback), "error"),
        Some("interaction_required")
    );
    let page = visitor.get(&authorize_path(&native, loopback, &[])).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<h1>Continue to Notes for iOS</h1>"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains(&format!("Continue as {}", user.username)));
    let answer = submit(&mut visitor, &page, &[]).await;
    let code = param(&redirected(&answer, loopback), "code")
        .unwrap()
        .to_owned();
    tokens_of(exchange(&app, &native, &code, loopback, VERIFIER).await).await;

    // prompt=login asks for the password again.
    let again = visitor
        .get(&authorize_path(&web, &web.redirect, &[("prompt", "login")]))
        .await;
    assert!(again.body.contains("<h1>Sign in</h1>"), "{}", again.body);

    // A form without its anti-forgery token does nothing.
    let forged = visitor
        .post_form(
            "/oauth/authorize",
            &hidden_inputs(&page.body)
                .iter()
                .filter(|(n, _)| n != "csrf")
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_third_party_app_asks_consent_once_and_the_user_can_take_it_back() {
    let app = app().await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let third = web_app(&app, &admin, "Photo Printer", false).await;
    let user = app.new_user().await;
    let mut visitor = Visitor::new(&app);
    let path = authorize_path(&third, &third.redirect, &[("scope", "openid notes:read")]);

    let page = visitor.get(&path).await;
    let consent = sign_in(&mut visitor, &page, &user).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(
        consent
            .body
            .contains("<h1>Photo Printer asks for access</h1>"),
        "{}",
        consent.body
    );
    assert!(consent.body.contains("notes:read"));

    // Deny: back to the app with access_denied.
    let denied = submit(&mut visitor, &consent, &[("action", "deny")]).await;
    assert_eq!(
        param(&redirected(&denied, &third.redirect), "error"),
        Some("access_denied")
    );
    // prompt=none while consent is missing: consent_required.
    let silent = visitor.get(&format!("{path}&prompt=none")).await;
    assert_eq!(
        param(&redirected(&silent, &third.redirect), "error"),
        Some("consent_required")
    );

    let consent = visitor.get(&path).await;
    let allowed = submit(&mut visitor, &consent, &[("action", "allow")]).await;
    let code = param(&redirected(&allowed, &third.redirect), "code")
        .unwrap()
        .to_owned();
    let tokens = tokens_of(exchange(&app, &third, &code, &third.redirect, VERIFIER).await).await;
    assert!(
        tokens.get("refresh_token").is_none(),
        "third party without offline_access: {tokens}"
    );
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // Remembered: the next visit answers at once.
    let again = visitor.get(&path).await;
    assert!(param(&redirected(&again, &third.redirect), "code").is_some());

    // Listed, and taken back: the page asks again.
    let listed: Value = app
        .get("/api/v1/users/me/consents")
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["client_id"], third.id, "{listed}");
    assert_eq!(listed[0]["client_name"], "Photo Printer");
    assert_eq!(listed[0]["scopes"], json!(["notes:read", "openid"]));
    let gone = app
        .delete(&format!("/api/v1/users/me/consents/{}", third.id))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let asks = visitor.get(&path).await;
    assert!(asks.body.contains("asks for access"), "{}", asks.body);
}

#[tokio::test]
async fn bad_requests_get_an_error_page_never_a_redirect() {
    let app = app().await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let web = web_app(&app, &admin, "Notes Web", true).await;
    let native = native_app(&app, &admin).await;
    let mut visitor = Visitor::new(&app);
    let one_off = format!("{}x", web.redirect);
    let encoded_evil = "https%3A%2F%2Fevil.example%2Fcb".to_owned();
    let redirects = [
        one_off.as_str(),
        "https://evil.example/cb",
        "//evil.example/cb",
        "https://notes-web.example.com@evil.example/cb",
        "https://notes-web.example.com.evil.example/cb",
        encoded_evil.as_str(),
        "http://127.0.0.1:40001/callback/../../evil",
        "javascript:alert(1)",
    ];
    for redirect in redirects {
        for client in [&web, &native] {
            let page = visitor.get(&authorize_path(client, redirect, &[])).await;
            assert_eq!(
                page.status,
                StatusCode::BAD_REQUEST,
                "{redirect}: {}",
                page.body
            );
            assert!(page.header("location").is_empty(), "{redirect}");
            assert!(page.body.contains("This did not work"), "{}", page.body);
            assert!(!page.body.contains("<script"), "{}", page.body);
        }
    }
    // An unknown client is a page too.
    let unknown = App {
        id: "no-such-client".into(),
        secret: None,
        redirect: web.redirect.clone(),
    };
    let page = visitor
        .get(&authorize_path(&unknown, &web.redirect, &[]))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    // Known client and URI: every other problem goes back to the app.
    let plain = visitor
        .get(&authorize_path(
            &web,
            &web.redirect,
            &[("code_challenge_method", "plain")],
        ))
        .await;
    assert_eq!(
        param(&redirected(&plain, &web.redirect), "error"),
        Some("invalid_request")
    );
    let scope = visitor
        .get(&authorize_path(
            &web,
            &web.redirect,
            &[("scope", "openid admin:all")],
        ))
        .await;
    assert_eq!(
        param(&redirected(&scope, &web.redirect), "error"),
        Some("invalid_scope")
    );
    let markup = visitor
        .get(&authorize_path(
            &web,
            &web.redirect,
            &[("state", "<script>x</script>")],
        ))
        .await;
    assert!(!markup.body.contains("<script>x"), "{}", markup.body);
}

#[tokio::test]
async fn logout_at_the_app_ends_its_session_and_the_browser_session_only() {
    let app = app().await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let web = web_app(&app, &admin, "Notes Web", true).await;
    let other = web_app(&app, &admin, "Other Web", true).await;
    let user = app.new_user().await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get(&authorize_path(&web, &web.redirect, &[])).await;
    let query = redirected(&sign_in(&mut visitor, &page, &user).await, &web.redirect);
    let tokens = tokens_of(
        exchange(
            &app,
            &web,
            param(&query, "code").unwrap(),
            &web.redirect,
            VERIFIER,
        )
        .await,
    )
    .await;
    let code = code_for(&mut visitor, &other, &other.redirect).await;
    let other_tokens =
        tokens_of(exchange(&app, &other, &code, &other.redirect, VERIFIER).await).await;

    // A post-logout URI the app did not register is a page.
    let id_token = tokens["id_token"].as_str().unwrap();
    let bad = visitor
        .get(&format!(
            "/oauth/logout?{}",
            serde_urlencoded::to_string([
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", "https://evil.example/bye"),
            ])
            .unwrap()
        ))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let bye = web.redirect.replace("/cb", "/bye");
    let out = visitor
        .get(&format!(
            "/oauth/logout?{}",
            serde_urlencoded::to_string([
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", bye.as_str()),
                ("state", "bye-1"),
            ])
            .unwrap()
        ))
        .await;
    assert_eq!(param(&redirected(&out, &bye), "state"), Some("bye-1"));
    let status = |token: String| {
        let app = app.clone();
        async move {
            app.get("/api/v1/users/me")
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        status(tokens["access_token"].as_str().unwrap().to_owned()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(other_tokens["access_token"].as_str().unwrap().to_owned()).await,
        StatusCode::OK,
        "another app's session is its own"
    );
    // The browser session is over: the next app asks for the password.
    let page = visitor
        .get(&authorize_path(&other, &other.redirect, &[]))
        .await;
    assert!(page.body.contains("<h1>Sign in</h1>"), "{}", page.body);
}

#[tokio::test]
async fn a_blocked_users_browser_session_ends() {
    let app = app().await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let web = web_app(&app, &admin, "Notes Web", true).await;
    let user = app.new_user().await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get(&authorize_path(&web, &web.redirect, &[])).await;
    redirected(&sign_in(&mut visitor, &page, &user).await, &web.redirect);
    let code = code_for(&mut visitor, &web, &web.redirect).await;

    let blocked = app
        .post(&format!("/api/v1/admin/users/{}/block", user.id))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::OK);

    // The code issued before the block is worth nothing, and the browser
    // must sign in again (and is refused).
    assert_oauth_error(
        exchange(&app, &web, &code, &web.redirect, VERIFIER).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let page = visitor.get(&authorize_path(&web, &web.redirect, &[])).await;
    assert!(page.body.contains("<h1>Sign in</h1>"), "{}", page.body);
    let refused = sign_in(&mut visitor, &page, &user).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("User account is blocked."),
        "{}",
        refused.body
    );
}

#[tokio::test]
async fn hostile_text_in_every_field_of_the_sign_in_form_gets_no_5xx_no_markup_and_no_redirect_elsewhere(
) {
    let app = app().await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let web = web_app(&app, &admin, "Notes Web", true).await;
    let user = app.new_user().await;
    let long = "a".repeat(10_000);
    let hostile = [
        "\0",
        "alice\0@example.com",
        "<script>alert(1)</script>",
        "\"><script>alert(1)</script>",
        "' OR 1=1 --",
        "//evil.example/cb",
        "https://notes-web.example.com@evil.example/cb",
        "https%3A%2F%2Fevil.example%2Fcb",
        "\u{202e}\u{feff}",
        long.as_str(),
    ];
    let fields = [
        "username",
        "password",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "response_type",
        "max_age",
        "action",
    ];
    let mut visitor = Visitor::new(&app);
    let page = visitor.get(&authorize_path(&web, &web.redirect, &[])).await;
    assert_eq!(page.status, StatusCode::OK);
    let mut failures = Vec::new();
    for field in fields {
        for value in hostile {
            let answer = submit(
                &mut visitor,
                &page,
                &[
                    ("username", &user.username),
                    ("password", "not the password"),
                    (field, value),
                ],
            )
            .await;
            let location = answer.header("location");
            let label = format!("{field} = {:.40?}", value);
            if answer.status.is_server_error() {
                failures.push(format!("{label}: {} {:.200}", answer.status, answer.body));
            } else if answer.body.contains("<script>alert(1)") {
                failures.push(format!("{label}: markup reflected"));
            } else if !location.is_empty() && !location.starts_with(&format!("{}?", web.redirect)) {
                failures.push(format!("{label}: redirected to {location}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
