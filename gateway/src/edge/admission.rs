//! Admission of scanner connections at the QUIC edge: the accept loop, the
//! handshake under its deadline, and the device it proved. Who may start a
//! handshake is decided in microseconds without waiting ([`admit`], over
//! [`crate::edge::handshakes`]); a connection slot is taken only after a
//! handshake with a named, unrevoked device certificate, and then
//! [`Listener`]'s streams are served by [`crate::edge::quic`].

use crate::edge::codes;
use crate::edge::handshakes::{Handshakes, Slot};
use crate::edge::listener::{Connected, Listener};
use metrics::{counter, gauge};
use quinn::{Connection, Endpoint};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

impl Listener {
    /// Accepts connections until shutdown: see [`crate::edge::handshakes`] for who
    /// gets a handshake; a connection slot is taken only after it.
    pub async fn run(self: Arc<Self>, endpoint: Endpoint) {
        let connections = Arc::new(Semaphore::new(self.limits.max_connections));
        let handshakes = Handshakes::new(
            self.limits.max_handshakes,
            self.limits.max_handshakes_per_source,
        );
        loop {
            let incoming = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                incoming = endpoint.accept() => match incoming {
                    Some(incoming) => incoming,
                    None => break,
                },
            };
            let Some((incoming, slot)) = admit(incoming, &handshakes, &connections) else {
                continue;
            };
            let this = self.clone();
            let connections = connections.clone();
            self.tracker.spawn(async move {
                if let Err(e) = this.connection(incoming, slot, connections).await {
                    tracing::debug!(error = %e, "connection ended");
                }
            });
        }
    }

    /// A handshake under its deadline, then (holding a connection slot) the
    /// connection's streams until it ends.
    async fn connection(
        self: Arc<Self>,
        incoming: quinn::Incoming,
        slot: Slot,
        connections: Arc<Semaphore>,
    ) -> anyhow::Result<()> {
        let Some(connected) = self.handshake(incoming).await? else {
            return Ok(());
        };
        drop(slot);
        let Ok(permit) = connections.try_acquire_owned() else {
            counter!("scangate_connections_refused_total", "cause" => "limit").increment(1);
            let conn = &connected.conn;
            conn.close(codes::TOO_MANY_CONNECTIONS, b"too many connections");
            return Ok(());
        };
        gauge!("scangate_connections_open").increment(1.0);
        let _scanner = self.service.live().scanner_connected();
        self.serve(connected, permit).await;
        gauge!("scangate_connections_open").decrement(1.0);
        Ok(())
    }

    /// The TLS handshake under `handshake_timeout_ms`, and the device it
    /// proved; `None` (the connection closed) for a certificate without a
    /// device name or a revoked device.
    async fn handshake(&self, incoming: quinn::Incoming) -> anyhow::Result<Option<Connected>> {
        let refused = |cause: &'static str| {
            counter!("scangate_connections_refused_total", "cause" => cause).increment(1);
        };
        let connecting = incoming.accept()?;
        let handshake = Duration::from_millis(self.limits.handshake_timeout_ms);
        let conn = match tokio::time::timeout(handshake, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                refused("handshake");
                return Err(e.into());
            }
            Err(_) => {
                refused("handshake_timeout");
                anyhow::bail!("handshake took longer than {handshake:?}");
            }
        };
        let Some(device) = device_of(&conn) else {
            // The certificate verifier refuses these; this is the backstop.
            refused("unnamed_device");
            tracing::info!(remote = %conn.remote_address(), "refused a certificate without a device name");
            conn.close(codes::UNNAMED_DEVICE, b"certificate without a device name");
            return Ok(None);
        };
        // Subscribed before the check, so a revoke after it is seen.
        let revocations = self.revoked.subscribe();
        let generation = self.revoked.generation();
        if self.revoked.is_revoked(&device) {
            refused("revoked");
            tracing::info!(%device, "refused a revoked scanner device");
            conn.close(codes::DEVICE_REVOKED, b"device revoked");
            return Ok(None);
        }
        Ok(Some(Connected {
            conn,
            device,
            revocations,
            generation,
        }))
    }
}

/// What the accept loop does with a connection attempt, in microseconds and
/// without waiting: an unvalidated address gets a stateless Retry; a
/// validated one a handshake slot, unless every connection slot is taken
/// (refused) or its source or the gateway has too many handshakes in
/// progress (dropped: the client resends).
fn admit(
    incoming: quinn::Incoming,
    handshakes: &Arc<Handshakes>,
    connections: &Semaphore,
) -> Option<(quinn::Incoming, Slot)> {
    let refuse = |incoming: quinn::Incoming, cause: &'static str| {
        counter!("scangate_connections_refused_total", "cause" => cause).increment(1);
        incoming.refuse();
    };
    if !incoming.remote_address_validated() {
        counter!("scangate_quic_retries_total").increment(1);
        if let Err(e) = incoming.retry() {
            refuse(e.into_incoming(), "retry");
        }
        return None;
    }
    if connections.available_permits() == 0 {
        refuse(incoming, "limit");
        return None;
    }
    match handshakes.admit(incoming.remote_address().ip()) {
        Ok(slot) => Some((incoming, slot)),
        Err(why) => {
            // Dropped without an answer, not refused: the client resends its
            // Initial after its probe timeout (~1 s) and tries again, so a
            // burst from one NAT address trickles in instead of failing.
            tracing::debug!(remote = %incoming.remote_address(), %why, "dropped a handshake attempt");
            counter!("scangate_connections_refused_total", "cause" => why.cause()).increment(1);
            incoming.ignore();
            None
        }
    }
}

/// The device name from the scanner's certificate.
fn device_of(conn: &Connection) -> Option<String> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    scangate_certs::device_name(certs.first()?.as_ref())
}
