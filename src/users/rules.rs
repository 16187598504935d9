//! The validation rules for email, username and password, each in the
//! order the spec lists them: the first failing rule is the one reported.

use std::collections::HashSet;
use std::sync::LazyLock;

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

/// Checks an email address and returns it lower-cased.
pub fn email(raw: &str) -> Result<String, String> {
    let invalid = |why: &str| Err(format!("value is not a valid email address: {why}"));
    if raw.len() > EMAIL_MAX {
        return invalid("The email address is too long.");
    }
    let Some((local, domain)) = raw.rsplit_once('@') else {
        return invalid("An email address must have an @-sign.");
    };
    if local.is_empty() {
        return invalid("There must be something before the @-sign.");
    }
    if domain.is_empty() {
        return invalid("There must be something after the @-sign.");
    }
    if local.len() > 64 {
        return invalid("The email address is too long before the @-sign.");
    }
    let local_ok = local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
    });
    if !local_ok {
        return invalid("The part before the @-sign is not valid.");
    }
    if !domain.contains('.') {
        return invalid("The part after the @-sign is not valid. It should have a period.");
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
        return invalid("The part after the @-sign is not valid.");
    }
    Ok(raw.to_ascii_lowercase())
}

/// Checks a username; it is kept in its original case.
pub fn username(raw: &str) -> Result<(), String> {
    if raw.trim().is_empty() {
        return Err("The username cannot be empty or consist only of whitespace.".into());
    }
    if raw.trim() != raw {
        return Err("The username cannot contain spaces at the beginning or end.".into());
    }
    let length = raw.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&length) {
        return Err(format!(
            "The username must be between {USERNAME_MIN} and {USERNAME_MAX} characters long."
        ));
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(
            "The username may contain only letters, digits, underscores and hyphens.".into(),
        );
    }
    if raw.contains("__") || raw.contains("--") {
        return Err("The username cannot contain consecutive underscores or hyphens.".into());
    }
    if RESERVED_USERNAMES.contains(&raw.to_ascii_lowercase().as_str()) {
        return Err("This username is reserved.".into());
    }
    Ok(())
}

/// Checks a password against NIST SP 800-63B: length, the common-password
/// list, and the account's own identifiers. No composition rules.
pub fn password(raw: &str, email: Option<&str>, username: Option<&str>) -> Result<(), String> {
    let length = raw.chars().count();
    if length < PASSWORD_MIN {
        return Err(format!(
            "The password must be at least {PASSWORD_MIN} characters long."
        ));
    }
    if length > PASSWORD_MAX {
        return Err(format!(
            "The password must be at most {PASSWORD_MAX} characters long."
        ));
    }
    // NIST asks for every printing character; a control character is most
    // likely a paste accident, and one the user could not type at login.
    if raw.chars().any(char::is_control) {
        return Err("The password cannot contain control characters.".into());
    }
    let lowered = raw.to_lowercase();
    if COMMON_PASSWORDS.contains(&lowered) {
        return Err("This password is too common.".into());
    }
    let same_as = |other: Option<&str>| other.is_some_and(|o| o.to_lowercase() == lowered);
    if same_as(email) || same_as(username) {
        return Err("The password cannot be the same as the email or username.".into());
    }
    Ok(())
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
            let err = email(bad).unwrap_err();
            assert!(err.contains("email address"), "{bad}: {err}");
        }
    }

    #[test]
    fn emails_are_lower_cased() {
        assert_eq!(
            email("Alice.Smith+tag@Example.COM").unwrap(),
            "alice.smith+tag@example.com"
        );
    }

    #[test]
    fn username_rules_apply_in_order() {
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
            let _ = username(&raw);
            let _ = password(&raw, Some(&other), Some(&other));
            if let Ok(lowered) = email(&raw) {
                proptest::prop_assert_eq!(&lowered, &lowered.to_lowercase());
                proptest::prop_assert_eq!(email(&lowered), Ok(lowered.clone()));
            }
        }

        /// Strings shaped like addresses reach the deeper rules.
        #[test]
        fn accepted_emails_are_lower_case_and_revalidate(
            raw in "[A-Za-z0-9.+_-]{1,20}@[A-Za-z0-9.-]{1,20}\\.[A-Za-z]{2,6}",
        ) {
            if let Ok(lowered) = email(&raw) {
                proptest::prop_assert_eq!(&lowered, &raw.to_ascii_lowercase());
                proptest::prop_assert_eq!(email(&lowered), Ok(lowered.clone()));
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
            match (username(&raw), expected) {
                (Ok(()), None) => {}
                (Err(why), Some(rule)) => proptest::prop_assert!(why.contains(rule), "{raw}: {why}"),
                (verdict, expected) => proptest::prop_assert!(false, "{raw}: {verdict:?}, expected {expected:?}"),
            }
        }

        #[test]
        fn accepted_usernames_fit_the_charset(raw in "\\PC{0,40}") {
            if username(&raw).is_ok() {
                let length = raw.chars().count();
                proptest::prop_assert!((USERNAME_MIN..=USERNAME_MAX).contains(&length));
                proptest::prop_assert!(raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
            }
        }
    }
}
