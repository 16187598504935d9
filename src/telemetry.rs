//! Logging: human-readable in development, JSON in production. `RUST_LOG`
//! overrides the default level.
//!
//! Every line logged while a request is handled carries the request span's
//! fields (`method`, `path`, `request_id`): the human format prints the span
//! before the message; the JSON format has them under `span` (the innermost
//! span) and `spans` (all of them, outermost first).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not for log files.
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (tests start many apps in one process) is harmless.
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder.try_init()
    };
}
