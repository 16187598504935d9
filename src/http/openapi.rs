//! The OpenAPI 3.1 document (built by utoipa from the handlers' `#[utoipa::path]`
//! attributes and the response types' `ToSchema` derives), served as
//! `/openapi.json` and `/docs.yaml`, and Swagger UI at `/docs` from assets
//! vendored in `assets/swagger-ui/` (no CDN, nothing fetched at build time).
//!
//! Response types that leave the service derive `ToSchema` where they are
//! defined (domain or handler), so the schema is the serialised type itself;
//! bodies built with `json!` and request bodies (read field by field through
//! `BodyFields`) are described by the documentation-only types in [`schemas`].
//! [`ROUTES`] lists every route the router serves; tests check that the
//! document lists exactly these and that each one reaches a handler.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ApiError;
use super::AppState;

/// Every route the router serves, as (method, path) with axum's `{param}`
/// syntax. Adding a route without documenting it (or the reverse) fails
/// `tests/openapi.rs`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("POST", "/oauth/token"),
    ("POST", "/oauth/introspect"),
    ("POST", "/oauth/revoke"),
    ("GET", "/openapi.json"),
    ("GET", "/docs.yaml"),
    ("GET", "/docs"),
    ("GET", "/docs/{asset}"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/auth/register"),
    ("GET", "/api/v1/auth/username-available"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/logout-all"),
    ("GET", "/api/v1/auth/verify"),
    ("POST", "/api/v1/auth/activate"),
    ("POST", "/api/v1/auth/activate/resend"),
    ("POST", "/api/v1/auth/forgot-password"),
    ("POST", "/api/v1/auth/reset-password"),
    ("POST", "/api/v1/auth/change-password"),
    ("GET", "/api/v1/users/me"),
    ("PATCH", "/api/v1/users/me"),
    ("DELETE", "/api/v1/users/me"),
    ("GET", "/api/v1/users/me/sessions"),
    ("DELETE", "/api/v1/users/me/sessions/{id}"),
    ("GET", "/api/v1/users/me/balance"),
    ("GET", "/api/v1/admin/check"),
    ("GET", "/api/v1/admin/users"),
    ("PATCH", "/api/v1/admin/users/{id}"),
    ("DELETE", "/api/v1/admin/users/{id}"),
    ("POST", "/api/v1/admin/users/{id}/block"),
    ("POST", "/api/v1/admin/users/{id}/unblock"),
    ("POST", "/api/v1/admin/users/{id}/restore"),
    ("POST", "/api/v1/admin/users/{id}/balance"),
    ("GET", "/api/v1/admin/audit"),
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tessera",
        description = "Authentication token service: EdDSA JWT access tokens, rotating refresh \
            tokens with reuse detection, per-device sessions, OAuth 2.0 token, introspection \
            and revocation endpoints.\n\nErrors are `{\"detail\": ...}` (FastAPI-compatible); \
            validation errors list every problem as `{loc, msg, type}`; PostgreSQL or Redis \
            outages answer 503 with an `error_code`. The OAuth endpoints answer protocol errors \
            as RFC 6749 §5.2 `{error, error_description}`.",
        license(name = "MIT")
    ),
    paths(docs_json, docs_yaml, docs_ui, docs_asset, super::observability::scrape),
    nest(
        (path = "/api/v1/auth", api = super::auth::Docs),
        (path = "/api/v1/users", api = super::users::Docs),
        (path = "/api/v1/admin", api = super::admin::Docs),
    ),
    components(
        // The error bodies: reached only through the reusable responses,
        // which utoipa does not follow when collecting schemas.
        schemas(
            schemas::Detail,
            schemas::DependencyError,
            schemas::HttpValidationError,
            schemas::ValidationIssue,
            schemas::LocPart,
            schemas::JsonObject,
            schemas::OAuthErrorBody
        ),
        responses(
        schemas::BadRequest,
        schemas::Unauthorized,
        schemas::Forbidden,
        schemas::NotFound,
        schemas::Conflict,
        schemas::PayloadTooLarge,
        schemas::ValidationFailed,
        schemas::TooManyRequests,
        schemas::ServiceUnavailable,
        schemas::OAuthBadRequest,
        schemas::OAuthInvalidClient,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Registration, login, token refresh, logout, account recovery, forward auth"),
        (name = "users", description = "The caller's own account and sessions"),
        (name = "admin", description = "Administration (ADMIN; MODERATOR where noted)"),
        (name = "oauth", description = "OAuth 2.0 token (RFC 6749), introspection (RFC 7662), revocation (RFC 7009), metadata (RFC 8414)"),
        (name = "meta", description = "Status, health, published keys, this document"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from /api/v1/auth/login or /oauth/token",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A confidential client from `gateway.clients` (id and secret, RFC 6749 §2.3.1)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
        // Routes at the root are merged rather than nested: nesting under
        // "/" would double the slash.
        let mut document = ApiDoc::openapi();
        document.merge(super::meta::Docs::openapi());
        document.merge(super::oauth::Docs::openapi());
        document
    });
    &DOCUMENT
}

static JSON: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string_pretty(document()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialise the OpenAPI document");
        String::from("{}")
    })
});

