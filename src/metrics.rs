//! Prometheus metrics on the Prometheus project's `prometheus-client`,
//! written in the Prometheus text format (0.0.4).
//!
//! The registry is process-wide: domain code counts through the plain
//! functions below (`login`, `refresh`, `refresh_reuse_detected`,
//! `rate_limited`, `dependency_error`) without carrying a handle, and
//! [`render`] writes everything out.
//!
//! Request series are keyed by method and route *template* (axum's
//! `MatchedPath`, e.g. `/api/v1/admin/users/{id}`), never the raw path, and
//! every unmatched path shares the route label `unmatched`, so the number of
//! series is bounded by the router, not by what clients send. Label values
//! are `&'static str` and small integers, so recording a request hashes and
//! compares but never allocates; each route template is copied once, the
//! first time it is seen, and kept for the life of the process.

use std::collections::HashSet;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use prometheus_client::encoding::{
    prometheus_text, EncodeLabelSet, EncodeLabelValue, LabelValueEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The route label of every request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `Content-Type` of what [`render`] writes.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Latency bucket bounds in seconds: sub-millisecond (`/verify` is a
/// signature check and one Redis round trip) up to the request timeout.
const BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

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
    let metrics = metrics();
    match result {
        LoginResult::Ok => &metrics.logins_ok,
        LoginResult::Failed => &metrics.logins_failed,
    }
    .inc();
}

/// Counts one refresh token exchange.
pub fn refresh(result: RefreshResult) {
    let metrics = metrics();
    match result {
        RefreshResult::Rotated => &metrics.refreshes_rotated,
        RefreshResult::Retry => &metrics.refreshes_retry,
        RefreshResult::Invalid => &metrics.refreshes_invalid,
    }
    .inc();
}

/// Counts one replay of a rotated refresh token (the session was revoked).
pub fn refresh_reuse_detected() {
    metrics().refresh_reuse_detected.inc();
}

/// Counts one request rejected by the rate limiter named `limiter` (e.g.
/// `"login_ip"`, `"governor"`). Names come from the code, never from the
/// request: each distinct name is a series that lives as long as the process.
pub fn rate_limited(limiter: &'static str) {
    metrics()
        .rate_limited
        .get_or_create(&LimiterLabel { limiter })
        .inc();
}

/// Counts one failed PostgreSQL or Redis operation that reached a request's
/// error mapping; `unavailable` when the dependency could not serve at all
/// (down, timed out, pool exhausted) rather than rejecting the operation.
pub fn dependency_error(dependency: Dependency, unavailable: bool) {
    let metrics = metrics();
    let [redis, postgres] = if unavailable {
        [&metrics.redis_unavailable, &metrics.postgres_unavailable]
    } else {
        [&metrics.redis_other, &metrics.postgres_other]
    };
    match dependency {
        Dependency::Redis => redis,
        Dependency::Postgres => postgres,
    }
    .inc();
}

/// Records one answered request. `method` is the request method's name
/// (`"GET"`, ...), `route` the matched route template or
/// [`UNMATCHED_ROUTE`].
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let metrics = metrics();
    let route = RouteLabels {
        method: Method::from_name(method),
        route: metrics.intern(route),
    };
    // Only real status codes get a series (as the status label is the code).
    if (100..600).contains(&status) {
        metrics
            .requests
            .get_or_create(&RequestLabels {
                method: route.method,
                route: route.route,
                status,
            })
            .inc();
    }
    metrics
        .durations
        .get_or_create(&route)
        .observe(elapsed.as_secs_f64());
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

/// Everything, in the Prometheus text exposition format ([`CONTENT_TYPE`]).
pub fn render(gauges: PoolGauges) -> Result<String, std::fmt::Error> {
    let mut out = String::with_capacity(16 * 1024);
    prometheus_text::encode(&mut out, &metrics().registry)?;
    prometheus_text::encode(&mut out, &gauge_registry(gauges))?;
    Ok(out)
}

/// The pool gauges as a registry of their own, built per scrape from the
/// values read now, so concurrent scrapes never see each other's readings.
fn gauge_registry(gauges: PoolGauges) -> Registry {
    let mut registry = Registry::default();
    registry.register(
        "tessera_db_pool_connections",
        "Open PostgreSQL connections",
        ConstGauge::new(gauges.db_size),
    );
    registry.register(
        "tessera_db_pool_idle_connections",
        "Idle PostgreSQL connections",
        ConstGauge::new(gauges.db_idle),
    );
    registry.register(
        "tessera_db_pool_max_connections",
        "PostgreSQL pool limit (database.max_connections)",
        ConstGauge::new(gauges.db_max),
    );
    registry.register(
        "tessera_password_hashes_in_progress",
        "argon2id hashes and verifies running now",
        ConstGauge::new(gauges.hashing.running),
    );
    registry.register(
        "tessera_password_hashes_in_progress_peak",
        "The most argon2id computations that ever ran at once since start",
        ConstGauge::new(gauges.hashing.peak),
    );
    registry.register(
        "tessera_password_hashes_max_concurrency",
        "Bound on concurrent argon2id computations (password_hashing.max_concurrency)",
        ConstGauge::new(gauges.hashing.limit),
    );
    registry
}

/// A request method as a label: the standard ones by name, anything else
/// as `OTHER`, so clients cannot mint series with made-up methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Connect,
    Trace,
    Other,
}

