//! A snapshot of a large revocation feed is read a page at a time: it comes
//! back whole and in order, and no read holds Redis (and every request
//! behind it) for long. One script over the whole window took Redis for as
//! long as the window was large.
//!
//! A test binary of its own, so that it runs with no other test beside it
//! (`cargo test` runs one test binary at a time). Its app spends 8–12 s of
//! one core on the 100,000 events in the unoptimised test build, and its
//! bound is Redis's wall-clock time per read: among the 15 tests of
//! `revocation_feed.rs`, on 2 cores, the snapshot ran past the app's
//! request deadline and the reads past 20 ms, and its work slowed the
//! others' one-second bounds in turn.

mod common;

use std::time::Duration;

use common::revocations::feed_overrides;
use common::servers::RedisServer;
use common::spawn_app_with;
use figment::providers::Serialized;
use reqwest::StatusCode;
use serde_json::Value;

/// As many revocations as a mass logout makes.
const EVENTS: usize = 100_000;

/// The longest a read may hold Redis.
const LONG: Duration = Duration::from_millis(20);

#[tokio::test]
async fn a_snapshot_of_a_large_feed_is_whole_and_never_holds_redis_for_long() {
    let redis = RedisServer::start();
    // Appended in one go, before the app starts: the script holds this
    // Redis for 0.5–3 s, and redis-cli this thread, on which the app's
    // tasks would run.
    let appended = redis.cli(&[
        "eval",
        "for i = 1, tonumber(ARGV[1]) do
           redis.call('XADD', KEYS[1], '*', 'kind', 'user',
             'id', string.format('00000000-0000-4000-8000-%012d', i),
             'nbf', '1', 'reason', 'logout_all')
         end
         return redis.call('XLEN', KEYS[1])",
        "1",
        "tessera:revocations",
        &EVENTS.to_string(),
    ]);
    assert_eq!(appended.trim(), EVENTS.to_string(), "the feed's events");
    let app = spawn_app_with(
        feed_overrides()
            .merge(Serialized::default("redis.url", redis.url()))
            // Reading, parsing and serialising 100,000 events takes the
            // unoptimised build 8–12 s on an idle core (an optimised one
            // well under a second): past the 10 s request deadline, which
            // answered 503 REQUEST_TIMEOUT. That deadline is not under test.
            .merge(Serialized::default("server.request_timeout_ms", 120_000)),
    )
    .await;
    redis.cli(&[
        "config",
        "set",
        "slowlog-log-slower-than",
        &LONG.as_micros().to_string(),
    ]);
    redis.cli(&["config", "set", "slowlog-max-len", "1000"]);
    redis.cli(&["slowlog", "reset"]);

    let response = app.feed_get("/api/v1/revocations/snapshot").await;
    let status = response.status();
    let body = response.text().await.expect("snapshot body");
    assert_eq!(status, StatusCode::OK, "{body}");
    let snapshot: Value = serde_json::from_str(&body).expect("snapshot json");
    let events = snapshot["events"].as_array().expect("events");
    assert_eq!(events.len(), EVENTS);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            event["id"],
            format!("00000000-0000-4000-8000-{:012}", i + 1),
            "event {i}"
        );
    }
    assert_eq!(snapshot["next"], events[EVENTS - 1]["seq"]);

    // The slowlog's clock is the wall's: it also counts the moments Redis
    // waited for a core (another process's, or the host's: this virtual
    // machine's cores are shared), so a read of 5–10 ms is logged at
    // 20–60 ms a few times in a hundred (a dozen times under load). A read
    // logged as long is timed again, best of 5: one that holds Redis long
    // by itself (a script over the whole window, or pages of 5,000) is long
    // every time.
    let long: Vec<String> = redis
        .slowlog()
        .into_iter()
        .filter_map(|logged| match redis.best_time(&logged, 5) {
            Ok(best) if best <= LONG => None,
            again => Some(format!(
                "{:?}: {:?}, then best of 5: {again:?}",
                logged.args, logged.took
            )),
        })
        .collect();
    assert!(long.is_empty(), "reads over {LONG:?}: {long:#?}");
}
