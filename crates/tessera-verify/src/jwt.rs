//! tessera's access tokens: EdDSA JWTs with a `kid`, checked with
//! jsonwebtoken against the published key set (JWKS). Only what tessera
//! issues is accepted: `alg` EdDSA, header `typ` `at+jwt` (RFC 9068) or
//! `JWT` (tokens from before it), `type` access, the configured `iss` and
//! `aud`, an `exp` ahead, and the claims of a user's token (`sid`) or of a
//! client's own (`client_id` = `sub`).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use uuid::Uuid;

use crate::{FetchError, Rejection};

/// The claims of a verified access token: a user's (with a session) or an
/// OAuth client's own (the client_credentials grant, no user). Tokens from
/// before tessera had OAuth clients read as user tokens without
/// `client_id`, `scope`, `act`, `amr` or `acr`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawClaims")]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// Whose token it is (`sub`, with `sid` for a user): match on it to
    /// tell a user from a machine.
    pub subject: Subject,
    pub exp: u64,
    pub iat: u64,
    pub jti: Uuid,
    /// Always `access` (anything else is refused).
    pub token_type: String,
    /// The OAuth client the token was issued to: `tessera` for a
    /// first-party login, the client itself for its own token or a token
    /// exchange. `None` on tokens issued before tessera had OAuth clients
    /// (no `client` revocation ever applies to those).
    pub client_id: Option<String>,
    /// The granted scopes, space-separated (see [`Claims::scopes`]). `None`
    /// when the token carries none, as a first-party login's does.
    pub scope: Option<String>,
    /// The client acting for the user, on a token made by token exchange
    /// (RFC 8693).
    pub act: Option<Actor>,
    /// How the user authenticated (`amr`, e.g. `pwd`, `otp`); empty when
    /// the token does not say.
    pub amr: Vec<String>,
    /// The authentication context class (`acr`), when the token says.
    pub acr: Option<String>,
    /// The key the token is bound to (`cnf`, RFC 9449 §6), when it is: it
    /// is then good only with a DPoP proof by that key
    /// ([`Verifier::verify_request`](crate::Verifier::verify_request)).
    pub cnf: Option<Confirmation>,
}

/// A DPoP-bound token's key (`cnf`). Only `jkt` is known: a token bound
/// some other way (a `cnf` without `jkt`) does not read, so it is refused
/// rather than taken as unbound.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the client's public key,
    /// base64url.
    pub jkt: String,
}

/// Whose access token it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A user's token, tied to one of their sessions (it carries `sid`).
    User {
        /// The user id (`sub`).
        id: Uuid,
        /// The session id (`sid`): ending the session revokes the token.
        session: Uuid,
        /// `ADMIN`, `MODERATOR` or `REGULAR` when the token was issued (a
        /// demotion since revokes it through the feed).
        role: String,
        /// `FREE` or `PRO` when the token was issued.
        subscription: String,
    },
    /// An OAuth client's own token (client_credentials grant): no user and
    /// no session; disabling the client revokes it.
    Client {
        /// The client id (`sub`, the same as `client_id`).
        id: String,
    },
}

/// The acting party of a token made by token exchange (`act`, RFC 8693).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Actor {
    /// The acting client's id.
    pub sub: String,
}

impl Claims {
    /// The user's id, for a user's token.
    pub fn user_id(&self) -> Option<Uuid> {
        match self.subject {
            Subject::User { id, .. } => Some(id),
            Subject::Client { .. } => None,
        }
    }

    /// The session's id, for a user's token.
    pub fn session_id(&self) -> Option<Uuid> {
        match self.subject {
            Subject::User { session, .. } => Some(session),
            Subject::Client { .. } => None,
        }
    }

    /// The granted scopes, one by one; none when the token carries no
    /// `scope`.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split_ascii_whitespace()
    }
}

/// The claims as signed, before the token's kind is told from them.
#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    aud: String,
    sub: String,
    exp: u64,
    iat: u64,
    jti: Uuid,
    sid: Option<Uuid>,
    #[serde(rename = "type")]
    token_type: String,
    role: Option<String>,
    subscription: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    act: Option<Actor>,
    #[serde(default)]
    amr: Vec<String>,
    acr: Option<String>,
    cnf: Option<Confirmation>,
}

impl TryFrom<RawClaims> for Claims {
    type Error = &'static str;

