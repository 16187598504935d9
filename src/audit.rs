//! The security audit log (`audit_events`): writing it, and reading it for
//! the admin listing.
//!
//! Kinds recorded: `register`, `login`, `login_failed` (details: `reason`),
//! `login_mfa_required` (a right password; the second factor is asked),
//! `mfa_failed` (a wrong second-factor code; details: `method`),
//! `mfa_recovery_code_used`, `mfa_totp_enrolment_started`,
//! `mfa_totp_added`, `mfa_totp_removed`, `mfa_recovery_codes_regenerated`
//! (a `login` after a second factor has details `amr`),
//! `refresh_reuse_detected`, `refresh_retried` (a rotated refresh token
//! presented again within the grace window; details: `session_id`,
//! `rotated_from_ip`), `logout`, `logout_all`, and the administrative
//! `user_created`, `user_blocked`, `user_unblocked`, `user_deleted`,
//! `user_restored`, `role_changed`, `subscription_changed`,
//! `balance_changed`, whose actor is the administrator (none when done from
//! the command line) and whose subject is the user acted on; and the load-test
//! kit's `load_seeded` / `load_purged` (details: `tag` and the counts; no
//! subject), by the administrator or the command line.
//!
//! Events are queued and written in batches by one background task, so a
//! login never waits on an audit INSERT. The queue is bounded: if PostgreSQL
//! falls behind, events beyond the bound are dropped and counted in the log
//! rather than letting memory grow without limit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::client::ClientInfo;

const QUEUE_CAPACITY: usize = 10_000;
const BATCH_SIZE: usize = 256;

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub kind: &'static str,
    pub actor_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Value,
}

impl AuditEvent {
    pub fn new(kind: &'static str, subject_id: Option<Uuid>) -> Self {
        Self {
            kind,
            actor_id: subject_id,
            subject_id,
            ip: None,
            user_agent: None,
            details: Value::Null,
        }
    }

    /// Who acted, when not the subject itself (`None`: the operator, from
    /// the command line).
    pub fn by(mut self, actor_id: Option<Uuid>) -> Self {
        self.actor_id = actor_id;
        self
    }

    pub fn from_client(mut self, client: &ClientInfo) -> Self {
        self.ip = client.ip.map(|ip| ip.to_string());
        self.user_agent = Some(client.user_agent.clone()).filter(|s| !s.is_empty());
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<AuditEvent>,
}

impl AuditLog {
    /// Starts the writer task; it ends once every `AuditLog` clone is dropped
    /// and the queue is drained.
    pub fn start(pool: PgPool) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, events) = mpsc::channel(QUEUE_CAPACITY);
        let writer = tokio::spawn(write_batches(pool, events));
        (Self { queue }, writer)
    }

    pub fn record(&self, event: AuditEvent) {
        if let Err(e) = self.queue.try_send(event) {
            tracing::warn!(
                kind = e.into_inner().kind,
                "audit queue full; event dropped"
            );
        }
    }
}

async fn write_batches(pool: PgPool, mut events: mpsc::Receiver<AuditEvent>) {
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    while events.recv_many(&mut batch, BATCH_SIZE).await > 0 {
        let mut attempt = 0;
        while let Err(e) = insert(&pool, &batch).await {
            attempt += 1;
            if attempt == 3 {
                tracing::error!(error = %e, events = batch.len(), "audit events lost: cannot write to PostgreSQL");
                break;
            }
            tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
        }
        batch.clear();
    }
}

async fn insert(pool: &PgPool, batch: &[AuditEvent]) -> Result<(), sqlx::Error> {
    let kinds: Vec<&str> = batch.iter().map(|e| e.kind).collect();
    let actors: Vec<Option<Uuid>> = batch.iter().map(|e| e.actor_id).collect();
    let subjects: Vec<Option<Uuid>> = batch.iter().map(|e| e.subject_id).collect();
    let ips: Vec<Option<&str>> = batch.iter().map(|e| e.ip.as_deref()).collect();
    let agents: Vec<Option<&str>> = batch.iter().map(|e| e.user_agent.as_deref()).collect();
    let details: Vec<Value> = batch
        .iter()
        .map(|e| {
            if e.details.is_null() {
                Value::Object(Default::default())
            } else {
                e.details.clone()
            }
        })
        .collect();
    sqlx::query(
        "INSERT INTO audit_events (kind, actor_id, subject_id, ip, user_agent, details) \
         SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[])",
    )
    .bind(kinds)
    .bind(actors)
    .bind(subjects)
    .bind(ips)
    .bind(agents)
    .bind(details)
    .execute(pool)
    .await?;
    Ok(())
}

/// Filters of the audit listing; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub subject_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub kind: Option<String>,
    /// Inclusive.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub kind: String,
    pub actor_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Value,
}

/// Events matching `filter`, newest first. Every filter combination is
/// served by an index ordered by `(occurred_at DESC, id DESC)`: on
/// `subject_id`, `actor_id`, `kind`, or none, so a page costs its size (plus
/// the offset), never a scan of the table.
pub async fn list(
    pool: &PgPool,
    filter: &AuditFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<AuditRecord>, sqlx::Error> {
    let mut query: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "SELECT id, occurred_at, kind, actor_id, subject_id, ip, user_agent, details \
         FROM audit_events WHERE true",
    );
    if let Some(subject) = filter.subject_id {
        query.push(" AND subject_id = ").push_bind(subject);
    }
    if let Some(actor) = filter.actor_id {
        query.push(" AND actor_id = ").push_bind(actor);
    }
    if let Some(kind) = &filter.kind {
        query.push(" AND kind = ").push_bind(kind);
    }
    if let Some(since) = filter.since {
        query.push(" AND occurred_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        query.push(" AND occurred_at < ").push_bind(until);
    }
    query
        .push(" ORDER BY occurred_at DESC, id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    query.build_query_as().fetch_all(pool).await
}
