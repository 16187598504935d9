//! Second factors over HTTP: enrolment under `/api/v1/users/me/mfa`
//! (access token), and the sign-in's second step at
//! `/api/v1/auth/mfa/verify`, which answers in the shape of the login that
//! asked for it (the JSON pair, or RFC 6749 §5.1 / §5.2 for the password
//! grant).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::TokenResponse;
use super::error::{ApiError, OAuthApiError};
use super::extract::{Authenticated, Body, Client, DpopHeader, Parse, Valid};
use super::oauth::AccessTokenResponse;
use super::responses as doc;
use super::AppState;
use crate::auth::{AuthError, Door, MfaToken, TokenPair};
use crate::dpop::{Checked, DpopCheckError};
use crate::mfa::{Assertion, Overview, PasskeySummary, Proof, RecoveryCode, TotpCode};
use crate::oauth::{IssuedTokens, OAuthError};
use crate::validation::{all, FieldError, Shaped, Text, ValidationErrors};

/// Under `/api/v1/users`.
pub fn enrolment_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(mfa_overview))
        .routes(routes!(start_totp, remove_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(regenerate_recovery_codes))
}

/// Under `/api/v1/auth`.
pub fn sign_in_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(verify_second_factor))
}

/// The path a DPoP proof for the second step names.
const VERIFY_PATH: &str = "/api/v1/auth/mfa/verify";

/// `GET /users/me/mfa`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"totp": true, "passkeys": [
    {"id": "01939e4c-8b7a-7c3e-9f00-5a1b2c3d4e5f", "name": "YubiKey 5C", "created_at": "2026-12-07T10:00:00Z"}
], "recovery_codes_left": 10}))]
pub(super) struct MfaOverview {
    /// An authenticator app is set up (and confirmed).
    totp: bool,
    /// The passkeys, oldest first.
    passkeys: Vec<PasskeyBody>,
    /// Recovery codes not used yet.
    recovery_codes_left: u32,
}

impl From<Overview> for MfaOverview {
    fn from(overview: Overview) -> Self {
        Self {
            totp: overview.totp,
            passkeys: overview.passkeys.into_iter().map(Into::into).collect(),
            recovery_codes_left: overview.recovery_codes_left,
        }
    }
}

/// One passkey, as its owner sees it.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "01939e4c-8b7a-7c3e-9f00-5a1b2c3d4e5f", "name": "YubiKey 5C", "created_at": "2026-12-07T10:00:00Z"}))]
pub(super) struct PasskeyBody {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<PasskeySummary> for PasskeyBody {
    fn from(listed: PasskeySummary) -> Self {
        Self {
            id: listed.id,
            name: listed.name,
            created_at: listed.created_at,
        }
    }
}

/// The caller's second factors.
#[utoipa::path(get, path = "/me/mfa", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = MfaOverview), doc::Credentials))]
async fn mfa_overview(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<MfaOverview>, ApiError> {
    Ok(Json(state.mfa.overview(claims.sub).await?.into()))
}

/// `POST /users/me/mfa/totp`: what to put in the authenticator app, shown
/// this once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "otpauth_uri": "otpauth://totp/tessera:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=tessera",
    "qr_svg": "<?xml version=\"1.0\" standalone=\"yes\"?><svg ...></svg>"
}))]
struct TotpEnrolment {
    /// The secret in base32, to type in by hand.
    secret: String,
    otpauth_uri: String,
    /// The URI as a QR code (SVG).
    qr_svg: String,
}

/// Starts setting up an authenticator app (RFC 6238: SHA-1, 6 digits,
/// 30 s). It is pending until `POST /me/mfa/totp/confirm` with a first
/// code; starting again replaces a pending one.
#[utoipa::path(post, path = "/me/mfa/totp", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, body = TotpEnrolment),
        doc::Conflict, doc::Credentials))]
