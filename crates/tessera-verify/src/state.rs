//! What a check reads: the tokens verified before, and the revocations the
//! feed reported.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use foldhash::fast::RandomState;
use uuid::Uuid;

use crate::Claims;

/// Tokens whose signature and claims checked out, by their whole text (no
/// digest, so no collision can make a forged token match a cached one): a
/// token seen before costs one hash lookup, never a second Ed25519
/// verification. Bounded by quick_cache (about `capacity` tokens, the
/// coldest evicted first). Callers refuse an entry at its token's `exp`;
/// revocations are never cached here: they are checked on every call.
pub type VerifiedCache = quick_cache::sync::Cache<Box<str>, Arc<Claims>>;

/// One revocation as kept: for a user, the `not_before` its tokens' `iat`
/// must reach; `at` (unix seconds) is when it was recorded, for pruning.
#[derive(Debug, Clone, Copy)]
struct Cut {
    not_before: u64,
    at: u64,
}

/// The revocations the feed reported. A revoked session never comes back
/// (session ids are never reused), so every token of it is refused; a user
/// is cut off for tokens issued before the event's `not_before`.
#[derive(Default)]
pub struct Revoked {
    sessions: HashMap<Uuid, Cut, RandomState>,
    users: HashMap<Uuid, Cut, RandomState>,
}

/// A revocation event, as the feed sends it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Event {
    pub seq: String,
    pub kind: String,
    pub id: Uuid,
    pub not_before: u64,
    pub reason: String,
}

impl Revoked {
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        self.sessions.contains_key(&claims.sid)
            || self
                .users
                .get(&claims.sub)
                .is_some_and(|cut| claims.iat < cut.not_before)
    }

    pub fn apply(&mut self, event: &Event, now: u64) {
        let cut = Cut {
            not_before: event.not_before,
            at: now,
        };
        match event.kind.as_str() {
            "session" => {
                self.sessions.insert(event.id, cut);
            }
            "user" => {
                let kept = self.users.entry(event.id).or_insert(cut);
                kept.not_before = kept.not_before.max(cut.not_before);
                kept.at = now;
            }
            other => tracing::warn!(kind = other, "unknown revocation kind; ignored"),
        }
    }

    /// Drops what was recorded before `horizon` (unix seconds): every token
    /// it could refuse has expired.
    pub fn prune(&mut self, horizon: u64) {
        self.sessions.retain(|_, cut| cut.at >= horizon);
        self.users.retain(|_, cut| cut.at >= horizon);
    }

    pub fn len(&self) -> usize {
        self.sessions.len() + self.users.len()
    }
}

/// A poisoned lock still holds whole maps: a writer panics only between
/// whole insertions.
pub fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(iat: u64) -> Claims {
        Claims {
            iss: "tessera".into(),
            aud: "tessera".into(),
            sub: Uuid::new_v4(),
            exp: iat + 900,
            iat,
            jti: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            token_type: "access".into(),
            role: "REGULAR".into(),
            subscription: "FREE".into(),
        }
    }

    fn event(kind: &str, id: Uuid, not_before: u64) -> Event {
        Event {
            seq: "1-0".into(),
            kind: kind.into(),
            id,
            not_before,
            reason: "test".into(),
        }
    }

    #[test]
    fn a_user_cut_refuses_tokens_issued_before_it_and_a_session_cut_all_of_them() {
        let mut revoked = Revoked::default();
        let before = claims(100);
        let same_second_after = Claims {
            iat: 101,
            ..before.clone()
        };
        let later = Claims {
            iat: 102,
            ..before.clone()
        };
        revoked.apply(&event("user", before.sub, 102), 101);
        assert!(revoked.is_revoked(&before));
        // Issued in the cut's own second (not_before is the next second):
        // refused, since it may predate the cut.
        assert!(revoked.is_revoked(&same_second_after));
        assert!(!revoked.is_revoked(&later));
        // An older event arriving late never loosens a cut.
        revoked.apply(&event("user", before.sub, 50), 101);
        assert!(revoked.is_revoked(&same_second_after));

        let session = claims(100);
        revoked.apply(&event("session", session.sid, 0), 101);
        assert!(revoked.is_revoked(&Claims {
            iat: 10_000,
            ..session.clone()
        }));
        revoked.prune(102);
        assert_eq!(revoked.len(), 0);
        assert!(!revoked.is_revoked(&session));
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = VerifiedCache::new(1000);
        let live = Arc::new(claims(1000));
        for i in 0..10_000 {
            cache.insert(format!("token-{i}").into(), live.clone());
        }
        assert!(cache.len() <= 1000, "{} tokens kept", cache.len());
        cache.insert("d".into(), live.clone());
        assert!(cache.get("d").is_some(), "keyed by the token's text");

        let off = VerifiedCache::new(0);
        off.insert("d".into(), live);
        assert!(off.get("d").is_none(), "capacity 0 keeps nothing");
    }
}
