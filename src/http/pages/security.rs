//! The account security page at `/oauth/account`, reached from an app:
//! with a live browser session it shows the user's second factors and lets
//! them set up the authenticator app (its QR code inline, as SVG markup:
//! the CSP allows no `data:` image), remove it, make new recovery codes,
//! add, rename and remove passkeys, and sign out. Without one it shows a
//! sign-in form that opens the browser session the way the authorization
//! page does (one `Authorize::open_browser`), asking for the second factor
//! on the next page when the account has one, or a passkey alone.
//!
//! The passkey ceremonies run in the browser (the pages' passkey script,
//! allowed by their CSP); their answers come back as plain form fields.
//!
//! Under `/oauth` because the browser session cookie is sent there only.
//! Every form carries the anti-forgery token (`browser`); every POST
//! answers a page or a 303.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::super::error::ApiError;
use super::super::extract::{Body, Client, Parse};
use super::browser::{
    allow_passkey_script, browser_cookie, check_form, ends_the_step, forget_browser_session,
    form_nonce, form_token, keep_browser_session, options_json, passkey_answer, passkey_step,
    remember_form_nonce, second_factor, sign_in_credentials, SecondFactorForm, SecondFactorPage,
};
use super::{html, see_other, text_of, PageError};
use crate::auth::{AuthError, MfaToken};
use crate::authorize::browser::BrowserSession;
use crate::authorize::{AuthorizeError, Credentials, LogoutParams, Opened};
use crate::client::ClientInfo;
use crate::http::AppState;
use crate::mfa::passkey::{registration, PasskeyName};
use crate::mfa::{Ceremony, Overview, Proof, Provisioning, TotpCode};
use crate::validation::{all, uuid as parse_uuid, Text, ValidationErrors};

const ACCOUNT: &str = "/oauth/account";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(account))
        .routes(routes!(sign_in))
        .routes(routes!(sign_in_second_factor))
        .routes(routes!(start_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(remove_totp))
        .routes(routes!(regenerate_recovery_codes))
        .routes(routes!(start_passkey))
        .routes(routes!(add_passkey))
        .routes(routes!(rename_passkey))
        .routes(routes!(remove_passkey))
        .routes(routes!(sign_out))
}

#[derive(Template)]
#[template(path = "pages/account_security.html")]
struct SecurityPage<'a> {
    username: &'a str,
    totp: bool,
    recovery_codes_left: u32,
    passkeys: Vec<PasskeyRow>,
    /// The options of a fresh check with the passkey, when removing it
    /// would leave the account without a second factor.
    removal_check: Option<String>,
    csrf: &'a str,
    problems: Vec<String>,
}

/// A passkey as the page lists it.
struct PasskeyRow {
    id: String,
    name: String,
    created: String,
}

/// Adding a passkey: the options for the browser to create it with, and
/// the name to keep it under.
#[derive(Template)]
#[template(path = "pages/account_passkey.html")]
struct AddPasskeyPage<'a> {
    options: &'a str,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "pages/account_sign_in.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    username: &'a str,
    problems: Vec<String>,
}

/// Setting up the authenticator app: what to scan, shown once (absent when
/// the page comes back after a wrong first code), and the field for it.
#[derive(Template)]
#[template(path = "pages/account_totp.html")]
struct TotpPage<'a> {
    shown: Option<Shown>,
    csrf: &'a str,
    problems: Vec<String>,
}

/// The enrolment as the page shows it.
struct Shown {
    secret: String,
    /// The QR code's `<svg>` element (the XML prolog dropped: inline in
    /// HTML it is only noise).
    qr_svg: String,
}

