//! DPoP-bound tokens at a resource (RFC 9449 §7): a token whose claims
//! carry `cnf.jkt` is good only as `Authorization: DPoP <token>` with a
//! `DPoP` proof by that key, for this request, naming this token (`ath`),
//! and never seen before. The proof itself is checked by
//! [`tessera_dpop::check`], the check tessera runs; what is here is the
//! binding to the token and the memory of spent proofs.
//!
//! That memory is this process's: tessera's own `/verify` spends a proof
//! in Redis, shared by every instance, but a verifier has no Redis. Each
//! replica of a service therefore accepts a given proof once. A proof is
//! worth little to a thief anyway: it names one method and URL of this
//! service and one access token, and is dead after `max_proof_age`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Mutex;

use foldhash::fast::RandomState;
use sha2::{Digest, Sha256};
pub use tessera_dpop::Scheme;
use tessera_dpop::{DpopError, Expected};

use crate::state::lock;
use crate::{Claims, Rejection};

/// What a request shows besides its token: how the token was presented,
/// its `DPoP` header, and what the proof must name.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub scheme: Scheme,
    pub token: &'a str,
    /// The `DPoP` header: none, one, or one that cannot be a proof (sent
    /// twice, not text).
    pub proof: Result<Option<&'a str>, DpopError>,
    pub method: &'a str,
    /// The request's path as this service sees it (no query).
    pub path: &'a str,
}

/// Spent proofs are forgotten a few at a time as new ones are spent, so
/// no request pays for a whole backlog; when the store is full it is
/// cleared of every expired entry before anything is refused.
const FORGET_PER_SPEND: usize = 64;

/// The verifier's DPoP settings and its memory of spent proofs.
pub struct Dpop {
    /// [`crate::Config::public_url`] without its trailing slash; `None`:
    /// bound tokens are refused.
    base: Option<String>,
    /// [`crate::Config::max_proof_age`], in seconds.
    max_age: u64,
    spent: SpentProofs,
}

impl Dpop {
    pub fn new(public_url: Option<&str>, max_age: u64, capacity: usize) -> Self {
        Self {
            base: public_url.map(|url| url.trim_end_matches('/').to_owned()),
            max_age,
            spent: SpentProofs::new(capacity),
        }
    }

    /// Whether `claims`, presented as `presented` says, may pass: an
    /// unbound token as `Bearer` (as ever), a bound one as `DPoP` with a
    /// fresh proof by its key for this request. A good proof's `jti` is
    /// spent here, so call this last, once everything else has passed.
    pub fn admit(
        &self,
        claims: &Claims,
        presented: &Presented<'_>,
        now: u64,
    ) -> Result<(), Rejection> {
        let Some(cnf) = &claims.cnf else {
            return match presented.scheme {
                Scheme::Bearer => Ok(()),
                // `DPoP` claims a binding there is no key to check.
                Scheme::Dpop => Err(Rejection::NotBound),
            };
        };
        // Sent as a bearer token: refused whatever proof goes with it
        // (RFC 9449 §7.2), so a client cannot downgrade the binding.
        if presented.scheme != Scheme::Dpop {
            return Err(Rejection::Dpop(DpopError::Missing));
        }
        let base = self.base.as_deref().ok_or(Rejection::DpopNotAccepted)?;
        let proof = presented.proof?.ok_or(DpopError::Missing)?;
        let uri = format!("{base}{}", presented.path);
        let proof = tessera_dpop::check(
            proof,
            &Expected {
                method: presented.method,
                uri: &uri,
                access_token: Some(presented.token),
                now,
                max_age: self.max_age,
            },
        )?;
        if proof.jkt != cnf.jkt {
            return Err(DpopError::WrongKey.into());
        }
        let expires = now + proof.jti_lifetime_secs(now, self.max_age);
        self.spent
            .spend(digest(&proof.jkt, &proof.jti), expires, now)
    }

    #[cfg(test)]
    fn spent_len(&self) -> usize {
        lock(&self.spent.state).digests.len()
    }
}

impl From<DpopError> for Rejection {
    fn from(e: DpopError) -> Self {
        Rejection::Dpop(e)
    }
}

