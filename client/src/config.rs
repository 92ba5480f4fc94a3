//! What a scanner needs to reach a gateway, with documented defaults.

use crate::ClientError;
use quinn::{IdleTimeout, TransportConfig, VarInt};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Default [`ScannerConfig::request_timeout_ms`]: a gateway answers in
/// milliseconds; two seconds covers a congested venue Wi-Fi hop and a store
/// hiccup while a person at the gate still perceives it as one wait.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 2_000;
/// Default [`ScannerConfig::attempts`]: the first try and two retries.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Default [`ScannerConfig::max_in_flight`]: a turnstile bank or a load-test
/// worker keeps at most this many requests outstanding on one connection.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
/// Default [`ScannerConfig::idle_timeout_ms`]: a connection silent this long
/// (keep-alives included) is considered dead.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 10_000;
/// Default [`ScannerConfig::keep_alive_ms`]: well under the idle timeout and
/// under common NAT UDP mapping lifetimes (~30 s).
pub const DEFAULT_KEEP_ALIVE_MS: u64 = 3_000;
/// Default [`ScannerConfig::connect_timeout_ms`].
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;

/// Most attempts per scan: more would only hide an outage from the operator.
pub const ATTEMPTS_MAX: u32 = 10;
/// Largest allowed `max_in_flight` (also the size of the request map and of
/// the writer queue).
pub const MAX_IN_FLIGHT_LIMIT: usize = 4_096;
/// Largest allowed per-request, connect and idle timeouts, in milliseconds.
pub const TIMEOUT_MAX_MS: u64 = 600_000;

/// Most gateway addresses (`server_addr` and `other_addrs` together): a
/// venue runs a handful of gateways on one cluster, and a reconnect gives
/// each address one handshake try, so this bounds one round of tries.
pub const GATEWAY_ADDRS_MAX: usize = 16;

/// Receive window for the one stream (bytes). Replies are ~200 bytes, so 256
/// in flight fit in 64 KiB; 1 MiB leaves room without letting a peer make us
/// buffer megabytes.
const STREAM_RECEIVE_WINDOW_BYTES: u32 = 1024 * 1024;
/// Receive window for the whole connection (bytes): one stream carries everything.
const CONNECTION_RECEIVE_WINDOW_BYTES: u32 = 2 * 1024 * 1024;
/// Send window (bytes): requests are ~150 bytes, 4096 in flight fit in 1 MiB.
const SEND_WINDOW_BYTES: u64 = 1024 * 1024;

/// How a [`crate::Scanner`] reaches its gateway.
///
/// Build one with [`ScannerConfig::new`] or [`ScannerConfig::from_files`]
/// (which fill every tuning field with its default) and adjust fields.
#[derive(Clone)]
pub struct ScannerConfig {
    /// The gateway's QUIC address (UDP); the first one tried.
    pub server_addr: SocketAddr,
    /// Further gateways (of the same CA, with certificates valid for
    /// `server_name`, sharing one store), tried round robin after
    /// `server_addr` when a connection cannot be made or dies. Default:
    /// none. At most [`GATEWAY_ADDRS_MAX`] addresses in all, of one family
    /// (all IPv4 or all IPv6), no address twice.
    pub other_addrs: Vec<SocketAddr>,
    /// The name the gateway's certificate must be valid for (a DNS name or
    /// an IP address). Default: the IP of `server_addr`, which the dev
    /// gateway certificate covers for loopback.
    pub server_name: String,
    /// The CA certificate (PEM) the gateway's certificate must chain to.
    pub ca_pem: String,
    /// This device's certificate (PEM), issued by the gateway's CA.
    pub cert_pem: String,
    /// This device's private key (PEM). Never logged.
    pub key_pem: String,
    /// Deadline of one attempt, in milliseconds (default
    /// [`DEFAULT_REQUEST_TIMEOUT_MS`]). A reconnect counts against it.
    pub request_timeout_ms: u64,
    /// Attempts per scan, the first included (default [`DEFAULT_ATTEMPTS`]).
    /// Retries reuse the scan id, so the gateway never counts one scan twice.
    pub attempts: u32,
    /// Most requests outstanding at once (default [`DEFAULT_MAX_IN_FLIGHT`]).
    /// Beyond it callers wait for a free slot, up to `request_timeout_ms`.
    pub max_in_flight: usize,
    /// QUIC idle timeout, in milliseconds (default [`DEFAULT_IDLE_TIMEOUT_MS`]).
    pub idle_timeout_ms: u64,
    /// QUIC keep-alive interval, in milliseconds (default
    /// [`DEFAULT_KEEP_ALIVE_MS`]); must be below `idle_timeout_ms`.
    pub keep_alive_ms: u64,
    /// Deadline of the first connection in [`crate::Scanner::connect`], in
    /// milliseconds (default [`DEFAULT_CONNECT_TIMEOUT_MS`]).
    pub connect_timeout_ms: u64,
    /// The local address the scanner's UDP socket is bound to (port chosen
    /// by the system). Default `None`: the unspecified address of the
    /// gateways' family, so the system picks the route's source address. A
    /// device with several interfaces, or a test giving each scanner its own
    /// loopback address (the gateway counts handshakes per source address),
    /// sets it; it must be of the gateways' family.
    pub local_ip: Option<IpAddr>,
}

