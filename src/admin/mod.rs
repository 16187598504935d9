//! Administration: the user listing, blocking, soft deletion, roles and
//! subscriptions, balances, and the audit listing. Knows nothing of HTTP;
//! the command line (`cli`) drives the same operations as the operator.
//!
//! Every change to one user runs in a transaction holding that user's row
//! lock, and does its Redis work (ending sessions, updating their claims)
//! before the commit: if Redis cannot be reached the change is rolled back,
//! so PostgreSQL never says "blocked" while the sessions live on. A login in
//! flight re-reads the row after creating its session and waits for that
//! lock (`users::repo::login_gate`), so it cannot slip a session past a block.

pub mod cli;

use std::ops::RangeInclusive;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, AuditEvent, AuditFilter, AuditLog, AuditRecord};
use crate::client::ClientInfo;
use crate::revocations::Reason;
use crate::sessions::{SessionError, SessionStore, SessionSummary};
use crate::users::repo::{self, BalanceError, UserFilter};
use crate::users::{Role, Subscription, User, UserPublic};

/// Page sizes of the listings.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;
/// Far past any table's end, and far from `i64::MAX`: a page's counters
/// (offset + limit, offset + shown) can never overflow.
pub const MAX_OFFSET: i64 = 1_000_000_000;
/// The largest balance change: `users.balance` is `numeric(20, 2)`.
const MAX_DELTA_DIGITS: usize = 18;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the caller is not a live, unblocked user")]
    NotAuthenticated,
    #[error("not enough permissions")]
    Forbidden,
    #[error("user not found")]
    UserNotFound,
    #[error("no such session")]
    SessionNotFound,
    /// An administrator tried to lock themselves out.
    #[error("an administrator cannot do this to their own account: {0:?}")]
    SelfAction(SelfAction),
    #[error("the balance would go below zero")]
    InsufficientBalance,
    #[error("the balance would exceed its maximum")]
    BalanceOverflow,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("session store: {0}")]
    Sessions(#[from] SessionError),
}

/// What an administrator may not do to their own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfAction {
    Block,
    Delete,
    /// Give up the admin role.
    Demote,
}

/// Who performs an administrative action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user, with the role PostgreSQL holds for them now (not the
    /// one in their access token, which may predate a demotion).
    User { id: Uuid, role: Role },
    /// Whoever runs the command line on the server: may do anything.
    Operator,
}

impl Actor {
    pub fn id(self) -> Option<Uuid> {
        match self {
            Actor::User { id, .. } => Some(id),
            Actor::Operator => None,
        }
    }

    pub fn is_admin(self) -> bool {
        matches!(
            self,
            Actor::Operator
                | Actor::User {
                    role: Role::Admin,
                    ..
                }
        )
    }

    /// Admins and moderators.
    pub fn is_staff(self) -> bool {
        self.is_admin()
            || matches!(
                self,
                Actor::User {
                    role: Role::Moderator,
                    ..
                }
            )
    }

    fn is(self, user_id: Uuid) -> bool {
        self.id() == Some(user_id)
    }

    /// Whether this actor may block or unblock a user with `role`:
    /// moderators act on regular users only.
    pub fn may_moderate_role(self, role: Role) -> bool {
        self.is_admin() || (self.is_staff() && role == Role::Regular)
    }

    fn require_admin(self) -> Result<(), AdminError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }

    fn may_moderate(self, target: &User) -> Result<(), AdminError> {
        if self.may_moderate_role(target.account_role) {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }
}

