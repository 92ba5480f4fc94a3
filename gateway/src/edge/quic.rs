//! The QUIC listener: admission at the edge, one task per connection and per
//! stream, frames in, replies out (possibly out of order, matched by request id).
//! A stream's task decides its scans itself ([`in_flight`]: no task per scan);
//! the offline requests (snapshot fetch, upload) are admitted in [`offline`]
//! and answered by tasks of their own.

mod in_flight;
mod offline;
mod writer;

use in_flight::InFlight;
use writer::{encode_reply, write_replies};

use crate::config::{
    INCOMING_BUFFER_BYTES, INCOMING_BUFFER_TOTAL_BYTES, INCOMING_QUEUE, QuicLimits,
    READ_CHUNK_BYTES,
};
use crate::edge::codes;
use crate::edge::gate_label::LastGate;
use crate::edge::listener::{Connected, Listener};
use crate::edge::ratelimit::Bucket;
use crate::edge::scan_service::{Precheck, counted_error, error};
use bytes::{Buf, Bytes, BytesMut};
use metrics::{counter, gauge};
use quinn::{Connection, Endpoint, RecvStream, SendStream, VarInt};
use scangate_core::Reason;
use scangate_core::frame::{self, FrameError, LENGTH_BYTES};
use scangate_core::wire::{ErrorCode, Request, RequestBody, Response, ResponseBody};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Messages queued per stream before the reader (or an offline request's
/// task) waits for the writer: an offline request's reply, or up to
/// [`ANSWERED_BATCH_BYTES`] (and one reply) of those the stream's task
/// answered, encoded. Bounds memory per stream; the QUIC flow-control window
/// then holds back the scanner.
const REPLY_QUEUE: usize = 256;
/// Replies the stream's task answers (edge denials, pongs, framing errors,
/// and its scans as they are decided) are encoded into one buffer and queued
/// once per read or per wake, or once this many bytes have gathered: a flood
/// of forged tokens, or a batch of grants made durable by one commit, costs
/// the writer one message and one wake-up, not one per scan.
const ANSWERED_BATCH_BYTES: usize = 2 * 1024;
/// What the stream's writer is handed.
enum Reply {
    /// An offline request's reply, encoded by the writer into its own buffer.
    One(Response),
    /// Replies the stream's task answered, already encoded.
    Answered(Bytes),
}

/// While shutting down, a stream is read until it has been quiet this long, so
/// that every request already sent gets an answer (`shutting_down`).
const SHUTDOWN_READ_GRACE: Duration = Duration::from_millis(100);

/// How long a Retry token proves its holder's address. A client answers a
/// Retry within one round trip; 10 s covers a slow venue network many times
/// over while a captured token soon stops being useful.
const RETRY_TOKEN_LIFETIME: Duration = Duration::from_secs(10);

/// The quinn server configuration: mutual TLS from the PKI, limits explicit.
pub fn server_config(
    tls: rustls::ServerConfig,
    limits: &QuicLimits,
) -> anyhow::Result<quinn::ServerConfig> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(limits.max_streams_per_connection))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .stream_receive_window(VarInt::from_u32(limits.stream_window_bytes))
        .receive_window(VarInt::from_u32(limits.connection_window_bytes))
        .max_idle_timeout(Some(
            Duration::from_millis(limits.idle_timeout_ms).try_into()?,
        ))
        .keep_alive_interval(None)
        .datagram_receive_buffer_size(None);
    config.transport_config(Arc::new(transport));
    config
        .max_incoming(INCOMING_QUEUE)
        .incoming_buffer_size(INCOMING_BUFFER_BYTES)
        .incoming_buffer_size_total(INCOMING_BUFFER_TOTAL_BYTES)
        .retry_token_lifetime(RETRY_TOKEN_LIFETIME)
        .migration(true);
    Ok(config)
}

/// Binds the QUIC socket on `addr` with a receive buffer of `wanted` bytes
/// and returns it with the size the kernel granted: at most
/// `net.core.rmem_max`, and Linux reports twice the value set (half is its
/// bookkeeping), so compare the two only as "granted less than asked".
fn bind_udp(addr: SocketAddr, wanted: usize) -> std::io::Result<(std::net::UdpSocket, usize)> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_recv_buffer_size(wanted)?;
    socket.bind(&addr.into())?;
    let granted = socket.recv_buffer_size()?;
    Ok((socket.into(), granted))
}

