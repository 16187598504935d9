//! The wire form shared by tessera's opaque tokens (refresh tokens, one-time
//! tokens): a fixed number of bytes as unpadded base64url, the last
//! [`TAG_LEN`] of them an integrity tag.
//!
//! The tag is HMAC-SHA256, truncated to 128 bits, under a server secret, over
//! a label naming the kind of token and the bytes before it. A token whose
//! tag fails under every configured secret is refused before any store is
//! asked, so knowing a user's and a session's ids never lets anyone make up
//! a token the service acts on. Stores keep the SHA-256 of the bytes before
//! the tag, so which secret tagged a token never changes what it names.

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::SessionConfig;
use crate::redis_client::RedisClient;

/// Where development instances sharing a Redis keep their one token secret.
const SHARED_SECRET_KEY: &str = "tessera:secret:{token}";

/// Bytes of the integrity tag at the end of every opaque token.
pub const TAG_LEN: usize = 16;

/// Bytes of the random secret in every opaque token.
pub const SECRET_LEN: usize = 32;

/// Bytes of a token of `ids` 16-byte ids (the user's first), a secret and
/// the tag.
pub const fn token_len(ids: usize) -> usize {
    16 * ids + SECRET_LEN + TAG_LEN
}

/// A fresh token secret from rand's thread generator (a CSPRNG seeded from
/// the OS).
pub fn fresh_secret() -> [u8; SECRET_LEN] {
    rand::random()
}

/// Length of the wire form of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    (4 * n).div_ceil(3)
}

/// A store key that names a secret without holding it: `prefix`, then the
/// digest in hex (the console's and the browser sessions' cookies, codes,
/// DPoP `jti`s).
pub fn hex_key(prefix: &str, digest: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut key = String::with_capacity(prefix.len() + 2 * digest.len());
    key.push_str(prefix);
    for byte in digest {
        // Writing to a `String` cannot fail.
        let _ = write!(key, "{byte:02x}");
    }
    key
}

/// [`hex_key`] of the SHA-256 of `secret`.
pub fn digest_key(prefix: &str, secret: &[u8]) -> String {
    hex_key(prefix, &Sha256::digest(secret))
}

pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Exactly `N` bytes back from their wire form; anything else is `None`.
pub fn decode<const N: usize>(encoded: &str) -> Option<[u8; N]> {
    if encoded.len() != encoded_len(N) {
        return None;
    }
    let mut bytes = [0u8; N];
    match URL_SAFE_NO_PAD.decode_slice(encoded, &mut bytes) {
        Ok(len) if len == N => Some(bytes),
        _ => None,
    }
}

/// What a keyed MAC is computed for: each use has its own label, so a value
/// made for one (a one-time token's tag) is never valid for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    RefreshTag,
    OneTimeTag,
    /// The secret of a refresh token's successor.
    Successor,
    /// The anti-forgery token of an HTML form (`http::pages`).
    FormToken,
    /// An authorization code's tag (`tokens::code`).
    CodeTag,
    /// A DPoP server nonce (`crate::dpop`).
    DpopNonce,
}

impl Domain {
    fn label(self) -> &'static [u8] {
        match self {
            Domain::RefreshTag => b"tessera/refresh-token/tag/v1\0",
            Domain::OneTimeTag => b"tessera/one-time-token/tag/v1\0",
            Domain::Successor => b"tessera/refresh-token/successor/v1\0",
            Domain::FormToken => b"tessera/form-token/v1\0",
            Domain::CodeTag => b"tessera/authorization-code/tag/v1\0",
            Domain::DpopNonce => b"tessera/dpop-nonce/v1\0",
        }
    }
}

/// Which of the configured secrets a token was verified with (an index into
/// [`TokenKeys`]; the first secret is [`KeyId::SIGNING`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyId(usize);

impl KeyId {
    /// The first configured secret: it tags every new token.
    pub const SIGNING: KeyId = KeyId(0);
}

