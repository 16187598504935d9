//! `/api/v1/users`: the caller's own account.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Authenticated, Body, Client};
use super::responses as doc;
use super::AppState;
use crate::account::{requests, OwnSession};
use crate::users::UserPublic;
use crate::validation::Text;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(me, update_me, delete_me))
        .routes(routes!(sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(balance))
}

/// The caller's account.
#[utoipa::path(get, path = "/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserPublic), doc::Credentials))]
async fn me(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<UserPublic>, ApiError> {
    Ok(Json(state.auth.current_user(&claims).await?))
}

/// `PATCH /users/me`: only the fields present change; `null` clears one.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"first_name": "Ada", "gender": "FEMALE", "date_of_birth": "1815-12-10"}))]
struct ProfileUpdate {
    /// At most 100 characters, trimmed; empty clears.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    first_name: Text,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    last_name: Text,
    /// An http(s) URL, at most 2048 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    avatar_url: Text,
    /// MALE, FEMALE, OTHER or PREFER_NOT_TO_SAY (any case).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    gender: Text,
    /// In the past.
    #[serde(default)]
    #[schema(value_type = Option<chrono::NaiveDate>)]
    date_of_birth: Text,
    /// At most 1000 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    info: Text,
}

/// Updates profile fields; only those present change, `null` clears one.
#[utoipa::path(patch, path = "/me", tag = "users", security(("bearer" = [])),
    request_body = ProfileUpdate,
    responses((status = 200, body = UserPublic), doc::Credentials, doc::JsonBody))]
async fn update_me(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Body(body): Body<ProfileUpdate>,
) -> Result<Json<UserPublic>, ApiError> {
    let changes = requests::profile(
        body.first_name,
        body.last_name,
        body.avatar_url,
        body.gender,
        body.date_of_birth,
        body.info,
    )?;
    Ok(Json(
        state
            .account
            .update_profile(&claims, changes, &client)
            .await?,
    ))
}

/// `DELETE /users/me`: the account's password.
#[derive(Deserialize, ToSchema)]
struct PasswordRequest {
    #[schema(value_type = String)]
    password: Text,
}

/// Deletes the caller's account (soft delete) after checking its password;
/// every session ends.
#[utoipa::path(delete, path = "/me", tag = "users", security(("bearer" = [])),
    request_body = PasswordRequest,
    responses(
        (status = 204, description = "Deleted"),
        doc::BadRequest, doc::Credentials, doc::JsonBody, doc::Limited))]
async fn delete_me(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Body(body): Body<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let password = requests::password(body.password)?;
    state.account.delete(&claims, password, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct SessionView {
    id: String,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    user_agent: String,
    ip: String,
    current: bool,
}

impl From<OwnSession> for SessionView {
    fn from(own: OwnSession) -> Self {
        Self {
            id: own.session.id.to_string(),
            created_at: own.session.created_at,
            last_used_at: own.session.last_used_at,
            user_agent: own.session.user_agent,
            ip: own.session.ip,
            current: own.current,
        }
    }
}

/// The caller's live sessions (devices), `current` marking this one.
#[utoipa::path(get, path = "/me/sessions", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), doc::Credentials))]
async fn sessions(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = state.account.sessions(&claims).await?;
    Ok(Json(sessions.into_iter().map(SessionView::from).collect()))
}

/// Logs one of the caller's devices out.
#[utoipa::path(delete, path = "/me/sessions/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "A session id from `GET /me/sessions`")),
    responses((status = 204, description = "The session ended"), doc::Credentials, doc::NotFound))]
async fn revoke_session(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.account.revoke_session(&claims, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /users/me/balance`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"balance": "12.50"}))]
struct UserBalance {
    /// A decimal string with two decimals.
    balance: String,
}

/// The caller's balance.
#[utoipa::path(get, path = "/me/balance", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserBalance), doc::Credentials))]
async fn balance(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<UserBalance>, ApiError> {
    let balance = state.account.balance(&claims).await?;
    Ok(Json(UserBalance { balance }))
}
