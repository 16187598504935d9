//! The console's page of the OAuth client registry (ADMIN only, as
//! `/api/v1/admin/clients`, through the same domain calls).
//!
//! A new secret is shown once, in the answer to the POST that made it (with
//! `no-store`): never in a URL, a cookie or a redirect. The two forms that
//! make one (register, rotate) carry a one-shot id besides the anti-forgery
//! token, so a reload or a second press that sends the POST again makes no
//! second client and no second secret: it gets a page saying so.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::clients::parse_registration;
use super::super::error::ApiError;
use super::super::extract::{read_body, Body, Client, Query};
use super::super::invalid::{Location, ValidationIssue};
use super::console::{when, Nav, Staff};
use super::{blank_is_absent, html, see_other, text_of, PageError};
use crate::clients::{
    Client as RegisteredClient, ClientChanges, ClientKind, ClientRuleError, ClientSettings,
    ClientsError, GrantType,
};
use crate::console::FormSpent;
use crate::http::AppState;
use crate::validation::{FieldError, Text, TextKind, ValidationErrors, RULE_PREFIX};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(clients, register_client))
        .routes(routes!(client, act_on_client))
}

/// Words for a form sent a second time.
const SENT_ALREADY: &str =
    "This form has been sent already, and a client secret is shown only once. \
    Open the client from the list; if its secret was not copied, rotate it.";

/// Spends the form's one-shot id: a form sent again is refused (409), one
/// with an id this console did not make is refused like a forged form.
async fn spend(state: &AppState, staff: &Staff, form_id: &str) -> Result<(), PageError> {
    match state.console.spend_form(&staff.session, form_id).await? {
        FormSpent::Now => Ok(()),
        FormSpent::Already => Err(ApiError::Conflict(SENT_ALREADY).into()),
        FormSpent::NotOurs => Err(ApiError::FormRejected.into()),
    }
}

/// One option of a select, a radio or a checkbox.
struct Choice {
    value: &'static str,
    label: &'static str,
    chosen: bool,
}

const KINDS: &[(&str, &str)] = &[
    (
        "confidential",
        "Confidential: a service or server-side app that keeps a secret",
    ),
    (
        "public",
        "Public: a native or browser app, without a secret",
    ),
];

const AUTH_METHODS: &[(&str, &str)] = &[
    (
        "",
        "The kind's default: client_secret_basic, or none for a public client",
    ),
    ("client_secret_basic", "client_secret_basic (HTTP Basic)"),
    ("client_secret_post", "client_secret_post (in the form)"),
    (
        "private_key_jwt",
        "private_key_jwt (a signed assertion; needs public keys)",
    ),
    ("none", "none (public clients only)"),
];

fn grant_label(grant: GrantType) -> &'static str {
    match grant {
        GrantType::ClientCredentials => "client_credentials: tokens of its own",
        GrantType::TokenExchange => {
            "token exchange (RFC 8693): a user's token for another audience"
        }
        GrantType::AuthorizationCode => "authorization_code, with PKCE",
        GrantType::RefreshToken => "refresh_token",
        GrantType::Password => "password",
    }
}

fn choices(options: &[(&'static str, &'static str)], chosen: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|&(value, label)| Choice {
            value,
            label,
            chosen: value == chosen,
        })
        .collect()
}

/// The registration form's fields as the browser sends them. Grant types
/// are checkboxes, so that name comes once per ticked box; scopes,
/// audiences and redirect URIs are separated by spaces or line breaks.
#[derive(Default, ToSchema)]
struct ClientForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    /// The form's one-shot id: a form sent twice registers one client
    #[schema(value_type = String)]
    form_id: Text,
    #[schema(value_type = String)]
    name: Text,
    /// confidential (default) or public
    #[schema(value_type = Option<String>)]
    kind: Text,
    /// Empty: the kind's default
    #[schema(value_type = Option<String>)]
    auth_method: Text,
    /// Repeated, one per grant type; none: the kind's default
    grant_types: Vec<String>,
    /// Separated by spaces or line breaks
    #[schema(value_type = Option<String>)]
    scopes: Text,
    /// Separated by spaces or line breaks; none: `jwt.audience`
    #[schema(value_type = Option<String>)]
    audiences: Text,
    /// Separated by spaces or line breaks
    #[schema(value_type = Option<String>)]
    redirect_uris: Text,
    /// For private_key_jwt: a JSON Web Key Set
    #[schema(value_type = Option<String>)]
    jwks: Text,
    /// Seconds; empty: `jwt.access_ttl_secs`
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 86400)]
    access_ttl_secs: Text,
}

