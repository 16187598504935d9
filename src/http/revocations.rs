//! `/api/v1/revocations`: the revocation feed, for gateways that verify
//! access tokens offline, authenticated like introspection (a
//! `gateway.clients` entry, HTTP Basic). One domain call each
//! (`crate::revocations`).

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::stream;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::Query;
use super::invalid::Location;
use super::oauth::GatewayClient;
use super::responses as doc;
use super::AppState;
use crate::revocations::{Cursor, Page, MAX_PAGE};
use crate::validation::{all, FieldError, Text, ValidationErrors};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(page))
        .routes(routes!(stream))
        .routes(routes!(snapshot))
}

/// Events per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// The cursor: events after this `seq` (a previous page's `next`).
    /// Without it, from the oldest event kept.
    #[param(value_type = Option<String>, example = "1795000000123-0")]
    after: Text,
    /// 1–1000, default 100.
    #[param(value_type = Option<usize>, minimum = 1, maximum = 1000)]
    limit: Text,
}

fn parse_cursor(field: &str, text: Text) -> Result<Option<Cursor>, FieldError> {
    text.optional(field, |s| s.parse())
}

fn parse_limit(limit: Text) -> Result<usize, FieldError> {
    let limit = limit.optional("limit", |s| match s.parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(format!("must be an integer from 1 to {MAX_PAGE}")),
    })?;
    Ok(limit.unwrap_or(DEFAULT_LIMIT))
}

/// A page of revocation events after a cursor, and the cursor to read on
/// from. A cursor whose successors are no longer kept gets 410 `FEED_GAP`:
/// resync from the snapshot.
#[utoipa::path(get, path = "", tag = "revocations", security(("client_basic" = [])),
    params(PageParams),
    responses((status = 200, body = Page), doc::FeedClient, doc::FeedCursor))]
async fn page(
    State(state): State<AppState>,
    GatewayClient(_): GatewayClient,
    Query(params): Query<PageParams>,
) -> Result<Json<Page>, ApiError> {
    let (after, limit) = all((
        parse_cursor("after", params.after),
        parse_limit(params.limit),
    ))
    .map_err(|e| ApiError::invalid(Location::Query, e))?;
    Ok(Json(state.revocations.page(after, limit).await?))
}

/// Every revocation still within the access tokens' lifetime, and the
/// cursor to follow the stream from (as `Last-Event-ID`).
#[utoipa::path(get, path = "/snapshot", tag = "revocations", security(("client_basic" = [])),
    responses((status = 200, body = Page), doc::FeedClient))]
async fn snapshot(
    State(state): State<AppState>,
    GatewayClient(_): GatewayClient,
) -> Result<Json<Page>, ApiError> {
    Ok(Json(state.revocations.snapshot().await?))
}

/// Server-Sent Events: one `revocation` event per revocation (`id:` its
/// `seq`, `data:` the event as JSON), a comment as heartbeat after
/// `revocations.heartbeat_secs` of silence. `Last-Event-ID` resumes after
/// that event (410 `FEED_GAP` when it is no longer kept); without it the
/// stream starts at the newest event. 503 when this instance serves
/// `revocations.max_streams` streams already.
#[utoipa::path(get, path = "/stream", tag = "revocations", security(("client_basic" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this `seq`")),
    responses(
        (status = 200, content_type = "text/event-stream", body = String,
            description = "`event: revocation`, `id: <seq>`, `data: <event JSON>`"),
        doc::FeedClient, doc::FeedCursor,
    ))]
async fn stream(
    State(state): State<AppState>,
    GatewayClient(client): GatewayClient,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    // A header that is not visible ASCII reads as text the cursor refuses.
    let last_event_id = match headers.get("last-event-id") {
        Some(value) => Text::Given(value.to_str().unwrap_or("?").to_owned()),
        None => Text::Absent,
    };
    let after = parse_cursor("last-event-id", last_event_id)
        .map_err(|e| ApiError::invalid(Location::Header, ValidationErrors::single(e)))?;
    let subscription = state.revocations.subscribe(after).await?;
    tracing::debug!(client, "revocation stream opened");
    let events = stream::unfold(subscription, |mut subscription| async move {
        let event = subscription.next().await?;
        let sse = SseEvent::default()
            .event("revocation")
            .id(event.seq.to_string())
            .json_data(&event)
            .unwrap_or_default();
        Some((Ok::<_, Infallible>(sse), subscription))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(state.revocations.heartbeat())))
}
