//! Passkeys over HTTP: enrolment under `/api/v1/users/me/mfa/passkeys`
//! (access token), a passkey as a sign-in's second step
//! (`/api/v1/auth/mfa/webauthn/options`, answered at `/auth/mfa/verify`),
//! and a sign-in with a passkey alone (`/api/v1/auth/passkey/options` and
//! `/finish`). Options are webauthn-rs's, as JSON: the binary fields are
//! base64url, to decode before `navigator.credentials.create` / `get` (or
//! to pass to `PublicKeyCredential.parseCreationOptionsFromJSON`); answers
//! are `PublicKeyCredential.toJSON()`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use webauthn_rs::prelude::{
    CreationChallengeResponse, RegisterPublicKeyCredential, RequestChallengeResponse,
};

use super::auth::TokenResponse;
use super::error::ApiError;
use super::extract::{Authenticated, Client, DpopHeader, Parse, PathUuid, Valid};
use super::mfa::{any_proof, PasskeyBody};
use super::responses as doc;
use super::AppState;
use crate::auth::{AuthError, Door, MfaToken, Opening};
use crate::mfa::passkey::{self, PasskeyName, SignInHandle};
use crate::mfa::{Assertion, Ceremony, PasskeyError, Proof};
use crate::validation::{all, Shaped, Text, ValidationErrors};

/// Under `/api/v1/users`.
pub(super) fn enrolment_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(passkey_registration_options))
        .routes(routes!(register_passkey))
        .routes(routes!(rename_passkey, remove_passkey))
        .routes(routes!(passkey_check_options))
}

/// Under `/api/v1/auth`.
pub(super) fn sign_in_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(passkey_step_options))
        .routes(routes!(passkey_sign_in_options))
        .routes(routes!(passkey_sign_in))
}

/// The path a DPoP proof for a passwordless sign-in names.
const SIGN_IN_PATH: &str = "/api/v1/auth/passkey/finish";

/// `navigator.credentials.create`'s options (`{"publicKey": {...}}`).
#[derive(Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = json!({"publicKey": {
    "rp": {"id": "auth.example.com", "name": "tessera"},
    "user": {"id": "AZOeTIt6fD6fAFobLD1OXw", "name": "alice", "displayName": "alice"},
    "challenge": "mR4pTDAgp6Wv1lRhV7Hc4kPbX2yQx2lJbV8oQe5n0gA",
    "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
    "timeout": 300000,
    "authenticatorSelection": {"residentKey": "required", "requireResidentKey": true, "userVerification": "required"},
    "attestation": "none"
}}), value_type = Object)]
struct CreationOptions(CreationChallengeResponse);

/// `navigator.credentials.get`'s options (`{"publicKey": {...}}`, and
/// `mediation` for a passwordless sign-in).
#[derive(Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = json!({"publicKey": {
    "challenge": "dG8gYmUgc2lnbmVkIGJ5IHRoZSBwYXNza2V5LCBmb3IgZG9jcw",
    "timeout": 300000,
    "rpId": "auth.example.com",
    "allowCredentials": [{"type": "public-key", "id": "q1n2Xy3dZ4"}],
    "userVerification": "required"
}}), value_type = Object)]
struct RequestOptions(RequestChallengeResponse);

/// Starts registering a passkey: the options for
/// `navigator.credentials.create`. The caller's passkeys are excluded; the
/// credential must be discoverable (it can sign in alone) and verify its
/// user. Finish within 5 minutes at `POST /me/mfa/passkeys`; starting again
/// replaces a registration in progress.
#[utoipa::path(post, path = "/me/mfa/passkeys/options", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = CreationOptions), doc::Credentials))]
async fn passkey_registration_options(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
) -> Result<Json<CreationOptions>, ApiError> {
    let options = state
        .mfa
        .start_passkey_registration(claims.sub, &client)
        .await?;
    Ok(Json(CreationOptions(options)))
}

