//! SQL for the `users` table.

use sqlx::PgPool;
use uuid::Uuid;

use super::model::User;

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
pub async fn insert(pool: &PgPool, user: NewUser<'_>) -> Result<User, InsertError> {
    let sql = format!(
        "INSERT INTO users (email, username, password_hash, is_active) VALUES ($1, $2, $3, $4) RETURNING {USER_COLUMNS}"
    );
    sqlx::query_as::<_, User>(&sql)
        .bind(user.email)
        .bind(user.username)
        .bind(user.password_hash)
        .bind(user.is_active)
        .fetch_one(pool)
        .await
        .map_err(
            |e| match e.as_database_error().and_then(|d| d.constraint()) {
                Some("users_email_key") => InsertError::EmailTaken,
                Some("users_username_lower_key") => InsertError::UsernameTaken,
                _ => InsertError::Database(e),
            },
        )
}

/// A user that has not been deleted, by email (any case).
pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<Option<User>, sqlx::Error> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE email = lower($1) AND deleted_at IS NULL");
    sqlx::query_as::<_, User>(&sql)
        .bind(email)
        .fetch_optional(pool)
        .await
}

/// A user that has not been deleted, by username (any case).
pub async fn find_by_username(pool: &PgPool, username: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1) AND deleted_at IS NULL"
    );
    sqlx::query_as::<_, User>(&sql)
        .bind(username)
        .fetch_optional(pool)
        .await
}

/// A user that has not been deleted, by id.
pub async fn find_by_id(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL");
    sqlx::query_as::<_, User>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Lower-cased usernames (deleted users' included: they stay taken) that are
/// `base` itself or `base` followed by digits.
pub async fn usernames_like(pool: &PgPool, base: &str) -> Result<Vec<String>, sqlx::Error> {
    // `base` passed the username rules, so it holds only [A-Za-z0-9_-]:
    // nothing in it is special to a regular expression.
    let pattern = format!("^{}[0-9]*$", base.to_lowercase());
    sqlx::query_scalar("SELECT lower(username) FROM users WHERE lower(username) ~ $1")
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
         updated AS (UPDATE users SET is_active = true FROM target \
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
