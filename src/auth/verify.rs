//! Access token checks: a token verifies, and its session (a user's token)
//! or its client (a client's own token, or one got by token exchange) is
//! still live; the user behind it; and how that user signed in, for a
//! route that demands more (RFC 9470 step-up).

use super::{Auth, AuthError};
use crate::clients::TokenClient;
use crate::dpop::Checked;
use crate::sessions::Live;
use crate::tokens::{AccessClaims, Bearer, Confirmation};
use crate::users::{repo, UserPublic};
use tessera_dpop::DpopError;

/// The longest `max_age` a route may name (ten years): far past any
/// session's life, and far from overflowing any sum with a clock.
pub const MAX_AGE_LIMIT_SECS: u64 = 10 * 365 * 86_400;

/// An authentication context class a route may demand (`acr_values`). Only
/// the one tessera grants beyond a password exists: naming another is a
/// mistake in the route, refused rather than ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acr {
    /// Two factors shown (the tokens' `acr: "mfa"`).
    Mfa,
}

impl Acr {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        match s {
            "mfa" => Ok(Acr::Mfa),
            _ => Err("must be mfa"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Acr::Mfa => "mfa",
        }
    }
}

/// A `max_age` in whole seconds, 0 to [`MAX_AGE_LIMIT_SECS`].
pub fn parse_max_age(s: &str) -> Result<u64, &'static str> {
    const RULE: &str = "must be a whole number of seconds from 0 to 315360000";
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RULE);
    }
    s.parse()
        .ok()
        .filter(|secs| *secs <= MAX_AGE_LIMIT_SECS)
        .ok_or(RULE)
}

/// What a route demands of the sign-in behind a token (RFC 9470): a class
/// (`acr`), a recent enough sign-in (`max_age` seconds), or both. Judged on
/// the token's own signed claims: no round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepUp {
    pub acr: Option<Acr>,
    pub max_age: Option<u64>,
}

impl StepUp {
    /// `None` when nothing is demanded.
    pub fn of(acr: Option<Acr>, max_age: Option<u64>) -> Option<Self> {
        (acr.is_some() || max_age.is_some()).then_some(Self { acr, max_age })
    }

    /// Whether a user's token at `now` (unix s) meets the demand; a
    /// client's own token (`None`) shows no user's sign-in at all.
    pub fn check(self, claims: Option<&AccessClaims>, now: u64) -> Result<(), AuthError> {
        let met = claims.is_some_and(|claims| {
            let class = match self.acr {
                None => true,
                Some(Acr::Mfa) => claims.acr.as_deref() == Some(Acr::Mfa.as_str()),
            };
            // A token without `auth_time` cannot show it is recent enough.
            let recent = match self.max_age {
                None => true,
                Some(max_age) => claims
                    .auth_time
                    .is_some_and(|at| now.saturating_sub(at) <= max_age),
            };
            class && recent
        });
        if met {
            Ok(())
        } else {
            Err(AuthError::InsufficientUserAuthentication(self))
        }
    }
}

impl Auth {
    /// A verified user's access token for this service (`jwt.audience`)
    /// whose session is still live: one signature check and one Redis round
    /// trip. A client's own token has no user, so it is refused here. Its
    /// DPoP binding is not asked for: for the tokens tessera holds itself
    /// (the console's, the browser session's) and token exchange's subject,
    /// which are not resource requests.
    pub async fn authenticate(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        self.authenticate_user(access_token, |_| Ok(None)).await
    }

    /// [`Auth::authenticate`] for a resource request: `bind` checks the
    /// DPoP proof a bound token needs (see [`Auth::authenticate_for`]).
    pub async fn authenticate_user(
        &self,
        access_token: &str,
        bind: impl FnOnce(&Confirmation) -> Result<Option<Checked>, DpopError>,
    ) -> Result<AccessClaims, AuthError> {
        match self
            .authenticate_for(access_token, self.deps.tokens.audience(), bind)
            .await?
        {
            Bearer::User(claims) => Ok(claims),
            Bearer::Client(_) => Err(AuthError::InvalidAccessToken),
        }
    }

    /// Either kind of access token naming `audience`. A user's token needs
    /// its session (one Redis round trip), whose current role and
    /// subscription replace the token's (an administrator may have changed
    /// them since it was signed). A client's own token needs its client
    /// enabled, which the registry's in-process copy answers (no round
    /// trip). A token bound to a DPoP key (`cnf`) is handed to `bind`,
    /// which checks the request's proof in process; its `jti` is spent in
    /// the session's round trip (a client's token, which has none, spends
    /// it with one `SET NX`).
    pub async fn authenticate_for(
        &self,
        access_token: &str,
        audience: &str,
        bind: impl FnOnce(&Confirmation) -> Result<Option<Checked>, DpopError>,
    ) -> Result<Bearer, AuthError> {
        let bearer = self
            .deps
            .tokens
            .verify_for(access_token, audience)
            .map_err(|_| AuthError::InvalidAccessToken)?;
        self.client_still_live(&bearer)?;
        let proof = match bearer.cnf() {
            Some(cnf) => bind(cnf).map_err(AuthError::DpopProof)?,
            None => None,
        };
        match bearer {
            Bearer::User(mut claims) => {
                match self
                    .deps
                    .sessions
                    .live_claims(claims.sub, claims.sid, proof.as_ref())
                    .await?
                {
                    Live::Claims(live) => {
                        claims.role = live.role;
                        claims.subscription = live.subscription;
                        Ok(Bearer::User(claims))
                    }
                    Live::Gone => Err(AuthError::InvalidAccessToken),
                    Live::ProofReplayed => Err(AuthError::DpopProof(DpopError::Replayed)),
                }
            }
            client => {
                if let Some(proof) = &proof {
                    self.deps.dpop.spend(proof).await?;
                }
                Ok(client)
            }
        }
    }

    /// A token naming a registered client dies when the client is disabled
    /// or removed. A client's own token and an exchanged one must name a
    /// registered client; a first-party or public app's token names none.
    /// In-process: no round trip.
    pub fn client_still_live(&self, bearer: &Bearer) -> Result<(), AuthError> {
        let needs_registered = match bearer {
            Bearer::Client(_) => true,
            Bearer::User(claims) => claims.act.is_some(),
        };
        match self
            .deps
            .registry
            .judge_token(bearer.client_id(), bearer.iat())
        {
            TokenClient::Live => Ok(()),
            TokenClient::Unregistered if !needs_registered => Ok(()),
            TokenClient::Unknown if !needs_registered => Ok(()),
            TokenClient::Unknown => Err(AuthError::RegistryUnavailable),
            TokenClient::Unregistered | TokenClient::Dead => Err(AuthError::InvalidAccessToken),
        }
    }

    pub async fn current_user(&self, claims: &AccessClaims) -> Result<UserPublic, AuthError> {
        repo::find_by_id(&self.deps.pool, claims.sub)
            .await?
            .map(UserPublic::from)
            .ok_or(AuthError::InvalidAccessToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_whole_seconds_within_ten_years() {
        assert_eq!(parse_max_age("0"), Ok(0));
        assert_eq!(parse_max_age("315360000"), Ok(MAX_AGE_LIMIT_SECS));
        for bad in [
            "",
            "-1",
            "+1",
            "1.5",
            " 1",
            "315360001",
            "99999999999999999999999",
        ] {
            assert!(parse_max_age(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Acr::parse("mfa"), Ok(Acr::Mfa));
        assert!(Acr::parse("pwd").is_err());
        assert_eq!(StepUp::of(None, None), None);
    }
}
