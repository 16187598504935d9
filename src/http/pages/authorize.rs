//! The authorization endpoint's pages: `/oauth/authorize` (the sign-in
//! form and, for an account with one, its second factor, "Continue as …"
//! for a public client, the consent page of a third-party client) and
//! RP-initiated logout at `/oauth/logout`. Each step is an `Authorize`
//! domain call; these handlers only read the request, keep it in the forms'
//! hidden fields (so no server state is needed between pages), and show the
//! step or redirect.
//!
//! An unknown client or redirect URI gets an error page, never a redirect
//! (RFC 6749 §4.1.2.1). The forms' anti-forgery tokens and the browser
//! session cookie are `browser`'s. A page's CSP lets its forms go
//! to this site and, after the redirect, to the app's redirect URI only;
//! the sign-in and second-factor pages may run the passkey script.

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::ApiError;
use super::super::extract::{Body, Client, Parse, Query};
use super::browser::{
    browser_cookie, check_form, ends_the_step, forget_browser_session, form_nonce, form_token,
    keep_browser_session, passkey_step, remember_form_nonce, script_policy, second_factor,
    sign_in_credentials, SecondFactorPage,
};
use super::{html, text_of, PageError};
use crate::auth::{AuthError, MfaToken};
use crate::authorize::{
    AuthorizationRequest, AuthorizeError, AuthorizeParams, Choice, Credentials, LogoutParams, Step,
};
use crate::http::AppState;
use crate::validation::{all, Text, ValidationErrors};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(authorize, authorize_form))
        .routes(routes!(logout, logout_form))
}

/// An authorization request (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2.1).
#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
struct AuthorizeQuery {
    /// `code`
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    response_type: Text,
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    client_id: Text,
    /// One the client registered, exactly (a loopback one on any port)
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    redirect_uri: Text,
    /// Space-separated: `openid`, `profile`, `email`, `offline_access`
    /// and the client's own
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    scope: Text,
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    state: Text,
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    nonce: Text,
    /// BASE64URL(SHA-256(code_verifier))
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    code_challenge: Text,
    /// `S256`
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    code_challenge_method: Text,
    /// `none` or `login`
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    prompt: Text,
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    login_hint: Text,
    /// Seconds since the last sign-in beyond which the password is asked again
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    max_age: Text,
    /// RFC 9449 §10: the thumbprint of the DPoP key that will redeem the code
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    dpop_jkt: Text,
}

impl Parse for AuthorizeQuery {
    type Output = AuthorizeParams;

    fn parse(self) -> Result<AuthorizeParams, ValidationErrors> {
        let text = |t: Text, name: &str| t.optional_text(name);
        let ((response_type, client_id, redirect_uri, scope, state, nonce), rest) = all((
            all((
                text(self.response_type, "response_type"),
                text(self.client_id, "client_id"),
                text(self.redirect_uri, "redirect_uri"),
                text(self.scope, "scope"),
                text(self.state, "state"),
                text(self.nonce, "nonce"),
            )),
            all((
                text(self.code_challenge, "code_challenge"),
                text(self.code_challenge_method, "code_challenge_method"),
                text(self.prompt, "prompt"),
                text(self.login_hint, "login_hint"),
                text(self.max_age, "max_age"),
                text(self.dpop_jkt, "dpop_jkt"),
            )),
        ))?;
        let (code_challenge, code_challenge_method, prompt, login_hint, max_age, dpop_jkt) = rest;
        Ok(AuthorizeParams {
            response_type,
            client_id,
            redirect_uri,
            scope,
            state,
            nonce,
            code_challenge,
            code_challenge_method,
            prompt,
            login_hint,
            max_age,
            dpop_jkt,
        })
    }
}

/// The request's parameters as the forms carry them on, in hidden fields.
fn hidden_fields(params: &AuthorizeParams) -> Vec<(&'static str, String)> {
    given(&[
        ("response_type", &params.response_type),
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("scope", &params.scope),
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
        ("max_age", &params.max_age),
        ("dpop_jkt", &params.dpop_jkt),
    ])
}

#[derive(Template)]
#[template(path = "pages/authorize_sign_in.html")]
struct SignInPage<'a> {
    app: &'a str,
    fields: Vec<(&'static str, String)>,
    csrf: &'a str,
    username: &'a str,
    problems: Vec<String>,
}

#[derive(Template)]
#[template(path = "pages/authorize_continue.html")]
struct ContinuePage<'a> {
    app: &'a str,
    fields: Vec<(&'static str, String)>,
    csrf: &'a str,
    username: &'a str,
    /// The same request with `prompt=login`: another account's sign-in.
    switch_account: String,
}

