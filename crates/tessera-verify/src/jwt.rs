//! tessera's access tokens: EdDSA JWTs with a `kid`, checked with
//! jsonwebtoken against the published key set (JWKS). Only what tessera
//! issues is accepted: `alg` EdDSA, `type` access, the configured `iss` and
//! `aud`, an `exp` ahead.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use uuid::Uuid;

use crate::{FetchError, Rejection};

/// The claims of a verified access token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    pub exp: u64,
    pub iat: u64,
    pub jti: Uuid,
    /// The session id.
    pub sid: Uuid,
    #[serde(rename = "type")]
    pub token_type: String,
    /// `ADMIN`, `MODERATOR` or `REGULAR` when the token was issued (a
    /// demotion since revokes it through the feed).
    pub role: String,
    /// `FREE` or `PRO` when the token was issued.
    pub subscription: String,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    kid: Option<String>,
}

/// An Ed25519 public key of the JWKS. Its bytes tell whether a refetched
/// set changed (jsonwebtoken's key cannot be compared).
#[derive(Clone)]
pub struct Key {
    bytes: [u8; 32],
    decoding: DecodingKey,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

/// The Ed25519 keys of a JWKS document, by `kid`; keys of other types are
/// skipped.
pub fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Key>, FetchError> {
    let set: JwkSet = serde_json::from_slice(body).map_err(FetchError::Jwks)?;
    let mut keys = HashMap::new();
    for jwk in set.keys {
        let (Some(kid), Some(x), Some("Ed25519")) = (jwk.kid, jwk.x, jwk.crv.as_deref()) else {
            continue;
        };
        if jwk.kty != "OKP" {
            continue;
        }
        // Not 32 bytes of base64url, or not a point on the curve: either
        // way no key to check a signature with, so the set is refused here
        // rather than every token signed by it later.
        let bytes = URL_SAFE_NO_PAD
            .decode(x)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .filter(|bytes| ed25519_dalek::VerifyingKey::from_bytes(bytes).is_ok());
        let Some(bytes) = bytes else {
            return Err(FetchError::JwksKey { kid });
        };
        let decoding = DecodingKey::from_ed_der(&bytes);
        keys.insert(kid, Key { bytes, decoding });
    }
    Ok(keys)
}

/// What the checks compare claims with: EdDSA only, the deployment's `iss`
/// and `aud`. Built once per verifier.
pub fn validation(issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // `exp` is checked in `verify`, against the same `now` as a cached
    // token's, so a token expires at the same second either way.
    validation.validate_exp = false;
    validation
}

/// The `kid` a token names, for a key lookup before verifying.
pub fn kid_of(token: &str) -> Result<String, Rejection> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
    if header.alg != Algorithm::EdDSA {
        return Err(Rejection::Malformed);
    }
    header.kid.ok_or(Rejection::Malformed)
}

/// One Ed25519 verification, then the claims' checks (`exp` against `now`,
/// unix seconds).
pub fn verify(
    token: &str,
    key: &Key,
    validation: &Validation,
    now: u64,
) -> Result<Claims, Rejection> {
    let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => Rejection::BadSignature,
            ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                Rejection::WrongIssuerOrAudience
            }
            _ => Rejection::Malformed,
        })?
        .claims;
    if claims.token_type != "access" {
        return Err(Rejection::NotAnAccessToken);
    }
    if claims.exp <= now {
        return Err(Rejection::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use ed25519_dalek::SigningKey;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{json, Value};

    use super::*;

    fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&rand::random())
    }

    fn key_of(key: &SigningKey) -> Key {
        let bytes = key.verifying_key().to_bytes();
        Key {
            bytes,
            decoding: DecodingKey::from_ed_der(&bytes),
        }
    }

    fn sign(key: &SigningKey, kid: &str, claims: &Value) -> String {
        let der = key.to_pkcs8_der().unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
    }

    fn claims(now: u64) -> Value {
        json!({
            "iss": "tessera", "aud": "tessera", "sub": Uuid::new_v4(), "exp": now + 60,
            "iat": now, "jti": Uuid::new_v4(), "sid": Uuid::new_v4(), "type": "access",
            "role": "REGULAR", "subscription": "FREE",
        })
    }

    #[test]
    fn a_token_verifies_and_each_check_refuses_its_own_fault() {
        let expect = validation("tessera", "tessera");
        let key = signing_key();
        let now = 1_800_000_000;
        let good = sign(&key, "k1", &claims(now));
        assert_eq!(kid_of(&good).unwrap(), "k1");
        let verified = verify(&good, &key_of(&key), &expect, now).unwrap();
        assert_eq!(verified.token_type, "access");

        let other = signing_key();
        assert_eq!(
            verify(&good, &key_of(&other), &expect, now),
            Err(Rejection::BadSignature)
        );
        let mut tampered = good.clone();
        tampered.insert(good.find('.').unwrap() + 2, 'x');
        assert!(verify(&tampered, &key_of(&key), &expect, now).is_err());
        assert_eq!(
            verify(&good, &key_of(&key), &expect, now + 60),
            Err(Rejection::Expired)
        );
        for (field, value) in [("iss", json!("evil")), ("aud", json!("other"))] {
            let mut bad = claims(now);
            bad[field] = value;
            let token = sign(&key, "k1", &bad);
            assert_eq!(
                verify(&token, &key_of(&key), &expect, now),
                Err(Rejection::WrongIssuerOrAudience),
                "{field}"
            );
        }
        let mut refresh = claims(now);
        refresh["type"] = json!("refresh");
        let token = sign(&key, "k1", &refresh);
        assert_eq!(
            verify(&token, &key_of(&key), &expect, now),
            Err(Rejection::NotAnAccessToken)
        );
    }

    #[test]
    fn only_eddsa_with_a_kid_is_read() {
        let hs = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert_eq!(kid_of(&hs), Err(Rejection::Malformed));
        let no_kid = format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA"}"#));
        assert_eq!(kid_of(&no_kid), Err(Rejection::Malformed));
        assert_eq!(kid_of("garbage"), Err(Rejection::Malformed));
    }

    #[test]
    fn jwks_keys_are_read_by_kid() {
        let key = signing_key();
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let body = json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1", "alg": "EdDSA", "use": "sig"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa"},
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys["k1"] == key_of(&key));
    }

    #[test]
    fn a_key_set_that_does_not_read_says_why() {
        assert!(matches!(parse_jwks(b"<html>"), Err(FetchError::Jwks(_))));
        let short = URL_SAFE_NO_PAD.encode([7u8; 31]);
        let body = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": short, "kid": "k2"}]});
        assert!(matches!(
            parse_jwks(body.to_string().as_bytes()),
            Err(FetchError::JwksKey { kid }) if kid == "k2"
        ));
    }
}
