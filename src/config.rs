//! Typed configuration, loaded once at start-up.
//!
//! Order (later wins): `config/default.toml` (compiled in), the file from
//! `--config` / `TESSERA_CONFIG`, `TESSERA__SECTION__KEY` variables, then
//! `DATABASE_URL` / `REDIS_URL` as-is.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub env: Environment,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub jwt: JwtConfig,
    pub session: SessionConfig,
    pub auth: AuthConfig,
    pub smtp: SmtpConfig,
    pub captcha: CaptchaConfig,
    pub rate_limit: RateLimitConfig,
    pub password_hashing: PasswordHashingConfig,
    pub gateway: GatewayConfig,
    pub oauth: OAuthConfig,
    pub dpop: DpopConfig,
    pub mfa: MfaConfig,
    pub webauthn: WebauthnConfig,
    pub metrics: MetricsConfig,
    pub docs: DocsConfig,
    pub load: LoadConfig,
    pub console: ConsoleConfig,
    pub revocations: RevocationsConfig,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub trusted_proxies: Vec<IpNet>,
    pub cors_allowed_origins: Vec<String>,
    pub request_timeout_ms: u64,
    pub max_in_flight: usize,
    pub shutdown_grace_ms: u64,
    pub public_url: String,
    pub header_read_timeout_secs: u64,
    pub max_connections_per_ip: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseConfig {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub statement_timeout_ms: u64,
}

impl DatabaseConfig {
    /// A lazily connecting pool: the service starts (and reports not-ready)
    /// while PostgreSQL is down, and every query fails within the acquire
    /// timeout instead of hanging.
    pub fn pool(&self) -> anyhow::Result<PgPool> {
        let options: PgConnectOptions = self
            .url
            .expose_secret()
            .parse()
            .context("database.url is not a valid PostgreSQL URL")?;
        let options =
            options.options([("statement_timeout", self.statement_timeout_ms.to_string())]);
        Ok(PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_millis(self.acquire_timeout_ms))
            .connect_lazy_with(options))
    }
}

#[derive(Clone, Deserialize)]
pub struct RedisConfig {
    pub url: SecretString,
    pub cluster_nodes: Vec<String>,
    pub pool_size: usize,
    pub shared_connections: usize,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub keys_dir: PathBuf,
    pub access_ttl_secs: u64,
    pub keys_reload_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionConfig {
    pub refresh_ttl_secs: u64,
    pub absolute_ttl_secs: u64,
    pub reuse_grace_secs: u64,
    rotation_secret: Option<OneOrMany>,
    rotation_secret_file: Option<PathBuf>,
    /// Live sessions per user; a login beyond it evicts the oldest. 0 = unlimited.
    pub max_per_user: u32,
    /// The token secrets from `rotation_secret` or `rotation_secret_file`,
    /// resolved at load time: the first signs, all verify.
    #[serde(skip)]
    rotation_secrets: Vec<SecretString>,
}

/// A secret, or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(SecretString),
    Many(Vec<SecretString>),
}

impl SessionConfig {
    /// The configured token secrets, the signing one first; empty when none
    /// is configured (development then shares one through Redis).
    pub fn rotation_secrets(&self) -> &[SecretString] {
        &self.rotation_secrets
    }

