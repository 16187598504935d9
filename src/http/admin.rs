//! `/api/v1/admin`: role checks by extractor (`roles`), then one domain call
//! (`crate::admin`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Client, Parse, PathUuid, Valid, ValidQuery};
use super::mfa::MfaOverview;
use super::responses as doc;
use super::roles::{RequireAdmin, RequireStaff};
use super::AppState;
use crate::admin::{
    balance_delta, AdminUser, AuditPage, AuditQuery, Balance, UserChanges, UserPage, UserQuery,
};
use crate::audit::AuditFilter;

use crate::users::repo::{Deleted, UserFilter};
use crate::users::{Role, Subscription};
use crate::validation::{self, all, Text, ValidationErrors};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(check))
        .routes(routes!(list_users))
        .routes(routes!(update, delete))
        .routes(routes!(block))
        .routes(routes!(unblock))
        .routes(routes!(restore))
        .routes(routes!(balance))
        .routes(routes!(mfa_overview, mfa_reset))
        .routes(routes!(audit))
}

/// `GET /admin/check`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(AdminCheck { is_admin: true }))]
struct AdminCheck {
    is_admin: bool,
}

/// 200 for an ADMIN, 403 for anyone else.
#[utoipa::path(get, path = "/check", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminCheck), doc::Staff))]
async fn check(RequireAdmin(_): RequireAdmin) -> Json<AdminCheck> {
    Json(AdminCheck { is_admin: true })
}

#[derive(Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UserListParams {
    /// Emails containing this text (case-insensitive)
    #[param(value_type = Option<String>)]
    pub(super) email: Text,
    #[param(value_type = Option<Role>)]
    pub(super) role: Text,
    #[param(value_type = Option<bool>)]
    pub(super) is_blocked: Text,
    #[param(value_type = Option<bool>)]
    pub(super) is_active: Text,
    /// exclude (default), include or only
    #[param(value_type = Option<String>)]
    pub(super) deleted: Text,
    /// 1–200, default 50
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub(super) limit: Text,
    /// Default 0
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    pub(super) offset: Text,
}

/// A role's name, as the API spells it.
pub(super) fn role(s: &str) -> Result<Role, &'static str> {
    s.parse()
        .map_err(|()| "must be one of: ADMIN, MODERATOR, REGULAR")
}

impl Parse for UserListParams {
    type Output = UserQuery;

    fn parse(self) -> Result<UserQuery, ValidationErrors> {
        let (email, role, is_blocked, is_active, deleted, limit, offset) = all((
            self.email.optional_text("email"),
            self.role.optional("role", |s| role(&s)),
            self.is_blocked
                .optional("is_blocked", |s| validation::boolean(&s)),
            self.is_active
                .optional("is_active", |s| validation::boolean(&s)),
            self.deleted.optional("deleted", |s| match s.as_str() {
                "exclude" => Ok(Deleted::Exclude),
                "include" => Ok(Deleted::Include),
                "only" => Ok(Deleted::Only),
                _ => Err("must be one of: exclude, include, only"),
            }),
            self.limit.optional("limit", |s| s.parse()),
            self.offset.optional("offset", |s| s.parse()),
        ))?;
        Ok(UserQuery {
            filter: UserFilter {
                email,
                email_or_username: None,
                role,
                is_blocked,
                is_active,
                deleted: deleted.unwrap_or_default(),
            },
            limit: limit.unwrap_or_default(),
            offset: offset.unwrap_or_default(),
        })
    }
}

/// Lists users (ADMIN or MODERATOR), filtered and paged.
#[utoipa::path(get, path = "/users", tag = "admin", security(("bearer" = [])),
    params(UserListParams),
    responses((status = 200, body = UserPage), doc::Staff, doc::Invalid))]
async fn list_users(
    State(state): State<AppState>,
    RequireStaff(_): RequireStaff,
    ValidQuery(query): ValidQuery<UserListParams>,
) -> Result<Json<UserPage>, ApiError> {
    Ok(Json(state.admin.list_users(&query).await?))
}

