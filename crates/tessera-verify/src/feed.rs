//! Following tessera's revocation feed: the snapshot at start and after a
//! gap, then the Server-Sent Events stream, resumed with `Last-Event-ID`
//! after every disconnect.

use std::future::ready;
use std::sync::Weak;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Buf;
use futures_util::{Stream, StreamExt};
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use sse_stream::{Sse, SseByteStream};

use crate::state::{write, Event};
use crate::{now_ms, FetchError, Inner};

#[derive(Deserialize)]
pub struct Snapshot {
    pub events: Vec<Event>,
    pub next: String,
}

const SNAPSHOT_PATH: &str = "/api/v1/revocations/snapshot";
const STREAM_PATH: &str = "/api/v1/revocations/stream";

/// The longest wait between two connections.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Reconnection backoff: 50 ms doubling up to [`MAX_BACKOFF`], for as long
/// as tessera is away. No jitter: the schedule is the one it always was.
const BACKOFF: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(50))
    .with_max_delay(MAX_BACKOFF)
    .without_max_times();

pub async fn snapshot(inner: &Inner) -> Result<Snapshot, FetchError> {
    let request = inner
        .http
        .get(inner.url(SNAPSHOT_PATH))
        .basic_auth(&inner.config.client_id, Some(&inner.config.client_secret));
    let response = inner.fetch(request, "the snapshot").await?;
    response.json().await.map_err(FetchError::Http)
}

/// How one connection to the stream ended.
enum Ended {
    /// 410: the cursor was trimmed away; resync from the snapshot.
    Gap,
    /// Anything else: reconnect from the cursor.
    Lost(FetchError),
    /// The verifier is gone.
    Dropped,
}

/// Runs until the verifier is dropped: each turn opens the stream from
/// `cursor` and reads it until it ends. Each turn is bounded in time by the
/// read timeout (`max_feed_silence`) and a backoff.
pub async fn follow(verifier: Weak<Inner>, mut cursor: String) {
    let mut delays = BACKOFF.build();
    loop {
        let ended = match open(&verifier, &cursor).await {
            Ok(response) => {
                // Connected: the next loss starts the backoff afresh.
                delays = BACKOFF.build();
                read(&verifier, response, &mut cursor).await
            }
            Err(ended) => ended,
        };
        let Some(inner) = verifier.upgrade() else {
            return;
        };
        let retry = match ended {
            Ended::Dropped => return,
            Ended::Gap => match inner.resync().await {
                Ok(next) => {
                    tracing::info!("revocation feed resynchronised from the snapshot after a gap");
                    cursor = next;
                    continue;
                }
                Err(e) => e,
            },
            Ended::Lost(e) => e,
        };
        // Never `None`: the builder sets no limit on attempts.
        let backoff = delays.next().unwrap_or(MAX_BACKOFF);
        tracing::debug!(error = %retry, ?backoff, "revocation feed lost; reconnecting");
        drop(inner);
        tokio::time::sleep(backoff).await;
    }
}

/// Opens the stream after `cursor`, holding the verifier only while the
/// request is built.
async fn open(verifier: &Weak<Inner>, cursor: &str) -> Result<Response, Ended> {
    let Some(inner) = verifier.upgrade() else {
        return Err(Ended::Dropped);
    };
    let request = inner
        .http
        .get(inner.url(STREAM_PATH))
        .basic_auth(&inner.config.client_id, Some(&inner.config.client_secret))
        .header("accept", "text/event-stream")
        .header("last-event-id", cursor);
    let silence = inner.config.max_feed_silence;
    drop(inner);
    let response = match tokio::time::timeout(silence, request.send()).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Err(Ended::Lost(FetchError::Http(e))),
        Err(_) => return Err(Ended::Lost(FetchError::TimedOut)),
    };
    match response.status() {
        StatusCode::OK => {}
        StatusCode::GONE => return Err(Ended::Gap),
        status => {
            return Err(Ended::Lost(FetchError::Status {
                what: "the stream",
                status,
            }))
        }
    }
    match verifier.upgrade() {
        Some(inner) => inner.feed_alive(),
        None => return Err(Ended::Dropped),
    }
    Ok(response)
}

