//! Who is calling, where the HTTP edge hands over to the domain: the
//! `Client` extractor builds a [`ClientInfo`] per request, and the domain
//! limits, audits and records sessions by it.

use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's address (through trusted proxies); `None` when there is
    /// no peer (the command line).
    pub ip: Option<IpAddr>,
    pub user_agent: String,
}

impl ClientInfo {
    /// The address as sessions and audit events store it: empty when unknown.
    pub fn ip_text(&self) -> String {
        self.ip.map(|ip| ip.to_string()).unwrap_or_default()
    }
}
