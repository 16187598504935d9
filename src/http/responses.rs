//! What the document says about answers, built from the answers themselves:
//! the `{"message"}` body and its words, and the error responses routes
//! share. Every error example is the body a real [`ApiError`] sends and its
//! status is that error's own, so the document cannot drift from what is
//! answered. A route names what it shares with others through the sets at
//! the end (`responses((status = 200, ...), doc::Staff, doc::JsonBody)`).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder, Schema,
};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

pub(super) use super::error::example;
use super::error::{
    invalid_login, json, ApiError, DependencyError, Detail, ErrorBody, HttpValidationError,
    MfaRequiredBody, OAuthApiError, OAuthErrorBody, BASIC_CHALLENGE, BEARER_CHALLENGE, BODY_LIMIT,
};
use crate::account::AccountError;
use crate::admin::AdminError;
use crate::auth::AuthError;
use crate::oauth::OAuthError;
use crate::rate_limit::{Limiter, RateLimitError};

/// `{"message": "..."}`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(Message::new(ACTIVATED)))]
pub struct Message {
    #[schema(value_type = String)]
    message: &'static str,
}

impl Message {
    pub fn new(message: &'static str) -> Self {
        Self { message }
    }

    pub fn json(message: &'static str) -> axum::Json<Self> {
        axum::Json(Self::new(message))
    }
}

// The success messages: the handlers answer them, the document shows them
// and the hosted pages (`http::pages`) say them in the same words.
pub(super) const ACTIVATED: &str = "User account activated successfully.";
pub(super) const ACTIVATION_SENT: &str =
    "If the account exists and is not activated, an activation link has been sent.";
pub(super) const RESET_LINK_SENT: &str = "If the email exists, a reset link has been sent.";
pub(super) const PASSWORD_RESET: &str = "Password has been reset successfully";
pub(super) const PASSWORD_CHANGED: &str = "Password has been changed successfully";

/// A real answer: its status, the schema of its body, and the body.
struct Answer {
    status: StatusCode,
    schema: String,
    body: Value,
}

impl From<ApiError> for Answer {
    fn from(error: ApiError) -> Self {
        let body = error.body();
        let schema = match body {
            ErrorBody::Detail(_) => Detail::name(),
            ErrorBody::Coded(_) => DependencyError::name(),
            ErrorBody::Validation(_) => HttpValidationError::name(),
            ErrorBody::MfaRequired(_) => MfaRequiredBody::name(),
        };
        Self {
            status: error.status(),
            schema: schema.into_owned(),
            body: json(&body),
        }
    }
}

impl From<OAuthApiError> for Answer {
    fn from(error: OAuthApiError) -> Self {
        match error.answer() {
            Ok((status, body)) => Self {
                status,
                schema: OAuthErrorBody::name().into_owned(),
                body: json(&body),
            },
            Err(error) => error.into(),
        }
    }
}

impl Answer {
    /// The answer documented as a response under its own status.
    fn documented(self, description: String, headers: Vec<(&str, Header)>) -> (String, Response) {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(self.schema)))
            .example(Some(self.body))
            .build();
        let response = headers.into_iter().fold(
            ResponseBuilder::new()
                .description(description)
                .content("application/json", content),
            |response, (name, header)| response.header(name, header.build()),
        );
        (self.status.as_u16().to_string(), response.build())
    }
}

/// A response header: its schema and description.
struct Header(RefOr<Schema>, String);

impl Header {
    /// A header whose value is always `value`.
    fn fixed(value: &axum::http::HeaderValue) -> Self {
        let value = value.to_str().unwrap_or_default();
        Header(String::schema(), format!("`{value}`"))
    }

    fn build(self) -> utoipa::openapi::Header {
        HeaderBuilder::new()
            .schema(self.0)
            .description(Some(self.1))
            .build()
    }
}

/// The responses several routes answer alike, each a component of the
/// document (`#/components/responses/<name>`).
#[derive(Clone, Copy)]
pub(super) enum Common {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    ValidationFailed,
    TooManyRequests,
    ServiceUnavailable,
    OAuthBadRequest,
    OAuthInvalidClient,
    ClientUnauthorized,
    FeedGap,
}

impl Common {
    pub(super) const ALL: [Common; 13] = [
        Common::BadRequest,
        Common::Unauthorized,
        Common::Forbidden,
        Common::NotFound,
        Common::Conflict,
        Common::PayloadTooLarge,
        Common::ValidationFailed,
        Common::TooManyRequests,
        Common::ServiceUnavailable,
        Common::OAuthBadRequest,
        Common::OAuthInvalidClient,
        Common::ClientUnauthorized,
        Common::FeedGap,
    ];

