//! Passkeys (WebAuthn, through webauthn-rs, which does every check of a
//! response): registering one, listing, renaming and removing them, and
//! asking one at sign-in, as the second step after a password or alone
//! (a discoverable credential, with user verification).
//!
//! A ceremony is two requests: the options (a challenge) and the
//! authenticator's answer. Between them webauthn-rs's state waits in Redis
//! for `mfa.token_ttl_secs`, taken with `GETDEL` by the answer, so a
//! ceremony is finished at most once and an answer is never replayed. Where
//! it waits says what it is for (one key per purpose, never shared):
//! a registration and a fresh check while signed in, one per user; the
//! second step of a sign-in, beside its `mfa_token`; a passwordless
//! sign-in, under a handle of its own.
//!
//! Failed answers count against the account like wrong codes (see
//! [`Mfa::verify`]).

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::passkey_repo::{self as repo, Removal, Stored};
use super::{Mfa, MfaError, Proof};
use crate::client::ClientInfo;
use crate::config::WebauthnConfig;
use crate::mail::FactorChange;
use crate::redis_client::{RedisClient, RedisFailure};
use crate::tokens::opaque;

pub use repo::Listed as PasskeySummary;

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The authenticator's answer does not pass: its signature, challenge,
    /// origin, relying party, flags or counter.
    #[error("the passkey's answer is refused: {0}")]
    Refused(WebauthnError),
    /// A credential this service does not know, or not the account's.
    #[error("unknown passkey")]
    UnknownCredential,
    /// No ceremony waits there: never started, expired or finished.
    #[error("no passkey ceremony is waiting (expired or finished)")]
    NoCeremony,
    /// The credential is registered already (here or to another account).
    #[error("this passkey is registered already")]
    AlreadyRegistered,
    /// The account has no passkey to ask for.
    #[error("no passkey is registered")]
    NoneRegistered,
    #[error("no such passkey")]
    NotFound,
    /// The last second factor goes only with a fresh check.
    #[error("removing the last second factor needs a fresh check")]
    LastFactor,
    /// A ceremony could not be started, or a stored passkey not read.
    #[error("webauthn: {0}")]
    Internal(String),
    #[error(transparent)]
    Redis(#[from] RedisFailure),
}

impl PasskeyError {
    /// Whether this answer is a wrong one, counted against the account.
    pub fn is_wrong_answer(&self) -> bool {
        matches!(
            self,
            PasskeyError::Refused(_) | PasskeyError::UnknownCredential
        )
    }

    /// Whether a sign-in fails for it (the answer, or its ceremony, is no
    /// good), rather than for the service.
    pub fn is_refusal(&self) -> bool {
        self.is_wrong_answer() || matches!(self, PasskeyError::NoCeremony)
    }
}

/// A passkey's name, as its owner calls it: 1 to 64 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

impl PasskeyName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(typed: &str) -> Result<Self, &'static str> {
        let name = typed.trim();
        if name.is_empty() {
            return Err("A passkey needs a name.");
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err("A passkey's name is at most 64 characters.");
        }
        Ok(Self(name.to_owned()))
    }
}

/// The decoded `clientDataJSON` this service reads: far more than any
/// browser sends (a few hundred bytes), so a bigger one is refused unread.
const MAX_CLIENT_DATA: usize = 4096;

const NOT_A_REGISTRATION: &str =
    "Not a WebAuthn registration (a PublicKeyCredential from navigator.credentials.create, as JSON).";
const NOT_AN_ASSERTION: &str =
    "Not a WebAuthn assertion (a PublicKeyCredential from navigator.credentials.get, as JSON).";
const CLIENT_DATA_TOO_LONG: &str = "clientDataJSON is longer than 4096 bytes.";

/// An authenticator's answer to a registration, as a client sends it
/// (`PublicKeyCredential.toJSON()`).
pub fn registration(value: Value) -> Result<Box<RegisterPublicKeyCredential>, &'static str> {
    let credential: RegisterPublicKeyCredential =
        serde_json::from_value(value).map_err(|_| NOT_A_REGISTRATION)?;
    if credential.response.client_data_json.len() > MAX_CLIENT_DATA {
        return Err(CLIENT_DATA_TOO_LONG);
    }
    Ok(Box::new(credential))
}

