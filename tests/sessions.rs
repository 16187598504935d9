//! Sessions: refresh rotation, reuse detection, the grace window, logout,
//! and the access-token checks that see them at once.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::servers::RedisServer;
use common::{
    assert_detail, assert_oauth_error, gateway_overrides, json_of, jwt_claims, pair, spawn_app,
    spawn_app_with, Tokens,
};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn refresh_rotates_and_the_new_pair_works() {
    let app = spawn_app().await;
    let (user, first) = app.signed_in_user().await;
    let second = pair(app.refresh(&first.refresh).await).await;
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    let claims: Value = app.verify(&second.access).await.json().await.unwrap();
    assert_eq!(claims["sub"], user.id.to_string());
    let third = pair(app.refresh(&second.refresh).await).await;
    app.assert_verify(&third.access, StatusCode::OK).await;
}

#[tokio::test]
async fn refresh_accepts_the_token_as_a_bearer_header() {
    let app = spawn_app().await;
    let (_, first) = app.signed_in_user().await;
    let response = app
        .post_with_bearer("/api/v1/auth/refresh", &first.refresh)
        .await;
    let second = pair(response).await;
    app.assert_verify(&second.access, StatusCode::OK).await;
}

#[tokio::test]
async fn unknown_malformed_or_missing_refresh_tokens_are_401() {
    let app = spawn_app().await;
    for token in ["", "garbage", &"A".repeat(107)] {
        let response = app.refresh(token).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_detail(
            response,
            StatusCode::UNAUTHORIZED,
            "Invalid or expired refresh token",
        )
        .await;
    }
    let response = app.post("/api/v1/auth/refresh").send().await.unwrap();
    assert_detail(
        response,
        StatusCode::UNAUTHORIZED,
        "Invalid or expired refresh token",
    )
    .await;
    let response = app
        .post_json("/api/v1/auth/refresh", json!({"refresh_token": 42}))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    app.assert_refresh(&tokens.access, StatusCode::UNAUTHORIZED)
        .await;
}

#[tokio::test]
async fn thirty_concurrent_refreshes_of_one_token_never_fork_the_session() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let attempts = (0..30).map(|_| {
        let (app, token) = (&app, tokens.refresh.clone());
        async move {
            let response = app.refresh(&token).await;
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body["refresh_token"].as_str().map(str::to_owned))
        }
    });
    let results = futures::future::join_all(attempts).await;
    let issued: HashSet<String> = results
        .iter()
        .filter_map(|(_, token)| token.clone())
        .collect();
    assert!(
        results.iter().all(|(status, _)| *status == StatusCode::OK),
        "all within the grace window: {results:?}"
    );
    assert_eq!(issued.len(), 1, "one successor, not a fork: {issued:?}");
    let successor = issued.into_iter().next().unwrap();
    let next = pair(app.refresh(&successor).await).await;
    app.assert_verify(&next.access, StatusCode::OK).await;
}

#[tokio::test]
async fn a_retry_within_the_grace_window_gets_a_working_pair_and_revokes_nothing() {
    let app = spawn_app().await;
    let (_, first) = app.signed_in_user().await;
    let rotated = pair(app.refresh(&first.refresh).await).await;
    // The client lost that response and retries with the old token.
    let retried = pair(app.refresh(&first.refresh).await).await;
    assert_eq!(
        retried.refresh, rotated.refresh,
        "the retry gets the same successor"
    );
    app.assert_verify(&retried.access, StatusCode::OK).await;
    app.assert_verify(&rotated.access, StatusCode::OK).await;
    let next = pair(app.refresh(&retried.refresh).await).await;
    app.assert_verify(&next.access, StatusCode::OK).await;
}

