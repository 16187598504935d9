//! Second factors in administrators' hands: the admin API shows a user's
//! factors and resets them (every factor gone, every session ended with a
//! feed event, audited, mailed), the console shows them with a reset button
//! for ADMINs, and the console's own sign-in asks an account with a factor
//! for its code on a second page. Codes come from pyotp.

mod common;

use common::mfa::{code_at, enrolled, Enrolled, MFA};
use common::pages::{element_text, hidden_inputs, input_value, Page, Visitor};
use common::{gateway_overrides, spawn_app, spawn_app_with, SmtpSink, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

fn admin_mfa(user: Uuid) -> String {
    format!("/api/v1/admin/users/{user}/mfa")
}

fn session_of(access: &str) -> Uuid {
    common::jwt_claims(access)["sid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A user with an authenticator app who signed in with it as well: two
/// live sessions (the password one that set it up, and this one).
async fn enrolled_and_signed_in(app: &TestApp) -> (Enrolled, common::Tokens) {
    let enrolled = enrolled(app).await;
    let code = code_at(&enrolled.uri, enrolled.step).await;
    let tokens = common::mfa::finish_sign_in(app, &enrolled.user, json!({ "code": code })).await;
    (enrolled, tokens)
}

#[tokio::test]
async fn an_admin_resets_a_users_factors_and_every_session_ends() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(gateway_overrides().merge(sink.overrides())).await;
    let (admin, admin_tokens) = app.new_user_with_role("ADMIN").await;
    let (enrolled, mfa_tokens) = enrolled_and_signed_in(&app).await;
    let user = &enrolled.user;
    let as_admin = app.bearer(&admin_tokens.access);

    // The admin sees what the user sees of their own factors.
    let seen = as_admin.get_ok(&admin_mfa(user.id)).await;
    assert_eq!(
        seen,
        json!({"totp": true, "passkeys": [], "recovery_codes_left": 10})
    );
    assert_eq!(seen, app.bearer(&mfa_tokens.access).get_ok(MFA).await);

    let reset = as_admin.delete(&admin_mfa(user.id)).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);

    // Every factor gone.
    assert_eq!(
        as_admin.get_ok(&admin_mfa(user.id)).await,
        json!({"totp": false, "passkeys": [], "recovery_codes_left": 0})
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM user_totp WHERE user_id = $1) \
              + (SELECT count(*) FROM user_recovery_codes WHERE user_id = $1)",
    )
    .bind(user.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(left, 0);

    // Every session ended: access tokens refused at /verify, refresh
    // tokens refused, each session and the user in the feed.
    for tokens in [&enrolled.tokens, &mfa_tokens] {
        app.assert_verify(&tokens.access, StatusCode::UNAUTHORIZED)
            .await;
        app.assert_refresh_refused(&tokens.refresh).await;
        let events = app.revocations_of(session_of(&tokens.access)).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["kind"], "session");
        assert_eq!(events[0]["reason"], "mfa_reset");
    }
    let user_events = app.revocations_of(user.id).await;
    assert!(
        user_events
            .iter()
            .any(|e| e["kind"] == "user" && e["reason"] == "mfa_reset"),
        "{user_events:?}"
    );
    // The admin's own session is untouched.
    app.assert_verify(&admin_tokens.access, StatusCode::OK)
        .await;

    // Audited, by whom.
    let rows = app
        .audit_rows_at_least(
            "SELECT jsonb_build_object('actor_id', actor_id, 'details', details) \
             FROM audit_events WHERE subject_id = $1 AND kind = $2",
            user.id,
            "mfa_reset",
            1,
        )
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["actor_id"], admin.id.to_string());
    assert_eq!(rows[0]["details"]["totp"], true);
    assert_eq!(rows[0]["details"]["recovery_codes"], 10);
    assert_eq!(rows[0]["details"]["sessions_ended"], 2);

    // Mailed to the user.
    let mails = sink.wait_for_mails(&user.email, 2).await;
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Your second factors were reset")),
        "{mails:?}"
    );

    // The user signs in with the password alone again.
    let tokens = app.login(user).await;
    assert_eq!(common::jwt_claims(&tokens.access)["amr"], json!(["pwd"]));
    app.assert_verify(&tokens.access, StatusCode::OK).await;
}

