//! `/metrics`: the scrape endpoint (requests are counted by [`super::edge`]).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::metrics::{self, PoolGauges};

/// Prometheus scrape endpoint; the pool gauges are read now.
/// Prometheus metrics: requests by route and status with latency
/// histograms, logins, refreshes, reuse detections, rate-limited requests,
/// dependency errors and pool gauges. 404 when `metrics.enabled = false` or
/// the client is outside `metrics.allow_cidrs` (see `meta::gate`).
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        super::responses::NotFound))]
pub(super) async fn scrape(State(state): State<AppState>) -> Response {
    let gauges = PoolGauges {
        db_size: state.pool.size(),
        db_idle: state.pool.num_idle(),
        db_max: state.pool.options().get_max_connections(),
        hashing: state.hasher.load(),
    };
    match metrics::render(gauges) {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "metrics could not be rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
