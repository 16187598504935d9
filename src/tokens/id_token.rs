//! OpenID Connect ID tokens (OIDC Core §2): JWTs with `typ: JWT`, signed
//! with EdDSA by the key that signs access tokens, or with RS256 by the key
//! set's RSA key for a client that registers
//! `id_token_signed_response_alg: "RS256"`. An ID token says who signed in,
//! to which client, and how; it is never an access token (it carries no
//! `type: "access"`, which [`TokenIssuer::verify`] requires).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use uuid::Uuid;

use super::access::{TokenError, TokenIssuer};
use super::keys::JwsAlg;

/// The JOSE `typ` of an ID token.
pub const ID_TOKEN_JWT_TYPE: &str = "JWT";

/// How an ID token is signed: EdDSA (the default) or RS256.
pub type IdTokenAlg = JwsAlg;

/// An ID token's claims (OIDC Core §2, §3.1.3.6, §5.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub iss: String,
    /// The user's id.
    pub sub: String,
    /// The client the token is for (its `client_id`).
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    /// When the user last authenticated (seconds since the epoch).
    pub auth_time: u64,
    /// The authorization request's `nonce`, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// How the user authenticated (RFC 8176 values: `pwd`, `otp`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The session the sign-in made (OIDC Front/Back-Channel Logout).
    pub sid: Uuid,
    /// [`at_hash`] of the access token issued with it.
    pub at_hash: String,
    /// The `email` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The `profile` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
}

/// The `at_hash` of `access_token` for an ID token signed with `alg` (OIDC
/// Core §3.1.3.6): the base64url of the left half of the hash that `alg`
/// uses, over the token's ASCII: SHA-256 for RS256, SHA-512 for EdDSA with
/// Ed25519.
pub fn at_hash(access_token: &str, alg: IdTokenAlg) -> String {
    match alg {
        JwsAlg::RS256 => {
            let digest = Sha256::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
        }
        JwsAlg::EdDSA => {
            let digest = Sha512::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
        }
    }
}

impl TokenIssuer {
    /// Signs an ID token: header `{"typ": "JWT", "alg", "kid"}`, with the
    /// key set's Ed25519 signing key for EdDSA or its RSA key for RS256 (an
    /// error when the set has none). The claims are signed as given.
    pub fn issue_id_token(
        &self,
        claims: &IdTokenClaims,
        alg: IdTokenAlg,
    ) -> Result<String, TokenError> {
        let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        self.keys()
            .sign_typed(ID_TOKEN_JWT_TYPE, alg, &payload)
            .ok_or(TokenError::NoSigningKey(alg))
    }
}

