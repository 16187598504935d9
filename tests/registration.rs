//! Registering accounts and checking usernames.

mod common;

use common::{assert_detail, json_of, spawn_app, unique_name, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_new_user_gets_a_public_profile_without_secrets() {
    let app = spawn_app().await;
    let username = format!("Mixed{}", &unique_name()[1..10]);
    let email = format!("{}@Example.COM", username);
    let response = app.register(&email, &username, PASSWORD).await;
    let user = json_of(response, StatusCode::CREATED).await;
    assert_eq!(
        user["email"],
        email.to_lowercase(),
        "email is stored lower-cased"
    );
    assert_eq!(user["username"], username, "username keeps its case");
    assert_eq!(user["account_role"], "REGULAR");
    assert_eq!(user["account_subscription"], "FREE");
    assert_eq!(user["subscription_expires_at"], Value::Null);
    assert_eq!(user["is_active"], true);
    assert_eq!(user["is_blocked"], false);
    assert!(user["created_at"].as_str().is_some());
    assert!(user["id"].as_str().unwrap().parse::<uuid::Uuid>().is_ok());
    let profile_keys: Vec<&String> = user["profile"].as_object().unwrap().keys().collect();
    assert_eq!(
        profile_keys,
        [
            "avatar_url",
            "date_of_birth",
            "first_name",
            "gender",
            "info",
            "last_name"
        ]
    );
    let text = user.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );

    let stored: (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE id = $1::uuid")
        .bind(user["id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(stored.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(!app
        .audit_events(user["id"].as_str().unwrap().parse().unwrap(), "register")
        .await
        .is_empty());
}

#[tokio::test]
async fn a_taken_email_or_username_is_a_conflict_in_any_case() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response = app
        .register(&user.email.to_uppercase(), &unique_name(), PASSWORD)
        .await;
    assert_detail(response, StatusCode::CONFLICT, "Email already registered").await;
    let other_email = format!("{}@example.com", unique_name());
    let response = app
        .register(&other_email, &user.username.to_uppercase(), PASSWORD)
        .await;
    assert_detail(response, StatusCode::CONFLICT, "Username already taken").await;
}

#[tokio::test]
async fn twenty_concurrent_registrations_of_one_email_create_one_account() {
    let app = spawn_app().await;
    let email = format!("{}@example.com", unique_name());
    let attempts = (0..20).map(|_| {
        let (app, email) = (&app, email.clone());
        async move {
            app.register(&email, &unique_name(), PASSWORD)
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
    let rows: (i64,) = sqlx::query_as("SELECT count(*) FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows.0, 1);
}

#[tokio::test]
async fn concurrent_registrations_of_one_username_in_different_cases_create_one_account() {
    let app = spawn_app().await;
    let name = unique_name();
    let attempts = (0..10).map(|i| {
        let app = &app;
        let username = if i % 2 == 0 {
            name.to_uppercase()
        } else {
            name.clone()
        };
        async move {
            app.register(
                &format!("{}@example.com", unique_name()),
                &username,
                PASSWORD,
            )
            .await
            .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        9,
        "{statuses:?}"
    );
}

/// The 422 entries of a response, as (field, type, msg).
async fn problems(response: reqwest::Response) -> Vec<(String, String, String)> {
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    body["detail"]
        .as_array()
        .expect("detail is a list")
        .iter()
        .map(|e| {
            assert_eq!(e["loc"][0], "body");
            (
                e["loc"][1].as_str().unwrap_or_default().to_owned(),
                e["type"].as_str().unwrap().to_owned(),
                e["msg"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_missing_field_is_reported_at_once() {
    let app = spawn_app().await;
    let found = problems(app.post_json("/api/v1/auth/register", json!({})).await).await;
    let fields: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|(f, t, m)| (f.as_str(), t.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("email", "missing", "Field required"),
            ("username", "missing", "Field required"),
            ("password", "missing", "Field required")
        ]
    );
    let empty_body = app
        .post("/api/v1/auth/register")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(problems(empty_body).await.len(), 3);
}

#[tokio::test]
async fn every_invalid_field_is_reported_with_its_first_broken_rule() {
    let app = spawn_app().await;
    let body = json!({"email": "user@domain", "username": " bob", "password": "short"});
    let found = problems(app.post_json("/api/v1/auth/register", body).await).await;
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found[0].0, "email");
    assert!(
        found[0].2.starts_with("Value error, ") && found[0].2.contains("email address"),
        "{found:?}"
    );
    assert_eq!(
        found[1],
        (
            "username".into(),
            "value_error".into(),
            "Value error, The username cannot contain spaces at the beginning or end.".into()
        )
    );
    assert_eq!(found[2].0, "password");
    assert!(found[2].2.contains("at least 8"));
    assert!(found.iter().all(|(_, kind, _)| kind == "value_error"));
}

#[tokio::test]
async fn emails_the_spec_calls_invalid_are_rejected() {
    let app = spawn_app().await;
    for email in [
        "user@domain",
        "user@.com",
        "@domain.com",
        "user@",
        "user.domain.com",
    ] {
        let found = problems(app.register(email, &unique_name(), PASSWORD).await).await;
        assert_eq!(found.len(), 1, "{email}: {found:?}");
        assert_eq!(found[0].0, "email");
        assert!(found[0].2.contains("email address"), "{email}: {found:?}");
    }
}

#[tokio::test]
async fn username_rules_are_enforced_with_the_spec_messages() {
    let app = spawn_app().await;
    let cases = [
        (
            "",
            "The username cannot be empty or consist only of whitespace.",
        ),
        (
            "   ",
            "The username cannot be empty or consist only of whitespace.",
        ),
        (
            "bob ",
            "The username cannot contain spaces at the beginning or end.",
        ),
        ("ab", "between 3 and 30"),
        ("bad name", "only letters"),
        ("a__b", "consecutive"),
        ("a--b", "consecutive"),
        ("admin", "reserved"),
        ("ROOT", "reserved"),
    ];
    for (username, expected) in cases {
        let email = format!("{}@example.com", unique_name());
        let found = problems(app.register(&email, username, PASSWORD).await).await;
        assert_eq!(found.len(), 1, "{username:?}: {found:?}");
        assert_eq!(found[0].0, "username");
        assert!(found[0].2.contains(expected), "{username:?}: {found:?}");
    }
}

#[tokio::test]
async fn password_policy_follows_nist() {
    let app = spawn_app().await;
    let username = unique_name();
    let email = format!("{username}@example.com");
    let cases = [
        ("seven77".to_owned(), "at least 8"),
        ("x".repeat(129), "at most 128"),
        ("password".to_owned(), "too common"),
        ("qwertyuiop".to_owned(), "too common"),
        (email.clone(), "same as"),
        (username.clone(), "same as"),
    ];
    for (password, expected) in cases {
        let found = problems(app.register(&email, &username, &password).await).await;
        assert_eq!(found.len(), 1, "{password:?}: {found:?}");
        assert_eq!(found[0].0, "password");
        assert!(found[0].2.contains(expected), "{password:?}: {found:?}");
    }
    let response = app.register(&email, &username, &"y".repeat(128)).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "128 characters is allowed, with no composition rules"
    );
}

#[tokio::test]
async fn wrong_types_and_malformed_json_are_422() {
    let app = spawn_app().await;
    let body = json!({"email": 5, "username": ["x"], "password": true});
    let found = problems(app.post_json("/api/v1/auth/register", body).await).await;
    let kinds: Vec<&str> = found.iter().map(|(_, t, _)| t.as_str()).collect();
    assert_eq!(kinds, ["string_type", "string_type", "string_type"]);

    let response = app
        .post("/api/v1/auth/register")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(body["detail"][0]["loc"][0], "body");

    let response = app
        .post_json("/api/v1/auth/register", json!(["not", "an", "object"]))
        .await;
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["type"], "model_attributes_type");
}

#[tokio::test]
async fn username_availability_suggests_the_first_free_numbered_name() {
    let app = spawn_app().await;
    let base = unique_name();
    let check = |name: String| {
        let app = &app;
        async move {
            let response = app
                .get("/api/v1/auth/username-available")
                .query(&[("username", name)])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(
        check(base.clone()).await,
        json!({"available": true, "suggestion": null})
    );
    for name in [base.clone(), format!("{base}2"), format!("{base}3")] {
        let response = app
            .register(&format!("{}@example.com", unique_name()), &name, PASSWORD)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let answer = check(base.to_uppercase()).await;
    assert_eq!(answer["available"], false);
    assert_eq!(answer["suggestion"], format!("{}4", base.to_uppercase()));

    let response = app
        .get("/api/v1/auth/username-available")
        .send()
        .await
        .unwrap();
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["loc"], json!(["query", "username"]));
    assert_eq!(body["detail"][0]["type"], "missing");
    let response = app
        .get("/api/v1/auth/username-available?username=a__b")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// A thirty-character name has no room for its number: it is cut first,
/// and the cut name with a number may be taken too. The suggestion is free
/// when it is given, so registering it succeeds.
#[tokio::test]
async fn a_suggestion_for_a_name_cut_to_fit_its_number_is_free() {
    let app = spawn_app().await;
    let name: String = format!("{}{}", unique_name(), "x".repeat(30))
        .chars()
        .take(30)
        .collect();
    let cut = &name[..29];
    for taken in [name.clone(), format!("{cut}2")] {
        let response = app
            .register(&format!("{}@example.com", unique_name()), &taken, PASSWORD)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let answer = app
        .get("/api/v1/auth/username-available")
        .query(&[("username", &name)])
        .send()
        .await
        .unwrap();
    let answer = json_of(answer, StatusCode::OK).await;
    assert_eq!(answer["available"], false);
    assert_eq!(answer["suggestion"], format!("{cut}3"));
    let response = app
        .register(
            &format!("{}@example.com", unique_name()),
            answer["suggestion"].as_str().unwrap(),
            PASSWORD,
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "the suggestion was taken"
    );
}

#[tokio::test]
async fn the_username_lookup_uses_an_index_not_a_scan_of_every_user() {
    use tessera::users::repo::{usernames_like_params, USERNAMES_LIKE_SQL};
    let app = spawn_app().await;
    let base = unique_name();
    // Enough rows that a scan would cost more than the index, inside a
    // transaction that is rolled back: the table is left as it was.
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO users (email, username, password_hash) \
         SELECT $1 || g || '@example.com', $1 || 'x' || g, 'not a hash' \
         FROM generate_series(1, 20000) g",
    )
    .bind(&base)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("ANALYZE users")
        .execute(&mut *tx)
        .await
        .unwrap();
    let [low, high, pattern] = usernames_like_params(&format!("{base}x12"));
    // Both plans a prepared statement may get: one for these values, and the
    // generic one PostgreSQL switches to after a few executions.
    for mode in ["force_custom_plan", "force_generic_plan"] {
        sqlx::query(&format!("SET LOCAL plan_cache_mode = {mode}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {USERNAMES_LIKE_SQL}"))
            .bind(&low)
            .bind(&high)
            .bind(&pattern)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{mode}:\n{plan}");
        assert!(
            plan.contains("users_username_lower_pattern_idx"),
            "{mode}:\n{plan}"
        );
    }
    tx.rollback().await.unwrap();
}
