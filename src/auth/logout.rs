//! Logout: one session by its refresh or access token, or all of a user's.

use serde_json::json;
use uuid::Uuid;

use super::{Auth, AuthError};
use crate::audit::AuditEvent;
use crate::client::ClientInfo;
use crate::tokens::{AccessClaims, Bearer};

impl Auth {
    /// Ends the sessions named by a refresh token and/or an access token.
    /// Unknown or invalid tokens are ignored: logout always succeeds. A
    /// token bound to a DPoP key ends its session only when `jkt` (the key
    /// the request proved it holds) is that key: a copy cannot log the
    /// owner out.
    pub async fn logout(
        &self,
        refresh: Option<&str>,
        access: Option<&str>,
        client: &ClientInfo,
        jkt: Option<&str>,
    ) -> Result<(), AuthError> {
        if let Some(token) = refresh.and_then(|t| self.deps.sessions.parse_token(t)) {
            if self.deps.sessions.end_by_refresh_token(&token, jkt).await? {
                self.record_logout(token.user_id(), token.session_id(), client);
            }
        }
        // Whatever its audience: an exchanged token ends its session too. A
        // client's own token has no session to end.
        if let Some(Bearer::User(claims)) =
            access.and_then(|t| self.deps.tokens.verify_any_audience(t).ok())
        {
            let held = claims
                .cnf
                .as_ref()
                .is_none_or(|cnf| Some(cnf.jkt.as_str()) == jkt);
            if held {
                self.end_session(claims.sub, claims.sid, client).await?;
            }
        }
        Ok(())
    }

    /// Ends one session known by its ids (the admin console's own, on sign
    /// out); an ended one is no error.
    pub async fn end_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if self.deps.sessions.end(user_id, session_id).await? {
            self.record_logout(user_id, session_id, client);
        }
        Ok(())
    }

    fn record_logout(&self, user_id: Uuid, session_id: Uuid, client: &ClientInfo) {
        self.deps.audit.record(
            AuditEvent::new("logout", Some(user_id))
                .from_client(client)
                .with_details(json!({ "session_id": session_id })),
        );
    }

    /// Ends every session of the token's user.
    pub async fn logout_all(
        &self,
        claims: &AccessClaims,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let ended = self.deps.sessions.end_all(claims.sub, None).await?;
        self.deps.audit.record(
            AuditEvent::new("logout_all", Some(claims.sub))
                .from_client(client)
                .with_details(json!({ "sessions_ended": ended })),
        );
        Ok(())
    }
}
