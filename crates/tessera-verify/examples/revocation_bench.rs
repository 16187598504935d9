//! The revocation feed and in-process verification, measured against a real
//! tessera (rate limits off, a gateway client configured):
//!
//! - propagation: for each of N sessions (default 200), the time from the
//!   logout response to the verifier's first refusal of its access token;
//! - verification on one core: `check` of a token seen before (a cache hit)
//!   and of a first-seen token (a verifier that caches nothing, so every
//!   check is one Ed25519 verification).
//!
//! `TESSERA_URL=... GATEWAY_ID=... GATEWAY_SECRET=... cargo run --profile
//! profiling -p tessera-verify --example revocation_bench [N]`: prints the
//! figures on stderr and one JSON line per figure on stdout.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera_verify::{Config, Rejection, Verifier};

type Error = Box<dyn std::error::Error>;

fn var(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

/// One user of the bench; every login of it is one session.
struct Account {
    http: reqwest::Client,
    base: String,
    email: String,
    password: String,
}

impl Account {
    async fn register(base: &str) -> Result<Self, Error> {
        let http = reqwest::Client::new();
        let name = format!("rb{:016x}", rand::random::<u64>());
        let account = Self {
            http,
            base: base.to_owned(),
            email: format!("{name}@example.com"),
            password: "revocation bench passphrase".into(),
        };
        let response = account
            .http
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({"email": account.email, "username": name, "password": account.password}))
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("register answered {}", response.status()).into());
        }
        Ok(account)
    }

    async fn login(&self) -> Result<String, Error> {
        let body: Value = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": self.email, "password": self.password}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no access_token".into())
    }

    async fn logout(&self, access: &str) -> Result<(), Error> {
        self.http
            .post(format!("{}/api/v1/auth/logout", self.base))
            .bearer_auth(access)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// Checks per second of `token` on this thread for `seconds`.
fn rate(verifier: &Verifier, token: &str, seconds: f64) -> f64 {
    let start = Instant::now();
    let mut checks = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        for _ in 0..1000 {
            if verifier.check(std::hint::black_box(token)).is_err() {
                panic!("the benchmark token was refused");
            }
        }
        checks += 1000;
    }
    checks as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let base = var("TESSERA_URL")?;
    let config = Config::new(&base, var("GATEWAY_ID")?, var("GATEWAY_SECRET")?);
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(200);
    let verifier = Verifier::start(config.clone()).await?;
    let account = Account::register(&base).await?;

    let mut delays = Vec::with_capacity(count);
    for _ in 0..count {
        let access = account.login().await?;
        verifier.check(&access)?;
        account.logout(&access).await?;
        let answered = Instant::now();
        // Bounded: a revocation not seen within 5 s is a failure.
        loop {
            match verifier.check(&access) {
                Err(Rejection::Revoked) => break,
                Ok(_) if answered.elapsed() < Duration::from_secs(5) => {
                    tokio::task::yield_now().await
                }
                other => return Err(format!("not refused within 5 s: {other:?}").into()),
            }
        }
        delays.push(answered.elapsed());
    }
    delays.sort();
    let (p50, p99, max) = (
        percentile(&delays, 0.50),
        percentile(&delays, 0.99),
        percentile(&delays, 1.0),
    );
    eprintln!("revocation propagation over {count} logouts: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms");
    println!(
        "{}",
        json!({"scenario": "revocation_propagation", "samples": count,
        "propagation_p50_ms": p50, "propagation_p99_ms": p99, "propagation_max_ms": max})
    );

    let access = account.login().await?;
    let seen = rate(&verifier, &access, 3.0);
    let mut uncached = config;
    uncached.cache_capacity = 0;
    let first_seen = rate(&Verifier::start(uncached).await?, &access, 3.0);
    eprintln!(
        "in-process check on one thread: seen before {seen:.0}/s, first seen {first_seen:.0}/s"
    );
    println!(
        "{}",
        json!({"scenario": "verify_in_process_seen", "checks_per_s": seen.round()})
    );
    println!(
        "{}",
        json!({"scenario": "verify_in_process_first_seen", "checks_per_s": first_seen.round()})
    );
    Ok(())
}
