//! The operator HTTP plane's connection bounds, against the real binary on
//! loopback: thousands of idle connections and a slowloris set cost a
//! bounded amount of memory while `/readyz` keeps answering, a request head
//! that never completes is cut off at the header-read timeout, a client
//! that stops reading its answers is cut off at the idle timeout, and a
//! connection over the cap is answered 503 at once.

use crate::common;

use common::{Gateway, metric};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Idle connections held open at once (the 1,645 idle connections
/// held 2.79 GB).
const IDLE: usize = 2_000;
/// Connections that trickle a request head one byte at a time.
const SLOWLORIS: usize = 100;
/// Most memory one open connection may add to the gateway's RSS: what one
/// may hold by design (a 16 KiB read buffer at most, a write buffer, its
/// task and hyper's state, ~20 KiB measured idle) with room for the
/// allocator's rounding; 26 times below the ~1.65 MB each cost before the
/// router stopped being rebuilt per connection.
const RSS_PER_CONNECTION_MAX_BYTES: u64 = 64 * 1024;
/// The gateway's default header-read timeout (`HttpLimits`).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time between two bytes of a slowloris head: far below the header
/// timeout, so only that timeout can end the connection.
const TRICKLE_EVERY: Duration = Duration::from_millis(500);
/// How long a condition on the gateway may take to become true.
const DEADLINE: Duration = Duration::from_secs(60);

/// Lets this process (and the gateway it starts) hold the test's sockets.
fn raise_file_limit(wanted: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    assert!(
        hard >= wanted,
        "the hard open-file limit {hard} is below {wanted}"
    );
    if limit.current.unwrap_or(u64::MAX) < wanted {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(wanted),
                maximum: limit.maximum,
            },
        )
        .expect("raise the open-file limit");
    }
}

/// The gateway's resident set, bytes, from `/proc/PID/status`.
fn rss_bytes(gw: &Gateway) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", gw.child.id())).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Waits until a series of `/metrics` is at least `want`.
async fn wait_for_metric(gw: &Gateway, name: &str, labels: &[(&str, &str)], want: f64) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let now = metric(&gw.metrics().await, name, labels);
        if now >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} stayed at {now}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends a request head one byte every [`TRICKLE_EVERY`] until the gateway
/// closes the connection; how long that took from the connect.
async fn slowloris(gw_http: std::net::SocketAddr) -> Duration {
    let began = Instant::now();
    let mut stream = TcpStream::connect(gw_http).await.expect("connect");
    let head = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Padding: ".iter();
    let mut bytes = head.chain(std::iter::repeat(&b'a'));
    let mut answer = [0u8; 64];
    loop {
        let byte = *bytes.next().expect("endless");
        if stream.write_all(&[byte]).await.is_err() {
            return began.elapsed();
        }
        tokio::select! {
            read = stream.read(&mut answer) => {
                // The server closes it (0 bytes, or a reset); it never answers.
                assert!(!matches!(read, Ok(n) if n > 0), "a slowloris head was answered");
                return began.elapsed();
            }
            () = tokio::time::sleep(TRICKLE_EVERY) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_slowloris_stay_bounded_while_readyz_answers() {
    raise_file_limit((IDLE + SLOWLORIS) as u64 + 1_024);
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    assert_eq!(gw.probe("/readyz").await.0, 200);
    let before = rss_bytes(&gw);

    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(gw.http).await.expect("connect"));
    }
    let lorises: Vec<_> = (0..SLOWLORIS)
        .map(|_| tokio::spawn(slowloris(gw.http)))
        .collect();
    // Every one of them accepted and served (plus the scrape's own), the
    // gateway's memory within the bound all along.
    let bound = (IDLE + SLOWLORIS) as u64 * RSS_PER_CONNECTION_MAX_BYTES;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let grown = rss_bytes(&gw).saturating_sub(before);
        assert!(grown < bound, "RSS grew {grown} B, over {bound} B");
        let open = metric(&gw.metrics().await, "scangate_http_connections_open", &[]);
        if open > (IDLE + SLOWLORIS) as f64 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} connections open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let grown = rss_bytes(&gw).saturating_sub(before);
    eprintln!(
        "RSS {} KiB before, +{} KiB with {} connections open ({} B each)",
        before / 1024,
        grown / 1024,
        IDLE + SLOWLORIS,
        grown / (IDLE + SLOWLORIS) as u64
    );
    assert!(grown < bound, "RSS grew {grown} B, over {bound} B");
    let (status, body) = gw.probe("/readyz").await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "ready\n"));

    // The header-read timeout closes every slowloris connection, not sooner
    // (their bytes keep coming) and not much later.
    for loris in lorises {
        let lasted = loris.await.expect("slowloris task");
        assert!(
            lasted >= HEADER_TIMEOUT - Duration::from_millis(500)
                && lasted < HEADER_TIMEOUT + Duration::from_secs(10),
            "a slowloris connection lasted {lasted:?}"
        );
    }
    // The idle ones too: every connection that sent no complete head.
    let timed_out = (IDLE + SLOWLORIS) as f64;
    wait_for_metric(
        &gw,
        "scangate_http_timeouts_total",
        &[("cause", "header")],
        timed_out,
    )
    .await;
    let mut byte = [0u8; 1];
    for stream in &mut idle[..10] {
        assert_eq!(
            stream.read(&mut byte).await.ok(),
            Some(0),
            "closed by the gateway"
        );
    }
    assert_eq!(gw.probe("/readyz").await.0, 200);
}

