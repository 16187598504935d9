//! The kit's SQL: tagged users in by `COPY`, read back by tag, and
//! hard-deleted by tag.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{LoadError, LoadTag};
use crate::users::{Role, Subscription};

/// A seeded user as a `COPY ... FROM STDIN` text row needs it.
pub struct NewLoadUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub username: &'a str,
}

/// How many users carry `tag` (a new seed of the tag numbers on from there).
pub async fn count(pool: &PgPool, tag: &LoadTag) -> Result<u64, sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE load_tag = $1")
        .bind(tag.as_str())
        .fetch_one(pool)
        .await?;
    Ok(count as u64)
}

/// Inserts `users` (REGULAR, FREE, active: the table's defaults) with one
/// `COPY`. Every value is made by the kit from letters, digits, `-`, `_`,
/// `@`, `.`, `$`, `=` and `,` (the hash), none of which COPY's text format
/// escapes. The unique indexes decide "taken", as for a registration.
pub async fn copy_in(
    conn: &mut PgConnection,
    tag: &LoadTag,
    password_hash: &str,
    users: &[NewLoadUser<'_>],
) -> Result<(), LoadError> {
    let mut rows = String::with_capacity(users.len() * (160 + password_hash.len()));
    for user in users {
        use std::fmt::Write as _;
        // Writing to a `String` cannot fail.
        let _ = writeln!(
            rows,
            "{}\t{}\t{}\t{password_hash}\t{tag}",
            user.id, user.email, user.username
        );
    }
    let copied = async {
        let mut copy = conn
            .copy_in_raw("COPY users (id, email, username, password_hash, load_tag) FROM STDIN")
            .await?;
        copy.send(rows.into_bytes()).await?;
        copy.finish().await
    };
    match copied.await {
        Ok(_) => Ok(()),
        Err(e) => match e.as_database_error().and_then(|d| d.constraint()) {
            Some("users_email_key" | "users_username_lower_key") => Err(LoadError::Taken),
            _ => Err(LoadError::Database(e)),
        },
    }
}

/// A tagged user who may log in, as `load tokens` mints sessions for it.
#[derive(sqlx::FromRow)]
pub struct TaggedUser {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub account_role: Role,
    pub account_subscription: Subscription,
}

/// Up to `limit` of the tag's live users (active, unblocked, not deleted)
/// with ids above `after`, by id: pages of a keyset walk.
pub async fn live_page(
    pool: &PgPool,
    tag: &LoadTag,
    after: Uuid,
    limit: i64,
) -> Result<Vec<TaggedUser>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, username, account_role, account_subscription FROM users \
         WHERE load_tag = $1 AND id > $2 AND is_active AND NOT is_blocked AND deleted_at IS NULL \
         ORDER BY id LIMIT $3",
    )
    .bind(tag.as_str())
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The password hash of one live user of the tag (the run shared one
/// password), `None` when the tag has none.
pub async fn one_hash(pool: &PgPool, tag: &LoadTag) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT password_hash FROM users \
         WHERE load_tag = $1 AND is_active AND NOT is_blocked AND deleted_at IS NULL LIMIT 1",
    )
    .bind(tag.as_str())
    .fetch_optional(pool)
    .await
}

/// Hard-deletes up to `limit` of the tag's users and the audit events about
/// them, returning their ids; the rows stay locked until the transaction
/// ends, so a login in flight for one of them waits (`login_gate`) and then
/// finds it gone.
pub async fn delete_page(
    conn: &mut PgConnection,
    tag: &LoadTag,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM users WHERE id IN \
         (SELECT id FROM users WHERE load_tag = $1 ORDER BY id LIMIT $2 FOR UPDATE) \
         AND load_tag = $1 RETURNING id",
    )
    .bind(tag.as_str())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    if !ids.is_empty() {
        sqlx::query("DELETE FROM audit_events WHERE subject_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
    }
    Ok(ids)
}
