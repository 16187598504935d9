//! Nothing a client sends yields a 500 or a panic: arbitrary bytes as JSON or
//! form bodies, and arbitrary `Authorization` / `X-Forwarded-For` headers,
//! against the real app (bounded case counts, so the suite stays fast).

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;

/// The POST endpoints that read a body with `Body`, none of which
/// needs a token to reach the body parsing.
const BODY_ROUTES: &[&str] = &[
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/auth/activate",
    "/api/v1/auth/activate/resend",
    "/api/v1/auth/forgot-password",
    "/api/v1/auth/reset-password",
    "/oauth/token",
    "/oauth/revoke",
];

fn runtime_and_app() -> (tokio::runtime::Runtime, common::TestApp) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let app = runtime.block_on(common::spawn_app());
    (runtime, app)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn arbitrary_bodies_get_an_answer_never_a_server_error() {
    let (runtime, app) = runtime_and_app();
    let content_type = prop::sample::select(vec![
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
    ]);
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        ".{0,200}".prop_map(String::into_bytes),
        // Printable JSON-ish text gets deeper into the parser.
        "[{}\\[\\]\":,a-z0-9 .-]{0,120}".prop_map(String::into_bytes),
    ];
    let strategy = (prop::sample::select(BODY_ROUTES), content_type, bytes);
    runner(128)
        .run(&strategy, |(route, content_type, body)| {
            let status = runtime.block_on(async {
                app.post(route)
                    .header("content-type", content_type)
                    .body(body.clone())
                    .send()
                    .await
                    .expect("the server answers")
                    .status()
            });
            prop_assert!(
                !status.is_server_error(),
                "{route} ({content_type}) answered {status} to {body:?}"
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn an_oversized_body_is_413_whatever_its_type() {
    let (runtime, app) = runtime_and_app();
    let strategy = (
        prop::sample::select(BODY_ROUTES),
        prop::sample::select(vec![
            "application/json",
            "application/x-www-form-urlencoded",
        ]),
        64 * 1024 + 1..70 * 1024usize,
    );
    runner(16)
        .run(&strategy, |(route, content_type, size)| {
            let status = runtime.block_on(async {
                app.post(route)
                    .header("content-type", content_type)
                    .body(vec![b'a'; size])
                    .send()
                    .await
                    .expect("the server answers")
                    .status()
            });
            prop_assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{}", route);
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_credentials_and_forwarding_headers_are_rejected_cleanly() {
    let (runtime, app) = runtime_and_app();
    let header_value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        "(Bearer|bearer|Basic) .{0,200}".prop_map(String::into_bytes),
        "Bearer [A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,40}"
            .prop_map(String::into_bytes),
    ];
    let strategy = (header_value, prop::collection::vec(any::<u8>(), 0..80));
    runner(128)
        .run(&strategy, |(authorization, forwarded)| {
            let statuses = runtime.block_on(async {
                let mut statuses = Vec::new();
                for path in ["/api/v1/auth/verify", "/api/v1/users/me"] {
                    let mut request = app.get(path);
                    if let Ok(value) = reqwest::header::HeaderValue::from_bytes(&authorization) {
                        request = request.header("authorization", value);
                    }
                    if let Ok(value) = reqwest::header::HeaderValue::from_bytes(&forwarded) {
                        request = request.header("x-forwarded-for", value);
                    }
                    statuses.push(request.send().await.expect("the server answers").status());
                }
                statuses
            });
            for status in statuses {
                prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
            }
            Ok(())
        })
        .unwrap();
}
