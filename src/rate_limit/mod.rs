//! Rate limits against abuse: sliding windows in Redis shared by every
//! instance (one script, one round trip per check), the refresh limit inside
//! the rotation script, and an in-process per-IP flood guard ([`FloodGuard`]).
//! Knows nothing of HTTP.
//!
//! Keys: `tessera:rl:{<limit>:<subject>}`, a sorted set of hit times with the
//! window as its TTL. The subject is the client IP, or a hash of the
//! lower-cased account (a user id, or a login name or email no account has)
//! or email: bounded key size, no addresses in Redis.
//!
//! Every refusal goes through [`report_limited`], one `tracing` event with
//! the stable fields `rate_limited = true` and `limiter`, for metrics to count.

mod flood;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use redis::Script;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use flood::FloodGuard;

use crate::config::RateLimitConfig;
use crate::redis_client::{RedisClient, RedisFailure};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("{limiter} limit reached; retry in {retry_after:?}")]
    Limited {
        limiter: &'static str,
        retry_after: Duration,
    },
    #[error(transparent)]
    Redis(#[from] RedisFailure),
}

/// Logs a refused request: the one hook for counting rate-limited requests.
pub fn report_limited(limiter: &'static str, retry_after: Duration) {
    crate::metrics::rate_limited(limiter);
    tracing::info!(
        rate_limited = true,
        limiter,
        retry_after_ms = retry_after.as_millis() as u64,
        "request rate limited"
    );
}

/// Who is exempt: everyone when limits are off, else callers in the allow
/// list. Shared by the Redis limits and the flood guard.
#[derive(Debug, Clone)]
pub struct Exemptions {
    enabled: bool,
    allow: Arc<[IpNet]>,
}

impl Exemptions {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            enabled: config.enabled,
            allow: config.allow_cidrs.clone().into(),
        }
    }

    pub fn is_exempt(&self, ip: Option<IpAddr>) -> bool {
        !self.enabled || ip.is_some_and(|ip| self.allow.iter().any(|net| net.contains(&ip)))
    }

    /// Like [`Exemptions::is_exempt`] for an address as sessions record it
    /// (empty when unknown).
    fn is_exempt_str(&self, ip: &str) -> bool {
        self.is_exempt(ip.parse().ok())
    }
}

/// One sliding-window limit: at most `max` hits per `window` (0 = off).
#[derive(Debug, Clone, Copy)]
struct Limit {
    name: &'static str,
    max: u32,
    window: Duration,
}

/// The refresh limit as the rotation script applies it (GCRA): one refresh
/// every `period / max` on average, `max` in a burst.
#[derive(Debug, Clone, Copy)]
pub struct RefreshLimit {
    pub max: u32,
    pub period: Duration,
}

/// What a per-email request (reset link, activation link) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailRequest {
    /// Within every limit: send the email.
    Send,
    /// Over the per-email limit: answer as usual, send nothing.
    Suppress,
}

/// Which emailing endpoint a request is for; each has its own counters.
#[derive(Debug, Clone, Copy)]
pub enum EmailFlow {
    PasswordReset,
    ActivationResend,
}

struct Limits {
    login_ip: Limit,
    login_failures: Limit,
    register_ip: Limit,
    reset_ip: Limit,
    reset_email: Limit,
    resend_ip: Limit,
    resend_email: Limit,
    refresh: Option<RefreshLimit>,
}

