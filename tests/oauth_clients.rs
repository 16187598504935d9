//! Services get tokens of their own: the OAuth client registry (the admin
//! API), the client credentials grant with a secret (Basic or form) or a
//! signed assertion (`private_key_jwt`), RFC 9068 tokens, scopes and
//! audiences checked at `/verify`, token exchange, rotation of a secret, and
//! a disabled client's tokens refused everywhere within a second.

mod common;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{assert_oauth_error, gateway_overrides, json_of, spawn_app_with, TestApp, Tokens};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// An administrator's bearer token.
async fn admin(app: &TestApp) -> Tokens {
    app.new_user_with_role("ADMIN").await.1
}

async fn service(app: &TestApp, admin: &Tokens) -> (String, String) {
    let (id, secret) = app
        .register_client(
            &admin.access,
            json!({
                "name": "billing-service",
                "scopes": ["orders:read", "orders:write"],
                "audiences": ["tessera", "orders"],
                "grant_types": ["client_credentials"],
            }),
        )
        .await;
    (id, secret.expect("a confidential client gets a secret"))
}

async fn client_credentials(
    app: &TestApp,
    id: &str,
    secret: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    app.post("/oauth/token")
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn access_token(response: Response) -> (String, Value) {
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none(), "{body}");
    (body["access_token"].as_str().unwrap().to_owned(), body)
}

fn part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