impl fmt::Debug for ScannerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScannerConfig")
            .field("server_addr", &self.server_addr)
            .field("other_addrs", &self.other_addrs)
            .field("server_name", &self.server_name)
            .field("ca_pem", &format_args!("<{} bytes>", self.ca_pem.len()))
            .field("cert_pem", &format_args!("<{} bytes>", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("attempts", &self.attempts)
            .field("max_in_flight", &self.max_in_flight)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("keep_alive_ms", &self.keep_alive_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("local_ip", &self.local_ip)
            .finish()
    }
}

impl ScannerConfig {
    /// A config with every tuning field at its default.
    pub fn new(
        server_addr: SocketAddr,
        ca_pem: impl Into<String>,
        cert_pem: impl Into<String>,
        key_pem: impl Into<String>,
    ) -> Self {
        ScannerConfig {
            server_addr,
            other_addrs: Vec::new(),
            server_name: server_addr.ip().to_string(),
            ca_pem: ca_pem.into(),
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            attempts: DEFAULT_ATTEMPTS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            keep_alive_ms: DEFAULT_KEEP_ALIVE_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            local_ip: None,
        }
    }

    /// A config reading the CA certificate, the device certificate and its
    /// key from PEM files (for example `ca.pem`, `scanners/NAME.pem`,
    /// `scanners/NAME.key` of a `scangate-certs` PKI directory).
    pub fn from_files(
        server_addr: SocketAddr,
        ca_path: &Path,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Self, ClientError> {
        Ok(Self::new(
            server_addr,
            read_pem(ca_path)?,
            read_pem(cert_path)?,
            read_pem(key_path)?,
        ))
    }

    /// The same config with `addrs` as [`Self::other_addrs`].
    pub fn with_other_addrs(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.other_addrs = addrs.into_iter().collect();
        self
    }

    /// Every gateway address, in the order the first connection tries them:
    /// `server_addr`, then `other_addrs`.
    pub fn gateway_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        std::iter::once(self.server_addr).chain(self.other_addrs.iter().copied())
    }

    /// Deadline of one attempt.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Checks the limits; [`crate::Scanner::connect`] calls this.
    pub fn validate(&self) -> Result<(), ClientError> {
        let bad = |msg: String| Err(ClientError::Config(msg));
        if !(1..=ATTEMPTS_MAX).contains(&self.attempts) {
            return bad(format!(
                "attempts must be 1 to {ATTEMPTS_MAX}, not {}",
                self.attempts
            ));
        }
        if !(1..=MAX_IN_FLIGHT_LIMIT).contains(&self.max_in_flight) {
            return bad(format!(
                "max_in_flight must be 1 to {MAX_IN_FLIGHT_LIMIT}, not {}",
                self.max_in_flight
            ));
        }
        for (name, ms) in [
            ("request_timeout_ms", self.request_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("keep_alive_ms", self.keep_alive_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
        ] {
            if !(1..=TIMEOUT_MAX_MS).contains(&ms) {
                return bad(format!("{name} must be 1 to {TIMEOUT_MAX_MS}, not {ms}"));
            }
        }
        if self.keep_alive_ms >= self.idle_timeout_ms {
            return bad(format!(
                "keep_alive_ms ({}) must be below idle_timeout_ms ({}) or the connection idles out",
                self.keep_alive_ms, self.idle_timeout_ms
            ));
        }
        self.validate_addrs()?;
        if scangate_certs::validate_gateway_name(&self.server_name).is_err() {
            return bad(format!(
                "server_name {:?} is neither a DNS name nor an IP address",
                self.server_name
            ));
        }
        Ok(())
    }

    /// At most [`GATEWAY_ADDRS_MAX`], one family, no duplicates.
    fn validate_addrs(&self) -> Result<(), ClientError> {
        let count = 1 + self.other_addrs.len();
        if count > GATEWAY_ADDRS_MAX {
            return Err(ClientError::Config(format!(
                "{count} gateway addresses; at most {GATEWAY_ADDRS_MAX}"
            )));
        }
        let ipv6 = self.server_addr.is_ipv6();
        if let Some(ip) = self.local_ip
            && ip.is_ipv6() != ipv6
        {
            return Err(ClientError::Config(format!(
                "local_ip {ip} is not of the same family as the gateway address {}",
                self.server_addr
            )));
        }
        for (i, addr) in self.other_addrs.iter().enumerate() {
            if addr.is_ipv6() != ipv6 {
                return Err(ClientError::Config(format!(
                    "gateway address {addr} is not of the same family as {}; use all IPv4 or all IPv6",
                    self.server_addr
                )));
            }
            if *addr == self.server_addr || self.other_addrs[..i].contains(addr) {
                return Err(ClientError::Config(format!(
                    "gateway address {addr} is listed twice"
                )));
            }
        }
        Ok(())
    }

    /// The QUIC transport limits, all set explicitly.
    pub(crate) fn transport(&self) -> Result<TransportConfig, ClientError> {
        let idle = IdleTimeout::try_from(Duration::from_millis(self.idle_timeout_ms))
            .map_err(|_| ClientError::Config("idle_timeout_ms is too large".into()))?;
        let mut t = TransportConfig::default();
        t.max_idle_timeout(Some(idle))
            .keep_alive_interval(Some(Duration::from_millis(self.keep_alive_ms)))
            // The gateway never opens streams towards a scanner.
            .max_concurrent_bidi_streams(VarInt::from_u32(0))
            .max_concurrent_uni_streams(VarInt::from_u32(0))
            .stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW_BYTES))
            .receive_window(VarInt::from_u32(CONNECTION_RECEIVE_WINDOW_BYTES))
            .send_window(SEND_WINDOW_BYTES)
            .datagram_receive_buffer_size(None);
        Ok(t)
    }

    /// The quinn client config: TLS from `scangate-certs` (TLS 1.3, no 0-RTT,
    /// the scangate ALPN) and [`Self::transport`].
    pub(crate) fn quinn_client(&self) -> Result<quinn::ClientConfig, ClientError> {
        let tls = scangate_certs::client_config(
            &self.ca_pem,
            Some((&self.cert_pem, &self.key_pem)),
            scangate_core::wire::ALPN,
        )
        .map_err(|e| ClientError::Config(e.to_string()))?;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| ClientError::Config(format!("TLS config unusable for QUIC: {e}")))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(Arc::new(self.transport()?));
        Ok(config)
    }
}

