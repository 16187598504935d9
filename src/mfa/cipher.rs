//! TOTP secrets at rest: AES-256-GCM (RustCrypto's `aes-gcm`) under
//! `mfa.encryption_key`, a fresh random 96-bit nonce per secret, and the
//! user's id as associated data, so a sealed secret copied into another
//! user's row does not open.
//!
//! Sealed form: a version byte, the nonce, the ciphertext with its tag.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use anyhow::Context;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::MfaConfig;
use crate::redis_client::RedisClient;

/// Where development instances sharing a Redis keep their one key.
const SHARED_KEY: &str = "tessera:secret:{mfa}";
/// The sealed form's layout version (a key rotation would add one).
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
pub const KEY_LEN: usize = 32;

/// A sealed secret that does not open: another key, another user, or a
/// damaged row.
#[derive(Debug, thiserror::Error)]
#[error("a stored second-factor secret does not decrypt under mfa.encryption_key")]
pub struct Unreadable;

#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// `mfa.encryption_key`'s bytes: base64 (standard or URL-safe, padded or
/// not) of exactly 32 bytes, as `openssl rand -base64 32` prints.
pub fn parse_key(text: &str) -> Option<[u8; KEY_LEN]> {
    let text = text.trim();
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .ok()?;
    bytes.try_into().ok()
}

impl SecretBox {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// The configured key (required in production), or else, in
    /// development, one created once in Redis (`SET NX`, no expiry) and read
    /// back, so every instance sharing that Redis agrees with nothing
    /// configured (like the development token secret).
    pub async fn from_config(
        config: &MfaConfig,
        production: bool,
        redis: &RedisClient,
    ) -> anyhow::Result<Self> {
        if let Some(key) = &config.encryption_key {
            let key = parse_key(key.expose_secret())
                .context("mfa.encryption_key must be the base64 of 32 random bytes (openssl rand -base64 32)")?;
            return Ok(Self::new(&key));
        }
        anyhow::ensure!(
            !production,
            "mfa.encryption_key is required when env = \"production\""
        );
        let unreachable = "cannot create the development second-factor key in Redis (is it reachable at redis.url / REDIS_URL?)";
        redis
            .command::<()>(
                redis::cmd("SET")
                    .arg(SHARED_KEY)
                    .arg(&rand::random::<[u8; KEY_LEN]>()[..])
                    .arg("NX"),
            )
            .await
            .context(unreachable)?;
        let shared: Option<Vec<u8>> = redis
            .command(redis::cmd("GET").arg(SHARED_KEY))
            .await
            .context(unreachable)?;
        let key: [u8; KEY_LEN] = shared
            .and_then(|key| key.try_into().ok())
            .with_context(|| {
                format!("{SHARED_KEY} in Redis holds no usable key; delete it and restart")
            })?;
        tracing::warn!(
            key = SHARED_KEY,
            "mfa.encryption_key unset; using the development key shared through Redis"
        );
        Ok(Self::new(&key))
    }

    pub fn seal(&self, user_id: Uuid, secret: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload {
            msg: secret,
            aad: user_id.as_bytes(),
        };
        // Encryption fails only for inputs of gigabytes; a secret is 20 bytes.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, user_id: Uuid, sealed: &[u8]) -> Result<Vec<u8>, Unreadable> {
        let [VERSION, rest @ ..] = sealed else {
            return Err(Unreadable);
        };
        if rest.len() < NONCE_LEN {
            return Err(Unreadable);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: user_id.as_bytes(),
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| Unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let key = rand::random();
        let sealed_box = SecretBox::new(&key);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = sealed_box.seal(alice, b"twenty bytes secret!");
        assert_eq!(
            sealed_box.open(alice, &sealed).unwrap(),
            b"twenty bytes secret!"
        );
        assert!(sealed_box.open(bob, &sealed).is_err());
        assert!(SecretBox::new(&rand::random())
            .open(alice, &sealed)
            .is_err());
        let mut damaged = sealed.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(sealed_box.open(alice, &damaged).is_err());
        assert!(sealed_box.open(alice, &[]).is_err());
        assert!(sealed_box.open(alice, &[VERSION, 1, 2]).is_err());
        // A fresh nonce each time: the same secret never seals alike.
        assert_ne!(sealed, sealed_box.seal(alice, b"twenty bytes secret!"));
    }

    #[test]
    fn the_configured_key_is_base64_of_32_bytes() {
        let key = [7u8; 32];
        assert_eq!(parse_key(&STANDARD.encode(key)), Some(key));
        assert_eq!(parse_key(&URL_SAFE_NO_PAD.encode(key)), Some(key));
        assert_eq!(parse_key(&STANDARD.encode([7u8; 31])), None);
        assert_eq!(parse_key("not base64 at all!"), None);
    }
}
