//! `/api/v1/auth`: parse, call one domain function, shape the answer.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::error::{ApiError, Location};
use super::extract::{Authenticated, Bearer, BodyFields, Client, QueryFields};
use super::openapi::schemas as doc;
use super::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register,
    username_available,
    login,
    refresh,
    logout,
    logout_all,
    verify,
    activate,
    resend_activation,
    forgot_password,
    reset_password,
    change_password
))]
pub(super) struct Docs;
use crate::account::requests;
use crate::auth::{parse_login, AuthError, TokenPair};
use crate::tokens::AccessClaims;
use crate::users::{rules, Registration, UserPublic};
use crate::validation::{Fields, ValidationErrors};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register", post(register))
        .route("/username-available", get(username_available))
        .route("/login", post(login))
        .route("/refresh", post(refresh))
        .route("/logout", post(logout))
        .route("/logout-all", post(logout_all))
        .route("/verify", get(verify))
        .route("/activate", post(activate))
        .route("/activate/resend", post(resend_activation))
        .route("/forgot-password", post(forgot_password))
        .route("/reset-password", post(reset_password))
        .route("/change-password", post(change_password))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2ln",
    "refresh_token": "AZLx2Yb9c0t1Z0bW9rZW4tZXhhbXBsZS1ub3QtcmVhbC10b2tlbi1ieXRlcy1oZXJlLWZvci1kb2NzLW9ubHk",
    "token_type": "bearer", "expires_in": 900, "refresh_expires_in": 2592000
}))]
pub struct TokenResponse {
    access_token: String,
    refresh_token: String,
    #[schema(value_type = String, example = "bearer")]
    token_type: &'static str,
    expires_in: u64,
    refresh_expires_in: u64,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "bearer",
            expires_in: pair.expires_in,
            refresh_expires_in: pair.refresh_expires_in,
        }
    }
}

/// Creates an account (inactive until activated when email verification is on).
#[utoipa::path(post, path = "/register", tag = "auth",
    request_body = doc::RegisterRequest,
    responses(
        (status = 201, description = "The new user", body = UserPublic),
        (status = 400, description = "Invalid CAPTCHA answer", body = doc::Detail, example = json!({"detail": "Invalid CAPTCHA answer"})),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
        (status = 504, description = "The CAPTCHA verifier did not answer in time", body = doc::DependencyError,
            example = json!({"detail": "CAPTCHA verification timed out; try again shortly.", "error_code": "CAPTCHA_TIMEOUT"})),
    ))]
async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    BodyFields(body): BodyFields,
) -> Result<Response, ApiError> {
    let registration = Registration::parse(&body)?;
    let user = state.account.register(registration, &client).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// Whether a username is free, with a suggestion when it is not.
#[utoipa::path(get, path = "/username-available", tag = "auth",
    params(("username" = String, Query, description = "The name to check")),
    responses(
        (status = 200, body = doc::UsernameAvailability),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn username_available(
    State(state): State<AppState>,
    Client(client): Client,
    QueryFields(query): QueryFields,
) -> Result<Json<Value>, ApiError> {
    let mut fields = Fields::new(&query);
    let username = fields.string("username");
    let username = fields.check("username", username, |u| {
        rules::username(u).map(|()| u.to_owned())
    });
    fields
        .finish()
        .map_err(|e| ApiError::Validation(Location::Query, e))?;
    let username = username.ok_or(ApiError::Validation(
        Location::Query,
        ValidationErrors::default(),
    ))?;
    let (available, suggestion) = state.auth.username_availability(&username, &client).await?;
    Ok(Json(
        json!({ "available": available, "suggestion": suggestion }),
    ))
}

/// Logs in with an email or username and a password; starts a session.
#[utoipa::path(post, path = "/login", tag = "auth",
    request_body(content(
        (doc::LoginForm = "application/x-www-form-urlencoded"),
        (doc::LoginJson = "application/json"),
    )),
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "Not activated or blocked", body = doc::Detail, example = json!({"detail": "User account is blocked."})),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    BodyFields(body): BodyFields,
) -> Result<Json<TokenResponse>, ApiError> {
    let (name, password) = parse_login(&body)?;
    Ok(Json(
        state.auth.login(name, password, &client).await?.into(),
    ))
}

