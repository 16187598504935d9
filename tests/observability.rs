//! Operations can see what the service does: Prometheus metrics by route
//! template, the request id in every log line of a request, and logs that
//! never carry a password, token or secret.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// One sample of the exposition text: metric name and labels → value.
type Samples = HashMap<(String, Vec<(String, String)>), f64>;

/// Parses the Prometheus text format (the subset tessera writes).
fn parse_metrics(text: &str) -> Samples {
    let mut samples = Samples::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                let mut labels: Vec<(String, String)> = body
                    .split("\",")
                    .map(|pair| {
                        let (key, value) = pair.split_once("=\"").expect("label=value");
                        (key.to_owned(), value.trim_end_matches('"').to_owned())
                    })
                    .collect();
                labels.sort();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), Vec::new()),
        };
        let value: f64 = value.parse().expect("numeric sample");
        assert!(
            samples.insert((name, labels), value).is_none(),
            "duplicate series: {line}"
        );
    }
    samples
}

fn sample(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    samples
        .get(&(name.to_owned(), labels))
        .copied()
        .unwrap_or(0.0)
}

async fn metrics(app: &TestApp) -> Samples {
    parse_metrics(&app.scrape_metrics().await)
}

/// Every counter this story moves, before and after. The registry is
/// process-wide, so this is the only test in this file that logs in or
/// refreshes.
#[tokio::test]
async fn metrics_tell_the_story_of_logins_refreshes_and_admin_requests() {
    let app =
        spawn_app_with(Figment::new().merge(Serialized::default("session.reuse_grace_secs", 1)))
            .await;
    let before = metrics(&app).await;
    let (user, tokens) = app.signed_in_user().await;
    let wrong = app
        .login_json(json!({ "email": user.email, "password": "not the password" }))
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    app.assert_verify(&tokens.access, StatusCode::OK).await;

    let rotated = app.refresh(&tokens.refresh).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    // A client retry inside the grace window, then a replay after it.
    app.assert_refresh(&tokens.refresh, StatusCode::OK).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.assert_refresh(&tokens.refresh, StatusCode::UNAUTHORIZED)
        .await;
    assert_eq!(
        app.refresh("not-a-refresh-token").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let (_, admin) = app.new_user_with_role("ADMIN").await;
    for _ in 0..2 {
        let response = app
            .patch(&format!("/api/v1/admin/users/{}", uuid::Uuid::new_v4()))
            .bearer_auth(&admin.access)
            .json(&json!({ "is_active": true }))
            .send()
            .await
            .expect("admin update");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    let after = metrics(&app).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    // new_user_with_role logs the admin in: two good logins, one bad.
    assert_eq!(delta("tessera_logins_total", &[("result", "ok")]), 2.0);
    assert_eq!(delta("tessera_logins_total", &[("result", "failed")]), 1.0);
    assert_eq!(
        delta("tessera_refreshes_total", &[("result", "rotated")]),
        1.0
    );
    assert_eq!(
        delta("tessera_refreshes_total", &[("result", "retry")]),
        1.0
    );
    assert_eq!(
        delta("tessera_refreshes_total", &[("result", "invalid")]),
        2.0
    );
    assert_eq!(delta("tessera_refresh_reuse_detected_total", &[]), 1.0);

    let login = [("method", "POST"), ("route", "/api/v1/auth/login")];
    assert_eq!(
        delta(
            "http_requests_total",
            &[login[0], login[1], ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        delta(
            "http_requests_total",
            &[login[0], login[1], ("status", "401")]
        ),
        1.0
    );
    assert_eq!(delta("http_request_duration_seconds_count", &login), 3.0);
    let inf = [login[0], login[1], ("le", "+Inf")];
    assert_eq!(delta("http_request_duration_seconds_bucket", &inf), 3.0);
    assert!(delta("http_request_duration_seconds_sum", &login) > 0.0);
    // Buckets are cumulative.
    let buckets: Vec<f64> = ["0.001", "0.01", "0.1", "1", "10", "+Inf"]
        .iter()
        .map(|le| {
            sample(
                &after,
                "http_request_duration_seconds_bucket",
                &[login[0], login[1], ("le", le)],
            )
        })
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");

    // The route label is the template, whatever id was in the path.
    let admin_update = [
        ("method", "PATCH"),
        ("route", "/api/v1/admin/users/{id}"),
        ("status", "404"),
    ];
    assert_eq!(delta("http_requests_total", &admin_update), 2.0);
    assert!(!after.keys().any(|(_, labels)| labels
        .iter()
        .any(|(k, v)| k == "route" && v.starts_with("/api/v1/admin/users/") && !v.contains('{'))));

    assert_eq!(
        sample(&after, "tessera_db_pool_max_connections", &[]),
        f64::from(app.config.database.max_connections)
    );
    assert!(sample(&after, "tessera_db_pool_connections", &[]) >= 1.0);
}

#[tokio::test]
async fn unknown_paths_share_one_route_label() {
    let app = spawn_app().await;
    let before = metrics(&app).await;
    // Under a nested router's prefix too: no template matches there either.
    let prefixes = [
        "/no/such/path",
        "/api/v1/admin/no-such",
        "/api/v1/auth/no-such",
    ];
    for prefix in prefixes {
        let response = app
            .get(&format!("{prefix}/{}", uuid::Uuid::new_v4()))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let after = metrics(&app).await;
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "404")];
    // No other test in this file requests an unknown path.
    assert_eq!(
        sample(&after, "http_requests_total", &unmatched)
            - sample(&before, "http_requests_total", &unmatched),
        3.0
    );
    assert!(!after.keys().any(|(_, labels)| labels
        .iter()
        .any(|(_, v)| v.contains("no-such") || v.contains("/no/such/path") || v.contains('*'))));
}

/// Counted where errors become responses: a Redis and a PostgreSQL that
/// cannot be reached each show up as `unavailable`. (Routes the story test
/// above does not count, since the registry is process-wide.)
#[tokio::test]
async fn unreachable_dependencies_are_counted() {
    let app = spawn_app().await;
    let closed_port = free_port();
    let broken = spawn_app_with(
        Figment::new()
            .merge(Serialized::default(
                "redis.url",
                format!("redis://127.0.0.1:{closed_port}"),
            ))
            .merge(Serialized::default("redis.timeout_ms", 500))
            .merge(Serialized::default(
                "database.url",
                format!("postgres://postgres@127.0.0.1:{closed_port}/none"),
            ))
            .merge(Serialized::default("database.acquire_timeout_ms", 500)),
    )
    .await;
    // A correctly signed token, so /verify gets as far as Redis.
    let issuer = tessera::tokens::TokenIssuer::new(
        tessera::tokens::KeySet::load(&keys_dir()).unwrap(),
        app.config.jwt.issuer.clone(),
        app.config.jwt.audience.clone(),
        Duration::from_secs(60),
    );
    let claims = tessera::sessions::SessionClaims {
        user_id: uuid::Uuid::new_v4(),
        username: unique_name(),
        role: tessera::users::Role::Regular,
        subscription: tessera::users::Subscription::Free,
        client: tessera::sessions::SessionClient::default(),
        authn: tessera::sessions::Authn::password(0),
    };
    let access = issuer.issue(&claims, uuid::Uuid::new_v4()).unwrap().token;

    let before = metrics(&app).await;
    broken
        .assert_verify(&access, StatusCode::SERVICE_UNAVAILABLE)
        .await;
    let lookup = broken
        .get("/api/v1/auth/username-available?username=somebody")
        .send()
        .await
        .expect("request");
    assert_eq!(lookup.status(), StatusCode::SERVICE_UNAVAILABLE);
    let after = metrics(&app).await;
    for dependency in ["redis", "postgres"] {
        let labels = [("dependency", dependency), ("kind", "unavailable")];
        assert_eq!(
            sample(&after, "tessera_dependency_errors_total", &labels)
                - sample(&before, "tessera_dependency_errors_total", &labels),
            1.0,
            "{dependency}"
        );
    }
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app =
        spawn_app_with(Figment::new().merge(Serialized::default("metrics.enabled", false))).await;
    let response = app.get("/metrics").send().await.expect("scrape");
    assert_detail(response, StatusCode::NOT_FOUND, "Not Found").await;
    assert_eq!(
        every_method(&app, "/metrics").await,
        [StatusCode::NOT_FOUND; 6]
    );
}

const DOCS: [&str; 4] = [
    "/docs",
    "/openapi.json",
    "/docs.yaml",
    "/docs/swagger-ui.css",
];

async fn statuses(app: &TestApp, paths: &[&str]) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for path in paths {
        statuses.push(app.get(path).send().await.expect("request").status());
    }
    statuses
}

/// Every method on `path`: a closed route must not betray itself with a
/// 405 where an unknown path is a 404.
async fn every_method(app: &TestApp, path: &str) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app.client.request(method, app.url(path)).send().await;
        statuses.push(response.expect("request").status());
    }
    statuses
}

