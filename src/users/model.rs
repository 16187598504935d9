//! The user as stored and as shown.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
#[sqlx(type_name = "account_role", rename_all = "UPPERCASE")]
pub enum Role {
    Admin,
    Moderator,
    Regular,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
#[sqlx(type_name = "account_subscription", rename_all = "UPPERCASE")]
pub enum Subscription {
    Free,
    Pro,
}

/// `as_str` and `FromStr` for an enum stored and sent by its upper-case
/// name (in Redis and in access tokens), from one list of names.
macro_rules! wire_names {
    ($type:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $name,)+
                }
            }
        }

        impl std::str::FromStr for $type {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s {
                    $($name => Ok($type::$variant),)+
                    _ => Err(()),
                }
            }
        }
    };
}

wire_names!(Role {
    Admin => "ADMIN",
    Moderator => "MODERATOR",
    Regular => "REGULAR",
});
wire_names!(Subscription {
    Free => "FREE",
    Pro => "PRO",
});

// Ranks, for telling a downgrade (which revokes the tokens that claim more)
// from an upgrade (which does not).
impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Moderator, Role::Regular];

    fn rank(self) -> u8 {
        match self {
            Role::Admin => 2,
            Role::Moderator => 1,
            Role::Regular => 0,
        }
    }

    pub fn outranks(self, other: Role) -> bool {
        self.rank() > other.rank()
    }
}

impl Subscription {
    pub const ALL: [Subscription; 2] = [Subscription::Pro, Subscription::Free];

    pub fn outranks(self, other: Subscription) -> bool {
        self == Subscription::Pro && other == Subscription::Free
    }
}

/// A row of `users`. Holds the password hash, so it is never serialised;
/// [`UserPublic`] is what leaves the service.
#[derive(Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub password_hash: String,
    pub account_role: Role,
    pub account_subscription: Subscription,
    pub subscription_expires_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    pub is_blocked: bool,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar_url: Option<String>,
    pub gender: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub info: Option<String>,
}

/// The hash is a password's offline-guessable form: `Debug` leaves it (and
/// the profile) out, so a user can never reach a log line with it.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("account_role", &self.account_role)
            .field("is_active", &self.is_active)
            .field("is_blocked", &self.is_blocked)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Profile {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar_url: Option<String>,
    pub gender: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub info: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserPublic {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub account_role: Role,
    pub account_subscription: Subscription,
    pub subscription_expires_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    pub is_blocked: bool,
    pub created_at: DateTime<Utc>,
    pub profile: Profile,
}

impl From<User> for UserPublic {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            username: user.username,
            account_role: user.account_role,
            account_subscription: user.account_subscription,
            subscription_expires_at: user.subscription_expires_at,
            is_active: user.is_active,
            is_blocked: user.is_blocked,
            created_at: user.created_at,
            profile: Profile {
                first_name: user.first_name,
                last_name: user.last_name,
                avatar_url: user.avatar_url,
                gender: user.gender,
                date_of_birth: user.date_of_birth,
                info: user.info,
            },
        }
    }
}

/// A user for unit tests elsewhere in the crate (no database needed).
#[cfg(test)]
impl User {
    pub fn example(role: Role) -> Self {
        Self {
            id: Uuid::new_v4(),
            email: "alice@example.com".into(),
            username: "alice".into(),
            password_hash: String::new(),
            account_role: role,
            account_subscription: Subscription::Free,
            subscription_expires_at: None,
            is_active: true,
            is_blocked: false,
            created_at: Utc::now(),
            deleted_at: None,
            first_name: None,
            last_name: None,
            avatar_url: None,
            gender: None,
            date_of_birth: None,
            info: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_serialised_names_and_parse_back() {
        for role in [Role::Admin, Role::Moderator, Role::Regular] {
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
            assert_eq!(role.as_str().parse(), Ok(role));
        }
        for subscription in [Subscription::Free, Subscription::Pro] {
            assert_eq!(
                serde_json::to_value(subscription).unwrap(),
                subscription.as_str()
            );
            assert_eq!(subscription.as_str().parse(), Ok(subscription));
        }
        assert_eq!("admin".parse::<Role>(), Err(()));
    }

    #[test]
    fn a_user_prints_without_its_password_hash() {
        let mut user = User::example(Role::Regular);
        user.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into();
        let printed = format!("{user:?}");
        assert!(!printed.contains("argon2id"), "{printed}");
        assert!(printed.contains("alice"), "{printed}");
    }
}
