//! Second factors, end to end: a user sets up an authenticator app (codes
//! from pyotp, an independent implementation that scans the otpauth:// URI
//! tessera shows), signs in with it at `/login` and the OAuth password
//! grant, uses recovery codes, and an attacker's replays, guesses and
//! hostile bodies get nowhere.

mod common;

use std::time::Duration;

use common::dpop::AppKey;
use common::mfa::{code_at, enrolled, fresh_step, mfa_token, now, MFA};
use common::{
    assert_oauth_error, json_of, jwt_claims, overrides, spawn_app, spawn_app_with, SmtpSink,
    TestApp, Tokens,
};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const VERIFY: &str = "/api/v1/auth/mfa/verify";

async fn verify(app: &TestApp, body: Value) -> Response {
    app.post_json(VERIFY, body).await
}

async fn assert_refused(response: Response, detail: &str) {
    common::assert_detail(response, StatusCode::UNAUTHORIZED, detail).await;
}

const WRONG_CODE: &str = "Invalid second-factor code";
const DEAD_TOKEN: &str = "Invalid or expired second-factor token";

#[tokio::test]
async fn a_user_sets_up_an_authenticator_app_and_signs_in_with_its_codes() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(sink.overrides()).await;
    let (user, tokens) = app.signed_in_user().await;
    let me = app.bearer(&tokens.access);
    let none = json!({"totp": false, "passkeys": [], "recovery_codes_left": 0});
    assert_eq!(me.get_ok(MFA).await, none);

    let step = fresh_step().await;
    let started = json_of(me.post(&format!("{MFA}/totp")).await, StatusCode::OK).await;
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with(&format!("otpauth://totp/tessera:{}?", user.username)),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={}", started["secret"].as_str().unwrap())));
    assert!(started["qr_svg"].as_str().unwrap().contains("<svg"));
    // Pending until confirmed: sign-in is unchanged meanwhile.
    assert_eq!(me.get_ok(MFA).await, none);
    app.login(&user).await;

    let wrong = me
        .post_json(&format!("{MFA}/totp/confirm"), json!({"code": "000000"}))
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let code = code_at(uri, step - 30).await;
    let confirmed = json_of(
        me.post_json(&format!("{MFA}/totp/confirm"), json!({ "code": code }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(confirmed["recovery_codes"].as_array().unwrap().len(), 10);
    assert_eq!(
        me.get_ok(MFA).await,
        json!({"totp": true, "passkeys": [], "recovery_codes_left": 10})
    );
    assert_eq!(app.audit_events(user.id, "mfa_totp_added").await.len(), 1);
    let mail = sink.wait_for_mail(&user.email).await;
    assert!(
        mail.contains("A second factor was added to your account"),
        "{mail}"
    );
    // A second app is refused while one is set up.
    assert_eq!(
        me.post(&format!("{MFA}/totp")).await.status(),
        StatusCode::CONFLICT
    );

    // The password alone is no longer enough.
    let token = mfa_token(&app, &user).await;
    let code = code_at(uri, step).await;
    let pair = json_of(
        verify(&app, json!({"mfa_token": token, "code": code})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(pair["token_type"], "bearer");
    let tokens = Tokens::from_body(&pair);
    let claims = jwt_claims(&tokens.access);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
    let auth_time = claims["auth_time"].as_u64().unwrap();
    assert!(auth_time.abs_diff(now()) < 60, "{claims}");
    app.assert_verify(&tokens.access, StatusCode::OK).await;
    let body: Value = app.verify(&tokens.access).await.json().await.unwrap();
    assert_eq!(body["acr"], "mfa");
    // The session keeps how it was opened: a refresh says the same.
    let refreshed = common::pair(app.refresh(&tokens.refresh).await).await;
    let again = jwt_claims(&refreshed.access);
    assert_eq!(again["amr"], claims["amr"]);
    assert_eq!(again["acr"], "mfa");
    assert_eq!(again["auth_time"], auth_time);
    let events = app.audit_events(user.id, "login").await;
    assert!(events
        .iter()
        .any(|e| e["details"]["amr"] == json!(["pwd", "otp", "mfa"])));

    // The same code again, with a fresh step: refused (RFC 6238 §5.2).
    let token = mfa_token(&app, &user).await;
    assert_refused(
        verify(&app, json!({"mfa_token": token, "code": code})).await,
        WRONG_CODE,
    )
    .await;
    // A code of an earlier step too, even within the drift allowed.
    let earlier = code_at(uri, step - 30).await;
    assert_refused(
        verify(&app, json!({"mfa_token": token, "code": earlier})).await,
        WRONG_CODE,
    )
    .await;
    // The next step's code is new: it passes (one step of drift ahead).
    let next = code_at(uri, step + 30).await;
    let pair = verify(&app, json!({"mfa_token": token, "code": next})).await;
    assert_eq!(pair.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_password_grant_asks_for_the_factor_and_finishes_in_rfc_6749_shape() {
    // As a development install: the second-factor key comes from Redis.
    let app = common::spawn_app_from(common::base_overrides_without_rotation_secret()).await;
    let enrolled = enrolled(&app).await;
    let user = &enrolled.user;
    let response = app.password_grant(&user.username, &user.password).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "Second factor required");
    assert_eq!(body["error_code"], "MFA_REQUIRED");
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    let token = body["mfa_token"].as_str().unwrap();

    // Its errors are RFC 6749's too.
    let wrong = verify(&app, json!({"mfa_token": token, "code": "000000"})).await;
    let refused = assert_oauth_error(wrong, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(refused["error_description"], WRONG_CODE);
    let malformed = verify(&app, json!({"mfa_token": token, "code": "1234567"})).await;
    let refused = assert_oauth_error(malformed, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(refused["error_description"]
        .as_str()
        .unwrap()
        .contains("code"));

    // A form, as an OAuth client would send it.
    let code = code_at(&enrolled.uri, enrolled.step).await;
    let response = app
        .post(VERIFY)
        .form(&[("mfa_token", token), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let issued = json_of(response, StatusCode::OK).await;
    assert_eq!(issued["token_type"], "Bearer");
    assert!(issued["refresh_token"].is_string());
    let claims = jwt_claims(issued["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
    // Its refresh token works at the token endpoint, like the grant's.
    let refreshed = app
        .refresh_grant(issued["refresh_token"].as_str().unwrap())
        .await;
    let refreshed = json_of(refreshed, StatusCode::OK).await;
    assert_eq!(
        jwt_claims(refreshed["access_token"].as_str().unwrap())["acr"],
        "mfa"
    );

    // The token is spent: used again, it is refused in the grant's shape.
    let code = code_at(&enrolled.uri, enrolled.step + 30).await;
    let reused = verify(&app, json!({"mfa_token": token, "code": code})).await;
    let refused = assert_oauth_error(reused, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(refused["error_description"], DEAD_TOKEN);
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_new_codes_retire_the_old() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(sink.overrides()).await;
    let enrolled = enrolled(&app).await;
    let user = &enrolled.user;
    let first = &enrolled.recovery_codes[0];

    let token = mfa_token(&app, user).await;
    // Typed in capitals with spaces: the same code.
    let typed = first.to_uppercase().replace('-', " ");
    let pair = json_of(
        verify(&app, json!({"mfa_token": token, "recovery_code": typed})).await,
        StatusCode::OK,
    )
    .await;
    let claims = jwt_claims(pair["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
    assert_eq!(
        app.audit_events(user.id, "mfa_recovery_code_used")
            .await
            .len(),
        1
    );

    let token = mfa_token(&app, user).await;
    assert_refused(
        verify(&app, json!({"mfa_token": token, "recovery_code": first})).await,
        WRONG_CODE,
    )
    .await;
    let me = app.bearer(&enrolled.tokens.access);
    assert_eq!(me.get_ok(MFA).await["recovery_codes_left"], 9);

    // New codes need a valid code now; the old ones stop working.
    let wrong = me
        .post_json(
            &format!("{MFA}/recovery-codes"),
            json!({"recovery_code": first}),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let code = code_at(&enrolled.uri, enrolled.step).await;
    let fresh = json_of(
        me.post_json(&format!("{MFA}/recovery-codes"), json!({ "code": code }))
            .await,
        StatusCode::OK,
    )
    .await;
    let fresh = fresh["recovery_codes"].as_array().unwrap();
    assert_eq!(fresh.len(), 10);
    assert_eq!(me.get_ok(MFA).await["recovery_codes_left"], 10);
    assert_refused(
        verify(
            &app,
            json!({"mfa_token": token, "recovery_code": enrolled.recovery_codes[1]}),
        )
        .await,
        WRONG_CODE,
    )
    .await;
    let pair = verify(&app, json!({"mfa_token": token, "recovery_code": fresh[0]})).await;
    assert_eq!(pair.status(), StatusCode::OK);
    // Mails go out concurrently: either may arrive first.
    let mails = sink.wait_for_mails(&user.email, 2).await;
    assert!(
        mails
            .iter()
            .any(|mail| mail.contains("Your recovery codes were replaced")),
        "{mails:#?}"
    );
}

#[tokio::test]
async fn an_mfa_token_dies_at_its_first_success_and_when_it_expires() {
    let app = spawn_app_with(overrides(&[("mfa.token_ttl_secs", json!(1))])).await;
    let enrolled = enrolled(&app).await;
    let user = &enrolled.user;

    let expired = mfa_token(&app, user).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let code = code_at(&enrolled.uri, enrolled.step).await;
    assert_refused(
        verify(&app, json!({"mfa_token": expired, "code": code})).await,
        DEAD_TOKEN,
    )
    .await;

    let token = mfa_token(&app, user).await;
    let pair = verify(&app, json!({"mfa_token": token, "code": code})).await;
    assert_eq!(pair.status(), StatusCode::OK);
    assert_refused(
        verify(
            &app,
            json!({"mfa_token": token, "recovery_code": enrolled.recovery_codes[0]}),
        )
        .await,
        DEAD_TOKEN,
    )
    .await;
    // Made-up tokens are just as dead.
    for made_up in ["x", &"A".repeat(44), &"AQ".repeat(22)] {
        assert_refused(
            verify(&app, json!({"mfa_token": made_up, "code": "123456"})).await,
            DEAD_TOKEN,
        )
        .await;
    }
}

#[tokio::test]
async fn five_wrong_codes_kill_the_token() {
    let app = spawn_app().await;
    let enrolled = enrolled(&app).await;
    let token = mfa_token(&app, &enrolled.user).await;
    let right = code_at(&enrolled.uri, enrolled.step).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        assert_refused(
            verify(&app, json!({"mfa_token": token, "code": wrong})).await,
            WRONG_CODE,
        )
        .await;
    }
    assert_refused(
        verify(&app, json!({"mfa_token": token, "code": right})).await,
        DEAD_TOKEN,
    )
    .await;
    // The code was never checked, so a new sign-in may still use it.
    let token = mfa_token(&app, &enrolled.user).await;
    let pair = verify(&app, json!({"mfa_token": token, "code": right})).await;
    assert_eq!(pair.status(), StatusCode::OK);
    assert!(
        app.audit_count(enrolled.user.id, "mfa_failed", 5).await >= 5,
        "wrong codes are audited"
    );
}

#[tokio::test]
async fn parallel_guesses_reach_no_more_checks_than_the_lockout_allows() {
    let app = spawn_app_with(overrides(&[
        ("rate_limit.enabled", json!(true)),
        ("rate_limit.login_failures_per_account", json!(5)),
        ("rate_limit.login_attempts_per_ip_per_minute", json!(1000)),
    ]))
    .await;
    let enrolled = enrolled(&app).await;
    let user = &enrolled.user;
    // Four steps, five attempts each: twenty guesses in flight at once
    // (and a fifth step kept for the right code).
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(mfa_token(&app, user).await);
    }
    let right = code_at(&enrolled.uri, enrolled.step).await;
    let guesses = (0..20).map(|i| {
        let app = &app;
        let token = tokens[i % 4].clone();
        let guess = format!(
            "{:06}",
            (right.parse::<u32>().unwrap() + 1 + i as u32) % 1_000_000
        );
        async move {
            verify(app, json!({"mfa_token": token, "code": guess}))
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = common::count(&statuses, StatusCode::UNAUTHORIZED);
    let limited = common::count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    assert!(checked <= 5, "{statuses:?}");
    assert_eq!(checked + limited, 20, "{statuses:?}");
    // The account is locked for the right code and the password alike.
    let token = tokens[4].clone();
    let locked = verify(&app, json!({"mfa_token": token, "code": right})).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.headers().contains_key("retry-after"));
    assert_eq!(
        app.login_status(&user.email, &user.password).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_known_password_buys_no_fresh_code_guesses() {
    let app = spawn_app_with(overrides(&[
        ("rate_limit.enabled", json!(true)),
        ("rate_limit.login_failures_per_account", json!(5)),
    ]))
    .await;
    let enrolled = enrolled(&app).await;
    let user = &enrolled.user;
    // Four wrong codes, then the right password again: the count stays.
    for _ in 0..4 {
        let token = mfa_token(&app, user).await;
        let response = verify(&app, json!({"mfa_token": token, "code": "999999"})).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let token = mfa_token(&app, user).await;
    let fifth = verify(&app, json!({"mfa_token": token, "code": "999998"})).await;
    assert_eq!(fifth.status(), StatusCode::UNAUTHORIZED);
    let sixth = verify(&app, json!({"mfa_token": token, "code": "999997"})).await;
    assert_eq!(sixth.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn hostile_bodies_on_the_new_routes_are_refused_by_name() {
    let app = spawn_app().await;
    let enrolled = enrolled(&app).await;
    let me = app.bearer(&enrolled.tokens.access);
    let token = mfa_token(&app, &enrolled.user).await;
    let huge = "9".repeat(20_000);
    for (path, extra) in [
        (format!("{MFA}/totp/confirm"), json!({})),
        (format!("{MFA}/recovery-codes"), json!({})),
        (VERIFY.to_owned(), json!({ "mfa_token": token })),
    ] {
        for bad in [
            json!("1234567"),
            json!("12345"),
            json!("12\u{0}456"),
            json!(huge),
            json!(123456),
            json!(["123456"]),
        ] {
            let mut body = extra.clone();
            body["code"] = bad.clone();
            let response = me.post_json(&path, body).await;
            let answer = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
            assert_eq!(
                answer["detail"][0]["loc"],
                json!(["body", "code"]),
                "{path} {bad}"
            );
        }
    }
    for bad in [json!("abcd"), json!("abcd\u{0}efgh-ijkl-mnop"), json!(huge)] {
        let response = me
            .send(
                reqwest::Method::DELETE,
                &format!("{MFA}/totp"),
                Some(json!({ "recovery_code": bad })),
            )
            .await;
        let answer = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(answer["detail"][0]["loc"], json!(["body", "recovery_code"]));
    }
    let response = verify(&app, json!({"mfa_token": "t\u{0}k"})).await;
    let answer = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        common::error_fields(&answer),
        [&json!("mfa_token"), &json!("code")]
    );
    let both = verify(
        &app,
        json!({"mfa_token": token, "code": "123456", "recovery_code": enrolled.recovery_codes[0]}),
    )
    .await;
    json_of(both, StatusCode::UNPROCESSABLE_ENTITY).await;
    // None of it was a guess: the token still takes its five codes.
    let code = code_at(&enrolled.uri, enrolled.step).await;
    let pair = verify(&app, json!({"mfa_token": token, "code": code})).await;
    assert_eq!(pair.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_without_a_factor_signs_in_as_before() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    let claims = jwt_claims(&tokens.access);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "pwd");
    assert!(claims["auth_time"].as_u64().unwrap().abs_diff(now()) < 60);
    let grant = app.password_grant(&user.email, &user.password).await;
    let issued = json_of(grant, StatusCode::OK).await;
    assert_eq!(
        jwt_claims(issued["access_token"].as_str().unwrap())["acr"],
        "pwd"
    );
    let refreshed = common::pair(app.refresh(&tokens.refresh).await).await;
    assert_eq!(jwt_claims(&refreshed.access)["amr"], json!(["pwd"]));
    // Removing or regenerating what is not there is a conflict.
    let me = app.bearer(&tokens.access);
    let removed = me
        .send(
            reqwest::Method::DELETE,
            &format!("{MFA}/totp"),
            Some(json!({"code": "123456"})),
        )
        .await;
    assert_eq!(removed.status(), StatusCode::CONFLICT);
    let regenerated = me
        .post_json(&format!("{MFA}/recovery-codes"), json!({"code": "123456"}))
        .await;
    assert_eq!(regenerated.status(), StatusCode::CONFLICT);
    let unconfirmed = me
        .post_json(&format!("{MFA}/totp/confirm"), json!({"code": "123456"}))
        .await;
    assert_eq!(unconfirmed.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn removing_the_last_factor_needs_a_code_now() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(sink.overrides()).await;
    let enrolled = enrolled(&app).await;
    let user = &enrolled.user;
    let me = app.bearer(&enrolled.tokens.access);
    let path = format!("{MFA}/totp");
    let missing = me
        .send(reqwest::Method::DELETE, &path, Some(json!({})))
        .await;
    json_of(missing, StatusCode::UNPROCESSABLE_ENTITY).await;
    let wrong = me
        .send(
            reqwest::Method::DELETE,
            &path,
            Some(json!({"code": "000000"})),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let code = code_at(&enrolled.uri, enrolled.step).await;
    let removed = me
        .send(
            reqwest::Method::DELETE,
            &path,
            Some(json!({ "code": code })),
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me.get_ok(MFA).await,
        json!({"totp": false, "passkeys": [], "recovery_codes_left": 0})
    );
    app.login(user).await;
    assert_eq!(app.audit_events(user.id, "mfa_totp_removed").await.len(), 1);
    // Mails go out concurrently: either may arrive first.
    let mails = sink.wait_for_mails(&user.email, 2).await;
    assert!(
        mails
            .iter()
            .any(|mail| mail.contains("A second factor was removed from your account")),
        "{mails:#?}"
    );
}

#[tokio::test]
async fn a_dpop_login_finishes_only_with_its_key() {
    let app = common::pages::spawn_app_at_own_url(figment::Figment::new()).await;
    let enrolled = enrolled(&app).await;
    let user = &enrolled.user;
    let key = AppKey::new();
    let response = app
        .post("/api/v1/auth/login")
        .header("DPoP", key.proof(&app, "/api/v1/auth/login"))
        .json(&json!({"email": user.email, "password": user.password}))
        .send()
        .await
        .unwrap();
    let body = json_of(response, StatusCode::UNAUTHORIZED).await;
    let token = body["mfa_token"].as_str().unwrap();
    let code = code_at(&enrolled.uri, enrolled.step).await;
    let without = verify(&app, json!({"mfa_token": token, "code": code})).await;
    assert_eq!(without.status(), StatusCode::BAD_REQUEST);
    let other = AppKey::new();
    let wrong_key = app
        .post(VERIFY)
        .header("DPoP", other.proof(&app, VERIFY))
        .json(&json!({"mfa_token": token, "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), StatusCode::BAD_REQUEST);
    let bound = app
        .post(VERIFY)
        .header("DPoP", key.proof(&app, VERIFY))
        .json(&json!({"mfa_token": token, "code": code}))
        .send()
        .await
        .unwrap();
    let pair = json_of(bound, StatusCode::OK).await;
    assert_eq!(pair["token_type"], "DPoP");
    let claims = jwt_claims(pair["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], key.jkt());
    assert_eq!(claims["acr"], "mfa");
}