impl From<Provisioning> for Shown {
    fn from(p: Provisioning) -> Self {
        let svg = p.qr_svg.find("<svg").map_or("", |at| &p.qr_svg[at..]);
        Self {
            secret: p.secret,
            qr_svg: svg.to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/account_recovery_codes.html")]
struct RecoveryCodesPage {
    codes: Vec<String>,
}

/// A refusal as a page shows it: the API's status and words.
struct Refusal {
    status: StatusCode,
    problems: Vec<String>,
    error: Option<ApiError>,
}

impl Refusal {
    fn none() -> Self {
        Self {
            status: StatusCode::OK,
            problems: Vec::new(),
            error: None,
        }
    }
}

impl<E: Into<ApiError>> From<E> for Refusal {
    fn from(e: E) -> Self {
        let e = e.into();
        e.log();
        Self {
            status: e.status(),
            problems: e.words(),
            error: Some(e),
        }
    }
}

/// `page` with the form cookie its anti-forgery token is bound to, and the
/// headers `refusal` needs (a 429's `Retry-After`).
fn page(
    state: &AppState,
    headers: &HeaderMap,
    refusal: Refusal,
    render: impl FnOnce(&str, StatusCode, Vec<String>) -> Response,
) -> Response {
    let (nonce, fresh) = form_nonce(headers);
    let mut response = render(&form_token(state, &nonce), refusal.status, refusal.problems);
    if let Some(e) = refusal.error {
        e.add_headers(response.headers_mut());
    }
    remember_form_nonce(&mut response, state, &nonce, fresh);
    response
}

fn sign_in_page(state: &AppState, headers: &HeaderMap, typed: &str, refusal: Refusal) -> Response {
    let mut response = page(state, headers, refusal, |csrf, status, problems| {
        html(
            status,
            &SignInPage {
                csrf,
                username: typed,
                problems,
            },
        )
    });
    allow_passkey_script(&mut response);
    response
}

async fn second_factor_page(
    state: &AppState,
    headers: &HeaderMap,
    mfa_token: &str,
    refusal: Refusal,
) -> Response {
    let passkey = passkey_step(state, mfa_token).await;
    page(state, headers, refusal, |csrf, status, problems| {
        SecondFactorPage {
            app: None,
            action: "/oauth/account/second-factor",
            fields: Vec::new(),
            csrf,
            mfa_token,
            passkey,
            problems,
        }
        .answer(status)
    })
}

/// The overview of `browser`'s user's factors.
async fn security_page(
    state: &AppState,
    headers: &HeaderMap,
    browser: &BrowserSession,
    refusal: Refusal,
) -> Result<Response, PageError> {
    let overview = state.mfa.overview(browser.user_id).await?;
    let removal_check = match removal_needs_check(&overview) {
        true => {
            let ceremony = Ceremony::reauthentication(browser.user_id);
            let options = state
                .mfa
                .start_passkey_check(browser.user_id, &ceremony)
                .await?;
            Some(options_json(&options)?)
        }
        false => None,
    };
    let passkeys = overview
        .passkeys
        .into_iter()
        .map(|p| PasskeyRow {
            id: p.id.to_string(),
            name: p.name,
            created: p.created_at.format("%Y-%m-%d").to_string(),
        })
        .collect();
    let mut response = page(state, headers, refusal, |csrf, status, problems| {
        html(
            status,
            &SecurityPage {
                username: &browser.username,
                totp: overview.totp,
                recovery_codes_left: overview.recovery_codes_left,
                passkeys,
                removal_check,
                csrf,
                problems,
            },
        )
    });
    allow_passkey_script(&mut response);
    Ok(response)
}

/// Whether removing a passkey would leave no second factor (the only
/// passkey, no authenticator app): then it goes with a fresh check only.
fn removal_needs_check(overview: &Overview) -> bool {
    !overview.totp && overview.passkeys.len() == 1
}

fn totp_page(
    state: &AppState,
    headers: &HeaderMap,
    shown: Option<Shown>,
    refusal: Refusal,
) -> Response {
    page(state, headers, refusal, |csrf, status, problems| {
        html(
            status,
            &TotpPage {
                shown,
                csrf,
                problems,
            },
        )
    })
}

/// This browser's live session, if any.
async fn browser(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<BrowserSession>, PageError> {
    Ok(state
        .authorize
        .browser_session(browser_cookie(headers).as_deref())
        .await?)
}

/// The account security page, or the sign-in form without a browser
/// session.
#[utoipa::path(get, path = "/oauth/account", tag = "pages", operation_id = "account_security",
    responses(
        (status = 200, description = "The account's second factors, or the sign-in form", content_type = "text/html", body = String),
        (status = 503, description = "PostgreSQL or Redis is down", content_type = "text/html", body = String),
    ))]
async fn account(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    match browser(&state, &headers).await? {
        Some(browser) => security_page(&state, &headers, &browser, Refusal::none()).await,
        None => Ok(sign_in_page(&state, &headers, "", Refusal::none())),
    }
}

/// What a sign-in step came to: the account page, the second-factor page,
/// or the page of the step again with why.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    opened: Result<Opened, AuthorizeError>,
    step: Step<'_>,
) -> Response {
    match opened {
        Ok(opened) => {
            let mut response = see_other(ACCOUNT);
            keep_browser_session(&mut response, state, &opened.cookie);
            response
        }
        Err(AuthorizeError::SignIn(AuthError::MfaRequired(challenge))) => {
            second_factor_page(state, headers, &challenge.mfa_token, Refusal::none()).await
        }
        Err(e) => match step {
            Step::SecondFactor(mfa_token) if !ends_the_step(&e) => {
                second_factor_page(state, headers, mfa_token, e.into()).await
            }
            Step::Password(typed) => sign_in_page(state, headers, typed, e.into()),
            Step::SecondFactor(_) => sign_in_page(state, headers, "", e.into()),
        },
    }
}

/// The step of the sign-in a form was: the name typed, or the step's token.
enum Step<'a> {
    Password(&'a str),
    SecondFactor(&'a str),
}

/// The account page's sign-in form.
#[derive(Deserialize, ToSchema)]
struct SignInForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    /// An email address or a username
    #[schema(value_type = String)]
    username: Text,
    #[schema(value_type = String)]
    password: Text,
    /// With a passkey alone: the ceremony's handle, from
    /// `POST /api/v1/auth/passkey/options`
    #[schema(value_type = Option<String>)]
    ceremony: Text,
    /// With a passkey alone, instead of `username` and `password`: its
    /// answer to that ceremony's options (`PublicKeyCredential` as JSON,
    /// which the passkey button fills in)
    #[schema(value_type = Option<String>)]
    credential: Text,
}

impl Parse for SignInForm {
    type Output = Credentials;

