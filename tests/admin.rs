//! Administration: roles enforced on every admin route, the user listing,
//! blocking that revokes at once, soft delete and restore, role and
//! subscription changes that reach live sessions, balances, the audit log.

mod common;

use std::time::Duration;

use common::{
    assert_detail, error_locs, json_of, jwt_claims, spawn_app, spawn_app_with, unique_name,
    TestApp, TestUser, Tokens, PASSWORD,
};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// Calls the admin routes (`/api/v1/admin…`) as one bearer, or anonymously.
struct Admin<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl<'a> Admin<'a> {
    fn new(app: &'a TestApp, tokens: &Tokens) -> Self {
        Self {
            app,
            token: Some(tokens.access.clone()),
        }
    }

    fn anonymous(app: &'a TestApp) -> Self {
        Self { app, token: None }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let path = format!("/api/v1/admin{path}");
        self.app
            .call(method, &path, self.token.as_deref(), body)
            .await
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str) -> reqwest::Response {
        self.send(Method::POST, path, None).await
    }

    async fn delete(&self, path: &str) -> reqwest::Response {
        self.send(Method::DELETE, path, None).await
    }

    async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> reqwest::Response {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// `GET path`, which must answer 200, as JSON.
    async fn get_ok(&self, path: impl AsRef<str>) -> Value {
        json_of(self.get(path.as_ref()).await, StatusCode::OK).await
    }

    /// The 422 body `GET path` answers.
    async fn get_422(&self, path: &str) -> Value {
        json_of(self.get(path).await, StatusCode::UNPROCESSABLE_ENTITY).await
    }
}

/// A fresh user with `role` ("ADMIN", "MODERATOR"), and its admin caller.
async fn staff<'a>(app: &'a TestApp, role: &str) -> (TestUser, Admin<'a>) {
    let (user, tokens) = app.new_user_with_role(role).await;
    (user, Admin::new(app, &tokens))
}

/// Registers a user whose email starts with `tag`, so a listing filtered by
/// `tag` sees only this test's users.
async fn tagged_user(app: &TestApp, tag: &str, n: usize) -> Uuid {
    let response = app
        .register(&format!("{tag}.{n}@example.com"), &unique_name(), PASSWORD)
        .await;
    json_of(response, StatusCode::CREATED).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The string `field` of every item on a listing page.
fn items<'p>(page: &'p Value, field: &str) -> Vec<&'p str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap())
        .collect()
}

fn tag() -> String {
    format!("t{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// Every admin route, with a valid body where one is needed.
fn admin_routes(target: Uuid) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/check".into(), None),
        (Method::GET, "/users".into(), None),
        (Method::POST, format!("/users/{target}/block"), None),
        (Method::POST, format!("/users/{target}/unblock"), None),
        (Method::DELETE, format!("/users/{target}"), None),
        (Method::POST, format!("/users/{target}/restore"), None),
        (
            Method::PATCH,
            format!("/users/{target}"),
            Some(json!({"account_role": "ADMIN"})),
        ),
        (
            Method::POST,
            format!("/users/{target}/balance"),
            Some(json!({"delta": "1.00"})),
        ),
        (Method::GET, "/audit".into(), None),
    ]
}

#[tokio::test]
async fn regular_users_get_403_and_anonymous_callers_401_on_every_admin_route() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let regular = Admin::new(&app, &tokens);
    let target = app.new_user().await;
    for (method, path, body) in admin_routes(target.id) {
        let response = regular.send(method.clone(), &path, body.clone()).await;
        assert_detail(response, StatusCode::FORBIDDEN, "Not enough permissions").await;
        let response = Admin::anonymous(&app).send(method, &path, body).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    // Nothing happened to the target.
    let target_tokens = app.login(&target).await;
    app.assert_verify(&target_tokens.access, StatusCode::OK)
        .await;
}

