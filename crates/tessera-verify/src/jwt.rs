//! tessera's access tokens: EdDSA JWTs with a `kid`, checked against the
//! published key set (JWKS). Only what tessera issues is accepted: `alg`
//! EdDSA, `type` access, the configured `iss` and `aud`, an `exp` ahead.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
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
struct Header {
    alg: String,
    kid: Option<String>,
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

/// The Ed25519 keys of a JWKS document, by `kid`; keys of other types are
/// skipped.
pub fn parse_jwks(body: &[u8]) -> Result<HashMap<String, VerifyingKey>, FetchError> {
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
        // way no key to check a signature with.
        let key = URL_SAFE_NO_PAD
            .decode(x)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok());
        let Some(key) = key else {
            return Err(FetchError::JwksKey { kid });
        };
        keys.insert(kid, key);
    }
    Ok(keys)
}

/// What the checks compare claims with.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
}

/// The `kid` a token names, for a key lookup before verifying.
pub fn kid_of(token: &str) -> Result<String, Rejection> {
    let header = token.split('.').next().ok_or(Rejection::Malformed)?;
    let header: Header = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(Rejection::Malformed)?;
    if header.alg != "EdDSA" {
        return Err(Rejection::Malformed);
    }
    header.kid.ok_or(Rejection::Malformed)
}

/// One Ed25519 verification, then the claims' checks (`exp` against `now`,
/// unix seconds).
pub fn verify(
    token: &str,
    key: &VerifyingKey,
    expect: &Expect<'_>,
    now: u64,
) -> Result<Claims, Rejection> {
    let (signed, signature) = token.rsplit_once('.').ok_or(Rejection::Malformed)?;
    let (_, payload) = signed.split_once('.').ok_or(Rejection::Malformed)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(Rejection::Malformed)?;
    key.verify_strict(signed.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| Rejection::BadSignature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(Rejection::Malformed)?;
    if claims.iss != expect.issuer || claims.aud != expect.audience {
        return Err(Rejection::WrongIssuerOrAudience);
    }
    if claims.token_type != "access" {
        return Err(Rejection::NotAnAccessToken);
    }
    if claims.exp <= now {
        return Err(Rejection::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
pub(crate) mod tests {
    use ed25519_dalek::{Signer, SigningKey};
    use serde_json::{json, Value};

    use super::*;

    pub fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&rand::random())
    }

    pub fn sign(key: &SigningKey, kid: &str, claims: &Value) -> String {
        let header =
            URL_SAFE_NO_PAD.encode(json!({"alg": "EdDSA", "kid": kid, "typ": "JWT"}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(key.sign(signed.as_bytes()).to_bytes());
        format!("{signed}.{signature}")
    }

    pub fn claims(now: u64) -> Value {
        json!({
            "iss": "tessera", "aud": "tessera", "sub": Uuid::new_v4(), "exp": now + 60,
            "iat": now, "jti": Uuid::new_v4(), "sid": Uuid::new_v4(), "type": "access",
            "role": "REGULAR", "subscription": "FREE",
        })
    }

    const EXPECT: Expect<'static> = Expect {
        issuer: "tessera",
        audience: "tessera",
    };

    #[test]
    fn a_token_verifies_and_each_check_refuses_its_own_fault() {
        let key = signing_key();
        let now = 1_800_000_000;
        let good = sign(&key, "k1", &claims(now));
        assert_eq!(kid_of(&good).unwrap(), "k1");
        let verified = verify(&good, &key.verifying_key(), &EXPECT, now).unwrap();
        assert_eq!(verified.token_type, "access");

        let other = signing_key();
        assert_eq!(
            verify(&good, &other.verifying_key(), &EXPECT, now),
            Err(Rejection::BadSignature)
        );
        let mut tampered = good.clone();
        tampered.insert(good.find('.').unwrap() + 2, 'x');
        assert!(verify(&tampered, &key.verifying_key(), &EXPECT, now).is_err());
        assert_eq!(
            verify(&good, &key.verifying_key(), &EXPECT, now + 60),
            Err(Rejection::Expired)
        );
        for (field, value) in [("iss", json!("evil")), ("aud", json!("other"))] {
            let mut bad = claims(now);
            bad[field] = value;
            let token = sign(&key, "k1", &bad);
            assert_eq!(
                verify(&token, &key.verifying_key(), &EXPECT, now),
                Err(Rejection::WrongIssuerOrAudience),
                "{field}"
            );
        }
        let mut refresh = claims(now);
        refresh["type"] = json!("refresh");
        let token = sign(&key, "k1", &refresh);
        assert_eq!(
            verify(&token, &key.verifying_key(), &EXPECT, now),
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
        assert_eq!(keys["k1"], key.verifying_key());
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
