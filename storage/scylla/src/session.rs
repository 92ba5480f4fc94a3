//! Opening the driver session: contact points, credentials, TLS (rustls,
//! trusting only the configured CA), connection timeout and the keyspace's
//! metadata for token-aware routing.

use super::config::{CONNECT_TIMEOUT, ScyllaConfig};
use scangate_storage::StoreError;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use std::path::Path;
use std::sync::Arc;

/// Opens a session to the configured nodes (no keyspace set yet).
pub async fn connect(config: &ScyllaConfig) -> Result<Session, StoreError> {
    let mut builder = SessionBuilder::new()
        .known_nodes(&config.nodes)
        .connection_timeout(CONNECT_TIMEOUT)
        .keyspaces_to_fetch([config.keyspace.clone()]);
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        builder = builder.user(user.clone(), password.0.clone());
    }
    if let Some(ca) = &config.tls_ca {
        builder = builder.tls_context(Some(Arc::new(tls_config(ca)?)));
    }
    builder.build().await.map_err(|e| {
        StoreError::unavailable(
            format!("cannot connect to ScyllaDB at {}", config.nodes.join(",")),
            e,
        )
    })
}

/// A rustls client configuration that trusts the CA in `ca_pem` only (ring
/// provider, like the rest of scangate). The driver checks each node's IP
/// address against its certificate.
pub fn tls_config(ca_pem: &Path) -> Result<rustls::ClientConfig, StoreError> {
    let fail =
        |what: String| StoreError::Config(format!("ScyllaDB TLS CA {}: {what}", ca_pem.display()));
    let pem = std::fs::read(ca_pem).map_err(|e| fail(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| fail(format!("not PEM: {e}")))?;
        roots.add(cert).map_err(|e| fail(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(fail("holds no certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
