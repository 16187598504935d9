//! The one place errors become HTTP responses, in the spec's shapes:
//! `{"detail": "..."}`, 422 `{"detail": [{loc, msg, type}]}`, 503 with
//! `error_code`. Internals are logged, never shown. The OAuth endpoints
//! answer protocol errors in RFC 6749 §5.2's own shape
//! (`{"error", "error_description"}`) through [`OAuthApiError`].
//!
//! Each shape is a type here that the answers serialise and the OpenAPI
//! document describes (its examples are real answers, see `responses`).

use std::sync::LazyLock;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::invalid::{Location, ValidationIssue};
use crate::account::AccountError;
use crate::admin::{AdminError, SelfAction};
use crate::auth::{AuthError, StepUp};
use crate::authorize::browser::BrowserError;
use crate::authorize::AuthorizeError;
use crate::captcha::CaptchaError;
use crate::clients::{ClientsError, RepoError};
use crate::console::ConsoleError;
use crate::dpop::DpopCheckError;
use crate::load::LoadError;
use crate::metrics::{self, Dependency};
use crate::mfa::{MfaError, PasskeyError};
use crate::oauth::OAuthError;
use crate::rate_limit::{Limiter, RateLimitError};
use crate::redis_client::RedisFailure;
use crate::revocations::FeedError;
use crate::sessions::SessionError;
use crate::users::Email;
use crate::validation::{FieldError, ValidationErrors};
use tessera_dpop::DpopError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    /// A named resource that does not exist (the route does).
    #[error("not found: {0}")]
    NotFoundDetail(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A DPoP proof that is missing, malformed or for something else
    /// (RFC 9449 §7.1): 400 with `error_code` and a `DPoP` challenge.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(DpopError),
    /// A DPoP-bound access token without a good proof by its key (RFC 9449
    /// §7.1): 401 with a `DPoP` challenge.
    #[error("DPoP-bound token refused: {0}")]
    DpopRefused(DpopError),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// A gateway client's HTTP Basic credentials are missing or wrong: 401
    /// with `WWW-Authenticate: Basic`.
    #[error("client authentication failed")]
    ClientUnauthorized,
    /// A revocation feed cursor older than the retained events: 410 with
    /// `error_code`.
    #[error("feed cursor trimmed away")]
    FeedGap,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A valid token without a scope the route asks for (RFC 6750 §3.1):
    /// 403 with `WWW-Authenticate: Bearer error="insufficient_scope"`
    /// naming the scopes asked for.
    #[error("insufficient scope: {0}")]
    InsufficientScope(String),
    /// A live token whose sign-in is less than the route demands (RFC 9470
    /// §3): 401 with `WWW-Authenticate: Bearer
    /// error="insufficient_user_authentication"` naming the demand.
    #[error("insufficient user authentication")]
    InsufficientUserAuthentication(StepUp),
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A third party we depend on is down: 503 with `error_code`.
    #[error("upstream unavailable: {0}")]
    UpstreamUnavailable(&'static str, &'static str),
    /// A third party we depend on answered too slowly: 504 with `error_code`.
    #[error("upstream timed out: {0}")]
    UpstreamTimeout(&'static str, &'static str),
    #[error("request body too large")]
    PayloadTooLarge,
    /// A rate limit: 429 with `Retry-After` (whole seconds, at least 1).
    #[error("too many requests: {detail}")]
    TooManyRequests {
        detail: &'static str,
        retry_after: Duration,
    },
    /// Too many requests in flight on this instance: 503 with `error_code`
    /// and `Retry-After: 1`.
    #[error("too many requests in flight")]
    Overloaded,
    /// The request ran past `server.request_timeout_ms`: 503 with
    /// `error_code`.
    #[error("request timed out")]
    RequestTimeout,
    /// 422: every problem in the request.
    #[error("invalid request: {} problem(s)", .0.len())]
    Validation(Vec<ValidationIssue>),
    #[error("database unavailable")]
    DatabaseUnavailable,
    #[error("redis unavailable")]
    RedisUnavailable,
    #[error("internal error: {0}")]
    Internal(String),
    /// An HTML form posted without the anti-forgery token its page gave it
    /// (or with another page's): 403.
    #[error("form without its anti-forgery token")]
    FormRejected,
    /// A right password for an account with a second factor: 401 with
    /// `error_code` `MFA_REQUIRED`, the step's token and its methods.
    #[error("second factor required")]
    MfaRequired {
        mfa_token: String,
        methods: &'static [&'static str],
    },
}

/// What an [`ApiError`] answers: `{"detail": "..."}`, with an
/// `error_code` when a client may act on it, or every problem of a 422.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum ErrorBody<'a> {
    Detail(Detail),
    Coded(DependencyError),
    Validation(HttpValidationError<'a>),
    MfaRequired(MfaRequiredBody<'a>),
}

/// 401 from `/login` for an account with a second factor: the sign-in
/// goes on at `POST /api/v1/auth/mfa/verify` with `mfa_token`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"detail": MFA_REQUIRED, "error_code": MFA_REQUIRED_CODE,
    "mfa_token": "AdGhpcyBpcyBub3QgYSByZWFsIHRva2VuLCBqdXN0IGRvY3M", "methods": ["totp", "recovery_code"]}))]
