//! Shared harness: starts the real app on a free port against the real
//! PostgreSQL and Redis named by `DATABASE_URL` / `REDIS_URL` (which
//! `make test` sets up), and speaks to it over HTTP like a client.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod dpop;
pub mod load;
pub mod mfa;
pub mod pages;
pub mod revocations;
pub mod servers;
pub mod web_app;

use std::path::PathBuf;
use std::sync::OnceLock;

use figment::providers::Serialized;
use figment::Figment;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use tessera::config::Config;
use tessera::startup::Application;
use tessera::tokens::KeySet;
use uuid::Uuid;

pub const ROTATION_SECRET: &str = "integration-test rotation secret, 32+ bytes";
/// `mfa.encryption_key`: base64 of 32 bytes.
pub const MFA_KEY: &str = "aW50ZWdyYXRpb24tdGVzdCBtZmEga2V5LCAzMiBieXQ=";
pub const PASSWORD: &str = "a perfectly fine passphrase";

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// One key set for every app in this test process.
pub fn keys_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tessera-test-keys-{}", Uuid::new_v4()));
        KeySet::generate(&dir).expect("generate a test signing key");
        dir
    })
    .clone()
}

/// The test database (`make test` sets `DATABASE_URL`).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/tessera_test".into())
}

/// The test Redis (`make test` sets `REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The suite's virtualenv interpreter (authlib, PyJWT, made by
/// `scripts/test-deps.d/python-venv.sh`): `$TESSERA_VENV/bin/python`, else
/// `.dev/venv/bin/python` in this repository.
pub fn venv_python() -> PathBuf {
    std::env::var_os("TESSERA_VENV")
        .filter(|venv| !venv.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".dev/venv"))
        .join("bin/python")
}

/// The overrides every test app gets; tests merge their own on top. Its
/// secrets are configured, as in production, so an app starts while Redis
/// is down.
pub fn base_overrides() -> Figment {
    base_overrides_without_rotation_secret()
        .merge(Serialized::default(
            "session.rotation_secret",
            ROTATION_SECRET,
        ))
        .merge(Serialized::default("mfa.encryption_key", MFA_KEY))
}

/// [`base_overrides`] without a rotation secret or second-factor key, as a
/// development install that configures none (they are shared through
/// Redis).
pub fn base_overrides_without_rotation_secret() -> Figment {
    overrides(&[
        ("server.bind", json!("127.0.0.1:0")),
        ("database.url", json!(database_url())),
        ("redis.url", json!(redis_url())),
        ("jwt.keys_dir", json!(keys_dir())),
        ("rate_limit.enabled", json!(false)),
    ])
}

/// Applies the migrations to the database at `url`.
pub async fn migrate(url: &str) {
    let pool = PgPool::connect(url).await.expect("database reachable");
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .expect("migrations apply");
    pool.close().await;
}

/// Applies the migrations to the test database once per test process
/// (`make test` has applied them already; this makes `cargo test` alone work).
async fn migrate_once() {
    static MIGRATED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    MIGRATED
        .get_or_init(|| async { migrate(&database_url()).await })
        .await;
}

#[derive(Clone)]
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub config: Config,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Figment::new()).await
}

/// Starts an app with `overrides` applied over the test defaults.
pub async fn spawn_app_with(overrides: Figment) -> TestApp {
    spawn_app_from(base_overrides().merge(overrides)).await
}

/// Starts an app from `overrides` alone (built on [`base_overrides`] or
/// [`base_overrides_without_rotation_secret`]).
pub async fn spawn_app_from(overrides: Figment) -> TestApp {
    let config = Config::load_with(None, overrides).expect("test config");
    migrate_once().await;
    let pool = config.database.pool().expect("pool");
    let app = Application::build(config.clone()).await.expect("build app");
    let address = format!("http://{}", app.local_addr().expect("bound address"));
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        address,
        client,
        pool,
        config,
    }
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub email: String,
    pub username: String,
    pub password: String,
    pub id: Uuid,
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    pub fn from_body(body: &Value) -> Self {
        Self {
            access: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
        }
    }
}

/// The pair a successful login or refresh answered with.
pub async fn pair(response: Response) -> Tokens {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "bearer");
    Tokens::from_body(&body)
}