/// `refresh_token` from the body, else the bearer token.
fn refresh_token_from(
    body: &Map<String, Value>,
    bearer: Option<String>,
) -> Result<Option<String>, ValidationErrors> {
    let mut fields = Fields::new(body);
    let from_body = fields.optional_string("refresh_token").map(str::to_owned);
    fields.finish()?;
    Ok(from_body.or(bearer))
}

/// Rotates a refresh token (from the body, else the bearer header): a new
/// pair for the same session. A retired token replayed after the grace
/// window ends the session.
#[utoipa::path(post, path = "/refresh", tag = "auth",
    request_body(content = Option<doc::RefreshRequest>, description = "Optional when the refresh token is sent as `Authorization: Bearer`"),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, response = doc::Unauthorized),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    Bearer(bearer): Bearer,
    BodyFields(body): BodyFields,
) -> Result<Json<TokenResponse>, ApiError> {
    let token = refresh_token_from(&body, bearer)?.ok_or(AuthError::InvalidRefreshToken)?;
    Ok(Json(state.auth.refresh(&token, &client).await?.into()))
}

/// Ends the session of a refresh token and/or of the bearer access token;
/// unknown tokens succeed too.
#[utoipa::path(post, path = "/logout", tag = "auth",
    request_body(content = Option<doc::RefreshRequest>, description = "Optional"),
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    Bearer(bearer): Bearer,
    BodyFields(body): BodyFields,
) -> Result<StatusCode, ApiError> {
    let mut fields = Fields::new(&body);
    let refresh = fields.optional_string("refresh_token");
    fields.finish()?;
    state
        .auth
        .logout(refresh, bearer.as_deref(), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller.
#[utoipa::path(post, path = "/logout-all", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session ended"),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn logout_all(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.auth.logout_all(&claims, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Activates an account with the token from the activation email.
#[utoipa::path(post, path = "/activate", tag = "auth",
    request_body = doc::TokenRequest,
    responses(
        (status = 200, body = doc::Message),
        (status = 400, description = "Invalid or expired token, or already active", body = doc::Detail,
            example = json!({"detail": "Invalid or expired activation token."})),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn activate(
    State(state): State<AppState>,
    Client(client): Client,
    BodyFields(body): BodyFields,
) -> Result<Json<Value>, ApiError> {
    let token = requests::token(&body)?;
    state.account.activate(&token, &client).await?;
    Ok(Json(
        json!({ "message": "User account activated successfully." }),
    ))
}

/// 202 whether or not the email names an account awaiting activation.
/// Sends a new activation email; 202 whatever the address.
#[utoipa::path(post, path = "/activate/resend", tag = "auth",
    request_body = doc::EmailRequest,
    responses(
        (status = 202, body = doc::Message,
            example = json!({"message": "If the account exists and is not activated, an activation link has been sent."})),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn resend_activation(
    State(state): State<AppState>,
    Client(client): Client,
    BodyFields(body): BodyFields,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email = requests::email(&body)?;
    state.account.resend_activation(&email, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "message": "If the account exists and is not activated, an activation link has been sent." }),
        ),
    ))
}

/// 202 with the same body whether or not the email names an account.
/// Sends a password reset link; 202 with the same body whatever the address.
#[utoipa::path(post, path = "/forgot-password", tag = "auth",
    request_body = doc::EmailRequest,
    responses(
        (status = 202, body = doc::Message,
            example = json!({"message": "If the email exists, a reset link has been sent."})),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn forgot_password(
    State(state): State<AppState>,
    Client(client): Client,
    BodyFields(body): BodyFields,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email = requests::email(&body)?;
    state.account.forgot_password(&email, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "message": "If the email exists, a reset link has been sent." })),
    ))
}