/// The QUIC endpoint on `addr`, its socket's receive buffer as large as
/// `limits` asks and the kernel allows. A smaller grant is logged (and
/// exported as a gauge) because it drops datagrams in bursts.
/// `reset_key` (the data dir's) keys it: see [`crate::edge::quic_reset`].
pub fn endpoint(
    addr: SocketAddr,
    config: quinn::ServerConfig,
    limits: &QuicLimits,
    reset_key: &[u8],
) -> std::io::Result<Endpoint> {
    let wanted = limits.udp_receive_buffer_bytes;
    let (socket, granted) = bind_udp(addr, wanted)?;
    gauge!("scangate_quic_receive_buffer_bytes").set(granted as f64);
    if granted < wanted {
        tracing::warn!(
            granted,
            wanted,
            "the kernel granted the QUIC socket a smaller receive buffer than asked: \
             scans that arrive while the gateway is busy for a few milliseconds may be \
             dropped and retransmitted; raise net.core.rmem_max (docs/operations.md)"
        );
    }
    Endpoint::new(
        crate::edge::quic_reset::endpoint_config(reset_key),
        Some(config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
}

impl Listener {
    /// Accepts the streams of a connected device until it ends, shutdown,
    /// or the device is revoked. `_permit` is its connection slot.
    pub(crate) async fn serve(
        self: &Arc<Self>,
        connected: Connected,
        _permit: OwnedSemaphorePermit,
    ) {
        let Connected {
            conn,
            device,
            mut revocations,
            generation,
        } = connected;
        tracing::debug!(%device, remote = %conn.remote_address(), "scanner connected");
        let bucket = self.limiter.bucket(&device);
        let in_flight = Arc::new(Semaphore::new(self.limits.max_in_flight_per_connection));
        let device: Arc<str> = device.into();
        let standing = Arc::new(Standing {
            conn: conn.clone(),
            seen: AtomicU64::new(generation),
            revoked: AtomicBool::new(false),
        });
        loop {
            let (send, recv) = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                changed = revocations.changed() => {
                    if changed.is_ok() && self.revoked.is_revoked(&device) {
                        counter!("scangate_connections_refused_total", "cause" => "revoked").increment(1);
                        tracing::info!(%device, "closing a revoked scanner device's connection");
                        conn.close(codes::DEVICE_REVOKED, b"device revoked");
                        break;
                    }
                    continue;
                }
                stream = conn.accept_bi() => match stream {
                    Ok(s) => s,
                    Err(_) => break,
                },
            };
            let stream = Stream {
                last_gate: LastGate::new(self.service.live().gates()),
                answered: BytesMut::new(),
                in_flight_scans: InFlight::default(),
                listener: self.clone(),
                device: device.clone(),
                bucket: bucket.clone(),
                in_flight: in_flight.clone(),
                standing: standing.clone(),
            };
            self.tracker.spawn(stream.run(send, recv));
        }
    }
}

struct Stream {
    listener: Arc<Listener>,
    last_gate: LastGate,
    /// Encoded replies the stream's task answered, not yet queued.
    answered: BytesMut,
    /// The stream's scans being decided.
    in_flight_scans: InFlight,
    device: Arc<str>,
    bucket: Arc<Bucket>,
    in_flight: Arc<Semaphore>,
    standing: Arc<Standing>,
}

/// Whether a connection's device is still allowed, checked on every scan:
/// a revoke answered by the admin API bumps the revocation generation before
/// it answers, so no scan read after that is decided for the revoked device,
/// even before the connection task has closed the connection.
struct Standing {
    conn: Connection,
    seen: AtomicU64,
    revoked: AtomicBool,
}

impl Standing {
    /// True (and the connection closed) once the device is revoked.
    fn revoked(&self, device: &str, revocations: &crate::operator::devices::Revocations) -> bool {
        let generation = revocations.generation();
        if self.seen.swap(generation, Ordering::AcqRel) != generation
            && revocations.is_revoked(device)
            && !self.revoked.swap(true, Ordering::AcqRel)
        {
            counter!("scangate_connections_refused_total", "cause" => "revoked").increment(1);
            tracing::info!(%device, "closing a revoked scanner device's connection");
            self.conn.close(codes::DEVICE_REVOKED, b"device revoked");
        }
        self.revoked.load(Ordering::Acquire)
    }
}

/// What a stream's task woke up for.
enum Event {
    /// Bytes from the scanner; `None` (or an error) once it sends no more.
    Read(Option<Bytes>),
    /// Draining, and the scanner has been quiet for [`SHUTDOWN_READ_GRACE`].
    Quiet,
    /// The gateway began to shut down.
    ShuttingDown,
    /// A scan was decided: its reply.
    Decided(Response),
}

impl Stream {
    async fn run(mut self, send: SendStream, mut recv: RecvStream) {
        let (tx, rx) = mpsc::channel::<Reply>(REPLY_QUEUE);
        self.listener.tracker.spawn(write_replies(send, rx));
        if recv.is_0rtt() {
            counter!("scangate_early_data_refused_total").increment(1);
            let _ = recv.stop(codes::EARLY_DATA);
            return;
        }
        let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
        loop {
            if !self.drain_frames(&mut buf, &tx).await {
                let _ = recv.stop(codes::BAD_FRAMING);
                break;
            }
            match self.next_event(&mut recv).await {
                Event::Read(Some(bytes)) => buf.extend_from_slice(&bytes),
                Event::Read(None) => break,
                Event::Quiet => {
                    let _ = recv.stop(codes::SHUTTING_DOWN);
                    break;
                }
                Event::ShuttingDown => {}
                Event::Decided(reply) => self.decided(reply),
            }
        }
        // Every scan taken is answered (and counted) before the stream
        // ends, each within its own deadline.
        while !self.in_flight_scans.is_empty() {
            let reply = self.in_flight_scans.next().await;
            self.decided(reply);
            self.flush(&tx).await;
        }
    }

    /// Waits for the stream's next event: a decided scan first (its reply
    /// should not wait behind a read), then a read or the start of shutdown.
    /// While draining, a read waits at most [`SHUTDOWN_READ_GRACE`]: the
    /// requests the scanner already sent are answered (`shutting_down`),
    /// and the stream stops once it goes quiet.
    async fn next_event(&mut self, recv: &mut RecvStream) -> Event {
        let draining = self.listener.shutdown.is_cancelled();
        let read = async {
            let read = recv.read_chunk(READ_CHUNK_BYTES, true);
            let chunk = if draining {
                match tokio::time::timeout(SHUTDOWN_READ_GRACE, read).await {
                    Ok(chunk) => chunk,
                    Err(_) => return Event::Quiet,
                }
            } else {
                read.await
            };
            Event::Read(chunk.ok().flatten().map(|chunk| chunk.bytes))
        };
        tokio::select! {
            biased;
            reply = self.in_flight_scans.next() => Event::Decided(reply),
            _ = self.listener.shutdown.cancelled(), if !draining => Event::ShuttingDown,
            event = read => event,
        }
    }

    /// Encodes a decided scan's reply, and with it every other already
    /// decided: queued together by the next flush.
    fn decided(&mut self, reply: Response) {
        encode_reply(&reply, &mut self.answered);
        while self.answered.len() < ANSWERED_BATCH_BYTES
            && let Some(reply) = self.in_flight_scans.ready()
        {
            encode_reply(&reply, &mut self.answered);
        }
    }

    /// Handles every whole frame in `buf`, then queues the replies it
    /// answered itself. Returns false when the stream's framing can no
    /// longer be trusted.
    async fn drain_frames(&mut self, buf: &mut BytesMut, tx: &mpsc::Sender<Reply>) -> bool {
        loop {
            let reply = match frame::split_frame(buf) {
                Ok((version, payload)) => match self.request(version, &payload, tx) {
                    Some(reply) => reply,
                    None => continue,
                },
                Err(FrameError::Incomplete) => {
                    self.flush(tx).await;
                    return true;
                }
                Err(FrameError::Empty) => {
                    buf.advance(LENGTH_BYTES);
                    counter!("scangate_bad_frames_total", "cause" => "malformed").increment(1);
                    let body = error(ErrorCode::MalformedFrame, "empty frame: no version byte");
                    Response { id: 0, body }
                }
                Err(e @ FrameError::TooLarge { .. }) => {
                    counter!("scangate_bad_frames_total", "cause" => "too_large").increment(1);
                    let body = error(
                        ErrorCode::FrameTooLarge,
                        format!("{e}; this stream is closed"),
                    );
                    encode_reply(&Response { id: 0, body }, &mut self.answered);
                    self.flush(tx).await;
                    return false;
                }
            };
            encode_reply(&reply, &mut self.answered);
            if self.answered.len() >= ANSWERED_BATCH_BYTES {
                self.flush(tx).await;
            }
        }
    }

    /// Queues the replies answered so far for the writer, in one message;
    /// the decided scans among them give their in-flight permits back.
    async fn flush(&mut self, tx: &mpsc::Sender<Reply>) {
        if !self.answered.is_empty() {
            let _ = tx
                .send(Reply::Answered(self.answered.split().freeze()))
                .await;
        }
        self.in_flight_scans.queued();
    }

    /// Handles one request: the reply, when the reader answers it at once;
    /// `None` when it is answered later (a scan, once decided; an offline
    /// request, by a task of its own), or when nothing may be answered.
    fn request(
        &mut self,
        version: u8,
        payload: &[u8],
        tx: &mpsc::Sender<Reply>,
    ) -> Option<Response> {
        let request: Request = match frame::decode(version, payload) {
            Ok(r) => r,
            Err(e) => {
                counter!("scangate_bad_frames_total", "cause" => e.cause()).increment(1);
                return Some(Response::undecodable(&e));
            }
        };
        let id = request.id;
        let req = match request.body {
            RequestBody::Ping => {
                return Some(Response {
                    id,
                    body: ResponseBody::Pong,
                });
            }
            RequestBody::Scan(req) => req,
            RequestBody::Snapshot(fetch) => return self.snapshot(id, fetch, tx),
            RequestBody::OfflineUpload(upload) => return self.upload(id, upload, tx),
        };
        if self.standing.revoked(&self.device, &self.listener.revoked) {
            // The connection is closed: nothing of this device is decided.
            return None;
        }
        if self.listener.shutdown.is_cancelled() {
            let body = counted_error(
                ErrorCode::ShuttingDown,
                "the gateway is shutting down; retry elsewhere with the same scan id",
            );
            return Some(Response { id, body });
        }
        let service = &self.listener.service;
        let (claims, gate) =
            match service.precheck(&req, &mut self.last_gate, &self.device, &self.bucket) {
                Precheck::Answer(body) => return Some(Response { id, body }),
                Precheck::Decide(claims, gate) => (claims, gate),
            };
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            counter!("scangate_busy_total", "cause" => "connection").increment(1);
            let body = service.denied(&req, &gate, Reason::Busy);
            return Some(Response { id, body });
        };
        let (service, device) = (service.clone(), self.device.clone());
        self.in_flight_scans.push(id, permit, async move {
            service.decide(&device, &gate, claims, req).await
        });
        None
    }
}

impl Stream {
    /// Answers request `id` from a task of its own that holds the
    /// connection's in-flight `permit` until its reply is queued.
    fn answer_later(
        &self,
        id: u64,
        tx: &mpsc::Sender<Reply>,
        permit: OwnedSemaphorePermit,
        answer: impl Future<Output = ResponseBody> + Send + 'static,
    ) {
        let tx = tx.clone();
        self.listener.tracker.spawn(async move {
            let body = answer.await;
            let _ = tx.send(Reply::One(Response { id, body })).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_gets_the_receive_buffer_asked_for() {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        // The kernel's default is 208 KiB (`net.core.rmem_default`); a tiny
        // ask shows the size was set, whatever `rmem_max` this machine has.
        let (socket, granted) = bind_udp(loopback, 4096).expect("bind");
        assert!(
            (4096..=64 * 1024).contains(&granted),
            "asked for 4 KiB, the kernel reports {granted}"
        );
        let bound = socket.local_addr().expect("local addr");
        assert!(bound.ip().is_loopback() && bound.port() != 0, "{bound}");
    }
}
