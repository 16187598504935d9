//! SQL for the `oauth_clients` table. Rows are read into [`StoredClient`]
//! and parsed by the same rules a registration passes, so a hand-edited
//! row that breaks them is reported, not served.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use super::model::{
    AuthMethod, Client, ClientJwks, ClientKind, ClientRuleError, ClientSettings, GrantType,
    IdTokenSigning, Scopes,
};
use super::secret::Digest;

const COLUMNS: &str = "client_id, name, kind, auth_method, secret_hash, previous_secret_hash, \
    previous_secret_expires_at, jwks, grant_types, scopes, audiences, redirect_uris, \
    post_logout_redirect_uris, first_party, dpop_bound, access_ttl_secs, disabled, \
    id_token_signed_response_alg, tokens_not_before, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    client_id: String,
    name: String,
    kind: String,
    auth_method: String,
    secret_hash: Option<Vec<u8>>,
    previous_secret_hash: Option<Vec<u8>>,
    previous_secret_expires_at: Option<DateTime<Utc>>,
    jwks: Option<serde_json::Value>,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    audiences: Vec<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    first_party: bool,
    dpop_bound: bool,
    access_ttl_secs: Option<i32>,
    disabled: bool,
    id_token_signed_response_alg: String,
    tokens_not_before: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A client with its secret digests, as the registry keeps it.
#[derive(Debug, Clone)]
pub struct StoredClient {
    pub client: Client,
    pub secret: Option<Digest>,
    pub previous_secret: Option<(Digest, DateTime<Utc>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("client {id}: stored {field} breaks a rule: {why}")]
    BadRow {
        id: String,
        field: &'static str,
        why: ClientRuleError,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn digest(bytes: Option<Vec<u8>>) -> Option<Digest> {
    bytes.and_then(|bytes| Digest::try_from(bytes.as_slice()).ok())
}

impl TryFrom<Row> for StoredClient {
    type Error = RepoError;

    fn try_from(row: Row) -> Result<Self, RepoError> {
        let id = row.client_id.clone();
        let bad = |field: &'static str| {
            let id = id.clone();
            move |why| RepoError::BadRow { id, field, why }
        };
        let grant_types = row
            .grant_types
            .iter()
            .map(|g| g.parse::<GrantType>())
            .collect::<Result<BTreeSet<_>, _>>()
            .map_err(bad("grant_types"))?;
        let settings = ClientSettings {
            name: row.name,
            kind: row.kind.parse::<ClientKind>().map_err(bad("kind"))?,
            auth_method: row
                .auth_method
                .parse::<AuthMethod>()
                .map_err(bad("auth_method"))?,
            jwks: row
                .jwks
                .map(ClientJwks::parse)
                .transpose()
                .map_err(bad("jwks"))?,
            grant_types,
            scopes: Scopes::from_names(row.scopes.iter().map(String::as_str))
                .map_err(bad("scopes"))?,
            audiences: row.audiences,
            redirect_uris: row.redirect_uris,
            post_logout_redirect_uris: row.post_logout_redirect_uris,
            first_party: row.first_party,
            dpop_bound: row.dpop_bound,
            access_ttl_secs: row.access_ttl_secs.and_then(|s| u32::try_from(s).ok()),
            id_token_signed_response_alg: row
                .id_token_signed_response_alg
                .parse::<IdTokenSigning>()
                .map_err(bad("id_token_signed_response_alg"))?,
        };
        let secret = digest(row.secret_hash);
        let previous_secret = digest(row.previous_secret_hash).zip(row.previous_secret_expires_at);
        Ok(StoredClient {
            client: Client {
                client_id: row.client_id,
                settings,
                disabled: row.disabled,
                has_secret: secret.is_some(),
                previous_secret_expires_at: previous_secret.map(|(_, at)| at),
                tokens_not_before: u64::try_from(row.tokens_not_before).unwrap_or(0),
                created_at: row.created_at,
                updated_at: row.updated_at,
            },
            secret,
            previous_secret,
        })
    }
}

fn texts<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

type ClientQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, Row, sqlx::postgres::PgArguments>;

/// The settings a change may make, bound in this order after what `query`
/// bound before them: name, jwks, grant_types, scopes, audiences,
/// redirect_uris, post_logout_redirect_uris, first_party, dpop_bound,
/// access_ttl_secs, id_token_signed_response_alg.
fn bind_settings<'q>(query: ClientQuery<'q>, settings: &'q ClientSettings) -> ClientQuery<'q> {
    query
        .bind(&settings.name)
        .bind(settings.jwks.as_ref().map(ClientJwks::to_json))
        .bind(texts(settings.grant_types.iter().map(|g| g.as_str())))
        .bind(settings.scopes.to_vec())
        .bind(&settings.audiences)
        .bind(&settings.redirect_uris)
        .bind(&settings.post_logout_redirect_uris)
        .bind(settings.first_party)
        .bind(settings.dpop_bound)
        .bind(settings.access_ttl_secs.map(|s| s as i32))
        .bind(settings.id_token_signed_response_alg.as_str())
}

pub async fn insert(
    pool: &PgPool,
    client_id: &str,
    settings: &ClientSettings,
    secret: Option<Digest>,
) -> Result<StoredClient, RepoError> {
    let sql = format!(
        "INSERT INTO oauth_clients (client_id, name, jwks, grant_types, scopes, audiences, \
         redirect_uris, post_logout_redirect_uris, first_party, dpop_bound, access_ttl_secs, \
         id_token_signed_response_alg, kind, auth_method, secret_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         RETURNING {COLUMNS}"
    );
    let row: Row = bind_settings(sqlx::query_as(&sql).bind(client_id), settings)
        .bind(settings.kind.as_str())
        .bind(settings.auth_method.as_str())
        .bind(secret.map(|d| d.to_vec()))
        .fetch_one(pool)
        .await?;
    row.try_into()
}

/// Every client, for the registry's cache and the listings.
pub async fn all(pool: &PgPool) -> Result<Vec<StoredClient>, RepoError> {
    let sql = format!("SELECT {COLUMNS} FROM oauth_clients ORDER BY created_at, client_id");
    let rows: Vec<Row> = sqlx::query_as(&sql).fetch_all(pool).await?;
    rows.into_iter().map(StoredClient::try_from).collect()
}

/// One client.
pub async fn find<'e>(
    db: impl PgExecutor<'e>,
    client_id: &str,
) -> Result<Option<StoredClient>, RepoError> {
    one(db, "", client_id).await
}

