//! tessera as the forward-auth service of real gateways, each run with its
//! shipped example configuration: nginx (`auth_request`,
//! `examples/nginx/tessera.conf`) and Caddy (`forward_auth`,
//! `examples/caddy/Caddyfile`), in front of a small backend that echoes the
//! identity headers it receives. What the client sees for every answer
//! `/verify` can give: the identity passed on (a user's, a service's), a
//! route's scope demanded (403 `insufficient_scope`), a rate limit (429 with
//! `Retry-After`) and an outage (503).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::Json;
use common::dpop::{bound_login, AppKey};
use common::mfa::{code_at, enrolled, finish_sign_in};
use common::pages::spawn_app_at_own_url;
use common::servers::RedisServer;
use common::{free_port, json_of, overrides, spawn_app, spawn_app_with, TestApp};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// The challenge tessera sends a request without a usable token.
const BEARER: &str = "Bearer";
/// The challenge for a token without the orders route's scope.
const ORDERS_SCOPE_CHALLENGE: &str = r#"Bearer error="insufficient_scope", scope="orders:read""#;
const NIL_USER: &str = "00000000-0000-0000-0000-000000000000";
/// The challenge for a password-only session on the payouts route (RFC 9470).
const STEP_UP_CHALLENGE: &str = r#"Bearer error="insufficient_user_authentication", error_description="This route requires a sign-in with a second factor", acr_values="mfa""#;

/// A running gateway (nginx or Caddy), stopped (and its directory removed)
/// when dropped, so a failing test never leaves it behind.
struct Gateway {
    child: Child,
    dir: PathBuf,
    address: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // SIGTERM lets nginx's master stop its workers (SIGKILL would orphan
        // them) and Caddy shut down cleanly.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Gateway {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Waits (up to 10 s) until the gateway accepts connections on `port`;
    /// panics with its log (`log` in its directory) when it does not.
    async fn wait_until_listening(&mut self, port: u16, log: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join(log)).unwrap_or_default();
                panic!("the gateway did not start ({exited:?}): {log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `name` on the PATH or in the usual system directories.
fn binary(name: &str, missing: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| panic!("{name} is missing: {missing}"))
}

fn nginx_binary() -> PathBuf {
    binary(
        "nginx",
        "run scripts/test-deps.d/nginx.sh (apt-get install nginx-light)",
    )
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A fresh temporary directory for one gateway.
fn gateway_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-{kind}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The shipped example at `path` (under the crate), with each of its
/// `(shipped, ours)` replaced; panics when the example no longer has one.
fn example_with(path: &str, replacements: &[(&str, String)]) -> String {
    let mut text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    for (shipped, ours) in replacements {
        assert!(text.contains(shipped), "{path} changed: {shipped:?}");
        text = text.replace(shipped, ours);
    }
    text
}

/// An nginx command for `main` as `dir/nginx.conf`, with `dir` as its prefix
/// and its early errors logged there too.
fn nginx_in(dir: &Path, main: String) -> Command {
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let mut command = Command::new(nginx_binary());
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"));
    command
}

/// Starts nginx with the example site, its upstreams pointed at `tessera` and
/// `backend` (host:port), everything else inside a temporary directory.
async fn start_nginx(tessera: &str, backend: &str) -> Gateway {
    let dir = gateway_dir("nginx");
    let port = free_port();
    let site = example_with(
        "examples/nginx/tessera.conf",
        &[
            ("server 127.0.0.1:8000;", format!("server {tessera};")),
            ("server 127.0.0.1:9000;", format!("server {backend};")),
            (
                "listen 127.0.0.1:8080;",
                format!("listen 127.0.0.1:{port};"),
            ),
        ],
    );
    std::fs::write(dir.join("tessera.conf"), site).unwrap();
    let d = dir.display();
    // Workers run as root when the test does, so they can use the temp dirs.
    let user = if running_as_root() { "user root;" } else { "" };
    let main = format!(
        "{user}
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/tessera.conf;
}}
"
    );
    let child = nginx_in(&dir, main)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let mut nginx = Gateway {
        child,
        dir,
        address: format!("http://127.0.0.1:{port}"),
    };
    nginx.wait_until_listening(port, "error.log").await;
    nginx
}

