//! `/api/v1/users`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::error::ApiError;
use super::extract::Authenticated;
use super::AppState;
use crate::users::UserPublic;

pub fn router() -> Router<AppState> {
    Router::new().route("/me", get(me))
}

async fn me(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<UserPublic>, ApiError> {
    Ok(Json(state.auth.current_user(&claims).await?))
}
