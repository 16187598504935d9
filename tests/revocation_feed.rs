//! The revocation feed and `tessera-verify`: a service that verifies tokens
//! offline refuses a revoked one within a second, follows key rotation,
//! resyncs after a gap, and fails closed when it loses the feed; the feed
//! itself serves gateway clients only, resumes streams, and records every
//! kind of revocation.

mod common;

use std::time::Duration;

use common::revocations::{fail_open, feed_overrides, verifier_config, Proxy, Service};
use common::servers::{RedisCluster, RedisServer};
use common::{json_of, spawn_app_with, TestApp, Tokens, GATEWAY_ID, GATEWAY_SECRET};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera::tokens::KeySet;

/// The bound the issue sets: a revocation visible at the service within 1 s.
const WITHIN: Duration = Duration::from_secs(1);

async fn feed_app(extra: Figment) -> TestApp {
    spawn_app_with(feed_overrides().merge(extra)).await
}

async fn service_for(app: &TestApp) -> Service {
    Service::start(verifier_config(&app.address)).await
}

/// Asserts the service accepts `tokens` now and refuses them within a
/// second of the request `revoke` (sent only then) answering.
async fn assert_refused_within_a_second(
    service: &Service,
    tokens: &Tokens,
    revoke: impl std::future::Future<Output = reqwest::Response>,
) {
    assert_eq!(service.call(&tokens.access).await, StatusCode::OK);
    let answered = revoke.await.status();
    assert!(answered.is_success(), "the revocation answered {answered}");
    let took = service
        .time_until(&tokens.access, StatusCode::UNAUTHORIZED, WITHIN)
        .await;
    assert!(
        took.is_some(),
        "still accepted {WITHIN:?} after the revocation"
    );
}

