//! The gateway's configuration: one struct per component, every field with
//! its default and the reason for it. The effective config is logged once at
//! start.

use scangate_actors::RegistryConfig;
use scangate_core::frame::{FRAME_MAX_BYTES, LENGTH_BYTES};
use scangate_storage::cache::CacheConfig;
use scangate_storage_embedded::EmbeddedConfig;
use scangate_storage_scylla::ScyllaConfig;
use std::net::SocketAddr;
use std::num::NonZeroU32;

pub use crate::operator::throttle::Rate;
use std::path::PathBuf;

/// Everything `scangate serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The data directory (store, PKI, keys, admin token).
    pub data_dir: PathBuf,
    /// UDP address of the QUIC listener. Default `0.0.0.0:4433`.
    pub quic_addr: SocketAddr,
    /// TCP address of the operator HTTP plane. Default `127.0.0.1:8080`:
    /// the admin API is not exposed beyond the host unless asked.
    pub http_addr: SocketAddr,
    /// Extra DNS names or IPs for the gateway certificate (first start only).
    pub gateway_names: Vec<String>,
    /// QUIC transport and admission limits.
    pub quic: QuicLimits,
    /// Operator HTTP plane connection limits.
    pub http: HttpLimits,
    /// Serve the HTTP plane over TLS with the gateway's certificate
    /// (`--http-tls`), so phones get the secure context the guard page's
    /// camera needs; plain HTTP stays allowed from loopback only. Default
    /// off: the plane listens on 127.0.0.1, itself a secure context.
    pub http_tls: bool,
    /// Per-device rate limit.
    pub rate: RateLimit,
    /// How long a shutdown waits for in-flight scans to be answered.
    pub drain_timeout_ms: u64,
    /// Per-pass actors and their bounds.
    pub registry: RegistryConfig,
    /// The embedded store (group commit), used unless `backend` says otherwise.
    pub store: EmbeddedConfig,
    /// Which store keeps passes and scans. Default [`StoreBackend::Embedded`].
    pub backend: StoreBackend,
    /// The hot cache of pass records.
    pub cache: CacheConfig,
    /// Offline snapshots: how many passes, versions, events and bytes.
    pub snapshots: SnapshotLimits,
    /// How long scan records, audit records and offline conflicts are
    /// kept, seconds: older ones are removed by the retention sweep
    /// ([`crate::operator::retention`]). Default 0: kept for ever, because
    /// removing records is irreversible and the right period is the venue's
    /// legal one (GDPR or DPDP purpose limits), not ours to guess.
    pub retention_s: u64,
    /// The public listener for phones (`--public-listen`): the holder
    /// pages and the guard page with its scan transport on an address of
    /// their own, nothing else. Default `None`: no second listener, and
    /// those routes are served on the operator plane only, as before.
    pub public: Option<PublicListener>,
}

/// Where phones reach the gateway when the operator plane stays private:
/// the holder pages (`/h/...`), the guard page (`/scanner`) and the web
/// scanners' transport (`POST /v1/scan`, `POST /v1/scanner/enroll`), and
/// `/healthz` (the guard page's offline indicator). Every other path is
/// 404 there ([`crate::edge::web::public`]).
#[derive(Debug, Clone)]
pub struct PublicListener {
    /// TCP address, e.g. `0.0.0.0:8443`.
    pub addr: SocketAddr,
    /// Its TLS identity. Always TLS: a phone's browser grants the guard
    /// page's camera only to an https page, and the holder link's secret
    /// travels in the URL. Plain HTTP is served to loopback clients only,
    /// as on the operator plane with `--http-tls`.
    pub tls: PublicTls,
    /// Its own connection bounds: the operator plane's limits, with a cap
    /// of its own, so phones cannot take the operators' connections and
    /// the other way round. Default [`HttpLimits::default`]: 4,096
    /// connections (a venue's guard phones and the holders showing their
    /// page at one time), 10 s to send a request head, 60 s idle.
    pub limits: HttpLimits,
}