pub struct MfaRequiredBody<'a> {
    #[schema(value_type = String)]
    detail: &'static str,
    /// `MFA_REQUIRED`.
    #[schema(value_type = String)]
    error_code: &'static str,
    /// Single-use, `mfa.token_ttl_secs` (5 min), at most 5 codes.
    #[schema(value_type = String)]
    mfa_token: &'a str,
    /// What finishes the sign-in: `totp`, `recovery_code`.
    #[schema(value_type = Vec<String>)]
    methods: &'a [&'static str],
}

/// The words and code of a sign-in that needs its second factor.
const MFA_REQUIRED: &str = "Second factor required";
const MFA_REQUIRED_CODE: &str = "MFA_REQUIRED";

/// `{"detail": "..."}`: every error outside validation and the OAuth
/// endpoints.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(example(AuthError::InvalidCredentials)))]
pub struct Detail {
    #[schema(value_type = String)]
    detail: &'static str,
}

/// `{"detail", "error_code"}`: 503/504 when a dependency is down or slow
/// or the service is overloaded, 410 for a revocation feed cursor too old.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(example(ApiError::DatabaseUnavailable)))]
pub struct DependencyError {
    #[schema(value_type = String)]
    detail: &'static str,
    /// `DB_UNAVAILABLE`, `REDIS_UNAVAILABLE`, `CAPTCHA_UNAVAILABLE`,
    /// `CAPTCHA_TIMEOUT`, `OVERLOADED`, `REQUEST_TIMEOUT` or `FEED_GAP`.
    #[schema(value_type = String)]
    error_code: &'static str,
}

/// 422: every problem in the request, one entry per field.
#[derive(Serialize, ToSchema)]
#[schema(example = validation_example)]
pub struct HttpValidationError<'a> {
    #[schema(value_type = Vec<ValidationIssue>)]
    detail: &'a [ValidationIssue],
}

/// RFC 6749 §5.2 error.
#[derive(Serialize, ToSchema)]
#[schema(example = oauth_example)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope` or
    /// `invalid_target`.
    #[schema(value_type = String)]
    error: &'static str,
    error_description: String,
    /// `MFA_REQUIRED` when the password was right and the account has a
    /// second factor (with `mfa_token` and `methods`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    methods: Option<&'static [&'static str]>,
}

impl OAuthErrorBody {
    fn new(error: &'static str, error_description: String) -> Self {
        Self {
            error,
            error_description,
            error_code: None,
            mfa_token: None,
            methods: None,
        }
    }
}

/// The largest request body any route reads (the 413's words name it).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The 413's words, from the limit itself.
static TOO_LARGE: LazyLock<String> =
    LazyLock::new(|| format!("Request body too large (limit {} KiB)", BODY_LIMIT / 1024));

/// Cannot fail: every error body is text and lists of text.
pub(super) fn json(body: &impl Serialize) -> Value {
    serde_json::to_value(body).unwrap_or_default()
}

/// The body `error` answers, as an example (the OpenAPI document's
/// examples are real answers).
pub(super) fn example(error: impl Into<ApiError>) -> Value {
    json(&error.into().body())
}

/// A 422 as `parse` reports it: a malformed email and a missing password.
pub(super) fn invalid_login() -> ApiError {
    let email = Email::parse("alice.example.com")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ApiError::invalid(
        Location::Body,
        ValidationErrors(vec![
            FieldError::rule("email", email),
            FieldError::missing("password"),
        ]),
    )
}

/// The 422 schema's example.
fn validation_example() -> Value {
    example(invalid_login())
}

/// The RFC 6749 §5.2 schema's example: a refused password grant.
fn oauth_example() -> Value {
    match OAuthApiError::from(OAuthError::InvalidGrant(AuthError::InvalidCredentials)).answer() {
        Ok((_, body)) => json(&body),
        Err(error) => example(error),
    }
}

