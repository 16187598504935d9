//! The authorization code flow with PKCE and OpenID Connect, driven the way
//! a person meets it: headless Chromium opens a real relying party (authlib's
//! Flask client, `tests/python/oidc_rp.py`), which sends it to tessera's
//! sign-in, one-click, consent and error pages and back. authlib checks
//! what a real app checks (discovery, the ID token's signature from the
//! JWKS, `iss`, `aud`, `nonce`, `at_hash`, userinfo, RP-initiated logout)
//! and shows what it got as JSON; these tests judge it. Screenshots of each
//! page land in `<target>/browser-screenshots/oidc-*.png`.
//!
//! Each relying party listens on its own port of 127.0.0.1; the browser
//! keeps one cookie jar for all of them and tessera, as a person's would.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::pages::browser::Browser;
use common::{free_port, overrides, spawn_app_with, TestApp, TestUser};
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera::tokens::KeySet;
use tokio::io::{AsyncBufReadExt, BufReader};

const RP_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/oidc_rp.py");
/// How long a relying party may take to start listening.
const RP_START: Duration = Duration::from_secs(30);
/// How long any one browser step may take (as `Browser` allows).
const STEP: Duration = Duration::from_secs(15);
const SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A key set with an RSA key beside the Ed25519 one (what `tessera keys
/// generate` makes), so a client may ask for RS256 ID tokens; one per test
/// process.
fn oidc_keys_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tessera-oidc-keys-{}", uuid::Uuid::new_v4()));
        KeySet::generate_set(&dir).expect("generate an Ed25519 and an RSA key");
        dir
    })
    .clone()
}

/// An app at its own address, whose issuer is that address: the URL the
/// discovery document is served under, as OIDC requires.
async fn oidc_app() -> TestApp {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    spawn_app_with(overrides(&[
        ("server.bind", json!(format!("127.0.0.1:{port}"))),
        ("server.public_url", json!(base)),
        ("jwt.issuer", json!(base)),
        ("jwt.keys_dir", json!(oidc_keys_dir())),
    ]))
    .await
}

async fn admin(app: &TestApp) -> String {
    app.new_user_with_role("ADMIN").await.1.access
}

/// How an app is registered for one relying party.
struct App {
    name: String,
    public: bool,
    first_party: bool,
    rs256: bool,
}

impl App {
    fn confidential(name: &str) -> Self {
        App {
            name: format!("{name} {}", common::unique_name()),
            public: false,
            first_party: true,
            rs256: false,
        }
    }

    fn public(name: &str) -> Self {
        App {
            public: true,
            ..App::confidential(name)
        }
    }

    fn third_party_rs256(name: &str) -> Self {
        App {
            first_party: false,
            rs256: true,
            ..App::confidential(name)
        }
    }
}

/// A relying party registered with tessera and running: the Flask app, its
/// client id, and the name it was registered under.
struct Rp {
    child: tokio::process::Child,
    base: String,
    log: PathBuf,
    client_id: String,
    name: String,
}

