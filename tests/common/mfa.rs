//! Second factors' harness (tests/mfa.rs, tests/mfa_step_up.rs,
//! tests/mfa_admin.rs, tests/gateway.rs): TOTP codes computed by pyotp, an
//! independent implementation that scans the otpauth:// URI tessera shows,
//! a user who set up an authenticator app, and the login's `MFA_REQUIRED`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::json;

use super::{json_of, TestApp, TestUser, Tokens};

pub const MFA: &str = "/api/v1/users/me/mfa";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The start of a 30 s time step with at least 10 s of it left (waiting
/// for the next one if need be), so codes of the step before, this one and
/// the next are all accepted for the rest of a story.
pub async fn fresh_step() -> u64 {
    if 30 - now() % 30 < 10 {
        tokio::time::sleep(Duration::from_secs(30 - now() % 30)).await;
    }
    now() / 30 * 30
}

/// pyotp's codes for the app `uri` describes, at each of `times`.
pub async fn codes(uri: &str, times: &[u64]) -> Vec<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/totp_code.py");
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(super::venv_python())
            .arg(script)
            .arg(uri)
            .args(times.iter().map(u64::to_string))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("pyotp answers within 30 s")
    .expect("the virtualenv's python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub async fn code_at(uri: &str, time: u64) -> String {
    codes(uri, &[time]).await.remove(0)
}

/// A user who set up an authenticator app, confirmed with the code of the
/// step before `step`, so the codes of `step` and the next one are unused.
pub struct Enrolled {
    pub user: TestUser,
    /// The sign-in that set it up.
    pub tokens: Tokens,
    pub uri: String,
    pub recovery_codes: Vec<String>,
    pub step: u64,
}

pub async fn enrolled(app: &TestApp) -> Enrolled {
    let (user, tokens) = app.signed_in_user().await;
    let step = fresh_step().await;
    let me = app.bearer(&tokens.access);
    let started = json_of(me.post(&format!("{MFA}/totp")).await, StatusCode::OK).await;
    let uri = started["otpauth_uri"].as_str().unwrap().to_owned();
    let code = code_at(&uri, step - 30).await;
    let confirmed = json_of(
        me.post_json(&format!("{MFA}/totp/confirm"), json!({ "code": code }))
            .await,
        StatusCode::OK,
    )
    .await;
    let recovery_codes = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    Enrolled {
        user,
        tokens,
        uri,
        recovery_codes,
        step,
    }
}

/// A JSON login with a factor: its `mfa_token`, checking the 401's shape.
pub async fn mfa_token(app: &TestApp, user: &TestUser) -> String {
    let response = app
        .login_json(json!({"email": user.email, "password": user.password}))
        .await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body = json_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["detail"], "Second factor required");
    assert_eq!(body["error_code"], "MFA_REQUIRED");
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(body.as_object().unwrap().len(), 4, "{body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

/// Finishes a sign-in at `/auth/mfa/verify` with `proof` (`{"code"}` or
/// `{"recovery_code"}`): the pair.
pub async fn finish_sign_in(app: &TestApp, user: &TestUser, proof: serde_json::Value) -> Tokens {
    let mut body = proof;
    body["mfa_token"] = json!(mfa_token(app, user).await);
    let pair = json_of(
        app.post_json("/api/v1/auth/mfa/verify", body).await,
        StatusCode::OK,
    )
    .await;
    Tokens::from_body(&pair)
}
