//! A client's DPoP key (RFC 9449) and the proofs it signs, with a real JOSE
//! implementation (jsonwebtoken, Ed25519), for every story that binds tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::TestApp;

/// An app's key pair, as a phone's secure enclave would hold it.
pub struct AppKey {
    encoding: EncodingKey,
    pub x: String,
}

impl AppKey {
    pub fn new() -> Self {
        let signing = ed25519_dalek::SigningKey::from_bytes(&rand::random());
        let der = signing.to_pkcs8_der().unwrap();
        Self {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            x: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
        }
    }

    /// RFC 7638: what a bound token's `cnf.jkt` must be.
    pub fn jkt(&self) -> String {
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, self.x);
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// A fresh proof for `method` at `path` of `app`, its claims edited by
    /// `edit` before signing.
    pub fn proof_with(
        &self,
        app: &TestApp,
        method: &str,
        path: &str,
        edit: impl Fn(&mut Value),
    ) -> String {
        self.proof_at(method, &app.url(path), edit)
    }

    /// A fresh proof for `method` at the absolute `url`, with the `ath` of
    /// `access_token` when one goes with it (a resource request).
    pub fn proof_for(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.proof_at(method, url, |claims| {
            if let Some(token) = access_token {
                claims["ath"] = json!(ath(token));
            }
        })
    }

    /// A fresh proof for `method` at the absolute `url`, its claims edited
    /// by `edit` before signing.
    pub fn proof_at(&self, method: &str, url: &str, edit: impl Fn(&mut Value)) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(
            serde_json::from_value(json!({"kty": "OKP", "crv": "Ed25519", "x": self.x})).unwrap(),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": url,
            "iat": now,
        });
        edit(&mut claims);
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap()
    }

    pub fn proof(&self, app: &TestApp, path: &str) -> String {
        self.proof_with(app, "POST", path, |_| {})
    }
}

/// A resource proof's `ath`: base64url(SHA-256(access token)).
pub fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Logs in with `email` and `password` and a proof by `key`: the answer's
/// pair, bound to the key (`token_type` "DPoP").
pub async fn bound_login(app: &TestApp, email: &str, password: &str, key: &AppKey) -> Value {
    let response = app
        .post("/api/v1/auth/login")
        .header("DPoP", key.proof(app, "/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let pair: Value = response.json().await.unwrap();
    assert_eq!(pair["token_type"], "DPoP", "{pair}");
    pair
}
