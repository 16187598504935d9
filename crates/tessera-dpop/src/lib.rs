#![forbid(unsafe_code)]
//! DPoP proofs (RFC 9449): a JWT the client signs with a key it keeps, for
//! one request. Checked here: `typ: dpop+jwt`, EdDSA (Ed25519) or ES256
//! (P-256) with the public key in the header's `jwk` (a private part is
//! refused), the signature, `htm`, `htu` (scheme, host and path, RFC 9449
//! §4.3: query and fragment ignored), `iat` within the allowed age and skew,
//! `ath` when an access token goes with it. Whether the `jti` was seen
//! before is the store's question (one `SET NX`), asked by the caller.
//! The key's RFC 7638 thumbprint (`jkt`) is what tokens are bound to.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A proof's `typ`.
pub const DPOP_JWT_TYPE: &str = "dpop+jwt";
/// How far ahead of this clock a proof's `iat` may be.
pub const MAX_CLOCK_SKEW_SECS: u64 = 5;
/// The longest proof accepted: a header with a P-256 key and the claims
/// fit in well under 2 KiB.
const MAX_PROOF_LEN: usize = 4096;

/// Why a proof was refused (RFC 9449 §7: all `invalid_dpop_proof`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopError {
    Malformed,
    Several,
    WrongType,
    UnsupportedAlgorithm,
    BadKey,
    BadSignature,
    WrongMethod,
    WrongUri,
    Stale,
    Future,
    Replayed,
    WrongAth,
    Missing,
    WrongKey,
    /// The server wants its nonce in the proof (RFC 9449 §8): none, or
    /// one it no longer accepts. The client retries with the `DPoP-Nonce`
    /// the answer carries.
    UseNonce,
}

impl DpopError {
    /// The refusal in words (`error_description`, `detail`).
    pub fn words(self) -> &'static str {
        match self {
            DpopError::Malformed => "the DPoP proof is not a JWT",
            DpopError::Several => "more than one DPoP proof",
            DpopError::WrongType => "the DPoP proof's typ must be dpop+jwt",
            DpopError::UnsupportedAlgorithm => {
                "the DPoP proof must be signed with EdDSA (Ed25519) or ES256 (P-256)"
            }
            DpopError::BadKey => "the DPoP proof's jwk must be a public Ed25519 or P-256 key",
            DpopError::BadSignature => "the DPoP proof's signature does not verify with its jwk",
            DpopError::WrongMethod => "the DPoP proof is for another method",
            DpopError::WrongUri => "the DPoP proof is for another URI",
            DpopError::Stale => "the DPoP proof's iat is too old",
            DpopError::Future => "the DPoP proof's iat is in the future",
            DpopError::Replayed => "the DPoP proof's jti was used before",
            DpopError::WrongAth => {
                "the DPoP proof's ath is missing or not the hash of this access token"
            }
            DpopError::Missing => "a DPoP proof is required",
            DpopError::WrongKey => "the DPoP proof is for another key than the token's",
            DpopError::UseNonce => {
                "the DPoP proof must carry the nonce this server's DPoP-Nonce header gives"
            }
        }
    }

    /// RFC 9449's error code: `use_dpop_nonce` asks for a retry with the
    /// server's nonce, every other refusal is `invalid_dpop_proof`.
    pub fn code(self) -> &'static str {
        match self {
            DpopError::UseNonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }
}

impl std::fmt::Display for DpopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.words())
    }
}

impl std::error::Error for DpopError {}

/// How an access token was presented (RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// The scheme and token of an `Authorization` header's value: `Bearer
/// <token>` or `DPoP <token>` (the scheme in any case); anything else, or
/// no token, is `None`.
pub fn authorization(value: &str) -> Option<(Scheme, &str)> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    (!token.is_empty()).then_some((scheme, token))
}

/// The proof in a request's `DPoP` header values (RFC 9449 §4.1), if any:
/// sent twice, or not text, it is refused as the one proof it cannot be.
pub fn one_proof<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<&'a str>, DpopError> {
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(DpopError::Several),
        (Some(value), None) => std::str::from_utf8(value)
            .ok()
            .filter(|text| {
                text.bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            })
            .map(|text| Some(text.trim()))
            .ok_or(DpopError::Malformed),
    }
}

