//! The OAuth 2.0 endpoints: `/oauth/token`, `/oauth/introspect`,
//! `/oauth/revoke` and the RFC 8414 metadata. Bodies are forms, as the RFCs
//! require; errors are RFC 6749 §5.2 bodies (see [`OAuthApiError`]).

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
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

use super::error::{ApiError, OAuthApiError};
use super::extract::{read_body, Client};
use super::responses as doc;
use super::AppState;
use crate::auth::TokenPair;
use crate::oauth::{AuthorizationServerMetadata, ClientCredentials, Grant, OAuthError};
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

/// `Authorization: Basic base64(urlencoded id ":" urlencoded secret)`
/// (RFC 6749 §2.3.1), if that is the scheme used. A malformed Basic header is
/// a failed client authentication.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<ClientCredentials>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
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
    Ok(Some(ClientCredentials {
        id: unescape(id)?,
        secret: Some(SecretString::from(unescape(secret)?)),
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
        let client = basic_credentials(&parts.headers).map_err(refused)?;
        let id = state
            .oauth
            .require_client(client.as_ref(), from.ip)
            .await
            .map_err(refused)?;
        Ok(Self(id.to_owned()))
    }
}

/// The client's credentials from HTTP Basic or the `client_id` /
/// `client_secret` form fields; using both methods at once is an
/// `invalid_request`.
fn client_credentials(
    headers: &HeaderMap,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<Option<ClientCredentials>, OAuthError> {
    let basic = basic_credentials(headers)?;
    let form_id = client_id.filter(|id| !id.is_empty());
    let form_secret = client_secret;
    match (basic, form_id, form_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::InvalidRequest(
            "Use one client authentication method, not Basic and client_secret both".into(),
        )),
        (Some(basic), Some(id), None) if id != basic.id => Err(OAuthError::InvalidRequest(
            "client_id does not match the Basic credentials".into(),
        )),
        (Some(basic), _, None) => Ok(Some(basic)),
        (None, Some(id), secret) => Ok(Some(ClientCredentials {
            id: id.to_owned(),
            secret: secret.map(SecretString::from),
        })),
        (None, None, Some(_)) => Err(OAuthError::InvalidRequest(
            "client_secret without client_id".into(),
        )),
        (None, None, None) => Ok(None),
    }
}

/// RFC 6749 §5.1.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AccessTokenResponse {
    access_token: String,
    #[schema(value_type = String, example = json!(TOKEN_TYPE))]
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    refresh_expires_in: u64,
}

/// RFC 6750's `token_type`, as RFC 6749 §5.1 answers it.
const TOKEN_TYPE: &str = "Bearer";

impl From<TokenPair> for AccessTokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: TOKEN_TYPE,
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token,
            refresh_expires_in: pair.refresh_expires_in,
        }
    }
}

/// `POST /oauth/token` (RFC 6749 §4.3 and §6).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"grant_type": "password", "username": "alice", "password": "correct horse battery staple"}))]
struct OAuthTokenRequest {
    /// `password` or `refresh_token`.
    #[schema(value_type = String)]
    grant_type: Option<String>,
    /// `password` grant: an email address or a username.
    username: Option<String>,
    /// `password` grant.
    password: Option<String>,
    /// `refresh_token` grant.
    refresh_token: Option<String>,
    /// Public clients name themselves; confidential ones may
    /// authenticate here instead of with Basic.
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl OAuthTokenRequest {
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
            "refresh_token" => Ok(Grant::RefreshToken(required(
                "refresh_token",
                self.refresh_token,
            )?)),
            other => Err(OAuthError::UnsupportedGrantType(other.to_owned())),
        }
    }
}

/// RFC 6749 token endpoint: `grant_type=password` or `refresh_token`.
/// Public clients send no credentials; a confidential client may
/// authenticate with Basic or the form fields.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = OAuthTokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, body = AccessTokenResponse, headers(("Cache-Control" = String, description = "`no-store`"))),
        doc::OAuthEndpoint))]
async fn token(
    State(state): State<AppState>,
    Client(from): Client,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<OAuthTokenRequest>,
) -> Result<Response, OAuthApiError> {
    let client = client_credentials(
        &headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )?;
    // The client first: one that fails learns nothing about its grant.
    let client = state
        .oauth
        .authenticate_client(client.as_ref(), from.ip)
        .await?;
    let pair = state.oauth.token(client, form.grant()?, &from).await?;
    Ok(Json(AccessTokenResponse::from(pair)).into_response())
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
#[schema(example = json!({"active": true, "sub": "0193a5b0-7d1e-7c3a-9f00-5b2d8e0c4a11", "exp": 1795000000, "iat": 1794999100, "iss": "tessera", "aud": "tessera", "jti": "6f1c1f7e-3c58-4bd4-9d0a-2b8f8f0c1e55", "sid": "0193a5b0-7d1e-7c3a-9f00-5b2d8e0c4a12", "token_type": "Bearer", "username": "alice", "role": "REGULAR", "subscription": "FREE"}))]
struct IntrospectionResponse {
    active: bool,
    sub: Option<uuid::Uuid>,
    exp: Option<u64>,
    iat: Option<u64>,
    iss: Option<String>,
    aud: Option<String>,
    /// Access tokens only.
    jti: Option<uuid::Uuid>,
    sid: Option<uuid::Uuid>,
    /// `Bearer` (access token) or `refresh_token`.
    token_type: Option<String>,
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
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<IntrospectionRequest>,
) -> Result<Response, OAuthApiError> {
    let client = basic_credentials(&headers)?;
    let client = state.oauth.require_client(client.as_ref(), from.ip).await?;
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
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<RevocationRequest>,
) -> Result<StatusCode, OAuthApiError> {
    let client = client_credentials(
        &headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )?;
    state
        .oauth
        .revoke(client.as_ref(), form.token.as_deref(), &from)
        .await?;
    Ok(StatusCode::OK)
}

/// RFC 8414 authorization server metadata.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, body = AuthorizationServerMetadata)))]
async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(state.oauth.metadata().clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(value))).unwrap(),
        );
        headers
    }

    #[test]
    fn basic_credentials_are_form_unescaped() {
        use secrecy::ExposeSecret;
        let credentials = basic_credentials(&basic("my%20gw:s%3Acret+x&y"))
            .unwrap()
            .unwrap();
        assert_eq!(credentials.id, "my gw");
        assert_eq!(credentials.secret.unwrap().expose_secret(), "s:cret x&y");
        assert!(basic_credentials(&basic("no-colon")).is_err());
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert!(basic_credentials(&bearer).unwrap().is_none());
    }

    #[test]
    fn one_client_authentication_method_at_a_time() {
        assert!(client_credentials(&basic("a:b"), None, Some("b")).is_err());
        assert!(client_credentials(&basic("a:b"), Some("c"), None).is_err());
        assert!(client_credentials(&basic("a:b"), Some("a"), None)
            .unwrap()
            .is_some());
        let public = client_credentials(&HeaderMap::new(), Some("app"), None)
            .unwrap()
            .unwrap();
        assert!(public.secret.is_none());
        assert!(client_credentials(&HeaderMap::new(), None, None)
            .unwrap()
            .is_none());
    }
}
