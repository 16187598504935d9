//! What a check reads: the tokens verified before, and the revocations the
//! feed reported.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use foldhash::fast::RandomState;
use uuid::Uuid;

use crate::{Claims, Subject};

/// Tokens whose signature and claims checked out, by their whole text (no
/// digest, so no collision can make a forged token match a cached one): a
/// token seen before costs one hash lookup, never a second Ed25519
/// verification. Bounded by quick_cache (about `capacity` tokens, the
/// coldest evicted first). Callers refuse an entry at its token's `exp`;
/// revocations are never cached here: they are checked on every call.
pub type VerifiedCache = quick_cache::sync::Cache<Box<str>, Arc<Claims>>;

/// One revocation as kept: for a user or a client, the `not_before` its
/// tokens' `iat` must reach; `at` (unix seconds) is when it was recorded,
/// for pruning.
#[derive(Debug, Clone, Copy)]
struct Cut {
    not_before: u64,
    at: u64,
}

/// The revocations the feed reported. A revoked session never comes back
/// (session ids are never reused), so every token of it is refused; a user
/// is cut off for tokens issued before the event's `not_before`, and so is
/// a client (disabled) for tokens whose `client_id` names it: its own and
/// those it obtained for users by token exchange.
#[derive(Default)]
pub struct Revoked {
    sessions: HashMap<Uuid, Cut, RandomState>,
    users: HashMap<Uuid, Cut, RandomState>,
    clients: HashMap<Box<str>, Cut, RandomState>,
}

/// A revocation event, as the feed sends it (its `at` is not read). `id` is
/// a session or user UUID, or a client id, by `kind`; `kind` and `reason`
/// are read as any string, so new ones never make an event, or a snapshot,
/// unreadable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Event {
    pub seq: String,
    pub kind: String,
    pub id: String,
    pub not_before: u64,
    pub reason: String,
}

/// Keeps the later of two cuts of one user or client: an older event
/// arriving late never loosens a cut.
fn tighten(kept: &mut Cut, cut: Cut) {
    kept.not_before = kept.not_before.max(cut.not_before);
    kept.at = cut.at;
}

