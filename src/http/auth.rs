//! `/api/v1/auth`: parse, call one domain function, shape the answer.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, DependencyError, Detail};
use super::error::{INVALID_QUERY, NOT_AUTHENTICATED};
use super::extract::{
    access_token, dpop_header, Authenticated, Bearer as BearerHeader, Client, DpopHeader,
    ForwardedRequest, Parse, Valid, ValidQuery,
};
use super::invalid::{Location, ValidationIssue};
use super::responses::{
    self as doc, Message, ACTIVATED, ACTIVATION_SENT, PASSWORD_CHANGED, PASSWORD_RESET,
    RESET_LINK_SENT,
};
use super::AppState;
use crate::account::AccountError;
use crate::auth::{parse_max_age, Acr, AuthError, LoginName, Opening, StepUp, TokenPair};
use crate::captcha::CaptchaError;
use crate::clients::{self, Scopes};
use crate::clock::now_secs;
use crate::dpop::Checked;
use crate::tokens::{AccessClaims, Bearer, ClientClaims};
use crate::users::{Email, NewPassword, Registration, UserPublic, Username};
use crate::validation::{all, FieldError, Text, ValidationErrors};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(register))
        .routes(routes!(username_available))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(verify))
        .routes(routes!(activate))
        .routes(routes!(resend_activation))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(change_password))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2ln",
    "refresh_token": "AZLx2Yb9c0t1Z0bW9rZW4tZXhhbXBsZS1ub3QtcmVhbC10b2tlbi1ieXRlcy1oZXJlLWZvci1kb2NzLW9ubHk",
    "token_type": TOKEN_TYPE, "expires_in": 900, "refresh_expires_in": 2592000
}))]
pub struct TokenResponse {
    access_token: String,
    refresh_token: String,
    #[schema(value_type = String, example = json!(TOKEN_TYPE))]
    token_type: &'static str,
    expires_in: u64,
    refresh_expires_in: u64,
}

/// The `token_type` of the JSON API's token pairs.
const TOKEN_TYPE: &str = "bearer";
/// RFC 9449 §5's `token_type` of a DPoP-bound access token.
pub(super) const DPOP_TOKEN_TYPE: &str = "DPoP";

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: if pair.dpop_bound {
                DPOP_TOKEN_TYPE
            } else {
                TOKEN_TYPE
            },
            expires_in: pair.expires_in,
            refresh_expires_in: pair.refresh_expires_in,
        }
    }
}

/// `POST /auth/register`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "alice@example.com", "username": "alice", "password": "correct horse battery staple"}))]
struct RegisterRequest {
    /// A valid address; stored lower-cased.
    #[schema(value_type = String)]
    email: Text,
    /// 3–30 of `[A-Za-z0-9_-]`, no `__` or `--`, not reserved.
    #[schema(value_type = String)]
    username: Text,
    /// 8–128 characters, not a common password, not the email or username.
    #[schema(value_type = String)]
    password: Text,
    /// Required when CAPTCHA is configured.
    #[schema(value_type = Option<String>)]
    captcha_token: Text,
}

impl Parse for RegisterRequest {
    type Output = Registration;

    /// Every rule at once; the password rule sees the email and username
    /// when they are valid.
    fn parse(self) -> Result<Registration, ValidationErrors> {
        let email = self.email.required("email", |e| Email::parse(&e));
        let username = self.username.required("username", |u| Username::parse(&u));
        let password = self.password.required("password", |p| {
            NewPassword::parse(
                &p,
                email.as_ref().ok().map(Email::as_str),
                username.as_ref().ok().map(Username::as_str),
            )
        });
        let captcha_token = self.captcha_token.optional_text("captcha_token");
        let (email, username, password, captcha_token) =
            all((email, username, password, captcha_token))?;
        Ok(Registration {
            email,
            username,
            password,
            captcha_token,
        })
    }
}