    fn parse(self) -> Result<Credentials, ValidationErrors> {
        sign_in_credentials(self.username, self.password, self.ceremony, self.credential)
    }
}

/// Signs in with a password (the same limits and lockout as
/// `/api/v1/auth/login`) or a passkey alone (as
/// `/api/v1/auth/passkey/finish`): the account page, or the second-factor
/// page for an account with one.
#[utoipa::path(post, path = "/oauth/account/sign-in", tag = "pages", operation_id = "account_security_sign_in",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The second-factor page", content_type = "text/html", body = String),
        (status = 303, description = "Signed in: to the account page"),
        (status = 401, description = "The sign-in form again: wrong name or password", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong; or the sign-in form again: blocked or not activated", content_type = "text/html", body = String),
        (status = 422, description = "The sign-in form again: a field is missing", content_type = "text/html", body = String),
        (status = 429, description = "The sign-in form again: too many attempts", content_type = "text/html", body = String),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<SignInForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    check_form(&state, &headers, &form.csrf)?;
    let typed = text_of(&form.username).to_owned();
    let credentials = match form.parse() {
        Ok(credentials) => credentials,
        Err(errors) => return Ok(sign_in_page(&state, &headers, &typed, errors.into())),
    };
    let opened = state.authorize.open_browser(credentials, &device).await;
    Ok(signed_in(&state, &headers, opened, Step::Password(&typed)).await)
}

/// Finishes the sign-in with the authenticator app's code or a recovery
/// code: the account page; a wrong code shows the page again, a step that
/// is over (expired, used, five wrong codes) the sign-in form.
#[utoipa::path(post, path = "/oauth/account/second-factor", tag = "pages", operation_id = "account_security_second_factor",
    request_body(content = SecondFactorForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to the account page"),
        (status = 401, description = "The second-factor page again: a wrong code; or the sign-in form: the step is over", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 422, description = "The second-factor page again: no code, or not one", content_type = "text/html", body = String),
        (status = 429, description = "The second-factor page again: too many attempts", content_type = "text/html", body = String),
    ))]