#[tokio::test]
async fn check_answers_admins_only() {
    let app = spawn_app().await;
    let (_, admin) = staff(&app, "ADMIN").await;
    let (_, moderator) = staff(&app, "MODERATOR").await;
    assert_eq!(admin.get_ok("/check").await, json!({"is_admin": true}));
    let response = moderator.get("/check").await;
    assert_detail(response, StatusCode::FORBIDDEN, "Not enough permissions").await;
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_access_at_once_though_the_token_still_says_admin() {
    let app = spawn_app().await;
    let (first, first_tokens) = app.new_user_with_role("ADMIN").await;
    let (_, second) = staff(&app, "ADMIN").await;
    assert_eq!(jwt_claims(&first_tokens.access)["role"], "ADMIN");
    let response = second
        .patch(
            &format!("/users/{}", first.id),
            json!({"account_role": "REGULAR"}),
        )
        .await;
    assert_eq!(
        json_of(response, StatusCode::OK).await["account_role"],
        "REGULAR"
    );
    let response = Admin::new(&app, &first_tokens).get("/check").await;
    assert_detail(response, StatusCode::FORBIDDEN, "Not enough permissions").await;
}

#[tokio::test]
async fn the_user_listing_combines_filters_and_paginates_with_a_total() {
    let app = spawn_app().await;
    let (_, admin) = staff(&app, "ADMIN").await;
    let tag = tag();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(tagged_user(&app, &tag, n).await);
    }
    // ids[1] blocked, ids[2] a moderator, ids[3] deleted.
    for (path, body, method) in [
        (format!("/users/{}/block", ids[1]), None, Method::POST),
        (
            format!("/users/{}", ids[2]),
            Some(json!({"account_role": "MODERATOR"})),
            Method::PATCH,
        ),
        (format!("/users/{}", ids[3]), None, Method::DELETE),
    ] {
        let response = admin.send(method, &path, body).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
    let list = |query: String| admin.get_ok(format!("/users?{query}"));
    let ids_of = |page: &Value| -> Vec<Uuid> {
        items(page, "id")
            .iter()
            .map(|id| id.parse().unwrap())
            .collect()
    };

    // Deleted users are left out by default; newest first.
    let page = list(format!("email={tag}")).await;
    assert_eq!(page["total"], 4);
    assert_eq!(ids_of(&page), vec![ids[4], ids[2], ids[1], ids[0]]);
    assert!(page["items"][0].get("password_hash").is_none());
    assert_eq!(page["items"][0]["profile"]["first_name"], Value::Null);

    // The email filter is case-insensitive.
    assert_eq!(
        list(format!("email={}", tag.to_uppercase())).await["total"],
        4
    );

    // Filters combine.
    let page = list(format!("email={tag}&is_blocked=true")).await;
    assert_eq!(ids_of(&page), vec![ids[1]]);
    assert_eq!(page["items"][0]["is_blocked"], true);
    let page = list(format!("email={tag}&role=MODERATOR&is_blocked=false")).await;
    assert_eq!(ids_of(&page), vec![ids[2]]);
    let page = list(format!("email={tag}&role=MODERATOR&is_blocked=true")).await;
    assert_eq!(page["total"], 0);
    assert_eq!(
        list(format!("email={tag}&is_active=true")).await["total"],
        4
    );
    assert_eq!(
        list(format!("email={tag}&is_active=false")).await["total"],
        0
    );

    // deleted=include|only.
    let page = list(format!("email={tag}&deleted=include")).await;
    assert_eq!(page["total"], 5);
    let page = list(format!("email={tag}&deleted=only")).await;
    assert_eq!(ids_of(&page), vec![ids[3]]);
    assert!(page["items"][0]["deleted_at"].is_string());

    // Pagination: the total counts every match, the page holds `limit`.
    let page = list(format!("email={tag}&limit=2&offset=1")).await;
    assert_eq!(page["total"], 4);
    assert_eq!(ids_of(&page), vec![ids[2], ids[1]]);
    let page = list(format!("email={tag}&limit=2&offset=10")).await;
    assert_eq!(page["total"], 4);
    assert!(ids_of(&page).is_empty());
    // The default page is 50, the largest 200.
    let page = list(String::new()).await;
    assert!(page["items"].as_array().unwrap().len() <= 50);
    list("limit=200".into()).await;
}

#[tokio::test]
async fn bad_listing_queries_are_422_naming_the_parameter() {
    let app = spawn_app().await;
    let (_, admin) = staff(&app, "ADMIN").await;
    for (query, field) in [
        ("deleted=sometimes", "deleted"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("role=KING", "role"),
        ("is_blocked=maybe", "is_blocked"),
        ("is_active=2", "is_active"),
    ] {
        let body = admin.get_422(&format!("/users?{query}")).await;
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}");
        assert_eq!(body["detail"][0]["type"], "value_error");
        assert!(body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .starts_with("Value error, "));
    }
    let body = admin.get_422("/users?deleted=sometimes").await;
    assert_eq!(
        body,
        json!({"detail": [{
            "loc": ["query", "deleted"],
            "msg": "Value error, must be one of: exclude, include, only",
            "type": "value_error",
        }]})
    );
    // Every bad parameter is reported at once.
    let body = admin.get_422("/users?deleted=x&limit=0").await;
    assert_eq!(body["detail"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn blocking_revokes_every_session_at_once_and_unblocking_allows_login_again() {
    let app = spawn_app().await;
    let (admin_user, admin) = staff(&app, "ADMIN").await;
    let (user, phone) = app.signed_in_user().await;
    let laptop = app.login(&user).await;
    for device in [&phone, &laptop] {
        app.assert_verify(&device.access, StatusCode::OK).await;
    }

    let response = admin.post(&format!("/users/{}/block", user.id)).await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["is_blocked"], true);
    assert_eq!(body["id"], user.id.to_string());

    // Every live access token and refresh token of the user fails now.
    for device in [&phone, &laptop] {
        app.assert_revoked(device).await;
        let response = app
            .get_with_bearer("/api/v1/users/me", &device.access)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    app.assert_login_refused(
        json!({"email": user.email, "password": user.password}),
        StatusCode::FORBIDDEN,
        "User account is blocked.",
    )
    .await;

    // Blocking again is harmless.
    let response = admin.post(&format!("/users/{}/block", user.id)).await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = admin.post(&format!("/users/{}/unblock", user.id)).await;
    assert_eq!(json_of(response, StatusCode::OK).await["is_blocked"], false);
    // Old sessions stay ended; a new login works.
    app.assert_verify(&phone.access, StatusCode::UNAUTHORIZED)
        .await;
    app.assert_refresh(&laptop.refresh, StatusCode::UNAUTHORIZED)
        .await;
    let fresh = app.login(&user).await;
    app.assert_verify(&fresh.access, StatusCode::OK).await;

    // The audit log names the admin as actor and the user as subject.
    let blocked = admin_events(&app, user.id, "user_blocked", 1).await;
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(blocked[0]["actor_id"], admin_user.id.to_string());
    assert_eq!(blocked[0]["details"]["sessions_ended"], 2);
    assert_eq!(
        admin_events(&app, user.id, "user_unblocked", 1).await.len(),
        1
    );
    let failed = app.audit_events(user.id, "login_failed").await;
    assert_eq!(failed[0]["details"]["reason"], "blocked");
}

/// Audit rows of `kind` about `subject`, with the actor (the log is written
/// in the background: wait briefly for at least `at_least` of them).
async fn admin_events(app: &TestApp, subject: Uuid, kind: &str, at_least: usize) -> Vec<Value> {
    app.audit_rows_at_least(
        "SELECT jsonb_build_object('actor_id', actor_id, 'subject_id', subject_id, 'ip', ip, \
         'user_agent', user_agent, 'details', details) \
         FROM audit_events WHERE subject_id = $1 AND kind = $2 ORDER BY id",
        subject,
        kind,
        at_least,
    )
    .await
}

#[tokio::test]
async fn a_login_racing_a_block_never_leaves_a_live_session() {
    let app = spawn_app().await;
    let (_, admin) = staff(&app, "ADMIN").await;
    let user = app.new_user().await;
    let logins = (0..8).map(|i| {
        let app = &app;
        let user = &user;
        async move {
            tokio::time::sleep(Duration::from_millis(15 * i)).await;
            let response = app
                .login_json(json!({"email": user.email, "password": user.password}))
                .await;
            match response.status() {
                StatusCode::OK => Some(Tokens::from_body(&response.json().await.unwrap())),
                StatusCode::FORBIDDEN => None,
                other => panic!("login answered {other}"),
            }
        }
    });
    let block = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        admin.post(&format!("/users/{}/block", user.id)).await
    };
    let (issued, blocked) = tokio::join!(futures::future::join_all(logins), block);
    assert_eq!(blocked.status(), StatusCode::OK);
    for tokens in issued.into_iter().flatten() {
        app.assert_revoked(&tokens).await;
    }
}

#[tokio::test]
async fn moderators_list_users_and_block_regular_users_only() {
    let app = spawn_app().await;
    let (moderator_user, moderator) = staff(&app, "MODERATOR").await;
    let (other_moderator, _) = app.new_user_with_role("MODERATOR").await;
    let (admin_user, _) = app.new_user_with_role("ADMIN").await;
    let (regular, regular_tokens) = app.signed_in_user().await;

    let response = moderator.get("/users?limit=1").await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = moderator
        .post(&format!("/users/{}/block", regular.id))
        .await;
    assert_eq!(json_of(response, StatusCode::OK).await["is_blocked"], true);
    app.assert_verify(&regular_tokens.access, StatusCode::UNAUTHORIZED)
        .await;
    let response = moderator
        .post(&format!("/users/{}/unblock", regular.id))
        .await;
    assert_eq!(json_of(response, StatusCode::OK).await["is_blocked"], false);
    let moderated = admin_events(&app, regular.id, "user_blocked", 1).await;
    assert_eq!(moderated[0]["actor_id"], moderator_user.id.to_string());

    for target in [other_moderator.id, admin_user.id, moderator_user.id] {
        for action in ["block", "unblock"] {
            let response = moderator.post(&format!("/users/{target}/{action}")).await;
            assert_detail(response, StatusCode::FORBIDDEN, "Not enough permissions").await;
        }
    }
    // Everything else is for admins.
    for (method, path, body) in admin_routes(regular.id) {
        if path == "/users" || path.ends_with("block") {
            continue;
        }
        let response = moderator.send(method, &path, body).await;
        assert_detail(response, StatusCode::FORBIDDEN, "Not enough permissions").await;
    }
    // The admin was not blocked.
    assert!(!app.user_field::<bool>(admin_user.id, "is_blocked").await);
}

#[tokio::test]
async fn admins_cannot_block_delete_or_demote_themselves() {
    let app = spawn_app().await;
    let (admin_user, admin) = staff(&app, "ADMIN").await;
    let me = format!("/users/{}", admin_user.id);
    let response = admin.post(&format!("{me}/block")).await;
    assert_detail(
        response,
        StatusCode::CONFLICT,
        "Admins cannot block themselves",
    )
    .await;
    let response = admin.delete(&me).await;
    assert_detail(
        response,
        StatusCode::CONFLICT,
        "Admins cannot delete themselves",
    )
    .await;
    for role in ["MODERATOR", "REGULAR"] {
        let response = admin.patch(&me, json!({"account_role": role})).await;
        assert_detail(
            response,
            StatusCode::CONFLICT,
            "Admins cannot change their own role",
        )
        .await;
    }
    // Still an admin, still signed in; changing their own subscription is fine.
    let response = admin
        .patch(
            &me,
            json!({"account_role": "ADMIN", "account_subscription": "PRO"}),
        )
        .await;
    assert_eq!(
        json_of(response, StatusCode::OK).await["account_subscription"],
        "PRO"
    );
    let response = admin.get("/check").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_users_are_404_and_malformed_ids_422() {
    let app = spawn_app().await;
    let (_, admin) = staff(&app, "ADMIN").await;
    let nobody = Uuid::new_v4();
    for (method, path, body) in admin_routes(nobody) {
        if !path.contains(&nobody.to_string()) {
            continue;
        }
        let response = admin.send(method.clone(), &path, body.clone()).await;
        assert_detail(response, StatusCode::NOT_FOUND, "User not found").await;
        let malformed = path.replace(&nobody.to_string(), "not-a-uuid");
        let response = admin.send(method, &malformed, body).await;
        let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["path", "id"]),
            "{malformed}"
        );
        assert_eq!(body["detail"][0]["type"], "uuid_parsing");
    }
}

#[tokio::test]
async fn soft_delete_ends_sessions_and_restore_brings_the_account_back() {
    let app = spawn_app().await;
    let (_, admin) = staff(&app, "ADMIN").await;
    let (user, tokens) = app.signed_in_user().await;
    let path = format!("/users/{}", user.id);

    let response = admin.delete(&path).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.assert_revoked(&tokens).await;
    app.assert_login_refused(
        json!({"email": user.email, "password": user.password}),
        StatusCode::UNAUTHORIZED,
        "Incorrect username or password",
    )
    .await;
    // Deleted: gone for every action but restore; the email stays taken.
    let response = admin.delete(&path).await;
    assert_detail(response, StatusCode::NOT_FOUND, "User not found").await;
    let response = admin.post(&format!("{path}/block")).await;
    assert_detail(response, StatusCode::NOT_FOUND, "User not found").await;
    let response = app.register(&user.email, &unique_name(), PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    let response = admin.post(&format!("{path}/restore")).await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["id"], user.id.to_string());
    assert_eq!(body["deleted_at"], Value::Null);
    let fresh = app.login(&user).await;
    app.assert_verify(&fresh.access, StatusCode::OK).await;
    // Restoring a live user changes nothing.
    let response = admin.post(&format!("{path}/restore")).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.assert_verify(&fresh.access, StatusCode::OK).await;

    assert_eq!(
        admin_events(&app, user.id, "user_deleted", 1).await.len(),
        1
    );
    assert_eq!(
        admin_events(&app, user.id, "user_restored", 1).await.len(),
        1
    );
}

#[tokio::test]
async fn a_role_or_subscription_change_reaches_the_next_refresh_without_postgresql() {
    let app = spawn_app().await;
    let (admin_user, admin) = staff(&app, "ADMIN").await;
    let (user, tokens) = app.signed_in_user().await;
    let claims = jwt_claims(&tokens.access);
    assert_eq!(
        (claims["role"].as_str(), claims["subscription"].as_str()),
        (Some("REGULAR"), Some("FREE"))
    );

    let response = admin.patch(&format!("/users/{}", user.id), json!({"account_role": "MODERATOR", "account_subscription": "PRO", "subscription_expires_at": "2030-01-31T12:00:00Z"})).await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["account_role"], "MODERATOR");
    assert_eq!(body["account_subscription"], "PRO");
    assert_eq!(body["subscription_expires_at"], "2030-01-31T12:00:00Z");

    // Refresh through an instance whose PostgreSQL is a closed port: the new
    // claims come from the session in Redis.
    let no_database = spawn_app_with(Figment::new().merge(Serialized::default(
        "database.url",
        "postgres://postgres@127.0.0.1:1/none",
    )))
    .await;
    let response = no_database.refresh(&tokens.refresh).await;
    let rotated = Tokens::from_body(&json_of(response, StatusCode::OK).await);
    let claims = jwt_claims(&rotated.access);
    assert_eq!(claims["role"], "MODERATOR");
    assert_eq!(claims["subscription"], "PRO");
    let verified = json_of(app.verify(&rotated.access).await, StatusCode::OK).await;
    assert_eq!(verified["role"], "MODERATOR");

    // The new role works at once: the moderator may list users.
    let response = Admin::new(&app, &rotated).get("/users?limit=1").await;
    assert_eq!(response.status(), StatusCode::OK);

    let changed = admin_events(&app, user.id, "role_changed", 1).await;
    assert_eq!(changed[0]["actor_id"], admin_user.id.to_string());
    assert_eq!(changed[0]["details"]["from"], "REGULAR");
    assert_eq!(changed[0]["details"]["to"], "MODERATOR");
    let changed = admin_events(&app, user.id, "subscription_changed", 1).await;
    assert_eq!(changed[0]["details"]["to"], "PRO");

    // `null` clears the expiry; an empty patch changes nothing.
    let response = admin
        .patch(
            &format!("/users/{}", user.id),
            json!({"subscription_expires_at": null}),
        )
        .await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["subscription_expires_at"], Value::Null);
    assert_eq!(body["account_subscription"], "PRO");
    let response = admin.patch(&format!("/users/{}", user.id), json!({})).await;
    assert_eq!(
        json_of(response, StatusCode::OK).await["account_role"],
        "MODERATOR"
    );
}

