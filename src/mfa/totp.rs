//! RFC 6238 codes through `totp-rs` (HMAC-SHA-1, 6 digits, 30 s steps):
//! new secrets, their `otpauth://` URI and QR code, and which time step a
//! code belongs to, so a code is accepted once (RFC 6238 §5.2).

use qrcode::render::svg;
use qrcode::QrCode;
use totp_rs::{Algorithm, TOTP};

pub const DIGITS: usize = 6;
pub const STEP_SECS: u64 = 30;
/// 160 bits, RFC 4226 §4's recommended length (and SHA-1's block output).
pub const SECRET_LEN: usize = 20;

/// Six ASCII digits, as typed from an authenticator app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCode(String);

impl TotpCode {
    /// Spaces inside (`123 456`, as apps show it) are dropped first.
    pub fn parse(typed: &str) -> Result<Self, &'static str> {
        let digits: String = typed.chars().filter(|c| *c != ' ').collect();
        if digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err("The code must be the 6 digits your authenticator app shows.")
        }
    }
}

/// A new random secret (rand's thread generator, a CSPRNG seeded by the OS).
pub fn new_secret() -> [u8; SECRET_LEN] {
    rand::random()
}

/// The authenticator of `secret`; `None` only for a secret too short for
/// RFC 4226 (never one of ours) or a label with `:`.
fn authenticator(secret: &[u8], issuer: Option<&str>, account: &str) -> Option<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS,
        secret.to_vec(),
        issuer.map(str::to_owned),
        account.to_owned(),
    )
    .ok()
}

/// What an enrolment shows the user once: the secret in base32 (to type
/// in), the `otpauth://` URI and its QR code as SVG.
pub struct Provisioning {
    pub secret: String,
    pub uri: String,
    pub qr_svg: String,
}

/// `account` names the user in the app (no `:`: a username never has one),
/// `issuer` the service (`mfa.issuer`, checked for `:` at start-up).
pub fn provisioning(secret: &[u8], issuer: &str, account: &str) -> Option<Provisioning> {
    let totp = authenticator(secret, Some(issuer), account)?;
    let uri = totp.get_url();
    let qr_svg = QrCode::new(uri.as_bytes())
        .ok()?
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Some(Provisioning {
        secret: totp.get_secret_base32(),
        uri,
        qr_svg,
    })
}

/// The time step `code` belongs to, among the current one and one either
/// side (clock drift), if it is after `after` (the last step accepted):
/// a code of a step at or before the last accepted one never passes.
/// `now` in unix seconds.
pub fn matching_step(secret: &[u8], code: &TotpCode, now: u64, after: Option<i64>) -> Option<i64> {
    let totp = authenticator(secret, None, "")?;
    let current = (now / STEP_SECS) as i64;
    (current - 1..=current + 1)
        .filter(|step| *step >= 0 && after.is_none_or(|last| *step > last))
        .find(|step| totp.check(&code.0, *step as u64 * STEP_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret and its 8-digit vectors, cut to 6.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_rfc_6238_test_vectors() {
        for (time, code) in [
            (59u64, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
        ] {
            let code = TotpCode::parse(code).unwrap();
            let step = matching_step(RFC_SECRET, &code, time, None);
            assert_eq!(step, Some((time / STEP_SECS) as i64), "{time}");
        }
    }

    #[test]
    fn one_step_of_drift_either_way_and_never_a_used_step() {
        let totp = authenticator(RFC_SECRET, None, "").unwrap();
        let now = 1_700_000_000u64;
        let current = (now / STEP_SECS) as i64;
        for offset in [-1i64, 0, 1] {
            let step = current + offset;
            let code = TotpCode::parse(&totp.generate(step as u64 * STEP_SECS)).unwrap();
            assert_eq!(matching_step(RFC_SECRET, &code, now, None), Some(step));
            assert_eq!(matching_step(RFC_SECRET, &code, now, Some(step)), None);
            assert_eq!(
                matching_step(RFC_SECRET, &code, now, Some(step - 1)),
                Some(step)
            );
        }
        let far = TotpCode::parse(&totp.generate((current as u64 + 2) * STEP_SECS)).unwrap();
        assert_eq!(matching_step(RFC_SECRET, &far, now, None), None);
    }

    #[test]
    fn only_six_digits_are_a_code() {
        assert!(TotpCode::parse("123456").is_ok());
        assert_eq!(TotpCode::parse("123 456"), TotpCode::parse("123456"));
        for bad in [
            "12345",
            "1234567",
            "12345a",
            "",
            "１２３４５６",
            "123\u{0}56",
        ] {
            assert!(TotpCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn provisioning_names_the_issuer_and_draws_the_uri() {
        let shown = provisioning(&new_secret(), "tessera", "alice").unwrap();
        assert!(
            shown.uri.starts_with("otpauth://totp/tessera:alice?"),
            "{}",
            shown.uri
        );
        assert!(shown.uri.contains(&format!("secret={}", shown.secret)));
        assert!(shown.uri.contains("issuer=tessera"));
        assert_eq!(shown.secret.len(), 32);
        assert!(shown.qr_svg.starts_with("<?xml") && shown.qr_svg.contains("<svg"));
    }
}
