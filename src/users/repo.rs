//! SQL for the `users` table.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::model::{Role, Subscription, User};
use super::rules;

const USER_COLUMNS: &str =
    "id, email, username, password_hash, account_role, account_subscription, \
    subscription_expires_at, is_active, is_blocked, created_at, deleted_at, \
    first_name, last_name, avatar_url, gender, date_of_birth, info";

#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("email already registered")]
    EmailTaken,
    #[error("username already taken")]
    UsernameTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub username: &'a str,
    pub password_hash: &'a str,
    pub is_active: bool,
}

/// Inserts a user. Uniqueness is the database's to decide, so two racing
/// registrations of one email get one row and one `EmailTaken`.
pub async fn insert<'e>(db: impl PgExecutor<'e>, user: NewUser<'_>) -> Result<User, InsertError> {
    let sql = format!(
        "INSERT INTO users (email, username, password_hash, is_active) VALUES ($1, $2, $3, $4) RETURNING {USER_COLUMNS}"
    );
    sqlx::query_as::<_, User>(&sql)
        .bind(user.email)
        .bind(user.username)
        .bind(user.password_hash)
        .bind(user.is_active)
        .fetch_one(db)
        .await
        .map_err(
            |e| match e.as_database_error().and_then(|d| d.constraint()) {
                Some("users_email_key") => InsertError::EmailTaken,
                Some("users_username_lower_key") => InsertError::UsernameTaken,
                _ => InsertError::Database(e),
            },
        )
}

/// The user matching `condition` on `$1`, if any.
async fn find_one<T>(pool: &PgPool, condition: &str, value: T) -> Result<Option<User>, sqlx::Error>
where
    T: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send,
{
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {condition}");
    sqlx::query_as::<_, User>(&sql)
        .bind(value)
        .fetch_optional(pool)
        .await
}

/// A user that has not been deleted, by email (any case).
pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<Option<User>, sqlx::Error> {
    find_one(pool, "email = lower($1) AND deleted_at IS NULL", email).await
}

/// A user that has not been deleted, by username (any case).
pub async fn find_by_username(pool: &PgPool, username: &str) -> Result<Option<User>, sqlx::Error> {
    find_one(
        pool,
        "lower(username) = lower($1) AND deleted_at IS NULL",
        username,
    )
    .await
}

/// A user that has not been deleted, by id.
pub async fn find_by_id(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    find_one(pool, "id = $1 AND deleted_at IS NULL", id).await
}

/// What OpenID Connect tells a client about a user (ID tokens, userinfo).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Identity {
    pub email: String,
    /// Only an address its owner proved by following an activation link.
    pub email_verified: bool,
    pub username: String,
}

