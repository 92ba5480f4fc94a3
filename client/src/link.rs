//! One QUIC connection with one long-lived bidirectional stream, pipelined.
//!
//! A writer task drains a bounded queue of encoded frames onto the stream
//! (coalescing what is queued into one write); a reader task splits replies
//! off the stream and hands each to the request waiting for its id. Replies
//! may come back in any order. When either task stops, the link is dead:
//! every waiting request is woken with [`ClientError::ConnectionLost`] and
//! the scanner opens a new link for the next attempt.

use crate::ClientError;
use bytes::{Bytes, BytesMut};
use quinn::{Connection, Endpoint, RecvStream, SendStream, VarInt};
use scangate_core::frame::{EncodeError, FrameError, decode, encode, split_frame};
use scangate_core::wire::{Request, RequestBody, Response, ResponseBody};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// Application close code: the scanner is done with the connection.
pub const CLOSE_CODE_DONE: u32 = 0;
/// Application close code: the gateway broke the framing of the stream.
pub const CLOSE_CODE_PROTOCOL_ERROR: u32 = 1;

/// Most frames coalesced into one stream write: enough to amortize the
/// per-write cost under a burst, small enough to keep latency even.
const WRITE_BATCH_MAX_FRAMES: usize = 64;
/// Largest chunk taken from the stream per read, in bytes.
const READ_CHUNK_MAX_BYTES: usize = 64 * 1024;
/// Bytes reserved for one request's frame: a scan request with every field
/// at its limit fits (checked by a test), so encoding it allocates once.
const REQUEST_FRAME_CAPACITY: usize = 384;

/// A request waiting for its reply.
type Waiter = oneshot::Sender<Response>;

/// State shared by the link and its two tasks.
struct Shared {
    /// Waiting requests by request id; `None` once the link is dead, so no
    /// request can be registered after the drain and then wait forever.
    pending: Mutex<Option<HashMap<u64, Waiter>>>,
    /// Bound on `pending` (the scanner's in-flight limit).
    pending_max: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Option<HashMap<u64, Waiter>>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (single insert/remove calls), so a poisoned lock is still usable.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, id: u64, waiter: Waiter) -> Result<(), ClientError> {
        let mut guard = self.lock();
        let map = guard.as_mut().ok_or(ClientError::ConnectionLost)?;
        if map.len() >= self.pending_max {
            // The scanner's semaphore makes this unreachable; refuse rather than grow.
            debug_assert!(false, "pending map exceeded its bound");
            return Err(ClientError::Saturated {
                max_in_flight: self.pending_max,
                waited: std::time::Duration::ZERO,
            });
        }
        map.insert(id, waiter);
        Ok(())
    }

    fn unregister(&self, id: u64) {
        if let Some(map) = self.lock().as_mut() {
            map.remove(&id);
        }
    }

    fn deliver(&self, response: Response) {
        let waiter = self
            .lock()
            .as_mut()
            .and_then(|map| map.remove(&response.id));
        match waiter {
            // The receiver may have given up (timeout) a moment ago: fine.
            Some(waiter) => drop(waiter.send(response)),
            None if response.id == 0 => {
                if let ResponseBody::Error(e) = &response.body {
                    warn!(code = e.code.as_str(), message = %e.message(),
                        "the gateway could not read one of our requests");
                }
            }
            None => debug!(id = response.id, "late or unknown reply dropped"),
        }
    }

    /// Marks the link dead and wakes every waiting request.
    fn kill(&self) {
        let drained = self.lock().take();
        drop(drained); // dropping the senders wakes the receivers
    }

    fn is_alive(&self) -> bool {
        self.lock().is_some()
    }
}

/// One connection to the gateway and its request stream.
pub(crate) struct Link {
    connection: Connection,
    frames: mpsc::Sender<Bytes>,
    shared: Arc<Shared>,
    /// Request ids; 0 is reserved by the protocol for "could not be read".
    next_id: AtomicU64,
    /// Set when the gateway said it is shutting down: no new requests here.
    retired: AtomicBool,
}

