//! Full TLS 1.3 handshakes in memory: rustls connections pumped by hand.

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use scangate_certs::{Pki, client_config, device_name};
use std::fs;
use std::sync::Arc;

const ALPN: &[u8] = b"scangate-test/1";
/// A TLS 1.3 handshake with client auth takes 2 round trips; 10 is generous.
const MAX_ROUNDS: usize = 10;

fn setup() -> (tempfile::TempDir, Pki, Pki) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = Pki::open(&dir.path().join("ours"));
    ours.init(&["gate.example.com".into()]).expect("init");
    let theirs = Pki::open(&dir.path().join("theirs"));
    theirs.init(&[]).expect("init other");
    (dir, ours, theirs)
}

fn identity(pki: &Pki, name: &str) -> (String, String) {
    let files = pki.issue_scanner(name).expect("issue");
    (
        fs::read_to_string(files.cert).expect("cert"),
        fs::read_to_string(files.key).expect("key"),
    )
}

fn handshake(
    client: ClientConfig,
    server: ServerConfig,
    server_name: &str,
) -> Result<(ClientConnection, ServerConnection), String> {
    let name = ServerName::try_from(server_name.to_owned()).expect("server name");
    let mut c = ClientConnection::new(Arc::new(client), name).map_err(|e| e.to_string())?;
    let mut s = ServerConnection::new(Arc::new(server)).map_err(|e| e.to_string())?;
    for _ in 0..MAX_ROUNDS {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).expect("client write");
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).expect("server read");
            s.process_new_packets()
                .map_err(|e| format!("server: {e}"))?;
        }
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).expect("server write");
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).expect("client read");
            c.process_new_packets()
                .map_err(|e| format!("client: {e}"))?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok((c, s));
        }
    }
    Err("handshake did not finish".into())
}

/// How a handshake with `pki`'s gateway at `server_name` failed.
fn refusal(client: ClientConfig, pki: &Pki, server_name: &str) -> String {
    let server = pki.server_config(ALPN).expect("server");
    match handshake(client, server, server_name) {
        Ok(_) => panic!("the handshake succeeded"),
        Err(e) => e,
    }
}

/// The gateway refused the client's certificate (or the lack of one).
fn assert_certificate_refused(err: &str) {
    assert!(
        err.starts_with("server:") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
}

#[test]
fn a_scanner_with_a_good_certificate_gets_in() {
    let (_tmp, pki, _) = setup();
    let (cert, key) = identity(&pki, "north-1");
    let ca = pki.ca_pem().expect("ca");
    for server_name in ["localhost", "127.0.0.1", "gate.example.com"] {
        let client = client_config(&ca, Some((&cert, &key)), ALPN).expect("client config");
        let server = pki.server_config(ALPN).expect("server config");
        let (c, s) = handshake(client, server, server_name).expect("handshake");
        assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
        assert_eq!(s.alpn_protocol(), Some(ALPN));
        let peer = s.peer_certificates().expect("client certificate");
        assert_eq!(device_name(&peer[0]).as_deref(), Some("north-1"));
    }
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let (_tmp, pki, _) = setup();
    let ca = pki.ca_pem().expect("ca");
    let client = client_config(&ca, None, ALPN).expect("client config");
    let err = refusal(client, &pki, "localhost");
    assert_certificate_refused(&err);
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let (_tmp, pki, other) = setup();
    let (cert, key) = identity(&other, "north-1");
    // The client trusts our gateway, but its own certificate is from elsewhere.
    let client = client_config(&pki.ca_pem().expect("ca"), Some((&cert, &key)), ALPN)
        .expect("client config");
    let err = refusal(client, &pki, "localhost");
    assert_certificate_refused(&err);
}

#[test]
fn a_scanner_refuses_a_gateway_from_another_ca() {
    let (_tmp, pki, other) = setup();
    let (cert, key) = identity(&pki, "north-1");
    let client = client_config(&other.ca_pem().expect("ca"), Some((&cert, &key)), ALPN)
        .expect("client config");
    let err = refusal(client, &pki, "localhost");
    assert!(err.starts_with("client:"), "{err}");
}

#[test]
fn a_wrong_server_name_is_refused() {
    let (_tmp, pki, _) = setup();
    let (cert, key) = identity(&pki, "north-1");
    let client =
        client_config(&pki.ca_pem().expect("ca"), Some((&cert, &key)), ALPN).expect("client");
    let err = refusal(client, &pki, "evil.example.com");
    assert!(err.starts_with("client:"), "{err}");
}

#[test]
fn configs_refuse_early_data_and_garbage() {
    let (_tmp, pki, _) = setup();
    let server = pki.server_config(ALPN).expect("server");
    assert_eq!(server.max_early_data_size, 0);
    let ca = pki.ca_pem().expect("ca");
    let client = client_config(&ca, None, ALPN).expect("client");
    assert!(!client.enable_early_data);
    assert!(client_config("not a pem", None, ALPN).is_err());
    assert!(client_config(&ca, Some(("junk", "junk")), ALPN).is_err());
}