    /// The component's name, its description, and the real answer that is
    /// its example.
    fn spec(self) -> (&'static str, String, Answer) {
        let (name, description, answer): (_, &str, Answer) = match self {
            Common::BadRequest => (
                "BadRequest",
                "The request cannot be served as sent (see `detail`).",
                ApiError::from(AccountError::WrongCurrentPassword).into(),
            ),
            Common::Unauthorized => (
                "Unauthorized",
                "Missing, invalid or expired credentials.",
                ApiError::from(AuthError::InvalidAccessToken).into(),
            ),
            Common::Forbidden => (
                "Forbidden",
                "The caller may not do this.",
                ApiError::from(AdminError::Forbidden).into(),
            ),
            Common::NotFound => ("NotFound", "No such resource.", ApiError::NotFound.into()),
            Common::Conflict => (
                "Conflict",
                "Conflicts with the current state (taken email or username, balance).",
                ApiError::from(AuthError::EmailTaken).into(),
            ),
            Common::PayloadTooLarge => {
                let description = format!("The request body is over {} KiB.", BODY_LIMIT / 1024);
                return ("PayloadTooLarge", description, ApiError::PayloadTooLarge.into());
            }
            Common::ValidationFailed => (
                "ValidationFailed",
                "The request is invalid: every problem, one entry per field.",
                invalid_login().into(),
            ),
            Common::TooManyRequests => (
                "TooManyRequests",
                "Rate limited: retry after the given number of seconds.",
                ApiError::from(RateLimitError::Limited {
                    limiter: Limiter::PerIp,
                    retry_after: Duration::from_secs(1),
                })
                .into(),
            ),
            Common::ServiceUnavailable => (
                "ServiceUnavailable",
                "PostgreSQL or Redis is unavailable (or did not answer within its\ntimeout); retry shortly.",
                ApiError::DatabaseUnavailable.into(),
            ),
            Common::OAuthBadRequest => (
                "OAuthBadRequest",
                "RFC 6749 §5.2: `invalid_request`, `invalid_grant` or\n`unsupported_grant_type`.",
                OAuthApiError::from(OAuthError::InvalidGrant(AuthError::InvalidCredentials))
                    .into(),
            ),
            Common::OAuthInvalidClient => (
                "OAuthInvalidClient",
                "RFC 6749 §5.2 `invalid_client`: client authentication failed.",
                OAuthApiError::from(OAuthError::InvalidClient).into(),
            ),
            Common::ClientUnauthorized => (
                "ClientUnauthorized",
                "A gateway client's HTTP Basic credentials are missing or wrong.",
                ApiError::ClientUnauthorized.into(),
            ),
            Common::FeedGap => (
                "FeedGap",
                "The cursor is older than the events kept: resync from the snapshot.",
                ApiError::FeedGap.into(),
            ),
        };
        (name, description.to_owned(), answer)
    }

    /// The headers the answer carries whatever its body.
    fn headers(self) -> Vec<(&'static str, Header)> {
        match self {
            Common::Unauthorized => vec![("WWW-Authenticate", Header::fixed(&BEARER_CHALLENGE))],
            Common::OAuthInvalidClient | Common::ClientUnauthorized => {
                vec![("WWW-Authenticate", Header::fixed(&BASIC_CHALLENGE))]
            }
            Common::TooManyRequests => vec![(
                "Retry-After",
                Header(u64::schema(), "Seconds to wait before retrying".to_owned()),
            )],
            Common::OAuthBadRequest => vec![(
                "Cache-Control",
                Header(String::schema(), "`no-store`".to_owned()),
            )],
            _ => Vec::new(),
        }
    }

    /// The component: its name and the response.
    pub(super) fn component(self) -> (&'static str, Response) {
        let (name, description, answer) = self.spec();
        (name, answer.documented(description, self.headers()).1)
    }

    /// A route's reference to the component, under the answer's status.
    fn reference(self) -> (String, RefOr<Response>) {
        let (name, _, answer) = self.spec();
        (
            answer.status.as_u16().to_string(),
            Ref::from_response_name(name).into(),
        )
    }
}

/// A response one set documents in place: `error`'s answer under
/// `description`.
fn own(description: &str, error: impl Into<ApiError>) -> (String, RefOr<Response>) {
    let (status, response) = Answer::from(error.into()).documented(description.into(), Vec::new());
    (status, response.into())
}

/// Named sets of error responses that groups of routes share (the
/// `Common` ones by name, then any documented in place); a route lists the
/// sets that apply to it beside its own responses.
macro_rules! sets {
    ($($(#[$doc:meta])* $set:ident = [$($common:ident),*] $(+ $own:expr)?;)*) => {$(
        $(#[$doc])*
        pub enum $set {}

        impl IntoResponses for $set {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from_iter([$(Common::$common.reference(),)* $($own)?])
            }
        }
    )*};
}

sets! {
    /// Checks credentials (an access token and its session, a refresh token
    /// or a password), which PostgreSQL or Redis must answer.
    Credentials = [Unauthorized, ServiceUnavailable];
    /// ADMIN (or MODERATOR where the route says so).
    Staff = [Unauthorized, Forbidden, ServiceUnavailable];
    /// Reads a JSON or form body: too large, or invalid.
    JsonBody = [PayloadTooLarge, ValidationFailed];
    /// A query string or path parameter that can be invalid.
    Invalid = [ValidationFailed];
    /// Rate limited.
    Limited = [TooManyRequests];
    /// Reaches PostgreSQL or Redis.
    Stores = [ServiceUnavailable];
    BadRequest = [BadRequest];
    Conflict = [Conflict];
    NotFound = [NotFound];
    /// An admin route on one user, by id.
    OnUser = [Conflict, ValidationFailed] + own("No such user", AdminError::UserNotFound);
    /// The load-test kit: ADMIN, and 404 unless `load.enabled`.
    LoadKit = [Unauthorized, Forbidden, ValidationFailed, ServiceUnavailable]
        + own("load.enabled is false", ApiError::NotFound);
    /// An OAuth endpoint: RFC 6749 §5.2 errors, then the service's own.
    OAuthEndpoint = [
        OAuthBadRequest, OAuthInvalidClient, PayloadTooLarge, TooManyRequests, ServiceUnavailable
    ];
    /// A gateway client of the revocation feed (HTTP Basic).
    FeedClient = [ClientUnauthorized, TooManyRequests, ServiceUnavailable];
    /// Reads from a feed cursor: malformed, or older than the events kept.
    FeedCursor = [FeedGap, ValidationFailed];
}
