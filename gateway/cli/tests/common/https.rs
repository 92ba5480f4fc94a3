//! A minimal HTTPS client for the tests of the gateway's TLS listeners
//! (`http_tls.rs`, `public_listener.rs`): rustls trusting the roots the
//! test names, one `GET` per connection, read to its end.

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A TLS client trusting the CAs in `roots` (none: trusting nobody).
pub fn connector(roots: RootCertStore) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// A client trusting the certificates in the PEM file `ca` (a gateway's
/// `DATA/pki/ca.pem`, or a venue's certificate).
pub fn trusting(ca: &Path) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("a PEM file") {
        roots.add(cert.expect("a certificate")).expect("a root");
    }
    connector(roots)
}

/// `GET path` over TLS to `addr`, naming the server `name` (SNI and the
/// certificate check): the status and the whole answer.
pub async fn get(
    addr: SocketAddr,
    name: &str,
    tls: &TlsConnector,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let tcp = TcpStream::connect(addr).await?;
    let server = ServerName::try_from(name.to_owned()).expect("name");
    let mut stream = tls.connect(server, tcp).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {name}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    Ok((status, text))
}
