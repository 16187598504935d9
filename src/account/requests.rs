//! Reading and checking the account endpoints' bodies. Every problem in a
//! body is reported at once, in the 422 shape `validation` builds.

use chrono::{NaiveDate, Utc};
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::users::repo::ProfileChanges;
use crate::users::rules;
use crate::validation::{FieldError, Fields, Problem, TextKind, ValidationErrors};

pub const NAME_MAX: usize = 100;
pub const INFO_MAX: usize = 1_000;
pub const URL_MAX: usize = 2_048;
/// The values `profile.gender` may take.
pub const GENDERS: &[&str] = &["MALE", "FEMALE", "OTHER", "PREFER_NOT_TO_SAY"];

type Body = Map<String, Value>;

/// `{email}` (activation resend, forgot-password): the address, lower-cased.
pub fn email(body: &Body) -> Result<String, ValidationErrors> {
    let mut fields = Fields::new(body);
    let email = fields.string("email");
    let email = fields.check("email", email, rules::email);
    fields.finish()?;
    email.ok_or_else(ValidationErrors::default)
}

/// `{token}` (activation).
pub fn token(body: &Body) -> Result<String, ValidationErrors> {
    let mut fields = Fields::new(body);
    let token = fields.string("token");
    fields.finish()?;
    token
        .map(str::to_owned)
        .ok_or_else(ValidationErrors::default)
}

/// A new password that passed the rules that need no account (length, the
/// common list); the account-specific rule is checked once the account is
/// known.
fn new_password(fields: &mut Fields<'_>, field: &str) -> Option<SecretString> {
    let raw = fields.string(field);
    fields.check(field, raw, |p| {
        rules::password(p, None, None).map(|()| SecretString::from(p))
    })
}

/// `{token, new_password}` (reset-password).
pub fn reset(body: &Body) -> Result<(String, SecretString), ValidationErrors> {
    let mut fields = Fields::new(body);
    let token = fields.string("token");
    let password = new_password(&mut fields, "new_password");
    fields.finish()?;
    match (token, password) {
        (Some(token), Some(password)) => Ok((token.to_owned(), password)),
        _ => Err(ValidationErrors::default()),
    }
}

/// `{current_password, new_password}` (change-password).
pub fn password_change(body: &Body) -> Result<(SecretString, SecretString), ValidationErrors> {
    let mut fields = Fields::new(body);
    let current = fields.string("current_password");
    let new = fields.string("new_password");
    let new = fields.check("new_password", new, |p| {
        rules::password(p, None, None)?;
        if current == Some(p) {
            return Err("The new password must be different from the current password.".into());
        }
        Ok(SecretString::from(p))
    });
    fields.finish()?;
    match (current, new) {
        (Some(current), Some(new)) => Ok((SecretString::from(current), new)),
        _ => Err(ValidationErrors::default()),
    }
}

/// `{password}` (account deletion).
pub fn password(body: &Body) -> Result<SecretString, ValidationErrors> {
    let mut fields = Fields::new(body);
    let password = fields.string("password");
    fields.finish()?;
    password
        .map(SecretString::from)
        .ok_or_else(ValidationErrors::default)
}

/// A `PATCH /users/me` body: only the fields present change; `null` clears
/// one. Other fields are ignored.
pub fn profile(body: &Body) -> Result<ProfileChanges, ValidationErrors> {
    let mut errors = Vec::new();
    let mut field =
        |name: &str, rule: fn(&str) -> Result<Option<String>, String>| match body.get(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(raw)) => match TextKind::of(name)
                .check(raw)
                .map_err(str::to_owned)
                .and_then(|()| rule(raw))
            {
                Ok(value) => Some(value),
                Err(message) => {
                    errors.push(FieldError::rule(name, message));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError {
                    field: name.to_owned(),
                    problem: Problem::StringType,
                    message: "Input should be a valid string".to_owned(),
                });
                None
            }
        };
    let first_name = field("first_name", |v| name(v, "first name"));
    let last_name = field("last_name", |v| name(v, "last name"));
    let avatar_url = field("avatar_url", avatar_url);
    let gender = field("gender", gender);
    let date_of_birth = field("date_of_birth", date_of_birth);
    let info = field("info", info);
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    let date_of_birth =
        date_of_birth.map(|date| date.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()));
    Ok(ProfileChanges {
        first_name,
        last_name,
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

fn avatar_url(raw: &str) -> Result<Option<String>, String> {
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
    Ok(Some(url.to_string()))
}

/// One of [`GENDERS`], in any case; stored upper-case.
fn gender(raw: &str) -> Result<Option<String>, String> {
    let upper = raw.trim().to_uppercase();
    if GENDERS.contains(&upper.as_str()) {
        Ok(Some(upper))
    } else {
        Err(format!("The gender must be one of {}.", GENDERS.join(", ")))
    }
}

/// `YYYY-MM-DD`, strictly before today (UTC).
fn date_of_birth(raw: &str) -> Result<Option<String>, String> {
    let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| "The date of birth must be a date in the form YYYY-MM-DD.".to_owned())?;
    if date >= Utc::now().date_naive() {
        return Err("The date of birth must be in the past.".into());
    }
    Ok(Some(date.format("%Y-%m-%d").to_string()))
}

fn info(raw: &str) -> Result<Option<String>, String> {
    if raw.chars().count() > INFO_MAX {
        return Err(format!(
            "The info must be at most {INFO_MAX} characters long."
        ));
    }
    Ok(Some(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Body {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn profile_changes_only_what_is_given_and_null_clears() {
        let changes = profile(&body(json!({
            "first_name": "  Ada ", "last_name": null, "gender": "female",
            "date_of_birth": "1815-12-10", "email": "ignored@example.com"
        })))
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
        let errors = profile(&body(json!({
            "first_name": 5, "avatar_url": "ftp://x/y.png", "gender": "robot",
            "date_of_birth": tomorrow, "info": "x".repeat(INFO_MAX + 1)
        })))
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
        assert!(avatar_url("javascript:alert(1)").is_err());
        assert!(avatar_url("https://cdn.example.com/a.png").is_ok());
        assert!(date_of_birth("10/12/1815").is_err());
    }

    #[test]
    fn profile_info_keeps_line_breaks_but_no_field_takes_a_nul() {
        let changes = profile(&body(json!({"info": "one\r\n\ttwo"}))).unwrap();
        assert_eq!(changes.info, Some(Some("one\r\n\ttwo".into())));
        let errors = profile(&body(json!({
            "first_name": "A\u{0000}", "last_name": "B\nC", "avatar_url": "https://x.co/\u{0000}",
            "gender": "MALE\u{0000}", "date_of_birth": "2000-01-01\u{0000}", "info": "a\u{0000}b"
        })))
        .unwrap_err()
        .0;
        assert_eq!(errors.len(), 6);
        assert!(errors
            .iter()
            .all(|e| e.message.contains("control characters")));
    }

    #[test]
    fn change_password_rejects_the_same_password() {
        let same =
            json!({"current_password": "old enough pass", "new_password": "old enough pass"});
        let errors = password_change(&body(same)).unwrap_err().0;
        assert_eq!(errors[0].field, "new_password");
        assert!(errors[0].message.contains("different"));
    }
}