/// `POST /users/me/mfa/passkeys`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "YubiKey 5C", "credential": {
    "id": "q1n2Xy3dZ4", "rawId": "q1n2Xy3dZ4", "type": "public-key",
    "response": {"attestationObject": "o2NmbXRkbm9uZ...", "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIi..."}
}}))]
struct RegisterPasskeyRequest {
    /// What to call it (1 to 64 characters).
    #[schema(value_type = String)]
    name: Text,
    /// `navigator.credentials.create`'s answer, `PublicKeyCredential.toJSON()`.
    #[schema(value_type = Object)]
    credential: Shaped,
}

impl Parse for RegisterPasskeyRequest {
    type Output = (PasskeyName, Box<RegisterPublicKeyCredential>);

    fn parse(self) -> Result<Self::Output, ValidationErrors> {
        let (name, credential) = all((
            self.name.required("name", |n| PasskeyName::parse(&n)),
            self.credential.object("credential", passkey::registration),
        ))?;
        match credential {
            Some(credential) => Ok((name, credential)),
            None => Err(ValidationErrors::single(
                crate::validation::FieldError::missing("credential"),
            )),
        }
    }
}

/// Finishes registering a passkey with the authenticator's answer to the
/// options of `POST /me/mfa/passkeys/options`: from now on sign-ins may
/// ask for it (and it can sign in alone).
#[utoipa::path(post, path = "/me/mfa/passkeys", tag = "users", security(("bearer" = [])),
    request_body = RegisterPasskeyRequest,
    responses(
        (status = 201, body = PasskeyBody),
        doc::BadRequest, doc::Conflict, doc::Credentials, doc::JsonBody))]
async fn register_passkey(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Valid((name, credential)): Valid<RegisterPasskeyRequest>,
) -> Result<(StatusCode, Json<PasskeyBody>), ApiError> {
    let listed = state
        .mfa
        .finish_passkey_registration(claims.sub, name, &credential, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(listed.into())))
}

/// `PATCH /users/me/mfa/passkeys/{id}`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "Laptop"}))]
struct RenamePasskeyRequest {
    #[schema(value_type = String)]
    name: Text,
}

impl Parse for RenamePasskeyRequest {
    type Output = PasskeyName;

    fn parse(self) -> Result<PasskeyName, ValidationErrors> {
        Ok(self.name.required("name", |n| PasskeyName::parse(&n))?)
    }
}

/// Renames one of the caller's passkeys.
#[utoipa::path(patch, path = "/me/mfa/passkeys/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The passkey's id")),
    request_body = RenamePasskeyRequest,
    responses(
        (status = 200, body = PasskeyBody),
        doc::NotFound, doc::Credentials, doc::JsonBody))]
async fn rename_passkey(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    PathUuid(id): PathUuid,
    Valid(name): Valid<RenamePasskeyRequest>,
) -> Result<Json<PasskeyBody>, ApiError> {
    let listed = state
        .mfa
        .rename_passkey(claims.sub, id, name, &client)
        .await?;
    Ok(Json(listed.into()))
}

/// `DELETE /users/me/mfa/passkeys/{id}`: a fresh check, needed for the
/// last second factor only.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"webauthn": {
    "id": "q1n2Xy3dZ4", "rawId": "q1n2Xy3dZ4", "type": "public-key",
    "response": {"authenticatorData": "SZYN5YgOjGh0NBcP...", "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0Ii...", "signature": "MEUCIQ...", "userHandle": "AZOeTIt6fD6fAFobLD1OXw"}
}}))]
struct RemovePasskeyRequest {
    /// A passkey's answer to `POST /me/mfa/passkeys/check` (or, instead,
    /// `code` or `recovery_code`).
    #[schema(value_type = Option<Object>)]
    webauthn: Shaped,
    #[schema(value_type = Option<String>)]
    code: Text,
    #[schema(value_type = Option<String>)]
    recovery_code: Text,
}