    /// A token with a `sid` is a user's, and needs a UUID `sub`, `role` and
    /// `subscription` as always; one without is a client's own, and needs a
    /// `client_id` equal to its `sub`.
    fn try_from(raw: RawClaims) -> Result<Self, &'static str> {
        let subject = match raw.sid {
            Some(session) => Subject::User {
                id: Uuid::parse_str(&raw.sub).map_err(|_| "a user token's sub is not a UUID")?,
                session,
                role: raw.role.ok_or("a user token without role")?,
                subscription: raw
                    .subscription
                    .ok_or("a user token without subscription")?,
            },
            None => match &raw.client_id {
                Some(client) if !client.is_empty() && *client == raw.sub => {
                    Subject::Client { id: raw.sub }
                }
                Some(_) => return Err("a client token whose sub is not its client_id"),
                None => return Err("a token with neither sid nor client_id"),
            },
        };
        Ok(Self {
            iss: raw.iss,
            aud: raw.aud,
            subject,
            exp: raw.exp,
            iat: raw.iat,
            jti: raw.jti,
            token_type: raw.token_type,
            client_id: raw.client_id,
            scope: raw.scope,
            act: raw.act,
            amr: raw.amr,
            acr: raw.acr,
            cnf: raw.cnf,
        })
    }
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

/// The `kid` a token names, for a key lookup before verifying. Only the
/// header of an access token is read: `alg` EdDSA, and `typ` `at+jwt` (RFC
/// 9068) or, on tokens from before it, `JWT`; any other `typ` (a DPoP
/// proof's `dpop+jwt`, none at all) is [`Rejection::NotAnAccessToken`].
pub fn kid_of(token: &str) -> Result<String, Rejection> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
    if header.alg != Algorithm::EdDSA {
        return Err(Rejection::Malformed);
    }
    if !header.typ.as_deref().is_some_and(is_access_token_type) {
        return Err(Rejection::NotAnAccessToken);
    }
    header.kid.ok_or(Rejection::Malformed)
}