#[tokio::test]
async fn a_logged_out_token_is_refused_by_the_service_within_a_second() {
    let app = feed_app(Figment::new()).await;
    let service = service_for(&app).await;
    let (user, tokens) = app.signed_in_user().await;
    let other = app.login(&user).await;
    assert_refused_within_a_second(
        &service,
        &tokens,
        app.post_with_bearer("/api/v1/auth/logout", &tokens.access),
    )
    .await;
    // Only that session: the user's other device still works.
    assert_eq!(service.call(&other.access).await, StatusCode::OK);
    // Behind the tower layer alike.
    assert_eq!(
        service.call_at("/layered", &other.access).await,
        StatusCode::OK
    );
    assert_eq!(
        service.call_at("/layered", &tokens.access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        service.call_at("/layered", "").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_disabled_clients_token_is_refused_by_the_service_within_a_second() {
    let app = feed_app(Figment::new()).await;
    let service = service_for(&app).await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let (id, secret) = app
        .register_client(
            &admin.access,
            json!({"name": "nightly-job", "scopes": ["reports"]}),
        )
        .await;
    let (id, secret) = (id.as_str(), secret.expect("a secret"));
    let response = app
        .post("/oauth/token")
        .basic_auth(id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body = json_of(response, StatusCode::OK).await;
    let tokens = Tokens {
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: String::new(),
    };
    // A user's token is not touched by a client's cut.
    let (_, user) = app.signed_in_user().await;
    assert_refused_within_a_second(
        &service,
        &tokens,
        app.bearer(&admin.access).patch_json(
            &format!("/api/v1/admin/clients/{id}"),
            json!({"disabled": true}),
        ),
    )
    .await;
    assert_eq!(service.call(&user.access).await, StatusCode::OK);
}

#[tokio::test]
async fn on_a_redis_cluster_revocations_reach_the_feed_right_after_the_script() {
    let cluster = RedisCluster::start(3);
    let app = feed_app(
        Figment::new()
            // An unreachable single Redis: only the cluster can answer.
            .merge(Serialized::default("redis.url", "redis://127.0.0.1:1"))
            .merge(Serialized::default("redis.cluster_nodes", cluster.urls())),
    )
    .await;
    let service = service_for(&app).await;
    let user = app.new_user().await;
    let (first, second) = (app.login(&user).await, app.login(&user).await);
    assert_refused_within_a_second(
        &service,
        &first,
        app.post_with_bearer("/api/v1/auth/logout", &first.access),
    )
    .await;
    assert_eq!(
        reasons(&app, session_of(&first), "session").await,
        ["logout"]
    );
    assert_refused_within_a_second(
        &service,
        &second,
        app.post_with_bearer("/api/v1/auth/logout-all", &second.access),
    )
    .await;
    assert_eq!(reasons(&app, user.id, "user").await, ["logout_all"]);
}

#[tokio::test]
async fn logout_all_refuses_every_token_of_the_user_within_a_second() {
    let app = feed_app(Figment::new()).await;
    let service = service_for(&app).await;
    let (user, first) = app.signed_in_user().await;
    let second = app.login(&user).await;
    assert_refused_within_a_second(
        &service,
        &second,
        app.post_with_bearer("/api/v1/auth/logout-all", &first.access),
    )
    .await;
    assert_eq!(service.call(&first.access).await, StatusCode::UNAUTHORIZED);
    // A login after the cut (past its second, see not_before) is good.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = app.login(&user).await;
    assert_eq!(service.call(&again.access).await, StatusCode::OK);
}

#[tokio::test]
async fn a_blocked_users_token_is_refused_within_a_second() {
    let app = feed_app(Figment::new()).await;
    let service = service_for(&app).await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let (user, tokens) = app.signed_in_user().await;
    assert_refused_within_a_second(
        &service,
        &tokens,
        app.post_with_bearer(
            &format!("/api/v1/admin/users/{}/block", user.id),
            &admin.access,
        ),
    )
    .await;
}

#[tokio::test]
async fn a_demoted_moderators_token_is_refused_within_a_second_and_a_refreshed_one_works() {
    let app = feed_app(Figment::new()).await;
    let service = service_for(&app).await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let (moderator, tokens) = app.new_user_with_role("MODERATOR").await;
    assert_refused_within_a_second(
        &service,
        &tokens,
        app.bearer(&admin.access).patch_json(
            &format!("/api/v1/admin/users/{}", moderator.id),
            json!({"account_role": "REGULAR"}),
        ),
    )
    .await;
    // The session lives on: a refresh past the cut's second mints a token
    // that claims the new role, and the service takes it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refreshed = common::pair(app.refresh(&tokens.refresh).await).await;
    assert_eq!(common::jwt_claims(&refreshed.access)["role"], "REGULAR");
    assert_eq!(service.call(&refreshed.access).await, StatusCode::OK);
}

#[tokio::test]
async fn an_upgrade_revokes_nothing() {
    let app = feed_app(Figment::new()).await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let (user, tokens) = app.signed_in_user().await;
    let response = app
        .patch(&format!("/api/v1/admin/users/{}", user.id))
        .bearer_auth(&admin.access)
        .json(&json!({"account_role": "MODERATOR", "account_subscription": "PRO"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(app.revocations_of(user.id).await.is_empty());
    let service = service_for(&app).await;
    assert_eq!(service.call(&tokens.access).await, StatusCode::OK);
}

/// The reasons the feed holds for `id`, once it holds `count` of them.
async fn reasons(app: &TestApp, id: uuid::Uuid, kind: &str) -> Vec<String> {
    app.revocations_of(id)
        .await
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], kind, "{e}");
            e["reason"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn session_of(tokens: &Tokens) -> uuid::Uuid {
    common::jwt_claims(&tokens.access)["sid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_session_end_appends_a_session_event() {
    let app = feed_app(common::overrides(&[
        ("session.reuse_grace_secs", json!(0)),
        ("session.max_per_user", json!(2)),
    ]))
    .await;
    let (user, logged_out) = app.signed_in_user().await;
    app.post("/api/v1/auth/logout")
        .json(&json!({"refresh_token": logged_out.refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reasons(&app, session_of(&logged_out), "session").await,
        ["logout"]
    );

    let current = app.login(&user).await;
    let revoked = app.login(&user).await;
    let response = app
        .delete(&format!(
            "/api/v1/users/me/sessions/{}",
            session_of(&revoked)
        ))
        .bearer_auth(&current.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        reasons(&app, session_of(&revoked), "session").await,
        ["session_revoked"]
    );

    let stolen = app.login(&user).await;
    common::pair(app.refresh(&stolen.refresh).await).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.assert_refresh(&stolen.refresh, StatusCode::UNAUTHORIZED)
        .await;
    assert_eq!(
        reasons(&app, session_of(&stolen), "session").await,
        ["reuse_detected"]
    );

    // Two live sessions (current, and one more), then a third login: the
    // oldest is evicted.
    let newer = app.login(&user).await;
    let latest = app.login(&user).await;
    let evicted = reasons(&app, session_of(&current), "session").await;
    assert_eq!(evicted, ["evicted"]);
    assert!(app.revocations_of(session_of(&newer)).await.is_empty());

    // change-password ends the OTHER sessions, one event each; the caller's
    // own session keeps its tokens good. (This login evicts `newer`.)
    let mine = app.login(&user).await;
    assert_eq!(
        reasons(&app, session_of(&newer), "session").await,
        ["evicted"]
    );
    let response = app
        .post("/api/v1/auth/change-password")
        .bearer_auth(&mine.access)
        .json(
            &json!({"current_password": user.password, "new_password": "another fine passphrase"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        reasons(&app, session_of(&latest), "session").await,
        ["password_changed"]
    );
    assert!(app.revocations_of(session_of(&mine)).await.is_empty());
    assert!(app.revocations_of(user.id).await.is_empty());
}

#[tokio::test]
async fn every_user_wide_cut_appends_a_user_event() {
    let app = feed_app(Figment::new()).await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let as_admin = |request: reqwest::RequestBuilder| {
        let token = admin.access.clone();
        async move { request.bearer_auth(token).send().await.unwrap().status() }
    };

    let (user, tokens) = app.signed_in_user().await;
    app.post_with_bearer("/api/v1/auth/logout-all", &tokens.access)
        .await;
    assert_eq!(reasons(&app, user.id, "user").await, ["logout_all"]);

    let blocked = app.new_user().await;
    app.login(&blocked).await;
    let status = as_admin(app.post(&format!("/api/v1/admin/users/{}/block", blocked.id))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reasons(&app, blocked.id, "user").await, ["blocked"]);

    let deleted = app.new_user().await;
    app.login(&deleted).await;
    let status = as_admin(app.delete(&format!("/api/v1/admin/users/{}", deleted.id))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(reasons(&app, deleted.id, "user").await, ["deleted"]);

    let (leaving, own) = app.signed_in_user().await;
    let response = app
        .delete("/api/v1/users/me")
        .bearer_auth(&own.access)
        .json(&json!({"password": leaving.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(reasons(&app, leaving.id, "user").await, ["deleted"]);

    let (pro, _) = app.new_user_with_role("REGULAR").await;
    app.update_user(pro.id, "account_subscription = 'PRO'")
        .await;
    app.login(&pro).await;
    let status = as_admin(
        app.patch(&format!("/api/v1/admin/users/{}", pro.id))
            .json(&json!({"account_subscription": "FREE"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reasons(&app, pro.id, "user").await, ["downgraded"]);
}

#[tokio::test]
async fn a_password_reset_appends_a_user_event() {
    let sink = common::SmtpSink::start();
    let app = feed_app(sink.overrides()).await;
    let user = app.new_user().await;
    app.login(&user).await;
    app.forgot_password(&user.email).await;
    let mail = sink.wait_for_mail(&user.email).await;
    let token = common::token_in(&mail, "reset-password");
    let response = app
        .post_json(
            "/api/v1/auth/reset-password",
            json!({"token": token, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(reasons(&app, user.id, "user").await, ["password_reset"]);
}

/// The events of a page body.
fn events(page: &Value) -> &Vec<Value> {
    page["events"].as_array().expect("events")
}

#[tokio::test]
async fn pages_follow_the_cursor_and_a_trimmed_one_gets_410_then_the_verifier_resyncs() {
    // A Redis of its own, so trimming the stream touches no other test.
    let redis = RedisServer::start();
    let app = feed_app(Figment::new().merge(Serialized::default("redis.url", redis.url()))).await;
    let proxy = Proxy::start(app.socket_addr()).await;
    let service = Service::start(verifier_config(&proxy.url)).await;
    let user = app.new_user().await;
    let (first, second, third) = (
        app.login(&user).await,
        app.login(&user).await,
        app.login(&user).await,
    );

    let start: Value = app
        .feed_get("/api/v1/revocations?limit=10")
        .await
        .json()
        .await
        .unwrap();
    let cursor = start["next"].as_str().unwrap().to_owned();
    for tokens in [&first, &second] {
        app.post_with_bearer("/api/v1/auth/logout", &tokens.access)
            .await;
    }
    let page: Value = app
        .feed_get(&format!("/api/v1/revocations?after={cursor}&limit=1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events(&page).len(), 1);
    assert_eq!(events(&page)[0]["id"], session_of(&first).to_string());
    let rest: Value = app
        .feed_get(&format!(
            "/api/v1/revocations?after={}",
            page["next"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events(&rest).len(), 1);
    assert_eq!(events(&rest)[0]["id"], session_of(&second).to_string());

    // A cursor or limit that does not read is the client's 422.
    let bad = app
        .feed_get("/api/v1/revocations?after=yesterday&limit=0")
        .await;
    let body = common::json_of(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let locs: Vec<&Value> = common::error_locs(&body);
    assert_eq!(
        locs,
        [&json!(["query", "after"]), &json!(["query", "limit"])]
    );

    // The service loses the feed at the cursor after those two; meanwhile
    // the stream is trimmed past it and a third session ends.
    assert!(service
        .time_until(&second.access, StatusCode::UNAUTHORIZED, WITHIN)
        .await
        .is_some());
    proxy.cut();
    redis.cli(&["XTRIM", "tessera:revocations", "MAXLEN", "0"]);
    app.post_with_bearer("/api/v1/auth/logout", &third.access)
        .await;
    let gone = app
        .feed_get(&format!("/api/v1/revocations?after={cursor}"))
        .await;
    assert_eq!(gone.status(), StatusCode::GONE);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["error_code"], "FEED_GAP");
    assert!(body["detail"].as_str().unwrap().contains("snapshot"));

    // Back on the network: its cursor is gone (410), so it must resync from
    // the snapshot to learn of the third logout.
    proxy.resume();
    let took = service
        .time_until(
            &third.access,
            StatusCode::UNAUTHORIZED,
            Duration::from_secs(5),
        )
        .await;
    assert!(took.is_some(), "the verifier never resynced after the gap");
}

#[tokio::test]
async fn a_stream_resumes_after_its_last_event_id() {
    // A Redis of its own: no other test's events, so silence is silence.
    let redis = RedisServer::start();
    let app = feed_app(Figment::new().merge(Serialized::default("redis.url", redis.url()))).await;
    let user = app.new_user().await;
    let sessions = [
        app.login(&user).await,
        app.login(&user).await,
        app.login(&user).await,
    ];
    let start: Value = app
        .feed_get("/api/v1/revocations/snapshot")
        .await
        .json()
        .await
        .unwrap();
    let cursor = start["next"].as_str().unwrap().to_owned();
    for tokens in &sessions {
        app.post_with_bearer("/api/v1/auth/logout", &tokens.access)
            .await;
    }
    let page: Value = app
        .feed_get(&format!("/api/v1/revocations?after={cursor}&limit=1000"))
        .await
        .json()
        .await
        .unwrap();
    let ours: Vec<&Value> = events(&page)
        .iter()
        .filter(|e| {
            sessions
                .iter()
                .any(|t| e["id"] == session_of(t).to_string())
        })
        .collect();
    assert_eq!(ours.len(), 3);
    let resume_after = ours[0]["seq"].as_str().unwrap();

    let mut stream = app
        .get("/api/v1/revocations/stream")
        .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
        .header("last-event-id", resume_after)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut text = String::new();
    let want = [
        session_of(&sessions[1]).to_string(),
        session_of(&sessions[2]).to_string(),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !want.iter().all(|id| text.contains(id.as_str())) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("the stream delivers the events after Last-Event-ID")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        !text.contains(&session_of(&sessions[0]).to_string()),
        "{text}"
    );
    assert!(
        text.contains(&format!("id: {}", ours[1]["seq"].as_str().unwrap())),
        "{text}"
    );
    assert!(text.contains("event: revocation"), "{text}");

    // A heartbeat comes within the configured second of silence.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("a heartbeat")
            .unwrap()
            .unwrap();
        if String::from_utf8_lossy(&chunk).starts_with(':') {
            break;
        }
    }

    let bad = app
        .get("/api/v1/revocations/stream")
        .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_feed_refuses_anyone_but_a_gateway_client() {
    let app = feed_app(Figment::new()).await;
    let (_, tokens) = app.signed_in_user().await;
    for path in [
        "/api/v1/revocations",
        "/api/v1/revocations/snapshot",
        "/api/v1/revocations/stream",
    ] {
        let attempts = [
            app.get(path),
            app.get(path).basic_auth(GATEWAY_ID, Some("not the secret")),
            app.get(path)
                .basic_auth("someone-else", Some(GATEWAY_SECRET)),
            app.get(path).basic_auth(GATEWAY_ID, None::<&str>),
            app.get(path).bearer_auth(&tokens.access),
        ];
        for attempt in attempts {
            let response = attempt.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert!(response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"], "Client authentication failed");
        }
    }
    let mut config = verifier_config(&app.address);
    config.client_secret = "not the secret".into();
    assert!(tessera_verify::Verifier::start(config).await.is_err());
}

#[tokio::test]
async fn a_rotated_signing_key_is_picked_up_on_its_first_token() {
    let dir = std::env::temp_dir().join(format!("tessera-feed-keys-{}", uuid::Uuid::new_v4()));
    KeySet::generate(&dir).unwrap();
    let app = feed_app(common::overrides(&[
        ("jwt.keys_dir", json!(&dir)),
        ("jwt.keys_reload_secs", json!(1)),
    ]))
    .await;
    let service = service_for(&app).await;
    let (user, old) = app.signed_in_user().await;
    assert_eq!(service.call(&old.access).await, StatusCode::OK);

    let new_kid = KeySet::generate(&dir).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let fresh = loop {
        let tokens = app.login(&user).await;
        let kid = common::revocations::jwt_header(&tokens.access)["kid"].clone();
        if kid == new_kid.as_str() {
            break tokens;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the app never signed with the new key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(service.call(&fresh.access).await, StatusCode::OK);
    assert_eq!(service.call(&old.access).await, StatusCode::OK);
}

#[tokio::test]
async fn a_lost_feed_fails_closed_after_the_bound_unless_configured_open() {
    let app = feed_app(Figment::new()).await;
    let proxy = Proxy::start(app.socket_addr()).await;
    let closed = Service::start(verifier_config(&proxy.url)).await;
    let open = Service::start(fail_open(verifier_config(&proxy.url))).await;
    let (_, tokens) = app.signed_in_user().await;
    assert_eq!(closed.call(&tokens.access).await, StatusCode::OK);

    proxy.cut();
    let cut_at = std::time::Instant::now();
    // Still good within the bound (2 s of silence; the last heartbeat came
    // at most 1 s before the cut)...
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(closed.call(&tokens.access).await, StatusCode::OK);
    // ...then refused with 503 (not the token's fault), by the closed one only.
    closed
        .time_until(
            &tokens.access,
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(4),
        )
        .await
        .expect("fails closed");
    let after = cut_at.elapsed();
    assert!(
        (Duration::from_millis(1000)..Duration::from_millis(3000)).contains(&after),
        "failed closed {after:?} after the cut"
    );
    assert!(!closed.verifier.feed_is_live());
    assert_eq!(open.call(&tokens.access).await, StatusCode::OK);

    // The feed back: accepted again once the stream reconnects.
    proxy.resume();
    assert!(closed
        .time_until(&tokens.access, StatusCode::OK, Duration::from_secs(5))
        .await
        .is_some());
}

#[tokio::test]
async fn an_instance_serves_at_most_max_streams_streams() {
    let app =
        feed_app(Figment::new().merge(Serialized::default("revocations.max_streams", 1))).await;
    let open = |app: &TestApp| {
        app.get("/api/v1/revocations/stream")
            .basic_auth(GATEWAY_ID, Some(GATEWAY_SECRET))
            .send()
    };
    let first = open(&app).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let second = open(&app).await.unwrap();
    let body = common::json_of(second, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error_code"], "OVERLOADED");
    // A closed stream gives its place back.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let again = open(&app).await.unwrap();
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
