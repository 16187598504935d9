//! The `tessera` command line. Every failure exits non-zero with one line on
//! stderr.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use serde::Serialize;
use tessera::admin::cli::{self as operator, UserSelector};
use tessera::clients::cli::{self as clients, ClientCommand};
use tessera::config::Config;
use tessera::load::cli::{self as load, SeedArgs, TokensArgs};
use tessera::startup::Application;
use tessera::telemetry;

// glibc malloc showed up as a fifth of /verify's CPU time in `perf`, and its
// per-thread arenas kept argon2's 19 MiB blocks around after use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tessera::tokens::KeySet;
use tessera::users::Role;
use uuid::Uuid;

#[derive(Parser)]
#[command(name = "tessera", version, about = "Authentication token service")]
struct Cli {
    /// Configuration file, applied over the built-in defaults.
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Apply the database migrations.
    Migrate,
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage OAuth clients (machines, apps and gateways).
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// The load-test kit: tagged users with live sessions, and their purge.
    Load {
        #[command(subcommand)]
        command: LoadCommand,
    },
}

#[derive(Subcommand)]
enum LoadCommand {
    /// Create N active REGULAR users marked with a tag, K sessions each, and
    /// write one NDJSON line per session.
    Seed(SeedArgs),
    /// Fresh sessions for a tag's users, the same NDJSON.
    Tokens(TokensArgs),
    /// Hard-delete the users of a tag and end all their sessions.
    Purge {
        #[arg(long)]
        tag: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an administrator. The password is read from standard input
    /// (first line) when it is not a terminal, else prompted for.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
    },
    /// Set a user's role; their live sessions carry it from their next refresh.
    SetRole {
        #[command(flatten)]
        user: UserArg,
        /// ADMIN, MODERATOR or REGULAR.
        #[arg(value_parser = parse_role)]
        role: Role,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct UserArg {
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    username: Option<String>,
    #[arg(long)]
    id: Option<Uuid>,
}

impl UserArg {
    fn selector(self) -> anyhow::Result<UserSelector> {
        match (self.email, self.username, self.id) {
            (Some(email), _, _) => Ok(UserSelector::Email(email)),
            (_, Some(username), _) => Ok(UserSelector::Username(username)),
            (_, _, Some(id)) => Ok(UserSelector::Id(id)),
            _ => anyhow::bail!("name the user with --email, --username or --id"),
        }
    }
}

fn parse_role(role: &str) -> Result<Role, String> {
    role.to_ascii_uppercase()
        .parse()
        .map_err(|()| "expected ADMIN, MODERATOR or REGULAR".to_owned())
}

#[derive(Subcommand)]
enum DbCommand {
    /// Drop every table and apply the migrations again. Does nothing
    /// without --yes.
    Reset {
        /// Confirm that all data may be destroyed.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new Ed25519 key to `jwt.keys_dir`; it becomes the access token
    /// signing key. When the set has no active RSA key, also add an RSA-2048
    /// key (it signs RS256 ID tokens). Prints each new key id on its own
    /// line, the Ed25519 one first.
    Generate {
        /// Add only a new RSA-2048 key (to rotate the RS256 key: generate
        /// the new one, then retire the old).
        #[arg(long)]
        rsa: bool,
    },
    /// Stop signing with key KID (Ed25519 or RSA); it stays published and
    /// verifying for `jwt.access_ttl_secs`, until every token it signed has
    /// expired. The last active key of its kind cannot be retired.
    Retire {
        /// The key id (its file name in `jwt.keys_dir`, without `.pem`).
        kid: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // Flags clap read but the command refused together (`client create`).
        Err(e) => match e.downcast::<clap::Error>() {
            Ok(usage) => usage_error(usage.format(&mut Cli::command())),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => {
            telemetry::init(config.is_production());
            let app = Application::build(config).await?;
            tracing::info!(address = %app.local_addr()?, "tessera listening");
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate => {
            let pool = config.database.pool()?;
            sqlx::migrate!("./migrations").run(&pool).await.context(
                "cannot apply migrations (is PostgreSQL reachable at database.url / DATABASE_URL?)",
            )?;
            println!("migrations applied");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Generate { rsa: true },
        } => {
            let kid = KeySet::generate_rsa(&config.jwt.keys_dir)?;
            println!("{kid}");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Generate { rsa: false },
        } => {
            let made = KeySet::generate_set(&config.jwt.keys_dir)?;
            println!("{}", made.ed25519);
            if let Some(rsa) = made.rsa {
                println!("{rsa}");
            }
            Ok(())
        }
        Command::User {
            command: UserCommand::CreateAdmin { email, username },
        } => {
            let password = operator::read_password()?;
            let id = operator::create_admin(&config, &email, &username, password).await?;
            println!("{id}");
            Ok(())
        }
        Command::User {
            command: UserCommand::SetRole { user, role },
        } => {
            let user = operator::set_role(&config, &user.selector()?, role).await?;
            println!("{} {}", user.user.id, user.user.account_role.as_str());
            Ok(())
        }
        Command::Client {
            command: ClientCommand::Create(args),
        } => print_json(&clients::create(&config, args).await?),
        Command::Client {
            command: ClientCommand::List,
        } => {
            let listed = clients::list(&config).await?;
            let mut out = std::io::stdout().lock();
            for client in &listed {
                write_json(&mut out, client)?;
            }
            Ok(())
        }
        Command::Client {
            command: ClientCommand::RotateSecret { client_id },
        } => print_json(&clients::rotate_secret(&config, &client_id).await?),
        Command::Client {
            command: ClientCommand::Disable { client_id },
        } => print_json(&clients::disable(&config, &client_id).await?),
        Command::Db {
            command: DbCommand::Reset { yes },
        } => {
            operator::reset_database(&config, yes).await?;
            println!("database reset; migrations applied");
            Ok(())
        }
        Command::Load {
            command: LoadCommand::Seed(args),
        } => load::seed(&config, args).await,
        Command::Load {
            command: LoadCommand::Tokens(args),
        } => load::tokens(&config, args).await,
        Command::Load {
            command: LoadCommand::Purge { tag },
        } => load::purge(&config, &tag).await,
        Command::Keys {
            command: KeysCommand::Retire { kid },
        } => {
            let grace = Duration::from_secs(config.jwt.access_ttl_secs);
            let retirement = KeySet::retire(&config.jwt.keys_dir, &kid, grace)?;
            let until = retirement.published_until.to_rfc3339();
            if retirement.newly_retired {
                println!("{kid} retired; published and verifying until {until}");
            } else {
                println!("{kid} was already retired; published and verifying until {until}");
            }
            Ok(())
        }
    }
}

/// One JSON object and a newline on standard output.
fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    write_json(&mut std::io::stdout().lock(), value)
}

fn write_json(out: &mut impl std::io::Write, value: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, value).context("cannot write the answer")?;
    writeln!(out).context("cannot write the answer")?;
    out.flush().context("cannot write the answer")
}

/// Help and version go to stdout as clap prints them; a usage mistake is one
/// line on stderr (clap's own report spans several).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            let rendered = e.to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("{first} (see `tessera --help`)");
            ExitCode::from(2)
        }
    }
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