/// `at+jwt` or `JWT` as media types are compared (RFC 7515 section 4.1.9):
/// without regard to case, `application/` optional.
fn is_access_token_type(typ: &str) -> bool {
    const PREFIX: &str = "application/";
    let media = match typ.get(..PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(PREFIX) => &typ[PREFIX.len()..],
        _ => typ,
    };
    media.eq_ignore_ascii_case("at+jwt") || media.eq_ignore_ascii_case("jwt")
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
        sign_typed(key, kid, Some("JWT"), claims)
    }

    fn sign_typed(key: &SigningKey, kid: &str, typ: Option<&str>, claims: &Value) -> String {
        let der = key.to_pkcs8_der().unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
    }

    /// Header check, then signature and claims, as a verifier does.
    fn check(token: &str, key: &SigningKey, now: u64) -> Result<Claims, Rejection> {
        kid_of(token)?;
        verify(token, &key_of(key), &validation("tessera", "tessera"), now)
    }

    /// A client's own token (client_credentials grant).
    fn client_claims(client: &str, now: u64) -> Value {
        json!({
            "iss": "tessera", "aud": "tessera", "sub": client, "exp": now + 60,
            "iat": now, "jti": Uuid::new_v4(), "type": "access", "client_id": client,
            "scope": "reports:read reports:write",
        })
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
    fn an_old_token_reads_as_a_user_token_without_client_claims() {
        let key = signing_key();
        let now = 1_800_000_000;
        let old = claims(now);
        let verified = check(&sign(&key, "k1", &old), &key, now).unwrap();
        let user: Uuid = old["sub"].as_str().unwrap().parse().unwrap();
        let session: Uuid = old["sid"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            verified.subject,
            Subject::User {
                id: user,
                session,
                role: "REGULAR".into(),
                subscription: "FREE".into(),
            }
        );
        assert_eq!(verified.user_id(), Some(user));
        assert_eq!(verified.session_id(), Some(session));
        assert_eq!(verified.client_id, None);
        assert_eq!(verified.scope, None);
        assert_eq!(verified.scopes().count(), 0);
        assert_eq!(verified.act, None);
        assert!(verified.amr.is_empty());
        assert_eq!(verified.acr, None);
    }

    #[test]
    fn a_new_user_token_exposes_its_client_scope_actor_and_authentication() {
        let key = signing_key();
        let now = 1_800_000_000;
        let mut exchanged = claims(now);
        exchanged["client_id"] = json!("reports-app");
        exchanged["scope"] = json!("profile  reports:read");
        exchanged["act"] = json!({"sub": "reports-app"});
        exchanged["amr"] = json!(["pwd", "otp"]);
        exchanged["acr"] = json!("urn:tessera:mfa");
        for typ in ["at+jwt", "application/at+jwt", "AT+JWT", "JWT"] {
            let token = sign_typed(&key, "k1", Some(typ), &exchanged);
            let verified = check(&token, &key, now).unwrap_or_else(|e| panic!("{typ}: {e}"));
            assert!(matches!(verified.subject, Subject::User { .. }), "{typ}");
            assert_eq!(verified.client_id.as_deref(), Some("reports-app"));
            assert_eq!(
                verified.scopes().collect::<Vec<_>>(),
                ["profile", "reports:read"]
            );
            assert_eq!(
                verified.act,
                Some(Actor {
                    sub: "reports-app".into()
                })
            );
            assert_eq!(verified.amr, ["pwd", "otp"]);
            assert_eq!(verified.acr.as_deref(), Some("urn:tessera:mfa"));
        }

        let mut first_party = claims(now);
        first_party["client_id"] = json!("tessera");
        let token = sign_typed(&key, "k1", Some("at+jwt"), &first_party);
        let verified = check(&token, &key, now).unwrap();
        assert_eq!(verified.client_id.as_deref(), Some("tessera"));
        assert_eq!(verified.scope, None);
        assert_eq!(verified.act, None);
    }

    #[test]
    fn a_client_token_reads_as_the_client_without_user_or_session() {
        let key = signing_key();
        let now = 1_800_000_000;
        let token = sign_typed(&key, "k1", Some("at+jwt"), &client_claims("billing", now));
        let verified = check(&token, &key, now).unwrap();
        assert_eq!(
            verified.subject,
            Subject::Client {
                id: "billing".into()
            }
        );
        assert_eq!(verified.client_id.as_deref(), Some("billing"));
        assert_eq!(verified.user_id(), None);
        assert_eq!(verified.session_id(), None);
        assert!(verified.scopes().eq(["reports:read", "reports:write"]));

        // A client id that looks like a UUID is still a client, not a user.
        let uuid_like = Uuid::new_v4().to_string();
        let token = sign_typed(&key, "k1", Some("at+jwt"), &client_claims(&uuid_like, now));
        assert_eq!(
            check(&token, &key, now).unwrap().subject,
            Subject::Client { id: uuid_like }
        );
    }

    #[test]
    fn claims_that_are_neither_a_user_token_nor_a_client_token_are_refused() {
        let key = signing_key();
        let now = 1_800_000_000;
        let mut not_its_sub = client_claims("billing", now);
        not_its_sub["client_id"] = json!("other");
        let mut no_client = client_claims("billing", now);
        no_client.as_object_mut().unwrap().remove("client_id");
        let mut empty = client_claims("", now);
        empty["scope"] = json!(null);
        let mut user_sub_not_uuid = claims(now);
        user_sub_not_uuid["sub"] = json!("billing");
        let mut user_without_role = claims(now);
        user_without_role.as_object_mut().unwrap().remove("role");
        let mut client_sid_not_uuid = client_claims("billing", now);
        client_sid_not_uuid["sid"] = json!("billing");
        for (name, claims) in [
            ("client_id is not sub", not_its_sub),
            ("no sid, no client_id", no_client),
            ("empty client id", empty),
            ("user sub not a UUID", user_sub_not_uuid),
            ("user without role", user_without_role),
            ("sid not a UUID", client_sid_not_uuid),
        ] {
            let token = sign_typed(&key, "k1", Some("at+jwt"), &claims);
            assert_eq!(
                check(&token, &key, now),
                Err(Rejection::Malformed),
                "{name}"
            );
        }
    }

    #[test]
    fn a_header_typed_other_than_jwt_or_at_jwt_is_not_an_access_token() {
        let key = signing_key();
        let now = 1_800_000_000;
        // Signed by tessera's own key, claims and all: only the type is off.
        for typ in [
            Some("dpop+jwt"),
            Some("application/dpop+jwt"),
            Some("JOSE"),
            Some("at+jwt "),
            None,
        ] {
            let token = sign_typed(&key, "k1", typ, &claims(now));
            assert_eq!(kid_of(&token), Err(Rejection::NotAnAccessToken), "{typ:?}");
            let token = sign_typed(&key, "k1", typ, &client_claims("billing", now));
            assert_eq!(kid_of(&token), Err(Rejection::NotAnAccessToken), "{typ:?}");
        }
        // A DPoP proof (RFC 9449): its key in the header, no kid.
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let proof = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(
                json!({"typ": "dpop+jwt", "alg": "EdDSA",
                    "jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}})
                .to_string()
            ),
            URL_SAFE_NO_PAD.encode(
                json!({"jti": "p1", "htm": "GET", "htu": "https://api/x", "iat": now}).to_string()
            )
        );
        assert_eq!(kid_of(&proof), Err(Rejection::NotAnAccessToken));
    }

    #[test]
    fn only_eddsa_with_a_kid_is_read() {
        let hs = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert_eq!(kid_of(&hs), Err(Rejection::Malformed));
        let no_kid = format!(
            "{}.e30.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"at+jwt"}"#)
        );
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