async fn start_totp(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
) -> Result<Json<TotpEnrolment>, ApiError> {
    let shown = state.mfa.start_totp(claims.sub, &client).await?;
    Ok(Json(TotpEnrolment {
        secret: shown.secret,
        otpauth_uri: shown.uri,
        qr_svg: shown.qr_svg,
    }))
}

/// `POST /users/me/mfa/totp/confirm`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"code": "123456"}))]
struct ConfirmTotpRequest {
    /// The 6 digits the app shows now.
    #[schema(value_type = String)]
    code: Text,
}

impl Parse for ConfirmTotpRequest {
    type Output = TotpCode;

    fn parse(self) -> Result<TotpCode, ValidationErrors> {
        Ok(self.code.required("code", |c| TotpCode::parse(&c))?)
    }
}

/// Recovery codes, shown this once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"recovery_codes": ["abcd-efgh-ijkl-mnop", "qrst-uvwx-yz23-4567"]}))]
struct RecoveryCodes {
    /// Each works once, instead of a code from the app.
    recovery_codes: Vec<String>,
}

/// Confirms the pending authenticator app with its first code (used up
/// like any other): from now on sign-ins ask for a code. Answers 10
/// recovery codes, shown this once. A wrong code counts against the
/// account like a wrong password.
#[utoipa::path(post, path = "/me/mfa/totp/confirm", tag = "users", security(("bearer" = [])),
    request_body = ConfirmTotpRequest,
    responses(
        (status = 200, body = RecoveryCodes),
        doc::BadRequest, doc::Conflict, doc::Credentials, doc::JsonBody, doc::Limited))]
async fn confirm_totp(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Valid(code): Valid<ConfirmTotpRequest>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let recovery_codes = state.mfa.confirm_totp(claims.sub, code, &client).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// A second factor in a body: `code` (the app's) or `recovery_code`,
/// exactly one.
fn proof(code: Text, recovery_code: Text) -> Result<Proof, ValidationErrors> {
    let (code, recovery_code) = all((
        code.optional("code", |c| TotpCode::parse(&c)),
        recovery_code.optional("recovery_code", |c| RecoveryCode::parse(&c)),
    ))?;
    match (code, recovery_code) {
        (Some(code), None) => Ok(Proof::Totp(code)),
        (None, Some(code)) => Ok(Proof::Recovery(code)),
        (None, None) => Err(ValidationErrors::single(FieldError::missing("code"))),
        (Some(_), Some(_)) => Err(ValidationErrors::single(FieldError::rule(
            "recovery_code",
            "Send a code or a recovery code, not both.",
        ))),
    }
}

/// A second factor in a body: `code`, `recovery_code` or `webauthn` (a
/// passkey's answer), exactly one.
pub(super) fn any_proof(
    code: Text,
    recovery_code: Text,
    webauthn: Shaped,
) -> Result<Proof, ValidationErrors> {
    let codes = !matches!(
        (&code, &recovery_code),
        (Text::Absent | Text::Null, Text::Absent | Text::Null)
    );
    match webauthn.object("webauthn", Assertion::parse)? {
        None => proof(code, recovery_code),
        Some(answer) if !codes => Ok(Proof::Passkey(answer)),
        Some(_) => Err(ValidationErrors::single(FieldError::rule(
            "webauthn",
            "Send a code, a recovery code or a passkey's answer, one of them.",
        ))),
    }
}

/// `DELETE /users/me/mfa/totp`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"code": "123456"}))]
struct RemoveTotpRequest {
    /// A code from the app now (or, instead, `recovery_code`).
    #[schema(value_type = Option<String>)]
    code: Text,
    #[schema(value_type = Option<String>)]
    recovery_code: Text,
}

impl Parse for RemoveTotpRequest {
    type Output = Proof;

    fn parse(self) -> Result<Proof, ValidationErrors> {
        proof(self.code, self.recovery_code)
    }
}

/// Removes the authenticator app and its recovery codes. The last factor
/// goes only with a valid code now (a pending set-up needs none).
#[utoipa::path(delete, path = "/me/mfa/totp", tag = "users", security(("bearer" = [])),
    request_body = RemoveTotpRequest,
    responses(
        (status = 204, description = "Removed"),
        doc::BadRequest, doc::Conflict, doc::Credentials, doc::JsonBody, doc::Limited))]
