//! `tessera client create | list | rotate-secret | disable`: the operator's
//! side of the client registry. clap reads every flag through the
//! registry's own rules ([`super::model`]), so a bad value is a usage error
//! in the rule's words; the work is [`Clients`]'s, done as
//! [`Actor::Operator`] and audited like the admin API's. `main.rs` prints
//! the answers; every error is one line for it to print.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::error::ErrorKind;
use secrecy::ExposeSecret;
use serde::Serialize;

use super::model::{self, Scope, MAX_AUDIENCES, MAX_URIS};
use super::{
    AuthMethod, ClientChanges, ClientJwks, ClientKind, ClientRuleError, ClientSettings, ClientView,
    Clients, ClientsError, CreatedClient, GrantType, IdTokenSigning, Registry, RepoError, Scopes,
};
use crate::admin::Actor;
use crate::audit::AuditLog;
use crate::client::ClientInfo;
use crate::config::Config;
use crate::redis_client::RedisClient;
use crate::revocations::{FeedSettings, FeedWriter};

/// How long a command waits for its audit events to be written.
const AUDIT_FLUSH: Duration = Duration::from_secs(5);

/// The user agent the audit log shows for these commands.
const USER_AGENT: &str = "tessera client (command line)";

#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Register a client and print it as JSON, with its client_secret (when
    /// it authenticates with one) shown this once.
    Create(CreateArgs),
    /// Every client, one JSON object per line; never a secret.
    List,
    /// Give CLIENT_ID a new secret and print it this once; the current one
    /// keeps working until the next rotation or oauth.secret_grace_secs.
    RotateSecret { client_id: String },
    /// Disable CLIENT_ID: it gets no more tokens and the ones it holds stop
    /// working within a second. Prints the client as JSON.
    Disable { client_id: String },
}

/// The flags of `client create`: everything a client is registered with but
/// its id and secret, which tessera makes.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// The client's display name (at most 100 characters).
    #[arg(long, value_parser = model::name)]
    pub name: String,
    /// confidential (the default) or public.
    #[arg(long, value_parser = ClientKind::from_str)]
    pub kind: Option<ClientKind>,
    /// client_secret_basic (the default for a confidential client),
    /// client_secret_post, private_key_jwt (with --jwks-file) or none (a
    /// public client, and its default).
    #[arg(long, value_parser = AuthMethod::from_str)]
    pub auth_method: Option<AuthMethod>,
    /// A grant the client may use, repeatable: client_credentials,
    /// urn:ietf:params:oauth:grant-type:token-exchange, authorization_code,
    /// refresh_token, password. Default: client_credentials for a
    /// confidential client, authorization_code and refresh_token for a
    /// public one.
    #[arg(long = "grant-type", value_name = "GRANT_TYPE", value_parser = GrantType::from_str)]
    pub grant_types: Vec<GrantType>,
    /// A scope the client may ask for, repeatable.
    #[arg(long = "scope", value_name = "SCOPE", value_parser = Scope::parse)]
    pub scopes: Vec<Scope>,
    /// An audience its tokens may name, repeatable. Default: jwt.audience.
    #[arg(long = "audience", value_name = "AUDIENCE", value_parser = model::audience)]
    pub audiences: Vec<String>,
    /// A redirect URI, exact, repeatable: https, http on a loopback
    /// address, or (public clients) a private-use scheme.
    #[arg(long = "redirect-uri", value_name = "URI", value_parser = any_kind_redirect)]
    pub redirect_uris: Vec<String>,
    /// A URI RP-initiated logout may return to, repeatable; the redirect
    /// URI rules apply.
    #[arg(
        long = "post-logout-redirect-uri",
        value_name = "URI",
        value_parser = any_kind_redirect
    )]
    pub post_logout_redirect_uris: Vec<String>,
    /// private_key_jwt: a file holding the client's public keys, a JSON Web
    /// Key Set of Ed25519 or P-256 keys.
    #[arg(long, value_name = "PATH", value_parser = jwks_file)]
    pub jwks_file: Option<ClientJwks>,
    /// The client is the operator's own (no consent page).
    #[arg(long)]
    pub first_party: bool,
    /// The client must send DPoP proofs.
    #[arg(long)]
    pub dpop_bound: bool,
    /// Lifetime of its access tokens in seconds (1 to 86400). Default:
    /// jwt.access_ttl_secs.
    #[arg(long = "access-ttl", value_name = "SECS", value_parser = access_ttl)]
    pub access_ttl_secs: Option<u32>,
    /// How its ID tokens are signed: EdDSA or RS256.
    #[arg(long = "id-token-alg", value_name = "ALG", default_value = "EdDSA",
          value_parser = |s: &str| s.parse::<IdTokenSigning>())]
    pub id_token_signed_response_alg: IdTokenSigning,
}

