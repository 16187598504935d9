//! Second factors: an authenticator app (TOTP, RFC 6238) and recovery
//! codes; enrolling, removing, and checking one at sign-in. Knows nothing of
//! HTTP; the sign-in step itself (the `mfa_token`) is [`crate::auth`]'s.
//!
//! - `cipher`: TOTP secrets sealed at rest under `mfa.encryption_key`;
//! - `totp`: codes, secrets, the `otpauth://` URI and QR code (totp-rs);
//! - `recovery`: recovery codes and their hashes;
//! - `repo`: both in PostgreSQL, every "only once" one conditional statement;
//! - `passkey`: passkeys (WebAuthn, webauthn-rs), as a second factor and
//!   alone, with `passkey_repo` their table.
//!
//! Every code checked here counts against the account like a password:
//! [`Mfa::verify`] takes a slot in the account's failure window before it
//! looks (see [`crate::rate_limit`]), so parallel guesses get no more checks
//! than the login lockout allows.

pub mod cipher;
pub mod passkey;
mod passkey_repo;
pub mod recovery;
mod repo;
pub mod totp;

use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

pub use cipher::{SecretBox, Unreadable};
pub use passkey::{Assertion, Ceremony, PasskeyError, PasskeySummary, Passkeys};
pub use recovery::RecoveryCode;
pub use totp::{Provisioning, TotpCode};

use crate::audit::{AuditEvent, AuditLog};
use crate::client::ClientInfo;
use crate::clock::now_secs;
use crate::mail::{FactorChange, Mailer, Notice};
use crate::rate_limit::{CheckOutcome, Credential, RateLimitError, RateLimiter};
use crate::revocations::Reason;
use crate::sessions::{SessionError, SessionStore};
use crate::users::{repo as users, User};

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// A code that does not pass: wrong, of a step already used, or a
    /// recovery code unknown or used.
    #[error("wrong second-factor code")]
    WrongCode,
    #[error("an authenticator app is already set up")]
    AlreadyEnabled,
    #[error("no authenticator app is set up")]
    NotEnabled,
    #[error("no authenticator app enrolment is pending")]
    NoPendingEnrolment,
    /// The access token's user is gone.
    #[error("no such user")]
    UnknownUser,
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
    #[error("cannot make the enrolment's URI or QR code")]
    Provisioning,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    RateLimit(#[from] RateLimitError),
    #[error(transparent)]
    Passkey(#[from] PasskeyError),
    /// An administrator named a user who does not exist (or is deleted).
    #[error("user not found")]
    UserNotFound,
    #[error("session store: {0}")]
    Sessions(#[from] SessionError),
}

/// A second factor shown: a code from the authenticator app, a recovery
/// code, or a passkey's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    Totp(TotpCode),
    Recovery(RecoveryCode),
    Passkey(Assertion),
}

/// Which factor passed, for the tokens' `amr` (RFC 8176).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Totp,
    RecoveryCode,
    /// A passkey after the password.
    Passkey,
    /// A passkey alone, which verified its user (a PIN, a fingerprint):
    /// two factors in one device.
    PasskeyAlone,
}

impl Shown {
    /// With the password: `pwd otp mfa` for an app's code; `pwd mfa` for a
    /// recovery code (a one-time secret RFC 8176 has no better word for
    /// than the fact that a second factor was shown).
    pub fn amr(self) -> Vec<String> {
        let methods: &[&str] = match self {
            Shown::Totp => &["pwd", "otp", "mfa"],
            Shown::RecoveryCode => &["pwd", "mfa"],
            Shown::Passkey => &["pwd", "hwk", "mfa"],
            Shown::PasskeyAlone => &["hwk", "user", "mfa"],
        };
        methods.iter().map(|m| (*m).to_owned()).collect()
    }

    fn as_str(self) -> &'static str {
        match self {
            Shown::Totp => "totp",
            Shown::RecoveryCode => "recovery_code",
            Shown::Passkey | Shown::PasskeyAlone => "webauthn",
        }
    }
}

