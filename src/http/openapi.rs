//! The OpenAPI 3.1 document (built by utoipa from the handlers' `#[utoipa::path]`
//! attributes and the response types' `ToSchema` derives), served as
//! `/openapi.json` and `/docs.yaml`, and Swagger UI at `/docs` from assets
//! vendored in `assets/swagger-ui/` (no CDN, nothing fetched at build time).
//!
//! Every route is registered with its documentation (utoipa-axum's
//! `routes!`, see `http::routes`), so the document lists exactly the routes
//! served. Request and response types derive `ToSchema` where they are
//! defined, so each schema is the type that is really read or written,
//! the error bodies included (`error.rs`); the responses routes share, and
//! their examples, are built from real answers in `responses`.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{
    ApiError, DependencyError, Detail, HttpValidationError, MfaRequiredBody, OAuthErrorBody,
};
use super::invalid::{JsonObject, LocPart, ValidationIssue};
use super::responses::{self as doc, Common};
use super::AppState;

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
    components(
        // The error bodies: reached only through the shared responses,
        // which utoipa does not follow when collecting schemas.
        schemas(
            Detail,
            DependencyError,
            HttpValidationError,
            ValidationIssue,
            LocPart,
            JsonObject,
            OAuthErrorBody,
            MfaRequiredBody
        ),
    ),
    modifiers(&SecuritySchemes, &SharedResponses),
    tags(
        (name = "auth", description = "Registration, login, token refresh, logout, account recovery, forward auth"),
        (name = "users", description = "The caller's own account and sessions"),
        (name = "admin", description = "Administration (ADMIN; MODERATOR where noted)"),
        (name = "oauth", description = "OAuth 2.0 token (RFC 6749), introspection (RFC 7662), revocation (RFC 7009), metadata (RFC 8414)"),
        (name = "revocations", description = "The revocation feed, for gateways that verify offline (gateway clients, HTTP Basic)"),
        (name = "meta", description = "Status, health, published keys, this document"),
        (name = "pages", description = "The hosted HTML pages for people in a browser: the reset-password and activation pages e-mail links open, and the admin console at /admin/. They answer text/html (or a 303 after a form), not JSON"),
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

/// The error responses routes share (`responses::Common`), each built from
/// the real answer it describes.
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for common in Common::ALL {
            let (name, response) = common.component();
            components
                .responses
                .insert(name.to_owned(), response.into());
        }
    }
}

/// The document, built once: the service's description and the routes'
/// own documentation, as registered in `http::routes`.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
        let mut document = ApiDoc::openapi();
        for (_, routes) in super::routes() {
            document.merge(routes.into_openapi());
        }
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(docs_json))
        .routes(routes!(docs_yaml))
        .routes(routes!(docs_ui))
        .routes(routes!(docs_asset))
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
        doc::NotFound,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_and_the_yaml_is_the_same() {
        let json: serde_json::Value = serde_json::from_str(&JSON).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        let yaml: serde_json::Value = serde_norway::from_str(&YAML).unwrap();
        assert_eq!(json, yaml);
    }
}
