//! The OAuth 2.0 endpoints: `/oauth/token`, `/oauth/introspect`,
//! `/oauth/revoke` and the RFC 8414 metadata. Bodies are forms, as the RFCs
//! require; errors are RFC 6749 §5.2 bodies (see [`OAuthApiError`]).

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::DPOP_TOKEN_TYPE;
use super::error::{ApiError, OAuthApiError};
use super::extract::{read_body, Authenticated, AuthorizationHeader, Client, DpopHeader};
use super::responses as doc;
use super::AppState;
use crate::clients::model::TOKEN_EXCHANGE;
use crate::clients::Scopes;
use crate::dpop::{Checked, DpopCheckError};
use crate::oauth::{
    is_access_token_type, parse_audience, AuthorizationServerMetadata, Grant, IssuedTokens,
    OAuthError, OpenIdConfiguration, Presented, TokenRequest, UserInfo, ACCESS_TOKEN_TYPE_URN,
    JWT_BEARER_ASSERTION, REVOCATION_PATH, TOKEN_PATH,
};
use crate::users::{Role, Subscription};
use crate::validation::TextKind;

// The paths are `crate::oauth::TOKEN_PATH` and its siblings (the metadata
// document names them too); `#[utoipa::path]` needs them as literals.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(token))
        .routes(routes!(introspect))
        .routes(routes!(revoke))
        .routes(routes!(metadata))
        .routes(routes!(openid_configuration))
        .routes(routes!(userinfo, userinfo_post))
}

/// An `application/x-www-form-urlencoded` body read as `T`; a repeated
/// parameter, or one holding characters its [`TextKind`] refuses, is an
/// `invalid_request` (RFC 6749 §3.2), so OAuth clients get the protocol's
/// error shape rather than the 422 of [`Body`](super::extract::Body).
pub struct OAuthForm<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OAuthForm<T> {
    type Rejection = OAuthApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, OAuthApiError> {
        let (is_form, bytes) = read_body(request, state).await?;
        if !is_form && !bytes.is_empty() {
            return Err(invalid_request(
                "The body must be application/x-www-form-urlencoded",
            ));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| invalid_request("The form body cannot be decoded"))?;
        let mut form = Map::new();
        for (name, value) in pairs {
            if form.contains_key(&name) {
                return Err(invalid_request(&format!("Parameter {name} is repeated")));
            }
            if let Err(why) = TextKind::of(&name).check(&value) {
                return Err(invalid_request(&format!("Parameter {name}: {why}")));
            }
            form.insert(name, Value::String(value));
        }
        // `T`'s fields are optional text, so any form of text reads.
        T::deserialize(Value::Object(form))
            .map(Self)
            .map_err(|e| invalid_request(&format!("The form body cannot be read: {e}")))
    }
}

fn invalid_request(why: &str) -> OAuthApiError {
    OAuthError::InvalidRequest(why.to_owned()).into()
}

/// A client's id and secret from HTTP Basic.
struct BasicCredentials {
    id: String,
    secret: SecretString,
}

/// `Authorization: Basic base64(urlencoded id ":" urlencoded secret)`
/// (RFC 6749 §2.3.1), if that is the scheme used. A malformed Basic header is
/// a failed client authentication.
fn basic_credentials(
    authorization: Option<&HeaderValue>,
) -> Result<Option<BasicCredentials>, OAuthError> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| OAuthError::InvalidClient)?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(OAuthError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(OAuthError::InvalidClient)?;
    let unescape = |part: &str| form_unescape(part).ok_or(OAuthError::InvalidClient);
    Ok(Some(BasicCredentials {
        id: unescape(id)?,
        secret: SecretString::from(unescape(secret)?),
    }))
}

fn form_unescape(part: &str) -> Option<String> {
    // A raw `&` (from a client that skipped the encoding) stays literal
    // instead of cutting the value short.
    let field = format!("v={}", part.replace('&', "%26"));
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&field).ok()?;
    pairs.into_iter().next().map(|(_, value)| value)
}

