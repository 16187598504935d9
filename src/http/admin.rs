//! `/api/v1/admin`: role checks by extractor (`roles`), then one domain call
//! (`crate::admin`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Body, Client, PathUuid, Query};
use super::invalid::Location;
use super::responses as doc;
use super::roles::{RequireAdmin, RequireStaff};
use super::AppState;
use crate::admin::{
    parse_delta, AdminUser, AuditPage, AuditQuery, Balance, UserChanges, UserPage, UserQuery,
};
use crate::users::{Role, Subscription};
use crate::validation::Text;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(check))
        .routes(routes!(list_users))
        .routes(routes!(update, delete))
        .routes(routes!(block))
        .routes(routes!(unblock))
        .routes(routes!(restore))
        .routes(routes!(balance))
        .routes(routes!(audit))
}

/// `GET /admin/check`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(AdminCheck { is_admin: true }))]
struct AdminCheck {
    is_admin: bool,
}

/// 200 for an ADMIN, 403 for anyone else.
#[utoipa::path(get, path = "/check", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminCheck), doc::Staff))]
async fn check(RequireAdmin(_): RequireAdmin) -> Json<AdminCheck> {
    Json(AdminCheck { is_admin: true })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UserListParams {
    /// Emails containing this text (case-insensitive)
    #[param(value_type = Option<String>)]
    email: Text,
    #[param(value_type = Option<Role>)]
    role: Text,
    #[param(value_type = Option<bool>)]
    is_blocked: Text,
    #[param(value_type = Option<bool>)]
    is_active: Text,
    /// exclude (default), include or only
    #[param(value_type = Option<String>)]
    deleted: Text,
    /// 1–200, default 50
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Text,
    /// Default 0
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    offset: Text,
}

/// Lists users (ADMIN or MODERATOR), filtered and paged.
#[utoipa::path(get, path = "/users", tag = "admin", security(("bearer" = [])),
    params(UserListParams),
    responses((status = 200, body = UserPage), doc::Staff, doc::Invalid))]
async fn list_users(
    State(state): State<AppState>,
    RequireStaff(_): RequireStaff,
    Query(query): Query<UserListParams>,
) -> Result<Json<UserPage>, ApiError> {
    let query = UserQuery::parse(
        query.email,
        query.role,
        query.is_blocked,
        query.is_active,
        query.deleted,
        query.limit,
        query.offset,
    )
    .map_err(|e| ApiError::invalid(Location::Query, e))?;
    Ok(Json(state.admin.list_users(&query).await?))
}

/// Blocks a user: every session ends at once (MODERATOR: REGULAR users only).
#[utoipa::path(post, path = "/users/{id}/block", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, body = AdminUser), doc::Staff, doc::OnUser))]
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
    responses((status = 200, body = AdminUser), doc::Staff, doc::OnUser))]
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
    responses((status = 204, description = "Deleted"), doc::Staff, doc::OnUser))]
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
    responses((status = 200, body = AdminUser), doc::Staff, doc::OnUser))]
async fn restore(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(state.admin.restore(actor, id, &client).await?))
}

/// `PATCH /admin/users/{id}`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"account_role": "MODERATOR", "account_subscription": "PRO", "subscription_expires_at": "2027-01-31T00:00:00Z"}))]
struct AdminUserUpdate {
    #[schema(value_type = Option<Role>)]
    account_role: Text,
    #[schema(value_type = Option<Subscription>)]
    account_subscription: Text,
    /// RFC 3339; `null` clears the expiry.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    subscription_expires_at: Text,
}

/// Changes a user's role, subscription or subscription expiry.
#[utoipa::path(patch, path = "/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = AdminUserUpdate,
    responses((status = 200, body = AdminUser), doc::Staff, doc::OnUser, doc::JsonBody))]
async fn update(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
    Body(body): Body<AdminUserUpdate>,
) -> Result<Json<AdminUser>, ApiError> {
    let changes = UserChanges::parse(
        body.account_role,
        body.account_subscription,
        body.subscription_expires_at,
    )?;
    Ok(Json(
        state.admin.update(actor, id, &changes, &client).await?,
    ))
}

/// `POST /admin/users/{id}/balance`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"delta": "-5.00"}))]
struct BalanceDelta {
    /// A non-zero signed decimal string with at most two decimals.
    #[schema(value_type = String)]
    delta: Text,
}

/// Adds a signed amount to a user's balance, atomically; 409 if it would
/// go below zero.
#[utoipa::path(post, path = "/users/{id}/balance", tag = "admin", operation_id = "adjust_balance", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = BalanceDelta,
    responses((status = 200, body = Balance), doc::Staff, doc::OnUser, doc::JsonBody))]
async fn balance(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
    Body(body): Body<BalanceDelta>,
) -> Result<Json<Balance>, ApiError> {
    let delta = parse_delta(body.delta)?;
    Ok(Json(
        state
            .admin
            .adjust_balance(actor, id, delta, &client)
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// Events about this user
    #[param(value_type = Option<uuid::Uuid>)]
    user_id: Text,
    /// Events by this user
    #[param(value_type = Option<uuid::Uuid>)]
    actor_id: Text,
    /// e.g. login, login_failed, refresh_reuse
    #[param(value_type = Option<String>)]
    kind: Text,
    /// RFC 3339, inclusive
    #[param(value_type = Option<String>)]
    since: Text,
    /// RFC 3339, exclusive
    #[param(value_type = Option<String>)]
    until: Text,
    /// 1–200, default 50
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Text,
    /// Default 0
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    offset: Text,
}

/// Security events, newest first.
#[utoipa::path(get, path = "/audit", tag = "admin", security(("bearer" = [])),
    params(AuditParams),
    responses((status = 200, body = AuditPage), doc::Staff, doc::Invalid))]
async fn audit(
    State(state): State<AppState>,
    RequireAdmin(_): RequireAdmin,
    Query(query): Query<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let query = AuditQuery::parse(
        query.user_id,
        query.actor_id,
        query.kind,
        query.since,
        query.until,
        query.limit,
        query.offset,
    )
    .map_err(|e| ApiError::invalid(Location::Query, e))?;
    Ok(Json(state.admin.audit(&query).await?))
}
