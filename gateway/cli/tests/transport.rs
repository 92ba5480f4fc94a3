//! The QUIC edge: mutual TLS, no 0-RTT, and bad frames answered without
//! disturbing other scanners.

use crate::common;

use bytes::{BufMut, BytesMut};
use common::{Gateway, pem, quic_client, read_response, scan, tls_for};
use scangate_core::frame::{self, FRAME_MAX_BYTES};
use scangate_core::wire::{
    ALPN, ErrorCode, Request, RequestBody, Response, ResponseBody, ScanRequest,
};
use scangate_core::{Decision, Reason, ScanId};
use std::net::SocketAddr;
use std::time::Duration;

/// Opens a connection and proves it can be used (the server only rejects a
/// bad client certificate after the client's handshake completes).
async fn usable(endpoint: &quinn::Endpoint, addr: SocketAddr) -> bool {
    let Ok(connecting) = endpoint.connect(addr, "localhost") else {
        return false;
    };
    let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_secs(10), connecting).await else {
        return false;
    };
    let Ok((mut send, mut recv)) = conn.open_bi().await else {
        return false;
    };
    let mut buf = BytesMut::new();
    frame::encode(
        &Request {
            id: 1,
            body: RequestBody::Ping,
        },
        &mut buf,
    )
    .expect("fits");
    if send.write_all(&buf).await.is_err() {
        return false;
    }
    let mut head = [0u8; 4];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), recv.read_exact(&mut head)).await,
        Ok(Ok(()))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_scanners_of_our_ca_connect_and_0rtt_is_never_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);

    let good = quic_client(tls_for(dir.path(), Some("good")));
    assert!(usable(&good, gw.quic).await, "a scanner of our CA connects");

    let anonymous = quic_client(tls_for(dir.path(), None));
    assert!(
        !usable(&anonymous, gw.quic).await,
        "no certificate, no connection"
    );

    let stranger_dir = tempfile::tempdir().expect("tempdir");
    let stranger_pki = scangate_certs::Pki::open(stranger_dir.path());
    stranger_pki.init(&[]).expect("other ca");
    let files = stranger_pki.issue_scanner("stranger").expect("cert");
    let ca = pem(&scangate_certs::Pki::open(&dir.path().join("pki")).ca_cert_path());
    let (cert, key) = (pem(&files.cert), pem(&files.key));
    let tls = scangate_certs::client_config(&ca, Some((&cert, &key)), ALPN).expect("tls");
    assert!(
        !usable(&quic_client(tls), gw.quic).await,
        "a certificate of another CA is refused"
    );

    // A client that would send 0-RTT: after a first full handshake (which
    // gives it a session ticket) the gateway still offers no early data.
    let mut eager = tls_for(dir.path(), Some("eager"));
    eager.enable_early_data = true;
    let eager = quic_client(eager);
    assert!(usable(&eager, gw.quic).await);
    let connecting = eager.connect(gw.quic, "localhost").expect("connect");
    assert!(
        connecting.into_0rtt().is_err(),
        "the gateway never accepts 0-RTT data"
    );
    assert!(gw.sigterm().success());
}