/// The certificate the public listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicTls {
    /// The gateway's own certificate (`DATA/pki/gateway.pem`, signed by the
    /// data dir's CA, which each phone must then trust); its names are the
    /// `--name`s given at the first start.
    Gateway,
    /// A venue's own certificate chain and key (PEM files), e.g. one a
    /// public CA issued for the name phones use: nothing to install on them.
    Files {
        /// The certificate chain, leaf first.
        cert: PathBuf,
        /// Its private key.
        key: PathBuf,
    },
}

impl ServeConfig {
    /// The defaults for a data directory.
    pub fn new(data_dir: PathBuf) -> Self {
        ServeConfig {
            data_dir,
            quic_addr: SocketAddr::from(([0, 0, 0, 0], 4433)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            gateway_names: Vec::new(),
            quic: QuicLimits::default(),
            http: HttpLimits::default(),
            http_tls: false,
            rate: RateLimit::default(),
            drain_timeout_ms: DRAIN_TIMEOUT_MS,
            registry: RegistryConfig::default(),
            store: EmbeddedConfig::default(),
            backend: StoreBackend::Embedded,
            cache: CacheConfig::default(),
            snapshots: SnapshotLimits::default(),
            retention_s: 0,
            public: None,
        }
    }
}

/// Where a gateway keeps passes and scans. Either way the moka cache and
/// the per-pass actors sit in front.
#[derive(Debug, Clone)]
pub enum StoreBackend {
    /// The embedded store in the data directory: one gateway, nothing to
    /// install (the default).
    Embedded,
    /// A ScyllaDB cluster shared by several gateways.
    Scylla(Box<ScyllaConfig>),
}

/// Default drain deadline: long enough for a group commit under load (a few
/// ms) many times over, short enough for an orchestrator's stop timeout.
pub const DRAIN_TIMEOUT_MS: u64 = 10_000;

/// QUIC transport limits, all set explicitly (no library default decides one).
#[derive(Debug, Clone)]
pub struct QuicLimits {
    /// Most scanner connections at once. A connection takes one of these
    /// only once its handshake has finished with a named device certificate;
    /// more are refused. Default 10,000: a large venue has a few thousand
    /// scanners.
    pub max_connections: usize,
    /// Handshakes in progress at once, from peers whose address is already
    /// validated (a Retry answered); more are refused at once. Default 256:
    /// a handshake on a LAN takes a few ms, so 256 admits tens of thousands
    /// of scanners a second (a whole venue reconnecting after a restart),
    /// while stalled handshakes hold at most 256 small states for
    /// `handshake_timeout_ms` each.
    pub max_handshakes: usize,
    /// Handshakes in progress at once from one source (an IPv4 address, or an
    /// IPv6 /64). Default 32: a venue's scanners often share one NAT address,
    /// and 32 at a few ms each still admits thousands a second from it, while
    /// one address can hold at most 1/8 of `max_handshakes`.
    pub max_handshakes_per_source: usize,
    /// Bidirectional streams a scanner may have open at once. Default 8: the
    /// SDK uses one long-lived stream; a few more allow recovery.
    pub max_streams_per_connection: u32,
    /// Flow-control window per stream, bytes. Default 64 KiB: hundreds of
    /// pipelined scans, well above one frame.
    pub stream_window_bytes: u32,
    /// Flow-control window per connection, bytes. Default 256 KiB.
    pub connection_window_bytes: u32,
    /// A connection with no traffic for this long is closed. Default 30 s;
    /// scanners send keep-alives more often than that.
    pub idle_timeout_ms: u64,
    /// A handshake that takes longer is abandoned and its slot freed.
    /// Default 3 s: a LAN handshake takes milliseconds, and 3 s still covers
    /// a lost flight and its retransmission (QUIC's first PTO is ~1 s);
    /// shorter frees the slots a stalled (validated) peer holds sooner.
    pub handshake_timeout_ms: u64,
    /// Scans in flight per connection; beyond it a scan is answered `busy`
    /// at once. Default 512: deep pipelining for load tools, bounded memory.
    pub max_in_flight_per_connection: usize,
    /// Receive buffer asked of the kernel for the QUIC socket, bytes: what
    /// arrives while the gateway is busy for a moment waits there instead
    /// of being dropped. Default 8 MiB, ~250 ms of datagrams at 30k scans/s;
    /// the kernel's usual 208 KiB holds only ~10 ms at 10k scans/s, and
    /// every datagram dropped costs a scan a retransmission and its
    /// connection half its congestion window. The kernel grants at most
    /// `net.core.rmem_max` (docs/operations.md).
    pub udp_receive_buffer_bytes: usize,
}

/// Connection attempts quinn holds for the accept loop at once; beyond it,
/// quinn drops new ones unanswered. The loop answers each in microseconds
/// (a Retry, a refusal or a spawned handshake), so 4,096 covers a pause of
/// several hundred ms under a flood, at ~1.2 KB each (5 MiB).
pub const INCOMING_QUEUE: usize = 4_096;

/// Bytes quinn buffers per waiting connection attempt beyond its first
/// datagram (more Initial or 0-RTT packets; 0-RTT is never processed).
/// 16 KiB: a whole client first flight several times over.
pub const INCOMING_BUFFER_BYTES: u64 = 16 * 1024;

/// Bytes quinn buffers for all waiting connection attempts together:
/// [`INCOMING_QUEUE`] datagrams' worth, so a flood cannot make quinn buffer
/// more than a few MiB.
pub const INCOMING_BUFFER_TOTAL_BYTES: u64 = INCOMING_QUEUE as u64 * 1_500;

/// Bytes read from a stream at once. With the frame limit, this bounds a
/// stream's read buffer to `FRAME_MAX_BYTES + LENGTH_BYTES + READ_CHUNK_BYTES`.
pub const READ_CHUNK_BYTES: usize = 16 * 1024;

const _: () = assert!(
    FRAME_MAX_BYTES + LENGTH_BYTES < 64 * 1024,
    "a whole frame must fit the default stream window"
);

impl Default for QuicLimits {
    fn default() -> Self {
        QuicLimits {
            max_connections: 10_000,
            max_handshakes: 256,
            max_handshakes_per_source: 32,
            max_streams_per_connection: 8,
            stream_window_bytes: 64 * 1024,
            connection_window_bytes: 256 * 1024,
            idle_timeout_ms: 30_000,
            handshake_timeout_ms: 3_000,
            max_in_flight_per_connection: 512,
            udp_receive_buffer_bytes: 8 << 20,
        }
    }
}

/// Connection limits of the operator HTTP plane (admin API, dashboard,
/// `/metrics`, probes), all set explicitly: hyper's own defaults set no cap
/// and, without a timer, no timeout.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Most HTTP connections open at once; one more is answered 503 at once
    /// and closed. Default 4,096: operators, dashboards, Prometheus and
    /// probes need a few dozen; 4,096 leaves room for a burst of scripts
    /// and, at the ~64 KiB a connection may hold at worst
    /// ([`crate::operator::http::listener::READ_BUFFER_MAX_BYTES`] read buffer, write
    /// buffer, task), bounds the plane to ~256 MiB.
    pub max_connections: usize,
    /// A connection must deliver a complete request head within this long of
    /// being opened or of its previous answer, or it is closed: the bound on
    /// a slowloris and on an idle keep-alive connection. Default 10 s:
    /// clients on the admin network send a head in milliseconds, and they
    /// reconnect when an idle connection is closed.
    pub header_read_timeout_ms: u64,
    /// A connection on which no byte moves either way for this long is
    /// closed: a client that stops sending its body or stops reading its
    /// answer. Default 60 s: longer than the 30 s request timeout (checked
    /// at start), so a slow request is answered, or timed out with 503,
    /// before its connection counts as idle; and four times the dashboard
    /// stream's 15 s keep-alive comments.
    pub idle_timeout_ms: u64,
    /// Admin API calls per admin token (by name; the bootstrap token is one
    /// too); beyond it 429 with `Retry-After`. Default 2,000/s with a burst
    /// of 4,000: far above what people and their scripts need (the load
    /// tool's set-up revokes and re-reads passes one call each), while one
    /// leaked or runaway token cannot take the whole plane.
    pub admin_rate: Rate,
    /// Holder page requests (`/h/...`) per client address; beyond it 429.
    /// Default 2/s with a burst of 20: a holder opens the page and a dynamic
    /// code refreshes every few seconds, while guessing secrets from one
    /// address gets 2 tries a second (against 2^160 secrets). Phones behind
    /// one venue NAT share it: raise it there (docs/operations.md).
    pub holder_rate: Rate,
    /// Client addresses whose holder rate is tracked at once. Default 65,536
    /// (~100 bytes each); beyond it the least used are forgotten and come
    /// back with a full burst.
    pub holder_addresses_max: u64,
}

