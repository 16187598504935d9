//! A client with a DPoP key (RFC 9449), as a mobile app holds one: it logs
//! in to tessera with a proof, gets an access token bound to its key, and
//! calls the `service` example with it, then shows that a replayed proof
//! and the token sent as `Bearer` are refused.
//!
//! `TESSERA_URL=http://127.0.0.1:8000 SERVICE_URL=http://127.0.0.1:3000 \
//!  EMAIL=... PASSWORD=... cargo run -p tessera-verify --example dpop_client`
//!
//! `TESSERA_URL` must be tessera's `server.public_url` (what its login
//! proof names) and `SERVICE_URL` the service's `PUBLIC_URL`.

#![forbid(unsafe_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error>;

/// The client's Ed25519 key; only its public half travels, in each proof.
struct Key {
    encoding: EncodingKey,
    jwk: Value,
}

impl Key {
    fn generate() -> Result<Self, Error> {
        let signing = ed25519_dalek::SigningKey::from_bytes(&rand::random());
        let der = signing.to_pkcs8_der()?;
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
        })
    }

    /// A proof for one request: `method` `url`, and `access_token`'s hash
    /// (`ath`) when one goes with it.
    fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone())?);
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": url,
            "iat": SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(tessera_dpop::ath(token));
        }
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let (tessera, service) = (var("TESSERA_URL")?, var("SERVICE_URL")?);
    let (tessera, service) = (tessera.trim_end_matches('/'), service.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let key = Key::generate()?;

    let login = format!("{tessera}/api/v1/auth/login");
    let answer: Value = http
        .post(&login)
        .header("DPoP", key.proof("POST", &login, None)?)
        .json(&json!({"email": var("EMAIL")?, "password": var("PASSWORD")?}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let access = answer["access_token"]
        .as_str()
        .ok_or("the login answered no access_token")?;
    println!("logged in: token_type {}", answer["token_type"]);

    let hello = format!("{service}/hello");
    let call = |scheme: &'static str, proof: String| {
        let request = http
            .get(&hello)
            .header("Authorization", format!("{scheme} {access}"))
            .header("DPoP", proof);
        async move {
            let answer = request.send().await?;
            let challenge = answer
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            println!("{} {}", answer.status(), answer.text().await?.trim());
            if let Some(challenge) = challenge {
                println!("  WWW-Authenticate: {challenge}");
            }
            Ok::<_, Error>(())
        }
    };
    let proof = key.proof("GET", &hello, Some(access))?;
    println!("a fresh proof:");
    call("DPoP", proof.clone()).await?;
    println!("the same proof again:");
    call("DPoP", proof).await?;
    println!("the bound token as Bearer:");
    call("Bearer", key.proof("GET", &hello, Some(access))?).await?;
    Ok(())
}
