//! The admin console at `/admin/`, for ADMIN and MODERATOR: sign in (with
//! a second page asking for the code of an account with a second factor),
//! the users (search, filters, pages), a user's page (profile, role and
//! subscription, Block/Unblock, Delete/Restore, second factors with Reset,
//! live sessions with Revoke),
//! the audit log, and the OAuth client registry (ADMIN only: register,
//! disable and enable, rotate a secret, drop the previous one, delete).
//!
//! Each action is the `Admin` domain call the JSON API makes, with the same
//! permission checks: what `/api/v1/admin` keeps for ADMIN (delete, restore,
//! role and subscription, the audit log) is refused to a moderator here too,
//! and the domain refuses a moderator anything against a non-REGULAR user.
//! A page shows only the buttons its viewer may use.

use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::super::admin as api;
use super::super::error::ApiError;
use super::super::extract::{Body, Client, Parse, PathUuid, Query};
use super::super::invalid::Location;
use super::browser::{passkey_step, SecondFactorForm, SecondFactorPage};
use super::{
    blank_is_absent, cookie, html, see_other, set_cookie, text_of, CookieScope, PageError,
};
use crate::admin::{Actor, AdminError, AdminUser};
use crate::auth::{AuthError, LoginName, MfaToken};
use crate::console::{ConsoleError, ConsoleSession, Credentials, SignedIn};
use crate::http::AppState;
use crate::sessions::SessionSummary;
use crate::tokens::opaque;
use crate::validation::{self, all, FieldError, Text, ValidationErrors};

/// The console session's cookie.
const SESSION_COOKIE: &str = "tessera_console";
/// The random value the sign-in form's anti-forgery token is bound to
/// (there is no session yet to keep one in).
const FORM_COOKIE: &str = "tessera_console_form";
const FORM_NONCE_BYTES: usize = 16;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(sign_in_page))
        .routes(routes!(sign_in))
        .routes(routes!(sign_in_second_factor))
        .routes(routes!(sign_out))
        .routes(routes!(users))
        .routes(routes!(user, act))
        .routes(routes!(audit_log))
}

/// A signed-in member of staff, with the role PostgreSQL holds now. Anyone
/// else is sent to the sign-in page.
pub(super) struct Staff {
    pub(super) actor: Actor,
    pub(super) session: ConsoleSession,
    cookie: String,
}

impl Staff {
    /// Refuses a form that does not carry this session's token.
    pub(super) fn check(&self, csrf: &Text) -> Result<(), PageError> {
        let sent = text_of(csrf).as_bytes();
        if bool::from(sent.ct_eq(self.session.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::FormRejected.into())
        }
    }

    pub(super) fn nav(&self) -> Nav {
        Nav {
            csrf: self.session.csrf.clone(),
            is_admin: self.actor.is_admin(),
        }
    }

    pub(super) fn admin_only(&self) -> Result<(), AdminError> {
        if self.actor.is_admin() {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let signed_out = || see_other("/admin/");
        let Some(cookie) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(signed_out());
        };
        let session = match state.console.resume(&cookie).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(signed_out()),
            Err(e) => return Err(PageError::from(e).into_response()),
        };
        let actor = match state.admin.actor(session.user_id).await {
            Ok(actor) if actor.is_staff() => actor,
            Ok(_) => return Err(PageError::from(AdminError::Forbidden).into_response()),
            Err(AdminError::NotAuthenticated) => return Err(signed_out()),
            Err(e) => return Err(PageError::from(e).into_response()),
        };
        Ok(Self {
            actor,
            session,
            cookie,
        })
    }
}

/// What the console's header needs: the sign-out form's token, and whether
/// to link the audit log.
pub(super) struct Nav {
    pub(super) csrf: String,
    pub(super) is_admin: bool,
}

pub(super) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[derive(Template)]
#[template(path = "pages/sign_in.html")]
struct SignInPage<'a> {
    csrf: String,
    username: &'a str,
    problems: Vec<String>,
}

/// The sign-in form, bound to the browser's form cookie (set now if it has
/// none).
fn sign_in_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    username: &str,
    problems: Vec<String>,
) -> Response {
    let known = cookie(headers, FORM_COOKIE)
        .filter(|nonce| opaque::decode::<FORM_NONCE_BYTES>(nonce).is_some());
    let nonce = known
        .clone()
        .unwrap_or_else(|| opaque::encode(&rand::random::<[u8; FORM_NONCE_BYTES]>()));
    let page = SignInPage {
        csrf: sign_in_token(state, &nonce),
        username,
        problems,
    };
    let mut response = html(status, &page);
    if known.is_none() {
        set_cookie(
            &mut response,
            CookieScope::Console,
            (FORM_COOKIE, &nonce),
            None,
            state.pages.secure_cookies,
        );
    }
    response
}

