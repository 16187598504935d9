//! Access tokens: EdDSA-signed JWTs with `kid`, signed and verified with
//! the Ed25519 keys of the key set of [`super::keys`] (never its RSA keys).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::{JwsAlg, KeyError, KeySet, ACCESS_TOKEN_JWT_TYPE};

use crate::clock::now_secs;
use crate::sessions::SessionClaims;
use crate::users::{Role, Subscription};

pub const ACCESS_TOKEN_TYPE: &str = "access";
/// The `client_id` of tokens from tessera's own login (`/api/v1/auth/login`,
/// the OAuth password grant of a client not in the registry).
pub const FIRST_PARTY_CLIENT_ID: &str = "tessera";

/// Most access tokens remembered as verified.
const VERIFIED_CAPACITY: usize = 65_536;

/// The party that asked for a token on a user's behalf (RFC 8693 §4.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Act {
    pub sub: String,
}

/// RFC 7800's confirmation claim: the key a DPoP-bound token is bound to
/// (RFC 9449 §6.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the client's public key.
    pub jkt: String,
}

/// A user's access token: RFC 9068's claims and tessera's own (`sid`,
/// `type`, `role`, `subscription`, which gateways read).
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
    /// The client the token was issued to (`tessera` for the first-party
    /// login; tokens from before RFC 9068 read as that too).
    #[serde(default = "first_party")]
    pub client_id: String,
    /// Space-separated scopes; none for a first-party login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Token exchange: the client acting for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
    /// RFC 8176: how the user signed in (`pwd`; `otp` and `mfa` with an
    /// authenticator app's code; `mfa` with a recovery code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// `mfa` when two factors were shown, else `pwd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// When the user showed them (unix s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// DPoP: the key the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

fn first_party() -> String {
    FIRST_PARTY_CLIENT_ID.to_owned()
}

/// A client's own access token (the client credentials grant): no user, no
/// session; `sub` is the client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ClientClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: Uuid,
    #[serde(rename = "type")]
    pub token_type: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// DPoP: the key the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// A verified access token: a user's (with a session) or a client's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bearer {
    User(AccessClaims),
    Client(ClientClaims),
}

impl Bearer {
    /// A user's id, or a client's for its own token.
    pub fn subject(&self) -> String {
        match self {
            Bearer::User(c) => c.sub.to_string(),
            Bearer::Client(c) => c.sub.clone(),
        }
    }

    pub fn iss(&self) -> &str {
        match self {
            Bearer::User(c) => &c.iss,
            Bearer::Client(c) => &c.iss,
        }
    }

    pub fn jti(&self) -> Uuid {
        match self {
            Bearer::User(c) => c.jti,
            Bearer::Client(c) => c.jti,
        }
    }

    pub fn aud(&self) -> &str {
        match self {
            Bearer::User(c) => &c.aud,
            Bearer::Client(c) => &c.aud,
        }
    }

    pub fn exp(&self) -> u64 {
        match self {
            Bearer::User(c) => c.exp,
            Bearer::Client(c) => c.exp,
        }
    }

    pub fn iat(&self) -> u64 {
        match self {
            Bearer::User(c) => c.iat,
            Bearer::Client(c) => c.iat,
        }
    }

    pub fn client_id(&self) -> &str {
        match self {
            Bearer::User(c) => &c.client_id,
            Bearer::Client(c) => &c.client_id,
        }
    }

    pub fn scope(&self) -> Option<&str> {
        match self {
            Bearer::User(c) => c.scope.as_deref(),
            Bearer::Client(c) => c.scope.as_deref(),
        }
    }

    /// The DPoP key a bound token is bound to.
    pub fn cnf(&self) -> Option<&Confirmation> {
        match self {
            Bearer::User(c) => c.cnf.as_ref(),
            Bearer::Client(c) => c.cnf.as_ref(),
        }
    }
}

/// Every claim either kind may carry, as the token holds them.
#[derive(Deserialize)]
struct WireClaims {
    iss: String,
    aud: String,
    sub: String,
    exp: u64,
    iat: u64,
    jti: Uuid,
    #[serde(rename = "type")]
    token_type: String,
    sid: Option<Uuid>,
    role: Option<Role>,
    subscription: Option<Subscription>,
    client_id: Option<String>,
    scope: Option<String>,
    act: Option<Act>,
    amr: Option<Vec<String>>,
    acr: Option<String>,
    auth_time: Option<u64>,
    cnf: Option<Confirmation>,
}

