//! The wire form shared by tessera's opaque tokens (refresh tokens, one-time
//! tokens): a fixed number of bytes as unpadded base64url.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Length of the wire form of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    (4 * n).div_ceil(3)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
