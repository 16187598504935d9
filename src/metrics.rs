//! Prometheus metrics, hand-rolled on atomics so that counting costs the
//! hot paths (`/verify`, refresh) a few uncontended atomic adds.
//!
//! The registry is process-wide: domain code counts through the plain
//! functions below (`login`, `refresh`, `refresh_reuse_detected`,
//! `rate_limited`, `dependency_error`) without carrying a handle, and
//! [`render`] writes everything in the Prometheus text format (0.0.4).
//!
//! Request series are keyed by method and route *template* (axum's
//! `MatchedPath`, e.g. `/api/v1/admin/users/{id}`), never the raw path, and
//! every unmatched path shares the route label `unmatched`, so the number of
//! series is bounded by the router, not by what clients send. A series is
//! created once (under a write lock) and leaked: after that, recording a
//! request takes a shared read lock for the lookup and then only touches
//! that series' own atomics.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

/// The route label of every request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency bucket bounds in seconds: sub-millisecond (`/verify` is a
/// signature check and one Redis round trip) up to the request timeout.
const BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// Methods get a fixed label set; anything else is `OTHER`.
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE", "OTHER",
];

/// Status codes 100..=599 index one counter each.
const STATUSES: usize = 500;

/// The outcome of a login attempt, as counted.
#[derive(Debug, Clone, Copy)]
pub enum LoginResult {
    Ok,
    /// Wrong password, unknown user, blocked or not activated.
    Failed,
}

/// The outcome of a refresh token exchange, as counted.
#[derive(Debug, Clone, Copy)]
pub enum RefreshResult {
    /// A new refresh token replaced the presented one.
    Rotated,
    /// The just-rotated token came back within the grace window.
    Retry,
    /// Unknown, expired, malformed or reused.
    Invalid,
}

/// A dependency whose failures are counted.
#[derive(Debug, Clone, Copy)]
pub enum Dependency {
    Redis,
    Postgres,
}

/// Counts one login attempt that reached a verdict on the credentials.
pub fn login(result: LoginResult) {
    let registry = registry();
    match result {
        LoginResult::Ok => &registry.logins_ok,
        LoginResult::Failed => &registry.logins_failed,
    }
    .fetch_add(1, Ordering::Relaxed);
}

/// Counts one refresh token exchange.
pub fn refresh(result: RefreshResult) {
    let registry = registry();
    match result {
        RefreshResult::Rotated => &registry.refreshes_rotated,
        RefreshResult::Retry => &registry.refreshes_retry,
        RefreshResult::Invalid => &registry.refreshes_invalid,
    }
    .fetch_add(1, Ordering::Relaxed);
}

/// Counts one replay of a rotated refresh token (the session was revoked).
pub fn refresh_reuse_detected() {
    registry()
        .refresh_reuse_detected
        .fetch_add(1, Ordering::Relaxed);
}