#[tokio::test]
async fn a_service_gets_a_token_of_its_own_and_the_gateway_checks_its_scopes() {
    let app = spawn_app_with(gateway_overrides()).await;
    let admin = admin(&app).await;
    let (id, secret) = service(&app, &admin).await;

    // Basic, nothing asked: every scope of the client, for `jwt.audience`.
    let (token, body) = access_token(client_credentials(&app, &id, &secret, &[]).await).await;
    assert_eq!(body["scope"], "orders:read orders:write");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(part(&token, 0)["typ"], "at+jwt");
    let claims = part(&token, 1);
    assert_eq!(
        (claims["sub"].as_str(), claims["client_id"].as_str()),
        (Some(id.as_str()), Some(id.as_str()))
    );
    assert_eq!(claims["aud"], "tessera");
    assert!(claims.get("sid").is_none(), "{claims}");

    let verified = app.verify_with("", &token).await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(verified.headers()["x-client-id"], id.as_str());
    assert_eq!(verified.headers()["x-scope"], "orders:read orders:write");
    for user_header in [
        "x-user-id",
        "x-user-role",
        "x-user-subscription",
        "x-session-id",
    ] {
        assert!(
            verified.headers().get(user_header).is_none(),
            "{user_header}"
        );
    }
    // A client's token is no user's: the user routes refuse it.
    app.assert_verify(&token, StatusCode::OK).await;
    let me = app.get_with_bearer("/api/v1/users/me", &token).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);

    // The form, one scope, another audience.
    let response = app
        .oauth_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "orders:read"),
                ("resource", "orders"),
            ],
        )
        .await;
    let (narrow, body) = access_token(response).await;
    assert_eq!(body["scope"], "orders:read");
    assert_eq!(part(&narrow, 1)["aud"], "orders");
    // `/verify` accepts `jwt.audience` unless the route names another.
    assert_eq!(
        app.verify_with("", &narrow).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let orders = app
        .verify_with("?audience=orders&scope=orders:read", &narrow)
        .await;
    assert_eq!(orders.status(), StatusCode::OK);
    let lacking = app
        .verify_with("?audience=orders&scope=orders:read%20orders:write", &narrow)
        .await;
    assert_eq!(lacking.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        lacking.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="orders:read orders:write""#
    );
    // A user's token from the password login holds no scope at all.
    let (_, user) = app.signed_in_user().await;
    let status = app
        .verify_with("?scope=orders:read", &user.access)
        .await
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let user_verified = app.verify_with("", &user.access).await;
    assert_eq!(user_verified.headers()["x-client-id"], "tessera");

    // Introspection reports the client, its scope and the token type.
    let introspected = app.introspect(&narrow).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["client_id"], id.as_str());
    assert_eq!(introspected["sub"], id.as_str());
    assert_eq!(introspected["scope"], "orders:read");
    assert_eq!(introspected["token_type"], "Bearer");
    assert!(introspected.get("sid").is_none(), "{introspected}");

    // Introspection and the revocation feed stay for `gateway.clients`: a
    // registered client gets tokens, it does not read others'.
    let introspected = app
        .post("/oauth/introspect")
        .basic_auth(&id, Some(&secret))
        .form(&[("token", narrow.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), StatusCode::UNAUTHORIZED);
    let feed = app
        .get("/api/v1/revocations")
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), StatusCode::UNAUTHORIZED);

    // Refusals, per RFC 6749 §5.2 and RFC 8707.
    let wrong = client_credentials(&app, &id, "not-the-secret", &[]).await;
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Basic realm=\"tessera\""
    );
    assert_oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let unknown = client_credentials(&app, "nobody", &secret, &[]).await;
    assert_oauth_error(unknown, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let scope = client_credentials(&app, &id, &secret, &[("scope", "admin")]).await;
    assert_oauth_error(scope, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let target = client_credentials(&app, &id, &secret, &[("audience", "payroll")]).await;
    assert_oauth_error(target, StatusCode::BAD_REQUEST, "invalid_target").await;
    let huge = vec!["s"; 5000].join(" ");
    let huge = client_credentials(&app, &id, &secret, &[("scope", &huge)]).await;
    assert_oauth_error(huge, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let nul = client_credentials(&app, &id, &secret, &[("scope", "orders:read\0")]).await;
    assert_oauth_error(nul, StatusCode::BAD_REQUEST, "invalid_request").await;
    // A public client has no credentials to prove: the grant needs them.
    let public = app
        .oauth_form("/oauth/token", &[("grant_type", "client_credentials")])
        .await;
    assert_oauth_error(public, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // A client registered without the grant may not use it.
    let (exchanger, exchanger_secret) = app
        .register_client(
            &admin.access,
            json!({"name": "exchanger", "grant_types": [TOKEN_EXCHANGE]}),
        )
        .await;
    let refused = client_credentials(&app, &exchanger, &exchanger_secret.unwrap(), &[]).await;
    assert_oauth_error(refused, StatusCode::BAD_REQUEST, "unauthorized_client").await;

    // RFC 8414 names the new grant, methods and scopes.
    let metadata = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!("client_credentials")), "{metadata}");
    let methods = metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("private_key_jwt")), "{metadata}");
    let scopes = metadata["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&json!("orders:write")), "{metadata}");
}

