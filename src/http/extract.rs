//! Extractors: request bodies (JSON or form) and query strings as typed
//! fields, bearer tokens, the client's address, and authenticated access
//! claims. Every rejection is
//! an [`ApiError`], so every failure has the spec's shape.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use ipnet::IpNet;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{ApiError, INVALID_QUERY, NOT_AUTHENTICATED, UNREADABLE_BODY};
use super::invalid::{Location, ValidationIssue};
use super::AppState;
use crate::client::ClientInfo;
use crate::dpop::{Checked, Dpop, DpopCheckError, Presented};
use crate::tokens::AccessClaims;
use crate::validation::ValidationErrors;
use tessera_dpop::DpopError;

/// User agents are stored with sessions; longer ones are cut.
const USER_AGENT_MAX: usize = 512;

/// Reads a body within the size limit; `true` when it is declared
/// `application/x-www-form-urlencoded`.
pub async fn read_body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<(bool, Bytes), ApiError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(UNREADABLE_BODY)
            }
        })?;
    Ok((is_form, bytes))
}

/// A request body read as `T`: a JSON object, or an
/// `application/x-www-form-urlencoded` form (its values as text), whichever
/// the `Content-Type` says. An empty body is an empty object, so each
/// required field is reported missing. `T`'s fields are
/// [`Text`](crate::validation::Text), which read any value, so every
/// problem is left for the route's `parse` to report at once.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (is_form, bytes) = read_body(request, state).await?;
        // A JSON object reads straight into `T` (one pass, no `Value` in
        // between: the refresh and login hot paths). Anything else, or an
        // object that does not read (a repeated key, which the slow path
        // takes the last of), goes through the slow path below, which
        // alone decides what a problem is called.
        let starts_an_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !is_form && starts_an_object {
            if let Ok(body) = serde_json::from_slice(&bytes) {
                return Ok(Self(body));
            }
        }
        let object = if bytes.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else if is_form {
            serde_urlencoded::from_bytes(&bytes)
                .map(text_fields)
                .map_err(|_| ValidationIssue::undecodable(Location::Body, "Invalid form body"))?
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(ValidationIssue::not_an_object().into()),
                Err(e) => {
                    let offset = byte_offset(&bytes, e.line(), e.column());
                    return Err(ValidationIssue::json_invalid(offset, e.to_string()).into());
                }
            }
        };
        fields_as(Location::Body, object).map(Self)
    }
}

/// A request body or query string that parses itself into the domain's
/// input: every route's type implements it beside its handler, and
/// [`Valid`] / [`ValidQuery`] hand the handler only the parsed value.
pub trait Parse {
    type Output;
    /// Every field's rule at once: the value, or every problem.
    fn parse(self) -> Result<Self::Output, ValidationErrors>;
}

/// A body read as [`Body`] and parsed: a 422 naming every problem (in the
/// body), or the domain's input.
pub struct Valid<T: Parse>(pub T::Output);

impl<S: Send + Sync, T: DeserializeOwned + Parse> FromRequest<S> for Valid<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Body(body) = Body::<T>::from_request(request, state).await?;
        Ok(Self(body.parse()?))
    }
}

/// The query string read as [`Query`] and parsed; problems are located in
/// the query.
pub struct ValidQuery<T: Parse>(pub T::Output);

impl<S: Send + Sync, T: DeserializeOwned + Parse> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(query) = Query::<T>::from_request_parts(parts, state).await?;
        query
            .parse()
            .map(Self)
            .map_err(|e| ApiError::invalid(Location::Query, e))
    }
}

/// The query string read as `T` (fields [`Text`](crate::validation::Text),
/// as for [`Body`]).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let object = serde_urlencoded::from_str(query)
            .map(text_fields)
            .map_err(|_| ValidationIssue::undecodable(Location::Query, INVALID_QUERY))?;
        fields_as(Location::Query, object).map(Self)
    }
}

/// Form or query pairs as an object of strings (a repeated name keeps its
/// last value).
fn text_fields(pairs: Vec<(String, String)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

/// `T` from an object. Its fields read any value, so this fails only for a
/// `T` that is not made of them; that is still the client's 422, not a 500.
fn fields_as<T: DeserializeOwned>(
    location: Location,
    object: Map<String, Value>,
) -> Result<T, ApiError> {
    T::deserialize(Value::Object(object))
        .map_err(|e| ValidationIssue::undecodable(location, e.to_string()).into())
}

/// serde_json reports line and column; FastAPI reports the byte position.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (line_start + column.saturating_sub(1)).min(bytes.len())
}

