//! The authorization endpoint (RFC 6749 §4.1 with PKCE, OAuth 2.1, OIDC
//! Core §3.1.2): an app sends the user's browser here and gets back a code.
//! Knows nothing of HTTP: [`Authorize::check`] turns what the app sent into
//! an [`AuthorizationRequest`] (or says why no redirect may answer it), and
//! each step (the first visit, a sign-in, "Continue", a consent) comes to a
//! [`Step`]: a page to show, or a redirect back to the app with a code or
//! an error. Codes are issued and redeemed by the session store
//! (`sessions::codes`); the browser session is [`browser`]; consents are
//! [`consents`]; RP-initiated logout is [`Authorize::log_out`].

pub mod browser;
pub mod consents;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::SecretString;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Auth, AuthError, Door, LoginName, MfaToken, Opening};
use crate::client::ClientInfo;
use crate::clients::model::redirect_matches;
use crate::clients::{ClientKind, GrantType, Registry, Scopes, StoredClient};
use crate::clock::now_secs;
use crate::mfa::passkey::SignInHandle;
use crate::mfa::{Assertion, Proof};
use crate::sessions::{CodeGrant, SessionError, SessionStore};
use crate::tokens::TokenIssuer;
use crate::users::repo;
use browser::{BrowserError, BrowserSession, BrowserSessions};

/// The OpenID Connect scopes every client may ask for, registered or not.
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Why a request cannot be answered by a redirect (RFC 6749 §4.1.2.1: the
/// client or its redirect URI cannot be trusted), or a failure behind it.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("unknown or disabled client")]
    UnknownClient,
    #[error("the client may not use the authorization code flow")]
    CodeFlowNotAllowed,
    #[error("the redirect URI is not one the client registered")]
    RedirectUriMismatch,
    #[error("the client registered several redirect URIs and named none")]
    RedirectUriMissing,
    /// RP-initiated logout's `id_token_hint` is not an ID token of ours.
    #[error("the id_token_hint is not an ID token this service issued")]
    InvalidIdTokenHint,
    /// A sign-in was refused (shown on the sign-in page, in its words).
    #[error(transparent)]
    SignIn(AuthError),
    /// The client registry has not been read yet.
    #[error("the client registry is not loaded")]
    RegistryUnavailable,
    /// Production, and `jwt.issuer` is not the https URL OIDC requires.
    #[error("jwt.issuer is not an https URL; the code flow is off in production")]
    IssuerNotHttps,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Browser(#[from] BrowserError),
    #[error("session store: {0}")]
    Sessions(#[from] SessionError),
}

impl From<AuthError> for AuthorizeError {
    fn from(e: AuthError) -> Self {
        AuthorizeError::SignIn(e)
    }
}

/// What an app sent, as text (the edge has refused what is not text).
#[derive(Debug, Default, Clone)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    pub max_age: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is for.
    pub dpop_jkt: Option<String>,
}

/// OIDC's `prompt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Sign in if needed.
    Default,
    /// Never show a page: answer at once or redirect with an error.
    None,
    /// Ask for the password even with a browser session.
    Login,
}

/// A request that passed every check: its client, where to answer, and
/// what was asked.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    client: Arc<StoredClient>,
    redirect_uri: String,
    state: Option<String>,
    scope: Scopes,
    nonce: Option<String>,
    challenge: String,
    prompt: Prompt,
    login_hint: Option<String>,
    max_age: Option<u64>,
    dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    pub fn client_name(&self) -> &str {
        &self.client.client.settings.name
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    pub fn login_hint(&self) -> Option<&str> {
        self.login_hint.as_deref()
    }

    /// The scopes asked for, as a consent page lists them.
    pub fn scopes(&self) -> Vec<String> {
        self.scope.to_vec()
    }

    fn is_public(&self) -> bool {
        self.client.client.settings.kind == ClientKind::Public
    }
}

/// Where a request stands.
#[derive(Debug)]
pub enum Step {
    /// The sign-in form.
    SignIn,
    /// A public client and a browser session: one click to go on (RFC 8252
    /// §8.6: anyone can send a public client's id).
    Continue { username: String },
    /// A third-party client asks for scopes not allowed before.
    Consent { username: String },
    /// Back to the app: a code, or an error (RFC 6749 §4.1.2, RFC 9207).
    Redirect(String),
}

/// What the user chose on a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Continue,
    Allow,
    Deny,
}

