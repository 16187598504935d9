//! The HTTP layer: routers per area, extractors, and error mapping. Handlers
//! parse, call one domain function, and shape the response.

mod admin;
mod auth;
mod clients;
mod edge;
mod error;
mod extract;
mod invalid;
mod limits;
mod load;
mod meta;
mod mfa;
mod oauth;
mod observability;
pub mod openapi;
mod pages;
mod passkeys;
mod responses;
mod revocations;
mod roles;
mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::Response;
use axum::Router;
use ipnet::IpNet;
use sqlx::PgPool;
use tower_http::cors::CorsLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, OAuthApiError};
pub use extract::client_ip;
pub use invalid::Location;
pub use limits::{ConnectionCap, ConnectionSlot, RequestLimits};
pub use meta::Exposure;
pub use pages::PageSettings;

use crate::account::Account;
use crate::admin::Admin;
use crate::auth::Auth;
use crate::authorize::Authorize;
use crate::clients::Clients;
use crate::console::Console;
use crate::dpop::Dpop;
use crate::load::LoadKit;
use crate::mfa::Mfa;
use crate::oauth::OAuth;
use crate::redis_client::RedisClient;
use crate::revocations::RevocationFeed;
use crate::tokens::TokenIssuer;
use crate::users::PasswordHasher;

/// What every handler may use, behind one `Arc`: axum clones the state for
/// every request, and one reference count costs less than one per service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub auth: Arc<Auth>,
    /// `/.well-known/jwks.json` publishes its keys.
    pub tokens: Arc<TokenIssuer>,
    pub account: Arc<Account>,
    /// Second factors: enrolment and removal.
    pub mfa: Arc<Mfa>,
    pub admin: Arc<Admin>,
    pub oauth: Arc<OAuth>,
    /// `/oauth/authorize`, its pages and RP-initiated logout.
    pub authorize: Arc<Authorize>,
    /// DPoP proofs: checked, and their `jti` spent.
    pub dpop: Arc<Dpop>,
    /// The client registry's administration.
    pub clients: Arc<Clients>,
    /// The revocation feed's pages, snapshots and streams.
    pub revocations: Arc<RevocationFeed>,
    pub pool: PgPool,
    pub redis: Arc<RedisClient>,
    pub trusted_proxies: Arc<[IpNet]>,
    pub limits: RequestLimits,
    /// Read by `/metrics` for the argon2 pool gauges.
    pub hasher: PasswordHasher,
    /// `metrics.enabled` / `metrics.allow_cidrs`: who may scrape `/metrics`.
    pub metrics: Exposure,
    /// `docs.enabled` / `docs.allow_cidrs`: who may read `/docs`,
    /// `/openapi.json` and `/docs.yaml`.
    pub docs: Exposure,
    /// The load-test kit behind `/api/v1/admin/load/*`.
    pub load: Arc<LoadKit>,
    /// `load.enabled`: whether those routes exist at all.
    pub load_routes: Exposure,
    /// The admin console's sign-in sessions.
    pub console: Arc<Console>,
    /// The hosted pages' form keys and cookie settings.
    pub pages: PageSettings,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// RFC 9449's request header (a proof) and answer header (a server nonce).
const DPOP: HeaderName = HeaderName::from_static("dpop");
const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Who may reach a group of routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Everyone,
    /// `metrics.enabled` / `metrics.allow_cidrs`.
    Metrics,
    /// `docs.enabled` / `docs.allow_cidrs`.
    Docs,
    /// `load.enabled`: the load-test kit's routes (ADMIN only besides).
    Load,
    /// Everyone, through a browser: the hosted HTML pages, each answer with
    /// the pages' security headers.
    Pages,
}