#[tokio::test]
async fn a_stolen_refresh_token_replayed_after_the_grace_window_ends_the_session() {
    let app =
        spawn_app_with(Figment::new().merge(Serialized::default("session.reuse_grace_secs", 1)))
            .await;
    let (user, first) = app.signed_in_user().await;
    let rotated = pair(app.refresh(&first.refresh).await).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    app.assert_refresh_refused(&first.refresh).await;
    // The legitimate holder's newest tokens die with the session.
    app.assert_revoked(&rotated).await;
    app.assert_verify(&first.access, StatusCode::UNAUTHORIZED)
        .await;
    let events = app.audit_events(user.id, "refresh_reuse_detected").await;
    assert_eq!(events.len(), 1);
    // Other sessions of the user are untouched.
    let other = app.login(&user).await;
    app.assert_verify(&other.access, StatusCode::OK).await;
}

/// Refresh tokens anyone can build for a session from its public ids (`sub`
/// and `sid` are in every access token and every `/verify` answer): the
/// untagged wire form of old, and the tagged one with a made-up tag.
fn forgeries(access: &str) -> Vec<String> {
    let claims = jwt_claims(access);
    let id = |claim: &str| -> Uuid { claims[claim].as_str().unwrap().parse().unwrap() };
    let mut bytes = [&id("sub").as_bytes()[..], &id("sid").as_bytes()[..]].concat();
    bytes.extend_from_slice(&[7u8; 32]);
    let untagged = URL_SAFE_NO_PAD.encode(&bytes);
    bytes.extend_from_slice(&[7u8; 16]);
    vec![untagged, URL_SAFE_NO_PAD.encode(&bytes)]
}