/// A user as administrators see it: the public shape plus when it was
/// soft-deleted, since the listing can include deleted users.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdminUser {
    #[serde(flatten)]
    pub user: UserPublic,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<User> for AdminUser {
    fn from(user: User) -> Self {
        let deleted_at = user.deleted_at;
        Self {
            user: user.into(),
            deleted_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub items: Vec<AdminUser>,
    pub total: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    /// The offset of the next page, `null` on the last one. (No total: a
    /// count over millions of events would cost more than the page.)
    pub next_offset: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Balance {
    /// A decimal string with two decimals.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "12.50")]
    pub balance: Decimal,
}

/// How many rows a listing returns: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`]
/// unless asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(i64);

/// Where a listing starts: 0 to [`MAX_OFFSET`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offset(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    #[error("must be an integer from 1 to {MAX_LIMIT}")]
    Limit,
    #[error("must be an integer from 0 to {MAX_OFFSET}")]
    Offset,
}

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

/// A whole number in `range`, else `error`.
fn bounded(s: &str, range: RangeInclusive<i64>, error: PagingError) -> Result<i64, PagingError> {
    s.parse().ok().filter(|n| range.contains(n)).ok_or(error)
}

impl FromStr for Limit {
    type Err = PagingError;

    fn from_str(s: &str) -> Result<Self, PagingError> {
        bounded(s, 1..=MAX_LIMIT, PagingError::Limit).map(Self)
    }
}

impl FromStr for Offset {
    type Err = PagingError;

    fn from_str(s: &str) -> Result<Self, PagingError> {
        bounded(s, 0..=MAX_OFFSET, PagingError::Offset).map(Self)
    }
}

impl Limit {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl Offset {
    pub fn get(self) -> i64 {
        self.0
    }
}

/// `GET /admin/users` query.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub filter: UserFilter,
    pub limit: Limit,
    pub offset: Offset,
}

/// `GET /admin/audit` query.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub filter: AuditFilter,
    pub limit: Limit,
    pub offset: Offset,
}

/// `PATCH /admin/users/{id}` body: each field optional;
/// `subscription_expires_at: null` clears the expiry.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub role: Option<Role>,
    pub subscription: Option<Subscription>,
    pub subscription_expires_at: Option<Option<DateTime<Utc>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a decimal string with at most two decimals, e.g. \"-5.00\"")]
    Format,
    #[error("must be less than 10^{MAX_DELTA_DIGITS} in absolute value")]
    TooLarge,
    #[error("must not be zero")]
    Zero,
}

/// A balance change: a signed decimal string with at most two decimals
/// (`"-5.00"`, `"3"`, `"+0.5"`); never a float, so no amount is ever
/// rounded on the way in.
pub fn balance_delta(s: &str) -> Result<Decimal, AmountError> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > 2
        || (unsigned.contains('.') && fraction.is_empty())
    {
        return Err(AmountError::Format);
    }
    if whole.trim_start_matches('0').len() > MAX_DELTA_DIGITS {
        return Err(AmountError::TooLarge);
    }
    let amount: Decimal = s
        .trim_start_matches('+')
        .parse()
        .map_err(|_| AmountError::Format)?;
    if amount.is_zero() {
        return Err(AmountError::Zero);
    }
    Ok(amount)
}

pub struct Admin {
    pool: PgPool,
    sessions: Arc<SessionStore>,
    audit: AuditLog,
}

impl Admin {
    pub fn new(pool: PgPool, sessions: Arc<SessionStore>, audit: AuditLog) -> Self {
        Self {
            pool,
            sessions,
            audit,
        }
    }

    /// The caller as an [`Actor`], with the role PostgreSQL holds now.
    pub async fn actor(&self, user_id: Uuid) -> Result<Actor, AdminError> {
        match repo::find_by_id(&self.pool, user_id).await? {
            Some(user) if !user.is_blocked && user.is_active => Ok(Actor::User {
                id: user.id,
                role: user.account_role,
            }),
            _ => Err(AdminError::NotAuthenticated),
        }
    }

    fn record(
        &self,
        kind: &'static str,
        actor: Actor,
        subject: Uuid,
        client: &ClientInfo,
        mut details: Value,
    ) {
        if actor == Actor::Operator {
            details["via"] = json!("cli");
        }
        self.audit.record(
            AuditEvent::new(kind, Some(subject))
                .by(actor.id())
                .from_client(client)
                .with_details(details),
        );
    }

    pub async fn list_users(&self, query: &UserQuery) -> Result<UserPage, AdminError> {
        let (users, total) = repo::list(
            &self.pool,
            &query.filter,
            query.limit.get(),
            query.offset.get(),
        )
        .await?;
        Ok(UserPage {
            items: users.into_iter().map(AdminUser::from).collect(),
            total,
        })
    }