/// Every route the service serves, each registered with its documentation
/// (`routes!`), grouped by who may reach it. [`router`] serves exactly
/// these and `/openapi.json` documents exactly these: no route is added
/// anywhere else.
pub fn routes() -> [(Audience, OpenApiRouter<AppState>); 5] {
    let everyone = OpenApiRouter::default()
        .merge(meta::router())
        .merge(oauth::router())
        .nest(
            "/api/v1/auth",
            auth::router()
                .merge(mfa::sign_in_router())
                .merge(passkeys::sign_in_routes()),
        )
        .nest(
            "/api/v1/users",
            users::router()
                .merge(mfa::enrolment_router())
                .merge(passkeys::enrolment_routes()),
        )
        .nest("/api/v1/admin", admin::router().merge(clients::router()))
        .nest("/api/v1/revocations", revocations::router());
    let metrics = OpenApiRouter::default().routes(routes!(observability::scrape));
    [
        (Audience::Everyone, everyone),
        (Audience::Metrics, metrics),
        (Audience::Docs, openapi::router()),
        (
            Audience::Load,
            OpenApiRouter::default().nest("/api/v1/admin/load", load::router()),
        ),
        (Audience::Pages, pages::router()),
    ]
}

/// `server.cors_allowed_origins` as a CORS layer, with credentials; none
/// when the list is empty (no CORS headers at all).
fn cors(allowed_origins: &[String]) -> Option<CorsLayer> {
    if allowed_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, DPOP])
            // A browser app reads a DPoP challenge and its nonce.
            .expose_headers([header::WWW_AUTHENTICATE, DPOP_NONCE])
            .max_age(Duration::from_secs(600)),
    )
}

/// What every JSON API answer gets beyond the edge's (no caching, see
/// [`forbid_caching`]): CORS for the allowed origins.
fn json_api(routes: Router<AppState>, cors: &Option<CorsLayer>) -> Router<AppState> {
    match cors {
        Some(cors) => routes.layer(cors.clone()),
        None => routes,
    }
}

/// `dpop.require_nonce`: every answer to a request with a DPoP proof names
/// the nonce its next proof must carry (RFC 9449 §8.2), the refusal of a
/// proof without one included; the client need not ask for it first.
async fn dpop_nonce(
    State(dpop): State<Arc<Dpop>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let proved = request.headers().contains_key(DPOP);
    let mut response = next.run(request).await;
    if let (true, Some(nonce)) = (proved, dpop.current_nonce()) {
        // Digits, a dot and base64url: always a header value.
        if let Ok(value) = HeaderValue::from_str(&nonce) {
            response.headers_mut().insert(DPOP_NONCE, value);
        }
    }
    response
}

/// `Cache-Control: no-store` (and `Pragma: no-cache` for HTTP/1.0 caches)
/// unless the handler chose a caching policy of its own (the published
/// keys, the metadata, the pages' stylesheet): set by [`edge`] on every
/// answer. Tokens, secrets and user data pass through answers, and a token
/// answer must never sit in a cache (RFC 6749 §5.1).
fn forbid_caching(headers: &mut HeaderMap) {
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
}

pub fn router(state: AppState, cors_allowed_origins: &[String]) -> Router {
    let request_limits = state.limits.clone();
    let gated = |exposure: &Exposure| {
        axum::middleware::from_fn_with_state(
            (exposure.clone(), state.trusted_proxies.clone()),
            meta::gate,
        )
    };
    let cors = cors(cors_allowed_origins);
    let mut app = Router::new();
    for (audience, routes) in routes() {
        let (routes, _) = routes.split_for_parts();
        // Set before the layers below, so they wrap the 405 answer too: a
        // closed route is a 404 for every method, and a CORS preflight
        // (OPTIONS) reaches the CORS layer.
        let routes = routes.method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
        app = app.merge(match audience {
            Audience::Everyone => json_api(routes, &cors),
            Audience::Metrics => routes.layer(gated(&state.metrics)),
            Audience::Docs => routes.layer(gated(&state.docs)),
            Audience::Load => json_api(routes, &cors).layer(gated(&state.load_routes)),
            // Never CORS: a page answers its own site's browser only, so an
            // allowed origin cannot read the console with its cookie.
            Audience::Pages => routes.layer(axum::middleware::from_fn(pages::secure)),
        });
    }
    if state.dpop.current_nonce().is_some() {
        app = app.layer(axum::middleware::from_fn_with_state(
            state.dpop.clone(),
            dpop_nonce,
        ));
    }
    let app = app
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(error::BODY_LIMIT))
        .with_state(state);
    app.layer(axum::middleware::from_fn_with_state(
        request_limits,
        edge::edge,
    ))
}