/// Starts Caddy with the example Caddyfile, pointed at `tessera` and
/// `backend` (host:port), its admin endpoint off (tests run side by side)
/// and its state inside a temporary directory.
async fn start_caddy(tessera: &str, backend: &str) -> Gateway {
    let caddy = binary(
        "caddy",
        "run scripts/test-deps.d/caddy.sh (apt-get install caddy)",
    );
    let dir = gateway_dir("caddy");
    let port = free_port();
    let caddyfile = example_with(
        "examples/caddy/Caddyfile",
        &[
            ("127.0.0.1:8000", tessera.to_owned()),
            ("127.0.0.1:9000", backend.to_owned()),
            ("http://127.0.0.1:8080", format!("http://127.0.0.1:{port}")),
            (
                "\tauto_https off\n",
                "\tauto_https off\n\tadmin off\n".into(),
            ),
        ],
    );
    std::fs::write(dir.join("Caddyfile"), caddyfile).unwrap();
    let log = std::fs::File::create(dir.join("caddy.log")).unwrap();
    let child = Command::new(caddy)
        .arg("run")
        .arg("--config")
        .arg(dir.join("Caddyfile"))
        .args(["--adapter", "caddyfile"])
        .env("HOME", &dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start caddy");
    let mut caddy = Gateway {
        child,
        dir,
        address: format!("http://127.0.0.1:{port}"),
    };
    caddy.wait_until_listening(port, "caddy.log").await;
    caddy
}

/// The API behind the gateway: echoes the identity headers and the method
/// it got (`null` for a header it did not get).
async fn start_backend() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let echo = |method: axum::http::Method, headers: HeaderMap| async move {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Json(json!({
            "method": method.as_str(),
            "user_id": header("x-user-id"),
            "role": header("x-user-role"),
            "subscription": header("x-user-subscription"),
            "session_id": header("x-session-id"),
            "amr": header("x-user-amr"),
            "client_id": header("x-client-id"),
            "scope": header("x-scope"),
        }))
    };
    let app = axum::Router::new().fallback(echo);
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// tessera's host:port, for a gateway's upstream.
fn host_port(app: &TestApp) -> &str {
    app.address.trim_start_matches("http://")
}

/// Every `WWW-Authenticate` of `response`: exactly one challenge is right.
fn challenges(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The backend saw no user identity.
fn assert_no_user(seen: &Value) {
    for field in ["user_id", "role", "subscription", "session_id", "amr"] {
        assert!(seen[field].is_null(), "{field}: {seen}");
    }
}

/// Registers (as an ADMIN) the orders service: a confidential client that
/// may ask for orders:read and orders:write, for tessera's own audience or
/// "orders". Its id and secret.
async fn orders_service(app: &TestApp) -> (String, String) {
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let (id, secret) = app
        .register_client(
            &admin.access,
            json!({
                "name": "orders-service",
                "scopes": ["orders:read", "orders:write"],
                "audiences": ["tessera", "orders"],
                "grant_types": ["client_credentials"],
            }),
        )
        .await;
    (id, secret.expect("a confidential client's secret"))
}

/// A client_credentials token of `id` for `scope` and `audience`.
async fn service_token(
    app: &TestApp,
    (id, secret): &(String, String),
    scope: &str,
    audience: &str,
) -> String {
    let response = app
        .post("/oauth/token")
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("audience", audience),
        ])
        .send()
        .await
        .unwrap();
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["scope"], scope, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// What tessera's `/verify` itself answers `token` in `header`.
async fn verified_header(app: &TestApp, token: &str, header: &str) -> String {
    let response = app.verify(token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.headers()[header].to_str().unwrap().to_owned()
}

/// The story of a route that demands a scope, through `start` (a gateway
/// started with its shipped configuration): the orders service with the
/// scope gets through as itself, without it it is refused with the
/// `insufficient_scope` challenge, a token for another audience is refused,
/// and a user's token still works on the other routes.
async fn scope_story<F, Fut>(start: F)
where
    F: FnOnce(String, String) -> Fut,
    Fut: std::future::Future<Output = Gateway>,
{
    let app = spawn_app().await;
    let service = orders_service(&app).await;
    let reader = service_token(&app, &service, "orders:read", "orders").await;
    let writer = service_token(&app, &service, "orders:write", "orders").await;
    let own_audience = service_token(&app, &service, "orders:read", "tessera").await;
    let (user, tokens) = app.signed_in_user().await;
    let backend = start_backend().await;
    let gateway = start(host_port(&app).to_owned(), backend).await;
    let client = reqwest::Client::new();
    let orders = gateway.url("/api/orders/7?expand=items");
    let reports = gateway.url("/reports/2026");

    // With the scope: through, as the service, whatever identity it claims.
    let response = client
        .get(&orders)
        .bearer_auth(&reader)
        .header("x-user-id", NIL_USER)
        .header("x-user-role", "ADMIN")
        .header("x-client-id", "someone-else")
        .header("x-scope", "orders:read orders:write")
        .send()
        .await
        .unwrap();
    let seen = json_of(response, StatusCode::OK).await;
    assert_eq!(seen["client_id"], service.0.as_str(), "{seen}");
    assert_eq!(seen["scope"], "orders:read", "{seen}");
    assert_no_user(&seen);
    // Any method of the original request is authorised the same way.
    let response = client
        .post(&orders)
        .bearer_auth(&reader)
        .json(&json!({"item": 42}))
        .send()
        .await
        .unwrap();
    let seen = json_of(response, StatusCode::OK).await;
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["client_id"], service.0.as_str(), "{seen}");

    // Without the scope: 403, told which scope the route needs.
    let response = client
        .get(&orders)
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(challenges(&response), [ORDERS_SCOPE_CHALLENGE]);
    // The route names its audience: the scope for another one is no use
    // there, and a token for "orders" is no use on tessera's own routes.
    for (url, token) in [(&orders, &own_audience), (&reports, &reader)] {
        let response = client.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{url}");
        assert_eq!(challenges(&response), [BEARER], "{url}");
    }
    let response = client
        .get(&reports)
        .bearer_auth(&own_audience)
        .send()
        .await
        .unwrap();
    let seen = json_of(response, StatusCode::OK).await;
    assert_eq!(
        (seen["client_id"].as_str(), seen["scope"].as_str()),
        (Some(service.0.as_str()), Some("orders:read"))
    );
    assert_no_user(&seen);

    // A user's token (for tessera's audience): not the orders route; the
    // other routes see the user, the client tessera names, and no scope.
    let response = client
        .get(&orders)
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = client
        .get(&reports)
        .bearer_auth(&tokens.access)
        .header("x-scope", "orders:read")
        .send()
        .await
        .unwrap();
    let seen = json_of(response, StatusCode::OK).await;
    assert_eq!(seen["user_id"], user.id.to_string());
    assert_eq!(seen["role"], "REGULAR");
    assert!(seen["session_id"].is_string(), "{seen}");
    let client_id = verified_header(&app, &tokens.access, "x-client-id").await;
    assert_eq!(seen["client_id"], client_id.as_str());
    assert!(seen["scope"].is_null(), "{seen}");

    // No token at all: told to bring a bearer token.
    let response = client.get(&orders).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&response), [BEARER]);
    drop(gateway);
}