fn read_pem(path: &Path) -> Result<String, ClientError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ClientError::Config(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > scangate_certs::PEM_MAX_BYTES {
        return Err(ClientError::Config(format!(
            "{} is {} bytes, too large for a PEM file",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|e| ClientError::Config(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ScannerConfig {
        ScannerConfig::new(
            "127.0.0.1:4433".parse().expect("addr"),
            "ca",
            "cert",
            "secret key",
        )
    }

    #[test]
    fn defaults_are_valid_and_the_key_is_never_printed() {
        let c = config();
        assert_eq!(c.server_name, "127.0.0.1");
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn limits_are_checked() {
        let mut c = config();
        c.attempts = 0;
        assert!(c.validate().is_err());
        let mut c = config();
        c.max_in_flight = MAX_IN_FLIGHT_LIMIT + 1;
        assert!(c.validate().is_err());
        let mut c = config();
        c.keep_alive_ms = c.idle_timeout_ms;
        assert!(c.validate().is_err());
        let mut c = config();
        c.server_name = "not a name".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn gateway_addresses_are_bounded_of_one_family_and_unique() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
        let c = config().with_other_addrs([addr("127.0.0.1:4434"), addr("127.0.0.2:4433")]);
        assert!(c.validate().is_ok());
        let order: Vec<SocketAddr> = c.gateway_addrs().collect();
        assert_eq!(
            order,
            [
                addr("127.0.0.1:4433"),
                addr("127.0.0.1:4434"),
                addr("127.0.0.2:4433")
            ]
        );
        let bad = [
            vec![addr("127.0.0.1:4433")],
            vec![addr("127.0.0.1:4434"), addr("127.0.0.1:4434")],
            vec![addr("[::1]:4433")],
            (1..=GATEWAY_ADDRS_MAX as u16)
                .map(|p| SocketAddr::from(([127, 0, 0, 2], p)))
                .collect(),
        ];
        for others in bad {
            let c = config().with_other_addrs(others.clone());
            assert!(
                matches!(c.validate(), Err(ClientError::Config(_))),
                "{others:?}"
            );
        }
    }

    #[test]
    fn a_local_ip_must_be_of_the_gateways_family() {
        let mut c = config();
        c.local_ip = Some("127.0.0.2".parse().expect("ip"));
        assert!(c.validate().is_ok());
        c.local_ip = Some("::1".parse().expect("ip"));
        let err = c
            .validate()
            .expect_err("an IPv6 source for an IPv4 gateway");
        assert!(err.to_string().contains("local_ip ::1"), "{err}");
    }
}
