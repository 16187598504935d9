//! tessera as the forward-auth service of a real nginx (`auth_request`),
//! using the shipped `examples/nginx/tessera.conf`: nginx sits in front of a
//! small backend that echoes the identity headers it receives.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::Json;
use common::{free_port, json_of, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

/// A running nginx, stopped (and its directory removed) when dropped, so a
/// failing test never leaves it behind.
struct Nginx {
    child: Child,
    dir: PathBuf,
    address: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its workers; SIGKILL would orphan them.
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

fn nginx_binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|path| path.is_file());
    found.expect("nginx is missing: run scripts/test-deps.d/nginx.sh (apt-get install nginx-light)")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
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
async fn start_nginx(tessera: &str, backend: &str) -> Nginx {
    let dir = std::env::temp_dir().join(format!("tessera-nginx-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/nginx/tessera.conf"
    ))
    .unwrap();
    for shipped in [
        "server 127.0.0.1:8000;",
        "server 127.0.0.1:9000;",
        "listen 127.0.0.1:8080;",
    ] {
        assert!(example.contains(shipped), "example changed: {shipped}");
    }
    let site = example
        .replace("server 127.0.0.1:8000;", &format!("server {tessera};"))
        .replace("server 127.0.0.1:9000;", &format!("server {backend};"))
        .replace(
            "listen 127.0.0.1:8080;",
            &format!("listen 127.0.0.1:{port};"),
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
    let mut nginx = Nginx {
        child,
        dir,
        address: format!("http://127.0.0.1:{port}"),
    };
    wait_until_listening(&mut nginx, port).await;
    nginx
}

async fn wait_until_listening(nginx: &mut Nginx, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        let exited = nginx.child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() > deadline {
            let log = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
            panic!("nginx did not start ({exited:?}): {log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The API behind nginx: echoes the identity headers and the method it got.
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
        }))
    };
    let app = axum::Router::new().fallback(echo);
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test]
async fn nginx_lets_live_tokens_through_with_the_users_identity_and_stops_the_rest() {
    let app = spawn_app().await;
    let backend = start_backend().await;
    let nginx = start_nginx(app.address.trim_start_matches("http://"), &backend).await;
    let client = reqwest::Client::new();
    let orders = format!("{}/orders?page=2", nginx.address);

    // No token: stopped at the gate, told to bring a bearer token.
    let response = client.get(&orders).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
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
        .header("x-user-id", "00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A live token: through, with the identity set by nginx from tessera's answer.
    let (user, tokens) = app.signed_in_user().await;
    let response = client
        .get(&orders)
        .bearer_auth(&tokens.access)
        .header("x-user-id", "00000000-0000-0000-0000-000000000000")
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

#[test]
fn the_example_config_is_valid_nginx() {
    let dir = std::env::temp_dir().join(format!("tessera-nginx-t-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
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
}
