//! The hosted HTML pages: the account pages that e-mail links open
//! (`account`: reset password, activate), the admin console (`console`),
//! and the hosted sign-in (`authorize`, the account security page
//! `security`, what they share in `browser`).
//! Server-rendered from templates compiled into the binary (askama,
//! `templates/pages/`), one vendored stylesheet, and one small vendored
//! script for the passkey buttons only (on the pages that offer one): every
//! page works with JavaScript off, but for those buttons. Each handler calls the same domain function as its
//! JSON twin and shows the same words for the same outcome
//! ([`ApiError::words`]).
//!
//! Every page answers with the headers [`secure`] adds, and every form
//! carries an anti-forgery token that its POST checks before anything else
//! (a POST without it is a 403 page).

mod account;
mod authorize;
mod browser;
mod clients;
mod console;
mod security;

use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::AppState;
use crate::tokens::opaque::TokenKeys;
use crate::validation::Text;

/// What the pages need beyond the domain services.
pub struct PageSettings {
    /// Signs the anti-forgery tokens of the forms shown before any console
    /// session exists (the session's secret `session.rotation_secret`).
    pub form_keys: TokenKeys,
    /// Cookies get `Secure` when `server.public_url` is https.
    pub secure_cookies: bool,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(stylesheet))
        .routes(routes!(passkey_script))
        .merge(account::router())
        .merge(console::router())
        .merge(clients::router())
        .merge(authorize::router())
        .merge(security::router())
}

/// No script at all, styles and images from here only, forms post here
/// only, and no framing: a page cannot be made to run or leak anything.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Middleware on every page route: the security headers, each unless the
/// handler set its own. Pages carry tokens (in the URL of a reset link, in
/// forms) or user data, so none sends a `Referer` (nor is cached: the
/// edge's `no-store`, as for every answer).
pub async fn secure(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

const STYLESHEET: &str = include_str!("../../../assets/pages/pages.css");

/// The pages' stylesheet (vendored with the service).
#[utoipa::path(get, path = "/assets/pages.css", tag = "pages",
    responses((status = 200, description = "The stylesheet of the hosted pages", content_type = "text/css", body = String)))]
async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            // It changes only with a release; a day is short enough.
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        STYLESHEET,
    )
}

const PASSKEY_SCRIPT: &str = include_str!("../../../assets/pages/passkeys.js");

/// The passkey buttons' script (vendored with the service): the only script
/// of the pages, allowed on the pages that offer a passkey.
#[utoipa::path(get, path = "/assets/passkeys.js", tag = "pages",
    responses((status = 200, description = "The script of the hosted pages' passkey buttons", content_type = "text/javascript", body = String)))]
async fn passkey_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // It changes only with a release; a day is short enough.
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        PASSKEY_SCRIPT,
    )
}

/// `page` rendered as an HTML answer with `status`.
fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => PageError(ApiError::Internal(format!("template: {e}"))).into_response(),
    }
}

/// A 303 to `location` (after a POST, so a reload does not post again).
fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => PageError(ApiError::Internal("redirect location".into())).into_response(),
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    problems: Vec<String>,
    back: Option<(&'a str, &'a str)>,
}

/// Any failure, as a page: the API's status and the API's words.
pub struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0.log();
        let status = self.0.status();
        let title = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            s if s.is_server_error() => "Something went wrong",
            _ => "This did not work",
        };
        let page = ErrorPage {
            title,
            problems: self.0.words(),
            back: None,
        };
        match page.render() {
            Ok(body) => {
                let mut response = (
                    status,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    body,
                )
                    .into_response();
                self.0.add_headers(response.headers_mut());
                response
            }
            Err(_) => self.0.into_response(),
        }
    }
}

/// A form or query field left empty is a field not given (an HTML form
/// sends every field, empty or not).
fn blank_is_absent(text: Text) -> Text {
    match text {
        Text::Given(s) if s.trim().is_empty() => Text::Absent,
        other => other,
    }
}

/// The text of a form field that must be there (an anti-forgery token, a
/// hidden token), or `""`.
fn text_of(text: &Text) -> &str {
    match text {
        Text::Given(s) => s,
        _ => "",
    }
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// Where a page's cookie is sent, and from where.
#[derive(Debug, Clone, Copy)]
enum CookieScope {
    /// The console: its own paths, never cross-site.
    Console,
    /// The hosted sign-in: `/oauth` only, and `SameSite=Lax`, since an app
    /// sends the browser there from another site and single sign-on needs
    /// the browser session on that first request.
    SignIn,
}

impl CookieScope {
    fn path(self) -> &'static str {
        match self {
            CookieScope::Console => "/admin",
            CookieScope::SignIn => "/oauth",
        }
    }

    fn same_site(self) -> SameSite {
        match self {
            CookieScope::Console => SameSite::Strict,
            CookieScope::SignIn => SameSite::Lax,
        }
    }
}

/// Adds a `Set-Cookie` for one of the pages' cookies: never readable by
/// script, sent only to `scope`'s paths.
fn set_cookie(
    response: &mut Response,
    scope: CookieScope,
    (name, value): (&str, &str),
    max_age: Option<u64>,
    secure: bool,
) {
    let cookie = cookie_header(scope, name, value, max_age, secure);
    // Always valid: the names are constants and the values base64url.
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
}

fn cookie_header(
    scope: CookieScope,
    name: &str,
    value: &str,
    max_age: Option<u64>,
    secure: bool,
) -> String {
    let mut cookie = Cookie::build((name, value))
        .path(scope.path())
        .http_only(true)
        .same_site(scope.same_site())
        .secure(secure);
    if let Some(secs) = max_age {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        cookie = cookie.max_age(cookie::time::Duration::seconds(secs));
    }
    cookie.build().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a_b=1; tessera_console=xyz; other=2"),
        );
        assert_eq!(cookie(&headers, "tessera_console").as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, "tessera"), None);
    }

    #[test]
    fn a_page_refusing_with_429_says_when_to_retry() {
        let page = PageError(ApiError::TooManyRequests {
            detail: "Too many requests; try again later.",
            retry_after: std::time::Duration::from_millis(1500),
        })
        .into_response();
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(page.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn console_cookies_are_strict_and_secure_over_https() {
        let attributes = |header: String| {
            let mut parts: Vec<String> = header.split("; ").map(str::to_owned).collect();
            parts.sort();
            parts
        };
        assert_eq!(
            attributes(cookie_header(CookieScope::Console, "c", "v", None, true)),
            [
                "HttpOnly",
                "Path=/admin",
                "SameSite=Strict",
                "Secure",
                "c=v"
            ]
        );
        assert_eq!(
            attributes(cookie_header(CookieScope::Console, "c", "", Some(0), false)),
            [
                "HttpOnly",
                "Max-Age=0",
                "Path=/admin",
                "SameSite=Strict",
                "c="
            ]
        );
    }
}