/// What a hosted page's sign-in shows: a password, or the token of its
/// second-factor step and a code, or a passkey alone (its answer to the
/// options of `Auth::passkey_sign_in_options`).
pub enum Credentials {
    Password(LoginName, SecretString),
    SecondFactor(MfaToken, Proof),
    Passkey(SignInHandle, Assertion),
}

/// A browser session a sign-in opened: its cookie, and who.
pub struct Opened {
    pub cookie: SecretString,
    pub browser: BrowserSession,
}

/// A sign-in that opened a browser session.
pub struct SignedIn {
    pub cookie: SecretString,
    pub step: Step,
}

/// What RP-initiated logout asks for.
#[derive(Debug, Default)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

pub struct AuthorizeDeps {
    pub auth: Arc<Auth>,
    /// Reads RP-initiated logout's `id_token_hint`.
    pub tokens: Arc<TokenIssuer>,
    pub sessions: Arc<SessionStore>,
    pub browser: BrowserSessions,
    pub registry: Arc<Registry>,
    /// Consents and the e-mail an ID token carries.
    pub pool: PgPool,
    pub audit: AuditLog,
    /// `jwt.issuer`: every redirect names it (`iss`, RFC 9207).
    pub issuer: String,
    /// Production (`env = "production"`): the code flow needs an https
    /// issuer, the URL the discovery document is served under.
    pub production: bool,
    pub code_ttl: Duration,
}

pub struct Authorize {
    deps: AuthorizeDeps,
}

/// The S256 code challenge of a `code_verifier` (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A PKCE code challenge or verifier: 43 to 128 unreserved characters
/// (RFC 7636 §4.1; an S256 challenge is 43).
pub fn is_pkce_text(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `uri` with `pairs` added to its query.
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        // Registered URIs were parsed when registered; never reached.
        Err(_) => uri.to_owned(),
    }
}

impl Authorize {
    pub fn new(deps: AuthorizeDeps) -> Self {
        Self { deps }
    }

    /// How long a browser session lives (its cookie's `Max-Age`).
    pub fn browser_ttl(&self) -> Duration {
        self.deps.browser.ttl()
    }

    fn client(&self, id: Option<&str>) -> Result<Arc<StoredClient>, AuthorizeError> {
        let id = id
            .filter(|id| !id.is_empty())
            .ok_or(AuthorizeError::UnknownClient)?;
        self.deps
            .registry
            .get(id)
            .map_err(|_| AuthorizeError::RegistryUnavailable)?
            .filter(|stored| !stored.client.disabled)
            .ok_or(AuthorizeError::UnknownClient)
    }

