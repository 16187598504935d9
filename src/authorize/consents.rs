//! What users allowed third-party clients (`oauth_consents`): a consent
//! page is shown again only for a scope not granted before.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// One client a user allowed, and what.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Consent {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// The scopes `user_id` allowed `client_id`, if any.
pub async fn granted(
    pool: &PgPool,
    user_id: Uuid,
    client_id: &str,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    sqlx::query_scalar("SELECT scopes FROM oauth_consents WHERE user_id = $1 AND client_id = $2")
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(pool)
        .await
}

/// Adds `scopes` to what `user_id` allowed `client_id` (one statement: two
/// consents at once both land).
pub async fn grant(
    pool: &PgPool,
    user_id: Uuid,
    client_id: &str,
    scopes: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_consents (user_id, client_id, scopes) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, client_id) DO UPDATE SET \
         scopes = ARRAY(SELECT DISTINCT unnest(oauth_consents.scopes || EXCLUDED.scopes) ORDER BY 1), \
         granted_at = now()",
    )
    .bind(user_id)
    .bind(client_id)
    .bind(scopes)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn list(pool: &PgPool, user_id: Uuid) -> Result<Vec<Consent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT client_id, scopes, granted_at FROM oauth_consents WHERE user_id = $1 \
         ORDER BY granted_at DESC, client_id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Forgets a consent; false when there was none.
pub async fn revoke(pool: &PgPool, user_id: Uuid, client_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM oauth_consents WHERE user_id = $1 AND client_id = $2")
        .bind(user_id)
        .bind(client_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