/// The server secrets of opaque tokens: the first tags new tokens, all
/// verify, so a secret can be rotated without ending any session.
#[derive(Clone)]
pub struct TokenKeys {
    keys: Arc<[Hmac<Sha256>]>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("count", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from secrets, the signing one first; `None` when there are none.
    /// Built once at start-up (and by the CLI), never on a request path.
    pub fn new<S: AsRef<[u8]>>(secrets: impl IntoIterator<Item = S>) -> Option<Self> {
        let keys: Arc<[Hmac<Sha256>]> = secrets
            .into_iter()
            .map(|secret| {
                <Hmac<Sha256> as Mac>::new_from_slice(secret.as_ref())
                    .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
            })
            .collect();
        (!keys.is_empty()).then_some(Self { keys })
    }

    /// The secrets that tag opaque tokens and derive refresh successors: the
    /// configured ones (required in production), or else, in development, one
    /// created once in Redis (`SET NX`, no expiry) and read back, so every
    /// instance sharing that Redis agrees with nothing configured.
    pub async fn from_config(
        config: &SessionConfig,
        production: bool,
        redis: &RedisClient,
    ) -> anyhow::Result<Self> {
        let configured = config.rotation_secrets();
        if let Some(keys) = TokenKeys::new(configured.iter().map(|s| s.expose_secret().as_bytes()))
        {
            return Ok(keys);
        }
        anyhow::ensure!(
            !production,
            "session.rotation_secret is required when env = \"production\""
        );
        let candidate = rand::random::<[u8; 32]>();
        let unreachable = "cannot create the development token secret in Redis (is it reachable at redis.url / REDIS_URL?)";
        redis
            .command::<()>(
                redis::cmd("SET")
                    .arg(SHARED_SECRET_KEY)
                    .arg(&candidate[..])
                    .arg("NX"),
            )
            .await
            .context(unreachable)?;
        let shared: Option<Vec<u8>> = redis
            .command(redis::cmd("GET").arg(SHARED_SECRET_KEY))
            .await
            .context(unreachable)?;
        let shared = shared
            .filter(|secret| secret.len() >= 32)
            .with_context(|| {
                format!(
                    "{SHARED_SECRET_KEY} in Redis holds no usable secret; delete it and restart"
                )
            })?;
        tracing::warn!(
            key = SHARED_SECRET_KEY,
            "session.rotation_secret unset; using the development token secret shared through Redis"
        );
        TokenKeys::new([shared]).context("no token secret")
    }

    fn mac(&self, key: KeyId, domain: Domain, data: &[u8]) -> Hmac<Sha256> {
        // A `KeyId` only comes from this set (`SIGNING` always exists).
        let mut mac = self.keys[key.0.min(self.keys.len() - 1)].clone();
        mac.update(domain.label());
        mac.update(data);
        mac
    }

    /// HMAC-SHA256 of `data` under the secret `key`, for `domain`.
    pub fn derive(&self, key: KeyId, domain: Domain, data: &[u8]) -> [u8; 32] {
        self.mac(key, domain, data).finalize().into_bytes().into()
    }

    /// A short tag of `data` for `domain` under the signing secret, in the
    /// wire form: a form's anti-forgery token, a DPoP nonce.
    pub fn short_tag(&self, domain: Domain, data: &[u8]) -> String {
        encode(&self.derive(KeyId::SIGNING, domain, data)[..TAG_LEN])
    }

    /// True when `token` is [`TokenKeys::short_tag`] of `data` under any
    /// configured secret (a form shown or a nonce given before a rotation
    /// still counts).
    pub fn check_short_tag(&self, domain: Domain, data: &[u8], token: &str) -> bool {
        decode::<TAG_LEN>(token).is_some_and(|tag| self.verifying(domain, data, &tag).is_some())
    }

    /// A form's anti-forgery token for `data`.
    pub fn form_token(&self, data: &[u8]) -> String {
        self.short_tag(Domain::FormToken, data)
    }

    /// True when `token` is [`TokenKeys::form_token`] of `data`.
    pub fn check_form_token(&self, data: &[u8], token: &str) -> bool {
        self.check_short_tag(Domain::FormToken, data, token)
    }

    /// The first secret under which `tag` is the tag of `data`, compared in
    /// constant time.
    fn verifying(&self, domain: Domain, data: &[u8], tag: &[u8]) -> Option<KeyId> {
        (0..self.keys.len()).map(KeyId).find(|&key| {
            self.mac(key, domain, data)
                .verify_truncated_left(tag)
                .is_ok()
        })
    }
}

/// `N` bytes whose last [`TAG_LEN`] are the tag of the rest: the body both
/// token kinds share.
#[derive(Clone, PartialEq, Eq)]
pub struct Tagged<const N: usize> {
    bytes: [u8; N],
    key: KeyId,
}

/// A token is a bearer credential: `Debug` never shows its bytes.
impl<const N: usize> std::fmt::Debug for Tagged<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tagged")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> Tagged<N> {
    /// Length of the bytes the tag covers.
    pub const PAYLOAD_LEN: usize = N - TAG_LEN;