/// The anti-forgery token of the sign-in forms (the password's and the
/// second factor's), bound to the browser's form cookie.
fn sign_in_token(state: &AppState, nonce: &str) -> String {
    state
        .pages
        .form_keys
        .form_token(format!("sign-in\0{nonce}").as_bytes())
}

/// Refuses a sign-in form that does not carry the token of this browser's
/// form cookie.
fn check_sign_in_form(state: &AppState, headers: &HeaderMap, csrf: &Text) -> Result<(), PageError> {
    let nonce = cookie(headers, FORM_COOKIE).unwrap_or_default();
    if nonce.is_empty()
        || !state
            .pages
            .form_keys
            .check_form_token(format!("sign-in\0{nonce}").as_bytes(), text_of(csrf))
    {
        return Err(ApiError::FormRejected.into());
    }
    Ok(())
}

/// Where the second-factor form posts.
const SECOND_FACTOR_PATH: &str = "/admin/sign-in/second-factor";

/// The page after a right password of an account with a second factor:
/// the code, with the step's token carried in the form, or the account's
/// passkey (the page then runs the passkey script).
async fn second_factor_form(
    headers: &HeaderMap,
    state: &AppState,
    status: StatusCode,
    mfa_token: &str,
    problems: Vec<String>,
) -> Response {
    // Shown only after a sign-in form that carried the form cookie.
    let nonce = cookie(headers, FORM_COOKIE).unwrap_or_default();
    let csrf = sign_in_token(state, &nonce);
    SecondFactorPage {
        app: Some("the tessera console"),
        action: SECOND_FACTOR_PATH,
        fields: Vec::new(),
        csrf: &csrf,
        mfa_token,
        passkey: passkey_step(state, mfa_token).await,
        problems,
    }
    .answer(status)
}

/// Signed in: the console cookie, then the users.
fn signed_in_answer(state: &AppState, signed_in: SignedIn) -> Response {
    let mut response = see_other("/admin/users");
    set_cookie(
        &mut response,
        CookieScope::Console,
        (SESSION_COOKIE, signed_in.cookie.expose_secret()),
        None,
        state.pages.secure_cookies,
    );
    response
}

/// The sign-in page (or, when signed in already, the users).
#[utoipa::path(get, path = "/admin/", tag = "pages",
    responses(
        (status = 200, description = "The console's sign-in form", content_type = "text/html", body = String),
        (status = 303, description = "Signed in already: to the users"),
    ))]
async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(cookie) = cookie(&headers, SESSION_COOKIE) {
        if let Ok(Some(_)) = state.console.resume(&cookie).await {
            return see_other("/admin/users");
        }
    }
    sign_in_form(&state, &headers, StatusCode::OK, "", Vec::new())
}

/// The sign-in form's fields.
#[derive(Deserialize, ToSchema)]
struct SignInForm {
    /// An email address or a username
    #[schema(value_type = String)]
    username: Text,
    #[schema(value_type = String)]
    password: Text,
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
}

/// Signs in: a login (the same lockout and rate limits as
/// `/api/v1/auth/login`), for ADMIN and MODERATOR only; then the users. An
/// account with a second factor gets the page asking for its code.
#[utoipa::path(post, path = "/admin/sign-in", tag = "pages",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: the console cookie is set; to the users"),
        (status = 200, description = "The password was right and the account has a second factor: the page asking for its code", content_type = "text/html", body = String),
        (status = 401, description = "The form again: wrong name or password", content_type = "text/html", body = String),
        (status = 403, description = "The form again: not staff, blocked or not activated; or the form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 422, description = "The form again: a field is missing", content_type = "text/html", body = String),
        (status = 429, description = "The form again: too many attempts", content_type = "text/html", body = String),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Result<Body<SignInForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    check_sign_in_form(&state, &headers, &form.csrf)?;
    let typed = text_of(&form.username).to_owned();
    let again = |e: ApiError| {
        e.log();
        let mut form = sign_in_form(&state, &headers, e.status(), &typed, e.words());
        e.add_headers(form.headers_mut());
        form
    };
    let parsed = all((
        form.username.required_text("username"),
        form.password
            .required_text("password")
            .map(SecretString::from),
    ));
    let (username, password) = match parsed {
        Ok(parsed) => parsed,
        Err(errors) => return Ok(again(errors.into())),
    };
    let credentials = Credentials::Password(LoginName::guess(&username), password);
    match state.console.sign_in(credentials, &client).await {
        Ok(signed_in) => Ok(signed_in_answer(&state, signed_in)),
        Err(ConsoleError::Auth(AuthError::MfaRequired(challenge))) => Ok(second_factor_form(
            &headers,
            &state,
            StatusCode::OK,
            &challenge.mfa_token,
            Vec::new(),
        )
        .await),
        Err(e) => Ok(again(e.into())),
    }
}

