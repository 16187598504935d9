//! schemathesis (PyPI, installed by `scripts/test-deps.d/schemathesis.sh`)
//! generates requests from `/openapi.json` — valid ones and broken ones — and
//! checks that no answer is a server error, that every answer matches the
//! documented schema, and that every status returned is documented.
//!
//! It runs as an administrator so it gets past the role checks into every
//! handler; rate limiting is off (as in every test app).

mod common;

use std::time::Duration;

use common::spawn_app;

/// The whole run, schemathesis's own budget included, ends within this.
const DEADLINE: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_break_the_contract() {
    let app = spawn_app().await;
    let (_, tokens) = app.new_user_with_role("ADMIN").await;
    let mut command = tokio::process::Command::new("schemathesis");
    command
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance",
            "--max-examples",
            "25",
            "--max-time",
            "75",
            "--seed",
            "20261121",
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "--warnings",
            "off",
            "--no-color",
        ])
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", tokens.access))
        // The documentation pages are static files, and the hosted pages
        // (`tag = "pages"`) answer HTML to a browser: neither is the API.
        // tests/pages.rs and tests/browser.rs hold the hosted pages to
        // their documented statuses.
        .args(["--exclude-path-regex", "^/(docs|auth/|admin/|assets/)"])
        // It keeps a cache of examples in its working directory; not in
        // the repository.
        .current_dir(std::env::temp_dir())
        .kill_on_drop(true);
    let output = tokio::time::timeout(DEADLINE, command.output())
        .await
        .expect("schemathesis finished in time")
        .expect("schemathesis runs (scripts/test-deps.d/schemathesis.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    // Every selected operation was exercised, not skipped.
    let count = |label: &str| {
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .and_then(|rest| rest.split('/').next())
            .and_then(|n| n.trim().parse::<usize>().ok())
    };
    let selected = count("Selected:").expect("schemathesis reports the selected operations");
    assert!(selected > 30, "too few operations selected:\n{stdout}");
    assert_eq!(count("Tested:"), Some(selected), "{stdout}");
}