    fn resolve_rotation_secrets(&mut self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        self.rotation_secrets = match (&self.rotation_secret, &self.rotation_secret_file) {
            (Some(_), Some(_)) => {
                return invalid(
                    "set session.rotation_secret or session.rotation_secret_file, not both".into(),
                )
            }
            (Some(OneOrMany::One(secret)), None) => vec![secret.clone()],
            (Some(OneOrMany::Many(secrets)), None) => secrets.clone(),
            // One secret per line, the signing one first; blank lines and
            // surrounding whitespace (a trailing newline) do not count.
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(text) => text
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(SecretString::from)
                    .collect(),
                Err(e) => {
                    return invalid(format!(
                        "cannot read session.rotation_secret_file {}: {e}",
                        path.display()
                    ))
                }
            },
            (None, None) => Vec::new(),
        };
        if self.rotation_secret_file.is_some() && self.rotation_secrets.is_empty() {
            return invalid("session.rotation_secret_file holds no secret".into());
        }
        if self
            .rotation_secrets
            .iter()
            .any(|secret| secret.expose_secret().len() < 32)
        {
            return invalid("every session.rotation_secret must be at least 32 bytes".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthConfig {
    pub require_email_verification: bool,
    /// Empty in the file means `server.public_url` (resolved at load).
    pub frontend_url: String,
    pub reset_token_ttl_secs: u64,
    pub activation_token_ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: String,
    pub timeout_ms: u64,
    pub max_attempts: u32,
    pub retry_backoff_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CaptchaConfig {
    pub verify_url: Option<String>,
    pub secret: Option<SecretString>,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub allow_cidrs: Vec<IpNet>,
    pub login_failures_per_account: u32,
    pub login_failure_window_secs: u64,
    pub client_auth_failures_per_ip: u32,
    pub client_auth_failure_window_secs: u64,
    pub login_attempts_per_ip_per_minute: u32,
    pub register_per_ip_per_hour: u32,
    pub forgot_password_per_email_per_hour: u32,
    pub forgot_password_per_ip_per_hour: u32,
    pub activation_resend_per_email_per_hour: u32,
    pub activation_resend_per_ip_per_hour: u32,
    pub refresh_per_session_per_minute: u32,
    pub username_available_per_ip_per_minute: u32,
    pub per_ip_per_second: u32,
    pub per_ip_burst: u32,
    pub per_client_per_second: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PasswordHashingConfig {
    pub max_concurrency: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GatewayConfig {
    pub clients: Vec<GatewayClient>,
}

/// Sender-constrained tokens (DPoP, RFC 9449).
#[derive(Debug, Clone, Deserialize)]
pub struct DpopConfig {
    /// How old a proof's `iat` may be.
    pub max_proof_age_secs: u64,
    /// Proofs must carry a nonce from this service's `DPoP-Nonce` header.
    pub require_nonce: bool,
    /// A retired refresh token shown again with its own key ends the
    /// session (for keys that may be extractable) instead of a plain 401.
    pub revoke_on_same_key_reuse: bool,
}

/// Second factors (TOTP, recovery codes) and the sign-in step that asks
/// for one.
#[derive(Debug, Clone, Deserialize)]
pub struct MfaConfig {
    /// How long an `mfa_token` (the step between password and factor) lives.
    pub token_ttl_secs: u64,
    /// The name authenticator apps show beside the account.
    pub issuer: String,
    /// Base64 of 32 random bytes: TOTP secrets are encrypted under it.
    /// Required in production; development shares one through Redis.
    pub encryption_key: Option<SecretString>,
}

/// Passkeys: the relying party they are bound to.
#[derive(Debug, Clone, Deserialize)]
pub struct WebauthnConfig {
    /// Empty in the file means the host of `server.public_url` (resolved at
    /// load).
    pub rp_id: String,
    /// Empty in the file means `server.public_url`'s origin (resolved at
    /// load).
    pub origins: Vec<String>,
}

/// The OAuth client registry and its flows.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthConfig {
    pub code_ttl_secs: u64,
    pub id_token_ttl_secs: u64,
    pub browser_session_ttl_secs: u64,
    /// How long a rotated client secret keeps working.
    pub secret_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub allow_cidrs: Vec<IpNet>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DocsConfig {
    pub enabled: bool,
    pub allow_cidrs: Vec<IpNet>,
}

/// The load-test kit (`tessera load`, `/api/v1/admin/load/*`).
#[derive(Debug, Clone, Deserialize)]
pub struct LoadConfig {
    /// Serve the HTTP load-test routes (ADMIN only); off, they answer 404.
    pub enabled: bool,
    /// The longest access-token lifetime a seed may ask for.
    pub max_access_ttl_secs: u64,
}

/// The revocation feed (`/api/v1/revocations`).
#[derive(Debug, Clone, Deserialize)]
pub struct RevocationsConfig {
    /// Kept beyond `jwt.access_ttl_secs`: clock skew between instances
    /// and the gateways that compare `iat`.
    pub retention_margin_secs: u64,
    /// Server-Sent Events streams one instance serves at once.
    pub max_streams: usize,
    /// Longest silence on a stream before a heartbeat comment.
    pub heartbeat_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GatewayClient {
    pub id: String,
    pub secret: SecretString,
}

/// Cluster node URLs may carry a password (`redis://:pw@host`), and a
/// `String` would print it: each node is shown without its user info.
impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes: Vec<String> = self
            .cluster_nodes
            .iter()
            .map(|node| match node.rsplit_once('@') {
                Some((user_info, host)) => match user_info.split_once("://") {
                    Some((scheme, _)) => format!("{scheme}://[REDACTED]@{host}"),
                    None => format!("[REDACTED]@{host}"),
                },
                None => node.clone(),
            })
            .collect();
        f.debug_struct("RedisConfig")
            .field("url", &self.url)
            .field("cluster_nodes", &nodes)
            .field("pool_size", &self.pool_size)
            .field("shared_connections", &self.shared_connections)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// The admin console at `/admin/`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConsoleConfig {
    /// A console session unused this long is over.
    pub idle_timeout_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, Figment::new())
    }

    /// Like [`Config::load`], with `overrides` merged last (tests use this to
    /// point an instance at its own port, database and keys).
    pub fn load_with(file: Option<&Path>, overrides: Figment) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("TESSERA__").split("__"));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        if let Ok(url) = std::env::var("REDIS_URL") {
            figment = figment.merge(Serialized::default("redis.url", url));
        }
        let mut config: Config = figment
            .merge(overrides)
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.session.resolve_rotation_secrets()?;
        // The hosted pages serve the links, so by default they point here.
        if config.auth.frontend_url.trim().is_empty() {
            config.auth.frontend_url = config.server.public_url.clone();
        }
        // Passkeys belong to the service's own address unless told otherwise.
        // WebAuthn takes no IP address as a relying party: an address (the
        // development default, 127.0.0.1) stands for localhost.
        let mut public = url::Url::parse(&config.server.public_url).ok();
        if let Some(url) = public.as_mut().filter(|u| u.domain().is_none()) {
            let _ = url.set_host(Some("localhost"));
        }
        if config.webauthn.rp_id.trim().is_empty() {
            config.webauthn.rp_id = public
                .as_ref()
                .and_then(|u| u.domain())
                .unwrap_or_default()
                .to_owned();
        }
        if config.webauthn.origins.is_empty() {
            config.webauthn.origins = public
                .iter()
                .map(|u| u.origin().ascii_serialization())
                .collect();
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.to_owned()));
        if self.jwt.access_ttl_secs == 0 || self.session.refresh_ttl_secs == 0 {
            return invalid("jwt.access_ttl_secs and session.refresh_ttl_secs must be positive");
        }
        if self.session.absolute_ttl_secs < self.session.refresh_ttl_secs {
            return invalid("session.absolute_ttl_secs must be at least session.refresh_ttl_secs");
        }
        if self.server.request_timeout_ms == 0 || self.server.max_in_flight == 0 {
            return invalid("server.request_timeout_ms and server.max_in_flight must be positive");
        }
        if self.load.max_access_ttl_secs == 0 {
            return invalid("load.max_access_ttl_secs must be positive");
        }
        if self.server.header_read_timeout_secs == 0 {
            return invalid("server.header_read_timeout_secs must be positive");
        }
        if self.console.idle_timeout_secs == 0 {
            return invalid("console.idle_timeout_secs must be positive");
        }
        if self.rate_limit.enabled
            && (self.rate_limit.per_ip_per_second == 0 || self.rate_limit.per_ip_burst == 0)
        {
            return invalid("rate_limit.per_ip_per_second and rate_limit.per_ip_burst must be positive (set rate_limit.enabled = false to turn limits off)");
        }
        if self.redis.pool_size == 0 || self.database.max_connections == 0 {
            return invalid("redis.pool_size and database.max_connections must be positive");
        }
        if self.mfa.token_ttl_secs == 0 {
            return invalid("mfa.token_ttl_secs must be positive");
        }
        // An otpauth:// label is `issuer:account`; authenticator apps split it there.
        if self.mfa.issuer.trim().is_empty() || self.mfa.issuer.contains(':') {
            return invalid("mfa.issuer must be a name without ':'");
        }
        if self.webauthn.rp_id.is_empty() || self.webauthn.origins.is_empty() {
            return invalid("webauthn.rp_id and webauthn.origins must be set when server.public_url is not a URL with a host");
        }
        if !(1..=15).contains(&self.revocations.heartbeat_secs) {
            return invalid("revocations.heartbeat_secs must be from 1 to 15");
        }
        // tower-http refuses `*` beside credentials by panicking; say why instead.
        if self
            .server
            .cors_allowed_origins
            .iter()
            .any(|o| o.trim() == "*")
        {
            return invalid("server.cors_allowed_origins cannot contain \"*\": CORS answers carry credentials, so list each origin");
        }
        if let problems @ [_, ..] = self.production_problems().as_slice() {
            return Err(ConfigError::Invalid(format!(
                "refusing env = \"production\": {}",
                problems.join("; ")
            )));
        }
        if self.session.rotation_secrets.is_empty() && self.env == Environment::Production {
            return invalid("session.rotation_secret (or session.rotation_secret_file) is required when env = \"production\"");
        }
        Ok(())
    }

    /// Every weak setting that production refuses (none in development), so
    /// an operator fixes them in one pass.
    pub fn production_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.is_production() {
            return problems;
        }
        for client in &self.gateway.clients {
            if client.secret.expose_secret().trim().is_empty() {
                problems.push(format!(
                    "gateway.clients entry {:?} has an empty secret",
                    client.id
                ));
            }
        }
        let has_credentials = self.smtp.username.as_deref().is_some_and(|u| !u.is_empty())
            || self
                .smtp
                .password
                .as_ref()
                .is_some_and(|p| !p.expose_secret().is_empty());
        if self.smtp.tls == SmtpTls::None && has_credentials {
            problems.push(
                "smtp.tls = \"none\" would send smtp.username/smtp.password in plain text (use \"starttls\" or \"tls\")"
                    .to_owned(),
            );
        }
        problems
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let config = Config::load_with(None, Figment::new()).unwrap();
        assert_eq!(config.env, Environment::Development);
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(config.database.max_connections, 20);
        assert_eq!(config.database.acquire_timeout_ms, 3000);
        assert_eq!(config.redis.pool_size, 32);
        assert_eq!(config.redis.shared_connections, 0);
        assert_eq!(config.redis.timeout_ms, 2000);
        assert_eq!(config.jwt.issuer, "tessera");
        assert_eq!(config.jwt.access_ttl_secs, 900);
        assert_eq!(config.session.refresh_ttl_secs, 2_592_000);
        assert_eq!(config.session.absolute_ttl_secs, 7_776_000);
        assert_eq!(config.session.reuse_grace_secs, 10);
        assert_eq!(config.session.max_per_user, 100);
        assert!(config.rate_limit.enabled);
        assert_eq!(config.rate_limit.login_failures_per_account, 5);
        assert_eq!(config.rate_limit.login_failure_window_secs, 900);
        assert_eq!(config.rate_limit.login_attempts_per_ip_per_minute, 20);
        assert_eq!(config.rate_limit.register_per_ip_per_hour, 30);
        assert_eq!(config.rate_limit.forgot_password_per_email_per_hour, 5);
        assert_eq!(config.rate_limit.activation_resend_per_ip_per_hour, 30);
        assert_eq!(config.rate_limit.refresh_per_session_per_minute, 60);
        assert_eq!(config.rate_limit.username_available_per_ip_per_minute, 60);
        assert_eq!(config.rate_limit.per_ip_per_second, 100);
        assert_eq!(config.rate_limit.per_ip_burst, 200);
        assert_eq!(config.server.max_in_flight, 1024);
        assert!(config.gateway.clients.is_empty());
        assert_eq!(config.server.public_url, "http://127.0.0.1:8000");
        assert_eq!(config.jwt.keys_reload_secs, 60);
        assert_eq!(config.server.header_read_timeout_secs, 10);
        assert_eq!(config.server.max_connections_per_ip, 256);
        assert!(!config.load.enabled);
        assert_eq!(config.load.max_access_ttl_secs, 3600);
        assert_eq!(config.console.idle_timeout_secs, 900);
        assert_eq!(config.mfa.token_ttl_secs, 300);
        assert_eq!(config.mfa.issuer, "tessera");
        assert!(config.mfa.encryption_key.is_none());
    }