/// The `DPoP` header's proof (RFC 9449 §4.1), if any; more than one, or
/// one that is not text, is refused as the proof it cannot be.
pub struct DpopHeader(pub Result<Option<String>, DpopError>);

impl<S: Send + Sync> FromRequestParts<S> for DpopHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(dpop_header(&parts.headers)))
    }
}

pub(super) fn dpop_header(headers: &HeaderMap) -> Result<Option<String>, DpopError> {
    tessera_dpop::one_proof(headers.get_all("dpop").iter().map(|v| v.as_bytes()))
        .map(|proof| proof.map(str::to_owned))
}

impl DpopHeader {
    /// The proof, checked for a request to `method` `path` of this service
    /// and its `jti` spent; `None` when none was sent.
    pub async fn check(
        self,
        state: &AppState,
        method: &str,
        path: &str,
    ) -> Result<Option<Checked>, DpopCheckError> {
        state.dpop.check(self.0?.as_deref(), method, path).await
    }

    /// [`DpopHeader::check`] in process only: the caller's round trip
    /// spends the `jti` (a refresh's rotation).
    pub fn check_unspent(
        self,
        state: &AppState,
        method: &str,
        path: &str,
    ) -> Result<Option<Checked>, DpopError> {
        state
            .dpop
            .check_unspent(self.0?.as_deref(), method, &state.dpop.url(path), None)
    }
}

/// The token in `Authorization: Bearer <token>`, if any.
pub struct Bearer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(bearer_token(&parts.headers).map(str::to_owned)))
    }
}

/// The access token in `Authorization: Bearer <token>` or `Authorization:
/// DPoP <token>` (RFC 9449 §7.1), and which it was.
pub(super) fn access_token(headers: &HeaderMap) -> Option<Presented<'_>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    tessera_dpop::authorization(value).map(|(scheme, token)| Presented { scheme, token })
}

/// Whether `/verify`'s caller is a trusted proxy, whose word on the
/// original request (`X-Original-Method`/`-URI`, or Traefik's
/// `X-Forwarded-Method`/`-Uri`/`-Host`/`-Proto`) is believed
/// (`server.trusted_proxies`). Only a DPoP-bound token needs that word, so
/// it is read only then ([`ForwardedRequest::original`]).
pub struct ForwardedRequest {
    trusted: bool,
}

impl FromRequestParts<AppState> for ForwardedRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let trusted = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|c| {
                let ip = c.0.ip();
                state.trusted_proxies.iter().any(|net| net.contains(&ip))
            });
        Ok(Self { trusted })
    }
}

impl ForwardedRequest {
    /// The original request's method and absolute URI; `None` when the
    /// caller is not a trusted proxy or does not say (a DPoP proof then has
    /// nothing to be checked against).
    pub fn original(&self, headers: &HeaderMap, dpop: &Dpop) -> Option<(String, String)> {
        if !self.trusted {
            return None;
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        };
        let method = header("x-original-method").or_else(|| header("x-forwarded-method"))?;
        let uri = header("x-original-uri").or_else(|| header("x-forwarded-uri"))?;
        let absolute = match (header("x-forwarded-proto"), header("x-forwarded-host")) {
            (Some(proto), Some(host)) if uri.starts_with('/') => format!("{proto}://{host}{uri}"),
            _ if uri.starts_with('/') => dpop.url(uri),
            _ => uri.to_owned(),
        };
        Some((method.to_owned(), absolute))
    }
}

/// The request's `Authorization` header alone: a handler that reads a body
/// cannot also borrow the request's headers, and the `HeaderMap` extractor
/// would copy every one of them.
pub struct AuthorizationHeader(pub Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for AuthorizationHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(header::AUTHORIZATION).cloned()))
    }
}

pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Who is calling: the client IP (through trusted proxies) and user agent.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = peer.map(|peer| client_ip(peer, &parts.headers, &state.trusted_proxies));
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(USER_AGENT_MAX).collect())
            .unwrap_or_default();
        Ok(Self(ClientInfo { ip, user_agent }))
    }
}