/// Creates an account (inactive until activated when email verification is on).
#[utoipa::path(post, path = "/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new user", body = UserPublic),
        (status = 400, description = "The CAPTCHA answer is refused", body = Detail, example = json!(doc::example(CaptchaError::Rejected))),
        (status = 504, description = "The CAPTCHA verifier did not answer in time", body = DependencyError,
            example = json!(doc::example(CaptchaError::TimedOut))),
        doc::Conflict, doc::JsonBody, doc::Limited, doc::Stores,
    ))]
async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    Valid(registration): Valid<RegisterRequest>,
) -> Result<Response, ApiError> {
    let user = state.account.register(registration, &client).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UsernameQuery {
    /// The name to check
    #[param(value_type = String)]
    username: Text,
}

impl Parse for UsernameQuery {
    type Output = Username;

    fn parse(self) -> Result<Username, ValidationErrors> {
        Ok(self
            .username
            .required("username", |u| Username::parse(&u))?)
    }
}

/// `GET /auth/username-available`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"available": false, "suggestion": "john2"}))]
struct UsernameAvailability {
    available: bool,
    /// The first free `name<N>` when the name is taken.
    suggestion: Option<String>,
}

/// Whether a username is free, with a suggestion when it is not.
#[utoipa::path(get, path = "/username-available", tag = "auth",
    params(UsernameQuery),
    responses(
        (status = 200, body = UsernameAvailability),
        doc::Invalid, doc::Limited, doc::Stores))]
async fn username_available(
    State(state): State<AppState>,
    Client(client): Client,
    ValidQuery(username): ValidQuery<UsernameQuery>,
) -> Result<Json<UsernameAvailability>, ApiError> {
    let (available, suggestion) = state.auth.username_availability(&username, &client).await?;
    Ok(Json(UsernameAvailability {
        available,
        suggestion,
    }))
}

/// `POST /auth/login`, as JSON or as the OAuth2 password form: `email` or
/// `username`, and `password`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "alice@example.com", "password": "correct horse battery staple"}))]
struct LoginRequest {
    #[schema(value_type = Option<String>)]
    email: Text,
    /// Used when `email` is absent: a username or an email address (the
    /// OAuth2 password form's field).
    #[schema(value_type = Option<String>)]
    username: Text,
    #[schema(value_type = String)]
    password: Text,
}

impl Parse for LoginRequest {
    type Output = (LoginName, SecretString);

    /// The name to look up (`email` wins over `username`) and the password.
    fn parse(self) -> Result<(LoginName, SecretString), ValidationErrors> {
        let name = match (
            self.email.optional_text("email"),
            self.username.optional_text("username"),
        ) {
            (Ok(Some(email)), Ok(_)) => Ok(LoginName::email(&email)),
            (Ok(None), Ok(Some(username))) => Ok(LoginName::guess(&username)),
            (email, username) => {
                let named = matches!(email, Ok(Some(_))) || matches!(username, Ok(Some(_)));
                let mut errors: Vec<FieldError> = [email.err(), username.err()]
                    .into_iter()
                    .flatten()
                    .collect();
                if !named {
                    errors.push(FieldError::missing("username"));
                }
                Err(ValidationErrors(errors))
            }
        };
        let password = self
            .password
            .required_text("password")
            .map(SecretString::from);
        all((name, password))
    }
}

/// Logs in with an email or username and a password; starts a session.
/// With a `DPoP` proof (RFC 9449) both tokens are bound to its key. For an
/// account with a second factor the right password answers 401
/// `{"detail":"Second factor required","error_code":"MFA_REQUIRED","mfa_token","methods"}`
/// (`MfaRequiredBody`): finish at `POST /api/v1/auth/mfa/verify`.
#[utoipa::path(post, path = "/login", tag = "auth",
    request_body(content(
        (LoginRequest = "application/x-www-form-urlencoded"),
        (LoginRequest = "application/json"),
    )),
    responses(
        (status = 200, body = TokenResponse),
        (status = 403, description = "Not activated or blocked", body = Detail, example = json!(doc::example(AuthError::Blocked))),
        doc::Credentials, doc::JsonBody, doc::Limited))]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    proof: DpopHeader,
    Valid((name, password)): Valid<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let proof = proof.check(&state, "POST", LOGIN_PATH).await?;
    let opening = Opening {
        jkt: proof.map(|proof| proof.jkt().to_owned()),
        ..Opening::default()
    };
    Ok(Json(
        state
            .auth
            .login_to(name, password, &client, opening)
            .await?
            .into(),
    ))
}