/// A client address in 198.18.0.0/15 (set aside for network tests) that
/// no other test is likely to use, so per-address limits start afresh.
pub fn random_ip() -> String {
    let id = Uuid::new_v4();
    let [a, b, c] = [id.as_bytes()[0], id.as_bytes()[1], id.as_bytes()[2]];
    format!("198.{}.{b}.{c}", 18 + (a & 1))
}

/// A username no other test uses.
pub fn unique_name() -> String {
    format!("u{}", &Uuid::new_v4().simple().to_string()[..16])
}

impl TestApp {
    /// The same app, spoken to through `client`.
    pub fn with_client(&self, client: reqwest::Client) -> TestApp {
        TestApp {
            client,
            ..self.clone()
        }
    }

    /// The same app, spoken to by a client that always sends
    /// `X-Forwarded-For: ip` (which counts where the app trusts 127.0.0.1
    /// as a proxy).
    pub fn forwarded_for(&self, ip: &str) -> TestApp {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            reqwest::header::HeaderValue::from_str(ip).expect("an address"),
        );
        self.with_client(
            reqwest::Client::builder()
                .default_headers(headers)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    /// `GET path` as JSON, whatever the status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("a JSON body")
    }

    /// The published key set, `/.well-known/jwks.json`.
    pub async fn jwks(&self) -> Value {
        self.get_json("/.well-known/jwks.json").await
    }

    /// `GET path` with `token` as the bearer.
    pub async fn get_with_bearer(&self, path: &str, token: &str) -> Response {
        self.get(path)
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    /// `POST path` with `token` as the bearer and no body.
    pub async fn post_with_bearer(&self, path: &str, token: &str) -> Response {
        self.post(path)
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// `method path` with `token` (if any) as the bearer and `body` (if any)
    /// as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    /// The same app, spoken to with `token` as the bearer.
    pub fn bearer<'a>(&'a self, token: &'a str) -> Bearer<'a> {
        Bearer { app: self, token }
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.post(path).json(&body).send().await.expect("request")
    }

    pub async fn register(&self, email: &str, username: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            json!({"email": email, "username": username, "password": password}),
        )
        .await
    }

    /// Registers a fresh user and returns it.
    pub async fn new_user(&self) -> TestUser {
        let username = unique_name();
        let email = format!("{username}@example.com");
        let response = self.register(&email, &username, PASSWORD).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "register: {}",
            response.text().await.unwrap_or_default()
        );
        let body: Value = response.json().await.expect("user json");
        let id = body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("user id");
        TestUser {
            email,
            username,
            password: PASSWORD.into(),
            id,
        }
    }

    pub async fn login_json(&self, body: Value) -> Response {
        self.post_json("/api/v1/auth/login", body).await
    }

