//! The one error type of the load tool's library. A checker violation is not
//! an error: it is part of the report.

use thiserror::Error;

/// Why a run could not be done (or finished).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    /// An argument or a combination of arguments is unusable (one sentence).
    #[error("{0}")]
    Invalid(String),
    /// The in-process gateway (`--spawn`) could not start or stop.
    #[error("cannot run the in-process gateway: {0}")]
    Spawn(String),
    /// The gateway of `--data-dir` cannot be found or used.
    #[error("{0}")]
    Target(String),
    /// A scanner device could not be enrolled or connected.
    #[error("cannot set up scanner device {device}: {reason}")]
    Device {
        /// The device name.
        device: String,
        /// Why.
        reason: String,
    },
    /// The admin API failed.
    #[error("admin API: {0}")]
    Admin(String),
    /// The spawned gateway's port is held by another process (a stranger
    /// that bound it by number while the gateway was down).
    #[error(
        "the spawned gateway's port {addr} is taken by another process ({reason}); run the load where nothing else binds that port"
    )]
    PortTaken {
        /// The gateway's address (QUIC on UDP, HTTP on TCP).
        addr: std::net::SocketAddr,
        /// Which protocol's bind failed, and how.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{0}")]
    File(String),
}
