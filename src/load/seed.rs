//! Seeding, and minting sessions for users already seeded.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, Stream, StreamExt, TryStreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use super::repo::{self, NewLoadUser};
use super::{LoadError, LoadKit, LoadTag, SeedOptions, SeededSession, TokensOptions};
use crate::audit::AuditEvent;
use crate::client::ClientInfo;
use crate::sessions::{IssuedRefresh, SessionClaims};
use crate::users::{Role, Subscription};

/// Users per `COPY` (and per batch of output).
const BATCH_USERS: u64 = 5_000;
/// Batches in progress at once: one inserts while another opens sessions
/// or signs.
const PARALLEL_BATCHES: usize = 2;
/// Session scripts in flight at once. The shared multiplexed connections
/// write queued commands together, so this many EVALSHAs go out in a few
/// writes (a pipeline) while each stays its own command, routed by its own
/// key, as a Redis Cluster needs.
const SESSIONS_IN_FLIGHT: usize = 512;

/// What a batch made: its users and sessions, and the NDJSON lines (one per
/// session) that describe them.
#[derive(Debug)]
pub struct Batch {
    pub users: u64,
    pub sessions: u64,
    pub ndjson: Vec<u8>,
}

/// What every batch of one run shares.
struct Run {
    tag: LoadTag,
    /// `None`: unknown (`load tokens` without a password).
    password: Option<SecretString>,
    sessions_per_user: u32,
    access_ttl: Duration,
    client: ClientInfo,
}

/// A user to open sessions for.
struct Member {
    email: String,
    claims: SessionClaims,
}