#[tokio::test]
async fn only_an_admin_resets_and_staff_read_factors_of_known_users_only() {
    let app = spawn_app().await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let (_, moderator) = app.new_user_with_role("MODERATOR").await;
    let (regular, regular_tokens) = app.signed_in_user().await;
    let (enrolled, mfa_tokens) = enrolled_and_signed_in(&app).await;
    let path = admin_mfa(enrolled.user.id);

    // A moderator reads factors like the user listing, and resets nothing.
    let read = app.bearer(&moderator.access).get_ok(&path).await;
    assert_eq!(read["totp"], true);
    for tokens in [&moderator, &regular_tokens] {
        let refused = app.bearer(&tokens.access).delete(&path).await;
        common::assert_detail(refused, StatusCode::FORBIDDEN, "Not enough permissions").await;
    }
    let refused = app.bearer(&regular_tokens.access).get(&path).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let anonymous = app.delete(&path).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // Nothing changed for the user.
    app.assert_verify(&mfa_tokens.access, StatusCode::OK).await;
    assert_eq!(app.bearer(&admin.access).get_ok(&path).await["totp"], true);

    // Unknown users are 404, for reading and for resetting.
    let unknown = admin_mfa(Uuid::new_v4());
    let as_admin = app.bearer(&admin.access);
    common::assert_detail(
        as_admin.get(&unknown).await,
        StatusCode::NOT_FOUND,
        "User not found",
    )
    .await;
    common::assert_detail(
        as_admin.delete(&unknown).await,
        StatusCode::NOT_FOUND,
        "User not found",
    )
    .await;
    let malformed = as_admin.get("/api/v1/admin/users/not-a-uuid/mfa").await;
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A user without a factor: a reset still ends the sessions.
    assert_eq!(
        as_admin.delete(&admin_mfa(regular.id)).await.status(),
        StatusCode::NO_CONTENT
    );
    app.assert_verify(&regular_tokens.access, StatusCode::UNAUTHORIZED)
        .await;
}

/// The console's sign-in form, then the password: the answer.
async fn console_password(visitor: &mut Visitor, user: &TestUser) -> Page {
    visitor.sign_in(user).await
}

/// The second page's form, with `fields` for the code (the empty fields a
/// browser sends besides): the answer.
async fn console_code(visitor: &mut Visitor, page: &Page, fields: &[(&str, &str)]) -> Page {
    let hidden = hidden_inputs(&page.body);
    let mut fields = fields.to_vec();
    for name in ["code", "recovery_code"] {
        if fields.iter().all(|(field, _)| *field != name) {
            fields.push((name, ""));
        }
    }
    visitor
        .post_with("/admin/sign-in/second-factor", &hidden, &fields)
        .await
}