/// Redirect URIs are checked against the client's kind once every flag is
/// read; while clap reads them, any form passes that some kind accepts.
fn any_kind_redirect(s: &str) -> Result<String, ClientRuleError> {
    model::redirect_uri(s, ClientKind::Public)
}

fn access_ttl(s: &str) -> Result<u32, ClientRuleError> {
    s.parse::<i64>()
        .map_err(|_| ClientRuleError::AccessTtl)
        .and_then(model::access_ttl)
}

fn jwks_file(path: &str) -> Result<ClientJwks, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let value = serde_json::from_str(&text).map_err(|_| ClientRuleError::Jwks.to_string())?;
    ClientJwks::parse(value).map_err(|e| e.to_string())
}

/// A usage error found after clap's own parse; `main` reports it as clap's.
fn usage(message: impl std::fmt::Display) -> anyhow::Error {
    clap::Error::raw(ErrorKind::ValueValidation, format!("{message}\n")).into()
}

fn bounded<T>(flag: &str, items: Vec<T>, max: usize) -> anyhow::Result<Vec<T>> {
    if items.len() > max {
        return Err(usage(format!(
            "too many values for '{flag}': {}",
            ClientRuleError::TooMany(max)
        )));
    }
    Ok(items)
}

fn redirect_uris(flag: &str, uris: Vec<String>, kind: ClientKind) -> anyhow::Result<Vec<String>> {
    for uri in &uris {
        model::redirect_uri(uri, kind)
            .map_err(|e| usage(format!("invalid value '{uri}' for '{flag} <URI>': {e}")))?;
    }
    bounded(flag, uris, MAX_URIS)
}

impl CreateArgs {
    /// The settings the flags name, with the defaults a registration gets
    /// and the rules between fields checked; a broken rule is a usage
    /// error.
    pub fn settings(self) -> anyhow::Result<ClientSettings> {
        let kind = self.kind.unwrap_or(ClientKind::Confidential);
        let auth_method = self.auth_method.unwrap_or(match kind {
            ClientKind::Confidential => AuthMethod::ClientSecretBasic,
            ClientKind::Public => AuthMethod::None,
        });
        let grant_types: BTreeSet<GrantType> = match (self.grant_types.is_empty(), kind) {
            (false, _) => self.grant_types.into_iter().collect(),
            (true, ClientKind::Confidential) => [GrantType::ClientCredentials].into(),
            (true, ClientKind::Public) => {
                [GrantType::AuthorizationCode, GrantType::RefreshToken].into()
            }
        };
        let scopes = Scopes::from_names(self.scopes.iter().map(Scope::as_str))
            .map_err(|e| usage(format!("too many values for '--scope': {e}")))?;
        let settings = ClientSettings {
            name: self.name,
            kind,
            auth_method,
            jwks: self.jwks_file,
            grant_types,
            scopes,
            audiences: bounded("--audience", self.audiences, MAX_AUDIENCES)?,
            redirect_uris: redirect_uris("--redirect-uri", self.redirect_uris, kind)?,
            post_logout_redirect_uris: redirect_uris(
                "--post-logout-redirect-uri",
                self.post_logout_redirect_uris,
                kind,
            )?,
            first_party: self.first_party,
            dpop_bound: self.dpop_bound,
            access_ttl_secs: self.access_ttl_secs,
            id_token_signed_response_alg: self.id_token_signed_response_alg,
        };
        settings.check().map_err(|e| usage(ClientsError::Rule(e)))?;
        Ok(settings)
    }
}

/// A client's new secret, shown this once.
#[derive(Serialize)]
pub struct NewSecret {
    pub client_id: String,
    pub client_secret: String,
}

/// The registry for one command, and its audit log's writer, which must
/// finish before the process exits.
struct Registrar {
    clients: Clients,
    audit_writer: tokio::task::JoinHandle<()>,
}

