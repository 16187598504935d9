//! Service-level routes: status, health, the published keys, and the gate
//! in front of the operator routes (`/metrics`, the API documents).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ipnet::IpNet;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::client_ip;
use super::openapi::schemas as doc;
use super::AppState;

/// Who may reach an operator route: nobody (`enabled = false`), anyone
/// (no CIDRs), or clients inside the CIDRs. Everyone else gets the same 404
/// as an unknown path, so a scan learns nothing.
#[derive(Debug, Clone)]
pub struct Exposure {
    enabled: bool,
    allow: Arc<[IpNet]>,
}

impl Exposure {
    pub fn new(enabled: bool, allow_cidrs: &[IpNet]) -> Self {
        Self {
            enabled,
            allow: allow_cidrs.into(),
        }
    }

    fn admits(&self, client: Option<IpAddr>) -> bool {
        self.enabled
            && (self.allow.is_empty()
                || client.is_some_and(|ip| self.allow.iter().any(|net| net.contains(&ip))))
    }
}

/// Middleware: 404 unless `exposure` admits the client (resolved through
/// trusted proxies, like the rate limits).
pub async fn gate(
    State((exposure, trusted)): State<(Exposure, Arc<[IpNet]>)>,
    request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|peer| client_ip(peer.0.ip(), request.headers(), &trusted));
    if exposure.admits(client) {
        next.run(request).await
    } else {
        ApiError::NotFound.into_response()
    }
}

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
        state.tokens.keys().jwks_json().to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_is_off_open_or_by_cidr() {
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        let cidrs: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(!Exposure::new(false, &[]).admits(Some(inside)));
        assert!(Exposure::new(true, &[]).admits(None));
        let restricted = Exposure::new(true, &cidrs);
        assert!(restricted.admits(Some(inside)));
        assert!(!restricted.admits(Some(outside)));
        assert!(!restricted.admits(None));
        assert!(!Exposure::new(false, &cidrs).admits(Some(inside)));
    }
}