/// Blocks a user: every session ends at once (MODERATOR: REGULAR users only).
#[utoipa::path(post, path = "/users/{id}/block", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, body = AdminUser), doc::Staff, doc::OnUser))]
async fn block(
    State(state): State<AppState>,
    RequireStaff(actor): RequireStaff,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(
        state.admin.set_blocked(actor, id, true, &client).await?,
    ))
}

/// Unblocks a user (MODERATOR: REGULAR users only).
#[utoipa::path(post, path = "/users/{id}/unblock", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, body = AdminUser), doc::Staff, doc::OnUser))]
async fn unblock(
    State(state): State<AppState>,
    RequireStaff(actor): RequireStaff,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(
        state.admin.set_blocked(actor, id, false, &client).await?,
    ))
}

/// Soft-deletes a user; every session ends.
#[utoipa::path(delete, path = "/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 204, description = "Deleted"), doc::Staff, doc::OnUser))]
async fn delete(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<StatusCode, ApiError> {
    state.admin.delete(actor, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restores a soft-deleted user.
#[utoipa::path(post, path = "/users/{id}/restore", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, body = AdminUser), doc::Staff, doc::OnUser))]
async fn restore(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(state.admin.restore(actor, id, &client).await?))
}

/// `PATCH /admin/users/{id}`.
#[derive(Default, Deserialize, ToSchema)]
#[schema(example = json!({"account_role": "MODERATOR", "account_subscription": "PRO", "subscription_expires_at": "2027-01-31T00:00:00Z"}))]
pub(super) struct AdminUserUpdate {
    #[schema(value_type = Option<Role>)]
    pub(super) account_role: Text,
    #[schema(value_type = Option<Subscription>)]
    pub(super) account_subscription: Text,
    /// RFC 3339; `null` clears the expiry.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(super) subscription_expires_at: Text,
}

impl Parse for AdminUserUpdate {
    type Output = UserChanges;

    /// `null` is "not given" for the role and subscription; it clears the
    /// expiry (a `PATCH` field).
    fn parse(self) -> Result<UserChanges, ValidationErrors> {
        let (role, subscription, subscription_expires_at) = all((
            self.account_role.optional("account_role", |s| role(&s)),
            self.account_subscription
                .optional("account_subscription", |s| {
                    s.parse::<Subscription>()
                        .map_err(|()| "must be one of: FREE, PRO")
                }),
            self.subscription_expires_at
                .patch("subscription_expires_at", |s| validation::date_time(&s)),
        ))?;
        Ok(UserChanges {
            role,
            subscription,
            subscription_expires_at,
        })
    }
}

/// Changes a user's role, subscription or subscription expiry.
#[utoipa::path(patch, path = "/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = AdminUserUpdate,
    responses((status = 200, body = AdminUser), doc::Staff, doc::OnUser, doc::JsonBody))]
async fn update(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
    Valid(changes): Valid<AdminUserUpdate>,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(
        state.admin.update(actor, id, &changes, &client).await?,
    ))
}

/// `POST /admin/users/{id}/balance`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"delta": "-5.00"}))]
struct BalanceDelta {
    /// A non-zero signed decimal string with at most two decimals.
    #[schema(value_type = String)]
    delta: Text,
}

impl Parse for BalanceDelta {
    type Output = rust_decimal::Decimal;

    fn parse(self) -> Result<rust_decimal::Decimal, ValidationErrors> {
        Ok(self.delta.required("delta", |s| balance_delta(&s))?)
    }
}

/// Adds a signed amount to a user's balance, atomically; 409 if it would
/// go below zero.
#[utoipa::path(post, path = "/users/{id}/balance", tag = "admin", operation_id = "adjust_balance", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = BalanceDelta,
    responses((status = 200, body = Balance), doc::Staff, doc::OnUser, doc::JsonBody))]
async fn balance(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
    Valid(delta): Valid<BalanceDelta>,
) -> Result<Json<Balance>, ApiError> {
    Ok(Json(
        state
            .admin
            .adjust_balance(actor, id, delta, &client)
            .await?,
    ))
}