/// An authenticator's answer to an authentication, well-formed (whether
/// it passes is the ceremony's to say).
#[derive(Debug, Clone)]
pub struct Assertion(Box<PublicKeyCredential>);

impl Assertion {
    /// The answer as a client sends it (`PublicKeyCredential.toJSON()`).
    pub fn parse(value: Value) -> Result<Self, &'static str> {
        let credential: PublicKeyCredential =
            serde_json::from_value(value).map_err(|_| NOT_AN_ASSERTION)?;
        if credential.response.client_data_json.len() > MAX_CLIENT_DATA {
            return Err(CLIENT_DATA_TOO_LONG);
        }
        Ok(Self(Box::new(credential)))
    }
}

/// The same answer: the same credential's same signed bytes.
impl PartialEq for Assertion {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.0, &other.0);
        a.raw_id == b.raw_id
            && a.response.authenticator_data == b.response.authenticator_data
            && a.response.client_data_json == b.response.client_data_json
            && a.response.signature == b.response.signature
    }
}

impl Eq for Assertion {}

/// Where a ceremony's state waits: the key says its purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceremony(String);

impl Ceremony {
    fn registration(user_id: Uuid) -> Self {
        Self(format!("tessera:passkey:register:{user_id}"))
    }

    /// A fresh check of a signed-in user (before removing a last factor).
    pub fn reauthentication(user_id: Uuid) -> Self {
        Self(format!("tessera:passkey:check:{user_id}"))
    }

    /// The second step of a sign-in: named by its `mfa_token`'s secret
    /// (hashed, like the step's own key), so it dies with no other step.
    pub fn sign_in_step(token: &[u8]) -> Self {
        Self(opaque::digest_key("tessera:passkey:step:", token))
    }
}

const HANDLE_LEN: usize = opaque::SECRET_LEN;

/// The handle of a passwordless sign-in's ceremony, which its client sends
/// back with the answer.
pub struct SignInHandle([u8; HANDLE_LEN]);

impl SignInHandle {
    pub fn parse(text: &str) -> Option<Self> {
        opaque::decode::<HANDLE_LEN>(text).map(Self)
    }

    fn ceremony(&self) -> Ceremony {
        Ceremony(opaque::digest_key("tessera:passkey:signin:", &self.0))
    }
}

/// A passwordless sign-in's options and the handle to answer them with.
pub struct SignInOptions {
    pub handle: String,
    pub options: RequestChallengeResponse,
}

/// The relying party and the ceremonies' store.
pub struct Passkeys {
    webauthn: Webauthn,
    redis: Arc<RedisClient>,
    ttl: Duration,
}

impl Passkeys {
    /// `rp_name`: what authenticators show beside the account.
    pub fn new(
        config: &WebauthnConfig,
        rp_name: &str,
        redis: Arc<RedisClient>,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let mut origins = config.origins.iter().map(|o| {
            Url::parse(o).map_err(|e| anyhow::anyhow!("webauthn.origins: {o:?} is not a URL: {e}"))
        });
        let first = origins
            .next()
            .ok_or_else(|| anyhow::anyhow!("webauthn.origins is empty"))??;
        let mut builder = WebauthnBuilder::new(&config.rp_id, &first)
            .map_err(|e| anyhow::anyhow!("webauthn.rp_id {:?}: {e}", config.rp_id))?
            .rp_name(rp_name)
            // On localhost (development, tests) any port is the service.
            .allow_any_port(config.rp_id == "localhost")
            .timeout(ttl);
        for origin in origins {
            builder = builder.append_allowed_origin(&origin?);
        }
        let webauthn = builder
            .build()
            .map_err(|e| anyhow::anyhow!("webauthn.rp_id and webauthn.origins: {e}"))?;
        Ok(Self {
            webauthn,
            redis,
            ttl,
        })
    }