/// A `gateway.clients` entry that proved its secret with HTTP Basic, as at
/// introspection: what the revocation feed admits.
pub(super) struct GatewayClient(pub String);

impl FromRequestParts<AppState> for GatewayClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let refused = |e| match e {
            // A count past its limit, or a store down: the service's answer.
            OAuthError::Service(e) => ApiError::from(e),
            _ => ApiError::ClientUnauthorized,
        };
        let Ok(Client(from)) = Client::from_request_parts(parts, state).await;
        let client = basic_presented(parts.headers.get(header::AUTHORIZATION)).map_err(refused)?;
        let id = state
            .oauth
            .require_gateway(client, from.ip)
            .await
            .map_err(refused)?;
        Ok(Self(id))
    }
}

/// What HTTP Basic presents, if anything (introspection, the feed).
fn basic_presented(authorization: Option<&HeaderValue>) -> Result<Presented, OAuthError> {
    Ok(match basic_credentials(authorization)? {
        Some(BasicCredentials { id, secret }) => Presented::Secret { id, secret },
        None => Presented::Nothing,
    })
}

/// The form fields a client may authenticate with.
#[derive(Default)]
struct ClientFields<'a> {
    client_id: Option<&'a str>,
    client_secret: Option<&'a str>,
    client_assertion_type: Option<&'a str>,
    client_assertion: Option<&'a str>,
}

/// The client's credentials from HTTP Basic, the `client_id` /
/// `client_secret` form fields or a `client_assertion` (RFC 7523); using
/// two methods at once is an `invalid_request`.
fn client_credentials(
    authorization: Option<&HeaderValue>,
    fields: ClientFields<'_>,
) -> Result<Presented, OAuthError> {
    let basic = basic_credentials(authorization)?;
    let form_id = fields.client_id.filter(|id| !id.is_empty());
    let assertion = match (fields.client_assertion_type, fields.client_assertion) {
        (None, None) => None,
        (Some(JWT_BEARER_ASSERTION), Some(jwt)) if !jwt.is_empty() => Some(jwt),
        (Some(JWT_BEARER_ASSERTION), _) => {
            return Err(OAuthError::MissingParameter("client_assertion"))
        }
        (Some(_), _) => {
            return Err(OAuthError::InvalidRequest(format!(
                "client_assertion_type must be {JWT_BEARER_ASSERTION}"
            )))
        }
        (None, Some(_)) => return Err(OAuthError::MissingParameter("client_assertion_type")),
    };
    let methods = [
        basic.is_some(),
        fields.client_secret.is_some(),
        assertion.is_some(),
    ];
    if methods.iter().filter(|used| **used).count() > 1 {
        return Err(OAuthError::InvalidRequest(
            "Use one client authentication method, not two".into(),
        ));
    }
    if let Some(jwt) = assertion {
        return Ok(Presented::Assertion {
            client_id: form_id.map(str::to_owned),
            jwt: jwt.to_owned(),
        });
    }
    match (basic, form_id, fields.client_secret) {
        (Some(basic), Some(id), _) if id != basic.id => Err(OAuthError::InvalidRequest(
            "client_id does not match the Basic credentials".into(),
        )),
        (Some(BasicCredentials { id, secret }), _, _) => Ok(Presented::Secret { id, secret }),
        (None, Some(id), Some(secret)) => Ok(Presented::Secret {
            id: id.to_owned(),
            secret: SecretString::from(secret),
        }),
        (None, Some(id), None) => Ok(Presented::Id(id.to_owned())),
        (None, None, Some(_)) => Err(OAuthError::InvalidRequest(
            "client_secret without client_id".into(),
        )),
        (None, None, None) => Ok(Presented::Nothing),
    }
}

