//! OAuth 2.0 for off-the-shelf clients, services and gateways: client
//! authentication ([`client_auth`]: `gateway.clients`, the registry,
//! `private_key_jwt`), the token endpoint's grants (RFC 6749's password and
//! refresh grants through the same [`Auth`] login and refresh as the JSON
//! API; client credentials; RFC 8693 token exchange), introspection
//! (RFC 7662), revocation (RFC 7009) and server metadata (RFC 8414). Knows
//! nothing of HTTP.
//!
//! Clients: a `gateway.clients` entry or a confidential client of the
//! registry must prove itself whenever it names itself. Any other client is
//! public: it sends no credentials, or only a `client_id` (a registered
//! public client's, or one nobody registered).

pub mod client_auth;
mod code_grant;
mod oidc;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

pub use client_auth::{AuthenticatedClient, Presented, JWT_BEARER_ASSERTION};
pub use oidc::{
    OpenIdConfiguration, UserInfo, AUTHORIZATION_PATH, END_SESSION_PATH, USERINFO_PATH,
};

use crate::audit::AuditLog;
use crate::auth::{Auth, AuthError, Door, LoginName, Opening, TokenPair};
use crate::client::ClientInfo;
use crate::clients::model::audience as audience_rule;
use crate::clients::{secret, GrantType, Registry, Scopes, StoredClient};
use crate::config::GatewayClient;
use crate::dpop::{Checked, Dpop};
use crate::mfa::MfaError;
use crate::rate_limit::{CheckOutcome, Credential, RateLimitError, RateLimiter};
use crate::redis_client::RedisClient;
use crate::sessions::SessionStore;
use crate::tokens::{Bearer, ClientGrant, Confirmation, TokenIssuer};
use crate::users::{Role, Subscription};
use client_auth::{registered_secret_matches, AssertionCheck};
use tessera_dpop::DpopError;

pub const TOKEN_PATH: &str = "/oauth/token";
pub const INTROSPECTION_PATH: &str = "/oauth/introspect";
pub const REVOCATION_PATH: &str = "/oauth/revoke";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// RFC 8693's token type of an access token.
pub const ACCESS_TOKEN_TYPE_URN: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE_URN: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The RFC 6749 §5.2 errors, RFC 8707's and RFC 8693's (plus failures of
/// the service behind them).
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
    /// An authenticated client asked for a grant it is not registered for.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(GrantType),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    /// A scope the client (or the subject token) does not hold, or a
    /// malformed scope list.
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// RFC 8707: an audience or resource the client may not name.
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
    /// RFC 9449 §7.1.
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(DpopError),
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
            | AuthError::InvalidRefreshToken
            | AuthError::InvalidAccessToken
            | AuthError::InvalidAuthorizationCode
            | AuthError::MfaRequired(_)
            | AuthError::InvalidMfaToken
            | AuthError::SecondFactor(MfaError::WrongCode) => OAuthError::InvalidGrant(e),
            AuthError::SecondFactor(MfaError::Passkey(ref refused)) if refused.is_refusal() => {
                OAuthError::InvalidGrant(e)
            }
            AuthError::DpopProof(why) => OAuthError::InvalidDpopProof(why),
            other => OAuthError::Service(other),
        }
    }
}

/// A grant at the token endpoint, read from its form (`http::oauth`).
pub enum Grant {
    Password {
        username: String,
        password: SecretString,
    },
    RefreshToken(String),
    /// RFC 6749 §4.1.3 with PKCE: a code from `/oauth/authorize`.
    AuthorizationCode {
        code: String,
        /// Required when the authorization request named one; the code
        /// remembers which it was sent to.
        redirect_uri: Option<String>,
        code_verifier: String,
    },
    ClientCredentials(TokenRequest),
    /// RFC 8693: a user's access token for a token naming this client.
    TokenExchange {
        subject_token: String,
        request: TokenRequest,
    },
}

/// What a client asks its token to carry; `None` takes the client's
/// defaults.
#[derive(Debug, Default)]
pub struct TokenRequest {
    pub scope: Option<Scopes>,
    pub audience: Option<String>,
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
            Grant::AuthorizationCode { .. } => f.write_str("AuthorizationCode(..)"),
            Grant::ClientCredentials(request) => {
                f.debug_tuple("ClientCredentials").field(request).finish()
            }
            Grant::TokenExchange { request, .. } => f
                .debug_struct("TokenExchange")
                .field("request", request)
                .finish_non_exhaustive(),
        }
    }
}

