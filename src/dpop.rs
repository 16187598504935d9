//! DPoP proofs as a request brings them (RFC 9449): checked by
//! [`crate::tokens::dpop::check`] against this service's URL for the
//! request's path, and their `jti` spent in Redis (one `SET NX`, shared by
//! every instance), so a proof works once anywhere.

use std::sync::Arc;

use crate::clock::now_secs;
use crate::redis_client::{RedisClient, RedisFailure};
use crate::tokens::dpop::{check, DpopError, Expected, Proof};
use crate::tokens::opaque::digest_key;
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

pub struct Dpop {
    redis: Arc<RedisClient>,
    /// `server.public_url` without its trailing slash: what `htu` names.
    base: String,
    /// `dpop.max_proof_age_secs`.
    max_age: u64,
}

/// Where a proof's `jti` is remembered: under its key's thumbprint (the
/// hash tag), as a digest (a `jti` is the client's text).
fn jti_key(proof: &Proof) -> String {
    digest_key(
        &format!("tessera:dpop:{{{}}}:", proof.jkt),
        proof.jti.as_bytes(),
    )
}

impl Dpop {
    pub fn new(redis: Arc<RedisClient>, public_url: &str, max_age_secs: u64) -> Self {
        Self {
            redis,
            base: public_url.trim_end_matches('/').to_owned(),
            max_age: max_age_secs,
        }
    }

    /// The proof of a request to `method` `path` of this service, if it
    /// sent one: checked, and its `jti` spent. `access_token`: the token a
    /// resource request presents with it (its `ath` must match).
    pub async fn check(
        &self,
        proof: Option<&str>,
        method: &str,
        path: &str,
        access_token: Option<&str>,
    ) -> Result<Option<Proof>, DpopCheckError> {
        let uri = format!("{}{path}", self.base);
        self.check_at(proof, method, &uri, access_token).await
    }

    /// The URL of this service's `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A resource request's access token and its proof: a token bound to a
    /// key (`cnf.jkt`) is good only with a proof by that key for this
    /// request (`method` `uri`, with `ath`) and sent as `DPoP`; an unbound
    /// one needs none.
    pub async fn check_binding(
        &self,
        bound_to: Option<&Confirmation>,
        presented: Presented<'_>,
        proof: Result<Option<String>, DpopError>,
        method: &str,
        uri: &str,
    ) -> Result<(), DpopCheckError> {
        let Some(cnf) = bound_to else {
            return Ok(());
        };
        if presented.scheme != Scheme::Dpop {
            return Err(DpopError::Missing.into());
        }
        let proof = self
            .check_at(proof?.as_deref(), method, uri, Some(presented.token))
            .await?
            .ok_or(DpopError::Missing)?;
        if proof.jkt != cnf.jkt {
            return Err(DpopError::WrongKey.into());
        }
        Ok(())
    }

    /// [`Dpop::check`] for an absolute URI (`/verify` reads the original
    /// request's from its proxy).
    pub async fn check_at(
        &self,
        proof: Option<&str>,
        method: &str,
        uri: &str,
        access_token: Option<&str>,
    ) -> Result<Option<Proof>, DpopCheckError> {
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
        let fresh: Option<String> = self
            .redis
            .command(
                redis::cmd("SET")
                    .arg(jti_key(&proof))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(proof.jti_lifetime_secs(now, self.max_age)),
            )
            .await?;
        if fresh.is_none() {
            return Err(DpopError::Replayed.into());
        }
        Ok(Some(proof))
    }
}
