//! Passkeys, end to end, with a software authenticator
//! (tests/python/passkey.py, on Yubico's python-fido2: an independent
//! implementation of WebAuthn's structures, answering as a browser would):
//! a user registers one, lists and renames it, signs in with password and
//! passkey and with the passkey alone, and removes it; replays, reused
//! ceremonies, forged signatures, huge or misdirected answers get 4xx.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::mfa::MFA;
use common::{
    assert_detail, error_fields, json_of, jwt_claims, spawn_app, spawn_app_with, SmtpSink, TestApp,
    TestUser, Tokens,
};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const PASSKEYS: &str = "/api/v1/users/me/mfa/passkeys";
const VERIFY: &str = "/api/v1/auth/mfa/verify";
const STEP_OPTIONS: &str = "/api/v1/auth/mfa/webauthn/options";
const SIGN_IN_OPTIONS: &str = "/api/v1/auth/passkey/options";
const SIGN_IN: &str = "/api/v1/auth/passkey/finish";
/// The test apps' relying party: `server.public_url` is an address, which
/// stands for localhost (any port).
const ORIGIN: &str = "http://localhost:8000";

const REFUSED: &str = "The passkey's answer is refused";
const NO_CEREMONY: &str =
    "No passkey ceremony is waiting (it expired or was used); ask for new options";
const UNKNOWN: &str = "Unknown passkey";

/// What the authenticator claims beside the options: the page's origin,
/// the relying party it signs for, and whether it verified its user.
#[derive(Clone, Copy)]
struct Claim {
    origin: &'static str,
    rp_id: Option<&'static str>,
    uv: bool,
}

const HONEST: Claim = Claim {
    origin: ORIGIN,
    rp_id: None,
    uv: true,
};