#[tokio::test]
async fn the_console_asks_an_account_with_a_factor_for_its_code() {
    let app = spawn_app().await;
    let enrolled = enrolled(&app).await;
    let user = &enrolled.user;
    app.update_user(user.id, "account_role = 'ADMIN'").await;
    let mut visitor = Visitor::new(&app);

    // The right password alone opens no console session: the next page
    // asks for the code, the step's token in a hidden field.
    let second = console_password(&mut visitor, user).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert!(
        second.body.contains("Two-step verification"),
        "{}",
        second.body
    );
    assert!(second
        .body
        .contains("action=\"/admin/sign-in/second-factor\""));
    assert!(!input_value(&second.body, "mfa_token").is_empty());
    assert!(!visitor.cookies.contains_key("tessera_console"));
    // The page's token is not the JSON step's.
    let token = input_value(&second.body, "mfa_token");
    let code = code_at(&enrolled.uri, enrolled.step).await;
    let json_step = app
        .post_json(
            "/api/v1/auth/mfa/verify",
            json!({"mfa_token": token, "code": code}),
        )
        .await;
    assert_eq!(json_step.status(), StatusCode::UNAUTHORIZED);

    // A wrong code: the page again, with the error in words and the same
    // step to go on with.
    let wrong = console_code(&mut visitor, &second, &[("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(
        wrong.body.contains("Invalid second-factor code"),
        "{}",
        wrong.body
    );
    assert_eq!(input_value(&wrong.body, "mfa_token"), token);
    let not_a_code = console_code(&mut visitor, &wrong, &[("code", "12")]).await;
    assert_eq!(not_a_code.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(not_a_code.body.contains("6 digits"), "{}", not_a_code.body);
    assert!(!visitor.cookies.contains_key("tessera_console"));

    // The right code: signed in.
    let done = console_code(&mut visitor, &not_a_code, &[("code", &code)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.header("location"), "/admin/users");
    assert!(visitor.cookies.contains_key("tessera_console"));
    let users = visitor.get("/admin/users").await;
    assert_eq!(users.status, StatusCode::OK);

    // The step is dead now: sending it again starts over from the password.
    let mut other = Visitor::new(&app);
    let again = console_password(&mut other, user).await;
    let mut replay: Vec<(String, String)> = hidden_inputs(&again.body)
        .into_iter()
        .filter(|(name, _)| name != "mfa_token")
        .collect();
    replay.push(("mfa_token".into(), token.clone()));
    let next = code_at(&enrolled.uri, enrolled.step + 30).await;
    let dead = other
        .post_with(
            "/admin/sign-in/second-factor",
            &replay,
            &[("code", &next), ("recovery_code", "")],
        )
        .await;
    assert_eq!(dead.status, StatusCode::UNAUTHORIZED, "{}", dead.body);
    assert!(
        dead.body.contains("Invalid or expired second-factor token"),
        "{}",
        dead.body
    );
    assert!(
        dead.body.contains("action=\"/admin/sign-in\""),
        "{}",
        dead.body
    );
    assert!(!other.cookies.contains_key("tessera_console"));
    // So does a token that is no token at all.
    let garbage: Vec<(String, String)> = replay
        .iter()
        .map(|(n, v)| {
            let v = if n == "mfa_token" {
                "garbage".to_owned()
            } else {
                v.clone()
            };
            (n.clone(), v)
        })
        .collect();
    let dead = other
        .post_with(
            "/admin/sign-in/second-factor",
            &garbage,
            &[("code", &next), ("recovery_code", "")],
        )
        .await;
    assert_eq!(dead.status, StatusCode::UNAUTHORIZED);
    assert!(dead.body.contains("action=\"/admin/sign-in\""));

    // A recovery code finishes a console sign-in too, and without the
    // form's anti-forgery token nothing happens.
    let third = console_password(&mut other, user).await;
    let no_csrf: Vec<(String, String)> = hidden_inputs(&third.body)
        .into_iter()
        .filter(|(name, _)| name != "csrf")
        .collect();
    let forged = other
        .post_with(
            "/admin/sign-in/second-factor",
            &no_csrf,
            &[("code", ""), ("recovery_code", &enrolled.recovery_codes[0])],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let recovered = console_code(
        &mut other,
        &third,
        &[("code", ""), ("recovery_code", &enrolled.recovery_codes[0])],
    )
    .await;
    assert_eq!(
        recovered.status,
        StatusCode::SEE_OTHER,
        "{}",
        recovered.body
    );
    assert!(other.cookies.contains_key("tessera_console"));
    assert_eq!(
        app.audit_events(user.id, "mfa_recovery_code_used")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_regular_user_with_a_factor_gets_no_console_even_with_the_code() {
    let app = spawn_app().await;
    let enrolled = enrolled(&app).await;
    let mut visitor = Visitor::new(&app);
    let second = console_password(&mut visitor, &enrolled.user).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let code = code_at(&enrolled.uri, enrolled.step).await;
    let refused = console_code(&mut visitor, &second, &[("code", &code)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("Not enough permissions"));
    assert!(!visitor.cookies.contains_key("tessera_console"));
}

#[tokio::test]
async fn the_console_shows_a_users_factors_and_an_admin_resets_them() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(sink.overrides()).await;
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let (moderator, _) = app.new_user_with_role("MODERATOR").await;
    let (enrolled, mfa_tokens) = enrolled_and_signed_in(&app).await;
    let path = format!("/admin/users/{}", enrolled.user.id);

    // A moderator sees the factors, and no reset button.
    let mut as_moderator = Visitor::signed_in(&app, &moderator).await;
    let page = as_moderator.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(element_text(&page.body, "factor-totp"), "On");
    assert_eq!(element_text(&page.body, "factor-recovery-codes"), "10");
    assert_eq!(element_text(&page.body, "factor-passkeys"), "0");
    assert!(!page.body.contains("Reset second factors"));
    let csrf = input_value(&page.body, "csrf");
    let refused = as_moderator
        .post_form(&path, &[("csrf", &csrf), ("action", "reset_mfa")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    app.assert_verify(&mfa_tokens.access, StatusCode::OK).await;

    // An admin sees the button; the form needs the page's token.
    let mut as_admin = Visitor::signed_in(&app, &admin).await;
    let page = as_admin.get(&path).await;
    assert!(page.body.contains("Reset second factors"), "{}", page.body);
    let forged = as_admin
        .post_form(&path, &[("csrf", "not-the-token"), ("action", "reset_mfa")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    app.assert_verify(&mfa_tokens.access, StatusCode::OK).await;

    let csrf = input_value(&page.body, "csrf");
    let reset = as_admin
        .post_form(&path, &[("csrf", &csrf), ("action", "reset_mfa")])
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.body);
    assert_eq!(reset.header("location"), format!("{path}?done=mfa_reset"));
    let after = as_admin.get(&format!("{path}?done=mfa_reset")).await;
    assert!(
        after.body.contains("Second factors reset"),
        "{}",
        after.body
    );
    assert_eq!(element_text(&after.body, "factor-totp"), "Off");
    assert_eq!(element_text(&after.body, "factor-recovery-codes"), "0");
    app.assert_verify(&mfa_tokens.access, StatusCode::UNAUTHORIZED)
        .await;
    app.assert_refresh_refused(&mfa_tokens.refresh).await;
    let events = app.audit_events(enrolled.user.id, "mfa_reset").await;
    assert_eq!(events.len(), 1);
    sink.wait_for_mails(&enrolled.user.email, 2).await;
    // And the user is back to the password alone.
    let tokens = app.login(&enrolled.user).await;
    app.assert_verify(&tokens.access, StatusCode::OK).await;
}
