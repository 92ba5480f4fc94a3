//! Admission at the QUIC edge against the real binary on loopback: a flood
//! of bare Initial packets (no certificate, never finishing a handshake)
//! from many sources must not lock real scanners out, and a device
//! certificate without a device name must not connect.

use crate::common;

use common::{Gateway, metric, pem, quic_client, scan};
use scangate_client::{ScanInput, Scanner};
use scangate_core::Decision;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The gateway's connection slots in this test: a tenth of the default
/// (10,000), so that the flood that takes them all is small enough for a
/// debug build on a shared CI core to keep up with (against the default
/// it would take 12,000 Initials at 4,000/s).
const MAX_CONNECTIONS: &str = "1000";
/// Initials in the flood: four times the gateway's connection slots, so
/// the flood outlasts [`SCANNER_DEADLINE`] after the slots would be gone.
const FLOOD_INITIALS: usize = 4_000;
/// Initials per second: at this rate a gateway that gave every Initial a
/// connection slot (each held for the handshake deadline) would hand out
/// all of them within the first second ([`SLOTS_GONE`]) and refuse every
/// scanner for the rest of the flood.
const FLOOD_PER_S: u64 = 1_000;
/// When the flood would have taken every connection slot.
const SLOTS_GONE: Duration = Duration::from_secs(1);
/// Source addresses the flood comes from (127.0.1.1 onwards), standing in
/// for spoofed ones.
const FLOOD_SOURCES: u8 = 16;
/// A real scanner connects afresh and gets its grant within this, every
/// time, throughout the flood.
const SCANNER_DEADLINE: Duration = Duration::from_secs(3);
/// Handshakes opened from one source that answer the Retry (so their
/// address is validated) and then never go on: ~3 times the per-source
/// bound (32 by default).
const STALLED: usize = 100;
/// The per-source handshake bound the gateway runs with (its default).
const PER_SOURCE: f64 = 32.0;
/// Long enough for every stalled handshake to pass its 3 s deadline.
const STALL_DEADLINE: Duration = Duration::from_secs(20);
/// How long the gateway may take to close a connection it refused.
const CLOSE_DEADLINE: Duration = Duration::from_secs(5);

/// A bare client endpoint of the QUIC state machine and its configuration:
/// the flood's datagrams are made by hand, never sent by quinn.
fn client_endpoint(
    tls: rustls::ClientConfig,
) -> (quinn_proto::Endpoint, quinn_proto::ClientConfig) {
    let crypto =
        quinn_proto::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic client tls");
    let config = quinn_proto::ClientConfig::new(Arc::new(crypto));
    let endpoint = quinn_proto::Endpoint::new(
        Arc::new(quinn_proto::EndpointConfig::default()),
        None,
        false,
        None,
    );
    (endpoint, config)
}

/// `n` genuine client Initial datagrams for `server`, each of its own
/// connection (own connection ids and keys), from a client presenting no
/// certificate. Nothing more of those handshakes is ever sent.
fn initials(server: SocketAddr, tls: rustls::ClientConfig, n: usize) -> Vec<Vec<u8>> {
    let (mut endpoint, config) = client_endpoint(tls);
    let now = Instant::now();
    (0..n)
        .map(|_| {
            let (_, mut conn) = endpoint
                .connect(now, config.clone(), server, "localhost")
                .expect("connect");
            let mut datagram = Vec::new();
            let sent = conn
                .poll_transmit(now, 1, &mut datagram)
                .expect("an Initial");
            datagram.truncate(sent.size);
            datagram
        })
        .collect()
}