/// What was typed into the registration form, to show it again.
#[derive(Default)]
struct Entered {
    name: String,
    kind: String,
    auth_method: String,
    grant_types: Vec<String>,
    scopes: String,
    audiences: String,
    redirect_uris: String,
    jwks: String,
    access_ttl_secs: String,
}

impl Entered {
    /// An empty form: a confidential client with client_credentials.
    fn blank() -> Self {
        Self {
            kind: ClientKind::Confidential.as_str().to_owned(),
            grant_types: vec![GrantType::ClientCredentials.as_str().to_owned()],
            ..Self::default()
        }
    }
}

impl ClientForm {
    /// The form from the request's body (an
    /// `application/x-www-form-urlencoded` form; a repeated name other than
    /// `grant_types` keeps its last value).
    async fn read(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (_, bytes) = read_body(request, state).await?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| ValidationIssue::undecodable(Location::Body, "Invalid form body"))?;
        let mut form = Self::default();
        for (name, value) in pairs {
            let field = match name.as_str() {
                "grant_types" => {
                    form.grant_types.push(value);
                    continue;
                }
                "csrf" => &mut form.csrf,
                "form_id" => &mut form.form_id,
                "name" => &mut form.name,
                "kind" => &mut form.kind,
                "auth_method" => &mut form.auth_method,
                "scopes" => &mut form.scopes,
                "audiences" => &mut form.audiences,
                "redirect_uris" => &mut form.redirect_uris,
                "jwks" => &mut form.jwks,
                "access_ttl_secs" => &mut form.access_ttl_secs,
                _ => continue,
            };
            *field = Text::Given(value);
        }
        Ok(form)
    }

    fn entered(&self) -> Entered {
        Entered {
            name: text_of(&self.name).to_owned(),
            kind: text_of(&self.kind).to_owned(),
            auth_method: text_of(&self.auth_method).to_owned(),
            grant_types: self.grant_types.clone(),
            scopes: text_of(&self.scopes).to_owned(),
            audiences: text_of(&self.audiences).to_owned(),
            redirect_uris: text_of(&self.redirect_uris).to_owned(),
            jwks: text_of(&self.jwks).to_owned(),
            access_ttl_secs: text_of(&self.access_ttl_secs).to_owned(),
        }
    }

    /// The settings the form asks for, read by the JSON API's own
    /// registration type (`POST /api/v1/admin/clients`), so the same answers
    /// make the same client with the same words for each problem. A text
    /// area's items are separated by spaces or line breaks.
    fn parse(self) -> Result<ClientSettings, ValidationErrors> {
        let mut body = Map::new();
        let mut problems = Vec::new();
        for (field, text) in [
            ("name", self.name),
            ("kind", blank_is_absent(self.kind)),
            ("auth_method", blank_is_absent(self.auth_method)),
        ] {
            if let Text::Given(text) = text {
                body.insert(field.to_owned(), Value::String(text));
            }
        }
        if !self.grant_types.is_empty() {
            body.insert("grant_types".to_owned(), json!(self.grant_types));
        }
        for (field, text) in [
            ("scopes", self.scopes),
            ("audiences", self.audiences),
            ("redirect_uris", self.redirect_uris),
        ] {
            match listed(field, text) {
                Ok(Some(items)) => {
                    body.insert(field.to_owned(), json!(items));
                }
                Ok(None) => {}
                Err(problem) => problems.push(problem),
            }
        }
        if let Text::Given(text) = blank_is_absent(self.jwks) {
            match serde_json::from_str::<Value>(&text) {
                Ok(keys) => {
                    body.insert("jwks".to_owned(), keys);
                }
                Err(_) => {
                    problems.push(FieldError::rule("jwks", ClientRuleError::Jwks.to_string()))
                }
            }
        }
        if let Text::Given(text) = blank_is_absent(self.access_ttl_secs) {
            // Digits are a number; anything else stays text, which the
            // field's rule refuses in its own words.
            let ttl = text
                .trim()
                .parse::<i64>()
                .map_or(Value::String(text), Value::from);
            body.insert("access_ttl_secs".to_owned(), ttl);
        }
        match (parse_registration(body), problems.is_empty()) {
            (Ok(settings), true) => Ok(settings),
            (Ok(_), false) => Err(ValidationErrors(problems)),
            (Err(mut errors), _) => {
                errors.0.extend(problems);
                Err(errors)
            }
        }
    }
}

