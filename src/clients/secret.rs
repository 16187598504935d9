//! Client secrets: 256 random bits, shown once, kept as a SHA-256 digest. A
//! random secret needs no slow hash: nothing about it can be guessed, so a
//! token request checks it in microseconds.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub type Digest = [u8; 32];

/// A new secret and its digest: the secret goes to the caller this once,
/// the digest to the registry.
pub fn generate() -> (SecretString, Digest) {
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let digest = digest(&secret);
    (SecretString::from(secret), digest)
}

pub fn digest(secret: &str) -> Digest {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `presented` is the secret behind `digest`. Digests have one
/// length, so the comparison's time says nothing about how much matched.
pub fn matches(digest: &Digest, presented: &SecretString) -> bool {
    digest
        .ct_eq(&self::digest(presented.expose_secret()))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_matches_only_its_digest() {
        let (secret, digest) = generate();
        assert_eq!(secret.expose_secret().len(), 43);
        assert!(matches(&digest, &secret));
        let (other, _) = generate();
        assert!(!matches(&digest, &other));
    }
}
