//! `/api/v1/admin`: role checks by extractor (`roles`), then one domain call
//! (`crate::admin`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::{ApiError, Location};
use super::extract::{BodyFields, Client, PathUuid, QueryFields};
use super::openapi::schemas as doc;
use super::roles::{RequireAdmin, RequireStaff};
use super::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    check, list_users, update, delete, block, unblock, restore, balance, audit
))]
pub(super) struct Docs;
use crate::admin::{
    parse_delta, AdminUser, AuditPage, AuditQuery, Balance, UserChanges, UserPage, UserQuery,
};
use crate::users::Role;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/check", get(check))
        .route("/users", get(list_users))
        .route("/users/{id}", axum::routing::patch(update).delete(delete))
        .route("/users/{id}/block", post(block))
        .route("/users/{id}/unblock", post(unblock))
        .route("/users/{id}/restore", post(restore))
        .route("/users/{id}/balance", post(balance))
        .route("/audit", get(audit))
}

/// 200 for an ADMIN, 403 for anyone else.
#[utoipa::path(get, path = "/check", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = doc::AdminCheck),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn check(RequireAdmin(_): RequireAdmin) -> Json<Value> {
    Json(json!({ "is_admin": true }))
}

/// Lists users (ADMIN or MODERATOR), filtered and paged.
#[utoipa::path(get, path = "/users", tag = "admin", security(("bearer" = [])),
    params(
        ("email" = Option<String>, Query, description = "Emails containing this text (case-insensitive)"),
        ("role" = Option<Role>, Query),
        ("is_blocked" = Option<bool>, Query),
        ("is_active" = Option<bool>, Query),
        ("deleted" = Option<String>, Query, description = "exclude (default), include or only"),
        ("limit" = Option<i64>, Query, description = "1–200, default 50", minimum = 1, maximum = 200),
        ("offset" = Option<i64>, Query, description = "Default 0", minimum = 0),
    ),
    responses(
        (status = 200, body = UserPage),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::ValidationFailed),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn list_users(
    State(state): State<AppState>,
    RequireStaff(_): RequireStaff,
    QueryFields(query): QueryFields,
) -> Result<Json<UserPage>, ApiError> {
    let query = UserQuery::parse(&query).map_err(|e| ApiError::Validation(Location::Query, e))?;
    Ok(Json(state.admin.list_users(&query).await?))
}

/// Blocks a user: every session ends at once (MODERATOR: REGULAR users only).
#[utoipa::path(post, path = "/users/{id}/block", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, body = AdminUser),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 404, description = "No such user", body = doc::Detail, example = json!({"detail": "User not found"})),
        (status = 422, response = doc::ValidationFailed),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn block(
    State(state): State<AppState>,
    RequireStaff(actor): RequireStaff,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(
        state.admin.set_blocked(actor, id, true, &client).await?,
    ))
}

/// Unblocks a user (MODERATOR: REGULAR users only).
#[utoipa::path(post, path = "/users/{id}/unblock", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, body = AdminUser),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 404, description = "No such user", body = doc::Detail, example = json!({"detail": "User not found"})),
        (status = 422, response = doc::ValidationFailed),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn unblock(
    State(state): State<AppState>,
    RequireStaff(actor): RequireStaff,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(
        state.admin.set_blocked(actor, id, false, &client).await?,
    ))
}

/// Soft-deletes a user; every session ends.
#[utoipa::path(delete, path = "/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 404, description = "No such user", body = doc::Detail, example = json!({"detail": "User not found"})),
        (status = 422, response = doc::ValidationFailed),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn delete(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<StatusCode, ApiError> {
    state.admin.delete(actor, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restores a soft-deleted user.
#[utoipa::path(post, path = "/users/{id}/restore", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, body = AdminUser),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 404, description = "No such user", body = doc::Detail, example = json!({"detail": "User not found"})),
        (status = 422, response = doc::ValidationFailed),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn restore(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(state.admin.restore(actor, id, &client).await?))
}

/// Changes a user's role, subscription or subscription expiry.
#[utoipa::path(patch, path = "/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = doc::AdminUserUpdate,
    responses(
        (status = 200, body = AdminUser),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 404, description = "No such user", body = doc::Detail, example = json!({"detail": "User not found"})),
        (status = 422, response = doc::ValidationFailed),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn update(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
    BodyFields(body): BodyFields,
) -> Result<Json<AdminUser>, ApiError> {
    let changes = UserChanges::parse(&body)?;
    Ok(Json(
        state.admin.update(actor, id, &changes, &client).await?,
    ))
}

/// Adds a signed amount to a user's balance, atomically; 409 if it would
/// go below zero.
#[utoipa::path(post, path = "/users/{id}/balance", tag = "admin", operation_id = "adjust_balance", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = doc::BalanceDelta,
    responses(
        (status = 200, body = Balance),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 404, description = "No such user", body = doc::Detail, example = json!({"detail": "User not found"})),
        (status = 422, response = doc::ValidationFailed),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn balance(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
    BodyFields(body): BodyFields,
) -> Result<Json<Balance>, ApiError> {
    let delta = parse_delta(&body)?;
    Ok(Json(
        state
            .admin
            .adjust_balance(actor, id, delta, &client)
            .await?,
    ))
}

/// Security events, newest first.
#[utoipa::path(get, path = "/audit", tag = "admin", security(("bearer" = [])),
    params(
        ("user_id" = Option<uuid::Uuid>, Query, description = "Events about this user"),
        ("actor_id" = Option<uuid::Uuid>, Query, description = "Events by this user"),
        ("kind" = Option<String>, Query, description = "e.g. login, login_failed, refresh_reuse"),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("limit" = Option<i64>, Query, description = "1–200, default 50", minimum = 1, maximum = 200),
        ("offset" = Option<i64>, Query, description = "Default 0", minimum = 0),
    ),
    responses(
        (status = 200, body = AuditPage),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 422, response = doc::ValidationFailed),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn audit(
    State(state): State<AppState>,
    RequireAdmin(_): RequireAdmin,
    QueryFields(query): QueryFields,
) -> Result<Json<AuditPage>, ApiError> {
    let query = AuditQuery::parse(&query).map_err(|e| ApiError::Validation(Location::Query, e))?;
    Ok(Json(state.admin.audit(&query).await?))
}