/// What the request a proof must match is.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The request's absolute URI (a query or fragment is ignored).
    pub uri: &'a str,
    /// The access token that goes with the proof (a resource request):
    /// its `ath` must be present and match.
    pub access_token: Option<&'a str>,
    pub now: u64,
    /// `dpop.max_proof_age_secs`.
    pub max_age: u64,
}

/// A proof that passed every check but its `jti`'s freshness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The key's RFC 7638 SHA-256 thumbprint, base64url.
    pub jkt: String,
    pub jti: String,
    pub iat: u64,
    /// The server nonce it carries (RFC 9449 §8), for the caller to judge.
    pub nonce: Option<String>,
}

impl Proof {
    /// How long the `jti` must be remembered: until no proof with this
    /// `iat` can be accepted any more.
    pub fn jti_lifetime_secs(&self, now: u64, max_age: u64) -> u64 {
        (self.iat + max_age + MAX_CLOCK_SKEW_SECS)
            .saturating_sub(now)
            .max(1)
    }
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: u64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// The RFC 7638 thumbprint of a public JWK: SHA-256 over its required
/// members in lexicographic order, no whitespace.
fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The key in a proof's header: its decoding key, algorithm and thumbprint.
/// A proof's public key, as its algorithm verifies.
enum ProofKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(DecodingKey),
}

fn header_key(header: &Value) -> Result<(ProofKey, String), DpopError> {
    if header["typ"] != DPOP_JWT_TYPE {
        return Err(DpopError::WrongType);
    }
    let alg = header["alg"].as_str();
    if !matches!(alg, Some("EdDSA" | "ES256")) {
        return Err(DpopError::UnsupportedAlgorithm);
    }
    let jwk = header["jwk"].as_object().ok_or(DpopError::BadKey)?;
    // A private part in the header is a leaked key: never accepted.
    if jwk.contains_key("d") {
        return Err(DpopError::BadKey);
    }
    let text = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or(DpopError::BadKey)
    };
    let b64 = |name: &str| -> Result<(&str, [u8; 32]), DpopError> {
        let value = text(name)?;
        let mut bytes = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(value, &mut bytes) {
            Ok(32) => Ok((value, bytes)),
            _ => Err(DpopError::BadKey),
        }
    };
    match alg {
        Some("EdDSA") => {
            if text("kty")? != "OKP" || text("crv")? != "Ed25519" {
                return Err(DpopError::BadKey);
            }
            let (x, bytes) = b64("x")?;
            let key =
                ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| DpopError::BadKey)?;
            let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
            Ok((ProofKey::Ed25519(key), thumbprint(&canonical)))
        }
        Some("ES256") => {
            if text("kty")? != "EC" || text("crv")? != "P-256" {
                return Err(DpopError::BadKey);
            }
            let ((x, _), (y, _)) = (b64("x")?, b64("y")?);
            let key = DecodingKey::from_ec_components(x, y).map_err(|_| DpopError::BadKey)?;
            let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
            Ok((ProofKey::P256(key), thumbprint(&canonical)))
        }
        _ => Err(DpopError::UnsupportedAlgorithm),
    }
}

