//! TLS for the operator HTTP plane (`scangate serve --http-tls`): the
//! gateway's own certificate (`DATA/pki/gateway.pem`, signed by the data
//! dir's CA, the one QUIC serves) over HTTP/1.1, so that phones on the
//! venue's network load the guard page in a secure context (a browser
//! grants the camera only to https pages, or to http on 127.0.0.1). The
//! public listener (`--public-listen`) takes the same config, from the
//! gateway's certificate or a venue's own PEM files ([`from_files`]).
//!
//! On a TLS listener a connection whose first byte does not start a TLS
//! handshake is served as plain HTTP only from a loopback address (the CLI
//! and scripts on the gateway's host, which speak plain HTTP); from
//! anywhere else it is answered [`plain_refusal`] and closed.

use anyhow::Context;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// ALPN offered: HTTP/1.1, the only protocol the plane's server speaks.
const ALPN_HTTP1: &[u8] = b"http/1.1";
/// The first byte of a TLS record carrying a handshake (RFC 8446 §5.1,
/// `ContentType.handshake` = 22): what a TLS client sends first.
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The plane's TLS config: the gateway's certificate chain and key from
/// `pki` (see [`from_files`]).
pub fn server_config(pki: &scangate_certs::Pki) -> anyhow::Result<Arc<ServerConfig>> {
    from_files(&pki.gateway_cert_path(), &pki.gateway_key_path())
}

/// A TLS config from a PEM certificate chain (leaf first) and its key: the
/// gateway's own, or a venue's for the public listener. No client
/// certificate (operators authenticate with bearer tokens, guards' browsers
/// with their device credential), TLS 1.3 and 1.2 (older phones'
/// browsers), the ring provider named explicitly, no 0-RTT.
pub fn from_files(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificate {}", cert_path.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no PEM certificate",
        cert_path.display()
    );
    let key = PrivateKeyDer::from_pem_file(key_path)
        .with_context(|| format!("cannot read the private key {}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("the TLS versions of the HTTP plane")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "the certificate {} and the key {} do not make a TLS identity",
                cert_path.display(),
                key_path.display()
            )
        })?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    config.max_early_data_size = 0;
    Ok(Arc::new(config))
}

/// Whether a connection from `peer` that did not start a TLS handshake may
/// be served as plain HTTP: only from loopback (including an IPv4-mapped
/// loopback address), which nobody else on the network can read.
pub fn plain_allowed(peer: IpAddr) -> bool {
    peer.to_canonical().is_loopback()
}

/// What a plain-HTTP connection from beyond the host is answered on a TLS
/// listener before it is closed.
pub fn plain_refusal() -> String {
    let body = "this gateway's HTTP plane speaks HTTPS only (scangate serve --http-tls): \
                use https:// in the address\n";
    format!(
        "HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\
         content-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_skip_tls() {
        for ok in ["127.0.0.1", "127.8.9.1", "::1", "::ffff:127.0.0.1"] {
            assert!(plain_allowed(ok.parse().expect("ip")), "{ok}");
        }
        for refused in [
            "192.168.1.20",
            "10.0.0.1",
            "::ffff:10.0.0.1",
            "fe80::1",
            "0.0.0.0",
        ] {
            assert!(!plain_allowed(refused.parse().expect("ip")), "{refused}");
        }
        let answer = plain_refusal();
        let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 400 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }
}
