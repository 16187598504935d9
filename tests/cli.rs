//! The `tessera` command line: keys, migrations, serving, and failures that
//! exit non-zero with one clear line.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{database_url, free_port, one_error_line, with_throwaway_database};
use sqlx::{Connection, PgConnection};

fn tessera(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.args(args).stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run tessera")
}

#[test]
fn keys_generate_adds_a_newer_signing_key() {
    let dir = std::env::temp_dir().join(format!("tessera-cli-keys-{}", uuid::Uuid::new_v4()));
    let dir_str = dir.to_str().unwrap();
    let first = tessera(
        &["keys", "generate"],
        &[("TESSERA__JWT__KEYS_DIR", dir_str)],
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    std::thread::sleep(Duration::from_millis(5));
    let second = tessera(
        &["keys", "generate"],
        &[("TESSERA__JWT__KEYS_DIR", dir_str)],
    );
    // One new key id a line: the first run also made the RSA key, the
    // second only an Ed25519 key.
    let lines: Vec<Vec<String>> = [first, second]
        .iter()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    assert_eq!((lines[0].len(), lines[1].len()), (2, 1), "{lines:?}");
    let kids = [&lines[0][0], &lines[1][0]];
    assert!(kids[0] < kids[1], "{kids:?}");
    let keys = tessera::tokens::KeySet::load(&dir).unwrap();
    assert_eq!(keys.signing_kid(), kids[1]);
    assert_eq!(keys.rsa_signing_kid(), Some(lines[0][1].as_str()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_config_file_is_one_clear_line() {
    let output = tessera(&["--config", "/nonexistent/tessera.toml", "migrate"], &[]);
    assert!(one_error_line(&output).contains("/nonexistent/tessera.toml"));
    let output = tessera(&["migrate"], &[("TESSERA__SERVER__BIND", "not an address")]);
    assert!(one_error_line(&output).contains("invalid configuration"));
}

#[test]
fn migrate_applies_and_is_idempotent() {
    let url = database_url();
    for _ in 0..2 {
        let output = tessera(&["migrate"], &[("DATABASE_URL", &url)]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Every table, index, type, trigger and function in the public schema,
/// each with what makes it what it is (columns with their types, indexes
/// with their definition and whether they are usable), sorted.
async fn schema(db: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'table ' || tablename FROM pg_tables WHERE schemaname = 'public' \
         UNION ALL SELECT 'column ' || table_name || '.' || column_name || ' ' || udt_name \
           || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END \
           FROM information_schema.columns WHERE table_schema = 'public' \
         UNION ALL SELECT 'index ' || c.relname || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END \
           || ': ' || pg_get_indexdef(i.indexrelid) \
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' \
         UNION ALL SELECT 'type ' || t.typname FROM pg_type t \
           JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e' \
         UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal \
         UNION ALL SELECT 'function ' || p.proname FROM pg_proc p \
           JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' \
         ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .expect("read the schema")
}

/// The applied migrations as recorded: version, checksum and when.
async fn applied_migrations(db: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT version || ' ' || encode(checksum, 'hex') || ' ' || installed_on \
         FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(db)
    .await
    .expect("read _sqlx_migrations")
}

fn migrate(database_url: &str) {
    let output = tessera(&["migrate"], &[("DATABASE_URL", database_url)]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "migrations applied"
    );
}

#[tokio::test]
async fn migrate_builds_the_whole_schema_in_an_empty_database_and_then_has_nothing_to_do() {
    with_throwaway_database(|url| async move {
        let mut db = PgConnection::connect(&url).await.expect("the new database");
        assert_eq!(schema(&mut db).await, Vec::<String>::new());

        migrate(&url);
        let built = schema(&mut db).await;
        let names: Vec<&str> = built
            .iter()
            .filter(|entry| !entry.starts_with("column "))
            .map(|entry| entry.split(':').next().unwrap_or(entry))
            .collect();
        assert_eq!(
            names,
            [
                "function set_updated_at",
                "index _sqlx_migrations_pkey",
                "index audit_events_actor_idx",
                "index audit_events_kind_idx",
                "index audit_events_occurred_at_idx",
                "index audit_events_pkey",
                "index audit_events_subject_idx",
                "index oauth_clients_pkey",
                "index oauth_consents_pkey",
                "index user_passkeys_credential_id_key",
                "index user_passkeys_pkey",
                "index user_passkeys_user_id",
                "index user_recovery_codes_pkey",
                "index user_totp_pkey",
                "index users_created_at_idx",
                "index users_email_key",
                "index users_load_tag_idx",
                "index users_pkey",
                "index users_username_lower_key",
                "index users_username_lower_pattern_idx",
                "table _sqlx_migrations",
                "table audit_events",
                "table oauth_clients",
                "table oauth_consents",
                "table user_passkeys",
                "table user_recovery_codes",
                "table user_totp",
                "table users",
                "trigger oauth_clients_set_updated_at",
                "trigger users_set_updated_at",
                "type account_role",
                "type account_subscription",
            ]
        );
        assert!(built.contains(&"column users.balance numeric not null".to_owned()));
        assert!(built.contains(&"column users.load_tag text".to_owned()));
        let applied = applied_migrations(&mut db).await;
        assert_eq!(
            applied.len(),
            std::fs::read_dir("migrations").unwrap().count()
        );

        // A second run applies nothing and changes nothing.
        migrate(&url);
        assert_eq!(schema(&mut db).await, built);
        assert_eq!(applied_migrations(&mut db).await, applied);
    })
    .await;
}

#[test]
fn migrate_against_an_unreachable_database_fails_fast() {
    let start = Instant::now();
    let output = tessera(
        &["migrate"],
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"),
            ("TESSERA__DATABASE__ACQUIRE_TIMEOUT_MS", "500"),
        ],
    );
    assert!(one_error_line(&output).contains("cannot apply migrations"));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn production_refuses_to_start_without_keys_or_rotation_secret() {
    let empty = std::env::temp_dir().join(format!("tessera-cli-empty-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&empty).unwrap();
    let output = tessera(
        &["serve"],
        &[
            ("TESSERA__ENV", "production"),
            ("TESSERA__JWT__KEYS_DIR", empty.to_str().unwrap()),
        ],
    );
    assert!(one_error_line(&output).contains("rotation_secret"));
    let output = tessera(
        &["serve"],
        &[
            ("TESSERA__ENV", "production"),
            ("TESSERA__JWT__KEYS_DIR", empty.to_str().unwrap()),
            (
                "TESSERA__SESSION__ROTATION_SECRET",
                "a production rotation secret of 32+ bytes",
            ),
            ("TESSERA__SERVER__BIND", "127.0.0.1:0"),
        ],
    );
    assert!(one_error_line(&output).contains("no signing keys"));
}

#[test]
fn serve_honours_environment_overrides_and_stops_on_sigterm() {
    let port = free_port();
    let keys = common::keys_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("serve")
        .env("TESSERA__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("TESSERA__JWT__KEYS_DIR", keys)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answered = false;
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream
                .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            answered =
                response.starts_with("HTTP/1.1 200") && response.contains("\"status\":\"ok\"");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        answered,
        "serve did not answer on the port from TESSERA__SERVER__BIND"
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM should end serve cleanly: {status:?}"
    );
}

#[test]
fn a_usage_mistake_is_one_clear_line() {
    let output = tessera(&["user", "set-role"], &[]);
    assert!(one_error_line(&output).contains("tessera --help"));
    let output = tessera(&["serve", "--no-such-flag"], &[]);
    assert!(one_error_line(&output).contains("--no-such-flag"));
    let help = tessera(&["--help"], &[]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("serve"));
}

/// `tessera serve` that must refuse to start: its output once it exits,
/// failing (after killing it) if it is still serving after 15 s.
fn serve_refused(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("run tessera");
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("poll tessera").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("kill tessera");
            child.wait().expect("reap tessera");
            panic!("tessera {args:?} started serving instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("tessera output")
}

/// `tessera serve` with `env = "production"` and `settings` on top of a
/// configuration that production would otherwise accept.
fn serve_in_production(settings: &str) -> Output {
    let dir = std::env::temp_dir().join(format!("tessera-cli-prod-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tessera.toml");
    std::fs::write(
        &file,
        format!(
            "env = \"production\"\n\
             [server]\nbind = \"127.0.0.1:0\"\n\
             [session]\nrotation_secret = \"{}\"\n\
             {settings}\n",
            common::ROTATION_SECRET
        ),
    )
    .unwrap();
    let keys = common::keys_dir();
    let output = serve_refused(
        &["--config", file.to_str().unwrap(), "serve"],
        &[("TESSERA__JWT__KEYS_DIR", keys.to_str().unwrap())],
    );
    std::fs::remove_dir_all(&dir).unwrap();
    output
}

#[test]
fn production_refuses_an_empty_gateway_client_secret() {
    let line = one_error_line(&serve_in_production(
        "[gateway]\nclients = [{ id = \"edge\", secret = \"\" }]",
    ));
    assert!(
        line.contains("gateway.clients entry \"edge\" has an empty secret"),
        "{line}"
    );
}

#[test]
fn production_refuses_smtp_credentials_over_plain_text() {
    let line = one_error_line(&serve_in_production(
        "[smtp]\nhost = \"mail.example.com\"\ntls = \"none\"\nusername = \"mailer\"\npassword = \"hunter2\"",
    ));
    assert!(line.contains("smtp.tls = \"none\""), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
}

/// In development too: `*` with credentials used to panic at start-up.
#[test]
fn a_wildcard_cors_origin_is_one_clear_line_not_a_panic() {
    let keys = common::keys_dir();
    let output = serve_refused(
        &["serve"],
        &[
            ("TESSERA__SERVER__BIND", "127.0.0.1:0"),
            ("TESSERA__JWT__KEYS_DIR", keys.to_str().unwrap()),
            ("TESSERA__SERVER__CORS_ALLOWED_ORIGINS", "[\"*\"]"),
        ],
    );
    let line = one_error_line(&output);
    assert!(
        line.contains("cors_allowed_origins cannot contain \"*\""),
        "{line}"
    );
}