impl ApiError {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            ApiError::FormRejected => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NotFoundDetail(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_) | ApiError::InvalidDpopProof(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_)
            | ApiError::ClientUnauthorized
            | ApiError::DpopRefused(_)
            | ApiError::MfaRequired { .. }
            | ApiError::InsufficientUserAuthentication(_) => StatusCode::UNAUTHORIZED,
            ApiError::FeedGap => StatusCode::GONE,
            ApiError::Forbidden(_) | ApiError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UpstreamUnavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UpstreamTimeout(..) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded | ApiError::RequestTimeout => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::DatabaseUnavailable | ApiError::RedisUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body this answer sends, in one of the spec's shapes.
    pub(super) fn body(&self) -> ErrorBody<'_> {
        let detail = |detail| ErrorBody::Detail(Detail { detail });
        let coded = |detail, error_code| ErrorBody::Coded(DependencyError { detail, error_code });
        match self {
            ApiError::NotFound => detail("Not Found"),
            ApiError::MethodNotAllowed => detail("Method Not Allowed"),
            ApiError::BadRequest(words)
            | ApiError::NotFoundDetail(words)
            | ApiError::Unauthorized(words)
            | ApiError::Forbidden(words)
            | ApiError::Conflict(words)
            | ApiError::TooManyRequests { detail: words, .. } => detail(words),
            ApiError::UpstreamUnavailable(words, code) | ApiError::UpstreamTimeout(words, code) => {
                coded(words, code)
            }
            ApiError::PayloadTooLarge => detail(&TOO_LARGE),
            ApiError::InvalidDpopProof(why) | ApiError::DpopRefused(why) => match why {
                DpopError::UseNonce => coded(why.words(), "USE_DPOP_NONCE"),
                _ => coded(why.words(), "INVALID_DPOP_PROOF"),
            },
            ApiError::ClientUnauthorized => detail(CLIENT_AUTH_FAILED),
            ApiError::InsufficientScope(_) => {
                detail("The access token lacks a scope this route requires")
            }
            ApiError::InsufficientUserAuthentication(step_up) => {
                detail(insufficient_user_authentication(step_up))
            }
            ApiError::FeedGap => coded(
                "Events after this cursor are no longer kept; resync from /api/v1/revocations/snapshot.",
                "FEED_GAP",
            ),
            ApiError::Validation(issues) => {
                ErrorBody::Validation(HttpValidationError { detail: issues })
            }
            ApiError::Overloaded => coded(
                "The service is overloaded; try again shortly.",
                "OVERLOADED",
            ),
            ApiError::RequestTimeout => coded(
                "The request took too long; try again shortly.",
                "REQUEST_TIMEOUT",
            ),
            ApiError::DatabaseUnavailable => coded(
                "The database is unavailable; try again shortly.",
                "DB_UNAVAILABLE",
            ),
            ApiError::RedisUnavailable => coded(
                "The session store is unavailable; try again shortly.",
                "REDIS_UNAVAILABLE",
            ),
            ApiError::Internal(_) => detail("Internal Server Error"),
            ApiError::FormRejected => detail(
                "This form has expired or did not come from this site. Reload the page and try again.",
            ),
            ApiError::MfaRequired { mfa_token, methods } => {
                ErrorBody::MfaRequired(MfaRequiredBody {
                    detail: MFA_REQUIRED,
                    error_code: MFA_REQUIRED_CODE,
                    mfa_token,
                    methods,
                })
            }
        }
    }

    /// The answer in words, for a page that shows it to a person: the
    /// detail, or each problem of a 422 (the same words the API answers).
    pub(super) fn words(&self) -> Vec<String> {
        match self.body() {
            ErrorBody::Validation(HttpValidationError { detail: issues }) => issues
                .iter()
                .map(|issue| issue.words().to_owned())
                .collect(),
            ErrorBody::Detail(Detail { detail })
            | ErrorBody::Coded(DependencyError { detail, .. })
            | ErrorBody::MfaRequired(MfaRequiredBody { detail, .. }) => vec![detail.to_owned()],
        }
    }

    /// Internals and outages go to the log, whatever shape the answer has.
    pub(super) fn log(&self) {
        match self {
            ApiError::Internal(cause) => tracing::error!(%cause, "request failed"),
            ApiError::DatabaseUnavailable
            | ApiError::RedisUnavailable
            | ApiError::UpstreamUnavailable(..)
            | ApiError::UpstreamTimeout(..) => {
                tracing::warn!(error = %self, "dependency down")
            }
            ApiError::Overloaded | ApiError::RequestTimeout => {
                tracing::warn!(error = %self, "request refused")
            }
            _ => {}
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let mut response = (self.status(), Json(self.body())).into_response();
        self.add_headers(response.headers_mut());
        response
    }
}

impl ApiError {
    /// The headers this answer needs whatever its body's shape (JSON or a
    /// page): the challenge of a 401, the `Retry-After` of every 429.
    pub(super) fn add_headers(&self, headers: &mut HeaderMap) {
        match self {
            ApiError::Unauthorized(_) | ApiError::MfaRequired { .. } => {
                headers.insert(header::WWW_AUTHENTICATE, BEARER_CHALLENGE);
            }
            ApiError::ClientUnauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, BASIC_CHALLENGE);
            }
            ApiError::InvalidDpopProof(why) | ApiError::DpopRefused(why) => {
                let challenge = match why {
                    DpopError::UseNonce => DPOP_NONCE_CHALLENGE,
                    _ => DPOP_CHALLENGE,
                };
                headers.insert(header::WWW_AUTHENTICATE, challenge);
            }
            ApiError::InsufficientScope(scope) => {
                // Scopes are RFC 6749 names: printable ASCII without quotes
                // or backslashes, so the value is always a header value.
                let challenge = format!(r#"Bearer error="insufficient_scope", scope="{scope}""#);
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            ApiError::InsufficientUserAuthentication(step_up) => {
                headers.insert(header::WWW_AUTHENTICATE, step_up_challenge(step_up));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, retry_after_secs(*retry_after));
            }
            ApiError::Overloaded => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
fn retry_after_secs(wait: Duration) -> HeaderValue {
    let secs = wait.as_millis().div_ceil(1000).max(1);
    HeaderValue::from(secs as u64)
}

impl ApiError {
    /// 422 for problems found in `location` (the body, the query string).
    pub fn invalid(location: Location, errors: ValidationErrors) -> Self {
        ApiError::Validation(
            errors
                .0
                .into_iter()
                .map(|error| ValidationIssue::field(location, error))
                .collect(),
        )
    }
}

impl From<ValidationIssue> for ApiError {
    fn from(issue: ValidationIssue) -> Self {
        ApiError::Validation(vec![issue])
    }
}

/// Problems a domain `parse` found are in the body unless said otherwise.
impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::invalid(Location::Body, errors)
    }
}

