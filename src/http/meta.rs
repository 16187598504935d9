//! Service-level routes: status, health, and the published keys.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::openapi::schemas as doc;
use super::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(root, live, ready, jwks))]
pub(super) struct Docs;

/// How long a readiness probe waits on each dependency.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/.well-known/jwks.json", get(jwks))
}

/// Service status.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, body = doc::Status)))]
async fn root() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "meta", responses((status = 200, body = doc::Liveness)))]
async fn live() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Readiness: PostgreSQL and Redis both answer.
#[utoipa::path(get, path = "/health/ready", tag = "meta", responses(
    (status = 200, body = doc::Readiness),
    (status = 503, description = "A dependency is down", body = doc::Readiness,
        example = json!({"status": "unavailable", "components": {"database": "ok", "redis": "unavailable"}})),
))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = async {
        let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool);
        matches!(tokio::time::timeout(READY_TIMEOUT, ping).await, Ok(Ok(1)))
    };
    let redis = async { state.redis.ping().await.is_ok() };
    let (database, redis) = tokio::join!(database, redis);
    let word = |up: bool| if up { "ok" } else { "unavailable" };
    let status = if database && redis {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "components": { "database": word(database), "redis": word(redis) },
    });
    (status, Json(body))
}

/// The public keys that verify access tokens (RFC 7517); the newest signs.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta", responses(
    (status = 200, body = doc::Jwks, headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        state.auth.tokens().keys().jwks_json().to_owned(),
    )
}
