//! Abuse protection against the real Redis: the login lockout and per-IP
//! limits (on `/login` and the OAuth password grant alike), register,
//! forgot-password and resend limits, the refresh limit, the switch and the
//! allow list, counters shared by instances, and the in-process flood guard.
//!
//! Every test speaks from its own random client IP (X-Forwarded-For through
//! a trusted 127.0.0.1, or a random 127.x.y.z source address), so counters in
//! the shared Redis never collide between tests or runs.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{
    count, free_port, gateway_overrides, overrides, pair, random_ip, spawn_app_with, unique_name,
    SmtpSink, TestApp, PASSWORD,
};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const TOO_MANY: &str = "Too many requests; try again later.";
const LOCKED: &str = "Too many failed login attempts; try again later.";

/// An address from 198.18.0.0/15 (benchmarking range) no other test uses.
/// A loopback source address other than 127.0.0.1.
fn random_loopback() -> IpAddr {
    let [a, b, c]: [u8; 3] = rand_bytes();
    format!("127.{}.{b}.{}", a.max(1), c.max(2))
        .parse()
        .unwrap()
}

fn rand_bytes() -> [u8; 3] {
    let id = uuid::Uuid::new_v4();
    let bytes = id.as_bytes();
    [bytes[0], bytes[1], bytes[2]]
}

/// Rate limiting on, 127.0.0.1 trusted as a proxy, plus `extra`.
fn limited(extra: &[(&str, Value)]) -> Figment {
    overrides(&[
        ("rate_limit.enabled", json!(true)),
        ("server.trusted_proxies", json!(["127.0.0.1/32"])),
    ])
    .merge(overrides(extra))
}

/// An app with [`limited`] config.
async fn limited_app(extra: &[(&str, Value)]) -> TestApp {
    spawn_app_with(limited(extra)).await
}

/// The same app, spoken to by a client that always sends
/// `X-Forwarded-For: <forwarded>` and/or connects from `source`.
fn as_client(app: &TestApp, forwarded: Option<&str>, source: Option<IpAddr>) -> TestApp {
    let mut headers = HeaderMap::new();
    if let Some(ip) = forwarded {
        headers.insert("x-forwarded-for", HeaderValue::from_str(ip).unwrap());
    }
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .local_address(source)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    app.with_client(client)
}

async fn resend(app: &TestApp, email: &str) -> Response {
    app.post_json("/api/v1/auth/activate/resend", json!({ "email": email }))
        .await
}

/// Asserts a 429 with `{"detail": detail}` and returns its Retry-After.
async fn assert_limited(response: Response, detail: &str) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!(retry_after >= 1);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "detail": detail }));
    retry_after
}

async fn wrong_login(app: &TestApp, name: &str) -> Response {
    app.login_json(json!({"username": name, "password": "not the password at all"}))
        .await
}

