//! Which gateway a scanner talks to: its addresses, tried round robin.
//!
//! The first connection tries the addresses in the configured order, each
//! for at most `connect_timeout_ms`. A reconnect (the link died or missed
//! an answer deadline) starts at the address after the one in use, gives
//! each address one handshake try and moves on; it ends with an error once
//! every address in a row has refused, or at the caller's attempt deadline.

use crate::link::Link;
use crate::{ClientError, ScannerConfig};
use quinn::Endpoint;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tracing::{debug, info};

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
    fn all_failed(&self, last: ClientError) -> ClientError {
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

    /// A new connection after the last one died: from the next address on,
    /// one handshake try of `per_try` each. Unbounded by itself: the caller
    /// runs it under its attempt deadline.
    pub(crate) async fn reconnect(
        &self,
        endpoint: &Endpoint,
        config: &ScannerConfig,
        per_try: Duration,
    ) -> Result<Arc<Link>, ClientError> {
        let mut refused_in_a_row = 0;
        info!(gateways = self.addrs.len(), "reconnecting to the gateway");
        loop {
            let addr = self.advance();
            debug!(%addr, "handshake try");
            let open = Link::open(endpoint, addr, &config.server_name, config.max_in_flight);
            match tokio::time::timeout(per_try, open).await {
                Ok(Ok(link)) => return Ok(link),
                Ok(Err(e)) => {
                    refused_in_a_row += 1;
                    if refused_in_a_row >= self.addrs.len() {
                        return Err(self.all_failed(e));
                    }
                    debug!(%addr, error = %e, "gateway refused; trying the next");
                }
                Err(_) => {
                    refused_in_a_row = 0;
                    debug!(%addr, ?per_try, "no handshake yet; starting a fresh one");
                }
            }
        }
    }
}