impl Link {
    /// Connects, opens the request stream and starts the writer and reader.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        addr: std::net::SocketAddr,
        server_name: &str,
        max_in_flight: usize,
    ) -> Result<Arc<Link>, ClientError> {
        let connect_err = |reason: String| ClientError::Connect { addr, reason };
        let connection = endpoint
            .connect(addr, server_name)
            .map_err(|e| connect_err(e.to_string()))?
            .await
            .map_err(|e| connect_err(e.to_string()))?;
        let (send, recv) = connection
            .open_bi()
            .await
            .map_err(|e| connect_err(e.to_string()))?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Some(HashMap::with_capacity(max_in_flight))),
            pending_max: max_in_flight,
        });
        // One frame per in-flight request at most, so senders never wait long.
        let (frames, queue) = mpsc::channel(max_in_flight);
        tokio::spawn(write_loop(send, queue, Arc::clone(&shared)));
        tokio::spawn(read_loop(recv, Arc::clone(&shared), connection.clone()));
        debug!(%addr, "connected to the gateway");
        Ok(Arc::new(Link {
            connection,
            frames,
            shared,
            next_id: AtomicU64::new(1),
            retired: AtomicBool::new(false),
        }))
    }

    /// True while new requests may be sent on this link.
    pub(crate) fn is_alive(&self) -> bool {
        !self.retired.load(Ordering::Acquire)
            && self.connection.close_reason().is_none()
            && self.shared.is_alive()
    }

    /// The connection's smoothed round-trip time.
    pub(crate) fn rtt(&self) -> std::time::Duration {
        self.connection.rtt()
    }

    /// Stops new requests from using this link; those in flight finish.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    /// Sends one request and waits for its reply (no deadline here: the
    /// caller wraps this in its attempt timeout; dropping the future
    /// unregisters the request).
    pub(crate) async fn call(&self, body: &RequestBody) -> Result<Response, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Room for a scan request in one allocation (the encoder would
        // otherwise grow the buffer several times on the way).
        let mut frame = BytesMut::with_capacity(REQUEST_FRAME_CAPACITY);
        encode(&Request { id, body }, &mut frame).map_err(|e| match e {
            EncodeError::TooLarge { len, max } => ClientError::RequestTooLarge { len, max },
            other => ClientError::Protocol(other.to_string()),
        })?;
        let (waiter, reply) = oneshot::channel();
        self.shared.register(id, waiter)?;
        let _unregister = Unregister {
            shared: &self.shared,
            id,
        };
        self.frames
            .send(frame.freeze())
            .await
            .map_err(|_| ClientError::ConnectionLost)?;
        reply.await.map_err(|_| ClientError::ConnectionLost)
    }

    /// Closes the connection with `code`.
    pub(crate) fn close(&self, code: u32, reason: &[u8]) {
        self.retire();
        self.connection.close(VarInt::from_u32(code), reason);
        self.shared.kill();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // The tasks hold the stream halves, which keep the connection open;
        // the last user of the link closes it explicitly.
        self.connection
            .close(VarInt::from_u32(CLOSE_CODE_DONE), b"scanner done");
    }
}

/// Removes a request from the pending map however its wait ends.
struct Unregister<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.shared.unregister(self.id);
    }
}

async fn write_loop(mut send: SendStream, mut queue: mpsc::Receiver<Bytes>, shared: Arc<Shared>) {
    let mut batch: Vec<Bytes> = Vec::with_capacity(WRITE_BATCH_MAX_FRAMES);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < WRITE_BATCH_MAX_FRAMES {
            match queue.try_recv() {
                Ok(frame) => batch.push(frame),
                Err(_) => break,
            }
        }
        if let Err(e) = send.write_all_chunks(&mut batch).await {
            debug!(error = %e, "request stream write failed");
            shared.kill();
            return;
        }
        batch.clear();
    }
    // The link was dropped: tell the gateway no more requests are coming.
    let _ = send.finish();
}

async fn read_loop(mut recv: RecvStream, shared: Arc<Shared>, connection: Connection) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK_MAX_BYTES);
    loop {
        match recv.read_chunk(READ_CHUNK_MAX_BYTES, true).await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
            Ok(None) => {
                debug!("the gateway finished the reply stream");
                break;
            }
            Err(e) => {
                debug!(error = %e, "reply stream ended");
                break;
            }
        }
        // Each pass consumes one frame; the buffer holds at most one partial
        // frame plus one chunk, so this ends.
        loop {
            match split_frame(&mut buf) {
                Ok((version, payload)) => match decode::<Response>(version, &payload) {
                    Ok(response) => shared.deliver(response),
                    Err(e) => warn!(error = %e, "undecodable reply from the gateway dropped"),
                },
                Err(FrameError::Incomplete) => break,
                Err(e) => {
                    warn!(error = %e, "the gateway broke the stream framing; closing");
                    connection.close(
                        VarInt::from_u32(CLOSE_CODE_PROTOCOL_ERROR),
                        b"bad reply framing",
                    );
                    shared.kill();
                    return;
                }
            }
        }
    }
    shared.kill();
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::ScanId;
    use scangate_core::pass::{EVENT_MAX_BYTES, GATE_MAX_BYTES};
    use scangate_core::scan::SCAN_ID_MAX_BYTES;
    use scangate_core::token::TOKEN_MAX_CHARS;
    use scangate_core::wire::ScanRequest;

    #[test]
    fn the_largest_scan_request_fits_the_reserved_frame() {
        let body = RequestBody::Scan(ScanRequest {
            token: "T".repeat(TOKEN_MAX_CHARS),
            gate: "g".repeat(GATE_MAX_BYTES),
            event: Some("e".repeat(EVENT_MAX_BYTES)),
            scan_id: ScanId::new("s".repeat(SCAN_ID_MAX_BYTES)).expect("scan id"),
            scanner_time_ms: i64::MAX,
            timeout_ms: Some(u32::MAX),
            direction: None,
            check_only: false,
        });
        let mut frame = BytesMut::new();
        encode(
            &Request {
                id: u64::MAX,
                body: &body,
            },
            &mut frame,
        )
        .expect("fits");
        assert!(
            frame.len() <= REQUEST_FRAME_CAPACITY,
            "{} bytes",
            frame.len()
        );
        // A borrowed body encodes to the very bytes of an owned one.
        let mut owned = BytesMut::new();
        encode(&Request { id: u64::MAX, body }, &mut owned).expect("fits");
        assert_eq!(frame, owned);
    }
}