/// Asserts a wrong password for `name` is verified (and refused), not
/// limited.
async fn assert_wrong_login_verified(app: &TestApp, name: &str) {
    assert_eq!(
        wrong_login(app, name).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Refreshes `times` times in a row, each answering 200, and returns the
/// last refresh token.
async fn refresh_in_a_row(app: &TestApp, mut refresh: String, times: usize) -> String {
    for _ in 0..times {
        refresh = pair(app.refresh(&refresh).await).await.refresh;
    }
    refresh
}

#[tokio::test]
async fn failed_logins_lock_the_account_even_for_the_right_password_until_the_window_passes() {
    // Long enough that three argon2 checks of a debug build on a busy
    // machine all fall inside it (2 s did not, under a parallel build).
    const WINDOW_SECS: u64 = 6;
    let app = limited_app(&[
        ("rate_limit.login_failures_per_account", json!(3)),
        ("rate_limit.login_failure_window_secs", json!(WINDOW_SECS)),
    ])
    .await;
    let app = app.forwarded_for(&random_ip());
    let user = app.new_user().await;
    for _ in 0..3 {
        assert_wrong_login_verified(&app, &user.email).await;
    }
    // Locked: the right password, another spelling of the email, another
    // IP, and the OAuth password grant are all refused.
    let right = json!({"email": user.email, "password": user.password});
    let retry_after = assert_limited(app.login_json(right.clone()).await, LOCKED).await;
    assert!(retry_after <= WINDOW_SECS, "{retry_after}");
    let shouting = json!({"email": user.email.to_uppercase(), "password": user.password});
    assert_limited(app.login_json(shouting).await, LOCKED).await;
    let elsewhere = app.forwarded_for(&random_ip());
    assert_limited(elsewhere.login_json(right.clone()).await, LOCKED).await;
    assert_limited(
        elsewhere.password_grant(&user.email, &user.password).await,
        LOCKED,
    )
    .await;
    // The lock is on the account, however it is named.
    let by_name = json!({"username": user.username, "password": user.password});
    assert_limited(app.login_json(by_name).await, LOCKED).await;

    tokio::time::sleep(Duration::from_millis(WINDOW_SECS * 1000 + 100)).await;
    assert_eq!(app.login_json(right).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_accounts_lock_exactly_like_known_ones() {
    let app = limited_app(&[("rate_limit.login_failures_per_account", json!(2))]).await;
    let app = app.forwarded_for(&random_ip());
    let user = app.new_user().await;
    let ghost = format!("{}@example.com", unique_name());
    for name in [&user.email, &ghost] {
        for _ in 0..2 {
            assert_wrong_login_verified(&app, name).await;
        }
    }
    let known = wrong_login(&app, &user.email).await;
    let unknown = wrong_login(&app, &ghost).await;
    assert_eq!(
        known.headers()["retry-after"],
        unknown.headers()["retry-after"]
    );
    assert_limited(known, LOCKED).await;
    assert_limited(unknown, LOCKED).await;
}

#[tokio::test]
async fn login_attempts_are_limited_per_client_ip_across_login_and_the_password_grant() {
    let app = limited_app(&[("rate_limit.login_attempts_per_ip_per_minute", json!(3))]).await;
    let user = app.forwarded_for(&random_ip()).new_user().await;
    let attacker = app.forwarded_for(&random_ip());
    // Different names, so no account lock is involved: only the IP counts.
    for _ in 0..2 {
        assert_wrong_login_verified(&attacker, &unique_name()).await;
    }
    let grant = attacker
        .password_grant(&unique_name(), "whatever it is")
        .await;
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    let retry_after = assert_limited(wrong_login(&attacker, &unique_name()).await, TOO_MANY).await;
    assert!(retry_after <= 60, "{retry_after}");
    assert_limited(
        attacker.password_grant(&user.email, &user.password).await,
        TOO_MANY,
    )
    .await;
    // Another client behind the same trusted proxy is a different IP.
    let neighbour = app.forwarded_for(&random_ip());
    neighbour.login(&user).await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(overrides(&[
        ("rate_limit.enabled", json!(true)),
        ("rate_limit.login_attempts_per_ip_per_minute", json!(2)),
    ]))
    .await;
    // No trusted proxies: each request claims a new address, but the peer
    // (a random loopback address) is what counts.
    let peer = random_loopback();
    for round in 0..3 {
        let spoofer = as_client(&app, Some(&random_ip()), Some(peer));
        let response = wrong_login(&spoofer, &unique_name()).await;
        if round < 2 {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        } else {
            assert_limited(response, TOO_MANY).await;
        }
    }
    let other_peer = as_client(&app, None, Some(random_loopback()));
    assert_wrong_login_verified(&other_peer, &unique_name()).await;
}

#[tokio::test]
async fn registration_is_limited_per_ip() {
    let app = limited_app(&[("rate_limit.register_per_ip_per_hour", json!(3))]).await;
    let app = app.forwarded_for(&random_ip());
    for _ in 0..3 {
        app.new_user().await;
    }
    let name = unique_name();
    let response = app
        .register(&format!("{name}@example.com"), &name, PASSWORD)
        .await;
    let retry_after = assert_limited(response, TOO_MANY).await;
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    let elsewhere = app.forwarded_for(&random_ip());
    elsewhere.new_user().await;
}

#[tokio::test]
async fn email_requests_are_silently_capped_per_email_and_refused_per_ip() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(
        limited(&[
            ("auth.require_email_verification", json!(true)),
            ("rate_limit.forgot_password_per_email_per_hour", json!(2)),
            ("rate_limit.forgot_password_per_ip_per_hour", json!(4)),
            ("rate_limit.activation_resend_per_email_per_hour", json!(1)),
            ("rate_limit.activation_resend_per_ip_per_hour", json!(2)),
        ])
        .merge(sink.overrides()),
    )
    .await;
    let app = app.forwarded_for(&random_ip());
    let user = app.new_user().await;
    sink.wait_for_mails(&user.email, 1).await; // the activation link

    // Per email: always the same 202, but only two reset links go out.
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let response = app.forgot_password(&user.email.to_uppercase()).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        bodies.push(response.json::<Value>().await.unwrap());
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    sink.wait_for_mails(&user.email, 3).await;
    // Per IP: the fourth request from this IP still counts, the fifth is refused.
    let other = format!("{}@example.com", unique_name());
    assert_eq!(
        app.forgot_password(&other).await.status(),
        StatusCode::ACCEPTED
    );
    assert_limited(app.forgot_password(&other).await, TOO_MANY).await;

    // Resend has counters of its own: one more link, then silence, then 429.

    assert_eq!(
        resend(&app, &user.email).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        resend(&app, &user.email).await.status(),
        StatusCode::ACCEPTED
    );
    assert_limited(resend(&app, &user.email).await, TOO_MANY).await;
    sink.wait_for_mails(&user.email, 4).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sink.mails_to(&user.email).len(),
        4,
        "one activation, two resets, one resend"
    );
}

#[tokio::test]
async fn refresh_is_limited_per_session_in_the_rotation_itself() {
    let app = spawn_app_with(
        limited(&[("rate_limit.refresh_per_session_per_minute", json!(3))])
            .merge(gateway_overrides()),
    )
    .await;
    let app = app.forwarded_for(&random_ip());
    let user = app.new_user().await;
    let refresh = refresh_in_a_row(&app, app.login(&user).await.refresh, 3).await;
    let retry_after = assert_limited(app.refresh(&refresh).await, TOO_MANY).await;
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    // The OAuth refresh grant shares the limit, answering in the same shape.
    let grant = app.refresh_grant(&refresh).await;
    assert_limited(grant, TOO_MANY).await;
    // The refused token was not rotated away, and other sessions are free.
    assert_eq!(app.introspect(&refresh).await["active"], true);
    let other = app.login(&user).await;
    app.assert_refresh(&other.refresh, StatusCode::OK).await;
}

#[tokio::test]
async fn disabled_turns_every_limiter_off() {
    let app = spawn_app_with(
        limited(&[
            ("rate_limit.login_failures_per_account", json!(1)),
            ("rate_limit.login_attempts_per_ip_per_minute", json!(1)),
            ("rate_limit.register_per_ip_per_hour", json!(1)),
            ("rate_limit.refresh_per_session_per_minute", json!(1)),
            ("rate_limit.per_ip_per_second", json!(1)),
            ("rate_limit.per_ip_burst", json!(1)),
        ])
        .merge(Serialized::default("rate_limit.enabled", false)),
    )
    .await;
    let app = app.forwarded_for(&random_ip());
    no_limit_trips(&app).await;
}

#[tokio::test]
async fn allow_listed_callers_are_exempt() {
    let app = spawn_app_with(overrides(&[
        ("rate_limit.enabled", json!(true)),
        ("rate_limit.allow_cidrs", json!(["127.0.0.0/8"])),
        ("rate_limit.login_failures_per_account", json!(1)),
        ("rate_limit.login_attempts_per_ip_per_minute", json!(1)),
        ("rate_limit.register_per_ip_per_hour", json!(1)),
        ("rate_limit.refresh_per_session_per_minute", json!(1)),
        ("rate_limit.per_ip_per_second", json!(1)),
        ("rate_limit.per_ip_burst", json!(1)),
    ]))
    .await;
    let harness = as_client(&app, None, Some(random_loopback()));
    no_limit_trips(&harness).await;
}

/// Far past every limit of 1 (and a flood guard of 1/s): nothing is refused.
async fn no_limit_trips(app: &TestApp) {
    let user = app.new_user().await;
    app.new_user().await;
    for _ in 0..3 {
        assert_wrong_login_verified(app, &user.email).await;
    }
    refresh_in_a_row(app, app.login(&user).await.refresh, 3).await;
    for _ in 0..20 {
        assert_eq!(app.get("/").send().await.unwrap().status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn instances_on_one_redis_share_the_counters() {
    let overrides = || {
        limited(&[
            ("rate_limit.login_attempts_per_ip_per_minute", json!(3)),
            ("rate_limit.login_failures_per_account", json!(2)),
        ])
    };
    let (a, b) = (
        spawn_app_with(overrides()).await,
        spawn_app_with(overrides()).await,
    );
    let ip = random_ip();
    let (a, b) = (a.forwarded_for(&ip), b.forwarded_for(&ip));
    let user = a.forwarded_for(&random_ip()).new_user().await;
    // Two failures on A lock the account on B.
    assert_wrong_login_verified(&a, &user.email).await;
    assert_wrong_login_verified(&a, &user.email).await;
    let right = json!({"email": user.email, "password": user.password});
    assert_limited(b.login_json(right).await, LOCKED).await;
    // That was the IP's third attempt: the fourth is refused on A too.
    assert_limited(wrong_login(&a, &unique_name()).await, TOO_MANY).await;
}

#[tokio::test]
async fn the_flood_guard_sheds_a_burst_before_touching_redis() {
    // Redis is unreachable: whatever reaches the Redis limiter gets a 503.
    let port = free_port();
    let app = limited_app(&[
        ("redis.url", json!(format!("redis://127.0.0.1:{port}"))),
        ("redis.timeout_ms", json!(300)),
        ("rate_limit.per_ip_per_second", json!(1)),
        ("rate_limit.per_ip_burst", json!(3)),
    ])
    .await;
    let flooder = app.forwarded_for(&random_ip());
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(wrong_login(&flooder, "someone").await.status());
    }
    let unavailable = count(&statuses, StatusCode::SERVICE_UNAVAILABLE);
    let shed = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    // The burst (plus at most the refill while the 503s took their time)
    // reached Redis; the rest never did.
    assert!(unavailable >= 3, "{statuses:?}");
    assert!(
        unavailable <= 3 + started.elapsed().as_secs() as usize + 1,
        "{statuses:?}"
    );
    assert_eq!(unavailable + shed, 10, "{statuses:?}");
    assert!(shed >= 5, "{statuses:?}");
    assert_limited(wrong_login(&flooder, "someone").await, TOO_MANY).await;
    // Probes are never shed; other clients are not affected.
    let probe = flooder.get("/health/live").send().await.unwrap();
    assert_eq!(probe.status(), StatusCode::OK);
    let bystander = app.forwarded_for(&random_ip());
    assert_eq!(
        bystander.get("/").send().await.unwrap().status(),
        StatusCode::OK
    );
}

/// Sends `count` requests at once, each from its own client IP, and returns
/// their statuses.
async fn all_at_once<F, Fut>(app: &TestApp, count: usize, send: F) -> Vec<StatusCode>
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let tasks = (0..count).map(|_| tokio::spawn(send(app.forwarded_for(&random_ip()))));
    statuses_of(tasks.collect()).await
}

/// The statuses of `tasks`' responses, in order.
async fn statuses_of(tasks: Vec<tokio::task::JoinHandle<Response>>) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().status());
    }
    statuses
}