impl Parse for RemovePasskeyRequest {
    type Output = Option<Proof>;

    fn parse(self) -> Result<Option<Proof>, ValidationErrors> {
        let given = |t: &Text| !matches!(t, Text::Absent | Text::Null);
        if !given(&self.code)
            && !given(&self.recovery_code)
            && matches!(self.webauthn, Shaped::Absent | Shaped::Null)
        {
            return Ok(None);
        }
        any_proof(self.code, self.recovery_code, self.webauthn).map(Some)
    }
}

/// Removes one of the caller's passkeys. The last second factor goes only
/// with a fresh check: a passkey's answer to `POST /me/mfa/passkeys/check`,
/// or a code of the authenticator app, or a recovery code (a wrong one
/// counts against the account like a wrong password).
#[utoipa::path(delete, path = "/me/mfa/passkeys/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The passkey's id")),
    request_body = RemovePasskeyRequest,
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "The last second factor, and no fresh check", body = super::error::Detail,
            example = json!(doc::example(PasskeyError::LastFactor))),
        doc::BadRequest, doc::NotFound, doc::Credentials, doc::JsonBody, doc::Limited))]
async fn remove_passkey(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    PathUuid(id): PathUuid,
    Valid(proof): Valid<RemovePasskeyRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .mfa
        .remove_passkey(claims.sub, id, proof, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Options to check one of the caller's passkeys now (before removing the
/// last second factor): answer them as `webauthn` within 5 minutes.
#[utoipa::path(post, path = "/me/mfa/passkeys/check", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, body = RequestOptions),
        doc::Conflict, doc::Credentials))]
async fn passkey_check_options(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<RequestOptions>, ApiError> {
    let options = state
        .mfa
        .start_passkey_check(claims.sub, &Ceremony::reauthentication(claims.sub))
        .await?;
    Ok(Json(RequestOptions(options)))
}

/// `POST /auth/mfa/webauthn/options`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"mfa_token": "AdGhpcyBpcyBub3QgYSByZWFsIHRva2VuLCBqdXN0IGRvY3M"}))]
struct StepOptionsRequest {
    /// From the login's `MFA_REQUIRED` answer.
    #[schema(value_type = String)]
    mfa_token: Text,
}

impl Parse for StepOptionsRequest {
    type Output = String;

    fn parse(self) -> Result<String, ValidationErrors> {
        Ok(self.mfa_token.required_text("mfa_token")?)
    }
}

/// The options to answer a sign-in's second step with a passkey (when its
/// `methods` list `webauthn`): answer them at `POST /mfa/verify` as
/// `webauthn`, with the same `mfa_token`. Asking again replaces them;
/// asking is no attempt of the token's, the answer is one.
#[utoipa::path(post, path = "/mfa/webauthn/options", tag = "auth",
    request_body = StepOptionsRequest,
    responses(
        (status = 200, body = RequestOptions),
        doc::Conflict, doc::Credentials, doc::JsonBody))]
async fn passkey_step_options(
    State(state): State<AppState>,
    Valid(token): Valid<StepOptionsRequest>,
) -> Result<Json<RequestOptions>, ApiError> {
    // A page's step is finished by the page's own form.
    let token = MfaToken::parse(&token)
        .filter(|t| t.door() != Door::Page)
        .ok_or(AuthError::InvalidMfaToken)?;
    let options = state.auth.passkey_step_options(&token).await?;
    Ok(Json(RequestOptions(options)))
}