/// Sets a new password with the token from the reset email; every session ends.
#[utoipa::path(post, path = "/reset-password", tag = "auth",
    request_body = doc::ResetPasswordRequest,
    responses(
        (status = 200, body = doc::Message, example = json!({"message": "Password has been reset successfully"})),
        (status = 400, description = "Invalid or expired token", body = doc::Detail,
            example = json!({"detail": "Invalid or expired reset token"})),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    BodyFields(body): BodyFields,
) -> Result<Json<Value>, ApiError> {
    let (token, new_password) = requests::reset(&body)?;
    state
        .account
        .reset_password(&token, new_password, &client)
        .await?;
    Ok(Json(
        json!({ "message": "Password has been reset successfully" }),
    ))
}

/// Changes the caller's password; every other session ends.
#[utoipa::path(post, path = "/change-password", tag = "auth",
    request_body = doc::ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = doc::Message, example = json!({"message": "Password has been changed successfully"})),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    BodyFields(body): BodyFields,
) -> Result<Json<Value>, ApiError> {
    let (current, new_password) = requests::password_change(&body)?;
    state
        .account
        .change_password(&claims, current, new_password, &client)
        .await?;
    Ok(Json(
        json!({ "message": "Password has been changed successfully" }),
    ))
}

/// Forward-auth target (nginx `auth_request`, Traefik ForwardAuth): 200 with
/// the identity in headers (for the gateway to pass on) and the claims as the
/// body; 401 with `WWW-Authenticate` otherwise. Gateways ask with GET whatever
/// the original request's method; `X-Forwarded-Method` / `X-Forwarded-Uri`
/// name the request being authorised and are logged with the decision. Any
/// method and path pass: tessera authenticates, the gateway routes. Role and
/// subscription, in the headers and in the body alike, are the session's
/// current ones (a demotion shows at once), not those signed into the token.
#[utoipa::path(get, path = "/verify", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token is valid and its session live; the body is its claims, with the session's current role and subscription", body = AccessClaims,
            headers(
                ("X-User-Id" = String, description = "The user's id"),
                ("X-User-Role" = String, description = "ADMIN, MODERATOR or REGULAR"),
                ("X-User-Subscription" = String, description = "FREE or PRO"),
                ("X-Session-Id" = String, description = "The session's id"),
            )),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn verify(
    forwarded: HeaderMap,
    authenticated: Result<Authenticated, ApiError>,
) -> Result<(HeaderMap, Json<Value>), ApiError> {
    let header = |name: &str| {
        forwarded
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (method, uri) = (header("x-forwarded-method"), header("x-forwarded-uri"));
    let claims = match authenticated {
        Ok(Authenticated(claims)) => claims,
        Err(e) => {
            tracing::debug!(forwarded_method = %method, forwarded_uri = %uri, "forward auth denied");
            return Err(e);
        }
    };
    tracing::debug!(forwarded_method = %method, forwarded_uri = %uri, user_id = %claims.sub, session_id = %claims.sid, "forward auth granted");
    let mut headers = HeaderMap::with_capacity(4);
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put("x-user-id", claims.sub.to_string());
    put("x-user-role", claims.role.as_str().to_owned());
    put(
        "x-user-subscription",
        claims.subscription.as_str().to_owned(),
    );
    put("x-session-id", claims.sid.to_string());
    let body = serde_json::to_value(&claims).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((headers, Json(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_token_wins_over_bearer() {
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"refresh_token":"from-body"}"#).unwrap();
        assert_eq!(
            refresh_token_from(&body, Some("hdr".into()))
                .unwrap()
                .as_deref(),
            Some("from-body")
        );
        assert_eq!(
            refresh_token_from(&Map::new(), Some("hdr".into()))
                .unwrap()
                .as_deref(),
            Some("hdr")
        );
        let wrong: Map<String, Value> = serde_json::from_str(r#"{"refresh_token":5}"#).unwrap();
        assert!(refresh_token_from(&wrong, None).is_err());
    }
}