/// RFC 6749 §5.1 (and RFC 8693 §2.2.1 for token exchange).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AccessTokenResponse {
    access_token: String,
    #[schema(value_type = String, example = json!(TOKEN_TYPE))]
    token_type: &'static str,
    expires_in: u64,
    /// The password and refresh grants, and the code grant of a
    /// first-party client or with `offline_access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_expires_in: Option<u64>,
    /// The scope granted, space-separated, when the token carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:access_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    issued_token_type: Option<&'static str>,
    /// The code grant with the `openid` scope: the OpenID Connect ID token.
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

/// RFC 6750's `token_type`, as RFC 6749 §5.1 answers it.
const TOKEN_TYPE: &str = "Bearer";

impl From<IssuedTokens> for AccessTokenResponse {
    fn from(issued: IssuedTokens) -> Self {
        let (refresh_token, refresh_expires_in) = issued.refresh.unzip();
        Self {
            access_token: issued.access_token,
            token_type: if issued.dpop_bound {
                DPOP_TOKEN_TYPE
            } else {
                TOKEN_TYPE
            },
            expires_in: issued.expires_in,
            refresh_token,
            refresh_expires_in,
            scope: issued.scope,
            issued_token_type: issued.issued_token_type,
            id_token: issued.id_token,
        }
    }
}

