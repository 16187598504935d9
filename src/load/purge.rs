//! Purging a tag: its users hard-deleted, their sessions ended, and the
//! revocation feed told each user is deleted (offline gateways refuse the
//! tokens a harness still holds).

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::repo;
use super::{LoadError, LoadKit, LoadTag};
use crate::audit::AuditEvent;
use crate::client::ClientInfo;

/// Users per delete (one transaction each).
const PURGE_BATCH: i64 = 5_000;
/// Session-ending scripts in flight at once. One ends up to
/// `session.max_per_user` sessions (about 0.7 ms of Redis at 100), and the
/// last call in flight waits for all the others: 32 keep Redis busy and
/// wait under 50 ms; at 512, 10,000 users of 99 sessions each queued calls
/// past `redis.timeout_ms` (2 s) and the purge failed half-way.
const ENDS_IN_FLIGHT: usize = 32;

/// What a purge removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"users": 100000, "sessions": 100000}))]
pub struct PurgeCounts {
    pub users: u64,
    /// Live sessions ended.
    pub sessions: u64,
}

impl LoadKit {
    /// Hard-deletes every user tagged `tag` (and the audit events about
    /// them), and ends all their sessions; no other user is touched: the
    /// delete names the tag. Batch by batch, each in one transaction that
    /// ends the batch's sessions before it commits, so a Redis failure
    /// leaves those users in place for the next purge rather than sessions
    /// without users; a login racing the purge waits for the row lock and
    /// then ends its own session (`login_gate`).
    pub async fn purge(
        &self,
        tag: &LoadTag,
        actor: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<PurgeCounts, LoadError> {
        let deps = &self.deps;
        let mut counts = PurgeCounts::default();
        // Bounded: enough rounds for every user the tag had at the start
        // (users seeded into it meanwhile may remain for the next purge).
        let rounds = repo::count(&deps.pool, tag)
            .await?
            .div_ceil(PURGE_BATCH as u64);
        for _ in 0..rounds {
            let mut tx = deps.pool.begin().await?;
            let ids = repo::delete_page(&mut tx, tag, PURGE_BATCH).await?;
            if ids.is_empty() {
                break;
            }
            let ended: u64 = stream::iter(ids.iter().copied())
                .map(|id| deps.sessions.end_all_for_good(id))
                .buffer_unordered(ENDS_IN_FLIGHT)
                .try_fold(0, |total, ended| async move { Ok(total + ended) })
                .await?;
            tx.commit().await?;
            counts.users += ids.len() as u64;
            counts.sessions += ended;
        }
        deps.audit.record(
            AuditEvent::new("load_purged", None)
                .by(actor)
                .from_client(client)
                .with_details(json!({
                    "tag": tag.as_str(),
                    "users": counts.users,
                    "sessions": counts.sessions,
                })),
        );
        Ok(counts)
    }
}