/// Keys (admin token names) an admin rate is kept for: every named token
/// and the bootstrap one.
pub const ADMIN_RATE_KEYS_MAX: u64 = crate::operator::tokens::TOKENS_MAX as u64 + 1;

/// A default rate (its numbers are never 0; a 0 would read as 1).
const fn rate(per_s: u32, burst: u32) -> Rate {
    const fn nz(n: u32) -> NonZeroU32 {
        match NonZeroU32::new(n) {
            Some(n) => n,
            None => NonZeroU32::MIN,
        }
    }
    Rate {
        per_s: nz(per_s),
        burst: nz(burst),
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 4_096,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            admin_rate: rate(2_000, 4_000),
            holder_rate: rate(2, 20),
            holder_addresses_max: 65_536,
        }
    }
}

/// A token bucket per scanning device (certificate name).
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Sustained scans per second per device. Default 100: a turnstile scans
    /// about one person a second; 100 leaves room for retries and bursts of
    /// fast handhelds while stopping a runaway or stolen device. Never 0 (a
    /// gateway that admits no scan is a configuration mistake).
    pub scans_per_s: NonZeroU32,
    /// Bucket size: scans a device may send at once. Default 200. Never 0.
    pub burst: NonZeroU32,
    /// Devices tracked at once (oldest forgotten first). Default 100,000.
    pub max_devices: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            // Evaluated at compile time: a zero here fails the build.
            scans_per_s: const { NonZeroU32::new(100).expect("non-zero") },
            burst: const { NonZeroU32::new(200).expect("non-zero") },
            max_devices: 100_000,
        }
    }
}