/// The example's payouts route demands a second factor (`?acr=mfa`): a
/// session signed in with the password alone is sent back with RFC 9470's
/// challenge, one that showed an authenticator code gets through, and the
/// backend learns how the user signed in from `X-User-AMR` (set by nginx,
/// never the client's).
#[tokio::test]
async fn nginx_demands_a_second_factor_on_the_payouts_route() {
    let app = spawn_app().await;
    let enrolled = enrolled(&app).await;
    let code = code_at(&enrolled.uri, enrolled.step).await;
    let with_factor = finish_sign_in(&app, &enrolled.user, json!({ "code": code })).await;
    let backend = start_backend().await;
    let nginx = start_nginx(host_port(&app), &backend).await;
    let client = reqwest::Client::new();
    let payouts = nginx.url("/api/payouts/7");

    // The password-only session (the one that set the app up): refused,
    // told what to come back with, whatever it claims.
    let password_only = &enrolled.tokens.access;
    let response = client
        .post(&payouts)
        .bearer_auth(password_only)
        .header("x-user-amr", "pwd otp mfa")
        .send()
        .await
        .unwrap();
    assert_eq!(challenges(&response), [STEP_UP_CHALLENGE]);
    assert_eq!(
        json_of(response, StatusCode::UNAUTHORIZED).await,
        json!({"detail": "This route requires a sign-in with a second factor"})
    );
    // Elsewhere it is still good, and the backend hears "pwd".
    let response = client
        .get(nginx.url("/reports/2026"))
        .bearer_auth(password_only)
        .header("x-user-amr", "pwd otp mfa")
        .send()
        .await
        .unwrap();
    let seen = json_of(response, StatusCode::OK).await;
    assert_eq!(seen["amr"], "pwd", "{seen}");

    // The session that showed the code: through, as the user.
    let response = client
        .post(&payouts)
        .bearer_auth(&with_factor.access)
        .send()
        .await
        .unwrap();
    let seen = json_of(response, StatusCode::OK).await;
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["user_id"], enrolled.user.id.to_string());
    assert_eq!(seen["amr"], "pwd otp mfa", "{seen}");

    // No token: the plain challenge, as on every route.
    let response = client.get(&payouts).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&response), [BEARER]);
    drop(nginx);
}

