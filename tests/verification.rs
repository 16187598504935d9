//! Every way of checking an access token — `/verify`, `/users/me` and
//! introspection — rejects forged, expired, misdirected and wrong-kind
//! tokens. The forgeries are signed here with the test key itself, so only
//! the one thing each breaks can be the reason for the rejection.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{gateway_overrides, jwt_claims, keys_dir, spawn_app_with, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The test signing key and its id, straight from the key directory.
fn signing_key() -> (String, EncodingKey) {
    let pem = std::fs::read_dir(keys_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|ext| ext == "pem"))
        .expect("a test key");
    let kid = pem.file_stem().unwrap().to_string_lossy().into_owned();
    let key = EncodingKey::from_ed_pem(&std::fs::read(&pem).unwrap()).unwrap();
    (kid, key)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// How each path judges a token: (/verify status, /users/me status, active).
async fn judge(app: &TestApp, token: &str) -> (StatusCode, StatusCode, bool) {
    let verify = app.verify(token).await;
    if verify.status() == StatusCode::UNAUTHORIZED {
        assert_eq!(verify.headers()["www-authenticate"], "Bearer");
    }
    let me = app
        .get_with_bearer("/api/v1/users/me", token)
        .await
        .status();
    let active = app.introspect(token).await["active"] == true;
    (verify.status(), me, active)
}

const REJECTED: (StatusCode, StatusCode, bool) =
    (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED, false);

#[tokio::test]
async fn every_verification_path_rejects_every_kind_of_bad_token() {
    let app = spawn_app_with(gateway_overrides()).await;
    let (_, tokens) = app.signed_in_user().await;
    let (kid, key) = signing_key();
    let parts: Vec<&str> = tokens.access.split('.').collect();
    let claims = decode_part(parts[1]);
    let with = |changes: Value| {
        let mut changed = claims.clone();
        for (name, value) in changes.as_object().unwrap() {
            changed[name] = value.clone();
        }
        changed
    };

    // The genuine token, and the same claims re-signed here, pass everywhere:
    // the forgeries below differ from an accepted token in one way only.
    let accepted = (StatusCode::OK, StatusCode::OK, true);
    assert_eq!(judge(&app, &tokens.access).await, accepted);
    let resigned = sign(Algorithm::EdDSA, Some(&kid), &claims, &key);
    assert_eq!(judge(&app, &resigned).await, accepted);

    let jwks = app.jwks().await;
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let public_key = URL_SAFE_NO_PAD.decode(x).unwrap();

    let header_none = encode_part(&json!({"alg": "none", "typ": "JWT", "kid": kid}));
    let mut tampered_claims = claims.clone();
    tampered_claims["role"] = json!("ADMIN");
    let forgeries = [
        ("alg none", format!("{header_none}.{}.", parts[1])),
        (
            "alg none with the original signature",
            format!("{header_none}.{}.{}", parts[1], parts[2]),
        ),
        (
            "HS256 keyed with the raw public key",
            sign(
                Algorithm::HS256,
                Some(&kid),
                &claims,
                &EncodingKey::from_secret(&public_key),
            ),
        ),
        (
            "HS256 keyed with the JWK's x",
            sign(
                Algorithm::HS256,
                Some(&kid),
                &claims,
                &EncodingKey::from_secret(x.as_bytes()),
            ),
        ),
        (
            "expired",
            sign(
                Algorithm::EdDSA,
                Some(&kid),
                &with(json!({"iat": now() - 1000, "exp": now() - 100})),
                &key,
            ),
        ),
        (
            "wrong iss",
            sign(
                Algorithm::EdDSA,
                Some(&kid),
                &with(json!({"iss": "evil"})),
                &key,
            ),
        ),
        (
            "wrong aud",
            sign(
                Algorithm::EdDSA,
                Some(&kid),
                &with(json!({"aud": "another-api"})),
                &key,
            ),
        ),
        (
            "unknown kid",
            sign(
                Algorithm::EdDSA,
                Some("20990101T000000.000Z-ffffff"),
                &claims,
                &key,
            ),
        ),
        ("no kid", sign(Algorithm::EdDSA, None, &claims, &key)),
        (
            "tampered payload",
            format!(
                "{}.{}.{}",
                parts[0],
                encode_part(&tampered_claims),
                parts[2]
            ),
        ),
        ("refresh token as access token", tokens.refresh.clone()),
        (
            "signed token of another type",
            sign(
                Algorithm::EdDSA,
                Some(&kid),
                &with(json!({"type": "refresh"})),
                &key,
            ),
        ),
        (
            "no exp",
            sign(
                Algorithm::EdDSA,
                Some(&kid),
                &{
                    let mut c = claims.clone();
                    c.as_object_mut().unwrap().remove("exp");
                    c
                },
                &key,
            ),
        ),
    ];
    for (what, token) in &forgeries {
        let (verify, me, active) = judge(&app, token).await;
        // Introspection describes a refresh token as what it is (RFC 7662
        // covers both kinds), never as an access token.
        if *what == "refresh token as access token" {
            assert_eq!((verify, me), (REJECTED.0, REJECTED.1), "{what}");
            assert!(active);
            assert_eq!(app.introspect(token).await["token_type"], "refresh_token");
            continue;
        }
        // Signed by tessera for another audience (what token exchange
        // issues): `/verify` and `/users/me` accept only `jwt.audience`;
        // introspection reports the token and its `aud`, for the asking
        // gateway to judge (RFC 7662 §4).
        if *what == "wrong aud" {
            assert_eq!((verify, me), (REJECTED.0, REJECTED.1), "{what}");
            assert!(active);
            assert_eq!(app.introspect(token).await["aud"], "another-api");
            continue;
        }
        assert_eq!((verify, me, active), REJECTED, "{what}");
    }

    // A validly signed token whose session has ended is rejected too.
    app.post_json(
        "/api/v1/auth/logout",
        json!({"refresh_token": tokens.refresh}),
    )
    .await;
    assert_eq!(judge(&app, &tokens.access).await, REJECTED);
    assert_eq!(judge(&app, &resigned).await, REJECTED);
}