    /// Logs `user` in by email and returns the pair.
    pub async fn login(&self, user: &TestUser) -> Tokens {
        let response = self
            .login_json(json!({"email": user.email, "password": user.password}))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "login: {}",
            response.text().await.unwrap_or_default()
        );
        Tokens::from_body(&response.json().await.expect("token json"))
    }

    /// Registers a fresh user and logs it in.
    pub async fn signed_in_user(&self) -> (TestUser, Tokens) {
        let user = self.new_user().await;
        let tokens = self.login(&user).await;
        (user, tokens)
    }

    /// Asserts what `/auth/verify` answers for `access_token`.
    pub async fn assert_verify(&self, access_token: &str, status: StatusCode) {
        assert_eq!(self.verify(access_token).await.status(), status);
    }

    /// Asserts what `/auth/refresh` answers for `refresh_token`.
    pub async fn assert_refresh(&self, refresh_token: &str, status: StatusCode) {
        assert_eq!(self.refresh(refresh_token).await.status(), status);
    }

    /// Asserts `/auth/refresh` refuses `refresh_token` as invalid or expired.
    pub async fn assert_refresh_refused(&self, refresh_token: &str) {
        let response = self.refresh(refresh_token).await;
        let detail = "Invalid or expired refresh token";
        assert_detail(response, StatusCode::UNAUTHORIZED, detail).await;
    }

    /// Asserts `/auth/login` answers `body` with `status` and `detail`.
    pub async fn assert_login_refused(&self, body: Value, status: StatusCode, detail: &str) {
        assert_detail(self.login_json(body).await, status, detail).await;
    }

    /// The OAuth password grant at `/oauth/token` (no client credentials).
    pub async fn password_grant(&self, username: &str, password: &str) -> Response {
        self.oauth_form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// The OAuth refresh grant at `/oauth/token` (no client credentials).
    pub async fn refresh_grant(&self, refresh_token: &str) -> Response {
        self.oauth_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// Asserts the session behind `tokens` is over: its access token no
    /// longer verifies and its refresh token no longer refreshes.
    pub async fn assert_revoked(&self, tokens: &Tokens) {
        self.assert_verify(&tokens.access, StatusCode::UNAUTHORIZED)
            .await;
        self.assert_refresh(&tokens.refresh, StatusCode::UNAUTHORIZED)
            .await;
    }

    pub async fn verify(&self, access_token: &str) -> Response {
        self.get("/api/v1/auth/verify")
            .bearer_auth(access_token)
            .send()
            .await
            .expect("verify")
    }

    /// The Prometheus text of `GET /metrics` (which must answer 200).
    pub async fn scrape_metrics(&self) -> String {
        let response = self.get("/metrics").send().await.expect("scrape");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        response.text().await.expect("metrics text")
    }

    /// The sessions `GET /users/me/sessions` lists for `access`'s user.
    pub async fn my_sessions(&self, access_token: &str) -> Vec<Value> {
        let response = self
            .get("/api/v1/users/me/sessions")
            .bearer_auth(access_token)
            .send()
            .await
            .expect("list sessions");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a session list")
    }

    /// Audit events of `kind` about `user`, waiting briefly since the audit
    /// log is written in the background.
    pub async fn audit_events(&self, user: Uuid, kind: &str) -> Vec<Value> {
        self.audit_events_at_least(user, kind, 1).await
    }

    /// The audit events of `kind` about `user`, waiting (boundedly) until
    /// there are `expected` of them: the background writer flushes in
    /// batches, so the first rows may land before the rest.
    pub async fn audit_events_at_least(
        &self,
        user: Uuid,
        kind: &str,
        expected: usize,
    ) -> Vec<Value> {
        self.audit_rows_at_least(
            "SELECT jsonb_build_object('kind', kind, 'ip', ip, 'user_agent', user_agent, 'details', details) \
             FROM audit_events WHERE subject_id = $1 AND kind = $2 ORDER BY id",
            user,
            kind,
            expected,
        )
        .await
    }

    /// The JSON rows of `sql` (bound to `id` and `kind`), polled (boundedly)
    /// until there are `expected` of them.
    pub async fn audit_rows_at_least(
        &self,
        sql: &str,
        id: Uuid,
        kind: &str,
        expected: usize,
    ) -> Vec<Value> {
        let mut rows = Vec::new();
        for _ in 0..50 {
            rows = sqlx::query_scalar(sql)
                .bind(id)
                .bind(kind)
                .fetch_all(&self.pool)
                .await
                .expect("audit query");
            if rows.len() >= expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        rows
    }

    /// Registers a fresh user, gives it `role` ("ADMIN", "MODERATOR") in
    /// PostgreSQL directly, and logs it in.
    pub async fn new_user_with_role(&self, role: &str) -> (TestUser, Tokens) {
        let user = self.new_user().await;
        sqlx::query("UPDATE users SET account_role = $2::account_role WHERE id = $1")
            .bind(user.id)
            .bind(role)
            .execute(&self.pool)
            .await
            .expect("set role");
        let tokens = self.login(&user).await;
        (user, tokens)
    }

    /// Runs `UPDATE users SET <set> WHERE id = user` in PostgreSQL directly.
    pub async fn update_user(&self, user: Uuid, set: &str) {
        sqlx::query(&format!("UPDATE users SET {set} WHERE id = $1"))
            .bind(user)
            .execute(&self.pool)
            .await
            .expect("update the user");
    }

    /// `SELECT <expression> FROM users WHERE id = user`, straight from
    /// PostgreSQL.
    pub async fn user_field<T>(&self, user: Uuid, expression: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        sqlx::query_scalar(&format!("SELECT {expression} FROM users WHERE id = $1"))
            .bind(user)
            .fetch_one(&self.pool)
            .await
            .expect("read the user")
    }

    /// What `/auth/login` answers an email and password with.
    pub async fn login_status(&self, email: &str, password: &str) -> StatusCode {
        self.login_json(json!({ "email": email, "password": password }))
            .await
            .status()
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.client.patch(self.url(path))
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(self.url(path))
    }

    /// Asks for a password reset link for `email`.
    pub async fn forgot_password(&self, email: &str) -> Response {
        self.post_json("/api/v1/auth/forgot-password", json!({ "email": email }))
            .await
    }

    /// POSTs a form to an OAuth endpoint.
    pub async fn oauth_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post(path)
            .form(form)
            .send()
            .await
            .expect("oauth request")
    }

    /// Registers an OAuth client as the administrator holding `admin` (an
    /// access token); its id and, when it has one, its secret.
    pub async fn register_client(&self, admin: &str, body: Value) -> (String, Option<String>) {
        let response = self
            .bearer(admin)
            .post_json("/api/v1/admin/clients", body)
            .await;
        let created = json_of(response, StatusCode::CREATED).await;
        (
            created["client_id"].as_str().expect("client_id").to_owned(),
            created["client_secret"].as_str().map(str::to_owned),
        )
    }

    /// `GET /api/v1/auth/verify{query}` with `token`.
    pub async fn verify_with(&self, query: &str, token: &str) -> Response {
        self.get(&format!("/api/v1/auth/verify{query}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("verify")
    }

    /// `/oauth/introspect` as the gateway client; asserts 200.
    pub async fn introspect(&self, token: &str) -> Value {
        let response = self
            .post("/oauth/introspect")
            .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspect");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("introspection json")
    }

    /// How many audit events of `kind` about `user` exist, once there are
    /// `expected` (or the wait is over).
    pub async fn audit_count(&self, user: Uuid, kind: &str, expected: usize) -> usize {
        self.audit_events_at_least(user, kind, expected).await.len()
    }
}

/// An app spoken to with one bearer token (see [`TestApp::bearer`]).
#[derive(Clone, Copy)]
pub struct Bearer<'a> {
    pub app: &'a TestApp,
    pub token: &'a str,
}

impl Bearer<'_> {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.app.call(method, path, Some(self.token), body).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str) -> Response {
        self.send(Method::POST, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(Method::DELETE, path, None).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch_json(&self, path: &str, body: Value) -> Response {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// `GET path`, which must answer 200, as JSON.
    pub async fn get_ok(&self, path: &str) -> Value {
        json_of(self.get(path).await, StatusCode::OK).await
    }
}

/// Config overrides from `(key, value)` pairs, in order.
pub fn overrides(pairs: &[(&str, Value)]) -> Figment {
    pairs.iter().fold(Figment::new(), |figment, (key, value)| {
        figment.merge(Serialized::default(key, value.clone()))
    })
}

/// How many of `statuses` are `status`.
pub fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// The JSON body of `response`, which must have `status` (the body is in
/// the failure message).
pub async fn json_of(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.expect("json body");
    assert_eq!(actual, status, "{body}");
    body
}

/// The `loc` of every error in a 422 body, in order.
pub fn error_locs(body: &Value) -> Vec<&Value> {
    body["detail"]
        .as_array()
        .expect("a list of errors")
        .iter()
        .map(|error| &error["loc"])
        .collect()
}

/// The field (second `loc` element) of every error in a 422 body, in order.
pub fn error_fields(body: &Value) -> Vec<&Value> {
    error_locs(body).into_iter().map(|loc| &loc[1]).collect()
}

/// Asserts an error body has the spec's `{"detail": "..."}` shape.
pub async fn assert_detail(response: Response, status: StatusCode, detail: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("error json");
    assert_eq!(body, json!({ "detail": detail }));
}

/// A real SMTP server (`tests/support/smtp_sink.py`) on a free port, writing
/// what it receives into a temporary directory. Stopped when dropped.
pub struct SmtpSink {
    child: std::process::Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl SmtpSink {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the sink with extra flags (`--fail-first N`,
    /// `--greeting-delay-ms MS`).
    pub fn start_with(flags: &[&str]) -> Self {
        use std::io::BufRead;
        let dir = std::env::temp_dir().join(format!("tessera-smtp-{}", Uuid::new_v4()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(&dir)
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP sink");
        let stdout = child.stdout.take().expect("sink stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("sink announces its port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("SMTP sink did not start: {line:?}"));
        Self { child, port, dir }
    }

    /// Config that sends this app's mail to the sink, retrying quickly.
    pub fn overrides(&self) -> Figment {
        overrides(&[
            ("smtp.host", json!("127.0.0.1")),
            ("smtp.port", json!(self.port)),
            ("smtp.tls", json!("none")),
            ("smtp.retry_backoff_ms", json!(200)),
            ("smtp.timeout_ms", json!(5000)),
        ])
    }

    /// Every message received so far for `to`, oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut numbered: Vec<(u64, String)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let number = name.strip_suffix(".eml")?.parse().ok()?;
                Some((number, std::fs::read_to_string(e.path()).ok()?))
            })
            .filter(|(_, mail)| mail.contains(&format!("X-Sink-Rcpt-To: <{to}>")))
            .collect();
        numbered.sort();
        numbered.into_iter().map(|(_, mail)| mail).collect()
    }

    /// Waits (up to 15 s) until `count` messages for `to` have arrived.
    pub async fn wait_for_mails(&self, to: &str, count: usize) -> Vec<String> {
        for _ in 0..300 {
            let mails = self.mails_to(to);
            if mails.len() >= count {
                return mails;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no {count} email(s) for {to} within 15 s");
    }

    /// Waits for the first message for `to`.
    pub async fn wait_for_mail(&self, to: &str) -> String {
        self.wait_for_mails(to, 1).await.remove(0)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What follows the first `marker` in `text` (`what` names it when there is
/// none).
pub fn after<'t>(text: &'t str, marker: &str, what: &str) -> &'t str {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {what} in:\n{text}"))
        + marker.len();
    &text[start..]
}

/// The token of the first `…/auth/<path>?token=…` link in an email.
pub fn token_in(mail: &str, path: &str) -> String {
    // Undo quoted-printable soft line breaks and `=` escapes, should the
    // mailer have chosen that encoding.
    let mail = mail.replace("=\r\n", "").replace("=3D", "=");
    let marker = format!("/auth/{path}?token=");
    after(&mail, &marker, &format!("{marker} link"))
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The claims in a JWT's payload, read without verifying it (the test only
/// looks at what the service put there).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// A confidential client (`gateway.clients` entry) for the OAuth tests.
pub const GATEWAY_ID: &str = "edge-gateway";
pub const GATEWAY_SECRET: &str = "gateway secret: long, random, shared";

/// Overrides registering [`GATEWAY_ID`] as a confidential client.
pub fn gateway_overrides() -> Figment {
    Figment::new().merge(Serialized::default(
        "gateway.clients",
        json!([{ "id": GATEWAY_ID, "secret": GATEWAY_SECRET }]),
    ))
}

/// Asserts an RFC 6749 §5.2 error: status, `error` code, and no caching.
pub async fn assert_oauth_error(response: Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("oauth error json");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    body
}

/// Asserts a command failed with exactly one line on stderr, `error: ...`,
/// and returns that line.
pub fn one_error_line(output: &std::process::Output) -> String {
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// Runs `body` with the URL of an empty database made for it alone, then
/// drops that database whatever happened: a test that resets or builds a
/// schema from nothing never touches the shared one.
pub async fn with_throwaway_database<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::FutureExt;
    use sqlx::Connection;

    let name = format!("tessera_scratch_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&database_url())
        .await
        .expect("PostgreSQL");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create a throwaway database");
    let base = database_url();
    let url = format!(
        "{}/{name}",
        &base[..base.rfind('/').expect("a URL with a database")]
    );
    let outcome = std::panic::AssertUnwindSafe(body(url)).catch_unwind().await;
    sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop the throwaway database");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
