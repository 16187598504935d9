//! tessera: an authentication token service.
//!
//! Request flow: `http` (routers, extractors, error mapping) → `auth`
//! (register, login, refresh, logout, verify), `account`, `admin`, `oauth`
//! → `users` (PostgreSQL), `sessions` (Redis scripts) and `tokens` (JWT and
//! keys). `startup` wires them; `client::ClientInfo` is what the edge hands
//! the domain about the caller.

#![forbid(unsafe_code)]

pub mod account;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod authorize;
pub mod captcha;
pub mod client;
pub mod clients;
pub mod clock;
pub mod config;
pub mod console;
pub mod dpop;
pub mod http;
pub mod load;
pub mod mail;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod one_time_tokens;
pub mod rate_limit;
pub mod redis_client;
pub mod revocations;
pub mod sessions;
pub mod startup;
pub mod telemetry;
pub mod tokens;
pub mod users;
pub mod validation;