/// The paths a DPoP proof's `htu` names.
const LOGIN_PATH: &str = "/api/v1/auth/login";
const REFRESH_PATH: &str = "/api/v1/auth/refresh";
const LOGOUT_PATH: &str = "/api/v1/auth/logout";

/// A refresh token in the body (else the `Authorization: Bearer` header
/// is used).
#[derive(Deserialize, ToSchema)]
struct RefreshRequest {
    #[schema(value_type = Option<String>)]
    refresh_token: Text,
}

impl Parse for RefreshRequest {
    type Output = Option<String>;

    /// `refresh_token` from the body, if given.
    fn parse(self) -> Result<Option<String>, ValidationErrors> {
        Ok(self.refresh_token.optional_text("refresh_token")?)
    }
}

/// Rotates a refresh token (from the body, else the bearer header): a new
/// pair for the same session. A retired token replayed after the grace
/// window ends the session. A token bound to a DPoP key needs a proof by
/// that key: then the key, not the clock, tells a retry from a theft.
#[utoipa::path(post, path = "/refresh", tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional when the refresh token is sent as `Authorization: Bearer`"),
    security((), ("bearer" = [])),
    responses((status = 200, body = TokenResponse), doc::Credentials, doc::JsonBody, doc::Limited))]
async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    BearerHeader(bearer): BearerHeader,
    proof: DpopHeader,
    Valid(in_body): Valid<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let token = in_body.or(bearer).ok_or(AuthError::InvalidRefreshToken)?;
    // Its `jti` is spent by the rotation, in the same round trip.
    let proof = proof.check_unspent(&state, "POST", REFRESH_PATH)?;
    Ok(Json(
        state
            .auth
            .refresh(&token, &client, "", proof.as_ref())
            .await?
            .into(),
    ))
}

/// Ends the session of a refresh token and/or of the bearer access token;
/// unknown tokens succeed too.
#[utoipa::path(post, path = "/logout", tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional"),
    security((), ("bearer" = [])),
    responses((status = 204, description = "Logged out"), doc::JsonBody, doc::Stores))]
async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    proof: DpopHeader,
    Valid(refresh): Valid<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let access = access_token(&headers).map(|presented| presented.token);
    let proof = proof.check(&state, "POST", LOGOUT_PATH).await?;
    let jkt = proof.as_ref().map(Checked::jkt);
    state
        .auth
        .logout(refresh.as_deref(), access, &client, jkt)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller.