#[tokio::test]
async fn fifteen_simultaneous_wrong_passwords_get_no_more_than_five_verified() {
    let app = limited_app(&[
        ("rate_limit.login_failures_per_account", json!(5)),
        ("rate_limit.login_attempts_per_ip_per_minute", json!(100)),
    ])
    .await;
    let user = app.forwarded_for(&random_ip()).new_user().await;

    // /login: every guess from its own address, all in flight together.
    let email = user.email.clone();
    let statuses = all_at_once(&app, 15, move |client| {
        let email = email.clone();
        async move { wrong_login(&client, &email).await }
    })
    .await;
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        10,
        "{statuses:?}"
    );
    // Only the five that got a slot reached argon2 and were audited.
    assert_eq!(app.audit_count(user.id, "login_failed", 5).await, 5);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.audit_events(user.id, "login_failed").await.len(), 5);
    // And the right password is locked out with a Retry-After.
    let right = json!({"email": user.email, "password": user.password});
    assert_limited(app.login_json(right).await, LOCKED).await;

    // The OAuth password grant, against a fresh account, holds the same line.
    let other = app.forwarded_for(&random_ip()).new_user().await;
    let username = other.username.clone();
    let statuses = all_at_once(&app, 15, move |client| {
        let username = username.clone();
        async move {
            client
                .password_grant(&username, "not the password at all")
                .await
        }
    })
    .await;
    assert_eq!(count(&statuses, StatusCode::BAD_REQUEST), 5, "{statuses:?}");
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        10,
        "{statuses:?}"
    );
    assert_limited(
        app.password_grant(&other.email, &other.password).await,
        LOCKED,
    )
    .await;
}

