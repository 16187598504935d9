//! The load-test kit: `tessera load seed | tokens | purge` and their HTTP
//! twins make and remove users who are real in every respect, and never
//! touch anyone else.

mod common;

use common::load::{seeded_lines, spawn_load_app, unique_tag, Seeded};
use common::servers::RedisServer;
use common::{
    assert_detail, error_locs, json_of, jwt_claims, one_error_line, pair, spawn_app, TestApp,
    PASSWORD,
};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Asserts everything a client does with a session works for `line`:
/// verify, introspection, refresh (and the new pair), and the OAuth
/// refresh grant on the rotated token's successor.
async fn assert_session_is_real(app: &TestApp, line: &Seeded) {
    let verified = app.verify(&line.tokens.access).await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(verified.headers()["x-user-id"], line.user_id.to_string());
    assert_eq!(
        verified.headers()["x-session-id"],
        line.session_id.to_string()
    );
    assert_eq!(verified.headers()["x-user-role"], "REGULAR");
    assert_eq!(verified.headers()["x-user-subscription"], "FREE");
    let introspected = app.introspect(&line.tokens.access).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["username"], line.username.as_str());
    let introspected = app.introspect(&line.tokens.refresh).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    let rotated = pair(app.refresh(&line.tokens.refresh).await).await;
    app.assert_verify(&rotated.access, StatusCode::OK).await;
    let granted = app.refresh_grant(&rotated.refresh).await;
    let granted = json_of(granted, StatusCode::OK).await;
    let granted = common::Tokens::from_body(&granted);
    app.assert_verify(&granted.access, StatusCode::OK).await;
    assert_eq!(
        jwt_claims(&granted.access)["sid"],
        line.session_id.to_string()
    );
}

/// The session behind `tokens` is refused everywhere a client would try it.
async fn assert_session_refused(app: &TestApp, tokens: &common::Tokens) {
    app.assert_revoked(tokens).await;
    assert_eq!(app.introspect(&tokens.access).await["active"], false);
}

