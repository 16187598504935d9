//! `/api/v1/admin/clients`: the OAuth client registry, ADMIN only. Bodies
//! parse here into the registry's settings; one domain call each
//! (`crate::clients`).

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Client, Parse, Valid};
use super::responses as doc;
use super::roles::RequireAdmin;
use super::AppState;
use crate::clients::model::{self, MAX_AUDIENCES, MAX_URIS};
use crate::clients::{
    AuthMethod, ClientChanges, ClientJwks, ClientKind, ClientRuleError, ClientSettings, ClientView,
    CreatedClient, GrantType, IdTokenSigning, Scopes,
};
use crate::validation::{all, FieldError, Shaped, Text, ValidationErrors};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(create, list))
        .routes(routes!(read, update, delete))
        .routes(routes!(rotate_secret))
        .routes(routes!(drop_previous_secret))
}

/// A new secret, shown this once.
#[derive(Serialize, ToSchema)]
struct NewSecret {
    client_secret: String,
}

fn sized<T>(max: usize) -> impl Fn(Vec<T>) -> Result<Vec<T>, ClientRuleError> {
    move |items| {
        if items.len() > max {
            Err(ClientRuleError::TooMany(max))
        } else {
            Ok(items)
        }
    }
}

/// A list field checked for its size as a whole.
fn bounded_list<T>(
    field: &str,
    value: Shaped,
    max: usize,
    rule: impl Fn(&str) -> Result<T, ClientRuleError>,
) -> Result<Option<Vec<T>>, FieldError> {
    value
        .list(field, rule)?
        .map(|items| sized(max)(items).map_err(|e| FieldError::rule(field, e.to_string())))
        .transpose()
}

fn grant_types(field: &str, value: Shaped) -> Result<Option<BTreeSet<GrantType>>, FieldError> {
    Ok(value
        .list(field, |s| s.parse::<GrantType>())?
        .map(|grants| grants.into_iter().collect()))
}

fn scopes(field: &str, value: Shaped) -> Result<Option<Scopes>, FieldError> {
    let names = value.list(field, |s| model::Scope::parse(s).map(|_| s.to_owned()))?;
    names
        .map(|names| {
            Scopes::from_names(names.iter().map(String::as_str))
                .map_err(|e| FieldError::rule(field, e.to_string()))
        })
        .transpose()
}

/// `POST /admin/clients`: everything a client is registered with but its id
/// and secret, which tessera makes.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "billing-service", "grant_types": ["client_credentials"], "scopes": ["orders:read"], "audiences": ["orders"]}))]
struct ClientRegistration {
    #[schema(value_type = String)]
    name: Text,
    /// `confidential` (the default) or `public`.
    #[schema(value_type = Option<ClientKind>)]
    kind: Text,
    /// `client_secret_basic` (the default for a confidential client),
    /// `client_secret_post`, `private_key_jwt` or `none` (a public client).
    #[schema(value_type = Option<AuthMethod>)]
    auth_method: Text,
    /// `private_key_jwt`: the client's public keys (RFC 7517), Ed25519 or
    /// P-256.
    #[schema(value_type = Option<Object>)]
    jwks: Shaped,
    /// Default: `["client_credentials"]` for a confidential client,
    /// `["authorization_code", "refresh_token"]` for a public one.
    #[schema(value_type = Option<Vec<GrantType>>)]
    grant_types: Shaped,
    #[schema(value_type = Option<Vec<String>>)]
    scopes: Shaped,
    /// Default: `[jwt.audience]`.
    #[schema(value_type = Option<Vec<String>>)]
    audiences: Shaped,
    /// https, loopback http, or (public clients) a private-use scheme;
    /// exact strings.
    #[schema(value_type = Option<Vec<String>>)]
    redirect_uris: Shaped,
    #[schema(value_type = Option<Vec<String>>)]
    post_logout_redirect_uris: Shaped,
    #[schema(value_type = Option<bool>)]
    first_party: Shaped,
    #[schema(value_type = Option<bool>)]
    dpop_bound: Shaped,
    /// Default: `jwt.access_ttl_secs`.
    #[schema(value_type = Option<u32>)]
    access_ttl_secs: Shaped,
    /// `EdDSA` (default) or `RS256`: how the client's ID tokens are signed.
    #[schema(value_type = Option<IdTokenSigning>)]
    id_token_signed_response_alg: Text,
}

impl Parse for ClientRegistration {
    type Output = ClientSettings;

