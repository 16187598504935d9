//! What a registered client is, and the rules its fields pass before one
//! exists: kinds, authentication methods, grant types, scopes, audiences,
//! redirect URIs and key sets, each a type that exists only when valid.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use serde::Serialize;

/// Bounds that keep a registration (and a token request's scope) small.
pub const MAX_SCOPES: usize = 64;
pub const MAX_SCOPE_LEN: usize = 128;
pub const MAX_AUDIENCES: usize = 32;
pub const MAX_URIS: usize = 32;
pub const MAX_URI_LEN: usize = 2_000;
pub const MAX_NAME_LEN: usize = 100;
pub const MAX_KEYS: usize = 16;
/// A client's own access tokens live at most a day.
pub const MAX_ACCESS_TTL_SECS: u32 = 86_400;

/// RFC 8693's grant type, as it is sent.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// A rule a client's field broke; each text is the rule's own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientRuleError {
    #[error("must be one of: {0}")]
    OneOf(&'static str),
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must hold at most {0} entries")]
    TooMany(usize),
    #[error("a scope is printable ASCII without spaces, quotes or backslashes")]
    ScopeCharacters,
    #[error("must be an absolute URI without a fragment")]
    NotAnAbsoluteUri,
    #[error("must use https, http on a loopback address, or (public clients) a private-use scheme such as com.example.app")]
    RedirectScheme,
    #[error("must not hold a wildcard")]
    Wildcard,
    #[error("must be a JSON Web Key Set of Ed25519 (EdDSA) or P-256 (ES256) public keys")]
    Jwks,
    #[error("must be between 1 and {MAX_ACCESS_TTL_SECS}")]
    AccessTtl,
    #[error("a public client authenticates with none, and only a public client does")]
    PublicNeedsNone,
    #[error("private_key_jwt needs a jwks; other methods take none")]
    JwksForPrivateKeyJwt,
    #[error("{0} needs a confidential client")]
    NeedsConfidential(&'static str),
    #[error("authorization_code needs at least one redirect URI")]
    NeedsRedirectUri,
    #[error("a scope list is space-separated scope names")]
    ScopeList,
}

impl ClientRuleError {
    /// The registration field a problem is reported on (a rule between
    /// fields names the one to change).
    pub fn field(&self) -> &'static str {
        match self {
            ClientRuleError::JwksForPrivateKeyJwt => "jwks",
            ClientRuleError::NeedsConfidential(_) => "grant_types",
            ClientRuleError::NeedsRedirectUri => "redirect_uris",
            _ => "auth_method",
        }
    }
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident {
        $first:ident = $first_wire:literal $(, $variant:ident = $wire:literal)* $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
        pub enum $name {
            #[serde(rename = $first_wire)]
            $first,
            $(#[serde(rename = $wire)] $variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$name::$first, $($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $name::$first => $first_wire,
                    $($name::$variant => $wire),*
                }
            }
        }

        impl FromStr for $name {
            type Err = ClientRuleError;

            fn from_str(s: &str) -> Result<Self, ClientRuleError> {
                match s {
                    $first_wire => Ok($name::$first),
                    $($wire => Ok($name::$variant),)*
                    _ => Err(ClientRuleError::OneOf(concat!($first_wire $(, ", ", $wire)*))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Whether a client can keep a secret.
    ClientKind { Confidential = "confidential", Public = "public" }
);

wire_enum!(
    /// How a client proves itself at the token endpoint.
    AuthMethod {
        ClientSecretBasic = "client_secret_basic",
        ClientSecretPost = "client_secret_post",
        PrivateKeyJwt = "private_key_jwt",
        None = "none",
    }
);

wire_enum!(
    /// What a client may ask the token endpoint for.
    GrantType {
        ClientCredentials = "client_credentials",
        TokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange",
        AuthorizationCode = "authorization_code",
        RefreshToken = "refresh_token",
        Password = "password",
    }
);

wire_enum!(
    /// How a client's ID tokens are signed (OIDC Registration's
    /// `id_token_signed_response_alg`).
    IdTokenSigning { EdDsa = "EdDSA", Rs256 = "RS256" }
);

impl AuthMethod {
    /// Whether the client holds a secret tessera generated.
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        )
    }
}

/// One scope name (RFC 6749 §3.3: `%x21 / %x23-5B / %x5D-7E`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Scope(String);

impl Scope {
    pub fn parse(s: &str) -> Result<Self, ClientRuleError> {
        if s.is_empty() {
            return Err(ClientRuleError::Empty);
        }
        if s.len() > MAX_SCOPE_LEN {
            return Err(ClientRuleError::TooLong(MAX_SCOPE_LEN));
        }
        let allowed = |b: u8| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b);
        if !s.bytes().all(allowed) {
            return Err(ClientRuleError::ScopeCharacters);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A set of scopes, in a stable order; written space-separated in tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// A `scope` parameter: space-separated names, repeats folded, at most
    /// [`MAX_SCOPES`].
    pub fn parse_list(list: &str) -> Result<Self, ClientRuleError> {
        if list.len() > MAX_SCOPES * (MAX_SCOPE_LEN + 1) {
            return Err(ClientRuleError::TooMany(MAX_SCOPES));
        }
        let names: Vec<&str> = list.split(' ').collect();
        if names.iter().any(|name| name.is_empty()) && !list.is_empty() {
            return Err(ClientRuleError::ScopeList);
        }
        Self::from_names(names.into_iter().filter(|name| !name.is_empty()))
    }

    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ClientRuleError> {
        let mut set = BTreeSet::new();
        for name in names {
            set.insert(Scope::parse(name)?);
            if set.len() > MAX_SCOPES {
                return Err(ClientRuleError::TooMany(MAX_SCOPES));
            }
        }
        Ok(Self(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset(&self, of: &Scopes) -> bool {
        self.0.is_subset(&of.0)
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.0 == scope)
    }

    pub fn intersection(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(Scope::as_str)
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

/// Space-separated, as the `scope` claim and parameter carry it.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

/// An audience a client's tokens may name: a name or an absolute URI
/// (RFC 8707 resources).
pub fn audience(s: &str) -> Result<String, ClientRuleError> {
    if s.is_empty() {
        return Err(ClientRuleError::Empty);
    }
    if s.len() > MAX_URI_LEN {
        return Err(ClientRuleError::TooLong(MAX_URI_LEN));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ClientRuleError::ScopeCharacters);
    }
    Ok(s.to_owned())
}

/// A redirect URI as registered: an exact string, compared exactly.
/// `https` anywhere; `http` only on a loopback address (RFC 8252 §7.3); a
/// private-use scheme (`com.example.app:/cb`, RFC 8252 §7.1) only for public
/// clients. No fragment, no wildcard.
pub fn redirect_uri(s: &str, kind: ClientKind) -> Result<String, ClientRuleError> {
    if s.len() > MAX_URI_LEN {
        return Err(ClientRuleError::TooLong(MAX_URI_LEN));
    }
    if s.contains('*') {
        return Err(ClientRuleError::Wildcard);
    }
    let url = url::Url::parse(s).map_err(|_| ClientRuleError::NotAnAbsoluteUri)?;
    if url.fragment().is_some() || s.contains('#') {
        return Err(ClientRuleError::NotAnAbsoluteUri);
    }
    let loopback = matches!(
        url.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    let allowed = match url.scheme() {
        "https" => url.host().is_some(),
        "http" => loopback,
        // A private-use scheme is reverse-DNS: it holds a dot.
        scheme => kind == ClientKind::Public && scheme.contains('.'),
    };
    if !allowed {
        return Err(ClientRuleError::RedirectScheme);
    }
    Ok(s.to_owned())
}

/// Whether `presented` names the registered redirect URI `registered`:
/// the exact string, except that a loopback IP literal over http matches on
/// any port (RFC 8252 §7.3: a native app listens on whatever port it got).
pub fn redirect_matches(registered: &str, presented: &str) -> bool {
    registered == presented
        || matches!(
            (without_loopback_port(registered), without_loopback_port(presented)),
            (Some(r), Some(p)) if r == p
        )
}

/// A loopback http URI with its port taken out, compared as text (no
/// normalising, so `..` or an encoded character never makes two differ
/// less than they look); `None` for any other URI.
fn without_loopback_port(uri: &str) -> Option<String> {
    ["http://127.0.0.1", "http://[::1]"]
        .iter()
        .find_map(|host| {
            let rest = uri.strip_prefix(host)?;
            let rest = match rest.strip_prefix(':') {
                Some(port) => {
                    let digits = port.bytes().take_while(u8::is_ascii_digit).count();
                    (1..=5).contains(&digits).then(|| &port[digits..])?
                }
                None => rest,
            };
            (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
                .then(|| format!("{host}{rest}"))
        })
}

/// Whether `id` could name a client (tessera makes UUIDs; a config's
/// gateway ids are short names): anything else (a NUL, a megabyte) names
/// none, and is answered so without asking PostgreSQL, which refuses a NUL
/// in text.
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_NAME_LEN && !id.chars().any(char::is_control)
}

/// A client's display name.
pub fn name(s: &str) -> Result<String, ClientRuleError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ClientRuleError::Empty);
    }
    if s.chars().count() > MAX_NAME_LEN {
        return Err(ClientRuleError::TooLong(MAX_NAME_LEN));
    }
    Ok(s.to_owned())
}

pub fn access_ttl(secs: i64) -> Result<u32, ClientRuleError> {
    u32::try_from(secs)
        .ok()
        .filter(|secs| (1..=MAX_ACCESS_TTL_SECS).contains(secs))
        .ok_or(ClientRuleError::AccessTtl)
}

/// A `private_key_jwt` client's public keys: Ed25519 (EdDSA) or P-256
/// (ES256) only, at most [`MAX_KEYS`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClientJwks(JwkSet);

impl ClientJwks {
    pub fn parse(value: serde_json::Value) -> Result<Self, ClientRuleError> {
        let set: JwkSet = serde_json::from_value(value).map_err(|_| ClientRuleError::Jwks)?;
        if set.keys.is_empty() || set.keys.len() > MAX_KEYS {
            return Err(ClientRuleError::Jwks);
        }
        for key in &set.keys {
            let usable = match &key.algorithm {
                AlgorithmParameters::OctetKeyPair(okp) => {
                    okp.curve == EllipticCurve::Ed25519
                        && matches!(key.common.key_algorithm, None | Some(KeyAlgorithm::EdDSA))
                }
                AlgorithmParameters::EllipticCurve(ec) => {
                    ec.curve == EllipticCurve::P256
                        && matches!(key.common.key_algorithm, None | Some(KeyAlgorithm::ES256))
                }
                _ => false,
            };
            if !usable || jsonwebtoken::DecodingKey::from_jwk(key).is_err() {
                return Err(ClientRuleError::Jwks);
            }
        }
        Ok(Self(set))
    }

    pub fn keys(&self) -> &JwkSet {
        &self.0
    }

    pub fn to_json(&self) -> serde_json::Value {
        // A parsed key set always serialises.
        serde_json::to_value(&self.0).unwrap_or(serde_json::Value::Null)
    }
}

/// Everything a client is registered with but its id and secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSettings {
    pub name: String,
    pub kind: ClientKind,
    pub auth_method: AuthMethod,
    pub jwks: Option<ClientJwks>,
    pub grant_types: BTreeSet<GrantType>,
    pub scopes: Scopes,
    pub audiences: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub first_party: bool,
    pub dpop_bound: bool,
    pub access_ttl_secs: Option<u32>,
    pub id_token_signed_response_alg: IdTokenSigning,
}

impl ClientSettings {
    /// The rules between fields; each field's own rules have passed.
    pub fn check(&self) -> Result<(), ClientRuleError> {
        if (self.kind == ClientKind::Public) != (self.auth_method == AuthMethod::None) {
            return Err(ClientRuleError::PublicNeedsNone);
        }
        if self.jwks.is_some() != (self.auth_method == AuthMethod::PrivateKeyJwt) {
            return Err(ClientRuleError::JwksForPrivateKeyJwt);
        }
        for grant in [GrantType::ClientCredentials, GrantType::TokenExchange] {
            if self.grant_types.contains(&grant) && self.kind == ClientKind::Public {
                return Err(ClientRuleError::NeedsConfidential(grant.as_str()));
            }
        }
        if self.grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty()
        {
            return Err(ClientRuleError::NeedsRedirectUri);
        }
        Ok(())
    }
}

/// `field` takes `change` when there is one.
fn keep<T: Clone>(field: &mut T, change: &Option<T>) {
    if let Some(value) = change {
        *field = value.clone();
    }
}

/// A change to a client: `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub jwks: Option<ClientJwks>,
    pub grant_types: Option<BTreeSet<GrantType>>,
    pub scopes: Option<Scopes>,
    pub audiences: Option<Vec<String>>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub dpop_bound: Option<bool>,
    /// `Some(None)` goes back to `jwt.access_ttl_secs`.
    pub access_ttl_secs: Option<Option<u32>>,
    pub id_token_signed_response_alg: Option<IdTokenSigning>,
    pub disabled: Option<bool>,
}

impl ClientChanges {
    /// `settings` with these changes, checked again as a whole.
    pub fn apply(&self, mut settings: ClientSettings) -> Result<ClientSettings, ClientRuleError> {
        keep(&mut settings.name, &self.name);
        if let Some(jwks) = &self.jwks {
            settings.jwks = Some(jwks.clone());
        }
        keep(&mut settings.grant_types, &self.grant_types);
        keep(&mut settings.scopes, &self.scopes);
        keep(&mut settings.audiences, &self.audiences);
        keep(&mut settings.redirect_uris, &self.redirect_uris);
        keep(
            &mut settings.post_logout_redirect_uris,
            &self.post_logout_redirect_uris,
        );
        keep(&mut settings.first_party, &self.first_party);
        keep(&mut settings.dpop_bound, &self.dpop_bound);
        keep(&mut settings.access_ttl_secs, &self.access_ttl_secs);
        keep(
            &mut settings.id_token_signed_response_alg,
            &self.id_token_signed_response_alg,
        );
        settings.check()?;
        Ok(settings)
    }
}

/// A registered client, as the registry and the admin API see it. Secret
/// digests stay inside [`super::repo`] and [`super::registry`].
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub settings: ClientSettings,
    pub disabled: bool,
    pub has_secret: bool,
    /// When the previous secret stops working, while one is live.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub tokens_not_before: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_redirect_matches_on_any_port_and_nothing_else_loosely() {
        let registered = "http://127.0.0.1/callback";
        assert!(redirect_matches(
            registered,
            "http://127.0.0.1:51234/callback"
        ));
        assert!(redirect_matches(registered, registered));
        assert!(redirect_matches(
            "http://127.0.0.1:8080/callback",
            "http://127.0.0.1:9/callback"
        ));
        assert!(redirect_matches("http://[::1]/cb", "http://[::1]:4000/cb"));
        for other in [
            "http://127.0.0.1:51234/callbacks",
            "http://127.0.0.1:51234/callback/../callback",
            "http://127.0.0.1:5123456/callback",
            "http://127.0.0.1.evil.com/callback",
            "http://127.0.0.1:80@evil.com/callback",
            "http://localhost:51234/callback",
            "https://127.0.0.1:51234/callback",
            "http://127.0.0.1:51234/Callback",
        ] {
            assert!(!redirect_matches(registered, other), "{other}");
        }
        assert!(!redirect_matches(
            "https://app.example.com/cb",
            "https://app.example.com:8443/cb"
        ));
        assert!(!redirect_matches(
            "https://app.example.com/cb",
            "https://app.example.com/cb/"
        ));
    }

    #[test]
    fn redirect_uris_follow_rfc_8252() {
        let public = ClientKind::Public;
        let confidential = ClientKind::Confidential;
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:49152/cb",
            "http://[::1]/cb",
            "http://localhost:8080/cb",
        ] {
            assert_eq!(redirect_uri(ok, confidential).as_deref(), Ok(ok));
        }
        assert!(redirect_uri("com.example.app:/cb", public).is_ok());
        assert_eq!(
            redirect_uri("com.example.app:/cb", confidential),
            Err(ClientRuleError::RedirectScheme)
        );
        assert_eq!(
            redirect_uri("http://app.example.com/cb", public),
            Err(ClientRuleError::RedirectScheme)
        );
        assert_eq!(
            redirect_uri("https://*.example.com/cb", public),
            Err(ClientRuleError::Wildcard)
        );
        assert_eq!(
            redirect_uri("https://app.example.com/cb#x", public),
            Err(ClientRuleError::NotAnAbsoluteUri)
        );
        assert_eq!(
            redirect_uri("/cb", public),
            Err(ClientRuleError::NotAnAbsoluteUri)
        );
        assert_eq!(
            redirect_uri("javascript:alert(1)", public),
            Err(ClientRuleError::RedirectScheme)
        );
    }

    #[test]
    fn scopes_are_rfc_6749_names() {
        let scopes = Scopes::parse_list("read:orders write b read:orders").unwrap();
        assert_eq!(scopes.to_string(), "b read:orders write");
        assert!(Scopes::parse_list("").unwrap().is_empty());
        assert_eq!(Scopes::parse_list("a  b"), Err(ClientRuleError::ScopeList));
        assert_eq!(
            Scopes::parse_list("a\"b"),
            Err(ClientRuleError::ScopeCharacters)
        );
        assert_eq!(
            Scopes::parse_list("a\0b"),
            Err(ClientRuleError::ScopeCharacters)
        );
        let huge = (0..100)
            .map(|i| format!("s{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            Scopes::parse_list(&huge),
            Err(ClientRuleError::TooMany(MAX_SCOPES))
        );
    }

    #[test]
    fn wire_names_round_trip() {
        for grant in GrantType::ALL {
            assert_eq!(grant.as_str().parse::<GrantType>().unwrap(), *grant);
        }
        assert_eq!(GrantType::TokenExchange.as_str(), TOKEN_EXCHANGE);
        assert_eq!(
            "implicit".parse::<GrantType>().unwrap_err().to_string(),
            "must be one of: client_credentials, urn:ietf:params:oauth:grant-type:token-exchange, authorization_code, refresh_token, password"
        );
    }

    #[test]
    fn key_sets_hold_only_eddsa_or_es256_keys() {
        let ed = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "a"}]});
        assert!(ClientJwks::parse(ed).is_ok());
        let rsa = serde_json::json!({"keys": [{"kty": "RSA", "n": "sXch", "e": "AQAB"}]});
        assert_eq!(ClientJwks::parse(rsa), Err(ClientRuleError::Jwks));
        assert_eq!(
            ClientJwks::parse(serde_json::json!({"keys": []})),
            Err(ClientRuleError::Jwks)
        );
        assert_eq!(
            ClientJwks::parse(serde_json::json!("nope")),
            Err(ClientRuleError::Jwks)
        );
    }
}
