//! The OAuth client registry: services, apps and gateways with credentials
//! of their own, kept in PostgreSQL and cached by every instance
//! ([`registry`]). This module registers, changes, rotates and removes
//! clients for an administrator (the admin API, the console and the CLI
//! drive the same operations), auditing each; authenticating a client and
//! issuing its tokens is `oauth`'s. Knows nothing of HTTP.

pub mod cli;
pub mod model;
pub mod registry;
pub mod repo;
pub mod secret;
mod view;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;

pub use model::{
    AuthMethod, Client, ClientChanges, ClientJwks, ClientKind, ClientRuleError, ClientSettings,
    GrantType, IdTokenSigning, Scopes,
};
pub use registry::{NotLoaded, Registry, TokenClient};
pub use repo::{RepoError, StoredClient};
pub use view::{ClientView, CreatedClient};

use crate::admin::Actor;
use crate::audit::{AuditEvent, AuditLog};
use crate::client::ClientInfo;
use crate::clock::now_secs;
use crate::revocations::{FeedWriter, Kind, Reason, Revoked};

#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    #[error("not enough permissions")]
    Forbidden,
    #[error("client not found")]
    NotFound,
    /// Rotating the secret of a client that authenticates without one.
    #[error("this client has no secret")]
    NoSecret,
    #[error("the client's settings break a rule: {0}")]
    Rule(#[from] ClientRuleError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<sqlx::Error> for ClientsError {
    fn from(e: sqlx::Error) -> Self {
        ClientsError::Repo(RepoError::Database(e))
    }
}

/// A client just registered, with its secret, shown this once.
pub struct Registered {
    pub client: Client,
    pub secret: Option<SecretString>,
}

pub struct Clients {
    pool: PgPool,
    registry: Arc<Registry>,
    audit: AuditLog,
    /// Where a disabled or deleted client's cut is published, for offline
    /// verifiers.
    feed: FeedWriter,
    /// How long a rotated secret keeps working (`oauth.secret_grace_secs`).
    secret_grace: Duration,
}

impl Clients {
    pub fn new(
        pool: PgPool,
        registry: Arc<Registry>,
        audit: AuditLog,
        feed: FeedWriter,
        secret_grace: Duration,
    ) -> Self {
        Self {
            pool,
            registry,
            audit,
            feed,
            secret_grace,
        }
    }

    /// The name a client is registered under, to show a user what app a
    /// session or a consent belongs to (the registry's in-process copy).
    pub fn display_name(&self, client_id: &str) -> Option<String> {
        let stored = self.registry.get(client_id).ok().flatten()?;
        Some(stored.client.settings.name.clone())
    }

    fn record(&self, kind: &'static str, actor: Actor, client_id: &str, from: Option<&ClientInfo>) {
        let mut event = AuditEvent::new(kind, None)
            .by(actor.id())
            .with_details(json!({ "client_id": client_id }));
        if let Some(from) = from {
            event = event.from_client(from);
        }
        self.audit.record(event);
    }

    /// Registers a client under a new id; a client that authenticates with
    /// a secret gets one, returned this once.
    pub async fn create(
        &self,
        actor: Actor,
        settings: ClientSettings,
        from: Option<&ClientInfo>,
    ) -> Result<Registered, ClientsError> {
        admin_only(actor)?;
        settings.check()?;
        let client_id = uuid::Uuid::new_v4().to_string();
        let (secret, digest) = match settings.auth_method.uses_secret() {
            true => {
                let (secret, digest) = secret::generate();
                (Some(secret), Some(digest))
            }
            false => (None, None),
        };
        let stored = repo::insert(&self.pool, &client_id, &settings, digest).await?;
        self.registry.changed().await;
        self.record("client_created", actor, &client_id, from);
        Ok(Registered {
            client: stored.client,
            secret,
        })
    }

    /// Every client, read from PostgreSQL (not the cache: what an
    /// administrator just changed shows at once).
    pub async fn list(&self, actor: Actor) -> Result<Vec<Client>, ClientsError> {
        admin_only(actor)?;
        Ok(repo::all(&self.pool)
            .await?
            .into_iter()
            .map(|stored| stored.client)
            .collect())
    }

    pub async fn get(&self, actor: Actor, client_id: &str) -> Result<Client, ClientsError> {
        may_act_on(actor, client_id)?;
        let stored = repo::find(&self.pool, client_id)
            .await?
            .ok_or(ClientsError::NotFound)?;
        Ok(stored.client)
    }