pub struct RateLimiter {
    redis: Arc<RedisClient>,
    script: Script,
    exemptions: Exemptions,
    limits: Limits,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A login name or email as a key subject: case-insensitive, hashed.
fn account_subject(name: &str) -> String {
    let digest = Sha256::digest(name.trim().to_lowercase().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn key(limit: &Limit, subject: &str) -> String {
    format!("tessera:rl:{{{}:{subject}}}", limit.name)
}

impl RateLimiter {
    pub fn new(redis: Arc<RedisClient>, config: &RateLimitConfig) -> Self {
        let limit = |name, max, window| Limit { name, max, window };
        let limits = Limits {
            login_ip: limit("login-ip", config.login_attempts_per_ip_per_minute, MINUTE),
            login_failures: limit(
                "login-failures",
                config.login_failures_per_account,
                Duration::from_secs(config.login_failure_window_secs),
            ),
            register_ip: limit("register-ip", config.register_per_ip_per_hour, HOUR),
            reset_ip: limit("reset-ip", config.forgot_password_per_ip_per_hour, HOUR),
            reset_email: limit(
                "reset-email",
                config.forgot_password_per_email_per_hour,
                HOUR,
            ),
            resend_ip: limit("resend-ip", config.activation_resend_per_ip_per_hour, HOUR),
            resend_email: limit(
                "resend-email",
                config.activation_resend_per_email_per_hour,
                HOUR,
            ),
            refresh: (config.refresh_per_session_per_minute > 0).then_some(RefreshLimit {
                max: config.refresh_per_session_per_minute,
                period: MINUTE,
            }),
        };
        Self {
            redis,
            script: Script::new(include_str!("sliding_window.lua")),
            exemptions: Exemptions::new(config),
            limits,
        }
    }

    pub fn exemptions(&self) -> &Exemptions {
        &self.exemptions
    }

    /// Runs one check; `hit` records the call when it is allowed.
    async fn check(&self, limit: &Limit, subject: &str, hit: bool) -> Result<(), RateLimitError> {
        if limit.max == 0 || limit.window.is_zero() {
            return Ok(());
        }
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(key(limit, subject))
            .arg(now_ms())
            .arg(limit.window.as_millis() as u64)
            .arg(limit.max)
            .arg(if hit { "1" } else { "0" })
            .arg(Uuid::new_v4().simple().to_string());
        let retry_ms: u64 = self.redis.script(&invocation).await?;
        if retry_ms == 0 {
            return Ok(());
        }
        let retry_after = Duration::from_millis(retry_ms);
        report_limited(limit.name, retry_after);
        Err(RateLimitError::Limited {
            limiter: limit.name,
            retry_after,
        })
    }

    /// Before a login: counts the attempt against the client IP.
    pub async fn login_attempt(&self, ip: &str) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt_str(ip) {
            return Ok(());
        }
        self.check(&self.limits.login_ip, ip, true).await
    }

    /// Refuses a login to an account locked by failures, whatever the
    /// password. `account` names it (a user id or the name typed).
    pub async fn account_unlocked(&self, ip: &str, account: &str) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt_str(ip) {
            return Ok(());
        }
        self.check(
            &self.limits.login_failures,
            &account_subject(account),
            false,
        )
        .await
    }

    /// After a wrong password (or an unknown account): counts the failure.
    pub async fn login_failed(&self, ip: &str, account: &str) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt_str(ip) {
            return Ok(());
        }
        match self
            .check(&self.limits.login_failures, &account_subject(account), true)
            .await
        {
            // A concurrent failure filled the window first: the lock is on.
            Err(RateLimitError::Limited { .. }) => Ok(()),
            other => other,
        }
    }

    /// After a successful login: the account's failures are forgotten.
    pub async fn login_succeeded(&self, ip: &str, account: &str) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt_str(ip) || self.limits.login_failures.max == 0 {
            return Ok(());
        }
        let key = key(&self.limits.login_failures, &account_subject(account));
        self.redis
            .command::<i64>(redis::cmd("DEL").arg(key))
            .await?;
        Ok(())
    }

    pub async fn register(&self, ip: &str) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt_str(ip) {
            return Ok(());
        }
        self.check(&self.limits.register_ip, ip, true).await
    }

    /// A reset or activation link request: over the per-IP limit it is
    /// refused (429); over the per-email limit it is answered as usual but
    /// sends nothing, so the answer never depends on the address.
    pub async fn email_request(
        &self,
        flow: EmailFlow,
        ip: &str,
        email: &str,
    ) -> Result<EmailRequest, RateLimitError> {
        if self.exemptions.is_exempt_str(ip) {
            return Ok(EmailRequest::Send);
        }
        let (per_ip, per_email) = match flow {
            EmailFlow::PasswordReset => (&self.limits.reset_ip, &self.limits.reset_email),
            EmailFlow::ActivationResend => (&self.limits.resend_ip, &self.limits.resend_email),
        };
        self.check(per_ip, ip, true).await?;
        match self.check(per_email, &account_subject(email), true).await {
            Ok(()) => Ok(EmailRequest::Send),
            Err(RateLimitError::Limited { .. }) => Ok(EmailRequest::Suppress),
            Err(e) => Err(e),
        }
    }

    /// The refresh limit for a caller, or `None` when it is exempt or off.
    pub fn refresh_limit(&self, ip: &str) -> Option<RefreshLimit> {
        self.limits
            .refresh
            .filter(|_| !self.exemptions.is_exempt_str(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_subjects_ignore_case_and_hide_the_address() {
        assert_eq!(
            account_subject("Alice@Example.com"),
            account_subject("alice@example.com")
        );
        assert_ne!(account_subject("alice"), account_subject("bob"));
        assert!(!account_subject("alice@example.com").contains("alice"));
    }

    #[test]
    fn each_key_is_its_own_hash_tag() {
        let limit = Limit {
            name: "login-ip",
            max: 1,
            window: MINUTE,
        };
        assert_eq!(key(&limit, "1.2.3.4"), "tessera:rl:{login-ip:1.2.3.4}");
    }

    #[test]
    fn allow_list_and_switch_exempt() {
        let exemptions = |enabled, allow: &[&str]| Exemptions {
            enabled,
            allow: allow.iter().map(|c| c.parse().unwrap()).collect(),
        };
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(!exemptions(true, &[]).is_exempt(Some(ip)));
        assert!(exemptions(true, &["10.0.0.0/8"]).is_exempt(Some(ip)));
        assert!(exemptions(false, &[]).is_exempt(Some(ip)));
        assert!(!exemptions(true, &["10.0.0.0/8"]).is_exempt(None));
    }
}