/// `POST /oauth/token` (RFC 6749 §4.3, §4.4 and §6; RFC 8693).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"grant_type": "password", "username": "alice", "password": "correct horse battery staple"}))]
struct OAuthTokenRequest {
    /// `authorization_code`, `password`, `refresh_token`,
    /// `client_credentials` or
    /// `urn:ietf:params:oauth:grant-type:token-exchange`.
    #[schema(value_type = String)]
    grant_type: Option<String>,
    /// `password` grant: an email address or a username.
    username: Option<String>,
    /// `password` grant.
    password: Option<String>,
    /// `refresh_token` grant.
    refresh_token: Option<String>,
    /// `client_credentials` and token exchange: space-separated scopes
    /// within the client's (all of them when absent).
    scope: Option<String>,
    /// `client_credentials` and token exchange: one of the client's
    /// audiences (RFC 8693; `jwt.audience` when absent, if the client has it).
    audience: Option<String>,
    /// The same as `audience`, as RFC 8707 names it.
    resource: Option<String>,
    /// Token exchange: the user's access token.
    subject_token: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:access_token`.
    subject_token_type: Option<String>,
    /// Token exchange: an access token, if named.
    requested_token_type: Option<String>,
    /// Token exchange: delegation by a second token is not offered.
    actor_token: Option<String>,
    /// `authorization_code` grant: the code from the redirect.
    code: Option<String>,
    /// `authorization_code` grant: the redirect URI the code was sent to.
    redirect_uri: Option<String>,
    /// `authorization_code` grant: the PKCE verifier (RFC 7636).
    code_verifier: Option<String>,
    /// Public clients name themselves; confidential ones may
    /// authenticate here instead of with Basic.
    client_id: Option<String>,
    client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
    /// (`private_key_jwt`, RFC 7523).
    client_assertion_type: Option<String>,
    /// A JWT signed by one of the client's registered keys: `iss` and `sub`
    /// the client id, `aud` the token endpoint, `exp`, a `jti` never used
    /// before.
    client_assertion: Option<String>,
}

impl OAuthTokenRequest {
    fn client_fields(&self) -> ClientFields<'_> {
        ClientFields {
            client_id: self.client_id.as_deref(),
            client_secret: self.client_secret.as_deref(),
            client_assertion_type: self.client_assertion_type.as_deref(),
            client_assertion: self.client_assertion.as_deref(),
        }
    }

    /// What a client asks its token to carry.
    fn token_request(
        scope: Option<String>,
        audience: Option<String>,
        resource: Option<String>,
    ) -> Result<TokenRequest, OAuthError> {
        let scope = scope
            .map(|list| {
                Scopes::parse_list(&list).map_err(|e| OAuthError::InvalidScope(e.to_string()))
            })
            .transpose()?;
        Ok(TokenRequest {
            scope,
            audience: parse_audience(audience, resource)?,
        })
    }

    /// `grant_type` and its parameters; an empty value is a missing one.
    fn grant(self) -> Result<Grant, OAuthError> {
        let required = |name: &'static str, value: Option<String>| {
            value
                .filter(|value| !value.is_empty())
                .ok_or(OAuthError::MissingParameter(name))
        };
        match required("grant_type", self.grant_type)?.as_str() {
            "password" => Ok(Grant::Password {
                username: required("username", self.username)?,
                password: SecretString::from(required("password", self.password)?),
            }),
            "authorization_code" => Ok(Grant::AuthorizationCode {
                code: required("code", self.code)?,
                redirect_uri: self.redirect_uri.filter(|uri| !uri.is_empty()),
                code_verifier: required("code_verifier", self.code_verifier)?,
            }),
            "refresh_token" => Ok(Grant::RefreshToken(required(
                "refresh_token",
                self.refresh_token,
            )?)),
            "client_credentials" => Ok(Grant::ClientCredentials(Self::token_request(
                self.scope,
                self.audience,
                self.resource,
            )?)),
            TOKEN_EXCHANGE => {
                let subject_type = required("subject_token_type", self.subject_token_type)?;
                if !is_access_token_type(&subject_type) {
                    return Err(OAuthError::InvalidRequest(
                        "subject_token_type must be urn:ietf:params:oauth:token-type:access_token"
                            .into(),
                    ));
                }
                if self
                    .requested_token_type
                    .is_some_and(|t| t != ACCESS_TOKEN_TYPE_URN)
                {
                    return Err(OAuthError::InvalidRequest(
                        "requested_token_type must be urn:ietf:params:oauth:token-type:access_token"
                            .into(),
                    ));
                }
                if self.actor_token.is_some() {
                    return Err(OAuthError::InvalidRequest(
                        "actor_token is not supported: the client itself is the actor".into(),
                    ));
                }
                Ok(Grant::TokenExchange {
                    subject_token: required("subject_token", self.subject_token)?,
                    request: Self::token_request(self.scope, self.audience, self.resource)?,
                })
            }
            other => Err(OAuthError::UnsupportedGrantType(other.to_owned())),
        }
    }
}

/// RFC 6749 token endpoint: `grant_type=password`, `refresh_token`,
/// `client_credentials` or token exchange (RFC 8693). Public clients send
/// no credentials; a confidential client authenticates with Basic, the form
/// fields or a signed assertion (`private_key_jwt`).
/// The password grant of an account with a second factor answers 400
/// `invalid_grant` with `error_code` `MFA_REQUIRED`, an `mfa_token` and
/// `methods`: finish at `POST /api/v1/auth/mfa/verify`.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = OAuthTokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, body = AccessTokenResponse, headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::OAuthEndpoint))]
async fn token(
    State(state): State<AppState>,
    Client(from): Client,
    AuthorizationHeader(authorization): AuthorizationHeader,
    proof: DpopHeader,
    OAuthForm(form): OAuthForm<OAuthTokenRequest>,
) -> Result<Response, OAuthApiError> {
    let client = client_credentials(authorization.as_ref(), form.client_fields())?;
    // The client first: one that fails learns nothing about its grant.
    let client = state.oauth.authenticate_client(client, from.ip).await?;
    // Its `jti` is spent by the grant (a refresh's in its rotation).
    let proof = proof
        .check_unspent(&state, "POST", TOKEN_PATH)
        .map_err(OAuthError::InvalidDpopProof)?;
    let issued = state
        .oauth
        .token(client, form.grant()?, &from, proof.as_ref())
        .await?;
    Ok(Json(AccessTokenResponse::from(issued)).into_response())
}

/// A request's DPoP proof for `path`, refused in RFC 6749's shape.
async fn dpop_proof(
    state: &AppState,
    proof: DpopHeader,
    path: &str,
) -> Result<Option<Checked>, OAuthApiError> {
    match proof.check(state, "POST", path).await {
        Ok(proof) => Ok(proof),
        Err(DpopCheckError::Proof(why)) => Err(OAuthError::InvalidDpopProof(why).into()),
        Err(DpopCheckError::Redis(e)) => Err(ApiError::from(e).into()),
    }
}

/// `POST /oauth/introspect` (RFC 7662).
#[derive(Deserialize, ToSchema)]
struct IntrospectionRequest {
    #[schema(value_type = String)]
    token: Option<String>,
    /// `access_token` or `refresh_token` (optional; both are tried).
    // Read so the document lists it; every token is tried both ways.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

// The shape `oauth::Introspection` serialises to.
/// RFC 7662 answer: `{"active": false}` for anything not live, else the
/// token's details.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"active": true, "sub": "0193a5b0-7d1e-7c3a-9f00-5b2d8e0c4a11", "exp": 1795000000, "iat": 1794999100, "iss": "tessera", "aud": "tessera", "jti": "6f1c1f7e-3c58-4bd4-9d0a-2b8f8f0c1e55", "client_id": "tessera", "token_type": "Bearer", "sid": "0193a5b0-7d1e-7c3a-9f00-5b2d8e0c4a12", "username": "alice", "role": "REGULAR", "subscription": "FREE"}))]
struct IntrospectionResponse {
    active: bool,
    /// A user's id, or the client's for a client's own token.
    sub: Option<String>,
    exp: Option<u64>,
    iat: Option<u64>,
    iss: Option<String>,
    aud: Option<String>,
    /// Access tokens only.
    jti: Option<uuid::Uuid>,
    /// The client the token was issued to (`tessera` for the first-party
    /// login).
    client_id: Option<String>,
    /// Space-separated scopes, when the token carries any.
    scope: Option<String>,
    /// `Bearer` (access token) or `refresh_token`.
    token_type: Option<String>,
    /// A user's token only (the fields below too).
    sid: Option<uuid::Uuid>,
    username: Option<String>,
    role: Option<Role>,
    subscription: Option<Subscription>,
}

/// RFC 7662 introspection, for a confidential client (HTTP Basic):
/// `{"active": false}` for anything not live.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = IntrospectionRequest, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = [])),
    responses(
        (status = 200, body = IntrospectionResponse, headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::OAuthEndpoint))]
async fn introspect(
    State(state): State<AppState>,
    Client(from): Client,
    AuthorizationHeader(authorization): AuthorizationHeader,
    OAuthForm(form): OAuthForm<IntrospectionRequest>,
) -> Result<Response, OAuthApiError> {
    let client = basic_presented(authorization.as_ref())?;
    let client = state.oauth.require_gateway(client, from.ip).await?;
    let token = form
        .token
        .filter(|t| !t.is_empty())
        .ok_or(OAuthError::MissingParameter("token"))?;
    let answer = state.oauth.introspect(&token).await?;
    tracing::debug!(client, active = answer.active, "introspection");
    Ok(Json(answer).into_response())
}

/// `POST /oauth/revoke` (RFC 7009).
#[derive(Deserialize, ToSchema)]
struct RevocationRequest {
    #[schema(value_type = String)]
    token: Option<String>,
    // Read so the document lists it; every token is tried both ways.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7009 revocation: ends the session of an access or refresh token;
/// 200 for unknown tokens too.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = RevocationRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses((status = 200, description = "Revoked (or nothing to revoke)"), doc::OAuthEndpoint))]
async fn revoke(
    State(state): State<AppState>,
    Client(from): Client,
    AuthorizationHeader(authorization): AuthorizationHeader,
    proof: DpopHeader,
    OAuthForm(form): OAuthForm<RevocationRequest>,
) -> Result<StatusCode, OAuthApiError> {
    let client = client_credentials(
        authorization.as_ref(),
        ClientFields {
            client_id: form.client_id.as_deref(),
            client_secret: form.client_secret.as_deref(),
            ..ClientFields::default()
        },
    )?;
    let proof = dpop_proof(&state, proof, REVOCATION_PATH).await?;
    let jkt = proof.as_ref().map(Checked::jkt);
    state
        .oauth
        .revoke(client, form.token.as_deref(), &from, jkt)
        .await?;
    Ok(StatusCode::OK)
}

/// RFC 8414 authorization server metadata.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, body = AuthorizationServerMetadata)))]
async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(state.oauth.metadata()),
    )
}

/// OpenID Connect Discovery 1.0.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth",
    responses((status = 200, body = OpenIdConfiguration)))]
async fn openid_configuration(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(state.oauth.openid_configuration()),
    )
}

/// OIDC Core §5.3: the signed-in user, as far as the access token's scope
/// reaches (`openid` alone: `sub`; `email`: the address and whether
/// activation proved it; `profile`: the username).
#[utoipa::path(get, path = "/oauth/userinfo", tag = "oauth", security(("bearer" = [])),
    responses((status = 200, body = UserInfo), doc::Credentials))]
async fn userinfo(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<UserInfo>, ApiError> {
    Ok(Json(state.oauth.userinfo(&claims).await?))
}

/// [`userinfo`] by POST (OIDC Core §5.3.1 allows both).
#[utoipa::path(post, path = "/oauth/userinfo", tag = "oauth", security(("bearer" = [])),
    responses((status = 200, body = UserInfo), doc::Credentials))]
async fn userinfo_post(
    state: State<AppState>,
    authenticated: Authenticated,
) -> Result<Json<UserInfo>, ApiError> {
    userinfo(state, authenticated).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(value: &str) -> Option<HeaderValue> {
        Some(HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(value))).unwrap())
    }

    #[test]
    fn basic_credentials_are_form_unescaped() {
        use secrecy::ExposeSecret;
        let credentials = basic_credentials(basic("my%20gw:s%3Acret+x&y").as_ref())
            .unwrap()
            .unwrap();
        assert_eq!(credentials.id, "my gw");
        assert_eq!(credentials.secret.expose_secret(), "s:cret x&y");
        assert!(basic_credentials(basic("no-colon").as_ref()).is_err());
        let bearer = HeaderValue::from_static("Bearer abc");
        assert!(basic_credentials(Some(&bearer)).unwrap().is_none());
    }

    fn fields<'a>(id: Option<&'a str>, secret: Option<&'a str>) -> ClientFields<'a> {
        ClientFields {
            client_id: id,
            client_secret: secret,
            ..ClientFields::default()
        }
    }

    #[test]
    fn one_client_authentication_method_at_a_time() {
        let none = None;
        assert!(client_credentials(basic("a:b").as_ref(), fields(None, Some("b"))).is_err());
        assert!(client_credentials(basic("a:b").as_ref(), fields(Some("c"), None)).is_err());
        assert!(matches!(
            client_credentials(basic("a:b").as_ref(), fields(Some("a"), None)),
            Ok(Presented::Secret { .. })
        ));
        assert!(matches!(
            client_credentials(none, fields(Some("app"), None)),
            Ok(Presented::Id(id)) if id == "app"
        ));
        assert!(matches!(
            client_credentials(none, fields(None, None)),
            Ok(Presented::Nothing)
        ));
        let assertion = ClientFields {
            client_assertion_type: Some(JWT_BEARER_ASSERTION),
            client_assertion: Some("a.b.c"),
            ..ClientFields::default()
        };
        assert!(matches!(
            client_credentials(none, assertion),
            Ok(Presented::Assertion {
                client_id: None,
                ..
            })
        ));
        let both = ClientFields {
            client_id: Some("a"),
            client_secret: Some("s"),
            client_assertion_type: Some(JWT_BEARER_ASSERTION),
            client_assertion: Some("a.b.c"),
        };
        assert!(client_credentials(none, both).is_err());
        let other_type = ClientFields {
            client_assertion_type: Some("urn:example:saml"),
            client_assertion: Some("x"),
            ..ClientFields::default()
        };
        assert!(matches!(
            client_credentials(none, other_type),
            Err(OAuthError::InvalidRequest(_))
        ));
    }
}