/// Opens `n` handshakes from `source` that follow the gateway's Retry and
/// then stall: each on its own socket, sending its Initial, feeding the
/// Retry back to its connection and sending the validated Initial that
/// follows, then nothing more. The sockets and connections are returned
/// so that they live on.
fn stall(
    server: SocketAddr,
    tls: rustls::ClientConfig,
    n: usize,
    source: Ipv4Addr,
) -> Vec<(UdpSocket, quinn_proto::Connection)> {
    let (mut endpoint, config) = client_endpoint(tls);
    (0..n)
        .map(|_| {
            let socket = UdpSocket::bind((source, 0)).expect("stall socket");
            socket
                .set_read_timeout(Some(CLOSE_DEADLINE))
                .expect("read timeout");
            let now = Instant::now();
            let (_, mut conn) = endpoint
                .connect(now, config.clone(), server, "localhost")
                .expect("connect");
            let send = |conn: &mut quinn_proto::Connection| {
                let mut out = Vec::new();
                let sent = conn.poll_transmit(now, 1, &mut out).expect("an Initial");
                socket.send_to(&out[..sent.size], server).expect("send");
            };
            send(&mut conn);
            let mut retry = [0u8; 1500];
            let len = socket.recv(&mut retry).expect("the gateway's Retry");
            let data = bytes::BytesMut::from(&retry[..len]);
            match endpoint.handle(now, server, None, None, data, &mut Vec::new()) {
                Some(quinn_proto::DatagramEvent::ConnectionEvent(_, event)) => {
                    conn.handle_event(event)
                }
                _ => panic!("the gateway's answer is no Retry for this connection"),
            }
            send(&mut conn);
            (socket, conn)
        })
        .collect()
}

/// Sends `datagrams` to `server` at [`FLOOD_PER_S`], round robin over
/// [`FLOOD_SOURCES`] loopback addresses; returns how many were sent.
fn flood(server: SocketAddr, datagrams: Vec<Vec<u8>>) -> JoinHandle<usize> {
    let sockets: Vec<UdpSocket> = (1..=FLOOD_SOURCES)
        .map(|i| UdpSocket::bind((Ipv4Addr::new(127, 0, 1, i), 0)).expect("flood socket"))
        .collect();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut sent = 0;
        for (i, datagram) in datagrams.iter().enumerate() {
            // Pacing, not synchronisation: hold the offered rate.
            let due = start + Duration::from_micros(i as u64 * 1_000_000 / FLOOD_PER_S);
            if let Some(early) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(early);
            }
            let socket = &sockets[i % sockets.len()];
            if socket.send_to(datagram, server).is_ok() {
                sent += 1;
            }
        }
        sent
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_initials_does_not_lock_out_a_real_scanner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--max-connections", MAX_CONNECTIONS]);
    let pass = gw.issue_unlimited().await;
    let first = gw.scanner("turnstile-1").await;
    assert_eq!(
        scan(&first, &pass.token, "A", None).await.decision,
        Decision::Granted
    );
    let config = first.config().clone();
    first.close().await;

    let tls = common::tls_for(dir.path(), None);
    let server = gw.quic;
    let datagrams = tokio::task::spawn_blocking(move || initials(server, tls, FLOOD_INITIALS))
        .await
        .expect("initials");
    let flooding = flood(gw.quic, datagrams);
    let flood_start = Instant::now();
    let (mut attempts, mut after_slots_gone) = (0, 0);
    while !flooding.is_finished() {
        attempts += 1;
        if flood_start.elapsed() >= SLOTS_GONE {
            after_slots_gone += 1;
        }
        let outcome = tokio::time::timeout(SCANNER_DEADLINE, async {
            let scanner = Scanner::connect(config.clone()).await?;
            let reply = scanner
                .scan(ScanInput {
                    token: pass.token.clone(),
                    gate: "A".to_owned(),
                    event: None,
                    scan_id: None,
                })
                .await;
            scanner.close().await;
            reply
        })
        .await;
        match outcome {
            Ok(Ok(reply)) if reply.decision == Decision::Granted => {}
            other => panic!("fresh connection {attempts} during the flood: {other:?}"),
        }
    }
    let sent = flooding.join().expect("flood thread");
    assert_eq!(sent, FLOOD_INITIALS, "the whole flood was sent");
    assert!(
        after_slots_gone >= 1,
        "none of {attempts} connections started once the slots would be gone"
    );
    // The flood reached the gateway and cost it a stateless Retry each.
    let metrics = gw.metrics().await;
    let retries = metric(&metrics, "scangate_quic_retries_total", &[]);
    assert!(
        retries >= FLOOD_INITIALS as f64 / 2.0,
        "{retries} retries for {FLOOD_INITIALS} Initials"
    );
    assert_eq!(
        metric(&metrics, "scangate_handshakes_in_progress", &[]),
        0.0
    );
}