async fn sign_in_second_factor(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<SecondFactorForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    check_form(&state, &headers, &form.csrf)?;
    let mfa_token = text_of(&form.mfa_token).to_owned();
    let Some(token) = MfaToken::parse(&mfa_token) else {
        let dead = AuthError::InvalidMfaToken.into();
        return Ok(sign_in_page(&state, &headers, "", dead));
    };
    let proof = match form.parse() {
        Ok(proof) => proof,
        Err(errors) => {
            return Ok(second_factor_page(&state, &headers, &mfa_token, errors.into()).await)
        }
    };
    let opened = state
        .authorize
        .open_browser(Credentials::SecondFactor(token, proof), &device)
        .await;
    Ok(signed_in(&state, &headers, opened, Step::SecondFactor(&mfa_token)).await)
}

/// A form that is a button: its anti-forgery token only.
#[derive(Deserialize, ToSchema)]
struct ButtonForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
}

/// The checked form's browser session, or the answer without one: back to
/// the account page, which asks to sign in.
async fn signed_in_browser(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &Text,
) -> Result<Result<BrowserSession, Response>, PageError> {
    check_form(state, headers, csrf)?;
    Ok(browser(state, headers)
        .await?
        .ok_or_else(|| see_other(ACCOUNT)))
}

/// Starts setting up the authenticator app: the page with its QR code and
/// secret (shown this once) and the field for its first code.
#[utoipa::path(post, path = "/oauth/account/totp", tag = "pages", operation_id = "account_security_start_totp",
    request_body(content = ButtonForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "What to scan, and the field for the first code", content_type = "text/html", body = String),
        (status = 303, description = "No browser session: to the account page's sign-in"),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 409, description = "The account page again: an authenticator app is already set up", content_type = "text/html", body = String),
    ))]
async fn start_totp(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<ButtonForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    let browser = match signed_in_browser(&state, &headers, &form.csrf).await? {
        Ok(browser) => browser,
        Err(answer) => return Ok(answer),
    };
    match state.mfa.start_totp(browser.user_id, &device).await {
        Ok(shown) => Ok(totp_page(
            &state,
            &headers,
            Some(shown.into()),
            Refusal::none(),
        )),
        Err(e) => security_page(&state, &headers, &browser, e.into()).await,
    }
}

/// The first code of the authenticator app being set up.
#[derive(Deserialize, ToSchema)]
struct ConfirmTotpForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    /// The 6 digits the app shows now
    #[schema(value_type = String)]
    code: Text,
}

impl Parse for ConfirmTotpForm {
    type Output = TotpCode;

    fn parse(self) -> Result<TotpCode, ValidationErrors> {
        Ok(self.code.required("code", |c| TotpCode::parse(&c))?)
    }
}

/// Confirms the authenticator app with its first code: the 10 recovery
/// codes, shown this once. A wrong code shows the field again (and counts
/// against the account like a wrong password).
#[utoipa::path(post, path = "/oauth/account/totp/confirm", tag = "pages", operation_id = "account_security_confirm_totp",
    request_body(content = ConfirmTotpForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The recovery codes, shown this once", content_type = "text/html", body = String),
        (status = 303, description = "No browser session: to the account page's sign-in"),
        (status = 400, description = "The field again: a wrong code", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 409, description = "The field again: nothing is being set up", content_type = "text/html", body = String),
        (status = 422, description = "The field again: not 6 digits", content_type = "text/html", body = String),
        (status = 429, description = "The field again: too many attempts", content_type = "text/html", body = String),
    ))]