#[tokio::test]
async fn the_registry_is_for_admins_and_refuses_what_breaks_its_rules() {
    let app = spawn_app_with(gateway_overrides()).await;
    let admin_pair = app.new_user_with_role("ADMIN").await;
    let admin = admin_pair.1.clone();
    let (_, regular) = app.signed_in_user().await;
    let body = json!({"name": "x"});
    let forbidden = app
        .bearer(&regular.access)
        .post_json("/api/v1/admin/clients", body)
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let moderator = app.new_user_with_role("MODERATOR").await.1;
    let listed = app
        .bearer(&moderator.access)
        .get("/api/v1/admin/clients")
        .await;
    assert_eq!(listed.status(), StatusCode::FORBIDDEN);

    let refused = |body: Value| {
        let app = &app;
        let admin = &admin;
        async move {
            let response = app
                .bearer(&admin.access)
                .post_json("/api/v1/admin/clients", body)
                .await;
            let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
            common::error_fields(&body)
                .iter()
                .map(|f| f.as_str().unwrap_or_default().to_owned())
                .collect::<Vec<String>>()
        }
    };
    assert_eq!(
        refused(json!({"name": "w", "redirect_uris": ["https://*.example.com/cb"]})).await,
        ["redirect_uris"]
    );
    assert_eq!(
        refused(json!({"name": "f", "redirect_uris": ["https://app.example.com/cb#x"]})).await,
        ["redirect_uris"]
    );
    assert_eq!(
        refused(json!({"name": "h", "redirect_uris": ["http://app.example.com/cb"]})).await,
        ["redirect_uris"]
    );
    assert_eq!(
        refused(json!({"name": "p", "kind": "public", "grant_types": ["client_credentials"]}))
            .await,
        ["grant_types"]
    );
    assert_eq!(
        refused(json!({"name": "k", "auth_method": "private_key_jwt"})).await,
        ["jwks"]
    );
    assert_eq!(
        refused(
            json!({"scopes": ["a b"], "grant_types": "client_credentials", "first_party": "yes"})
        )
        .await,
        ["name", "grant_types", "scopes", "first_party"]
    );

    // A native app: a public client with a private-use scheme and loopback.
    let (app_id, secret) = app.register_client(&admin.access,
        json!({"name": "phone", "kind": "public", "redirect_uris": ["com.example.app:/cb", "http://127.0.0.1/cb"]}),
    )
    .await;
    assert!(secret.is_none());
    let one = app
        .bearer(&admin.access)
        .get_ok(&format!("/api/v1/admin/clients/{app_id}"))
        .await;
    assert_eq!(one["auth_method"], "none");
    assert_eq!(one["has_secret"], false);
    let (service_id, _) = service(&app, &admin).await;
    let all = app
        .bearer(&admin.access)
        .get_ok("/api/v1/admin/clients")
        .await;
    let listed = all
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == service_id.as_str())
        .expect("listed");
    assert_eq!(listed["has_secret"], true);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("client_secret").is_none()),
        "{all}"
    );
    let missing = app
        .bearer(&admin.access)
        .get("/api/v1/admin/clients/nobody")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let no_secret = app
        .bearer(&admin.access)
        .post(&format!("/api/v1/admin/clients/{app_id}/secret"))
        .await;
    assert_eq!(no_secret.status(), StatusCode::CONFLICT);
    let (admin_user, _) = &admin_pair;
    let created = app
        .audit_rows_at_least(
            "SELECT details FROM audit_events WHERE actor_id = $1 AND kind = $2",
            admin_user.id,
            "client_created",
            2,
        )
        .await;
    assert_eq!(created.len(), 2);
    assert!(created.iter().any(|d| d["client_id"] == app_id.as_str()));
}