    fn parse(self) -> Result<ClientSettings, ValidationErrors> {
        let kind = self.kind.optional("kind", |s| s.parse::<ClientKind>());
        // Redirect URIs are judged for the kind asked for (a bad kind is
        // reported on its own).
        let kind_for_uris = kind
            .clone()
            .ok()
            .flatten()
            .unwrap_or(ClientKind::Confidential);
        let redirect = move |s: &str| model::redirect_uri(s, kind_for_uris);
        let (
            (name, kind, auth_method, jwks, grants, scopes),
            (audiences, redirects, post_logout, first_party, dpop_bound, ttl, id_token_alg),
        ) = all((
            all((
                self.name.required("name", |s| model::name(&s)),
                kind,
                self.auth_method
                    .optional("auth_method", |s| s.parse::<AuthMethod>()),
                self.jwks.object("jwks", ClientJwks::parse),
                grant_types("grant_types", self.grant_types),
                scopes("scopes", self.scopes),
            )),
            all((
                bounded_list("audiences", self.audiences, MAX_AUDIENCES, model::audience),
                bounded_list("redirect_uris", self.redirect_uris, MAX_URIS, redirect),
                bounded_list(
                    "post_logout_redirect_uris",
                    self.post_logout_redirect_uris,
                    MAX_URIS,
                    redirect,
                ),
                self.first_party.flag("first_party"),
                self.dpop_bound.flag("dpop_bound"),
                self.access_ttl_secs
                    .patch_integer("access_ttl_secs", model::access_ttl),
                self.id_token_signed_response_alg
                    .optional("id_token_signed_response_alg", |s| {
                        s.parse::<IdTokenSigning>()
                    }),
            )),
        ))?;
        let kind = kind.unwrap_or(ClientKind::Confidential);
        let default_grants: &[GrantType] = match kind {
            ClientKind::Confidential => &[GrantType::ClientCredentials],
            ClientKind::Public => &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        };
        let settings = ClientSettings {
            name,
            kind,
            auth_method: auth_method.unwrap_or(match kind {
                ClientKind::Confidential => AuthMethod::ClientSecretBasic,
                ClientKind::Public => AuthMethod::None,
            }),
            jwks,
            grant_types: grants.unwrap_or_else(|| default_grants.iter().copied().collect()),
            scopes: scopes.unwrap_or_default(),
            audiences: audiences.unwrap_or_default(),
            redirect_uris: redirects.unwrap_or_default(),
            post_logout_redirect_uris: post_logout.unwrap_or_default(),
            first_party: first_party.unwrap_or(false),
            dpop_bound: dpop_bound.unwrap_or(false),
            access_ttl_secs: ttl.flatten(),
            id_token_signed_response_alg: id_token_alg.unwrap_or(IdTokenSigning::EdDsa),
        };
        settings
            .check()
            .map_err(|e| FieldError::rule(e.field(), e.to_string()))?;
        Ok(settings)
    }
}

/// A registration given as a JSON object (the console builds one from its
/// form): the same reading, rules and defaults as `POST /admin/clients`.
pub(super) fn parse_registration(
    body: Map<String, Value>,
) -> Result<ClientSettings, ValidationErrors> {
    // Every field reads from any JSON value, so the object always reads.
    let registration = serde_json::from_value::<ClientRegistration>(Value::Object(body))
        .map_err(|e| FieldError::rule("body", e.to_string()))?;
    registration.parse()
}

/// Registers a client; one that authenticates with a secret gets it in this
/// answer only.
#[utoipa::path(post, path = "/clients", tag = "admin", operation_id = "create_client", security(("bearer" = [])),
    request_body = ClientRegistration,
    responses((status = 201, body = CreatedClient), doc::Staff, doc::JsonBody))]
async fn create(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    Client(from): Client,
    Valid(settings): Valid<ClientRegistration>,
) -> Result<(StatusCode, Json<CreatedClient>), ApiError> {
    let registered = state.clients.create(actor, settings, Some(&from)).await?;
    Ok((StatusCode::CREATED, Json(CreatedClient::from(registered))))
}

/// Every registered client, oldest first; never a secret.
#[utoipa::path(get, path = "/clients", tag = "admin", operation_id = "list_clients", security(("bearer" = [])),
    responses((status = 200, body = Vec<ClientView>), doc::Staff))]
async fn list(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
) -> Result<Json<Vec<ClientView>>, ApiError> {
    let clients = state.clients.list(actor).await?;
    Ok(Json(clients.into_iter().map(ClientView::from).collect()))
}

/// One client; never its secret.
#[utoipa::path(get, path = "/clients/{id}", tag = "admin", operation_id = "read_client", security(("bearer" = [])),
    params(("id" = String, Path, description = "The client's id")),
    responses((status = 200, body = ClientView), doc::Staff, doc::NotFound))]
async fn read(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    Path(id): Path<String>,
) -> Result<Json<ClientView>, ApiError> {
    Ok(Json(state.clients.get(actor, &id).await?.into()))
}

/// `PATCH /admin/clients/{id}`: the fields to change; `disabled: true`
/// disables the client (its live tokens fail within a second everywhere).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"disabled": true}))]
struct ClientUpdate {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    name: Text,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    jwks: Shaped,
    #[serde(default)]
    #[schema(value_type = Option<Vec<GrantType>>)]
    grant_types: Shaped,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    scopes: Shaped,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    audiences: Shaped,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    redirect_uris: Shaped,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    post_logout_redirect_uris: Shaped,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    first_party: Shaped,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    dpop_bound: Shaped,
    /// `null` goes back to `jwt.access_ttl_secs`.
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    access_ttl_secs: Shaped,
    #[serde(default)]
    #[schema(value_type = Option<IdTokenSigning>)]
    id_token_signed_response_alg: Text,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    disabled: Shaped,
}

