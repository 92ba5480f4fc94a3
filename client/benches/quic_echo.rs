//! The transport ceiling: a raw quinn echo server and a pipelining client on
//! loopback, with scangate's TLS (mutual, TLS 1.3) and framing, and no work
//! at all behind it. Whatever scangate does per scan is measured against this.
//!
//! `cargo bench -p scangate-client --bench quic_echo -- [--seconds S] [--connections C] [--depth D] [--json]`
//!
//! Each request is a frame the size of a scan request; the server splits
//! frames off the stream and writes each one back unchanged.

use bytes::BytesMut;
use quinn::{Endpoint, ServerConfig, TransportConfig, VarInt};
use scangate_core::ScanId;
use scangate_core::frame::{self, split_frame};
use scangate_core::wire::{ALPN, Request, RequestBody, ScanRequest};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    seconds: u64,
    connections: usize,
    depth: usize,
    json: bool,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        connections: 4,
        depth: 64,
        json: false,
    };
    let argv: Vec<String> = std::env::args().collect();
    let num = |i: usize| argv.get(i + 1).and_then(|v| v.parse::<u64>().ok());
    for (i, arg) in argv.iter().enumerate() {
        match arg.as_str() {
            "--seconds" => a.seconds = num(i).expect("--seconds N"),
            "--connections" => a.connections = num(i).expect("--connections N") as usize,
            "--depth" => a.depth = num(i).expect("--depth N") as usize,
            "--json" => a.json = true,
            _ => {}
        }
    }
    a
}

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).expect("pem")
}

async fn serve(endpoint: Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                tokio::spawn(async move {
                    let mut buf = BytesMut::new();
                    let mut out = BytesMut::new();
                    while let Ok(Some(chunk)) = recv.read_chunk(64 * 1024, true).await {
                        buf.extend_from_slice(&chunk.bytes);
                        while let Ok((version, payload)) = split_frame(&mut buf) {
                            out.extend_from_slice(&((payload.len() + 1) as u32).to_be_bytes());
                            out.extend_from_slice(&[version]);
                            out.extend_from_slice(&payload);
                        }
                        if !out.is_empty() && send.write_all(&out).await.is_err() {
                            return;
                        }
                        out.clear();
                    }
                });
            }
        });
    }
}

/// One connection: `depth` requests always outstanding on one stream; each
/// reply (in order: the echo keeps order) releases the next request.
async fn drive(
    conn: quinn::Connection,
    depth: usize,
    until: Instant,
    request: Vec<u8>,
) -> Vec<u32> {
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    let mut sent_at = std::collections::VecDeque::with_capacity(depth);
    let mut lat = Vec::new();
    let mut burst = Vec::with_capacity(depth * request.len());
    for _ in 0..depth {
        burst.extend_from_slice(&request);
        sent_at.push_back(Instant::now());
    }
    send.write_all(&burst).await.expect("write");
    let mut buf = BytesMut::new();
    while Instant::now() < until {
        let chunk = recv
            .read_chunk(64 * 1024, true)
            .await
            .expect("read")
            .expect("open");
        buf.extend_from_slice(&chunk.bytes);
        burst.clear();
        while split_frame(&mut buf).is_ok() {
            let t = sent_at.pop_front().expect("one per request");
            lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            burst.extend_from_slice(&request);
            sent_at.push_back(Instant::now());
        }
        if !burst.is_empty() {
            send.write_all(&burst).await.expect("write");
        }
    }
    lat
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = scangate_certs::Pki::open(dir.path());
        pki.init(&[]).expect("pki");
        let files = pki.issue_scanner("echo").expect("scanner");
        let server_tls = pki.server_config(ALPN).expect("server tls");
        let mut transport = TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(VarInt::from_u32(8))
            .stream_receive_window(VarInt::from_u32(64 * 1024))
            .receive_window(VarInt::from_u32(256 * 1024));
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(server_tls).expect("quic tls");
        let mut server_config = ServerConfig::with_crypto(Arc::new(crypto));
        server_config.transport_config(Arc::new(transport));
        let server = Endpoint::server(server_config, SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(serve(server));

        let (ca, cert, key) = (read(&pki.ca_cert_path()), read(&files.cert), read(&files.key));
        let tls = scangate_certs::client_config(&ca, Some((&cert, &key)), ALPN).expect("client tls");
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
        let mut client = Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).expect("client");
        client.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));

        let mut request = BytesMut::new();
        let scan = Request {
            id: 1,
            body: RequestBody::Scan(ScanRequest {
                token: "A".repeat(56),
                gate: "north-1".into(),
                event: None,
                scan_id: ScanId::from_random([7; 16]),
                scanner_time_ms: 1_700_000_000_000,
                timeout_ms: None,
                direction: None,
                check_only: false,
            }),
        };
        frame::encode(&scan, &mut request).expect("fits");
        let request = request.to_vec();

        let mut conns = Vec::new();
        for _ in 0..a.connections {
            conns.push(client.connect(addr, "localhost").expect("connect").await.expect("handshake"));
        }
        let started = Instant::now();
        let until = started + Duration::from_secs(a.seconds);
        let tasks: Vec<_> = conns
            .iter()
            .map(|c| tokio::spawn(drive(c.clone(), a.depth, until, request.clone())))
            .collect();
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.expect("driver"));
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort_unstable();
        let pct = |p: f64| {
            let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len().max(1)) - 1;
            lat.get(i).map_or(0.0, |v| f64::from(*v) / 1000.0)
        };
        let rate = lat.len() as f64 / secs;
        if a.json {
            println!(
                "{}",
                serde_json::json!({
                    "system": "quic-echo", "durable": false, "in_flight": a.connections * a.depth,
                    "scans_per_s": rate, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "frame_bytes": request.len(),
                })
            );
        } else {
            println!(
                "raw QUIC echo, {} connections x {} in flight, {}-byte frames: {:.0} round trips/s, p50 {:.2} ms, p99 {:.2} ms",
                a.connections, a.depth, request.len(), rate, pct(0.5), pct(0.99)
            );
        }
        for c in &conns {
            c.close(VarInt::from_u32(0), b"done");
        }
    });
}
