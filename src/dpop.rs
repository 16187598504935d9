//! DPoP proofs as a request brings them (RFC 9449): checked by
//! [`tessera_dpop::check`] against this service's URL for the request's
//! path, and their `jti` spent in Redis, so a proof works once anywhere.
//!
//! A `jti` is spent in the round trip the path makes anyway where it has
//! one: a refresh inside `rotate.lua`, a resource request beside its
//! session read. Its key then lives in the user's hash-tag slot (so both
//! land on one node of a cluster); a replay for the same user is caught,
//! and a replay for another user's token is not possible, for a resource
//! proof names its token (`ath`) and a refresh proof's token is bound to
//! the same key. Paths without a round trip of their own (login, the
//! token endpoint's other grants, logout) spend it with one `SET NX` in the
//! key's own slot ([`Dpop::spend`]).

use std::sync::Arc;

use sha2::{Digest, Sha256};
pub use tessera_dpop::Scheme;
use tessera_dpop::{check, DpopError, Expected, Proof};

use crate::clock::now_secs;
use crate::redis_client::{RedisClient, RedisFailure};
use crate::tokens::opaque::{hex_key, Domain, TokenKeys};
use crate::tokens::Confirmation;

/// An access token from an `Authorization` header, and its scheme.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub scheme: Scheme,
    pub token: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum DpopCheckError {
    #[error(transparent)]
    Proof(#[from] DpopError),
    #[error("DPoP proofs: {0}")]
    Redis(#[from] RedisFailure),
}

/// A proof that passed every check but its `jti`'s freshness, which the
/// caller asks Redis (see the module's note on where).
#[derive(Debug, Clone)]
pub struct Checked {
    proof: Proof,
    /// How long its `jti` must be remembered.
    ttl_secs: u64,
}

impl Checked {
    /// The thumbprint of the key that signed it.
    pub fn jkt(&self) -> &str {
        &self.proof.jkt
    }

    /// The key its `jti` is remembered under, in the slot of `tag` (a
    /// user id, or the key's own thumbprint): a digest of the thumbprint
    /// and the `jti` (the client's text, of any length).
    pub fn jti_key(&self, tag: &str) -> String {
        let digest = Sha256::new()
            .chain_update(self.proof.jkt.as_bytes())
            .chain_update(b" ")
            .chain_update(self.proof.jti.as_bytes())
            .finalize();
        hex_key(&format!("tessera:dpop:{{{tag}}}:"), &digest)
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }
}

pub struct Dpop {
    redis: Arc<RedisClient>,
    /// `server.public_url` without its trailing slash: what `htu` names.
    base: String,
    /// `dpop.max_proof_age_secs`.
    max_age: u64,
    /// `dpop.require_nonce`: the nonces proofs must carry.
    nonces: Option<Nonces>,
}

/// Server nonces (RFC 9449 §8) without a store: `<window>.<tag>`, the tag an
/// HMAC of the window number under the token secret, so every instance
/// sharing `session.rotation_secret` gives and takes the same ones. A nonce
/// is taken in its window and the next (one to two windows of life).
pub struct Nonces {
    keys: TokenKeys,
    window_secs: u64,
}

impl Nonces {
    pub fn new(keys: TokenKeys, window_secs: u64) -> Self {
        Self {
            keys,
            window_secs: window_secs.max(1),
        }
    }

    fn at(&self, window: u64) -> String {
        let tag = self
            .keys
            .short_tag(Domain::DpopNonce, &window.to_be_bytes());
        format!("{window}.{tag}")
    }

    /// The nonce this moment hands out.
    pub fn current(&self, now: u64) -> String {
        self.at(now / self.window_secs)
    }

    fn accepts(&self, nonce: &str, now: u64) -> bool {
        let Some((window, tag)) = nonce.split_once('.') else {
            return false;
        };
        let (Ok(window), current) = (window.parse::<u64>(), now / self.window_secs) else {
            return false;
        };
        current.checked_sub(window).is_some_and(|age| age <= 1)
            && self
                .keys
                .check_short_tag(Domain::DpopNonce, &window.to_be_bytes(), tag)
    }
}

impl Dpop {
    /// `nonces`: when proofs must carry one (`dpop.require_nonce`).
    pub fn new(
        redis: Arc<RedisClient>,
        public_url: &str,
        max_age_secs: u64,
        nonces: Option<Nonces>,
    ) -> Self {
        Self {
            redis,
            base: public_url.trim_end_matches('/').to_owned(),
            max_age: max_age_secs,
            nonces,
        }
    }

    /// The nonce to hand out now, when proofs must carry one.
    pub fn current_nonce(&self) -> Option<String> {
        self.nonces
            .as_ref()
            .map(|nonces| nonces.current(now_secs()))
    }

    /// The URL of this service's `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The proof of a request to `method` `path` of this service, if it
    /// sent one: checked, and its `jti` spent on its own.
    pub async fn check(
        &self,
        proof: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<Option<Checked>, DpopCheckError> {
        let Some(checked) = self.check_unspent(proof, method, &self.url(path), None)? else {
            return Ok(None);
        };
        self.spend(&checked).await?;
        Ok(Some(checked))
    }

    /// The proof of a request to `method` `uri`, checked in process; its
    /// `jti` is the caller's to spend. `access_token`: the token a resource
    /// request presents with it (its `ath` must match).
    pub fn check_unspent(
        &self,
        proof: Option<&str>,
        method: &str,
        uri: &str,
        access_token: Option<&str>,
    ) -> Result<Option<Checked>, DpopError> {
        let Some(proof) = proof else {
            return Ok(None);
        };
        let now = now_secs();
        let proof = check(
            proof,
            &Expected {
                method,
                uri,
                access_token,
                now,
                max_age: self.max_age,
            },
        )?;
        if let Some(nonces) = &self.nonces {
            let carried = proof.nonce.as_deref();
            if !carried.is_some_and(|nonce| nonces.accepts(nonce, now)) {
                return Err(DpopError::UseNonce);
            }
        }
        let ttl_secs = proof.jti_lifetime_secs(now, self.max_age);
        Ok(Some(Checked { proof, ttl_secs }))
    }

    /// A resource request's access token bound to a key (`cnf`) and its
    /// proof: good only with a proof by that key for this request
    /// (`method` `uri`, with `ath`) and sent as `DPoP`. The `jti` is the
    /// caller's to spend, with the session read.
    pub fn check_binding(
        &self,
        cnf: &Confirmation,
        presented: Presented<'_>,
        proof: Result<Option<String>, DpopError>,
        method: &str,
        uri: &str,
    ) -> Result<Checked, DpopError> {
        if presented.scheme != Scheme::Dpop {
            return Err(DpopError::Missing);
        }
        let checked = self
            .check_unspent(proof?.as_deref(), method, uri, Some(presented.token))?
            .ok_or(DpopError::Missing)?;
        if checked.jkt() != cnf.jkt {
            return Err(DpopError::WrongKey);
        }
        Ok(checked)
    }

    /// Spends a proof's `jti` on its own (one `SET NX` in its key's slot,
    /// shared by every instance): a path without a round trip to carry it.
    pub async fn spend(&self, checked: &Checked) -> Result<(), DpopCheckError> {
        let fresh: Option<String> = self
            .redis
            .command(
                redis::cmd("SET")
                    .arg(checked.jti_key(checked.jkt()))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(checked.ttl_secs),
            )
            .await?;
        match fresh {
            Some(_) => Ok(()),
            None => Err(DpopError::Replayed.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lives_in_its_window_and_the_next_and_only_under_its_secret() {
        let nonces = Nonces::new(TokenKeys::new([[7u8; 32]]).unwrap(), 60);
        let given = nonces.current(6_000);
        assert!(nonces.accepts(&given, 6_000));
        assert!(nonces.accepts(&given, 6_119));
        assert!(!nonces.accepts(&given, 6_120), "two windows on");
        assert!(!nonces.accepts(&given, 5_999), "a window back");
        let (window, tag) = given.split_once('.').unwrap();
        let next = format!("{}.{tag}", window.parse::<u64>().unwrap() + 1);
        assert!(!nonces.accepts(&next, 6_060), "the tag names its window");
        let elsewhere = Nonces::new(TokenKeys::new([[8u8; 32]]).unwrap(), 60);
        assert!(!elsewhere.accepts(&given, 6_000));
        for junk in ["", ".", "100", "x.y", "18446744073709551615.AAAA"] {
            assert!(!nonces.accepts(junk, 6_000), "{junk:?}");
        }
    }
}
