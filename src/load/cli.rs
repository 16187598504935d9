//! `tessera load seed | tokens | purge`: `main.rs` parses the flags; the
//! work is the kit's. Every error is one line for `main` to print.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use futures::{Stream, StreamExt};

use super::{
    Batch, LoadDeps, LoadError, LoadKit, LoadSettings, LoadTag, SeedOptions, TokensOptions,
    CLI_BOUNDS,
};
use crate::audit::AuditLog;
use crate::client::ClientInfo;
use crate::config::Config;
use crate::redis_client::RedisClient;
use crate::sessions::SessionStore;
use crate::tokens::opaque::TokenKeys;
use crate::tokens::{KeySet, TokenIssuer};
use crate::users::{NewPassword, PasswordHasher};
use crate::validation::{all, FieldError, ValidationErrors, RULE_PREFIX};

/// How long a command waits for its audit events to be written.
const AUDIT_FLUSH: Duration = Duration::from_secs(5);

/// The user agent seeded sessions list (`GET /users/me/sessions`).
const USER_AGENT: &str = "tessera load (command line)";

/// Where the NDJSON goes: `-` for standard output, else a file.
enum Output {
    Stdout,
    File(PathBuf),
}

impl Output {
    fn parse(raw: &str) -> Self {
        if raw == "-" {
            Output::Stdout
        } else {
            Output::File(raw.into())
        }
    }

    fn open(&self) -> anyhow::Result<Box<dyn Write>> {
        Ok(match self {
            Output::Stdout => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            Output::File(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            )),
        })
    }
}

/// What `load seed` and `load tokens` share.
#[derive(clap::Args)]
pub struct SessionFlags {
    /// Sessions per user (default 1).
    #[arg(long)]
    pub sessions_per_user: Option<i64>,
    /// Access-token lifetime in seconds (at most load.max_access_ttl_secs).
    #[arg(long)]
    pub access_ttl: Option<i64>,
    /// Where the NDJSON goes: a file, or - for standard output.
    #[arg(long, default_value = "-")]
    pub output: String,
}

/// The flags of `load seed`.
#[derive(clap::Args)]
pub struct SeedArgs {
    /// How many users.
    #[arg(long)]
    pub users: i64,
    /// The run's tag (1-16 of a-z, 0-9); random when omitted, printed on
    /// stderr. Seeding a tag again adds users to it.
    #[arg(long)]
    pub tag: Option<String>,
    /// Every user's password; one random strong password when omitted (it
    /// is in every line).
    #[arg(long)]
    pub password: Option<String>,
    #[command(flatten)]
    pub sessions: SessionFlags,
}

/// The flags of `load tokens`.
#[derive(clap::Args)]
pub struct TokensArgs {
    #[arg(long)]
    pub tag: String,
    /// The users' password, checked and written in each line; without it
    /// the lines carry "password": null (no password is stored).
    #[arg(long)]
    pub password: Option<String>,
    #[command(flatten)]
    pub sessions: SessionFlags,
}

impl SeedArgs {
    /// The kit's rules, every broken one at once, flags named as the HTTP
    /// body's fields are.
    fn parse(self, kit: &LoadKit) -> Result<SeedOptions, ValidationErrors> {
        let limits = kit.limits(CLI_BOUNDS);
        let (users, sessions_per_user, tag, password, access_ttl) = all((
            flag("users", limits.users(self.users)),
            flag(
                "sessions_per_user",
                limits.sessions_per_user(self.sessions.sessions_per_user),
            ),
            flag("tag", self.tag.as_deref().map(LoadTag::parse).transpose()),
            flag(
                "password",
                self.password
                    .as_deref()
                    .map(|p| NewPassword::parse(p, None, None))
                    .transpose(),
            ),
            flag("access_ttl", limits.access_ttl(self.sessions.access_ttl)),
        ))?;
        limits
            .seed(users, sessions_per_user, tag, password, access_ttl)
            .map_err(|e| FieldError::rule("sessions_per_user", e.to_string()).into())
    }
}

impl TokensArgs {
    fn parse(self, kit: &LoadKit) -> Result<TokensOptions, ValidationErrors> {
        let limits = kit.limits(CLI_BOUNDS);
        let (tag, sessions_per_user, access_ttl) = all((
            flag("tag", LoadTag::parse(&self.tag)),
            flag(
                "sessions_per_user",
                limits.sessions_per_user(self.sessions.sessions_per_user),
            ),
            flag("access_ttl", limits.access_ttl(self.sessions.access_ttl)),
        ))?;
        Ok(TokensOptions {
            tag,
            sessions_per_user,
            password: self.password.map(Into::into),
            access_ttl,
        })
    }
}

fn flag<T>(name: &str, checked: Result<T, impl std::fmt::Display>) -> Result<T, FieldError> {
    checked.map_err(|e| FieldError::rule(name, e.to_string()))
}

