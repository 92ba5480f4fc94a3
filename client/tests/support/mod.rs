//! A tiny in-test gateway: real QUIC and mutual TLS, no decisions. Every
//! request it reads is handed to the test, which chooses what to answer,
//! when, and whether to close the connection. Tests wait on these events,
//! never on sleeps.

#![allow(dead_code)] // each test file uses part of it

pub mod device;
pub mod gateway;
pub mod queue;

use bytes::BytesMut;
use quinn::{Connection, Endpoint, RecvStream, SendStream, VarInt};
use scangate_certs::Pki;
use scangate_client::{ScanId, ScanInput, ScannerConfig};
use scangate_core::decision::{Decision, Reason};
use scangate_core::frame::{FrameError, decode, encode, split_frame};
use scangate_core::testing::granted_reply;
use scangate_core::wire::{ALPN, Request, RequestBody, Response, ResponseBody, ScanReply};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

/// Requests buffered towards the test before the server stops reading.
const EVENTS_MAX: usize = 1024;
/// Longest a test waits for the next request before failing.
pub const EVENT_WAIT: Duration = Duration::from_secs(10);

/// One request as the test server read it.
pub struct Incoming {
    /// The request.
    pub request: Request,
    /// Which connection (0 = the first accepted) carried it.
    pub connection_index: usize,
    send: Arc<Mutex<SendStream>>,
    connection: Connection,
}

impl Incoming {
    /// The scan id, for a scan request.
    pub fn scan_id(&self) -> ScanId {
        match &self.request.body {
            RequestBody::Scan(scan) => scan.scan_id.clone(),
            other => panic!("expected a scan, got {other:?}"),
        }
    }

    /// Answers with `body` under the request's id.
    pub async fn reply(&self, body: ResponseBody) {
        let mut buf = BytesMut::new();
        encode(
            &Response {
                id: self.request.id,
                body,
            },
            &mut buf,
        )
        .expect("a test reply fits a frame");
        self.send
            .lock()
            .await
            .write_all(&buf)
            .await
            .expect("test server write");
    }

    /// Answers a scan with a grant, or a ping with a pong.
    pub async fn reply_ok(&self) {
        let body = match &self.request.body {
            RequestBody::Scan(scan) => granted(scan.scan_id.clone()),
            RequestBody::Ping => ResponseBody::Pong,
            other => panic!("the test server answers scans and pings, not {other:?}"),
        };
        self.reply(body).await;
    }

    /// Closes the whole connection this request came on.
    pub fn close_connection(&self) {
        self.connection
            .close(VarInt::from_u32(0), b"test server closes");
    }
}

/// A token-shaped string for the tests whose server decides nothing by it.
pub const ANY_TOKEN: &str = "AAAABBBBCCCCDDDD";

/// A scan of `token` at gate `north-1`, any event, with scan id `id`.
pub fn input(token: &str, id: &str) -> ScanInput {
    ScanInput {
        token: token.into(),
        gate: "north-1".into(),
        event: None,
        scan_id: Some(ScanId::new(id).expect("scan id")),
    }
}

/// A canned grant.
pub fn granted(scan_id: ScanId) -> ResponseBody {
    reply_with(scan_id, Decision::Granted)
}

/// A canned denial.
pub fn denied(scan_id: ScanId, reason: Reason) -> ResponseBody {
    reply_with(scan_id, Decision::Denied(reason))
}

fn reply_with(scan_id: ScanId, decision: Decision) -> ResponseBody {
    ResponseBody::Scan(ScanReply {
        decision,
        pass: Some("0123abcd".into()),
        ..granted_reply(scan_id)
    })
}

/// The running test server.
pub struct TestServer {
    /// Where it listens (loopback).
    pub addr: SocketAddr,
    /// Requests, in the order read.
    pub requests: mpsc::Receiver<Incoming>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Connection attempts seen (handshakes begun, finished or not).
    pub attempts: Arc<AtomicUsize>,
    _endpoint: Endpoint,
}

impl TestServer {
    /// The next request, failing the test after [`EVENT_WAIT`].
    pub async fn next(&mut self) -> Incoming {
        tokio::time::timeout(EVENT_WAIT, self.requests.recv())
            .await
            .expect("no request reached the test server in time")
            .expect("test server stopped")
    }