    #[test]
    fn passkeys_belong_to_the_public_url_unless_configured() {
        let public = Figment::new().merge(Serialized::default(
            "server.public_url",
            "https://auth.example.com:8443/base",
        ));
        let config = Config::load_with(None, public.clone()).unwrap();
        assert_eq!(config.webauthn.rp_id, "auth.example.com");
        assert_eq!(config.webauthn.origins, ["https://auth.example.com:8443"]);
        let set = public
            .merge(Serialized::default("webauthn.rp_id", "example.com"))
            .merge(Serialized::default(
                "webauthn.origins",
                ["https://app.example.com"],
            ));
        let config = Config::load_with(None, set).unwrap();
        assert_eq!(config.webauthn.rp_id, "example.com");
        assert_eq!(config.webauthn.origins, ["https://app.example.com"]);
        let development = Config::load_with(None, Figment::new()).unwrap();
        assert_eq!(development.webauthn.rp_id, "localhost");
        assert_eq!(development.webauthn.origins, ["http://localhost:8000"]);
    }

    #[test]
    fn an_mfa_issuer_is_one_name() {
        let colon = Figment::new().merge(Serialized::default("mfa.issuer", "acme:auth"));
        let err = Config::load_with(None, colon).unwrap_err().to_string();
        assert!(err.contains("mfa.issuer"), "{err}");
    }

