//! OpenID Connect's documents: discovery (OIDC Discovery 1.0 §3) and
//! userinfo (OIDC Core §5.3).

use serde::Serialize;
use utoipa::ToSchema;

use super::{OAuth, CLIENT_AUTH_METHODS};
use crate::auth::AuthError;
use crate::authorize::STANDARD_SCOPES;
use crate::tokens::AccessClaims;
use crate::users::repo;

pub const AUTHORIZATION_PATH: &str = "/oauth/authorize";
pub const USERINFO_PATH: &str = "/oauth/userinfo";
pub const END_SESSION_PATH: &str = "/oauth/logout";

/// The claims an ID token or userinfo may carry.
const CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "amr",
    "acr",
    "sid",
    "at_hash",
    "email",
    "email_verified",
    "preferred_username",
];

/// `/.well-known/openid-configuration`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    /// The OpenID Connect scopes and every scope a registered client holds.
    scopes_supported: Vec<String>,
    #[schema(value_type = Vec<String>)]
    response_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    response_modes_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    grant_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    subject_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    id_token_signing_alg_values_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    token_endpoint_auth_methods_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    code_challenge_methods_supported: &'static [&'static str],
    /// RFC 9449 §5.1: the algorithms a DPoP proof may use.
    dpop_signing_alg_values_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    claims_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    prompt_values_supported: &'static [&'static str],
    /// RFC 9207: every redirect names the issuer.
    authorization_response_iss_parameter_supported: bool,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
}

/// The userinfo answer: `sub`, and what the token's scope covers.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
}

impl OpenIdConfiguration {
    pub(super) fn new(base: &str, issuer: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: format!("{base}{AUTHORIZATION_PATH}"),
            token_endpoint: format!("{base}{}", super::TOKEN_PATH),
            userinfo_endpoint: format!("{base}{USERINFO_PATH}"),
            jwks_uri: format!("{base}{}", super::JWKS_PATH),
            end_session_endpoint: format!("{base}{END_SESSION_PATH}"),
            introspection_endpoint: format!("{base}{}", super::INTROSPECTION_PATH),
            revocation_endpoint: format!("{base}{}", super::REVOCATION_PATH),
            scopes_supported: Vec::new(),
            response_types_supported: &["code"],
            response_modes_supported: &["query"],
            grant_types_supported: super::GRANT_TYPES,
            subject_types_supported: &["public"],
            id_token_signing_alg_values_supported: &["EdDSA", "RS256"],
            token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
            code_challenge_methods_supported: &["S256"],
            dpop_signing_alg_values_supported: &["EdDSA", "ES256"],
            claims_supported: CLAIMS,
            prompt_values_supported: &["none", "login"],
            authorization_response_iss_parameter_supported: true,
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
        }
    }
}

/// The OpenID Connect scopes, then the registry's.
pub(super) fn scopes_supported(in_use: Vec<String>) -> Vec<String> {
    let mut scopes: Vec<String> = STANDARD_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    scopes.extend(
        in_use
            .into_iter()
            .filter(|s| !STANDARD_SCOPES.contains(&s.as_str())),
    );
    scopes
}

impl OAuth {
    /// The OIDC Discovery document, with the scopes the registry holds now.
    pub fn openid_configuration(&self) -> OpenIdConfiguration {
        let mut document = self.openid.clone();
        document.scopes_supported = scopes_supported(self.registry.scopes_in_use());
        document
    }

    /// OIDC Core §5.3: the user a live access token names (checked at the
    /// edge like at `/users/me`, DPoP binding included), as far as its scope
    /// reaches (a first-party token, which carries none, sees everything).
    pub async fn userinfo(&self, claims: &AccessClaims) -> Result<UserInfo, AuthError> {
        let identity = repo::identity(&self.pool, claims.sub)
            .await?
            .ok_or(AuthError::InvalidAccessToken)?;
        let has = |name: &str| {
            claims
                .scope
                .as_deref()
                .is_none_or(|scope| scope.split(' ').any(|s| s == name))
        };
        Ok(UserInfo {
            sub: claims.sub.to_string(),
            email_verified: has("email").then_some(identity.email_verified),
            email: has("email").then_some(identity.email),
            preferred_username: has("profile").then_some(identity.username),
        })
    }
}
