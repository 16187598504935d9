//! The axum extractor and the tower layer: `Authorization: Bearer <token>`,
//! or `DPoP <token>` with a `DPoP` proof for a bound token, checked by a
//! [`Verifier`]; a refusal is 401 (`WWW-Authenticate: Bearer`, or `DPoP`
//! for a proof's fault), or 503 while the feed is lost and the verifier
//! fails closed, or while it cannot remember another proof.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRef, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::Extensions;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tower::{Layer, Service};

use crate::dpop::Scheme;
use crate::{Claims, DpopError, Rejection, Verifier};

/// A verified, unrevoked access token's claims: take it as a handler
/// argument (the state must give a [`Verifier`] through `FromRef`), or read
/// it from the request extensions behind [`VerifyLayer`].
#[derive(Debug, Clone)]
pub struct Token(pub Arc<Claims>);

impl Deref for Token {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// The token of `Authorization: Bearer <token>` or `Authorization: DPoP
/// <token>` (RFC 9449 §7.1), and which scheme it came with.
pub(crate) fn authorization(headers: &HeaderMap) -> Result<(Scheme, &str), Rejection> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Rejection::Missing)?;
    tessera_dpop::authorization(value).ok_or(Rejection::Missing)
}

/// The `DPoP` header's proof, if any (see [`tessera_dpop::one_proof`]).
pub(crate) fn dpop_header(headers: &HeaderMap) -> Result<Option<&str>, DpopError> {
    tessera_dpop::one_proof(headers.get_all("dpop").iter().map(|v| v.as_bytes()))
}

/// The path the client called: a nested router sees only its own part of
/// it, and a proof names the whole.
fn called_path<'a>(extensions: &'a Extensions, uri: &'a axum::http::Uri) -> &'a str {
    extensions
        .get::<OriginalUri>()
        .map_or(uri.path(), |original| original.0.path())
}

impl<S> FromRequestParts<S> for Token
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        // Behind the layer the token has been checked already.
        if let Some(token) = parts.extensions.get::<Token>() {
            return Ok(token.clone());
        }
        let verifier = Verifier::from_ref(state);
        let path = called_path(&parts.extensions, &parts.uri);
        verifier
            .verify_request(parts.method.as_str(), path, &parts.headers)
            .await
            .map(Token)
    }
}

/// The algorithms a proof may be signed with (RFC 9449 §7.1's `algs`).
const DPOP_ALGS: &str = "EdDSA ES256";

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = match self {
            Rejection::FeedLost | Rejection::ReplayStoreFull { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::UNAUTHORIZED,
        };
        let mut response = (
            status,
            Json(serde_json::json!({ "detail": self.to_string() })),
        )
            .into_response();
        let headers = response.headers_mut();
        match self {
            Rejection::Dpop(why) => {
                // The words are fixed ASCII text without quotes, so the
                // fallback (the challenge without its description) is for
                // form's sake.
                let challenge = format!(
                    r#"DPoP error="invalid_dpop_proof", error_description="{}", algs="{DPOP_ALGS}""#,
                    why.words()
                );
                let value = HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static(
                    r#"DPoP error="invalid_dpop_proof""#,
                ));
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
            Rejection::ReplayStoreFull { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Rejection::FeedLost => {}
            _ => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
        }
        response
    }
}

/// A tower layer that admits only requests with a good token, and puts its
/// [`Token`] in the request's extensions.
#[derive(Clone)]
pub struct VerifyLayer {
    verifier: Verifier,
}

impl VerifyLayer {
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> VerifyService<S> {
        VerifyService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// See [`VerifyLayer`].
#[derive(Clone)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S> Service<Request> for VerifyService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The clone that was made ready serves this request (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let path = called_path(request.extensions(), request.uri());
            let token = verifier
                .verify_request(request.method().as_str(), path, request.headers())
                .await;
            match token {
                Ok(claims) => {
                    request.extensions_mut().insert(Token(claims));
                    inner.call(request).await
                }
                Err(refused) => Ok(refused.into_response()),
            }
        })
    }
}
