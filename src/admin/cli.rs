//! The operator's commands: `tessera user create-admin`, `tessera user
//! set-role` and `tessera db reset`. `main.rs` parses the arguments; the
//! work is here. Every error is one line for `main` to print.

use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Actor, Admin, AdminUser, UserChanges};
use crate::audit::{AuditEvent, AuditLog};
use crate::client::ClientInfo;
use crate::config::Config;
use crate::redis_client::RedisClient;
use crate::sessions::SessionStore;
use crate::tokens::opaque::TokenKeys;
use crate::users::repo::{self, InsertError, NewUser};
use crate::users::{Email, NewPassword, PasswordHasher, Role, Username};

const UNREACHABLE: &str = "cannot reach PostgreSQL (database.url / DATABASE_URL)";
/// How long a command waits for its audit events to be written.
const AUDIT_FLUSH: Duration = Duration::from_secs(5);

/// How `set-role` names its user.
#[derive(Debug, Clone)]
pub enum UserSelector {
    Email(String),
    Username(String),
    Id(Uuid),
}

impl fmt::Display for UserSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserSelector::Email(email) => write!(f, "email {email}"),
            UserSelector::Username(username) => write!(f, "username {username}"),
            UserSelector::Id(id) => write!(f, "id {id}"),
        }
    }
}

/// The password for `create-admin`: the first line of standard input when it
/// is not a terminal (scripts, CI), else typed twice at a prompt without echo.
pub fn read_password() -> anyhow::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let second =
            rpassword::prompt_password("Repeat password: ").context("cannot read the password")?;
        if first != second {
            bail!("the passwords do not match");
        }
        return Ok(first.into());
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if password.is_empty() {
        bail!("no password given on standard input");
    }
    Ok(password.to_owned().into())
}

/// Writes the events queued on a command's audit log before it exits.
async fn flush(writer: tokio::task::JoinHandle<()>) {
    if tokio::time::timeout(AUDIT_FLUSH, writer).await.is_err() {
        tracing::warn!("audit events not written before the command ended");
    }
}

/// Creates an active ADMIN account; the registration rules apply.
pub async fn create_admin(
    config: &Config,
    email: &str,
    username: &str,
    password: SecretString,
) -> anyhow::Result<Uuid> {
    let email = Email::parse(email).map_err(|e| anyhow!("invalid email: {e}"))?;
    let username = Username::parse(username).map_err(|e| anyhow!("invalid username: {e}"))?;
    let password = NewPassword::parse(
        password.expose_secret(),
        Some(email.as_str()),
        Some(username.as_str()),
    )
    .map_err(|e| anyhow!("password rejected: {e}"))?;
    let (email, username) = (email.as_str(), username.as_str());
    let pool = config.database.pool()?;
    let password_hash = PasswordHasher::new(1)?.hash(password.into_secret()).await?;
    let mut tx = pool.begin().await.context(UNREACHABLE)?;
    let user = repo::insert(
        &mut *tx,
        NewUser {
            email,
            username,
            password_hash: &password_hash,
            is_active: true,
        },
    )
    .await
    .map_err(|e| match e {
        InsertError::EmailTaken => anyhow!("a user with email {email} already exists"),
        InsertError::UsernameTaken => anyhow!("a user with username {username} already exists"),
        InsertError::Database(e) => anyhow::Error::new(e).context("cannot create the user"),
    })?;
    repo::set_plan(
        &mut tx,
        user.id,
        Role::Admin,
        user.account_subscription,
        user.subscription_expires_at,
    )
    .await
    .context("cannot make the user an admin")?;
    tx.commit().await.context("cannot create the user")?;
    let (audit, writer) = AuditLog::start(pool);
    audit.record(
        AuditEvent::new("user_created", Some(user.id))
            .by(None)
            .with_details(serde_json::json!({ "via": "cli", "role": Role::Admin })),
    );
    drop(audit);
    flush(writer).await;
    Ok(user.id)
}

/// Sets a user's role, and the role carried by their live sessions.
pub async fn set_role(
    config: &Config,
    who: &UserSelector,
    role: Role,
) -> anyhow::Result<AdminUser> {
    let pool = config.database.pool()?;
    let user = match who {
        UserSelector::Email(email) => repo::find_by_email(&pool, email).await,
        UserSelector::Username(username) => repo::find_by_username(&pool, username).await,
        UserSelector::Id(id) => repo::find_by_id(&pool, *id).await,
    }
    .context(UNREACHABLE)?
    .ok_or_else(|| anyhow!("no user with {who}"))?;
    let redis = Arc::new(RedisClient::new(&config.redis)?);
    let keys = TokenKeys::from_config(&config.session, config.is_production(), &redis).await?;
    let sessions = SessionStore::from_config(config, redis, keys);
    let (audit, writer) = AuditLog::start(pool.clone());
    let admin = Admin::new(pool, Arc::new(sessions), audit);
    let changes = UserChanges {
        role: Some(role),
        ..UserChanges::default()
    };
    let updated = admin
        .update(Actor::Operator, user.id, &changes, &ClientInfo::default())
        .await;
    drop(admin);
    flush(writer).await;
    updated.context("cannot set the role")
}

/// Drops the `public` schema (every table, type and the migration history)
/// and applies the migrations again. Refuses unless `confirmed`.
pub async fn reset_database(config: &Config, confirmed: bool) -> anyhow::Result<()> {
    if !confirmed {
        bail!("refusing to reset the database without --yes (it drops every table and all data)");
    }
    let pool: PgPool = config.database.pool()?;
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .execute(&pool)
        .await
        .context(
            "cannot drop the schema (is PostgreSQL reachable at database.url / DATABASE_URL?)",
        )?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("cannot apply migrations")?;
    Ok(())
}