#[utoipa::path(post, path = "/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Every session ended"), doc::Credentials))]
async fn logout_all(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.auth.logout_all(&claims, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{token}` (activation).
#[derive(Deserialize, ToSchema)]
pub(super) struct TokenRequest {
    #[schema(value_type = String)]
    pub(super) token: Text,
}

impl Parse for TokenRequest {
    type Output = String;

    fn parse(self) -> Result<String, ValidationErrors> {
        Ok(self.token.required_text("token")?)
    }
}

/// Activates an account with the token from the activation email.
#[utoipa::path(post, path = "/activate", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, body = Message),
        (status = 400, description = "Invalid or expired token, or already active", body = Detail,
            example = json!(doc::example(AccountError::InvalidActivationToken))),
        doc::JsonBody, doc::Limited, doc::Stores,
    ))]
async fn activate(
    State(state): State<AppState>,
    Client(client): Client,
    Valid(token): Valid<TokenRequest>,
) -> Result<Json<Message>, ApiError> {
    state.account.activate(&token, &client).await?;
    Ok(Message::json(ACTIVATED))
}

/// `{email}` (activation resend, forgot-password).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "alice@example.com"}))]
struct EmailRequest {
    #[schema(value_type = String)]
    email: Text,
}

impl Parse for EmailRequest {
    type Output = Email;

    fn parse(self) -> Result<Email, ValidationErrors> {
        Ok(self.email.required("email", |e| Email::parse(&e))?)
    }
}

/// 202 whether or not the email names an account awaiting activation.
/// Sends a new activation email; 202 whatever the address.
#[utoipa::path(post, path = "/activate/resend", tag = "auth",
    request_body = EmailRequest,
    responses(
        (status = 202, body = Message, example = json!(Message::new(ACTIVATION_SENT))),
        doc::JsonBody, doc::Limited, doc::Stores))]
async fn resend_activation(
    State(state): State<AppState>,
    Client(client): Client,
    Valid(email): Valid<EmailRequest>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    state.account.resend_activation(&email, &client).await?;
    Ok((StatusCode::ACCEPTED, Message::json(ACTIVATION_SENT)))
}

/// 202 with the same body whether or not the email names an account.
/// Sends a password reset link; 202 with the same body whatever the address.
#[utoipa::path(post, path = "/forgot-password", tag = "auth",
    request_body = EmailRequest,
    responses(
        (status = 202, body = Message, example = json!(Message::new(RESET_LINK_SENT))),
        doc::JsonBody, doc::Limited, doc::Stores))]
async fn forgot_password(
    State(state): State<AppState>,
    Client(client): Client,
    Valid(email): Valid<EmailRequest>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    state.account.forgot_password(&email, &client).await?;
    Ok((StatusCode::ACCEPTED, Message::json(RESET_LINK_SENT)))
}

/// `POST /auth/reset-password`.
#[derive(Deserialize, ToSchema)]
pub(super) struct ResetPasswordRequest {
    #[schema(value_type = String)]
    pub(super) token: Text,
    #[schema(value_type = String)]
    pub(super) new_password: Text,
}

impl Parse for ResetPasswordRequest {
    type Output = (String, NewPassword);

    /// The rules that need no account; the rest are checked once the
    /// token names it.
    fn parse(self) -> Result<(String, NewPassword), ValidationErrors> {
        all((
            self.token.required_text("token"),
            self.new_password
                .required("new_password", |p| NewPassword::parse(&p, None, None)),
        ))
    }
}

/// Sets a new password with the token from the reset email; every session ends.
#[utoipa::path(post, path = "/reset-password", tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, body = Message, example = json!(Message::new(PASSWORD_RESET))),
        (status = 400, description = "Invalid or expired token", body = Detail,
            example = json!(doc::example(AccountError::InvalidResetToken))),
        doc::JsonBody, doc::Limited, doc::Stores,
    ))]
async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    Valid((token, new_password)): Valid<ResetPasswordRequest>,
) -> Result<Json<Message>, ApiError> {
    state
        .account
        .reset_password(&token, new_password, &client)
        .await?;
    Ok(Message::json(PASSWORD_RESET))
}

/// `POST /auth/change-password`.
#[derive(Deserialize, ToSchema)]
struct ChangePasswordRequest {
    #[schema(value_type = String)]
    current_password: Text,
    /// Must differ from the current password.
    #[schema(value_type = String)]
    new_password: Text,
}

impl Parse for ChangePasswordRequest {
    type Output = (SecretString, NewPassword);

    fn parse(self) -> Result<(SecretString, NewPassword), ValidationErrors> {
        let current = self
            .current_password
            .required_text("current_password")
            .map(SecretString::from);
        let new = self.new_password.required("new_password", |p| {
            let new = NewPassword::parse(&p, None, None)?;
            match &current {
                Ok(current) => new.differs_from(current),
                Err(_) => Ok(new),
            }
        });
        all((current, new))
    }
}

/// Changes the caller's password; every other session ends.
#[utoipa::path(post, path = "/change-password", tag = "auth",
    request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Message, example = json!(Message::new(PASSWORD_CHANGED))),
        doc::BadRequest, doc::Credentials, doc::JsonBody, doc::Limited))]
async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Valid((current, new_password)): Valid<ChangePasswordRequest>,
) -> Result<Json<Message>, ApiError> {
    state
        .account
        .change_password(&claims, current, new_password, &client)
        .await?;
    Ok(Message::json(PASSWORD_CHANGED))
}

/// `/verify`'s query: what the gateway route asks of the token.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct VerifyParams {
    /// The audience the token must name (`jwt.audience` when absent): a
    /// downstream service's route names its own.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    audience: Text,
    /// Space-separated scopes the token must all hold; 403
    /// `insufficient_scope` otherwise.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    scope: Text,
    /// `mfa`: the user must have signed in with a second factor (RFC 9470);
    /// 401 `insufficient_user_authentication` otherwise.
    #[serde(default)]
    #[param(value_type = Option<String>, example = "mfa")]
    acr: Text,
    /// The user must have signed in at most this many seconds ago (0 to
    /// 315360000); 401 `insufficient_user_authentication` otherwise.
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 0, maximum = 315_360_000)]
    max_age: Text,
}

/// What `/verify` checks beyond the token itself.
struct VerifyDemands {
    audience: Option<String>,
    scope: Option<Scopes>,
    step_up: Option<StepUp>,
}

impl Parse for VerifyParams {
    type Output = VerifyDemands;

    fn parse(self) -> Result<VerifyDemands, ValidationErrors> {
        let (audience, scope, acr, max_age) = all((
            self.audience
                .optional("audience", |s| clients::model::audience(&s)),
            self.scope.optional("scope", |s| Scopes::parse_list(&s)),
            self.acr.optional("acr", |s| Acr::parse(&s)),
            self.max_age.optional("max_age", |s| parse_max_age(&s)),
        ))?;
        Ok(VerifyDemands {
            audience,
            scope,
            step_up: StepUp::of(acr, max_age),
        })
    }
}

/// The claims `/verify` answers: a user's token's (with the session's
/// current role and subscription) or a client's own token's.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum VerifiedClaims {
    User(AccessClaims),
    Client(ClientClaims),
}

/// Forward-auth target (nginx `auth_request`, Traefik ForwardAuth, Caddy
/// `forward_auth`): 200 with the identity in headers (for the gateway to
/// pass on) and the claims as the body; 401 with `WWW-Authenticate`
/// otherwise, 403 `insufficient_scope` when the token lacks a scope the
/// route asks for (`?scope=`). Gateways ask with GET whatever the original
/// request's method; `X-Forwarded-Method` / `X-Forwarded-Uri` name the
/// request being authorised and are logged with the decision. Any method
/// and path pass: tessera authenticates, the gateway routes. A user's token
/// needs its live session (role and subscription, in the headers and in the
/// body alike, are the session's current ones); a client's own token needs
/// its client enabled, and forwards `X-Client-Id` and `X-Scope`, never
/// `X-User-*`. A route that demands a second factor (`?acr=mfa`) or a
/// recent sign-in (`?max_age=`) gets 401 with RFC 9470's
/// `WWW-Authenticate: Bearer error="insufficient_user_authentication"`,
/// `acr_values` and `max_age` for a token whose sign-in is less, judged on
/// the token's own `acr` and `auth_time` (no extra round trip).
#[utoipa::path(get, path = "/verify", tag = "auth", security(("bearer" = [])),
    params(VerifyParams),
    responses(
        (status = 200, description = "The token is valid and its session (or client) live; the body is its claims, with the session's current role and subscription", body = VerifiedClaims,
            headers(
                ("X-User-Id" = String, description = "The user's id (a user's token)"),
                ("X-User-Role" = String, description = "ADMIN, MODERATOR or REGULAR (a user's token)"),
                ("X-User-Subscription" = String, description = "FREE or PRO (a user's token)"),
                ("X-Session-Id" = String, description = "The session's id (a user's token)"),
                ("X-User-AMR" = String, description = "How the user signed in (RFC 8176 `amr`, space-separated, e.g. `pwd otp mfa`; a user's token)"),
                ("X-Client-Id" = String, description = "The client the token was issued to"),
                ("X-Scope" = String, description = "The token's scopes, space-separated, when it has any"),
            )),
        (status = 403, description = "The token lacks a scope the route asks for (`WWW-Authenticate: Bearer error=\"insufficient_scope\"`)", body = Detail),
        doc::Credentials,
        doc::Invalid,
    ))]