/// A token endpoint answer (RFC 6749 §5.1, RFC 8693 §2.2.1).
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in: u64,
    /// The password and refresh grants: the refresh token and its lifetime.
    pub refresh: Option<(String, u64)>,
    /// The scope granted, when the token carries one.
    pub scope: Option<String>,
    /// Token exchange names what it issued.
    pub issued_token_type: Option<&'static str>,
    /// The code grant with `openid`.
    pub id_token: Option<String>,
    /// The access token is bound to a DPoP key (`token_type: "DPoP"`).
    pub dpop_bound: bool,
}

impl From<TokenPair> for IssuedTokens {
    fn from(pair: TokenPair) -> Self {
        Self {
            dpop_bound: pair.dpop_bound,
            access_token: pair.access_token,
            expires_in: pair.expires_in,
            refresh: Some((pair.refresh_token, pair.refresh_expires_in)),
            scope: None,
            issued_token_type: None,
            id_token: None,
        }
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
    /// A user's id, or a client's for its own token.
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub iss: String,
    pub aud: String,
    /// Access tokens only: refresh tokens are opaque and carry no id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<Uuid>,
    /// The client the token was issued to.
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `"Bearer"` for access tokens (their RFC 6749 type), `"DPoP"` for a
    /// DPoP-bound one, `"refresh_token"` for refresh tokens.
    pub token_type: &'static str,
    /// A DPoP-bound access token's key (RFC 9449 §6.2): the caller checks
    /// the request's proof against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// A user's token: its session and the user's current standing.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub user: Option<ActiveUser>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ActiveUser {
    pub sid: Uuid,
    pub username: String,
    pub role: Role,
    pub subscription: Subscription,
}

/// Every grant the token endpoint serves.
const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "password",
    "refresh_token",
    "client_credentials",
    crate::clients::model::TOKEN_EXCHANGE,
];

/// How a client may authenticate at the token and revocation endpoints.
const CLIENT_AUTH_METHODS: &[&str] = &[
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// RFC 8414 authorization server metadata.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthorizationServerMetadata {
    issuer: String,
    authorization_endpoint: String,
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
    token_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    code_challenge_methods_supported: &'static [&'static str],
    /// RFC 9449 §5.1: the algorithms a DPoP proof may use.
    dpop_signing_alg_values_supported: &'static [&'static str],
    /// RFC 9207.
    authorization_response_iss_parameter_supported: bool,
    #[schema(value_type = Vec<String>)]
    introspection_endpoint_auth_methods_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    revocation_endpoint_auth_methods_supported: &'static [&'static str],
    /// Every scope some registered client may ask for.
    scopes_supported: Vec<String>,
}

struct ConfidentialClient {
    id: String,
    secret_digest: secret::Digest,
}

pub struct OAuth {
    auth: Arc<Auth>,
    sessions: Arc<SessionStore>,
    tokens: Arc<TokenIssuer>,
    /// Counts failed client authentications per address, and token
    /// requests per client.
    limits: Arc<RateLimiter>,
    registry: Arc<Registry>,
    /// Remembers the `jti` of client assertions.
    redis: Arc<RedisClient>,
    dpop: Arc<Dpop>,
    clients: Vec<ConfidentialClient>,
    /// What a client assertion's `aud` may name.
    assertion_audiences: Vec<String>,
    metadata: AuthorizationServerMetadata,
    openid: oidc::OpenIdConfiguration,
    /// Code redemptions and their replays.
    audit: AuditLog,
    /// Userinfo reads the user's e-mail.
    pool: PgPool,
    id_token_ttl: Duration,
}

/// What the OAuth endpoints stand on, handed in by `startup`.
pub struct OAuthDeps {
    /// Runs the password and refresh grants and revocation.
    pub auth: Arc<Auth>,
    /// Introspection reads sessions.
    pub sessions: Arc<SessionStore>,
    pub tokens: Arc<TokenIssuer>,
    pub limits: Arc<RateLimiter>,
    pub registry: Arc<Registry>,
    pub redis: Arc<RedisClient>,
    /// Spends the token endpoint's DPoP proofs (but a refresh's, which its
    /// rotation spends).
    pub dpop: Arc<Dpop>,
    pub audit: AuditLog,
    pub pool: PgPool,
    /// `oauth.id_token_ttl_secs`.
    pub id_token_ttl: Duration,
}