/// A user's second factors (ADMIN or MODERATOR, like the user listing).
#[utoipa::path(get, path = "/users/{id}/mfa", tag = "admin", operation_id = "admin_mfa_overview", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, body = MfaOverview, description = "The shape of `GET /users/me/mfa`"), doc::Staff, doc::OnUser))]
async fn mfa_overview(
    State(state): State<AppState>,
    RequireStaff(_): RequireStaff,
    PathUuid(id): PathUuid,
) -> Result<Json<MfaOverview>, ApiError> {
    state.admin.user(id).await?;
    Ok(Json(state.mfa.overview(id).await?.into()))
}

/// Removes every second factor of a user (ADMIN): the user signs in with
/// the password alone until they add one again. Every session of the user
/// ends; audited (`mfa_reset`) and mailed to the user.
#[utoipa::path(delete, path = "/users/{id}/mfa", tag = "admin", operation_id = "admin_mfa_reset", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 204, description = "Every factor removed, every session ended"), doc::Staff, doc::OnUser))]
async fn mfa_reset(
    State(state): State<AppState>,
    RequireAdmin(actor): RequireAdmin,
    PathUuid(id): PathUuid,
    Client(client): Client,
) -> Result<StatusCode, ApiError> {
    state.mfa.reset(id, actor.id(), &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditParams {
    /// Events about this user
    #[param(value_type = Option<uuid::Uuid>)]
    pub(super) user_id: Text,
    /// Events by this user
    #[param(value_type = Option<uuid::Uuid>)]
    pub(super) actor_id: Text,
    /// e.g. login, login_failed, refresh_reuse
    #[param(value_type = Option<String>)]
    pub(super) kind: Text,
    /// RFC 3339, inclusive
    #[param(value_type = Option<String>)]
    pub(super) since: Text,
    /// RFC 3339, exclusive
    #[param(value_type = Option<String>)]
    pub(super) until: Text,
    /// 1–200, default 50
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub(super) limit: Text,
    /// Default 0
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    pub(super) offset: Text,
}

impl Parse for AuditParams {
    type Output = AuditQuery;

    fn parse(self) -> Result<AuditQuery, ValidationErrors> {
        let (subject_id, actor_id, kind, since, until, limit, offset) = all((
            self.user_id.optional("user_id", |s| validation::uuid(&s)),
            self.actor_id.optional("actor_id", |s| validation::uuid(&s)),
            self.kind.optional_text("kind"),
            self.since.optional("since", |s| validation::date_time(&s)),
            self.until.optional("until", |s| validation::date_time(&s)),
            self.limit.optional("limit", |s| s.parse()),
            self.offset.optional("offset", |s| s.parse()),
        ))?;
        Ok(AuditQuery {
            filter: AuditFilter {
                subject_id,
                actor_id,
                kind,
                since,
                until,
            },
            limit: limit.unwrap_or_default(),
            offset: offset.unwrap_or_default(),
        })
    }
}

/// Security events, newest first.
#[utoipa::path(get, path = "/audit", tag = "admin", security(("bearer" = [])),
    params(AuditParams),
    responses((status = 200, body = AuditPage), doc::Staff, doc::Invalid))]
async fn audit(
    State(state): State<AppState>,
    RequireAdmin(_): RequireAdmin,
    ValidQuery(query): ValidQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(state.admin.audit(&query).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_distinguishes_absent_from_null_expiry() {
        let expiry = |subscription_expires_at: Text| {
            AdminUserUpdate {
                subscription_expires_at,
                ..AdminUserUpdate::default()
            }
            .parse()
            .unwrap()
            .subscription_expires_at
        };
        assert_eq!(expiry(Text::Absent), None);
        assert_eq!(expiry(Text::Null), Some(None));
        let set = expiry(Text::Given("2027-01-31T00:00:00Z".into()));
        assert!(matches!(set, Some(Some(_))));
        let king = AdminUserUpdate {
            account_role: Text::Given("KING".into()),
            ..AdminUserUpdate::default()
        };
        assert!(king.parse().is_err());
    }
}
