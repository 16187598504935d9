//! A service that admits tessera's users and OAuth clients, checking tokens
//! in process:
//! `TESSERA_URL=http://127.0.0.1:8000 GATEWAY_ID=edge GATEWAY_SECRET=... \
//!  cargo run -p tessera-verify --example service`, then
//! `curl -H "Authorization: Bearer $ACCESS" http://127.0.0.1:3000/hello`.
//!
//! A DPoP-bound token (logged in with a proof) is taken too, as
//! `Authorization: DPoP $ACCESS` with a `DPoP` proof for `GET
//! $PUBLIC_URL/hello` (`PUBLIC_URL` defaults to `http://$BIND`); the
//! `dpop_client` example makes one and calls this service with it.

#![forbid(unsafe_code)]

use axum::{routing::get, Router};
use tessera_verify::{Config, Subject, Token, Verifier};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let mut config = Config::new(
        var("TESSERA_URL")?,
        var("GATEWAY_ID")?,
        var("GATEWAY_SECRET")?,
    );
    // What clients call this service by: the URL their proofs name.
    config.public_url =
        Some(std::env::var("PUBLIC_URL").unwrap_or_else(|_| format!("http://{bind}")));
    let verifier = Verifier::start(config).await?;
    let hello = |token: Token| async move {
        let who = match &token.subject {
            Subject::User { id, role, .. } => format!("user {id} ({role})"),
            Subject::Client { id } => format!("client {id}"),
        };
        // Bound or not, the extractor has checked what the token needs.
        match &token.cnf {
            Some(cnf) => format!("hello {who}, holder of DPoP key {}\n", cnf.jkt),
            None => format!("hello {who}\n"),
        }
    };
    let app = Router::new()
        .route("/hello", get(hello))
        .with_state(verifier);
    axum::serve(tokio::net::TcpListener::bind(bind).await?, app).await?;
    Ok(())
}
