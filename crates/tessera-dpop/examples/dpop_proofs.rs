//! DPoP proofs for the load harness (`make bench`), and the in-process cost
//! of checking one.
//!
//! ```text
//! dpop_proofs key SEED_FILE
//!     Makes SEED_FILE (a fresh random Ed25519 seed, 64 hex digits) unless it
//!     exists; prints the key's public JWK and RFC 7638 thumbprint as one
//!     JSON object: {"jwk": {...}, "jkt": "..."}.
//! dpop_proofs gen SEED_FILE HTM HTU COUNT [ACCESS_FILE]
//!     Prints COUNT proofs by that key, one per line: typ dpop+jwt, alg
//!     EdDSA, the public jwk in the header; claims jti (unique: a random
//!     prefix and a counter), htm, htu, iat = now (read per proof). With
//!     ACCESS_FILE (access tokens, one per line; empty lines skipped) proof i
//!     carries the ath of token i mod n and the line is "K PROOF", K the
//!     token's 1-based number among the file's tokens (a Lua script maps it
//!     back, rather than reading every token once per proof). The key's
//!     thumbprint goes to stderr.
//! dpop_proofs measure [SECONDS] [ACCESS_FILE]
//!     Times, each for SECONDS (1 by default) on the calling thread:
//!     tessera_dpop::check of a resource proof (GET, htu, ath of an access
//!     token: ACCESS_FILE's first one, else a made-up 600-byte one), one
//!     Ed25519 signature check alone (jsonwebtoken's, the one check calls,
//!     key decoded once; ed25519-dalek's beside it) and one Ed25519
//!     signature (ed25519-dalek, as tessera signs its tokens and this tool
//!     its proofs). Prints one JSON line per figure:
//!     {"scenario": "dpop_check_in_process" | "ed25519_verify_in_process" |
//!      "ed25519_sign_in_process", "us_per_op", "ops_per_s", "ops", ...}.
//! ```
//! Standard library randomness: /dev/urandom.

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::process::exit;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::{Digest, Sha256};
use tessera_dpop::{ath, check, Expected, DPOP_JWT_TYPE};

fn usage() -> ! {
    eprintln!(
        "usage: dpop_proofs key SEED_FILE\n       \
         dpop_proofs gen SEED_FILE HTM HTU COUNT [ACCESS_FILE]\n       \
         dpop_proofs measure [SECONDS] [ACCESS_FILE]"
    );
    exit(2)
}

