//! Per-request limits in front of every handler: the per-IP flood guard
//! (before any Redis or PostgreSQL work), a cap on requests in flight, and
//! the request timeout. Each refusal is an [`ApiError`], in the usual shape.
//! Below them, [`ConnectionCap`] bounds the connections one address holds.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::extract::client_ip;
use crate::metrics;
use crate::rate_limit::{ip_subject, FloodGuard};

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

/// The limits in order: the flood guard, the in-flight cap, then the
/// timeout around the handler (`/health/` meets the timeout only). Called
/// by [`super::edge`], inside the request's span and metrics.
pub(super) async fn enforce(limits: &RequestLimits, request: Request, next: Next) -> Response {
    let exempt = request.uri().path().starts_with(EXEMPT_PREFIX);
    if let (Some(guard), false) = (&limits.flood, exempt) {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(peer) = peer {
            let ip = client_ip(peer, request.headers(), &limits.trusted_proxies);
            if let Err(refused) = guard.check(ip) {
                return ApiError::from(refused).into_response();
            }
        }
    }
    // Refused at once rather than queued: a queue would only turn overload
    // into timeouts, and a load balancer can retry a 503 elsewhere.
    let _permit = if exempt {
        None
    } else {
        match limits.in_flight.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => return ApiError::Overloaded.into_response(),
        }
    };
    // A handler that runs past the timeout is abandoned (its future
    // dropped) and answered 503: the client learns at a known bound
    // instead of hanging.
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}

/// Open connections per client address, so that one address cannot hold
/// every socket the process may open. Counted at accept, before any byte is
/// read: the peer address is all there is, so trusted proxies are exempt
/// (every client behind one shares its address).
pub struct ConnectionCap {
    /// 0 = unlimited.
    max: usize,
    exempt: Arc<[IpNet]>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; gives its place back when dropped.
pub struct ConnectionSlot {
    cap: Arc<ConnectionCap>,
    /// `None` when the peer is not counted.
    key: Option<IpAddr>,
}

impl ConnectionCap {
    pub fn new(max: usize, exempt: Arc<[IpNet]>) -> Arc<Self> {
        Arc::new(Self {
            max,
            exempt,
            open: Mutex::default(),
        })
    }

    /// A slot for a connection from `peer`, or `None` when that address
    /// already holds the maximum (the caller closes the connection).
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<ConnectionSlot> {
        let peer = peer.to_canonical();
        if self.max == 0 || self.exempt.iter().any(|net| net.contains(&peer)) {
            return Some(ConnectionSlot {
                cap: self.clone(),
                key: None,
            });
        }
        let key = ip_subject(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            drop(open);
            metrics::rate_limited("connections_per_ip");
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            cap: self.clone(),
            key: Some(key),
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        // A panic under this lock leaves the counts whole: keep using it.
        let mut open = self.cap.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_holds_at_most_max_connections_until_one_closes() {
        let cap = ConnectionCap::new(2, Arc::from(vec![]));
        let first = cap.admit(ip("192.0.2.1")).unwrap();
        let _second = cap.admit(ip("192.0.2.1")).unwrap();
        assert!(cap.admit(ip("192.0.2.1")).is_none());
        assert!(cap.admit(ip("192.0.2.2")).is_some());
        drop(first);
        assert!(cap.admit(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_per_address() {
        let cap = ConnectionCap::new(1, Arc::from(vec![]));
        let _a = cap.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(cap.admit(ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(cap.admit(ip("2001:db8:1:3::1")).is_some());
        let _v4 = cap.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert!(cap.admit(ip("192.0.2.1")).is_none());
        assert!(cap.admit(ip("::ffff:192.0.2.2")).is_some());
    }

    #[test]
    fn trusted_proxies_and_zero_are_not_capped() {
        let proxies: Arc<[IpNet]> = Arc::from(vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]);
        let cap = ConnectionCap::new(1, proxies);
        let held: Vec<_> = (0..5).filter_map(|_| cap.admit(ip("10.1.2.3"))).collect();
        assert_eq!(held.len(), 5);
        let unlimited = ConnectionCap::new(0, Arc::from(vec![]));
        let held: Vec<_> = (0..5)
            .filter_map(|_| unlimited.admit(ip("192.0.2.1")))
            .collect();
        assert_eq!(held.len(), 5);
    }
}
