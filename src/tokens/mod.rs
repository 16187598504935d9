//! Every token format in one place: access tokens (EdDSA-signed JWTs with
//! `kid`, RFC 9068, and the key set behind them), OpenID Connect ID tokens
//! (EdDSA or RS256), and the opaque tokens
//! tessera hands out (refresh, one-time and authorization codes), which share one tagged wire
//! format. The stores that keep them live with their stores (`sessions`,
//! `one_time_tokens`).

mod access;
pub mod code;
mod id_token;
mod keys;
pub mod one_time;
pub mod opaque;
pub mod refresh;

pub use access::{
    AccessClaims, Act, Bearer, ClientClaims, ClientGrant, Confirmation, IssuedAccess, TokenError,
    TokenIssuer, ACCESS_TOKEN_TYPE, FIRST_PARTY_CLIENT_ID,
};
pub use id_token::{at_hash, IdTokenAlg, IdTokenClaims, ID_TOKEN_JWT_TYPE};
pub use keys::{Generated, Jwks, JwsAlg, KeyError, KeySet, Retirement, ACCESS_TOKEN_JWT_TYPE};
