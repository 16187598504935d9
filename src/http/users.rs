//! `/api/v1/users`: the caller's own account.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{Authenticated, BodyFields, Client};
use super::openapi::schemas as doc;
use super::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(me, update_me, delete_me, sessions, revoke_session, balance))]
pub(super) struct Docs;
use crate::account::{requests, OwnSession};
use crate::users::UserPublic;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me).patch(update_me).delete(delete_me))
        .route("/me/sessions", get(sessions))
        .route("/me/sessions/{id}", delete(revoke_session))
        .route("/me/balance", get(balance))
}

/// The caller's account.
#[utoipa::path(get, path = "/me", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, body = UserPublic),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn me(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<UserPublic>, ApiError> {
    Ok(Json(state.auth.current_user(&claims).await?))
}

/// Updates profile fields; only those present change, `null` clears one.
#[utoipa::path(patch, path = "/me", tag = "users", security(("bearer" = [])),
    request_body = doc::ProfileUpdate,
    responses(
        (status = 200, body = UserPublic),
        (status = 401, response = doc::Unauthorized),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn update_me(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    BodyFields(body): BodyFields,
) -> Result<Json<UserPublic>, ApiError> {
    let changes = requests::profile(&body)?;
    Ok(Json(
        state
            .account
            .update_profile(&claims, changes, &client)
            .await?,
    ))
}

/// Deletes the caller's account (soft delete) after checking its password;
/// every session ends.
#[utoipa::path(delete, path = "/me", tag = "users", security(("bearer" = [])),
    request_body = doc::PasswordRequest,
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn delete_me(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    BodyFields(body): BodyFields,
) -> Result<StatusCode, ApiError> {
    let password = requests::password(&body)?;
    state.account.delete(&claims, password, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SessionView {
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
    responses(
        (status = 200, body = Vec<SessionView>),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
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
    responses(
        (status = 204, description = "The session ended"),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn revoke_session(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.account.revoke_session(&claims, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's balance.
#[utoipa::path(get, path = "/me/balance", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, body = doc::UserBalance),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn balance(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let balance = state.account.balance(&claims).await?;
    Ok(Json(json!({ "balance": balance })))
}
