//! Horizontal scale: instances share nothing but Redis and PostgreSQL, so a
//! token rotated on one instance is judged the same on another; and every
//! Redis flow runs unchanged on a real Redis Cluster (3 masters built from
//! `redis-server` processes on free ports), since every script's keys share
//! the user's hash tag.

mod common;

use std::time::Duration;

use common::dpop::{ath, bound_login, AppKey};
use common::pages::spawn_app_at_own_url;
use common::servers::{RedisCluster, RedisServer};
use common::{
    base_overrides_without_rotation_secret, pair, spawn_app, spawn_app_from, spawn_app_with,
    token_in, SmtpSink, TestApp, PASSWORD,
};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_token_rotated_on_one_instance_and_replayed_on_another_ends_the_session_everywhere() {
    // Both instances get the same keys dir and rotation secret from the
    // harness, as every instance of a deployment would.
    let grace = Figment::new().merge(Serialized::default("session.reuse_grace_secs", 1));
    let a = spawn_app_with(grace.clone()).await;
    let b = spawn_app_with(grace).await;
    assert_ne!(a.address, b.address);
    let (user, first) = a.signed_in_user().await;
    // Access tokens from A verify on B and the other way round.
    b.assert_verify(&first.access, StatusCode::OK).await;

    let rotated = pair(a.refresh(&first.refresh).await).await;
    b.assert_verify(&rotated.access, StatusCode::OK).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    b.assert_refresh_refused(&first.refresh).await;
    // The session is gone on A too: its newest tokens no longer work there.
    a.assert_revoked(&rotated).await;
    assert_eq!(
        b.audit_events(user.id, "refresh_reuse_detected")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_retry_inside_the_grace_window_on_another_instance_gets_the_same_successor() {
    let a = spawn_app().await;
    let b = spawn_app().await;
    let (_, first) = a.signed_in_user().await;
    let on_a = pair(a.refresh(&first.refresh).await).await;
    let on_b = pair(b.refresh(&first.refresh).await).await;
    assert_eq!(on_a.refresh, on_b.refresh);
    b.assert_verify(&on_b.access, StatusCode::OK).await;
}

#[tokio::test]
async fn instances_with_no_secret_configured_agree_on_successors_through_their_redis() {
    // A fresh Redis, and two development instances with no rotation secret
    // starting at the same moment: one creates the shared secret, the other
    // finds it.
    let redis = RedisServer::start();
    let unconfigured = || {
        spawn_app_from(
            base_overrides_without_rotation_secret()
                .merge(Serialized::default("redis.url", redis.url())),
        )
    };
    let (a, b) = tokio::join!(unconfigured(), unconfigured());
    assert!(a.config.session.rotation_secrets().is_empty());
    let (user, first) = a.signed_in_user().await;
    let on_a = pair(a.refresh(&first.refresh).await).await;
    // The mobile client lost A's answer; its retry lands on B.
    let on_b = pair(b.refresh(&first.refresh).await).await;
    assert_eq!(on_a.refresh, on_b.refresh, "the same successor");
    b.assert_verify(&on_b.access, StatusCode::OK).await;
    let next = pair(a.refresh(&on_b.refresh).await).await;
    b.assert_verify(&next.access, StatusCode::OK).await;
    // One token secret and one second-factor key, kept without expiry,
    // under cluster-safe keys.
    assert_eq!(redis.cli(&["TTL", "tessera:secret:{token}"]).trim(), "-1");
    assert_eq!(redis.cli(&["TTL", "tessera:secret:{mfa}"]).trim(), "-1");
    assert_eq!(redis.cli(&["KEYS", "tessera:secret:*"]).lines().count(), 2);
    // A third instance started later agrees too.
    let c = unconfigured().await;
    let latest = pair(
        a.login_json(json!({"email": user.email, "password": PASSWORD}))
            .await,
    )
    .await;
    c.assert_refresh(&latest.refresh, StatusCode::OK).await;
}

#[tokio::test]
async fn a_secret_rotation_logs_no_one_out() {
    const OLD: &str = "the secret every instance had, 32+ bytes";
    const NEW: &str = "the secret that replaces it, also 32+ bytes";
    let with_secrets = |secrets: &[&str]| {
        spawn_app_with(
            Figment::new().merge(Serialized::default("session.rotation_secret", secrets)),
        )
    };
    let before = with_secrets(&[OLD]).await;
    let rotated = with_secrets(&[NEW, OLD]).await;
    let after = with_secrets(&[NEW]).await;
    let (_, issued) = before.signed_in_user().await;
    // A token tagged under the old secret rotates on an instance that signs
    // with the new one...
    let on_rotated = pair(rotated.refresh(&issued.refresh).await).await;
    rotated
        .assert_verify(&on_rotated.access, StatusCode::OK)
        .await;
    // ...and a retry of it inside the grace window on a not yet upgraded
    // instance computes the same successor: 200, nothing revoked.
    let retried = pair(before.refresh(&issued.refresh).await).await;
    before.assert_verify(&retried.access, StatusCode::OK).await;
    // The successor is tagged under the new secret: once every token has
    // rotated, the old secret can go.
    let next = pair(after.refresh(&on_rotated.refresh).await).await;
    after.assert_verify(&next.access, StatusCode::OK).await;
    // An instance that never had the new secret refuses its tokens without
    // touching the session.
    before
        .assert_refresh(&next.refresh, StatusCode::UNAUTHORIZED)
        .await;
    after.assert_verify(&next.access, StatusCode::OK).await;
    after.assert_refresh(&next.refresh, StatusCode::OK).await;
}

#[tokio::test]
async fn a_production_instance_reads_its_secret_list_from_a_file() {
    const OLD: &str = "the secret in the configuration, 32+ bytes";
    const NEW: &str = "the secret added to the file first, 32+ bytes";
    let file = std::env::temp_dir().join(format!("tessera-secrets-{}", uuid::Uuid::new_v4()));
    std::fs::write(&file, format!("{NEW}\n{OLD}\n")).unwrap();
    let old =
        spawn_app_with(Figment::new().merge(Serialized::default("session.rotation_secret", OLD)))
            .await;
    let production = spawn_app_from(
        base_overrides_without_rotation_secret()
            .merge(Serialized::default("env", "production"))
            .merge(Serialized::default("session.rotation_secret_file", &file))
            .merge(Serialized::default(
                "mfa.encryption_key",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )),
    )
    .await;
    std::fs::remove_file(&file).unwrap();
    let (_, issued) = old.signed_in_user().await;
    let rotated = pair(production.refresh(&issued.refresh).await).await;
    production
        .assert_verify(&rotated.access, StatusCode::OK)
        .await;
    // Its successor is tagged under the file's first secret.
    old.assert_refresh(&rotated.refresh, StatusCode::UNAUTHORIZED)
        .await;
}

/// Served at its own URL, which DPoP proofs name.
async fn cluster_app(cluster: &RedisCluster, sink: &SmtpSink) -> TestApp {
    spawn_app_at_own_url(
        sink.overrides()
            // An unreachable single Redis: only the cluster can answer.
            .merge(Serialized::default("redis.url", "redis://127.0.0.1:1"))
            .merge(Serialized::default("redis.cluster_nodes", cluster.urls()))
            .merge(Serialized::default("session.reuse_grace_secs", 1)),
    )
    .await
}

#[tokio::test]
async fn every_redis_flow_works_on_a_three_master_cluster() {
    let cluster = RedisCluster::start(3);
    let sink = SmtpSink::start();
    let app = cluster_app(&cluster, &sink).await;
    let ready = app.get_json("/health/ready").await;
    assert_eq!(ready["components"]["redis"], "ok", "{ready}");

    // Sessions of many users spread over every master.
    let mut users = Vec::new();
    for _ in 0..6 {
        let (user, tokens) = app.signed_in_user().await;
        users.push((user, tokens));
    }
    let keys_per_node = cluster.keys_per_node();
    assert!(
        keys_per_node.iter().filter(|&&n| n > 0).count() >= 2,
        "sessions all landed on one node: {keys_per_node:?}"
    );

    // Rotation, the grace window, and reuse detection (rotate.lua).
    let (user, first) = users[0].clone();
    let rotated = pair(app.refresh(&first.refresh).await).await;
    let retried = pair(app.refresh(&first.refresh).await).await;
    assert_eq!(rotated.refresh, retried.refresh);
    app.assert_verify(&rotated.access, StatusCode::OK).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    app.assert_refresh(&first.refresh, StatusCode::UNAUTHORIZED)
        .await;
    app.assert_verify(&rotated.access, StatusCode::UNAUTHORIZED)
        .await;

    // Listing (list.lua) and logout-all (revoke_all.lua) read and delete
    // session keys derived inside the script.
    let phone = app.login(&user).await;
    let laptop = app.login(&user).await;
    assert_eq!(app.my_sessions(&laptop.access).await.len(), 2);
    let response = app
        .post_with_bearer("/api/v1/auth/logout-all", &phone.access)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for tokens in [&phone, &laptop] {
        app.assert_revoked(tokens).await;
    }

    // One-time tokens (consume.lua): a reset link works once.
    let (user, tokens) = users[1].clone();
    assert_eq!(
        app.forgot_password(&user.email).await.status(),
        StatusCode::ACCEPTED
    );
    let token = token_in(&sink.wait_for_mail(&user.email).await, "reset-password");
    let new_password = format!("{PASSWORD} renewed");
    let reset = |token: String, password: String| {
        app.post_json(
            "/api/v1/auth/reset-password",
            json!({ "token": token, "new_password": password }),
        )
    };
    let response = reset(token.clone(), new_password.clone()).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        reset(token, format!("{PASSWORD} again")).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.verify(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "a password reset ends every session"
    );
    let relogin = app
        .login_json(json!({"email": user.email, "password": new_password}))
        .await;
    assert_eq!(relogin.status(), StatusCode::OK);

    // Admin: a role change rewrites the claims of live sessions
    // (update_claims.lua), blocking ends them.
    let (admin_user, admin) = app.new_user_with_role("ADMIN").await;
    let (target, target_tokens) = users[2].clone();
    let admin_call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = app
            .client
            .request(method, app.url(&format!("/api/v1/admin{path}")))
            .bearer_auth(&admin.access);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let response = admin_call(
        reqwest::Method::PATCH,
        format!("/users/{}", target.id),
        Some(json!({"account_role": "MODERATOR"})),
    )
    .await
    .expect("set role");
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed = pair(app.refresh(&target_tokens.refresh).await).await;
    assert_eq!(common::jwt_claims(&refreshed.access)["role"], "MODERATOR");
    let response = admin_call(
        reqwest::Method::POST,
        format!("/users/{}/block", target.id),
        None,
    )
    .await
    .expect("block");
    assert_eq!(response.status(), StatusCode::OK);
    app.assert_revoked(&refreshed).await;
    assert_ne!(admin_user.id, target.id);

    // DPoP: a login's proof is spent in its key's slot, a refresh's inside
    // rotate.lua and a resource request's beside the session read, both in
    // the user's slot; each works once.
    let (user, _) = users[3].clone();
    let key = AppKey::new();
    let bound = bound_login(&app, &user.email, PASSWORD, &key).await;
    let proof = key.proof(&app, "/api/v1/auth/refresh");
    let refresh_with = |token: String, proof: String| {
        app.post("/api/v1/auth/refresh")
            .header("DPoP", proof)
            .json(&json!({"refresh_token": token}))
            .send()
    };
    let rotated = refresh_with(
        bound["refresh_token"].as_str().unwrap().into(),
        proof.clone(),
    )
    .await
    .expect("bound refresh");
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.expect("the new pair");
    let current = rotated["refresh_token"].as_str().unwrap().to_owned();
    let replay = refresh_with(current, proof).await.expect("replayed proof");
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let access = rotated["access_token"].as_str().unwrap().to_owned();
    let me = "/api/v1/users/me";
    let proof = key.proof_with(&app, "GET", me, |c| c["ath"] = json!(ath(&access)));
    for expected in [StatusCode::OK, StatusCode::UNAUTHORIZED] {
        let response = app
            .get(me)
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", &proof)
            .send()
            .await
            .expect("a bound resource request");
        assert_eq!(response.status(), expected);
    }
}

#[tokio::test]
async fn a_lost_cluster_master_is_a_503_and_the_cluster_serves_again_once_it_returns() {
    let mut cluster = RedisCluster::start(3);
    let app = spawn_app_with(
        Figment::new()
            .merge(Serialized::default("redis.url", "redis://127.0.0.1:1"))
            .merge(Serialized::default("redis.cluster_nodes", cluster.urls()))
            .merge(Serialized::default("redis.timeout_ms", 1000)),
    )
    .await;
    let (user, tokens) = app.signed_in_user().await;
    let index = format!("tessera:u:{{{}}}", user.id);
    let owner = cluster
        .nodes
        .iter()
        .position(|node| node.cli(&["EXISTS", &index]).trim() == "1")
        .expect("one master owns the user's slot");

    cluster.nodes[owner].kill();
    let started = std::time::Instant::now();
    let response = app.verify(&tokens.access).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error_code"], "REDIS_UNAVAILABLE", "{body}");
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");

    // The master rejoins from its nodes.conf (its data is gone: no
    // persistence here), and the same instance serves again.
    cluster.nodes[owner].resume();
    cluster.wait_ok();
    app.assert_verify(&tokens.access, StatusCode::UNAUTHORIZED)
        .await;
    let fresh = app.login(&user).await;
    app.assert_verify(&fresh.access, StatusCode::OK).await;
}
