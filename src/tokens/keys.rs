//! The Ed25519 key set: one PKCS#8 PEM file per key, `<kid>.pem`, in
//! `jwt.keys_dir`. Key ids start with a UTC timestamp, so the newest key sorts
//! last; the newest key that is not retired signs, and every key still
//! trusted is published in the JWKS.
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
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::Signer;
use ed25519_dalek::SigningKey;
use jsonwebtoken::DecodingKey;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// The JOSE `typ` of an access token (RFC 9068 §2.1): the header the signer
/// writes.
pub const ACCESS_TOKEN_JWT_TYPE: &str = "at+jwt";

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
    #[error(
        "{0} is not a valid retirement file (expected a `published_until = <RFC 3339 time>` line)"
    )]
    BadRetirement(PathBuf),
    #[error("no key {kid} in {dir}")]
    UnknownKey { kid: String, dir: PathBuf },
    #[error("{0} is the only active signing key; run `tessera keys generate` before retiring it")]
    OnlyActiveKey(String),
}

pub struct VerifyingKey {
    pub kid: String,
    pub decoding: DecodingKey,
    /// The raw public key, base64url (the JWK `x`).
    pub x: String,
}

// What `/.well-known/jwks.json` serves, serialised once per key change.
/// A JSON Web Key Set (RFC 7517) of Ed25519 public keys.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "20261121T220000Z-ab12", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))]
struct Jwk {
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
    x: String,
}

impl Jwk {
    fn of(key: &VerifyingKey) -> Self {
        Self {
            kty: "OKP",
            crv: "Ed25519",
            alg: "EdDSA",
            usage: "sig",
            kid: key.kid.clone(),
            x: key.x.clone(),
        }
    }
}

/// One loaded snapshot of the key directory.
pub struct KeySet {
    dir: PathBuf,
    signing_kid: String,
    /// Kept expanded, so signing costs one signature and nothing more.
    signing: SigningKey,
    /// base64url of the JOSE header naming the signing key, encoded once.
    signing_header: String,
    verifying: Vec<VerifyingKey>,
    jwks: String,
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
        let mut keys = Vec::new();
        let mut signer = None;
        for file in key_files(dir)? {
            if file.trusted_until.is_some_and(|until| until <= now) {
                continue;
            }
            let pem = std::fs::read_to_string(&file.pem).map_err(io_error(&file.pem))?;
            let key = SigningKey::from_pkcs8_pem(&pem)
                .map_err(|e| KeyError::BadKey(file.pem.clone(), e.to_string()))?;
            if file.trusted_until.is_none() {
                signer = Some((file.kid.clone(), key.clone()));
            }
            keys.push((file.kid, key));
        }
        let Some((signing_kid, signing)) = signer else {
            return Err(KeyError::NoKeys(dir.to_path_buf()));
        };
        let signing_header = URL_SAFE_NO_PAD.encode(
            json!({ "typ": ACCESS_TOKEN_JWT_TYPE, "alg": "EdDSA", "kid": signing_kid }).to_string(),
        );
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
        let jwks = Jwks {
            keys: verifying.iter().rev().map(Jwk::of).collect(),
        };
        // Strings only, so serialising cannot fail; and this runs at start-up
        // and on a key reload, never on a request.
        let jwks = serde_json::to_string(&jwks).expect("a JWKS serialises");
        Ok(Self {
            dir: dir.to_path_buf(),
            signing_kid,
            signing,
            signing_header,
            verifying,
            jwks,
        })
    }

    /// Loads the directory this set came from again.
    pub fn reload(&self) -> Result<Self, KeyError> {
        Self::load(&self.dir)
    }

    /// The key set in `dir`; when it holds none and `may_generate` (a
    /// development install), a first key is made there (the command line's
    /// token minting uses it too).
    pub fn load_or_generate(dir: &Path, may_generate: bool) -> Result<Self, KeyError> {
        match Self::load(dir) {
            Err(KeyError::NoKeys(_) | KeyError::Io { .. }) if may_generate => {
                let kid = Self::generate(dir)?;
                tracing::warn!(%kid, dir = %dir.display(), "no signing key found; generated one (development only)");
                Self::load(dir)
            }
            loaded => loaded,
        }
    }

    /// Writes a new key to `dir` (creating it) and returns its id.
    pub fn generate(dir: &Path) -> Result<String, KeyError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        // A seed from rand's thread generator (a CSPRNG seeded from the OS).
        let key = SigningKey::from_bytes(&rand::random());
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

    /// Retires `kid`: it stops signing at once and stays trusted for `grace`
    /// (the access token lifetime), so every token it signed can expire
    /// first. Retiring an already retired key changes nothing.
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
        if !files
            .iter()
            .any(|f| f.kid != kid && f.trusted_until.is_none())
        {
            return Err(KeyError::OnlyActiveKey(kid.to_owned()));
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

    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
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

    pub fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.iter().find(|k| k.kid == kid)
    }

    /// The ids of every trusted key, oldest first.
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