/// The methods a sign-in may finish with, as `methods` names them.
pub const SIGN_IN_METHODS: [&str; 2] = ["totp", "recovery_code"];
/// ... for a user with passkeys and an authenticator app.
const ALL_SIGN_IN_METHODS: [&str; 3] = ["totp", "recovery_code", "webauthn"];
/// ... for a user with passkeys only.
const PASSKEY_SIGN_IN_METHODS: [&str; 1] = ["webauthn"];

/// `GET /users/me/mfa`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    pub totp: bool,
    pub passkeys: Vec<PasskeySummary>,
    pub recovery_codes_left: u32,
}

pub struct MfaDeps {
    pub pool: PgPool,
    pub cipher: SecretBox,
    /// `mfa.issuer`: the name authenticator apps show.
    pub issuer: String,
    pub limits: Arc<RateLimiter>,
    pub audit: AuditLog,
    pub mailer: Mailer,
    pub passkeys: Passkeys,
    /// A reset ends every session of the user.
    pub sessions: Arc<SessionStore>,
}

pub struct Mfa {
    deps: MfaDeps,
}

impl Mfa {
    pub fn new(deps: MfaDeps) -> Self {
        Self { deps }
    }

    pub async fn overview(&self, user_id: Uuid) -> Result<Overview, MfaError> {
        let (totp, left) = repo::overview(&self.deps.pool, user_id).await?;
        Ok(Overview {
            totp,
            passkeys: self.list_passkeys(user_id).await?,
            recovery_codes_left: u32::try_from(left).unwrap_or(0),
        })
    }

    /// Whether a sign-in of this user needs a second factor.
    pub async fn has_factor(&self, user_id: Uuid) -> Result<bool, MfaError> {
        Ok(!self.sign_in_methods(user_id).await?.is_empty())
    }

