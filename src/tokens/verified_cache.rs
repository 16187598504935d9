//! Access tokens whose signature and claims already checked out, kept until
//! they expire, so a gateway asking about the same token again costs a hash
//! lookup instead of an Ed25519 verification. Whether the session is still
//! live is never cached: callers ask Redis every time.
//!
//! Keyed by the whole token string (no digest, so no collision can make a
//! forged token match a cached one). Bounded: each shard holds at most
//! `SHARD_CAPACITY` tokens and is emptied when full, which costs at most one
//! extra verification per evicted token.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use super::AccessClaims;

const SHARDS: usize = 16;
const SHARD_CAPACITY: usize = 4096;

pub struct VerifiedCache {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<Box<str>, Arc<AccessClaims>>>>,
}

impl VerifiedCache {
    pub fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(
        &self,
        token: &str,
    ) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<AccessClaims>>> {
        let index = self.hasher.hash_one(token) as usize % SHARDS;
        // A poisoned shard holds only whole entries; keep using it.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The claims of `token` if it verified before and `now` is before its `exp`.
    pub fn get(&self, token: &str, now: u64) -> Option<Arc<AccessClaims>> {
        let mut shard = self.shard(token);
        let claims = shard.get(token)?;
        if now < claims.exp {
            return Some(claims.clone());
        }
        shard.remove(token);
        None
    }

    pub fn insert(&self, token: &str, claims: Arc<AccessClaims>) {
        let mut shard = self.shard(token);
        if shard.len() >= SHARD_CAPACITY {
            shard.clear();
        }
        shard.insert(token.into(), claims);
    }

    /// Forgets everything (the key set changed: a key may be gone).
    pub fn clear(&self) {
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::{Role, Subscription};
    use uuid::Uuid;

    fn claims(exp: u64) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "tessera".into(),
            aud: "tessera".into(),
            sub: Uuid::new_v4(),
            exp,
            iat: 0,
            jti: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            token_type: "access".into(),
            role: Role::Regular,
            subscription: Subscription::Free,
        })
    }

    #[test]
    fn entries_live_until_exp_and_the_cache_stays_bounded() {
        let cache = VerifiedCache::new();
        cache.insert("a.b.c", claims(100));
        assert!(cache.get("a.b.c", 99).is_some());
        assert!(cache.get("a.b.c", 100).is_none(), "expired at exp");
        assert!(cache.get("a.b.c", 99).is_none(), "and removed");
        for i in 0..(SHARDS * SHARD_CAPACITY * 2) {
            cache.insert(&format!("token-{i}"), claims(100));
        }
        let total: usize = cache.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= SHARDS * SHARD_CAPACITY);
        cache.clear();
        assert!(cache.get("token-1", 0).is_none());
    }
}