/// The software authenticator run on `request`: its answer, or why it
/// refused.
async fn authenticator(request: Value) -> Result<Value, String> {
    use tokio::io::AsyncWriteExt;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/passkey.py");
    let mut child = tokio::process::Command::new(common::venv_python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the virtualenv's python runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(request.to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the authenticator answers within 30 s")
        .unwrap();
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).expect("JSON from the authenticator"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A passkey held by the software authenticator, and its signature
/// counter.
struct Device {
    passkey: Value,
    counter: u32,
}

impl Device {
    /// Answers request `options` (`{"publicKey": ...}`) with the next
    /// counter value.
    async fn answer(&mut self, options: &Value, claim: Claim) -> Value {
        self.counter += 1;
        self.answer_at(options, claim, self.counter).await
    }

    async fn answer_at(&self, options: &Value, claim: Claim, counter: u32) -> Value {
        let answer = authenticator(json!({
            "op": "get", "options": options["publicKey"], "passkey": self.passkey,
            "origin": claim.origin, "rp_id": claim.rp_id, "uv": claim.uv, "counter": counter,
        }))
        .await
        .expect("the authenticator signs");
        answer["credential"].clone()
    }
}

/// Creates a credential for creation `options` (`{"publicKey": ...}`):
/// the answer to send, the device, and what the options asked for.
async fn create(options: &Value, claim: Claim) -> (Value, Device, Value) {
    let answer = authenticator(json!({
        "op": "create", "options": options["publicKey"],
        "origin": claim.origin, "rp_id": claim.rp_id, "uv": claim.uv,
    }))
    .await
    .expect("the authenticator creates a credential");
    let device = Device {
        passkey: answer["passkey"].clone(),
        counter: 0,
    };
    (
        answer["credential"].clone(),
        device,
        answer["asked"].clone(),
    )
}

/// Registers a passkey named `name` for the bearer of `access`.
async fn register(app: &TestApp, access: &str, name: &str) -> (Value, Device) {
    let me = app.bearer(access);
    let options = json_of(
        me.post(&format!("{PASSKEYS}/options")).await,
        StatusCode::OK,
    )
    .await;
    let (credential, device, _) = create(&options, HONEST).await;
    let listed = json_of(
        me.post_json(PASSKEYS, json!({"name": name, "credential": credential}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    (listed, device)
}

/// A signed-in user with one passkey.
async fn with_passkey(app: &TestApp) -> (TestUser, Tokens, Value, Device) {
    let (user, tokens) = app.signed_in_user().await;
    let (listed, device) = register(app, &tokens.access, "Laptop").await;
    (user, tokens, listed, device)
}

/// A password login of a user with a factor: its `mfa_token` and `methods`.
async fn password_step(app: &TestApp, user: &TestUser) -> (String, Value) {
    let body = json_of(
        app.login_json(json!({"email": user.email, "password": user.password}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["error_code"], "MFA_REQUIRED", "{body}");
    (
        body["mfa_token"].as_str().unwrap().to_owned(),
        body["methods"].clone(),
    )
}

async fn step_options(app: &TestApp, token: &str) -> Value {
    json_of(
        app.post_json(STEP_OPTIONS, json!({ "mfa_token": token }))
            .await,
        StatusCode::OK,
    )
    .await
}

/// A passwordless ceremony: its handle and options.
async fn sign_in_options(app: &TestApp) -> (String, Value) {
    let started = json_of(
        app.post(SIGN_IN_OPTIONS).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    (
        started["ceremony"].as_str().unwrap().to_owned(),
        started["options"].clone(),
    )
}

async fn sign_in(app: &TestApp, ceremony: &str, credential: &Value) -> Response {
    app.post_json(
        SIGN_IN,
        json!({"ceremony": ceremony, "credential": credential}),
    )
    .await
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text.as_str().unwrap()).unwrap()
}

async fn stored_counter(app: &TestApp, id: &Value) -> (i64, bool) {
    sqlx::query_as(
        "SELECT (passkey #>> '{cred,counter}')::bigint, last_used_at IS NOT NULL \
         FROM user_passkeys WHERE id = $1::uuid",
    )
    .bind(id.as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_user_registers_a_passkey_sees_it_listed_and_renames_it() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(sink.overrides()).await;
    let (user, tokens) = app.signed_in_user().await;
    let me = app.bearer(&tokens.access);
    assert_eq!(
        me.get_ok(MFA).await,
        json!({"totp": false, "passkeys": [], "recovery_codes_left": 0})
    );

    let options = json_of(
        me.post(&format!("{PASSKEYS}/options")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
    assert_eq!(options["publicKey"]["user"]["name"], json!(user.username));
    let (credential, _, asked) = create(&options, HONEST).await;
    // A discoverable credential that verifies its user, nothing excluded yet.
    assert_eq!(
        asked,
        json!({"resident_key": "required", "user_verification": "required", "excluded": 0})
    );
    // Pending until finished: sign-in is unchanged meanwhile.
    app.login(&user).await;
    let created = json_of(
        me.post_json(
            PASSKEYS,
            json!({"name": "  YubiKey 5C ", "credential": credential}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["name"], "YubiKey 5C");
    assert_eq!(created.as_object().unwrap().len(), 3, "{created}");
    let listed = me.get_ok(MFA).await;
    assert_eq!(listed["passkeys"], json!([created]));
    assert_eq!(listed["totp"], false);
    assert_eq!(
        app.audit_events(user.id, "mfa_passkey_added").await.len(),
        1
    );
    let mail = sink.wait_for_mail(&user.email).await;
    assert!(
        mail.contains("A second factor was added to your account")
            && mail.contains("a passkey was added"),
        "{mail}"
    );
    // The same answer again: its ceremony is spent.
    assert_detail(
        me.post_json(PASSKEYS, json!({"name": "again", "credential": credential}))
            .await,
        StatusCode::BAD_REQUEST,
        NO_CEREMONY,
    )
    .await;

    // The next registration excludes it, so an authenticator holding it
    // does not make another.
    let options = json_of(
        me.post(&format!("{PASSKEYS}/options")).await,
        StatusCode::OK,
    )
    .await;
    let excluded = &options["publicKey"]["excludeCredentials"];
    assert_eq!(excluded.as_array().unwrap().len(), 1, "{options}");
    assert_eq!(excluded[0]["id"], credential["rawId"]);

    let id = created["id"].as_str().unwrap();
    let renamed = json_of(
        me.patch_json(&format!("{PASSKEYS}/{id}"), json!({"name": "Keychain"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["name"], "Keychain");
    assert_eq!(renamed["created_at"], created["created_at"]);
    assert_eq!(me.get_ok(MFA).await["passkeys"], json!([renamed]));
    let blank = json_of(
        me.patch_json(&format!("{PASSKEYS}/{id}"), json!({"name": "  "}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&blank), ["name"]);
    // Another user's passkey is no passkey of this one's.
    let (_, other) = app.signed_in_user().await;
    assert_detail(
        app.bearer(&other.access)
            .patch_json(&format!("{PASSKEYS}/{id}"), json!({"name": "mine"}))
            .await,
        StatusCode::NOT_FOUND,
        "Passkey not found",
    )
    .await;
}

#[tokio::test]
async fn password_then_passkey_signs_in_and_an_answer_works_once() {
    let app = spawn_app().await;
    let (user, _, listed, mut device) = with_passkey(&app).await;

    let (token, methods) = password_step(&app, &user).await;
    assert_eq!(methods, json!(["webauthn"]));
    let options = step_options(&app, &token).await;
    let allowed = &options["publicKey"]["allowCredentials"];
    assert_eq!(allowed[0]["id"], device.passkey["id"], "{options}");
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let answer = device.answer(&options, HONEST).await;
    let pair = json_of(
        app.post_json(VERIFY, json!({"mfa_token": token, "webauthn": answer}))
            .await,
        StatusCode::OK,
    )
    .await;
    let tokens = Tokens::from_body(&pair);
    let claims = jwt_claims(&tokens.access);
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
    app.assert_verify(&tokens.access, StatusCode::OK).await;
    // The authentication moved the stored counter, and says when.
    assert_eq!(stored_counter(&app, &listed["id"]).await, (1, true));

    // The same answer on a new sign-in: no ceremony waits for it, and with
    // fresh options it signs another challenge.
    let (token, _) = password_step(&app, &user).await;
    let replay = json!({"mfa_token": token, "webauthn": answer});
    assert_detail(
        app.post_json(VERIFY, replay.clone()).await,
        StatusCode::UNAUTHORIZED,
        NO_CEREMONY,
    )
    .await;
    step_options(&app, &token).await;
    assert_detail(
        app.post_json(VERIFY, replay).await,
        StatusCode::UNAUTHORIZED,
        REFUSED,
    )
    .await;
    let failed = app.audit_events(user.id, "mfa_failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["details"]["method"], "webauthn");
    // The token lives on (2 of its 5 attempts spent): a right answer passes.
    let options = step_options(&app, &token).await;
    let answer = device.answer(&options, HONEST).await;
    assert_eq!(
        app.post_json(VERIFY, json!({"mfa_token": token, "webauthn": answer}))
            .await
            .status(),
        StatusCode::OK
    );
    // A page's step token, or none, gets no options.
    assert_detail(
        app.post_json(STEP_OPTIONS, json!({"mfa_token": "AZOeTIt6fD6fAFobLD1OXw"}))
            .await,
        StatusCode::UNAUTHORIZED,
        "Invalid or expired second-factor token",
    )
    .await;
}

#[tokio::test]
async fn an_app_and_a_passkey_both_finish_a_sign_in() {
    let app = spawn_app().await;
    let enrolled = common::mfa::enrolled(&app).await;
    let user = &enrolled.user;
    // An app alone: no passkey to ask for.
    let (token, methods) = password_step(&app, user).await;
    assert_eq!(methods, json!(["totp", "recovery_code"]));
    assert_detail(
        app.post_json(STEP_OPTIONS, json!({ "mfa_token": token }))
            .await,
        StatusCode::CONFLICT,
        "No passkey is registered",
    )
    .await;
    let (_, mut device) = register(&app, &enrolled.tokens.access, "Phone").await;
    let (token, methods) = password_step(&app, user).await;
    assert_eq!(methods, json!(["totp", "recovery_code", "webauthn"]));
    let options = step_options(&app, &token).await;
    let answer = device.answer(&options, HONEST).await;
    let pair = json_of(
        app.post_json(VERIFY, json!({"mfa_token": token, "webauthn": answer}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        jwt_claims(pair["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "hwk", "mfa"])
    );
    // The passkey goes without a check while the app remains.
    let id = app.bearer(&enrolled.tokens.access).get_ok(MFA).await["passkeys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.bearer(&enrolled.tokens.access)
            .delete(&format!("{PASSKEYS}/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_passkey_alone_signs_in_once_per_ceremony() {
    let app = spawn_app().await;
    let (user, _, listed, mut device) = with_passkey(&app).await;

    let (ceremony, options) = sign_in_options(&app).await;
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]));
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert_eq!(options["mediation"], "conditional");
    let answer = device.answer(&options, HONEST).await;
    let pair = json_of(sign_in(&app, &ceremony, &answer).await, StatusCode::OK).await;
    assert_eq!(pair["token_type"], "bearer");
    let tokens = Tokens::from_body(&pair);
    let claims = jwt_claims(&tokens.access);
    assert_eq!(claims["sub"], json!(user.id));
    assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
    app.assert_verify(&tokens.access, StatusCode::OK).await;
    let refreshed = common::pair(app.refresh(&tokens.refresh).await).await;
    assert_eq!(jwt_claims(&refreshed.access)["acr"], "mfa");
    assert!(app
        .audit_events(user.id, "login")
        .await
        .iter()
        .any(|e| e["details"]["amr"] == json!(["hwk", "user", "mfa"])));
    assert_eq!(stored_counter(&app, &listed["id"]).await, (1, true));

    // Replayed: its ceremony is spent.
    assert_detail(
        sign_in(&app, &ceremony, &answer).await,
        StatusCode::UNAUTHORIZED,
        NO_CEREMONY,
    )
    .await;
    // A counter that does not move on, as from a cloned key: refused.
    let (ceremony, options) = sign_in_options(&app).await;
    let cloned = device.answer_at(&options, HONEST, 1).await;
    assert_detail(
        sign_in(&app, &ceremony, &cloned).await,
        StatusCode::UNAUTHORIZED,
        REFUSED,
    )
    .await;
    // Without user verification a passkey alone is one factor: refused.
    let (ceremony, options) = sign_in_options(&app).await;
    let unverified = device
        .answer(
            &options,
            Claim {
                uv: false,
                ..HONEST
            },
        )
        .await;
    assert_detail(
        sign_in(&app, &ceremony, &unverified).await,
        StatusCode::UNAUTHORIZED,
        REFUSED,
    )
    .await;
    assert_eq!(
        app.audit_events_at_least(user.id, "login_failed", 2)
            .await
            .len(),
        2,
        "each refused answer is a failed login of its account"
    );

    // A blocked account is refused, after the passkey passed.
    sqlx::query("UPDATE users SET is_blocked = true WHERE id = $1")
        .bind(user.id)
        .execute(&app.pool)
        .await
        .unwrap();
    let (ceremony, options) = sign_in_options(&app).await;
    let answer = device.answer(&options, HONEST).await;
    assert_detail(
        sign_in(&app, &ceremony, &answer).await,
        StatusCode::FORBIDDEN,
        "User account is blocked.",
    )
    .await;
}

#[tokio::test]
async fn forged_huge_and_misdirected_answers_are_refused_with_4xx() {
    let app = spawn_app().await;
    let (_, tokens, _, mut device) = with_passkey(&app).await;

    // A forged signature.
    let (ceremony, options) = sign_in_options(&app).await;
    let mut forged = device.answer(&options, HONEST).await;
    let mut signature = unb64(&forged["response"]["signature"]);
    let last = signature.len() - 1;
    signature[last] ^= 1;
    forged["response"]["signature"] = json!(b64(&signature));
    assert_detail(
        sign_in(&app, &ceremony, &forged).await,
        StatusCode::UNAUTHORIZED,
        REFUSED,
    )
    .await;
    // Signed for another page, or another relying party.
    for claim in [
        Claim {
            origin: "https://evil.example",
            ..HONEST
        },
        Claim {
            rp_id: Some("evil.example"),
            ..HONEST
        },
    ] {
        let (ceremony, options) = sign_in_options(&app).await;
        let answer = device.answer(&options, claim).await;
        assert_detail(
            sign_in(&app, &ceremony, &answer).await,
            StatusCode::UNAUTHORIZED,
            REFUSED,
        )
        .await;
    }
    // A credential never registered here.
    let me = app.bearer(&tokens.access);
    let creation = json_of(
        me.post(&format!("{PASSKEYS}/options")).await,
        StatusCode::OK,
    )
    .await;
    let (_, mut stranger, _) = create(&creation, HONEST).await;
    let (ceremony, options) = sign_in_options(&app).await;
    let answer = stranger.answer(&options, HONEST).await;
    assert_detail(
        sign_in(&app, &ceremony, &answer).await,
        StatusCode::UNAUTHORIZED,
        UNKNOWN,
    )
    .await;

    // A huge clientDataJSON: refused by name unread, and beyond the body
    // limit refused whole.
    let (ceremony, options) = sign_in_options(&app).await;
    let honest = device.answer(&options, HONEST).await;
    let mut huge = honest.clone();
    huge["response"]["clientDataJSON"] = json!(b64(&vec![b' '; 40_000]));
    let body = json_of(
        sign_in(&app, &ceremony, &huge).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&body), ["credential"]);
    huge["response"]["clientDataJSON"] = json!(b64(&vec![b' '; 100_000]));
    assert_eq!(
        sign_in(&app, &ceremony, &huge).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // A NUL, a malformed credential, a made-up handle: refused by name.
    let mut nul = honest.clone();
    nul["rawId"] = json!("AA\u{0}A");
    for (ceremony, credential, fields) in [
        (ceremony.as_str(), nul, vec!["credential"]),
        (ceremony.as_str(), json!({"id": "x"}), vec!["credential"]),
        (ceremony.as_str(), json!("\u{0}"), vec!["credential"]),
        ("not-a-handle", honest.clone(), vec!["ceremony"]),
        ("\u{0}", json!([]), vec!["ceremony", "credential"]),
    ] {
        let body = json_of(
            sign_in(&app, ceremony, &credential).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&body), fields, "{body}");
    }
    // None of that spent the ceremony: the honest answer still signs in.
    assert_eq!(
        sign_in(&app, &ceremony, &honest).await.status(),
        StatusCode::OK
    );

    // A registration signed for another page is refused too.
    let creation = json_of(
        me.post(&format!("{PASSKEYS}/options")).await,
        StatusCode::OK,
    )
    .await;
    let (misdirected, _, _) = create(
        &creation,
        Claim {
            origin: "https://evil.example",
            ..HONEST
        },
    )
    .await;
    assert_detail(
        me.post_json(PASSKEYS, json!({"name": "evil", "credential": misdirected}))
            .await,
        StatusCode::BAD_REQUEST,
        REFUSED,
    )
    .await;
    assert_eq!(
        me.get_ok(MFA).await["passkeys"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn removing_the_last_passkey_needs_a_fresh_check() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(sink.overrides()).await;
    let (user, tokens, first, mut device) = with_passkey(&app).await;
    let (second, _) = register(&app, &tokens.access, "Spare").await;
    let me = app.bearer(&tokens.access);
    let path = |listed: &Value| format!("{PASSKEYS}/{}", listed["id"].as_str().unwrap());

    // One of two goes without a check.
    assert_eq!(
        me.delete(&path(&second)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_detail(
        me.delete(&path(&second)).await,
        StatusCode::NOT_FOUND,
        "Passkey not found",
    )
    .await;
    // The last one needs one.
    let last = me.delete(&path(&first)).await;
    assert_eq!(last.status(), StatusCode::FORBIDDEN);
    let options = json_of(me.post(&format!("{PASSKEYS}/check")).await, StatusCode::OK).await;
    let mut forged = device.answer(&options, HONEST).await;
    forged["response"]["signature"] = json!(b64(b"not a signature"));
    assert_detail(
        me.send(
            reqwest::Method::DELETE,
            &path(&first),
            Some(json!({ "webauthn": forged })),
        )
        .await,
        StatusCode::BAD_REQUEST,
        REFUSED,
    )
    .await;
    // That answer spent the check; a fresh one passes.
    let options = json_of(me.post(&format!("{PASSKEYS}/check")).await, StatusCode::OK).await;
    let answer = device.answer(&options, HONEST).await;
    assert_eq!(
        me.send(
            reqwest::Method::DELETE,
            &path(&first),
            Some(json!({ "webauthn": answer })),
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(me.get_ok(MFA).await["passkeys"], json!([]));
    assert_eq!(
        app.audit_events_at_least(user.id, "mfa_passkey_removed", 2)
            .await
            .len(),
        2
    );
    // Two "added", two "removed": mails go out concurrently, so they may
    // arrive in any order.
    let mails = sink.wait_for_mails(&user.email, 4).await;
    let removed = mails
        .iter()
        .filter(|mail| {
            mail.contains("A second factor was removed from your account")
                && mail.contains("a passkey was removed")
        })
        .count();
    assert_eq!(removed, 2, "{mails:#?}");
    // No factor left: the password alone signs in again.
    let tokens = app.login(&user).await;
    assert_eq!(jwt_claims(&tokens.access)["amr"], json!(["pwd"]));
}

#[tokio::test]
async fn a_user_without_a_factor_sees_no_change() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    assert_eq!(jwt_claims(&tokens.access)["acr"], "pwd");
    let me = app.bearer(&tokens.access);
    assert_eq!(me.get_ok(MFA).await["passkeys"], json!([]));
    assert_detail(
        me.post(&format!("{PASSKEYS}/check")).await,
        StatusCode::CONFLICT,
        "No passkey is registered",
    )
    .await;
    // Nothing to remove, and a registration never finished leaves nothing.
    json_of(
        me.post(&format!("{PASSKEYS}/options")).await,
        StatusCode::OK,
    )
    .await;
    let tokens = app.login(&user).await;
    assert_eq!(jwt_claims(&tokens.access)["amr"], json!(["pwd"]));
    assert_detail(
        me.delete(&format!("{PASSKEYS}/{}", uuid::Uuid::new_v4()))
            .await,
        StatusCode::NOT_FOUND,
        "Passkey not found",
    )
    .await;
}

#[tokio::test]
async fn an_admin_reset_removes_a_users_passkeys() {
    let app = spawn_app().await;
    let (user, _, _, _) = with_passkey(&app).await;
    let (_, admin_tokens) = app.new_user_with_role("ADMIN").await;
    let as_admin = app.bearer(&admin_tokens.access);
    let admin_mfa = format!("/api/v1/admin/users/{}/mfa", user.id);
    let seen = as_admin.get_ok(&admin_mfa).await;
    assert_eq!(seen["passkeys"][0]["name"], "Laptop", "{seen}");
    assert_eq!(
        as_admin.delete(&admin_mfa).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(as_admin.get_ok(&admin_mfa).await["passkeys"], json!([]));
    // The password alone signs in again.
    let tokens = app.login(&user).await;
    assert_eq!(jwt_claims(&tokens.access)["amr"], json!(["pwd"]));
}