/// Sends one request on a fresh connection; the whole answer, as text.
async fn raw_request(gw_http: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(gw_http).await.expect("connect");
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer)).await;
    read.expect("answered in time").expect("read");
    String::from_utf8(answer).expect("utf-8")
}

#[tokio::test]
async fn a_connection_over_the_cap_is_answered_503_until_one_closes() {
    const CAP: usize = 8;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--http-max-connections", &CAP.to_string()]);
    let mut held = Vec::new();
    for _ in 0..CAP {
        held.push(TcpStream::connect(gw.http).await.expect("connect"));
    }
    // Once the gateway has accepted all of them, one more is refused at once.
    let deadline = Instant::now() + DEADLINE;
    let refused = loop {
        let answer = raw_request(gw.http, "/readyz").await;
        if answer.starts_with("HTTP/1.1 503") {
            break answer;
        }
        assert!(Instant::now() < deadline, "never refused: {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        refused.ends_with("too many HTTP connections: at most 8 at once; retry shortly\n"),
        "{refused}"
    );
    assert!(refused.contains("retry-after: 1\r\n"), "{refused}");

    // One closes: the next is served, and the refusal was counted.
    held.pop();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = raw_request(gw.http, "/readyz").await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(held);
    wait_for_metric(&gw, "scangate_http_connections_refused_total", &[], 1.0).await;
}

/// The idle timeout the next test runs under: the least the gateway takes
/// (more than the 30 s request timeout).
const IDLE_TIMEOUT: Duration = Duration::from_millis(31_000);
/// Pipelined requests for the OpenAPI document (tens of KiB each), enough
/// to fill the loopback socket buffers many times over.
const UNREAD_REQUESTS: usize = 400;

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_at_the_idle_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let idle_ms = IDLE_TIMEOUT.as_millis().to_string();
    let gw = Gateway::start(dir.path(), &["--http-idle-timeout-ms", &idle_ms]);
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let mut stream = socket.connect(gw.http).await.expect("connect");
    let request = "GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(UNREAD_REQUESTS);
    stream.write_all(request.as_bytes()).await.expect("write");
    let sent = Instant::now();
    // Nothing is read: the gateway's answers stall, no byte moves, and the
    // idle timeout (not the header timeout: a request is being answered)
    // closes the connection.
    let deadline = IDLE_TIMEOUT + DEADLINE;
    let idle = [("cause", "idle")];
    loop {
        let closed = metric(&gw.metrics().await, "scangate_http_timeouts_total", &idle);
        if closed >= 1.0 {
            break;
        }
        assert!(
            sent.elapsed() < deadline,
            "still open after {:?}",
            sent.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lasted = sent.elapsed();
    assert!(
        lasted >= IDLE_TIMEOUT - Duration::from_millis(500),
        "closed after {lasted:?}"
    );
    assert_eq!(gw.probe("/readyz").await.0, 200);
    drop(stream);
}
