//! Reading and checking the account endpoints' bodies. Every problem in a
//! body is reported at once, in the 422 shape `validation` builds.

use chrono::{NaiveDate, Utc};
use secrecy::SecretString;

use crate::users::repo::ProfileChanges;
use crate::users::rules;
use crate::validation::{all, FieldError, Text, ValidationErrors};

pub const NAME_MAX: usize = 100;
pub const INFO_MAX: usize = 1_000;
pub const URL_MAX: usize = 2_048;
/// The values `profile.gender` may take.
pub const GENDERS: &[&str] = &["MALE", "FEMALE", "OTHER", "PREFER_NOT_TO_SAY"];

/// `{email}` (activation resend, forgot-password): the address, lower-cased.
pub fn email(email: Text) -> Result<String, ValidationErrors> {
    Ok(email.required("email", |e| rules::email(&e))?)
}

/// `{token}` (activation).
pub fn token(token: Text) -> Result<String, ValidationErrors> {
    Ok(token.required("token", Ok)?)
}

/// A new password that passed the rules that need no account (length, the
/// common list); the account-specific rule is checked once the account is
/// known.
fn new_password(
    password: Text,
    field: &str,
    current: Option<&str>,
) -> Result<SecretString, FieldError> {
    password.required(field, |p| {
        rules::password(&p, None, None)?;
        if current == Some(p.as_str()) {
            return Err("The new password must be different from the current password.".into());
        }
        Ok(SecretString::from(p))
    })
}

/// `{token, new_password}` (reset-password).
pub fn reset(token: Text, password: Text) -> Result<(String, SecretString), ValidationErrors> {
    all((
        token.required("token", Ok),
        new_password(password, "new_password", None),
    ))
}

/// `{current_password, new_password}` (change-password): the new one must
/// differ from the current one.
pub fn password_change(
    current: Text,
    new: Text,
) -> Result<(SecretString, SecretString), ValidationErrors> {
    let current = current.required("current_password", Ok);
    let new = new_password(new, "new_password", current.as_deref().ok());
    all((current.map(SecretString::from), new))
}

/// `{password}` (account deletion).
pub fn password(password: Text) -> Result<SecretString, ValidationErrors> {
    Ok(password.required("password", |p| Ok(SecretString::from(p)))?)
}

/// A `PATCH /users/me` body: only the fields present change; `null` clears
/// one.
pub fn profile(
    first_name: Text,
    last_name: Text,
    avatar_url: Text,
    gender: Text,
    date_of_birth: Text,
    info: Text,
) -> Result<ProfileChanges, ValidationErrors> {
    let (first_name, last_name, avatar_url, gender, date_of_birth, info) = all((
        first_name.patch("first_name", |v| name(&v, "first name")),
        last_name.patch("last_name", |v| name(&v, "last name")),
        avatar_url.patch("avatar_url", |v| avatar_url_rule(&v)),
        gender.patch("gender", |v| gender_rule(&v)),
        date_of_birth.patch("date_of_birth", |v| date_of_birth_rule(&v)),
        info.patch("info", |v| info_rule(&v)),
    ))?;
    Ok(ProfileChanges {
        first_name: first_name.map(Option::flatten),
        last_name: last_name.map(Option::flatten),
        avatar_url,
        gender,
        date_of_birth,
        info,
    })
}

/// Names are trimmed; an empty one clears the field.
fn name(raw: &str, what: &str) -> Result<Option<String>, String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > NAME_MAX {
        return Err(format!(
            "The {what} must be at most {NAME_MAX} characters long."
        ));
    }
    Ok(Some(trimmed.to_owned()).filter(|n| !n.is_empty()))
}

fn avatar_url_rule(raw: &str) -> Result<String, String> {
    let message = || "The avatar URL must be an http or https URL.".to_owned();
    if raw.len() > URL_MAX {
        return Err(format!(
            "The avatar URL must be at most {URL_MAX} characters long."
        ));
    }
    let url = url::Url::parse(raw.trim()).map_err(|_| message())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(message());
    }
    Ok(url.to_string())
}

