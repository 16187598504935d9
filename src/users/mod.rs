//! Users: the PostgreSQL repository, the validation rules, password hashing,
//! and the registration flow.

mod model;
mod password;
pub mod repo;
pub mod rules;

use std::collections::HashSet;

use secrecy::SecretString;
use sqlx::PgPool;

pub use model::{Profile, Role, Subscription, User, UserPublic};
pub use password::{
    hash_blocking as hash_password_blocking, HashError, HashingLoad, PasswordHasher,
};

use crate::validation::{all, Text, ValidationErrors};

/// A registration request that passed every rule.
pub struct Registration {
    pub email: String,
    pub username: String,
    pub password: SecretString,
    pub captcha_token: Option<String>,
}

impl Registration {
    /// Checks `email`, `username`, `password` and `captcha_token` against
    /// their rules, reporting every problem at once. The password rule sees
    /// the email and username when they are valid.
    pub fn parse(
        email: Text,
        username: Text,
        password: Text,
        captcha_token: Text,
    ) -> Result<Self, ValidationErrors> {
        let email = email.required("email", |e| rules::email(&e));
        let username = username.required("username", |u| rules::username(&u).map(|()| u));
        let password = password.required("password", |p| {
            rules::password(&p, email.as_deref().ok(), username.as_deref().ok())
                .map(|()| SecretString::from(p))
        });
        let captcha_token = captcha_token.optional("captcha_token", Ok);
        let (email, username, password, captcha_token) =
            all((email, username, password, captcha_token))?;
        Ok(Self {
            email,
            username,
            password,
            captcha_token,
        })
    }
}

/// `Some(name<N>)` with the smallest N ≥ 2 that is free, when `username` is
/// taken; `None` when it is free. A name too long for its number is cut
/// first (`name` is then a prefix of `username`), and the cut forms are
/// looked up too, so the suggestion is free when it is given.
pub async fn suggest_username(
    pool: &PgPool,
    username: &str,
) -> Result<Option<String>, sqlx::Error> {
    let mut taken: HashSet<String> = repo::usernames_like(pool, username)
        .await?
        .into_iter()
        .collect();
    if !taken.contains(&username.to_lowercase()) {
        return Ok(None);
    }
    // The length of the shortest base whose `base<digits>` are in `taken`.
    let mut looked_up = username.len();
    for n in 2u64.. {
        let suffix = n.to_string();
        let keep = username
            .len()
            .min(rules::USERNAME_MAX.saturating_sub(suffix.len()));
        // A valid username is ASCII, so every cut is at a character.
        let Some(base) = username.get(..keep).filter(|base| !base.is_empty()) else {
            break;
        };
        if keep < looked_up {
            // A cut name's numbers are not `username<digits>`: they are
            // looked up as well.
            taken.extend(repo::usernames_like(pool, base).await?);
            looked_up = keep;
        }
        let candidate = format!("{base}{suffix}");
        if !taken.contains(&candidate.to_lowercase()) && rules::username(&candidate).is_ok() {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::arbitrary;
    use secrecy::ExposeSecret;
    use serde::Deserialize;

    proptest::proptest! {
        /// Any body is either a registration whose every part passes its
        /// rule again, or a list of problems naming the fields.
        #[test]
        fn parsing_any_body_never_panics(
            body in arbitrary::body(&["email", "username", "password", "captcha_token"]),
        ) {
            let text = |name: &str| Text::deserialize(body.get(name).unwrap_or(&serde_json::Value::Null)).unwrap();
            match Registration::parse(text("email"), text("username"), text("password"), text("captcha_token")) {
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
