//! The caller's own sessions: listed, and ended one by one.

use serde_json::json;
use uuid::Uuid;

use super::{Account, AccountError};
use crate::client::ClientInfo;
use crate::revocations::Reason;
use crate::sessions::SessionSummary;
use crate::tokens::AccessClaims;

/// A live session of the caller's, flagged when it is the one asking.
#[derive(Debug, Clone)]
pub struct OwnSession {
    pub session: SessionSummary,
    pub current: bool,
}

impl Account {
    pub async fn sessions(&self, claims: &AccessClaims) -> Result<Vec<OwnSession>, AccountError> {
        let sessions = self.sessions.list(claims.sub).await?;
        Ok(sessions
            .into_iter()
            .map(|session| OwnSession {
                current: session.id == claims.sid,
                session,
            })
            .collect())
    }

    /// Ends one of the caller's sessions (possibly the calling one).
    pub async fn revoke_session(
        &self,
        claims: &AccessClaims,
        session_id: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let session_id: Uuid = session_id
            .parse()
            .map_err(|_| AccountError::SessionNotFound)?;
        if !self
            .sessions
            .end_because(claims.sub, session_id, Reason::SessionRevoked)
            .await?
        {
            return Err(AccountError::SessionNotFound);
        }
        self.audit.record(
            self.record("session_revoked", claims.sub, client)
                .with_details(json!({ "session_id": session_id })),
        );
        Ok(())
    }
}