impl From<RateLimitError> for ApiError {
    fn from(e: RateLimitError) -> Self {
        match e {
            RateLimitError::Limited {
                limiter,
                retry_after,
            } => ApiError::TooManyRequests {
                detail: match limiter {
                    Limiter::LoginFailures => "Too many failed login attempts; try again later.",
                    Limiter::ClientAuthFailures => {
                        "Too many failed client authentications; try again later."
                    }
                    _ => "Too many requests; try again later.",
                },
                retry_after,
            },
            RateLimitError::Redis(failure) => failure.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        let unavailable = database_unavailable(&e);
        metrics::dependency_error(Dependency::Postgres, unavailable);
        if unavailable {
            ApiError::DatabaseUnavailable
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

/// True when the error means PostgreSQL cannot serve us right now (down,
/// starting, overloaded, or a statement timed out), as opposed to a bug.
fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            // 57014 query_canceled (statement timeout), 57P01..57P03 shutdown
            // and start-up, 53300 too_many_connections.
            matches!(
                db.code().as_deref(),
                Some("57014" | "57P01" | "57P02" | "57P03" | "53300")
            )
        }
        _ => false,
    }
}

impl From<RedisFailure> for ApiError {
    fn from(e: RedisFailure) -> Self {
        let unavailable = e.is_unavailable();
        metrics::dependency_error(Dependency::Redis, unavailable);
        if unavailable {
            ApiError::RedisUnavailable
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Redis(failure) => failure.into(),
            SessionError::Protocol(_) => ApiError::Internal(e.to_string()),
        }
    }
}

/// A gateway client that failed to authenticate, at the OAuth endpoints and
/// the revocation feed alike.
const CLIENT_AUTH_FAILED: &str = "Client authentication failed";
pub(super) const BASIC_CHALLENGE: HeaderValue = HeaderValue::from_static("Basic realm=\"tessera\"");
/// RFC 9449 §7.1's challenge for a refused proof.
const DPOP_CHALLENGE: HeaderValue =
    HeaderValue::from_static(r#"DPoP error="invalid_dpop_proof", algs="EdDSA ES256""#);
/// RFC 9449 §8's: retry with the nonce in this answer's `DPoP-Nonce`.
const DPOP_NONCE_CHALLENGE: HeaderValue =
    HeaderValue::from_static(r#"DPoP error="use_dpop_nonce", algs="EdDSA ES256""#);
pub(super) const BEARER_CHALLENGE: HeaderValue = HeaderValue::from_static("Bearer");

impl From<FeedError> for ApiError {
    fn from(e: FeedError) -> Self {
        match e {
            FeedError::Gap => ApiError::FeedGap,
            FeedError::Busy => ApiError::Overloaded,
            FeedError::Redis(failure) => failure.into(),
            FeedError::Protocol(_) => ApiError::Internal(e.to_string()),
        }
    }
}

/// An access token that does not verify or whose session is gone, and a
/// caller who is no longer a live user, read alike.
const CREDENTIALS_INVALID: &str = "Could not validate credentials";

/// A request without an access token where one is needed (`Authenticated`).
pub(super) const NOT_AUTHENTICATED: &str = "Not authenticated";
/// A query string that cannot be decoded at all.
pub(super) const INVALID_QUERY: &str = "Invalid query string";

/// A request body that could not be read for a reason other than its size
/// (`read_body`).
pub(super) const UNREADABLE_BODY: &str = "Could not read the request body";

/// A session that is not (or no longer) live, whoever asked to end it.
const SESSION_NOT_FOUND: &str = "Session not found";

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::EmailTaken => ApiError::Conflict("Email already registered"),
            AuthError::UsernameTaken => ApiError::Conflict("Username already taken"),
            AuthError::InvalidCredentials => {
                ApiError::Unauthorized("Incorrect username or password")
            }
            AuthError::NotActivated => ApiError::Forbidden("User account is not activated."),
            AuthError::Blocked => ApiError::Forbidden("User account is blocked."),
            AuthError::InvalidRefreshToken => {
                ApiError::Unauthorized("Invalid or expired refresh token")
            }
            AuthError::InvalidAccessToken => ApiError::Unauthorized(CREDENTIALS_INVALID),
            AuthError::InvalidAuthorizationCode => ApiError::Unauthorized(
                "Invalid, expired or used authorization code, or not this client's, \
                 redirect URI's or verifier's",
            ),
            AuthError::RegistryUnavailable => ApiError::DatabaseUnavailable,
            AuthError::Database(e) => e.into(),
            AuthError::Sessions(e) => e.into(),
            AuthError::Hashing(e) => ApiError::Internal(e.to_string()),
            AuthError::Signing(e) => ApiError::Internal(e.to_string()),
            AuthError::RateLimit(e) => e.into(),
            AuthError::DpopProof(why) => ApiError::InvalidDpopProof(why),
            AuthError::MfaRequired(challenge) => ApiError::MfaRequired {
                mfa_token: challenge.mfa_token,
                methods: challenge.methods,
            },
            AuthError::InvalidMfaToken => {
                ApiError::Unauthorized("Invalid or expired second-factor token")
            }
            AuthError::InsufficientUserAuthentication(step_up) => {
                ApiError::InsufficientUserAuthentication(step_up)
            }
            // At sign-in a wrong code is a failed login.
            AuthError::SecondFactor(MfaError::WrongCode) => {
                ApiError::Unauthorized(WRONG_SECOND_FACTOR)
            }
            // So is a passkey's answer that does not pass.
            AuthError::SecondFactor(MfaError::Passkey(e)) => match passkey_refusal(&e) {
                Some(words) => ApiError::Unauthorized(words),
                None => e.into(),
            },
            AuthError::SecondFactor(e) => e.into(),
        }
    }
}