impl OAuth {
    pub fn new(deps: OAuthDeps, gateway_clients: &[GatewayClient], public_url: &str) -> Self {
        let clients = gateway_clients
            .iter()
            .map(|c| ConfidentialClient {
                id: c.id.clone(),
                secret_digest: secret::digest(c.secret.expose_secret()),
            })
            .collect();
        let base = public_url.trim_end_matches('/');
        let token_endpoint = format!("{base}{TOKEN_PATH}");
        let metadata = AuthorizationServerMetadata {
            issuer: deps.tokens.issuer().to_owned(),
            authorization_endpoint: format!("{base}{}", oidc::AUTHORIZATION_PATH),
            token_endpoint: token_endpoint.clone(),
            introspection_endpoint: format!("{base}{INTROSPECTION_PATH}"),
            revocation_endpoint: format!("{base}{REVOCATION_PATH}"),
            jwks_uri: format!("{base}{JWKS_PATH}"),
            grant_types_supported: GRANT_TYPES,
            response_types_supported: &["code"],
            code_challenge_methods_supported: &["S256"],
            dpop_signing_alg_values_supported: &["EdDSA", "ES256"],
            authorization_response_iss_parameter_supported: true,
            token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
            token_endpoint_auth_signing_alg_values_supported: &["EdDSA", "ES256"],
            introspection_endpoint_auth_methods_supported: &["client_secret_basic"],
            revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
            scopes_supported: Vec::new(),
        };
        let openid = oidc::OpenIdConfiguration::new(base, deps.tokens.issuer());
        Self {
            assertion_audiences: vec![token_endpoint, deps.tokens.issuer().to_owned()],
            openid,
            audit: deps.audit,
            pool: deps.pool,
            id_token_ttl: deps.id_token_ttl,
            auth: deps.auth,
            sessions: deps.sessions,
            tokens: deps.tokens,
            limits: deps.limits,
            registry: deps.registry,
            redis: deps.redis,
            dpop: deps.dpop,
            clients,
            metadata,
        }
    }

    /// The RFC 8414 document, with the scopes the registry holds now.
    pub fn metadata(&self) -> AuthorizationServerMetadata {
        let mut metadata = self.metadata.clone();
        metadata.scopes_supported = oidc::scopes_supported(self.registry.scopes_in_use());
        metadata
    }

    /// Checks what a caller presented: a confidential client must prove
    /// itself, and a secret or assertion must be right. A wrong one from
    /// `ip` is counted (see [`Credential::ClientSecret`]): past the limit it
    /// is refused with a 429 rather than `invalid_client`.
    pub async fn authenticate_client(
        &self,
        presented: Presented,
        ip: Option<IpAddr>,
    ) -> Result<AuthenticatedClient, OAuthError> {
        let check = self.check_client(presented);
        self.limits
            .guard_credential_check(ip, Credential::ClientSecret, check, |result| match result {
                Err(OAuthError::InvalidClient) => CheckOutcome::Wrong,
                _ => CheckOutcome::Accepted,
            })
            .await
    }

    fn registered(&self, id: &str) -> Result<Option<Arc<StoredClient>>, OAuthError> {
        let stored = self
            .registry
            .get(id)
            .map_err(|_| OAuthError::Service(AuthError::RegistryUnavailable))?;
        Ok(stored.filter(|stored| !stored.client.disabled))
    }

    async fn check_client(&self, presented: Presented) -> Result<AuthenticatedClient, OAuthError> {
        match presented {
            Presented::Nothing => Ok(AuthenticatedClient::Public),
            Presented::Id(id) => {
                if self.clients.iter().any(|c| c.id == id) {
                    return Err(OAuthError::InvalidClient);
                }
                match self.registry.get(&id) {
                    // A registered confidential client must prove itself.
                    Ok(Some(stored)) if stored.client.disabled => Err(OAuthError::InvalidClient),
                    Ok(Some(stored))
                        if stored.client.settings.auth_method.uses_secret()
                            || stored.client.settings.jwks.is_some() =>
                    {
                        Err(OAuthError::InvalidClient)
                    }
                    Ok(Some(stored)) => Ok(AuthenticatedClient::Registered(stored)),
                    // Not registered, or the registry is not loaded yet:
                    // a public client, as before the registry.
                    Ok(None) | Err(_) => Ok(AuthenticatedClient::Public),
                }
            }
            Presented::Secret { id, secret } => {
                if let Some(gateway) = self.clients.iter().find(|c| c.id == id) {
                    return if secret::matches(&gateway.secret_digest, &secret) {
                        Ok(AuthenticatedClient::Gateway(gateway.id.clone()))
                    } else {
                        Err(OAuthError::InvalidClient)
                    };
                }
                match self.registered(&id)? {
                    Some(stored) if registered_secret_matches(&stored, &secret) => {
                        Ok(AuthenticatedClient::Registered(stored))
                    }
                    _ => Err(OAuthError::InvalidClient),
                }
            }
            Presented::Assertion { client_id, jwt } => {
                let check = AssertionCheck {
                    redis: &self.redis,
                    audiences: &self.assertion_audiences,
                };
                // Boxed: a large future, and every client's authentication
                // (the gateway's at each introspection) would carry it.
                Box::pin(check.check(client_id.as_deref(), &jwt, |id| self.registered(id)))
                    .await
                    .map(AuthenticatedClient::Registered)
            }
        }
    }

