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
use tessera_dpop::{check, DpopError, Expected, Proof};

use crate::clock::now_secs;
use crate::redis_client::{RedisClient, RedisFailure};
use crate::tokens::opaque::hex_key;
use crate::tokens::Confirmation;

/// How an access token was presented (RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

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
}

impl Dpop {
    pub fn new(redis: Arc<RedisClient>, public_url: &str, max_age_secs: u64) -> Self {
        Self {
            redis,
            base: public_url.trim_end_matches('/').to_owned(),
            max_age: max_age_secs,
        }
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