#[derive(Template)]
#[template(path = "pages/authorize_consent.html")]
struct ConsentPage<'a> {
    app: &'a str,
    fields: Vec<(&'static str, String)>,
    csrf: &'a str,
    username: &'a str,
    scopes: Vec<String>,
}

/// The given ones of a form's hidden fields.
fn given(fields: &[(&'static str, &Option<String>)]) -> Vec<(&'static str, String)> {
    fields
        .iter()
        .filter_map(|(name, value)| Some((*name, value.as_ref()?.clone())))
        .collect()
}

/// Where a form may send the browser: here, and on to the app's redirect
/// URI (browsers hold a form's redirects to `form-action` too); and, with
/// `script`, the passkey script.
fn content_security_policy(redirect_uri: &str, script: bool) -> String {
    let target = match url::Url::parse(redirect_uri) {
        Ok(url) if url.scheme() == "http" || url.scheme() == "https" => {
            url.origin().ascii_serialization()
        }
        Ok(url) => format!("{}:", url.scheme()),
        Err(_) => String::new(),
    };
    if script {
        return script_policy(&format!("'self' {target}"));
    }
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {target}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// What the sign-in or second-factor form shows again after a failed
/// attempt.
struct Feedback<'a> {
    status: StatusCode,
    problems: Vec<String>,
    /// The name typed, kept in its field.
    typed: Option<&'a str>,
}

impl Feedback<'_> {
    fn none() -> Self {
        Self {
            status: StatusCode::OK,
            problems: Vec::new(),
            typed: None,
        }
    }
}

/// What a page of the flow shows: a step, or the second-factor form of a
/// sign-in (a step of the sign-in, not of the request), with a passkey's
/// options when the account has one.
enum Shown<'t> {
    Step(Step),
    SecondFactor {
        mfa_token: &'t str,
        passkey: Option<String>,
    },
}

/// The second-factor form of the step `mfa_token`.
async fn factor_step_page<'t>(state: &AppState, mfa_token: &'t str) -> Shown<'t> {
    Shown::SecondFactor {
        mfa_token,
        passkey: passkey_step(state, mfa_token).await,
    }
}

/// A step as an answer: its page, or the redirect to the app.
fn show(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    params: &AuthorizeParams,
    shown: Shown<'_>,
    feedback: Feedback<'_>,
) -> Response {
    let (nonce, fresh) = form_nonce(headers);
    let csrf = form_token(state, &nonce);
    let fields = hidden_fields(params);
    let app = request.client_name();
    let Feedback {
        status,
        problems,
        typed,
    } = feedback;
    let step = match shown {
        Shown::Step(step) => step,
        Shown::SecondFactor { mfa_token, passkey } => {
            let mut fields = fields;
            fields.push(("action", "second_factor".to_owned()));
            let script = passkey.is_some();
            let page = SecondFactorPage {
                app: Some(app),
                action: "/oauth/authorize",
                fields,
                csrf: &csrf,
                mfa_token,
                passkey,
                problems,
            };
            let response = html(status, &page);
            return guarded(response, state, request, (&nonce, fresh), script);
        }
    };
    let script = matches!(step, Step::SignIn);
    let response = match step {
        Step::Redirect(location) => return redirect(&location),
        Step::SignIn => html(
            status,
            &SignInPage {
                app,
                fields,
                csrf: &csrf,
                username: typed.or(request.login_hint()).unwrap_or_default(),
                problems,
            },
        ),
        Step::Continue { username } => {
            let mut query = fields.clone();
            query.push(("prompt", "login".to_owned()));
            let switch_account = format!(
                "/oauth/authorize?{}",
                serde_urlencoded::to_string(&query).unwrap_or_default()
            );
            html(
                StatusCode::OK,
                &ContinuePage {
                    app,
                    fields,
                    csrf: &csrf,
                    username: &username,
                    switch_account,
                },
            )
        }
        Step::Consent { username } => html(
            StatusCode::OK,
            &ConsentPage {
                app,
                fields,
                csrf: &csrf,
                username: &username,
                scopes: request.scopes(),
            },
        ),
    };
    guarded(response, state, request, (&nonce, fresh), script)
}