async fn confirm_totp(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<ConfirmTotpForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    let browser = match signed_in_browser(&state, &headers, &form.csrf).await? {
        Ok(browser) => browser,
        Err(answer) => return Ok(answer),
    };
    let code = match form.parse() {
        Ok(code) => code,
        Err(errors) => return Ok(totp_page(&state, &headers, None, errors.into())),
    };
    match state.mfa.confirm_totp(browser.user_id, code, &device).await {
        Ok(codes) => Ok(html(StatusCode::OK, &RecoveryCodesPage { codes })),
        Err(e) => Ok(totp_page(&state, &headers, None, e.into())),
    }
}

/// A code from the app now, or a recovery code instead.
#[derive(Deserialize, ToSchema)]
struct ProofForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    /// The 6 digits the authenticator app shows
    #[schema(value_type = Option<String>)]
    code: Text,
    /// A recovery code instead of `code`
    #[schema(value_type = Option<String>)]
    recovery_code: Text,
}

impl Parse for ProofForm {
    type Output = Proof;

    fn parse(self) -> Result<Proof, ValidationErrors> {
        second_factor(self.code, self.recovery_code, Text::Absent)
    }
}

/// What a change that needs a code now came to: `done`, or the account
/// page with why not.
async fn with_proof<T>(
    state: &AppState,
    headers: &HeaderMap,
    form: ProofForm,
    change: impl AsyncFnOnce(&BrowserSession, Proof) -> Result<T, crate::mfa::MfaError>,
    done: impl FnOnce(T) -> Response,
) -> Result<Response, PageError> {
    let browser = match signed_in_browser(state, headers, &form.csrf).await? {
        Ok(browser) => browser,
        Err(answer) => return Ok(answer),
    };
    let refusal = match form.parse() {
        Ok(proof) => match change(&browser, proof).await {
            Ok(value) => return Ok(done(value)),
            Err(e) => e.into(),
        },
        Err(errors) => errors.into(),
    };
    security_page(state, headers, &browser, refusal).await
}

/// Removes the authenticator app and its recovery codes, with a code now.
#[utoipa::path(post, path = "/oauth/account/totp/remove", tag = "pages", operation_id = "account_security_remove_totp",
    request_body(content = ProofForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Removed (or no browser session): to the account page"),
        (status = 400, description = "The account page again: a wrong code", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 409, description = "The account page again: no authenticator app is set up", content_type = "text/html", body = String),
        (status = 422, description = "The account page again: no code, or not one", content_type = "text/html", body = String),
        (status = 429, description = "The account page again: too many attempts", content_type = "text/html", body = String),
    ))]
async fn remove_totp(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<ProofForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    let device: &ClientInfo = &device;
    with_proof(
        &state,
        &headers,
        form,
        async |browser, proof| state.mfa.remove_totp(browser.user_id, proof, device).await,
        |()| see_other(ACCOUNT),
    )
    .await
}

/// New recovery codes (the old ones stop working), with a code now.
#[utoipa::path(post, path = "/oauth/account/recovery-codes", tag = "pages", operation_id = "account_security_recovery_codes",
    request_body(content = ProofForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The new recovery codes, shown this once", content_type = "text/html", body = String),
        (status = 303, description = "No browser session: to the account page's sign-in"),
        (status = 400, description = "The account page again: a wrong code", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 409, description = "The account page again: no authenticator app is set up", content_type = "text/html", body = String),
        (status = 422, description = "The account page again: no code, or not one", content_type = "text/html", body = String),
        (status = 429, description = "The account page again: too many attempts", content_type = "text/html", body = String),
    ))]