/// Problems as one line, naming flags as they are typed.
fn invalid_options(errors: ValidationErrors) -> anyhow::Error {
    let problems: Vec<String> = errors
        .0
        .iter()
        .map(|error| {
            let message = error.message.strip_prefix(RULE_PREFIX);
            format!(
                "--{}: {}",
                error.field.replace('_', "-"),
                message.unwrap_or(&error.message)
            )
        })
        .collect();
    anyhow!("invalid options: {}", problems.join("; "))
}

async fn kit(config: &Config) -> anyhow::Result<(Arc<LoadKit>, tokio::task::JoinHandle<()>)> {
    let keys = KeySet::load_or_generate(&config.jwt.keys_dir, !config.is_production())?;
    let pool = config.database.pool()?;
    let redis = Arc::new(RedisClient::new(&config.redis)?);
    let token_keys =
        TokenKeys::from_config(&config.session, config.is_production(), &redis).await?;
    let sessions = Arc::new(SessionStore::from_config(config, redis, token_keys));
    let tokens = Arc::new(TokenIssuer::new(
        keys,
        config.jwt.issuer.clone(),
        config.jwt.audience.clone(),
        Duration::from_secs(config.jwt.access_ttl_secs),
    ));
    let (audit, writer) = AuditLog::start(pool.clone());
    let kit = LoadKit::new(LoadDeps {
        pool,
        hasher: PasswordHasher::new(config.password_hashing.max_concurrency)?,
        sessions,
        tokens,
        audit,
        settings: LoadSettings::from_config(config),
    });
    Ok((Arc::new(kit), writer))
}

/// Waits for the audit writer once the kit (its last sender) is gone.
async fn flush(kit: Arc<LoadKit>, writer: tokio::task::JoinHandle<()>) {
    drop(kit);
    if tokio::time::timeout(AUDIT_FLUSH, writer).await.is_err() {
        tracing::warn!("audit events not written before the command ended");
    }
}

/// The client the command's sessions and audit events name.
fn command_line() -> ClientInfo {
    ClientInfo {
        ip: None,
        user_agent: USER_AGENT.to_owned(),
    }
}

/// A failure as one line.
fn one_line(e: LoadError) -> anyhow::Error {
    match e {
        LoadError::Database(e) => anyhow!(
            "cannot reach PostgreSQL (database.url / DATABASE_URL): {}",
            first_line(&e.to_string())
        ),
        LoadError::Sessions(e) => anyhow!(
            "cannot reach Redis (redis.url / REDIS_URL): {}",
            first_line(&e.to_string())
        ),
        other => anyhow!("{other}"),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Writes every batch to `out`; the users and sessions made.
async fn drain(
    batches: Result<impl Stream<Item = Result<Batch, LoadError>>, LoadError>,
    mut out: Box<dyn Write>,
) -> anyhow::Result<(u64, u64)> {
    let (mut users, mut sessions) = (0, 0);
    let mut batches = std::pin::pin!(batches.map_err(one_line)?);
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(one_line)?;
        out.write_all(&batch.ndjson)
            .context("cannot write the output")?;
        users += batch.users;
        sessions += batch.sessions;
    }
    out.flush().context("cannot write the output")?;
    Ok((users, sessions))
}

/// `load seed`: the tag on stderr when it was made up, the lines to
/// `output`, and last on stderr `seeded N users, M sessions in S s`.
pub async fn seed(config: &Config, args: SeedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Before any work: an output that cannot be written makes nothing.
    let out = Output::parse(&args.sessions.output).open()?;
    let (kit, writer) = kit(config).await?;
    let options = args.parse(&kit).map_err(invalid_options)?;
    if options.tag_generated {
        eprintln!("tag {}", options.tag);
    }
    let made = drain(kit.seed(options, command_line(), None).await, out).await;
    flush(kit, writer).await;
    let (users, sessions) = made?;
    eprintln!(
        "seeded {users} users, {sessions} sessions in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `load tokens`: fresh sessions for a tag's users, the same lines.
pub async fn tokens(config: &Config, args: TokensArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = Output::parse(&args.sessions.output).open()?;
    let (kit, writer) = kit(config).await?;
    let options = args.parse(&kit).map_err(invalid_options)?;
    let made = drain(kit.tokens(options, command_line()).await, out).await;
    flush(kit, writer).await;
    let (users, sessions) = made?;
    eprintln!(
        "minted {sessions} sessions for {users} users in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `load purge`: the counts on stdout.
pub async fn purge(config: &Config, tag: &str) -> anyhow::Result<()> {
    let tag = LoadTag::parse(tag).map_err(|e| anyhow!("invalid options: --tag: {e}"))?;
    let (kit, writer) = kit(config).await?;
    let purged = kit.purge(&tag, None, &ClientInfo::default()).await;
    flush(kit, writer).await;
    let counts = purged.map_err(one_line)?;
    println!(
        "purged {} users, {} sessions (tag {tag})",
        counts.users, counts.sessions
    );
    Ok(())
}