    /// Changes a client's settings, or disables or enables it. Disabling
    /// cuts every token it holds: from then on they fail at `/verify` and
    /// introspection (each instance within a second) and, through the
    /// revocation feed, in offline verifiers; enabling again does not
    /// revive them.
    pub async fn update(
        &self,
        actor: Actor,
        client_id: &str,
        changes: &ClientChanges,
        from: Option<&ClientInfo>,
    ) -> Result<Client, ClientsError> {
        may_act_on(actor, client_id)?;
        let mut tx = self.pool.begin().await?;
        let stored = repo::lock(&mut *tx, client_id)
            .await?
            .ok_or(ClientsError::NotFound)?;
        let settings = changes.apply(stored.client.settings.clone())?;
        let was_disabled = stored.client.disabled;
        let disabled = changes.disabled.unwrap_or(was_disabled);
        let cut = (disabled && !was_disabled).then(|| now_secs() + 1);
        let not_before = cut.unwrap_or(stored.client.tokens_not_before);
        let updated = repo::update(&mut *tx, client_id, &settings, disabled, not_before).await?;
        tx.commit().await?;
        if let Some(not_before) = cut {
            self.publish_cut(client_id, not_before).await;
        }
        self.registry.changed().await;
        let kind = match (was_disabled, disabled) {
            (false, true) => "client_disabled",
            (true, false) => "client_enabled",
            _ => "client_updated",
        };
        self.record(kind, actor, client_id, from);
        Ok(updated.client)
    }

    /// A new secret; the current one stays valid for `oauth.secret_grace_secs`
    /// or until the next rotation or [`Clients::drop_previous_secret`].
    pub async fn rotate_secret(
        &self,
        actor: Actor,
        client_id: &str,
        from: Option<&ClientInfo>,
    ) -> Result<SecretString, ClientsError> {
        may_act_on(actor, client_id)?;
        let (secret, digest) = secret::generate();
        let grace = chrono::Duration::from_std(self.secret_grace).unwrap_or(chrono::Duration::MAX);
        let expires = Utc::now()
            .checked_add_signed(grace)
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        match repo::rotate_secret(&self.pool, client_id, digest, expires).await? {
            Some(_) => {}
            None if self.exists(client_id).await? => return Err(ClientsError::NoSecret),
            None => return Err(ClientsError::NotFound),
        }
        self.registry.changed().await;
        self.record("client_secret_rotated", actor, client_id, from);
        Ok(secret)
    }

    /// Ends the previous secret now, before its grace is over.
    pub async fn drop_previous_secret(
        &self,
        actor: Actor,
        client_id: &str,
        from: Option<&ClientInfo>,
    ) -> Result<Client, ClientsError> {
        may_act_on(actor, client_id)?;
        let stored = repo::drop_previous_secret(&self.pool, client_id)
            .await?
            .ok_or(ClientsError::NotFound)?;
        self.registry.changed().await;
        self.record("client_previous_secret_revoked", actor, client_id, from);
        Ok(stored.client)
    }

    /// Removes a client; its live tokens die as if it were disabled.
    pub async fn delete(
        &self,
        actor: Actor,
        client_id: &str,
        from: Option<&ClientInfo>,
    ) -> Result<(), ClientsError> {
        may_act_on(actor, client_id)?;
        if !repo::delete(&self.pool, client_id).await? {
            return Err(ClientsError::NotFound);
        }
        self.publish_cut(client_id, now_secs() + 1).await;
        self.registry.changed().await;
        self.record("client_deleted", actor, client_id, from);
        Ok(())
    }

    async fn exists(&self, client_id: &str) -> Result<bool, ClientsError> {
        Ok(repo::find(&self.pool, client_id).await?.is_some())
    }

    async fn publish_cut(&self, client_id: &str, not_before: u64) {
        let ids = [client_id.to_owned()];
        self.feed
            .publish(
                Reason::ClientDisabled,
                not_before,
                Revoked {
                    kind: Kind::Client,
                    ids: &ids,
                },
            )
            .await;
    }
}

/// An administrator acting on a client whose id tessera could have made:
/// anything else (a NUL, a megabyte) is not found, without asking
/// PostgreSQL (which refuses a NUL in text).
fn may_act_on(actor: Actor, client_id: &str) -> Result<(), ClientsError> {
    admin_only(actor)?;
    if model::plausible_id(client_id) {
        Ok(())
    } else {
        Err(ClientsError::NotFound)
    }
}

fn admin_only(actor: Actor) -> Result<(), ClientsError> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(ClientsError::Forbidden)
    }
}