impl Revoked {
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        let cut_before = |cut: &Cut| claims.iat < cut.not_before;
        let by_client = claims
            .client_id
            .as_deref()
            .and_then(|client| self.clients.get(client))
            .is_some_and(cut_before);
        by_client
            || match &claims.subject {
                Subject::User { id, session, .. } => {
                    self.sessions.contains_key(session)
                        || self.users.get(id).is_some_and(cut_before)
                }
                Subject::Client { .. } => false,
            }
    }

    pub fn apply(&mut self, event: &Event, now: u64) {
        let cut = Cut {
            not_before: event.not_before,
            at: now,
        };
        let uuid = || {
            let id = Uuid::parse_str(&event.id);
            if id.is_err() {
                tracing::warn!(kind = %event.kind, id = %event.id, "revocation of an id that is not a UUID; ignored");
            }
            id.ok()
        };
        match event.kind.as_str() {
            "session" => {
                if let Some(id) = uuid() {
                    self.sessions.insert(id, cut);
                }
            }
            "user" => {
                if let Some(id) = uuid() {
                    tighten(self.users.entry(id).or_insert(cut), cut);
                }
            }
            "client" => {
                let kept = self.clients.entry(event.id.as_str().into()).or_insert(cut);
                tighten(kept, cut);
            }
            other => tracing::warn!(kind = other, "unknown revocation kind; ignored"),
        }
    }

    /// Drops what was recorded before `horizon` (unix seconds): every token
    /// it could refuse has expired.
    pub fn prune(&mut self, horizon: u64) {
        self.sessions.retain(|_, cut| cut.at >= horizon);
        self.users.retain(|_, cut| cut.at >= horizon);
        self.clients.retain(|_, cut| cut.at >= horizon);
    }

    pub fn len(&self) -> usize {
        self.sessions.len() + self.users.len() + self.clients.len()
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

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An old user token: no `client_id`.
    fn claims(iat: u64) -> Claims {
        Claims {
            iss: "tessera".into(),
            aud: "tessera".into(),
            subject: Subject::User {
                id: Uuid::new_v4(),
                session: Uuid::new_v4(),
                role: "REGULAR".into(),
                subscription: "FREE".into(),
            },
            exp: iat + 900,
            iat,
            jti: Uuid::new_v4(),
            token_type: "access".into(),
            client_id: None,
            scope: None,
            act: None,
            amr: Vec::new(),
            acr: None,
            cnf: None,
        }
    }

    /// A client's own token.
    fn client_token(client: &str, iat: u64) -> Claims {
        Claims {
            subject: Subject::Client { id: client.into() },
            client_id: Some(client.into()),
            scope: Some("reports:read".into()),
            ..claims(iat)
        }
    }

    /// A user's token obtained by `client` through token exchange.
    fn exchanged(client: &str, iat: u64) -> Claims {
        Claims {
            client_id: Some(client.into()),
            act: Some(crate::Actor { sub: client.into() }),
            ..claims(iat)
        }
    }

    fn event(kind: &str, id: impl ToString, not_before: u64) -> Event {
        Event {
            seq: "1-0".into(),
            kind: kind.into(),
            id: id.to_string(),
            not_before,
            reason: "test".into(),
        }
    }

    fn user_of(claims: &Claims) -> Uuid {
        claims.user_id().unwrap()
    }

    fn session_of(claims: &Claims) -> Uuid {
        claims.session_id().unwrap()
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
        revoked.apply(&event("user", user_of(&before), 102), 101);
        assert!(revoked.is_revoked(&before));
        // Issued in the cut's own second (not_before is the next second):
        // refused, since it may predate the cut.
        assert!(revoked.is_revoked(&same_second_after));
        assert!(!revoked.is_revoked(&later));
        // An older event arriving late never loosens a cut.
        revoked.apply(&event("user", user_of(&before), 50), 101);
        assert!(revoked.is_revoked(&same_second_after));

        let session = claims(100);
        revoked.apply(&event("session", session_of(&session), 0), 101);
        assert!(revoked.is_revoked(&Claims {
            iat: 10_000,
            ..session.clone()
        }));
        revoked.prune(102);
        assert_eq!(revoked.len(), 0);
        assert!(!revoked.is_revoked(&session));
    }

    #[test]
    fn a_client_cut_refuses_the_clients_tokens_issued_before_it() {
        let mut revoked = Revoked::default();
        let before = client_token("billing", 100);
        let at_the_cut = client_token("billing", 102);
        let after = client_token("billing", 103);
        let other = client_token("reports", 100);
        revoked.apply(&event("client", "billing", 102), 101);
        assert!(revoked.is_revoked(&before));
        assert!(revoked.is_revoked(&Claims {
            iat: 101,
            ..before.clone()
        }));
        assert!(!revoked.is_revoked(&at_the_cut), "iat = not_before");
        assert!(!revoked.is_revoked(&after));
        assert!(!revoked.is_revoked(&other));
        // An older event arriving late never loosens the cut.
        revoked.apply(&event("client", "billing", 50), 101);
        assert!(revoked.is_revoked(&Claims {
            iat: 101,
            ..before.clone()
        }));
        // A user or session cut never reaches a client's token, even one
        // whose id reads as the same UUID.
        let uuid_client = Uuid::new_v4();
        revoked.apply(&event("user", uuid_client, 1000), 101);
        assert!(!revoked.is_revoked(&client_token(&uuid_client.to_string(), 100)));
    }

    #[test]
    fn a_client_cut_refuses_user_tokens_it_obtained_by_token_exchange() {
        let mut revoked = Revoked::default();
        let by_billing = exchanged("billing", 100);
        let first_party = exchanged("tessera", 100);
        let old = claims(100);
        revoked.apply(&event("client", "billing", 102), 101);
        assert!(revoked.is_revoked(&by_billing));
        assert!(!revoked.is_revoked(&exchanged("billing", 102)));
        assert!(!revoked.is_revoked(&first_party));
        assert!(!revoked.is_revoked(&old), "no client_id, no client cut");

        // A token without client_id is never cut by a client event, even
        // one naming tessera itself.
        revoked.apply(&event("client", "tessera", 1000), 101);
        assert!(revoked.is_revoked(&first_party));
        assert!(!revoked.is_revoked(&old));
        // The user's and the session's cuts still apply to exchanged tokens.
        let mut revoked = Revoked::default();
        revoked.apply(&event("user", user_of(&by_billing), 102), 101);
        assert!(revoked.is_revoked(&by_billing));
        let mut revoked = Revoked::default();
        revoked.apply(&event("session", session_of(&by_billing), 0), 101);
        assert!(revoked.is_revoked(&by_billing));
    }

    #[test]
    fn client_cuts_are_kept_as_long_as_user_cuts() {
        let mut revoked = Revoked::default();
        let user_token = claims(100);
        let client = client_token("billing", 100);
        revoked.apply(&event("user", user_of(&user_token), 102), 101);
        revoked.apply(&event("client", "billing", 102), 101);
        assert_eq!(revoked.len(), 2);
        revoked.prune(101);
        assert!(revoked.is_revoked(&user_token) && revoked.is_revoked(&client));
        // Tightened later: kept from the later record.
        revoked.apply(&event("client", "billing", 103), 150);
        revoked.prune(102);
        assert_eq!(revoked.len(), 1);
        assert!(!revoked.is_revoked(&user_token));
        assert!(revoked.is_revoked(&client));
        revoked.prune(151);
        assert_eq!(revoked.len(), 0);
        assert!(!revoked.is_revoked(&client));
    }

    #[test]
    fn feed_events_read_with_any_id_kind_and_reason() {
        let client: Event = serde_json::from_str(
            r#"{"seq":"1795000000123-0","kind":"client","id":"billing","not_before":1795000001,
                "reason":"client_disabled","at":"2026-11-18T10:13:20.123Z"}"#,
        )
        .unwrap();
        assert_eq!(
            client,
            Event {
                seq: "1795000000123-0".into(),
                kind: "client".into(),
                id: "billing".into(),
                not_before: 1_795_000_001,
                reason: "client_disabled".into(),
            }
        );
        let later: Event = serde_json::from_str(
            r#"{"seq":"2-0","kind":"tenant","id":"t1","not_before":5,"reason":"a_reason_from_later","at":"x"}"#,
        )
        .unwrap();
        let mut revoked = Revoked::default();
        revoked.apply(&client, 1_795_000_000);
        revoked.apply(&later, 1_795_000_000);
        // A session or user event whose id is not a UUID is skipped.
        revoked.apply(&event("session", "not-a-uuid", 0), 1_795_000_000);
        revoked.apply(&event("user", "billing", 2_000_000_000), 1_795_000_000);
        assert_eq!(revoked.len(), 1);
        assert!(revoked.is_revoked(&client_token("billing", 1_795_000_000)));
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
