//! Access tokens: EdDSA-signed JWTs with `kid`, signed and verified with
//! the key set of [`super::keys`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::{KeyError, KeySet};

use crate::clock::now_secs;
use crate::sessions::SessionClaims;
use crate::users::{Role, Subscription};

pub const ACCESS_TOKEN_TYPE: &str = "access";

/// Most access tokens remembered as verified.
const VERIFIED_CAPACITY: usize = 65_536;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub exp: u64,
    pub iat: u64,
    pub jti: Uuid,
    pub sid: Uuid,
    #[serde(rename = "type")]
    pub token_type: String,
    pub role: Role,
    pub subscription: Subscription,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed, expired, or not signed by a known key")]
    Invalid,
    #[error("cannot sign token: {0}")]
    Signing(String),
}

pub struct TokenIssuer {
    /// Swapped whole on reload; each request takes one consistent snapshot.
    keys: RwLock<Arc<KeySet>>,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    validation: Validation,
    /// Access tokens whose signature and claims already checked out, so a
    /// gateway asking about the same token again costs a hash lookup
    /// instead of an Ed25519 verification. Keyed by the whole token string
    /// (no digest, so no collision can make a forged token match a cached
    /// one); bounded (quick_cache evicts the coldest), which costs at most
    /// one extra verification per evicted token; an entry is not served
    /// from its `exp` on. Whether the session is still live is never
    /// cached: callers ask Redis every time.
    verified: quick_cache::sync::Cache<Box<str>, Arc<AccessClaims>>,
}

pub struct IssuedAccess {
    pub token: String,
    pub expires_in: Duration,
}

