//! What the admin API and the command line show of a client: never a
//! secret, except the one a registration makes, shown that once.

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AuthMethod, Client, ClientJwks, ClientKind, GrantType, IdTokenSigning, Registered};

/// A registered client as the admin API and the command line show it: never a secret.
#[derive(Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub kind: ClientKind,
    pub auth_method: AuthMethod,
    /// The `private_key_jwt` client's public keys (RFC 7517).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub first_party: bool,
    pub dpop_bound: bool,
    /// `null`: `jwt.access_ttl_secs`.
    pub access_ttl_secs: Option<u32>,
    /// How its ID tokens are signed: `EdDSA` (default) or `RS256`.
    pub id_token_signed_response_alg: IdTokenSigning,
    pub disabled: bool,
    /// Whether the client authenticates with a secret tessera holds.
    pub has_secret: bool,
    /// While a rotated secret still works: when it stops.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Client> for ClientView {
    fn from(client: Client) -> Self {
        let settings = client.settings;
        Self {
            client_id: client.client_id,
            name: settings.name,
            kind: settings.kind,
            auth_method: settings.auth_method,
            jwks: settings.jwks.as_ref().map(ClientJwks::to_json),
            grant_types: settings.grant_types.into_iter().collect(),
            scopes: settings.scopes.to_vec(),
            audiences: settings.audiences,
            redirect_uris: settings.redirect_uris,
            post_logout_redirect_uris: settings.post_logout_redirect_uris,
            first_party: settings.first_party,
            dpop_bound: settings.dpop_bound,
            access_ttl_secs: settings.access_ttl_secs,
            id_token_signed_response_alg: settings.id_token_signed_response_alg,
            disabled: client.disabled,
            has_secret: client.has_secret,
            previous_secret_expires_at: client.previous_secret_expires_at,
            created_at: client.created_at,
            updated_at: client.updated_at,
        }
    }
}

/// A client just registered: its view, and its secret shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientView,
    /// Shown this once; tessera keeps only its digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<Registered> for CreatedClient {
    fn from(registered: Registered) -> Self {
        Self {
            client: registered.client.into(),
            client_secret: registered
                .secret
                .map(|secret| secret.expose_secret().to_owned()),
        }
    }
}