    /// One user, soft-deleted or not.
    pub async fn user(&self, target: Uuid) -> Result<AdminUser, AdminError> {
        Ok(repo::find_any_by_id(&self.pool, target)
            .await?
            .ok_or(AdminError::UserNotFound)?
            .into())
    }

    /// A user's live sessions (addresses and devices), for administrators
    /// only: the API shows a moderator none.
    pub async fn sessions(
        &self,
        actor: Actor,
        target: Uuid,
    ) -> Result<Vec<SessionSummary>, AdminError> {
        actor.require_admin()?;
        repo::find_any_by_id(&self.pool, target)
            .await?
            .ok_or(AdminError::UserNotFound)?;
        Ok(self.sessions.list(target).await?)
    }

    /// Ends one session of a user (one device logged out), for
    /// administrators only, like [`Admin::sessions`].
    pub async fn revoke_session(
        &self,
        actor: Actor,
        target: Uuid,
        session_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), AdminError> {
        actor.require_admin()?;
        repo::find_any_by_id(&self.pool, target)
            .await?
            .ok_or(AdminError::UserNotFound)?;
        if !self.sessions.end(target, session_id).await? {
            return Err(AdminError::SessionNotFound);
        }
        self.record(
            "session_revoked",
            actor,
            target,
            client,
            json!({ "session_id": session_id }),
        );
        Ok(())
    }

    /// Blocks or unblocks a live user. Blocking ends every session of the
    /// user in one Redis script, so every access token fails at once.
    pub async fn set_blocked(
        &self,
        actor: Actor,
        target: Uuid,
        blocked: bool,
        client: &ClientInfo,
    ) -> Result<AdminUser, AdminError> {
        let mut tx = self.pool.begin().await?;
        let user = repo::lock(&mut tx, target)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(AdminError::UserNotFound)?;
        actor.may_moderate(&user)?;
        if blocked && actor.is(target) {
            return Err(AdminError::SelfAction(SelfAction::Block));
        }
        let was_blocked = user.is_blocked;
        let user = repo::set_blocked(&mut tx, target, blocked).await?;
        let ended = if blocked {
            self.sessions
                .end_all_because(target, None, Reason::Blocked)
                .await?
        } else {
            0
        };
        tx.commit().await?;
        if was_blocked != blocked {
            let (kind, details) = if blocked {
                ("user_blocked", json!({ "sessions_ended": ended }))
            } else {
                ("user_unblocked", json!({}))
            };
            self.record(kind, actor, target, client, details);
        }
        Ok(user.into())
    }

    /// Soft-deletes a live user and ends every session of theirs.
    pub async fn delete(
        &self,
        actor: Actor,
        target: Uuid,
        client: &ClientInfo,
    ) -> Result<(), AdminError> {
        let mut tx = self.pool.begin().await?;
        repo::lock(&mut tx, target)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(AdminError::UserNotFound)?;
        if actor.is(target) {
            return Err(AdminError::SelfAction(SelfAction::Delete));
        }
        repo::set_deleted(&mut tx, target, true).await?;
        let ended = self
            .sessions
            .end_all_because(target, None, Reason::Deleted)
            .await?;
        tx.commit().await?;
        self.record(
            "user_deleted",
            actor,
            target,
            client,
            json!({ "sessions_ended": ended }),
        );
        Ok(())
    }

    /// Undoes a soft delete; restoring a live user changes nothing.
    pub async fn restore(
        &self,
        actor: Actor,
        target: Uuid,
        client: &ClientInfo,
    ) -> Result<AdminUser, AdminError> {
        let mut tx = self.pool.begin().await?;
        let user = repo::lock(&mut tx, target)
            .await?
            .ok_or(AdminError::UserNotFound)?;
        if user.deleted_at.is_none() {
            return Ok(user.into());
        }
        let user = repo::set_deleted(&mut tx, target, false).await?;
        tx.commit().await?;
        self.record("user_restored", actor, target, client, json!({}));
        Ok(user.into())
    }

