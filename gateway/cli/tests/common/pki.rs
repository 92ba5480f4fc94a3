//! Device certificates that `scangate certs` would never issue (no device
//! name, a validity window of our choosing), signed by a data dir's own CA
//! with rcgen, and what the QUIC edge does with a client presenting one.

use super::{pem, quic_client};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::client::{Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use scangate_core::frame;
use scangate_core::wire::{ALPN, Request, RequestBody};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How long a refused client waits for the gateway to end its connection,
/// and an admitted one for its first answer.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// A calendar day, `(year, month, day)`, midnight UTC.
pub type Day = (i32, u8, u8);

/// A device certificate's fields as `Pki::issue_scanner` sets them (CN =
/// `name`, clientAuth, no CA, digital signature), valid from the start of
/// `from` to the start of `until`.
pub fn device_params(name: &str, from: Day, until: Day) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
    params
}

/// `params` signed by the CA of the data dir `dir`, with a fresh key:
/// `(certificate PEM, key PEM)`.
pub fn ca_signed(dir: &Path, params: &CertificateParams) -> (String, String) {
    let pki = scangate_certs::Pki::open(&dir.join("pki"));
    let ca_key = KeyPair::from_pem(&pem(&pki.ca_key_path())).expect("ca key");
    let issuer = Issuer::from_ca_cert_pem(&pem(&pki.ca_cert_path()), ca_key).expect("ca");
    signed(params, &issuer)
}

/// `params` signed by a CA made for the occasion, named `ca_name`, that no
/// gateway trusts: `(certificate PEM, key PEM)`.
pub fn stranger_signed(ca_name: &str, params: &CertificateParams) -> (String, String) {
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, ca_name);
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("ca key");
    let issuer = Issuer::new(ca, key);
    signed(params, &issuer)
}

fn signed(params: &CertificateParams, issuer: &Issuer<'_, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("sign");
    (cert.pem(), key.serialize_pem())
}

/// Scanner TLS trusting the CA of `dir`, presenting `identity`.
pub fn tls_with(dir: &Path, identity: Option<(&str, &str)>) -> rustls::ClientConfig {
    let ca = pem(&scangate_certs::Pki::open(&dir.join("pki")).ca_cert_path());
    scangate_certs::client_config(&ca, identity, ALPN).expect("client tls")
}

/// What the gateway did with a connection attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The handshake finished and a `Ping` was answered.
    Answered,
    /// The gateway's TLS ended the handshake with this alert.
    TlsAlert(u8),
    /// The gateway closed the connection with this application code.
    Closed(u64),
    /// Anything else (a timeout, a local error): the test says which.
    Other(String),
}

impl Admission {
    fn of(e: &quinn::ConnectionError) -> Admission {
        match e {
            quinn::ConnectionError::ConnectionClosed(c) => {
                let code = u64::from(c.error_code);
                // A TLS alert travels as CRYPTO_ERROR: 0x100 + the alert.
                match u8::try_from(code.wrapping_sub(0x100)) {
                    Ok(alert) if code >= 0x100 => Admission::TlsAlert(alert),
                    _ => Admission::Other(format!("transport close {c:?}")),
                }
            }
            quinn::ConnectionError::ApplicationClosed(c) => {
                Admission::Closed(c.error_code.into_inner())
            }
            other => Admission::Other(other.to_string()),
        }
    }
}

/// Connects to `addr` with `tls` and sends a `Ping`: answered, or how the
/// gateway refused. The client may finish its side of the handshake before
/// the gateway has checked its certificate, so a refusal can come as the
/// handshake's failure or as the close of a connection that seemed open.
pub async fn admission(addr: SocketAddr, tls: rustls::ClientConfig) -> Admission {
    let endpoint = quic_client(tls);
    let outcome = tokio::time::timeout(ANSWER_DEADLINE, async {
        let conn = endpoint
            .connect(addr, "localhost")
            .map_err(|e| Admission::Other(e.to_string()))?
            .await
            .map_err(|e| Admission::of(&e))?;
        let ping = async {
            let (mut send, mut recv) = conn.open_bi().await?;
            let mut out = bytes::BytesMut::new();
            let req = Request {
                id: 1,
                body: RequestBody::Ping,
            };
            frame::encode(&req, &mut out).expect("a ping fits");
            send.write_all(&out).await?;
            let mut head = [0u8; 4];
            recv.read_exact(&mut head).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        };
        tokio::select! {
            answered = ping => match answered {
                Ok(()) => Ok(Admission::Answered),
                // The stream failed because the connection did: say why.
                Err(_) => Err(Admission::of(&conn.closed().await)),
            },
            closed = conn.closed() => Err(Admission::of(&closed)),
        }
    })
    .await;
    endpoint.close(0u32.into(), b"done");
    match outcome {
        Ok(Ok(a) | Err(a)) => a,
        Err(_) => Admission::Other(format!("no answer within {ANSWER_DEADLINE:?}")),
    }
}

/// A client's TLS session store that keeps, beside the tickets, the early
/// data each TLS 1.3 ticket allowed: a ticket allowing none is how a
/// server refuses 0-RTT before any is sent.
#[derive(Debug)]
pub struct TicketLog {
    inner: rustls::client::ClientSessionMemoryCache,
    early_data_allowed: std::sync::Mutex<Vec<u32>>,
}

/// Tickets a [`TicketLog`] holds per server (rustls' own default is 256).
const TICKETS_MAX: usize = 16;

impl TicketLog {
    /// `tls` with a fresh log as its session store; the log, to read.
    pub fn install(tls: &mut rustls::ClientConfig) -> std::sync::Arc<TicketLog> {
        let log = std::sync::Arc::new(TicketLog {
            inner: rustls::client::ClientSessionMemoryCache::new(TICKETS_MAX),
            early_data_allowed: std::sync::Mutex::default(),
        });
        tls.resumption = rustls::client::Resumption::store(log.clone());
        log
    }

    /// The early data (bytes) each ticket received so far allowed.
    pub fn early_data_allowed(&self) -> Vec<u32> {
        self.early_data_allowed.lock().expect("lock").clone()
    }
}

impl rustls::client::ClientSessionStore for TicketLog {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(name, group)
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(name)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.inner.set_tls12_session(name, value)
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(name)
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.inner.remove_tls12_session(name)
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        let allowed = value.max_early_data_size();
        self.early_data_allowed.lock().expect("lock").push(allowed);
        self.inner.insert_tls13_ticket(name, value)
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(name)
    }
}