async fn remove_totp(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Valid(proof): Valid<RemoveTotpRequest>,
) -> Result<StatusCode, ApiError> {
    state.mfa.remove_totp(claims.sub, proof, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /users/me/mfa/recovery-codes`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"code": "123456"}))]
struct RegenerateCodesRequest {
    /// A code from the app now (or, instead, `recovery_code`).
    #[schema(value_type = Option<String>)]
    code: Text,
    #[schema(value_type = Option<String>)]
    recovery_code: Text,
}

impl Parse for RegenerateCodesRequest {
    type Output = Proof;

    fn parse(self) -> Result<Proof, ValidationErrors> {
        proof(self.code, self.recovery_code)
    }
}

/// A new set of 10 recovery codes, shown this once; the old ones stop
/// working.
#[utoipa::path(post, path = "/me/mfa/recovery-codes", tag = "users", security(("bearer" = [])),
    request_body = RegenerateCodesRequest,
    responses(
        (status = 200, body = RecoveryCodes),
        doc::BadRequest, doc::Conflict, doc::Credentials, doc::JsonBody, doc::Limited))]
async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Valid(proof): Valid<RegenerateCodesRequest>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let recovery_codes = state
        .mfa
        .regenerate_recovery_codes(claims.sub, proof, &client)
        .await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// `POST /auth/mfa/verify`, as JSON or a form.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"mfa_token": "AdGhpcyBpcyBub3QgYSByZWFsIHRva2VuLCBqdXN0IGRvY3M", "code": "123456"}))]
struct MfaVerifyRequest {
    /// From the login's `MFA_REQUIRED` answer.
    #[schema(value_type = String)]
    mfa_token: Text,
    /// The 6 digits the authenticator app shows (or `recovery_code`).
    #[schema(value_type = Option<String>)]
    code: Text,
    /// One of the recovery codes, instead of `code`.
    #[schema(value_type = Option<String>)]
    recovery_code: Text,
    /// A passkey's answer to `POST /mfa/webauthn/options`
    /// (`PublicKeyCredential.toJSON()`), instead of `code`.
    #[schema(value_type = Option<Object>)]
    webauthn: Shaped,
}

impl MfaVerifyRequest {
    /// The login the token came from, if it reads as one: its answers'
    /// shape.
    fn door(&self) -> Door {
        match &self.mfa_token {
            Text::Given(token) => MfaToken::parse(token).map(|t| t.door()),
            _ => None,
        }
        .unwrap_or_default()
    }
}

impl Parse for MfaVerifyRequest {
    type Output = (String, Proof);

    fn parse(self) -> Result<(String, Proof), ValidationErrors> {
        all((
            self.mfa_token
                .required_text("mfa_token")
                .map_err(ValidationErrors::single),
            any_proof(self.code, self.recovery_code, self.webauthn),
        ))
    }
}

/// Why the second step failed, before it is shaped for its door.
enum Failure {
    Invalid(ValidationErrors),
    Auth(AuthError),
    Dpop(DpopCheckError),
}

/// Finishes a sign-in that answered `MFA_REQUIRED`: the `mfa_token` and a
/// code from the authenticator app, a recovery code, or a passkey's answer
/// to `POST /mfa/webauthn/options`. The token is
/// single-use, lives 5 minutes and takes at most 5 codes; wrong codes also
/// count against the account like wrong passwords. Answers in the shape of
/// the login that asked: the token pair of `/login`, or RFC 6749 §5.1
/// (errors per §5.2) for the OAuth password grant. A login with a `DPoP`
/// proof is finished only with a proof by the same key.
#[utoipa::path(post, path = "/mfa/verify", tag = "auth",
    request_body(content(
        (MfaVerifyRequest = "application/json"),
        (MfaVerifyRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The pair the login would have answered (`TokenResponse`, or `AccessTokenResponse` for the password grant)", body = TokenResponse),
        doc::Credentials, doc::JsonBody, doc::Limited))]
async fn verify_second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    dpop: DpopHeader,
    Body(body): Body<MfaVerifyRequest>,
) -> Response {
    let door = body.door();
    let finished = async {
        let (token, proof) = body.parse().map_err(Failure::Invalid)?;
        let dpop = dpop
            .check(&state, "POST", VERIFY_PATH)
            .await
            .map_err(Failure::Dpop)?;
        // A page's step is finished by the page's own form.
        let token = MfaToken::parse(&token)
            .filter(|t| t.door() != Door::Page)
            .ok_or(Failure::Auth(AuthError::InvalidMfaToken))?;
        state
            .auth
            .finish_sign_in(&token, proof, &client, dpop.as_ref().map(Checked::jkt))
            .await
            .map_err(Failure::Auth)
    }
    .await;
    match door {
        Door::Login | Door::Page => login_answer(finished),
        Door::PasswordGrant => grant_answer(finished),
    }
}

fn login_answer(finished: Result<TokenPair, Failure>) -> Response {
    match finished {
        Ok(pair) => Json(TokenResponse::from(pair)).into_response(),
        Err(Failure::Invalid(errors)) => ApiError::from(errors).into_response(),
        Err(Failure::Auth(e)) => ApiError::from(e).into_response(),
        Err(Failure::Dpop(e)) => ApiError::from(e).into_response(),
    }
}

fn grant_answer(finished: Result<TokenPair, Failure>) -> Response {
    let refused = match finished {
        Ok(pair) => {
            return Json(AccessTokenResponse::from(IssuedTokens::from(pair))).into_response()
        }
        Err(Failure::Invalid(errors)) => OAuthApiError::invalid_body(errors),
        Err(Failure::Auth(e)) => OAuthError::from(e).into(),
        Err(Failure::Dpop(DpopCheckError::Proof(why))) => OAuthError::InvalidDpopProof(why).into(),
        Err(Failure::Dpop(DpopCheckError::Redis(e))) => ApiError::from(e).into(),
    };
    refused.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn verify_body(body: serde_json::Value) -> Result<(String, Proof), ValidationErrors> {
        serde_json::from_value::<MfaVerifyRequest>(body)
            .unwrap()
            .parse()
    }

    #[test]
    fn a_second_factor_is_a_code_or_a_recovery_code_never_both() {
        let (token, proof) = verify_body(json!({"mfa_token": "t", "code": "123 456"})).unwrap();
        assert_eq!(token, "t");
        assert_eq!(proof, Proof::Totp(TotpCode::parse("123456").unwrap()));
        let (_, proof) =
            verify_body(json!({"mfa_token": "t", "recovery_code": "ABCD-efgh-ijkl-mnop"})).unwrap();
        assert!(matches!(proof, Proof::Recovery(_)));
        let both = verify_body(
            json!({"mfa_token": "t", "code": "123456", "recovery_code": "abcd-efgh-ijkl-mnop"}),
        );
        assert_eq!(both.unwrap_err().0[0].field, "recovery_code");
        let errors = verify_body(json!({})).unwrap_err().0;
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["mfa_token", "code"]);
    }

    #[test]
    fn hostile_codes_are_refused_by_name() {
        for code in ["1234567", "12345\u{0}", "abcdef", &"9".repeat(20_000)] {
            let errors = verify_body(json!({"mfa_token": "t", "code": code}))
                .unwrap_err()
                .0;
            assert_eq!(errors[0].field, "code", "{code:?}");
        }
        let errors = verify_body(json!({"mfa_token": "t\u{0}", "code": 123456}))
            .unwrap_err()
            .0;
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["mfa_token", "code"]);
    }
}