/// A text area's items, separated by spaces or line breaks; `None` when it
/// holds none.
fn listed(field: &str, text: Text) -> Result<Option<Vec<String>>, FieldError> {
    let text = match blank_is_absent(text) {
        Text::Given(text) => text,
        Text::NotText => return Err(FieldError::not_text(field)),
        Text::Absent | Text::Null => return Ok(None),
    };
    TextKind::MultiLine
        .check(&text)
        .map_err(|message| FieldError::rule(field, message))?;
    Ok(Some(text.split_whitespace().map(str::to_owned).collect()))
}

/// A problem in words, after the label of its field.
fn problems(errors: ValidationErrors) -> Vec<String> {
    errors
        .0
        .into_iter()
        .map(|error| {
            let label = match error.field.as_str() {
                "name" => "Name",
                "kind" => "Kind",
                "auth_method" => "Authentication method",
                "jwks" => "Public keys (JWKS)",
                "grant_types" => "Grant types",
                "scopes" => "Scopes",
                "audiences" => "Audiences",
                "redirect_uris" => "Redirect URIs",
                "access_ttl_secs" => "Access token lifetime",
                "confirm" => "Delete",
                other => other,
            };
            let words = error
                .message
                .strip_prefix(RULE_PREFIX)
                .unwrap_or(&error.message);
            format!("{label}: {words}")
        })
        .collect()
}

fn joined<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().collect::<Vec<_>>().join(" ")
}

struct ClientRow {
    id: String,
    name: String,
    kind: &'static str,
    auth_method: &'static str,
    grant_types: String,
    scopes: String,
    audiences: String,
    disabled: bool,
    secret: String,
}

/// Whether a client holds a secret, and until when its previous one works.
fn secret_of(client: &RegisteredClient) -> String {
    match (client.has_secret, client.previous_secret_expires_at) {
        (true, Some(until)) => format!("yes; the previous one works until {}", when(until)),
        (true, None) => "yes".to_owned(),
        (false, _) => "no".to_owned(),
    }
}

