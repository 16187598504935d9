//! What every request meets first, in one middleware: its id (the client's
//! when sane, else a new one), its span, its metrics, a panic turned into a
//! 500, the limits of [`super::limits`], and no caching of its answer
//! unless the handler allowed it. One layer, not nine: each layer of a
//! tower stack boxed a future and cloned a boxed service per request, a
//! fifth of `/health/live`'s CPU in its profile (bench/README.md).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;
use tracing::Instrument as _;

use super::error::ApiError;
use super::limits::{self, RequestLimits};
use super::REQUEST_ID;
use crate::metrics;

/// The longest client-supplied request id that is kept.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The edge of every route (see the module's documentation), in this order:
/// request id, span, metrics, panic, flood guard, in-flight cap, timeout;
/// on the way out the request id and `Cache-Control: no-store`.
pub async fn edge(State(limits): State<RequestLimits>, request: Request, next: Next) -> Response {
    let id = match request.headers().get(&REQUEST_ID) {
        Some(sent) if valid_request_id(sent) => sent.clone(),
        _ => new_request_id(),
    };
    // Disabled (the usual level is info without per-request lines) it is
    // `Span::none()`: its fields are not even formatted.
    let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path(),
        request_id = id.to_str().unwrap_or_default());
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = async move {
        tracing::debug!("started processing request");
        let response = match AssertUnwindSafe(limits::enforce(&limits, request, next))
            .catch_unwind()
            .await
        {
            Ok(response) => response,
            Err(_) => ApiError::Internal("handler panicked".into()).into_response(),
        };
        let (status, latency_ms) = (response.status(), started.elapsed().as_secs_f64() * 1e3);
        if status.is_server_error() {
            tracing::error!(%status, latency_ms, "response failed");
        } else {
            tracing::debug!(%status, latency_ms, "finished processing request");
        }
        response
    }
    .instrument(span)
    .await;
    let route = route
        .as_ref()
        .map_or(metrics::UNMATCHED_ROUTE, MatchedPath::as_str);
    metrics::http_request(
        method.as_str(),
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID, id);
    super::forbid_caching(headers);
    response
}

/// A client-supplied `X-Request-Id` is kept only when it is 1 to
/// [`MAX_REQUEST_ID_LEN`] ASCII letters, digits and `-_.:+/=@`: ids land in
/// every log line and must not smuggle in log syntax or unbounded data.
fn valid_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=@".contains(b))
}

/// A UUID (version 4 layout) unique within the process and unlike any other
/// process's: 66 random bits drawn at start, then a counter in the low 56
/// bits. A request id names a request in logs, it guards nothing, so it
/// need not be unpredictable; 122 fresh random bits per request were a
/// `getrandom` system call each.
fn new_request_id() -> HeaderValue {
    static BASE: LazyLock<u128> = LazyLock::new(rand::random);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let count = u128::from(NEXT.fetch_add(1, Ordering::Relaxed) & ((1 << 56) - 1));
    let bits = (*BASE & !((1 << 56) - 1)) | count;
    let id = uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut text);
    // 36 characters of hex digits and hyphens: always a header value.
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"))
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

    /// A handler that panics answers 500 in the API's shape, with a
    /// request id and `no-store`, and the process goes on serving.
    #[tokio::test]
    async fn a_panicking_handler_is_a_500_with_an_id_and_no_store() {
        use axum::body::Body;
        use axum::http::{header, StatusCode};
        use axum::routing::get;
        use tower::ServiceExt as _;

        let limits = RequestLimits::new(
            None,
            8,
            std::time::Duration::from_secs(5),
            std::sync::Arc::from(Vec::new()),
        );
        async fn boom() -> &'static str {
            panic!("a bug")
        }
        let app = axum::Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(limits, edge));
        let get = |path: &str| Request::builder().uri(path).body(Body::empty()).unwrap();
        let boom = app.clone().oneshot(get("/boom")).await.unwrap();
        assert_eq!(boom.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(boom.headers().contains_key(&REQUEST_ID));
        assert_eq!(boom.headers()[header::CACHE_CONTROL], "no-store");
        let fine = app.oneshot(get("/fine")).await.unwrap();
        assert_eq!(fine.status(), StatusCode::OK);
        assert_eq!(fine.headers()[header::PRAGMA], "no-cache");
    }

    #[test]
    fn new_request_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| new_request_id().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
        }
    }
}