    #[test]
    fn links_in_emails_point_at_the_service_itself_unless_configured() {
        let public = Figment::new().merge(Serialized::default(
            "server.public_url",
            "https://auth.example.com",
        ));
        let config = Config::load_with(None, public.clone()).unwrap();
        assert_eq!(config.auth.frontend_url, "https://auth.example.com");
        let own = public.merge(Serialized::default(
            "auth.frontend_url",
            "https://app.example.com",
        ));
        let config = Config::load_with(None, own).unwrap();
        assert_eq!(config.auth.frontend_url, "https://app.example.com");
    }

    #[test]
    fn the_nginx_example_trusts_nginx() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nginx/tessera.toml");
        let config = Config::load(Some(&example)).unwrap();
        let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        assert!(config
            .server
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&loopback)));
    }

    #[test]
    fn production_requires_a_rotation_secret() {
        let overrides = Figment::new().merge(Serialized::default("env", "production"));
        let err = Config::load_with(None, overrides).unwrap_err();
        assert!(err.to_string().contains("rotation_secret"), "{err}");
    }

    fn with_session(key: &str, value: impl serde::Serialize) -> Figment {
        Figment::new().merge(Serialized::default(&format!("session.{key}"), value))
    }

    const OLD: &str = "the old rotation secret, 32 bytes or more";
    const NEW: &str = "the new rotation secret, 32 bytes or more";

    fn exposed(config: &Config) -> Vec<&str> {
        config
            .session
            .rotation_secrets()
            .iter()
            .map(|s| s.expose_secret())
            .collect()
    }

    #[test]
    fn a_rotation_secret_is_one_string_or_a_list_first_signing() {
        let none = Config::load_with(None, Figment::new()).unwrap();
        assert!(none.session.rotation_secrets().is_empty());
        let one = Config::load_with(None, with_session("rotation_secret", OLD)).unwrap();
        assert_eq!(exposed(&one), [OLD]);
        let list = Config::load_with(None, with_session("rotation_secret", [NEW, OLD])).unwrap();
        assert_eq!(exposed(&list), [NEW, OLD]);
        let short = Config::load_with(None, with_session("rotation_secret", [NEW, "short"]));
        let err = short.unwrap_err().to_string();
        assert!(
            err.contains("at least 32 bytes") && !err.contains(NEW),
            "{err}"
        );
    }

    #[test]
    fn a_rotation_secret_file_holds_one_secret_per_line() {
        let path = std::env::temp_dir().join(format!("tessera-secrets-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, format!("{NEW}\n\n  {OLD}  \r\n")).unwrap();
        let config = Config::load_with(None, with_session("rotation_secret_file", &path)).unwrap();
        assert_eq!(exposed(&config), [NEW, OLD]);
        let both =
            with_session("rotation_secret_file", &path).merge(with_session("rotation_secret", OLD));
        assert!(Config::load_with(None, both)
            .unwrap_err()
            .to_string()
            .contains("not both"));
        std::fs::write(&path, "\n").unwrap();
        let empty = Config::load_with(None, with_session("rotation_secret_file", &path));
        assert!(empty.unwrap_err().to_string().contains("holds no secret"));
        std::fs::remove_file(&path).unwrap();
        let missing = Config::load_with(None, with_session("rotation_secret_file", &path));
        assert!(missing.unwrap_err().to_string().contains("cannot read"));
        let production = with_session("rotation_secret_file", "/nonexistent/tessera-secrets")
            .merge(Serialized::default("env", "production"));
        assert!(Config::load_with(None, production).is_err());
    }

    #[test]
    fn a_feed_heartbeat_beyond_the_contracts_15_seconds_is_refused() {
        let heartbeat = |secs: u64| {
            Config::load_with(
                None,
                Figment::new().merge(Serialized::default("revocations.heartbeat_secs", secs)),
            )
        };
        assert!(heartbeat(15).is_ok());
        for secs in [0, 16] {
            let err = heartbeat(secs).unwrap_err().to_string();
            assert!(err.contains("revocations.heartbeat_secs"), "{err}");
        }
    }

    fn production(settings: serde_json::Value) -> Result<Config, ConfigError> {
        let overrides = Figment::new()
            .merge(Serialized::default("env", "production"))
            .merge(Serialized::default(
                "session.rotation_secret",
                "a production rotation secret of 32+ bytes",
            ))
            .merge(Serialized::default(
                "mfa.encryption_key",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ))
            .merge(Serialized::defaults(settings));
        Config::load_with(None, overrides)
    }

    #[test]
    fn production_refuses_weak_settings_all_at_once() {
        let err = production(serde_json::json!({
            "gateway": {"clients": [{"id": "edge", "secret": ""}]},
            "smtp": {"host": "mail.example.com", "tls": "none", "username": "u", "password": "p"},
        }))
        .unwrap_err()
        .to_string();
        assert!(err.contains("\"edge\" has an empty secret"), "{err}");
        assert!(err.contains("smtp.tls = \"none\""), "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert!(production(serde_json::json!({
            "gateway": {"clients": [{"id": "edge", "secret": "long and random"}]},
            "smtp": {"host": "mail.example.com", "tls": "none"},
        }))
        .is_ok());
    }

    #[test]
    fn a_wildcard_cors_origin_is_refused_in_every_environment() {
        let overrides = Figment::new().merge(Serialized::default(
            "server.cors_allowed_origins",
            ["https://app.example.com", "*"],
        ));
        let err = Config::load_with(None, overrides).unwrap_err().to_string();
        assert!(err.contains("cors_allowed_origins"), "{err}");
    }

    #[test]
    fn debug_of_the_loaded_config_shows_no_secret() {
        let secrets = [
            "db-secret-1",
            "redis-secret-2",
            "node-secret-3",
            "smtp-secret-4",
            "captcha-secret-5",
            "gateway-secret-6",
            "rotation-secret-7-padded-to-32-bytes",
        ];
        let overrides = Figment::new().merge(Serialized::defaults(serde_json::json!({
            "database": {"url": format!("postgres://u:{}@db/x", secrets[0])},
            "redis": {
                "url": format!("redis://:{}@cache:6379", secrets[1]),
                "cluster_nodes": [format!("redis://user:{}@node1:6379", secrets[2]), "redis://node2:6379"],
            },
            "smtp": {"host": "mail", "username": "mailer", "password": secrets[3]},
            "captcha": {"verify_url": "https://captcha.example/siteverify", "secret": secrets[4]},
            "gateway": {"clients": [{"id": "edge", "secret": secrets[5]}]},
            "session": {"rotation_secret": secrets[6]},
        })));
        let printed = format!("{:?}", Config::load_with(None, overrides).unwrap());
        for secret in secrets {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(
            printed.contains("node2:6379") && printed.contains("node1:6379"),
            "{printed}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let overrides = Figment::new().merge(Serialized::default(
            "database.url",
            "postgres://user:hunter2-secret@db/x",
        ));
        let config = Config::load_with(None, overrides).unwrap();
        assert!(!format!("{config:?}").contains("hunter2-secret"));
    }
}