impl TokenIssuer {
    /// The claims of an ID token this issuer signed (EdDSA or RS256, any
    /// key of the set), however long ago it expired: RP-initiated logout's
    /// `id_token_hint` names the session to end with one (OIDC RP-Initiated
    /// Logout §2), and a hint is often past its `exp` by then.
    pub fn read_id_token_hint(&self, token: &str) -> Result<IdTokenClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.typ.as_deref() != Some(ID_TOKEN_JWT_TYPE) {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let keys = self.keys();
        let key = keys.verifying_key(&kid).ok_or(TokenError::Invalid)?;
        let mut validation = jsonwebtoken::Validation::new(key.alg.algorithm());
        validation.set_issuer(&[self.issuer()]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        jsonwebtoken::decode::<IdTokenClaims>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Duration;

    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    use super::*;
    use crate::clock::now_secs;
    use crate::sessions::SessionClaims;
    use crate::tokens::KeySet;
    use crate::users::{Role, Subscription};

    /// One issuer whose key set has both kinds (RSA keys are slow to make).
    fn issuer() -> &'static TokenIssuer {
        static ISSUER: OnceLock<TokenIssuer> = OnceLock::new();
        ISSUER.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("tessera-id-token-{}", Uuid::new_v4()));
            KeySet::generate_set(&dir).unwrap();
            let keys = KeySet::load(&dir).unwrap();
            std::fs::remove_dir_all(&dir).unwrap();
            TokenIssuer::new(
                keys,
                "https://auth.example.com".into(),
                "tessera".into(),
                Duration::from_secs(900),
            )
        })
    }

    fn claims(access_token: &str, alg: IdTokenAlg) -> IdTokenClaims {
        let now = now_secs();
        IdTokenClaims {
            iss: "https://auth.example.com".into(),
            sub: Uuid::new_v4().to_string(),
            aud: "notes-app".into(),
            exp: now + 300,
            iat: now,
            auth_time: now - 5,
            nonce: Some("n-0S6_WzA2Mj".into()),
            amr: Some(vec!["pwd".into(), "otp".into()]),
            acr: Some("urn:tessera:mfa".into()),
            sid: Uuid::new_v4(),
            at_hash: at_hash(access_token, alg),
            email: Some("alice@example.com".into()),
            email_verified: Some(true),
            preferred_username: Some("alice".into()),
        }
    }

    fn access_token() -> String {
        let session = SessionClaims {
            user_id: Uuid::new_v4(),
            username: "alice".into(),
            role: Role::Regular,
            subscription: Subscription::Free,
            client: crate::sessions::SessionClient::default(),
            authn: crate::sessions::Authn::password(0),
        };
        issuer().issue(&session, Uuid::new_v4()).unwrap().token
    }

    #[test]
    fn at_hash_is_the_left_half_of_the_algs_hash() {
        // OIDC Core's own example (A.3, RS256), and the same token's EdDSA
        // value; both computed with Python's hashlib:
        // base64url(sha256(t)[:16]) and base64url(sha512(t)[:32]).
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(at_hash(token, IdTokenAlg::RS256), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(
            at_hash(token, IdTokenAlg::EdDSA),
            "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM"
        );
    }

    #[test]
    fn id_tokens_of_either_alg_verify_against_the_published_jwks() {
        let issuer = issuer();
        let keys = issuer.keys();
        let jwks: JwkSet = serde_json::from_str(keys.jwks_json()).unwrap();
        let access = access_token();
        for (alg, algorithm, kid) in [
            (IdTokenAlg::EdDSA, Algorithm::EdDSA, keys.signing_kid()),
            (
                IdTokenAlg::RS256,
                Algorithm::RS256,
                keys.rsa_signing_kid().unwrap(),
            ),
        ] {
            let claims = claims(&access, alg);
            let token = issuer.issue_id_token(&claims, alg).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            assert_eq!(header.alg, algorithm);
            assert_eq!(header.kid.as_deref(), Some(kid));

            // Found by kid in the JWKS, as a relying party finds it.
            let jwk = jwks.find(kid).expect("the signing key is published");
            let key = DecodingKey::from_jwk(jwk).unwrap();
            let mut validation = Validation::new(algorithm);
            validation.set_audience(&["notes-app"]);
            validation.set_issuer(&["https://auth.example.com"]);
            let verified = jsonwebtoken::decode::<IdTokenClaims>(&token, &key, &validation)
                .unwrap()
                .claims;
            assert_eq!(verified, claims);
            assert_eq!(verified.at_hash, at_hash(&access, alg));

            // The other kind of key does not verify it.
            let other = jwks
                .keys
                .iter()
                .find(|k| k.common.key_id.as_deref() != Some(kid))
                .unwrap();
            let mut wrong = Validation::new(match algorithm {
                Algorithm::EdDSA => Algorithm::RS256,
                _ => Algorithm::EdDSA,
            });
            wrong.set_audience(&["notes-app"]);
            assert!(jsonwebtoken::decode::<IdTokenClaims>(
                &token,
                &DecodingKey::from_jwk(other).unwrap(),
                &wrong
            )
            .is_err());
        }
    }

    #[test]
    fn optional_claims_are_left_out_when_absent() {
        let claims = IdTokenClaims {
            nonce: None,
            amr: None,
            acr: None,
            email: None,
            email_verified: None,
            preferred_username: None,
            ..claims("token", IdTokenAlg::EdDSA)
        };
        let json = serde_json::to_value(&claims).unwrap();
        let mut names: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "at_hash",
                "aud",
                "auth_time",
                "exp",
                "iat",
                "iss",
                "sid",
                "sub"
            ]
        );
    }

    #[test]
    fn an_id_token_is_never_an_access_token() {
        let issuer = issuer();
        let access = access_token();
        assert!(issuer.verify(&access).is_ok());
        for alg in [IdTokenAlg::EdDSA, IdTokenAlg::RS256] {
            // Even one naming the access tokens' audience and issuer.
            for aud in ["notes-app", "tessera"] {
                let claims = IdTokenClaims {
                    aud: aud.into(),
                    iss: issuer.issuer().into(),
                    ..claims(&access, alg)
                };
                let token = issuer.issue_id_token(&claims, alg).unwrap();
                assert!(matches!(issuer.verify(&token), Err(TokenError::Invalid)));
                assert!(issuer.verify_for(&token, aud).is_err());
                assert!(issuer.verify_any_audience(&token).is_err());
            }
        }
    }

    #[test]
    fn rs256_needs_an_rsa_key_in_the_set() {
        let dir = std::env::temp_dir().join(format!("tessera-id-token-{}", Uuid::new_v4()));
        KeySet::generate(&dir).unwrap();
        let keys = KeySet::load(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(keys.rsa_signing_kid().is_none());
        let issuer = TokenIssuer::new(
            keys,
            "tessera".into(),
            "tessera".into(),
            Duration::from_secs(60),
        );
        let claims = claims("token", IdTokenAlg::RS256);
        assert!(matches!(
            issuer.issue_id_token(&claims, IdTokenAlg::RS256),
            Err(TokenError::NoSigningKey(IdTokenAlg::RS256))
        ));
        assert!(issuer.issue_id_token(&claims, IdTokenAlg::EdDSA).is_ok());
    }
}
