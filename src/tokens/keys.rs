//! The key set: one PKCS#8 PEM file per key, `<kid>.pem`, in `jwt.keys_dir`.
//! Ed25519 keys sign access tokens (and EdDSA ID tokens); RSA keys (2048 bits
//! or more) sign only RS256 ID tokens. The loader tells the two apart by the
//! key's PKCS#8 algorithm, not its name; `tessera keys generate` names an RSA
//! key `<timestamp>-rsa-<hex>` so an operator can tell too. Key ids start with
//! a UTC timestamp, so the newest key sorts last; of each kind, the newest
//! key that is not retired signs, and every key still trusted is published
//! in the JWKS.
//!
//! Retiring a key writes a sidecar `<kid>.retired` holding the retirement time
//! and the time the key stops being trusted (retirement + the access token
//! lifetime then in force): until then it no longer signs but still verifies
//! and stays published, so no token it signed is cut short; after it, the key
//! drops out of the set the next time the set is loaded.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::pkcs8::{
    spki::der::pem::LineEnding, DecodePrivateKey, EncodePrivateKey, PrivateKeyInfo, SecretDocument,
};
use ed25519_dalek::Signer;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// The JOSE `typ` of an access token (RFC 9068 §2.1): the header the signer
/// writes.
pub const ACCESS_TOKEN_JWT_TYPE: &str = "at+jwt";

/// Bits of a key `tessera keys generate` makes, and the fewest a loaded RSA
/// key may have (RFC 7518 §3.3).
const RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing keys in {0}; create one with `tessera keys generate`")]
    NoKeys(PathBuf),
    #[error("cannot read key directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a usable PKCS#8 PEM key (Ed25519, or RSA of at least 2048 bits): {1}")]
    BadKey(PathBuf, String),
    #[error(
        "{0} is not a valid retirement file (expected a `published_until = <RFC 3339 time>` line)"
    )]
    BadRetirement(PathBuf),
    #[error("no key {kid} in {dir}")]
    UnknownKey { kid: String, dir: PathBuf },
    #[error("{0} is the only active signing key; run `tessera keys generate` before retiring it")]
    OnlyActiveKey(String),
    #[error("{0} is the only active RSA key (it signs RS256 ID tokens); run `tessera keys generate --rsa` before retiring it")]
    OnlyActiveRsaKey(String),
}

/// The JWS algorithm a key signs with: EdDSA for an Ed25519 key, RS256 for
/// an RSA one. Access tokens are only ever EdDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JwsAlg {
    EdDSA,
    RS256,
}

impl JwsAlg {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlg::EdDSA => "EdDSA",
            JwsAlg::RS256 => "RS256",
        }
    }

    /// The algorithm as jsonwebtoken names it.
    pub fn algorithm(self) -> Algorithm {
        match self {
            JwsAlg::EdDSA => Algorithm::EdDSA,
            JwsAlg::RS256 => Algorithm::RS256,
        }
    }
}

pub struct VerifyingKey {
    pub kid: String,
    /// The one algorithm this key verifies.
    pub alg: JwsAlg,
    pub decoding: DecodingKey,
    jwk: Jwk,
}

// What `/.well-known/jwks.json` serves, serialised once per key change.
/// A JSON Web Key Set (RFC 7517): the Ed25519 keys (EdDSA, access and ID
/// tokens) and the RSA keys (RS256, ID tokens only).
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Clone, Serialize, ToSchema)]
#[serde(untagged)]
enum Jwk {
    Okp(OkpJwk),
    Rsa(RsaJwk),
}

/// An Ed25519 public key (RFC 8037).
#[derive(Clone, Serialize, ToSchema)]
#[schema(example = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "20261121T220000Z-ab12", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))]
struct OkpJwk {
    #[schema(value_type = String)]
    kty: &'static str,
    #[schema(value_type = String)]
    crv: &'static str,
    #[schema(value_type = String)]
    alg: &'static str,
    #[serde(rename = "use")]
    #[schema(value_type = String)]
    usage: &'static str,
    kid: String,
    /// The raw public key, base64url.
    x: String,
}