/// A second factor's code that does not pass.
const WRONG_SECOND_FACTOR: &str = "Invalid second-factor code";

/// Why a step-up is refused, in the body's `detail` and the challenge's
/// `error_description` alike.
fn insufficient_user_authentication(step_up: &StepUp) -> &'static str {
    match step_up.acr {
        Some(_) => "This route requires a sign-in with a second factor",
        None => "This route requires a more recent sign-in",
    }
}

/// RFC 9470 §3's challenge: what the route demands, for the client to ask
/// the authorization server for (`acr_values`, `max_age`).
fn step_up_challenge(step_up: &StepUp) -> HeaderValue {
    use std::fmt::Write;
    let mut challenge = format!(
        r#"Bearer error="insufficient_user_authentication", error_description="{}""#,
        insufficient_user_authentication(step_up)
    );
    if let Some(acr) = step_up.acr {
        let _ = write!(challenge, r#", acr_values="{}""#, acr.as_str());
    }
    if let Some(max_age) = step_up.max_age {
        let _ = write!(challenge, ", max_age={max_age}");
    }
    // Our own words and digits: always a header value.
    HeaderValue::from_str(&challenge).unwrap_or(BEARER_CHALLENGE)
}

impl From<MfaError> for ApiError {
    fn from(e: MfaError) -> Self {
        match e {
            // The caller is signed in; the code is what is wrong.
            MfaError::WrongCode => ApiError::BadRequest(WRONG_SECOND_FACTOR),
            MfaError::AlreadyEnabled => ApiError::Conflict(
                "An authenticator app is already set up; remove it before adding another",
            ),
            MfaError::NotEnabled => ApiError::Conflict("No authenticator app is set up"),
            MfaError::NoPendingEnrolment => ApiError::Conflict(
                "No authenticator app is being set up; start with POST /api/v1/users/me/mfa/totp",
            ),
            MfaError::UnknownUser => ApiError::Unauthorized(CREDENTIALS_INVALID),
            MfaError::Unreadable(e) => ApiError::Internal(e.to_string()),
            MfaError::Provisioning => ApiError::Internal(e.to_string()),
            MfaError::Database(e) => e.into(),
            MfaError::RateLimit(e) => e.into(),
            MfaError::UserNotFound => AdminError::UserNotFound.into(),
            MfaError::Sessions(e) => e.into(),
            MfaError::Passkey(e) => e.into(),
        }
    }
}

/// A passkey's answer (or its ceremony) that does not pass, in words.
fn passkey_refusal(e: &PasskeyError) -> Option<&'static str> {
    match e {
        PasskeyError::Refused(_) => Some("The passkey's answer is refused"),
        PasskeyError::UnknownCredential => Some("Unknown passkey"),
        PasskeyError::NoCeremony => {
            Some("No passkey ceremony is waiting (it expired or was used); ask for new options")
        }
        _ => None,
    }
}

