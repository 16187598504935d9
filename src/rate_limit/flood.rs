//! The in-process flood guard: a governor GCRA limiter keyed by client IP
//! (an IPv6 client by its /64),
//! checked before any Redis or PostgreSQL work. Per instance by design: it
//! protects this process, the Redis limits protect the accounts.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use super::{ip_subject, Exemptions, Limiter, RateLimitError};
use crate::config::RateLimitConfig;

/// How often idle IPs are dropped from the limiter's map, so memory follows
/// the number of recently active clients rather than every client ever seen.
const CLEANUP_PERIOD: Duration = Duration::from_secs(60);

type KeyedLimiter = RateLimiter<IpAddr, DashMapStateStore<IpAddr>, DefaultClock>;

pub struct FloodGuard {
    limiter: KeyedLimiter,
    exemptions: Exemptions,
}

impl FloodGuard {
    /// The guard, or `None` when rate limiting is off. Starts the periodic
    /// cleanup, which ends when the guard is dropped.
    pub fn start(config: &RateLimitConfig) -> Option<Arc<Self>> {
        if !config.enabled {
            return None;
        }
        let rate = NonZeroU32::new(config.per_ip_per_second)?;
        let burst = NonZeroU32::new(config.per_ip_burst)?;
        let guard = Arc::new(Self {
            limiter: RateLimiter::dashmap(Quota::per_second(rate).allow_burst(burst)),
            exemptions: Exemptions::new(config),
        });
        let weak: Weak<Self> = Arc::downgrade(&guard);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CLEANUP_PERIOD);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(guard) = weak.upgrade() else { break };
                guard.limiter.retain_recent();
                guard.limiter.shrink_to_fit();
            }
        });
        Some(guard)
    }

    /// Refuses `ip` when it is over its rate (an IPv6 client's rate is its
    /// /64's, see [`ip_subject`]).
    pub fn check(&self, ip: IpAddr) -> Result<(), RateLimitError> {
        if self.exemptions.is_exempt(Some(ip)) {
            return Ok(());
        }
        self.limiter
            .check_key(&ip_subject(ip))
            .map_err(|not_until| {
                let retry_after = not_until.wait_time_from(DefaultClock::default().now());
                RateLimitError::limited(Limiter::PerIp, retry_after)
            })
    }
}