impl TokenIssuer {
    pub fn new(keys: KeySet, issuer: String, audience: String, access_ttl: Duration) -> Self {
        // Only EdDSA is accepted: a token claiming `none` or HS256 (signed
        // with the public key as an HMAC secret) fails before any crypto.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        Self {
            keys: RwLock::new(Arc::new(keys)),
            issuer,
            audience,
            access_ttl,
            validation,
            verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
        }
    }

    /// The key set in force now.
    pub fn keys(&self) -> Arc<KeySet> {
        // A poisoned lock still holds a whole, valid key set.
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reloads the key directory (new keys, retirements, retired keys whose
    /// grace is over). On failure the current set stays in force. Returns
    /// true when the published set changed.
    pub fn reload_keys(&self) -> Result<bool, KeyError> {
        let fresh = self.keys().reload()?;
        let mut current = self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let changed = current.jwks_json() != fresh.jwks_json()
            || current.signing_kid() != fresh.signing_kid();
        if changed {
            *current = Arc::new(fresh);
            self.verified.clear();
        }
        Ok(changed)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Signs an access token for a session.
    pub fn issue(
        &self,
        claims: &SessionClaims,
        session_id: Uuid,
    ) -> Result<IssuedAccess, TokenError> {
        self.issue_for(claims, session_id, self.access_ttl)
    }

    /// Signs an access token living `access_ttl` rather than the configured
    /// lifetime (the load-test kit's `--access-ttl`).
    pub fn issue_for(
        &self,
        claims: &SessionClaims,
        session_id: Uuid,
        access_ttl: Duration,
    ) -> Result<IssuedAccess, TokenError> {
        let now = now_secs();
        let body = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: claims.user_id,
            exp: now + access_ttl.as_secs(),
            iat: now,
            jti: Uuid::new_v4(),
            sid: session_id,
            token_type: ACCESS_TOKEN_TYPE.to_owned(),
            role: claims.role,
            subscription: claims.subscription,
        };
        let payload = serde_json::to_vec(&body).map_err(|e| TokenError::Signing(e.to_string()))?;
        let token = self.keys().sign_jwt(&payload);
        Ok(IssuedAccess {
            token,
            expires_in: access_ttl,
        })
    }

    /// Checks signature, `kid`, `exp`, `iss`, `aud` and `type`. Whether the
    /// session is still live is the caller's second check.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let now = now_secs();
        if let Some(claims) = self.verified.get(token) {
            if now < claims.exp {
                return Ok(AccessClaims::clone(&claims));
            }
            self.verified.remove(token);
        }
        let claims = self.verify_signature(token)?;
        self.verified.insert(token.into(), Arc::new(claims.clone()));
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let keys = self.keys();
        let key = keys.verifying_key(&kid).ok_or(TokenError::Invalid)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.token_type != ACCESS_TOKEN_TYPE {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn issuer(dir: &std::path::Path) -> TokenIssuer {
        let keys = KeySet::load(dir).unwrap();
        TokenIssuer::new(
            keys,
            "tessera".into(),
            "tessera".into(),
            Duration::from_secs(60),
        )
    }

    fn claims() -> SessionClaims {
        SessionClaims {
            user_id: Uuid::new_v4(),
            username: "alice".into(),
            role: Role::Regular,
            subscription: Subscription::Free,
        }
    }

    #[test]
    fn issued_tokens_verify_and_tampering_is_caught() {
        let dir = std::env::temp_dir().join(format!("tessera-jwt-{}", Uuid::new_v4()));
        KeySet::generate(&dir).unwrap();
        let issuer = issuer(&dir);
        let session = Uuid::new_v4();
        let claims = claims();
        let token = issuer.issue(&claims, session).unwrap().token;
        let verified = issuer.verify(&token).unwrap();
        assert_eq!(verified.sub, claims.user_id);
        assert_eq!(verified.sid, session);
        assert_eq!(verified.token_type, "access");

        let parts: Vec<&str> = token.split('.').collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["role"] = "ADMIN".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            parts[2]
        );
        assert!(issuer.verify(&forged).is_err());

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(issuer
            .verify(&format!("{none_header}.{}.", parts[1]))
            .is_err());

        let other_dir = std::env::temp_dir().join(format!("tessera-jwt-{}", Uuid::new_v4()));
        KeySet::generate(&other_dir).unwrap();
        let stranger = self::issuer(&other_dir)
            .issue(&claims, session)
            .unwrap()
            .token;
        assert!(
            issuer.verify(&stranger).is_err(),
            "unknown kid must be rejected"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&other_dir).unwrap();
    }

    #[test]
    fn a_cached_token_is_not_served_after_it_expires() {
        let dir = std::env::temp_dir().join(format!("tessera-jwt-{}", Uuid::new_v4()));
        KeySet::generate(&dir).unwrap();
        let issuer = issuer(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let issued = issuer
            .issue_for(&claims(), Uuid::new_v4(), Duration::ZERO)
            .unwrap();
        let exp = issuer.verify(&issued.token).unwrap().exp;
        assert!(issuer.verified.get(issued.token.as_str()).is_some());
        while now_secs() <= exp {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(issuer.verify(&issued.token).is_err());
        assert!(issuer.verified.get(issued.token.as_str()).is_none());
    }

    /// One key set for the property tests (generating keys is slow).
    fn shared_issuer() -> &'static TokenIssuer {
        static ISSUER: std::sync::OnceLock<TokenIssuer> = std::sync::OnceLock::new();
        ISSUER.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("tessera-jwt-prop-{}", Uuid::new_v4()));
            KeySet::generate(&dir).unwrap();
            let issuer = issuer(&dir);
            std::fs::remove_dir_all(&dir).ok();
            issuer
        })
    }

    proptest::proptest! {
        #[test]
        fn verifying_any_string_is_an_error_never_a_panic(raw in ".*") {
            proptest::prop_assert!(shared_issuer().verify(&raw).is_err());
        }

        /// Three base64url segments with arbitrary JSON headers and claims
        /// get past the framing into header and claim parsing.
        #[test]
        fn verifying_jwt_shaped_garbage_is_an_error(
            header in crate::validation::arbitrary::json_value(),
            claims in crate::validation::arbitrary::json_value(),
            signature in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
        ) {
            let part = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
            let token = format!(
                "{}.{}.{}",
                part(header.to_string().as_bytes()),
                part(claims.to_string().as_bytes()),
                part(&signature)
            );
            proptest::prop_assert!(shared_issuer().verify(&token).is_err());
        }
    }
}