/// The client's IP: the peer, unless the peer is a trusted proxy, in which
/// case `X-Forwarded-For` is walked from the right past trusted proxies.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// An access token that verified and whose session is live.
pub struct Authenticated(pub AccessClaims);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented =
            access_token(&parts.headers).ok_or(ApiError::Unauthorized(NOT_AUTHENTICATED))?;
        // A DPoP-bound token: only with a proof by its key for this request.
        let bind = |cnf: &_| {
            // Nested routers see their own part of the path; the proof
            // names the whole of it.
            let path = parts
                .extensions
                .get::<axum::extract::OriginalUri>()
                .map_or(parts.uri.path(), |original| original.0.path());
            let uri = state.dpop.url(path);
            let proof = dpop_header(&parts.headers);
            state
                .dpop
                .check_binding(cnf, presented, proof, parts.method.as_str(), &uri)
                .map(Some)
        };
        let claims = state
            .auth
            .authenticate_user(presented.token, bind)
            .await
            .map_err(ApiError::at_resource)?;
        Ok(Self(claims))
    }
}

/// A route's one path parameter as a UUID; anything else is a 422 naming
/// the parameter (axum's own rejection would be plain text).
pub struct PathUuid(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathUuid {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let (name, raw) = params.into_iter().next().ok_or(ApiError::NotFound)?;
        raw.parse()
            .map(Self)
            .map_err(|_| ValidationIssue::uuid_parsing(name, raw).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.9, 10.0.0.7"),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &headers, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &headers, &trusted), stranger);
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Pair {
        a: crate::validation::Text,
        #[serde(default)]
        b: crate::validation::Text,
    }

    async fn body_of(json: &str) -> Result<Pair, ApiError> {
        let request = Request::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(json.to_owned()))
            .unwrap();
        Body::<Pair>::from_request(request, &())
            .await
            .map(|Body(pair)| pair)
    }

    /// The one-pass path and the slow path read every object alike; what
    /// the one pass cannot read is left to the slow path.
    #[tokio::test]
    async fn a_json_body_reads_the_same_either_way() {
        use crate::validation::Text;
        let given = |s: &str| Text::Given(s.to_owned());
        let read = body_of(r#" {"a": "x", "b": null, "c": [1]}"#)
            .await
            .unwrap();
        assert_eq!((read.a, read.b), (given("x"), Text::Null));
        let read = body_of(r#"{"b": 5}"#).await.unwrap();
        assert_eq!((read.a, read.b), (Text::Null, Text::NotText));
        // A repeated key: the last one wins, as it always has.
        let read = body_of(r#"{"a": "first", "a": "last"}"#).await.unwrap();
        assert_eq!(read.a, given("last"));
        // An array would fill the fields by position; it is not an object.
        let array = body_of(r#"["x", "y"]"#).await.unwrap_err();
        assert!(matches!(array, ApiError::Validation(_)), "{array:?}");
        let broken = body_of(r#"{"a": "x""#).await.unwrap_err();
        assert!(matches!(broken, ApiError::Validation(_)), "{broken:?}");
    }

    #[test]
    fn json_error_positions_are_byte_offsets() {
        assert_eq!(byte_offset(b"{\"a\":\n x}", 2, 2), 7);
    }

    proptest::proptest! {
        /// Whatever `X-Forwarded-For` says, the answer is the peer or one of
        /// the addresses in the header, and the peer when it is untrusted.
        #[test]
        fn client_ip_never_panics_on_any_header(
            values in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..60), 0..4),
            hops in proptest::collection::vec(proptest::prelude::any::<std::net::Ipv4Addr>(), 0..4),
            peer_trusted in proptest::prelude::any::<bool>(),
        ) {
            let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
            let peer: IpAddr = if peer_trusted { "10.1.2.3" } else { "198.51.100.1" }.parse().unwrap();
            let mut headers = HeaderMap::new();
            for raw in &values {
                if let Ok(value) = HeaderValue::from_bytes(raw) {
                    headers.append("x-forwarded-for", value);
                }
            }
            let listed: Vec<String> = hops.iter().map(ToString::to_string).collect();
            if let Ok(value) = HeaderValue::from_str(&listed.join(", ")) {
                headers.append("x-forwarded-for", value);
            }
            let ip = client_ip(peer, &headers, &trusted);
            if peer_trusted {
                let forwarded: Vec<IpAddr> = headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .filter_map(|hop| hop.trim().parse().ok())
                    .collect();
                proptest::prop_assert!(ip == peer || forwarded.contains(&ip));
            } else {
                proptest::prop_assert_eq!(ip, peer);
            }
        }
    }
}
