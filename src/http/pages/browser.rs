//! What the pages of the hosted sign-in share (the authorization page at
//! `/oauth/authorize` and the account page at `/oauth/account`): the
//! browser session's cookie, the forms' anti-forgery tokens, the page
//! that asks for the second factor after a right password, and what the
//! passkey buttons need (their script's CSP, their answers read).
//!
//! Every form carries an anti-forgery token bound to a random form cookie
//! (sent to `/oauth` only); the browser session cookie is `HttpOnly`,
//! `SameSite=Lax` (the authorization page's first request comes from the
//! app's site), `Secure` under https, and sent to `/oauth` only.

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::super::error::ApiError;
use super::super::extract::Parse;
use super::{blank_is_absent, cookie, html, set_cookie, text_of, CookieScope, PageError};
use crate::auth::{AuthError, LoginName, MfaToken};
use crate::authorize::{AuthorizeError, Credentials};
use crate::http::passkeys::NOT_A_CEREMONY;
use crate::http::AppState;
use crate::mfa::passkey::SignInHandle;
use crate::mfa::{Assertion, MfaError, PasskeyError, Proof, RecoveryCode, TotpCode};
use crate::tokens::opaque;
use crate::validation::{all, FieldError, Text, ValidationErrors};

/// The browser session of the hosted sign-in.
pub(super) const BROWSER_COOKIE: &str = "tessera_browser";
/// The random value the forms' anti-forgery tokens are bound to.
const FORM_COOKIE: &str = "tessera_authorize_form";
const FORM_NONCE_BYTES: usize = 16;

/// The browser session cookie this request carries.
pub(super) fn browser_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, BROWSER_COOKIE)
}

/// Hands the browser the cookie of the browser session a sign-in opened.
pub(super) fn keep_browser_session(
    response: &mut Response,
    state: &AppState,
    value: &SecretString,
) {
    set_cookie(
        response,
        CookieScope::SignIn,
        (BROWSER_COOKIE, value.expose_secret()),
        Some(state.authorize.browser_ttl().as_secs()),
        state.pages.secure_cookies,
    );
}

/// Tells the browser to drop its browser session cookie.
pub(super) fn forget_browser_session(response: &mut Response, state: &AppState) {
    set_cookie(
        response,
        CookieScope::SignIn,
        (BROWSER_COOKIE, ""),
        Some(0),
        state.pages.secure_cookies,
    );
}

/// The form nonce this browser holds, or a new one (and whether it is new).
pub(super) fn form_nonce(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, FORM_COOKIE)
        .filter(|nonce| opaque::decode::<FORM_NONCE_BYTES>(nonce).is_some())
    {
        Some(nonce) => (nonce, false),
        None => (
            opaque::encode(&rand::random::<[u8; FORM_NONCE_BYTES]>()),
            true,
        ),
    }
}

pub(super) fn form_token(state: &AppState, nonce: &str) -> String {
    state
        .pages
        .form_keys
        .form_token(format!("authorize\0{nonce}").as_bytes())
}

/// Sets the form cookie when the nonce a page's forms are bound to is new.
pub(super) fn remember_form_nonce(
    response: &mut Response,
    state: &AppState,
    nonce: &str,
    fresh: bool,
) {
    if fresh {
        set_cookie(
            response,
            CookieScope::SignIn,
            (FORM_COOKIE, nonce),
            None,
            state.pages.secure_cookies,
        );
    }
}

/// Refuses a form whose anti-forgery token is not bound to this browser's
/// form cookie.
pub(super) fn check_form(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &Text,
) -> Result<(), PageError> {
    let nonce = cookie(headers, FORM_COOKIE).unwrap_or_default();
    if nonce.is_empty()
        || !state
            .pages
            .form_keys
            .check_form_token(format!("authorize\0{nonce}").as_bytes(), text_of(csrf))
    {
        return Err(ApiError::FormRejected.into());
    }
    Ok(())
}

/// The second factor a page's form carries: a passkey's answer when the
/// passkey button filled it in, else the recovery code when one was typed
/// (its field is folded away under the app's), else the app's code.
pub(super) fn second_factor(
    code: Text,
    recovery_code: Text,
    webauthn: Text,
) -> Result<Proof, ValidationErrors> {
    if let Text::Given(_) = blank_is_absent(webauthn.clone()) {
        return Ok(Proof::Passkey(passkey_answer("webauthn", webauthn)?));
    }
    match blank_is_absent(recovery_code) {
        Text::Absent | Text::Null => {
            Ok(Proof::Totp(code.required("code", |c| TotpCode::parse(&c))?))
        }
        typed => Ok(Proof::Recovery(
            typed.required("recovery_code", |c| RecoveryCode::parse(&c))?,
        )),
    }
}

/// A refusal of the second-factor step that ends it: its token is dead
/// (expired, used, out of attempts, or not a page's) or the account cannot
/// sign in now, so the sign-in starts again from the password.
pub(super) fn ends_the_step(e: &AuthorizeError) -> bool {
    matches!(
        e,
        AuthorizeError::SignIn(
            AuthError::InvalidMfaToken
                | AuthError::InvalidCredentials
                | AuthError::Blocked
                | AuthError::NotActivated
        )
    )
}

