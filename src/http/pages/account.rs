//! The pages e-mail links open: `/auth/reset-password` and `/auth/activate`.
//! A GET only shows a form (mail scanners open links); the POST acts, through
//! the same `Account` functions as `/api/v1/auth/reset-password` and
//! `/api/v1/auth/activate`.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::auth::{ResetPasswordRequest, TokenRequest};
use super::super::error::ApiError;
use super::super::extract::{Body, Client, Parse, Query};
use super::super::responses::{ACTIVATED, PASSWORD_RESET};
use super::{html, text_of, PageError};
use crate::account::AccountError;
use crate::http::AppState;
use crate::tokens::opaque::TokenKeys;
use crate::users::rules::{PASSWORD_MAX, PASSWORD_MIN};
use crate::validation::{FieldError, Text, ValidationErrors};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(reset_form, reset))
        .routes(routes!(activate_form, activate_account))
}

/// What a form's anti-forgery token is bound to: the page and the link's
/// token, so it is good for that one form only.
fn bound(keys: &TokenKeys, page: &str, token: &str) -> String {
    keys.form_token(format!("{page}\0{token}").as_bytes())
}

fn forged(keys: &TokenKeys, page: &str, token: &str, csrf: &Text) -> bool {
    !keys.check_form_token(format!("{page}\0{token}").as_bytes(), text_of(csrf))
}

/// `?token=` of an e-mail link.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LinkQuery {
    /// The token from the e-mail's link
    #[param(value_type = Option<String>)]
    token: Text,
}

impl LinkQuery {
    /// The link's token; a link without one is `invalid` (the page says the
    /// link is invalid, as for an unknown token).
    fn token(
        query: Result<Query<Self>, ApiError>,
        invalid: AccountError,
    ) -> Result<String, PageError> {
        let Query(query) = query?;
        Ok(query
            .token
            .optional_text("token")
            .ok()
            .flatten()
            .ok_or(invalid)?)
    }
}

#[derive(Template)]
#[template(path = "pages/reset_password.html")]
struct ResetPage<'a> {
    token: &'a str,
    csrf: String,
    problems: Vec<String>,
    min: usize,
    max: usize,
}

impl<'a> ResetPage<'a> {
    fn new(keys: &TokenKeys, token: &'a str, problems: Vec<String>) -> Self {
        Self {
            token,
            csrf: bound(keys, "reset-password", token),
            problems,
            min: PASSWORD_MIN,
            max: PASSWORD_MAX,
        }
    }
}

#[derive(Template)]
#[template(path = "pages/done.html")]
struct DonePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// The form of a reset link: the new password twice, and the rules. Only a
/// live link gets the form; opening it uses nothing.
#[utoipa::path(get, path = "/auth/reset-password", tag = "pages",
    params(LinkQuery),
    responses(
        (status = 200, description = "The form for a new password", content_type = "text/html", body = String),
        (status = 400, description = "The link is invalid, expired or used", content_type = "text/html", body = String),
    ))]
async fn reset_form(
    State(state): State<AppState>,
    query: Result<Query<LinkQuery>, ApiError>,
) -> Result<Response, PageError> {
    let token = LinkQuery::token(query, AccountError::InvalidResetToken)?;
    state.account.check_reset_link(&token).await?;
    Ok(html(
        StatusCode::OK,
        &ResetPage::new(&state.pages.form_keys, &token, Vec::new()),
    ))
}

/// The reset form's fields.
#[derive(Deserialize, ToSchema)]
struct ResetForm {
    #[schema(value_type = String)]
    token: Text,
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    #[schema(value_type = String)]
    new_password: Text,
    #[schema(value_type = String)]
    confirm_password: Text,
}

/// Sets the new password (`POST /api/v1/auth/reset-password`'s domain call;
/// every session ends), then a success page. A password that breaks a rule,
/// or two that differ, show the form again and leave the link usable.
#[utoipa::path(post, path = "/auth/reset-password", tag = "pages",
    request_body(content = ResetForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The password is reset", content_type = "text/html", body = String),
        (status = 400, description = "The link is invalid, expired or used", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 422, description = "The form again, with what is wrong", content_type = "text/html", body = String),
    ))]
async fn reset(
    State(state): State<AppState>,
    Client(client): Client,
    body: Result<Body<ResetForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    let raw_token = text_of(&form.token).to_owned();
    let keys = &state.pages.form_keys;
    if forged(keys, "reset-password", &raw_token, &form.csrf) {
        return Err(ApiError::FormRejected.into());
    }
    let again = |error: ApiError| {
        let problems = error.words();
        html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ResetPage::new(keys, &raw_token, problems),
        )
    };
    let confirmation = form.confirm_password.clone();
    let request = ResetPasswordRequest {
        token: form.token,
        new_password: form.new_password,
    };
    let (token, new_password) = match request.parse() {
        Ok(parsed) => parsed,
        Err(errors) => return Ok(again(errors.into())),
    };
    if text_of(&confirmation) != new_password.secret().expose_secret() {
        return Ok(again(
            ValidationErrors::single(FieldError::rule(
                "confirm_password",
                "The two passwords are not the same.",
            ))
            .into(),
        ));
    }
    match state
        .account
        .reset_password(&token, new_password, &client)
        .await
    {
        Ok(()) => Ok(html(
            StatusCode::OK,
            &DonePage {
                title: "Password changed",
                message: PASSWORD_RESET,
            },
        )),
        Err(refused @ AccountError::NewPasswordRefused(_)) => Ok(again(refused.into())),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "pages/activate.html")]
struct ActivatePage<'a> {
    token: &'a str,
    csrf: String,
}

/// The page of an activation link: an "Activate" button. Opening it
/// activates nothing; the button's POST does.
#[utoipa::path(get, path = "/auth/activate", tag = "pages",
    params(LinkQuery),
    responses(
        (status = 200, description = "The page with the Activate button", content_type = "text/html", body = String),
        (status = 400, description = "The link has no token", content_type = "text/html", body = String),
    ))]
async fn activate_form(
    State(state): State<AppState>,
    query: Result<Query<LinkQuery>, ApiError>,
) -> Result<Response, PageError> {
    let token = LinkQuery::token(query, AccountError::InvalidActivationToken)?;
    Ok(html(
        StatusCode::OK,
        &ActivatePage {
            csrf: bound(&state.pages.form_keys, "activate", &token),
            token: &token,
        },
    ))
}

/// The activation form's fields.
#[derive(Deserialize, ToSchema)]
struct ActivateForm {
    #[schema(value_type = String)]
    token: Text,
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
}

/// Activates the account (`POST /api/v1/auth/activate`'s domain call).
#[utoipa::path(post, path = "/auth/activate", tag = "pages",
    request_body(content = ActivateForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The account is active", content_type = "text/html", body = String),
        (status = 400, description = "The link is invalid or expired, or the account is active already", content_type = "text/html", body = String),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
    ))]
async fn activate_account(
    State(state): State<AppState>,
    Client(client): Client,
    body: Result<Body<ActivateForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    if forged(
        &state.pages.form_keys,
        "activate",
        text_of(&form.token),
        &form.csrf,
    ) {
        return Err(ApiError::FormRejected.into());
    }
    let token = TokenRequest { token: form.token }
        .parse()
        .map_err(|_| AccountError::InvalidActivationToken)?;
    state.account.activate(&token, &client).await?;
    Ok(html(
        StatusCode::OK,
        &DonePage {
            title: "Account activated",
            message: ACTIVATED,
        },
    ))
}