/// Counts one request rejected by the rate limiter named `limiter` (e.g.
/// `"login_ip"`, `"governor"`). Limiter names must come from a fixed set in
/// the code, never from the request: each distinct name is a series that
/// lives as long as the process.
pub fn rate_limited(limiter: &str) {
    let registry = registry();
    let known = read(&registry.rate_limited).get(limiter).copied();
    let counter = match known {
        Some(counter) => counter,
        None => *write(&registry.rate_limited)
            .entry(limiter.into())
            .or_insert_with(|| Box::leak(Box::default())),
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Counts one failed PostgreSQL or Redis operation that reached a request's
/// error mapping; `unavailable` when the dependency could not serve at all
/// (down, timed out, pool exhausted) rather than rejecting the operation.
pub fn dependency_error(dependency: Dependency, unavailable: bool) {
    let registry = registry();
    let [redis, postgres] = if unavailable {
        [&registry.redis_unavailable, &registry.postgres_unavailable]
    } else {
        [&registry.redis_other, &registry.postgres_other]
    };
    match dependency {
        Dependency::Redis => redis,
        Dependency::Postgres => postgres,
    }
    .fetch_add(1, Ordering::Relaxed);
}

/// Records one answered request. `route` is the matched route template, or
/// [`UNMATCHED_ROUTE`].
pub fn http_request(method: &axum::http::Method, route: &str, status: u16, elapsed: Duration) {
    let method = method_index(method);
    let registry = registry();
    let known = read(&registry.routes).get(route).copied();
    let series = match known {
        Some(series) => series,
        None => *write(&registry.routes)
            .entry(route.into())
            .or_insert_with(|| Box::leak(Box::new(RouteSeries::default()))),
    };
    series.methods[method]
        .get_or_init(|| Box::leak(Box::new(MethodSeries::new())))
        .record(status, elapsed);
}

/// Gauges read at scrape time rather than kept up to date.
#[derive(Debug, Clone, Copy)]
pub struct PoolGauges {
    /// Open PostgreSQL connections (idle or in use).
    pub db_size: u32,
    pub db_idle: usize,
    pub db_max: u32,
    /// The argon2 pool: hashes running, the most ever run at once, and
    /// `password_hashing.max_concurrency` (resolved).
    pub hashing: crate::users::HashingLoad,
}

/// Everything, in the Prometheus text exposition format.
pub fn render(gauges: PoolGauges) -> String {
    let registry = registry();
    let mut out = String::with_capacity(16 * 1024);
    render_http(registry, &mut out);

    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    header(
        &mut out,
        "tessera_logins_total",
        "counter",
        "Login attempts by verdict.",
    );
    for (result, counter) in [
        ("ok", &registry.logins_ok),
        ("failed", &registry.logins_failed),
    ] {
        let _ = writeln!(
            out,
            "tessera_logins_total{{result=\"{result}\"}} {}",
            load(counter)
        );
    }
    header(
        &mut out,
        "tessera_refreshes_total",
        "counter",
        "Refresh token exchanges by outcome.",
    );
    for (result, counter) in [
        ("rotated", &registry.refreshes_rotated),
        ("retry", &registry.refreshes_retry),
        ("invalid", &registry.refreshes_invalid),
    ] {
        let _ = writeln!(
            out,
            "tessera_refreshes_total{{result=\"{result}\"}} {}",
            load(counter)
        );
    }
    header(
        &mut out,
        "tessera_refresh_reuse_detected_total",
        "counter",
        "Rotated refresh tokens replayed after the grace window (session revoked).",
    );
    let _ = writeln!(
        out,
        "tessera_refresh_reuse_detected_total {}",
        load(&registry.refresh_reuse_detected)
    );
    header(
        &mut out,
        "tessera_rate_limited_total",
        "counter",
        "Requests rejected by a rate limiter.",
    );
    let mut limiters: Vec<(String, u64)> = read(&registry.rate_limited)
        .iter()
        .map(|(name, counter)| (name.to_string(), load(counter)))
        .collect();
    limiters.sort();
    for (name, count) in limiters {
        let _ = writeln!(
            out,
            "tessera_rate_limited_total{{limiter=\"{}\"}} {count}",
            escape(&name)
        );
    }
    header(
        &mut out,
        "tessera_dependency_errors_total",
        "counter",
        "Failed PostgreSQL and Redis operations seen by requests.",
    );
    for (dependency, kind, counter) in [
        ("postgres", "unavailable", &registry.postgres_unavailable),
        ("postgres", "other", &registry.postgres_other),
        ("redis", "unavailable", &registry.redis_unavailable),
        ("redis", "other", &registry.redis_other),
    ] {
        let _ = writeln!(
            out,
            "tessera_dependency_errors_total{{dependency=\"{dependency}\",kind=\"{kind}\"}} {}",
            load(counter)
        );
    }

    header(
        &mut out,
        "tessera_db_pool_connections",
        "gauge",
        "Open PostgreSQL connections.",
    );
    let _ = writeln!(out, "tessera_db_pool_connections {}", gauges.db_size);
    header(
        &mut out,
        "tessera_db_pool_idle_connections",
        "gauge",
        "Idle PostgreSQL connections.",
    );
    let _ = writeln!(out, "tessera_db_pool_idle_connections {}", gauges.db_idle);
    header(
        &mut out,
        "tessera_db_pool_max_connections",
        "gauge",
        "PostgreSQL pool limit (database.max_connections).",
    );
    let _ = writeln!(out, "tessera_db_pool_max_connections {}", gauges.db_max);
    header(
        &mut out,
        "tessera_password_hashes_in_progress",
        "gauge",
        "argon2id hashes and verifies running now.",
    );
    let _ = writeln!(
        out,
        "tessera_password_hashes_in_progress {}",
        gauges.hashing.running
    );
    header(
        &mut out,
        "tessera_password_hashes_in_progress_peak",
        "gauge",
        "The most argon2id computations that ever ran at once since start.",
    );
    let _ = writeln!(
        out,
        "tessera_password_hashes_in_progress_peak {}",
        gauges.hashing.peak
    );
    header(
        &mut out,
        "tessera_password_hashes_max_concurrency",
        "gauge",
        "Bound on concurrent argon2id computations (password_hashing.max_concurrency).",
    );
    let _ = writeln!(
        out,
        "tessera_password_hashes_max_concurrency {}",
        gauges.hashing.limit
    );
    out
}

fn render_http(registry: &Registry, out: &mut String) {
    let mut routes: Vec<(String, &'static RouteSeries)> = read(&registry.routes)
        .iter()
        .map(|(route, series)| (escape(route), *series))
        .collect();
    routes.sort_by(|a, b| a.0.cmp(&b.0));
    let per_method = || {
        routes.iter().flat_map(|(route, series)| {
            series
                .methods
                .iter()
                .zip(METHODS)
                .filter_map(move |(slot, method)| Some((route, method, *slot.get()?)))
        })
    };

    header(
        out,
        "http_requests_total",
        "counter",
        "Answered HTTP requests.",
    );
    for (route, method, series) in per_method() {
        for (index, counter) in series.statuses.iter().enumerate() {
            let count = counter.load(Ordering::Relaxed);
            if count > 0 {
                let _ = writeln!(
                    out,
                    "http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{}\"}} {count}",
                    index + 100
                );
            }
        }
    }

    header(
        out,
        "http_request_duration_seconds",
        "histogram",
        "Time from the request reaching the router to the response head.",
    );
    for (route, method, series) in per_method() {
        let labels = format!("method=\"{method}\",route=\"{route}\"");
        let mut cumulative = 0;
        for (bound, counter) in BUCKETS.iter().zip(&series.buckets) {
            cumulative += counter.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        // Read the count last: a request recorded meanwhile then shows in
        // `+Inf` without making it smaller than a finite bucket.
        let count = series.count.load(Ordering::Relaxed).max(cumulative);
        let sum = series.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(
            out,
            "http_request_duration_seconds_count{{{labels}}} {count}"
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn method_index(method: &axum::http::Method) -> usize {
    use axum::http::Method;
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        Method::DELETE => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}

#[derive(Default)]
struct Registry {
    routes: RwLock<HashMap<Box<str>, &'static RouteSeries>>,
    rate_limited: RwLock<HashMap<Box<str>, &'static AtomicU64>>,
    logins_ok: AtomicU64,
    logins_failed: AtomicU64,
    refreshes_rotated: AtomicU64,
    refreshes_retry: AtomicU64,
    refreshes_invalid: AtomicU64,
    refresh_reuse_detected: AtomicU64,
    postgres_unavailable: AtomicU64,
    postgres_other: AtomicU64,
    redis_unavailable: AtomicU64,
    redis_other: AtomicU64,
}

#[derive(Default)]
struct RouteSeries {
    methods: [OnceLock<&'static MethodSeries>; METHODS.len()],
}

struct MethodSeries {
    statuses: [AtomicU64; STATUSES],
    /// Non-cumulative: one count per bucket; summed when rendered.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl MethodSeries {
    fn new() -> Self {
        Self {
            statuses: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn record(&self, status: u16, elapsed: Duration) {
        if let Some(counter) = usize::from(status)
            .checked_sub(100)
            .and_then(|index| self.statuses.get(index))
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

// The maps only ever gain entries, so a panic while one was held left
// nothing half-done: keep using a poisoned lock.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_lands_in_its_status_and_latency_bucket() {
        let route = "/metrics-unit-test/{id}";
        http_request(
            &axum::http::Method::GET,
            route,
            204,
            Duration::from_micros(700),
        );
        let text = render(PoolGauges {
            db_size: 3,
            db_idle: 1,
            db_max: 20,
            hashing: crate::users::HashingLoad {
                running: 1,
                peak: 2,
                limit: 2,
            },
        });
        let labels = format!("method=\"GET\",route=\"{route}\"");
        assert!(text.contains(&format!(
            "http_requests_total{{{labels},status=\"204\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "http_request_duration_seconds_bucket{{{labels},le=\"0.0005\"}} 0\n"
        )));
        assert!(text.contains(&format!(
            "http_request_duration_seconds_bucket{{{labels},le=\"0.001\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 1\n"
        )));
        assert!(text.contains("tessera_db_pool_idle_connections 1\n"));
        assert!(text.contains("tessera_password_hashes_in_progress_peak 2\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
