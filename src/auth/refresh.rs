//! Refresh: a refresh token rotated for a new pair, under the per-session
//! refresh limit, with reuse of a retired token ending the session.

use serde_json::json;

use super::{Auth, AuthError, TokenPair};
use crate::audit::AuditEvent;
use crate::client::ClientInfo;
use crate::dpop::Checked;
use crate::metrics::{self, RefreshResult};
use crate::rate_limit::{Limiter, RateLimitError};
use crate::sessions::RotateOutcome;
use tessera_dpop::DpopError;

impl Auth {
    /// Rotates a refresh token under the per-session refresh limit: Redis
    /// only, one script. A token the service did not tag is refused before
    /// the script runs, so it can end nothing.
    /// `presenter` is the OAuth client presenting the token (`""` at
    /// `/api/v1/auth/refresh`): a session an OAuth client opened rotates
    /// only for that client. `proof` is the request's DPoP proof, its `jti`
    /// spent by the rotation: a bound session rotates only for its key, and
    /// the new access token is bound to it.
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
        presenter: &str,
        proof: Option<&Checked>,
    ) -> Result<TokenPair, AuthError> {
        let Some(token) = self.deps.sessions.parse_token(presented) else {
            metrics::refresh(RefreshResult::Invalid);
            return Err(AuthError::InvalidRefreshToken);
        };
        let limit = self.deps.limits.refresh_limit(client.ip);
        match self
            .deps
            .sessions
            .rotate_limited(&token, limit, client.ip, presenter, proof)
            .await?
        {
            RotateOutcome::Rotated(rotation) => {
                match &rotation.retried {
                    // A lost response retried, maybe from another network
                    // (Wi-Fi to cellular): audited, never revoked for that.
                    Some(rotated_from) => {
                        metrics::refresh(RefreshResult::Retry);
                        self.deps.audit.record(
                            AuditEvent::new("refresh_retried", Some(rotation.claims.user_id))
                                .from_client(client)
                                .with_details(json!({
                                    "session_id": rotation.refresh.session_id,
                                    "rotated_from_ip": rotated_from,
                                })),
                        );
                    }
                    None => metrics::refresh(RefreshResult::Rotated),
                }
                self.pair(
                    &rotation.claims,
                    rotation.refresh.session_id,
                    (
                        &rotation.refresh.token,
                        rotation.refresh.expires_in.as_secs(),
                    ),
                    proof.map(Checked::jkt),
                )
            }
            RotateOutcome::Limited { retry_after } => {
                Err(RateLimitError::limited(Limiter::Refresh, retry_after).into())
            }
            RotateOutcome::Reused => {
                let (user_id, session_id) = (token.user_id(), token.session_id());
                metrics::refresh(RefreshResult::Invalid);
                metrics::refresh_reuse_detected();
                tracing::warn!(%user_id, %session_id, "refresh token reuse detected; session revoked");
                self.deps.audit.record(
                    AuditEvent::new("refresh_reuse_detected", Some(user_id))
                        .from_client(client)
                        .with_details(json!({ "session_id": session_id })),
                );
                Err(AuthError::InvalidRefreshToken)
            }
            RotateOutcome::KeyMismatch => {
                // A copy of a bound token without its key: refused, and the
                // owner's session is untouched.
                metrics::refresh(RefreshResult::Invalid);
                self.deps.audit.record(
                    AuditEvent::new("refresh_key_mismatch", Some(token.user_id()))
                        .from_client(client)
                        .with_details(json!({ "session_id": token.session_id() })),
                );
                Err(AuthError::InvalidRefreshToken)
            }
            RotateOutcome::SameKeyReuse => {
                metrics::refresh(RefreshResult::Invalid);
                self.deps.audit.record(
                    AuditEvent::new("refresh_reuse_same_key", Some(token.user_id()))
                        .from_client(client)
                        .with_details(json!({ "session_id": token.session_id() })),
                );
                Err(AuthError::InvalidRefreshToken)
            }
            RotateOutcome::ProofReplayed => {
                metrics::refresh(RefreshResult::Invalid);
                Err(AuthError::DpopProof(DpopError::Replayed))
            }
            RotateOutcome::Unknown | RotateOutcome::WrongClient => {
                metrics::refresh(RefreshResult::Invalid);
                Err(AuthError::InvalidRefreshToken)
            }
        }
    }
}
