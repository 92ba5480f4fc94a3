//! rustls configurations for the gateway and for scanners, and reading a
//! scanner's name out of its certificate.
//!
//! Both sides speak TLS 1.3 only (QUIC requires it), use the `ring` provider
//! explicitly (no process-wide default is consulted), and refuse 0-RTT: a
//! replayed early-data scan could be counted by a gateway that has not yet
//! seen the first one, so nothing a scanner sends may travel as early data.

use crate::CertError;
use crate::name::validate_scanner_name;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore,
    ServerConfig, SignatureScheme,
};
use std::sync::Arc;

/// Most certificates read from one PEM (a chain or a CA bundle). Ours hold one.
pub const PEM_CERTS_MAX: usize = 8;

/// TLS versions offered and accepted: 1.3 only.
const VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// The crypto provider, named explicitly rather than taken from process state.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The gateway's TLS server config from PEM text: TLS 1.3 only, a client
/// certificate **required** and verified against `ca_pem`, no 0-RTT
/// (`max_early_data_size = 0`), ALPN set to `alpn`.
pub fn server_config_from_pem(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    alpn: &[u8],
) -> Result<ServerConfig, CertError> {
    let verifier = client_verifier(ca_pem)?;
    let chain = parse_certs(cert_pem, "the gateway certificate")?;
    let key = parse_key(key_pem, "the gateway key")?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(tls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(tls)?;
    config.alpn_protocols = vec![alpn.to_vec()];
    config.max_early_data_size = 0;
    Ok(config)
}

/// A scanner's TLS client config: TLS 1.3 only, the gateway verified against
/// `ca_pem`, early data off, ALPN set to `alpn`.
///
/// `identity` is the device's `(certificate PEM, key PEM)`. With `None` the
/// client presents no certificate; a scangate gateway refuses such clients
/// (tests use it to prove that).
pub fn client_config(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
    alpn: &[u8],
) -> Result<ClientConfig, CertError> {
    let roots = root_store(ca_pem)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(tls)?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert_pem, key_pem)) => {
            let chain = parse_certs(cert_pem, "the scanner certificate")?;
            let key = parse_key(key_pem, "the scanner key")?;
            builder.with_client_auth_cert(chain, key).map_err(tls)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    config.enable_early_data = false;
    Ok(config)
}

/// The verifier the gateway uses for scanner certificates: chains to `ca_pem`,
/// clientAuth usage, a certificate required (anonymous clients are refused),
/// and a device name in it ([`device_name`]): a certificate of this CA
/// without a valid CN (the gateway's own, or one issued by other tools) fails
/// the handshake instead of connecting under a shared placeholder identity.
pub fn client_verifier(ca_pem: &str) -> Result<Arc<dyn ClientCertVerifier>, CertError> {
    let chain =
        WebPkiClientVerifier::builder_with_provider(Arc::new(root_store(ca_pem)?), provider())
            .build()
            .map_err(tls)?;
    Ok(Arc::new(NamedDeviceVerifier { chain }))
}

/// [`WebPkiClientVerifier`], plus: the end-entity certificate names a device.
#[derive(Debug)]
struct NamedDeviceVerifier {
    chain: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for NamedDeviceVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .chain
            .verify_client_cert(end_entity, intermediates, now)?;
        match device_name(end_entity.as_ref()) {
            Some(_) => Ok(verified),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// The device name of a scanner certificate: its subject CN, when it is a
/// valid scanner name (see [`crate::validate_scanner_name`]). `None` for
/// anything else, so a strange CN never reaches a log line or a metric label.
///
/// Call it on a certificate the TLS layer already verified; this reads, it
/// does not verify.
pub fn device_name(peer_cert_der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(peer_cert_der).ok()?;
    let mut names = cert.subject().iter_common_name();
    let cn = names.next()?.as_str().ok()?;
    if names.next().is_some() {
        return None; // two CNs: ambiguous, refuse to pick one
    }
    validate_scanner_name(cn).ok()?;
    Some(cn.to_owned())
}

/// The certificates of a PEM text (at least one, at most [`PEM_CERTS_MAX`]).
pub(crate) fn parse_certs(
    pem: &str,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        if certs.len() == PEM_CERTS_MAX {
            return Err(CertError::parse(
                what,
                format_args!("more than {PEM_CERTS_MAX} certificates"),
            ));
        }
        certs.push(cert.map_err(|e| CertError::parse(what, e))?);
    }
    if certs.is_empty() {
        return Err(CertError::parse(what, "no PEM certificate found"));
    }
    Ok(certs)
}

fn parse_key(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| CertError::parse(what, e))
}

fn root_store(ca_pem: &str) -> Result<RootCertStore, CertError> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certs(ca_pem, "the CA certificate")? {
        roots
            .add(cert)
            .map_err(|e| CertError::parse("the CA certificate", e))?;
    }
    Ok(roots)
}

/// The raw subject public key of a DER certificate.
pub(crate) fn public_key_of(der: &[u8]) -> Result<Vec<u8>, CertError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CertError::parse("the CA certificate", e))?;
    Ok(cert.public_key().subject_public_key.data.to_vec())
}

fn tls(e: impl std::fmt::Display) -> CertError {
    CertError::Tls(e.to_string())
}
