//! The axum extractor and the tower layer: `Authorization: Bearer <token>`
//! checked by a [`Verifier`]; a refusal is 401 (`WWW-Authenticate: Bearer`),
//! or 503 while the feed is lost and the verifier fails closed.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tower::{Layer, Service};

use crate::{Claims, Rejection, Verifier};

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

fn bearer(headers: &HeaderMap) -> Result<&str, Rejection> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Rejection::Missing)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(Rejection::Missing),
    }
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
        verifier.verify(bearer(&parts.headers)?).await.map(Token)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = match self {
            Rejection::FeedLost => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        let mut response = (
            status,
            Json(serde_json::json!({ "detail": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
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
            let token = match bearer(request.headers()) {
                Ok(token) => verifier.verify(token).await,
                Err(refused) => Err(refused),
            };
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