/// Reads the stream until it ends, holding the verifier only while applying
/// an event, so dropping the last [`crate::Verifier`] ends the follower.
async fn read(verifier: &Weak<Inner>, response: Response, cursor: &mut String) -> Ended {
    let Some(silence) = verifier.upgrade().map(|i| i.config.max_feed_silence) else {
        return Ended::Dropped;
    };
    let mut messages = std::pin::pin!(messages(chunks(verifier.clone(), response, silence)));
    loop {
        let message = match messages.next().await {
            Some(Ok(message)) => message,
            Some(Err(e)) => return Ended::Lost(e),
            // The body ended, or the chunks stopped for a dropped verifier.
            None => return Ended::Lost(FetchError::Closed),
        };
        let Some(inner) = verifier.upgrade() else {
            return Ended::Dropped;
        };
        let Ok(event) = serde_json::from_str::<Event>(&message.data) else {
            tracing::warn!(data = %message.data, "unreadable revocation event; ignored");
            continue;
        };
        let now = now_ms() / 1000;
        let mut revoked = write(&inner.revoked);
        revoked.apply(&event, now);
        if revoked.len() % 1024 == 0 {
            revoked.prune(now.saturating_sub(inner.config.revocation_memory.as_secs()));
        }
        drop(revoked);
        *cursor = message.id.unwrap_or(event.seq);
    }
}

/// The body's chunks, each due within `silence` of the one before (else
/// [`FetchError::Silent`]). Every chunk is a sign of life, heartbeat
/// comments included: the event parser drops comments, so they are counted
/// here. Ends after an error, and when the verifier is dropped.
fn chunks(
    verifier: Weak<Inner>,
    response: Response,
    silence: Duration,
) -> impl Stream<Item = Result<bytes::Bytes, FetchError>> {
    futures_util::stream::unfold(Some((response, verifier)), move |open| async move {
        let (mut response, verifier) = open?;
        let chunk = match tokio::time::timeout(silence, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return None,
            Ok(Err(e)) => return Some((Err(FetchError::Http(e)), None)),
            Err(_) => return Some((Err(FetchError::Silent), None)),
        };
        verifier.upgrade()?.feed_alive();
        Some((Ok(chunk), Some((response, verifier))))
    })
}

/// One event of the stream that carries data.
#[derive(Debug, PartialEq, Eq)]
struct Message {
    id: Option<String>,
    data: String,
}

/// The `text/event-stream` events of `chunks` (parsed by `sse-stream`)
/// that carry data: tessera's revocations. Blocks without data (an `event:`
/// or `retry:` alone) have nothing to apply.
fn messages<S, B>(chunks: S) -> impl Stream<Item = Result<Message, FetchError>>
where
    S: Stream<Item = Result<B, FetchError>>,
    B: Buf,
{
    SseByteStream::new(chunks).filter_map(|block| {
        ready(match block {
            Ok(Sse {
                data: Some(data),
                id,
                ..
            }) => Some(Ok(Message { id, data })),
            Ok(_) => None,
            Err(e) => Some(Err(unwrap_parse_error(e))),
        })
    })
}