    /// Tags `payload` (exactly [`Self::PAYLOAD_LEN`] bytes) under the
    /// signing secret.
    pub fn seal(keys: &TokenKeys, domain: Domain, payload: &[u8]) -> Self {
        let mut bytes = [0u8; N];
        let (body, tag) = bytes.split_at_mut(Self::PAYLOAD_LEN);
        body.copy_from_slice(payload);
        let full = keys.derive(KeyId::SIGNING, domain, body);
        tag.copy_from_slice(&full[..TAG_LEN]);
        Self {
            bytes,
            key: KeyId::SIGNING,
        }
    }

    /// Parses the wire form and checks the tag; anything malformed or
    /// tagged under no configured secret is `None`.
    pub fn open(keys: &TokenKeys, domain: Domain, encoded: &str) -> Option<Self> {
        let bytes = decode::<N>(encoded)?;
        let (body, tag) = bytes.split_at(Self::PAYLOAD_LEN);
        let key = keys.verifying(domain, body, tag)?;
        Some(Self { bytes, key })
    }

    pub fn encode(&self) -> String {
        encode(&self.bytes)
    }

    /// The bytes the tag covers.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[..Self::PAYLOAD_LEN]
    }

    /// The secret the tag was made (or verified) with.
    pub fn key(&self) -> KeyId {
        self.key
    }

    /// What a store keeps instead of the token: SHA-256 of the payload.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.payload()).into()
    }
}

/// A kind of opaque token: the label its tag is made under, and its name
/// in `Debug` output.
pub trait Kind {
    const TAG: Domain;
    const NAME: &'static str;
}

/// An opaque token of kind `K`, `N` bytes before encoding: the id of the
/// user it belongs to, what the kind keeps after it, and the tag. Parsing,
/// the wire form and the stored hash are the same for every kind.
pub struct Token<K, const N: usize> {
    tagged: Tagged<N>,
    kind: PhantomData<K>,
}

impl<K: Kind, const N: usize> Token<K, N> {
    /// Length of the wire form.
    #[cfg(test)]
    pub const ENCODED_LEN: usize = encoded_len(N);

    /// Tags `user_id ‖ rest` (`rest` fills the payload after the id) under
    /// the signing secret.
    pub fn seal(keys: &TokenKeys, user_id: Uuid, rest: &[u8]) -> Self {
        let mut payload = [0u8; N];
        payload[..16].copy_from_slice(user_id.as_bytes());
        payload[16..Tagged::<N>::PAYLOAD_LEN].copy_from_slice(rest);
        Self::from(Tagged::seal(
            keys,
            K::TAG,
            &payload[..Tagged::<N>::PAYLOAD_LEN],
        ))
    }

    /// Parses the wire form and checks its tag; anything malformed or not
    /// tagged by the service is `None`.
    pub fn parse(keys: &TokenKeys, encoded: &str) -> Option<Self> {
        Tagged::open(keys, K::TAG, encoded).map(Self::from)
    }

    fn from(tagged: Tagged<N>) -> Self {
        Self {
            tagged,
            kind: PhantomData,
        }
    }

    pub fn encode(&self) -> String {
        self.tagged.encode()
    }

    pub fn user_id(&self) -> Uuid {
        Uuid::from_slice(&self.tagged.payload()[..16]).unwrap_or_default()
    }

    /// The bytes the tag covers.
    pub fn payload(&self) -> &[u8] {
        self.tagged.payload()
    }

    /// The secret the tag was made (or verified) with.
    pub fn key(&self) -> KeyId {
        self.tagged.key()
    }