#[tokio::test]
async fn a_right_password_forgets_the_accounts_failures() {
    let app = limited_app(&[("rate_limit.login_failures_per_account", json!(3))]).await;
    let app = app.forwarded_for(&random_ip());
    let user = app.new_user().await;
    for _ in 0..2 {
        assert_wrong_login_verified(&app, &user.email).await;
    }
    app.login(&user).await;
    // The window is empty again: three more wrong passwords are verified.
    for _ in 0..3 {
        assert_wrong_login_verified(&app, &user.username).await;
    }
    assert_limited(wrong_login(&app, &user.email).await, LOCKED).await;
}

#[tokio::test]
async fn a_padded_or_recased_name_shares_the_lockout_and_reveals_nothing() {
    let app = limited_app(&[("rate_limit.login_failures_per_account", json!(2))]).await;
    let app = app.forwarded_for(&random_ip());
    let user = app.new_user().await;
    let padded_email = format!("  {} ", user.email.to_uppercase());
    let padded_name = format!("   {}  ", user.username.to_uppercase());
    assert_wrong_login_verified(&app, &padded_email).await;
    assert_wrong_login_verified(&app, &user.username).await;
    // Locked under every spelling, for the right password too.
    for name in [&user.email, &padded_email, &padded_name] {
        let right = json!({"username": name, "password": user.password});
        assert_limited(app.login_json(right).await, LOCKED).await;
    }
    assert_limited(
        app.password_grant(&padded_name, &user.password).await,
        LOCKED,
    )
    .await;

    // A name no account has locks under its one form as well.
    let ghost = format!("{}@example.com", unique_name());
    for typed in [ghost.clone(), format!(" {} ", ghost.to_uppercase())] {
        assert_wrong_login_verified(&app, &typed).await;
    }
    assert_limited(wrong_login(&app, &format!("{ghost}  ")).await, LOCKED).await;
}