/// The offline snapshots the gateway builds and serves to scanners
/// ([`crate::edge::snapshots`]).
#[derive(Debug, Clone)]
pub struct SnapshotLimits {
    /// Most passes one event's snapshot holds; a larger event is refused
    /// (`snapshot_unavailable`, with a log line). Default 1,000,000: the
    /// size the format is measured for (19 MB per token key, built and
    /// signed in about 1 s), while the passes read to build it stay a few
    /// hundred MB at most.
    pub max_passes: usize,
    /// A built snapshot is served for this long before a request builds a
    /// newer one. Default 5 s: a gate opening with 200 scanners refreshing
    /// at once builds once, and a revocation still reaches a device within
    /// its 30 s refresh interval.
    pub reuse_ms: u64,
    /// Versions of one event kept to make deltas from. Default 8: built at
    /// most every `reuse_ms` (5 s), 8 versions span at least 40 s, more than
    /// one refresh interval (30 s), so a device refreshing on time gets a
    /// delta; one further behind gets the whole snapshot.
    pub versions_per_event: usize,
    /// Events whose snapshots are tracked at once (least recently asked
    /// forgotten first). Default 64: a gateway serves a handful of events
    /// at a time.
    pub max_events: u64,
    /// Bytes of signed snapshots and deltas held in memory, all events
    /// together, least recently used dropped first (a snapshot counts twice:
    /// its signed bytes and its decoded table, kept to make deltas).
    /// Default 512 MiB: a 1M-pass event's newest version and several older
    /// ones (about 40 MB each).
    pub held_bytes: u64,
    /// How long one snapshot request may wait for a build (the store's
    /// pages and the signing); past it the answer is `unavailable`.
    /// Default 30 s: a 1M-pass build takes about 2 s on a busy gateway.
    pub fetch_timeout_ms: u64,
}

impl Default for SnapshotLimits {
    fn default() -> Self {
        SnapshotLimits {
            max_passes: 1_000_000,
            reuse_ms: 5_000,
            versions_per_event: 8,
            max_events: 64,
            held_bytes: 512 << 20,
            fetch_timeout_ms: 30_000,
        }
    }
}
