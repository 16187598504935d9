//! Mobile refresh tokens worthless to a thief (RFC 9449, DPoP): a login
//! with a proof binds the session's refresh token and every access token to
//! the app's key, and for a bound token the key, not the clock, tells a
//! lost-response retry from a theft. Proofs are signed by jsonwebtoken with
//! Ed25519 keys made here (the app keeps its private key; tessera sees the
//! public JWK in each proof's header).

mod common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::dpop::{ath, AppKey};
use common::pages::spawn_app_at_own_url;
use common::{jwt_claims, overrides, TestApp, TestUser};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

async fn app_with(pairs: &[(&str, Value)]) -> TestApp {
    spawn_app_at_own_url(overrides(pairs)).await
}

async fn bound_login(app: &TestApp, user: &TestUser, key: &AppKey) -> Value {
    common::dpop::bound_login(app, &user.email, &user.password, key).await
}

async fn refresh(app: &TestApp, token: &str, proof: Option<String>) -> reqwest::Response {
    let mut request = app.post("/api/v1/auth/refresh");
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The kinds of the user's audit events, once `kind` is among them: the
/// audit log is written behind the answer, so it is polled (5 s at most).
async fn audit_kinds(app: &TestApp, admin: &str, user: &TestUser, kind: &str) -> Vec<String> {
    let mut kinds = Vec::new();
    for _ in 0..50 {
        let body: Value = app
            .get(&format!(
                "/api/v1/admin/audit?user_id={}&limit=200",
                user.id
            ))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        kinds = body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|e| e["kind"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if kinds.iter().any(|k| k == kind) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kinds
}

#[tokio::test]
async fn a_stolen_bound_refresh_token_is_worthless_without_the_key_and_the_owner_keeps_working() {
    let app = app_with(&[]).await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let user = app.new_user().await;
    let (owner, thief) = (AppKey::new(), AppKey::new());

    let pair = bound_login(&app, &user, &owner).await;
    assert_eq!(pair["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(pair["access_token"].as_str().unwrap())["cnf"]["jkt"],
        owner.jkt()
    );
    let stolen = pair["refresh_token"].as_str().unwrap();

    // The thief's key, or no key at all: refused, and nothing ends.
    for proof in [Some(thief.proof(&app, "/api/v1/auth/refresh")), None] {
        let refused = refresh(&app, stolen, proof).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let kinds = audit_kinds(&app, &admin.access, &user, "refresh_key_mismatch").await;
    assert!(
        kinds.iter().any(|k| k == "refresh_key_mismatch"),
        "{kinds:?}"
    );
    assert!(
        !kinds.iter().any(|k| k == "refresh_reuse_detected"),
        "{kinds:?}"
    );

    // The owner rotates as if nothing happened; the new access token is
    // bound to the owner's key.
    let next = ok(refresh(
        &app,
        stolen,
        Some(owner.proof(&app, "/api/v1/auth/refresh")),
    )
    .await)
    .await;
    assert_eq!(next["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(next["access_token"].as_str().unwrap())["cnf"]["jkt"],
        owner.jkt()
    );
    // And the thief still gets nothing from the new one either.
    let refused = refresh(
        &app,
        next["refresh_token"].as_str().unwrap(),
        Some(thief.proof(&app, "/api/v1/auth/refresh")),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    ok(refresh(
        &app,
        next["refresh_token"].as_str().unwrap(),
        Some(owner.proof(&app, "/api/v1/auth/refresh")),
    )
    .await)
    .await;
}

#[tokio::test]
async fn the_owners_late_retry_is_a_401_that_keeps_the_session() {
    let app = app_with(&[("session.reuse_grace_secs", json!(1))]).await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let user = app.new_user().await;
    let owner = AppKey::new();
    let first = bound_login(&app, &user, &owner).await;
    let retired = first["refresh_token"].as_str().unwrap();

    // The response is lost; the retry inside the grace gets the same pair.
    let rotated = ok(refresh(
        &app,
        retired,
        Some(owner.proof(&app, "/api/v1/auth/refresh")),
    )
    .await)
    .await;
    let retried = ok(refresh(
        &app,
        retired,
        Some(owner.proof(&app, "/api/v1/auth/refresh")),
    )
    .await)
    .await;
    assert_eq!(rotated["refresh_token"], retried["refresh_token"]);

    // After the grace, the same key: a plain 401, the session lives on.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = refresh(
        &app,
        retired,
        Some(owner.proof(&app, "/api/v1/auth/refresh")),
    )
    .await;
    assert_eq!(late.status(), StatusCode::UNAUTHORIZED);
    let kinds = audit_kinds(&app, &admin.access, &user, "refresh_reuse_same_key").await;
    assert!(
        kinds.iter().any(|k| k == "refresh_reuse_same_key"),
        "{kinds:?}"
    );
    ok(refresh(
        &app,
        rotated["refresh_token"].as_str().unwrap(),
        Some(owner.proof(&app, "/api/v1/auth/refresh")),
    )
    .await)
    .await;

    // An unbound session keeps today's rule: a late reuse ends it.
    let plain = app.login(&user).await;
    let next = ok(refresh(&app, &plain.refresh, None).await).await;
    assert_eq!(next["token_type"], "bearer");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        refresh(&app, &plain.refresh, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, next["refresh_token"].as_str().unwrap(), None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "reuse ended the unbound session"
    );
}

#[tokio::test]
async fn revoke_on_same_key_reuse_ends_the_session_instead() {
    let app = app_with(&[
        ("session.reuse_grace_secs", json!(0)),
        ("dpop.revoke_on_same_key_reuse", json!(true)),
    ])
    .await;
    let user = app.new_user().await;
    let owner = AppKey::new();
    let first = bound_login(&app, &user, &owner).await;
    let retired = first["refresh_token"].as_str().unwrap();
    let rotated = ok(refresh(
        &app,
        retired,
        Some(owner.proof(&app, "/api/v1/auth/refresh")),
    )
    .await)
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reused = refresh(
        &app,
        retired,
        Some(owner.proof(&app, "/api/v1/auth/refresh")),
    )
    .await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
    let after = refresh(
        &app,
        rotated["refresh_token"].as_str().unwrap(),
        Some(owner.proof(&app, "/api/v1/auth/refresh")),
    )
    .await;
    assert_eq!(
        after.status(),
        StatusCode::UNAUTHORIZED,
        "the session ended"
    );
}

#[tokio::test]
async fn every_bad_proof_is_refused_with_the_rfcs_error_and_a_proof_works_once_on_every_instance() {
    let app = app_with(&[]).await;
    let user = app.new_user().await;
    let key = AppKey::new();
    let other = AppKey::new();
    let login = "/api/v1/auth/login";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hs256 = jsonwebtoken::encode(
        &Header {
            typ: Some("dpop+jwt".into()),
            ..Header::new(Algorithm::HS256)
        },
        &json!({"jti": "x", "htm": "POST", "htu": app.url(login), "iat": now}),
        &EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"typ":"dpop+jwt","alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(
            json!({"jti": "y", "htm": "POST", "htu": app.url(login), "iat": now}).to_string()
        )
    );
    // Signed by one key while naming another.
    let forged = {
        let proof = key.proof(&app, login);
        let theirs = other.proof(&app, login);
        let mut parts: Vec<&str> = theirs.split('.').collect();
        let signature = proof.split('.').nth(2).unwrap();
        parts[2] = signature;
        parts.join(".")
    };
    let bad = [
        ("another method", key.proof_with(&app, "GET", login, |_| {})),
        ("another URI", key.proof(&app, "/api/v1/auth/refresh")),
        (
            "an old iat",
            key.proof_with(&app, "POST", login, |c| c["iat"] = json!(now - 600)),
        ),
        (
            "a future iat",
            key.proof_with(&app, "POST", login, |c| c["iat"] = json!(now + 600)),
        ),
        ("the wrong key's signature", forged),
        ("HS256", hs256),
        ("none", none),
        ("garbage", "not.a.proof".to_owned()),
        ("huge", "a".repeat(60_000)),
    ];
    for (what, proof) in bad {
        let response = app
            .post(login)
            .header("DPoP", proof)
            .json(&json!({ "email": user.email, "password": user.password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_dpop_proof"),
            "{what}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error_code"], "INVALID_DPOP_PROOF", "{what}: {body}");
    }

    // At the token endpoint the same refusal is RFC 6749-shaped.
    let oauth = app
        .post("/oauth/token")
        .header("DPoP", key.proof(&app, "/api/v1/auth/login"))
        .form(&[
            ("grant_type", "password"),
            ("username", user.email.as_str()),
            ("password", user.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    common::assert_oauth_error(oauth, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    let bound = app
        .post("/oauth/token")
        .header("DPoP", key.proof(&app, "/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", user.email.as_str()),
            ("password", user.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let bound = ok(bound).await;
    assert_eq!(bound["token_type"], "DPoP");

    // A proof works once, on whichever instance sees it first: a second
    // instance behind the same public URL refuses the first one's proof.
    let twin =
        common::spawn_app_with(overrides(&[("server.public_url", json!(app.address))])).await;
    let proof = key.proof(&app, login);
    let first = app
        .post(login)
        .header("DPoP", &proof)
        .json(&json!({ "email": user.email, "password": user.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    for instance in [&app, &twin] {
        let replay = instance
            .post(login)
            .header("DPoP", &proof)
            .json(&json!({ "email": user.email, "password": user.password }))
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
        let body: Value = replay.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains("jti"), "{body}");
    }
    let fresh = twin
        .post(login)
        .header("DPoP", key.proof(&app, login))
        .json(&json!({ "email": user.email, "password": user.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        fresh.status(),
        StatusCode::OK,
        "the twin takes a fresh proof"
    );
}

/// The hot paths spend a proof inside the round trip they make anyway (the
/// rotation script; the session read of a verify): there too a proof works
/// once on every instance, and a replayed one changes nothing.
#[tokio::test]
async fn a_proof_spent_by_a_rotation_or_a_verify_works_once_on_every_instance() {
    let trusted = ("server.trusted_proxies", json!(["127.0.0.1/32"]));
    let app = app_with(std::slice::from_ref(&trusted)).await;
    let twin = common::spawn_app_with(overrides(&[
        ("server.public_url", json!(app.address)),
        trusted,
    ]))
    .await;
    let user = app.new_user().await;
    let key = AppKey::new();
    let pair = bound_login(&app, &user, &key).await;
    let refresh_path = "/api/v1/auth/refresh";

    let spent = key.proof(&app, refresh_path);
    let rotated = ok(refresh(
        &app,
        pair["refresh_token"].as_str().unwrap(),
        Some(spent.clone()),
    )
    .await)
    .await;
    let current = rotated["refresh_token"].as_str().unwrap();
    for instance in [&app, &twin] {
        let replay = refresh(instance, current, Some(spent.clone())).await;
        assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
        let body: Value = replay.json().await.unwrap();
        assert_eq!(body["error_code"], "INVALID_DPOP_PROOF", "{body}");
        assert!(body["detail"].as_str().unwrap().contains("jti"), "{body}");
    }
    // The replays changed nothing: the current token rotates, on the twin.
    let after = ok(refresh(&twin, current, Some(key.proof(&app, refresh_path))).await).await;
    assert_eq!(after["token_type"], "DPoP");

    let access = after["access_token"].as_str().unwrap().to_owned();
    let verify = |instance: &TestApp, proof: &str| {
        instance
            .get("/api/v1/auth/verify")
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", proof)
            .header("X-Original-Method", "GET")
            .header("X-Original-URI", "/orders")
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "api.example")
            .send()
    };
    let proof = key.proof_with(&app, "GET", "/", |c| {
        c["htu"] = json!("https://api.example/orders");
        c["ath"] = json!(ath(&access));
    });
    assert_eq!(verify(&app, &proof).await.unwrap().status(), StatusCode::OK);
    for instance in [&app, &twin] {
        let replay = verify(instance, &proof).await.unwrap();
        assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
        let challenge = replay.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
        let body: Value = replay.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains("jti"), "{body}");
    }
}

/// `dpop.require_nonce`: a proof without the server's nonce is answered with
/// `use_dpop_nonce` and the nonce to use, at every door; a nonce one instance
/// gave is taken by the other; one the server never gave is refused.
#[tokio::test]
async fn with_server_nonces_a_proof_needs_the_nonce_the_server_gave() {
    let settings = [
        ("dpop.require_nonce", json!(true)),
        ("server.trusted_proxies", json!(["127.0.0.1/32"])),
    ];
    let app = app_with(&settings).await;
    let mut twin_settings = settings.to_vec();
    twin_settings.push(("server.public_url", json!(app.address)));
    let twin = common::spawn_app_with(overrides(&twin_settings)).await;
    let user = app.new_user().await;
    let key = AppKey::new();
    let login = "/api/v1/auth/login";
    let nonce_of = |response: &reqwest::Response| {
        response
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let log_in = |proof: String| {
        app.post(login)
            .header("DPoP", proof)
            .json(&json!({ "email": user.email, "password": user.password }))
            .send()
    };

    // No nonce: refused, with the nonce to use.
    let first = log_in(key.proof(&app, login)).await.unwrap();
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    let challenge = first.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("use_dpop_nonce"), "{challenge}");
    let nonce = nonce_of(&first).expect("a DPoP-Nonce header");
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error_code"], "USE_DPOP_NONCE", "{body}");
    // A nonce the server never gave, then the one it gave.
    let forged = key.proof_with(&app, "POST", login, |c| {
        c["nonce"] = json!("1.AAAAAAAAAAAAAAAAAAAAAA")
    });
    assert_eq!(
        log_in(forged).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let with_nonce = |path: &str, method: &str| {
        let nonce = nonce.clone();
        key.proof_with(&app, method, path, move |c| c["nonce"] = json!(nonce))
    };
    let answer = log_in(with_nonce(login, "POST")).await.unwrap();
    assert!(nonce_of(&answer).is_some(), "every answer names the nonce");
    let pair = ok(answer).await;
    assert_eq!(pair["token_type"], "DPoP");

    // The token endpoint answers in RFC 6749's shape, with the nonce.
    let oauth = app
        .post("/oauth/token")
        .header("DPoP", key.proof(&app, "/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", pair["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert!(nonce_of(&oauth).is_some());
    common::assert_oauth_error(oauth, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;

    // The twin takes the first instance's nonce (the same secret, no store).
    let rotated = ok(refresh(
        &twin,
        pair["refresh_token"].as_str().unwrap(),
        Some(with_nonce("/api/v1/auth/refresh", "POST")),
    )
    .await)
    .await;

    // A resource: 401 with the challenge and the nonce, then 200.
    let access = rotated["access_token"].as_str().unwrap().to_owned();
    let me = "/api/v1/users/me";
    let get_me = |proof: String| {
        app.get(me)
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", proof)
            .send()
    };
    let no_nonce = get_me(key.proof_with(&app, "GET", me, |c| c["ath"] = json!(ath(&access))))
        .await
        .unwrap();
    assert_eq!(no_nonce.status(), StatusCode::UNAUTHORIZED);
    assert!(no_nonce.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("use_dpop_nonce"));
    let nonce = nonce_of(&no_nonce).expect("a DPoP-Nonce header");
    let proof = key.proof_with(&app, "GET", me, |c| {
        c["ath"] = json!(ath(&access));
        c["nonce"] = json!(nonce);
    });
    assert_eq!(get_me(proof).await.unwrap().status(), StatusCode::OK);

    // Discovery names the algorithms (RFC 9449 §5.1).
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["EdDSA", "ES256"])
    );
}

#[tokio::test]
async fn a_bound_access_token_works_only_with_a_proof_by_its_key_at_every_door() {
    let app = app_with(&[
        ("server.trusted_proxies", json!(["127.0.0.1/32"])),
        (
            "gateway.clients",
            json!([{"id": common::GATEWAY_ID, "secret": common::GATEWAY_SECRET}]),
        ),
    ])
    .await;
    let user = app.new_user().await;
    let (owner, thief) = (AppKey::new(), AppKey::new());
    let pair = bound_login(&app, &user, &owner).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let me = "/api/v1/users/me";
    let get_me = |scheme: &'static str, proof: Option<String>| {
        let app = app.clone();
        let access = access.clone();
        async move {
            let mut request = app
                .get(me)
                .header("Authorization", format!("{scheme} {access}"));
            if let Some(proof) = proof {
                request = request.header("DPoP", proof);
            }
            request.send().await.unwrap()
        }
    };
    let good = |key: &AppKey| key.proof_with(&app, "GET", me, |c| c["ath"] = json!(ath(&access)));

    // As a bearer token, or without a proof: refused with the DPoP challenge.
    for response in [get_me("Bearer", None).await, get_me("DPoP", None).await] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("DPoP"));
    }
    // The thief's key, another token's ath, another method: refused.
    assert_eq!(
        get_me("DPoP", Some(good(&thief))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong_ath = owner.proof_with(&app, "GET", me, |c| c["ath"] = json!(ath("another token")));
    assert_eq!(
        get_me("DPoP", Some(wrong_ath)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let post = owner.proof_with(&app, "POST", me, |c| c["ath"] = json!(ath(&access)));
    assert_eq!(
        get_me("DPoP", Some(post)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The owner's proof: once.
    let proof = good(&owner);
    assert_eq!(
        get_me("DPoP", Some(proof.clone())).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get_me("DPoP", Some(proof)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Forward auth: the proof names the original request, as the trusted
    // proxy in front (here: 127.0.0.1) reports it.
    let original = "http://gateway.example/orders/7";
    let verify = |proof: String| {
        let app = app.clone();
        let access = access.clone();
        async move {
            app.get("/api/v1/auth/verify")
                .header("Authorization", format!("DPoP {access}"))
                .header("DPoP", proof)
                .header("X-Original-Method", "DELETE")
                .header("X-Original-URI", "/orders/7?force=1")
                .header("X-Forwarded-Proto", "http")
                .header("X-Forwarded-Host", "gateway.example")
                .send()
                .await
                .unwrap()
        }
    };
    let for_original = |key: &AppKey, method: &str, htu: &str| {
        key.proof_with(&app, method, "/", |c| {
            c["htu"] = json!(htu);
            c["ath"] = json!(ath(&access));
        })
    };
    let ok_answer = verify(for_original(&owner, "DELETE", original)).await;
    assert_eq!(ok_answer.status(), StatusCode::OK);
    assert_eq!(
        ok_answer.headers()["x-user-id"],
        user.id.to_string().as_str()
    );
    for refused in [
        for_original(&owner, "GET", original),
        for_original(&owner, "DELETE", "http://gateway.example/orders/8"),
        for_original(&thief, "DELETE", original),
    ] {
        assert_eq!(verify(refused).await.status(), StatusCode::UNAUTHORIZED);
    }

    // Introspection needs no proof and reports the key.
    let introspected: Value = app
        .post("/oauth/introspect")
        .basic_auth(common::GATEWAY_ID, Some(common::GATEWAY_SECRET))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["token_type"], "DPoP");
    assert_eq!(introspected["cnf"]["jkt"], owner.jkt());
}

#[tokio::test]
async fn malformed_dpop_headers_get_a_4xx_on_every_path_that_reads_one() {
    let app = app_with(&[("server.trusted_proxies", json!(["127.0.0.1/32"]))]).await;
    let user = app.new_user().await;
    let key = AppKey::new();
    let pair = bound_login(&app, &user, &key).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh_token = pair["refresh_token"].as_str().unwrap().to_owned();
    let private = key.proof_with(&app, "POST", "/api/v1/auth/login", |_| {});
    // The same proof with a private part added to its header's jwk.
    let with_private_part = {
        let mut parts = private.split('.');
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
                .unwrap();
        let mut header = header;
        header["jwk"]["d"] = json!(key.x);
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            parts.next().unwrap(),
            parts.next().unwrap()
        )
    };
    // A NUL inside the proof's header JSON (the wire form cannot hold one).
    let nul_inside = format!(
        "{}.{}.AAAA",
        URL_SAFE_NO_PAD.encode("{\"typ\":\"dpop+jwt\\u0000\",\"alg\":\"EdDSA\"}"),
        URL_SAFE_NO_PAD.encode("{\"jti\":\"\\u0000\"}")
    );
    let hostile: Vec<Vec<u8>> = vec![
        nul_inside.into_bytes(),
        vec![b'a'; 50_000],
        b"\t\x80\xff not text".to_vec(),
        b"!!!.???.***".to_vec(),
        b"eyJ0eXAiOiJkcG9wK2p3dCJ9.%%%.@@@".to_vec(),
        "\u{e9}\u{202e}".as_bytes().to_vec(),
        with_private_part.into_bytes(),
        Vec::new(),
    ];
    for value in &hostile {
        let header = reqwest::header::HeaderValue::from_bytes(value).unwrap();
        let requests = [
            app.post("/api/v1/auth/login")
                .json(&json!({ "email": user.email, "password": user.password })),
            app.post("/api/v1/auth/refresh")
                .json(&json!({ "refresh_token": refresh_token })),
            app.post("/oauth/token").form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.as_str()),
            ]),
            app.get("/api/v1/users/me")
                .header("Authorization", format!("DPoP {access}")),
            app.get("/api/v1/auth/verify")
                .header("Authorization", format!("DPoP {access}"))
                .header("X-Original-Method", "GET")
                .header("X-Original-URI", "/x"),
            app.get("/oauth/userinfo")
                .header("Authorization", format!("DPoP {access}")),
            app.post("/api/v1/auth/logout")
                .json(&json!({ "refresh_token": refresh_token })),
            app.post("/oauth/revoke")
                .form(&[("token", refresh_token.as_str())]),
        ];
        for request in requests {
            let response = request.header("DPoP", header.clone()).send().await.unwrap();
            assert!(
                response.status().is_client_error(),
                "{:.40?}: {}",
                String::from_utf8_lossy(value),
                response.status()
            );
        }
    }
    // A raw NUL in the header never reaches a handler: the HTTP parser
    // refuses the request.
    let mut raw = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    raw.write_all(
        b"POST /api/v1/auth/refresh HTTP/1.1\r\nHost: x\r\nDPoP: a\0b\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    raw.read_to_end(&mut answer).await.unwrap();
    let status_line = String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned();
    assert_eq!(
        status_line,
        "HTTP/1.1 400",
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // Two proofs in one request are refused as one cannot be.
    let twice = app
        .post("/api/v1/auth/login")
        .header("DPoP", key.proof(&app, "/api/v1/auth/login"))
        .header("DPoP", key.proof(&app, "/api/v1/auth/login"))
        .json(&json!({ "email": user.email, "password": user.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
}

/// An ES256 proof from joserfc (`tests/python/dpop_proof.py`), in the
/// suite's virtualenv; `key` carries the app's key between calls.
async fn joserfc_proof(key: &Value, htm: &str, htu: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/dpop_proof.py");
    let args = json!({ "key": key, "htm": htm, "htu": htu });
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(common::venv_python())
            .arg(script)
            .arg(args.to_string())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("joserfc answers within 30 s")
    .expect("the virtualenv's python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn an_es256_key_from_another_jose_implementation_binds_and_rotates() {
    let app = app_with(&[]).await;
    let user = app.new_user().await;
    let login = joserfc_proof(&Value::Null, "POST", &app.url("/api/v1/auth/login")).await;
    let pair = ok(app
        .post("/api/v1/auth/login")
        .header("DPoP", login["proof"].as_str().unwrap())
        .json(&json!({ "email": user.email, "password": user.password }))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(pair["token_type"], "DPoP");
    // joserfc's RFC 7638 thumbprint is tessera's cnf.jkt.
    assert_eq!(
        jwt_claims(pair["access_token"].as_str().unwrap())["cnf"]["jkt"],
        login["jkt"]
    );
    let again = joserfc_proof(&login["key"], "POST", &app.url("/api/v1/auth/refresh")).await;
    let next = ok(refresh(
        &app,
        pair["refresh_token"].as_str().unwrap(),
        Some(again["proof"].as_str().unwrap().to_owned()),
    )
    .await)
    .await;
    assert_eq!(next["token_type"], "DPoP");
    // An Ed25519 key that is not the app's gets nothing.
    let refused = refresh(
        &app,
        next["refresh_token"].as_str().unwrap(),
        Some(AppKey::new().proof(&app, "/api/v1/auth/refresh")),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_code_asked_for_a_key_is_redeemed_only_with_a_proof_by_that_key() {
    let app = app_with(&[]).await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let (id, secret) = app
        .register_client(
            &admin.access,
            json!({
                "name": "Notes Web", "first_party": true,
                "grant_types": ["authorization_code", "refresh_token"],
                "redirect_uris": ["https://notes.example.com/cb"],
            }),
        )
        .await;
    let secret = secret.unwrap();
    let user = app.new_user().await;
    let (owner, thief) = (AppKey::new(), AppKey::new());
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let authorize = format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", id.as_str()),
            ("redirect_uri", "https://notes.example.com/cb"),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("dpop_jkt", owner.jkt().as_str()),
        ])
        .unwrap()
    );
    let mut visitor = common::pages::Visitor::new(&app);
    let code_of = |page: &common::pages::Page| {
        let location = page.header("location").to_owned();
        let query: Vec<(String, String)> =
            serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
        query.into_iter().find(|(n, _)| n == "code").unwrap().1
    };
    let page = visitor.get(&authorize).await;
    let mut form = common::pages::hidden_inputs(&page.body);
    form.push(("username".into(), user.username.clone()));
    form.push(("password".into(), user.password.clone()));
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let signed_in = visitor.post_form("/oauth/authorize", &form).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let exchange = |code: String, proof: Option<String>| {
        let (app, id, secret) = (app.clone(), id.clone(), secret.clone());
        async move {
            let mut request = app.post("/oauth/token").basic_auth(&id, Some(&secret));
            if let Some(proof) = proof {
                request = request.header("DPoP", proof);
            }
            request
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", "https://notes.example.com/cb"),
                    ("code_verifier", verifier),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // Another key, or none: the code is refused (and spent).
    let refused = exchange(code_of(&signed_in), Some(thief.proof(&app, "/oauth/token"))).await;
    common::assert_oauth_error(refused, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let code = code_of(&visitor.get(&authorize).await);
    common::assert_oauth_error(
        exchange(code, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // The key it was asked for: a bound pair.
    let code = code_of(&visitor.get(&authorize).await);
    let tokens = ok(exchange(code, Some(owner.proof(&app, "/oauth/token"))).await).await;
    assert_eq!(tokens["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"],
        owner.jkt()
    );
}

#[tokio::test]
async fn a_copy_of_a_bound_token_cannot_log_the_owner_out_or_read_their_userinfo() {
    let app = app_with(&[]).await;
    let user = app.new_user().await;
    let (owner, thief) = (AppKey::new(), AppKey::new());
    let pair = bound_login(&app, &user, &owner).await;
    let refresh_token = pair["refresh_token"].as_str().unwrap().to_owned();
    let access = pair["access_token"].as_str().unwrap().to_owned();

    // Logout, RFC 7009 revocation and userinfo with the copies alone, or
    // with the thief's key: answered as always, and nothing ends.
    for proof in [None, Some(&thief)] {
        let mut logout = app
            .post("/api/v1/auth/logout")
            .header("Authorization", format!("DPoP {access}"));
        let mut revoke = app.post("/oauth/revoke");
        if let Some(key) = proof {
            logout = logout.header("DPoP", key.proof(&app, "/api/v1/auth/logout"));
            revoke = revoke.header("DPoP", key.proof(&app, "/oauth/revoke"));
        }
        let logout = logout
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::NO_CONTENT);
        let revoke = revoke
            .form(&[("token", refresh_token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(revoke.status(), StatusCode::OK);
    }
    let userinfo = app
        .get("/oauth/userinfo")
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    let me = app
        .get("/api/v1/users/me")
        .header("Authorization", format!("DPoP {access}"))
        .header(
            "DPoP",
            owner.proof_with(&app, "GET", "/api/v1/users/me", |c| {
                c["ath"] = json!(ath(&access))
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "the session is alive");

    // The owner, with the key, logs out.
    let logout = app
        .post("/api/v1/auth/logout")
        .header("DPoP", owner.proof(&app, "/api/v1/auth/logout"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let after = refresh(
        &app,
        &refresh_token,
        Some(owner.proof(&app, "/api/v1/auth/refresh")),
    )
    .await;
    assert_eq!(
        after.status(),
        StatusCode::UNAUTHORIZED,
        "the owner's logout ended it"
    );
}

#[tokio::test]
async fn a_services_own_token_binds_to_its_key_and_an_exchanged_token_never_inherits_the_apps() {
    let app = app_with(&[("server.trusted_proxies", json!(["127.0.0.1/32"]))]).await;
    let admin = app.new_user_with_role("ADMIN").await.1;
    let (id, secret) = app
        .register_client(
            &admin.access,
            json!({
                "name": "billing",
                "grant_types": ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"],
                "audiences": ["tessera"],
            }),
        )
        .await;
    let secret = secret.unwrap();
    let service = AppKey::new();
    let token = ok(app
        .post("/oauth/token")
        .basic_auth(&id, Some(&secret))
        .header("DPoP", service.proof(&app, "/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(token["token_type"], "DPoP");
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&access)["cnf"]["jkt"], service.jkt());
    let verify = |proof: Option<String>| {
        let (app, access) = (app.clone(), access.clone());
        async move {
            let mut request = app
                .get("/api/v1/auth/verify")
                .header("Authorization", format!("DPoP {access}"))
                .header("X-Original-Method", "GET")
                .header("X-Original-URI", "/invoices");
            if let Some(proof) = proof {
                request = request.header("DPoP", proof);
            }
            request.send().await.unwrap().status()
        }
    };
    assert_eq!(verify(None).await, StatusCode::UNAUTHORIZED);
    let proof = service.proof_with(&app, "GET", "/invoices", |c| c["ath"] = json!(ath(&access)));
    assert_eq!(verify(Some(proof)).await, StatusCode::OK);

    // A user's bound token exchanged without a proof: the new token is the
    // service's bearer token, not bound to the user's app key.
    let user = app.new_user().await;
    let phone = AppKey::new();
    let pair = bound_login(&app, &user, &phone).await;
    let exchanged = ok(app
        .post("/oauth/token")
        .basic_auth(&id, Some(&secret))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", pair["access_token"].as_str().unwrap()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
        ])
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(exchanged["token_type"], "Bearer");
    assert!(jwt_claims(exchanged["access_token"].as_str().unwrap())
        .get("cnf")
        .is_none());
}