#[tokio::test]
async fn nginx_lets_live_tokens_through_with_the_users_identity_and_stops_the_rest() {
    let app = spawn_app().await;
    let backend = start_backend().await;
    let nginx = start_nginx(host_port(&app), &backend).await;
    let client = reqwest::Client::new();
    let orders = nginx.url("/orders?page=2");

    // No token: stopped at the gate, told (once) to bring a bearer token.
    let response = client.get(&orders).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&response), [BEARER]);
    let response = client
        .get(&orders)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A client cannot smuggle an identity in.
    let response = client
        .get(&orders)
        .header("x-user-id", NIL_USER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A live token: through, with the identity set by nginx from tessera's answer.
    let (user, tokens) = app.signed_in_user().await;
    let response = client
        .get(&orders)
        .bearer_auth(&tokens.access)
        .header("x-user-id", NIL_USER)
        .send()
        .await
        .unwrap();
    let seen = json_of(response, StatusCode::OK).await;
    assert_eq!(seen["user_id"], user.id.to_string());
    assert_eq!(seen["role"], "REGULAR");
    assert_eq!(seen["subscription"], "FREE");
    assert!(seen["session_id"].is_string());
    // Any method of the original request is authorised the same way.
    let response = client
        .post(&orders)
        .bearer_auth(&tokens.access)
        .json(&json!({"item": 42}))
        .send()
        .await
        .unwrap();
    let seen = json_of(response, StatusCode::OK).await;
    assert_eq!(
        (seen["method"].as_str(), seen["user_id"].as_str()),
        (Some("POST"), Some(user.id.to_string().as_str()))
    );

    // After logout the same, unexpired token is stopped at once.
    let logout = app
        .post_with_bearer("/api/v1/auth/logout", &tokens.access)
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let response = client
        .get(&orders)
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    drop(nginx);
}

#[tokio::test]
async fn nginx_routes_a_scope_and_passes_the_service_s_identity_on() {
    scope_story(|tessera, backend| async move { start_nginx(&tessera, &backend).await }).await;
}

#[tokio::test]
async fn caddy_routes_a_scope_and_passes_the_service_s_identity_on() {
    scope_story(|tessera, backend| async move { start_caddy(&tessera, &backend).await }).await;
}