#[tokio::test]
async fn a_refresh_token_forged_from_a_sessions_ids_ends_nothing_anywhere() {
    let app = spawn_app_with(gateway_overrides()).await;
    let (_, victim) = app.signed_in_user().await;
    for forged in forgeries(&victim.access) {
        app.assert_refresh_refused(&forged).await;
        let logout = app
            .post_json("/api/v1/auth/logout", json!({ "refresh_token": forged }))
            .await;
        assert_eq!(logout.status(), StatusCode::NO_CONTENT);
        let grant = [("grant_type", "refresh_token"), ("refresh_token", &forged)];
        assert_oauth_error(
            app.oauth_form("/oauth/token", &grant).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
        let revoke = app.oauth_form("/oauth/revoke", &[("token", &forged)]).await;
        assert_eq!(revoke.status(), StatusCode::OK);
        assert_eq!(app.introspect(&forged).await, json!({ "active": false }));
        assert_eq!(
            app.verify(&victim.access).await.status(),
            StatusCode::OK,
            "the session survives {forged}"
        );
    }
    // The victim's own token still rotates: nothing was taken for reuse.
    let next = pair(app.refresh(&victim.refresh).await).await;
    app.assert_verify(&next.access, StatusCode::OK).await;
}

#[tokio::test]
async fn a_forged_refresh_token_is_refused_without_asking_redis() {
    let mut redis = RedisServer::start();
    let app = spawn_app_with(common::overrides(&[
        ("redis.url", json!(redis.url())),
        ("redis.timeout_ms", json!(500)),
    ]))
    .await;
    let (_, victim) = app.signed_in_user().await;
    redis.kill();
    for forged in forgeries(&victim.access) {
        app.assert_refresh_refused(&forged).await;
    }
    // A token the service issued does need Redis, which is down.
    app.assert_refresh(&victim.refresh, StatusCode::SERVICE_UNAVAILABLE)
        .await;
}

#[tokio::test]
async fn a_retry_from_another_network_is_audited_and_revokes_nothing() {
    let app = spawn_app_with(Figment::new().merge(Serialized::default(
        "server.trusted_proxies",
        ["127.0.0.1/32"],
    )))
    .await;
    let (user, first) = app.signed_in_user().await;
    let refresh_from = |ip: &'static str, user_agent: &'static str| {
        app.post("/api/v1/auth/refresh")
            .header("x-forwarded-for", ip)
            .header("user-agent", user_agent)
            .json(&json!({ "refresh_token": first.refresh }))
            .send()
    };
    let rotated = pair(refresh_from("203.0.113.7", "phone on wi-fi").await.unwrap()).await;
    // The response was lost as the phone moved to cellular; it retries.
    let retried = pair(
        refresh_from("198.51.100.9", "phone on cellular")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(retried.refresh, rotated.refresh, "the same successor");
    app.assert_verify(&retried.access, StatusCode::OK).await;
    let events = app.audit_events(user.id, "refresh_retried").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["ip"], "198.51.100.9");
    assert_eq!(events[0]["user_agent"], "phone on cellular");
    assert_eq!(
        events[0]["details"],
        json!({
            "session_id": jwt_claims(&first.access)["sid"],
            "rotated_from_ip": "203.0.113.7",
        })
    );
    // A new address alone is no theft: the session goes on.
    let next = pair(app.refresh(&retried.refresh).await).await;
    app.assert_verify(&next.access, StatusCode::OK).await;
}

#[tokio::test]
async fn a_token_two_rotations_old_is_reuse_even_inside_the_window() {
    let app = spawn_app().await;
    let (user, first) = app.signed_in_user().await;
    let second = pair(app.refresh(&first.refresh).await).await;
    let third = pair(app.refresh(&second.refresh).await).await;
    app.assert_refresh(&first.refresh, StatusCode::UNAUTHORIZED)
        .await;
    assert_eq!(
        app.verify(&third.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "session revoked"
    );
    let events = app.audit_events(user.id, "refresh_reuse_detected").await;
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test]
async fn refresh_lifetime_slides_but_the_absolute_cap_holds() {
    let overrides = common::overrides(&[
        ("session.refresh_ttl_secs", json!(2)),
        ("session.absolute_ttl_secs", json!(3)),
    ]);
    let app = spawn_app_with(overrides).await;
    let (_, first) = app.signed_in_user().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let response = app.refresh(&first.refresh).await;
    let body = json_of(response, StatusCode::OK).await;
    assert!(body["refresh_expires_in"].as_u64().unwrap() <= 2);
    let second = Tokens::from_body(&body);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // 2.4 s in: past the first refresh lifetime, alive thanks to the slide.
    let third = pair(app.refresh(&second.refresh).await).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // 3.4 s in: past the absolute cap.
    app.assert_revoked(&third).await;
}

#[tokio::test]
async fn an_unused_session_expires_after_the_refresh_lifetime() {
    let overrides = common::overrides(&[
        ("session.refresh_ttl_secs", json!(1)),
        ("session.absolute_ttl_secs", json!(60)),
    ]);
    let app = spawn_app_with(overrides).await;
    let (_, tokens) = app.signed_in_user().await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    app.assert_refresh(&tokens.refresh, StatusCode::UNAUTHORIZED)
        .await;
}

#[tokio::test]
async fn logout_rejects_the_access_token_at_verify_at_once() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    app.assert_verify(&tokens.access, StatusCode::OK).await;
    let response = app
        .post_with_bearer("/api/v1/auth/logout", &tokens.access)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.assert_revoked(&tokens).await;
    assert_eq!(app.audit_events(user.id, "logout").await.len(), 1);
}

#[tokio::test]
async fn logout_with_the_refresh_token_ends_that_session_only() {
    let app = spawn_app().await;
    let (user, phone) = app.signed_in_user().await;
    let laptop = app.login(&user).await;
    let response = app
        .post_json(
            "/api/v1/auth/logout",
            json!({"refresh_token": phone.refresh}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.assert_verify(&phone.access, StatusCode::UNAUTHORIZED)
        .await;
    app.assert_verify(&laptop.access, StatusCode::OK).await;
}

#[tokio::test]
async fn logout_answers_204_for_unknown_tokens() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/api/v1/auth/logout",
            json!({"refresh_token": "A".repeat(107)}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .post_with_bearer("/api/v1/auth/logout", "not.a.jwt")
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.post("/api/v1/auth/logout").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_and_no_other() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let stranger = app.new_user().await;
    let sessions = [
        app.login(&user).await,
        app.login(&user).await,
        app.login(&user).await,
    ];
    let theirs = app.login(&stranger).await;
    let response = app
        .post_with_bearer("/api/v1/auth/logout-all", &sessions[0].access)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for tokens in &sessions {
        app.assert_revoked(tokens).await;
    }
    app.assert_verify(&theirs.access, StatusCode::OK).await;
    let response = app
        .post_with_bearer("/api/v1/auth/logout-all", &sessions[0].access)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app.post("/api/v1/auth/logout-all").send().await.unwrap();
    assert_detail(response, StatusCode::UNAUTHORIZED, "Not authenticated").await;
}

#[tokio::test]
async fn verify_passes_identity_headers_and_claims() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    let response = app.verify(&tokens.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let claims: Value = response.json().await.unwrap();
    assert_eq!(headers["x-user-id"], user.id.to_string().as_str());
    assert_eq!(headers["x-user-role"], "REGULAR");
    assert_eq!(headers["x-user-subscription"], "FREE");
    assert_eq!(headers["x-session-id"], claims["sid"].as_str().unwrap());
    assert_eq!(claims["iss"], "tessera");
    assert_eq!(claims["aud"], "tessera");
    assert_eq!(claims["type"], "access");
    assert_eq!(claims["role"], "REGULAR");
    assert_eq!(claims["subscription"], "FREE");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );
    assert!(claims["jti"].as_str().is_some());
}

#[tokio::test]
async fn verify_rejects_missing_and_invalid_tokens_with_www_authenticate() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/auth/verify").send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_detail(response, StatusCode::UNAUTHORIZED, "Not authenticated").await;
    let response = app.verify("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_detail(
        response,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
    )
    .await;
}

#[tokio::test]
async fn users_me_returns_the_caller() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    let response = app
        .get_with_bearer("/api/v1/users/me", &tokens.access)
        .await;
    let me = json_of(response, StatusCode::OK).await;
    assert_eq!(me["id"], user.id.to_string());
    assert_eq!(me["username"], user.username);
    assert!(me.get("password_hash").is_none());
    let response = app.get("/api/v1/users/me").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_and_verify_never_touch_postgresql() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    // A second instance sharing Redis and keys, whose PostgreSQL is a closed port.
    let no_database = spawn_app_with(Figment::new().merge(Serialized::default(
        "database.url",
        "postgres://postgres@127.0.0.1:1/none",
    )))
    .await;
    let rotated = pair(no_database.refresh(&tokens.refresh).await).await;
    no_database
        .assert_verify(&rotated.access, StatusCode::OK)
        .await;
    let response = no_database
        .post_with_bearer("/api/v1/auth/logout", &rotated.access)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.assert_verify(&rotated.access, StatusCode::UNAUTHORIZED)
        .await;
}