/// Finishes a sign-in with the code of the account's second factor (the
/// same five codes per step and account lockout as
/// `/api/v1/auth/mfa/verify`); then the users. A wrong code shows the page
/// again; a dead step (expired, used, out of attempts) starts over.
#[utoipa::path(post, path = "/admin/sign-in/second-factor", tag = "pages",
    request_body(content = SecondFactorForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: the console cookie is set; to the users"),
        (status = 401, description = "A wrong code: the page again; or a dead step: the sign-in form again", content_type = "text/html", body = String),
        (status = 403, description = "The sign-in form again: not staff, blocked or not activated; or the form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 422, description = "The page again: no code, or not one", content_type = "text/html", body = String),
        (status = 429, description = "The sign-in form again: too many attempts", content_type = "text/html", body = String),
    ))]
async fn sign_in_second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Result<Body<SecondFactorForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    check_sign_in_form(&state, &headers, &form.csrf)?;
    // A step that cannot go on starts over from the password.
    let start_over = |e: ApiError| {
        e.log();
        let mut form = sign_in_form(&state, &headers, e.status(), "", e.words());
        e.add_headers(form.headers_mut());
        form
    };
    let typed_token = text_of(&form.mfa_token).to_owned();
    let Some(token) = MfaToken::parse(&typed_token) else {
        return Ok(start_over(AuthError::InvalidMfaToken.into()));
    };
    let code_again = async |e: ApiError| {
        e.log();
        second_factor_form(&headers, &state, e.status(), &typed_token, e.words()).await
    };
    let proof = match form.parse() {
        Ok(proof) => proof,
        Err(errors) => return Ok(code_again(errors.into()).await),
    };
    match state
        .console
        .sign_in(Credentials::SecondFactor(token, proof), &client)
        .await
    {
        Ok(signed_in) => Ok(signed_in_answer(&state, signed_in)),
        Err(e @ ConsoleError::Auth(AuthError::SecondFactor(_))) => Ok(code_again(e.into()).await),
        Err(e) => Ok(start_over(e.into())),
    }
}

/// A form that carries only its anti-forgery token.
#[derive(Deserialize, ToSchema)]
struct TokenOnlyForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
}

/// Signs out: the console session and the session under it end.
#[utoipa::path(post, path = "/admin/sign-out", tag = "pages",
    request_body(content = TokenOnlyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed out (or not signed in): to the sign-in page"),
        (status = 403, description = "The form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
    ))]
async fn sign_out(
    State(state): State<AppState>,
    Client(client): Client,
    staff: Staff,
    body: Result<Body<TokenOnlyForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    staff.check(&form.csrf)?;
    state
        .console
        .sign_out(&staff.cookie, &staff.session, &client)
        .await?;
    let mut response = see_other("/admin/");
    set_cookie(
        &mut response,
        CookieScope::Console,
        (SESSION_COOKIE, ""),
        Some(0),
        state.pages.secure_cookies,
    );
    Ok(response)
}

/// The users page's query: the search box `q` (email or username), the
/// filters, and where the page starts.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UsersParams {
    /// Part of an email address or username
    #[param(value_type = Option<String>)]
    q: Text,
    /// ADMIN, MODERATOR or REGULAR; empty = any
    #[param(value_type = Option<String>)]
    role: Text,
    /// true or false; empty = any
    #[param(value_type = Option<String>)]
    blocked: Text,
    /// exclude (default), include or only
    #[param(value_type = Option<String>)]
    deleted: Text,
    /// Default 0
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    offset: Text,
}

struct UserRow {
    id: Uuid,
    username: String,
    email: String,
    role: &'static str,
    subscription: &'static str,
    status: String,
}

