//! Request metrics, `/metrics`, and the request id every log line carries.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, REQUEST_ID};
use crate::metrics::{self, PoolGauges};

/// The longest client-supplied request id that is kept.
const MAX_REQUEST_ID_LEN: usize = 128;

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

/// Counts the request by method, route template and status, with its
/// latency.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route
        .as_ref()
        .map_or(metrics::UNMATCHED_ROUTE, MatchedPath::as_str);
    metrics::http_request(
        method.as_str(),
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Drops a client-supplied `X-Request-Id` that is empty, longer than
/// [`MAX_REQUEST_ID_LEN`] or holds anything but ASCII letters, digits and
/// `-_.:+/=@`, so a fresh one is generated in its place: ids land in every
/// log line and must not smuggle in log syntax or unbounded data.
pub async fn sanitize_request_id(mut request: Request) -> Request {
    if let Some(value) = request.headers().get(&REQUEST_ID) {
        if !valid_request_id(value) {
            request.headers_mut().remove(&REQUEST_ID);
        }
    }
    request
}

fn valid_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=@".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_bounded_printable_tokens() {
        let valid = |s: &str| valid_request_id(&HeaderValue::from_str(s).unwrap());
        assert!(valid("0b1c2d3e-0000-4000-8000-000000000000"));
        assert!(valid("Root=1-5759e988-bd862e3fe1be46a994272793"));
        assert!(!valid(""));
        assert!(!valid("has space"));
        assert!(!valid("quote\"d"));
        assert!(!valid("{\"json\":1}"));
        assert!(!valid(&"x".repeat(MAX_REQUEST_ID_LEN + 1)));
        assert!(valid(&"x".repeat(MAX_REQUEST_ID_LEN)));
    }
}