impl From<&RegisteredClient> for ClientRow {
    fn from(client: &RegisteredClient) -> Self {
        let settings = &client.settings;
        Self {
            id: client.client_id.clone(),
            name: settings.name.clone(),
            kind: settings.kind.as_str(),
            auth_method: settings.auth_method.as_str(),
            grant_types: joined(settings.grant_types.iter().map(|g| g.as_str())),
            scopes: settings.scopes.to_string(),
            audiences: joined(settings.audiences.iter().map(String::as_str)),
            disabled: client.disabled,
            secret: secret_of(client),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/clients.html")]
struct ClientsPage {
    nav: Nav,
    notice: Option<&'static str>,
    clients: Vec<ClientRow>,
    problems: Vec<String>,
    form_id: String,
    entered: Entered,
    kinds: Vec<Choice>,
    auth_methods: Vec<Choice>,
    grants: Vec<Choice>,
}

/// The clients and the registration form (with `entered` in it).
async fn clients_page(
    state: &AppState,
    staff: &Staff,
    status: StatusCode,
    entered: Entered,
    problems: Vec<String>,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let clients = state.clients.list(staff.actor).await?;
    let grants = GrantType::ALL
        .iter()
        .map(|&grant| Choice {
            value: grant.as_str(),
            label: grant_label(grant),
            chosen: entered.grant_types.iter().any(|g| g == grant.as_str()),
        })
        .collect();
    let page = ClientsPage {
        nav: staff.nav(),
        notice,
        clients: clients.iter().map(ClientRow::from).collect(),
        problems,
        form_id: state.console.new_form_id(),
        kinds: choices(KINDS, &entered.kind),
        auth_methods: choices(AUTH_METHODS, &entered.auth_method),
        grants,
        entered,
    };
    Ok(html(status, &page))
}

/// After an action on the clients page: which one (`?done=`).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ClientsParams {
    /// The action just done, for its notice: deleted (the list);
    /// registered, disabled, enabled or previous_dropped (a client)
    #[param(value_type = Option<String>)]
    done: Text,
}

/// The client registry and a form to register one (ADMIN only).
#[utoipa::path(get, path = "/admin/clients", tag = "pages",
    params(ClientsParams),
    responses(
        (status = 200, description = "The clients and the registration form", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "Not an administrator", content_type = "text/html", body = String),
    ))]
async fn clients(
    State(state): State<AppState>,
    staff: Staff,
    query: Result<Query<ClientsParams>, ApiError>,
) -> Result<Response, PageError> {
    staff.admin_only()?;
    let Query(params) = query?;
    let notice = match text_of(&params.done) {
        "deleted" => Some("Deleted: its tokens are refused from now on."),
        _ => None,
    };
    clients_page(
        &state,
        &staff,
        StatusCode::OK,
        Entered::blank(),
        Vec::new(),
        notice,
    )
    .await
}

#[derive(Template)]
#[template(path = "pages/client_secret.html")]
struct SecretPage<'a> {
    nav: Nav,
    title: &'static str,
    client_id: &'a str,
    name: &'a str,
    secret: &'a str,
    /// After a rotation: until when the previous secret works.
    previous_until: Option<String>,
}

/// The page that shows a new secret, this once: the answer to the POST
/// that made it, never stored by a browser or a proxy.
fn secret_page(status: StatusCode, page: &SecretPage) -> Response {
    let mut response = html(status, page);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Registers a client; one that authenticates with a secret gets it on the
/// answer's page, this once.
#[utoipa::path(post, path = "/admin/clients", tag = "pages",
    request_body(content = ClientForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Registered: the page shows the client's secret, this once", content_type = "text/html", body = String),
        (status = 303, description = "Registered (a client without a secret): to its page; or not signed in: to the sign-in page"),
        (status = 403, description = "Not an administrator, or the form's anti-forgery token or one-shot id is missing or wrong", content_type = "text/html", body = String),
        (status = 409, description = "This form was sent already", content_type = "text/html", body = String),
        (status = 422, description = "The form again, with its problems in words and what was typed", content_type = "text/html", body = String),
    ))]
async fn register_client(
    State(state): State<AppState>,
    Client(from): Client,
    staff: Staff,
    request: Request,
) -> Result<Response, PageError> {
    let form = ClientForm::read(request, &state).await?;
    staff.check(&form.csrf)?;
    staff.admin_only()?;
    let form_id = text_of(&form.form_id).to_owned();
    let entered = form.entered();
    let again = |entered, errors| {
        clients_page(
            &state,
            &staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            entered,
            problems(errors),
            None,
        )
    };
    let settings = match form.parse() {
        Ok(settings) => settings,
        Err(errors) => return again(entered, errors).await,
    };
    spend(&state, &staff, &form_id).await?;
    let registered = match state
        .clients
        .create(staff.actor, settings, Some(&from))
        .await
    {
        Ok(registered) => registered,
        Err(e) => {
            state.console.give_back_form(&staff.session, &form_id).await;
            return match e {
                ClientsError::Rule(rule) => {
                    let problem = FieldError::rule(rule.field(), rule.to_string());
                    again(entered, problem.into()).await
                }
                e => Err(e.into()),
            };
        }
    };
    let client = &registered.client;
    match &registered.secret {
        Some(secret) => Ok(secret_page(
            StatusCode::CREATED,
            &SecretPage {
                nav: staff.nav(),
                title: "Client registered",
                client_id: &client.client_id,
                name: &client.settings.name,
                secret: secret.expose_secret(),
                previous_until: None,
            },
        )),
        None => Ok(see_other(&format!(
            "/admin/clients/{}?done=registered",
            client.client_id
        ))),
    }
}

