//! Email, username and new password: types that exist only when their
//! rules pass. Each rule is checked in the order the spec lists them, and
//! the first that fails is the one reported, in its own words.

use std::collections::HashSet;
use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 30;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
const EMAIL_MAX: usize = 254;

/// Names no one may register: they impersonate the service or its staff, or
/// collide with routes.
const RESERVED_USERNAMES: &[&str] = &[
    "abuse",
    "account",
    "accounts",
    "admin",
    "administrator",
    "api",
    "auth",
    "billing",
    "contact",
    "docs",
    "health",
    "help",
    "hostmaster",
    "info",
    "login",
    "logout",
    "mail",
    "metrics",
    "moderator",
    "no-reply",
    "noreply",
    "null",
    "oauth",
    "owner",
    "postmaster",
    "register",
    "root",
    "security",
    "settings",
    "signin",
    "signup",
    "staff",
    "superuser",
    "support",
    "sysadmin",
    "system",
    "tessera",
    "undefined",
    "webmaster",
];

/// SecLists' 10,000 most common passwords, matched case-insensitively.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .map(|line| line.trim().to_lowercase())
        .filter(|line| !line.is_empty())
        .collect()
});

/// An email address that passed [`Email::parse`], lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Why an address is refused; each text is the rule's own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value is not a valid email address: {}", self.why())]
pub enum EmailError {
    TooLong,
    NoAtSign,
    NothingBefore,
    NothingAfter,
    LocalTooLong,
    BadLocal,
    NoPeriod,
    BadDomain,
}

impl EmailError {
    fn why(&self) -> &'static str {
        match self {
            EmailError::TooLong => "The email address is too long.",
            EmailError::NoAtSign => "An email address must have an @-sign.",
            EmailError::NothingBefore => "There must be something before the @-sign.",
            EmailError::NothingAfter => "There must be something after the @-sign.",
            EmailError::LocalTooLong => "The email address is too long before the @-sign.",
            EmailError::BadLocal => "The part before the @-sign is not valid.",
            EmailError::NoPeriod => {
                "The part after the @-sign is not valid. It should have a period."
            }
            EmailError::BadDomain => "The part after the @-sign is not valid.",
        }
    }
}

impl Email {
    /// Checks an address against the rules, in order, and lower-cases it.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        if raw.len() > EMAIL_MAX {
            return Err(EmailError::TooLong);
        }
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return Err(EmailError::NoAtSign);
        };
        if local.is_empty() {
            return Err(EmailError::NothingBefore);
        }
        if domain.is_empty() {
            return Err(EmailError::NothingAfter);
        }
        if local.len() > 64 {
            return Err(EmailError::LocalTooLong);
        }
        let local_ok = local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
        });
        if !local_ok {
            return Err(EmailError::BadLocal);
        }
        if !domain.contains('.') {
            return Err(EmailError::NoPeriod);
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let labels_ok = labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        let tld_ok = labels
            .last()
            .is_some_and(|tld| tld.chars().any(|c| c.is_ascii_alphabetic()));
        if !labels_ok || !tld_ok {
            return Err(EmailError::BadDomain);
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A username that passed [`Username::parse`], in its original case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("The username cannot be empty or consist only of whitespace.")]
    Empty,
    #[error("The username cannot contain spaces at the beginning or end.")]
    Padded,
    #[error("The username must be between {USERNAME_MIN} and {USERNAME_MAX} characters long.")]
    Length,
    #[error("The username may contain only letters, digits, underscores and hyphens.")]
    Charset,
    #[error("The username cannot contain consecutive underscores or hyphens.")]
    Consecutive,
    #[error("This username is reserved.")]
    Reserved,
}

