//! OAuth 2.0 for off-the-shelf clients and gateways: client authentication
//! against `gateway.clients`, the token endpoint's grants (RFC 6749, through
//! the same [`Auth`] login and refresh as the JSON API), introspection
//! (RFC 7662), revocation (RFC 7009) and server metadata (RFC 8414). Knows
//! nothing of HTTP.
//!
//! Clients: a `gateway.clients` entry is a confidential client and must prove
//! its secret whenever it names itself. Every other client is public: it sends
//! no credentials, or only a `client_id` that is not a confidential client's
//! (public client ids are not registered, so any other id is accepted).

use std::net::IpAddr;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Auth, AuthError, LoginName, TokenPair};
use crate::client::ClientInfo;
use crate::config::GatewayClient;
use crate::rate_limit::{CheckOutcome, Credential, RateLimitError, RateLimiter};
use crate::sessions::SessionStore;
use crate::tokens::TokenIssuer;
use crate::users::{Role, Subscription};

pub const TOKEN_PATH: &str = "/oauth/token";
pub const INTROSPECTION_PATH: &str = "/oauth/introspect";
pub const REVOCATION_PATH: &str = "/oauth/revoke";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The RFC 6749 §5.2 errors (plus failures of the service behind them).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// `invalid_request`: a required parameter is absent or empty.
    #[error("invalid_request: missing {0}")]
    MissingParameter(&'static str),
    #[error("invalid_client")]
    InvalidClient,
    /// The grant's credentials or refresh token were refused: the
    /// verdict, one of the caller's faults among [`AuthError`]'s.
    #[error("invalid_grant: {0}")]
    InvalidGrant(AuthError),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    /// Not the client's fault (a store is down, a bug): answered like any
    /// other endpoint's failure.
    #[error(transparent)]
    Service(AuthError),
}

impl From<RateLimitError> for OAuthError {
    fn from(e: RateLimitError) -> Self {
        OAuthError::Service(AuthError::RateLimit(e))
    }
}

impl From<AuthError> for OAuthError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials
            | AuthError::NotActivated
            | AuthError::Blocked
            | AuthError::InvalidRefreshToken => OAuthError::InvalidGrant(e),
            other => OAuthError::Service(other),
        }
    }
}

/// Credentials a client presented (HTTP Basic or form fields).
#[derive(Debug)]
pub struct ClientCredentials {
    pub id: String,
    pub secret: Option<SecretString>,
}

/// A grant at the token endpoint, read from its form (`http::oauth`).
pub enum Grant {
    Password {
        username: String,
        password: SecretString,
    },
    RefreshToken(String),
}

/// The refresh token is a bearer credential: never printed.
impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grant::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .finish_non_exhaustive(),
            Grant::RefreshToken(_) => f.write_str("RefreshToken(..)"),
        }
    }
}

/// A client that passed [`OAuth::authenticate_client`], which alone makes
/// one: a grant cannot be served before its client is checked.
#[derive(Debug)]
pub struct AuthenticatedClient<'a>(Option<&'a str>);

impl<'a> AuthenticatedClient<'a> {
    /// A confidential client's id; `None` for a public client.
    pub fn id(&self) -> Option<&'a str> {
        self.0
    }
}

/// An RFC 7662 answer: `{"active": false}`, or the live token's details.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub token: Option<ActiveToken>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ActiveToken {
    pub sub: Uuid,
    pub exp: u64,
    pub iat: u64,
    pub iss: String,
    pub aud: String,
    /// Access tokens only: refresh tokens are opaque and carry no id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<Uuid>,
    pub sid: Uuid,
    /// `"Bearer"` for access tokens (their RFC 6749 type), `"refresh_token"`
    /// for refresh tokens.
    pub token_type: &'static str,
    pub username: String,
    pub role: Role,
    pub subscription: Subscription,
}

/// How a client may authenticate at the token and revocation endpoints.
const CLIENT_AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post"];