#[tokio::test]
async fn a_rotated_secret_keeps_working_until_the_previous_one_is_dropped() {
    let app = spawn_app_with(gateway_overrides()).await;
    let admin = admin(&app).await;
    let (id, old) = service(&app, &admin).await;
    let rotated = app
        .bearer(&admin.access)
        .post(&format!("/api/v1/admin/clients/{id}/secret"))
        .await;
    let new = json_of(rotated, StatusCode::OK).await["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new, old);
    for secret in [&old, &new] {
        let status = client_credentials(&app, &id, secret, &[]).await.status();
        assert_eq!(status, StatusCode::OK);
    }
    let dropped = app
        .bearer(&admin.access)
        .delete(&format!("/api/v1/admin/clients/{id}/secret/previous"))
        .await;
    assert_eq!(
        json_of(dropped, StatusCode::OK).await["previous_secret_expires_at"],
        Value::Null
    );
    let old_refused = client_credentials(&app, &id, &old, &[]).await;
    assert_oauth_error(old_refused, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_eq!(
        client_credentials(&app, &id, &new, &[]).await.status(),
        StatusCode::OK
    );

    // A second rotation ends the first secret at once.
    let again = app
        .bearer(&admin.access)
        .post(&format!("/api/v1/admin/clients/{id}/secret"))
        .await;
    let newest = json_of(again, StatusCode::OK).await["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = app
        .bearer(&admin.access)
        .post(&format!("/api/v1/admin/clients/{id}/secret"))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_oauth_error(
        client_credentials(&app, &id, &new, &[]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    assert_eq!(
        client_credentials(&app, &id, &newest, &[]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_disabled_clients_tokens_are_refused_everywhere_within_a_second() {
    let first = spawn_app_with(gateway_overrides()).await;
    let second = spawn_app_with(gateway_overrides()).await;
    let admin = admin(&first).await;
    let (id, secret) = service(&first, &admin).await;
    // The second instance learns of the client within its poll.
    let started = Instant::now();
    let token = loop {
        let response = client_credentials(&second, &id, &secret, &[]).await;
        if response.status() == StatusCode::OK {
            break access_token(response).await.0;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the new client took over a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        second.verify_with("", &token).await.status(),
        StatusCode::OK
    );

    let disabled = first
        .bearer(&admin.access)
        .patch_json(
            &format!("/api/v1/admin/clients/{id}"),
            json!({"disabled": true}),
        )
        .await;
    let disabled_at = Instant::now();
    assert_eq!(json_of(disabled, StatusCode::OK).await["disabled"], true);
    // The instance that changed it refuses at once; the other within a second.
    assert_eq!(
        first.verify_with("", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    loop {
        if second.verify_with("", &token).await.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            disabled_at.elapsed() < Duration::from_secs(1),
            "still accepted after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen_after = disabled_at.elapsed();
    assert_eq!(second.introspect(&token).await, json!({"active": false}));
    let refused = client_credentials(&second, &id, &secret, &[]).await;
    assert_oauth_error(refused, StatusCode::UNAUTHORIZED, "invalid_client").await;
    println!("second instance refused the disabled client's token after {seen_after:?}");

    // Offline verifiers learn it from the feed.
    let feed = second
        .get("/api/v1/revocations?limit=1000")
        .basic_auth(common::GATEWAY_ID, Some(common::GATEWAY_SECRET))
        .send()
        .await
        .unwrap();
    let events = json_of(feed, StatusCode::OK).await;
    let event = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .expect("a client event")
        .clone();
    assert_eq!(
        (event["kind"].as_str(), event["reason"].as_str()),
        (Some("client"), Some("client_disabled"))
    );

    // Enabled again, the old token stays dead; new ones work.
    let enabled = first
        .bearer(&admin.access)
        .patch_json(
            &format!("/api/v1/admin/clients/{id}"),
            json!({"disabled": false}),
        )
        .await;
    assert_eq!(enabled.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        second.verify_with("", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let fresh = access_token(client_credentials(&second, &id, &secret, &[]).await)
        .await
        .0;
    assert_eq!(
        second.verify_with("", &fresh).await.status(),
        StatusCode::OK
    );
}

/// A client assertion (RFC 7523) signed with `key`.
fn assertion(
    key: &jsonwebtoken::EncodingKey,
    kid: &str,
    client_id: &str,
    audience: &str,
) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": audience,
        "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
    });
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

#[tokio::test]
async fn a_service_signs_in_with_its_own_key_and_an_assertion_works_once() {
    let app = spawn_app_with(gateway_overrides()).await;
    let admin = admin(&app).await;
    let signing = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    let jwk = json!({
        "kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA",
        "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes()),
    });
    let (id, secret) = app.register_client(&admin.access,
        json!({"name": "signer", "auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}, "scopes": ["jobs"]}),
    )
    .await;
    assert!(secret.is_none());
    let der = signing.to_pkcs8_der().unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes());
    let token_endpoint = format!(
        "{}/oauth/token",
        app.config.server.public_url.trim_end_matches('/')
    );
    let signed = assertion(&key, "k1", &id, &token_endpoint);
    let form = |jwt: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", jwt.to_owned()),
        ]
    };
    let send = |jwt: String| {
        let app = &app;
        async move {
            app.post("/oauth/token")
                .form(&form(&jwt))
                .send()
                .await
                .unwrap()
        }
    };
    let (token, body) = access_token(send(signed.clone()).await).await;
    assert_eq!(body["scope"], "jobs");
    assert_eq!(
        app.verify_with("?scope=jobs", &token).await.status(),
        StatusCode::OK
    );
    // The same assertion again is a replay.
    assert_oauth_error(
        send(signed).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    // Another key, another audience, garbage: refused, never a 5xx.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    let stranger =
        jsonwebtoken::EncodingKey::from_ed_der(stranger.to_pkcs8_der().unwrap().as_bytes());
    for jwt in [
        assertion(&stranger, "k1", &id, &token_endpoint),
        assertion(&key, "k1", &id, "https://elsewhere.example/token"),
        assertion(&key, "k1", "someone-else", &token_endpoint),
        "not.a.jwt".to_owned(),
        "\u{0}".repeat(10),
    ] {
        let response = send(jwt).await;
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    // A secret does not work for a key client.
    let guessed = client_credentials(&app, &id, "anything", &[]).await;
    assert_oauth_error(guessed, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn token_exchange_gives_a_service_a_users_token_that_dies_with_the_session() {
    let app = spawn_app_with(gateway_overrides()).await;
    let admin = admin(&app).await;
    let (id, secret) = app.register_client(&admin.access,
        json!({"name": "orders-gateway", "grant_types": [TOKEN_EXCHANGE], "scopes": ["orders:read", "orders:write"], "audiences": ["orders"]}),
    )
    .await;
    let secret = secret.unwrap();
    let (user, tokens) = app.signed_in_user().await;
    let exchange = |subject: &str, extra: &[(&'static str, &str)]| {
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE.to_owned()),
            ("subject_token", subject.to_owned()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token".to_owned(),
            ),
        ];
        form.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        app.post("/oauth/token")
            .basic_auth(id.clone(), Some(secret.clone()))
            .form(&form)
            .send()
    };
    let response = exchange(&tokens.access, &[("scope", "orders:read")])
        .await
        .unwrap();
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(body["scope"], "orders:read");
    let exchanged = body["access_token"].as_str().unwrap().to_owned();
    let claims = part(&exchanged, 1);
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(claims["aud"], "orders");
    assert_eq!(claims["act"]["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    let verified = app
        .verify_with("?audience=orders&scope=orders:read", &exchanged)
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(
        verified.headers()["x-user-id"],
        user.id.to_string().as_str()
    );
    assert_eq!(verified.headers()["x-client-id"], id.as_str());

    // Within the client's scopes and audiences only.
    let scope = exchange(&tokens.access, &[("scope", "admin")])
        .await
        .unwrap();
    assert_oauth_error(scope, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let target = exchange(&tokens.access, &[("audience", "tessera")])
        .await
        .unwrap();
    assert_oauth_error(target, StatusCode::BAD_REQUEST, "invalid_target").await;
    let junk = exchange("not-a-token", &[]).await.unwrap();
    assert_oauth_error(junk, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // An exchanged token cannot be exchanged again: it is for `orders`.
    let again = exchange(&exchanged, &[]).await.unwrap();
    assert_oauth_error(again, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // The user logs out: the exchanged token dies with the session.
    let logout = app
        .post_with_bearer("/api/v1/auth/logout", &tokens.access)
        .await;
    assert!(logout.status().is_success());
    let dead = app.verify_with("?audience=orders", &exchanged).await;
    assert_eq!(dead.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.introspect(&exchanged).await, json!({"active": false}));
}

#[tokio::test]
async fn each_confidential_client_has_its_own_token_allowance_and_wrong_secrets_are_counted() {
    let app = spawn_app_with(gateway_overrides().merge(common::overrides(&[
        ("rate_limit.enabled", json!(true)),
        ("rate_limit.per_client_per_second", json!(3)),
        ("rate_limit.client_auth_failures_per_ip", json!(4)),
        ("server.trusted_proxies", json!(["127.0.0.1/32"])),
    ])))
    .await;
    let admin = admin(&app).await;
    let (busy, busy_secret) = service(&app, &admin).await;
    let (calm, calm_secret) = service(&app, &admin).await;
    // Sent at once, so the window holds all of them.
    let asks = (0..6).map(|_| client_credentials(&app, &busy, &busy_secret, &[]));
    let statuses: Vec<StatusCode> = futures::future::join_all(asks)
        .await
        .iter()
        .map(Response::status)
        .collect();
    assert_eq!(common::count(&statuses, StatusCode::OK), 3, "{statuses:?}");
    assert_eq!(
        common::count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        3,
        "{statuses:?}"
    );
    let limited = client_credentials(&app, &busy, &busy_secret, &[]).await;
    assert!(limited.headers().contains_key("retry-after"));
    // Another client's allowance is its own.
    let other = client_credentials(&app, &calm, &calm_secret, &[]).await;
    assert_eq!(other.status(), StatusCode::OK);

    // Wrong secrets count per address; past the limit they are 429, and the
    // right secret still works from that address.
    let guesser = app.forwarded_for(&common::random_ip());
    let mut wrong = Vec::new();
    for _ in 0..6 {
        wrong.push(
            client_credentials(&guesser, &calm, "guess", &[])
                .await
                .status(),
        );
    }
    assert_eq!(
        common::count(&wrong, StatusCode::UNAUTHORIZED),
        4,
        "{wrong:?}"
    );
    assert_eq!(
        common::count(&wrong, StatusCode::TOO_MANY_REQUESTS),
        2,
        "{wrong:?}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let right = client_credentials(&guesser, &calm, &calm_secret, &[]).await;
    assert_eq!(right.status(), StatusCode::OK);
}

async fn password_grant(app: &TestApp, user: &common::TestUser, auth: (&str, &str)) -> Response {
    app.post("/oauth/token")
        .basic_auth(auth.0, Some(auth.1))
        .form(&[
            ("grant_type", "password"),
            ("username", user.email.as_str()),
            ("password", user.password.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

async fn refresh_grant(app: &TestApp, refresh: &str, auth: Option<(&str, &str)>) -> Response {
    let mut request = app.post("/oauth/token");
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    request
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_session_remembers_its_client_and_rotates_only_for_it() {
    let app = spawn_app_with(gateway_overrides()).await;
    let admin = admin(&app).await;
    let mut ids = Vec::new();
    for name in ["mobile-backend", "other-app"] {
        let (id, secret) = app
            .register_client(
                &admin.access,
                json!({ "name": name, "grant_types": ["password", "refresh_token"] }),
            )
            .await;
        ids.push((id, secret.expect("a secret")));
    }
    let (id, secret) = (&ids[0].0, &ids[0].1);
    let user = app.new_user().await;

    // The password grant of a registered client: its tokens name it.
    let body = json_of(
        password_grant(&app, &user, (id, secret)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        part(body["access_token"].as_str().unwrap(), 1)["client_id"],
        *id
    );
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // Its session says which app it is.
    let sessions = json_of(
        app.get("/api/v1/users/me/sessions")
            .bearer_auth(body["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(sessions[0]["client_id"], *id, "{sessions}");
    assert_eq!(sessions[0]["client_name"], "mobile-backend", "{sessions}");

    // Without the client's authentication the refresh token is worth
    // nothing, and showing it ends nothing.
    let plain = app
        .post("/api/v1/auth/refresh")
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    assert_oauth_error(
        refresh_grant(&app, &refresh, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        refresh_grant(&app, &refresh, Some((&ids[1].0, &ids[1].1))).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    // Its own client rotates it, and the new tokens still name the client.
    let rotated = json_of(
        refresh_grant(&app, &refresh, Some((id, secret))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        part(rotated["access_token"].as_str().unwrap(), 1)["client_id"],
        *id
    );
    assert_ne!(rotated["refresh_token"], refresh.as_str());
}
