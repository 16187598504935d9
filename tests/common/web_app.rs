//! A web app registered for the authorization code flow, as the browser
//! stories of the hosted sign-in use it: a tessera whose issuer is its own
//! address, a confidential first-party client, the authorization request
//! with PKCE, and a page standing in for the app's callback.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use figment::providers::Serialized;
use figment::Figment;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::pages::spawn_app_at_own_url;
use super::TestApp;

/// The PKCE verifier of every authorization request here.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// An app whose issuer is its own address.
pub async fn app() -> TestApp {
    let port = super::free_port();
    let base = format!("http://127.0.0.1:{port}");
    spawn_app_at_own_url(
        Figment::new()
            .merge(Serialized::default(
                "server.bind",
                format!("127.0.0.1:{port}"),
            ))
            .merge(Serialized::default("server.public_url", &base))
            .merge(Serialized::default("jwt.issuer", &base)),
    )
    .await
}

/// A registered web app (confidential, first-party).
pub struct WebApp {
    pub id: String,
    pub secret: String,
    pub redirect: String,
}

pub async fn web_app(app: &TestApp, redirect: &str) -> WebApp {
    let admin = app.new_user_with_role("ADMIN").await.1;
    let (id, secret) = app
        .register_client(
            &admin.access,
            json!({
                "name": "Notes Web",
                "grant_types": ["authorization_code", "refresh_token"],
                "redirect_uris": [redirect],
                "first_party": true,
            }),
        )
        .await;
    WebApp {
        id,
        secret: secret.expect("a confidential client's secret"),
        redirect: redirect.to_owned(),
    }
}

pub fn authorize_path(client: &WebApp, extra: &[(&str, &str)]) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect.as_str()),
        ("scope", "openid profile"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge_method", "S256"),
        ("code_challenge", challenge.as_str()),
    ];
    query.extend_from_slice(extra);
    format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(&query).unwrap()
    )
}

/// A page on 127.0.0.1 standing in for the app's callback: every request
/// gets a page headed "Back at the app".
pub async fn callback_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 8192];
                let _ = stream.read(&mut buffer).await;
                let body = "<!doctype html><title>app</title><h1>Back at the app</h1>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/callback")
}