/// A certificate signed by the gateway's CA for client auth, with no CN.
fn unnamed_identity(dir: &std::path::Path) -> (String, String) {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    common::pki::ca_signed(dir, &params)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_certificate_without_a_name_does_not_connect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let (cert, key) = unnamed_identity(dir.path());
    let ca = pem(&scangate_certs::Pki::open(&dir.path().join("pki")).ca_cert_path());
    let tls = scangate_certs::client_config(&ca, Some((&cert, &key)), scangate_core::wire::ALPN)
        .expect("client tls");
    let endpoint = quic_client(tls);
    let connecting = endpoint.connect(gw.quic, "localhost").expect("connect");
    // The client may finish its side of the handshake before the gateway
    // has checked its certificate; either way the gateway ends it.
    let refusal = match connecting.await {
        Err(e) => e,
        Ok(conn) => tokio::time::timeout(CLOSE_DEADLINE, conn.closed())
            .await
            .expect("the gateway closed the connection"),
    };
    let quinn::ConnectionError::ConnectionClosed(close) = &refusal else {
        panic!("closed by the gateway's TLS, not {refusal:?}");
    };
    assert!(
        close.error_code.to_string().contains("crypto"),
        "a TLS alert, not {close:?}"
    );
    // A named device of the same CA still connects.
    let named = gw.scanner("north-1").await;
    named.ping().await.expect("ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_from_one_source_hold_only_its_share() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_unlimited().await;
    let tls = common::tls_for(dir.path(), None);
    let server = gw.quic;
    let stalled = tokio::task::spawn_blocking(move || {
        stall(server, tls, STALLED, Ipv4Addr::new(127, 0, 2, 1))
    })
    .await
    .expect("stalled handshakes");
    let metrics = gw.metrics().await;
    let in_progress = metric(&metrics, "scangate_handshakes_in_progress", &[]);
    assert!(
        in_progress <= PER_SOURCE,
        "{in_progress} handshakes in progress"
    );
    // A scanner elsewhere connects and scans meanwhile.
    let scanner = gw.scanner("turnstile-2").await;
    assert_eq!(
        scan(&scanner, &pass.token, "A", None).await.decision,
        Decision::Granted
    );
    // Every stalled handshake was refused for its source or timed out.
    let deadline = Instant::now() + STALL_DEADLINE;
    let (source, timed_out) = loop {
        let metrics = gw.metrics().await;
        let refused = |cause| {
            metric(
                &metrics,
                "scangate_connections_refused_total",
                &[("cause", cause)],
            )
        };
        let counts = (refused("source"), refused("handshake_timeout"));
        if counts.0 + counts.1 >= STALLED as f64 || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(source + timed_out, STALLED as f64, "{source} + {timed_out}");
    assert!(
        source >= 1.0 && timed_out >= PER_SOURCE,
        "{source} + {timed_out}"
    );
    let metrics = gw.metrics().await;
    assert_eq!(
        metric(&metrics, "scangate_handshakes_in_progress", &[]),
        0.0
    );
    drop(stalled);
}

/// Scanners behind one NAT address reconnecting at once (after a gateway
/// restart), against a per-source bound of [`NAT_PER_SOURCE`].
const NAT_SCANNERS: usize = 24;
/// The per-source bound in that test: a quarter of the burst.
const NAT_PER_SOURCE: &str = "6";
/// Connect deadline (and idle timeout) of each scanner in the burst, ms:
/// room for four of the client's Initial retransmissions (after ~1, 3, 7
/// and 15 s) while a debug build on a shared core handshakes slowly; the
/// claim is that all connect, not how fast.
const NAT_CONNECT_TIMEOUT_MS: u64 = 30_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_scanners_from_one_address_all_connect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--max-handshakes-per-source", NAT_PER_SOURCE]);
    let mut config = gw.scanner("nat-1").await.config().clone();
    config.connect_timeout_ms = NAT_CONNECT_TIMEOUT_MS;
    config.idle_timeout_ms = NAT_CONNECT_TIMEOUT_MS;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..NAT_SCANNERS {
        let config = config.clone();
        burst.spawn(async move { Scanner::connect(config).await.map(|s| s.config().clone()) });
    }
    let mut connected = 0;
    while let Some(joined) = burst.join_next().await {
        joined
            .expect("task")
            .expect("every scanner of the burst connects");
        connected += 1;
    }
    assert_eq!(connected, NAT_SCANNERS);
    let metrics = gw.metrics().await;
    assert!(
        metric(
            &metrics,
            "scangate_connections_refused_total",
            &[("cause", "source")]
        ) >= 1.0,
        "the burst met the per-source bound"
    );
}
