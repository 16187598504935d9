//! `/api/v1/users`: the caller's own account.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Authenticated, Client, Parse, Valid};
use super::responses as doc;
use super::AppState;
use crate::account::OwnSession;
use crate::clients::Clients;
use crate::users::profile;
use crate::users::repo::ProfileChanges;
use crate::users::UserPublic;
use crate::validation::{all, Text, ValidationErrors};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(me, update_me, delete_me))
        .routes(routes!(sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(consents))
        .routes(routes!(revoke_consent))
        .routes(routes!(balance))
}

/// The caller's account.
#[utoipa::path(get, path = "/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserPublic), doc::Credentials))]
async fn me(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<UserPublic>, ApiError> {
    Ok(Json(state.auth.current_user(&claims).await?))
}

/// `PATCH /users/me`: only the fields present change; `null` clears one.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"first_name": "Ada", "gender": "FEMALE", "date_of_birth": "1815-12-10"}))]
struct ProfileUpdate {
    /// At most 100 characters, trimmed; empty clears.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    first_name: Text,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    last_name: Text,
    /// An http(s) URL, at most 2048 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    avatar_url: Text,
    /// MALE, FEMALE, OTHER or PREFER_NOT_TO_SAY (any case).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    gender: Text,
    /// In the past.
    #[serde(default)]
    #[schema(value_type = Option<chrono::NaiveDate>)]
    date_of_birth: Text,
    /// At most 1000 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    info: Text,
}

impl Parse for ProfileUpdate {
    type Output = ProfileChanges;

    /// Every field's rule at once.
    fn parse(self) -> Result<ProfileChanges, ValidationErrors> {
        let (first_name, last_name, avatar_url, gender, date_of_birth, info) = all((
            self.first_name
                .patch("first_name", |v| profile::name(&v, "first name")),
            self.last_name
                .patch("last_name", |v| profile::name(&v, "last name")),
            self.avatar_url
                .patch("avatar_url", |v| profile::avatar_url(&v)),
            self.gender.patch("gender", |v| profile::gender(&v)),
            self.date_of_birth
                .patch("date_of_birth", |v| profile::date_of_birth(&v)),
            self.info.patch("info", |v| profile::info(&v)),
        ))?;
        Ok(ProfileChanges {
            first_name: first_name.map(Option::flatten),
            last_name: last_name.map(Option::flatten),
            avatar_url,
            gender,
            date_of_birth,
            info,
        })
    }
}

/// Updates profile fields; only those present change, `null` clears one.
#[utoipa::path(patch, path = "/me", tag = "users", security(("bearer" = [])),
    request_body = ProfileUpdate,
    responses((status = 200, body = UserPublic), doc::Credentials, doc::JsonBody))]
async fn update_me(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Valid(changes): Valid<ProfileUpdate>,
) -> Result<Json<UserPublic>, ApiError> {
    Ok(Json(
        state
            .account
            .update_profile(&claims, changes, &client)
            .await?,
    ))
}

/// `DELETE /users/me`: the account's password.
#[derive(Deserialize, ToSchema)]
struct PasswordRequest {
    #[schema(value_type = String)]
    password: Text,
}

impl Parse for PasswordRequest {
    type Output = SecretString;

    fn parse(self) -> Result<SecretString, ValidationErrors> {
        Ok(self
            .password
            .required_text("password")
            .map(SecretString::from)?)
    }
}

/// Deletes the caller's account (soft delete) after checking its password;
/// every session ends.
#[utoipa::path(delete, path = "/me", tag = "users", security(("bearer" = [])),
    request_body = PasswordRequest,
    responses(
        (status = 204, description = "Deleted"),
        doc::BadRequest, doc::Credentials, doc::JsonBody, doc::Limited))]
async fn delete_me(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Valid(password): Valid<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state.account.delete(&claims, password, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct SessionView {
    id: String,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    user_agent: String,
    ip: String,
    current: bool,
    /// The OAuth client the session was opened for; `null` for a sign-in
    /// to tessera itself.
    client_id: Option<String>,
    /// That client's name, as registered.
    client_name: Option<String>,
}

impl SessionView {
    fn new(own: OwnSession, clients: &Clients) -> Self {
        let client_name = own
            .session
            .client_id
            .as_deref()
            .and_then(|id| clients.display_name(id));
        Self {
            id: own.session.id.to_string(),
            created_at: own.session.created_at,
            last_used_at: own.session.last_used_at,
            user_agent: own.session.user_agent,
            ip: own.session.ip,
            current: own.current,
            client_id: own.session.client_id,
            client_name,
        }
    }
}

/// The caller's live sessions (devices), `current` marking this one.
#[utoipa::path(get, path = "/me/sessions", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), doc::Credentials))]
async fn sessions(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = state.account.sessions(&claims).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|own| SessionView::new(own, &state.clients))
            .collect(),
    ))
}