    /// Like [`OAuth::authenticate_client`], but only a `gateway.clients`
    /// entry passes (introspection, the revocation feed): a registered
    /// client gets tokens, it does not read other clients' or users'
    /// revocations.
    pub async fn require_gateway(
        &self,
        presented: Presented,
        ip: Option<IpAddr>,
    ) -> Result<String, OAuthError> {
        if !presented.has_credentials() {
            return Err(OAuthError::InvalidClient);
        }
        match self.authenticate_client(presented, ip).await? {
            AuthenticatedClient::Gateway(id) => Ok(id),
            AuthenticatedClient::Public | AuthenticatedClient::Registered(_) => {
                Err(OAuthError::InvalidClient)
            }
        }
    }

    /// The token endpoint, for an authenticated client (so a client that
    /// fails learns nothing about its grant): the password grant is
    /// [`Auth::login`] and the refresh grant [`Auth::refresh`] (the same
    /// rotation and reuse detection as `/api/v1/auth/refresh`); client
    /// credentials and token exchange sign a token for the client.
    /// `proof`: the request's DPoP proof, checked but not yet spent (its
    /// access token is bound to its key; so is a public client's refresh
    /// token): the refresh grant's rotation spends it, the others spend it
    /// first.
    pub async fn token(
        &self,
        client: AuthenticatedClient,
        grant: Grant,
        from: &ClientInfo,
        proof: Option<&Checked>,
    ) -> Result<IssuedTokens, OAuthError> {
        let jkt = proof.map(Checked::jkt);
        if let (Some(proof), false) = (proof, matches!(grant, Grant::RefreshToken(_))) {
            self.dpop.spend(proof).await.map_err(AuthError::from)?;
        }
        if let AuthenticatedClient::Registered(stored) = &client {
            if stored.client.settings.dpop_bound && jkt.is_none() {
                return Err(OAuthError::InvalidDpopProof(DpopError::Missing));
            }
            let kind = match &grant {
                Grant::Password { .. } => GrantType::Password,
                Grant::RefreshToken(_) => GrantType::RefreshToken,
                Grant::AuthorizationCode { .. } => GrantType::AuthorizationCode,
                Grant::ClientCredentials(_) => GrantType::ClientCredentials,
                Grant::TokenExchange { .. } => GrantType::TokenExchange,
            };
            if !stored.client.settings.grant_types.contains(&kind) {
                return Err(OAuthError::UnauthorizedClient(kind));
            }
            if client.confidential_id().is_some() {
                self.limits
                    .client_token(&stored.client.client_id, from.ip)
                    .await?;
            }
        }
        // The grants other than refresh are boxed: their futures are large
        // (a sign-in's, a code's, an exchange's), and the refresh grant, the
        // hot one, would otherwise carry the largest of them through every
        // move.
        match grant {
            Grant::Password { username, password } => {
                let opening = Opening {
                    door: Door::PasswordGrant,
                    app: client.session_client(None),
                    lifetime: None,
                    jkt: jkt.map(str::to_owned),
                };
                Ok(Box::pin(self.auth.login_to(
                    LoginName::guess(&username),
                    password,
                    from,
                    opening,
                ))
                .await?
                .into())
            }
            Grant::RefreshToken(token) => Ok(self
                .auth
                .refresh(&token, from, client.id().unwrap_or_default(), proof)
                .await?
                .into()),
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                let stored = registered_only(&client, GrantType::AuthorizationCode)?;
                let presented = code_grant::Presented {
                    code: &code,
                    redirect_uri: redirect_uri.as_deref(),
                    verifier: &code_verifier,
                };
                Box::pin(self.authorization_code(stored, presented, from, jkt)).await
            }
            Grant::ClientCredentials(request) => {
                let stored = registered_only(&client, GrantType::ClientCredentials)?;
                self.client_credentials(stored, request, jkt)
            }
            Grant::TokenExchange {
                subject_token,
                request,
            } => {
                let stored = registered_only(&client, GrantType::TokenExchange)?;
                Box::pin(self.exchange(stored, &subject_token, request, jkt)).await
            }
        }
    }

    /// What a client's token may carry: the scope asked for (all of the
    /// client's when none is named) within `allowed`, and an audience among
    /// the client's (`jwt.audience` when it names none, if allowed).
    fn grant_for<'a>(
        &'a self,
        stored: &'a StoredClient,
        request: TokenRequest,
        allowed: &Scopes,
    ) -> Result<ClientGrant<'a>, OAuthError> {
        let settings = &stored.client.settings;
        let audiences: Vec<&str> = if settings.audiences.is_empty() {
            vec![self.tokens.audience()]
        } else {
            settings.audiences.iter().map(String::as_str).collect()
        };
        let audience = match request.audience {
            Some(asked) => audiences
                .iter()
                .copied()
                .find(|a| *a == asked)
                .ok_or_else(|| OAuthError::InvalidTarget(asked))?,
            None => audiences
                .iter()
                .copied()
                .find(|a| *a == self.tokens.audience())
                .unwrap_or(audiences[0]),
        };
        let scope = match request.scope {
            Some(asked) if asked.is_subset(allowed) => asked,
            Some(asked) => {
                let missing: Vec<&str> = asked.iter().filter(|s| !allowed.contains(s)).collect();
                return Err(OAuthError::InvalidScope(missing.join(" ")));
            }
            None => allowed.clone(),
        };
        Ok(ClientGrant {
            client_id: &stored.client.client_id,
            audience,
            scope: (!scope.is_empty()).then(|| scope.to_string()),
            ttl: settings
                .access_ttl_secs
                .map(|secs| Duration::from_secs(secs.into()))
                .unwrap_or(self.tokens.access_ttl()),
            jkt: None,
        })
    }

    /// RFC 6749 §4.4: a token for the client itself; no refresh token.
    fn client_credentials(
        &self,
        stored: &StoredClient,
        request: TokenRequest,
        jkt: Option<&str>,
    ) -> Result<IssuedTokens, OAuthError> {
        let mut grant = self.grant_for(stored, request, &stored.client.settings.scopes)?;
        grant.jkt = jkt;
        let scope = grant.scope.clone();
        let issued = self.tokens.issue_client(grant).map_err(AuthError::from)?;
        Ok(IssuedTokens {
            access_token: issued.token,
            expires_in: issued.expires_in.as_secs(),
            refresh: None,
            scope,
            issued_token_type: None,
            id_token: None,
            dpop_bound: jkt.is_some(),
        })
    }

    /// RFC 8693: a live user token in, a token for one of the client's
    /// audiences out, scoped within the client's scopes (and the subject
    /// token's, when it carries any), naming the client in `act`. It shares
    /// the user's session, so it dies with it.
    async fn exchange(
        &self,
        stored: &StoredClient,
        subject_token: &str,
        request: TokenRequest,
        jkt: Option<&str>,
    ) -> Result<IssuedTokens, OAuthError> {
        let subject = self.auth.authenticate(subject_token).await?;
        let mut allowed = stored.client.settings.scopes.clone();
        if let Some(scope) = &subject.scope {
            let held = Scopes::parse_list(scope).unwrap_or_default();
            allowed = allowed.intersection(&held);
        }
        let mut grant = self.grant_for(stored, request, &allowed)?;
        grant.jkt = jkt;
        let scope = grant.scope.clone();
        let issued = self
            .tokens
            .issue_exchanged(&subject, grant)
            .map_err(AuthError::from)?;
        Ok(IssuedTokens {
            access_token: issued.token,
            expires_in: issued.expires_in.as_secs(),
            refresh: None,
            scope,
            issued_token_type: Some(ACCESS_TOKEN_TYPE_URN),
            id_token: None,
            dpop_bound: jkt.is_some(),
        })
    }

    /// RFC 7662: an access token must verify (whatever its audience: the
    /// caller judges that) and its session or client be live; a refresh
    /// token must be its session's current one. One Redis round trip at
    /// most (none for a client's own token). Anything else is inactive.
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
                sub: live.claims.user_id.to_string(),
                exp: live.expires_at,
                iat: live.issued_at,
                iss: tokens.issuer().to_owned(),
                aud: tokens.audience().to_owned(),
                jti: None,
                client_id: crate::tokens::FIRST_PARTY_CLIENT_ID.to_owned(),
                scope: None,
                token_type: "refresh_token",
                cnf: None,
                user: Some(ActiveUser {
                    sid: live.session_id,
                    username: live.claims.username,
                    role: live.claims.role,
                    subscription: live.claims.subscription,
                }),
            }
        } else {
            let Ok(bearer) = tokens.verify_any_audience(token) else {
                return Ok(inactive);
            };
            match self.auth.client_still_live(&bearer) {
                Ok(()) => {}
                Err(AuthError::InvalidAccessToken) => return Ok(inactive),
                Err(e) => return Err(e.into()),
            }
            let user = match &bearer {
                Bearer::Client(_) => None,
                // The session's current name, role and subscription, not the
                // token's: a demotion shows at once.
                Bearer::User(claims) => match sessions
                    .live_session(claims.sub, claims.sid)
                    .await
                    .map_err(AuthError::from)?
                {
                    Some(live) => Some(ActiveUser {
                        sid: claims.sid,
                        username: live.username,
                        role: live.role,
                        subscription: live.subscription,
                    }),
                    None => return Ok(inactive),
                },
            };
            ActiveToken {
                sub: bearer.subject(),
                exp: bearer.exp(),
                iat: bearer.iat(),
                iss: bearer.iss().to_owned(),
                aud: bearer.aud().to_owned(),
                jti: Some(bearer.jti()),
                client_id: bearer.client_id().to_owned(),
                scope: bearer.scope().map(str::to_owned),
                token_type: if bearer.cnf().is_some() {
                    "DPoP"
                } else {
                    "Bearer"
                },
                cnf: bearer.cnf().cloned(),
                user,
            }
        };
        Ok(Introspection {
            active: true,
            token: Some(active),
        })
    }

    /// RFC 7009: ends the session of an access or refresh token (through
    /// [`Auth::logout`], so it is audited like any logout). Unknown tokens
    /// succeed too; a client's own token has no session to end, and lives
    /// until its `exp` or until its client is disabled.
    /// `jkt`: the DPoP key the request proved it holds (a bound token's
    /// session ends only with its key).
    pub async fn revoke(
        &self,
        client: Presented,
        token: Option<&str>,
        from: &ClientInfo,
        jkt: Option<&str>,
    ) -> Result<(), OAuthError> {
        self.authenticate_client(client, from.ip).await?;
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(OAuthError::MissingParameter("token"))?;
        // A token is either an opaque refresh token or a JWT; logout tries
        // each reading and ignores the one that does not apply.
        self.auth
            .logout(Some(token), Some(token), from, jkt)
            .await?;
        Ok(())
    }
}

