//! Key rotation: several keys, the newest active one signs, older ones keep
//! verifying; `tessera keys retire` stops a key signing while it stays
//! published until every token it signed has expired; instances pick up key
//! changes without a restart. The set's RSA key (RS256 ID tokens) is
//! published, rotated and retired the same way, and never signs an access
//! token.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{free_port, spawn_app_with, TestApp};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera::tokens::KeySet;

fn fresh_keys_dir() -> PathBuf {
    std::env::temp_dir().join(format!("tessera-rotation-{}", uuid::Uuid::new_v4()))
}

fn with_keys(dir: &Path) -> Figment {
    Figment::new().merge(Serialized::default("jwt.keys_dir", dir))
}

/// `tessera keys <args>` against `dir`: (success, stdout, stderr).
fn keys_cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("keys")
        .args(args)
        .env("TESSERA__JWT__KEYS_DIR", dir)
        .stdin(Stdio::null())
        .output()
        .expect("run tessera");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    )
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The published keys of JOSE algorithm `alg`, newest first, each checked
/// to be the JWK its kind should be.
async fn published(app: &TestApp, alg: &str) -> Vec<String> {
    let jwks = app.jwks().await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|k| {
            let mut members: Vec<&str> =
                k.as_object().unwrap().keys().map(|m| m.as_str()).collect();
            members.sort_unstable();
            assert_eq!(k["use"], "sig");
            match k["alg"].as_str() {
                Some("EdDSA") => {
                    assert_eq!((&k["kty"], &k["crv"]), (&json!("OKP"), &json!("Ed25519")));
                    assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"]);
                }
                Some("RS256") => {
                    assert_eq!((&k["kty"], &k["e"]), (&json!("RSA"), &json!("AQAB")));
                    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
                    let n = URL_SAFE_NO_PAD.decode(k["n"].as_str().unwrap()).unwrap();
                    assert_eq!(n.len(), 256, "an RSA-2048 modulus");
                }
                other => panic!("unexpected alg {other:?}"),
            }
        })
        .filter(|k| k["alg"] == alg)
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    published(app, "EdDSA").await
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_retirement_waits_for_them_to_expire() {
    let dir = fresh_keys_dir();
    let old = KeySet::generate(&dir).unwrap();
    let before = spawn_app_with(with_keys(&dir)).await;
    let (user, old_token) = before.signed_in_user().await;
    assert_eq!(kid_of(&old_token.access), old);

    // Rotate: a new key signs; the old one still verifies. The set had no
    // RSA key, so `keys generate` made one too (the second line).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (ok, made, _) = keys_cli(&dir, &["generate"]);
    assert!(ok);
    let (new, rsa) = made.split_once('\n').unwrap();
    let (new, rsa) = (new.to_owned(), rsa.to_owned());
    let after = spawn_app_with(with_keys(&dir)).await;
    assert_eq!(published_kids(&after).await, [new.as_str(), old.as_str()]);
    assert_eq!(published(&after, "RS256").await, [rsa.as_str()]);
    let new_token = after.login(&user).await;
    assert_eq!(kid_of(&new_token.access), new);
    after.assert_verify(&old_token.access, StatusCode::OK).await;

    // Retire the old key: it stays published and verifying for the access
    // token lifetime.
    let (ok, stdout, stderr) = keys_cli(&dir, &["retire", &old]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("retired") && stdout.contains("until"),
        "{stdout}"
    );
    let retired = spawn_app_with(with_keys(&dir)).await;
    assert_eq!(published_kids(&retired).await, [new.as_str(), old.as_str()]);
    retired
        .assert_verify(&old_token.access, StatusCode::OK)
        .await;
    assert_eq!(kid_of(&retired.login(&user).await.access), new);

    // The only active key cannot be retired.
    let (ok, _, stderr) = keys_cli(&dir, &["retire", &new]);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("only active signing key"),
        "{stderr}"
    );
    let (ok, _, stderr) = keys_cli(&dir, &["retire", "no-such-kid"]);
    assert!(!ok);
    assert!(stderr.contains("no key no-such-kid"), "{stderr}");

    // Once the grace is over the old key is gone, and so are its tokens.
    std::fs::write(
        dir.join(format!("{old}.retired")),
        "retired_at = 2020-01-01T00:00:00Z\npublished_until = 2020-01-01T00:15:00Z\n",
    )
    .unwrap();
    let later = spawn_app_with(with_keys(&dir)).await;
    assert_eq!(published_kids(&later).await, [new.as_str()]);
    later
        .assert_verify(&old_token.access, StatusCode::UNAUTHORIZED)
        .await;
    later.assert_verify(&new_token.access, StatusCode::OK).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_running_instance_picks_up_new_and_expired_keys_without_a_restart() {
    let dir = fresh_keys_dir();
    let old = KeySet::generate(&dir).unwrap();
    let app =
        spawn_app_with(with_keys(&dir).merge(Serialized::default("jwt.keys_reload_secs", 1))).await;
    let (user, old_token) = app.signed_in_user().await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let new = KeySet::generate(&dir).unwrap();
    KeySet::retire(&dir, &old, Duration::from_secs(900)).unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while published_kids(&app).await != [new.as_str(), old.as_str()] {
        assert!(Instant::now() < deadline, "the new key was never published");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(kid_of(&app.login(&user).await.access), new);
    app.assert_verify(&old_token.access, StatusCode::OK).await;

    std::fs::write(
        dir.join(format!("{old}.retired")),
        "retired_at = 2020-01-01T00:00:00Z\npublished_until = 2020-01-01T00:15:00Z\n",
    )
    .unwrap();
    while published_kids(&app).await != [new.as_str()] {
        assert!(
            Instant::now() < deadline,
            "the expired key was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.assert_verify(&old_token.access, StatusCode::UNAUTHORIZED)
        .await;

    // A broken key directory leaves the current set in force.
    std::fs::write(dir.join(format!("{new}.retired")), "garbage").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(published_kids(&app).await, [new.as_str()]);
    assert_eq!(kid_of(&app.login(&user).await.access), new);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_rsa_key_is_published_rotated_and_retired_like_an_ed25519_one() {
    let dir = fresh_keys_dir();
    let (ok, made, stderr) = keys_cli(&dir, &["generate"]);
    assert!(ok, "{stderr}");
    let (ed25519, old_rsa) = made.split_once('\n').expect("two key ids");
    assert!(old_rsa.contains("-rsa-"), "{old_rsa}");
    let app = spawn_app_with(with_keys(&dir)).await;
    assert_eq!(published(&app, "RS256").await, [old_rsa]);
    assert_eq!(published_kids(&app).await, [ed25519]);
    // Access tokens stay EdDSA, by the Ed25519 key.
    let (user, token) = app.signed_in_user().await;
    assert_eq!(kid_of(&token.access), ed25519);
    let header = token.access.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");

    // The only active RSA key cannot be retired; `keys generate --rsa` adds
    // a successor, and then it can.
    let (ok, _, stderr) = keys_cli(&dir, &["retire", old_rsa]);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("only active RSA key") && stderr.contains("--rsa"),
        "{stderr}"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (ok, new_rsa, stderr) = keys_cli(&dir, &["generate", "--rsa"]);
    assert!(ok, "{stderr}");
    assert!(
        new_rsa.contains("-rsa-") && !new_rsa.contains('\n'),
        "{new_rsa}"
    );
    let (ok, stdout, stderr) = keys_cli(&dir, &["retire", old_rsa]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("retired"), "{stdout}");

    // Retired, it stays published for the grace.
    let retired = spawn_app_with(with_keys(&dir)).await;
    assert_eq!(
        published(&retired, "RS256").await,
        [new_rsa.as_str(), old_rsa]
    );
    assert_eq!(kid_of(&retired.login(&user).await.access), ed25519);
    // A second `keys generate` adds no RSA key: one is active.
    let (ok, made, _) = keys_cli(&dir, &["generate"]);
    assert!(ok);
    assert_eq!(made.lines().count(), 1, "{made}");

    // After it, the retired RSA key is gone, like an Ed25519 key.
    std::fs::write(
        dir.join(format!("{old_rsa}.retired")),
        "retired_at = 2020-01-01T00:00:00Z\npublished_until = 2020-01-01T00:15:00Z\n",
    )
    .unwrap();
    let later = spawn_app_with(with_keys(&dir)).await;
    assert_eq!(published(&later, "RS256").await, [new_rsa.as_str()]);
    assert_eq!(published_kids(&later).await, [made.as_str(), ed25519]);
    later.assert_verify(&token.access, StatusCode::OK).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `GET path` on 127.0.0.1:`port`; the body of a 200, else `None`.
fn get_body(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

fn served_kids(port: u16) -> Option<Vec<String>> {
    let jwks: Value = serde_json::from_str(&get_body(port, "/.well-known/jwks.json")?).ok()?;
    Some(
        jwks["keys"]
            .as_array()?
            .iter()
            .filter_map(|k| k["kid"].as_str().map(str::to_owned))
            .collect(),
    )
}

#[test]
fn sighup_makes_a_running_server_reload_its_keys() {
    let dir = fresh_keys_dir();
    let old = KeySet::generate(&dir).unwrap();
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("serve")
        .env("TESSERA__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("TESSERA__JWT__KEYS_DIR", &dir)
        .env("TESSERA__JWT__KEYS_RELOAD_SECS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let signal = |name: &str| {
        Command::new("kill")
            .args([name, &server.id().to_string()])
            .status()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut before = None;
    while before.is_none() && Instant::now() < deadline {
        before = served_kids(port);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(5));
    let new = KeySet::generate(&dir).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let unchanged = served_kids(port);
    signal("-HUP");
    let mut after = None;
    while Instant::now() < deadline {
        after = served_kids(port);
        if after.as_ref().is_some_and(|kids| kids.len() == 2) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    signal("-TERM");
    let stop = Instant::now() + Duration::from_secs(15);
    while matches!(server.try_wait(), Ok(None)) && Instant::now() < stop {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(before, Some(vec![old.clone()]), "server never answered");
    assert_eq!(
        unchanged,
        Some(vec![old.clone()]),
        "no timer reload when disabled"
    );
    assert_eq!(after, Some(vec![new, old]));
}
