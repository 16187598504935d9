//! The rules of the profile fields a user sets on their own account; each
//! returns the value to store.

use chrono::{NaiveDate, Utc};

pub const NAME_MAX: usize = 100;
pub const INFO_MAX: usize = 1_000;
pub const URL_MAX: usize = 2_048;
/// The values `profile.gender` may take.
pub const GENDERS: &[&str] = &["MALE", "FEMALE", "OTHER", "PREFER_NOT_TO_SAY"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("The {0} must be at most {NAME_MAX} characters long.")]
    NameTooLong(&'static str),
    #[error("The avatar URL must be at most {URL_MAX} characters long.")]
    UrlTooLong,
    #[error("The avatar URL must be an http or https URL.")]
    NotHttpUrl,
    #[error("The gender must be one of {}.", GENDERS.join(", "))]
    Gender,
    #[error("The date of birth must be a date in the form YYYY-MM-DD.")]
    DateFormat,
    #[error("The date of birth must be in the past.")]
    DateNotPast,
    #[error("The info must be at most {INFO_MAX} characters long.")]
    InfoTooLong,
}

/// A first or last name (`what` names it in the error): trimmed; an empty
/// one clears the field.
pub fn name(raw: &str, what: &'static str) -> Result<Option<String>, ProfileError> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > NAME_MAX {
        return Err(ProfileError::NameTooLong(what));
    }
    Ok(Some(trimmed.to_owned()).filter(|n| !n.is_empty()))
}

pub fn avatar_url(raw: &str) -> Result<String, ProfileError> {
    if raw.len() > URL_MAX {
        return Err(ProfileError::UrlTooLong);
    }
    let url = url::Url::parse(raw.trim()).map_err(|_| ProfileError::NotHttpUrl)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(ProfileError::NotHttpUrl);
    }
    Ok(url.to_string())
}

/// One of [`GENDERS`], in any case; stored upper-case.
pub fn gender(raw: &str) -> Result<String, ProfileError> {
    let upper = raw.trim().to_uppercase();
    if GENDERS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(ProfileError::Gender)
    }
}

/// `YYYY-MM-DD`, strictly before today (UTC).
pub fn date_of_birth(raw: &str) -> Result<NaiveDate, ProfileError> {
    let date =
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| ProfileError::DateFormat)?;
    if date >= Utc::now().date_naive() {
        return Err(ProfileError::DateNotPast);
    }
    Ok(date)
}

pub fn info(raw: &str) -> Result<String, ProfileError> {
    if raw.chars().count() > INFO_MAX {
        return Err(ProfileError::InfoTooLong);
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_returns_the_value_to_store() {
        assert_eq!(name("  Ada ", "first name"), Ok(Some("Ada".into())));
        assert_eq!(name("   ", "first name"), Ok(None));
        assert!(avatar_url("javascript:alert(1)").is_err());
        assert!(avatar_url("https://cdn.example.com/a.png").is_ok());
        assert!(date_of_birth("10/12/1815").is_err());
        assert_eq!(gender("female"), Ok("FEMALE".into()));
        assert_eq!(
            ProfileError::NameTooLong("last name").to_string(),
            "The last name must be at most 100 characters long."
        );
        assert_eq!(
            ProfileError::Gender.to_string(),
            "The gender must be one of MALE, FEMALE, OTHER, PREFER_NOT_TO_SAY."
        );
    }
}