/// A DPoP-bound token (RFC 9449) passes the gateway only with a proof by its
/// key for the request the client made to the gateway (its method and URL,
/// which the gateway names to /verify), each proof once; as a bearer token
/// it is stopped with tessera's DPoP challenge.
async fn dpop_story<F, Fut>(start: F)
where
    F: FnOnce(String, String) -> Fut,
    Fut: std::future::Future<Output = Gateway>,
{
    let app = spawn_app_at_own_url(overrides(&[(
        "server.trusted_proxies",
        json!(["127.0.0.1/32"]),
    )]))
    .await;
    let backend = start_backend().await;
    let gateway = start(host_port(&app).to_owned(), backend).await;
    let client = reqwest::Client::new();
    let user = app.new_user().await;
    let key = AppKey::new();
    let pair = bound_login(&app, &user.email, &user.password, &key).await;
    let access = pair["access_token"].as_str().unwrap();
    let orders = gateway.url("/orders?page=2");
    let call = |method: reqwest::Method, scheme: &str, proof: &str| {
        client
            .request(method, &orders)
            .header("Authorization", format!("{scheme} {access}"))
            .header("DPoP", proof)
            .send()
    };

    let proof = key.proof_for("POST", &orders, Some(access));
    let response = call(reqwest::Method::POST, "DPoP", &proof).await.unwrap();
    let seen = json_of(response, StatusCode::OK).await;
    assert_eq!(seen["user_id"], user.id.to_string());
    assert_eq!(seen["method"], "POST");

    let thief = AppKey::new();
    for (what, method, scheme, proof) in [
        ("a replayed proof", reqwest::Method::POST, "DPoP", proof),
        (
            "a proof for another method",
            reqwest::Method::GET,
            "DPoP",
            key.proof_for("POST", &orders, Some(access)),
        ),
        (
            "a proof for another URL",
            reqwest::Method::GET,
            "DPoP",
            key.proof_for("GET", &gateway.url("/items"), Some(access)),
        ),
        (
            "another key's proof",
            reqwest::Method::GET,
            "DPoP",
            thief.proof_for("GET", &orders, Some(access)),
        ),
        (
            "the bound token as a bearer token",
            reqwest::Method::GET,
            "Bearer",
            key.proof_for("GET", &orders, Some(access)),
        ),
    ] {
        let response = call(method, scheme, &proof).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        let challenge = challenges(&response).join(", ");
        assert!(
            challenge.starts_with("DPoP") && challenge.contains("invalid_dpop_proof"),
            "{what}: {challenge}"
        );
    }
    drop(gateway);
}

/// With `dpop.require_nonce`, the gateway hands the client tessera's
/// nonce: a proof without one is refused with `use_dpop_nonce` and the
/// `DPoP-Nonce` to retry with, which then passes. `on_success`: the gateway
/// also passes the nonce on with the backend's answer (nginx does; Caddy's
/// forward_auth copies headers into the request only, so its clients learn
/// a new nonce from their next refusal, as RFC 9449 §8 allows).
async fn dpop_nonce_story<F, Fut>(start: F, on_success: bool)
where
    F: FnOnce(String, String) -> Fut,
    Fut: std::future::Future<Output = Gateway>,
{
    let app = spawn_app_at_own_url(overrides(&[
        ("server.trusted_proxies", json!(["127.0.0.1/32"])),
        ("dpop.require_nonce", json!(true)),
    ]))
    .await;
    let backend = start_backend().await;
    let gateway = start(host_port(&app).to_owned(), backend).await;
    let user = app.new_user().await;
    let key = AppKey::new();
    let login = app.url("/api/v1/auth/login");
    let log_in = |nonce: Option<String>| {
        let proof = key.proof_at("POST", &login, |c| {
            if let Some(nonce) = &nonce {
                c["nonce"] = json!(nonce);
            }
        });
        app.post("/api/v1/auth/login")
            .header("DPoP", proof)
            .json(&json!({"email": user.email, "password": user.password}))
            .send()
    };
    let asked = log_in(None).await.unwrap();
    let nonce = asked.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let pair = json_of(log_in(Some(nonce)).await.unwrap(), StatusCode::OK).await;
    let access = pair["access_token"].as_str().unwrap();
    let orders = gateway.url("/orders");
    let call = |nonce: Option<String>| {
        let proof = key.proof_at("GET", &orders, |c| {
            c["ath"] = json!(common::dpop::ath(access));
            if let Some(nonce) = &nonce {
                c["nonce"] = json!(nonce);
            }
        });
        reqwest::Client::new()
            .get(&orders)
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", proof)
            .send()
    };
    let refused = call(None).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(challenges(&refused).join(", ").contains("use_dpop_nonce"));
    let nonce = refused
        .headers()
        .get("dpop-nonce")
        .expect("the gateway passes tessera's DPoP-Nonce on")
        .to_str()
        .unwrap()
        .to_owned();
    let response = call(Some(nonce)).await.unwrap();
    assert_eq!(response.headers().contains_key("dpop-nonce"), on_success);
    let seen = json_of(response, StatusCode::OK).await;
    assert_eq!(seen["user_id"], user.id.to_string());
    drop(gateway);
}

