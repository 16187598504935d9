//! Recovery codes: 10 per set, each 80 random bits written as 16 base32
//! letters in four groups (`abcd-efgh-ijkm-2345`), shown once. Only their
//! SHA-256 is kept (with the user's id, so one code hashes apart per user):
//! 80 random bits need no slow hash to resist guessing.

use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const COUNT: usize = 10;
const LETTERS: usize = 16;
/// RFC 4648 base32 in lower case: 32 symbols, 5 bits each.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A recovery code as typed: case, spaces and hyphens do not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    pub fn parse(typed: &str) -> Result<Self, &'static str> {
        let letters: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if letters.len() == LETTERS && letters.bytes().all(|b| ALPHABET.contains(&b)) {
            Ok(Self(letters))
        } else {
            Err("A recovery code is 16 letters and digits, as it was shown (hyphens optional).")
        }
    }

    /// What the store keeps of it for `user_id`.
    pub fn hash(&self, user_id: Uuid) -> Vec<u8> {
        let mut digest = Sha256::new();
        digest.update(user_id.as_bytes());
        digest.update(self.0.as_bytes());
        digest.finalize().to_vec()
    }
}

/// A fresh set: the codes to show, in groups of four.
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let bytes: [u8; LETTERS] = rand::random();
            // 256 is a multiple of 32: each symbol is uniform.
            let letters: Vec<char> = bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect();
            letters
                .chunks(4)
                .map(|group| group.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_code_parses_however_it_is_typed() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), COUNT);
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            let parsed = RecoveryCode::parse(code).unwrap();
            assert_eq!(
                RecoveryCode::parse(&code.to_uppercase().replace('-', " ")),
                Ok(parsed.clone())
            );
            let user = Uuid::new_v4();
            assert_eq!(parsed.hash(user), parsed.hash(user));
            assert_ne!(parsed.hash(user), parsed.hash(Uuid::new_v4()));
        }
    }

    #[test]
    fn anything_else_is_not_a_recovery_code() {
        for bad in [
            "",
            "abcd-efgh",
            "abcd-efgh-ijkl-mnop-q",
            "abcd-efgh-ijkl-mno1",
            "abcd\0efgh-ijkl-mnop",
        ] {
            assert!(RecoveryCode::parse(bad).is_err(), "{bad:?}");
        }
    }
}