/// A client's id from the path; one that cannot be read is no client.
fn client_id(id: Result<Path<String>, PathRejection>) -> Result<String, PageError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::NotFoundDetail("Client not found").into())
}

struct ClientDetail {
    id: String,
    name: String,
    kind: &'static str,
    auth_method: &'static str,
    grant_types: String,
    scopes: String,
    audiences: String,
    redirect_uris: Vec<String>,
    access_ttl: String,
    disabled: bool,
    has_secret: bool,
    secret: String,
    previous_secret: bool,
    created_at: String,
    updated_at: String,
}

impl From<RegisteredClient> for ClientDetail {
    fn from(client: RegisteredClient) -> Self {
        let row = ClientRow::from(&client);
        Self {
            access_ttl: match client.settings.access_ttl_secs {
                Some(secs) => format!("{secs} s"),
                None => "the service's default (jwt.access_ttl_secs)".to_owned(),
            },
            redirect_uris: client.settings.redirect_uris,
            has_secret: client.has_secret,
            previous_secret: client.previous_secret_expires_at.is_some(),
            created_at: when(client.created_at),
            updated_at: when(client.updated_at),
            id: row.id,
            name: row.name,
            kind: row.kind,
            auth_method: row.auth_method,
            grant_types: row.grant_types,
            scopes: row.scopes,
            audiences: row.audiences,
            disabled: row.disabled,
            secret: row.secret,
        }
    }
}

#[derive(Template)]
#[template(path = "pages/client.html")]
struct ClientPage {
    nav: Nav,
    notice: Option<&'static str>,
    problems: Vec<String>,
    form_id: String,
    client: ClientDetail,
}

async fn client_page(
    state: &AppState,
    staff: &Staff,
    id: &str,
    status: StatusCode,
    notice: Option<&'static str>,
    problems: Vec<String>,
) -> Result<Response, PageError> {
    let client = state.clients.get(staff.actor, id).await?;
    let page = ClientPage {
        nav: staff.nav(),
        notice,
        problems,
        form_id: state.console.new_form_id(),
        client: client.into(),
    };
    Ok(html(status, &page))
}

/// The notice after an action on a client, by its `done` name.
fn client_notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "registered" => "Registered. This client authenticates without a secret.",
        "disabled" => "Disabled: its tokens are refused from now on, and it gets no new ones.",
        "enabled" => {
            "Enabled: it can get tokens again (those it held when it was disabled stay refused)."
        }
        "previous_dropped" => "The previous secret no longer works.",
        _ => return None,
    })
}

/// One client: its settings and what can be done to it.
#[utoipa::path(get, path = "/admin/clients/{id}", tag = "pages",
    params(("id" = String, Path, description = "The client's id"), ClientsParams),
    responses(
        (status = 200, description = "The client's page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "Not an administrator", content_type = "text/html", body = String),
        (status = 404, description = "No such client", content_type = "text/html", body = String),
    ))]
async fn client(
    State(state): State<AppState>,
    staff: Staff,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<ClientsParams>, ApiError>,
) -> Result<Response, PageError> {
    staff.admin_only()?;
    let id = client_id(id)?;
    let Query(params) = query?;
    let notice = client_notice(text_of(&params.done));
    client_page(&state, &staff, &id, StatusCode::OK, notice, Vec::new()).await
}

