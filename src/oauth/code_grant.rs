//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636, OIDC Core
//! §3.1.3): a code from `/oauth/authorize` and its PKCE verifier for the
//! pair, and an ID token when `openid` was asked. Redis only: one script
//! checks the code's client, redirect URI and challenge, opens the session
//! and tells a replay (`sessions::codes`).

use serde_json::json;

use super::{IssuedTokens, OAuth, OAuthError};
use crate::audit::AuditEvent;
use crate::auth::AuthError;
use crate::authorize::{is_pkce_text, s256};
use crate::client::ClientInfo;
use crate::clients::{ClientKind, IdTokenSigning, StoredClient};
use crate::clock::now_secs;
use crate::sessions::{RedeemOutcome, Redeemed, Redemption};
use crate::tokens::{at_hash, IdTokenClaims, JwsAlg};

/// What the client sent with its code.
pub(super) struct Presented<'a> {
    pub(super) code: &'a str,
    pub(super) redirect_uri: Option<&'a str>,
    pub(super) verifier: &'a str,
}

/// The `acr` of a sign-in shown by `amr` (RFC 8176 values): `mfa` when a
/// second factor was shown, else `pwd`.
fn acr(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == "mfa") {
        "mfa"
    } else {
        "pwd"
    }
}

fn invalid_grant() -> OAuthError {
    OAuthError::InvalidGrant(AuthError::InvalidAuthorizationCode)
}

impl OAuth {
    /// Redeems a code for the client it was issued to.
    pub(super) async fn authorization_code(
        &self,
        stored: &StoredClient,
        presented: Presented<'_>,
        from: &ClientInfo,
        jkt: Option<&str>,
    ) -> Result<IssuedTokens, OAuthError> {
        let client = &stored.client;
        if !is_pkce_text(presented.verifier) {
            return Err(OAuthError::InvalidRequest(
                "code_verifier must be 43 to 128 unreserved characters (RFC 7636)".into(),
            ));
        }
        // A request that named no redirect URI used the client's only one.
        let redirect_uri = match (
            presented.redirect_uri,
            client.settings.redirect_uris.as_slice(),
        ) {
            (Some(uri), _) => uri,
            (None, [only]) => only.as_str(),
            (None, _) => return Err(OAuthError::MissingParameter("redirect_uri")),
        };
        let code = self
            .sessions
            .parse_code(presented.code)
            .ok_or_else(invalid_grant)?;
        let first_party = client.settings.first_party;
        let redemption = Redemption {
            client_id: &client.client_id,
            redirect_uri,
            challenge: &s256(presented.verifier),
            confidential: client.settings.kind == ClientKind::Confidential,
            online_lifetime: (!first_party).then(|| self.tokens.access_ttl()),
            // A public client's refresh token is bound to its DPoP key; a
            // confidential client's to its credentials.
            jkt: jkt.filter(|_| client.settings.kind == ClientKind::Public),
            proof_jkt: jkt,
        };
        let redeemed = match self
            .sessions
            .redeem_code(&code, &redemption, from)
            .await
            .map_err(AuthError::from)?
        {
            RedeemOutcome::Redeemed(redeemed) => redeemed,
            RedeemOutcome::Replayed => {
                tracing::warn!(client_id = %client.client_id, user_id = %code.user_id(), "authorization code replayed; the session it opened is ended");
                self.audit.record(
                    AuditEvent::new("authorization_code_replayed", Some(code.user_id()))
                        .from_client(from)
                        .with_details(json!({ "client_id": client.client_id })),
                );
                return Err(invalid_grant());
            }
            RedeemOutcome::Mismatch | RedeemOutcome::Unknown => return Err(invalid_grant()),
        };
        let session_id = redeemed.refresh.session_id;
        let access = self
            .tokens
            .issue_bound(&redeemed.claims, session_id, jkt)
            .map_err(AuthError::from)?;
        let scope = redeemed.claims.client.scope.clone().unwrap_or_default();
        let has = |name: &str| scope.split(' ').any(|s| s == name);
        let id_token = if has("openid") {
            Some(self.id_token(stored, &redeemed, &access.token, &has)?)
        } else {
            None
        };
        self.audit.record(
            AuditEvent::new("login", Some(redeemed.claims.user_id))
                .from_client(from)
                .with_details(json!({
                    "client_id": client.client_id,
                    "session_id": session_id,
                    "grant": "authorization_code",
                })),
        );
        let refresh = (first_party || has("offline_access")).then(|| {
            (
                redeemed.refresh.token.encode(),
                redeemed.refresh.expires_in.as_secs(),
            )
        });
        Ok(IssuedTokens {
            access_token: access.token,
            expires_in: access.expires_in.as_secs(),
            refresh,
            scope: (!scope.is_empty()).then_some(scope),
            issued_token_type: None,
            id_token,
            dpop_bound: jkt.is_some(),
        })
    }

    /// OIDC Core §2: who signed in, for the client, signed as it registered.
    fn id_token(
        &self,
        stored: &StoredClient,
        redeemed: &Redeemed,
        access_token: &str,
        has: &dyn Fn(&str) -> bool,
    ) -> Result<String, OAuthError> {
        let alg = match stored.client.settings.id_token_signed_response_alg {
            IdTokenSigning::EdDsa => JwsAlg::EdDSA,
            IdTokenSigning::Rs256 => JwsAlg::RS256,
        };
        let now = now_secs();
        let email = redeemed.email.clone().filter(|_| has("email"));
        let claims = IdTokenClaims {
            iss: self.tokens.issuer().to_owned(),
            sub: redeemed.claims.user_id.to_string(),
            aud: stored.client.client_id.clone(),
            exp: now + self.id_token_ttl.as_secs(),
            iat: now,
            auth_time: redeemed.auth_time,
            nonce: redeemed.nonce.clone(),
            amr: (!redeemed.amr.is_empty()).then(|| redeemed.amr.clone()),
            acr: Some(acr(&redeemed.amr).to_owned()),
            sid: redeemed.refresh.session_id,
            at_hash: at_hash(access_token, alg),
            email_verified: email.as_ref().map(|(_, verified)| *verified),
            email: email.map(|(address, _)| address),
            preferred_username: has("profile").then(|| redeemed.claims.username.clone()),
        };
        Ok(self
            .tokens
            .issue_id_token(&claims, alg)
            .map_err(AuthError::from)?)
    }
}