static YAML: LazyLock<String> = LazyLock::new(|| {
    document().to_yaml().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialise the OpenAPI document as YAML");
        String::from("{}\n")
    })
});

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(docs_json))
        .route("/docs.yaml", get(docs_yaml))
        .route("/docs", get(docs_ui))
        .route("/docs/{asset}", get(docs_asset))
}

/// This document, as JSON.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
async fn docs_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], JSON.as_str())
}

/// This document, as YAML (the same content as `/openapi.json`).
#[utoipa::path(get, path = "/docs.yaml", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/yaml", body = String)))]
async fn docs_yaml() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml")], YAML.as_str())
}

const INDEX_HTML: &str = include_str!("../../assets/swagger-ui/index.html");

/// Swagger UI for this document.
#[utoipa::path(get, path = "/docs", tag = "meta",
    responses((status = 200, description = "Swagger UI", content_type = "text/html", body = String)))]
async fn docs_ui() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX_HTML,
    )
}

/// Swagger UI's vendored assets: (file name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    ),
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui-standalone-preset.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-standalone-preset.js"),
    ),
    (
        "swagger-initializer.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-initializer.js"),
    ),
    (
        "favicon-32x32.png",
        "image/png",
        include_bytes!("../../assets/swagger-ui/favicon-32x32.png"),
    ),
];

/// A Swagger UI asset (vendored with the service).
#[utoipa::path(get, path = "/docs/{asset}", tag = "meta",
    params(("asset" = String, Path, description = "swagger-ui.css, swagger-ui-bundle.js, swagger-ui-standalone-preset.js, swagger-initializer.js or favicon-32x32.png")),
    responses(
        (status = 200, description = "The asset", content(
            (String = "text/css"),
            (String = "text/javascript"),
            (String = "image/png"),
        )),
        (status = 404, response = schemas::NotFound),
    ))]
async fn docs_asset(Path(asset): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == asset)
        .ok_or(ApiError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        *bytes,
    ))
}

/// Documentation-only types: request bodies (read field by field by
/// `BodyFields`, so no Rust type deserialises them), bodies built with
/// `json!`, and the shared error responses. They are never constructed.
#[allow(dead_code)]
pub(super) mod schemas {
    use chrono::NaiveDate;
    use serde_json::Value;
    use utoipa::{ToResponse, ToSchema};

    use crate::users::{Role, Subscription};

    /// `{"detail": "..."}`: every error outside validation and the OAuth
    /// endpoints.
    #[derive(ToSchema)]
    #[schema(example = json!({"detail": "Incorrect username or password"}))]
    pub struct Detail {
        pub detail: String,
    }

    /// 503/504 when a dependency is down or slow.
    #[derive(ToSchema)]
    #[schema(example = json!({"detail": "The database is unavailable; try again shortly.", "error_code": "DB_UNAVAILABLE"}))]
    pub struct DependencyError {
        pub detail: String,
        /// `DB_UNAVAILABLE`, `REDIS_UNAVAILABLE`, `CAPTCHA_UNAVAILABLE` or
        /// `CAPTCHA_TIMEOUT`.
        pub error_code: String,
    }

    /// One problem in a request (FastAPI's shape).
    #[derive(ToSchema)]
    pub struct ValidationIssue {
        /// Where: `["body", "email"]`, `["query", "limit"]`, `["path", "id"]`,
        /// or `["body", <byte offset>]` for malformed JSON.
        #[schema(value_type = Vec<LocPart>)]
        pub loc: Vec<Value>,
        pub msg: String,
        /// `missing`, `value_error`, `string_type`, `bool_type`,
        /// `json_invalid`, `model_attributes_type`, `uuid_parsing`.
        #[schema(rename = "type")]
        pub kind: String,
        /// Extra context (the JSON parser's message for `json_invalid`).
        pub ctx: Option<JsonObject>,
        /// The rejected input (`uuid_parsing`).
        pub input: Option<String>,
    }