/// What the caller allowed a third-party app.
#[derive(Serialize, ToSchema)]
struct ConsentView {
    client_id: String,
    /// The app's name, as registered.
    client_name: Option<String>,
    scopes: Vec<String>,
    granted_at: DateTime<Utc>,
}

/// The apps the caller allowed (the consent page of a third-party client).
#[utoipa::path(get, path = "/me/consents", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<ConsentView>), doc::Credentials))]
async fn consents(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<Vec<ConsentView>>, ApiError> {
    let consents = state.account.consents(&claims).await?;
    Ok(Json(
        consents
            .into_iter()
            .map(|consent| ConsentView {
                client_name: state.clients.display_name(&consent.client_id),
                client_id: consent.client_id,
                scopes: consent.scopes,
                granted_at: consent.granted_at,
            })
            .collect(),
    ))
}

/// Takes a consent back: the app asks again on its next sign-in.
#[utoipa::path(delete, path = "/me/consents/{client_id}", tag = "users", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "A client id from `GET /me/consents`")),
    responses((status = 204, description = "The consent is gone"), doc::Credentials, doc::NotFound))]
async fn revoke_consent(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .account
        .revoke_consent(&claims, &client_id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Logs one of the caller's devices out.
#[utoipa::path(delete, path = "/me/sessions/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "A session id from `GET /me/sessions`")),
    responses((status = 204, description = "The session ended"), doc::Credentials, doc::NotFound))]
async fn revoke_session(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.account.revoke_session(&claims, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /users/me/balance`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"balance": "12.50"}))]
struct UserBalance {
    /// A decimal string with two decimals.
    balance: String,
}

/// The caller's balance.
#[utoipa::path(get, path = "/me/balance", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserBalance), doc::Credentials))]
async fn balance(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<UserBalance>, ApiError> {
    let balance = state.account.balance(&claims).await?;
    Ok(Json(UserBalance { balance }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use serde_json::{json, Value};

    fn profile_of(body: Value) -> Result<ProfileChanges, ValidationErrors> {
        serde_json::from_value::<ProfileUpdate>(body)
            .unwrap()
            .parse()
    }

    #[test]
    fn profile_changes_only_what_is_given_and_null_clears() {
        let changes = profile_of(json!({
            "first_name": "  Ada ", "last_name": null, "gender": "female",
            "date_of_birth": "1815-12-10", "email": "ignored@example.com"
        }))
        .unwrap();
        assert_eq!(changes.first_name, Some(Some("Ada".into())));
        assert_eq!(changes.last_name, Some(None));
        assert_eq!(changes.gender, Some(Some("FEMALE".into())));
        assert_eq!(
            changes.date_of_birth,
            Some(NaiveDate::from_ymd_opt(1815, 12, 10))
        );
        assert_eq!(changes.avatar_url, None);
        assert_eq!(changes.info, None);
    }

    #[test]
    fn profile_reports_every_bad_field() {
        let tomorrow = (Utc::now().date_naive() + chrono::Days::new(1)).to_string();
        let errors = profile_of(json!({
            "first_name": 5, "avatar_url": "ftp://x/y.png", "gender": "robot",
            "date_of_birth": tomorrow, "info": "x".repeat(profile::INFO_MAX + 1)
        }))
        .unwrap_err()
        .0;
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "first_name",
                "avatar_url",
                "gender",
                "date_of_birth",
                "info"
            ]
        );
        assert!(errors[3].message.contains("in the past"));
    }

    #[test]
    fn profile_info_keeps_line_breaks_but_no_field_takes_a_nul() {
        let changes = profile_of(json!({"info": "one\r\n\ttwo"})).unwrap();
        assert_eq!(changes.info, Some(Some("one\r\n\ttwo".into())));
        let errors = profile_of(json!({
            "first_name": "A\u{0000}", "last_name": "B\nC", "avatar_url": "https://x.co/\u{0000}",
            "gender": "MALE\u{0000}", "date_of_birth": "2000-01-01\u{0000}", "info": "a\u{0000}b"
        }))
        .unwrap_err()
        .0;
        assert_eq!(errors.len(), 6);
        assert!(errors
            .iter()
            .all(|e| e.message.contains("control characters")));
    }
}
