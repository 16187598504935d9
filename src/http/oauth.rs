//! The OAuth 2.0 endpoints: `/oauth/token`, `/oauth/introspect`,
//! `/oauth/revoke` and the RFC 8414 metadata. Bodies are forms, as the RFCs
//! require; errors are RFC 6749 §5.2 bodies (see [`OAuthApiError`]).

use std::collections::HashMap;

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::SecretString;
use serde::Serialize;

use super::error::OAuthApiError;
use super::extract::{read_body, Client};
use super::openapi::schemas as doc;
use super::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(token, introspect, revoke, metadata))]
pub(super) struct Docs;
use crate::auth::TokenPair;
use crate::oauth::{ClientCredentials, OAuthError};
use crate::validation::TextKind;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(crate::oauth::TOKEN_PATH, post(token))
        .route(crate::oauth::INTROSPECTION_PATH, post(introspect))
        .route(crate::oauth::REVOCATION_PATH, post(revoke))
        .route("/.well-known/oauth-authorization-server", get(metadata))
}

/// Responses carrying tokens (or facts about them) must not be cached.
const NO_STORE: [(header::HeaderName, &str); 2] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::PRAGMA, "no-cache"),
];

/// An `application/x-www-form-urlencoded` body; a repeated parameter, or
/// one holding characters its [`TextKind`] refuses, is an `invalid_request`
/// (RFC 6749 §3.2).
pub struct OAuthForm(HashMap<String, String>);

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
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
        let mut form = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            if form.contains_key(&name) {
                return Err(invalid_request(&format!("Parameter {name} is repeated")));
            }
            if let Err(why) = TextKind::of(&name).check(&value) {
                return Err(invalid_request(&format!("Parameter {name}: {why}")));
            }
            form.insert(name, value);
        }
        Ok(Self(form))
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

/// The client's credentials from HTTP Basic or the `client_id` /
/// `client_secret` form fields; using both methods at once is an
/// `invalid_request`.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Option<ClientCredentials>, OAuthError> {
    let basic = basic_credentials(headers)?;
    let form_id = form.get("client_id").filter(|id| !id.is_empty());
    let form_secret = form.get("client_secret");
    match (basic, form_id, form_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::InvalidRequest(
            "Use one client authentication method, not Basic and client_secret both".into(),
        )),
        (Some(basic), Some(id), None) if *id != basic.id => Err(OAuthError::InvalidRequest(
            "client_id does not match the Basic credentials".into(),
        )),
        (Some(basic), _, None) => Ok(Some(basic)),
        (None, Some(id), secret) => Ok(Some(ClientCredentials {
            id: id.clone(),
            secret: secret.map(|s| SecretString::from(s.as_str())),
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
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    refresh_expires_in: u64,
}

impl From<TokenPair> for AccessTokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token,
            refresh_expires_in: pair.refresh_expires_in,
        }
    }
}

/// RFC 6749 token endpoint: `grant_type=password` or `refresh_token`.
/// Public clients send no credentials; a confidential client may
/// authenticate with Basic or the form fields.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = doc::OAuthTokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, body = AccessTokenResponse, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = doc::OAuthBadRequest),
        (status = 401, response = doc::OAuthInvalidClient),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn token(
    State(state): State<AppState>,
    Client(from): Client,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, OAuthApiError> {
    let client = client_credentials(&headers, &form)?;
    let pair = state.oauth.token(client.as_ref(), &form, &from).await?;
    Ok((NO_STORE, Json(AccessTokenResponse::from(pair))).into_response())
}

/// RFC 7662 introspection, for a confidential client (HTTP Basic):
/// `{"active": false}` for anything not live.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = doc::IntrospectionRequest, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = [])),
    responses(
        (status = 200, body = doc::IntrospectionResponse, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = doc::OAuthBadRequest),
        (status = 401, response = doc::OAuthInvalidClient),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, OAuthApiError> {
    let client = basic_credentials(&headers)?;
    let client = state.oauth.require_client(client.as_ref())?;
    let token = form
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or(OAuthError::MissingParameter("token"))?;
    let answer = state.oauth.introspect(token).await?;
    tracing::debug!(client, active = answer.active, "introspection");
    Ok((NO_STORE, Json(answer)).into_response())
}

/// RFC 7009 revocation: ends the session of an access or refresh token;
/// 200 for unknown tokens too.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = doc::RevocationRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Revoked (or nothing to revoke)"),
        (status = 400, response = doc::OAuthBadRequest),
        (status = 401, response = doc::OAuthInvalidClient),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 503, response = doc::ServiceUnavailable),
    ))]
async fn revoke(
    State(state): State<AppState>,
    Client(from): Client,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<StatusCode, OAuthApiError> {
    let client = client_credentials(&headers, &form)?;
    let token = form.get("token").map(String::as_str);
    state.oauth.revoke(client.as_ref(), token, &from).await?;
    Ok(StatusCode::OK)
}

/// RFC 8414 authorization server metadata.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, body = doc::AuthorizationServerMetadata)))]
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
        let form = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(client_credentials(&basic("a:b"), &form(&[("client_secret", "b")])).is_err());
        assert!(client_credentials(&basic("a:b"), &form(&[("client_id", "c")])).is_err());
        assert!(
            client_credentials(&basic("a:b"), &form(&[("client_id", "a")]))
                .unwrap()
                .is_some()
        );
        let public = client_credentials(&HeaderMap::new(), &form(&[("client_id", "app")]))
            .unwrap()
            .unwrap();
        assert!(public.secret.is_none());
        assert!(client_credentials(&HeaderMap::new(), &form(&[]))
            .unwrap()
            .is_none());
    }
}