/// The registered client a grant needs: a gateway entry or a public client
/// without a registration is not allowed it.
fn registered_only(
    client: &AuthenticatedClient,
    grant: GrantType,
) -> Result<&StoredClient, OAuthError> {
    match client {
        AuthenticatedClient::Registered(stored) => Ok(stored),
        AuthenticatedClient::Gateway(_) => Err(OAuthError::UnauthorizedClient(grant)),
        AuthenticatedClient::Public => Err(OAuthError::InvalidClient),
    }
}

/// A `resource` (RFC 8707) or `audience` (RFC 8693) parameter: at most one,
/// a name or an absolute URI.
pub fn parse_audience(
    audience: Option<String>,
    resource: Option<String>,
) -> Result<Option<String>, OAuthError> {
    let target = match (audience, resource) {
        (Some(a), Some(r)) if a != r => {
            return Err(OAuthError::InvalidTarget(
                "audience and resource name different targets".into(),
            ))
        }
        (a, r) => a.or(r),
    };
    target
        .map(|t| audience_rule(&t).map_err(|e| OAuthError::InvalidTarget(e.to_string())))
        .transpose()
}

/// RFC 8693 `subject_token_type`: an access token (a JWT is one here).
pub fn is_access_token_type(token_type: &str) -> bool {
    token_type == ACCESS_TOKEN_TYPE_URN || token_type == JWT_TOKEN_TYPE_URN
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