async fn verify(
    State(state): State<AppState>,
    forwarded_request: ForwardedRequest,
    request: Request,
) -> Result<(HeaderMap, Json<VerifiedClaims>), ApiError> {
    // The request itself, not the `HeaderMap` and `RawQuery` extractors:
    // those copy the headers and the query for every request.
    let (parts, _) = request.into_parts();
    let (forwarded, query) = (&parts.headers, parts.uri.query());
    // Borrowed, not copied: the hot path allocates only what it answers.
    let header = |name: &str| {
        forwarded
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let (method, uri) = (header("x-forwarded-method"), header("x-forwarded-uri"));
    let demands = match query {
        None => VerifyDemands {
            audience: None,
            scope: None,
            step_up: None,
        },
        // Text fields read any query, so only a malformed one fails here.
        Some(query) => serde_urlencoded::from_str::<VerifyParams>(query)
            .map_err(|_| ValidationIssue::undecodable(Location::Query, INVALID_QUERY))?
            .parse()
            .map_err(|e| ApiError::invalid(Location::Query, e))?,
    };
    let presented = access_token(forwarded);
    let authenticated = match presented {
        Some(presented) => {
            let audience = demands
                .audience
                .as_deref()
                .unwrap_or(state.tokens.audience());
            // A DPoP-bound token: only with a proof by its key for the
            // original request, as the trusted proxy in front names it.
            let bind = |cnf: &_| {
                let original = forwarded_request.original(forwarded, &state.dpop);
                let (original_method, original_uri) = original
                    .as_ref()
                    .map(|(m, u)| (m.as_str(), u.as_str()))
                    .unwrap_or_default();
                let proof = dpop_header(forwarded);
                state
                    .dpop
                    .check_binding(cnf, presented, proof, original_method, original_uri)
                    .map(Some)
            };
            state
                .auth
                .authenticate_for(presented.token, audience, bind)
                .await
                .map_err(ApiError::at_resource)
        }
        None => Err(ApiError::Unauthorized(NOT_AUTHENTICATED)),
    };
    let bearer = match authenticated {
        Ok(bearer) => bearer,
        Err(e) => {
            tracing::debug!(forwarded_method = %method, forwarded_uri = %uri, "forward auth denied");
            return Err(e);
        }
    };
    if let Some(needed) = &demands.scope {
        let held = bearer
            .scope()
            .map(|s| Scopes::parse_list(s).unwrap_or_default())
            .unwrap_or_default();
        if !needed.is_subset(&held) {
            tracing::debug!(forwarded_method = %method, forwarded_uri = %uri, client_id = bearer.client_id(), "forward auth denied: insufficient scope");
            return Err(ApiError::InsufficientScope(needed.to_string()));
        }
    }
    if let Some(step_up) = demands.step_up {
        let claims = match &bearer {
            Bearer::User(claims) => Some(claims),
            Bearer::Client(_) => None,
        };
        if let Err(e) = step_up.check(claims, now_secs()) {
            tracing::debug!(forwarded_method = %method, forwarded_uri = %uri, client_id = bearer.client_id(), "forward auth denied: insufficient user authentication");
            return Err(e.into());
        }
    }
    let mut headers = HeaderMap::with_capacity(7);
    let mut put = |name: &'static str, value: &str| {
        // A client id or scope from our own signed token; one that is not a
        // header value (it cannot be: both are checked at registration) is
        // left out rather than failing the request.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put("x-client-id", bearer.client_id());
    if let Some(scope) = bearer.scope() {
        put("x-scope", scope);
    }
    let claims = match bearer {
        Bearer::User(claims) => {
            tracing::debug!(forwarded_method = %method, forwarded_uri = %uri, user_id = %claims.sub, session_id = %claims.sid, "forward auth granted");
            let mut put_id = |name: &'static str, id: uuid::Uuid| {
                let mut text = uuid::Uuid::encode_buffer();
                // Always valid: a hyphenated UUID is plain ASCII.
                if let Ok(value) = HeaderValue::from_str(id.hyphenated().encode_lower(&mut text)) {
                    headers.insert(HeaderName::from_static(name), value);
                }
            };
            put_id("x-user-id", claims.sub);
            put_id("x-session-id", claims.sid);
            headers.insert(
                HeaderName::from_static("x-user-role"),
                HeaderValue::from_static(claims.role.as_str()),
            );
            headers.insert(
                HeaderName::from_static("x-user-subscription"),
                HeaderValue::from_static(claims.subscription.as_str()),
            );
            // RFC 8176 method names: always a header value.
            if let Some(Ok(amr)) = claims
                .amr
                .as_deref()
                .map(|amr| HeaderValue::from_str(&amr.join(" ")))
            {
                headers.insert(HeaderName::from_static("x-user-amr"), amr);
            }
            VerifiedClaims::User(claims)
        }
        Bearer::Client(claims) => {
            tracing::debug!(forwarded_method = %method, forwarded_uri = %uri, client_id = %claims.client_id, "forward auth granted to a client");
            VerifiedClaims::Client(claims)
        }
    };
    Ok((headers, Json(claims)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn body<T: serde::de::DeserializeOwned>(json: Value) -> T {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn change_password_rejects_the_same_password() {
        let same: ChangePasswordRequest = body(serde_json::json!({
            "current_password": "old enough pass", "new_password": "old enough pass"
        }));
        let errors = same.parse().unwrap_err().0;
        assert_eq!(errors[0].field, "new_password");
        assert!(errors[0].message.contains("different"));
    }

    #[test]
    fn a_refresh_token_must_be_text() {
        let from_body: RefreshRequest = body(serde_json::json!({"refresh_token": "from-body"}));
        assert_eq!(from_body.parse().unwrap().as_deref(), Some("from-body"));
        let absent: RefreshRequest = body(serde_json::json!({}));
        assert_eq!(absent.parse().unwrap(), None);
        let wrong: RefreshRequest = body(serde_json::json!({"refresh_token": 5}));
        assert!(wrong.parse().is_err());
    }

    proptest::proptest! {
        /// Any registration body is a registration whose every part passes
        /// its rule again, or a list of problems naming its fields.
        #[test]
        fn parsing_any_registration_body_never_panics(
            map in crate::validation::arbitrary::body(&["email", "username", "password", "captcha_token"]),
        ) {
            use secrecy::ExposeSecret;
            match body::<RegisterRequest>(Value::Object(map)).parse() {
                Ok(r) => {
                    proptest::prop_assert_eq!(Email::parse(r.email.as_str()), Ok(r.email.clone()));
                    proptest::prop_assert!(Username::parse(r.username.as_str()).is_ok());
                    proptest::prop_assert!(NewPassword::parse(
                        r.password.secret().expose_secret(), Some(r.email.as_str()), Some(r.username.as_str())
                    ).is_ok());
                }
                Err(errors) => {
                    proptest::prop_assert!(!errors.0.is_empty());
                    for error in &errors.0 {
                        proptest::prop_assert!(
                            ["email", "username", "password", "captcha_token"].contains(&error.field.as_str())
                        );
                    }
                }
            }
        }

        /// Any login body is the name typed (email first) and a password,
        /// or a list of problems.
        #[test]
        fn parsing_any_login_body_never_panics(
            map in crate::validation::arbitrary::body(&["email", "username", "password"]),
        ) {
            let typed = map.get("email").filter(|v| !v.is_null())
                .or_else(|| map.get("username"))
                .and_then(|v| v.as_str())
                .map(|t| t.trim().to_lowercase());
            match body::<LoginRequest>(Value::Object(map)).parse() {
                Ok((name, _)) => proptest::prop_assert_eq!(Some(name.as_str().to_owned()), typed),
                Err(errors) => proptest::prop_assert!(!errors.0.is_empty()),
            }
        }
    }
}
