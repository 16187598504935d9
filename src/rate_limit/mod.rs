//! Rate limits against abuse: sliding windows in Redis shared by every
//! instance (one script, one round trip per check), the refresh limit inside
//! the rotation script, and an in-process per-IP flood guard ([`FloodGuard`]).
//! Knows nothing of HTTP.
//!
//! Keys: `tessera:rl:{<limit>:<subject>}`, a sorted set of hit times with the
//! window as its TTL. The subject is the client IP ([`ip_subject`]: an IPv6
//! client by its /64), or a hash of the lower-cased account (a user id, or a
//! login name or email no account has) or email: bounded key size, no
//! addresses in Redis.
//!
//! Every credential check is counted by [`RateLimiter::guard_credential_check`]:
//! a password check reserves its slot in the account's failure window before
//! argon2 runs, so concurrent guesses can never outnumber the limit; a wrong
//! client secret is counted in its address's failure window after the
//! (microsecond) comparison, and a right one is never refused.
//!
//! Every refusal goes through [`report_limited`], one `tracing` event with
//! the stable fields `rate_limited = true` and `limiter`, for metrics to count.

mod flood;

use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use redis::Script;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use flood::FloodGuard;

use crate::clock::now_ms;
use crate::config::RateLimitConfig;
use crate::redis_client::{RedisClient, RedisFailure};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Every limit the service applies. Its name keys the limit's Redis
/// windows and labels its refusals in logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limiter {
    LoginIp,
    LoginFailures,
    /// Wrong client secrets per address.
    ClientAuthFailures,
    RegisterIp,
    ResetIp,
    ResetEmail,
    ResendIp,
    ResendEmail,
    UsernameIp,
    /// Per session, inside the rotation script.
    Refresh,
    /// Token requests per authenticated confidential client.
    ClientTokens,
    /// The in-process flood guard.
    PerIp,
}

impl Limiter {
    pub fn as_str(self) -> &'static str {
        match self {
            Limiter::LoginIp => "login-ip",
            Limiter::LoginFailures => "login-failures",
            Limiter::ClientAuthFailures => "client-auth-failures",
            Limiter::RegisterIp => "register-ip",
            Limiter::ResetIp => "reset-ip",
            Limiter::ResetEmail => "reset-email",
            Limiter::ResendIp => "resend-ip",
            Limiter::ResendEmail => "resend-email",
            Limiter::UsernameIp => "username-ip",
            Limiter::Refresh => "refresh",
            Limiter::ClientTokens => "client-tokens",
            Limiter::PerIp => "per-ip",
        }
    }
}

impl std::fmt::Display for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("{limiter} limit reached; retry in {retry_after:?}")]
    Limited {
        limiter: Limiter,
        retry_after: Duration,
    },
    #[error(transparent)]
    Redis(#[from] RedisFailure),
}

impl RateLimitError {
    /// A refusal by `limiter`, reported as it is made (see
    /// [`report_limited`]).
    pub fn limited(limiter: Limiter, retry_after: Duration) -> Self {
        report_limited(limiter, retry_after);
        RateLimitError::Limited {
            limiter,
            retry_after,
        }
    }
}

/// Logs a refused request: the one hook for counting rate-limited requests.
pub fn report_limited(limiter: Limiter, retry_after: Duration) {
    crate::metrics::rate_limited(limiter.as_str());
    tracing::info!(
        rate_limited = true,
        limiter = limiter.as_str(),
        retry_after_ms = retry_after.as_millis() as u64,
        "request rate limited"
    );
}

/// The subject a per-IP limit counts `ip` under: an IPv4 address as it is
/// (also when it arrives IPv4-mapped in IPv6), an IPv6 address by its /64,
/// the smallest block a client is usually given, so rotating through the
/// addresses of one's own /64 buys no extra attempts.
pub fn ip_subject(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)))),
        },
    }
}

/// [`ip_subject`] as a key subject (empty when the address is unknown).
fn ip_key(ip: Option<IpAddr>) -> String {
    ip.map(|ip| ip_subject(ip).to_string()).unwrap_or_default()
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
}

/// One sliding-window limit: at most `max` hits per `window` (0 = off).
#[derive(Debug, Clone, Copy)]
struct Limit {
    limiter: Limiter,
    max: u32,
    window: Duration,
}