    /// Connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A PKI in a temp dir, a test server using it, and a scanner config for a
/// device certificate of that PKI pointing at the server.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub server: TestServer,
    pub config: ScannerConfig,
}

pub fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::open(&dir.path().join("pki"));
    pki.init(&[]).expect("pki init");
    let server = start_server(&pki);
    let config = scanner_config(&pki, "test-scanner", server.addr);
    Setup {
        dir,
        pki,
        server,
        config,
    }
}

/// A config for a new device certificate named `name` issued by `pki`.
pub fn scanner_config(pki: &Pki, name: &str, addr: SocketAddr) -> ScannerConfig {
    let files = pki.issue_scanner(name).expect("issue scanner");
    let mut config = ScannerConfig::from_files(addr, &pki.ca_cert_path(), &files.cert, &files.key)
        .expect("scanner config");
    config.server_name = "localhost".into();
    config
}

pub fn start_server(pki: &Pki) -> TestServer {
    start_slow_server(pki, Duration::ZERO)
}

/// A test server that leaves each connection attempt unanswered for
/// `accept_delay` before its handshake goes on: a gateway slow to finish
/// handshakes (a loaded one, or one behind a path that just healed).
pub fn start_slow_server(pki: &Pki, accept_delay: Duration) -> TestServer {
    let tls = pki.server_config(ALPN).expect("server tls");
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).expect("quic tls");
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let endpoint =
        Endpoint::server(config, "127.0.0.1:0".parse().expect("addr")).expect("server endpoint");
    let addr = endpoint.local_addr().expect("local addr");
    let (events, requests) = mpsc::channel(EVENTS_MAX);
    let connections = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let counts = Counts {
        connections: Arc::clone(&connections),
        attempts: Arc::clone(&attempts),
    };
    tokio::spawn(accept_loop(endpoint.clone(), events, counts, accept_delay));
    TestServer {
        addr,
        requests,
        connections,
        attempts,
        _endpoint: endpoint,
    }
}

/// What the accept loop counts.
#[derive(Clone)]
struct Counts {
    connections: Arc<AtomicUsize>,
    attempts: Arc<AtomicUsize>,
}

async fn accept_loop(
    endpoint: Endpoint,
    events: mpsc::Sender<Incoming>,
    counts: Counts,
    accept_delay: Duration,
) {
    while let Some(incoming) = endpoint.accept().await {
        counts.attempts.fetch_add(1, Ordering::SeqCst);
        let events = events.clone();
        let connections = Arc::clone(&counts.connections);
        tokio::spawn(async move {
            // The client's Initial waits (quinn holds it) until accepted.
            tokio::time::sleep(accept_delay).await;
            // Handshake failures (a refused client certificate) end here.
            let Ok(connection) = incoming.await else {
                return;
            };
            let index = connections.fetch_add(1, Ordering::SeqCst);
            while let Ok((send, recv)) = connection.accept_bi().await {
                let send = Arc::new(Mutex::new(send));
                tokio::spawn(read_stream(
                    recv,
                    send,
                    connection.clone(),
                    index,
                    events.clone(),
                ));
            }
        });
    }
}

async fn read_stream(
    recv: RecvStream,
    send: Arc<Mutex<SendStream>>,
    connection: Connection,
    connection_index: usize,
    events: mpsc::Sender<Incoming>,
) {
    each_request(recv, |request| {
        let incoming = Incoming {
            request,
            connection_index,
            send: Arc::clone(&send),
            connection: connection.clone(),
        };
        let events = events.clone();
        async move { events.send(incoming).await.is_ok() }
    })
    .await;
}

/// Reads `recv` to its end and hands each whole request to `each`, in
/// order; stops early when `each` answers false. A frame a client never
/// sends (bad length, undecodable body) fails the test.
pub async fn each_request<F, Fut>(mut recv: RecvStream, mut each: F)
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut buf = BytesMut::new();
    while let Ok(Some(chunk)) = recv.read_chunk(64 * 1024, true).await {
        buf.extend_from_slice(&chunk.bytes);
        loop {
            match split_frame(&mut buf) {
                Ok((version, payload)) => {
                    let request: Request = decode(version, &payload).expect("a valid request");
                    if !each(request).await {
                        return;
                    }
                }
                Err(FrameError::Incomplete) => break,
                Err(e) => panic!("bad frame from the client: {e}"),
            }
        }
    }
}