fn status_of(user: &AdminUser) -> String {
    let mut status = vec![if user.user.is_active {
        "active"
    } else {
        "not activated"
    }];
    if user.user.is_blocked {
        status.push("blocked");
    }
    if user.deleted_at.is_some() {
        status.push("deleted");
    }
    status.join(", ")
}

#[derive(Template)]
#[template(path = "pages/users.html")]
struct UsersPage<'a> {
    nav: Nav,
    q: &'a str,
    role: &'a str,
    blocked: &'a str,
    deleted: &'a str,
    roles: &'static [(&'static str, &'static str)],
    blocked_choices: &'static [(&'static str, &'static str)],
    deleted_choices: &'static [(&'static str, &'static str)],
    total: i64,
    first: i64,
    last: i64,
    users: Vec<UserRow>,
    previous: Option<String>,
    next: Option<String>,
}

/// The users, searched by email or username, filtered, 50 a page.
#[utoipa::path(get, path = "/admin/users", tag = "pages",
    params(UsersParams),
    responses(
        (status = 200, description = "The users table", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 422, description = "A filter is not one of its choices", content_type = "text/html", body = String),
    ))]
async fn users(
    State(state): State<AppState>,
    staff: Staff,
    query: Result<Query<UsersParams>, ApiError>,
) -> Result<Response, PageError> {
    let Query(params) = query?;
    let (role, blocked, deleted) = (
        text_of(&params.role).to_owned(),
        text_of(&params.blocked).to_owned(),
        text_of(&params.deleted).to_owned(),
    );
    // The search text is a field like any other: it refuses what every
    // text field refuses (NUL, controls) before it reaches SQL.
    let (search, mut query) = all((
        blank_is_absent(params.q)
            .optional_text("q")
            .map(|q| q.map(|q| q.trim().to_owned())),
        api::UserListParams {
            role: blank_is_absent(params.role),
            is_blocked: blank_is_absent(params.blocked),
            deleted: blank_is_absent(params.deleted),
            offset: blank_is_absent(params.offset),
            ..api::UserListParams::default()
        }
        .parse(),
    ))
    .map_err(|e| ApiError::invalid(Location::Query, e))?;
    let q = search.clone().unwrap_or_default();
    query.filter.email_or_username = search;
    let page = state.admin.list_users(&query).await?;
    let link = |offset: i64| {
        let pairs = [
            ("q", q.as_str()),
            ("role", &role),
            ("blocked", &blocked),
            ("deleted", &deleted),
            ("offset", &offset.to_string()),
        ];
        format!(
            "/admin/users?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let shown = page.items.len() as i64;
    let (limit, offset) = (query.limit.get(), query.offset.get());
    let page = UsersPage {
        nav: staff.nav(),
        q: &q,
        role: &role,
        blocked: &blocked,
        deleted: &deleted,
        roles: &[
            ("", "Any"),
            ("ADMIN", "ADMIN"),
            ("MODERATOR", "MODERATOR"),
            ("REGULAR", "REGULAR"),
        ],
        blocked_choices: &[("", "Any"), ("true", "Blocked"), ("false", "Not blocked")],
        deleted_choices: &[
            ("exclude", "Not deleted"),
            ("include", "Any"),
            ("only", "Deleted only"),
        ],
        total: page.total,
        first: offset + 1,
        last: offset + shown,
        previous: (offset > 0).then(|| link((offset - limit).max(0))),
        next: (offset + shown < page.total).then(|| link(offset + limit)),
        users: page
            .items
            .iter()
            .map(|user| UserRow {
                id: user.user.id,
                username: user.user.username.clone(),
                email: user.user.email.clone(),
                role: user.user.account_role.as_str(),
                subscription: user.user.account_subscription.as_str(),
                status: status_of(user),
            })
            .collect(),
    };
    Ok(html(StatusCode::OK, &page))
}

struct UserView {
    id: Uuid,
    username: String,
    email: String,
    name: String,
    role: &'static str,
    subscription: &'static str,
    subscription_expires_at: Option<String>,
    status: String,
    created_at: String,
    blocked: bool,
    deleted: bool,
}

struct SessionRow {
    id: Uuid,
    created_at: String,
    last_used_at: String,
    ip: String,
    user_agent: String,
}

impl From<SessionSummary> for SessionRow {
    fn from(session: SessionSummary) -> Self {
        Self {
            id: session.id,
            created_at: when(session.created_at),
            last_used_at: when(session.last_used_at),
            ip: session.ip,
            user_agent: session.user_agent,
        }
    }
}

/// A user's second factors, as the page shows them.
struct FactorsView {
    totp: bool,
    recovery_codes_left: u32,
    passkeys: usize,
}

#[derive(Template)]
#[template(path = "pages/user.html")]
struct UserPage {
    nav: Nav,
    notice: Option<&'static str>,
    user: UserView,
    can_edit: bool,
    can_moderate: bool,
    /// A live user's factors (`None` for a deleted one, like the sessions).
    factors: Option<FactorsView>,
    sessions: Vec<SessionRow>,
}

/// After an action: which one was done (`?done=`), for the notice.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UserParams {
    /// The action just done: blocked, unblocked, deleted, restored, updated, revoked or mfa_reset
    #[param(value_type = Option<String>)]
    done: Text,
}

/// The notice after an action, by its `done` name.
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "blocked" => "Blocked: every session of this user has ended.",
        "unblocked" => "Unblocked.",
        "deleted" => "Deleted: every session of this user has ended.",
        "restored" => "Restored.",
        "updated" => "Role and subscription saved.",
        "revoked" => "The session has ended.",
        "mfa_reset" => {
            "Second factors reset: this user signs in with the password alone, and every session has ended."
        }
        _ => return None,
    })
}

