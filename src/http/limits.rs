//! Per-request limits in front of every handler: the per-IP flood guard
//! (before any Redis or PostgreSQL work), a cap on requests in flight, and
//! the request timeout. Each refusal is an [`ApiError`], in the usual shape.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ipnet::IpNet;
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::extract::client_ip;
use crate::rate_limit::FloodGuard;

/// Probes must answer while the instance is saturated or flooded.
const EXEMPT_PREFIX: &str = "/health/";

#[derive(Clone)]
pub struct RequestLimits {
    /// `None` when rate limiting is off.
    pub flood: Option<Arc<FloodGuard>>,
    pub in_flight: Arc<Semaphore>,
    pub timeout: Duration,
    pub trusted_proxies: Arc<[IpNet]>,
}

impl RequestLimits {
    pub fn new(
        flood: Option<Arc<FloodGuard>>,
        max_in_flight: usize,
        timeout: Duration,
        trusted_proxies: Arc<[IpNet]>,
    ) -> Self {
        Self {
            flood,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            timeout,
            trusted_proxies,
        }
    }
}

/// Wraps `router` so that a request meets, in order: the flood guard, the
/// in-flight cap, then the timeout around its handler.
pub fn apply(router: Router, limits: RequestLimits) -> Router {
    router
        .layer(middleware::from_fn_with_state(limits.clone(), timeout))
        .layer(middleware::from_fn_with_state(limits.clone(), in_flight))
        .layer(middleware::from_fn_with_state(limits, flood))
}

fn is_exempt(request: &Request) -> bool {
    request.uri().path().starts_with(EXEMPT_PREFIX)
}

async fn flood(State(limits): State<RequestLimits>, request: Request, next: Next) -> Response {
    if let Some(guard) = &limits.flood {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let (Some(peer), false) = (peer, is_exempt(&request)) {
            let ip = client_ip(peer, request.headers(), &limits.trusted_proxies);
            if let Err(retry_after) = guard.check(ip) {
                return ApiError::TooManyRequests {
                    detail: "Too many requests; try again later.",
                    retry_after,
                }
                .into_response();
            }
        }
    }
    next.run(request).await
}

/// Refuses at once rather than queueing: a queue would only turn overload
/// into timeouts, and a load balancer can retry a 503 elsewhere.
async fn in_flight(State(limits): State<RequestLimits>, request: Request, next: Next) -> Response {
    if is_exempt(&request) {
        return next.run(request).await;
    }
    let Ok(_permit) = limits.in_flight.clone().try_acquire_owned() else {
        return ApiError::Overloaded.into_response();
    };
    next.run(request).await
}

/// Abandons a handler that runs past the timeout (dropping its future) and
/// answers 503: the client learns at a known bound instead of hanging.
async fn timeout(State(limits): State<RequestLimits>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}