#[tokio::test]
async fn invalid_patches_are_422_for_every_field() {
    let app = spawn_app().await;
    let (_, admin) = staff(&app, "ADMIN").await;
    let user = app.new_user().await;
    let response = admin.patch(&format!("/users/{}", user.id), json!({"account_role": "KING", "account_subscription": "GOLD", "subscription_expires_at": "next week"})).await;
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let locs = error_locs(&body);
    assert_eq!(
        locs,
        vec![
            &json!(["body", "account_role"]),
            &json!(["body", "account_subscription"]),
            &json!(["body", "subscription_expires_at"])
        ]
    );
    let response = admin
        .patch(&format!("/users/{}", user.id), json!({"account_role": 1}))
        .await;
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["type"], "string_type");
}

async fn balance_of(app: &TestApp, user: Uuid) -> String {
    app.user_field(user, "balance::text").await
}

#[tokio::test]
async fn concurrent_balance_deltas_never_lose_an_update_and_never_go_below_zero() {
    let app = spawn_app().await;
    let (admin_user, admin) = staff(&app, "ADMIN").await;
    let user = app.new_user().await;
    let path = format!("/users/{}/balance", user.id);

    let deltas = (0..20).map(|_| admin.post_json(&path, json!({"delta": "1.00"})));
    for response in futures::future::join_all(deltas).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(balance_of(&app, user.id).await, "20.00");

    let response = admin.post_json(&path, json!({"delta": "-5.5"})).await;
    assert_eq!(
        json_of(response, StatusCode::OK).await,
        json!({"balance": "14.50"})
    );
    let response = admin.post_json(&path, json!({"delta": "-14.51"})).await;
    assert_detail(
        response,
        StatusCode::CONFLICT,
        "Insufficient balance: the balance cannot go below zero",
    )
    .await;
    assert_eq!(balance_of(&app, user.id).await, "14.50");
    let response = admin.post_json(&path, json!({"delta": "-14.50"})).await;
    assert_eq!(
        json_of(response, StatusCode::OK).await,
        json!({"balance": "0.00"})
    );

    let changes = admin_events(&app, user.id, "balance_changed", 22).await;
    assert_eq!(changes.len(), 22);
    assert!(changes
        .iter()
        .all(|e| e["actor_id"] == admin_user.id.to_string()));
    assert_eq!(
        changes[21]["details"],
        json!({"delta": "-14.50", "balance": "0.00"})
    );
}