#[tokio::test]
async fn the_api_documents_can_be_turned_off() {
    let app =
        spawn_app_with(Figment::new().merge(Serialized::default("docs.enabled", false))).await;
    assert_eq!(statuses(&app, &DOCS).await, [StatusCode::NOT_FOUND; 4]);
    for path in DOCS {
        assert_eq!(
            every_method(&app, path).await,
            [StatusCode::NOT_FOUND; 6],
            "{path}"
        );
    }
    assert_eq!(
        statuses(&app, &["/metrics", "/health/live"]).await,
        [StatusCode::OK; 2]
    );
}

/// Outside the CIDRs an operator route is a 404, like an unknown path;
/// the client is the peer, or X-Forwarded-For only from a trusted proxy.
#[tokio::test]
async fn metrics_and_documents_answer_only_inside_their_cidrs() {
    let elsewhere = spawn_app_with(common::overrides(&[
        ("metrics.allow_cidrs", json!(["10.0.0.0/8"])),
        ("docs.allow_cidrs", json!(["10.0.0.0/8"])),
    ]))
    .await;
    assert_eq!(
        statuses(&elsewhere, &["/metrics"]).await,
        [StatusCode::NOT_FOUND]
    );
    assert_eq!(
        statuses(&elsewhere, &DOCS).await,
        [StatusCode::NOT_FOUND; 4]
    );
    let forged = elsewhere
        .get("/metrics")
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .expect("scrape");
    assert_eq!(
        forged.status(),
        StatusCode::NOT_FOUND,
        "an untrusted peer's X-Forwarded-For"
    );
    assert_eq!(
        statuses(&elsewhere, &["/health/live"]).await,
        [StatusCode::OK]
    );

    let behind_proxy = spawn_app_with(common::overrides(&[
        ("server.trusted_proxies", json!(["127.0.0.1/32"])),
        ("metrics.allow_cidrs", json!(["10.0.0.0/8"])),
    ]))
    .await;
    let scraper = behind_proxy
        .get("/metrics")
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .expect("scrape");
    assert_eq!(scraper.status(), StatusCode::OK);

    let local = spawn_app_with(common::overrides(&[
        ("metrics.allow_cidrs", json!(["127.0.0.0/8", "::1/128"])),
        ("docs.allow_cidrs", json!(["127.0.0.0/8", "::1/128"])),
    ]))
    .await;
    assert_eq!(statuses(&local, &["/metrics"]).await, [StatusCode::OK]);
    assert_eq!(statuses(&local, &DOCS).await, [StatusCode::OK; 4]);
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_replaced_otherwise() {
    let app = spawn_app().await;
    let echoed = app
        .get("/health/live")
        .header("x-request-id", "edge-7f3a:42")
        .send()
        .await
        .expect("request");
    assert_eq!(echoed.headers()["x-request-id"], "edge-7f3a:42");

    let generated = app.get("/health/live").send().await.expect("request");
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    for bad in ["two words".to_owned(), "x".repeat(200), "{\"a\":1}".into()] {
        let response = app
            .get("/health/live")
            .header("x-request-id", &bad)
            .send()
            .await
            .expect("request");
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{bad} → {id}");
    }
}

/// A real `tessera serve` process logging to a file, stopped when dropped.
struct Server {
    child: Child,
    log: std::path::PathBuf,
    dir: std::path::PathBuf,
    address: String,
}

impl Server {
    fn start(config: &str, port: u16, rust_log: &str, database_url: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tessera-logs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let config_path = dir.join("tessera.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["--config", config_path.to_str().unwrap(), "serve"])
            .env("RUST_LOG", rust_log)
            .env("DATABASE_URL", database_url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start tessera serve");
        let mut server = Self {
            child,
            log,
            dir,
            address: format!("http://127.0.0.1:{port}"),
        };
        server.wait_until_listening(port);
        server
    }

    fn wait_until_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("tessera exited ({status}): {}", self.logs());
            }
            assert!(Instant::now() < deadline, "tessera never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server (SIGTERM, then SIGKILL) and returns its stderr.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.logs()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const DB_PASSWORD: &str = "db-url-password-9c41e7";
const PRODUCTION_ROTATION_SECRET: &str = "rotation-secret-for-the-log-test-5be1f0a2";
/// Base64 of 32 bytes, searched for in the logs like the other secrets.
const PRODUCTION_MFA_KEY: &str = "bG9nLXRlc3QgbWZhIGtleSwgMzIgYnl0ZXMgbG9uZyE=";
const FLOW_REQUEST_ID: &str = "log-test-flow";
const REUSE_REQUEST_ID: &str = "log-test-reuse-0001";

/// Everything that must never reach a log line, with a name for messages.
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 8, "{what} is too short to search for");
        self.0.push((what.to_owned(), value.to_owned()));
    }
}

/// Runs every flow that handles a secret against a real server with
/// trace-level logging, then searches its stderr for each secret.
async fn run_flows_and_check_logs(production: bool) {
    let sink = SmtpSink::start();
    let port = free_port();
    let database_url = database_url();
    // The local PostgreSQL trusts local connections, so a password in the
    // URL is accepted (and ignored): it is there to be searched for.
    let database_url = database_url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{DB_PASSWORD}@"),
        1,
    );
    assert!(database_url.contains(DB_PASSWORD), "{database_url}");
    let config = format!(
        r#"env = "{env}"
[server]
bind = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
[jwt]
keys_dir = "{keys}"
[session]
rotation_secret = "{PRODUCTION_ROTATION_SECRET}"
reuse_grace_secs = 0
[mfa]
encryption_key = "{PRODUCTION_MFA_KEY}"
[auth]
require_email_verification = true
[smtp]
host = "127.0.0.1"
port = {smtp}
tls = "none"
[rate_limit]
enabled = false
[gateway]
clients = [{{ id = "{GATEWAY_ID}", secret = "{GATEWAY_SECRET}" }}]
"#,
        env = if production {
            "production"
        } else {
            "development"
        },
        keys = keys_dir().display(),
        smtp = sink.port,
    );
    let server = Server::start(&config, port, "trace", &database_url);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-request-id", FLOW_REQUEST_ID.parse().unwrap());
    let app = TestApp {
        address: server.address.clone(),
        client: reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap(),
        pool: sqlx::PgPool::connect_lazy(&database_url).unwrap(),
        config: tessera::config::Config::load_with(None, base_overrides()).unwrap(),
    };

    let mut secrets = Secrets(Vec::new());
    secrets.add("database password", DB_PASSWORD);
    secrets.add("rotation secret", PRODUCTION_ROTATION_SECRET);
    secrets.add("second-factor key", PRODUCTION_MFA_KEY);
    secrets.add("gateway client secret", GATEWAY_SECRET);
    secrets.add("password", PASSWORD);

    let username = unique_name();
    let email = format!("{username}@example.com");
    let registered = app.register(&email, &username, PASSWORD).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let activation = token_in(&sink.wait_for_mail(&email).await, "activate");
    secrets.add("activation token", &activation);
    let activated = app
        .post_json("/api/v1/auth/activate", json!({ "token": activation }))
        .await;
    assert_eq!(activated.status(), StatusCode::OK);

    let wrong_password = "wrong-password-3f9a0c11";
    secrets.add("wrong password", wrong_password);
    let wrong = app
        .login_json(json!({ "email": email, "password": wrong_password }))
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // A malformed body holding a password must not be echoed into a log.
    let broken_password = "broken-json-password-77d2";
    secrets.add("password in a malformed body", broken_password);
    let malformed = app
        .post("/api/v1/auth/login")
        .header("content-type", "application/json")
        .body(format!(
            "{{\"email\": \"{email}\", \"password\": \"{broken_password}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let user = TestUser {
        email: email.clone(),
        username,
        password: PASSWORD.into(),
        id: uuid::Uuid::nil(),
    };
    let first = app.login(&user).await;
    secrets.add("access token", &first.access);
    secrets.add("refresh token", &first.refresh);
    app.assert_verify(&first.access, StatusCode::OK).await;
    let rotated = app.refresh(&first.refresh).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let second = Tokens::from_body(&rotated.json().await.unwrap());
    secrets.add("rotated access token", &second.access);
    secrets.add("rotated refresh token", &second.refresh);
    // Replaying the rotated token (no grace window; a few ms later, so not
    // in the rotation's own millisecond) revokes the session; this request
    // carries its own id, which its warning must show.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let replay = app
        .post("/api/v1/auth/refresh")
        .header("x-request-id", REUSE_REQUEST_ID)
        .json(&json!({ "refresh_token": first.refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);

    let grant = app.password_grant(&email, PASSWORD).await;
    assert_eq!(grant.status(), StatusCode::OK);
    let oauth = Tokens::from_body(&grant.json().await.unwrap());
    secrets.add("OAuth access token", &oauth.access);
    secrets.add("OAuth refresh token", &oauth.refresh);
    let refreshed = app.refresh_grant(&oauth.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let oauth = Tokens::from_body(&refreshed.json().await.unwrap());
    secrets.add("OAuth rotated access token", &oauth.access);
    secrets.add("OAuth rotated refresh token", &oauth.refresh);
    assert_eq!(app.introspect(&oauth.access).await["active"], true);

    assert_eq!(
        app.forgot_password(&email).await.status(),
        StatusCode::ACCEPTED
    );
    let mails = sink.wait_for_mails(&email, 2).await;
    let reset = token_in(&mails[1], "reset-password");
    secrets.add("reset token", &reset);
    let new_password = "a brand new passphrase 41c8";
    secrets.add("new password", new_password);
    let reset_response = app
        .post_json(
            "/api/v1/auth/reset-password",
            json!({ "token": reset, "new_password": new_password }),
        )
        .await;
    assert_eq!(reset_response.status(), StatusCode::OK);

    let after_reset = app
        .login_json(json!({ "email": email, "password": new_password }))
        .await;
    assert_eq!(after_reset.status(), StatusCode::OK);
    let last = Tokens::from_body(&after_reset.json().await.unwrap());
    secrets.add("last access token", &last.access);
    secrets.add("last refresh token", &last.refresh);
    let logout = app
        .post("/api/v1/auth/logout")
        .bearer_auth(&last.access)
        .json(&json!({ "refresh_token": last.refresh }))
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_success(), "{}", logout.status());

    let logs = server.stop();
    assert!(logs.lines().count() > 20, "too few log lines:\n{logs}");
    for (what, secret) in &secrets.0 {
        if let Some(line) = logs.lines().find(|line| line.contains(secret.as_str())) {
            panic!("the {what} is in a log line: {line}");
        }
    }

    let reuse_warning = logs
        .lines()
        .find(|l| l.contains("refresh token reuse detected"))
        .unwrap_or_else(|| panic!("no reuse warning in:\n{logs}"));
    assert!(reuse_warning.contains(REUSE_REQUEST_ID), "{reuse_warning}");

    if production {
        check_json_lines(&logs);
    }
}

/// In production every line is JSON, and every line logged inside a request
/// carries that request's id.
fn check_json_lines(logs: &str) {
    let mut in_requests = 0;
    for line in logs.lines() {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let Some(spans) = entry["spans"].as_array() else {
            continue;
        };
        let Some(request) = spans.iter().find(|s| s["name"] == "request") else {
            continue;
        };
        in_requests += 1;
        let id = request["request_id"].as_str().unwrap_or_default();
        assert!(
            id == FLOW_REQUEST_ID || id == REUSE_REQUEST_ID,
            "request_id {id:?} in {line}"
        );
        assert_eq!(entry["span"]["request_id"], id, "{line}");
    }
    assert!(in_requests > 20, "only {in_requests} lines inside requests");
}

#[tokio::test]
async fn development_logs_at_trace_level_hold_no_secret() {
    run_flows_and_check_logs(false).await;
}

#[tokio::test]
async fn production_json_logs_at_trace_level_hold_no_secret_and_carry_request_ids() {
    run_flows_and_check_logs(true).await;
}
