//! The operator's commands: `tessera user create-admin`, `tessera user
//! set-role` and `tessera db reset`, run as the real binary.

mod common;

use std::process::{Output, Stdio};

use common::{
    database_url, jwt_claims, one_error_line, spawn_app, unique_name, with_throwaway_database,
    Tokens, PASSWORD,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// Runs `tessera` with `stdin` piped in (not a terminal).
async fn tessera(args: &[&str], stdin: &str, database: &str) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env("DATABASE_URL", database)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tessera");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    child.wait_with_output().await.expect("tessera output")
}

/// `tessera user create-admin` with `password` typed on stdin.
async fn create_admin(email: &str, username: &str, password: &str) -> Output {
    tessera(
        &[
            "user",
            "create-admin",
            "--email",
            email,
            "--username",
            username,
        ],
        &format!("{password}\n"),
        &database_url(),
    )
    .await
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn create_admin_reads_the_password_from_stdin_and_the_admin_can_sign_in() {
    let app = spawn_app().await;
    let username = unique_name();
    let email = format!("{username}@Example.com");
    let output = create_admin(&email, &username, PASSWORD).await;
    let id: Uuid = stdout(&output).parse().expect("the new admin's id");

    let response = app
        .login_json(json!({"email": email.to_lowercase(), "password": PASSWORD}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    assert_eq!(jwt_claims(&tokens.access)["role"], "ADMIN");
    assert_eq!(jwt_claims(&tokens.access)["sub"], id.to_string());
    let response = app
        .get_with_bearer("/api/v1/admin/check", &tokens.access)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let created = app.audit_events(id, "user_created").await;
    assert_eq!(
        created[0]["details"],
        json!({"via": "cli", "role": "ADMIN"})
    );

    // The same email or username again: one clear line, nothing created.
    let other = unique_name();
    for (email, username, needle) in [
        (email.as_str(), other.as_str(), "already exists"),
        (
            &format!("{other}@example.com"),
            username.as_str(),
            "already exists",
        ),
    ] {
        let output = create_admin(email, username, PASSWORD).await;
        assert!(one_error_line(&output).contains(needle));
    }
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE lower(username) = lower($1)")
            .bind(&other)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn create_admin_applies_the_registration_rules() {
    let username = unique_name();
    let email = format!("{username}@example.com");
    for (email, username, password, needle) in [
        (
            email.as_str(),
            username.as_str(),
            "password",
            "password rejected",
        ),
        (
            email.as_str(),
            username.as_str(),
            "short",
            "password rejected",
        ),
        (
            email.as_str(),
            username.as_str(),
            &username,
            "password rejected",
        ),
        ("user@domain", username.as_str(), PASSWORD, "invalid email"),
        (email.as_str(), "root", PASSWORD, "invalid username"),
        (email.as_str(), username.as_str(), "", "no password"),
    ] {
        let output = create_admin(email, username, password).await;
        let line = one_error_line(&output);
        assert!(line.contains(needle), "{line}");
    }
}

#[tokio::test]
async fn set_role_changes_the_role_and_the_claims_of_live_sessions() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;

    let output = tessera(
        &["user", "set-role", "--email", &user.email, "moderator"],
        "",
        &database_url(),
    )
    .await;
    assert_eq!(stdout(&output), format!("{} MODERATOR", user.id));
    let response = app.refresh(&tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated = Tokens::from_body(&response.json().await.unwrap());
    assert_eq!(jwt_claims(&rotated.access)["role"], "MODERATOR");

    let output = tessera(
        &["user", "set-role", "--username", &user.username, "ADMIN"],
        "",
        &database_url(),
    )
    .await;
    assert_eq!(stdout(&output), format!("{} ADMIN", user.id));
    let id = user.id.to_string();
    let output = tessera(
        &["user", "set-role", "--id", &id, "REGULAR"],
        "",
        &database_url(),
    )
    .await;
    assert_eq!(stdout(&output), format!("{} REGULAR", user.id));

    let changes = app.audit_events(user.id, "role_changed").await;
    assert!(!changes.is_empty());
    assert_eq!(changes[0]["details"]["via"], "cli");

    let output = tessera(
        &[
            "user",
            "set-role",
            "--email",
            "nobody-at-all@example.com",
            "ADMIN",
        ],
        "",
        &database_url(),
    )
    .await;
    assert!(one_error_line(&output).contains("no user with email nobody-at-all@example.com"));
}

async fn users(db: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(db)
        .await
}

#[tokio::test]
async fn db_reset_refuses_without_yes_and_with_it_starts_from_empty_migrated_tables() {
    with_throwaway_database(|url| async move {
        stdout(&tessera(&["migrate"], "", &url).await);
        let mut db = PgConnection::connect(&url).await.unwrap();
        sqlx::query("INSERT INTO users (email, username, password_hash) VALUES ('a@example.com', 'someone', 'x')")
            .execute(&mut db)
            .await
            .unwrap();


        let output = tessera(&["db", "reset"], "", &url).await;
        assert!(one_error_line(&output).contains("--yes"));
        assert_eq!(users(&mut db).await.unwrap(), 1);

        drop(db);
        let output = tessera(&["db", "reset", "--yes"], "", &url).await;
        assert_eq!(stdout(&output), "database reset; migrations applied");
        let mut db = PgConnection::connect(&url).await.unwrap();
        assert_eq!(users(&mut db).await.unwrap(), 0);
        let applied: Vec<Value> = sqlx::query_scalar(
            "SELECT to_jsonb(version) FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        assert_eq!(applied.len(), std::fs::read_dir("migrations").unwrap().count());
    })
    .await;
}