impl WireClaims {
    /// A token with a session is a user's; one without is a client's own,
    /// whose `sub` must be its `client_id`.
    fn into_bearer(self) -> Option<Bearer> {
        if self.token_type != ACCESS_TOKEN_TYPE {
            return None;
        }
        match self.sid {
            Some(sid) => Some(Bearer::User(AccessClaims {
                sub: self.sub.parse().ok()?,
                sid,
                role: self.role?,
                subscription: self.subscription?,
                client_id: self.client_id.unwrap_or_else(first_party),
                iss: self.iss,
                aud: self.aud,
                exp: self.exp,
                iat: self.iat,
                jti: self.jti,
                token_type: self.token_type,
                scope: self.scope,
                act: self.act,
                amr: self.amr,
                acr: self.acr,
                auth_time: self.auth_time,
                cnf: self.cnf,
            })),
            None => {
                let client_id = self.client_id?;
                if client_id != self.sub || self.role.is_some() || self.act.is_some() {
                    return None;
                }
                Some(Bearer::Client(ClientClaims {
                    iss: self.iss,
                    aud: self.aud,
                    sub: self.sub,
                    exp: self.exp,
                    iat: self.iat,
                    jti: self.jti,
                    token_type: self.token_type,
                    client_id,
                    scope: self.scope,
                    cnf: self.cnf,
                }))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed, expired, or not signed by a known key")]
    Invalid,
    #[error("token is meant for another audience")]
    WrongAudience,
    #[error("cannot sign token: {0}")]
    Signing(String),
    #[error("no active key signs {} in the key set; `tessera keys generate` adds one", .0.as_str())]
    NoSigningKey(JwsAlg),
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
    verified: quick_cache::sync::Cache<Box<str>, Arc<Bearer>>,
}

pub struct IssuedAccess {
    pub token: String,
    pub expires_in: Duration,
}

/// What a client's token is issued for: its audience, scope and lifetime.
pub struct ClientGrant<'a> {
    pub client_id: &'a str,
    pub audience: &'a str,
    /// Space-separated; `None` when the token carries no scope.
    pub scope: Option<String>,
    pub ttl: Duration,
    /// The DPoP key the requesting client proved it holds: the token is
    /// bound to it.
    pub jkt: Option<&'a str>,
}

fn confirmation(jkt: Option<&str>) -> Option<Confirmation> {
    jkt.map(|jkt| Confirmation {
        jkt: jkt.to_owned(),
    })
}

impl TokenIssuer {
    pub fn new(keys: KeySet, issuer: String, audience: String, access_ttl: Duration) -> Self {
        // Only EdDSA is accepted: a token claiming `none` or HS256 (signed
        // with the public key as an HMAC secret) fails before any crypto.
        // The audience is checked after, against the one the caller names.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&issuer]);
        validation.validate_aud = false;
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
            || current.signing_kid() != fresh.signing_kid()
            || current.rsa_signing_kid() != fresh.rsa_signing_kid();
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

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Signs an access token for a session.
    pub fn issue(
        &self,
        claims: &SessionClaims,
        session_id: Uuid,
    ) -> Result<IssuedAccess, TokenError> {
        self.issue_with(claims, session_id, self.access_ttl, None)
    }

    /// Signs an access token bound to the DPoP key `jkt` (RFC 9449 §6).
    pub fn issue_bound(
        &self,
        claims: &SessionClaims,
        session_id: Uuid,
        jkt: Option<&str>,
    ) -> Result<IssuedAccess, TokenError> {
        self.issue_with(claims, session_id, self.access_ttl, jkt)
    }

    /// Signs an access token living `access_ttl` rather than the configured
    /// lifetime (the load-test kit's `--access-ttl`).
    pub fn issue_for(
        &self,
        claims: &SessionClaims,
        session_id: Uuid,
        access_ttl: Duration,
    ) -> Result<IssuedAccess, TokenError> {
        self.issue_with(claims, session_id, access_ttl, None)
    }

    fn issue_with(
        &self,
        claims: &SessionClaims,
        session_id: Uuid,
        access_ttl: Duration,
        jkt: Option<&str>,
    ) -> Result<IssuedAccess, TokenError> {
        let now = now_secs();
        self.sign(
            &AccessClaims {
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
                client_id: claims.client.id.clone().unwrap_or_else(first_party),
                scope: claims.client.scope.clone(),
                act: None,
                amr: Some(claims.authn.amr.clone()),
                acr: Some(claims.authn.acr().to_owned()),
                auth_time: claims.authn.auth_time,
                cnf: confirmation(jkt),
            },
            access_ttl,
        )
    }

    /// Signs a client's own token (the client credentials grant).
    pub fn issue_client(&self, grant: ClientGrant<'_>) -> Result<IssuedAccess, TokenError> {
        let now = now_secs();
        self.sign(
            &ClientClaims {
                iss: self.issuer.clone(),
                aud: grant.audience.to_owned(),
                sub: grant.client_id.to_owned(),
                exp: now + grant.ttl.as_secs(),
                iat: now,
                jti: Uuid::new_v4(),
                token_type: ACCESS_TOKEN_TYPE.to_owned(),
                client_id: grant.client_id.to_owned(),
                scope: grant.scope,
                cnf: confirmation(grant.jkt),
            },
            grant.ttl,
        )
    }

    /// Signs a token for `subject`'s user and session, issued to the client
    /// of `grant` acting for them (token exchange): it dies with the session
    /// like any of the user's tokens, and names the client in `act`.
    pub fn issue_exchanged(
        &self,
        subject: &AccessClaims,
        grant: ClientGrant<'_>,
    ) -> Result<IssuedAccess, TokenError> {
        let now = now_secs();
        self.sign(
            &AccessClaims {
                iss: self.issuer.clone(),
                aud: grant.audience.to_owned(),
                exp: now + grant.ttl.as_secs(),
                iat: now,
                jti: Uuid::new_v4(),
                client_id: grant.client_id.to_owned(),
                scope: grant.scope,
                act: Some(Act {
                    sub: grant.client_id.to_owned(),
                }),
                // Bound to the exchanging client's key, if any: never to
                // the key of the app the subject token was issued to.
                cnf: confirmation(grant.jkt),
                ..subject.clone()
            },
            grant.ttl,
        )
    }

    fn sign(&self, claims: &impl Serialize, ttl: Duration) -> Result<IssuedAccess, TokenError> {
        let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(IssuedAccess {
            token: self.keys().sign_jwt(&payload),
            expires_in: ttl,
        })
    }

    /// Checks signature, `kid`, `typ`, `exp`, `iss`, `type` and that `aud`
    /// is the configured audience. Whether the session (or the client) is
    /// still live is the caller's second check.
    pub fn verify(&self, token: &str) -> Result<Bearer, TokenError> {
        self.verify_for(token, &self.audience)
    }

    /// [`TokenIssuer::verify`] for a token that must name `audience`.
    pub fn verify_for(&self, token: &str, audience: &str) -> Result<Bearer, TokenError> {
        let bearer = self.verified(token)?;
        if bearer.aud() != audience {
            return Err(TokenError::WrongAudience);
        }
        Ok(Bearer::clone(&bearer))
    }

    /// [`TokenIssuer::verify`] whatever the audience (introspection reports
    /// it, and the caller judges it).
    pub fn verify_any_audience(&self, token: &str) -> Result<Bearer, TokenError> {
        self.verified(token).map(|bearer| Bearer::clone(&bearer))
    }

    fn verified(&self, token: &str) -> Result<Arc<Bearer>, TokenError> {
        let now = now_secs();
        let bearer = match self.verified.get(token) {
            Some(bearer) if now < bearer.exp() => bearer,
            cached => {
                if cached.is_some() {
                    self.verified.remove(token);
                }
                let bearer = Arc::new(self.verify_signature(token)?);
                self.verified.insert(token.into(), bearer.clone());
                bearer
            }
        };
        Ok(bearer)
    }

    fn verify_signature(&self, token: &str) -> Result<Bearer, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        // RFC 9068 §4: `at+jwt` (or its long form); tokens from before it
        // say `JWT`. Anything else (an ID token, a DPoP proof) is not an
        // access token, whoever signed it.
        match header.typ.as_deref() {
            None | Some("JWT" | ACCESS_TOKEN_JWT_TYPE | "application/at+jwt") => {}
            Some(_) => return Err(TokenError::Invalid),
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let keys = self.keys();
        let key = keys.verifying_key(&kid).ok_or(TokenError::Invalid)?;
        // Access tokens are EdDSA only: an RSA key's kid is refused whatever
        // the header's `alg` (the validation accepts EdDSA alone, too).
        if key.alg != JwsAlg::EdDSA {
            return Err(TokenError::Invalid);
        }
        let data = jsonwebtoken::decode::<WireClaims>(token, &key.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        data.claims.into_bearer().ok_or(TokenError::Invalid)
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
            client: crate::sessions::SessionClient::default(),
            authn: crate::sessions::Authn::password(now_secs()),
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
        let Bearer::User(verified) = issuer.verify(&token).unwrap() else {
            panic!("a session's token is a user's");
        };
        assert_eq!(verified.sub, claims.user_id);
        assert_eq!(verified.client_id, FIRST_PARTY_CLIENT_ID);
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
        let exp = issuer.verify(&issued.token).unwrap().exp();
        assert!(issuer.verified.get(issued.token.as_str()).is_some());
        while now_secs() <= exp {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(issuer.verify(&issued.token).is_err());
        assert!(issuer.verified.get(issued.token.as_str()).is_none());
    }

    fn header_of(token: &str) -> serde_json::Value {
        let header = token.split('.').next().unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
    }

    #[test]
    fn tokens_follow_rfc_9068_and_old_ones_still_verify() {
        let issuer = shared_issuer();
        let session = Uuid::new_v4();
        let user = issuer.issue(&claims(), session).unwrap().token;
        assert_eq!(header_of(&user)["typ"], "at+jwt");

        let client = issuer
            .issue_client(ClientGrant {
                client_id: "billing",
                audience: "orders",
                scope: Some("orders:read".into()),
                ttl: Duration::from_secs(60),
                jkt: None,
            })
            .unwrap()
            .token;
        assert!(matches!(
            issuer.verify(&client),
            Err(TokenError::WrongAudience)
        ));
        let Bearer::Client(verified) = issuer.verify_for(&client, "orders").unwrap() else {
            panic!("a client's own token has no session");
        };
        assert_eq!(
            (verified.sub.as_str(), verified.client_id.as_str()),
            ("billing", "billing")
        );
        assert_eq!(verified.scope.as_deref(), Some("orders:read"));

        let Bearer::User(subject) = issuer.verify(&user).unwrap() else {
            panic!("a user's token");
        };
        let exchanged = issuer
            .issue_exchanged(
                &subject,
                ClientGrant {
                    client_id: "billing",
                    audience: "orders",
                    scope: None,
                    ttl: Duration::from_secs(60),
                    jkt: None,
                },
            )
            .unwrap()
            .token;
        let Bearer::User(exchanged) = issuer.verify_for(&exchanged, "orders").unwrap() else {
            panic!("an exchanged token is the user's");
        };
        assert_eq!((exchanged.sub, exchanged.sid), (subject.sub, session));
        assert_eq!(exchanged.act.unwrap().sub, "billing");

        // A token signed before RFC 9068: `typ` JWT, no `client_id`.
        let now = now_secs();
        let old = serde_json::json!({
            "iss": "tessera", "aud": "tessera", "sub": Uuid::new_v4(), "exp": now + 60,
            "iat": now, "jti": Uuid::new_v4(), "sid": Uuid::new_v4(), "type": "access",
            "role": "REGULAR", "subscription": "FREE",
        });
        let keys = issuer.keys();
        let old_header = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"typ": "JWT", "alg": "EdDSA", "kid": keys.signing_kid()})
                .to_string(),
        );
        let new_token = keys.sign_jwt(old.to_string().as_bytes());
        let (_, rest) = new_token.split_once('.').unwrap();
        let (payload, _) = rest.split_once('.').unwrap();
        // Re-sign under the old header.
        let signing_input = format!("{old_header}.{payload}");
        let old_token = keys.sign_with_header_for_tests(&signing_input);
        let Bearer::User(old) = issuer.verify(&old_token).unwrap() else {
            panic!("an old token is a user's");
        };
        assert_eq!(old.client_id, FIRST_PARTY_CLIENT_ID);
        assert!(old.scope.is_none());

        // A JWT of another type is not an access token, whoever signed it.
        let proof_header = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"typ": "dpop+jwt", "alg": "EdDSA", "kid": keys.signing_kid()})
                .to_string(),
        );
        let proof = keys.sign_with_header_for_tests(&format!("{proof_header}.{payload}"));
        assert!(issuer.verify(&proof).is_err());
    }

    #[test]
    fn the_rsa_key_never_signs_or_verifies_an_access_token() {
        let dir = std::env::temp_dir().join(format!("tessera-jwt-{}", Uuid::new_v4()));
        let made = KeySet::generate_set(&dir).unwrap();
        let rsa_kid = made.rsa.expect("a first set has an RSA key");
        let issuer = issuer(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let keys = issuer.keys();
        assert_eq!(keys.rsa_signing_kid(), Some(rsa_kid.as_str()));

        let token = issuer.issue(&claims(), Uuid::new_v4()).unwrap().token;
        assert_eq!(header_of(&token)["alg"], "EdDSA");
        assert_eq!(header_of(&token)["kid"], made.ed25519.as_str());
        let payload = token.split('.').nth(1).unwrap();
        let with_header = |alg: &str, kid: &str| {
            let header = serde_json::json!({"typ": "at+jwt", "alg": alg, "kid": kid});
            format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header.to_string()))
        };
        // The same claims under a header this test wrote: accepted only as
        // EdDSA by the Ed25519 key.
        let eddsa = keys.sign_with_header_for_tests(&with_header("EdDSA", &made.ed25519));
        assert!(issuer.verify(&eddsa).is_ok());
        for refused in [
            keys.rsa_sign_with_header_for_tests(&with_header("RS256", &rsa_kid)),
            keys.rsa_sign_with_header_for_tests(&with_header("RS256", &made.ed25519)),
            keys.sign_with_header_for_tests(&with_header("EdDSA", &rsa_kid)),
        ] {
            assert!(
                matches!(issuer.verify(&refused), Err(TokenError::Invalid)),
                "{}",
                header_of(&refused)
            );
            assert!(issuer.verify_any_audience(&refused).is_err());
        }
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