/// Scheme, host, port and path of a URI (RFC 9449 §4.3 with RFC 3986's
/// normalisation: scheme and host lower-cased, a default port dropped).
fn htu_form(uri: &str) -> Option<String> {
    let mut url = url::Url::parse(uri).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// The `ath` of an access token: base64url(SHA-256(token)).
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Checks `proof` against `expected`; the `jti` is the caller's to spend.
pub fn check(proof: &str, expected: &Expected<'_>) -> Result<Proof, DpopError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(encoded_header), Some(encoded_claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DpopError::Malformed);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(encoded_header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(DpopError::Malformed)?;
    let (key, jkt) = header_key(&header)?;
    let claims = match key {
        ProofKey::Ed25519(key) => {
            let mut bytes = [0u8; 64];
            match URL_SAFE_NO_PAD.decode_slice(signature, &mut bytes) {
                Ok(64) => {}
                _ => return Err(DpopError::BadSignature),
            }
            // The signed text is the proof up to its second dot.
            let signed = &proof[..encoded_header.len() + 1 + encoded_claims.len()];
            key.verify_strict(
                signed.as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&bytes),
            )
            .map_err(|_| DpopError::BadSignature)?;
            URL_SAFE_NO_PAD
                .decode(encoded_claims)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<ProofClaims>(&bytes).ok())
                .ok_or(DpopError::Malformed)?
        }
        ProofKey::P256(key) => {
            let mut validation = Validation::new(Algorithm::ES256);
            validation.validate_exp = false;
            validation.validate_aud = false;
            validation.required_spec_claims.clear();
            jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => DpopError::BadSignature,
                    _ => DpopError::Malformed,
                })?
                .claims
        }
    };
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(DpopError::Malformed);
    }
    if claims.htm != expected.method {
        return Err(DpopError::WrongMethod);
    }
    match (htu_form(&claims.htu), htu_form(expected.uri)) {
        (Some(sent), Some(wanted)) if sent == wanted => {}
        _ => return Err(DpopError::WrongUri),
    }
    if claims.iat > expected.now + MAX_CLOCK_SKEW_SECS {
        return Err(DpopError::Future);
    }
    if claims.iat + expected.max_age < expected.now {
        return Err(DpopError::Stale);
    }
    if let Some(token) = expected.access_token {
        if claims.ath.as_deref() != Some(ath(token).as_str()) {
            return Err(DpopError::WrongAth);
        }
    }
    Ok(Proof {
        jkt,
        jti: claims.jti,
        iat: claims.iat,
        nonce: claims.nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// A client's Ed25519 key, as jsonwebtoken signs with it.
    pub struct ClientKey {
        encoding: EncodingKey,
        pub x: String,
    }

    impl ClientKey {
        pub fn new(seed: u8) -> Self {
            let signing = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
            let der = signing.to_pkcs8_der().unwrap();
            Self {
                encoding: EncodingKey::from_ed_der(der.as_bytes()),
                x: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
            }
        }

        pub fn jkt(&self) -> String {
            thumbprint(&format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                self.x
            ))
        }

        pub fn proof(&self, claims: Value) -> String {
            self.proof_with(claims, json!({"kty": "OKP", "crv": "Ed25519", "x": self.x}))
        }

        /// A proof whose header's `jwk` is `jwk`, written as given (so a
        /// test can put a private part in it), signed by this key.
        pub fn proof_with(&self, claims: Value, jwk: Value) -> String {
            let header = json!({"typ": DPOP_JWT_TYPE, "alg": "EdDSA", "jwk": jwk});
            let message = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature =
                jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, Algorithm::EdDSA)
                    .unwrap();
            format!("{message}.{signature}")
        }
    }

    const URI: &str = "https://auth.example.com/oauth/token";

    fn expected(now: u64) -> Expected<'static> {
        Expected {
            method: "POST",
            uri: URI,
            access_token: None,
            now,
            max_age: 60,
        }
    }

    fn claims(now: u64) -> Value {
        json!({"jti": "j-1", "htm": "POST", "htu": URI, "iat": now})
    }

    #[test]
    fn a_good_proof_names_its_keys_thumbprint() {
        let key = ClientKey::new(7);
        let proof = check(&key.proof(claims(1000)), &expected(1000)).unwrap();
        assert_eq!(proof.jkt, key.jkt());
        assert_eq!(proof.jti, "j-1");
        // The query and a default port are not part of htu's comparison.
        let mut sent = claims(1000);
        sent["htu"] = json!("HTTPS://Auth.Example.com:443/oauth/token?x=1#f");
        assert!(check(&key.proof(sent), &expected(1000)).is_ok());
    }

    #[test]
    fn rfc_7638s_example_thumbprint() {
        // RFC 8037 §A.3: the Ed25519 key's thumbprint.
        let canonical =
            r#"{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        assert_eq!(
            thumbprint(canonical),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn each_way_a_proof_can_be_wrong_is_refused() {
        let key = ClientKey::new(7);
        let other = ClientKey::new(8);
        let now = 1000;
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims(now);
            f(&mut c);
            key.proof(c)
        };
        let cases: Vec<(String, DpopError)> = vec![
            (with(&|c| c["htm"] = json!("GET")), DpopError::WrongMethod),
            (
                with(&|c| c["htu"] = json!("https://auth.example.com/oauth/revoke")),
                DpopError::WrongUri,
            ),
            (with(&|c| c["iat"] = json!(now - 61)), DpopError::Stale),
            (with(&|c| c["iat"] = json!(now + 30)), DpopError::Future),
            // Signed by one key, naming another.
            (
                key.proof_with(
                    claims(now),
                    json!({"kty": "OKP", "crv": "Ed25519", "x": other.x}),
                ),
                DpopError::BadSignature,
            ),
            // A private part in the header.
            (
                key.proof_with(
                    claims(now),
                    json!({"kty": "OKP", "crv": "Ed25519", "x": key.x, "d": key.x}),
                ),
                DpopError::BadKey,
            ),
            ("not a jwt".into(), DpopError::Malformed),
            ("a".repeat(5000), DpopError::Malformed),
        ];
        for (proof, error) in cases {
            assert_eq!(check(&proof, &expected(now)), Err(error));
        }
        // HS256 and `none` never pass, whatever they claim.
        let hs = jsonwebtoken::encode(
            &Header {
                typ: Some(DPOP_JWT_TYPE.into()),
                ..Header::new(Algorithm::HS256)
            },
            &claims(now),
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert_eq!(
            check(&hs, &expected(now)),
            Err(DpopError::UnsupportedAlgorithm)
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"typ":"dpop+jwt","alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims(now).to_string())
        );
        assert_eq!(
            check(&none, &expected(now)),
            Err(DpopError::UnsupportedAlgorithm)
        );
        // A JWT of another typ (an access token) is no proof.
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        let at = jsonwebtoken::encode(&header, &claims(now), &key.encoding).unwrap();
        assert_eq!(check(&at, &expected(now)), Err(DpopError::WrongType));
    }

    #[test]
    fn a_resource_request_needs_the_ath_of_its_token() {
        let key = ClientKey::new(7);
        let mut wanted = expected(1000);
        wanted.access_token = Some("the-access-token");
        let mut c = claims(1000);
        assert_eq!(
            check(&key.proof(c.clone()), &wanted),
            Err(DpopError::WrongAth)
        );
        c["ath"] = json!(ath("another-token"));
        assert_eq!(
            check(&key.proof(c.clone()), &wanted),
            Err(DpopError::WrongAth)
        );
        c["ath"] = json!(ath("the-access-token"));
        assert!(check(&key.proof(c), &wanted).is_ok());
    }

    #[test]
    fn the_headers_read_one_scheme_and_one_proof() {
        assert_eq!(authorization("bearer abc"), Some((Scheme::Bearer, "abc")));
        assert_eq!(authorization("DPoP  abc "), Some((Scheme::Dpop, "abc")));
        for refused in ["Basic abc", "DPoP ", "Bearer", "dpopabc"] {
            assert_eq!(authorization(refused), None, "{refused:?}");
        }
        fn one<'a>(values: &[&'a [u8]]) -> Result<Option<&'a str>, DpopError> {
            one_proof(values.iter().copied())
        }
        assert_eq!(one(&[]), Ok(None));
        assert_eq!(one(&[b" a.b.c "]), Ok(Some("a.b.c")));
        assert_eq!(one(&[b"a", b"b"]), Err(DpopError::Several));
        assert_eq!(one(&["é".as_bytes()]), Err(DpopError::Malformed));
        assert_eq!(one(&[b"a\0b"]), Err(DpopError::Malformed));
    }
}