fn error_code(r: &Response) -> ErrorCode {
    match &r.body {
        ResponseBody::Error(e) => e.code,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_errors_while_others_keep_scanning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_unlimited().await;
    let honest = gw.scanner("honest").await;
    assert!(
        scan(&honest, &pass.token, "A", None)
            .await
            .decision
            .is_granted()
    );

    let conn = common::raw_connection(dir.path(), gw.quic, "fuzzer").await;
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    let mut inbox = BytesMut::new();

    // Garbage inside a well-framed frame: malformed_frame, stream stays usable.
    let mut out = BytesMut::new();
    out.put_u32(6);
    out.put_u8(1);
    out.put_slice(b"\xc1junk");
    send.write_all(&out).await.expect("write");
    assert_eq!(
        error_code(&read_response(&mut recv, &mut inbox).await),
        ErrorCode::MalformedFrame
    );

    // A frame of another version: unsupported_version.
    let mut out = BytesMut::new();
    out.put_u32(2);
    out.put_slice(&[9, 0]);
    send.write_all(&out).await.expect("write");
    assert_eq!(
        error_code(&read_response(&mut recv, &mut inbox).await),
        ErrorCode::UnsupportedVersion
    );

    // A scanner that waits for nothing: invalid_request, naming the field.
    let frame_of = |id: u64, timeout_ms: Option<u32>| {
        let mut out = BytesMut::new();
        let req = Request {
            id,
            body: RequestBody::Scan(ScanRequest {
                token: pass.token.clone(),
                gate: "A".into(),
                event: None,
                scan_id: ScanId::new(format!("fuzz-{id}")).expect("id"),
                scanner_time_ms: 0,
                timeout_ms,
                direction: None,
                check_only: false,
            }),
        };
        frame::encode(&req, &mut out).expect("fits");
        out
    };
    send.write_all(&frame_of(76, Some(0))).await.expect("write");
    let r = read_response(&mut recv, &mut inbox).await;
    assert_eq!((r.id, error_code(&r)), (76, ErrorCode::InvalidRequest));
    assert!(
        matches!(&r.body, ResponseBody::Error(e) if e.message().contains("timeout_ms")),
        "{r:?}"
    );

    // Same stream still decides a real scan (an older scanner's: no timeout_ms).
    send.write_all(&frame_of(77, None)).await.expect("write");
    let r = read_response(&mut recv, &mut inbox).await;
    assert_eq!(r.id, 77);
    assert!(matches!(r.body, ResponseBody::Scan(ref s) if s.decision == Decision::Granted));

    // An oversized length prefix: frame_too_large, and that stream is closed.
    let mut out = BytesMut::new();
    out.put_u32((FRAME_MAX_BYTES * 100) as u32);
    out.put_slice(&[0u8; 64]);
    send.write_all(&out).await.expect("write");
    assert_eq!(
        error_code(&read_response(&mut recv, &mut inbox).await),
        ErrorCode::FrameTooLarge
    );

    // The connection itself lives on: a new stream works.
    let (mut send2, mut recv2) = conn.open_bi().await.expect("second stream");
    let mut out = BytesMut::new();
    frame::encode(
        &Request {
            id: 5,
            body: RequestBody::Ping,
        },
        &mut out,
    )
    .expect("fits");
    send2.write_all(&out).await.expect("write");
    assert_eq!(
        read_response(&mut recv2, &mut BytesMut::new()).await.body,
        ResponseBody::Pong
    );

    // And the honest scanner on its own connection was never disturbed.
    for _ in 0..20 {
        assert!(
            scan(&honest, &pass.token, "A", None)
                .await
                .decision
                .is_granted()
        );
    }
    assert!(gw.sigterm().success());
}

/// Many requests in one write, most answered at the edge (forged tokens,
/// pings: the reader gathers those replies and queues them a read at a
/// time), some decided by the pass's actor: every request gets exactly one
/// reply, under its own id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_answered_at_the_edge_gets_every_reply_once() {
    const REQUESTS: u64 = 400;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_unlimited().await;
    let mut forged = pass.token.clone();
    let last = forged.pop().expect("a token");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let scan_of = |id: u64, token: &str| {
        RequestBody::Scan(ScanRequest {
            token: token.to_owned(),
            gate: "A".into(),
            event: None,
            scan_id: ScanId::new(format!("burst-{id}")).expect("id"),
            scanner_time_ms: 0,
            timeout_ms: Some(5_000),
            direction: None,
            check_only: false,
        })
    };
    let mut out = BytesMut::new();
    for id in 1..=REQUESTS {
        let body = match id % 10 {
            0 => scan_of(id, &pass.token),
            5 => RequestBody::Ping,
            _ => scan_of(id, &forged),
        };
        frame::encode(&Request { id, body }, &mut out).expect("fits");
    }
    assert!(out.len() > 16 * 1024, "more than one read's worth");

    let conn = common::raw_connection(dir.path(), gw.quic, "burst").await;
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    send.write_all(&out).await.expect("write");
    let mut inbox = BytesMut::new();
    let mut replies = std::collections::HashMap::new();
    for _ in 0..REQUESTS {
        let r = read_response(&mut recv, &mut inbox).await;
        assert!(
            replies.insert(r.id, r.body).is_none(),
            "request {} answered twice",
            r.id
        );
    }
    for id in 1..=REQUESTS {
        match (id % 10, &replies[&id]) {
            (0, ResponseBody::Scan(s)) if s.decision == Decision::Granted => {}
            (5, ResponseBody::Pong) => {}
            (1..=4 | 6..=9, ResponseBody::Scan(s))
                if s.decision == Decision::Denied(Reason::Forged) => {}
            (_, other) => panic!("request {id} answered with {other:?}"),
        }
    }
    assert!(gw.sigterm().success());
}
