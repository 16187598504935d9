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
use super::AppState;
use crate::account::requests;
use crate::auth::{parse_login, TokenPair};
use crate::users::{rules, Registration};
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

#[derive(Serialize)]
pub struct TokenResponse {
    access_token: String,
    refresh_token: String,
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

async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    BodyFields(body): BodyFields,
) -> Result<Response, ApiError> {
    let registration = Registration::parse(&body)?;
    let user = state.account.register(registration, &client).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn username_available(
    State(state): State<AppState>,
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
    let (available, suggestion) = state.auth.username_availability(&username).await?;
    Ok(Json(
        json!({ "available": available, "suggestion": suggestion }),
    ))
}

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

async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    Bearer(bearer): Bearer,
    BodyFields(body): BodyFields,
) -> Result<Json<TokenResponse>, ApiError> {
    let token = refresh_token_from(&body, bearer)?
        .ok_or(ApiError::Unauthorized("Invalid or expired refresh token"))?;
    Ok(Json(state.auth.refresh(&token, &client).await?.into()))
}

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

async fn logout_all(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.auth.logout_all(&claims, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
/// method and path pass: tessera authenticates, the gateway routes.
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