    async fn keep(&self, ceremony: &Ceremony, state: &impl Serialize) -> Result<(), PasskeyError> {
        let state =
            serde_json::to_string(state).map_err(|e| PasskeyError::Internal(e.to_string()))?;
        self.redis
            .command::<()>(
                redis::cmd("SET")
                    .arg(&ceremony.0)
                    .arg(state)
                    .arg("PX")
                    .arg(self.ttl.as_millis() as u64),
            )
            .await?;
        Ok(())
    }

    /// The ceremony's state, taken (`GETDEL`): one caller gets it.
    async fn take<T: DeserializeOwned>(&self, ceremony: &Ceremony) -> Result<T, PasskeyError> {
        let state: Option<String> = self
            .redis
            .command(redis::cmd("GETDEL").arg(&ceremony.0))
            .await?;
        state
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or(PasskeyError::NoCeremony)
    }
}

fn passkey_of(stored: &Stored) -> Result<Passkey, PasskeyError> {
    serde_json::from_value(stored.passkey.clone()).map_err(|e| {
        PasskeyError::Internal(format!("stored passkey {} unreadable: {e}", stored.id))
    })
}

fn to_json(passkey: &Passkey) -> Result<Value, PasskeyError> {
    serde_json::to_value(passkey).map_err(|e| PasskeyError::Internal(e.to_string()))
}

impl Mfa {
    fn passkeys(&self) -> &Passkeys {
        &self.deps.passkeys
    }

    async fn stored_passkeys(&self, user_id: Uuid) -> Result<Vec<(Stored, Passkey)>, MfaError> {
        let stored = repo::all_of(&self.deps.pool, user_id).await?;
        let mut read = Vec::with_capacity(stored.len());
        for s in stored {
            let passkey = passkey_of(&s)?;
            read.push((s, passkey));
        }
        Ok(read)
    }

    /// The user's passkeys, oldest first.
    pub async fn list_passkeys(&self, user_id: Uuid) -> Result<Vec<PasskeySummary>, MfaError> {
        Ok(repo::list(&self.deps.pool, user_id).await?)
    }

    /// Starts registering a passkey: the options for
    /// `navigator.credentials.create`. The user's passkeys are excluded
    /// (an authenticator holding one says so instead of making another);
    /// the credential must be discoverable (a sign-in without a name) and
    /// verify the user. Starting again replaces a registration in progress.
    pub async fn start_passkey_registration(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
    ) -> Result<CreationChallengeResponse, MfaError> {
        let user = self.user(user_id).await?;
        let existing = self
            .stored_passkeys(user.id)
            .await?
            .into_iter()
            .map(|(_, passkey)| passkey.cred_id().clone())
            .collect();
        let (mut options, state) = self
            .passkeys()
            .webauthn
            .start_passkey_registration(user.id, &user.username, &user.username, Some(existing))
            .map_err(|e| PasskeyError::Internal(e.to_string()))?;
        // webauthn-rs asks for a discoverable credential only as a
        // preference; a passwordless sign-in needs one.
        let selection = options
            .public_key
            .authenticator_selection
            .get_or_insert_with(Default::default);
        selection.require_resident_key = true;
        selection.resident_key = serde_json::from_value(json!("required")).ok();
        self.passkeys()
            .keep(&Ceremony::registration(user.id), &state)
            .await?;
        self.deps
            .audit
            .record(self.record("mfa_passkey_registration_started", user.id, client));
        Ok(options)
    }

    /// Finishes the registration with the authenticator's answer and keeps
    /// the passkey under `name`.
    pub async fn finish_passkey_registration(
        &self,
        user_id: Uuid,
        name: PasskeyName,
        credential: &RegisterPublicKeyCredential,
        client: &ClientInfo,
    ) -> Result<PasskeySummary, MfaError> {
        let user = self.user(user_id).await?;
        let state: PasskeyRegistration = self
            .passkeys()
            .take(&Ceremony::registration(user.id))
            .await?;
        let passkey = self
            .passkeys()
            .webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(PasskeyError::Refused)?;
        let listed = repo::insert(
            &self.deps.pool,
            user.id,
            passkey.cred_id(),
            &name.0,
            &to_json(&passkey)?,
        )
        .await?
        .ok_or(PasskeyError::AlreadyRegistered)?;
        self.deps.audit.record(
            self.record("mfa_passkey_added", user.id, client)
                .with_details(json!({ "passkey": listed.id })),
        );
        self.tell(&user, FactorChange::PasskeyAdded);
        Ok(listed)
    }

