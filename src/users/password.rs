//! argon2id hashing (OWASP: m = 19 MiB, t = 2, p = 1) on the blocking pool,
//! at most `max_concurrency` at once so logins never starve the runtime.
//!
//! The bound holds even when the request waiting for a hash is abandoned
//! (request timeout, client gone): the permit travels into the blocking task
//! and is released only when the hash itself ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("the password hashing pool is shut down")]
    Closed,
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    limit: usize,
    load: Arc<Load>,
    /// Verified against when the user does not exist, so an unknown account
    /// costs the same time as a wrong password.
    dummy_hash: Arc<str>,
}

/// Hashes running right now, and the most that ever ran at once.
#[derive(Default)]
struct Load {
    running: AtomicUsize,
    peak: AtomicUsize,
}

/// A snapshot of the hashing pool, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct HashingLoad {
    pub running: usize,
    pub peak: usize,
    pub limit: usize,
}

/// Counts one hash as running for as long as it lives.
struct Running<'a>(&'a Load);

impl<'a> Running<'a> {
    fn start(load: &'a Load) -> Self {
        let now = load.running.fetch_add(1, Ordering::Relaxed) + 1;
        load.peak.fetch_max(now, Ordering::Relaxed);
        Self(load)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// One argon2id hash on the calling thread (the bench measures its rate).
pub fn hash_blocking(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Hashing(e.to_string()))
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl PasswordHasher {
    /// `max_concurrency` 0 means one per CPU core. Computes the dummy hash,
    /// so call it at start-up.
    pub fn new(max_concurrency: usize) -> Result<Self, HashError> {
        let limit = match max_concurrency {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        };
        let dummy_hash = hash_blocking("tessera dummy password, never a real one")?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            load: Arc::default(),
            dummy_hash: dummy_hash.into(),
        })
    }

    pub fn load(&self) -> HashingLoad {
        HashingLoad {
            running: self.load.running.load(Ordering::Relaxed),
            peak: self.load.peak.load(Ordering::Relaxed),
            limit: self.limit,
        }
    }

    async fn on_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Closed)?;
        let span = tracing::Span::current();
        let load = self.load.clone();
        // Dropping this future (a timed-out request) does not stop the
        // blocking task, so the permit must live and die with the task.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _running = Running::start(&load);
            span.in_scope(work)
        })
        .await
        .map_err(|_| HashError::Closed)
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        self.on_pool(move || hash_blocking(password.expose_secret()))
            .await?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when
    /// there is no user (always `false` then).
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<String>,
    ) -> Result<bool, HashError> {
        let is_real = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .on_pool(move || verify_blocking(password.expose_secret(), &hash))
            .await?;
        Ok(matches && is_real)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hasher = PasswordHasher::new(2).unwrap();
        let hash = hasher
            .hash(SecretString::from("correct horse"))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher
            .verify(SecretString::from("correct horse"), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify(SecretString::from("wrong horse"), Some(hash))
            .await
            .unwrap());
        let dummy_password = "tessera dummy password, never a real one";
        assert!(!hasher
            .verify(SecretString::from(dummy_password), None)
            .await
            .unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_verifies_keep_their_permit_until_the_hash_ends() {
        let hasher = PasswordHasher::new(1).unwrap();
        // Each caller gives up long before its hash could finish, as a
        // request past server.request_timeout_ms does.
        for _ in 0..6 {
            let verify = hasher.verify(SecretString::from("guess"), None);
            let _ = tokio::time::timeout(Duration::from_millis(1), verify).await;
        }
        let load = hasher.load();
        assert_eq!(load.limit, 1);
        assert!(load.peak <= 1, "{load:?}");
        // Bounded wait for the stragglers to drain.
        for _ in 0..500 {
            if hasher.load().running == 0 && hasher.permits.available_permits() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let load = hasher.load();
        assert_eq!((load.running, load.peak), (0, 1), "{load:?}");
    }
}