/// One user: profile, role and subscription, the actions the viewer may
/// take, the second factors, and the live sessions.
#[utoipa::path(get, path = "/admin/users/{id}", tag = "pages",
    params(("id" = uuid::Uuid, Path, description = "The user's id"), UserParams),
    responses(
        (status = 200, description = "The user's page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 404, description = "No such user", content_type = "text/html", body = String),
    ))]
async fn user(
    State(state): State<AppState>,
    staff: Staff,
    id: Result<PathUuid, ApiError>,
    query: Result<Query<UserParams>, ApiError>,
) -> Result<Response, PageError> {
    let PathUuid(id) = id?;
    let Query(params) = query?;
    let user = state.admin.user(id).await?;
    let can_moderate = staff.actor.may_moderate_role(user.user.account_role);
    let deleted = user.deleted_at.is_some();
    // A moderator sees what the API shows a moderator: no sessions (their
    // addresses and devices are for administrators).
    let sessions = if staff.actor.is_admin() && !deleted {
        state.admin.sessions(staff.actor, id).await?
    } else {
        Vec::new()
    };
    let factors = if deleted {
        None
    } else {
        let overview = state.mfa.overview(id).await?;
        Some(FactorsView {
            totp: overview.totp,
            recovery_codes_left: overview.recovery_codes_left,
            passkeys: overview.passkeys.len(),
        })
    };
    let profile = &user.user.profile;
    let name = [profile.first_name.as_deref(), profile.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let page = UserPage {
        nav: staff.nav(),
        notice: notice(text_of(&params.done)),
        can_edit: staff.actor.is_admin(),
        can_moderate,
        factors,
        sessions: sessions.into_iter().map(SessionRow::from).collect(),
        user: UserView {
            id,
            status: status_of(&user),
            username: user.user.username,
            email: user.user.email,
            name,
            role: user.user.account_role.as_str(),
            subscription: user.user.account_subscription.as_str(),
            subscription_expires_at: user.user.subscription_expires_at.map(when),
            created_at: when(user.user.created_at),
            blocked: user.user.is_blocked,
            deleted,
        },
    };
    Ok(html(StatusCode::OK, &page))
}

/// A user page's forms: which button was pressed (`action`) and what it
/// needs.
#[derive(Deserialize, ToSchema)]
struct ActionForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    /// block, unblock, delete, restore, update, revoke or reset_mfa
    #[schema(value_type = String)]
    action: Text,
    /// For update: ADMIN, MODERATOR or REGULAR
    #[schema(value_type = Option<String>)]
    account_role: Text,
    /// For update: FREE or PRO
    #[schema(value_type = Option<String>)]
    account_subscription: Text,
    /// For revoke: the session to end
    #[schema(value_type = Option<uuid::Uuid>)]
    session_id: Text,
}

/// Acts on a user (the `/api/v1/admin` domain calls, with their permission
/// checks), then back to the user's page.
#[utoipa::path(post, path = "/admin/users/{id}", tag = "pages",
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body(content = ActionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Done: back to the user's page"),
        (status = 403, description = "Not allowed to this viewer, or the form's anti-forgery token is missing or wrong", content_type = "text/html", body = String),
        (status = 404, description = "No such user or session", content_type = "text/html", body = String),
        (status = 409, description = "An administrator cannot do this to their own account", content_type = "text/html", body = String),
        (status = 422, description = "An unknown action or value", content_type = "text/html", body = String),
    ))]