/// An RSA public key (RFC 7518 §6.3.1), for RS256 ID tokens.
#[derive(Clone, Serialize, ToSchema)]
#[schema(example = json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "20261121T220000.123Z-rsa-cd34ef", "n": "0vx7agoebGcQSuuPiLJXZpt…", "e": "AQAB"}))]
struct RsaJwk {
    #[schema(value_type = String)]
    kty: &'static str,
    #[schema(value_type = String)]
    alg: &'static str,
    #[serde(rename = "use")]
    #[schema(value_type = String)]
    usage: &'static str,
    kid: String,
    /// The modulus, big-endian, base64url.
    n: String,
    /// The public exponent, big-endian, base64url.
    e: String,
}

/// A private key as read from its file.
enum PrivateKey {
    Ed25519(SigningKey),
    Rsa(RsaPrivateKey),
}

impl PrivateKey {
    fn alg(&self) -> JwsAlg {
        match self {
            PrivateKey::Ed25519(_) => JwsAlg::EdDSA,
            PrivateKey::Rsa(_) => JwsAlg::RS256,
        }
    }

    fn verifying_key(&self, kid: &str) -> VerifyingKey {
        match self {
            PrivateKey::Ed25519(key) => {
                let public = key.verifying_key();
                VerifyingKey {
                    kid: kid.to_owned(),
                    alg: JwsAlg::EdDSA,
                    decoding: DecodingKey::from_ed_der(public.as_bytes()),
                    jwk: Jwk::Okp(OkpJwk {
                        kty: "OKP",
                        crv: "Ed25519",
                        alg: "EdDSA",
                        usage: "sig",
                        kid: kid.to_owned(),
                        x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
                    }),
                }
            }
            PrivateKey::Rsa(key) => {
                let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
                VerifyingKey {
                    kid: kid.to_owned(),
                    alg: JwsAlg::RS256,
                    decoding: DecodingKey::from_rsa_raw_components(&n, &e),
                    jwk: Jwk::Rsa(RsaJwk {
                        kty: "RSA",
                        alg: "RS256",
                        usage: "sig",
                        kid: kid.to_owned(),
                        n: URL_SAFE_NO_PAD.encode(n),
                        e: URL_SAFE_NO_PAD.encode(e),
                    }),
                }
            }
        }
    }
}

/// The RSA key that signs RS256 ID tokens.
struct RsaSigner {
    kid: String,
    /// PKCS#1 DER, as ring (under jsonwebtoken) signs with it.
    encoding: EncodingKey,
}

/// One loaded snapshot of the key directory.
pub struct KeySet {
    dir: PathBuf,
    signing_kid: String,
    /// Kept expanded, so signing costs one signature and nothing more.
    signing: SigningKey,
    /// base64url of the JOSE header naming the signing key, encoded once.
    signing_header: String,
    /// The newest active RSA key; `None` in a set that has none (one made
    /// before RSA keys, until `tessera keys generate` adds one).
    rsa_signing: Option<RsaSigner>,
    verifying: Vec<VerifyingKey>,
    jwks: String,
}

/// What `tessera keys generate` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The new Ed25519 key, which signs access tokens from now on.
    pub ed25519: String,
    /// A new RSA key, made only when the set had no active one.
    pub rsa: Option<String>,
}

/// A key file and, when retired, until when it is still trusted.
struct KeyFile {
    kid: String,
    pem: PathBuf,
    trusted_until: Option<DateTime<Utc>>,
}

/// The result of `tessera keys retire`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retirement {
    pub retired_at: DateTime<Utc>,
    pub published_until: DateTime<Utc>,
    /// False when the key had already been retired (nothing changed).
    pub newly_retired: bool,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn retirement_path(dir: &Path, kid: &str) -> PathBuf {
    dir.join(format!("{kid}.retired"))
}