impl From<PasskeyError> for ApiError {
    fn from(e: PasskeyError) -> Self {
        // Outside a sign-in the answer is what is wrong.
        if let Some(words) = passkey_refusal(&e) {
            return ApiError::BadRequest(words);
        }
        match e {
            PasskeyError::AlreadyRegistered => {
                ApiError::Conflict("This passkey is registered already")
            }
            PasskeyError::NoneRegistered => ApiError::Conflict("No passkey is registered"),
            PasskeyError::NotFound => ApiError::NotFoundDetail("Passkey not found"),
            PasskeyError::LastFactor => ApiError::Forbidden(
                "Removing the last second factor needs a fresh check: send `webauthn` \
                 (an answer to POST /api/v1/users/me/mfa/passkeys/check), `code` or `recovery_code`",
            ),
            PasskeyError::Redis(e) => e.into(),
            PasskeyError::Refused(_)
            | PasskeyError::UnknownCredential
            | PasskeyError::NoCeremony
            | PasskeyError::Internal(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<ClientsError> for ApiError {
    fn from(e: ClientsError) -> Self {
        match e {
            ClientsError::Forbidden => AdminError::Forbidden.into(),
            ClientsError::NotFound => ApiError::NotFoundDetail("Client not found"),
            ClientsError::NoSecret => {
                ApiError::Conflict("This client authenticates without a secret")
            }
            ClientsError::Rule(rule) => {
                ValidationErrors::single(FieldError::rule(rule.field(), rule.to_string())).into()
            }
            ClientsError::Repo(RepoError::Database(e)) => e.into(),
            ClientsError::Repo(e @ RepoError::BadRow { .. }) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<CaptchaError> for ApiError {
    fn from(e: CaptchaError) -> Self {
        match e {
            CaptchaError::Rejected => ApiError::BadRequest("Invalid CAPTCHA answer"),
            CaptchaError::Unavailable(cause) => {
                tracing::warn!(%cause, "CAPTCHA verifier unavailable");
                ApiError::UpstreamUnavailable(
                    "CAPTCHA verification is unavailable; try again shortly.",
                    "CAPTCHA_UNAVAILABLE",
                )
            }
            CaptchaError::TimedOut => ApiError::UpstreamTimeout(
                "CAPTCHA verification timed out; try again shortly.",
                "CAPTCHA_TIMEOUT",
            ),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::InvalidActivationToken => {
                ApiError::BadRequest("Invalid or expired activation token.")
            }
            AccountError::AlreadyActive => ApiError::BadRequest("User account is already active."),
            AccountError::InvalidResetToken => {
                ApiError::BadRequest("Invalid or expired reset token")
            }
            AccountError::WrongCurrentPassword => {
                ApiError::BadRequest("Incorrect current password")
            }
            AccountError::WrongPassword => ApiError::BadRequest("Incorrect password"),
            AccountError::SessionNotFound => ApiError::NotFoundDetail(SESSION_NOT_FOUND),
            AccountError::ConsentNotFound => ApiError::NotFoundDetail("Consent not found"),
            AccountError::Captcha(e) => e.into(),
            AccountError::NewPasswordRefused(e) => {
                ValidationErrors::single(FieldError::rule("new_password", e.to_string())).into()
            }
            AccountError::Auth(e) => e.into(),
            AccountError::Database(e) => e.into(),
            AccountError::Redis(e) => e.into(),
            AccountError::Sessions(e) => e.into(),
            AccountError::Hashing(e) => ApiError::Internal(e.to_string()),
            AccountError::RateLimit(e) => e.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotAuthenticated => ApiError::Unauthorized(CREDENTIALS_INVALID),
            AdminError::Forbidden => ApiError::Forbidden("Not enough permissions"),
            AdminError::UserNotFound => ApiError::NotFoundDetail("User not found"),
            AdminError::SessionNotFound => ApiError::NotFoundDetail(SESSION_NOT_FOUND),
            AdminError::SelfAction(action) => ApiError::Conflict(match action {
                SelfAction::Block => "Admins cannot block themselves",
                SelfAction::Delete => "Admins cannot delete themselves",
                SelfAction::Demote => "Admins cannot change their own role",
            }),
            AdminError::InsufficientBalance => {
                ApiError::Conflict("Insufficient balance: the balance cannot go below zero")
            }
            AdminError::BalanceOverflow => {
                ApiError::Conflict("The balance would exceed its maximum")
            }
            AdminError::Database(e) => e.into(),
            AdminError::Sessions(e) => e.into(),
        }
    }
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Taken => ApiError::Conflict(
                "A seeded email or username is already taken (is another seed of this tag running?)",
            ),
            LoadError::UnknownTag => ApiError::NotFoundDetail("No live user has this tag"),
            LoadError::WrongPassword => {
                ApiError::BadRequest("The password does not match the tag's users")
            }
            LoadError::Database(e) => e.into(),
            LoadError::Sessions(e) => e.into(),
            LoadError::Hashing(e) => ApiError::Internal(e.to_string()),
            LoadError::Signing(e) => ApiError::Internal(e.to_string()),
            LoadError::Worker(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<ConsoleError> for ApiError {
    fn from(e: ConsoleError) -> Self {
        match e {
            // The same words as the API's answer to a non-admin.
            ConsoleError::NotStaff => AdminError::Forbidden.into(),
            ConsoleError::Auth(e) => e.into(),
            ConsoleError::Redis(e) => e.into(),
            ConsoleError::Sessions(e) => e.into(),
        }
    }
}

impl ApiError {
    /// A token refused at a resource: a refused DPoP proof is a 401 there
    /// (RFC 9449 §7.1), not the token endpoint's 400.
    pub(super) fn at_resource(e: AuthError) -> Self {
        match e {
            AuthError::DpopProof(why) => ApiError::DpopRefused(why),
            other => other.into(),
        }
    }
}

impl From<DpopError> for ApiError {
    fn from(e: DpopError) -> Self {
        ApiError::InvalidDpopProof(e)
    }
}

impl From<DpopCheckError> for ApiError {
    fn from(e: DpopCheckError) -> Self {
        match e {
            DpopCheckError::Proof(e) => e.into(),
            DpopCheckError::Redis(e) => e.into(),
        }
    }
}

impl From<AuthorizeError> for ApiError {
    fn from(e: AuthorizeError) -> Self {
        match e {
            AuthorizeError::UnknownClient => {
                ApiError::BadRequest("This app is not known here, or it is disabled.")
            }
            AuthorizeError::CodeFlowNotAllowed => {
                ApiError::BadRequest("This app may not sign users in here.")
            }
            AuthorizeError::RedirectUriMismatch => ApiError::BadRequest(
                "The address this app asked to return to is not one it registered.",
            ),
            AuthorizeError::RedirectUriMissing => {
                ApiError::BadRequest("This app did not say where to return to.")
            }
            AuthorizeError::InvalidIdTokenHint => {
                ApiError::BadRequest("The sign-out request does not name a sign-in of ours.")
            }
            AuthorizeError::SignIn(e) => e.into(),
            AuthorizeError::RegistryUnavailable => ApiError::DatabaseUnavailable,
            AuthorizeError::IssuerNotHttps => ApiError::UpstreamUnavailable(
                "Sign-in for apps is not set up on this server: jwt.issuer must be its https URL.",
                "OIDC_ISSUER_NOT_HTTPS",
            ),
            AuthorizeError::Database(e) => e.into(),
            AuthorizeError::Browser(BrowserError::Redis(e)) => e.into(),
            AuthorizeError::Browser(BrowserError::Sessions(e)) => e.into(),
            AuthorizeError::Sessions(e) => e.into(),
        }
    }
}

/// An OAuth endpoint's failure: protocol errors as RFC 6749 §5.2 bodies
/// (400, or 401 with `WWW-Authenticate: Basic` for `invalid_client`); the
/// service's own failures (413, 503, 500) in the service-wide shape.
#[derive(Debug)]
pub enum OAuthApiError {
    Protocol(OAuthError),
    Api(ApiError),
}

impl From<OAuthError> for OAuthApiError {
    fn from(e: OAuthError) -> Self {
        OAuthApiError::Protocol(e)
    }
}

impl From<ApiError> for OAuthApiError {
    fn from(e: ApiError) -> Self {
        OAuthApiError::Api(e)
    }
}

impl OAuthApiError {
    /// A body that does not parse, refused as RFC 6749's `invalid_request`
    /// naming the first problem's field (for the password grant's
    /// second step, answered in its door's shape).
    pub(super) fn invalid_body(errors: ValidationErrors) -> Self {
        let why = errors
            .0
            .first()
            .map(|e| format!("Parameter {}: {}", e.field, e.message))
            .unwrap_or_else(|| "The body cannot be read".to_owned());
        OAuthApiError::Protocol(OAuthError::InvalidRequest(why))
    }

    /// A protocol error's status and RFC 6749 §5.2 body, or the
    /// service-wide answer this failure gets instead.
    pub(super) fn answer(self) -> Result<(StatusCode, OAuthErrorBody), ApiError> {
        let (status, error, error_description) = match self {
            OAuthApiError::Api(e) => return Err(e),
            OAuthApiError::Protocol(OAuthError::InvalidGrant(AuthError::MfaRequired(
                challenge,
            ))) => {
                let mut body = OAuthErrorBody::new("invalid_grant", MFA_REQUIRED.to_owned());
                body.error_code = Some(MFA_REQUIRED_CODE);
                body.mfa_token = Some(challenge.mfa_token);
                body.methods = Some(challenge.methods);
                return Ok((StatusCode::BAD_REQUEST, body));
            }
            OAuthApiError::Protocol(OAuthError::Service(e)) => return Err(e.into()),
            OAuthApiError::Protocol(OAuthError::InvalidRequest(why)) => {
                (StatusCode::BAD_REQUEST, "invalid_request", why)
            }
            OAuthApiError::Protocol(OAuthError::MissingParameter(name)) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("Missing parameter: {name}"),
            ),
            OAuthApiError::Protocol(OAuthError::InvalidClient) => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                CLIENT_AUTH_FAILED.to_owned(),
            ),
            // The same words as the JSON API's answer to the same verdict.
            OAuthApiError::Protocol(OAuthError::InvalidGrant(verdict)) => {
                match ApiError::from(verdict) {
                    ApiError::Unauthorized(why) | ApiError::Forbidden(why) => {
                        (StatusCode::BAD_REQUEST, "invalid_grant", why.to_owned())
                    }
                    other => return Err(other),
                }
            }
            OAuthApiError::Protocol(OAuthError::UnsupportedGrantType(grant)) => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Unsupported grant_type: {grant}"),
            ),
            OAuthApiError::Protocol(OAuthError::UnauthorizedClient(grant)) => (
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                format!("This client may not use the {grant} grant"),
            ),
            OAuthApiError::Protocol(OAuthError::InvalidScope(why)) => (
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("Scope refused: {why}"),
            ),
            OAuthApiError::Protocol(OAuthError::InvalidDpopProof(why)) => {
                (StatusCode::BAD_REQUEST, why.code(), why.to_string())
            }
            OAuthApiError::Protocol(OAuthError::InvalidTarget(why)) => (
                StatusCode::BAD_REQUEST,
                "invalid_target",
                format!("Audience refused: {why}"),
            ),
        };
        Ok((status, OAuthErrorBody::new(error, error_description)))
    }
}

impl IntoResponse for OAuthApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self.answer() {
            Ok(answer) => answer,
            Err(e) => return e.into_response(),
        };
        // Not cached, like every JSON API answer (`http::json_api`).
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, BASIC_CHALLENGE);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::to_bytes;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};

    use super::{ApiError, OAuthApiError};
    use crate::auth::{AuthError, Challenge};
    use crate::http::invalid::{Location, ValidationIssue};
    use crate::mfa::SIGN_IN_METHODS;
    use crate::oauth::OAuthError;
    use crate::validation::{FieldError, ValidationErrors};

    /// The status, the headers this module adds, and the body's bytes.
    async fn answer(response: Response) -> (StatusCode, Vec<String>, String) {
        let status = response.status();
        let headers = ["www-authenticate", "retry-after", "content-type"]
            .into_iter()
            .filter_map(|name| {
                let value = response.headers().get(name)?.to_str().ok()?;
                Some(format!("{name}: {value}"))
            })
            .collect();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// The answers are pinned byte for byte: clients (and the spec's
    /// examples) see exactly these, field order included.
    #[tokio::test]
    async fn every_shape_is_answered_to_the_byte() {
        let json = "content-type: application/json";
        let cases: Vec<(Response, StatusCode, Vec<&str>, &str)> = vec![
            (
                ApiError::NotFound.into_response(),
                StatusCode::NOT_FOUND,
                vec![json],
                r#"{"detail":"Not Found"}"#,
            ),
            (
                ApiError::from(AuthError::InvalidAccessToken).into_response(),
                StatusCode::UNAUTHORIZED,
                vec!["www-authenticate: Bearer", json],
                r#"{"detail":"Could not validate credentials"}"#,
            ),
            (
                ApiError::PayloadTooLarge.into_response(),
                StatusCode::PAYLOAD_TOO_LARGE,
                vec![json],
                r#"{"detail":"Request body too large (limit 64 KiB)"}"#,
            ),
            (
                ApiError::TooManyRequests {
                    detail: "Too many requests; try again later.",
                    retry_after: Duration::from_millis(1500),
                }
                .into_response(),
                StatusCode::TOO_MANY_REQUESTS,
                vec!["retry-after: 2", json],
                r#"{"detail":"Too many requests; try again later."}"#,
            ),
            (
                ApiError::Overloaded.into_response(),
                StatusCode::SERVICE_UNAVAILABLE,
                vec!["retry-after: 1", json],
                r#"{"detail":"The service is overloaded; try again shortly.","error_code":"OVERLOADED"}"#,
            ),
            (
                ApiError::FeedGap.into_response(),
                StatusCode::GONE,
                vec![json],
                r#"{"detail":"Events after this cursor are no longer kept; resync from /api/v1/revocations/snapshot.","error_code":"FEED_GAP"}"#,
            ),
            (
                ApiError::ClientUnauthorized.into_response(),
                StatusCode::UNAUTHORIZED,
                vec![r#"www-authenticate: Basic realm="tessera""#, json],
                r#"{"detail":"Client authentication failed"}"#,
            ),
            (
                ApiError::Internal("secret cause".into()).into_response(),
                StatusCode::INTERNAL_SERVER_ERROR,
                vec![json],
                r#"{"detail":"Internal Server Error"}"#,
            ),
            (
                ApiError::Validation(vec![
                    ValidationIssue::json_invalid(7, "expected value".into()),
                    ValidationIssue::uuid_parsing("id".into(), "x".into()),
                ])
                .into_response(),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![json],
                r#"{"detail":[{"ctx":{"error":"expected value"},"loc":["body",7],"msg":"JSON decode error","type":"json_invalid"},{"input":"x","loc":["path","id"],"msg":"Input should be a valid UUID","type":"uuid_parsing"}]}"#,
            ),
            (
                ApiError::invalid(
                    Location::Query,
                    ValidationErrors(vec![
                        FieldError::missing("limit"),
                        FieldError::rule("kind", "is unknown"),
                    ]),
                )
                .into_response(),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![json],
                r#"{"detail":[{"loc":["query","limit"],"msg":"Field required","type":"missing"},{"loc":["query","kind"],"msg":"Value error, is unknown","type":"value_error"}]}"#,
            ),
            (
                OAuthApiError::from(OAuthError::InvalidGrant(AuthError::InvalidCredentials))
                    .into_response(),
                StatusCode::BAD_REQUEST,
                vec![json],
                r#"{"error":"invalid_grant","error_description":"Incorrect username or password"}"#,
            ),
            (
                ApiError::from(AuthError::MfaRequired(Challenge {
                    mfa_token: "step-token".into(),
                    methods: &SIGN_IN_METHODS,
                }))
                .into_response(),
                StatusCode::UNAUTHORIZED,
                vec!["www-authenticate: Bearer", json],
                r#"{"detail":"Second factor required","error_code":"MFA_REQUIRED","mfa_token":"step-token","methods":["totp","recovery_code"]}"#,
            ),
            (
                OAuthApiError::from(OAuthError::InvalidGrant(AuthError::MfaRequired(
                    Challenge {
                        mfa_token: "step-token".into(),
                        methods: &SIGN_IN_METHODS,
                    },
                )))
                .into_response(),
                StatusCode::BAD_REQUEST,
                vec![json],
                r#"{"error":"invalid_grant","error_description":"Second factor required","error_code":"MFA_REQUIRED","mfa_token":"step-token","methods":["totp","recovery_code"]}"#,
            ),
            (
                OAuthApiError::from(OAuthError::InvalidClient).into_response(),
                StatusCode::UNAUTHORIZED,
                vec![r#"www-authenticate: Basic realm="tessera""#, json],
                r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
            ),
            (
                OAuthApiError::from(OAuthError::MissingParameter("token")).into_response(),
                StatusCode::BAD_REQUEST,
                vec![json],
                r#"{"error":"invalid_request","error_description":"Missing parameter: token"}"#,
            ),
            (
                OAuthApiError::from(ApiError::PayloadTooLarge).into_response(),
                StatusCode::PAYLOAD_TOO_LARGE,
                vec![json],
                r#"{"detail":"Request body too large (limit 64 KiB)"}"#,
            ),
        ];
        for (response, status, headers, body) in cases {
            let expected = (
                status,
                headers.into_iter().map(String::from).collect(),
                body.to_owned(),
            );
            assert_eq!(answer(response).await, expected);
        }
    }
}
