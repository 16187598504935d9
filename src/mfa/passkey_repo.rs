//! Passkeys in PostgreSQL (`user_passkeys`; see the migration). The stored
//! passkey is webauthn-rs's `Passkey` as JSON; a credential id names one
//! passkey of one user (a unique index), so a registration is "taken" or
//! not by its insert alone.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// The unique index on `credential_id`.
const CREDENTIAL_TAKEN: &str = "user_passkeys_credential_id_key";

/// A passkey as listed: what its owner sees.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Listed {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A passkey as stored, for a ceremony.
pub struct Stored {
    pub id: Uuid,
    pub user_id: Uuid,
    pub passkey: Value,
}

pub async fn list(pool: &PgPool, user_id: Uuid) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, created_at FROM user_passkeys WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Every passkey of a user, as stored.
pub async fn all_of(pool: &PgPool, user_id: Uuid) -> Result<Vec<Stored>, sqlx::Error> {
    let rows: Vec<(Uuid, Value)> =
        sqlx::query_as("SELECT id, passkey FROM user_passkeys WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, passkey)| Stored {
            id,
            user_id,
            passkey,
        })
        .collect())
}

/// The passkey with this credential id, whoever's it is.
pub async fn by_credential(
    pool: &PgPool,
    credential_id: &[u8],
) -> Result<Option<Stored>, sqlx::Error> {
    let row: Option<(Uuid, Uuid, Value)> =
        sqlx::query_as("SELECT id, user_id, passkey FROM user_passkeys WHERE credential_id = $1")
            .bind(credential_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(id, user_id, passkey)| Stored {
        id,
        user_id,
        passkey,
    }))
}

/// Stores a new passkey; `None` when its credential is registered already
/// (to this user or another).
pub async fn insert(
    pool: &PgPool,
    user_id: Uuid,
    credential_id: &[u8],
    name: &str,
    passkey: &Value,
) -> Result<Option<Listed>, sqlx::Error> {
    let inserted = sqlx::query_as(
        "INSERT INTO user_passkeys (id, user_id, credential_id, name, passkey) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id, name, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(credential_id)
    .bind(name)
    .bind(passkey)
    .fetch_one(pool)
    .await;
    match inserted {
        Ok(listed) => Ok(Some(listed)),
        Err(e) => match e.as_database_error().and_then(|d| d.constraint()) {
            Some(CREDENTIAL_TAKEN) => Ok(None),
            _ => Err(e),
        },
    }
}

/// Renames one of the user's passkeys; `None` when it has none of that id.
pub async fn rename(
    pool: &PgPool,
    user_id: Uuid,
    id: Uuid,
    name: &str,
) -> Result<Option<Listed>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE user_passkeys SET name = $3 WHERE id = $1 AND user_id = $2 \
         RETURNING id, name, created_at",
    )
    .bind(id)
    .bind(user_id)
    .bind(name)
    .fetch_optional(pool)
    .await
}

/// Records a use of a passkey, and stores it again (its counter, its
/// backup flags) when the authentication moved them: one statement, which
/// never puts back a counter lower than the one stored (two authentications
/// finishing out of order keep the higher).
pub async fn used(
    pool: &PgPool,
    id: Uuid,
    updated: Option<(&Value, u32)>,
) -> Result<(), sqlx::Error> {
    let (passkey, counter) = updated.unzip();
    sqlx::query(
        "UPDATE user_passkeys SET last_used_at = now(), \
             passkey = CASE WHEN $2::jsonb IS NOT NULL \
                             AND (passkey #>> '{cred,counter}')::bigint <= $3 \
                            THEN $2::jsonb ELSE passkey END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(passkey)
    .bind(counter.map(i64::from))
    .execute(pool)
    .await?;
    Ok(())
}

/// What a removal came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// The user has no passkey of that id.
    NotFound,
    /// It is the user's last second factor, and no fresh check was shown.
    LastFactor,
}

/// Removes one of the user's passkeys. Without `proven` (a second factor
/// checked just now) the last factor stays: the user's passkeys are locked
/// first, so of two removals at once the second sees the first's outcome.
pub async fn remove(
    pool: &PgPool,
    user_id: Uuid,
    id: Uuid,
    proven: bool,
) -> Result<Removal, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let ids: Vec<(Uuid,)> =
        sqlx::query_as("SELECT id FROM user_passkeys WHERE user_id = $1 FOR UPDATE")
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
    if !ids.iter().any(|(found,)| *found == id) {
        return Ok(Removal::NotFound);
    }
    if !proven && ids.len() == 1 {
        let (totp,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        if !totp {
            return Ok(Removal::LastFactor);
        }
    }
    sqlx::query("DELETE FROM user_passkeys WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Removal::Removed)
}

/// Which factors a sign-in may finish with: a confirmed authenticator app,
/// any passkey; one query.
pub async fn factors(pool: &PgPool, user_id: Uuid) -> Result<(bool, bool), sqlx::Error> {
    sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
                EXISTS (SELECT 1 FROM user_passkeys WHERE user_id = $1)",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await
}
