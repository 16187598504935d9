//! Service-level routes: status, health, the published keys, and the gate
//! in front of the operator routes (`/metrics`, the API documents).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ipnet::IpNet;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::client_ip;
use super::AppState;
use crate::tokens::Jwks;

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

/// How long a readiness probe waits on each dependency.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(root))
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(jwks))
}

/// `GET /`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
struct Status {
    #[schema(value_type = String)]
    status: &'static str,
}

/// Service status.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, body = Status)))]
async fn root() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// `GET /health/live`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "version": "0.1.0"}))]
struct Liveness {
    #[schema(value_type = String)]
    status: &'static str,
    #[schema(value_type = String)]
    version: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "meta", responses((status = 200, body = Liveness)))]
async fn live() -> Json<Liveness> {
    Json(Liveness {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// `GET /health/ready`: each dependency `ok` or `unavailable`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "components": {"database": "ok", "redis": "ok"}}))]
struct Readiness {
    #[schema(value_type = String)]
    status: &'static str,
    components: ReadinessComponents,
}

#[derive(Serialize, ToSchema)]
struct ReadinessComponents {
    #[schema(value_type = String)]
    database: &'static str,
    #[schema(value_type = String)]
    redis: &'static str,
}

/// Readiness: PostgreSQL and Redis both answer.
#[utoipa::path(get, path = "/health/ready", tag = "meta", responses(
    (status = 200, body = Readiness),
    (status = 503, description = "A dependency is down", body = Readiness,
        example = json!({"status": "unavailable", "components": {"database": "ok", "redis": "unavailable"}})),
))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
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
    let body = Readiness {
        status: word(status == StatusCode::OK),
        components: ReadinessComponents {
            database: word(database),
            redis: word(redis),
        },
    };
    (status, Json(body))
}

/// The public keys that verify access tokens (RFC 7517); the newest signs.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta", responses(
    (status = 200, body = Jwks, headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
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
