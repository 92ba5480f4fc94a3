//! The QUIC listener's shared state: what every connection task holds
//! ([`Listener`]), and a device that finished its handshake (`Connected`).
//! [`crate::edge::admission`] accepts connections into it and
//! [`crate::edge::quic`] serves their streams; both import this, neither the
//! other.

use crate::config::QuicLimits;
use crate::edge::ratelimit::Limiter;
use crate::edge::scan_service::ScanService;
use crate::edge::snapshots::Snapshots;
use crate::edge::uploads::Uploads;
use crate::operator::devices::Revocations;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared by every connection task.
pub struct Listener {
    /// The scan path.
    pub service: Arc<ScanService>,
    /// The offline snapshots scanners fetch.
    pub snapshots: Arc<Snapshots>,
    /// The offline scans scanners upload.
    pub uploads: Arc<Uploads>,
    /// Per-device rate limits.
    pub limiter: Limiter,
    /// Limits.
    pub limits: QuicLimits,
    /// Cancelled when the gateway begins to shut down.
    pub shutdown: CancellationToken,
    /// Every task that may still owe a reply.
    pub tracker: TaskTracker,
    /// Revoked scanner devices: refused after the handshake, and closed
    /// when revoked while connected.
    pub revoked: Arc<Revocations>,
}

/// A finished handshake with a named device that was not revoked.
pub(crate) struct Connected {
    pub(crate) conn: quinn::Connection,
    pub(crate) device: String,
    /// Subscribed before the revocation check, with the generation it saw.
    pub(crate) revocations: tokio::sync::watch::Receiver<u64>,
    pub(crate) generation: u64,
}
