//! How a client on the gateway's host finds it: the files a running gateway
//! leaves in its data directory for the `scangate` commands and
//! `scangate-load` (the gateway writes them; clients only read).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Where the running gateway listens ([`Endpoints`] as JSON), written once
/// it is ready and removed on a clean stop.
pub const ENDPOINTS_FILE: &str = "gateway.json";
/// The `bootstrap` admin's bearer token (mode 0600), one line.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Where a running gateway can be reached; written once it is ready.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoints {
    /// The QUIC address scanners connect to.
    pub quic: SocketAddr,
    /// The operator HTTP address.
    pub http: SocketAddr,
    /// The gateway's process id.
    pub pid: u32,
    /// Whether the HTTP plane serves TLS (`--http-tls`; plain HTTP is then
    /// still served to loopback clients). Absent in older files: false.
    #[serde(default)]
    pub http_tls: bool,
    /// The public listener phones reach (`--public-listen`: holder pages,
    /// the guard page and its scan transport; always https, plain HTTP to
    /// loopback only), if it runs. Absent in older files and without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<SocketAddr>,
}
