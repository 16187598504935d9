//! Who is calling: a client proves itself with a secret (HTTP Basic or the
//! form, RFC 6749 §2.3.1), with a signed assertion (`private_key_jwt`,
//! RFC 7523 §2.2), or not at all (a public client). Secrets are checked
//! against `gateway.clients` and the registry's in-process copy, so no
//! request reads PostgreSQL; an assertion's `jti` is remembered in Redis
//! until it expires, so a replay is refused.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::SecretString;
use serde::Deserialize;

use super::OAuthError;
use crate::clients::{secret, AuthMethod, ClientKind, StoredClient};
use crate::clock::now_secs;
use crate::rate_limit::RateLimitError;
use crate::redis_client::RedisClient;
use crate::sessions::SessionClient;

/// RFC 7523 §2.2's `client_assertion_type`.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may live (its `exp` from now): its `jti` is
/// kept that long.
const MAX_ASSERTION_LIFETIME_SECS: u64 = 3600;

/// What a caller presented to prove which client it is.
#[derive(Debug)]
pub enum Presented {
    /// Nothing: a public client that does not name itself.
    Nothing,
    /// A `client_id` alone: a public client.
    Id(String),
    /// A secret, by HTTP Basic or the form.
    Secret { id: String, secret: SecretString },
    /// A signed JWT (`private_key_jwt`); `client_id` if the form named one.
    Assertion {
        client_id: Option<String>,
        jwt: String,
    },
}

impl Presented {
    pub fn has_credentials(&self) -> bool {
        matches!(self, Presented::Secret { .. } | Presented::Assertion { .. })
    }
}

/// A client that passed [`super::OAuth::authenticate_client`], which alone
/// makes one: a grant cannot be served before its client is checked.
#[derive(Debug, Clone)]
pub enum AuthenticatedClient {
    /// No credentials and no registry entry: today's first-party app.
    Public,
    /// A `gateway.clients` entry that proved its secret.
    Gateway(String),
    /// A registry entry: a confidential client that proved itself, or a
    /// public one that named itself.
    Registered(Arc<StoredClient>),
}

impl AuthenticatedClient {
    /// The client's id: a gateway's or a registered client's; `None` for
    /// an unregistered public client.
    pub fn id(&self) -> Option<&str> {
        match self {
            AuthenticatedClient::Public => None,
            AuthenticatedClient::Gateway(id) => Some(id),
            AuthenticatedClient::Registered(stored) => Some(&stored.client.client_id),
        }
    }

    /// What a session this client opens remembers of it (a registered
    /// client's id, `scope`, and whether its refresh token needs its
    /// authentication); tessera's own login for anyone else.
    pub fn session_client(&self, scope: Option<String>) -> SessionClient {
        match self {
            AuthenticatedClient::Registered(stored) => SessionClient {
                id: Some(stored.client.client_id.clone()),
                scope,
                confidential: stored.client.settings.kind == ClientKind::Confidential,
            },
            AuthenticatedClient::Public | AuthenticatedClient::Gateway(_) => {
                SessionClient::default()
            }
        }
    }

    /// A confidential client's id (a gateway's or a registered one's);
    /// `None` for a public client.
    pub fn confidential_id(&self) -> Option<&str> {
        match self {
            AuthenticatedClient::Public => None,
            AuthenticatedClient::Gateway(id) => Some(id),
            AuthenticatedClient::Registered(stored) => (stored.client.settings.kind
                == ClientKind::Confidential)
                .then_some(stored.client.client_id.as_str()),
        }
    }
}

/// The claims tessera reads from a client assertion.
#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: u64,
    jti: String,
}

/// Reads the `sub` of an assertion without checking it, to find the client
/// whose keys will check it.
fn assertion_subject(jwt: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Subject {
        sub: String,
    }
    let mut peek = Validation::new(Algorithm::EdDSA);
    peek.insecure_disable_signature_validation();
    peek.validate_exp = false;
    peek.validate_aud = false;
    peek.required_spec_claims = HashSet::new();
    let header = jsonwebtoken::decode_header(jwt).ok()?;
    peek.algorithms = vec![header.alg];
    jsonwebtoken::decode::<Subject>(jwt, &DecodingKey::from_secret(&[]), &peek)
        .ok()
        .map(|data| data.claims.sub)
}

pub(super) struct AssertionCheck<'a> {
    pub redis: &'a RedisClient,
    /// What `aud` may name: the token endpoint's URL or the issuer.
    pub audiences: &'a [String],
}

impl AssertionCheck<'_> {
    /// The client whose key signed `jwt`, once its `jti` is recorded.
    pub(super) async fn check(
        &self,
        client_id: Option<&str>,
        jwt: &str,
        find: impl Fn(&str) -> Result<Option<Arc<StoredClient>>, OAuthError>,
    ) -> Result<Arc<StoredClient>, OAuthError> {
        let subject = assertion_subject(jwt).ok_or(OAuthError::InvalidClient)?;
        if client_id.is_some_and(|id| id != subject) {
            return Err(OAuthError::InvalidClient);
        }
        let stored = find(&subject)?.ok_or(OAuthError::InvalidClient)?;
        let settings = &stored.client.settings;
        let jwks = match (&settings.jwks, settings.auth_method) {
            (Some(jwks), AuthMethod::PrivateKeyJwt) => jwks,
            _ => return Err(OAuthError::InvalidClient),
        };
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| OAuthError::InvalidClient)?;
        if !matches!(header.alg, Algorithm::EdDSA | Algorithm::ES256) {
            return Err(OAuthError::InvalidClient);
        }
        let mut validation = Validation::new(header.alg);
        validation.set_audience(self.audiences);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 5;
        let claims = jwks
            .keys()
            .keys
            .iter()
            .filter(|key| header.kid.is_none() || key.common.key_id == header.kid)
            .filter_map(|key| DecodingKey::from_jwk(key).ok())
            .find_map(|key| jsonwebtoken::decode::<AssertionClaims>(jwt, &key, &validation).ok())
            .ok_or(OAuthError::InvalidClient)?
            .claims;
        let now = now_secs();
        if claims.iss != subject
            || claims.sub != subject
            || claims.jti.is_empty()
            || claims.jti.len() > 256
            || claims.exp > now + MAX_ASSERTION_LIFETIME_SECS
        {
            return Err(OAuthError::InvalidClient);
        }
        // Remembered until the assertion expires (plus the leeway): a
        // replay inside that time finds it; after it, `exp` refuses it.
        let digest = secret::digest(&claims.jti);
        let key = format!(
            "tessera:assertion:{{{subject}}}:{}",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest)
        );
        let ttl = claims.exp.saturating_sub(now) + 10;
        let fresh: Option<String> = self
            .redis
            .command(
                redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl),
            )
            .await
            .map_err(|e| OAuthError::from(RateLimitError::Redis(e)))?;
        if fresh.is_none() {
            tracing::info!(client_id = %subject, "client assertion replayed");
            return Err(OAuthError::InvalidClient);
        }
        Ok(stored)
    }
}

/// Whether `presented` is the current secret of `stored`, or its previous
/// one while that still lives.
pub(super) fn registered_secret_matches(stored: &StoredClient, presented: &SecretString) -> bool {
    if !stored.client.settings.auth_method.uses_secret() {
        return false;
    }
    let current = stored
        .secret
        .as_ref()
        .is_some_and(|digest| secret::matches(digest, presented));
    let previous = stored
        .previous_secret
        .as_ref()
        .is_some_and(|(digest, until)| Utc::now() < *until && secret::matches(digest, presented));
    current || previous
}