/// The identity of an undeleted user.
pub async fn identity(pool: &PgPool, id: Uuid) -> Result<Option<Identity>, sqlx::Error> {
    sqlx::query_as(
        "SELECT email, email_verified_at IS NOT NULL AS email_verified, username \
         FROM users WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A user by id, soft-deleted or not (an administrator may restore one).
pub async fn find_any_by_id(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    find_one(pool, "id = $1", id).await
}

/// The statement behind [`usernames_like`] (public so a test can `EXPLAIN`
/// it). The bounds are explicit parameters rather than left to the planner
/// to find in the pattern: a prepared statement's generic plan knows nothing
/// of `$3`, but can always walk `users_username_lower_pattern_idx` from `$1`
/// to `$2`.
pub const USERNAMES_LIKE_SQL: &str = "SELECT lower(username) FROM users \
     WHERE lower(username) ~>=~ $1 AND lower(username) ~<=~ $2 AND lower(username) ~ $3";

/// The parameters of [`USERNAMES_LIKE_SQL`] for `base`: the byte-wise range
/// holding every `base<digits>` a username can be, and the exact pattern.
pub fn usernames_like_params(base: &str) -> [String; 3] {
    // `base` passed the username rules, so it holds only [A-Za-z0-9_-]:
    // nothing in it is special to a regular expression.
    let base = base.to_lowercase();
    let highest = format!("{base}{}", "9".repeat(rules::USERNAME_MAX));
    let pattern = format!("^{base}[0-9]*$");
    [base, highest, pattern]
}

/// Lower-cased usernames (deleted users' included: they stay taken) that are
/// `base` itself or `base` followed by digits.
pub async fn usernames_like(pool: &PgPool, base: &str) -> Result<Vec<String>, sqlx::Error> {
    let [low, high, pattern] = usernames_like_params(base);
    sqlx::query_scalar(USERNAMES_LIKE_SQL)
        .bind(low)
        .bind(high)
        .bind(pattern)
        .fetch_all(pool)
        .await
}

/// Marks a user active; `None` when there is no such (undeleted) user,
/// `Some(false)` when it was active already.
pub async fn activate(pool: &PgPool, id: Uuid) -> Result<Option<bool>, sqlx::Error> {
    // One statement: the row's prior state and the update are seen together.
    sqlx::query_scalar(
        "WITH target AS (SELECT id, is_active FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE), \
         updated AS (UPDATE users SET is_active = true, email_verified_at = now() FROM target \
                     WHERE users.id = target.id AND NOT target.is_active RETURNING users.id) \
         SELECT EXISTS (SELECT 1 FROM updated) FROM target",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Replaces the password hash of an undeleted user; false when there is none.
pub async fn set_password_hash(
    pool: &PgPool,
    id: Uuid,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .bind(password_hash)
            .execute(pool)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// A profile change: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProfileChanges {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub gender: Option<Option<String>>,
    pub date_of_birth: Option<Option<chrono::NaiveDate>>,
    pub info: Option<Option<String>>,
}

/// Applies `changes` to an undeleted user and returns the new row.
pub async fn update_profile(
    pool: &PgPool,
    id: Uuid,
    changes: &ProfileChanges,
) -> Result<Option<User>, sqlx::Error> {
    // One static statement: each column is set only when its flag is true.
    let sql = format!(
        "UPDATE users SET \
         first_name = CASE WHEN $2 THEN $3 ELSE first_name END, \
         last_name = CASE WHEN $4 THEN $5 ELSE last_name END, \
         avatar_url = CASE WHEN $6 THEN $7 ELSE avatar_url END, \
         gender = CASE WHEN $8 THEN $9 ELSE gender END, \
         date_of_birth = CASE WHEN $10 THEN $11 ELSE date_of_birth END, \
         info = CASE WHEN $12 THEN $13 ELSE info END \
         WHERE id = $1 AND deleted_at IS NULL RETURNING {USER_COLUMNS}"
    );
    sqlx::query_as::<_, User>(&sql)
        .bind(id)
        .bind(changes.first_name.is_some())
        .bind(changes.first_name.clone().flatten())
        .bind(changes.last_name.is_some())
        .bind(changes.last_name.clone().flatten())
        .bind(changes.avatar_url.is_some())
        .bind(changes.avatar_url.clone().flatten())
        .bind(changes.gender.is_some())
        .bind(changes.gender.clone().flatten())
        .bind(changes.date_of_birth.is_some())
        .bind(changes.date_of_birth.flatten())
        .bind(changes.info.is_some())
        .bind(changes.info.clone().flatten())
        .fetch_optional(pool)
        .await
}

/// Soft-deletes a user: the row stays (so its email and username stay
/// taken) but every lookup above skips it. False when already deleted.
pub async fn soft_delete(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("UPDATE users SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .execute(pool)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// The balance of an undeleted user.
pub async fn balance(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<rust_decimal::Decimal>, sqlx::Error> {
    sqlx::query_scalar("SELECT balance FROM users WHERE id = $1 AND deleted_at IS NULL")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Which users a listing shows, by soft-deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deleted {
    #[default]
    Exclude,
    Include,
    Only,
}

/// Filters of the admin user listing; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Matches emails containing it, case-insensitively.
    pub email: Option<String>,
    /// Matches emails or usernames containing it, case-insensitively (the
    /// console's search box).
    pub email_or_username: Option<String>,
    pub role: Option<Role>,
    pub is_blocked: Option<bool>,
    pub is_active: Option<bool>,
    pub deleted: Deleted,
}

fn push_user_filter<'a>(query: &mut QueryBuilder<'a, Postgres>, filter: &'a UserFilter) {
    query.push(" WHERE true");
    if let Some(email) = &filter.email {
        // strpos, not LIKE: the needle needs no escaping of % and _.
        query
            .push(" AND strpos(email, lower(")
            .push_bind(email)
            .push(")) > 0");
    }
    if let Some(needle) = &filter.email_or_username {
        query
            .push(" AND (strpos(email, lower(")
            .push_bind(needle)
            .push(")) > 0 OR strpos(lower(username), lower(")
            .push_bind(needle)
            .push(")) > 0)");
    }
    if let Some(role) = filter.role {
        query.push(" AND account_role = ").push_bind(role);
    }
    if let Some(blocked) = filter.is_blocked {
        query.push(" AND is_blocked = ").push_bind(blocked);
    }
    if let Some(active) = filter.is_active {
        query.push(" AND is_active = ").push_bind(active);
    }
    query.push(match filter.deleted {
        Deleted::Exclude => " AND deleted_at IS NULL",
        Deleted::Include => "",
        Deleted::Only => " AND deleted_at IS NOT NULL",
    });
}

/// One page of the users matching `filter`, newest first, and how many match
/// in all.
pub async fn list(
    pool: &PgPool,
    filter: &UserFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<User>, i64), sqlx::Error> {
    let mut count = QueryBuilder::new("SELECT count(*) FROM users");
    push_user_filter(&mut count, filter);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
    let mut page = QueryBuilder::new(format!("SELECT {USER_COLUMNS} FROM users"));
    push_user_filter(&mut page, filter);
    page.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let users = page.build_query_as::<User>().fetch_all(pool).await?;
    Ok((users, total))
}

/// A user by id, deleted or not, locked until the transaction ends so that
/// administrative changes to one user happen one at a time (and a login in
/// flight waits for them: see [`login_gate`]).
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE");
    sqlx::query_as::<_, User>(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn set_blocked(
    conn: &mut PgConnection,
    id: Uuid,
    blocked: bool,
) -> Result<User, sqlx::Error> {
    let sql = format!("UPDATE users SET is_blocked = $2 WHERE id = $1 RETURNING {USER_COLUMNS}");
    sqlx::query_as::<_, User>(&sql)
        .bind(id)
        .bind(blocked)
        .fetch_one(conn)
        .await
}

/// Soft-deletes (`deleted`) or restores a user.
pub async fn set_deleted(
    conn: &mut PgConnection,
    id: Uuid,
    deleted: bool,
) -> Result<User, sqlx::Error> {
    let sql = format!(
        "UPDATE users SET deleted_at = CASE WHEN $2 THEN coalesce(deleted_at, now()) END \
         WHERE id = $1 RETURNING {USER_COLUMNS}"
    );
    sqlx::query_as::<_, User>(&sql)
        .bind(id)
        .bind(deleted)
        .fetch_one(conn)
        .await
}

pub async fn set_plan(
    conn: &mut PgConnection,
    id: Uuid,
    role: Role,
    subscription: Subscription,
    subscription_expires_at: Option<DateTime<Utc>>,
) -> Result<User, sqlx::Error> {
    let sql = format!(
        "UPDATE users SET account_role = $2, account_subscription = $3, subscription_expires_at = $4 \
         WHERE id = $1 RETURNING {USER_COLUMNS}"
    );
    sqlx::query_as::<_, User>(&sql)
        .bind(id)
        .bind(role)
        .bind(subscription)
        .bind(subscription_expires_at)
        .fetch_one(conn)
        .await
}

#[derive(Debug, thiserror::Error)]
pub enum BalanceError {
    #[error("the balance would go below zero")]
    Insufficient,
    #[error("the balance would exceed its maximum")]
    Overflow,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Adds `delta` to a live user's balance in one statement, so concurrent
/// changes never lose an update; the `users_balance_non_negative` check
/// refuses a result below zero. `None` when there is no such user.
pub async fn add_balance(
    pool: &PgPool,
    id: Uuid,
    delta: Decimal,
) -> Result<Option<Decimal>, BalanceError> {
    sqlx::query_scalar(
        "UPDATE users SET balance = balance + $2 WHERE id = $1 AND deleted_at IS NULL RETURNING balance",
    )
    .bind(id)
    .bind(delta)
    .fetch_optional(pool)
    .await
    .map_err(|e| {
        let db = e.as_database_error();
        if db.and_then(|d| d.constraint()) == Some("users_balance_non_negative") {
            BalanceError::Insufficient
        } else if db.and_then(|d| d.code()).as_deref() == Some("22003") {
            BalanceError::Overflow
        } else {
            BalanceError::Database(e)
        }
    })
}

/// What a new session must agree with, read after the session exists.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct LoginGate {
    pub is_blocked: bool,
    pub is_deleted: bool,
    pub account_role: Role,
    pub account_subscription: Subscription,
}

/// Reads a user's block/delete state and claims with `FOR KEY SHARE`, which
/// waits for an administrative change holding the row ([`lock`]) to commit.
/// Called once a login's session exists, it closes the race with a block:
/// either the change (and its ending of sessions) comes after this read, or
/// this read sees it.
pub async fn login_gate(pool: &PgPool, id: Uuid) -> Result<Option<LoginGate>, sqlx::Error> {
    sqlx::query_as(
        "SELECT is_blocked, deleted_at IS NOT NULL AS is_deleted, account_role, account_subscription \
         FROM users WHERE id = $1 FOR KEY SHARE",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}
