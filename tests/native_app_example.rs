//! The native app example (`examples/native-app/native_app.py`) works as
//! its README says: run with `--no-browser` against a real tessera, it
//! prints the sign-in URL; a person (here a cookie-keeping HTTP client)
//! signs in on that page; tessera sends the code to the app's loopback
//! listener on whatever port it took; the app exchanges it with its PKCE
//! verifier and no secret, and refreshes once.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::pages::{input_value, Visitor};
use common::{free_port, overrides, spawn_app_with, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/native-app/native_app.py"
);
/// How long the example may take to print its URL, and then to finish
/// once the browser's part is done.
const STEP: Duration = Duration::from_secs(30);
/// More lines than the example ever prints.
const MAX_LINES: usize = 20;

/// An app at its own address whose issuer is that address, as OIDC needs.
async fn oidc_app() -> TestApp {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    spawn_app_with(overrides(&[
        ("server.bind", json!(format!("127.0.0.1:{port}"))),
        ("server.public_url", json!(base)),
        ("jwt.issuer", json!(base)),
    ]))
    .await
}

/// The example running, its output read line by line.
struct Example {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Example {
    fn start(app: &TestApp, client_id: &str) -> Self {
        let mut child = tokio::process::Command::new("python3")
            .arg(EXAMPLE)
            .args(["--issuer", &app.config.jwt.issuer])
            .args(["--client-id", client_id])
            .args(["--no-browser", "--timeout", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (scripts/test-deps.d/python3.sh installs it)");
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Example { child, lines }
    }

    /// What follows `prefix` on the next line of the example's output that
    /// starts with it.
    async fn line_after(&mut self, prefix: &str) -> String {
        for _ in 0..MAX_LINES {
            let line = match tokio::time::timeout(STEP, self.lines.next_line()).await {
                Ok(line) => line.expect("read the example's output"),
                Err(_) => {
                    self.fail(&format!("no {prefix:?} line within {STEP:?}"))
                        .await
                }
            };
            match line {
                Some(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                None => {
                    self.fail(&format!("the example ended before printing {prefix:?}"))
                        .await
                }
            }
        }
        self.fail(&format!("no {prefix:?} line in {MAX_LINES} lines"))
            .await
    }

    /// Panics with `why` and what the example said on stderr.
    async fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.start_kill();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = tokio::time::timeout(STEP, pipe.read_to_string(&mut stderr)).await;
        }
        panic!("{why}; the example's stderr:\n{stderr}");
    }

    /// Waits for the example to end, and asserts it succeeded.
    async fn assert_success(self) {
        let output = tokio::time::timeout(STEP, self.child.wait_with_output())
            .await
            .expect("the example ends")
            .expect("its exit status");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `&amp;`, `&quot;`, `&#x2f;`, ... back to their characters, as a browser
/// reads an attribute.
fn html_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = rest.find(';').map(|end| &rest[1..end]);
        let decoded = entity.and_then(|e| match e {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => e
                .strip_prefix("#x")
                .or_else(|| e.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| e.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        });
        match (entity, decoded) {
            (Some(entity), Some(c)) => {
                out.push(c);
                rest = &rest[entity.len() + 2..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of attribute `name` in one tag's text (`<input ...>`).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(html_unescape(&tag[start..end]))
}

/// The first form of a page: its action and its hidden fields, as a browser
/// would send them.
fn first_form(html: &str) -> (String, Vec<(String, String)>) {
    let start = html.find("<form").expect("a form on the page");
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |end| start + end);
    let form = &html[start..end];
    let form_tag = &form[..form.find('>').expect("a whole form tag")];
    let action = attribute(form_tag, "action").expect("the form has an action");
    let mut hidden = Vec::new();
    for piece in form.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        if attribute(tag, "type").as_deref() == Some("hidden") {
            let name = attribute(tag, "name").expect("a hidden input has a name");
            hidden.push((name, attribute(tag, "value").unwrap_or_default()));
        }
    }
    (action, hidden)
}

#[tokio::test]
async fn the_native_app_example_signs_in_through_a_loopback_redirect_and_refreshes() {
    let app = oidc_app().await;
    let admin = app.new_user_with_role("ADMIN").await.1.access;
    let user = app.new_user().await;
    // As the example's README registers it: public, the loopback redirect
    // URI without a port (any port matches, RFC 8252 §7.3).
    let (client_id, secret) = app
        .register_client(
            &admin,
            json!({
                "name": "Notes desktop",
                "kind": "public",
                "auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "scopes": ["openid", "profile", "email", "offline_access"],
                "redirect_uris": ["http://127.0.0.1/callback"],
                "first_party": true,
            }),
        )
        .await;
    assert!(secret.is_none(), "a public client has no secret");
    let mut example = Example::start(&app, &client_id);

    // The URL it would open: PKCE S256, a state, the app's loopback port.
    let url = example.line_after("Open this URL to sign in: ").await;
    let parsed = reqwest::Url::parse(&url).expect("an absolute URL");
    let query: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(parsed.path(), "/oauth/authorize", "{url}");
    assert_eq!(query["code_challenge_method"], "S256", "{url}");
    assert_eq!(query["client_id"], client_id, "{url}");
    assert!(
        query["redirect_uri"].starts_with("http://127.0.0.1:"),
        "{url}"
    );
    assert!(!query["state"].is_empty(), "{url}");
    let path = url
        .strip_prefix(&app.address)
        .unwrap_or_else(|| panic!("{url} is not on {}", app.address));

    // The person's part: the sign-in page, then its form.
    let mut browser = Visitor::new(&app);
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<h1>Sign in</h1>"), "{}", page.body);
    let csrf = input_value(&page.body, "csrf");
    assert!(!csrf.is_empty(), "{}", page.body);
    let (action, hidden) = first_form(&page.body);
    assert!(
        hidden
            .iter()
            .any(|(name, value)| name == "csrf" && *value == csrf),
        "{hidden:?}"
    );
    let mut form: Vec<(&str, &str)> = hidden
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    form.push(("username", &user.username));
    form.push(("password", &user.password));
    let action = action.strip_prefix(&app.address).unwrap_or(&action);
    let answer = browser.post_form(action, &form).await;
    assert!(
        answer.status.is_redirection(),
        "{}: {}",
        answer.status,
        answer.body
    );
    // The browser session that lets a second app sign in without a
    // password: a cookie the page's scripts cannot read, sent only to
    // tessera's OAuth paths and on top-level navigations.
    let cookies = [page.set_cookies(), answer.set_cookies()].concat();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("tessera_authorize_form=")),
        "{cookies:?}"
    );
    let session = cookies
        .iter()
        .find(|c| c.starts_with("tessera_browser="))
        .unwrap_or_else(|| panic!("no browser session cookie: {cookies:?}"));
    for attribute in ["Path=/oauth", "HttpOnly", "SameSite=Lax"] {
        assert!(
            session
                .split(';')
                .any(|a| a.trim().eq_ignore_ascii_case(attribute)),
            "{attribute}: {session}"
        );
    }
    let location = answer.header("location").to_owned();
    assert!(
        location.starts_with(&format!("{}?", query["redirect_uri"])),
        "to the app's own listener: {location}"
    );
    let back = reqwest::Url::parse(&location).expect("an absolute redirect");
    let params: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(params["state"], query["state"], "{location}");
    assert_eq!(params["iss"], app.config.jwt.issuer, "{location}");

    // The browser follows the redirect to the app, which shows its page.
    let landed = reqwest::get(&location).await.expect("the app's listener");
    assert_eq!(landed.status(), StatusCode::OK);
    assert!(landed
        .text()
        .await
        .unwrap_or_default()
        .contains("Signed in"));

    // The app's part: the code for tokens, then one refresh.
    let tokens: Value = serde_json::from_str(&example.line_after("token response: ").await)
        .expect("the token response is JSON");
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert!(tokens["id_token"].is_string(), "{tokens}");
    let scope = tokens["scope"].as_str().unwrap_or_default();
    assert!(scope.split(' ').any(|s| s == "openid"), "{tokens}");
    let first_refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    assert_eq!(
        example.line_after("signed in as: ").await,
        user.id.to_string()
    );
    let refreshed: Value = serde_json::from_str(&example.line_after("refreshed: ").await)
        .expect("the refresh answer is JSON");
    let access = refreshed["access_token"].as_str().expect("an access token");
    assert_ne!(access, tokens["access_token"].as_str().unwrap_or_default());
    let next_refresh = refreshed["refresh_token"]
        .as_str()
        .expect("a new refresh token");
    assert_ne!(next_refresh, first_refresh, "the refresh token rotated");
    app.assert_verify(access, StatusCode::OK).await;
    assert_eq!(common::jwt_claims(access)["client_id"], client_id);

    example.assert_success().await;
}