/// A client page's forms: which button was pressed (`action`) and what it
/// needs.
#[derive(Deserialize, ToSchema)]
struct ClientActionForm {
    /// The form's anti-forgery token
    #[schema(value_type = String)]
    csrf: Text,
    /// disable, enable, rotate, drop_previous or delete
    #[schema(value_type = String)]
    action: Text,
    /// For rotate: the form's one-shot id (a form sent twice rotates once)
    #[schema(value_type = Option<String>)]
    form_id: Text,
    /// For delete: `yes`, ticked to confirm
    #[schema(value_type = Option<String>)]
    confirm: Text,
}

/// Acts on a client (the `/api/v1/admin/clients` domain calls). A new
/// secret is shown on the answer's page, this once; every other action
/// goes back to the client's page (or, after delete, the list).
#[utoipa::path(post, path = "/admin/clients/{id}", tag = "pages",
    params(("id" = String, Path, description = "The client's id")),
    request_body(content = ClientActionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Rotated: the page shows the new secret, this once", content_type = "text/html", body = String),
        (status = 303, description = "Done: back to the client's page, or to the list after delete"),
        (status = 403, description = "Not an administrator, or the form's anti-forgery token or one-shot id is missing or wrong", content_type = "text/html", body = String),
        (status = 404, description = "No such client", content_type = "text/html", body = String),
        (status = 409, description = "The client has no secret to rotate, or this form was sent already", content_type = "text/html", body = String),
        (status = 422, description = "An unknown action, or delete not confirmed", content_type = "text/html", body = String),
    ))]
async fn act_on_client(
    State(state): State<AppState>,
    Client(from): Client,
    staff: Staff,
    id: Result<Path<String>, PathRejection>,
    body: Result<Body<ClientActionForm>, ApiError>,
) -> Result<Response, PageError> {
    let Body(form) = body?;
    staff.check(&form.csrf)?;
    staff.admin_only()?;
    let id = client_id(id)?;
    let (clients, actor, from) = (&state.clients, staff.actor, Some(&from));
    let toggle = |disabled| ClientChanges {
        disabled: Some(disabled),
        ..ClientChanges::default()
    };
    let done = match text_of(&form.action) {
        "disable" => {
            clients.update(actor, &id, &toggle(true), from).await?;
            "disabled"
        }
        "enable" => {
            clients.update(actor, &id, &toggle(false), from).await?;
            "enabled"
        }
        "drop_previous" => {
            clients.drop_previous_secret(actor, &id, from).await?;
            "previous_dropped"
        }
        "delete" => {
            if text_of(&form.confirm) != "yes" {
                let problem = FieldError::rule(
                    "confirm",
                    "tick “Yes, delete this client” to confirm; nothing was deleted.",
                );
                return client_page(
                    &state,
                    &staff,
                    &id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    problems(problem.into()),
                )
                .await;
            }
            clients.delete(actor, &id, from).await?;
            return Ok(see_other("/admin/clients?done=deleted"));
        }
        "rotate" => {
            let form_id = text_of(&form.form_id);
            spend(&state, &staff, form_id).await?;
            let secret = match clients.rotate_secret(actor, &id, from).await {
                Ok(secret) => secret,
                Err(e) => {
                    state.console.give_back_form(&staff.session, form_id).await;
                    return Err(e.into());
                }
            };
            // The secret is shown whatever happens next: it works already.
            let client = clients.get(actor, &id).await.ok();
            let name = client
                .as_ref()
                .map(|c| c.settings.name.as_str())
                .unwrap_or_default();
            return Ok(secret_page(
                StatusCode::OK,
                &SecretPage {
                    nav: staff.nav(),
                    title: "New client secret",
                    client_id: &id,
                    name,
                    secret: secret.expose_secret(),
                    previous_until: client
                        .as_ref()
                        .and_then(|c| c.previous_secret_expires_at)
                        .map(when),
                },
            ));
        }
        _ => {
            return Err(ValidationErrors::from(FieldError::rule(
                "action",
                "must be one of: disable, enable, rotate, drop_previous, delete",
            ))
            .into())
        }
    };
    Ok(see_other(&format!("/admin/clients/{id}?done={done}")))
}