/// The ids of the sessions `/users/me/sessions` lists for `access`'s user.
async fn listed_sessions(app: &common::TestApp, access: &str) -> HashSet<String> {
    app.my_sessions(access)
        .await
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A connection to the app's Redis, to look at what the scripts left.
async fn redis_of(app: &common::TestApp) -> redis::aio::MultiplexedConnection {
    use secrecy::ExposeSecret;
    let client = redis::Client::open(app.config.redis.url.expose_secret()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// How many entries the user's session index holds in Redis: the length
/// of every loop the session scripts run over the user.
async fn index_size(app: &common::TestApp, user: uuid::Uuid) -> u64 {
    redis::cmd("ZCARD")
        .arg(format!("tessera:u:{{{user}}}"))
        .query_async(&mut redis_of(app).await)
        .await
        .unwrap()
}

/// A rotation lengthens the user's session index with the session (one
/// `PEXPIRE ... GT`), and gives an index that lost its TTL one again: an
/// index that expired before its sessions would forget them (no "log out
/// everywhere", no cap), one without a TTL would never go.
#[tokio::test]
async fn a_rotation_keeps_the_session_index_alive_as_long_as_the_session() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    let sid = sid_of(&tokens);
    let (index, session) = (
        format!("tessera:u:{{{}}}", user.id),
        format!("tessera:s:{{{}}}:{sid}", user.id),
    );
    let mut redis = redis_of(&app).await;
    let reader = redis.clone();
    let pttl = move |key: String| {
        let mut redis = reader.clone();
        async move {
            redis::cmd("PTTL")
                .arg(key)
                .query_async::<i64>(&mut redis)
                .await
                .unwrap()
        }
    };
    let _: () = redis::cmd("PEXPIRE")
        .arg(&index)
        .arg(60_000)
        .query_async(&mut redis)
        .await
        .unwrap();
    let tokens = pair(app.refresh(&tokens.refresh).await).await;
    let (index_ttl, session_ttl) = (pttl(index.clone()).await, pttl(session.clone()).await);
    assert!(session_ttl > 60_000, "{session_ttl}");
    assert!(
        index_ttl >= session_ttl - 1_000,
        "index {index_ttl} ms, session {session_ttl} ms"
    );

    let _: () = redis::cmd("PERSIST")
        .arg(&index)
        .query_async(&mut redis)
        .await
        .unwrap();
    pair(app.refresh(&tokens.refresh).await).await;
    let (index_ttl, session_ttl) = (pttl(index).await, pttl(session).await);
    assert!(
        index_ttl >= session_ttl - 1_000,
        "index {index_ttl} ms, session {session_ttl} ms"
    );
}

fn sid_of(tokens: &Tokens) -> String {
    common::jwt_claims(&tokens.access)["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_user_holds_at_most_max_per_user_sessions_and_the_oldest_go_first() {
    let app =
        spawn_app_with(Figment::new().merge(Serialized::default("session.max_per_user", 3))).await;
    let user = app.new_user().await;
    let mut logins = Vec::new();
    for _ in 0..5 {
        logins.push(app.login(&user).await);
    }
    let (evicted, kept) = logins.split_at(2);
    for tokens in evicted {
        app.assert_verify(&tokens.access, StatusCode::UNAUTHORIZED)
            .await;
        app.assert_refresh_refused(&tokens.refresh).await;
    }
    for tokens in kept {
        app.assert_verify(&tokens.access, StatusCode::OK).await;
    }
    assert_eq!(
        listed_sessions(&app, &kept[2].access).await,
        kept.iter().map(sid_of).collect::<HashSet<_>>()
    );
    assert_eq!(index_size(&app, user.id).await, 3);

    // "Oldest" is the least recently used: the first kept session refreshes,
    // so the next login evicts the second, not it.
    let refreshed = pair(app.refresh(&kept[0].refresh).await).await;
    let newest = app.login(&user).await;
    app.assert_verify(&kept[1].access, StatusCode::UNAUTHORIZED)
        .await;
    for tokens in [&refreshed, &kept[2], &newest] {
        app.assert_verify(&tokens.access, StatusCode::OK).await;
        pair(app.refresh(&tokens.refresh).await).await;
    }
    assert_eq!(listed_sessions(&app, &newest.access).await.len(), 3);
    assert_eq!(index_size(&app, user.id).await, 3);
}

#[tokio::test]
async fn max_per_user_zero_leaves_sessions_unlimited() {
    let app =
        spawn_app_with(Figment::new().merge(Serialized::default("session.max_per_user", 0))).await;
    let user = app.new_user().await;
    let mut logins = Vec::new();
    for _ in 0..5 {
        logins.push(app.login(&user).await);
    }
    for tokens in &logins {
        app.assert_verify(&tokens.access, StatusCode::OK).await;
    }
    assert_eq!(listed_sessions(&app, &logins[0].access).await.len(), 5);
    for tokens in &logins {
        pair(app.refresh(&tokens.refresh).await).await;
    }
}
