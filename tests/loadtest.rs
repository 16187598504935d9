//! The load-test kit end to end: users seeded by `tessera load seed` drive
//! the real server through `examples/loadtest/locustfile.py` (Locust,
//! headless, a few seconds), each virtual user on its own rotation chain,
//! and not one request fails.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::load::{spawn_load_app, unique_tag};
use figment::Figment;

const VIRTUAL_USERS: usize = 8;
/// Locust runs 5 s; past this the test gives up on it.
const LOCUST_DEADLINE: Duration = Duration::from_secs(40);

/// Request and failure counts by request name, from Locust's `_stats.csv`.
fn counts(stats_csv: &str) -> Vec<(String, u64, u64)> {
    let mut rows = stats_csv.lines();
    let header: Vec<&str> = rows.next().expect("a header").split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim_matches('"') == name)
            .unwrap_or_else(|| panic!("no {name} column in {header:?}"))
    };
    let (name, requests, failures) = (
        column("Name"),
        column("Request Count"),
        column("Failure Count"),
    );
    rows.map(|row| {
        let cells: Vec<&str> = row.split(',').map(|c| c.trim_matches('"')).collect();
        (
            cells[name].to_owned(),
            cells[requests].parse().expect("a request count"),
            cells[failures].parse().expect("a failure count"),
        )
    })
    .collect()
}

#[tokio::test]
async fn the_locust_harness_verifies_and_refreshes_seeded_sessions_without_a_failure() {
    let app = spawn_load_app(Figment::new()).await;
    let tag = unique_tag();
    let dir = std::env::temp_dir().join(format!("tessera-locust-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let seed_file = dir.join("seed.ndjson");
    let users = VIRTUAL_USERS.to_string();
    let path = seed_file.to_str().expect("a UTF-8 temporary path");
    let seeded = app.tessera(
        &[
            "load", "seed", "--users", &users, "--tag", &tag, "--output", path,
        ],
        &[],
    );
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );

    let locustfile = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/loadtest/locustfile.py"
    );
    let csv = dir.join("run");
    let mut locust = Command::new("python3")
        .args([
            "-m",
            "locust",
            "-f",
            locustfile,
            "--headless",
            "--only-summary",
        ])
        .args([
            "-u",
            &users,
            "-r",
            &users,
            "-t",
            "5s",
            "--stop-timeout",
            "2",
        ])
        .arg("--host")
        .arg(&app.address)
        .arg("--seed-file")
        .arg(&seed_file)
        .arg("--csv")
        .arg(&csv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 -m locust (scripts/test-deps.d/locust.sh installs it)");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = locust.try_wait().expect("locust status") {
            break status;
        }
        if started.elapsed() > LOCUST_DEADLINE {
            let _ = locust.kill();
            panic!("locust still running after {LOCUST_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output = locust.wait_with_output().expect("locust output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stats = std::fs::read_to_string(dir.join("run_stats.csv"))
        .unwrap_or_else(|e| panic!("no Locust stats ({e}): {stderr}"));
    let counts = counts(&stats);
    let of = |name: &str| {
        counts
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} row in {stats}"))
    };
    let (_, verified, verify_failures) = of("verify");
    let (_, refreshed, refresh_failures) = of("refresh");
    let (_, total, failures) = of("Aggregated");
    assert_eq!(
        (verify_failures, refresh_failures, failures),
        (&0, &0, &0),
        "{stats}\n{stderr}"
    );
    assert!(*verified >= 50 && *refreshed >= 5, "{stats}");
    assert_eq!(verified + refreshed, *total);
    assert!(status.success(), "locust: {stderr}");

    let purged = app.tessera(&["load", "purge", "--tag", &tag], &[]);
    assert!(purged.status.success());
    std::fs::remove_dir_all(&dir).ok();
}