/// RFC 8414 authorization server metadata.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthorizationServerMetadata {
    issuer: String,
    token_endpoint: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    jwks_uri: String,
    #[schema(value_type = Vec<String>)]
    grant_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    response_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    token_endpoint_auth_methods_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    introspection_endpoint_auth_methods_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    revocation_endpoint_auth_methods_supported: &'static [&'static str],
}

struct ConfidentialClient {
    id: String,
    secret_digest: [u8; 32],
}

pub struct OAuth {
    auth: Arc<Auth>,
    sessions: Arc<SessionStore>,
    tokens: Arc<TokenIssuer>,
    /// Counts failed client authentications per address.
    limits: Arc<RateLimiter>,
    clients: Vec<ConfidentialClient>,
    metadata: AuthorizationServerMetadata,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl OAuth {
    /// `auth` runs the grants and revocation; introspection reads the
    /// `sessions` and checks access tokens with `tokens`; `limits` counts
    /// wrong client secrets.
    pub fn new(
        auth: Arc<Auth>,
        sessions: Arc<SessionStore>,
        tokens: Arc<TokenIssuer>,
        limits: Arc<RateLimiter>,
        clients: &[GatewayClient],
        public_url: &str,
    ) -> Self {
        let clients = clients
            .iter()
            .map(|c| ConfidentialClient {
                id: c.id.clone(),
                secret_digest: digest(c.secret.expose_secret()),
            })
            .collect();
        let base = public_url.trim_end_matches('/');
        let metadata = AuthorizationServerMetadata {
            issuer: tokens.issuer().to_owned(),
            token_endpoint: format!("{base}{TOKEN_PATH}"),
            introspection_endpoint: format!("{base}{INTROSPECTION_PATH}"),
            revocation_endpoint: format!("{base}{REVOCATION_PATH}"),
            jwks_uri: format!("{base}{JWKS_PATH}"),
            grant_types_supported: &["password", "refresh_token"],
            response_types_supported: &[],
            token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
            introspection_endpoint_auth_methods_supported: &["client_secret_basic"],
            revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
        };
        Self {
            auth,
            sessions,
            tokens,
            limits,
            clients,
            metadata,
        }
    }

    /// The RFC 8414 document, built once.
    pub fn metadata(&self) -> &AuthorizationServerMetadata {
        &self.metadata
    }

    /// Checks presented credentials: a confidential client must give its
    /// secret, and a secret must match. Returns the confidential client's id,
    /// or `None` for a public client. A wrong secret from `ip` is counted
    /// (see [`Credential::ClientSecret`]): past the limit it is refused with
    /// a 429 rather than `invalid_client`.
    pub async fn authenticate_client(
        &self,
        presented: Option<&ClientCredentials>,
        ip: Option<IpAddr>,
    ) -> Result<AuthenticatedClient<'_>, OAuthError> {
        let check = async { self.check_client(presented).map(AuthenticatedClient) };
        self.limits
            .guard_credential_check(ip, Credential::ClientSecret, check, |result| match result {
                Ok(_) => CheckOutcome::Accepted,
                Err(_) => CheckOutcome::Wrong,
            })
            .await
    }

    fn check_client(
        &self,
        presented: Option<&ClientCredentials>,
    ) -> Result<Option<&str>, OAuthError> {
        let Some(presented) = presented else {
            return Ok(None);
        };
        let known = self.clients.iter().find(|c| c.id == presented.id);
        match (known, &presented.secret) {
            (Some(client), Some(secret)) => {
                // Digests have one length, so the comparison time says
                // nothing about how much of the secret was right.
                let matches: bool = client
                    .secret_digest
                    .ct_eq(&digest(secret.expose_secret()))
                    .into();
                if matches {
                    Ok(Some(client.id.as_str()))
                } else {
                    Err(OAuthError::InvalidClient)
                }
            }
            (None, None) => Ok(None),
            (Some(_), None) | (None, Some(_)) => Err(OAuthError::InvalidClient),
        }
    }

