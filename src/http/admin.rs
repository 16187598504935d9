//! `/api/v1/admin`: role checks by extractor (`roles`), then one domain call
//! (`crate::admin`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::{ApiError, Location};
use super::extract::{BodyFields, Client, PathUuid, QueryFields};
use super::roles::{RequireAdmin, RequireStaff};
use super::AppState;
use crate::admin::{
    parse_delta, AdminUser, AuditPage, AuditQuery, Balance, UserChanges, UserPage, UserQuery,
};

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

async fn check(RequireAdmin(_): RequireAdmin) -> Json<Value> {
    Json(json!({ "is_admin": true }))
}

async fn list_users(
    State(state): State<AppState>,
    RequireStaff(_): RequireStaff,
    QueryFields(query): QueryFields,
) -> Result<Json<UserPage>, ApiError> {
    let query = UserQuery::parse(&query).map_err(|e| ApiError::Validation(Location::Query, e))?;
    Ok(Json(state.admin.list_users(&query).await?))
}

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

async fn delete(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<StatusCode, ApiError> {
    state.admin.delete(actor, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restore(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(state.admin.restore(actor, id, &client).await?))
}

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

async fn audit(
    State(state): State<AppState>,
    RequireAdmin(_): RequireAdmin,
    QueryFields(query): QueryFields,
) -> Result<Json<AuditPage>, ApiError> {
    let query = AuditQuery::parse(&query).map_err(|e| ApiError::Validation(Location::Query, e))?;
    Ok(Json(state.admin.audit(&query).await?))
}