async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<ProofForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    let device: &ClientInfo = &device;
    with_proof(
        &state,
        &headers,
        form,
        async |browser, proof| {
            state
                .mfa
                .regenerate_recovery_codes(browser.user_id, proof, device)
                .await
        },
        |codes| html(StatusCode::OK, &RecoveryCodesPage { codes }),
    )
    .await
}

/// Starts adding a passkey: the page that has the browser create it.
#[utoipa::path(post, path = "/oauth/account/passkeys/new", tag = "pages", operation_id = "account_security_start_passkey",
    request_body(content = ButtonForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The page that creates the passkey (with the passkey script)", content_type = "text/html", body = String),
        (status = 303, description = "No browser session: to the account page's sign-in"),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
    ))]
async fn start_passkey(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<ButtonForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    let browser = match signed_in_browser(&state, &headers, &form.csrf).await? {
        Ok(browser) => browser,
        Err(answer) => return Ok(answer),
    };
    let options = match state
        .mfa
        .start_passkey_registration(browser.user_id, &device)
        .await
    {
        Ok(options) => options_json(&options)?,
        Err(e) => return security_page(&state, &headers, &browser, e.into()).await,
    };
    let mut response = page(&state, &headers, Refusal::none(), |csrf, status, _| {
        html(
            status,
            &AddPasskeyPage {
                options: &options,
                csrf,
            },
        )
    });
    allow_passkey_script(&mut response);
    Ok(response)
}

/// The passkey the browser created, and its name.
#[derive(Deserialize, ToSchema)]
struct AddPasskeyForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    /// What to call it (1 to 64 characters)
    #[schema(value_type = String)]
    name: Text,
    /// The browser's answer to the options (`PublicKeyCredential` as JSON)
    #[schema(value_type = String)]
    credential: Text,
}

impl Parse for AddPasskeyForm {
    type Output = (PasskeyName, Box<RegisterPublicKeyCredential>);

    fn parse(self) -> Result<Self::Output, ValidationErrors> {
        all((
            self.name.required("name", |n| PasskeyName::parse(&n)),
            self.credential.required("credential", |json| {
                // Text that is no JSON is refused as JSON that is no answer.
                registration(serde_json::from_str(&json).unwrap_or_default())
            }),
        ))
    }
}

/// Keeps the passkey the browser created: the account page, listing it.
#[utoipa::path(post, path = "/oauth/account/passkeys", tag = "pages", operation_id = "account_security_add_passkey",
    request_body(content = AddPasskeyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Added (or no browser session): to the account page"),
        (status = 400, description = "The account page again: the passkey's answer is refused", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 409, description = "The account page again: no passkey is being added, or it is registered already", content_type = "text/html", body = String),
        (status = 422, description = "The account page again: no name, or no answer", content_type = "text/html", body = String),
    ))]
async fn add_passkey(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<AddPasskeyForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    let browser = match signed_in_browser(&state, &headers, &form.csrf).await? {
        Ok(browser) => browser,
        Err(answer) => return Ok(answer),
    };
    let refusal = match form.parse() {
        Ok((name, credential)) => match state
            .mfa
            .finish_passkey_registration(browser.user_id, name, &credential, &device)
            .await
        {
            Ok(_) => return Ok(see_other(ACCOUNT)),
            Err(e) => e.into(),
        },
        Err(errors) => errors.into(),
    };
    security_page(&state, &headers, &browser, refusal).await
}

/// A passkey's new name.
#[derive(Deserialize, ToSchema)]
struct RenamePasskeyForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    /// The passkey's id
    #[schema(value_type = String)]
    id: Text,
    /// What to call it (1 to 64 characters)
    #[schema(value_type = String)]
    name: Text,
}

impl Parse for RenamePasskeyForm {
    type Output = (Uuid, PasskeyName);

    fn parse(self) -> Result<Self::Output, ValidationErrors> {
        all((
            self.id.required("id", |id| parse_uuid(&id)),
            self.name.required("name", |n| PasskeyName::parse(&n)),
        ))
    }
}