    /// Like [`OAuth::authenticate_client`], but only a confidential client
    /// passes (introspection, the revocation feed).
    pub async fn require_client(
        &self,
        presented: Option<&ClientCredentials>,
        ip: Option<IpAddr>,
    ) -> Result<&str, OAuthError> {
        let presented = presented.filter(|c| c.secret.is_some());
        if presented.is_none() {
            return Err(OAuthError::InvalidClient);
        }
        self.authenticate_client(presented, ip)
            .await?
            .id()
            .ok_or(OAuthError::InvalidClient)
    }

    /// The token endpoint, for an authenticated client (so a client that
    /// fails learns nothing about its grant): the password grant is
    /// [`Auth::login`] and the refresh grant [`Auth::refresh`] (the same
    /// rotation and reuse detection as `/api/v1/auth/refresh`).
    pub async fn token(
        &self,
        _client: AuthenticatedClient<'_>,
        grant: Grant,
        from: &ClientInfo,
    ) -> Result<TokenPair, OAuthError> {
        let pair = match grant {
            Grant::Password { username, password } => {
                self.auth
                    .login(LoginName::guess(&username), password, from)
                    .await?
            }
            Grant::RefreshToken(token) => self.auth.refresh(&token, from).await?,
        };
        Ok(pair)
    }

    /// RFC 7662: an access token must verify and its session be live; a
    /// refresh token must be its session's current one. One Redis round trip
    /// either way. Anything else is inactive.
    pub async fn introspect(&self, token: &str) -> Result<Introspection, OAuthError> {
        let (tokens, sessions) = (&self.tokens, &self.sessions);
        let inactive = Introspection {
            active: false,
            token: None,
        };
        let active = if let Some(refresh) = sessions.parse_token(token) {
            let Some(live) = sessions
                .live_refresh(&refresh)
                .await
                .map_err(AuthError::from)?
            else {
                return Ok(inactive);
            };
            ActiveToken {
                sub: live.claims.user_id,
                exp: live.expires_at,
                iat: live.issued_at,
                iss: tokens.issuer().to_owned(),
                aud: tokens.audience().to_owned(),
                jti: None,
                sid: live.session_id,
                token_type: "refresh_token",
                username: live.claims.username,
                role: live.claims.role,
                subscription: live.claims.subscription,
            }
        } else {
            let Ok(claims) = tokens.verify(token) else {
                return Ok(inactive);
            };
            // The session's current name, role and subscription, not the
            // token's: a demotion shows at once.
            let Some(live) = sessions
                .live_session(claims.sub, claims.sid)
                .await
                .map_err(AuthError::from)?
            else {
                return Ok(inactive);
            };
            ActiveToken {
                sub: claims.sub,
                exp: claims.exp,
                iat: claims.iat,
                iss: claims.iss,
                aud: claims.aud,
                jti: Some(claims.jti),
                sid: claims.sid,
                token_type: "Bearer",
                username: live.username,
                role: live.role,
                subscription: live.subscription,
            }
        };
        Ok(Introspection {
            active: true,
            token: Some(active),
        })
    }

    /// RFC 7009: ends the session of an access or refresh token (through
    /// [`Auth::logout`], so it is audited like any logout). Unknown tokens
    /// succeed too.
    pub async fn revoke(
        &self,
        client: Option<&ClientCredentials>,
        token: Option<&str>,
        from: &ClientInfo,
    ) -> Result<(), OAuthError> {
        self.authenticate_client(client, from.ip).await?;
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(OAuthError::MissingParameter("token"))?;
        // A token is either an opaque refresh token or a JWT; logout tries
        // each reading and ignores the one that does not apply.
        self.auth.logout(Some(token), Some(token), from).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_does_not_print_its_secrets() {
        let refresh = Grant::RefreshToken("refresh-token-value".into());
        let password = Grant::Password {
            username: "ada".into(),
            password: SecretString::from("password-value"),
        };
        let printed = format!("{refresh:?} {password:?}");
        assert!(!printed.contains("-value"), "{printed}");
        assert!(printed.contains("ada"), "{printed}");
    }
}