#[tokio::test]
async fn seeded_users_log_in_and_every_kind_of_token_they_hold_works() {
    let app = spawn_load_app(Figment::new()).await;
    let (lines, stderr) = app.load_cli(&["seed", "--users", "3", "--sessions-per-user", "2"]);
    let stderr_lines: Vec<&str> = stderr.lines().collect();
    let tag = stderr_lines[0]
        .strip_prefix("tag ")
        .unwrap_or_else(|| panic!("the generated tag first: {stderr}"));
    assert!(
        stderr_lines
            .last()
            .unwrap()
            .starts_with("seeded 3 users, 6 sessions in "),
        "{stderr}"
    );
    assert_eq!(lines.len(), 6);
    let mut users: Vec<_> = lines.iter().map(|l| l.user_id).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 3, "two lines per user");
    let mut sessions: Vec<_> = lines.iter().map(|l| l.session_id).collect();
    sessions.sort();
    sessions.dedup();
    assert_eq!(sessions.len(), 6);
    // One random strong password for the run, in every line.
    let password = lines[0].password.clone().expect("the password");
    assert!(password.len() >= 20, "{password}");
    assert!(lines
        .iter()
        .all(|l| l.tag == tag && l.password.as_deref() == Some(&*password)));

    let row: (String, String, bool, bool, Option<String>) = sqlx::query_as(
        "SELECT account_role::text, account_subscription::text, is_active, is_blocked, load_tag \
         FROM users WHERE id = $1",
    )
    .bind(lines[0].user_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "REGULAR".into(),
            "FREE".into(),
            true,
            false,
            Some(tag.to_owned())
        )
    );

    assert_session_is_real(&app, &lines[0]).await;
    // A password login, by email and by username, opens a further session.
    let by_email = app
        .login_json(json!({"email": lines[2].email, "password": password}))
        .await;
    let by_email = pair(by_email).await;
    app.assert_verify(&by_email.access, StatusCode::OK).await;
    let by_name = app.password_grant(&lines[2].username, &password).await;
    assert_eq!(by_name.status(), StatusCode::OK);
    assert_eq!(app.my_sessions(&by_email.access).await.len(), 4);
    // Logout ends just that seeded session.
    let logout = app
        .post("/api/v1/auth/logout")
        .bearer_auth(&lines[1].tokens.access)
        .json(&json!({ "refresh_token": lines[1].tokens.refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_session_refused(&app, &lines[1].tokens).await;
    app.assert_verify(&lines[3].tokens.access, StatusCode::OK)
        .await;

    let output = app.tessera(&["load", "purge", "--tag", tag], &[]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        // Six seeded, one logged out, two opened by logins.
        format!("purged 3 users, 7 sessions (tag {tag})")
    );
}

#[tokio::test]
async fn an_admin_seeds_over_http_as_a_stream_and_purges_only_that_tag() {
    let app = spawn_load_app(Figment::new()).await;
    let (admin, admin_tokens) = app.new_user_with_role("ADMIN").await;
    let (bystander, bystander_tokens) = app.signed_in_user().await;
    let (tag, other_tag) = (unique_tag(), unique_tag());

    let response = app
        .seed_over_http(
            &admin_tokens.access,
            json!({"users": 4, "tag": tag, "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let lines = seeded_lines(&response.text().await.unwrap());
    assert_eq!(lines.len(), 4);
    assert!(lines
        .iter()
        .all(|l| l.tag == tag && l.password.as_deref() == Some(PASSWORD)));
    // The same tag again adds users, numbered on.
    let more = app
        .seed_over_http(&admin_tokens.access, json!({"users": 2, "tag": tag}))
        .await;
    let more = seeded_lines(&more.text().await.unwrap());
    assert_eq!(more.len(), 2);
    assert!(more
        .iter()
        .all(|m| lines.iter().all(|l| l.email != m.email)));
    assert_eq!(app.tagged_users(&tag).await, 6);
    let others = app
        .seed_over_http(&admin_tokens.access, json!({"users": 2, "tag": other_tag}))
        .await;
    let others = seeded_lines(&others.text().await.unwrap());
    assert_session_is_real(&app, &lines[3]).await;
    let login = app
        .login_json(json!({"username": lines[0].username, "password": PASSWORD}))
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    let seeded = app.audit_events_by(admin.id, "load_seeded", 3).await;
    assert_eq!(seeded.len(), 3);

    let purged = app.purge_over_http(&admin_tokens.access, &tag).await;
    // Six users; seven sessions: one each, and the login's.
    assert_eq!(
        json_of(purged, StatusCode::OK).await,
        json!({"users": 6, "sessions": 7})
    );
    for line in lines.iter().chain(&more) {
        assert_session_refused(&app, &line.tokens).await;
    }
    assert_eq!(app.tagged_users(&tag).await, 0);
    let gone: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = ANY($1)")
        .bind(lines.iter().map(|l| l.user_id).collect::<Vec<_>>())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(gone, 0, "hard-deleted, not soft");
    let login = app
        .login_json(json!({"email": lines[0].email, "password": PASSWORD}))
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    // The other tag, the untagged user and the admin are untouched.
    assert_eq!(app.tagged_users(&other_tag).await, 2);
    for line in &others {
        app.assert_verify(&line.tokens.access, StatusCode::OK).await;
    }
    app.assert_verify(&bystander_tokens.access, StatusCode::OK)
        .await;
    app.login(&bystander).await;
    // Purging again finds nothing.
    let again = app.purge_over_http(&admin_tokens.access, &tag).await;
    assert_eq!(
        json_of(again, StatusCode::OK).await,
        json!({"users": 0, "sessions": 0})
    );
    let purged = app.audit_events_by(admin.id, "load_purged", 2).await;
    // Newest first: the empty purge, then the real one.
    assert_eq!(
        purged[1]["details"],
        json!({"tag": tag, "users": 6, "sessions": 7})
    );
    let cleanup = app.purge_over_http(&admin_tokens.access, &other_tag).await;
    assert_eq!(cleanup.status(), StatusCode::OK);
}

#[tokio::test]
async fn load_tokens_mints_fresh_sessions_for_a_tags_users() {
    let app = spawn_load_app(Figment::new()).await;
    let tag = unique_tag();
    let (seeded, _) = app.load_cli(&[
        "seed",
        "--users",
        "3",
        "--tag",
        &tag,
        "--password",
        PASSWORD,
    ]);
    let (fresh, stderr) = app.load_cli(&[
        "tokens",
        "--tag",
        &tag,
        "--sessions-per-user",
        "2",
        "--password",
        PASSWORD,
    ]);
    assert!(
        stderr.trim_end().ends_with(" s") && stderr.contains("minted 6 sessions for 3 users"),
        "{stderr}"
    );
    assert_eq!(fresh.len(), 6);
    for line in &fresh {
        assert_eq!(line.password.as_deref(), Some(PASSWORD));
        assert!(seeded
            .iter()
            .any(|s| s.user_id == line.user_id && s.email == line.email));
        assert!(seeded.iter().all(|s| s.session_id != line.session_id));
    }
    assert_session_is_real(&app, &fresh[5]).await;
    // The first sessions live on beside the new ones.
    app.assert_verify(&seeded[0].tokens.access, StatusCode::OK)
        .await;
    // Without the password the lines say null: none is stored to print.
    let (unknown, _) = app.load_cli(&["tokens", "--tag", &tag]);
    assert_eq!(unknown.len(), 3);
    assert!(unknown.iter().all(|l| l.password.is_none()));
    // A wrong password or an unknown tag: one line, nothing minted.
    let wrong = app.tessera(
        &[
            "load",
            "tokens",
            "--tag",
            &tag,
            "--password",
            "not the one at all",
        ],
        &[],
    );
    assert!(one_error_line(&wrong).contains("password does not match"));
    assert!(wrong.stdout.is_empty());
    let unknown_tag = app.tessera(&["load", "tokens", "--tag", &unique_tag()], &[]);
    assert!(one_error_line(&unknown_tag).contains("no live user has this tag"));

    let output = app.tessera(&["load", "purge", "--tag", &tag], &[]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("purged 3 users, 12 sessions (tag {tag})")
    );
    for line in seeded.iter().chain(&fresh).chain(&unknown) {
        assert_session_refused(&app, &line.tokens).await;
    }
}

#[tokio::test]
async fn a_purge_leaves_users_without_the_tag_alone_even_with_a_similar_one() {
    let app = spawn_load_app(Figment::new()).await;
    let tag = unique_tag();
    // A tag that extends the purged one, and a real user whose username
    // looks like a seeded one.
    let longer = format!("{tag}9");
    let (doomed, _) = app.load_cli(&["seed", "--users", "2", "--tag", &tag]);
    let (kept, _) = app.load_cli(&["seed", "--users", "2", "--tag", &longer]);
    let lookalike = format!("{tag}_77");
    let response = app
        .register(&format!("load-{tag}-77@example.com"), &lookalike, PASSWORD)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let output = app.tessera(&["load", "purge", "--tag", &tag], &[]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("purged 2 users, 2 sessions (tag {tag})")
    );
    for line in &doomed {
        assert_session_refused(&app, &line.tokens).await;
    }
    for line in &kept {
        app.assert_verify(&line.tokens.access, StatusCode::OK).await;
    }
    let login = app
        .login_json(json!({"username": lookalike, "password": PASSWORD}))
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    assert!(app
        .tessera(&["load", "purge", "--tag", &longer], &[])
        .status
        .success());
}

#[tokio::test]
async fn with_load_disabled_the_routes_answer_like_an_unknown_path() {
    let app = spawn_app().await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let unknown = app
        .post_with_bearer("/api/v1/admin/no-such-route", &admin.access)
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let unknown: Value = unknown.json().await.unwrap();
    let seed = app.seed_over_http(&admin.access, json!({"users": 1})).await;
    assert_eq!(seed.status(), StatusCode::NOT_FOUND);
    assert_eq!(seed.json::<Value>().await.unwrap(), unknown);
    let purge = app.purge_over_http(&admin.access, "anytag").await;
    assert_eq!(purge.status(), StatusCode::NOT_FOUND);
    assert_eq!(purge.json::<Value>().await.unwrap(), unknown);
    // Before authentication too: nothing tells a scan the route exists.
    let anonymous = app.post("/api/v1/admin/load/seed").send().await.unwrap();
    assert_detail(anonymous, StatusCode::NOT_FOUND, "Not Found").await;
    // Nor does any other method (a 405 would say the path is served).
    for path in ["/api/v1/admin/load/seed", "/api/v1/admin/load/anytag"] {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let answer = app
                .client
                .request(method.clone(), app.url(path))
                .bearer_auth(&admin.access)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(
                answer.json::<Value>().await.unwrap(),
                unknown,
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn only_an_admin_may_seed_or_purge() {
    let app = spawn_load_app(Figment::new()).await;
    let regular = app.login(&app.new_user().await).await;
    let (_, moderator) = app.new_user_with_role("MODERATOR").await;
    let tag = unique_tag();
    for caller in [&regular, &moderator] {
        let seed = app
            .seed_over_http(&caller.access, json!({"users": 1, "tag": tag}))
            .await;
        assert_detail(seed, StatusCode::FORBIDDEN, "Not enough permissions").await;
        let purge = app.purge_over_http(&caller.access, &tag).await;
        assert_detail(purge, StatusCode::FORBIDDEN, "Not enough permissions").await;
    }
    let anonymous = app
        .post("/api/v1/admin/load/seed")
        .json(&json!({"users": 1, "tag": tag}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.tagged_users(&tag).await, 0);
}

#[tokio::test]
async fn bad_options_are_422s_naming_every_field_and_one_line_on_the_command_line() {
    let app = spawn_load_app(Figment::new()).await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let body = json!({
        "users": 0, "sessions_per_user": "many", "tag": "Not-A-Tag",
        "password": "password", "access_ttl": 99999,
    });
    let response = app.seed_over_http(&admin.access, body).await;
    let body = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error_locs(&body),
        [
            &json!(["body", "users"]),
            &json!(["body", "sessions_per_user"]),
            &json!(["body", "tag"]),
            &json!(["body", "password"]),
            &json!(["body", "access_ttl"]),
        ]
    );
    assert_eq!(body["detail"][1]["type"], "int_parsing");
    assert_eq!(
        body["detail"][0]["msg"],
        "Value error, must be between 1 and 10000"
    );
    // One request is bounded: users, and users × sessions.
    for too_big in [
        json!({"users": 10_001}),
        json!({"users": 10_000, "sessions_per_user": 3}),
        json!({"users": 1, "sessions_per_user": 101}),
        json!({}),
    ] {
        let response = app.seed_over_http(&admin.access, too_big.clone()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{too_big}"
        );
    }
    let purge = app.purge_over_http(&admin.access, "UPPER").await;
    let purge = json_of(purge, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_locs(&purge), [&json!(["path", "tag"])]);

    let output = app.tessera(&["load", "seed", "--users", "0", "--tag", "x!"], &[]);
    let line = one_error_line(&output);
    assert!(line.contains("--users: must be between 1 and"), "{line}");
    assert!(line.contains("--tag: a tag is 1 to 16"), "{line}");
    let output = app.tessera(&["load", "seed", "--users", "ten"], &[]);
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr)
            .trim()
            .lines()
            .count(),
        1
    );
    let output = app.tessera(
        &[
            "load",
            "seed",
            "--users",
            "1",
            "--output",
            "/nonexistent/dir/out.ndjson",
        ],
        &[],
    );
    assert!(one_error_line(&output).contains("/nonexistent/dir/out.ndjson"));
}

#[tokio::test]
async fn the_access_ttl_is_capped_by_load_max_access_ttl_secs() {
    let app =
        spawn_load_app(Figment::new().merge(Serialized::default("load.max_access_ttl_secs", 120)))
            .await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let lifetime = |line: &Seeded| {
        let claims = jwt_claims(&line.tokens.access);
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap()
    };
    let tag = unique_tag();
    let at_cap = app
        .seed_over_http(
            &admin.access,
            json!({"users": 1, "tag": tag, "access_ttl": 120}),
        )
        .await;
    assert_eq!(
        lifetime(&seeded_lines(&at_cap.text().await.unwrap())[0]),
        120
    );
    let over = app
        .seed_over_http(
            &admin.access,
            json!({"users": 1, "tag": tag, "access_ttl": 121}),
        )
        .await;
    let over = json_of(over, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        over["detail"][0]["msg"],
        "Value error, must be between 1 and 120"
    );
    // jwt.access_ttl_secs (900) is over the cap: the default is the cap.
    let default = app
        .seed_over_http(&admin.access, json!({"users": 1, "tag": tag}))
        .await;
    assert_eq!(
        lifetime(&seeded_lines(&default.text().await.unwrap())[0]),
        120
    );
    // The command line reads the same key.
    let env = [("TESSERA__LOAD__MAX_ACCESS_TTL_SECS", "120")];
    let output = app.tessera(
        &["load", "seed", "--users", "1", "--access-ttl", "121"],
        &env,
    );
    assert!(one_error_line(&output).contains("--access-ttl: must be between 1 and 120"));
    let (short, _) = app.load_cli(&["seed", "--users", "1", "--tag", &tag, "--access-ttl", "30"]);
    assert_eq!(lifetime(&short[0]), 30);
    let purged = app.purge_over_http(&admin.access, &tag).await;
    assert_eq!(
        json_of(purged, StatusCode::OK).await,
        json!({"users": 3, "sessions": 3})
    );
}

#[tokio::test]
async fn seeding_and_purging_work_on_a_redis_cluster() {
    let cluster = common::servers::RedisCluster::start(3);
    let app = spawn_load_app(
        Figment::new()
            // An unreachable single Redis: only the cluster can answer.
            .merge(Serialized::default("redis.url", "redis://127.0.0.1:1"))
            .merge(Serialized::default("redis.cluster_nodes", cluster.urls())),
    )
    .await;
    let (_, admin) = app.new_user_with_role("ADMIN").await;
    let tag = unique_tag();
    let seeded = app
        .seed_over_http(&admin.access, json!({"users": 40, "tag": tag}))
        .await;
    assert_eq!(seeded.status(), StatusCode::OK);
    let lines = seeded_lines(&seeded.text().await.unwrap());
    assert_eq!(lines.len(), 40);
    // Each session's script ran on the master owning its user's slot.
    let keys_per_node = cluster.keys_per_node();
    assert!(
        keys_per_node.iter().all(|&n| n > 0),
        "sessions missing from a master: {keys_per_node:?}"
    );
    for line in &lines {
        app.assert_verify(&line.tokens.access, StatusCode::OK).await;
    }
    assert_session_is_real(&app, &lines[0]).await;
    let purged = app.purge_over_http(&admin.access, &tag).await;
    assert_eq!(
        json_of(purged, StatusCode::OK).await,
        json!({"users": 40, "sessions": 40})
    );
    for line in &lines {
        app.assert_revoked(&line.tokens).await;
    }
}

#[tokio::test]
async fn a_seed_that_cannot_reach_redis_or_postgresql_makes_nobody_and_says_so_in_one_line() {
    let app = spawn_load_app(Figment::new()).await;
    let tag = unique_tag();
    let args = ["load", "seed", "--users", "3", "--tag", &tag];
    let output = app.tessera(&args, &[("REDIS_URL", "redis://127.0.0.1:1")]);
    assert!(one_error_line(&output).contains("cannot reach Redis"));
    assert!(output.stdout.is_empty());
    assert_eq!(app.tagged_users(&tag).await, 0, "no user without a session");
    let unreachable = "postgres://postgres@127.0.0.1:1/tessera";
    let started = std::time::Instant::now();
    let output = app.tessera(&args, &[("DATABASE_URL", unreachable)]);
    assert!(one_error_line(&output).contains("cannot reach PostgreSQL"));
    let output = app.tessera(
        &["load", "purge", "--tag", &tag],
        &[("DATABASE_URL", unreachable)],
    );
    assert!(one_error_line(&output).contains("cannot reach PostgreSQL"));
    // Each within database.acquire_timeout_ms (3 s), with room for a slow machine.
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

#[tokio::test]
async fn a_purge_tells_offline_gateways_that_each_user_is_deleted() {
    let app = spawn_load_app(Figment::new()).await;
    let tag = unique_tag();
    let (seeded, _) = app.load_cli(&["seed", "--users", "2", "--tag", &tag]);
    let purged_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let output = app.tessera(&["load", "purge", "--tag", &tag], &[]);
    assert!(output.status.success());
    for line in &seeded {
        let events: Vec<Value> = app
            .revocations_of(line.user_id)
            .await
            .into_iter()
            .filter(|event| event["kind"] == "user")
            .collect();
        assert_eq!(events.len(), 1, "user {}: {events:?}", line.user_id);
        assert_eq!(events[0]["reason"], "deleted");
        // The one event outlives every token of theirs (a seeded token
        // lives at most load.max_access_ttl_secs, 3600 s), so no session
        // needs an event of its own.
        let not_before = events[0]["not_before"].as_u64().expect("not_before");
        assert!(not_before > purged_at + 3600, "{events:?}");
        let ended: Vec<Value> = app.revocations_of(line.session_id).await;
        assert_eq!(ended, Vec::<Value>::new(), "session {}", line.session_id);
    }
}

/// A purge ends each user's sessions in one script, so a user with many
/// sessions is much Redis work: the purge must keep few such calls in
/// flight, or the last of them waits past `redis.timeout_ms` and the purge
/// fails half-way (it did at 512 in flight: 10,000 users of 99 sessions).
#[tokio::test]
async fn a_purge_of_users_with_many_sessions_each_keeps_within_the_redis_timeout() {
    let app = spawn_load_app(Figment::new()).await;
    // A Redis of its own, so the other tests' traffic is not in the queue
    // this test measures (and its 60,000 sessions are not in theirs).
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let tag = unique_tag();
    // The seed is not what is tested: it gets time to spare on a busy
    // machine.
    let seed = app.tessera(
        &[
            "load",
            "seed",
            "--users",
            "600",
            "--sessions-per-user",
            "100",
            "--tag",
            &tag,
            "--output",
            "/dev/null",
        ],
        &[
            ("REDIS_URL", &redis_url),
            ("TESSERA__REDIS__TIMEOUT_MS", "10000"),
        ],
    );
    assert!(
        seed.status.success(),
        "seed failed: {}",
        String::from_utf8_lossy(&seed.stderr)
    );
    // About 0.7 ms of Redis per user: with 512 calls in flight half of them
    // waited over 0.3 s; with 32, under 50 ms.
    let output = app.tessera(
        &["load", "purge", "--tag", &tag],
        &[
            ("REDIS_URL", &redis_url),
            ("TESSERA__REDIS__TIMEOUT_MS", "300"),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "purge failed: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("purged 600 users, 60000 sessions"),
        "{stdout}"
    );
    assert_eq!(app.tagged_users(&tag).await, 0);
}
