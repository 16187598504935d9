//! Authorization codes in Redis: what each was issued for, kept under the
//! SHA-256 of the code for `oauth.code_ttl_secs`, and redeemed for a new
//! session in one script (`redeem_code.lua`) that also tells a replay,
//! ending the session the first redemption opened.
//!
//! Key: `tessera:code:{<user id>}:<hex SHA-256 of the code>` — a hash with
//! `cid`, `redirect`, `challenge`, `anchor`, `scope`, `nonce`, `auth`,
//! `amr`, and once redeemed `used` and `sid`.

use std::time::Duration;

use redis::Script;
use uuid::Uuid;

use super::{
    index_key, session_key, session_prefix, Authn, IssuedRefresh, SessionClaims, SessionClient,
    SessionError, SessionStore,
};
use crate::client::ClientInfo;
use crate::clock::now_ms;
use crate::revocations::{FeedWriter, Kind, Reason, Revoked};
use crate::sessions::RefreshToken;
use crate::tokens::code::AuthorizationCode;
use crate::tokens::opaque::hex_key;

/// What a code is issued for, and what its redemption must match.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    /// The PKCE S256 challenge (RFC 7636 §4.2).
    pub challenge: String,
    /// The browser sign-in's session: the new session takes its role,
    /// subscription and name, and a code issued under a sign-in that has
    /// ended since is worth nothing.
    pub anchor: Uuid,
    /// Space-separated, as granted.
    pub scope: String,
    pub nonce: Option<String>,
    /// When the user signed in (unix seconds).
    pub auth_time: u64,
    /// How (RFC 8176 values, space-separated).
    pub amr: String,
    /// The address and whether activation proved it, for the ID token of
    /// the `email` scope (read now, so redeeming needs no PostgreSQL).
    pub email: Option<(String, bool)>,
    /// RFC 9449 §10's `dpop_jkt`: only a proof by this key redeems it.
    pub dpop_jkt: Option<String>,
}

/// What the client redeeming a code presents.
#[derive(Debug)]
pub struct Redemption<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// The S256 challenge of the `code_verifier` it sent.
    pub challenge: &'a str,
    pub confidential: bool,
    /// The new session's lifetime when the code's scope lacks
    /// `offline_access` and no refresh token is handed out (its access
    /// token's); `None` (a first-party client, which always gets one): the
    /// refresh lifetime.
    pub online_lifetime: Option<Duration>,
    /// The DPoP key the new session's refresh token is bound to.
    pub jkt: Option<&'a str>,
    /// The DPoP key the redeeming request proved it holds (a code issued
    /// for a key needs it).
    pub proof_jkt: Option<&'a str>,
}

/// A code redeemed: the session it opened and what the ID token needs.
#[derive(Debug)]
pub struct Redeemed {
    pub claims: SessionClaims,
    pub refresh: IssuedRefresh,
    pub nonce: Option<String>,
    pub auth_time: u64,
    pub amr: Vec<String>,
    pub email: Option<(String, bool)>,
}

#[derive(Debug)]
pub enum RedeemOutcome {
    Redeemed(Box<Redeemed>),
    /// Redeemed before: the session that redemption opened has ended.
    Replayed,
    /// Another client, redirect URI or verifier: the code is spent.
    Mismatch,
    /// Expired, never issued, or its sign-in has ended.
    Unknown,
}

pub(super) struct CodeScripts {
    pub(super) issue: Script,
    pub(super) redeem: Script,
}

impl CodeScripts {
    pub(super) fn new() -> Self {
        Self {
            issue: Script::new(include_str!("issue_code.lua")),
            redeem: FeedWriter::script(concat!(
                include_str!("open.lua"),
                include_str!("redeem_code.lua")
            )),
        }
    }
}

fn code_key(code: &AuthorizationCode) -> String {
    hex_key(
        &format!("tessera:code:{{{}}}:", code.user_id()),
        &code.hash(),
    )
}

impl SessionStore {
    /// A new code for `user_id`, living `ttl`.
    pub async fn issue_code(
        &self,
        user_id: Uuid,
        grant: &CodeGrant,
        ttl: Duration,
    ) -> Result<AuthorizationCode, SessionError> {
        let code = AuthorizationCode::generate(&self.settings.token_keys, user_id);
        let mut invocation = self.scripts.codes.issue.prepare_invoke();
        invocation
            .key(code_key(&code))
            .arg(ttl.as_millis() as u64)
            .arg("cid")
            .arg(&grant.client_id)
            .arg("redirect")
            .arg(&grant.redirect_uri)
            .arg("challenge")
            .arg(&grant.challenge)
            .arg("anchor")
            .arg(grant.anchor.to_string())
            .arg("scope")
            .arg(&grant.scope)
            .arg("auth")
            .arg(grant.auth_time)
            .arg("amr")
            .arg(&grant.amr);
        if let Some(nonce) = &grant.nonce {
            invocation.arg("nonce").arg(nonce);
        }
        if let Some(jkt) = &grant.dpop_jkt {
            invocation.arg("jkt").arg(jkt);
        }
        if let Some((email, verified)) = &grant.email {
            invocation
                .arg("email")
                .arg(email)
                .arg("ev")
                .arg(if *verified { "1" } else { "" });
        }
        let _: i64 = self.redis.script(&invocation).await?;
        Ok(code)
    }