impl Registrar {
    /// A command that changes a client announces it in Redis (instances
    /// reload the registry; a disabled client's cut goes to the revocation
    /// feed), and the domain only logs when that fails: so `changes` first
    /// makes sure Redis answers, before anything is changed.
    async fn open(config: &Config, changes: bool) -> anyhow::Result<Self> {
        let pool = config.database.pool()?;
        let redis = Arc::new(RedisClient::new(&config.redis)?);
        if changes {
            redis
                .command::<String>(&redis::cmd("PING"))
                .await
                .map_err(|e| anyhow!("cannot reach Redis (redis.url / REDIS_URL): {e}"))?;
        }
        let registry = Registry::new(pool.clone(), redis.clone());
        let (audit, audit_writer) = AuditLog::start(pool.clone());
        let clients = Clients::new(
            pool,
            registry,
            audit,
            FeedWriter::new(redis, FeedSettings::from_config(config).retention),
            Duration::from_secs(config.oauth.secret_grace_secs),
        );
        Ok(Self {
            clients,
            audit_writer,
        })
    }

    /// Writes the audit events queued before the process exits.
    async fn close(self) {
        drop(self.clients);
        if tokio::time::timeout(AUDIT_FLUSH, self.audit_writer)
            .await
            .is_err()
        {
            tracing::warn!("audit events not written before the command ended");
        }
    }
}

fn command_line() -> ClientInfo {
    ClientInfo {
        ip: None,
        user_agent: USER_AGENT.to_owned(),
    }
}

/// A failure as one line; `client_id` names the client the command was
/// about.
fn one_line(e: ClientsError, client_id: Option<&str>) -> anyhow::Error {
    match (e, client_id) {
        (ClientsError::NotFound, Some(id)) => anyhow!("no client with id {id}"),
        (ClientsError::NoSecret, Some(id)) => {
            anyhow!("client {id} has no secret to rotate (it authenticates without one)")
        }
        (ClientsError::Repo(RepoError::Database(e)), _) => anyhow!(
            "cannot reach PostgreSQL (database.url / DATABASE_URL): {}",
            e.to_string().lines().next().unwrap_or_default()
        ),
        (other, _) => anyhow!("{other}"),
    }
}

/// `client create`: registers the client the flags describe.
pub async fn create(config: &Config, args: CreateArgs) -> anyhow::Result<CreatedClient> {
    let settings = args.settings()?;
    let registrar = Registrar::open(config, true).await?;
    let registered = registrar
        .clients
        .create(Actor::Operator, settings, Some(&command_line()))
        .await;
    registrar.close().await;
    let registered = registered
        .map_err(|e| one_line(e, None))
        .context("cannot register the client")?;
    Ok(CreatedClient::from(registered))
}

/// `client list`: every client, oldest first.
pub async fn list(config: &Config) -> anyhow::Result<Vec<ClientView>> {
    let registrar = Registrar::open(config, false).await?;
    let clients = registrar.clients.list(Actor::Operator).await;
    registrar.close().await;
    Ok(clients
        .map_err(|e| one_line(e, None))?
        .into_iter()
        .map(ClientView::from)
        .collect())
}

/// `client rotate-secret CLIENT_ID`.
pub async fn rotate_secret(config: &Config, client_id: &str) -> anyhow::Result<NewSecret> {
    let registrar = Registrar::open(config, true).await?;
    let secret = registrar
        .clients
        .rotate_secret(Actor::Operator, client_id, Some(&command_line()))
        .await;
    registrar.close().await;
    let secret = secret.map_err(|e| one_line(e, Some(client_id)))?;
    Ok(NewSecret {
        client_id: client_id.to_owned(),
        client_secret: secret.expose_secret().to_owned(),
    })
}

/// `client disable CLIENT_ID`: its live tokens die with it.
pub async fn disable(config: &Config, client_id: &str) -> anyhow::Result<ClientView> {
    let registrar = Registrar::open(config, true).await?;
    let changes = ClientChanges {
        disabled: Some(true),
        ..ClientChanges::default()
    };
    let client = registrar
        .clients
        .update(Actor::Operator, client_id, &changes, Some(&command_line()))
        .await;
    registrar.close().await;
    Ok(client.map_err(|e| one_line(e, Some(client_id)))?.into())
}
