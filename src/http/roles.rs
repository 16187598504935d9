//! Role checks, in one place: extractors that admit a caller only with the
//! role a route needs, else 403 `{"detail":"Not enough permissions"}`.
//!
//! The access token proves who the caller is (and that the session is
//! live); the role itself is read from PostgreSQL on every admin request,
//! not taken from the token, so a demotion takes effect at once instead of
//! when the caller's access token expires. Admin routes are not hot paths;
//! one primary-key lookup is cheap.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::extract::Authenticated;
use super::AppState;
use crate::admin::{Actor, AdminError};

/// The caller as an actor, if `may` admits them.
async fn actor_who(
    parts: &mut Parts,
    state: &AppState,
    may: fn(Actor) -> bool,
) -> Result<Actor, ApiError> {
    let Authenticated(claims) = Authenticated::from_request_parts(parts, state).await?;
    let actor = state.admin.actor(claims.sub).await?;
    if may(actor) {
        Ok(actor)
    } else {
        Err(AdminError::Forbidden.into())
    }
}

/// An ADMIN.
pub struct RequireAdmin(pub Actor);

impl FromRequestParts<AppState> for RequireAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        actor_who(parts, state, Actor::is_admin).await.map(Self)
    }
}

/// An ADMIN or a MODERATOR.
pub struct RequireStaff(pub Actor);

impl FromRequestParts<AppState> for RequireStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        actor_who(parts, state, Actor::is_staff).await.map(Self)
    }
}