    /// A `loc` entry: a name, or a byte offset into a malformed body.
    #[derive(serde::Serialize, ToSchema)]
    #[serde(untagged)]
    pub enum LocPart {
        Name(String),
        Offset(u64),
    }

    /// A free-form JSON object.
    #[derive(ToSchema)]
    #[schema(value_type = Object)]
    pub struct JsonObject(Value);

    /// 422: every problem in the request, one entry per field.
    #[derive(ToSchema)]
    #[schema(example = json!({"detail": [
        {"loc": ["body", "email"], "msg": "Value error, value is not a valid email address: An email address must have an @-sign.", "type": "value_error"},
        {"loc": ["body", "password"], "msg": "Field required", "type": "missing"}
    ]}))]
    pub struct HttpValidationError {
        pub detail: Vec<ValidationIssue>,
    }

    /// RFC 6749 §5.2 error.
    #[derive(ToSchema)]
    #[schema(example = json!({"error": "invalid_grant", "error_description": "Invalid username or password"}))]
    pub struct OAuthErrorBody {
        /// `invalid_request`, `invalid_client`, `invalid_grant` or
        /// `unsupported_grant_type`.
        pub error: String,
        pub error_description: String,
    }

    /// The request cannot be served as sent (see `detail`).
    #[derive(ToResponse)]
    #[response(example = json!({"detail": "Incorrect current password"}))]
    pub struct BadRequest(Detail);

    /// Missing, invalid or expired credentials.
    #[derive(ToResponse)]
    #[response(
        headers(("WWW-Authenticate" = String, description = "`Bearer`")),
        example = json!({"detail": "Could not validate credentials"})
    )]
    pub struct Unauthorized(Detail);

    /// The caller may not do this.
    #[derive(ToResponse)]
    #[response(example = json!({"detail": "Not enough permissions"}))]
    pub struct Forbidden(Detail);

    /// No such resource.
    #[derive(ToResponse)]
    #[response(example = json!({"detail": "Not Found"}))]
    pub struct NotFound(Detail);

    /// Conflicts with the current state (taken email or username, balance).
    #[derive(ToResponse)]
    #[response(example = json!({"detail": "Email already registered"}))]
    pub struct Conflict(Detail);

    /// The request body is over 64 KiB.
    #[derive(ToResponse)]
    #[response(example = json!({"detail": "Request body too large (limit 64 KiB)"}))]
    pub struct PayloadTooLarge(Detail);

    /// The request is invalid: every problem, one entry per field.
    #[derive(ToResponse)]
    pub struct ValidationFailed(HttpValidationError);

    /// Rate limited: retry after the given number of seconds.
    #[derive(ToResponse)]
    #[response(
        headers(("Retry-After" = u64, description = "Seconds to wait before retrying")),
        example = json!({"detail": "Too many requests; try again later."})
    )]
    pub struct TooManyRequests(Detail);

    /// PostgreSQL or Redis is unavailable (or did not answer within its
    /// timeout); retry shortly.
    #[derive(ToResponse)]
    pub struct ServiceUnavailable(DependencyError);

    /// RFC 6749 §5.2: `invalid_request`, `invalid_grant` or
    /// `unsupported_grant_type`.
    #[derive(ToResponse)]
    #[response(headers(("Cache-Control" = String, description = "`no-store`")))]
    pub struct OAuthBadRequest(OAuthErrorBody);

    /// RFC 6749 §5.2 `invalid_client`: client authentication failed.
    #[derive(ToResponse)]
    #[response(
        headers(("WWW-Authenticate" = String, description = "`Basic realm=\"tessera\"`")),
        example = json!({"error": "invalid_client", "error_description": "Client authentication failed"})
    )]
    pub struct OAuthInvalidClient(OAuthErrorBody);

    // ---- request bodies ----

    /// `POST /auth/register`.
    #[derive(ToSchema)]
    #[schema(example = json!({"email": "alice@example.com", "username": "alice", "password": "correct horse battery staple"}))]
    pub struct RegisterRequest {
        /// A valid address; stored lower-cased.
        pub email: String,
        /// 3–30 of `[A-Za-z0-9_-]`, no `__` or `--`, not reserved.
        pub username: String,
        /// 8–128 characters, not a common password, not the email or username.
        pub password: String,
        /// Required when CAPTCHA is configured.
        pub captcha_token: Option<String>,
    }

    /// `POST /auth/login` as JSON: `email` or `username`, and `password`.
    #[derive(ToSchema)]
    #[schema(example = json!({"email": "alice@example.com", "password": "correct horse battery staple"}))]
    pub struct LoginJson {
        pub email: Option<String>,
        /// Used when `email` is absent: a username or an email address.
        pub username: Option<String>,
        pub password: String,
    }

    /// `POST /auth/login` as the OAuth2 password form.
    #[derive(ToSchema)]
    #[schema(example = json!({"username": "alice", "password": "correct horse battery staple"}))]
    pub struct LoginForm {
        /// An email address or a username.
        pub username: String,
        pub password: String,
    }

    /// A refresh token in the body (else the `Authorization: Bearer` header
    /// is used).
    #[derive(ToSchema)]
    pub struct RefreshRequest {
        pub refresh_token: Option<String>,
    }

    /// `{token}` (activation).
    #[derive(ToSchema)]
    pub struct TokenRequest {
        pub token: String,
    }

    /// `{email}` (activation resend, forgot-password).
    #[derive(ToSchema)]
    #[schema(example = json!({"email": "alice@example.com"}))]
    pub struct EmailRequest {
        pub email: String,
    }

    /// `POST /auth/reset-password`.
    #[derive(ToSchema)]
    pub struct ResetPasswordRequest {
        pub token: String,
        pub new_password: String,
    }

    /// `POST /auth/change-password`.
    #[derive(ToSchema)]
    pub struct ChangePasswordRequest {
        pub current_password: String,
        /// Must differ from the current password.
        pub new_password: String,
    }

    /// `PATCH /users/me`: only the fields present change; `null` clears one.
    #[derive(ToSchema)]
    #[schema(example = json!({"first_name": "Ada", "gender": "FEMALE", "date_of_birth": "1815-12-10"}))]
    pub struct ProfileUpdate {
        /// At most 100 characters, trimmed; empty clears.
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        /// An http(s) URL, at most 2048 characters.
        pub avatar_url: Option<String>,
        /// MALE, FEMALE, OTHER or PREFER_NOT_TO_SAY (any case).
        pub gender: Option<String>,
        /// In the past.
        pub date_of_birth: Option<NaiveDate>,
        /// At most 1000 characters.
        pub info: Option<String>,
    }

    /// `DELETE /users/me`: the account's password.
    #[derive(ToSchema)]
    pub struct PasswordRequest {
        pub password: String,
    }

    /// `PATCH /admin/users/{id}`.
    #[derive(ToSchema)]
    #[schema(example = json!({"account_role": "MODERATOR", "account_subscription": "PRO", "subscription_expires_at": "2027-01-31T00:00:00Z"}))]
    pub struct AdminUserUpdate {
        pub account_role: Option<Role>,
        pub account_subscription: Option<Subscription>,
        /// RFC 3339; `null` clears the expiry.
        pub subscription_expires_at: Option<String>,
    }

    /// `POST /admin/users/{id}/balance`.
    #[derive(ToSchema)]
    #[schema(example = json!({"delta": "-5.00"}))]
    pub struct BalanceDelta {
        /// A non-zero signed decimal string with at most two decimals.
        pub delta: String,
    }

    /// `POST /oauth/token` (RFC 6749 §4.3 and §6).
    #[derive(ToSchema)]
    #[schema(example = json!({"grant_type": "password", "username": "alice", "password": "correct horse battery staple"}))]
    pub struct OAuthTokenRequest {
        /// `password` or `refresh_token`.
        pub grant_type: String,
        /// `password` grant: an email address or a username.
        pub username: Option<String>,
        /// `password` grant.
        pub password: Option<String>,
        /// `refresh_token` grant.
        pub refresh_token: Option<String>,
        /// Public clients name themselves; confidential ones may
        /// authenticate here instead of with Basic.
        pub client_id: Option<String>,
        pub client_secret: Option<String>,
    }

    /// `POST /oauth/introspect` (RFC 7662).
    #[derive(ToSchema)]
    pub struct IntrospectionRequest {
        pub token: String,
        /// `access_token` or `refresh_token` (optional; both are tried).
        pub token_type_hint: Option<String>,
    }

    /// `POST /oauth/revoke` (RFC 7009).
    #[derive(ToSchema)]
    pub struct RevocationRequest {
        pub token: String,
        pub token_type_hint: Option<String>,
        pub client_id: Option<String>,
        pub client_secret: Option<String>,
    }

    // ---- response bodies built with json! ----

    /// `{"message": "..."}`.
    #[derive(ToSchema)]
    #[schema(example = json!({"message": "User account activated successfully."}))]
    pub struct Message {
        pub message: String,
    }

    /// `GET /auth/username-available`.
    #[derive(ToSchema)]
    #[schema(example = json!({"available": false, "suggestion": "john2"}))]
    pub struct UsernameAvailability {
        pub available: bool,
        /// The first free `name<N>` when the name is taken.
        pub suggestion: Option<String>,
    }

    /// `GET /users/me/balance`.
    #[derive(ToSchema)]
    #[schema(example = json!({"balance": "12.50"}))]
    pub struct UserBalance {
        /// A decimal string with two decimals.
        pub balance: String,
    }

    /// `GET /admin/check`.
    #[derive(ToSchema)]
    #[schema(example = json!({"is_admin": true}))]
    pub struct AdminCheck {
        pub is_admin: bool,
    }

    /// `GET /`.
    #[derive(ToSchema)]
    #[schema(example = json!({"status": "ok"}))]
    pub struct Status {
        pub status: String,
    }

    /// `GET /health/live`.
    #[derive(ToSchema)]
    #[schema(example = json!({"status": "ok", "version": "0.1.0"}))]
    pub struct Liveness {
        pub status: String,
        pub version: String,
    }

    /// `GET /health/ready`: each dependency `ok` or `unavailable`.
    #[derive(ToSchema)]
    #[schema(example = json!({"status": "ok", "components": {"database": "ok", "redis": "ok"}}))]
    pub struct Readiness {
        pub status: String,
        pub components: ReadinessComponents,
    }

    #[derive(ToSchema)]
    pub struct ReadinessComponents {
        pub database: String,
        pub redis: String,
    }

    /// A JSON Web Key Set (RFC 7517) of Ed25519 public keys.
    #[derive(ToSchema)]
    pub struct Jwks {
        pub keys: Vec<Jwk>,
    }

    #[derive(ToSchema)]
    #[schema(example = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "20261121T220000Z-ab12", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))]
    pub struct Jwk {
        pub kty: String,
        pub crv: String,
        pub alg: String,
        #[schema(rename = "use")]
        pub usage: String,
        pub kid: String,
        pub x: String,
    }

    /// RFC 8414 authorization server metadata.
    #[derive(ToSchema)]
    pub struct AuthorizationServerMetadata {
        pub issuer: String,
        pub token_endpoint: String,
        pub introspection_endpoint: String,
        pub revocation_endpoint: String,
        pub jwks_uri: String,
        pub grant_types_supported: Vec<String>,
        pub response_types_supported: Vec<String>,
        pub token_endpoint_auth_methods_supported: Vec<String>,
        pub introspection_endpoint_auth_methods_supported: Vec<String>,
        pub revocation_endpoint_auth_methods_supported: Vec<String>,
    }

    /// RFC 7662 answer: `{"active": false}` for anything not live, else the
    /// token's details.
    #[derive(ToSchema)]
    #[schema(example = json!({"active": true, "sub": "0193a5b0-7d1e-7c3a-9f00-5b2d8e0c4a11", "exp": 1795000000, "iat": 1794999100, "iss": "tessera", "aud": "tessera", "jti": "6f1c1f7e-3c58-4bd4-9d0a-2b8f8f0c1e55", "sid": "0193a5b0-7d1e-7c3a-9f00-5b2d8e0c4a12", "token_type": "Bearer", "username": "alice", "role": "REGULAR", "subscription": "FREE"}))]
    pub struct IntrospectionResponse {
        pub active: bool,
        pub sub: Option<uuid::Uuid>,
        pub exp: Option<u64>,
        pub iat: Option<u64>,
        pub iss: Option<String>,
        pub aud: Option<String>,
        /// Access tokens only.
        pub jti: Option<uuid::Uuid>,
        pub sid: Option<uuid::Uuid>,
        /// `Bearer` (access token) or `refresh_token`.
        pub token_type: Option<String>,
        pub username: Option<String>,
        pub role: Option<Role>,
        pub subscription: Option<Subscription>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn documented() -> BTreeSet<(String, String)> {
        let document: serde_json::Value = serde_json::from_str(&JSON).unwrap();
        let mut found = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
        found
    }

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let routes: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(routes.len(), ROUTES.len(), "a route is listed twice");
        assert_eq!(documented(), routes);
    }

    #[test]
    fn the_document_is_openapi_3_1_and_the_yaml_is_the_same() {
        let json: serde_json::Value = serde_json::from_str(&JSON).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        let yaml: serde_json::Value = serde_norway::from_str(&YAML).unwrap();
        assert_eq!(json, yaml);
    }
}
