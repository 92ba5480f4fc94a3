//! The operator HTTP plane's accept loop: HTTP/1.1 by hyper, every
//! connection bounded ([`HttpLimits`]).
//!
//! - At most `max_connections` at once; one more is answered
//!   [`refusal`] (503) at once and closed.
//! - A request head must be complete within `header_read_timeout_ms` of the
//!   connection opening or of its previous answer (slowloris, idle
//!   keep-alive), and is at most [`READ_BUFFER_MAX_BYTES`] (431 beyond).
//! - A connection on which no byte moves for `idle_timeout_ms` is closed.
//! - The router is built once and shared: a connection costs its buffers
//!   and its task, not a copy of the routes.
//! - With TLS ([`super::tls`], `--http-tls`), the first byte and the whole
//!   handshake must arrive within `header_read_timeout_ms` too, and the
//!   idle timeout counts bytes on the TCP connection under TLS.

use super::idle::{Activity, Watched};
use super::tls;
use crate::config::HttpLimits;
use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics::{counter, gauge};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Layer;

/// Largest request head (request line and headers), bytes; hyper's read
/// buffer never grows past it, so it is also what one connection's reads
/// hold at most. 16 KiB: a bearer token and a browser's headers take 1–2
/// KiB; nginx allows 4 × 8 KiB. Beyond it the answer is 431.
pub const READ_BUFFER_MAX_BYTES: usize = 16 * 1024;
/// Most header fields in one request: hyper's usual 100, set here so no
/// library default decides it.
pub const HEADERS_MAX: usize = 100;
/// On shutdown, requests in flight get this long to be answered before
/// their connections are dropped (idle connections close at once).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Over-the-cap connections being answered 503 at once. Beyond it such a
/// connection is closed without an answer, so a flood costs a bounded
/// number of tasks and descriptors.
pub const REFUSALS_MAX: usize = 64;
/// How long a refused connection is read from and discarded after its 503,
/// so the kernel does not reset it before the client has read the answer.
pub const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// When `accept` fails (out of file descriptors, most often), the loop
/// waits this long before the next try instead of spinning.
pub const ACCEPT_RETRY_AFTER: Duration = Duration::from_millis(100);
/// Descriptors kept for everything but HTTP connections (the store's files,
/// the QUIC socket, data-dir files) when the gateway sizes its file limit.
pub const FDS_RESERVED: u64 = 1_024;

/// Refuses limits that cannot work: no connection at all, no time to send a
/// head, or an idle timeout that would close a connection whose request is
/// still within [`super::REQUEST_TIMEOUT`].
pub fn check(limits: &HttpLimits) -> anyhow::Result<()> {
    anyhow::ensure!(
        limits.max_connections > 0,
        "the HTTP connection cap must be at least 1"
    );
    anyhow::ensure!(
        limits.header_read_timeout_ms > 0,
        "the HTTP header-read timeout must be at least 1 ms"
    );
    anyhow::ensure!(
        u128::from(limits.idle_timeout_ms) > super::REQUEST_TIMEOUT.as_millis(),
        "the HTTP idle timeout ({} ms) must be longer than the request timeout ({:?})",
        limits.idle_timeout_ms,
        super::REQUEST_TIMEOUT
    );
    Ok(())
}

/// Serves `app` on `listener` (over TLS with `tls`) until `stop` is
/// cancelled, then lets requests in flight finish (up to [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: CancellationToken,
) {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_MAX));
    let http = builder(&limits);
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept an HTTP connection");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_RETRY_AFTER) => continue,
                }
            }
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = Connection {
                    http: http.clone(),
                    app: app.clone(),
                    idle,
                    header_read: Duration::from_millis(limits.header_read_timeout_ms),
                    tls: tls.clone(),
                    stop: stop.clone(),
                    _permit: permit,
                };
                tracker.spawn(conn.run(stream, peer));
            }
            Err(_) => refuse(stream, &refusals, limits.max_connections),
        }
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(drain = ?DRAIN_TIMEOUT, "HTTP requests still in flight at shutdown were dropped");
    }
}

/// hyper's HTTP/1.1 settings, every bound explicit.
fn builder(limits: &HttpLimits) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .max_buf_size(READ_BUFFER_MAX_BYTES)
        .max_headers(HEADERS_MAX);
    http
}