/// The page after a right password when the account has a second factor:
/// the authenticator app's code, or a recovery code instead (folded under
/// it, no script), with the step's token and `fields` carried on.
#[derive(Template)]
#[template(path = "pages/second_factor.html")]
pub(super) struct SecondFactorPage<'a> {
    /// The app the sign-in is for, if any.
    pub app: Option<&'a str>,
    /// Where the form posts.
    pub action: &'a str,
    pub fields: Vec<(&'static str, String)>,
    pub csrf: &'a str,
    pub mfa_token: &'a str,
    /// The options of a passkey's answer, when the account has one.
    pub passkey: Option<String>,
    pub problems: Vec<String>,
}

impl SecondFactorPage<'_> {
    /// The page with `status`, allowed the passkey script when it offers a
    /// passkey (a page whose forms may also go elsewhere sets its own CSP).
    pub(super) fn answer(&self, status: StatusCode) -> Response {
        let mut response = html(status, self);
        if self.passkey.is_some() {
            allow_passkey_script(&mut response);
        }
        response
    }
}

/// A passkey's answer in form field `field`: `PublicKeyCredential` as JSON,
/// which the passkey script puts there.
pub(super) fn passkey_answer(field: &str, text: Text) -> Result<Assertion, FieldError> {
    // Text that is no JSON is refused in the words of JSON that is no answer.
    text.required(field, |json| {
        Assertion::parse(serde_json::from_str(&json).unwrap_or(Value::Null))
    })
}

/// What a sign-in form carries: the passkey's answer when its button
/// filled it in (with the ceremony's handle, from
/// `POST /api/v1/auth/passkey/options`), else the name and password.
pub(super) fn sign_in_credentials(
    username: Text,
    password: Text,
    ceremony: Text,
    credential: Text,
) -> Result<Credentials, ValidationErrors> {
    if let Text::Given(_) = blank_is_absent(credential.clone()) {
        let (handle, answer) = all((
            ceremony.required("ceremony", |c| {
                SignInHandle::parse(&c).ok_or(NOT_A_CEREMONY)
            }),
            passkey_answer("credential", credential),
        ))?;
        return Ok(Credentials::Passkey(handle, answer));
    }
    let (username, password) = all((
        username.required_text("username"),
        password.required_text("password"),
    ))?;
    Ok(Credentials::Password(
        LoginName::guess(&username),
        SecretString::from(password),
    ))
}

/// Options for `navigator.credentials.create` or `get` as a page carries
/// them (in a form's `data-options`, escaped by the template).
pub(super) fn options_json(options: &impl Serialize) -> Result<String, ApiError> {
    serde_json::to_string(options).map_err(|e| ApiError::Internal(format!("passkey options: {e}")))
}

/// The options to answer a sign-in's second step with a passkey, as a page
/// carries them; none when the account has no passkey (or the step is over,
/// which the form's answer then says).
pub(super) async fn passkey_step(state: &AppState, mfa_token: &str) -> Option<String> {
    let token = MfaToken::parse(mfa_token)?;
    let asked = match state.auth.passkey_step_options(&token).await {
        Ok(options) => options_json(&options),
        Err(
            AuthError::InvalidMfaToken
            | AuthError::SecondFactor(MfaError::Passkey(PasskeyError::NoneRegistered)),
        ) => return None,
        Err(e) => Err(e.into()),
    };
    // The codes still work: the page goes on without the button.
    asked.inspect_err(ApiError::log).ok()
}

/// The CSP of a page with the passkey script: its own script only, which
/// may ask this site for options; otherwise what every page gets.
pub(super) fn script_policy(form_action: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
         img-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Lets `response`'s page run the passkey script (its forms post here only).
pub(super) fn allow_passkey_script(response: &mut Response) {
    if let Ok(csp) = HeaderValue::from_str(&script_policy("'self'")) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
}

/// The second-factor page's form (the account page's, the console's).
#[derive(Deserialize, ToSchema)]
pub(super) struct SecondFactorForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    pub(super) csrf: Text,
    /// The step's token, from the page after the password
    #[schema(value_type = String)]
    pub(super) mfa_token: Text,
    /// The 6 digits the authenticator app shows
    #[schema(value_type = Option<String>)]
    code: Text,
    /// A recovery code instead of `code`
    #[schema(value_type = Option<String>)]
    recovery_code: Text,
    /// A passkey's answer instead of a code (`PublicKeyCredential` as
    /// JSON, which the passkey button fills in)
    #[schema(value_type = Option<String>)]
    webauthn: Text,
}

impl Parse for SecondFactorForm {
    type Output = Proof;

    fn parse(self) -> Result<Proof, ValidationErrors> {
        second_factor(self.code, self.recovery_code, self.webauthn)
    }
}