/// A page of the flow with its CSP (its forms may lead on to the app; with
/// `script`, it runs the passkey script) and the form cookie its
/// anti-forgery tokens are bound to.
fn guarded(
    mut response: Response,
    state: &AppState,
    request: &AuthorizationRequest,
    (nonce, fresh): (&str, bool),
    script: bool,
) -> Response {
    let csp = content_security_policy(request.redirect_uri(), script);
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    remember_form_nonce(&mut response, state, nonce, fresh);
    response
}

/// A 303 to the app (after a POST, so a reload posts nothing again; a GET
/// follows it the same way).
fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => PageError(ApiError::Internal("redirect location".into())).into_response(),
    }
}

/// The request checked: its client and redirect URI are good (else the
/// error page), or the redirect that refuses the rest.
fn checked(
    state: &AppState,
    params: AuthorizeParams,
) -> Result<Result<AuthorizationRequest, Response>, PageError> {
    Ok(match state.authorize.check(params)? {
        Ok(request) => Ok(request),
        Err(Step::Redirect(location)) => Err(redirect(&location)),
        Err(_) => Err(PageError(ApiError::Internal("check gave a page".into())).into_response()),
    })
}

/// Starts the authorization code flow: a code at once for a signed-in
/// browser (a confidential client, nothing to ask), or the page that asks.
#[utoipa::path(get, path = "/oauth/authorize", tag = "pages", operation_id = "authorize",
    params(AuthorizeQuery),
    responses(
        (status = 200, description = "The sign-in, \"Continue as\" or consent page", content_type = "text/html", body = String),
        (status = 303, description = "Back to the app with `code`, `state` and `iss`, or with `error`"),
        (status = 400, description = "An unknown client or redirect URI: an error page, never a redirect", content_type = "text/html", body = String),
        (status = 422, description = "A parameter holds what no text may (a control character)", content_type = "text/html", body = String),
        (status = 503, description = "PostgreSQL or Redis is down, or (production) jwt.issuer is not https", content_type = "text/html", body = String),
    ))]
async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AuthorizeQuery>, ApiError>,
) -> Result<Response, PageError> {
    let Query(query) = query?;
    let params = query.parse().map_err(ApiError::from)?;
    let request = match checked(&state, params.clone())? {
        Ok(request) => request,
        Err(refused) => return Ok(refused),
    };
    let browser = state
        .authorize
        .browser_session(browser_cookie(&headers).as_deref())
        .await?;
    let step = state.authorize.visit(&request, browser).await?;
    Ok(show(
        &state,
        &headers,
        &request,
        &params,
        Shown::Step(step),
        Feedback::none(),
    ))
}

/// A form of the authorization pages: the request again (hidden fields),
/// the anti-forgery token, and what was done.
#[derive(Deserialize, ToSchema)]
struct AuthorizeForm {
    #[serde(flatten)]
    request: AuthorizeQuery,
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    /// `sign_in`, `second_factor`, `continue`, `allow` or `deny`
    #[schema(value_type = String)]
    action: Text,
    /// `sign_in`: an email address or a username
    #[schema(value_type = Option<String>)]
    username: Text,
    /// `sign_in`
    #[schema(value_type = Option<String>)]
    password: Text,
    /// `second_factor`: the step's token, from the page that asked
    #[schema(value_type = Option<String>)]
    mfa_token: Text,
    /// `second_factor`: the 6 digits the authenticator app shows
    #[schema(value_type = Option<String>)]
    code: Text,
    /// `second_factor`: a recovery code instead of `code`
    #[schema(value_type = Option<String>)]
    recovery_code: Text,
    /// `second_factor`: a passkey's answer instead of a code
    /// (`PublicKeyCredential` as JSON, which the passkey button fills in)
    #[schema(value_type = Option<String>)]
    webauthn: Text,
    /// `sign_in` with a passkey alone: the ceremony's handle, from
    /// `POST /api/v1/auth/passkey/options`
    #[schema(value_type = Option<String>)]
    ceremony: Text,
    /// `sign_in` with a passkey alone, instead of `username` and
    /// `password`: its answer to that ceremony's options
    /// (`PublicKeyCredential` as JSON, which the passkey button fills in)
    #[schema(value_type = Option<String>)]
    credential: Text,
}

