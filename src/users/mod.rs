//! Users: the PostgreSQL repository, the validation rules, password hashing,
//! and the registration flow.

mod model;
mod password;
pub mod repo;
pub mod rules;

use std::collections::HashSet;

use secrecy::SecretString;
use serde_json::{Map, Value};
use sqlx::PgPool;

pub use model::{Profile, Role, Subscription, User, UserPublic};
pub use password::{
    hash_blocking as hash_password_blocking, HashError, HashingLoad, PasswordHasher,
};

use crate::validation::{Fields, ValidationErrors};

/// A registration request that passed every rule.
pub struct Registration {
    pub email: String,
    pub username: String,
    pub password: SecretString,
    pub captcha_token: Option<String>,
}

impl Registration {
    /// Reads and checks `{email, username, password, captcha_token?}`,
    /// reporting every problem at once.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut fields = Fields::new(body);
        let email = fields.string("email");
        let username = fields.string("username");
        let password = fields.string("password");
        let captcha_token = fields.optional_string("captcha_token");
        let email = fields.check("email", email, rules::email);
        let username = fields.check("username", username, |u| {
            rules::username(u).map(|()| u.to_owned())
        });
        let password = fields.check("password", password, |p| {
            rules::password(p, email.as_deref(), username.as_deref())
                .map(|()| SecretString::from(p))
        });
        fields.finish()?;
        match (email, username, password) {
            (Some(email), Some(username), Some(password)) => Ok(Self {
                email,
                username,
                password,
                captcha_token: captcha_token.map(str::to_owned),
            }),
            _ => Err(ValidationErrors::default()),
        }
    }
}

/// `Some(name<N>)` with the smallest N ≥ 2 that is free, when `username` is
/// taken; `None` when it is free.
pub async fn suggest_username(
    pool: &PgPool,
    username: &str,
) -> Result<Option<String>, sqlx::Error> {
    let taken: HashSet<String> = repo::usernames_like(pool, username)
        .await?
        .into_iter()
        .collect();
    let lowered = username.to_lowercase();
    if !taken.contains(&lowered) {
        return Ok(None);
    }
    let suggestion = (2u64..)
        .map(|n| {
            let suffix = n.to_string();
            let keep = username.len().min(rules::USERNAME_MAX - suffix.len());
            format!("{}{suffix}", &username[..keep])
        })
        .find(|candidate| {
            !taken.contains(&candidate.to_lowercase()) && rules::username(candidate).is_ok()
        });
    Ok(suggestion)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::arbitrary;
    use secrecy::ExposeSecret;

    proptest::proptest! {
        /// Any body is either a registration whose every part passes its
        /// rule again, or a list of problems naming the fields.
        #[test]
        fn parsing_any_body_never_panics(
            body in arbitrary::body(&["email", "username", "password", "captcha_token"]),
        ) {
            match Registration::parse(&body) {
                Ok(r) => {
                    proptest::prop_assert_eq!(rules::email(&r.email), Ok(r.email.clone()));
                    proptest::prop_assert!(rules::username(&r.username).is_ok());
                    proptest::prop_assert!(rules::password(
                        r.password.expose_secret(), Some(&r.email), Some(&r.username)
                    ).is_ok());
                }
                Err(errors) => {
                    proptest::prop_assert!(!errors.0.is_empty());
                    for error in &errors.0 {
                        proptest::prop_assert!(
                            ["email", "username", "password", "captcha_token"].contains(&error.field.as_str())
                        );
                    }
                }
            }
        }
    }
}
