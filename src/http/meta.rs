//! Service-level routes: status, health, and the published keys.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::AppState;

/// How long a readiness probe waits on each dependency.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/.well-known/jwks.json", get(jwks))
}

async fn root() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

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

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        state.auth.tokens().keys().jwks_json().to_owned(),
    )
}