impl LoadKit {
    /// Starts a seed: checks what must hold before anything is written
    /// (Redis and PostgreSQL reachable, the hash made), then returns its batches as a
    /// stream that does the work as it is polled, `PARALLEL_BATCHES` at a
    /// time. Dropping the stream stops the seed after the batches in
    /// progress (their users stay, tagged, for `purge`).
    pub async fn seed(
        self: &Arc<Self>,
        options: SeedOptions,
        client: ClientInfo,
        actor: Option<Uuid>,
    ) -> Result<impl Stream<Item = Result<Batch, LoadError>> + Send + 'static, LoadError> {
        let deps = &self.deps;
        // Users without sessions would be no use: Redis must answer first.
        deps.sessions.reachable().await?;
        // A second seed of a tag adds users numbered after the first's.
        let first = repo::count(&deps.pool, &options.tag).await? + 1;
        let hash: Arc<str> = deps.hasher.hash(options.password.clone()).await?.into();
        deps.audit.record(
            AuditEvent::new("load_seeded", None)
                .by(actor)
                .from_client(&client)
                .with_details(json!({
                    "tag": options.tag.as_str(),
                    "users": options.users,
                    "sessions_per_user": options.sessions_per_user,
                })),
        );
        let run = Arc::new(Run {
            tag: options.tag,
            password: Some(options.password),
            sessions_per_user: options.sessions_per_user,
            access_ttl: options.access_ttl,
            client,
        });
        let end = first + options.users;
        let starts = (first..end).step_by(BATCH_USERS as usize);
        let kit = self.clone();
        Ok(stream::iter(starts)
            .map(move |start| {
                let (kit, run, hash) = (kit.clone(), run.clone(), hash.clone());
                async move {
                    kit.seed_batch(&run, &hash, start..end.min(start + BATCH_USERS))
                        .await
                }
            })
            .buffer_unordered(PARALLEL_BATCHES))
    }

    /// Users `numbers` of the run's tag, in one `COPY`, then their sessions.
    async fn seed_batch(
        &self,
        run: &Run,
        hash: &str,
        numbers: std::ops::Range<u64>,
    ) -> Result<Batch, LoadError> {
        let members: Vec<Member> = numbers
            .map(|n| Member {
                email: run.tag.email(n),
                claims: SessionClaims {
                    user_id: Uuid::now_v7(),
                    username: run.tag.username(n),
                    role: Role::Regular,
                    subscription: Subscription::Free,
                    client: crate::sessions::SessionClient::default(),
                    authn: crate::sessions::Authn::password(crate::clock::now_secs()),
                },
            })
            .collect();
        let rows: Vec<NewLoadUser> = members
            .iter()
            .map(|m| NewLoadUser {
                id: m.claims.user_id,
                email: &m.email,
                username: &m.claims.username,
            })
            .collect();
        let mut conn = self.deps.pool.acquire().await?;
        repo::copy_in(&mut conn, &run.tag, hash, &rows).await?;
        drop(conn);
        self.open_sessions(run, members).await
    }

    /// Starts `load tokens`: fresh sessions for every live user of the tag,
    /// a page of users per batch. With a password, it is first checked
    /// against the tag's users (the run shared one), so every line it is
    /// written in is true.
    pub async fn tokens(
        self: &Arc<Self>,
        options: TokensOptions,
        client: ClientInfo,
    ) -> Result<impl Stream<Item = Result<Batch, LoadError>> + Send + 'static, LoadError> {
        let hash = repo::one_hash(&self.deps.pool, &options.tag)
            .await?
            .ok_or(LoadError::UnknownTag)?;
        if let Some(password) = &options.password {
            if !self
                .deps
                .hasher
                .verify(password.clone(), Some(hash))
                .await?
            {
                return Err(LoadError::WrongPassword);
            }
        }
        let run = Arc::new(Run {
            tag: options.tag,
            password: options.password,
            sessions_per_user: options.sessions_per_user,
            access_ttl: options.access_ttl,
            client,
        });
        let kit = self.clone();
        // Keyset pages by id; the walk ends at the first empty page, and
        // after as many pages as the tag had users at the start (users
        // seeded into it meanwhile may be left out).
        let pages = repo::count(&self.deps.pool, &run.tag)
            .await?
            .div_ceil(BATCH_USERS);
        Ok(stream::try_unfold(
            (Uuid::nil(), pages),
            move |(after, pages)| {
                let (kit, run) = (kit.clone(), run.clone());
                async move {
                    if pages == 0 {
                        return Ok(None);
                    }
                    let page = repo::live_page(&kit.deps.pool, &run.tag, after, BATCH_USERS as i64)
                        .await?;
                    let Some(last) = page.last().map(|user| user.id) else {
                        return Ok(None);
                    };
                    let members = page
                        .into_iter()
                        .map(|user| Member {
                            email: user.email,
                            claims: SessionClaims {
                                user_id: user.id,
                                username: user.username,
                                role: user.account_role,
                                subscription: user.account_subscription,
                                client: crate::sessions::SessionClient::default(),
                                authn: crate::sessions::Authn::password(crate::clock::now_secs()),
                            },
                        })
                        .collect();
                    let batch = kit.open_sessions(&run, members).await?;
                    Ok(Some((batch, (last, pages - 1))))
                }
            },
        ))
    }

    /// Opens `sessions_per_user` sessions for each member through the login
    /// script, then signs an access token for each and writes the lines.
    async fn open_sessions(&self, run: &Run, members: Vec<Member>) -> Result<Batch, LoadError> {
        let sessions = &self.deps.sessions;
        let per_user = run.sessions_per_user as usize;
        let opened: Vec<(usize, IssuedRefresh)> = stream::iter(0..members.len() * per_user)
            .map(|i| {
                let member = &members[i / per_user];
                async move {
                    sessions
                        .create(&member.claims, &run.client, None, None)
                        .await
                        .map(|refresh| (i / per_user, refresh))
                }
            })
            .buffer_unordered(SESSIONS_IN_FLIGHT)
            .try_collect()
            .await?;
        let users = members.len() as u64;
        let sessions = opened.len() as u64;
        let ndjson = self.sign_lines(run, Arc::new(members), opened).await?;
        Ok(Batch {
            users,
            sessions,
            ndjson,
        })
    }

    /// Signs the access tokens and writes the lines on the blocking pool,
    /// one chunk per core (Ed25519 signing is what costs here).
    async fn sign_lines(
        &self,
        run: &Run,
        members: Arc<Vec<Member>>,
        mut opened: Vec<(usize, IssuedRefresh)>,
    ) -> Result<Vec<u8>, LoadError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = opened.len().div_ceil(cores).max(1);
        let tag: Arc<str> = run.tag.as_str().into();
        let password: Option<Arc<str>> = run.password.as_ref().map(|p| p.expose_secret().into());
        let mut tasks = Vec::with_capacity(cores);
        while !opened.is_empty() {
            let part = opened.split_off(opened.len().saturating_sub(chunk));
            let (tokens, members, tag, password) = (
                self.deps.tokens.clone(),
                members.clone(),
                tag.clone(),
                password.clone(),
            );
            let ttl = run.access_ttl;
            tasks.push(tokio::task::spawn_blocking(move || {
                let mut out = Vec::with_capacity(part.len() * 720);
                for (index, refresh) in part {
                    let member = &members[index];
                    let access = tokens.issue_for(&member.claims, refresh.session_id, ttl)?;
                    let line = SeededSession {
                        tag: &tag,
                        user_id: member.claims.user_id,
                        email: &member.email,
                        username: &member.claims.username,
                        password: password.as_deref(),
                        session_id: refresh.session_id,
                        access_token: &access.token,
                        refresh_token: &refresh.token.encode(),
                    };
                    // Serialising plain strings and ids into memory cannot fail.
                    let _ = serde_json::to_writer(&mut out, &line);
                    out.push(b'\n');
                }
                Ok::<_, LoadError>(out)
            }));
        }
        let mut ndjson = Vec::new();
        for task in tasks {
            let part = task.await.map_err(|e| LoadError::Worker(e.to_string()))??;
            ndjson.extend_from_slice(&part);
        }
        Ok(ndjson)
    }
}
