//! The second factors in PostgreSQL (`user_totp`, `user_recovery_codes`;
//! see the migration). Every "only once" is one conditional statement, so
//! concurrent requests see one winner.

use sqlx::PgPool;
use uuid::Uuid;

/// A user's authenticator app as stored.
pub struct StoredTotp {
    pub sealed: Vec<u8>,
    pub confirmed: bool,
    pub last_step: Option<i64>,
}

pub async fn totp(pool: &PgPool, user_id: Uuid) -> Result<Option<StoredTotp>, sqlx::Error> {
    let row: Option<(Vec<u8>, bool, Option<i64>)> = sqlx::query_as(
        "SELECT secret, confirmed_at IS NOT NULL, last_step FROM user_totp WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(sealed, confirmed, last_step)| StoredTotp {
        sealed,
        confirmed,
        last_step,
    }))
}

/// Whether the user has a confirmed factor, and how many recovery codes
/// are left unused: one query.
pub async fn overview(pool: &PgPool, user_id: Uuid) -> Result<(bool, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
                (SELECT count(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL)",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await
}

/// Starts (or restarts) an enrolment with a new sealed secret; `false`
/// when a confirmed authenticator exists (it must be removed first).
pub async fn start_totp(pool: &PgPool, user_id: Uuid, sealed: &[u8]) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO user_totp (user_id, secret) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, created_at = now(), last_step = NULL \
         WHERE user_totp.confirmed_at IS NULL",
    )
    .bind(user_id)
    .bind(sealed)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Confirms the pending enrolment whose secret is `sealed` (not one that
/// replaced it meanwhile), its first code's `step` used up, and replaces
/// the recovery codes with `hashes`, in one transaction; `false` when that
/// enrolment is no longer pending.
pub async fn confirm_totp(
    pool: &PgPool,
    user_id: Uuid,
    sealed: &[u8],
    step: i64,
    hashes: &[Vec<u8>],
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let confirmed = sqlx::query(
        "UPDATE user_totp SET confirmed_at = now(), last_step = $3 \
         WHERE user_id = $1 AND secret = $2 AND confirmed_at IS NULL",
    )
    .bind(user_id)
    .bind(sealed)
    .bind(step)
    .execute(&mut *tx)
    .await?;
    if confirmed.rows_affected() != 1 {
        return Ok(false);
    }
    replace_codes(&mut tx, user_id, hashes).await?;
    tx.commit().await?;
    Ok(true)
}

async fn replace_codes(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    hashes: &[Vec<u8>],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO user_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])",
    )
    .bind(user_id)
    .bind(hashes)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Replaces the recovery codes of a user whose authenticator is confirmed;
/// `false` when there is none (codes go with a factor).
pub async fn replace_recovery_codes(
    pool: &PgPool,
    user_id: Uuid,
    hashes: &[Vec<u8>],
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Locks the factor's row, so a removal in between waits or is seen.
    let confirmed: Option<(Uuid,)> = sqlx::query_as(
        "SELECT user_id FROM user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL FOR UPDATE",
    )
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    if confirmed.is_none() {
        return Ok(false);
    }
    replace_codes(&mut tx, user_id, hashes).await?;
    tx.commit().await?;
    Ok(true)
}

/// Accepts a code of time `step`: `true` for exactly one caller, and only
/// if `step` is after the last one accepted (RFC 6238 §5.2).
pub async fn accept_step(pool: &PgPool, user_id: Uuid, step: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE user_totp SET last_step = $2 \
         WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)",
    )
    .bind(user_id)
    .bind(step)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses a recovery code up: `true` for exactly one caller, while unused.
pub async fn use_recovery_code(
    pool: &PgPool,
    user_id: Uuid,
    hash: &[u8],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE user_recovery_codes SET used_at = now() \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(hash)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes the authenticator (pending or confirmed) and the recovery codes
/// with it; `true` when there was one.
pub async fn remove_totp(pool: &PgPool, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let removed = sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(removed.rows_affected() == 1)
}

/// What a reset removed.
pub struct Removed {
    pub totp: bool,
    pub recovery_codes: u64,
    pub passkeys: u64,
}

/// Removes every factor of a user, on `tx` (the caller's transaction, which
/// holds the user's row lock): the authenticator, pending or confirmed,
/// every recovery code and every passkey.
pub async fn reset(tx: &mut sqlx::PgConnection, user_id: Uuid) -> Result<Removed, sqlx::Error> {
    let totp = sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let codes = sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let passkeys = sqlx::query("DELETE FROM user_passkeys WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    Ok(Removed {
        totp: totp.rows_affected() == 1,
        recovery_codes: codes.rows_affected(),
        passkeys: passkeys.rows_affected(),
    })
}