/// The parser wraps the errors of the chunks it reads (a silent or broken
/// connection): this takes ours back out, so they keep their variant.
fn unwrap_parse_error(error: sse_stream::Error) -> FetchError {
    match error {
        sse_stream::Error::Body(source) => match source.downcast::<FetchError>() {
            Ok(ours) => *ours,
            Err(other) => FetchError::EventStream(other),
        },
        other => FetchError::EventStream(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use futures_util::stream;

    use super::*;

    async fn read_all(chunks: &[&'static [u8]]) -> Vec<Result<Message, FetchError>> {
        let chunks = stream::iter(chunks.iter().map(|chunk| Ok(*chunk)));
        messages(chunks).collect().await
    }

    #[tokio::test]
    async fn events_are_read_across_chunks_and_heartbeats_are_skipped() {
        let messages = read_all(&[
            b":\n\nevent: revocation\nid: 17",
            b"95-0\r\ndata: {\"a\":\ndata: 1}\n\n:\n\ndata: x\n\n",
            b"retry: 100\n\nevent: revocation\n\n",
        ])
        .await;
        let messages: Vec<Message> = messages.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            messages,
            [
                Message {
                    id: Some("1795-0".into()),
                    data: "{\"a\":\n1}".into()
                },
                Message {
                    id: None,
                    data: "x".into()
                },
            ]
        );
    }

    #[tokio::test]
    async fn a_client_event_reads_from_the_stream_and_the_snapshot() {
        let messages = read_all(&[
            b"event: revocation\nid: 1795000000123-0\ndata: {\"seq\":\"1795000000123-0\",",
            b"\"kind\":\"client\",\"id\":\"billing\",\"not_before\":1795000001,",
            b"\"reason\":\"client_disabled\",\"at\":\"2026-11-18T10:13:20.123Z\"}\n\n",
        ])
        .await;
        let [Ok(message)] = &messages[..] else {
            panic!("{messages:?}");
        };
        assert_eq!(message.id.as_deref(), Some("1795000000123-0"));
        let event: Event = serde_json::from_str(&message.data).unwrap();
        assert_eq!((&*event.kind, &*event.id), ("client", "billing"));
        assert_eq!(event.not_before, 1_795_000_001);
        assert_eq!(event.reason, "client_disabled");

        // One of each kind, and reasons tessera may add later: the whole
        // snapshot still reads (an unreadable one would stop the verifier
        // from starting, or from resynchronising after a gap).
        let snapshot: Snapshot = serde_json::from_str(
            r#"{"events": [
                {"seq": "1-0", "kind": "session", "id": "0193a5b0-7d1e-7c3a-9f00-5b2d8e0c4a11",
                 "not_before": 5, "reason": "logout", "at": "2026-11-18T10:13:20.123Z"},
                {"seq": "2-0", "kind": "user", "id": "0193a5b0-7d1e-7c3a-9f00-5b2d8e0c4a12",
                 "not_before": 6, "reason": "a_reason_from_later", "at": "2026-11-18T10:13:20.123Z"},
                {"seq": "3-0", "kind": "client", "id": "billing",
                 "not_before": 7, "reason": "client_disabled", "at": "2026-11-18T10:13:20.123Z"}
            ], "next": "3-0"}"#,
        )
        .unwrap();
        let kinds: Vec<&str> = snapshot.events.iter().map(|e| &*e.kind).collect();
        assert_eq!(kinds, ["session", "user", "client"]);
        assert_eq!(snapshot.events[2].id, "billing");
        assert_eq!(snapshot.next, "3-0");
    }

    #[test]
    fn the_backoff_doubles_from_50_ms_to_2_s() {
        let delays: Vec<u128> = BACKOFF.build().take(9).map(|d| d.as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }

    #[tokio::test]
    async fn a_lost_connection_keeps_its_error_through_the_parser() {
        let chunks = stream::iter([Ok(&b"data: 1\n\n"[..]), Err(FetchError::Silent)]);
        let read: Vec<_> = messages(chunks).collect().await;
        assert!(
            matches!(&read[..], [Ok(_), Err(FetchError::Silent)]),
            "{read:?}"
        );

        let invalid = read_all(&[b"data: \xff\n\n"]).await;
        assert!(
            matches!(&invalid[..], [Err(FetchError::EventStream(_))]),
            "{invalid:?}"
        );
    }
}