impl Limit {
    fn is_off(&self) -> bool {
        self.max == 0 || self.window.is_zero()
    }
}

/// The refresh limit as the rotation script applies it (GCRA): one refresh
/// every `period / max` on average, `max` in a burst.
#[derive(Debug, Clone, Copy)]
pub struct RefreshLimit {
    pub max: u32,
    pub period: Duration,
}

/// Whose password a check is for: the failure window is per account.
#[derive(Debug, Clone, Copy)]
pub enum PasswordOwner<'a> {
    /// An account that exists, whatever name it was typed as.
    User(Uuid),
    /// A login name no account has (in its one normalised form), locked
    /// exactly like a real account so a lock reveals nothing.
    UnknownName(&'a str),
}

impl PasswordOwner<'_> {
    fn subject(&self) -> String {
        account_subject(&match self {
            PasswordOwner::User(id) => format!("id:{id}"),
            PasswordOwner::UnknownName(name) => format!("name:{name}"),
        })
    }
}

/// What a credential check is of: each kind is counted its own way, both
/// through the one window script.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// An account's password, counted per account: a slot in the account's
    /// failure window is taken BEFORE the check (argon2 is costly, and a
    /// count after it would let concurrent guesses through), and a full
    /// window refuses whatever the password.
    Password(PasswordOwner<'a>),
    /// A user's second factor (an authenticator app's code, a recovery
    /// code): counted exactly like their password, in the same window, so
    /// a password and its codes together get no more guesses than the
    /// login lockout allows.
    SecondFactor(Uuid),
    /// A client's secret (a digest comparison of microseconds), counted per
    /// address AFTER the check: a wrong one takes a slot in its address's
    /// failure window, and past the limit it is answered 429 instead of
    /// 401. A right secret is never refused by a count, so knowing a
    /// client's id cannot freeze it.
    ClientSecret,
}

/// A slot held in an account's failure window for one password check, from
/// before argon2 runs until it is settled with its [`CheckOutcome`]. A check
/// that is never settled (its request was abandoned) keeps its slot, as a
/// failure: the safe side.
#[derive(Debug)]
struct PasswordCheck {
    /// The window's key and this check's member in it; `None` when exempt.
    slot: Option<(String, String)>,
}

/// How a credential check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The right credential: an account's failures are forgotten.
    Accepted,
    /// A wrong credential (or an unknown account or client): a failure.
    Wrong,
    /// No verdict on the credential (it was right but the account may not
    /// log in, or a dependency failed): a reserved slot is given back.
    Undecided,
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
    client_auth_failures: Limit,
    register_ip: Limit,
    reset_ip: Limit,
    reset_email: Limit,
    resend_ip: Limit,
    resend_email: Limit,
    username_ip: Limit,
    client_tokens: Limit,
    refresh: Option<RefreshLimit>,
}

pub struct RateLimiter {
    redis: Arc<RedisClient>,
    script: Script,
    exemptions: Exemptions,
    limits: Limits,
}