/// What a spent proof is remembered by: its key's thumbprint and its
/// `jti` (the client's text, of any length), as tessera keys it in Redis.
fn digest(jkt: &str, jti: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(jkt.as_bytes())
        .chain_update(b" ")
        .chain_update(jti.as_bytes())
        .finalize()
        .into()
}

/// The proofs spent in this process, each until no check could accept it
/// again (`iat` + max age + skew), at most `capacity` at once. Full, it
/// refuses new proofs ([`Rejection::ReplayStoreFull`]) rather than forget
/// one early: a forgotten proof could be replayed. (Not quick_cache, as the
/// verified tokens are: it evicts when full, which is that forgetting.)
struct SpentProofs {
    capacity: usize,
    state: Mutex<Spent>,
}

#[derive(Default)]
struct Spent {
    digests: HashSet<[u8; 32], RandomState>,
    /// The same digests by the second they may be forgotten, soonest
    /// first. Each digest is here once: a spent one is never spent again.
    expiries: BinaryHeap<Reverse<(u64, [u8; 32])>>,
}

impl Spent {
    /// Forgets up to `most` proofs whose time has passed by `now`.
    fn forget_expired(&mut self, now: u64, most: usize) {
        for _ in 0..most {
            match self.expiries.peek() {
                Some(Reverse((expires, _))) if *expires <= now => {}
                _ => return,
            }
            if let Some(Reverse((_, digest))) = self.expiries.pop() {
                self.digests.remove(&digest);
            }
        }
    }
}

