//! Bodies several areas answer with: `{"message"}`, and the error bodies and
//! reusable error responses of the document (the 422 entries,
//! [`ValidationIssue`], are the real type, in `invalid.rs`).

use serde::Serialize;
use utoipa::{ToResponse, ToSchema};

use super::invalid::ValidationIssue;

/// `{"message": "..."}`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"message": "User account activated successfully."}))]
pub struct Message {
    #[schema(value_type = String)]
    message: &'static str,
}

impl Message {
    pub fn json(message: &'static str) -> axum::Json<Self> {
        axum::Json(Self { message })
    }
}

// The error bodies: `error.rs` builds them with `json!`, so these only
// describe them and are never constructed.

/// `{"detail": "..."}`: every error outside validation and the OAuth
/// endpoints.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"detail": "Incorrect username or password"}))]
pub struct Detail {
    pub detail: String,
}

/// 503/504 when a dependency is down or slow.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"detail": "The database is unavailable; try again shortly.", "error_code": "DB_UNAVAILABLE"}))]
pub struct DependencyError {
    pub detail: String,
    /// `DB_UNAVAILABLE`, `REDIS_UNAVAILABLE`, `CAPTCHA_UNAVAILABLE` or
    /// `CAPTCHA_TIMEOUT`.
    pub error_code: String,
}

/// 422: every problem in the request, one entry per field.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"detail": [
    {"loc": ["body", "email"], "msg": "Value error, value is not a valid email address: An email address must have an @-sign.", "type": "value_error"},
    {"loc": ["body", "password"], "msg": "Field required", "type": "missing"}
]}))]
pub struct HttpValidationError {
    pub detail: Vec<ValidationIssue>,
}

/// RFC 6749 §5.2 error.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"error": "invalid_grant", "error_description": "Invalid username or password"}))]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant` or
    /// `unsupported_grant_type`.
    pub error: String,
    pub error_description: String,
}

/// The request cannot be served as sent (see `detail`).
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"detail": "Incorrect current password"}))]
pub struct BadRequest(Detail);

/// Missing, invalid or expired credentials.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(
    headers(("WWW-Authenticate" = String, description = "`Bearer`")),
    example = json!({"detail": "Could not validate credentials"})
)]
pub struct Unauthorized(Detail);

/// The caller may not do this.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"detail": "Not enough permissions"}))]
pub struct Forbidden(Detail);

/// No such resource.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"detail": "Not Found"}))]
pub struct NotFound(Detail);

/// Conflicts with the current state (taken email or username, balance).
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"detail": "Email already registered"}))]
pub struct Conflict(Detail);

/// The request body is over 64 KiB.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"detail": "Request body too large (limit 64 KiB)"}))]
pub struct PayloadTooLarge(Detail);

/// The request is invalid: every problem, one entry per field.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct ValidationFailed(HttpValidationError);

/// Rate limited: retry after the given number of seconds.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying")),
    example = json!({"detail": "Too many requests; try again later."})
)]
pub struct TooManyRequests(Detail);

/// PostgreSQL or Redis is unavailable (or did not answer within its
/// timeout); retry shortly.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct ServiceUnavailable(DependencyError);

/// RFC 6749 §5.2: `invalid_request`, `invalid_grant` or
/// `unsupported_grant_type`.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(headers(("Cache-Control" = String, description = "`no-store`")))]
pub struct OAuthBadRequest(OAuthErrorBody);

/// RFC 6749 §5.2 `invalid_client`: client authentication failed.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(
    headers(("WWW-Authenticate" = String, description = "`Basic realm=\"tessera\"`")),
    example = json!({"error": "invalid_client", "error_description": "Client authentication failed"})
)]
pub struct OAuthInvalidClient(OAuthErrorBody);

/// A gateway client's HTTP Basic credentials are missing or wrong.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(
    headers(("WWW-Authenticate" = String, description = "`Basic realm=\"tessera\"`")),
    example = json!({"detail": "Client authentication failed"})
)]
pub struct ClientUnauthorized(Detail);

/// The cursor is older than the events kept: resync from the snapshot.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"detail": "Events after this cursor are no longer kept; resync from /api/v1/revocations/snapshot.", "error_code": "FEED_GAP"}))]
pub struct FeedGap(DependencyError);