    /// What a store keeps instead of the token.
    pub fn hash(&self) -> [u8; 32] {
        self.tagged.hash()
    }
}

impl<K, const N: usize> Clone for Token<K, N> {
    fn clone(&self) -> Self {
        Self {
            tagged: self.tagged.clone(),
            kind: PhantomData,
        }
    }
}

impl<K, const N: usize> PartialEq for Token<K, N> {
    fn eq(&self, other: &Self) -> bool {
        self.tagged == other.tagged
    }
}

impl<K, const N: usize> Eq for Token<K, N> {}

/// A token is a bearer credential: `Debug` shows whose it is, never its
/// bytes.
impl<K: Kind, const N: usize> std::fmt::Debug for Token<K, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(K::NAME)
            .field("user_id", &self.user_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Two token secrets, for the tests of every kind.
    pub const OLD: &[u8] = b"the old token secret, 32 bytes or more";
    pub const NEW: &[u8] = b"the new token secret, 32 bytes or more";

    pub fn keys(secrets: &[&[u8]]) -> TokenKeys {
        TokenKeys::new(secrets).unwrap()
    }

    #[test]
    fn round_trips_fixed_lengths_only() {
        let bytes = [7u8; 48];
        let encoded = encode(&bytes);
        assert_eq!(encoded.len(), encoded_len(48));
        assert_eq!(decode::<48>(&encoded), Some(bytes));
        assert_eq!(decode::<47>(&encoded), None);
        assert_eq!(decode::<48>(&encoded[1..]), None);
        assert_eq!(decode::<48>(&"!".repeat(encoded_len(48))), None);
        assert_eq!(encoded_len(64), 86);
    }

    #[test]
    fn a_sealed_token_opens_under_its_key_only() {
        let old = keys(&[OLD]);
        let token = Tagged::<48>::seal(&old, Domain::RefreshTag, &[9u8; 32]);
        let encoded = token.encode();
        assert_eq!(
            Tagged::<48>::open(&old, Domain::RefreshTag, &encoded),
            Some(token.clone())
        );
        assert_eq!(token.payload(), &[9u8; 32]);
        assert_eq!(token.hash(), <[u8; 32]>::from(Sha256::digest([9u8; 32])));
        assert_eq!(
            Tagged::<48>::open(&keys(&[NEW]), Domain::RefreshTag, &encoded),
            None
        );
        assert_eq!(Tagged::<48>::open(&old, Domain::OneTimeTag, &encoded), None);
    }

    #[test]
    fn every_listed_key_verifies_and_the_first_signs() {
        let old_token = Tagged::<48>::seal(&keys(&[OLD]), Domain::OneTimeTag, &[1u8; 32]);
        let rotated = keys(&[NEW, OLD]);
        let opened = Tagged::<48>::open(&rotated, Domain::OneTimeTag, &old_token.encode()).unwrap();
        assert_eq!(opened.key(), KeyId(1));
        assert_eq!(opened.hash(), old_token.hash());
        let new_token = Tagged::<48>::seal(&rotated, Domain::OneTimeTag, &[1u8; 32]);
        assert_eq!(new_token.key(), KeyId::SIGNING);
        assert_eq!(
            new_token.hash(),
            old_token.hash(),
            "the tag is not part of the hash"
        );
        assert_eq!(
            Tagged::<48>::open(&keys(&[OLD]), Domain::OneTimeTag, &new_token.encode()),
            None
        );
    }

    #[test]
    fn a_changed_payload_or_tag_byte_fails() {
        let keys = keys(&[OLD]);
        let token = Tagged::<48>::seal(&keys, Domain::RefreshTag, &[3u8; 32]);
        for i in 0..48 {
            let mut bytes = token.bytes;
            bytes[i] ^= 1;
            assert_eq!(
                Tagged::<48>::open(&keys, Domain::RefreshTag, &encode(&bytes)),
                None
            );
        }
    }

    #[test]
    fn no_secrets_is_no_key_set() {
        assert!(TokenKeys::new(Vec::<Vec<u8>>::new()).is_none());
        assert!(!format!("{:?}", keys(&[OLD])).contains("old token secret"));
    }
}
