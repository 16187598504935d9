//! Graceful shutdown of a real `tessera serve` process: SIGTERM closes the
//! listener at once, every in-flight request still gets its complete
//! response, and the process exits 0 within `server.shutdown_grace_ms` even
//! when a request would outlive it. Requests are held in flight by a slow
//! CAPTCHA verifier the test runs.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use common::{free_port, unique_name, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

const SECRET: &str = "verifier secret for the shutdown tests";

/// A siteverify endpoint that answers "success" after `hold`, counting the
/// requests it has received.
async fn start_slow_verifier(hold: Duration) -> (String, Arc<AtomicUsize>) {
    async fn siteverify(State((seen, hold)): State<(Arc<AtomicUsize>, Duration)>) -> Json<Value> {
        seen.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(hold).await;
        Json(json!({"success": true}))
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route("/siteverify", post(siteverify))
        .with_state((seen.clone(), hold));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/siteverify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

/// A `tessera serve` process, killed when dropped should a test fail
/// before it exits.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tessera serve` on `port` and waits (bounded) until it answers.
async fn serve(port: u16, verify_url: &str, grace: Duration, captcha_timeout: Duration) -> Serving {
    let database = common::database_url();
    let migrated = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("migrate")
        .env("DATABASE_URL", &database)
        .stdout(Stdio::null())
        .status()
        .expect("run tessera migrate");
    assert!(migrated.success(), "tessera migrate");
    let child = Serving(
        Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("serve")
            .env("DATABASE_URL", &database)
            .env("REDIS_URL", common::redis_url())
            .env("TESSERA__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("TESSERA__JWT__KEYS_DIR", common::keys_dir())
            .env("TESSERA__SESSION__ROTATION_SECRET", common::ROTATION_SECRET)
            .env("TESSERA__RATE_LIMIT__ENABLED", "false")
            .env("TESSERA__CAPTCHA__VERIFY_URL", verify_url)
            .env("TESSERA__CAPTCHA__SECRET", SECRET)
            .env(
                "TESSERA__CAPTCHA__TIMEOUT_MS",
                captcha_timeout.as_millis().to_string(),
            )
            .env(
                "TESSERA__SERVER__SHUTDOWN_GRACE_MS",
                grace.as_millis().to_string(),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tessera serve"),
    );
    let live = format!("http://127.0.0.1:{port}/health/live");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = reqwest::get(&live).await {
            if response.status() == StatusCode::OK {
                return child;
            }
        }
        assert!(Instant::now() < deadline, "tessera serve never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A registration held in flight by the verifier, on its own connection.
fn register_in_flight(port: u16) -> tokio::task::JoinHandle<Result<(StatusCode, Value), String>> {
    tokio::spawn(async move {
        let username = unique_name();
        let response = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/v1/auth/register"))
            .json(&json!({
                "email": format!("{username}@example.com"),
                "username": username,
                "password": PASSWORD,
                "captcha_token": "hold",
            }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.json().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    })
}

async fn wait_for(seen: &AtomicUsize, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.load(Ordering::SeqCst) < count {
        assert!(
            Instant::now() < deadline,
            "requests never reached the verifier"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sigterm(Serving(child): &Serving) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Waits (bounded by `limit`) for the process to exit.
async fn exit_within(Serving(child): &mut Serving, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            panic!("tessera did not exit within {limit:?} of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn refuses_connections(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[tokio::test]
async fn sigterm_refuses_new_connections_and_completes_every_in_flight_request() {
    let hold = Duration::from_millis(2500);
    let grace = Duration::from_secs(8);
    let (verifier, seen) = start_slow_verifier(hold).await;
    let port = free_port();
    let mut child = serve(port, &verifier, grace, Duration::from_secs(30)).await;

    let in_flight: Vec<_> = (0..3).map(|_| register_in_flight(port)).collect();
    wait_for(&seen, 3).await;
    let signalled = Instant::now();
    sigterm(&child);

    // The listener closes at once, while the held requests are still running.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !refuses_connections(port) {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        in_flight.iter().all(|request| !request.is_finished()),
        "the listener should close before the in-flight requests finish"
    );
    let late = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health/live"))
        .send()
        .await;
    assert!(late.is_err(), "a new request after SIGTERM was served");

    for request in in_flight {
        let (status, body) = request
            .await
            .expect("request task")
            .expect("the in-flight request got a complete response");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body["id"].is_string(), "{body}");
    }
    let status = exit_within(&mut child, grace + Duration::from_secs(5)).await;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        signalled.elapsed() < grace,
        "a drained server should not wait out the grace period ({:?})",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn a_request_outliving_the_grace_period_does_not_hold_the_process() {
    let grace = Duration::from_millis(1000);
    let (verifier, seen) = start_slow_verifier(Duration::from_secs(30)).await;
    let port = free_port();
    let mut child = serve(port, &verifier, grace, Duration::from_secs(60)).await;

    let stuck = register_in_flight(port);
    wait_for(&seen, 1).await;
    let signalled = Instant::now();
    sigterm(&child);
    // Draining (up to the grace period) plus flushing the queues (again up
    // to the grace period) stays far below the 30 s the request would take.
    let status = exit_within(&mut child, grace * 2 + Duration::from_secs(4)).await;
    let elapsed = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        elapsed >= grace - Duration::from_millis(100),
        "exited after {elapsed:?}, before the grace period ended"
    );
    assert!(
        stuck.await.expect("request task").is_err(),
        "the abandoned request cannot have been answered"
    );
}
