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
