//! `scangate serve --http-tls`: the HTTP plane over TLS with the gateway's
//! certificate, against the real binary. A client trusting the data dir's
//! CA gets the dashboard and the guard page over https; one that does not
//! trust it gets no page; loopback clients (the CLI) may still speak plain
//! HTTP; and a client that opens a connection but never finishes its TLS
//! handshake is closed after the header-read timeout, as a slow plain
//! client is.

use crate::common;

use common::Gateway;
use common::https::connector;
use rustls::RootCertStore;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A client trusting `gw`'s CA (`DATA/pki/ca.pem`).
fn trusting(gw: &Gateway) -> TlsConnector {
    common::https::trusting(&gw.dir.join("pki/ca.pem"))
}

/// `GET path` over TLS to `localhost` (a name on the gateway certificate):
/// the status and the body.
async fn get(gw: &Gateway, tls: &TlsConnector, path: &str) -> std::io::Result<(u16, String)> {
    common::https::get(gw.http, "localhost", tls, path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plane_serves_https_to_clients_trusting_the_gateways_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--http-tls"]);
    let tls = trusting(&gw);
    let (status, dashboard) = get(&gw, &tls, "/").await.expect("https /");
    assert_eq!(status, 200, "{dashboard}");
    assert!(
        dashboard.contains("<title>scangate · live</title>"),
        "{dashboard}"
    );
    let (status, page) = get(&gw, &tls, "/scanner").await.expect("https /scanner");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("guard scanner") && page.contains("camera=(self)"),
        "{page}"
    );
    let (status, decoder) = get(&gw, &tls, "/scanner/jsQR.js").await.expect("jsQR");
    assert!(status == 200 && decoder.contains("jsQR"), "{status}");

    // A client that does not trust the gateway's CA gets nothing.
    let refused = get(&gw, &connector(RootCertStore::empty()), "/").await;
    assert!(refused.is_err(), "an untrusted certificate was accepted");

    // The running gateway says it serves TLS; the CLI on this host still
    // reaches it over plain HTTP on loopback.
    let endpoints = std::fs::read_to_string(dir.path().join("gateway.json")).expect("endpoints");
    assert!(endpoints.contains("\"http_tls\": true"), "{endpoints}");
    let (status, _) = gw.probe("/readyz").await;
    assert_eq!(status, 200);
    let link = common::guard::enroll_link(&gw, "gate-phone", "main");
    assert!(
        link.starts_with(&format!("https://{}/scanner#enroll=sge_", gw.http)),
        "{link}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_handshake_is_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let timeout = Duration::from_millis(500);
    let gw = Gateway::start(
        dir.path(),
        &["--http-tls", "--http-header-timeout-ms", "500"],
    );
    // One sends nothing; one sends the first byte of a TLS record and stops.
    let mut silent = TcpStream::connect(gw.http).await.expect("connect");
    let mut half = TcpStream::connect(gw.http).await.expect("connect");
    half.write_all(&[0x16]).await.expect("one byte");
    let opened = Instant::now();
    for stream in [&mut silent, &mut half] {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf))
            .await
            .expect("the gateway closes it within its timeout");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    assert!(opened.elapsed() >= timeout - Duration::from_millis(100));
    // Counted as the connection task ends, which may be just after the
    // client saw the close: wait for it, with a deadline.
    let counted = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = gw.metrics().await;
        let timeouts = common::metric(
            &metrics,
            "scangate_http_timeouts_total",
            &[("cause", "tls_handshake")],
        );
        if timeouts == 2.0 {
            break;
        }
        assert!(timeouts < 2.0 && Instant::now() < counted, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The plane still serves the next client.
    let (status, _) = get(&gw, &trusting(&gw), "/healthz").await.expect("https");
    assert_eq!(status, 200);
}