    /// What a sign-in of this user may finish with; empty for a user
    /// without a second factor (one query).
    pub async fn sign_in_methods(
        &self,
        user_id: Uuid,
    ) -> Result<&'static [&'static str], MfaError> {
        let factors = passkey_repo::factors(&self.deps.pool, user_id).await?;
        Ok(match factors {
            (false, false) => &[],
            (true, false) => &SIGN_IN_METHODS,
            (true, true) => &ALL_SIGN_IN_METHODS,
            (false, true) => &PASSKEY_SIGN_IN_METHODS,
        })
    }

    async fn user(&self, user_id: Uuid) -> Result<User, MfaError> {
        users::find_by_id(&self.deps.pool, user_id)
            .await?
            .ok_or(MfaError::UnknownUser)
    }

    fn record(&self, kind: &'static str, user_id: Uuid, client: &ClientInfo) -> AuditEvent {
        AuditEvent::new(kind, Some(user_id)).from_client(client)
    }

    /// Mails the account's owner that its second factors changed.
    fn tell(&self, user: &User, change: FactorChange) {
        self.deps.mailer.notify(Notice {
            to: user.email.clone(),
            username: user.username.clone(),
            change,
        });
    }

    /// Starts an enrolment: a new secret, pending until a code confirms it
    /// (a pending one is replaced). Refused while one is confirmed.
    pub async fn start_totp(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
    ) -> Result<Provisioning, MfaError> {
        let user = self.user(user_id).await?;
        let secret = totp::new_secret();
        let shown = totp::provisioning(&secret, &self.deps.issuer, &user.username)
            .ok_or(MfaError::Provisioning)?;
        let sealed = self.deps.cipher.seal(user.id, &secret);
        if !repo::start_totp(&self.deps.pool, user.id, &sealed).await? {
            return Err(MfaError::AlreadyEnabled);
        }
        self.deps
            .audit
            .record(self.record("mfa_totp_enrolment_started", user.id, client));
        Ok(shown)
    }

    /// Confirms the pending enrolment with its first code (used up like any
    /// other) and returns a fresh set of recovery codes, shown this once.
    /// A wrong code counts against the account.
    pub async fn confirm_totp(
        &self,
        user_id: Uuid,
        code: TotpCode,
        client: &ClientInfo,
    ) -> Result<Vec<String>, MfaError> {
        let user = self.user(user_id).await?;
        let pending = match repo::totp(&self.deps.pool, user.id).await? {
            Some(stored) if !stored.confirmed => stored,
            Some(_) => return Err(MfaError::AlreadyEnabled),
            None => return Err(MfaError::NoPendingEnrolment),
        };
        let secret = self.deps.cipher.open(user.id, &pending.sealed)?;
        let check = async {
            totp::matching_step(&secret, &code, now_secs(), None).ok_or(MfaError::WrongCode)
        };
        let step = self.counted(user.id, client, check).await?;
        let codes = recovery::generate();
        let hashes = hashes(user.id, &codes);
        if !repo::confirm_totp(&self.deps.pool, user.id, &pending.sealed, step, &hashes).await? {
            return Err(MfaError::NoPendingEnrolment);
        }
        self.deps
            .audit
            .record(self.record("mfa_totp_added", user.id, client));
        self.tell(&user, FactorChange::Added);
        Ok(codes)
    }

    /// Removes the authenticator app and the recovery codes with it. A
    /// confirmed one (the last factor) goes only with a valid code now; a
    /// pending one needs none.
    pub async fn remove_totp(
        &self,
        user_id: Uuid,
        proof: Proof,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        let user = self.user(user_id).await?;
        match repo::totp(&self.deps.pool, user.id).await? {
            None => return Err(MfaError::NotEnabled),
            Some(stored) if stored.confirmed => {
                self.verify(user.id, proof, client).await?;
            }
            Some(_) => {}
        }
        if repo::remove_totp(&self.deps.pool, user.id).await? {
            self.deps
                .audit
                .record(self.record("mfa_totp_removed", user.id, client));
            self.tell(&user, FactorChange::Removed);
        }
        Ok(())
    }

    /// A new set of recovery codes (the old ones stop working), after a
    /// valid code.
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: Uuid,
        proof: Proof,
        client: &ClientInfo,
    ) -> Result<Vec<String>, MfaError> {
        let user = self.user(user_id).await?;
        if !self.has_factor(user.id).await? {
            return Err(MfaError::NotEnabled);
        }
        self.verify(user.id, proof, client).await?;
        let codes = recovery::generate();
        if !repo::replace_recovery_codes(&self.deps.pool, user.id, &hashes(user.id, &codes)).await?
        {
            return Err(MfaError::NotEnabled);
        }
        self.deps
            .audit
            .record(self.record("mfa_recovery_codes_regenerated", user.id, client));
        self.tell(&user, FactorChange::RecoveryCodesReplaced);
        Ok(codes)
    }

    /// An administrator's reset (`by`; `None` for the operator): every
    /// factor of the user goes in one transaction that holds the user's row
    /// lock, and every session of the user ends (feed events included)
    /// before it commits, as a block does (see [`crate::admin`]): if Redis
    /// cannot be reached nothing is removed, and a login in flight waits for
    /// the lock. Audited and mailed even when there was nothing to remove,
    /// since the sessions ended all the same.
    pub async fn reset(
        &self,
        user_id: Uuid,
        by: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        let mut tx = self.deps.pool.begin().await?;
        let user = users::lock(&mut tx, user_id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(MfaError::UserNotFound)?;
        let removed = repo::reset(&mut tx, user.id).await?;
        let ended = self
            .deps
            .sessions
            .end_all_because(user.id, None, Reason::MfaReset)
            .await?;
        tx.commit().await?;
        self.deps.audit.record(
            self.record("mfa_reset", user.id, client)
                .by(by)
                .with_details(json!({
                    "totp": removed.totp,
                    "recovery_codes": removed.recovery_codes,
                    "passkeys": removed.passkeys,
                    "sessions_ended": ended,
                })),
        );
        self.tell(&user, FactorChange::Reset);
        Ok(())
    }

    /// Checks a second factor of `user_id`, counted in the account's failure
    /// window like a password (a slot taken before the check; a right one
    /// forgets the failures). A code passes once: an app's code of a step at
    /// or before the last accepted one, or a used recovery code, is wrong.
    /// A passkey answers the user's fresh check
    /// ([`Ceremony::reauthentication`]).
    pub async fn verify(
        &self,
        user_id: Uuid,
        proof: Proof,
        client: &ClientInfo,
    ) -> Result<Shown, MfaError> {
        self.verify_at(user_id, proof, &Ceremony::reauthentication(user_id), client)
            .await
    }

    /// [`Mfa::verify`], a passkey answering the ceremony at `ceremony` (a
    /// sign-in's second step).
    pub async fn verify_at(
        &self,
        user_id: Uuid,
        proof: Proof,
        ceremony: &Ceremony,
        client: &ClientInfo,
    ) -> Result<Shown, MfaError> {
        let shown = self
            .counted(user_id, client, self.check(user_id, &proof, ceremony))
            .await;
        match &shown {
            Ok(Shown::RecoveryCode) => {
                self.deps
                    .audit
                    .record(self.record("mfa_recovery_code_used", user_id, client))
            }
            Err(e) if e.is_wrong_answer() => {
                self.deps
                    .audit
                    .record(self.record("mfa_failed", user_id, client).with_details(
                        json!({ "method": match proof {
                            Proof::Totp(_) => Shown::Totp.as_str(),
                            Proof::Recovery(_) => Shown::RecoveryCode.as_str(),
                            Proof::Passkey(_) => Shown::Passkey.as_str(),
                        }}),
                    ))
            }
            _ => {}
        }
        shown
    }

    /// `check` under the account's failure window.
    async fn counted<T>(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
        check: impl std::future::Future<Output = Result<T, MfaError>>,
    ) -> Result<T, MfaError> {
        self.deps
            .limits
            .guard_credential_check(
                client.ip,
                Credential::SecondFactor(user_id),
                check,
                |result| match result {
                    Ok(_) => CheckOutcome::Accepted,
                    Err(e) if e.is_wrong_answer() => CheckOutcome::Wrong,
                    Err(_) => CheckOutcome::Undecided,
                },
            )
            .await
    }

    async fn check(
        &self,
        user_id: Uuid,
        proof: &Proof,
        ceremony: &Ceremony,
    ) -> Result<Shown, MfaError> {
        let pool = &self.deps.pool;
        match proof {
            Proof::Totp(code) => {
                let Some(stored) = repo::totp(pool, user_id).await?.filter(|s| s.confirmed) else {
                    return Err(MfaError::WrongCode);
                };
                let secret = self.deps.cipher.open(user_id, &stored.sealed)?;
                let step = totp::matching_step(&secret, code, now_secs(), stored.last_step)
                    .ok_or(MfaError::WrongCode)?;
                // Of two requests with one code, one advances the step.
                if repo::accept_step(pool, user_id, step).await? {
                    Ok(Shown::Totp)
                } else {
                    Err(MfaError::WrongCode)
                }
            }
            Proof::Recovery(code) => {
                if repo::use_recovery_code(pool, user_id, &code.hash(user_id)).await? {
                    Ok(Shown::RecoveryCode)
                } else {
                    Err(MfaError::WrongCode)
                }
            }
            Proof::Passkey(answer) => {
                self.check_passkey(user_id, answer, ceremony).await?;
                Ok(Shown::Passkey)
            }
        }
    }
}

impl MfaError {
    /// A wrong answer (a code, a passkey's), counted against the account.
    fn is_wrong_answer(&self) -> bool {
        match self {
            MfaError::WrongCode => true,
            MfaError::Passkey(e) => e.is_wrong_answer(),
            _ => false,
        }
    }
}

fn hashes(user_id: Uuid, codes: &[String]) -> Vec<Vec<u8>> {
    codes
        .iter()
        .filter_map(|code| RecoveryCode::parse(code).ok())
        .map(|code| code.hash(user_id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_names_the_factors_shown() {
        assert_eq!(Shown::Totp.amr(), ["pwd", "otp", "mfa"]);
        assert_eq!(Shown::RecoveryCode.amr(), ["pwd", "mfa"]);
        assert_eq!(Shown::Passkey.amr(), ["pwd", "hwk", "mfa"]);
        assert_eq!(Shown::PasskeyAlone.amr(), ["hwk", "user", "mfa"]);
    }

    #[test]
    fn every_generated_code_is_stored() {
        let codes = recovery::generate();
        assert_eq!(hashes(Uuid::new_v4(), &codes).len(), codes.len());
    }
}