/// Redirect URIs are checked against the client's kind when the change is
/// applied (the kind does not change), so any form passes here that some
/// kind accepts.
fn any_kind_redirect(s: &str) -> Result<String, ClientRuleError> {
    model::redirect_uri(s, ClientKind::Public)
}

impl Parse for ClientUpdate {
    type Output = ClientChanges;

    fn parse(self) -> Result<ClientChanges, ValidationErrors> {
        let ((name, jwks, grants, scopes, audiences), (redirects, post_logout, first_party)) =
            all((
                all((
                    self.name.optional("name", |s| model::name(&s)),
                    self.jwks.object("jwks", ClientJwks::parse),
                    grant_types("grant_types", self.grant_types),
                    scopes("scopes", self.scopes),
                    bounded_list("audiences", self.audiences, MAX_AUDIENCES, model::audience),
                )),
                all((
                    bounded_list(
                        "redirect_uris",
                        self.redirect_uris,
                        MAX_URIS,
                        any_kind_redirect,
                    ),
                    bounded_list(
                        "post_logout_redirect_uris",
                        self.post_logout_redirect_uris,
                        MAX_URIS,
                        any_kind_redirect,
                    ),
                    self.first_party.flag("first_party"),
                )),
            ))?;
        let (dpop_bound, access_ttl_secs, id_token_signed_response_alg, disabled) = all((
            self.dpop_bound.flag("dpop_bound"),
            self.access_ttl_secs
                .patch_integer("access_ttl_secs", model::access_ttl),
            self.id_token_signed_response_alg
                .optional("id_token_signed_response_alg", |s| {
                    s.parse::<IdTokenSigning>()
                }),
            self.disabled.flag("disabled"),
        ))?;
        Ok(ClientChanges {
            name,
            jwks,
            grant_types: grants,
            scopes,
            audiences,
            redirect_uris: redirects,
            post_logout_redirect_uris: post_logout,
            first_party,
            dpop_bound,
            access_ttl_secs,
            id_token_signed_response_alg,
            disabled,
        })
    }
}

/// Changes a client's settings, or disables (or enables) it.
#[utoipa::path(patch, path = "/clients/{id}", tag = "admin", operation_id = "update_client", security(("bearer" = [])),
    params(("id" = String, Path, description = "The client's id")),
    request_body = ClientUpdate,
    responses((status = 200, body = ClientView), doc::Staff, doc::NotFound, doc::JsonBody))]
async fn update(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    Path(id): Path<String>,
    Client(from): Client,
    Valid(changes): Valid<ClientUpdate>,
) -> Result<Json<ClientView>, ApiError> {
    Ok(Json(
        state
            .clients
            .update(actor, &id, &changes, Some(&from))
            .await?
            .into(),
    ))
}

/// Removes a client; its live tokens die as if it were disabled.
#[utoipa::path(delete, path = "/clients/{id}", tag = "admin", operation_id = "delete_client", security(("bearer" = [])),
    params(("id" = String, Path, description = "The client's id")),
    responses((status = 204, description = "Removed"), doc::Staff, doc::NotFound))]
async fn delete(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    Path(id): Path<String>,
    Client(from): Client,
) -> Result<StatusCode, ApiError> {
    state.clients.delete(actor, &id, Some(&from)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret, shown this once; the previous one keeps working until the
/// next rotation, `oauth.secret_grace_secs`, or
/// `DELETE /clients/{id}/secret/previous`.
#[utoipa::path(post, path = "/clients/{id}/secret", tag = "admin", operation_id = "rotate_client_secret", security(("bearer" = [])),
    params(("id" = String, Path, description = "The client's id")),
    responses((status = 200, body = NewSecret), doc::Staff, doc::NotFound, doc::Conflict))]
async fn rotate_secret(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    Path(id): Path<String>,
    Client(from): Client,
) -> Result<Json<NewSecret>, ApiError> {
    let secret = state.clients.rotate_secret(actor, &id, Some(&from)).await?;
    Ok(Json(NewSecret {
        client_secret: secret.expose_secret().to_owned(),
    }))
}

/// Ends the previous secret now.
#[utoipa::path(delete, path = "/clients/{id}/secret/previous", tag = "admin", operation_id = "drop_previous_client_secret", security(("bearer" = [])),
    params(("id" = String, Path, description = "The client's id")),
    responses((status = 200, body = ClientView), doc::Staff, doc::NotFound))]
async fn drop_previous_secret(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    Path(id): Path<String>,
    Client(from): Client,
) -> Result<Json<ClientView>, ApiError> {
    Ok(Json(
        state
            .clients
            .drop_previous_secret(actor, &id, Some(&from))
            .await?
            .into(),
    ))
}
