//! The Ed25519 key set: one PKCS#8 PEM file per key, `<kid>.pem`, in
//! `jwt.keys_dir`. Key ids start with a UTC timestamp, so the newest key sorts
//! last; it signs, and every key is published in the JWKS.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing keys in {0}; create one with `tessera keys generate`")]
    NoKeys(PathBuf),
    #[error("cannot read key directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not an Ed25519 PKCS#8 PEM key: {1}")]
    BadKey(PathBuf, String),
}

pub struct VerifyingKey {
    pub kid: String,
    pub decoding: DecodingKey,
    /// The raw public key, base64url (the JWK `x`).
    pub x: String,
}

pub struct KeySet {
    signing_kid: String,
    signing: EncodingKey,
    verifying: Vec<VerifyingKey>,
    jwks: String,
}

impl KeySet {
    /// Loads every `*.pem` in `dir`.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
            .collect();
        files.sort();
        let mut keys = Vec::with_capacity(files.len());
        for path in &files {
            let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                path: path.clone(),
                source,
            })?;
            let key = SigningKey::from_pkcs8_pem(&pem)
                .map_err(|e| KeyError::BadKey(path.clone(), e.to_string()))?;
            let kid = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            keys.push((kid, key));
        }
        let Some((signing_kid, newest)) = keys.last() else {
            return Err(KeyError::NoKeys(dir.to_path_buf()));
        };
        let der = newest
            .to_pkcs8_der()
            .map_err(|e| KeyError::BadKey(dir.join(signing_kid), e.to_string()))?;
        let signing = EncodingKey::from_ed_der(der.as_bytes());
        let signing_kid = signing_kid.clone();
        let verifying: Vec<VerifyingKey> = keys
            .iter()
            .map(|(kid, key)| {
                let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
                let decoding = DecodingKey::from_ed_der(key.verifying_key().as_bytes());
                VerifyingKey {
                    kid: kid.clone(),
                    decoding,
                    x,
                }
            })
            .collect();
        let jwks = json!({
            "keys": verifying.iter().rev().map(|k| json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.kid, "x": k.x,
            })).collect::<Vec<_>>()
        })
        .to_string();
        Ok(Self {
            signing_kid,
            signing,
            verifying,
            jwks,
        })
    }

    /// Writes a new key to `dir` (creating it) and returns its id.
    pub fn generate(dir: &Path) -> Result<String, KeyError> {
        let io = |source| KeyError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let suffix: [u8; 3] = rand::random();
        let kid = format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::BadKey(dir.join(&kid), e.to_string()))?;
        let path = dir.join(format!("{kid}.pem"));
        write_private(&path, pem.as_bytes()).map_err(|source| KeyError::Io { path, source })?;
        Ok(kid)
    }

    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    pub fn signing_key(&self) -> &EncodingKey {
        &self.signing
    }

    pub fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.iter().find(|k| k.kid == kid)
    }

    /// The JWKS document, rendered once.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_key_signs_and_all_are_published() {
        let dir = std::env::temp_dir().join(format!("tessera-keys-{}", uuid::Uuid::new_v4()));
        assert!(matches!(KeySet::load(&dir), Err(KeyError::Io { .. })));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(KeySet::load(&dir), Err(KeyError::NoKeys(_))));
        let first = KeySet::generate(&dir).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = KeySet::generate(&dir).unwrap();
        let keys = KeySet::load(&dir).unwrap();
        assert_eq!(keys.signing_kid(), second);
        assert!(keys.verifying_key(&first).is_some());
        let jwks: serde_json::Value = serde_json::from_str(keys.jwks_json()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert_eq!(jwks["keys"][0]["kid"], second.as_str());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