/// Every `<kid>.pem` in `dir`, oldest first, with its retirement state.
fn key_files(dir: &Path) -> Result<Vec<KeyFile>, KeyError> {
    let mut pems: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
        .collect();
    pems.sort();
    pems.into_iter()
        .map(|pem| {
            let kid = pem
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let trusted_until =
                read_retirement(&retirement_path(dir, &kid))?.map(|r| r.published_until);
            Ok(KeyFile {
                kid,
                pem,
                trusted_until,
            })
        })
        .collect()
}

/// Reads one PKCS#8 PEM key, Ed25519 or RSA, told apart by its algorithm.
fn read_key(path: &Path) -> Result<PrivateKey, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(io_error(path))?;
    let bad = |why: String| KeyError::BadKey(path.to_path_buf(), why);
    let (label, der) = SecretDocument::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
    if label != "PRIVATE KEY" {
        return Err(bad(format!("a `{label}` PEM, not a PKCS#8 `PRIVATE KEY`")));
    }
    let info = PrivateKeyInfo::try_from(der.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let oid = info.algorithm.oid;
    if oid == ed25519_dalek::pkcs8::ALGORITHM_OID {
        SigningKey::from_pkcs8_der(der.as_bytes())
            .map(PrivateKey::Ed25519)
            .map_err(|e| bad(e.to_string()))
    } else if oid == rsa::pkcs1::ALGORITHM_OID {
        let key = RsaPrivateKey::from_pkcs8_der(der.as_bytes()).map_err(|e| bad(e.to_string()))?;
        if key.size() * 8 < RSA_BITS {
            return Err(bad(format!("an RSA key of {} bits", key.size() * 8)));
        }
        Ok(PrivateKey::Rsa(key))
    } else {
        Err(bad(format!("a key of algorithm {oid}")))
    }
}