impl SpentProofs {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(Spent::default()),
        }
    }

    /// Spends `digest` until `expires` (unix seconds), or says why not.
    fn spend(&self, digest: [u8; 32], expires: u64, now: u64) -> Result<(), Rejection> {
        let mut spent = lock(&self.state);
        let most = if spent.digests.len() >= self.capacity {
            usize::MAX
        } else {
            FORGET_PER_SPEND
        };
        spent.forget_expired(now, most);
        if spent.digests.contains(&digest) {
            return Err(DpopError::Replayed.into());
        }
        if spent.digests.len() >= self.capacity {
            let retry_after_secs = spent.expiries.peek().map_or(1, |Reverse((expires, _))| {
                expires.saturating_sub(now).max(1)
            });
            return Err(Rejection::ReplayStoreFull { retry_after_secs });
        }
        spent.digests.insert(digest);
        spent.expiries.push(Reverse((expires, digest)));
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::{json, Value};
    use uuid::Uuid;

    use super::*;
    use crate::{Confirmation, Subject};

    const BASE: &str = "https://api.example.com";
    const TOKEN: &str = "the-access-token";
    const NOW: u64 = 1_800_000_000;

    /// A client's Ed25519 key, as an app would hold it.
    pub(crate) struct ClientKey {
        encoding: EncodingKey,
        x: String,
    }

    impl ClientKey {
        pub(crate) fn new() -> Self {
            let signing = ed25519_dalek::SigningKey::from_bytes(&rand::random());
            let der = signing.to_pkcs8_der().unwrap();
            Self {
                encoding: EncodingKey::from_ed_der(der.as_bytes()),
                x: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
            }
        }

        /// RFC 7638: what a token bound to this key carries as `cnf.jkt`.
        pub(crate) fn jkt(&self) -> String {
            let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, self.x);
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
        }

        /// A proof for `method` `htu` with `token`'s `ath`, made at `iat`.
        pub(crate) fn proof(&self, method: &str, htu: &str, token: &str, iat: u64) -> String {
            self.proof_of(json!({
                "jti": Uuid::new_v4().to_string(), "htm": method, "htu": htu,
                "iat": iat, "ath": tessera_dpop::ath(token),
            }))
        }

        fn proof_of(&self, claims: Value) -> String {
            let mut header = Header::new(Algorithm::EdDSA);
            header.typ = Some("dpop+jwt".into());
            header.jwk = Some(
                serde_json::from_value(json!({"kty": "OKP", "crv": "Ed25519", "x": self.x}))
                    .unwrap(),
            );
            jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap()
        }
    }

    fn claims(cnf: Option<&ClientKey>) -> Claims {
        Claims {
            iss: "tessera".into(),
            aud: "tessera".into(),
            subject: Subject::User {
                id: Uuid::new_v4(),
                session: Uuid::new_v4(),
                role: "REGULAR".into(),
                subscription: "FREE".into(),
            },
            exp: NOW + 900,
            iat: NOW,
            jti: Uuid::new_v4(),
            token_type: "access".into(),
            client_id: Some("tessera".into()),
            scope: None,
            act: None,
            amr: Vec::new(),
            acr: None,
            cnf: cnf.map(|key| Confirmation { jkt: key.jkt() }),
        }
    }

    fn presented<'a>(scheme: Scheme, proof: Option<&'a str>, path: &'a str) -> Presented<'a> {
        Presented {
            scheme,
            token: TOKEN,
            proof: Ok(proof),
            method: "GET",
            path,
        }
    }

    fn dpop() -> Dpop {
        Dpop::new(Some("https://api.example.com/"), 60, 1000)
    }

    #[test]
    fn a_fresh_proof_by_the_tokens_key_passes_once() {
        let (dpop, key) = (dpop(), ClientKey::new());
        let bound = claims(Some(&key));
        // The query is no part of what the proof names.
        let proof = key.proof("GET", &format!("{BASE}/orders/7?page=2"), TOKEN, NOW);
        let request = presented(Scheme::Dpop, Some(&proof), "/orders/7");
        assert_eq!(dpop.admit(&bound, &request, NOW), Ok(()));
        assert_eq!(
            dpop.admit(&bound, &request, NOW + 1),
            Err(Rejection::Dpop(DpopError::Replayed))
        );
        // Another fresh proof by the same key is another request.
        let next = key.proof("GET", &format!("{BASE}/orders/7"), TOKEN, NOW);
        let request = presented(Scheme::Dpop, Some(&next), "/orders/7");
        assert_eq!(dpop.admit(&bound, &request, NOW + 1), Ok(()));
        assert_eq!(dpop.spent_len(), 2);
    }

    #[test]
    fn every_way_a_bound_token_can_be_shown_wrong_is_refused_with_its_reason() {
        let (dpop, key, thief) = (dpop(), ClientKey::new(), ClientKey::new());
        let bound = claims(Some(&key));
        let url = format!("{BASE}/orders/7");
        let by_thief = thief.proof("GET", &url, TOKEN, NOW);
        let other_uri = key.proof("GET", &format!("{BASE}/orders/8"), TOKEN, NOW);
        let other_origin = key.proof("GET", "https://tessera.example.com/orders/7", TOKEN, NOW);
        let other_method = key.proof("DELETE", &url, TOKEN, NOW);
        let other_token = key.proof("GET", &url, "another-token", NOW);
        let stale = key.proof("GET", &url, TOKEN, NOW - 61);
        let good = key.proof("GET", &url, TOKEN, NOW);
        let cases = [
            ("another key", Some(&by_thief), DpopError::WrongKey),
            ("another path", Some(&other_uri), DpopError::WrongUri),
            ("another origin", Some(&other_origin), DpopError::WrongUri),
            (
                "another method",
                Some(&other_method),
                DpopError::WrongMethod,
            ),
            ("another token", Some(&other_token), DpopError::WrongAth),
            ("too old", Some(&stale), DpopError::Stale),
            ("no proof", None, DpopError::Missing),
        ];
        for (what, proof, error) in cases {
            let request = presented(Scheme::Dpop, proof.map(String::as_str), "/orders/7");
            assert_eq!(
                dpop.admit(&bound, &request, NOW),
                Err(Rejection::Dpop(error)),
                "{what}"
            );
        }
        // As a bearer token: refused even with a good proof.
        let request = presented(Scheme::Bearer, Some(&good), "/orders/7");
        assert_eq!(
            dpop.admit(&bound, &request, NOW),
            Err(Rejection::Dpop(DpopError::Missing))
        );
        // Two DPoP headers.
        let mut request = presented(Scheme::Dpop, None, "/orders/7");
        request.proof = Err(DpopError::Several);
        assert_eq!(
            dpop.admit(&bound, &request, NOW),
            Err(Rejection::Dpop(DpopError::Several))
        );
        // No refusal spent anything; the good proof still passes.
        assert_eq!(dpop.spent_len(), 0);
        let request = presented(Scheme::Dpop, Some(&good), "/orders/7");
        assert_eq!(dpop.admit(&bound, &request, NOW), Ok(()));
    }

    #[test]
    fn an_unbound_token_passes_as_bearer_as_before_and_never_as_dpop() {
        let (dpop, key) = (dpop(), ClientKey::new());
        let unbound = claims(None);
        let proof = key.proof("GET", &format!("{BASE}/orders/7"), TOKEN, NOW);
        for proof in [None, Some(proof.as_str())] {
            let request = presented(Scheme::Bearer, proof, "/orders/7");
            assert_eq!(dpop.admit(&unbound, &request, NOW), Ok(()));
        }
        let request = presented(Scheme::Dpop, Some(&proof), "/orders/7");
        assert_eq!(
            dpop.admit(&unbound, &request, NOW),
            Err(Rejection::NotBound)
        );
        assert_eq!(
            dpop.spent_len(),
            0,
            "no proof is spent for an unbound token"
        );
        // Without a public URL, a service still takes unbound tokens.
        let plain = Dpop::new(None, 60, 1000);
        let request = presented(Scheme::Bearer, None, "/orders/7");
        assert_eq!(plain.admit(&unbound, &request, NOW), Ok(()));
        let request = presented(Scheme::Dpop, Some(&proof), "/orders/7");
        assert_eq!(
            plain.admit(&claims(Some(&key)), &request, NOW),
            Err(Rejection::DpopNotAccepted)
        );
    }

    #[test]
    fn a_full_store_refuses_until_a_proof_expires_and_then_forgets_it() {
        let (dpop, key) = (Dpop::new(Some(BASE), 60, 2), ClientKey::new());
        let bound = claims(Some(&key));
        let url = format!("{BASE}/x");
        let admit = |iat: u64, now: u64| {
            let proof = key.proof("GET", &url, TOKEN, iat);
            dpop.admit(&bound, &presented(Scheme::Dpop, Some(&proof), "/x"), now)
        };
        let first = key.proof("GET", &url, TOKEN, NOW - 10);
        let first_request = presented(Scheme::Dpop, Some(&first), "/x");
        assert_eq!(dpop.admit(&bound, &first_request, NOW), Ok(()));
        assert_eq!(admit(NOW, NOW), Ok(()));
        // The first is remembered until NOW - 10 + 60 + 5.
        assert_eq!(
            admit(NOW, NOW),
            Err(Rejection::ReplayStoreFull {
                retry_after_secs: 55
            })
        );
        assert_eq!(
            dpop.admit(&bound, &first_request, NOW + 5),
            Err(Rejection::Dpop(DpopError::Replayed)),
            "a replay stays a replay while the store is full"
        );
        // At its expiry no check could take the first proof again, so it
        // is forgotten and its place taken.
        assert_eq!(admit(NOW + 55, NOW + 55), Ok(()));
        assert_eq!(dpop.spent_len(), 2);
        assert_eq!(
            dpop.admit(&bound, &first_request, NOW + 55),
            Err(Rejection::Dpop(DpopError::Stale))
        );
    }

    #[test]
    fn spent_proofs_are_forgotten_as_they_expire_so_memory_stays_bounded() {
        let spent = SpentProofs::new(1_000_000);
        for i in 0..10_000u64 {
            let digest = digest("jkt", &i.to_string());
            // Proofs spent over 100 s, each remembered for 65 s.
            assert_eq!(
                spent.spend(digest, NOW + i / 100 + 65, NOW + i / 100),
                Ok(())
            );
        }
        // Only the last 65 s or so are kept.
        let kept = lock(&spent.state).digests.len();
        assert!((6_500..=7_000).contains(&kept), "{kept} kept");
        assert_eq!(lock(&spent.state).expiries.len(), kept);
    }
}