    /// Changes a live user's role and/or subscription. The claims kept in
    /// the user's sessions change with them, so the next refresh mints
    /// tokens carrying the new ones (refresh never reads PostgreSQL).
    pub async fn update(
        &self,
        actor: Actor,
        target: Uuid,
        changes: &UserChanges,
        client: &ClientInfo,
    ) -> Result<AdminUser, AdminError> {
        let mut tx = self.pool.begin().await?;
        let before = repo::lock(&mut tx, target)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(AdminError::UserNotFound)?;
        let role = changes.role.unwrap_or(before.account_role);
        let subscription = changes.subscription.unwrap_or(before.account_subscription);
        let expires_at = changes
            .subscription_expires_at
            .unwrap_or(before.subscription_expires_at);
        if actor.is(target) && role != Role::Admin {
            return Err(AdminError::SelfAction(SelfAction::Demote));
        }
        let role_changed = role != before.account_role;
        let subscription_changed = subscription != before.account_subscription
            || expires_at != before.subscription_expires_at;
        if !role_changed && !subscription_changed {
            return Ok(before.into());
        }
        let user = repo::set_plan(&mut tx, target, role, subscription, expires_at).await?;
        if role != before.account_role || subscription != before.account_subscription {
            self.sessions
                .update_claims(target, role, subscription)
                .await?;
        }
        tx.commit().await?;
        if role_changed {
            let details = json!({ "from": before.account_role, "to": role });
            self.record("role_changed", actor, target, client, details);
        }
        if subscription_changed {
            let details = json!({
                "from": before.account_subscription,
                "to": subscription,
                "expires_at_from": before.subscription_expires_at,
                "expires_at_to": expires_at,
            });
            self.record("subscription_changed", actor, target, client, details);
        }
        Ok(user.into())
    }

    /// Adds `delta` (negative to take) to a live user's balance atomically;
    /// refuses to go below zero.
    pub async fn adjust_balance(
        &self,
        actor: Actor,
        target: Uuid,
        delta: Decimal,
        client: &ClientInfo,
    ) -> Result<Balance, AdminError> {
        let mut balance = repo::add_balance(&self.pool, target, delta)
            .await
            .map_err(|e| match e {
                BalanceError::Insufficient => AdminError::InsufficientBalance,
                BalanceError::Overflow => AdminError::BalanceOverflow,
                BalanceError::Database(e) => AdminError::Database(e),
            })?
            .ok_or(AdminError::UserNotFound)?;
        // numeric(20, 2) already has two decimals; say so in the type too.
        balance.rescale(2);
        self.record(
            "balance_changed",
            actor,
            target,
            client,
            json!({ "delta": delta.to_string(), "balance": balance.to_string() }),
        );
        Ok(Balance { balance })
    }

    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, AdminError> {
        let (limit, offset) = (query.limit.get(), query.offset.get());
        let mut items = audit::list(&self.pool, &query.filter, limit + 1, offset).await?;
        let next_offset = (items.len() as i64 > limit).then(|| offset + limit);
        items.truncate(limit as usize);
        Ok(AuditPage { items, next_offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_strict_decimal_strings() {
        for good in ["1", "1.5", "-5.00", "+0.01", "000012.30"] {
            assert!(balance_delta(good).is_ok(), "{good}");
        }
        assert_eq!(balance_delta("-5.00").unwrap().to_string(), "-5.00");
        for bad in [
            "", "-", "1.", ".5", "1.234", "1e3", " 1", "1 ", "0x10", "NaN", "0", "-0.00", "1,00",
            "--1",
        ] {
            assert!(balance_delta(bad).is_err(), "{bad}");
        }
        assert!(balance_delta(&"9".repeat(18)).is_ok());
        assert!(balance_delta(&"9".repeat(19)).is_err());
    }

    #[test]
    fn moderators_act_on_regular_users_only() {
        let user = User::example;
        let moderator = Actor::User {
            id: Uuid::new_v4(),
            role: Role::Moderator,
        };
        let admin = Actor::User {
            id: Uuid::new_v4(),
            role: Role::Admin,
        };
        assert!(moderator.may_moderate(&user(Role::Regular)).is_ok());
        assert!(moderator.may_moderate(&user(Role::Moderator)).is_err());
        assert!(moderator.may_moderate(&user(Role::Admin)).is_err());
        assert!(admin.may_moderate(&user(Role::Admin)).is_ok());
        assert!(Actor::Operator.may_moderate(&user(Role::Admin)).is_ok());
    }
}
