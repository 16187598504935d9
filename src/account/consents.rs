//! The caller's consents to third-party apps: listed, and taken back.

use serde_json::json;

use super::{Account, AccountError};
use crate::authorize::consents::{self, Consent};
use crate::client::ClientInfo;
use crate::clients::model::plausible_id;
use crate::tokens::AccessClaims;

impl Account {
    pub async fn consents(&self, claims: &AccessClaims) -> Result<Vec<Consent>, AccountError> {
        Ok(consents::list(&self.pool, claims.sub).await?)
    }

    /// Takes back what the caller allowed `client_id`: the consent page is
    /// shown again on its next sign-in.
    pub async fn revoke_consent(
        &self,
        claims: &AccessClaims,
        client_id: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        if !plausible_id(client_id) || !consents::revoke(&self.pool, claims.sub, client_id).await? {
            return Err(AccountError::ConsentNotFound);
        }
        self.audit.record(
            self.record("consent_revoked", claims.sub, client)
                .with_details(json!({ "client_id": client_id })),
        );
        Ok(())
    }
}