/// Acts on a page's form: signs in (the same limits and lockout as
/// `/api/v1/auth/login`; an account with a second factor is asked for it on
/// the next page; a browser session starts), continues, allows or denies;
/// then the next page or the redirect to the app.
#[utoipa::path(post, path = "/oauth/authorize", tag = "pages", operation_id = "authorize_form",
    request_body(content = AuthorizeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The next page (the second factor after a password, consent after a sign-in)", content_type = "text/html", body = String),
        (status = 303, description = "Back to the app with `code`, `state` and `iss`, or with `error`"),
        (status = 400, description = "An unknown client or redirect URI", content_type = "text/html", body = String),
        (status = 401, description = "The sign-in form again: wrong name or password, or a second-factor step that is over; or the second-factor page again: a wrong code", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong; or the sign-in form again: blocked or not activated", content_type = "text/html", body = String),
        (status = 422, description = "The sign-in or second-factor form again: a field is missing or malformed; or a parameter holds a control character", content_type = "text/html", body = String),
        (status = 429, description = "The sign-in or second-factor form again: too many attempts", content_type = "text/html", body = String),
    ))]
async fn authorize_form(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<AuthorizeForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    check_form(&state, &headers, &form.csrf)?;
    let params = form.request.parse().map_err(ApiError::from)?;
    let request = match checked(&state, params.clone())? {
        Ok(request) => request,
        Err(refused) => return Ok(refused),
    };
    let choice = match text_of(&form.action) {
        "sign_in" | "second_factor" => None,
        "continue" => Some(Choice::Continue),
        "allow" => Some(Choice::Allow),
        "deny" => Some(Choice::Deny),
        _ => return Err(ApiError::BadRequest("Unknown action").into()),
    };
    if let Some(choice) = choice {
        let browser = state
            .authorize
            .browser_session(browser_cookie(&headers).as_deref())
            .await?;
        let step = state
            .authorize
            .choose(&request, browser, choice, &device)
            .await?;
        return Ok(show(
            &state,
            &headers,
            &request,
            &params,
            Shown::Step(step),
            Feedback::none(),
        ));
    }
    let typed = text_of(&form.username).to_owned();
    let mfa_token = text_of(&form.mfa_token).to_owned();
    // A page again after a refusal, in the API's words.
    let again = |shown: Shown<'_>, e: ApiError| {
        e.log();
        let mut page = show(
            &state,
            &headers,
            &request,
            &params,
            shown,
            Feedback {
                status: e.status(),
                problems: e.words(),
                typed: Some(&typed),
            },
        );
        e.add_headers(page.headers_mut());
        page
    };
    let factor_step = text_of(&form.action) == "second_factor";
    let credentials = if factor_step {
        let Some(token) = MfaToken::parse(&mfa_token) else {
            let dead = AuthError::InvalidMfaToken.into();
            return Ok(again(Shown::Step(Step::SignIn), dead));
        };
        match second_factor(form.code, form.recovery_code, form.webauthn) {
            Ok(proof) => Credentials::SecondFactor(token, proof),
            Err(errors) => {
                let shown = factor_step_page(&state, &mfa_token).await;
                return Ok(again(shown, errors.into()));
            }
        }
    } else {
        let parsed =
            sign_in_credentials(form.username, form.password, form.ceremony, form.credential);
        match parsed {
            Ok(credentials) => credentials,
            Err(errors) => return Ok(again(Shown::Step(Step::SignIn), errors.into())),
        }
    };
    match state
        .authorize
        .sign_in(&request, credentials, &device)
        .await
    {
        Ok(signed_in) => {
            let mut response = show(
                &state,
                &headers,
                &request,
                &params,
                Shown::Step(signed_in.step),
                Feedback::none(),
            );
            keep_browser_session(&mut response, &state, &signed_in.cookie);
            Ok(response)
        }
        Err(AuthorizeError::SignIn(AuthError::MfaRequired(challenge))) => {
            let shown = factor_step_page(&state, &challenge.mfa_token).await;
            Ok(show(
                &state,
                &headers,
                &request,
                &params,
                shown,
                Feedback::none(),
            ))
        }
        Err(e) if factor_step && !ends_the_step(&e) => {
            let shown = factor_step_page(&state, &mfa_token).await;
            Ok(again(shown, e.into()))
        }
        Err(e) => Ok(again(Shown::Step(Step::SignIn), e.into())),
    }
}

/// RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2).
#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
struct LogoutQuery {
    /// An ID token this service issued to the app (it may have expired)
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    id_token_hint: Text,
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    client_id: Text,
    /// One the client registered, exactly
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    post_logout_redirect_uri: Text,
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    state: Text,
}

impl Parse for LogoutQuery {
    type Output = LogoutParams;

