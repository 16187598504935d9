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
    "/api/v1/auth/mfa/verify",
    "/api/v1/auth/mfa/webauthn/options",
    "/api/v1/auth/passkey/finish",
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

/// A form of arbitrary OAuth parameters: known names with arbitrary values,
/// so the grants' own parsing is reached.
fn oauth_form() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop::sample::select(vec![
        "grant_type",
        "scope",
        "audience",
        "resource",
        "subject_token",
        "subject_token_type",
        "requested_token_type",
        "actor_token",
        "client_assertion_type",
        "client_assertion",
        "client_id",
    ]);
    let value = prop_oneof![
        Just("client_credentials".to_owned()),
        Just("urn:ietf:params:oauth:grant-type:token-exchange".to_owned()),
        Just("urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
        Just("urn:ietf:params:oauth:token-type:access_token".to_owned()),
        ".{0,300}",
        "[a-z:. ]{0,2000}",
    ];
    prop::collection::vec((name.prop_map(str::to_owned), value), 0..8)
}

#[test]
fn arbitrary_client_registrations_and_grants_get_an_answer_never_a_server_error() {
    let (runtime, app) = runtime_and_app();
    let (admin, client_id, secret) = runtime.block_on(async {
        let (_, admin) = app.new_user_with_role("ADMIN").await;
        let created = app
            .bearer(&admin.access)
            .post_json(
                "/api/v1/admin/clients",
                serde_json::json!({"name": "fuzzed", "scopes": ["a", "b"], "grant_types": ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]}),
            )
            .await;
        let created = common::json_of(created, StatusCode::CREATED).await;
        (
            admin.access,
            created["client_id"].as_str().unwrap().to_owned(),
            created["client_secret"].as_str().unwrap().to_owned(),
        )
    });
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        "[{}\\[\\]\":,a-z0-9 ._/-]{0,200}".prop_map(String::into_bytes),
        // Known fields with values of every shape.
        (
            prop::sample::select(vec![
                "name",
                "kind",
                "auth_method",
                "jwks",
                "grant_types",
                "scopes",
                "audiences",
                "redirect_uris",
                "access_ttl_secs",
                "disabled",
                "first_party",
            ]),
            prop_oneof![
                Just("null".to_owned()),
                Just("[]".to_owned()),
                Just("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}".to_owned()),
                "-?[0-9]{1,25}",
                "\"[^\"\\\\]{0,80}\"",
                "\\[\"[^\"\\\\]{0,40}\"\\]",
            ],
        )
            .prop_map(
                |(field, value)| format!("{{\"name\":\"n\",\"{field}\":{value}}}").into_bytes()
            ),
    ];
    let route = prop::sample::select(vec!["create", "patch"]);
    runner(96)
        .run(&(route, body, oauth_form()), |(route, body, form)| {
            let (registry, grant) = runtime.block_on(async {
                let request = match route {
                    "create" => app.post("/api/v1/admin/clients"),
                    _ => app.patch(&format!("/api/v1/admin/clients/{client_id}")),
                };
                let registry = request
                    .bearer_auth(&admin)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("the server answers")
                    .status();
                let grant = app
                    .post("/oauth/token")
                    .basic_auth(&client_id, Some(&secret))
                    .form(&form)
                    .send()
                    .await
                    .expect("the server answers")
                    .status();
                (registry, grant)
            });
            prop_assert!(
                !registry.is_server_error(),
                "{route} answered {registry} to {body:?}"
            );
            prop_assert!(
                !grant.is_server_error(),
                "/oauth/token answered {grant} to {form:?}"
            );
            Ok(())
        })
        .unwrap();
}