/// Whether one of `files` is an active (not retired) key of `alg`.
fn has_active(files: &[&KeyFile], alg: JwsAlg) -> Result<bool, KeyError> {
    for file in files.iter().filter(|f| f.trusted_until.is_none()) {
        if read_key(&file.pem)?.alg() == alg {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A new key id: the time now (so ids sort by age), a `kind` tag when
/// given, and random hex (so two ids never collide).
fn new_kid(tag: Option<&str>) -> String {
    let suffix: [u8; 3] = rand::random();
    let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    match tag {
        Some(tag) => format!("{now}-{tag}-{hex}"),
        None => format!("{now}-{hex}"),
    }
}

/// Writes a new private key `<kid>.pem` to `dir` (creating it).
fn write_key(dir: &Path, kid: &str, pem: &str) -> Result<(), KeyError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let path = dir.join(format!("{kid}.pem"));
    write_private(&path, pem.as_bytes()).map_err(|source| KeyError::Io { path, source })
}

/// The retirement recorded in a sidecar, or `None` when there is none.
fn read_retirement(path: &Path) -> Result<Option<Retirement>, KeyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let field = |name: &str| {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(key, _)| key.trim() == name)
            .and_then(|(_, value)| DateTime::parse_from_rfc3339(value.trim()).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let until =
        field("published_until").ok_or_else(|| KeyError::BadRetirement(path.to_path_buf()))?;
    Ok(Some(Retirement {
        retired_at: field("retired_at").unwrap_or(until),
        published_until: until,
        newly_retired: false,
    }))
}

impl KeySet {
    /// Loads every `*.pem` in `dir`, leaving out retired keys whose grace
    /// period is over.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let now = Utc::now();
        let mut verifying = Vec::new();
        let mut signer = None;
        let mut rsa_signer = None;
        for file in key_files(dir)? {
            if file.trusted_until.is_some_and(|until| until <= now) {
                continue;
            }
            let key = read_key(&file.pem)?;
            verifying.push(key.verifying_key(&file.kid));
            if file.trusted_until.is_some() {
                continue;
            }
            match key {
                PrivateKey::Ed25519(key) => signer = Some((file.kid, key)),
                PrivateKey::Rsa(key) => rsa_signer = Some((file.pem, file.kid, key)),
            }
        }
        let Some((signing_kid, signing)) = signer else {
            return Err(KeyError::NoKeys(dir.to_path_buf()));
        };
        let signing_header = URL_SAFE_NO_PAD.encode(
            json!({ "typ": ACCESS_TOKEN_JWT_TYPE, "alg": "EdDSA", "kid": signing_kid }).to_string(),
        );
        let rsa_signing = match rsa_signer {
            Some((path, kid, key)) => {
                let der = key
                    .to_pkcs1_der()
                    .map_err(|e| KeyError::BadKey(path.clone(), e.to_string()))?;
                let encoding = EncodingKey::from_rsa_der(der.as_bytes());
                // One signature now, so a key ring refuses fails the load
                // (and a reload keeps the set in force), never a request.
                jsonwebtoken::crypto::sign(b"tessera", &encoding, Algorithm::RS256)
                    .map_err(|e| KeyError::BadKey(path, e.to_string()))?;
                Some(RsaSigner { kid, encoding })
            }
            None => None,
        };
        let jwks = Jwks {
            keys: verifying.iter().rev().map(|key| key.jwk.clone()).collect(),
        };
        // Strings only, so serialising cannot fail; and this runs at start-up
        // and on a key reload, never on a request.
        let jwks = serde_json::to_string(&jwks).expect("a JWKS serialises");
        Ok(Self {
            dir: dir.to_path_buf(),
            signing_kid,
            signing,
            signing_header,
            rsa_signing,
            verifying,
            jwks,
        })
    }

    /// Loads the directory this set came from again.
    pub fn reload(&self) -> Result<Self, KeyError> {
        Self::load(&self.dir)
    }

    /// The key set in `dir`; when it holds none and `may_generate` (a
    /// development install), a first set (an Ed25519 and an RSA key) is made
    /// there (the command line's token minting uses it too).
    pub fn load_or_generate(dir: &Path, may_generate: bool) -> Result<Self, KeyError> {
        match Self::load(dir) {
            Err(KeyError::NoKeys(_) | KeyError::Io { .. }) if may_generate => {
                let made = Self::generate_set(dir)?;
                tracing::warn!(kid = %made.ed25519, rsa_kid = made.rsa.as_deref().unwrap_or("none"), dir = %dir.display(), "no signing key found; generated a key set (development only)");
                Self::load(dir)
            }
            loaded => loaded,
        }
    }

    /// `tessera keys generate`: a new Ed25519 key (the access token signer
    /// from now on), and an RSA-2048 key too when the set has no active one
    /// (OIDC Discovery requires RS256 ID tokens to be available).
    pub fn generate_set(dir: &Path) -> Result<Generated, KeyError> {
        let has_rsa = match key_files(dir) {
            Ok(files) => has_active(&files.iter().collect::<Vec<_>>(), JwsAlg::RS256)?,
            Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                false
            }
            Err(e) => return Err(e),
        };
        let ed25519 = Self::generate(dir)?;
        let rsa = if has_rsa {
            None
        } else {
            Some(Self::generate_rsa(dir)?)
        };
        Ok(Generated { ed25519, rsa })
    }

    /// Writes a new Ed25519 key to `dir` (creating it) and returns its id.
    pub fn generate(dir: &Path) -> Result<String, KeyError> {
        // A seed from rand's thread generator (a CSPRNG seeded from the OS).
        let key = SigningKey::from_bytes(&rand::random());
        let kid = new_kid(None);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::BadKey(dir.join(&kid), e.to_string()))?;
        write_key(dir, &kid, &pem)?;
        Ok(kid)
    }

    /// Writes a new RSA-2048 key to `dir` (creating it) and returns its id,
    /// `<timestamp>-rsa-<hex>`. Finding the primes takes a moment (well
    /// under a second, usually).
    pub fn generate_rsa(dir: &Path) -> Result<String, KeyError> {
        let kid = new_kid(Some("rsa"));
        // The operating system's generator (getrandom), as rsa's own tests do.
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS)
            .map_err(|e| KeyError::BadKey(dir.join(&kid), e.to_string()))?;
        let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, LineEnding::LF)
            .map_err(|e| KeyError::BadKey(dir.join(&kid), e.to_string()))?;
        write_key(dir, &kid, &pem)?;
        Ok(kid)
    }

    /// Retires `kid`: it stops signing at once and stays trusted for `grace`
    /// (the access token lifetime), so every token it signed can expire
    /// first. Retiring an already retired key changes nothing; retiring
    /// the last active key of its kind (Ed25519 or RSA) is refused.
    pub fn retire(
        dir: &Path,
        kid: &str,
        grace: std::time::Duration,
    ) -> Result<Retirement, KeyError> {
        let files = key_files(dir)?;
        let Some(file) = files.iter().find(|f| f.kid == kid) else {
            return Err(KeyError::UnknownKey {
                kid: kid.to_owned(),
                dir: dir.to_path_buf(),
            });
        };
        let path = retirement_path(dir, kid);
        if file.trusted_until.is_some() {
            if let Some(earlier) = read_retirement(&path)? {
                return Ok(earlier);
            }
        }
        // Another active key of the same kind must take over its signing.
        let alg = read_key(&file.pem)?.alg();
        let others: Vec<&KeyFile> = files.iter().filter(|f| f.kid != kid).collect();
        if !has_active(&others, alg)? {
            return Err(match alg {
                JwsAlg::EdDSA => KeyError::OnlyActiveKey(kid.to_owned()),
                JwsAlg::RS256 => KeyError::OnlyActiveRsaKey(kid.to_owned()),
            });
        }
        let retired_at = Utc::now();
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let published_until = retired_at
            .checked_add_signed(grace)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let text = format!(
            "# tessera: this key no longer signs; it verifies and stays published until published_until.\nretired_at = {}\npublished_until = {}\n",
            retired_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            published_until.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
        // Written aside and renamed, so a concurrent load never sees half a file.
        let partial = dir.join(format!(".{kid}.retired.tmp"));
        std::fs::write(&partial, text).map_err(io_error(&partial))?;
        std::fs::rename(&partial, &path).map_err(io_error(&path))?;
        let written =
            read_retirement(&path)?.ok_or_else(|| KeyError::BadRetirement(path.clone()))?;
        Ok(Retirement {
            newly_retired: true,
            ..written
        })
    }

    /// The Ed25519 key that signs access tokens and EdDSA ID tokens.
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    /// The RSA key that signs RS256 ID tokens, when the set has one.
    pub fn rsa_signing_kid(&self) -> Option<&str> {
        self.rsa_signing.as_ref().map(|signer| signer.kid.as_str())
    }

    /// A compact JWS of `payload` whose header is `{"typ", "alg", "kid"}`,
    /// signed by the signing key of `alg`; `None` for RS256 when the set has
    /// no RSA key. For tokens other than access tokens (ID tokens), which
    /// are rare enough that the header is written each time.
    pub(crate) fn sign_typed(&self, typ: &str, alg: JwsAlg, payload: &[u8]) -> Option<String> {
        let kid = match alg {
            JwsAlg::EdDSA => self.signing_kid.as_str(),
            JwsAlg::RS256 => self.rsa_signing.as_ref()?.kid.as_str(),
        };
        let header = json!({ "typ": typ, "alg": alg.as_str(), "kid": kid }).to_string();
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = match alg {
            JwsAlg::EdDSA => URL_SAFE_NO_PAD.encode(self.signing.sign(token.as_bytes()).to_bytes()),
            // Checked at load; ring fails only on a key it refuses.
            JwsAlg::RS256 => jsonwebtoken::crypto::sign(
                token.as_bytes(),
                &self.rsa_signing.as_ref()?.encoding,
                Algorithm::RS256,
            )
            .ok()?,
        };
        token.push('.');
        token.push_str(&signature);
        Some(token)
    }

    /// A compact JWS (`header.payload.signature`) of `payload` (the claims
    /// as JSON), signed by the signing key with EdDSA.
    ///
    /// Hand-written rather than `jsonwebtoken::encode` (which verifies
    /// everything else) because jsonwebtoken 9 re-parses the PKCS#8 key, and
    /// so re-derives the public key, on every call: about one more
    /// signature per token. Issue 21's rule keeps it only while it saves at
    /// least 5 % of a refresh. Measured 2026-12-07, 2-core shared machine,
    /// profiling builds:
    /// - one signature on `issue_for`'s claims (`signing_ab` below, A B B A
    ///   rounds of 20,000): this 20.5 µs/op, jsonwebtoken 50.1 µs/op.
    /// - tessera CPU per refresh, `BENCH_SCALE=0 BENCH_PROFILE=profiling
    ///   BENCH_BIN=<binary> make bench`, binaries run A B B A: this 83.3 and
    ///   88.2 µs, jsonwebtoken 105.4 and 95.4 µs: jsonwebtoken costs 17 %
    ///   more per refresh (the micro figures predict 34 %).
    pub fn sign_jwt(&self, payload: &[u8]) -> String {
        let mut token =
            String::with_capacity(self.signing_header.len() + payload.len() * 4 / 3 + 92);
        token.push_str(&self.signing_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = self.signing.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        token
    }

    /// Signs a signing input whose header a test wrote itself.
    #[cfg(test)]
    pub(crate) fn sign_with_header_for_tests(&self, signing_input: &str) -> String {
        let signature = self.signing.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// [`KeySet::sign_with_header_for_tests`] with the RSA key, RS256.
    #[cfg(test)]
    pub(crate) fn rsa_sign_with_header_for_tests(&self, signing_input: &str) -> String {
        let signer = self.rsa_signing.as_ref().expect("the set has an RSA key");
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &signer.encoding,
            Algorithm::RS256,
        )
        .expect("RS256 signs");
        format!("{signing_input}.{signature}")
    }

    pub fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.iter().find(|k| k.kid == kid)
    }

    /// The ids of every trusted key (of both kinds), oldest first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.verifying.iter().map(|k| k.kid.as_str())
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

    /// The A/B behind [`KeySet::sign_jwt`]: one access token signed by it
    /// and by `jsonwebtoken::encode`, on the claims `issue_for` makes, in
    /// alternating rounds (A B B A). Run with
    /// `cargo test --profile profiling --lib tokens::keys::tests::signing_ab -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn signing_ab() {
        use crate::tokens::AccessClaims;
        use crate::users::{Role, Subscription};
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
        use std::hint::black_box;
        use std::time::Instant;

        let dir = std::env::temp_dir().join(format!("tessera-sign-ab-{}", uuid::Uuid::new_v4()));
        KeySet::generate(&dir).unwrap();
        let keys = KeySet::load(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let encoding = EncodingKey::from_ed_der(keys.signing.to_pkcs8_der().unwrap().as_bytes());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.signing_kid.clone());
        let claims = AccessClaims {
            iss: "tessera".into(),
            aud: "tessera".into(),
            sub: uuid::Uuid::new_v4(),
            exp: 1_800_000_900,
            iat: 1_800_000_000,
            jti: uuid::Uuid::new_v4(),
            sid: uuid::Uuid::new_v4(),
            token_type: "access".into(),
            role: Role::Regular,
            subscription: Subscription::Free,
            client_id: "tessera".into(),
            scope: None,
            act: None,
            amr: None,
            acr: None,
            auth_time: None,
            cnf: None,
        };
        let hand = || keys.sign_jwt(&serde_json::to_vec(black_box(&claims)).unwrap());
        let library = || jsonwebtoken::encode(&header, black_box(&claims), &encoding).unwrap();

        // Both make tokens that verify with the published key.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.set_audience(&["tessera"]);
        let decoding = &keys.verifying[0].decoding;
        for token in [hand(), library()] {
            jsonwebtoken::decode::<AccessClaims>(&token, decoding, &validation).unwrap();
        }

        const N: u32 = 20_000;
        let round = |sign: &dyn Fn() -> String| {
            let start = Instant::now();
            for _ in 0..N {
                black_box(sign());
            }
            start.elapsed().as_nanos() as f64 / f64::from(N)
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            a.push(round(&hand));
            b.push(round(&library));
            b.push(round(&library));
            a.push(round(&hand));
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        };
        let (a_ns, b_ns) = (median(&mut a), median(&mut b));
        println!("sign_jwt:               {a:.0?} ns/op; median {a_ns:.0}");
        println!("jsonwebtoken::encode:   {b:.0?} ns/op; median {b_ns:.0}");
        println!("difference: {:.0} ns/op", b_ns - a_ns);
    }

    fn expire_retirement(dir: &Path, kid: &str) {
        std::fs::write(
            dir.join(format!("{kid}.retired")),
            "retired_at = 2020-01-01T00:00:00Z\npublished_until = 2020-01-01T00:15:00Z\n",
        )
        .unwrap();
    }

    #[test]
    fn the_set_gets_an_rsa_key_published_and_retired_like_the_others() {
        let dir = std::env::temp_dir().join(format!("tessera-rsa-{}", uuid::Uuid::new_v4()));
        let first = KeySet::generate_set(&dir).unwrap();
        let old_rsa = first.rsa.clone().expect("an empty set gets an RSA key");
        assert!(old_rsa.contains("-rsa-"), "{old_rsa}");
        let keys = KeySet::load(&dir).unwrap();
        assert_eq!(keys.signing_kid(), first.ed25519);
        assert_eq!(keys.rsa_signing_kid(), Some(old_rsa.as_str()));
        assert_eq!(keys.verifying_key(&old_rsa).unwrap().alg, JwsAlg::RS256);
        assert_eq!(
            keys.verifying_key(&first.ed25519).unwrap().alg,
            JwsAlg::EdDSA
        );

        // Published as RFC 7518's RSA key: exactly these members.
        let jwks: serde_json::Value = serde_json::from_str(keys.jwks_json()).unwrap();
        let rsa = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == old_rsa.as_str())
            .unwrap();
        let mut members: Vec<&str> = rsa
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
        assert_eq!(
            (&rsa["kty"], &rsa["alg"], &rsa["use"], &rsa["e"]),
            (
                &json!("RSA"),
                &json!("RS256"),
                &json!("sig"),
                &json!("AQAB")
            )
        );
        let n = URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap();
        assert_eq!((n.len(), n[0] & 0x80), (256, 0x80), "a 2048-bit modulus");
        let mode = std::fs::metadata(dir.join(format!("{old_rsa}.pem")))
            .unwrap()
            .permissions();
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );

        // A second `keys generate` adds an Ed25519 key only.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = KeySet::generate_set(&dir).unwrap();
        assert_eq!(second.rsa, None);

        // The only active RSA key cannot be retired; with a newer one it can,
        // and stays published until its grace is over.
        let grace = std::time::Duration::from_secs(900);
        assert!(matches!(
            KeySet::retire(&dir, &old_rsa, grace),
            Err(KeyError::OnlyActiveRsaKey(_))
        ));
        std::thread::sleep(std::time::Duration::from_millis(5));
        let new_rsa = KeySet::generate_rsa(&dir).unwrap();
        assert!(KeySet::retire(&dir, &old_rsa, grace).unwrap().newly_retired);
        // Retiring an Ed25519 key counts Ed25519 keys only.
        KeySet::retire(&dir, &first.ed25519, grace).unwrap();
        assert!(matches!(
            KeySet::retire(&dir, &second.ed25519, grace),
            Err(KeyError::OnlyActiveKey(_))
        ));
        let keys = KeySet::load(&dir).unwrap();
        assert_eq!(keys.signing_kid(), second.ed25519);
        assert_eq!(keys.rsa_signing_kid(), Some(new_rsa.as_str()));
        assert_eq!(
            keys.kids().collect::<Vec<_>>(),
            [
                first.ed25519.as_str(),
                old_rsa.as_str(),
                second.ed25519.as_str(),
                new_rsa.as_str()
            ]
        );

        expire_retirement(&dir, &old_rsa);
        let keys = KeySet::load(&dir).unwrap();
        assert!(keys.verifying_key(&old_rsa).is_none());
        assert!(!keys.jwks_json().contains(&old_rsa));
        assert_eq!(keys.rsa_signing_kid(), Some(new_rsa.as_str()));

        // With no active RSA key left (the old one retired, the new one
        // deleted), `keys generate` makes one again.
        std::fs::remove_file(dir.join(format!("{new_rsa}.pem"))).unwrap();
        let third = KeySet::generate_set(&dir).unwrap();
        assert!(third.rsa.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_development_start_makes_both_kinds_of_key() {
        let dir = std::env::temp_dir().join(format!("tessera-dev-keys-{}", uuid::Uuid::new_v4()));
        assert!(KeySet::load_or_generate(&dir, false).is_err());
        let keys = KeySet::load_or_generate(&dir, true).unwrap();
        assert!(keys.rsa_signing_kid().is_some());
        let jwks: serde_json::Value = serde_json::from_str(keys.jwks_json()).unwrap();
        let mut algs: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap())
            .collect();
        algs.sort_unstable();
        assert_eq!(algs, ["EdDSA", "RS256"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_tessera_cannot_use_are_refused_with_their_path() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        let dir = std::env::temp_dir().join(format!("tessera-bad-keys-{}", uuid::Uuid::new_v4()));
        KeySet::generate(&dir).unwrap();
        let weak = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let cases = [
            (
                EncodePrivateKey::to_pkcs8_pem(&weak, LineEnding::LF)
                    .unwrap()
                    .to_string(),
                "1024 bits",
            ),
            (
                weak.to_pkcs1_pem(LineEnding::LF).unwrap().to_string(),
                "RSA PRIVATE KEY",
            ),
            ("not a key".to_owned(), "PKCS#8"),
        ];
        for (pem, why) in cases {
            let path = dir.join("20990101T000000.000Z-bad.pem");
            std::fs::write(&path, pem).unwrap();
            let error = KeySet::load(&dir).err().unwrap();
            assert!(matches!(&error, KeyError::BadKey(p, _) if *p == path));
            assert!(error.to_string().contains(why), "{error}");
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_retired_key_stops_signing_then_drops_out_after_its_grace() {
        let dir = std::env::temp_dir().join(format!("tessera-retire-{}", uuid::Uuid::new_v4()));
        let old = KeySet::generate(&dir).unwrap();
        let grace = std::time::Duration::from_secs(900);
        assert!(matches!(
            KeySet::retire(&dir, &old, grace),
            Err(KeyError::OnlyActiveKey(_))
        ));
        assert!(matches!(
            KeySet::retire(&dir, "no-such-key", grace),
            Err(KeyError::UnknownKey { .. })
        ));
        std::thread::sleep(std::time::Duration::from_millis(5));
        let new = KeySet::generate(&dir).unwrap();
        let retirement = KeySet::retire(&dir, &old, grace).unwrap();
        assert!(retirement.newly_retired);
        assert_eq!(
            retirement.published_until - retirement.retired_at,
            chrono::Duration::seconds(900)
        );
        let again = KeySet::retire(&dir, &old, grace).unwrap();
        assert!(!again.newly_retired);
        assert_eq!(again.published_until, retirement.published_until);

        let keys = KeySet::load(&dir).unwrap();
        assert_eq!(keys.signing_kid(), new);
        assert_eq!(
            keys.kids().collect::<Vec<_>>(),
            [old.as_str(), new.as_str()]
        );

        // The newest key retired while an older one is active: the older signs.
        let newest = {
            std::thread::sleep(std::time::Duration::from_millis(5));
            KeySet::generate(&dir).unwrap()
        };
        KeySet::retire(&dir, &newest, grace).unwrap();
        assert_eq!(KeySet::load(&dir).unwrap().signing_kid(), new);

        std::fs::write(
            dir.join(format!("{old}.retired")),
            "retired_at = 2020-01-01T00:00:00Z\npublished_until = 2020-01-01T00:15:00Z\n",
        )
        .unwrap();
        let keys = KeySet::load(&dir).unwrap();
        assert!(keys.verifying_key(&old).is_none());
        assert!(!keys.jwks_json().contains(&old));

        std::fs::write(dir.join(format!("{new}.retired")), "garbage").unwrap();
        assert!(matches!(
            KeySet::load(&dir),
            Err(KeyError::BadRetirement(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
