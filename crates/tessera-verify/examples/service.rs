//! A service that admits tessera's users and OAuth clients, checking tokens
//! in process:
//! `TESSERA_URL=http://127.0.0.1:8000 GATEWAY_ID=edge GATEWAY_SECRET=... \
//!  cargo run -p tessera-verify --example service`, then
//! `curl -H "Authorization: Bearer $ACCESS" http://127.0.0.1:3000/hello`.

#![forbid(unsafe_code)]

use axum::{routing::get, Router};
use tessera_verify::{Config, Subject, Token, Verifier};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let config = Config::new(
        var("TESSERA_URL")?,
        var("GATEWAY_ID")?,
        var("GATEWAY_SECRET")?,
    );
    let verifier = Verifier::start(config).await?;
    let hello = |token: Token| async move {
        match &token.subject {
            Subject::User { id, role, .. } => format!("hello user {id} ({role})\n"),
            Subject::Client { id } => format!("hello client {id}\n"),
        }
    };
    let app = Router::new()
        .route("/hello", get(hello))
        .with_state(verifier);
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    axum::serve(tokio::net::TcpListener::bind(bind).await?, app).await?;
    Ok(())
}