/// Renames one of the user's passkeys: the account page.
#[utoipa::path(post, path = "/oauth/account/passkeys/rename", tag = "pages", operation_id = "account_security_rename_passkey",
    request_body(content = RenamePasskeyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Renamed (or no browser session): to the account page"),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 404, description = "The account page again: no such passkey", content_type = "text/html", body = String),
        (status = 422, description = "The account page again: no name, or too long", content_type = "text/html", body = String),
    ))]
async fn rename_passkey(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<RenamePasskeyForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    let browser = match signed_in_browser(&state, &headers, &form.csrf).await? {
        Ok(browser) => browser,
        Err(answer) => return Ok(answer),
    };
    let refusal = match form.parse() {
        Ok((id, name)) => match state
            .mfa
            .rename_passkey(browser.user_id, id, name, &device)
            .await
        {
            Ok(_) => return Ok(see_other(ACCOUNT)),
            Err(e) => e.into(),
        },
        Err(errors) => errors.into(),
    };
    security_page(&state, &headers, &browser, refusal).await
}

/// Which passkey to remove, with a passkey's fresh check when it is the
/// last second factor.
#[derive(Deserialize, ToSchema)]
struct RemovePasskeyForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    /// The passkey's id
    #[schema(value_type = String)]
    id: Text,
    /// The last second factor only: a passkey's answer to the page's check
    /// (`PublicKeyCredential` as JSON, which the button fills in)
    #[schema(value_type = Option<String>)]
    webauthn: Text,
}

impl Parse for RemovePasskeyForm {
    type Output = (Uuid, Option<Proof>);

    fn parse(self) -> Result<Self::Output, ValidationErrors> {
        let check = match super::blank_is_absent(self.webauthn) {
            Text::Absent | Text::Null => Ok(None),
            given => passkey_answer("webauthn", given).map(|a| Some(Proof::Passkey(a))),
        };
        all((self.id.required("id", |id| parse_uuid(&id)), check))
    }
}

/// Removes one of the user's passkeys; the last second factor only with a
/// passkey's fresh check (a refused one counts against the account like a
/// wrong password). Then the account page.
#[utoipa::path(post, path = "/oauth/account/passkeys/remove", tag = "pages", operation_id = "account_security_remove_passkey",
    request_body(content = RemovePasskeyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Removed (or no browser session): to the account page"),
        (status = 400, description = "The account page again: the check is refused", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong; or the account page again: the last second factor, and no fresh check", content_type = "text/html", body = String),
        (status = 404, description = "The account page again: no such passkey", content_type = "text/html", body = String),
        (status = 422, description = "The account page again: not a passkey's answer", content_type = "text/html", body = String),
        (status = 429, description = "The account page again: too many attempts", content_type = "text/html", body = String),
    ))]
async fn remove_passkey(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<RemovePasskeyForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    let browser = match signed_in_browser(&state, &headers, &form.csrf).await? {
        Ok(browser) => browser,
        Err(answer) => return Ok(answer),
    };
    let refusal = match form.parse() {
        Ok((id, proof)) => match state
            .mfa
            .remove_passkey(browser.user_id, id, proof, &device)
            .await
        {
            Ok(()) => return Ok(see_other(ACCOUNT)),
            Err(e) => e.into(),
        },
        Err(errors) => errors.into(),
    };
    security_page(&state, &headers, &browser, refusal).await
}

/// Signs this browser out: its browser session and the session under it
/// end; then the account page's sign-in form.
#[utoipa::path(post, path = "/oauth/account/sign-out", tag = "pages", operation_id = "account_security_sign_out",
    request_body(content = ButtonForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed out: to the account page's sign-in"),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
    ))]
async fn sign_out(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<ButtonForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    check_form(&state, &headers, &form.csrf)?;
    state
        .authorize
        .log_out(
            LogoutParams::default(),
            browser_cookie(&headers).as_deref(),
            &device,
        )
        .await?;
    let mut response = see_other(ACCOUNT);
    forget_browser_session(&mut response, &state);
    Ok(response)
}