#[tokio::test]
async fn username_checks_are_limited_per_client_ip() {
    let app = limited_app(&[("rate_limit.username_available_per_ip_per_minute", json!(3))]).await;
    let prober = app.forwarded_for(&random_ip());
    for _ in 0..3 {
        assert_eq!(username_check(&prober).await.status(), StatusCode::OK);
    }
    let retry_after = assert_limited(username_check(&prober).await, TOO_MANY).await;
    assert!(retry_after <= 60, "{retry_after}");
    let neighbour = app.forwarded_for(&random_ip());
    assert_eq!(username_check(&neighbour).await.status(), StatusCode::OK);
}

async fn username_check(app: &TestApp) -> Response {
    app.get("/api/v1/auth/username-available")
        .query(&[("username", unique_name())])
        .send()
        .await
        .unwrap()
}

/// A random /64 from the documentation range, as `2001:db8:x:y`.
fn random_v6_prefix() -> String {
    let [a, b, c] = rand_bytes();
    format!("2001:db8:{a:x}{b:02x}:{c:x}")
}

#[tokio::test]
async fn ipv6_clients_of_one_64_share_their_limits() {
    let app = limited_app(&[("rate_limit.login_attempts_per_ip_per_minute", json!(3))]).await;
    // The Redis login limit: three hosts of one /64 spend one allowance.
    let prefix = random_v6_prefix();
    for host in [":1", ":2", "abcd:ef01:2345:6789"] {
        let client = app.forwarded_for(&format!("{prefix}:{host}"));
        assert_wrong_login_verified(&client, &unique_name()).await;
    }
    let fourth = app.forwarded_for(&format!("{prefix}::99"));
    assert_limited(wrong_login(&fourth, &unique_name()).await, TOO_MANY).await;
    // The next /64 over is another client.
    let other = app.forwarded_for(&format!("{}::1", random_v6_prefix()));
    assert_wrong_login_verified(&other, &unique_name()).await;
    // An IPv4 client arriving IPv4-mapped is counted as its IPv4 address.
    let v4 = random_ip();
    for _ in 0..3 {
        let mapped = app.forwarded_for(&format!("::ffff:{v4}"));
        assert_wrong_login_verified(&mapped, &unique_name()).await;
    }
    assert_limited(
        wrong_login(&app.forwarded_for(&v4), &unique_name()).await,
        TOO_MANY,
    )
    .await;

    // The in-process flood guard: a burst of three per /64.
    let app = limited_app(&[
        ("rate_limit.per_ip_per_second", json!(1)),
        ("rate_limit.per_ip_burst", json!(3)),
    ])
    .await;
    let prefix = random_v6_prefix();
    for host in 1..=3 {
        let client = app.forwarded_for(&format!("{prefix}:{host}::{host}"));
        assert_eq!(
            client.get("/").send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    let shed = app.forwarded_for(&format!("{prefix}:ffff::4"));
    assert_limited(shed.get("/").send().await.unwrap(), TOO_MANY).await;
    let other = app.forwarded_for(&format!("{}::1", random_v6_prefix()));
    assert_eq!(
        other.get("/").send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_gateway_verifying_for_all_its_users_is_not_throttled_as_one_client() {
    let flood_guard = || {
        overrides(&[
            ("rate_limit.enabled", json!(true)),
            ("rate_limit.per_ip_per_second", json!(1)),
            ("rate_limit.per_ip_burst", json!(5)),
        ])
    };
    let gateway = random_loopback();
    let burst = |app: TestApp, forwarded: bool| async move {
        let user = as_client(&app, None, Some(random_loopback()))
            .new_user()
            .await;
        let access = as_client(&app, None, Some(random_loopback()))
            .login(&user)
            .await
            .access;
        let mut statuses = Vec::new();
        for _ in 0..20 {
            // With trusted_proxies the gateway names each end client.
            let end_client = random_ip();
            let gateway = as_client(
                &app,
                forwarded.then_some(end_client.as_str()),
                Some(gateway),
            );
            statuses.push(gateway.verify(&access).await.status());
        }
        statuses
    };

    // Unconfigured, the gateway is one client: its burst is shed.
    let statuses = burst(spawn_app_with(flood_guard()).await, false).await;
    assert!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS) >= 10,
        "{statuses:?}"
    );
    // Allow-listed (its own calls, no X-Forwarded-For): never limited.
    let allowed = flood_guard().merge(Serialized::default(
        "rate_limit.allow_cidrs",
        json!([format!("{gateway}/32")]),
    ));
    let statuses = burst(spawn_app_with(allowed).await, false).await;
    assert_eq!(count(&statuses, StatusCode::OK), 20, "{statuses:?}");
    // A trusted proxy forwarding for its users: each user is counted alone.
    let proxy = flood_guard().merge(Serialized::default(
        "server.trusted_proxies",
        json!([format!("{gateway}/32")]),
    ));
    let statuses = burst(spawn_app_with(proxy).await, true).await;
    assert_eq!(count(&statuses, StatusCode::OK), 20, "{statuses:?}");
}

const CLIENT_LOCKED: &str = "Too many failed client authentications; try again later.";

async fn introspect_as(app: &TestApp, secret: &str) -> Response {
    app.post("/oauth/introspect")
        .basic_auth(common::GATEWAY_ID, Some(secret))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .unwrap()
}

async fn feed_as(app: &TestApp, secret: &str) -> Response {
    app.get("/api/v1/revocations?limit=1")
        .basic_auth(common::GATEWAY_ID, Some(secret))
        .send()
        .await
        .unwrap()
}

/// A gateway's secret cannot be guessed without limit: sixty wrong secrets
/// from one address, sent at once, get exactly the limit's 401s and 429s
/// with `Retry-After` for the rest, at introspection, the revocation feed
/// and the token endpoint alike. The count is per address and never refuses
/// the right secret, so knowing the gateway's id cannot freeze it.
#[tokio::test]
async fn wrong_client_secrets_are_throttled_per_address_never_the_right_secret() {
    let app = spawn_app_with(limited(&[]).merge(gateway_overrides())).await;
    let guesser = app.forwarded_for(&random_ip());
    let tasks = (0..60).map(|i| {
        let guesser = guesser.clone();
        tokio::spawn(async move { introspect_as(&guesser, &format!("guess {i}")).await })
    });
    let statuses = statuses_of(tasks.collect()).await;
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        20,
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 40);

    let retry = assert_limited(introspect_as(&guesser, "guess 61").await, CLIENT_LOCKED).await;
    assert!(retry <= 600, "{retry}");
    assert_limited(feed_as(&guesser, "guess 62").await, CLIENT_LOCKED).await;
    let token = guesser
        .post("/oauth/token")
        .basic_auth(common::GATEWAY_ID, Some("guess 63"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_limited(token, CLIENT_LOCKED).await;

    // The right secret: from the gateway's own address, and from the
    // guesser's too.
    let gateway = app.forwarded_for(&random_ip());
    for (who, app) in [
        ("the gateway", &gateway),
        ("the guesser's address", &guesser),
    ] {
        let introspection = introspect_as(app, common::GATEWAY_SECRET).await;
        assert_eq!(introspection.status(), StatusCode::OK, "{who}");
        assert_eq!(
            feed_as(app, common::GATEWAY_SECRET).await.status(),
            StatusCode::OK,
            "{who}"
        );
    }
    // Another address's wrong secret is its own count's first.
    assert_eq!(
        introspect_as(&gateway, "one typo").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
