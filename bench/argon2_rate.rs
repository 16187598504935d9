//! Raw argon2id hash rate on one thread with tessera's own parameters: the
//! ceiling for the login and register scenarios when the server has one core.
//! Prints one JSON line.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut hashes = 0u64;
    while Instant::now() < deadline {
        if let Err(e) = tessera::users::hash_password_blocking("bench passphrase 1234") {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        hashes += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("{{\"scenario\":\"argon2id_raw\",\"hashes\":{hashes},\"seconds\":{elapsed:.2},\"rps\":{:.1}}}", hashes as f64 / elapsed);
}
