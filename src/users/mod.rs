//! Users: the PostgreSQL repository, the types whose rules a user's email,
//! username and password pass, and password hashing.

mod model;
mod password;
pub mod profile;
pub mod repo;
pub mod rules;

use std::collections::HashSet;

use sqlx::PgPool;

pub use model::{Profile, Role, Subscription, User, UserPublic};
pub use password::{
    hash_blocking as hash_password_blocking, HashError, HashingLoad, PasswordHasher,
};
pub use rules::{Email, EmailError, NewPassword, PasswordError, Username, UsernameError};

/// A registration whose every part passed its rules (the body's `parse`
/// in `http::auth` builds it).
pub struct Registration {
    pub email: Email,
    pub username: Username,
    pub password: NewPassword,
    pub captcha_token: Option<String>,
}

/// `Some(name<N>)` with the smallest N ≥ 2 that is free, when `username` is
/// taken; `None` when it is free. A name too long for its number is cut
/// first (`name` is then a prefix of `username`), and the cut forms are
/// looked up too, so the suggestion is free when it is given.
pub async fn suggest_username(
    pool: &PgPool,
    username: &Username,
) -> Result<Option<String>, sqlx::Error> {
    let username = username.as_str();
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
        if !taken.contains(&candidate.to_lowercase()) && Username::parse(&candidate).is_ok() {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}