#[tokio::test]
async fn nginx_passes_a_dpop_nonce_on() {
    dpop_nonce_story(
        |tessera, backend| async move { start_nginx(&tessera, &backend).await },
        true,
    )
    .await;
}

#[tokio::test]
async fn caddy_passes_a_dpop_nonce_on() {
    dpop_nonce_story(
        |tessera, backend| async move { start_caddy(&tessera, &backend).await },
        false,
    )
    .await;
}

#[tokio::test]
async fn nginx_lets_a_dpop_bound_token_through_only_with_a_proof_for_the_request() {
    dpop_story(|tessera, backend| async move { start_nginx(&tessera, &backend).await }).await;
}

#[tokio::test]
async fn caddy_lets_a_dpop_bound_token_through_only_with_a_proof_for_the_request() {
    dpop_story(|tessera, backend| async move { start_caddy(&tessera, &backend).await }).await;
}

/// An app whose flood guard lets one request per second through per
/// address (nginx's or Caddy's here), with no burst on top.
async fn app_with_a_tight_flood_guard() -> TestApp {
    spawn_app_with(overrides(&[
        ("rate_limit.enabled", json!(true)),
        ("rate_limit.per_ip_per_second", json!(1)),
        ("rate_limit.per_ip_burst", json!(1)),
    ]))
    .await
}

/// Sends requests without a token to `url` (at most 10) until one is
/// refused with 429; the ones before it must be tessera's 401. That 429.
async fn first_429(url: &str) -> Response {
    let client = reqwest::Client::new();
    let mut before = Vec::new();
    for _ in 0..10 {
        let response = client.get(url).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(!before.is_empty(), "the very first request was limited");
            return response;
        }
        before.push(response.status());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{before:?}");
    }
    panic!("no 429 in 10 requests at one a second allowed: {before:?}");
}

/// Asserts `response` is a 429 whose `Retry-After` says 1 or 2 seconds (a
/// one-per-second limit) and which carries no challenge.
fn assert_retry_after(response: &Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(challenges(response).is_empty());
}

