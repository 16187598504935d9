//! `/api/v1/admin/load`: the load-test kit for harnesses that seed from
//! their own set-up. ADMIN only, and only with `load.enabled` (the gate in
//! `http::router` answers 404 before anything else otherwise).
//!
//! One request seeds at most [`HTTP_BOUNDS`]: 10,000 users and 20,000
//! sessions, about two seconds of the server's cores and 15 MB of answer,
//! so a request finishes well inside any proxy's timeout and cannot take
//! the server's memory or pool for long; a larger population comes from
//! repeated requests with the same `tag`, each adding users to it.

use axum::body::Body as ResponseBody;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{stream, StreamExt};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Body, Client};
use super::invalid::Location;
use super::responses as doc;
use super::roles::RequireAdmin;
use super::AppState;
use crate::load::{Bounds, LoadTag, PurgeCounts, SeedLimits, SeedOptions, SeededSession};
use crate::users::NewPassword;
use crate::validation::{all, FieldError, Integer, Text, ValidationErrors};

/// What one seed request may make (see the module's documentation).
pub const HTTP_BOUNDS: Bounds = Bounds {
    max_users: 10_000,
    max_sessions: 20_000,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(seed))
        .routes(routes!(purge))
}

/// `POST /admin/load/seed`: the options of `tessera load seed`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"users": 1000, "sessions_per_user": 1, "tag": "run42", "access_ttl": 900}))]
struct SeedBody {
    /// How many users (1–10,000 per request).
    #[schema(value_type = u64, minimum = 1, maximum = 10000)]
    users: Integer,
    /// Sessions per user (default 1, at most `session.max_per_user`);
    /// users × sessions at most 20,000 per request.
    #[schema(value_type = Option<u64>, minimum = 1)]
    sessions_per_user: Integer,
    /// 1–16 of a-z and 0-9; random when omitted. A tag seeded again gets
    /// more users.
    #[schema(value_type = Option<String>)]
    tag: Text,
    /// Every user's password (the password rules apply); one random strong
    /// password when omitted. It is in every line.
    #[schema(value_type = Option<String>)]
    password: Text,
    /// Access-token lifetime in seconds (default `jwt.access_ttl_secs`, at
    /// most `load.max_access_ttl_secs`).
    #[schema(value_type = Option<u64>, minimum = 1)]
    access_ttl: Integer,
}

impl SeedBody {
    /// Every field's rule at once, then users × sessions.
    fn parse(self, limits: &SeedLimits) -> Result<SeedOptions, ValidationErrors> {
        let (users, sessions_per_user, tag, password, access_ttl) = all((
            self.users.required("users", |n| limits.users(n)),
            self.sessions_per_user
                .optional_or("sessions_per_user", |n| limits.sessions_per_user(n)),
            self.tag.optional("tag", |t| LoadTag::parse(&t)),
            self.password
                .optional("password", |p| NewPassword::parse(&p, None, None)),
            self.access_ttl
                .optional_or("access_ttl", |secs| limits.access_ttl(secs)),
        ))?;
        limits
            .seed(users, sessions_per_user, tag, password, access_ttl)
            .map_err(|e| FieldError::rule("sessions_per_user", e.to_string()).into())
    }
}

/// Creates tagged users with live sessions and streams one NDJSON line per
/// session as each batch is done. A failure before the first batch is an
/// ordinary error response; one after it ends the stream early (the
/// answer is then cut short, not completed).
#[utoipa::path(post, path = "/seed", tag = "load", security(("bearer" = [])),
    request_body = SeedBody,
    responses(
        (status = 200, description = "One line per session", content_type = "application/x-ndjson", body = SeededSession),
        doc::LoadKit, doc::Conflict, doc::JsonBody))]
async fn seed(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    Client(client): Client,
    Body(body): Body<SeedBody>,
) -> Result<Response, ApiError> {
    let options = body.parse(&state.load.limits(HTTP_BOUNDS))?;
    let mut batches = Box::pin(state.load.seed(options, client, actor.id()).await?);
    let first = batches.next().await.transpose()?;
    let lines = stream::iter(first.map(Ok))
        .chain(batches)
        .map(|batch| match batch {
            Ok(batch) => Ok(batch.ndjson),
            Err(e) => {
                tracing::error!(error = %e, "load seed stopped part-way");
                Err(std::io::Error::other(e))
            }
        });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        ResponseBody::from_stream(lines),
    )
        .into_response())
}

/// Hard-deletes every user of the tag and ends all their sessions; no
/// other user is touched. An unknown tag deletes nothing.
#[utoipa::path(delete, path = "/{tag}", tag = "load", security(("bearer" = [])),
    params(("tag" = String, Path, description = "The seed's tag")),
    responses((status = 200, body = PurgeCounts), doc::LoadKit))]
async fn purge(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    Client(client): Client,
    tag: Result<Path<String>, PathRejection>,
) -> Result<Json<PurgeCounts>, ApiError> {
    // Only a path that is not UTF-8 once decoded fails here: no such tag.
    let Path(tag) = tag.map_err(|_| ApiError::NotFound)?;
    let tag = LoadTag::parse(&tag).map_err(|e| {
        ApiError::invalid(
            Location::Path,
            FieldError::rule("tag", e.to_string()).into(),
        )
    })?;
    Ok(Json(state.load.purge(&tag, actor.id(), &client).await?))
}