/// One client, locked for the caller's transaction.
pub async fn lock<'e>(
    db: impl PgExecutor<'e>,
    client_id: &str,
) -> Result<Option<StoredClient>, RepoError> {
    one(db, " FOR UPDATE", client_id).await
}

async fn one<'e>(
    db: impl PgExecutor<'e>,
    lock: &str,
    client_id: &str,
) -> Result<Option<StoredClient>, RepoError> {
    let sql = format!("SELECT {COLUMNS} FROM oauth_clients WHERE client_id = $1{lock}");
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(client_id)
        .fetch_optional(db)
        .await?;
    row.map(StoredClient::try_from).transpose()
}

pub async fn update<'e>(
    db: impl PgExecutor<'e>,
    client_id: &str,
    settings: &ClientSettings,
    disabled: bool,
    tokens_not_before: u64,
) -> Result<StoredClient, RepoError> {
    let sql = format!(
        "UPDATE oauth_clients SET name = $2, jwks = $3, grant_types = $4, scopes = $5, \
         audiences = $6, redirect_uris = $7, post_logout_redirect_uris = $8, first_party = $9, \
         dpop_bound = $10, access_ttl_secs = $11, id_token_signed_response_alg = $12, \
         disabled = $13, tokens_not_before = $14 \
         WHERE client_id = $1 RETURNING {COLUMNS}"
    );
    let row: Row = bind_settings(sqlx::query_as(&sql).bind(client_id), settings)
        .bind(disabled)
        .bind(tokens_not_before as i64)
        .fetch_one(db)
        .await?;
    row.try_into()
}

/// Makes `secret` the current one and the current one the previous,
/// live until `previous_expires_at`; the one before dies. Only for a
/// client that has a secret.
pub async fn rotate_secret(
    pool: &PgPool,
    client_id: &str,
    secret: Digest,
    previous_expires_at: DateTime<Utc>,
) -> Result<Option<StoredClient>, RepoError> {
    let sql = format!(
        "UPDATE oauth_clients SET previous_secret_hash = secret_hash, \
         previous_secret_expires_at = $3, secret_hash = $2 \
         WHERE client_id = $1 AND secret_hash IS NOT NULL RETURNING {COLUMNS}"
    );
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(client_id)
        .bind(secret.to_vec())
        .bind(previous_expires_at)
        .fetch_optional(pool)
        .await?;
    row.map(StoredClient::try_from).transpose()
}

/// Ends the previous secret now.
pub async fn drop_previous_secret(
    pool: &PgPool,
    client_id: &str,
) -> Result<Option<StoredClient>, RepoError> {
    let sql = format!(
        "UPDATE oauth_clients SET previous_secret_hash = NULL, previous_secret_expires_at = NULL \
         WHERE client_id = $1 RETURNING {COLUMNS}"
    );
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(client_id)
        .fetch_optional(pool)
        .await?;
    row.map(StoredClient::try_from).transpose()
}

pub async fn delete<'e>(db: impl PgExecutor<'e>, client_id: &str) -> Result<bool, RepoError> {
    let done = sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
        .bind(client_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