#[tokio::test]
async fn balance_deltas_are_decimal_strings_with_at_most_two_decimals() {
    let app = spawn_app().await;
    let (_, admin) = staff(&app, "ADMIN").await;
    let user = app.new_user().await;
    let path = format!("/users/{}/balance", user.id);
    for (delta, kind) in [
        (json!(1.5), "string_type"),
        (json!("1.234"), "value_error"),
        (json!("1e3"), "value_error"),
        (json!("ten"), "value_error"),
        (json!("0.00"), "value_error"),
        (json!("1".repeat(19)), "value_error"),
    ] {
        let response = admin.post_json(&path, json!({"delta": delta})).await;
        let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["body", "delta"]),
            "{delta}"
        );
        assert_eq!(body["detail"][0]["type"], kind, "{delta}");
    }
    let response = admin.post_json(&path, json!({})).await;
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["type"], "missing");
    assert_eq!(balance_of(&app, user.id).await, "0.00");
}

#[tokio::test]
async fn the_audit_listing_filters_by_user_kind_actor_and_time_and_paginates() {
    let app = spawn_app().await;
    let (admin_user, admin) = staff(&app, "ADMIN").await;
    let user = app.new_user().await;
    let start = chrono::Utc::now() - chrono::Duration::seconds(5);
    let tokens = app.login(&user).await;
    let response = app
        .login_json(json!({"email": user.email, "password": "wrong password!"}))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .post_with_bearer("/api/v1/auth/logout", &tokens.access)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = admin.post(&format!("/users/{}/block", user.id)).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Wait for the background writer.
    assert_eq!(
        admin_events(&app, user.id, "user_blocked", 1).await.len(),
        1
    );

    let audit = |query: String| admin.get_ok(format!("/audit?{query}"));
    let page = audit(format!("user_id={}", user.id)).await;
    assert_eq!(
        items(&page, "kind"),
        [
            "user_blocked",
            "logout",
            "login_failed",
            "login",
            "register"
        ]
    );
    assert_eq!(page["next_offset"], Value::Null);
    let blocked = &page["items"][0];
    assert_eq!(blocked["actor_id"], admin_user.id.to_string());
    assert_eq!(blocked["subject_id"], user.id.to_string());
    assert_eq!(blocked["ip"], "127.0.0.1");
    assert!(blocked["occurred_at"].is_string());
    assert_eq!(page["items"][2]["details"]["reason"], "wrong_password");

    let page = audit(format!("user_id={}&kind=login_failed", user.id)).await;
    assert_eq!(items(&page, "kind"), ["login_failed"]);
    let page = audit(format!("actor_id={}&kind=user_blocked", admin_user.id)).await;
    assert_eq!(items(&page, "kind"), ["user_blocked"]);

    let page = audit(format!("user_id={}&limit=2", user.id)).await;
    assert_eq!(items(&page, "kind"), ["user_blocked", "logout"]);
    assert_eq!(page["next_offset"], 2);
    let page = audit(format!("user_id={}&limit=2&offset=2", user.id)).await;
    assert_eq!(items(&page, "kind"), ["login_failed", "login"]);
    assert_eq!(page["next_offset"], 4);

    let since = start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let page = audit(format!("user_id={}&since={since}", user.id)).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    let page = audit(format!("user_id={}&until={since}", user.id)).await;
    assert!(page["items"].as_array().unwrap().is_empty());

    for (query, field) in [
        ("user_id=nope", "user_id"),
        ("limit=500", "limit"),
        ("since=yesterday", "since"),
    ] {
        let body = admin.get_422(&format!("/audit?{query}")).await;
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]));
    }
}

#[tokio::test]
async fn unknown_admin_routes_and_methods_keep_the_error_shape() {
    let app = spawn_app().await;
    let (_, admin) = staff(&app, "ADMIN").await;
    let response = admin.get(&format!("/users/{}", Uuid::new_v4())).await;
    assert_detail(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    )
    .await;
    let response = admin.get("/nothing-here").await;
    assert_detail(response, StatusCode::NOT_FOUND, "Not Found").await;
}