#[tokio::test]
async fn nginx_passes_a_rate_limit_on_as_429_with_retry_after() {
    let app = app_with_a_tight_flood_guard().await;
    let backend = start_backend().await;
    let nginx = start_nginx(host_port(&app), &backend).await;
    // Without the status mapping, auth_request turns tessera's 429 into a 500.
    let response = first_429(&nginx.url("/orders")).await;
    assert_retry_after(&response);
    let body = json_of(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(body["detail"].is_string(), "{body}");
    drop(nginx);
}

#[tokio::test]
async fn caddy_passes_a_rate_limit_on_as_429_with_retry_after() {
    let app = app_with_a_tight_flood_guard().await;
    let backend = start_backend().await;
    let caddy = start_caddy(host_port(&app), &backend).await;
    let response = first_429(&caddy.url("/orders")).await;
    assert_retry_after(&response);
    // Caddy hands tessera's own answer over.
    let body = json_of(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        body,
        json!({"detail": "Too many requests; try again later."})
    );
    drop(caddy);
}

/// Asserts nginx's 503 for a tessera that answered 503 (its body is
/// nginx's, which never sees tessera's).
async fn assert_nginx_503(response: Response) {
    let body = json_of(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error_code"], "AUTH_UNAVAILABLE", "{body}");
}

#[tokio::test]
async fn nginx_passes_an_outage_on_as_503() {
    let mut redis = RedisServer::start();
    let app = spawn_app_with(overrides(&[
        ("redis.url", json!(redis.url())),
        ("redis.timeout_ms", json!(500)),
    ]))
    .await;
    let (_, tokens) = app.signed_in_user().await;
    let backend = start_backend().await;
    let nginx = start_nginx(host_port(&app), &backend).await;
    let client = reqwest::Client::new();
    let get = || {
        client
            .get(nginx.url("/orders"))
            .bearer_auth(&tokens.access)
            .send()
    };
    json_of(get().await.unwrap(), StatusCode::OK).await;

    // Redis gone: tessera cannot check the session, and says so.
    redis.kill();
    let direct = json_of(
        app.verify(&tokens.access).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(direct["error_code"], "REDIS_UNAVAILABLE", "{direct}");
    let response = get().await.unwrap();
    // tessera sent no Retry-After here, so nginx adds none.
    assert!(response.headers().get("retry-after").is_none());
    assert!(challenges(&response).is_empty());
    assert_nginx_503(response).await;
    drop(nginx);
}

#[tokio::test]
async fn nginx_passes_an_overloaded_tessera_on_as_503_with_its_retry_after() {
    let app = spawn_app_with(overrides(&[("server.max_in_flight", json!(1))])).await;
    let backend = start_backend().await;
    let nginx = start_nginx(host_port(&app), &backend).await;
    // One request in flight, for as long as its body does not come: tessera
    // refuses any other with 503 and `Retry-After: 1`.
    let mut held = tokio::net::TcpStream::connect(host_port(&app))
        .await
        .unwrap();
    held.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    let response = loop {
        let response = client.get(nginx.url("/orders")).send().await.unwrap();
        if response.status() != StatusCode::UNAUTHORIZED || statuses.len() == 50 {
            break response;
        }
        // The held request has not reached tessera's handler yet.
        statuses.push(response.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{statuses:?}"
    );
    assert_eq!(response.headers()["retry-after"], "1");
    assert_nginx_503(response).await;
    drop(held);
    drop(nginx);
}

#[test]
fn the_example_config_is_valid_nginx() {
    let dir = gateway_dir("nginx-t");
    let d = dir.display();
    let main = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{ access_log off; include {}; }}\n",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nginx/tessera.conf").display()
    );
    let output = nginx_in(&dir, main)
        .arg("-t")
        .output()
        .expect("run nginx -t");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn verify_serves_traefik_forward_auth_for_any_forwarded_method() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    for method in ["GET", "POST", "DELETE", "OPTIONS"] {
        let response = app
            .get("/api/v1/auth/verify")
            .bearer_auth(&tokens.access)
            .header("x-forwarded-method", method)
            .header("x-forwarded-uri", "/orders/7?expand=items")
            .header("x-forwarded-host", "api.example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(
            response.headers()["x-user-id"],
            user.id.to_string().as_str()
        );
        let denied = app
            .get("/api/v1/auth/verify")
            .header("x-forwarded-method", method)
            .header("x-forwarded-uri", "/orders/7")
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), StatusCode::UNAUTHORIZED, "{method}");
        assert_eq!(denied.headers()["www-authenticate"], "Bearer");
    }

    // A DPoP-bound token: the proof names the request Traefik received, as
    // its X-Forwarded-Method / -Proto / -Host / -Uri tell a trusted tessera.
    let app = spawn_app_at_own_url(overrides(&[(
        "server.trusted_proxies",
        json!(["127.0.0.1/32"]),
    )]))
    .await;
    let user = app.new_user().await;
    let key = AppKey::new();
    let pair = bound_login(&app, &user.email, &user.password, &key).await;
    let access = pair["access_token"].as_str().unwrap();
    let traefik = |proof: String| {
        app.get("/api/v1/auth/verify")
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", proof)
            .header("x-forwarded-method", "DELETE")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "api.example.com")
            .header("x-forwarded-uri", "/orders/7?expand=items")
            .send()
    };
    let named = "https://api.example.com/orders/7";
    let response = traefik(key.proof_for("DELETE", named, Some(access)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["x-user-id"],
        user.id.to_string().as_str()
    );
    let elsewhere = key.proof_for("DELETE", "http://api.example.com/orders/7", Some(access));
    assert_eq!(
        traefik(elsewhere).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the scheme is part of the URL a proof names"
    );
}
