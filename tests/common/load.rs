//! Helpers for the load-test kit: an app with `load.enabled`, the
//! `tessera load` command pointed at a test app's database, Redis and keys,
//! and the NDJSON lines both answer with.

use std::process::{Command, Output, Stdio};

use figment::providers::Serialized;
use figment::Figment;
use reqwest::Response;
use serde_json::Value;
use uuid::Uuid;

use super::{database_url, keys_dir, redis_url, spawn_app_with, TestApp, Tokens, ROTATION_SECRET};

/// An app serving the load routes (and the introspection client).
pub async fn spawn_load_app(overrides: Figment) -> TestApp {
    spawn_app_with(
        super::gateway_overrides()
            .merge(Serialized::default("load.enabled", true))
            .merge(overrides),
    )
    .await
}

/// One NDJSON line of a seed or `load tokens`.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub tag: String,
    pub user_id: Uuid,
    pub email: String,
    pub username: String,
    pub password: Option<String>,
    pub session_id: Uuid,
    pub tokens: Tokens,
}

/// Every line of an NDJSON answer, each checked to hold exactly the eight
/// keys of the contract.
pub fn seeded_lines(ndjson: &str) -> Vec<Seeded> {
    ndjson
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("a JSON line");
            let mut keys: Vec<&str> = value
                .as_object()
                .expect("an object")
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                [
                    "access_token",
                    "email",
                    "password",
                    "refresh_token",
                    "session_id",
                    "tag",
                    "user_id",
                    "username"
                ],
                "{line}"
            );
            let text = |key: &str| value[key].as_str().expect(key).to_owned();
            Seeded {
                tag: text("tag"),
                user_id: text("user_id").parse().expect("a user id"),
                email: text("email"),
                username: text("username"),
                password: value["password"].as_str().map(str::to_owned),
                session_id: text("session_id").parse().expect("a session id"),
                tokens: Tokens::from_body(&value),
            }
        })
        .collect()
}

/// A tag no other test uses.
pub fn unique_tag() -> String {
    format!("t{}", &Uuid::new_v4().simple().to_string()[..12])
}

impl TestApp {
    /// `tessera <args>` against this app's database, Redis, signing keys
    /// and token secret (and `env` on top).
    pub fn tessera(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .args(args)
            .stdin(Stdio::null())
            .env("DATABASE_URL", database_url())
            .env("REDIS_URL", redis_url())
            .env("TESSERA__JWT__KEYS_DIR", keys_dir())
            .env("TESSERA__SESSION__ROTATION_SECRET", ROTATION_SECRET);
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("run tessera")
    }

    /// `tessera load <args>`, which must succeed; its lines and stderr.
    pub fn load_cli(&self, args: &[&str]) -> (Vec<Seeded>, String) {
        let mut all = vec!["load"];
        all.extend_from_slice(args);
        let output = self.tessera(&all, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "tessera load {args:?}: {stderr}");
        (
            seeded_lines(&String::from_utf8_lossy(&output.stdout)),
            stderr,
        )
    }

    /// `POST /api/v1/admin/load/seed` as `bearer`.
    pub async fn seed_over_http(&self, bearer: &str, body: Value) -> Response {
        self.post("/api/v1/admin/load/seed")
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .expect("seed request")
    }

    /// `DELETE /api/v1/admin/load/{tag}` as `bearer`.
    pub async fn purge_over_http(&self, bearer: &str, tag: &str) -> Response {
        self.delete(&format!("/api/v1/admin/load/{tag}"))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("purge request")
    }

    /// How many users carry `tag` in PostgreSQL.
    pub async fn tagged_users(&self, tag: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM users WHERE load_tag = $1")
            .bind(tag)
            .fetch_one(&self.pool)
            .await
            .expect("count tagged users")
    }

    /// The audit events of `kind` done by `actor`, newest first, once there
    /// are `expected` of them (the writer flushes in the background).
    pub async fn audit_events_by(&self, actor: Uuid, kind: &str, expected: usize) -> Vec<Value> {
        self.audit_rows_at_least(
            "SELECT jsonb_build_object('kind', kind, 'details', details) FROM audit_events \
             WHERE actor_id = $1 AND kind = $2 ORDER BY id DESC",
            actor,
            kind,
            expected,
        )
        .await
    }
}
