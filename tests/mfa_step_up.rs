//! Step-up at the forward-auth check (RFC 9470): a gateway route that
//! demands a second factor (`/verify?acr=mfa`) or a recent sign-in
//! (`&max_age=`) turns away a password-only session with the
//! `insufficient_user_authentication` challenge, lets a session that showed
//! an authenticator code or a recovery code through, and tells the gateway
//! how the user signed in (`X-User-AMR`). Codes come from pyotp.

mod common;

use std::time::Duration;

use common::mfa::{code_at, enrolled, finish_sign_in};
use common::{error_fields, json_of, spawn_app, TestApp};
use reqwest::{Response, StatusCode};
use serde_json::json;

const SECOND_FACTOR_REQUIRED: &str = "This route requires a sign-in with a second factor";
const RECENT_SIGN_IN_REQUIRED: &str = "This route requires a more recent sign-in";

/// The RFC 9470 challenge for a route demanding `acr_values` and `max_age`.
fn challenge(acr: bool, max_age: Option<u64>) -> String {
    let why = if acr {
        SECOND_FACTOR_REQUIRED
    } else {
        RECENT_SIGN_IN_REQUIRED
    };
    let mut challenge =
        format!(r#"Bearer error="insufficient_user_authentication", error_description="{why}""#);
    if acr {
        challenge.push_str(r#", acr_values="mfa""#);
    }
    if let Some(max_age) = max_age {
        challenge.push_str(&format!(", max_age={max_age}"));
    }
    challenge
}

/// `/verify{query}` refuses `token` with the step-up challenge.
async fn assert_step_up(app: &TestApp, query: &str, token: &str, acr: bool, max_age: Option<u64>) {
    let response = app.verify_with(query, token).await;
    let challenges: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(challenges, [challenge(acr, max_age)], "{query}");
    assert!(response.headers().get("x-user-id").is_none(), "{query}");
    let why = if acr {
        SECOND_FACTOR_REQUIRED
    } else {
        RECENT_SIGN_IN_REQUIRED
    };
    assert_eq!(
        json_of(response, StatusCode::UNAUTHORIZED).await,
        json!({ "detail": why }),
        "{query}"
    );
}

/// `/verify{query}` lets `token` through; its `X-User-AMR`.
async fn passes(app: &TestApp, query: &str, token: &str) -> String {
    let response: Response = app.verify_with(query, token).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    assert!(response.headers().get("x-user-id").is_some(), "{query}");
    response.headers()["x-user-amr"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_password_alone_is_turned_away_where_a_route_demands_a_second_factor() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    // No demand: through, as before, saying how the user signed in.
    assert_eq!(passes(&app, "", &tokens.access).await, "pwd");
    assert_eq!(passes(&app, "?max_age=300", &tokens.access).await, "pwd");

    assert_step_up(&app, "?acr=mfa", &tokens.access, true, None).await;
    assert_step_up(
        &app,
        "?acr=mfa&max_age=300",
        &tokens.access,
        true,
        Some(300),
    )
    .await;
    // Only the sign-in's age demanded: a second later, max_age=0 is too old.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_step_up(&app, "?max_age=0", &tokens.access, false, Some(0)).await;
    // A wider window still holds it.
    assert_eq!(passes(&app, "?max_age=60", &tokens.access).await, "pwd");
}

#[tokio::test]
async fn an_authenticator_code_passes_the_step_up_until_max_age_runs_out() {
    let app = spawn_app().await;
    let enrolled = enrolled(&app).await;
    // The session that set the app up was opened with the password alone.
    assert_step_up(&app, "?acr=mfa", &enrolled.tokens.access, true, None).await;

    let code = code_at(&enrolled.uri, enrolled.step).await;
    let tokens = finish_sign_in(&app, &enrolled.user, json!({ "code": code })).await;
    assert_eq!(
        passes(&app, "?acr=mfa", &tokens.access).await,
        "pwd otp mfa"
    );
    assert_eq!(
        passes(&app, "?acr=mfa&max_age=300", &tokens.access).await,
        "pwd otp mfa"
    );
    // A refresh keeps how and when the user signed in.
    let refreshed = common::pair(app.refresh(&tokens.refresh).await).await;
    assert_eq!(
        passes(&app, "?acr=mfa&max_age=300", &refreshed.access).await,
        "pwd otp mfa"
    );
    // Older than the route allows: the same challenge, naming max_age.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_step_up(&app, "?acr=mfa&max_age=0", &refreshed.access, true, Some(0)).await;
}

#[tokio::test]
async fn a_recovery_code_counts_as_a_second_factor() {
    let app = spawn_app().await;
    let enrolled = enrolled(&app).await;
    let recovery_code = &enrolled.recovery_codes[0];
    let tokens = finish_sign_in(
        &app,
        &enrolled.user,
        json!({ "recovery_code": recovery_code }),
    )
    .await;
    assert_eq!(passes(&app, "?acr=mfa", &tokens.access).await, "pwd mfa");
}

#[tokio::test]
async fn a_demand_tessera_cannot_judge_is_refused_by_name() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    for (query, field) in [
        ("?acr=pwd", "acr"),
        ("?acr=MFA", "acr"),
        ("?acr=urn:mace:incommon:iap:silver", "acr"),
        ("?acr=mfa%00", "acr"),
        ("?max_age=soon", "max_age"),
        ("?max_age=-1", "max_age"),
        ("?max_age=1.5", "max_age"),
        ("?max_age=%2B60", "max_age"),
        ("?max_age=315360001", "max_age"),
        ("?max_age=99999999999999999999999", "max_age"),
        ("?max_age=60%00", "max_age"),
        ("?acr=mfa&max_age=%00", "max_age"),
    ] {
        let body = json_of(
            app.verify_with(query, &tokens.access).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&body), [&json!(field)], "{query}: {body}");
        assert_eq!(body["detail"][0]["loc"][0], "query", "{query}: {body}");
    }
    // The largest max_age is fine.
    assert_eq!(
        passes(&app, "?max_age=315360000", &tokens.access).await,
        "pwd"
    );
}