fn fail(message: String) -> ! {
    eprintln!("dpop_proofs: {message}");
    exit(1)
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .unwrap_or_else(|e| fail(format!("/dev/urandom: {e}")));
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn read_lines(path: &str) -> Vec<String> {
    let lines: Vec<String> = fs::read_to_string(path)
        .unwrap_or_else(|e| fail(format!("{path}: {e}")))
        .split('\n')
        // As bench/tokens.lua's read_lines counts them.
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.is_empty() {
        fail(format!("{path}: no access token in it"));
    }
    lines
}

/// A client's key, and the proof header that names it (encoded once).
struct Client {
    signing: SigningKey,
    x: String,
    header: String,
}

impl Client {
    fn new(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let header = format!(
            r#"{{"typ":"{DPOP_JWT_TYPE}","alg":"EdDSA","jwk":{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}}}"#
        );
        Self {
            signing,
            header: URL_SAFE_NO_PAD.encode(header),
            x,
        }
    }

    /// Reads SEED_FILE; with `create`, makes it first when it is missing.
    fn load(path: &str, create: bool) -> Self {
        if create && fs::metadata(path).is_err() {
            fs::write(path, format!("{}\n", hex(&random::<32>())))
                .unwrap_or_else(|e| fail(format!("{path}: {e}")));
        }
        let text = fs::read_to_string(path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
        let text = text.trim();
        let mut seed = [0u8; 32];
        if text.len() != 64 {
            fail(format!("{path}: not an Ed25519 seed of 64 hex digits"));
        }
        for (i, byte) in seed.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .unwrap_or_else(|_| fail(format!("{path}: not hex")));
        }
        Self::new(seed)
    }

    fn jwk(&self) -> String {
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, self.x)
    }

    /// RFC 7638: SHA-256 over the required members in lexicographic order.
    fn jkt(&self) -> String {
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, self.x);
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// One proof; `htm_htu` is `"htm":"...","htu":"..."` already written.
    fn proof(&self, jti: &str, htm_htu: &str, iat: u64, ath: Option<&str>) -> String {
        let claims = match ath {
            Some(ath) => format!(r#"{{"jti":"{jti}",{htm_htu},"iat":{iat},"ath":"{ath}"}}"#),
            None => format!(r#"{{"jti":"{jti}",{htm_htu},"iat":{iat}}}"#),
        };
        let mut token = String::with_capacity(self.header.len() + claims.len() * 4 / 3 + 90);
        token.push_str(&self.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.signing.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        token
    }
}

fn htm_htu(htm: &str, htu: &str) -> String {
    format!(
        r#""htm":{},"htu":{}"#,
        serde_json::Value::from(htm),
        serde_json::Value::from(htu)
    )
}

fn generate(args: &[String]) {
    let [seed_file, htm, htu, count, rest @ ..] = args else {
        usage()
    };
    let count: usize = count.parse().unwrap_or_else(|_| usage());
    let client = Client::load(seed_file, false);
    let access = rest.first().map(|path| read_lines(path));
    let aths: Option<Vec<String>> = access
        .as_ref()
        .map(|tokens| tokens.iter().map(|t| ath(t)).collect());
    let fixed = htm_htu(htm, htu);
    let prefix = hex(&random::<12>());
    let jkt = client.jkt();
    // The first proof is checked here, so a harness never replays a batch the
    // server would refuse for this tool's own mistake.
    let probe = client.proof(
        "probe",
        &fixed,
        now_secs(),
        aths.as_ref().map(|a| a[0].as_str()),
    );
    let expected = Expected {
        method: htm,
        uri: htu,
        access_token: access.as_ref().map(|t| t[0].as_str()),
        now: now_secs(),
        max_age: 60,
    };
    match check(&probe, &expected) {
        Ok(proof) if proof.jkt == jkt => {}
        Ok(proof) => fail(format!("thumbprint {} is not {jkt}", proof.jkt)),
        Err(e) => fail(format!(
            "tessera_dpop::check refuses this tool's proof: {e}"
        )),
    }
    eprintln!("dpop_proofs: {count} proofs {htm} {htu} by key {jkt}");
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut jti = String::with_capacity(48);
    for i in 0..count {
        jti.clear();
        jti.push_str(&prefix);
        jti.push('-');
        jti.push_str(&i.to_string());
        let pair = access.as_ref().map(|tokens| i % tokens.len());
        let proof = client.proof(
            &jti,
            &fixed,
            now_secs(),
            pair.and_then(|i| aths.as_ref().map(|a| a[i].as_str())),
        );
        let written = match pair {
            Some(k) => writeln!(out, "{} {proof}", k + 1),
            None => writeln!(out, "{proof}"),
        };
        written.unwrap_or_else(|e| fail(format!("stdout: {e}")));
    }
    out.flush().unwrap_or_else(|e| fail(format!("stdout: {e}")));
}

/// Runs `op` over `inputs` round and round for `seconds`; µs per call and
/// the number of calls.
fn time<T>(seconds: f64, inputs: &[T], mut op: impl FnMut(&T)) -> (f64, u64) {
    // A short warm-up (caches, frequency).
    for input in inputs.iter().take(200) {
        op(input);
    }
    let budget = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut ops = 0u64;
    while started.elapsed() < budget {
        for input in inputs {
            op(input);
        }
        ops += inputs.len() as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    (1e6 * elapsed / ops as f64, ops)
}

fn row(scenario: &str, (us, ops): (f64, u64), extra: &str) {
    println!(
        r#"{{"scenario":"{scenario}","us_per_op":{us:.2},"ops_per_s":{:.0},"ops":{ops}{extra}}}"#,
        1e6 / us
    );
}

fn measure(args: &[String]) {
    let seconds: f64 = args
        .first()
        .map(|s| s.parse().unwrap_or_else(|_| usage()))
        .unwrap_or(1.0);
    let access = args
        .get(1)
        .map(|path| read_lines(path).swap_remove(0))
        .unwrap_or_else(|| "a".repeat(600));
    let client = Client::new(random::<32>());
    let htu = "https://api.example.com/bench/resource";
    let fixed = htm_htu("GET", htu);
    let token_ath = ath(&access);
    let now = now_secs();
    // Distinct proofs (as the server sees them), checked round and round:
    // check keeps no state, the jti is the caller's to spend.
    let proofs: Vec<String> = (0..1000)
        .map(|i| client.proof(&format!("measure-{i}"), &fixed, now, Some(&token_ath)))
        .collect();
    let expected = Expected {
        method: "GET",
        uri: htu,
        access_token: Some(&access),
        now,
        max_age: 3600,
    };
    for proof in &proofs {
        if let Err(e) = check(proof, &expected) {
            fail(format!("tessera_dpop::check refuses a proof: {e}"));
        }
    }
    let checked = time(seconds, &proofs, |proof| {
        std::hint::black_box(check(std::hint::black_box(proof), &expected).is_ok());
    });
    row(
        "dpop_check_in_process",
        checked,
        &format!(
            r#","proof_bytes":{},"access_token_bytes":{}"#,
            proofs[0].len(),
            access.len()
        ),
    );

    // The signature alone: signing input and signature of each proof.
    let split: Vec<(&str, &str)> = proofs
        .iter()
        .map(|p| p.rsplit_once('.').expect("a compact JWS"))
        .collect();
    let key = DecodingKey::from_ed_components(&client.x).expect("an Ed25519 key");
    let ring = time(seconds, &split, |(message, signature)| {
        let ok =
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, Algorithm::EdDSA);
        assert!(matches!(std::hint::black_box(ok), Ok(true)));
    });
    let verifying = client.signing.verifying_key();
    let raw: Vec<(&[u8], ed25519_dalek::Signature)> = split
        .iter()
        .map(|(message, signature)| {
            let bytes = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
            let signature = ed25519_dalek::Signature::from_slice(&bytes).expect("64 bytes");
            (message.as_bytes(), signature)
        })
        .collect();
    let dalek = time(seconds, &raw, |(message, signature)| {
        assert!(std::hint::black_box(verifying.verify(message, signature)).is_ok());
    });
    row(
        "ed25519_verify_in_process",
        ring,
        &format!(
            r#","library":"jsonwebtoken (ring), as tessera_dpop::check","dalek_us_per_op":{:.2}"#,
            dalek.0
        ),
    );
    let messages: Vec<&[u8]> = split.iter().map(|(m, _)| m.as_bytes()).collect();
    let signed = time(seconds, &messages, |message| {
        std::hint::black_box(client.signing.sign(message));
    });
    row(
        "ed25519_sign_in_process",
        signed,
        r#","library":"ed25519-dalek, as tessera signs tokens""#,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("key") if args.len() == 2 => {
            let client = Client::load(&args[1], true);
            println!(r#"{{"jwk":{},"jkt":"{}"}}"#, client.jwk(), client.jkt());
        }
        Some("gen") => generate(&args[1..]),
        Some("measure") => measure(&args[1..]),
        _ => usage(),
    }
}