/// One accepted connection and what it holds until it ends.
struct Connection {
    http: http1::Builder,
    app: Router,
    idle: Duration,
    header_read: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: CancellationToken,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, peer: SocketAddr) {
        gauge!("scangate_http_connections_open").increment(1.0);
        // Answers are written whole; waiting for more would only delay them.
        let _ = stream.set_nodelay(true);
        match self.tls.clone() {
            None => {
                let (io, activity) = Watched::new(stream);
                self.serve(io, activity, peer).await;
            }
            Some(acceptor) => self.serve_tls(acceptor, stream, peer).await,
        }
        gauge!("scangate_http_connections_open").decrement(1.0);
    }

    /// A connection to a TLS listener: a TLS handshake within the
    /// header-read timeout, or plain HTTP from loopback, or a refusal.
    async fn serve_tls(
        self,
        acceptor: tokio_rustls::TlsAcceptor,
        stream: TcpStream,
        peer: SocketAddr,
    ) {
        let mut first = [0u8; 1];
        let peeked = tokio::time::timeout(self.header_read, stream.peek(&mut first)).await;
        match peeked {
            Ok(Ok(1..)) => {}
            Ok(_) => return,
            Err(_) => {
                counter!("scangate_http_timeouts_total", "cause" => "tls_handshake").increment(1);
                return;
            }
        }
        if first[0] != tls::TLS_HANDSHAKE_RECORD {
            if tls::plain_allowed(peer.ip()) {
                let (io, activity) = Watched::new(stream);
                return self.serve(io, activity, peer).await;
            }
            counter!("scangate_http_plain_refused_total").increment(1);
            return answer_and_close(stream, tls::plain_refusal()).await;
        }
        let (io, activity) = Watched::new(stream);
        match tokio::time::timeout(self.header_read, acceptor.accept(io)).await {
            Ok(Ok(tls_stream)) => self.serve(tls_stream, activity, peer).await,
            Ok(Err(e)) => {
                counter!("scangate_http_tls_handshake_failures_total").increment(1);
                tracing::debug!(error = %e, "HTTP TLS handshake failed");
            }
            Err(_) => {
                counter!("scangate_http_timeouts_total", "cause" => "tls_handshake").increment(1);
            }
        }
    }

    /// Serves HTTP/1.1 on `io` until the client or the idle timeout ends it;
    /// on shutdown, the request in flight is answered first.
    /// Each request carries the peer's address (`ConnectInfo<SocketAddr>`,
    /// for the holder pages' rate per address).
    async fn serve<I>(self, io: I, activity: Arc<Activity>, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let app = Extension(ConnectInfo(peer)).layer(self.app);
        let service = TowerToHyperService::new(app);
        let conn = self.http.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut stopping = false;
        loop {
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        if e.is_timeout() {
                            counter!("scangate_http_timeouts_total", "cause" => "header").increment(1);
                        }
                        tracing::trace!(error = %e, "HTTP connection ended");
                    }
                    break;
                }
                () = self.stop.cancelled(), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = activity.idle(self.idle) => {
                    counter!("scangate_http_timeouts_total", "cause" => "idle").increment(1);
                    break;
                }
            }
        }
    }
}

/// What a connection over the cap is answered before it is closed.
pub fn refusal(max_connections: usize) -> String {
    let body =
        format!("too many HTTP connections: at most {max_connections} at once; retry shortly\n");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 1\r\n\
         content-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Answers a connection over the cap with [`refusal`] and closes it; with
/// [`REFUSALS_MAX`] refusals already under way, closes it at once.
fn refuse(stream: TcpStream, refusals: &Arc<Semaphore>, max_connections: usize) {
    counter!("scangate_http_connections_refused_total").increment(1);
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        answer_and_close(stream, refusal(max_connections)).await;
    });
}

/// Writes `answer` and closes the connection, within [`REFUSAL_LINGER`].
async fn answer_and_close(mut stream: TcpStream, answer: String) {
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read and discard what the client sent until it closes: closing
        // with unread bytes would reset the connection under its answer.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Raises the soft limit on open files so `max_connections` HTTP
/// connections and [`FDS_RESERVED`] other descriptors fit, up to the hard
/// limit; warns when they cannot (accept then fails past the limit and the
/// loop retries every [`ACCEPT_RETRY_AFTER`]).
pub fn make_room_for(max_connections: usize) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let wanted = max_connections as u64 + FDS_RESERVED;
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= wanted {
        return;
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let raised = wanted.min(hard);
    let applied = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(raised),
            maximum: limit.maximum,
        },
    );
    if applied.is_err() || raised < wanted {
        tracing::warn!(
            soft,
            hard,
            wanted,
            "the open-file limit is below the HTTP connection cap plus {FDS_RESERVED}; raise it (LimitNOFILE) or lower --http-max-connections"
        );
    }
}