    fn parse(self) -> Result<LogoutParams, ValidationErrors> {
        let (id_token_hint, client_id, post_logout_redirect_uri, state) = all((
            self.id_token_hint.optional_text("id_token_hint"),
            self.client_id.optional_text("client_id"),
            self.post_logout_redirect_uri
                .optional_text("post_logout_redirect_uri"),
            self.state.optional_text("state"),
        ))?;
        Ok(LogoutParams {
            id_token_hint,
            client_id,
            post_logout_redirect_uri,
            state,
        })
    }
}

#[derive(Template)]
#[template(path = "pages/logout.html")]
struct LogoutPage<'a> {
    fields: Vec<(&'static str, String)>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "pages/done.html")]
struct SignedOutPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// Ends the sign-in and answers: to the app's registered
/// `post_logout_redirect_uri`, or tessera's "signed out" page.
async fn sign_out(
    state: &AppState,
    headers: &HeaderMap,
    params: LogoutParams,
    device: &crate::client::ClientInfo,
) -> Result<Response, PageError> {
    let target = state
        .authorize
        .log_out(params, browser_cookie(headers).as_deref(), device)
        .await?;
    let mut response = match target {
        Some(location) => redirect(&location),
        None => html(
            StatusCode::OK,
            &SignedOutPage {
                title: "Signed out",
                message: "You are signed out of tessera in this browser.",
            },
        ),
    };
    forget_browser_session(&mut response, state);
    Ok(response)
}

/// RP-initiated logout. With an `id_token_hint` the app's session and this
/// browser's sign-in end at once; without one a page asks first (a link on
/// another site must not sign anyone out).
#[utoipa::path(get, path = "/oauth/logout", tag = "pages", operation_id = "oauth_logout",
    params(LogoutQuery),
    responses(
        (status = 200, description = "Signed out, or the page that asks first", content_type = "text/html", body = String),
        (status = 303, description = "Signed out: to the app's registered post_logout_redirect_uri, with `state`"),
        (status = 400, description = "An unknown client, a post_logout_redirect_uri it did not register, or a hint that is not our ID token", content_type = "text/html", body = String),
        (status = 422, description = "A parameter holds what no text may (a control character)", content_type = "text/html", body = String),
    ))]
async fn logout(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    query: Result<Query<LogoutQuery>, ApiError>,
) -> Result<Response, PageError> {
    let Query(query) = query?;
    let params = query.parse().map_err(ApiError::from)?;
    if params
        .id_token_hint
        .as_deref()
        .is_some_and(|h| !h.is_empty())
    {
        return sign_out(&state, &headers, params, &device).await;
    }
    let (nonce, fresh) = form_nonce(&headers);
    let fields = given(&[
        ("client_id", &params.client_id),
        ("post_logout_redirect_uri", &params.post_logout_redirect_uri),
        ("state", &params.state),
    ]);
    let mut response = html(
        StatusCode::OK,
        &LogoutPage {
            fields,
            csrf: &form_token(&state, &nonce),
        },
    );
    remember_form_nonce(&mut response, &state, &nonce, fresh);
    Ok(response)
}

/// The sign-out page's form.
#[derive(Deserialize, ToSchema)]
struct LogoutForm {
    #[serde(flatten)]
    request: LogoutQuery,
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
}

/// Signs out after the page asked.
#[utoipa::path(post, path = "/oauth/logout", tag = "pages", operation_id = "oauth_logout_form",
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Signed out", content_type = "text/html", body = String),
        (status = 303, description = "Signed out: to the app's registered post_logout_redirect_uri"),
        (status = 400, description = "An unknown client or a post_logout_redirect_uri it did not register", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 422, description = "A parameter holds what no text may (a control character)", content_type = "text/html", body = String),
    ))]
async fn logout_form(
    State(state): State<AppState>,
    Client(device): Client,
    headers: HeaderMap,
    body: Result<Body<LogoutForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    check_form(&state, &headers, &form.csrf)?;
    let params = form.request.parse().map_err(ApiError::from)?;
    sign_out(&state, &headers, params, &device).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pages_forms_may_go_here_and_to_the_apps_redirect_only() {
        let csp = content_security_policy("http://127.0.0.1:51234/callback?x=1", false);
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:51234;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("script-src"), "{csp}");
        let native = content_security_policy("com.example.app:/oauth", false);
        assert!(
            native.contains("form-action 'self' com.example.app:;"),
            "{native}"
        );
        let script = content_security_policy("http://127.0.0.1:51234/callback", true);
        assert!(script.contains("script-src 'self';"), "{script}");
        assert!(
            script.contains("form-action 'self' http://127.0.0.1:51234;"),
            "{script}"
        );
        assert!(script.contains("default-src 'none'"), "{script}");
    }
}