impl Username {
    /// Checks a username against the rules, in order.
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        if raw.trim().is_empty() {
            return Err(UsernameError::Empty);
        }
        if raw.trim() != raw {
            return Err(UsernameError::Padded);
        }
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&raw.chars().count()) {
            return Err(UsernameError::Length);
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(UsernameError::Charset);
        }
        if raw.contains("__") || raw.contains("--") {
            return Err(UsernameError::Consecutive);
        }
        if RESERVED_USERNAMES.contains(&raw.to_ascii_lowercase().as_str()) {
            return Err(UsernameError::Reserved);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that passed [`NewPassword::parse`] (NIST SP 800-63B:
/// length, the common-password list, the account's own identifiers; no
/// composition rules).
pub struct NewPassword(SecretString);

/// A password is never printed.
impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("The password must be at least {PASSWORD_MIN} characters long.")]
    TooShort,
    #[error("The password must be at most {PASSWORD_MAX} characters long.")]
    TooLong,
    #[error("The password cannot contain control characters.")]
    Control,
    #[error("This password is too common.")]
    Common,
    #[error("The password cannot be the same as the email or username.")]
    SameAsName,
    #[error("The new password must be different from the current password.")]
    Unchanged,
}

impl NewPassword {
    /// Checks `raw` against the rules, in order; `email` and `username` are
    /// the account's when known (the last rule needs them).
    pub fn parse(
        raw: &str,
        email: Option<&str>,
        username: Option<&str>,
    ) -> Result<Self, PasswordError> {
        let length = raw.chars().count();
        if length < PASSWORD_MIN {
            return Err(PasswordError::TooShort);
        }
        if length > PASSWORD_MAX {
            return Err(PasswordError::TooLong);
        }
        // NIST asks for every printing character; a control character is
        // most likely a paste accident, and one the user could not type at
        // login.
        if raw.chars().any(char::is_control) {
            return Err(PasswordError::Control);
        }
        let lowered = raw.to_lowercase();
        if COMMON_PASSWORDS.contains(&lowered) {
            return Err(PasswordError::Common);
        }
        let same_as = |other: Option<&str>| other.is_some_and(|o| o.to_lowercase() == lowered);
        if same_as(email) || same_as(username) {
            return Err(PasswordError::SameAsName);
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// The account-specific rule, once the account is known.
    pub fn check_against(&self, email: &str, username: &str) -> Result<(), PasswordError> {
        Self::parse(self.0.expose_secret(), Some(email), Some(username)).map(drop)
    }

    /// A change must change it: `current` is the password the caller
    /// proved.
    pub fn differs_from(self, current: &SecretString) -> Result<Self, PasswordError> {
        if self.0.expose_secret() == current.expose_secret() {
            return Err(PasswordError::Unchanged);
        }
        Ok(self)
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_the_spec_rejects() {
        for bad in [
            "user@domain",
            "user@.com",
            "@domain.com",
            "user@",
            "user.domain.com",
            "a b@x.com",
            "a..b@x.com",
        ] {
            let err = Email::parse(bad).unwrap_err().to_string();
            assert!(err.contains("email address"), "{bad}: {err}");
        }
    }

    #[test]
    fn emails_are_lower_cased() {
        assert_eq!(
            Email::parse("Alice.Smith+tag@Example.COM")
                .unwrap()
                .as_str(),
            "alice.smith+tag@example.com"
        );
    }

    #[test]
    fn username_rules_apply_in_order() {
        let username = |raw: &str| Username::parse(raw).map(drop).map_err(|e| e.to_string());
        assert!(username("   ").unwrap_err().contains("empty"));
        assert!(username(" bob").unwrap_err().contains("beginning or end"));
        assert!(username("ab").unwrap_err().contains("between 3 and 30"));
        assert!(username(&"a".repeat(31))
            .unwrap_err()
            .contains("between 3 and 30"));
        assert!(username("bob!").unwrap_err().contains("only letters"));
        assert!(username("bo__b").unwrap_err().contains("consecutive"));
        assert!(username("bo--b").unwrap_err().contains("consecutive"));
        assert!(username("Admin").unwrap_err().contains("reserved"));
        assert!(username("John_Doe-2").is_ok());
    }

    #[test]
    fn password_rules_apply_in_order() {
        let password = |raw: &str, email, username| {
            NewPassword::parse(raw, email, username)
                .map(drop)
                .map_err(|e| e.to_string())
        };
        assert!(password("short", None, None)
            .unwrap_err()
            .contains("at least 8"));
        assert!(password(&"x".repeat(129), None, None)
            .unwrap_err()
            .contains("at most 128"));
        assert!(password("tab\tinside it", None, None)
            .unwrap_err()
            .contains("control characters"));
        assert!(password("PassWord", None, None)
            .unwrap_err()
            .contains("too common"));
        assert!(password("12345678", None, None)
            .unwrap_err()
            .contains("too common"));
        assert!(
            password("Alice@Example.com", Some("alice@example.com"), None)
                .unwrap_err()
                .contains("same as")
        );
        assert!(password("LongUserName", None, Some("longusername"))
            .unwrap_err()
            .contains("same as"));
        assert!(password(
            "correct horse battery staple",
            Some("a@b.co"),
            Some("alice")
        )
        .is_ok());
        assert!(COMMON_PASSWORDS.len() > 9000);
    }

    proptest::proptest! {
        #[test]
        fn rules_never_panic_on_any_text(raw in ".*", other in ".*") {
            let _ = Username::parse(&raw);
            let _ = NewPassword::parse(&raw, Some(&other), Some(&other));
            if let Ok(lowered) = Email::parse(&raw) {
                proptest::prop_assert_eq!(lowered.as_str(), lowered.as_str().to_lowercase());
                proptest::prop_assert_eq!(Email::parse(lowered.as_str()), Ok(lowered.clone()));
            }
        }

        /// Strings shaped like addresses reach the deeper rules.
        #[test]
        fn accepted_emails_are_lower_case_and_revalidate(
            raw in "[A-Za-z0-9.+_-]{1,20}@[A-Za-z0-9.-]{1,20}\\.[A-Za-z]{2,6}",
        ) {
            if let Ok(lowered) = Email::parse(&raw) {
                proptest::prop_assert_eq!(lowered.as_str(), raw.to_ascii_lowercase());
                proptest::prop_assert_eq!(Email::parse(lowered.as_str()), Ok(lowered.clone()));
            }
        }

        /// Names of the allowed characters (and a few reserved words)
        /// reach every rule: each is accepted exactly when it breaks none,
        /// and a refused one is refused for the first rule it breaks.
        #[test]
        fn usernames_are_accepted_exactly_when_they_break_no_rule(
            raw in "[A-Za-z0-9_-]{0,33}|(?i:admin|root|api)|[a-z]{1,3}__?[a-z]{0,3}",
        ) {
            let expected = if raw.is_empty() {
                Some("empty")
            } else if !(USERNAME_MIN..=USERNAME_MAX).contains(&raw.len()) {
                Some("between")
            } else if raw.contains("__") || raw.contains("--") {
                Some("consecutive")
            } else if RESERVED_USERNAMES.contains(&raw.to_ascii_lowercase().as_str()) {
                Some("reserved")
            } else {
                None
            };
            match (Username::parse(&raw).map(drop).map_err(|e| e.to_string()), expected) {
                (Ok(()), None) => {}
                (Err(why), Some(rule)) => proptest::prop_assert!(why.contains(rule), "{raw}: {why}"),
                (verdict, expected) => proptest::prop_assert!(false, "{raw}: {verdict:?}, expected {expected:?}"),
            }
        }

        #[test]
        fn accepted_usernames_fit_the_charset(raw in "\\PC{0,40}") {
            if Username::parse(&raw).is_ok() {
                let length = raw.chars().count();
                proptest::prop_assert!((USERNAME_MIN..=USERNAME_MAX).contains(&length));
                proptest::prop_assert!(raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
            }
        }
    }
}