/// An account or email as a key subject: case-insensitive, hashed (a login
/// name arrives normalised already; an email from the emailing endpoints may
/// not).
fn account_subject(name: &str) -> String {
    let digest = Sha256::digest(name.trim().to_lowercase().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn key(limit: &Limit, subject: &str) -> String {
    format!("tessera:rl:{{{}:{subject}}}", limit.limiter)
}

impl RateLimiter {
    pub fn new(redis: Arc<RedisClient>, config: &RateLimitConfig) -> Self {
        let limit = |limiter, max, window| Limit {
            limiter,
            max,
            window,
        };
        let limits = Limits {
            login_ip: limit(
                Limiter::LoginIp,
                config.login_attempts_per_ip_per_minute,
                MINUTE,
            ),
            login_failures: limit(
                Limiter::LoginFailures,
                config.login_failures_per_account,
                Duration::from_secs(config.login_failure_window_secs),
            ),
            client_auth_failures: limit(
                Limiter::ClientAuthFailures,
                config.client_auth_failures_per_ip,
                Duration::from_secs(config.client_auth_failure_window_secs),
            ),
            register_ip: limit(Limiter::RegisterIp, config.register_per_ip_per_hour, HOUR),
            reset_ip: limit(
                Limiter::ResetIp,
                config.forgot_password_per_ip_per_hour,
                HOUR,
            ),
            reset_email: limit(
                Limiter::ResetEmail,
                config.forgot_password_per_email_per_hour,
                HOUR,
            ),
            resend_ip: limit(
                Limiter::ResendIp,
                config.activation_resend_per_ip_per_hour,
                HOUR,
            ),
            resend_email: limit(
                Limiter::ResendEmail,
                config.activation_resend_per_email_per_hour,
                HOUR,
            ),
            username_ip: limit(
                Limiter::UsernameIp,
                config.username_available_per_ip_per_minute,
                MINUTE,
            ),
            client_tokens: limit(
                Limiter::ClientTokens,
                config.per_client_per_second,
                Duration::from_secs(1),
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

    /// Counts one call against `limit` for `subject`, or refuses it.
    async fn check(&self, limit: &Limit, subject: &str) -> Result<(), RateLimitError> {
        if limit.is_off() {
            return Ok(());
        }
        self.hit(
            limit,
            &key(limit, subject),
            &Uuid::new_v4().simple().to_string(),
        )
        .await
    }

    /// Records `member` in the window at `key` when the limit allows it: the
    /// check and the count in one script.
    async fn hit(&self, limit: &Limit, key: &str, member: &str) -> Result<(), RateLimitError> {
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(key)
            .arg(now_ms())
            .arg(limit.window.as_millis() as u64)
            .arg(limit.max)
            .arg(member);
        let retry_ms: u64 = self.redis.script(&invocation).await?;
        if retry_ms == 0 {
            return Ok(());
        }
        Err(RateLimitError::limited(
            limit.limiter,
            Duration::from_millis(retry_ms),
        ))
    }

    /// Before a login: counts the attempt against the client IP.
    pub async fn login_attempt(&self, ip: Option<IpAddr>) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt(ip) {
            return Ok(());
        }
        self.check(&self.limits.login_ip, &ip_key(ip)).await
    }

    /// Runs `check` (a password verification and what follows from it:
    /// login, the OAuth password grant, change-password, account deletion;
    /// or a client's authentication) counted as [`Credential`] says. For a
    /// password the slot is taken BEFORE the check runs, so concurrent
    /// guesses queue for slots, not for argon2, and a full window refuses
    /// (429) whatever the password; one shared window per account, so no
    /// endpoint adds guesses to another's. For a client secret only a wrong
    /// one is counted, per address. `judge` says how the check went; its
    /// verdict stands even if settling the count fails (a slot left behind
    /// only expires with the window).
    pub async fn guard_credential_check<T, E: From<RateLimitError>>(
        &self,
        ip: Option<IpAddr>,
        credential: Credential<'_>,
        check: impl Future<Output = Result<T, E>>,
        judge: impl FnOnce(&Result<T, E>) -> CheckOutcome,
    ) -> Result<T, E> {
        let account = match credential {
            Credential::Password(owner) => Some(owner),
            // The account's own window: see `Credential::SecondFactor`.
            Credential::SecondFactor(user) => Some(PasswordOwner::User(user)),
            Credential::ClientSecret => None,
        };
        match account {
            Some(owner) => {
                let slot = self.reserve_password_check(ip, owner).await?;
                let result = check.await;
                if let Err(e) = self.settle(slot, judge(&result)).await {
                    tracing::warn!(error = %e, "cannot settle a password check's failure slot");
                }
                result
            }
            None => {
                let result = check.await;
                if judge(&result) == CheckOutcome::Wrong {
                    match self.client_auth_failed(ip).await {
                        Err(limited @ RateLimitError::Limited { .. }) => return Err(limited.into()),
                        // The secret was wrong whether or not it was counted.
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot count a failed client authentication")
                        }
                        Ok(()) => {}
                    }
                }
                result
            }
        }
    }

    /// Counts a wrong client secret against its address, or refuses it (a
    /// full window records nothing more).
    async fn client_auth_failed(&self, ip: Option<IpAddr>) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt(ip) {
            return Ok(());
        }
        self.check(&self.limits.client_auth_failures, &ip_key(ip))
            .await
    }

    /// Reserves a slot in the owner's failure window, or refuses when the
    /// window is full.
    async fn reserve_password_check(
        &self,
        ip: Option<IpAddr>,
        owner: PasswordOwner<'_>,
    ) -> Result<PasswordCheck, RateLimitError> {
        let limit = &self.limits.login_failures;
        if self.exemptions.is_exempt(ip) || limit.is_off() {
            return Ok(PasswordCheck { slot: None });
        }
        let key = key(limit, &owner.subject());
        let member = Uuid::new_v4().simple().to_string();
        self.hit(limit, &key, &member).await?;
        Ok(PasswordCheck {
            slot: Some((key, member)),
        })
    }

    /// Ends a password check: see [`CheckOutcome`].
    async fn settle(
        &self,
        check: PasswordCheck,
        outcome: CheckOutcome,
    ) -> Result<(), RateLimitError> {
        let Some((key, member)) = check.slot else {
            return Ok(());
        };
        match outcome {
            CheckOutcome::Accepted => {
                self.redis
                    .command::<i64>(redis::cmd("DEL").arg(key))
                    .await?;
            }
            CheckOutcome::Wrong => {}
            CheckOutcome::Undecided => {
                self.redis
                    .command::<i64>(redis::cmd("ZREM").arg(key).arg(member))
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn register(&self, ip: Option<IpAddr>) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt(ip) {
            return Ok(());
        }
        self.check(&self.limits.register_ip, &ip_key(ip)).await
    }

    /// A token request by an authenticated confidential client, counted
    /// per client (an allow-listed address is exempt).
    pub async fn client_token(
        &self,
        client_id: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt(ip) {
            return Ok(());
        }
        self.check(&self.limits.client_tokens, &account_subject(client_id))
            .await
    }

    /// A username availability check: counted per client IP, so the
    /// endpoint cannot be used to list every taken name at speed.
    pub async fn username_check(&self, ip: Option<IpAddr>) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt(ip) {
            return Ok(());
        }
        self.check(&self.limits.username_ip, &ip_key(ip)).await
    }

    /// A reset or activation link request: over the per-IP limit it is
    /// refused (429); over the per-email limit it is answered as usual but
    /// sends nothing, so the answer never depends on the address.
    pub async fn email_request(
        &self,
        flow: EmailFlow,
        ip: Option<IpAddr>,
        email: &str,
    ) -> Result<EmailRequest, RateLimitError> {
        if self.exemptions.is_exempt(ip) {
            return Ok(EmailRequest::Send);
        }
        let (per_ip, per_email) = match flow {
            EmailFlow::PasswordReset => (&self.limits.reset_ip, &self.limits.reset_email),
            EmailFlow::ActivationResend => (&self.limits.resend_ip, &self.limits.resend_email),
        };
        self.check(per_ip, &ip_key(ip)).await?;
        match self.check(per_email, &account_subject(email)).await {
            Ok(()) => Ok(EmailRequest::Send),
            Err(RateLimitError::Limited { .. }) => Ok(EmailRequest::Suppress),
            Err(e) => Err(e),
        }
    }

    /// The refresh limit for a caller, or `None` when it is exempt or off.
    pub fn refresh_limit(&self, ip: Option<IpAddr>) -> Option<RefreshLimit> {
        self.limits
            .refresh
            .filter(|_| !self.exemptions.is_exempt(ip))
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
            limiter: Limiter::LoginIp,
            max: 1,
            window: MINUTE,
        };
        assert_eq!(key(&limit, "1.2.3.4"), "tessera:rl:{login-ip:1.2.3.4}");
    }

    #[test]
    fn an_ipv6_client_is_limited_by_its_64_and_ipv4_as_it_is() {
        let subject = |ip: &str| ip_subject(ip.parse().unwrap()).to_string();
        assert_eq!(subject("203.0.113.7"), "203.0.113.7");
        assert_eq!(subject("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(
            subject("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "2001:db8:1:2::"
        );
        assert_eq!(subject("2001:db8:1:2::1"), subject("2001:db8:1:2:ffff::9"));
        assert_ne!(subject("2001:db8:1:2::1"), subject("2001:db8:1:3::1"));
        assert_eq!(subject("::1"), "::");
        assert_eq!(ip_key("2001:db8:1:2::1".parse().ok()), "2001:db8:1:2::");
        assert_eq!(ip_key(None), "");
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