/// One of [`GENDERS`], in any case; stored upper-case.
fn gender_rule(raw: &str) -> Result<String, String> {
    let upper = raw.trim().to_uppercase();
    if GENDERS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(format!("The gender must be one of {}.", GENDERS.join(", ")))
    }
}

/// `YYYY-MM-DD`, strictly before today (UTC).
fn date_of_birth_rule(raw: &str) -> Result<NaiveDate, String> {
    let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| "The date of birth must be a date in the form YYYY-MM-DD.".to_owned())?;
    if date >= Utc::now().date_naive() {
        return Err("The date of birth must be in the past.".into());
    }
    Ok(date)
}

fn info_rule(raw: &str) -> Result<String, String> {
    if raw.chars().count() > INFO_MAX {
        return Err(format!(
            "The info must be at most {INFO_MAX} characters long."
        ));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The six profile fields of a JSON body, as the extractor reads them.
    fn profile_of(body: Value) -> Result<ProfileChanges, ValidationErrors> {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default)]
            first_name: Text,
            #[serde(default)]
            last_name: Text,
            #[serde(default)]
            avatar_url: Text,
            #[serde(default)]
            gender: Text,
            #[serde(default)]
            date_of_birth: Text,
            #[serde(default)]
            info: Text,
        }
        let b: Body = serde_json::from_value(body).unwrap();
        profile(
            b.first_name,
            b.last_name,
            b.avatar_url,
            b.gender,
            b.date_of_birth,
            b.info,
        )
    }

    fn text(value: &str) -> Text {
        Text::Given(value.to_owned())
    }

    #[test]
    fn profile_changes_only_what_is_given_and_null_clears() {
        let changes = profile_of(json!({
            "first_name": "  Ada ", "last_name": null, "gender": "female",
            "date_of_birth": "1815-12-10", "email": "ignored@example.com"
        }))
        .unwrap();
        assert_eq!(changes.first_name, Some(Some("Ada".into())));
        assert_eq!(changes.last_name, Some(None));
        assert_eq!(changes.gender, Some(Some("FEMALE".into())));
        assert_eq!(
            changes.date_of_birth,
            Some(NaiveDate::from_ymd_opt(1815, 12, 10))
        );
        assert_eq!(changes.avatar_url, None);
        assert_eq!(changes.info, None);
    }

    #[test]
    fn profile_reports_every_bad_field() {
        let tomorrow = (Utc::now().date_naive() + chrono::Days::new(1)).to_string();
        let errors = profile_of(json!({
            "first_name": 5, "avatar_url": "ftp://x/y.png", "gender": "robot",
            "date_of_birth": tomorrow, "info": "x".repeat(INFO_MAX + 1)
        }))
        .unwrap_err()
        .0;
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "first_name",
                "avatar_url",
                "gender",
                "date_of_birth",
                "info"
            ]
        );
        assert!(errors[3].message.contains("in the past"));
        assert!(avatar_url_rule("javascript:alert(1)").is_err());
        assert!(avatar_url_rule("https://cdn.example.com/a.png").is_ok());
        assert!(date_of_birth_rule("10/12/1815").is_err());
    }

    #[test]
    fn profile_info_keeps_line_breaks_but_no_field_takes_a_nul() {
        let changes = profile_of(json!({"info": "one\r\n\ttwo"})).unwrap();
        assert_eq!(changes.info, Some(Some("one\r\n\ttwo".into())));
        let errors = profile_of(json!({
            "first_name": "A\u{0000}", "last_name": "B\nC", "avatar_url": "https://x.co/\u{0000}",
            "gender": "MALE\u{0000}", "date_of_birth": "2000-01-01\u{0000}", "info": "a\u{0000}b"
        }))
        .unwrap_err()
        .0;
        assert_eq!(errors.len(), 6);
        assert!(errors
            .iter()
            .all(|e| e.message.contains("control characters")));
    }

    #[test]
    fn change_password_rejects_the_same_password() {
        let errors = password_change(text("old enough pass"), text("old enough pass"))
            .unwrap_err()
            .0;
        assert_eq!(errors[0].field, "new_password");
        assert!(errors[0].message.contains("different"));
    }
}