    pub async fn rename_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        name: PasskeyName,
        client: &ClientInfo,
    ) -> Result<PasskeySummary, MfaError> {
        let listed = repo::rename(&self.deps.pool, user_id, id, &name.0)
            .await?
            .ok_or(PasskeyError::NotFound)?;
        self.deps.audit.record(
            self.record("mfa_passkey_renamed", user_id, client)
                .with_details(json!({ "passkey": id })),
        );
        Ok(listed)
    }

    /// Removes one of the user's passkeys. The last second factor goes
    /// only with `proof`, checked now (a code, a recovery code, or an
    /// answer to [`Mfa::start_passkey_check`]).
    pub async fn remove_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        proof: Option<Proof>,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        let user = self.user(user_id).await?;
        let proven = match proof {
            Some(proof) => {
                self.verify(user.id, proof, client).await?;
                true
            }
            None => false,
        };
        match repo::remove(&self.deps.pool, user.id, id, proven).await? {
            Removal::Removed => {}
            Removal::NotFound => return Err(PasskeyError::NotFound.into()),
            Removal::LastFactor => return Err(PasskeyError::LastFactor.into()),
        }
        self.deps.audit.record(
            self.record("mfa_passkey_removed", user.id, client)
                .with_details(json!({ "passkey": id })),
        );
        self.tell(&user, FactorChange::PasskeyRemoved);
        Ok(())
    }

    /// Options to ask one of the user's passkeys at `ceremony` (a sign-in's
    /// second step, or a fresh check while signed in).
    pub async fn start_passkey_check(
        &self,
        user_id: Uuid,
        ceremony: &Ceremony,
    ) -> Result<RequestChallengeResponse, MfaError> {
        let passkeys: Vec<Passkey> = self
            .stored_passkeys(user_id)
            .await?
            .into_iter()
            .map(|(_, passkey)| passkey)
            .collect();
        if passkeys.is_empty() {
            return Err(PasskeyError::NoneRegistered.into());
        }
        let (options, state) = self
            .passkeys()
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|e| PasskeyError::Internal(e.to_string()))?;
        self.passkeys().keep(ceremony, &state).await?;
        Ok(options)
    }

    /// Checks an answer to [`Mfa::start_passkey_check`] (the ceremony is
    /// taken first, so it is answered once), and records the passkey's use.
    pub(super) async fn check_passkey(
        &self,
        user_id: Uuid,
        answer: &Assertion,
        ceremony: &Ceremony,
    ) -> Result<(), MfaError> {
        let credential = &answer.0;
        let state: PasskeyAuthentication = self.passkeys().take(ceremony).await?;
        let stored = repo::by_credential(&self.deps.pool, &credential.raw_id)
            .await?
            .filter(|s| s.user_id == user_id)
            .ok_or(PasskeyError::UnknownCredential)?;
        let result = self
            .passkeys()
            .webauthn
            .finish_passkey_authentication(credential, &state)
            .map_err(PasskeyError::Refused)?;
        self.record_use(&stored, &result).await
    }

    /// Stores what an authentication moved (counter, backup flags) and when.
    async fn record_use(
        &self,
        stored: &Stored,
        result: &webauthn_rs::prelude::AuthenticationResult,
    ) -> Result<(), MfaError> {
        let mut passkey = passkey_of(stored)?;
        let updated = match passkey.update_credential(result) {
            Some(true) => Some(to_json(&passkey)?),
            _ => None,
        };
        repo::used(
            &self.deps.pool,
            stored.id,
            updated.as_ref().map(|p| (p, result.counter())),
        )
        .await?;
        Ok(())
    }

    /// Options for a sign-in with a passkey alone (a discoverable
    /// credential), and the handle its answer comes back with.
    pub async fn start_passkey_sign_in(&self) -> Result<SignInOptions, MfaError> {
        let (options, state): (_, DiscoverableAuthentication) = self
            .passkeys()
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| PasskeyError::Internal(e.to_string()))?;
        let handle = SignInHandle(opaque::fresh_secret());
        self.passkeys().keep(&handle.ceremony(), &state).await?;
        Ok(SignInOptions {
            handle: opaque::encode(&handle.0),
            options,
        })
    }

    /// Checks a passwordless sign-in's answer: whose passkey it is (the
    /// credential's user handle and id must name one stored passkey), then
    /// the answer itself, which must say the authenticator verified its
    /// user, counted in that account's failure window like a code. The
    /// ceremony is taken first, so it is answered once. The user's id.
    pub async fn finish_passkey_sign_in(
        &self,
        handle: &SignInHandle,
        answer: &Assertion,
        client: &ClientInfo,
    ) -> Result<Uuid, MfaError> {
        let credential = &answer.0;
        let state: DiscoverableAuthentication = self.passkeys().take(&handle.ceremony()).await?;
        let (user_id, credential_id) = self
            .passkeys()
            .webauthn
            .identify_discoverable_authentication(credential)
            .map_err(|_| PasskeyError::UnknownCredential)?;
        let stored = repo::by_credential(&self.deps.pool, credential_id)
            .await?
            .filter(|s| s.user_id == user_id)
            .ok_or(PasskeyError::UnknownCredential)?;
        let check = async {
            let passkey = passkey_of(&stored)?;
            let result = self
                .passkeys()
                .webauthn
                .finish_discoverable_authentication_v2(credential, state, &passkey)
                .map_err(PasskeyError::Refused)?;
            // Required by the ceremony already; a passkey alone is two
            // factors only with it.
            if !result.user_verified() {
                return Err(PasskeyError::Refused(WebauthnError::UserNotVerified).into());
            }
            self.record_use(&stored, &result).await
        };
        let checked = self.counted(user_id, client, check).await;
        if let Err(e) = &checked {
            if e.is_wrong_answer() {
                self.deps.audit.record(
                    self.record("login_failed", user_id, client)
                        .with_details(json!({ "reason": "passkey_refused" })),
                );
            }
        }
        checked.map(|()| user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passkey_name_is_one_to_64_characters() {
        assert_eq!(
            PasskeyName::parse("  YubiKey 5C ").unwrap(),
            PasskeyName("YubiKey 5C".into())
        );
        assert!(PasskeyName::parse("   ").is_err());
        assert!(PasskeyName::parse(&"é".repeat(64)).is_ok());
        assert!(PasskeyName::parse(&"é".repeat(65)).is_err());
    }

    #[test]
    fn answers_that_are_not_credentials_are_refused_by_shape() {
        assert_eq!(
            Assertion::parse(json!({"id": "x"})).unwrap_err(),
            NOT_AN_ASSERTION
        );
        assert_eq!(
            registration(json!({"id": "x"})).unwrap_err(),
            NOT_A_REGISTRATION
        );
        let huge = opaque::encode(&vec![b'a'; MAX_CLIENT_DATA + 1]);
        let answer = json!({
            "id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"authenticatorData": "AAAA", "clientDataJSON": huge, "signature": "AAAA"},
        });
        assert_eq!(Assertion::parse(answer).unwrap_err(), CLIENT_DATA_TOO_LONG);
        let nul = json!({
            "id": "AAAA", "rawId": "AA\u{0}A", "type": "public-key",
            "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA"},
        });
        assert_eq!(Assertion::parse(nul).unwrap_err(), NOT_AN_ASSERTION);
    }

    #[test]
    fn every_ceremony_waits_under_its_own_key() {
        let user = Uuid::new_v4();
        let keys = [
            Ceremony::registration(user),
            Ceremony::reauthentication(user),
            Ceremony::sign_in_step(user.as_bytes()),
            SignInHandle(*b"0123456789abcdef0123456789abcdef").ceremony(),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(SignInHandle::parse("short").is_none());
    }
}