impl Rp {
    /// Registers `registration` for a relying party on a free port and
    /// starts it (asking `scope`, or the RP's default
    /// `openid profile email offline_access`).
    async fn start(app: &TestApp, admin: &str, registration: App, scope: Option<&str>) -> Rp {
        // Bound here and handed to the RP as its stdin, so no other process
        // can take the port between choosing it and listening on it.
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the RP");
        let port = socket.local_addr().expect("its address").port();
        let base = format!("http://127.0.0.1:{port}");
        let mut body = json!({
            "name": registration.name,
            "kind": if registration.public { "public" } else { "confidential" },
            "auth_method": if registration.public { "none" } else { "client_secret_basic" },
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": SCOPES,
            "redirect_uris": [format!("{base}/callback")],
            "post_logout_redirect_uris": [format!("{base}/logged-out")],
            "first_party": registration.first_party,
        });
        // Sent only when asked for, so the other stories do not depend on it.
        if registration.rs256 {
            body["id_token_signed_response_alg"] = json!("RS256");
        }
        let (client_id, secret) = app.register_client(admin, body).await;
        assert_eq!(
            secret.is_some(),
            !registration.public,
            "a confidential client, and only it, gets a secret"
        );

        let config = json!({
            "port": port,
            "issuer": app.config.jwt.issuer,
            "client_id": client_id,
            "client_secret": secret,
            "auth_method": if registration.public { "none" } else { "client_secret_basic" },
            "scope": scope,
        });
        let interpreter = common::venv_python();
        assert!(
            interpreter.exists(),
            "no test virtualenv at {}: run scripts/test-deps.d/python-venv.sh (make test does)",
            interpreter.display()
        );
        let log = std::env::temp_dir().join(format!("tessera-oidc-rp-{port}.log"));
        let stderr = std::fs::File::create(&log).expect("a log file for the RP");
        let mut child = tokio::process::Command::new(interpreter)
            .arg(RP_SCRIPT)
            .arg(config.to_string())
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(socket)))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("the virtualenv's python runs");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let ready = tokio::time::timeout(RP_START, lines.next_line()).await;
        let rp = Rp {
            child,
            base,
            log,
            client_id,
            name: registration.name,
        };
        match ready {
            Ok(Ok(Some(line))) if line.trim() == "ready" => rp,
            other => panic!(
                "the RP did not start ({other:?}):\n{}",
                std::fs::read_to_string(&rp.log).unwrap_or_default()
            ),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Rp {
    fn drop(&mut self) {
        // What the RP logged (authlib's tracebacks) explains a failed story.
        if std::thread::panicking() {
            eprintln!(
                "--- RP {} log ---\n{}",
                self.base,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Waits until the page has an `h1` meeting the XPath `condition`; returns
/// the page's text.
async fn wait_for_heading_where(browser: &Browser, condition: &str) -> String {
    let xpath = format!("//h1[{condition}]");
    if let Err(e) = browser
        .client
        .wait()
        .at_most(STEP)
        .for_element(Locator::XPath(&xpath))
        .await
    {
        let text = browser.text().await;
        panic!("no heading where {condition} ({e}); the page says:\n{text}");
    }
    browser.text().await
}

/// Presses the button whose text starts with `prefix`, and waits until the
/// page it leads to has replaced this one (as `Browser::press`).
async fn press_starting(browser: &Browser, prefix: &str) {
    let xpath = format!("//button[starts-with(normalize-space(), '{prefix}')]");
    let old_page = browser
        .client
        .find(Locator::Css("html"))
        .await
        .expect("the page has a document");
    browser
        .client
        .wait()
        .at_most(STEP)
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no button starting {prefix:?}: {e}"))
        .click()
        .await
        .expect("click");
    let deadline = Instant::now() + STEP;
    while old_page.tag_name().await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "pressing {prefix:?} did not leave the page"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The origin (`http://host:port`) of the page the browser shows.
async fn origin(browser: &Browser) -> String {
    browser
        .client
        .current_url()
        .await
        .expect("the current URL")
        .origin()
        .ascii_serialization()
}

/// What the RP's `Signed in` page says authlib got.
async fn signed_in(browser: &Browser) -> Value {
    browser.wait_for_heading("Signed in").await;
    let text = browser.text_of("#claims").await;
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the RP's claims are JSON ({e}):\n{text}"))
}

/// What the RP's error page says.
async fn rp_error(browser: &Browser) -> String {
    browser.wait_for_heading("RP error").await;
    browser.text_of("#error").await
}

/// Opens the RP's sign-in, and signs in on tessera's page with a password.
async fn sign_in_with_password(browser: &Browser, app: &TestApp, rp: &Rp, user: &TestUser) {
    browser.goto(&rp.url("/login")).await;
    browser.wait_for_heading("Sign in").await;
    assert_eq!(
        origin(browser).await,
        app.address,
        "the sign-in page is tessera's"
    );
    browser.fill("#username", &user.username).await;
    browser.fill("#password", &user.password).await;
    browser.press("Sign in").await;
}

/// What every signed-in answer shares: the user, the client, the issuer.
fn assert_signed_in_as(claims: &Value, app: &TestApp, rp: &Rp, user: &TestUser) {
    let id_token = &claims["id_token"];
    assert_eq!(id_token["sub"], user.id.to_string(), "{claims}");
    assert_eq!(id_token["iss"], app.config.jwt.issuer.as_str(), "{claims}");
    let aud = &id_token["aud"];
    assert!(
        aud == rp.client_id.as_str() || aud == &json!([rp.client_id]),
        "aud names the client: {claims}"
    );
    // authlib refuses a token without these (the RP makes them essential),
    // so their presence is what proves the at_hash and nonce checks ran.
    for claim in ["at_hash", "nonce", "auth_time", "sid", "exp", "iat"] {
        assert!(id_token.get(claim).is_some(), "no {claim}: {claims}");
    }
    assert_eq!(claims["userinfo"]["sub"], user.id.to_string(), "{claims}");
    assert_eq!(claims["access_token_client_id"], rp.client_id, "{claims}");
    assert_eq!(
        claims["iss_param"],
        app.config.jwt.issuer.as_str(),
        "{claims}"
    );
    assert_eq!(claims["token_type"], "Bearer", "{claims}");
}

fn access_token(claims: &Value) -> &str {
    claims["access_token"].as_str().expect("an access token")
}

/// The discovery document says what the contract says it says.
async fn assert_discovery(app: &TestApp) {
    let doc = app.get_json("/.well-known/openid-configuration").await;
    let issuer = app.config.jwt.issuer.as_str();
    assert_eq!(doc["issuer"], issuer, "{doc}");
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{issuer}/oauth/authorize"),
        "{doc}"
    );
    assert_eq!(
        doc["token_endpoint"],
        format!("{issuer}/oauth/token"),
        "{doc}"
    );
    assert_eq!(
        doc["userinfo_endpoint"],
        format!("{issuer}/oauth/userinfo"),
        "{doc}"
    );
    assert_eq!(
        doc["jwks_uri"],
        format!("{issuer}/.well-known/jwks.json"),
        "{doc}"
    );
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{issuer}/oauth/logout"),
        "{doc}"
    );
    assert_eq!(
        doc["code_challenge_methods_supported"],
        json!(["S256"]),
        "{doc}"
    );
    let algs = doc["id_token_signing_alg_values_supported"]
        .as_array()
        .expect("signing algorithms");
    assert!(
        algs.contains(&json!("EdDSA")) && algs.contains(&json!("RS256")),
        "{doc}"
    );
    let scopes = doc["scopes_supported"].as_array().expect("scopes");
    for scope in SCOPES {
        assert!(scopes.contains(&json!(scope)), "{scope}: {doc}");
    }
}

#[tokio::test]
async fn a_first_party_web_app_signs_a_user_in_with_authlib_through_the_hosted_page() {
    let app = oidc_app().await;
    assert_discovery(&app).await;
    let admin = admin(&app).await;
    let user = app.new_user().await;
    let rp = Rp::start(&app, &admin, App::confidential("notes"), None).await;

    let browser = Browser::start("oidc-sign-in").await;
    browser.goto(&rp.url("/login")).await;
    let page = browser.wait_for_heading("Sign in").await;
    assert_eq!(origin(&browser).await, app.address, "{page}");
    browser.screenshot("sign-in").await;
    browser.fill("#username", &user.username).await;
    browser.fill("#password", &user.password).await;
    browser.press("Sign in").await;

    let claims = signed_in(&browser).await;
    browser.screenshot("signed-in").await;
    assert_eq!(origin(&browser).await, rp.base, "back at the app");
    assert_signed_in_as(&claims, &app, &rp, &user);
    assert_eq!(claims["alg"], "EdDSA", "{claims}");
    assert_eq!(
        claims["refresh_token"], true,
        "a first-party app gets a refresh token: {claims}"
    );
    let userinfo = &claims["userinfo"];
    assert_eq!(userinfo["email"], user.email.as_str(), "{claims}");
    assert_eq!(
        userinfo["email_verified"], false,
        "the address was never proven by activation: {claims}"
    );
    assert_eq!(
        userinfo["preferred_username"],
        user.username.as_str(),
        "{claims}"
    );
    app.assert_verify(access_token(&claims), StatusCode::OK)
        .await;
    browser.close().await;
}

#[tokio::test]
async fn a_second_app_signs_in_without_a_password_and_a_public_one_asks_for_a_click() {
    let app = oidc_app().await;
    let admin = admin(&app).await;
    let user = app.new_user().await;
    let first = Rp::start(&app, &admin, App::confidential("mail"), None).await;
    let second = Rp::start(&app, &admin, App::confidential("calendar"), None).await;
    let native = Rp::start(&app, &admin, App::public("desktop"), None).await;

    let browser = Browser::start("oidc-sso").await;
    sign_in_with_password(&browser, &app, &first, &user).await;
    let claims = signed_in(&browser).await;
    assert_signed_in_as(&claims, &app, &first, &user);

    // A confidential app: straight through on the browser session.
    browser.goto(&second.url("/login")).await;
    let claims = signed_in(&browser).await;
    browser.screenshot("silent").await;
    assert_signed_in_as(&claims, &app, &second, &user);
    assert_eq!(claims["refresh_token"], true, "{claims}");
    // And silently, when it asks for no page at all.
    browser.goto(&second.url("/login?prompt=none")).await;
    let claims = signed_in(&browser).await;
    assert_signed_in_as(&claims, &app, &second, &user);

    // A public client is never answered silently (RFC 8252 §8.6).
    browser.goto(&native.url("/login?prompt=none")).await;
    let error = rp_error(&browser).await;
    assert!(error.starts_with("interaction_required"), "{error}");
    browser.goto(&native.url("/login")).await;
    let page =
        wait_for_heading_where(&browser, "starts-with(normalize-space(), 'Continue to')").await;
    assert!(page.contains(&native.name), "{page}");
    assert_eq!(origin(&browser).await, app.address, "{page}");
    browser.screenshot("continue").await;
    press_starting(&browser, "Continue as").await;
    let claims = signed_in(&browser).await;
    assert_signed_in_as(&claims, &app, &native, &user);
    assert_eq!(claims["alg"], "EdDSA", "{claims}");
    assert_eq!(claims["refresh_token"], true, "first-party: {claims}");
    browser.close().await;
}

#[tokio::test]
async fn a_third_party_app_asks_for_consent_once_and_gets_rs256_id_tokens() {
    let app = oidc_app().await;
    let admin = admin(&app).await;
    let user = app.new_user().await;
    let rp = Rp::start(
        &app,
        &admin,
        App::third_party_rs256("partner"),
        Some("openid profile email"),
    )
    .await;

    let browser = Browser::start("oidc-consent").await;
    sign_in_with_password(&browser, &app, &rp, &user).await;
    let page = wait_for_heading_where(&browser, "contains(normalize-space(), 'access')").await;
    assert!(page.contains(&rp.name), "the page names the app: {page}");
    assert_eq!(origin(&browser).await, app.address, "{page}");
    assert_eq!(browser.controls("Deny").await, 1, "{page}");
    browser.screenshot("consent").await;
    browser.press("Allow").await;

    let claims = signed_in(&browser).await;
    assert_signed_in_as(&claims, &app, &rp, &user);
    assert_eq!(claims["alg"], "RS256", "{claims}");
    assert!(
        claims["kid"]
            .as_str()
            .is_some_and(|kid| kid.contains("-rsa-")),
        "signed by the RSA key: {claims}"
    );
    assert_eq!(
        claims["refresh_token"], false,
        "third-party without offline_access: {claims}"
    );
    let first_access = access_token(&claims).to_owned();

    // The consent is remembered: no page the second time.
    browser.goto(&rp.url("/login")).await;
    let claims = signed_in(&browser).await;
    assert_signed_in_as(&claims, &app, &rp, &user);
    assert_ne!(access_token(&claims), first_access, "a new sign-in");
    browser.close().await;
}

#[tokio::test]
async fn an_authorize_request_with_a_wrong_redirect_uri_is_an_error_page_not_a_redirect() {
    let app = oidc_app().await;
    let admin = admin(&app).await;
    let port = free_port();
    let registered = format!("http://127.0.0.1:{port}/callback");
    let (client_id, _) = app
        .register_client(
            &admin,
            json!({
                "name": "redirect-check",
                "grant_types": ["authorization_code", "refresh_token"],
                "scopes": SCOPES,
                "redirect_uris": [registered],
                "first_party": true,
            }),
        )
        .await;
    let one_off = format!("http://127.0.0.1:{port}/callbacx");
    let authorize = |client: &str, redirect: &str| {
        let query = [
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", redirect),
            // RFC 7636 appendix B's challenge.
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("state", "s-123"),
            ("scope", "openid profile"),
            ("nonce", "n-456"),
        ];
        let url = reqwest::Url::parse_with_params(&app.url("/oauth/authorize"), query)
            .expect("an authorize URL");
        url.to_string()
    };

    for (what, url) in [
        (
            "a one-character-off redirect URI",
            authorize(&client_id, &one_off),
        ),
        (
            "an unknown client",
            authorize("no-such-client", &registered),
        ),
    ] {
        let response = app.client.get(&url).send().await.expect("authorize");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
        assert!(
            response.headers().get("location").is_none(),
            "{what}: never a redirect"
        );
    }

    let browser = Browser::start("oidc-error").await;
    browser.goto(&authorize(&client_id, &one_off)).await;
    let page = browser.wait_for_heading("This did not work").await;
    browser.screenshot("authorize-error").await;
    assert_eq!(
        origin(&browser).await,
        app.address,
        "stayed on tessera: {page}"
    );
    assert!(!page.contains("s-123"), "{page}");
    browser.close().await;
}

#[tokio::test]
async fn logging_out_from_the_app_ends_its_session_and_the_browser_session() {
    let app = oidc_app().await;
    let admin = admin(&app).await;
    let user = app.new_user().await;
    let rp = Rp::start(&app, &admin, App::confidential("wiki"), None).await;

    let browser = Browser::start("oidc-logout").await;
    sign_in_with_password(&browser, &app, &rp, &user).await;
    let claims = signed_in(&browser).await;
    assert_signed_in_as(&claims, &app, &rp, &user);
    let access = access_token(&claims).to_owned();
    app.assert_verify(&access, StatusCode::OK).await;

    browser.goto(&rp.url("/logout")).await;
    browser.wait_for_heading("Logged out").await;
    browser.screenshot("logged-out").await;
    // authlib checked the state against the one it sent (else "RP error").
    let state = browser.text_of("#state").await;
    assert!(!state.is_empty(), "the state came back");
    let url = browser.client.current_url().await.expect("the URL");
    assert_eq!(url.path(), "/logged-out");
    assert!(
        url.query_pairs().any(|(k, v)| k == "state" && v == state),
        "{url}"
    );
    app.assert_verify(&access, StatusCode::UNAUTHORIZED).await;

    // The browser session ended too: no silent sign-in, and the password
    // is asked again.
    browser.goto(&rp.url("/login?prompt=none")).await;
    let error = rp_error(&browser).await;
    assert!(error.starts_with("login_required"), "{error}");
    browser.goto(&rp.url("/login")).await;
    browser.wait_for_heading("Sign in").await;
    assert_eq!(origin(&browser).await, app.address);
    browser.screenshot("sign-in-again").await;
    browser.close().await;
}