impl Method {
    fn from_name(name: &str) -> Self {
        match name {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "HEAD" => Self::Head,
            "OPTIONS" => Self::Options,
            "CONNECT" => Self::Connect,
            "TRACE" => Self::Trace,
            _ => Self::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
            Self::Options => "OPTIONS",
            Self::Connect => "CONNECT",
            Self::Trace => "TRACE",
            Self::Other => "OTHER",
        }
    }
}

impl EncodeLabelValue for Method {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.name(), encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: Method,
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: Method,
    route: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LimiterLabel {
    limiter: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DependencyLabels {
    dependency: &'static str,
    kind: &'static str,
}

/// The registry and, for the series every process has, the counters
/// themselves, so counting a login or refresh is one atomic add.
struct Metrics {
    registry: Registry,
    routes: RwLock<HashSet<&'static str>>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    rate_limited: Family<LimiterLabel, Counter>,
    logins_ok: Counter,
    logins_failed: Counter,
    refreshes_rotated: Counter,
    refreshes_retry: Counter,
    refreshes_invalid: Counter,
    refresh_reuse_detected: Counter,
    postgres_unavailable: Counter,
    postgres_other: Counter,
    redis_unavailable: Counter,
    redis_other: Counter,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::default();
        registry.register("http_requests", "Answered HTTP requests", requests.clone());
        let durations =
            Family::<RouteLabels, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS));
        registry.register(
            "http_request_duration_seconds",
            "Time from the request reaching the router to the response head",
            durations.clone(),
        );

        let logins = Family::<ResultLabel, Counter>::default();
        registry.register(
            "tessera_logins",
            "Login attempts by verdict",
            logins.clone(),
        );
        let refreshes = Family::<ResultLabel, Counter>::default();
        registry.register(
            "tessera_refreshes",
            "Refresh token exchanges by outcome",
            refreshes.clone(),
        );
        let refresh_reuse_detected = Counter::default();
        registry.register(
            "tessera_refresh_reuse_detected",
            "Rotated refresh tokens replayed after the grace window (session revoked)",
            refresh_reuse_detected.clone(),
        );
        let rate_limited = Family::default();
        registry.register(
            "tessera_rate_limited",
            "Requests rejected by a rate limiter",
            rate_limited.clone(),
        );
        let dependency_errors = Family::<DependencyLabels, Counter>::default();
        registry.register(
            "tessera_dependency_errors",
            "Failed PostgreSQL and Redis operations seen by requests",
            dependency_errors.clone(),
        );

        let result = |family: &Family<ResultLabel, Counter>, result| {
            family.get_or_create(&ResultLabel { result }).clone()
        };
        let dependency = |dependency, kind| {
            dependency_errors
                .get_or_create(&DependencyLabels { dependency, kind })
                .clone()
        };
        Self {
            registry,
            routes: RwLock::default(),
            requests,
            durations,
            rate_limited,
            logins_ok: result(&logins, "ok"),
            logins_failed: result(&logins, "failed"),
            refreshes_rotated: result(&refreshes, "rotated"),
            refreshes_retry: result(&refreshes, "retry"),
            refreshes_invalid: result(&refreshes, "invalid"),
            refresh_reuse_detected,
            postgres_unavailable: dependency("postgres", "unavailable"),
            postgres_other: dependency("postgres", "other"),
            redis_unavailable: dependency("redis", "unavailable"),
            redis_other: dependency("redis", "other"),
        }
    }

    /// `route` as a `&'static str` label value: the router's templates are
    /// a fixed set, so each is leaked once and then only looked up.
    fn intern(&self, route: &str) -> &'static str {
        // The set only ever gains entries, so a panic while it was held left
        // nothing half-done: keep using a poisoned lock.
        let known = self
            .routes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(route)
            .copied();
        known.unwrap_or_else(|| {
            let mut routes = self
                .routes
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(known) = routes.get(route) {
                return known;
            }
            let interned: &'static str = Box::leak(route.into());
            routes.insert(interned);
            interned
        })
    }
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_now() -> String {
        render(PoolGauges {
            db_size: 3,
            db_idle: 1,
            db_max: 20,
            hashing: crate::users::HashingLoad {
                running: 1,
                peak: 2,
                limit: 2,
            },
        })
        .unwrap()
    }

    #[test]
    fn a_request_lands_in_its_status_and_latency_bucket() {
        let route = "/metrics-unit-test/{id}";
        http_request("GET", route, 204, Duration::from_micros(700));
        let text = render_now();
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
        assert!(text.contains("# TYPE http_requests_total counter\n"));
        assert!(text.contains("# HELP tessera_logins_total Login attempts by verdict.\n"));
        assert!(text.contains("tessera_db_pool_idle_connections 1\n"));
        assert!(text.contains("tessera_password_hashes_in_progress_peak 2\n"));
    }

    #[test]
    fn unknown_methods_share_one_label_and_label_values_are_escaped() {
        http_request("BREW", "/metrics-unit-test/\"quoted\"", 200, Duration::ZERO);
        let text = render_now();
        assert!(text.contains(
            "http_requests_total{method=\"OTHER\",route=\"/metrics-unit-test/\\\"quoted\\\"\",status=\"200\"} 1\n"
        ));
    }
}