    /// The request, once its client and redirect URI are known good (else an
    /// error page); a problem with anything else is a redirect with `error`.
    pub fn check(
        &self,
        params: AuthorizeParams,
    ) -> Result<Result<AuthorizationRequest, Step>, AuthorizeError> {
        if self.deps.production && !self.deps.issuer.starts_with("https://") {
            return Err(AuthorizeError::IssuerNotHttps);
        }
        let client = self.client(params.client_id.as_deref())?;
        let settings = &client.client.settings;
        if !settings.grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(AuthorizeError::CodeFlowNotAllowed);
        }
        let redirect_uri = match params.redirect_uri.filter(|uri| !uri.is_empty()) {
            Some(uri)
                if settings
                    .redirect_uris
                    .iter()
                    .any(|r| redirect_matches(r, &uri)) =>
            {
                uri
            }
            Some(_) => return Err(AuthorizeError::RedirectUriMismatch),
            None if settings.redirect_uris.len() == 1 => settings.redirect_uris[0].clone(),
            None => return Err(AuthorizeError::RedirectUriMissing),
        };
        let state = params.state.filter(|s| !s.is_empty());
        let refuse = |error: &str, description: &str| {
            let pairs = [("error", error), ("error_description", description)];
            Ok(Err(self.back_to_app(
                &redirect_uri,
                state.as_deref(),
                &pairs,
            )))
        };
        match params.response_type.as_deref() {
            Some("code") => {}
            None | Some("") => return refuse("invalid_request", "response_type is required"),
            Some(_) => {
                return refuse(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                )
            }
        }
        match params.code_challenge_method.as_deref() {
            Some("S256") => {}
            Some("plain") => {
                return refuse("invalid_request", "PKCE plain is not allowed; use S256")
            }
            None | Some("") => {
                return refuse(
                    "invalid_request",
                    "code_challenge_method=S256 is required (PKCE)",
                )
            }
            Some(_) => return refuse("invalid_request", "code_challenge_method must be S256"),
        }
        let challenge = match params.code_challenge {
            Some(c) if c.len() == 43 && is_pkce_text(&c) => c,
            Some(c) if !c.is_empty() => {
                return refuse(
                    "invalid_request",
                    "code_challenge must be the 43-character S256 challenge",
                )
            }
            _ => return refuse("invalid_request", "code_challenge is required (PKCE)"),
        };
        let scope = match params.scope.as_deref().filter(|s| !s.is_empty()) {
            None => settings.scopes.clone(),
            Some(asked) => match Scopes::parse_list(asked) {
                Ok(scope) => scope,
                Err(_) => return refuse("invalid_scope", "scope is a space-separated list"),
            },
        };
        let unknown: Vec<&str> = scope
            .iter()
            .filter(|s| !settings.scopes.contains(s) && !STANDARD_SCOPES.contains(s))
            .collect();
        if !unknown.is_empty() {
            return refuse(
                "invalid_scope",
                &format!("not allowed for this client: {}", unknown.join(" ")),
            );
        }
        let prompt = match params.prompt.as_deref() {
            None | Some("") => Prompt::Default,
            Some("none") => Prompt::None,
            Some("login") => Prompt::Login,
            // `consent` and `select_account`: the pages ask anyway when
            // they need to.
            Some("consent" | "select_account") => Prompt::Default,
            Some(_) => return refuse("invalid_request", "prompt must be none or login"),
        };
        let max_age = match params.max_age.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => match text.parse::<u64>() {
                Ok(secs) => Some(secs),
                Err(_) => return refuse("invalid_request", "max_age is a number of seconds"),
            },
        };
        // An RFC 7638 SHA-256 thumbprint: 43 base64url characters.
        let dpop_jkt = match params.dpop_jkt.filter(|s| !s.is_empty()) {
            Some(jkt)
                if jkt.len() == 43
                    && jkt
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Some(jkt)
            }
            Some(_) => return refuse("invalid_request", "dpop_jkt is a JWK SHA-256 thumbprint"),
            None => None,
        };
        let short = |s: Option<String>| s.filter(|s| !s.is_empty() && s.len() <= 512);
        Ok(Ok(AuthorizationRequest {
            client,
            redirect_uri,
            state,
            scope,
            nonce: short(params.nonce),
            challenge,
            prompt,
            login_hint: short(params.login_hint),
            max_age,
            dpop_jkt,
        }))
    }

    /// The redirect back to the app with `error`.
    pub fn refuse(&self, request: &AuthorizationRequest, error: &str) -> Step {
        self.back_to_app(
            &request.redirect_uri,
            request.state.as_deref(),
            &[("error", error)],
        )
    }

    /// The redirect back to the app: `pairs`, then the request's `state`
    /// and the issuer (RFC 9207), whatever the answer.
    fn back_to_app(&self, redirect_uri: &str, state: Option<&str>, pairs: &[(&str, &str)]) -> Step {
        let mut pairs = pairs.to_vec();
        if let Some(state) = state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", &self.deps.issuer));
        Step::Redirect(with_query(redirect_uri, &pairs))
    }

    /// The browser session `cookie` names, if it is live.
    pub async fn browser_session(
        &self,
        cookie: Option<&str>,
    ) -> Result<Option<BrowserSession>, AuthorizeError> {
        match cookie {
            Some(cookie) => Ok(self.deps.browser.resume(cookie).await?),
            None => Ok(None),
        }
    }

    /// The first visit: a code at once when the browser is signed in and
    /// nothing needs asking; else the page that asks (or, for
    /// `prompt=none`, the error that says a page would be needed).
    pub async fn visit(
        &self,
        request: &AuthorizationRequest,
        browser: Option<BrowserSession>,
    ) -> Result<Step, AuthorizeError> {
        let too_old = |b: &BrowserSession| {
            request
                .max_age
                .is_some_and(|max| now_secs().saturating_sub(b.auth_time) > max)
        };
        let browser = browser.filter(|b| request.prompt != Prompt::Login && !too_old(b));
        let silent = request.prompt == Prompt::None;
        let Some(browser) = browser else {
            return Ok(if silent {
                self.refuse(request, "login_required")
            } else {
                Step::SignIn
            });
        };
        if request.is_public() {
            return Ok(if silent {
                self.refuse(request, "interaction_required")
            } else {
                Step::Continue {
                    username: browser.username,
                }
            });
        }
        if self.needs_consent(request, &browser).await? {
            return Ok(if silent {
                self.refuse(request, "consent_required")
            } else {
                Step::Consent {
                    username: browser.username,
                }
            });
        }
        self.code(request, &browser).await
    }

    /// A sign-in on a hosted page that opens a browser session: a password
    /// (the same limits, lockout and CAPTCHA as `/login`; an account with a
    /// second factor answers `AuthError::MfaRequired`, its token for this
    /// page's next form), or that step's token and a code, or a passkey
    /// alone (two factors when it verified its user). The authorization
    /// page and the account page both sign in here.
    pub async fn open_browser(
        &self,
        credentials: Credentials,
        device: &ClientInfo,
    ) -> Result<Opened, AuthorizeError> {
        let pair = match credentials {
            Credentials::Password(name, password) => {
                self.deps
                    .auth
                    .login_to(name, password, device, self.page_opening())
                    .await?
            }
            // Another door's token is finished where it was issued.
            Credentials::SecondFactor(token, _) if token.door() != Door::Page => {
                return Err(AuthError::InvalidMfaToken.into())
            }
            Credentials::SecondFactor(token, proof) => {
                self.deps
                    .auth
                    .finish_sign_in(&token, proof, device, None)
                    .await?
            }
            Credentials::Passkey(handle, answer) => {
                self.deps
                    .auth
                    .passkey_sign_in(&handle, &answer, device, self.page_opening())
                    .await?
            }
        };
        let claims = self.deps.auth.authenticate(&pair.access_token).await?;
        let live = self
            .deps
            .sessions
            .live_session(claims.sub, claims.sid)
            .await?
            .ok_or(AuthorizeError::SignIn(AuthError::InvalidCredentials))?;
        // How and when the user signed in is the session's: single sign-on
        // later hands the same `amr` and `auth_time` to every app.
        let browser = BrowserSession {
            user_id: claims.sub,
            session_id: claims.sid,
            username: live.username,
            auth_time: live.authn.auth_time.unwrap_or_else(now_secs),
            amr: live.authn.amr,
        };
        let cookie = self.deps.browser.start(&browser).await?;
        Ok(Opened { cookie, browser })
    }

    /// How a hosted page's sign-in opens its session: for the page's next
    /// form, living as long as the browser session.
    fn page_opening(&self) -> Opening {
        Opening {
            door: Door::Page,
            lifetime: Some(self.deps.browser.ttl()),
            ..Opening::default()
        }
    }

    /// The sign-in form and its second-factor step: a browser session
    /// ([`Authorize::open_browser`]), then the consent page if one is needed,
    /// else the code. The user just signed in, so no "Continue" is asked of
    /// a public client.
    pub async fn sign_in(
        &self,
        request: &AuthorizationRequest,
        credentials: Credentials,
        device: &ClientInfo,
    ) -> Result<SignedIn, AuthorizeError> {
        let Opened { cookie, browser } = self.open_browser(credentials, device).await?;
        let step = if self.needs_consent(request, &browser).await? {
            Step::Consent {
                username: browser.username.clone(),
            }
        } else {
            self.code(request, &browser).await?
        };
        Ok(SignedIn { cookie, step })
    }

    /// A button on the "Continue" or consent page. Without a live browser
    /// session (it ended meanwhile) the sign-in form comes back.
    pub async fn choose(
        &self,
        request: &AuthorizationRequest,
        browser: Option<BrowserSession>,
        choice: Choice,
        device: &ClientInfo,
    ) -> Result<Step, AuthorizeError> {
        let Some(browser) = browser else {
            return Ok(Step::SignIn);
        };
        match choice {
            Choice::Deny => Ok(self.refuse(request, "access_denied")),
            Choice::Continue => {
                if self.needs_consent(request, &browser).await? {
                    return Ok(Step::Consent {
                        username: browser.username,
                    });
                }
                self.code(request, &browser).await
            }
            Choice::Allow => {
                let client_id = &request.client.client.client_id;
                consents::grant(
                    &self.deps.pool,
                    browser.user_id,
                    client_id,
                    &request.scope.to_vec(),
                )
                .await?;
                self.deps.audit.record(
                    AuditEvent::new("consent_granted", Some(browser.user_id))
                        .from_client(device)
                        .with_details(
                            json!({ "client_id": client_id, "scopes": request.scope.to_vec() }),
                        ),
                );
                self.code(request, &browser).await
            }
        }
    }

    /// A third-party client asking for a scope the user has not allowed it.
    async fn needs_consent(
        &self,
        request: &AuthorizationRequest,
        browser: &BrowserSession,
    ) -> Result<bool, AuthorizeError> {
        let client = &request.client.client;
        if client.settings.first_party {
            return Ok(false);
        }
        let granted = consents::granted(&self.deps.pool, browser.user_id, &client.client_id)
            .await?
            .unwrap_or_default();
        // A stored scope that no longer parses grants nothing.
        let granted = Scopes::from_names(granted.iter().map(String::as_str)).unwrap_or_default();
        Ok(!request.scope.is_subset(&granted))
    }

    /// Issues a code and answers with the redirect that carries it.
    async fn code(
        &self,
        request: &AuthorizationRequest,
        browser: &BrowserSession,
    ) -> Result<Step, AuthorizeError> {
        let email = if request.scope.contains("email") {
            repo::identity(&self.deps.pool, browser.user_id)
                .await?
                .map(|identity| (identity.email, identity.email_verified))
        } else {
            None
        };
        let grant = CodeGrant {
            client_id: request.client.client.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            challenge: request.challenge.clone(),
            anchor: browser.session_id,
            scope: request.scope.to_string(),
            nonce: request.nonce.clone(),
            auth_time: browser.auth_time,
            amr: browser.amr.join(" "),
            email,
            dpop_jkt: request.dpop_jkt.clone(),
        };
        let code = self
            .deps
            .sessions
            .issue_code(browser.user_id, &grant, self.deps.code_ttl)
            .await?;
        Ok(self.back_to_app(
            &request.redirect_uri,
            request.state.as_deref(),
            &[("code", &code.encode())],
        ))
    }

    /// RP-initiated logout (OIDC RP-Initiated Logout 1.0): ends the app's
    /// session the `id_token_hint` names and this browser's session (and the
    /// session under it); answers where to send the browser: the client's
    /// registered `post_logout_redirect_uri` with `state`, or `None` for
    /// tessera's own "signed out" page. A URI the client did not register is
    /// an error page, never a redirect.
    pub async fn log_out(
        &self,
        params: LogoutParams,
        cookie: Option<&str>,
        device: &ClientInfo,
    ) -> Result<Option<String>, AuthorizeError> {
        let hint = match params.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
            Some(hint) => Some(
                self.deps
                    .tokens
                    .read_id_token_hint(hint)
                    .map_err(|_| AuthorizeError::InvalidIdTokenHint)?,
            ),
            None => None,
        };
        let client_id = hint
            .as_ref()
            .map(|claims| claims.aud.clone())
            .or(params.client_id.filter(|id| !id.is_empty()));
        let target = match params.post_logout_redirect_uri.filter(|u| !u.is_empty()) {
            Some(uri) => {
                let client = self.client(client_id.as_deref())?;
                if !client
                    .client
                    .settings
                    .post_logout_redirect_uris
                    .contains(&uri)
                {
                    return Err(AuthorizeError::RedirectUriMismatch);
                }
                let mut pairs = Vec::new();
                if let Some(state) = params.state.as_deref().filter(|s| !s.is_empty()) {
                    pairs.push(("state", state));
                }
                Some(with_query(&uri, &pairs))
            }
            None => None,
        };
        if let Some(claims) = &hint {
            if let Ok(user_id) = claims.sub.parse::<Uuid>() {
                self.deps
                    .auth
                    .end_session(user_id, claims.sid, device)
                    .await
                    .map_err(AuthorizeError::SignIn)?;
            }
        }
        if let Some(cookie) = cookie {
            if let Some(browser) = self.deps.browser.resume(cookie).await? {
                self.deps
                    .auth
                    .end_session(browser.user_id, browser.session_id, device)
                    .await
                    .map_err(AuthorizeError::SignIn)?;
            }
            self.deps.browser.forget(cookie).await?;
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_is_rfc_7636s_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_pkce_text(verifier));
        assert!(!is_pkce_text("short"));
        assert!(!is_pkce_text(&"a".repeat(129)));
        assert!(!is_pkce_text(&format!("{}!", "a".repeat(43))));
    }

    #[test]
    fn a_redirect_keeps_the_registered_query_and_adds_to_it() {
        assert_eq!(
            with_query(
                "https://app.example.com/cb?x=1",
                &[("code", "a b"), ("iss", "https://id")]
            ),
            "https://app.example.com/cb?x=1&code=a+b&iss=https%3A%2F%2Fid"
        );
        assert_eq!(
            with_query("com.example.app:/oauth", &[("code", "c")]),
            "com.example.app:/oauth?code=c"
        );
    }
}