/// `POST /auth/passkey/options`: the ceremony's handle and its options.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "ceremony": "c2lnbi1pbiBjZXJlbW9ueSBoYW5kbGUsIGZvciBkb2NzIG9ubHk",
    "options": {"publicKey": {
        "challenge": "dG8gYmUgc2lnbmVkIGJ5IHRoZSBwYXNza2V5LCBmb3IgZG9jcw",
        "timeout": 300000, "rpId": "auth.example.com", "allowCredentials": [],
        "userVerification": "required"
    }, "mediation": "conditional"}
}))]
struct SignInOptionsBody {
    /// Sent back with the answer to `POST /passkey/finish`.
    ceremony: String,
    /// For `navigator.credentials.get`: no credentials listed (the
    /// authenticator offers its discoverable ones), and `mediation`
    /// `conditional` for a browser's passkey autofill.
    #[schema(value_type = Object)]
    options: RequestChallengeResponse,
}

/// Starts a sign-in with a passkey alone (a discoverable credential that
/// verifies its user): answer the options at `POST /passkey/finish`
/// within 5 minutes, with the handle.
#[utoipa::path(post, path = "/passkey/options", tag = "auth",
    responses((status = 200, body = SignInOptionsBody), doc::Stores))]
async fn passkey_sign_in_options(
    State(state): State<AppState>,
) -> Result<Json<SignInOptionsBody>, ApiError> {
    let started = state.auth.passkey_sign_in_options().await?;
    Ok(Json(SignInOptionsBody {
        ceremony: started.handle,
        options: started.options,
    }))
}

/// `POST /auth/passkey/finish`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"ceremony": "c2lnbi1pbiBjZXJlbW9ueSBoYW5kbGUsIGZvciBkb2NzIG9ubHk", "credential": {
    "id": "q1n2Xy3dZ4", "rawId": "q1n2Xy3dZ4", "type": "public-key",
    "response": {"authenticatorData": "SZYN5YgOjGh0NBcP...", "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0Ii...", "signature": "MEUCIQ...", "userHandle": "AZOeTIt6fD6fAFobLD1OXw"}
}}))]
struct SignInRequest {
    /// From `POST /passkey/options`.
    #[schema(value_type = String)]
    ceremony: Text,
    /// `navigator.credentials.get`'s answer, `PublicKeyCredential.toJSON()`.
    #[schema(value_type = Object)]
    credential: Shaped,
}

/// A ceremony handle that cannot be one.
pub(super) const NOT_A_CEREMONY: &str =
    "Not a ceremony handle from POST /api/v1/auth/passkey/options.";

impl Parse for SignInRequest {
    type Output = (SignInHandle, Assertion);

    fn parse(self) -> Result<Self::Output, ValidationErrors> {
        let (handle, answer) = all((
            self.ceremony.required("ceremony", |c| {
                SignInHandle::parse(&c).ok_or(NOT_A_CEREMONY)
            }),
            self.credential.object("credential", Assertion::parse),
        ))?;
        match answer {
            Some(answer) => Ok((handle, answer)),
            None => Err(ValidationErrors::single(
                crate::validation::FieldError::missing("credential"),
            )),
        }
    }
}

/// Signs in with a passkey alone: the answer to `POST /passkey/options`.
/// Answers what `/login` answers (with a `DPoP` proof, both tokens bound
/// to its key); the tokens say `amr` `["hwk", "user", "mfa"]`, `acr`
/// `mfa`. Limited like `/login`; a refused answer counts against the
/// passkey's account like a wrong password.
#[utoipa::path(post, path = "/passkey/finish", tag = "auth",
    request_body = SignInRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 403, description = "Not activated or blocked", body = super::error::Detail,
            example = json!(doc::example(AuthError::Blocked))),
        doc::BadRequest, doc::Credentials, doc::JsonBody, doc::Limited))]
async fn passkey_sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    proof: DpopHeader,
    Valid((handle, answer)): Valid<SignInRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let proof = proof.check(&state, "POST", SIGN_IN_PATH).await?;
    let opening = Opening {
        jkt: proof.map(|proof| proof.jkt().to_owned()),
        ..Opening::default()
    };
    let pair = state
        .auth
        .passkey_sign_in(&handle, &answer, &client, opening)
        .await?;
    Ok(Json(pair.into()))
}