    /// A code from its wire form, if its tag shows the service issued it.
    pub fn parse_code(&self, encoded: &str) -> Option<AuthorizationCode> {
        AuthorizationCode::parse(&self.settings.token_keys, encoded)
    }

    /// Redeems `code` for a new session of the app that presents it (see
    /// `redeem_code.lua`): one round trip.
    pub async fn redeem_code(
        &self,
        code: &AuthorizationCode,
        redemption: &Redemption<'_>,
        device: &ClientInfo,
    ) -> Result<RedeemOutcome, SessionError> {
        let user_id = code.user_id();
        let session_id = Uuid::new_v4();
        let token = RefreshToken::generate(&self.settings.token_keys, user_id, session_id);
        let now = now_ms();
        let ttl = self.lifetime(None);
        let online = redemption
            .online_lifetime
            .map(|short| self.lifetime(Some(short)));
        let app = SessionClient {
            confidential: redemption.confidential,
            ..SessionClient::default()
        };
        let mut invocation = self.scripts.codes.redeem.prepare_invoke();
        invocation
            .key(code_key(code))
            .key(session_key(user_id, session_id))
            .key(index_key(user_id))
            .arg(redemption.client_id)
            .arg(redemption.redirect_uri)
            .arg(redemption.challenge)
            .arg(session_prefix(user_id))
            .arg(session_id.to_string())
            .arg(&token.hash()[..])
            .arg(now)
            .arg(ttl.as_millis() as u64)
            .arg(now + self.settings.absolute_ttl.as_millis() as u64)
            // Role, subscription and name come from the sign-in's session.
            .arg("")
            .arg("")
            .arg("");
        self.opening_args(&mut invocation, user_id, device, &app, redemption.jkt);
        invocation.arg(
            online
                .map(|ttl| (ttl.as_millis() as u64).to_string())
                .unwrap_or_default(),
        );
        invocation.arg(redemption.proof_jkt.unwrap_or_default());
        let not_before = self.feed.attach(&mut invocation, Reason::ReuseDetected);
        let reply: Vec<String> = self.redis.script(&invocation).await?;
        match reply.as_slice() {
            [status, role, subscription, username, scope, nonce, auth_time, amr, email, verified, evicted @ ..]
                if status == "redeemed" =>
            {
                let app = SessionClient {
                    id: Some(redemption.client_id.to_owned()),
                    scope: (!scope.is_empty()).then(|| scope.clone()),
                    confidential: redemption.confidential,
                };
                let offline = app
                    .scope
                    .as_deref()
                    .is_some_and(|scope| scope.split(' ').any(|s| s == "offline_access"));
                let authn = Authn::from_fields(amr, auth_time);
                let claims = SessionClaims::parse(
                    user_id,
                    username.clone(),
                    role,
                    subscription,
                    app,
                    authn,
                )?;
                if !evicted.is_empty() {
                    let revoked = Revoked {
                        kind: Kind::Session,
                        ids: evicted,
                    };
                    self.feed
                        .after_script(Reason::Evicted, not_before, revoked)
                        .await;
                }
                Ok(RedeemOutcome::Redeemed(Box::new(Redeemed {
                    claims,
                    refresh: IssuedRefresh {
                        session_id,
                        token,
                        expires_in: if offline { ttl } else { online.unwrap_or(ttl) },
                    },
                    nonce: (!nonce.is_empty()).then(|| nonce.clone()),
                    auth_time: auth_time.parse().unwrap_or_default(),
                    amr: amr.split_whitespace().map(str::to_owned).collect(),
                    email: (!email.is_empty()).then(|| (email.clone(), verified == "1")),
                })))
            }
            [status, ended] if status == "replayed" => {
                if !ended.is_empty() {
                    let revoked = Revoked {
                        kind: Kind::Session,
                        ids: std::slice::from_ref(ended),
                    };
                    self.feed
                        .after_script(Reason::ReuseDetected, not_before, revoked)
                        .await;
                }
                Ok(RedeemOutcome::Replayed)
            }
            [status] if status == "mismatch" => Ok(RedeemOutcome::Mismatch),
            [status] if status == "unknown" => Ok(RedeemOutcome::Unknown),
            other => Err(SessionError::Protocol(format!("{other:?}"))),
        }
    }
}