/// An administrator demotes an admin (and upgrades its plan) while the
/// admin's access token is out: the SAME token, still signed ADMIN/FREE, is
/// forwarded and introspected as REGULAR/PRO at once, not at its `exp`.
#[tokio::test]
async fn gateways_see_a_demotion_at_once_on_the_same_access_token() {
    let app = spawn_app_with(gateway_overrides()).await;
    let (_, chief) = app.new_user_with_role("ADMIN").await;
    let (demoted, tokens) = app.new_user_with_role("ADMIN").await;
    let forwarded = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        let body: Value = response.json().await.unwrap();
        let header = |name: &str| headers[name].to_str().unwrap().to_owned();
        (
            header("x-user-role"),
            header("x-user-subscription"),
            body["role"].clone(),
            body["subscription"].clone(),
        )
    };
    assert_eq!(
        forwarded(app.verify(&tokens.access).await).await,
        ("ADMIN".into(), "FREE".into(), json!("ADMIN"), json!("FREE"))
    );

    let response = app
        .patch(&format!("/api/v1/admin/users/{}", demoted.id))
        .bearer_auth(&chief.access)
        .json(&json!({"account_role": "REGULAR", "account_subscription": "PRO"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    assert_eq!(jwt_claims(&tokens.access)["role"], "ADMIN");
    assert_eq!(
        forwarded(app.verify(&tokens.access).await).await,
        (
            "REGULAR".into(),
            "PRO".into(),
            json!("REGULAR"),
            json!("PRO")
        )
    );
    let introspected = app.introspect(&tokens.access).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["role"], "REGULAR");
    assert_eq!(introspected["subscription"], "PRO");
    assert_eq!(introspected["username"], demoted.username.as_str());
    // The demoted caller is no admin any more, token or not.
    let response = app
        .get_with_bearer("/api/v1/admin/check", &tokens.access)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