async fn act(
    State(state): State<AppState>,
    Client(client): Client,
    staff: Staff,
    id: Result<PathUuid, ApiError>,
    body: Result<Body<ActionForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    staff.check(&form.csrf)?;
    let PathUuid(id) = id?;
    let (admin, actor) = (&state.admin, staff.actor);
    let done = match text_of(&form.action) {
        "block" => {
            admin.set_blocked(actor, id, true, &client).await?;
            "blocked"
        }
        "unblock" => {
            admin.set_blocked(actor, id, false, &client).await?;
            "unblocked"
        }
        "delete" => {
            staff.admin_only()?;
            admin.delete(actor, id, &client).await?;
            "deleted"
        }
        "restore" => {
            staff.admin_only()?;
            admin.restore(actor, id, &client).await?;
            "restored"
        }
        "update" => {
            staff.admin_only()?;
            let changes = api::AdminUserUpdate {
                account_role: blank_is_absent(form.account_role),
                account_subscription: blank_is_absent(form.account_subscription),
                ..api::AdminUserUpdate::default()
            }
            .parse()?;
            admin.update(actor, id, &changes, &client).await?;
            "updated"
        }
        "revoke" => {
            staff.admin_only()?;
            let session_id = form
                .session_id
                .required("session_id", |s| validation::uuid(&s))
                .map_err(ValidationErrors::from)?;
            admin.revoke_session(actor, id, session_id, &client).await?;
            "revoked"
        }
        "reset_mfa" => {
            staff.admin_only()?;
            state.mfa.reset(id, actor.id(), &client).await?;
            "mfa_reset"
        }
        _ => {
            return Err(ValidationErrors::from(FieldError::rule(
                "action",
                "must be one of: block, unblock, delete, restore, update, revoke, reset_mfa",
            ))
            .into())
        }
    };
    Ok(see_other(&format!("/admin/users/{id}?done={done}")))
}

/// The audit page's query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// Events about this user
    #[param(value_type = Option<uuid::Uuid>)]
    user_id: Text,
    /// e.g. login, login_failed, user_blocked
    #[param(value_type = Option<String>)]
    kind: Text,
    /// Default 0
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    offset: Text,
}

struct EventRow {
    at: String,
    kind: String,
    subject: Option<Uuid>,
    actor: Option<Uuid>,
    ip: String,
    details: String,
}

#[derive(Template)]
#[template(path = "pages/audit.html")]
struct AuditPageView<'a> {
    nav: Nav,
    user_id: &'a str,
    kind: &'a str,
    events: Vec<EventRow>,
    next: Option<String>,
}

/// The audit log, newest first (ADMIN only, as `GET /api/v1/admin/audit`).
#[utoipa::path(get, path = "/admin/audit", tag = "pages",
    params(AuditParams),
    responses(
        (status = 200, description = "The audit log", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "Not an administrator", content_type = "text/html", body = String),
        (status = 422, description = "A filter is malformed", content_type = "text/html", body = String),
    ))]
async fn audit_log(
    State(state): State<AppState>,
    staff: Staff,
    query: Result<Query<AuditParams>, ApiError>,
) -> Result<Response, PageError> {
    staff.admin_only()?;
    let Query(params) = query?;
    let (user_id, kind) = (
        text_of(&params.user_id).trim().to_owned(),
        text_of(&params.kind).trim().to_owned(),
    );
    let query = api::AuditParams {
        user_id: blank_is_absent(params.user_id),
        kind: blank_is_absent(params.kind),
        offset: blank_is_absent(params.offset),
        ..api::AuditParams::default()
    }
    .parse()
    .map_err(|e| ApiError::invalid(Location::Query, e))?;
    let page = state.admin.audit(&query).await?;
    let next = page.next_offset.map(|offset| {
        let pairs = [
            ("user_id", user_id.as_str()),
            ("kind", &kind),
            ("offset", &offset.to_string()),
        ];
        format!(
            "/admin/audit?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    let view = AuditPageView {
        nav: staff.nav(),
        user_id: &user_id,
        kind: &kind,
        next,
        events: page
            .items
            .into_iter()
            .map(|event| EventRow {
                at: when(event.occurred_at),
                kind: event.kind,
                subject: event.subject_id,
                actor: event.actor_id,
                ip: event.ip.unwrap_or_default(),
                details: event.details.to_string(),
            })
            .collect(),
    };
    Ok(html(StatusCode::OK, &view))
}
