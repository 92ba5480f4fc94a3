//! Which gateway a scanner talks to: its addresses, tried round robin.
//!
//! The first connection tries the addresses in the configured order, each
//! for at most `connect_timeout_ms`. A reconnect (the link died or missed
//! an answer deadline) starts at the address after the one in use, gives
//! each address one handshake try and moves on ([`Gateways::try_next`]);
//! the scanner's reconnect task (`scanner/reconnect.rs`) runs the tries
//! and says when to stop.

use crate::link::Link;
use crate::{ClientError, ScannerConfig};
use quinn::Endpoint;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tracing::{debug, info};

/// What one reconnect handshake try came to.
pub(crate) enum Tried {
    /// A new link, handshake done and request stream open.
    Connected(Arc<Link>),
    /// The address answered and refused (TLS, version, closed port).
    Refused(ClientError),
    /// No handshake within the try's time.
    TimedOut,
}

/// A scanner's gateway addresses and the one in use.
pub(crate) struct Gateways {
    /// `server_addr`, then `other_addrs`; never empty.
    addrs: Vec<SocketAddr>,
    /// Index of the address in use (or last tried).
    current: AtomicUsize,
}

impl Gateways {
    pub(crate) fn new(config: &ScannerConfig) -> Gateways {
        Gateways {
            addrs: config.gateway_addrs().collect(),
            current: AtomicUsize::new(0),
        }
    }

    /// The address in use.
    pub(crate) fn current(&self) -> SocketAddr {
        self.addrs[self.current.load(Ordering::Relaxed) % self.addrs.len()]
    }

    /// Moves to the next address, round robin, and returns it.
    fn advance(&self) -> SocketAddr {
        let n = self.addrs.len();
        let next = (self.current.load(Ordering::Relaxed) + 1) % n;
        self.current.store(next, Ordering::Relaxed);
        self.addrs[next]
    }

    /// The error once every address failed: a single address's own error,
    /// or [`ClientError::AllGatewaysFailed`] naming how many were tried.
    pub(crate) fn all_failed(&self, last: ClientError) -> ClientError {
        match self.addrs.len() {
            1 => last,
            tried => ClientError::AllGatewaysFailed {
                tried,
                last: Box::new(last),
            },
        }
    }

    /// The first connection: each address in order, each for at most
    /// `connect_timeout_ms`.
    pub(crate) async fn first_link(
        &self,
        endpoint: &Endpoint,
        config: &ScannerConfig,
    ) -> Result<Arc<Link>, ClientError> {
        let timeout = Duration::from_millis(config.connect_timeout_ms);
        let mut last = None;
        for (i, &addr) in self.addrs.iter().enumerate() {
            let open = Link::open(endpoint, addr, &config.server_name, config.max_in_flight);
            let error = match tokio::time::timeout(timeout, open).await {
                Ok(Ok(link)) => {
                    self.current.store(i, Ordering::Relaxed);
                    info!(%addr, server_name = %config.server_name, "scanner connected");
                    return Ok(link);
                }
                Ok(Err(e)) => e,
                Err(_) => ClientError::Connect {
                    addr,
                    reason: format!("no handshake within {timeout:?}"),
                },
            };
            debug!(%addr, %error, "gateway not reached");
            last = Some(error);
        }
        Err(self.all_failed(last.unwrap_or(ClientError::ConnectionLost)))
    }

    /// How many addresses there are (at least one).
    pub(crate) fn len(&self) -> usize {
        self.addrs.len()
    }

    /// One reconnect handshake try at the next address, round robin, of at
    /// most `per_try`. The scanner's reconnect task calls it, one try at a
    /// time, pausing between failed ones.
    pub(crate) async fn try_next(
        &self,
        endpoint: &Endpoint,
        config: &ScannerConfig,
        per_try: Duration,
    ) -> Tried {
        let addr = self.advance();
        debug!(%addr, ?per_try, "handshake try");
        let open = Link::open(endpoint, addr, &config.server_name, config.max_in_flight);
        match tokio::time::timeout(per_try, open).await {
            Ok(Ok(link)) => {
                info!(%addr, "scanner reconnected");
                Tried::Connected(link)
            }
            Ok(Err(e)) => {
                debug!(%addr, error = %e, "gateway refused");
                Tried::Refused(e)
            }
            Err(_) => {
                debug!(%addr, ?per_try, "no handshake within the try");
                Tried::TimedOut
            }
        }
    }
}
