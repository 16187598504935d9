//! Following tessera's revocation feed: the snapshot at start and after a
//! gap, then the Server-Sent Events stream, resumed with `Last-Event-ID`
//! after every disconnect.

use std::sync::Weak;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::state::{write, Event};
use crate::{now_ms, FetchError, Inner};

#[derive(Deserialize)]
pub struct Snapshot {
    pub events: Vec<Event>,
    pub next: String,
}

const SNAPSHOT_PATH: &str = "/api/v1/revocations/snapshot";
const STREAM_PATH: &str = "/api/v1/revocations/stream";

/// Reconnection backoff: doubles from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

pub async fn snapshot(inner: &Inner) -> Result<Snapshot, FetchError> {
    let response = inner
        .http
        .get(inner.url(SNAPSHOT_PATH))
        .basic_auth(&inner.config.client_id, Some(&inner.config.client_secret))
        .timeout(inner.config.start_timeout)
        .send()
        .await
        .map_err(FetchError::Http)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            what: "the snapshot",
            status,
        });
    }
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
    let mut backoff = BACKOFF.0;
    loop {
        let ended = read_stream(&verifier, &mut cursor, &mut backoff).await;
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
        tracing::debug!(error = %retry, ?backoff, "revocation feed lost; reconnecting");
        drop(inner);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// Reads the stream, holding the verifier only while applying an event, so
/// dropping the last [`crate::Verifier`] ends the follower.
async fn read_stream(verifier: &Weak<Inner>, cursor: &mut String, backoff: &mut Duration) -> Ended {
    let Some(inner) = verifier.upgrade() else {
        return Ended::Dropped;
    };
    let silence = inner.config.max_feed_silence;
    let request = inner
        .http
        .get(inner.url(STREAM_PATH))
        .basic_auth(&inner.config.client_id, Some(&inner.config.client_secret))
        .header("accept", "text/event-stream")
        .header("last-event-id", cursor.as_str());
    drop(inner);
    let mut response = match tokio::time::timeout(silence, request.send()).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Ended::Lost(FetchError::Http(e)),
        Err(_) => return Ended::Lost(FetchError::TimedOut),
    };
    match response.status() {
        StatusCode::OK => {}
        StatusCode::GONE => return Ended::Gap,
        status => {
            return Ended::Lost(FetchError::Status {
                what: "the stream",
                status,
            })
        }
    }
    match verifier.upgrade() {
        Some(inner) => inner.feed_alive(),
        None => return Ended::Dropped,
    }
    *backoff = BACKOFF.0;
    let mut parser = SseParser::default();
    loop {
        let chunk = match tokio::time::timeout(silence, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return Ended::Lost(FetchError::Closed),
            Ok(Err(e)) => return Ended::Lost(FetchError::Http(e)),
            Err(_) => return Ended::Lost(FetchError::Silent),
        };
        let Some(inner) = verifier.upgrade() else {
            return Ended::Dropped;
        };
        inner.feed_alive();
        for message in parser.feed(&chunk) {
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
}

/// One dispatched Server-Sent Event.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    pub id: Option<String>,
    pub data: String,
}

/// The `text/event-stream` format, as much of it as tessera sends: `id:`,
/// `event:`, `data:` lines, comments (heartbeats), a blank line ends an
/// event.
#[derive(Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    id: Option<String>,
    data: Option<String>,
}

impl SseParser {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Message> {
        self.buffer.extend_from_slice(bytes);
        let mut messages = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    messages.push(Message {
                        id: self.id.take(),
                        data,
                    });
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => self.id = Some(value.to_owned()),
                "data" => match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                },
                // Comments (heartbeats), `event:` and `retry:`.
                _ => {}
            }
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_across_chunks_and_heartbeats_are_skipped() {
        let mut parser = SseParser::default();
        assert!(parser.feed(b":\n\nevent: revocation\nid: 17").is_empty());
        let messages = parser.feed(b"95-0\r\ndata: {\"a\":\ndata: 1}\n\n:\n\ndata: x\n\n");
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
}
