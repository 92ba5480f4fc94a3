//! The ScyllaDB backend's configuration: where the cluster is, how to log
//! in, replication of a new keyspace, consistency, and every deadline and
//! bound, each with its default and the reason for it.

use scangate_storage::StoreError;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Deadline of one lightweight transaction (claim, grant, admin change,
/// annul). A LWT is three round trips to a quorum in ScyllaDB (prepare with
/// the read piggybacked, accept, learn): a few milliseconds on a healthy
/// cluster, tens under contention on one pass.
/// 500 ms means the cluster is struggling; the outcome is then unknown and is
/// resolved by a serial read, never by a retry.
pub const LWT_TIMEOUT: Duration = Duration::from_millis(500);

/// Deadline of a serial (Paxos) read: the resolution of an unknown outcome,
/// or the reason a conditional write did not apply. One Paxos round.
pub const SERIAL_READ_TIMEOUT: Duration = Duration::from_millis(300);

/// Deadline of a hot-path read (load a pass, find a scan) at the read
/// consistency: one round trip to a quorum.
pub const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// Deadline of a plain write after a LWT applied (the event log line, the
/// purge index): one round trip to a quorum, idempotent.
pub const WRITE_TIMEOUT: Duration = Duration::from_millis(300);

/// Deadline of one page request of an operator query (up to
/// [`QUERY_PAGE_ROWS`] rows).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Rows one driver page of an operator query holds: 1 000 rows of at most a
/// few hundred bytes each stay well under a megabyte per response.
pub const QUERY_PAGE_ROWS: i32 = 1_000;

/// How long opening a connection to a node may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long opening the whole session (every known node, the cluster
/// metadata) and running the migrations may take at start.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a scan id is remembered (the retry window), as the TTL of its
/// claim and of its row: 48 hours, like the embedded store's retention.
pub const SCAN_ID_RETENTION: Duration = Duration::from_secs(48 * 3600);

/// Writes (scans, admin changes, annuls, inserts) in flight at once before
/// more are answered `Busy`: each holds a few KB and a driver stream; 4 096
/// is about a second of the design burst at a few milliseconds per LWT.
pub const MAX_IN_FLIGHT_WRITES: usize = 4_096;

/// Most passes one `insert_passes` takes: each is its own LWT, so 10 000 (the
/// admin API's issue and import limit) take about a second at
/// [`INSERT_CONCURRENCY`].
pub const INSERT_MAX_PASSES: usize = 10_000;

/// LWT inserts of one `insert_passes` in flight at once.
pub const INSERT_CONCURRENCY: usize = 64;

/// Most scan ids one `purge_scan_ids` forgets: each is two LWT deletes, so
/// 256 keep a call under a second. Expiry (the TTL) does the routine work.
pub const PURGE_MAX_PER_CALL: usize = 256;

/// Passes loaded at once while a page of an event's passes is assembled.
pub const LOAD_CONCURRENCY: usize = 32;

/// How the keyspace is replicated when the gateway creates it (an existing
/// keyspace is left as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// `NetworkTopologyStrategy` with one replication factor for every
    /// datacenter: spelled `3`.
    Uniform(u8),
    /// `SimpleStrategy` (one datacenter, no rack awareness): spelled
    /// `SimpleStrategy:3`.
    Simple(u8),
    /// `NetworkTopologyStrategy` per datacenter: spelled `dc1:3,dc2:3`.
    PerDatacenter(Vec<(String, u8)>),
}

/// The largest replication factor accepted: more replicas than this only
/// slow every quorum down.
pub const REPLICATION_FACTOR_MAX: u8 = 9;

/// Longest datacenter name accepted.
const DATACENTER_MAX_CHARS: usize = 64;

impl Replication {
    /// Parses `3`, `SimpleStrategy:3` or `dc1:3,dc2:3`.
    pub fn parse(text: &str) -> Result<Replication, String> {
        let factor = |s: &str| -> Result<u8, String> {
            match s.trim().parse::<u8>() {
                Ok(n) if (1..=REPLICATION_FACTOR_MAX).contains(&n) => Ok(n),
                _ => Err(format!(
                    "replication factor {s:?} is not a number from 1 to {REPLICATION_FACTOR_MAX}"
                )),
            }
        };
        let text = text.trim();
        if !text.contains(':') {
            return factor(text).map(Replication::Uniform);
        }
        if let Some(rf) = text.strip_prefix("SimpleStrategy:") {
            return factor(rf).map(Replication::Simple);
        }
        let mut dcs: Vec<(String, u8)> = Vec::new();
        for part in text.split(',') {
            let (dc, rf) = part
                .split_once(':')
                .ok_or_else(|| format!("{part:?} is not DATACENTER:FACTOR"))?;
            let dc = dc.trim();
            let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
            if dc.is_empty() || dc.len() > DATACENTER_MAX_CHARS || !dc.chars().all(ok) {
                return Err(format!(
                    "datacenter name {dc:?} must be 1 to {DATACENTER_MAX_CHARS} of A-Z a-z 0-9 _ - ."
                ));
            }
            if dcs.iter().any(|(d, _)| d == dc) {
                return Err(format!("datacenter {dc:?} is named twice"));
            }
            dcs.push((dc.to_owned(), factor(rf)?));
        }
        Ok(Replication::PerDatacenter(dcs))
    }

    /// The CQL map of `CREATE KEYSPACE ... WITH replication = ...`.
    pub fn cql(&self) -> String {
        match self {
            Replication::Uniform(rf) => {
                format!("{{'class': 'NetworkTopologyStrategy', 'replication_factor': {rf}}}")
            }
            Replication::Simple(rf) => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}")
            }
            Replication::PerDatacenter(dcs) => {
                let mut out = String::from("{'class': 'NetworkTopologyStrategy'");
                for (dc, rf) in dcs {
                    out.push_str(&format!(", '{dc}': {rf}"));
                }
                out.push('}');
                out
            }
        }
    }
}

/// Consistency of the learn (commit) phase of a LWT and of plain reads and
/// writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteConsistency {
    /// A quorum of the local datacenter's replicas (the default).
    LocalQuorum,
    /// A quorum of all replicas, across datacenters.
    Quorum,
}

/// Consistency of the Paxos phases of a LWT and of serial reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialChoice {
    /// Linearizable within the local datacenter (the default). With
    /// gateways in several datacenters, use [`SerialChoice::Serial`]: two
    /// datacenters deciding one pass each with `LOCAL_SERIAL` could both grant.
    LocalSerial,
    /// Linearizable across all datacenters.
    Serial,
}

impl std::str::FromStr for WriteConsistency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local_quorum" | "local-quorum" => Ok(WriteConsistency::LocalQuorum),
            "quorum" => Ok(WriteConsistency::Quorum),
            _ => Err(format!("consistency {s:?} is not local_quorum or quorum")),
        }
    }
}

impl std::str::FromStr for SerialChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local_serial" | "local-serial" => Ok(SerialChoice::LocalSerial),
            "serial" => Ok(SerialChoice::Serial),
            _ => Err(format!(
                "serial consistency {s:?} is not local_serial or serial"
            )),
        }
    }
}

/// A password: never printed, not even in the effective configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Configuration of [`ScyllaStore`](super::ScyllaStore). Every field has a
/// named default; the constants of this module say why that number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScyllaConfig {
    /// Contact points, `HOST:PORT`; the driver discovers the other nodes.
    pub nodes: Vec<String>,
    /// The keyspace, created on first start. Default `scangate`.
    pub keyspace: String,
    /// User for password authentication; `None`: no authentication.
    pub user: Option<String>,
    /// Its password.
    pub password: Option<Password>,
    /// PEM file of the CA that signed the nodes' certificates; `None`: no
    /// TLS. The driver checks the node's IP address against the certificate.
    pub tls_ca: Option<PathBuf>,
    /// Replication of the keyspace when the gateway creates it. Default
    /// [`Replication::Uniform`] 3.
    pub replication: Replication,
    /// The gateway's own datacenter: requests go to its nodes first and the
    /// `LOCAL_*` consistencies count its replicas. `None`: no preference.
    pub local_datacenter: Option<String>,
    /// Learn-phase, read and write consistency. Default `LOCAL_QUORUM`.
    pub consistency: WriteConsistency,
    /// Paxos consistency of LWTs and serial reads. Default `LOCAL_SERIAL`.
    pub serial_consistency: SerialChoice,
    /// Deadline of one LWT, ms. Default [`LWT_TIMEOUT`] (500).
    pub lwt_timeout_ms: u64,
    /// Deadline of one serial read, ms. Default [`SERIAL_READ_TIMEOUT`] (300).
    pub serial_read_timeout_ms: u64,
    /// Deadline of one hot-path read, ms. Default [`READ_TIMEOUT`] (500).
    pub read_timeout_ms: u64,
    /// Deadline of one plain write, ms. Default [`WRITE_TIMEOUT`] (300).
    pub write_timeout_ms: u64,
    /// Deadline of one operator query page request, ms. Default [`QUERY_TIMEOUT`] (2 s).
    pub query_timeout_ms: u64,
    /// Scan-id retention (claim and row TTL), seconds. Default
    /// [`SCAN_ID_RETENTION`] (48 h).
    pub scan_id_retention_s: u32,
    /// Writes in flight before `Busy`. Default [`MAX_IN_FLIGHT_WRITES`] (4 096).
    pub max_in_flight_writes: usize,
    /// Most passes per `insert_passes`. Default [`INSERT_MAX_PASSES`] (10 000).
    pub insert_max_passes: usize,
}

impl Default for ScyllaConfig {
    fn default() -> Self {
        ScyllaConfig {
            nodes: Vec::new(),
            keyspace: "scangate".into(),
            user: None,
            password: None,
            tls_ca: None,
            replication: Replication::Uniform(3),
            local_datacenter: None,
            consistency: WriteConsistency::LocalQuorum,
            serial_consistency: SerialChoice::LocalSerial,
            lwt_timeout_ms: LWT_TIMEOUT.as_millis() as u64,
            serial_read_timeout_ms: SERIAL_READ_TIMEOUT.as_millis() as u64,
            read_timeout_ms: READ_TIMEOUT.as_millis() as u64,
            write_timeout_ms: WRITE_TIMEOUT.as_millis() as u64,
            query_timeout_ms: QUERY_TIMEOUT.as_millis() as u64,
            scan_id_retention_s: SCAN_ID_RETENTION.as_secs() as u32,
            max_in_flight_writes: MAX_IN_FLIGHT_WRITES,
            insert_max_passes: INSERT_MAX_PASSES,
        }
    }
}

/// Longest keyspace name ScyllaDB accepts.
const KEYSPACE_MAX_CHARS: usize = 48;

impl ScyllaConfig {
    /// Checks that the configuration is usable.
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |m: String| Err(StoreError::Config(format!("scylla: {m}")));
        if self.nodes.is_empty() {
            return bad("no contact node given (HOST:PORT,...)".into());
        }
        let ks = &self.keyspace;
        let starts_with_letter = ks.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if !starts_with_letter
            || ks.len() > KEYSPACE_MAX_CHARS
            || !ks
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return bad(format!(
                "keyspace {ks:?} must be 1 to {KEYSPACE_MAX_CHARS} of a-z 0-9 _, starting with a letter"
            ));
        }
        if self.password.is_some() != self.user.is_some() {
            return bad("a user needs a password and a password needs a user".into());
        }
        let nonzero = [
            ("lwt_timeout_ms", self.lwt_timeout_ms),
            ("serial_read_timeout_ms", self.serial_read_timeout_ms),
            ("read_timeout_ms", self.read_timeout_ms),
            ("write_timeout_ms", self.write_timeout_ms),
            ("query_timeout_ms", self.query_timeout_ms),
            ("scan_id_retention_s", u64::from(self.scan_id_retention_s)),
            ("max_in_flight_writes", self.max_in_flight_writes as u64),
            ("insert_max_passes", self.insert_max_passes as u64),
        ];
        for (name, value) in nonzero {
            if value == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        if i32::try_from(self.scan_id_retention_s).is_err() {
            return bad("scan_id_retention_s does not fit a CQL TTL".into());
        }
        Ok(())
    }

    /// The longest one `commit_scan` can take: claim LWT, claim read, grant
    /// LWT, resolution reads, log writes. A caller's store deadline must be
    /// longer, or it gives up while the store could still resolve.
    pub fn commit_deadline(&self) -> Duration {
        Duration::from_millis(
            2 * self.lwt_timeout_ms + 2 * self.serial_read_timeout_ms + self.write_timeout_ms,
        )
    }

    /// The scan-id TTL as CQL wants it.
    pub(crate) fn retention_ttl(&self) -> i32 {
        i32::try_from(self.scan_id_retention_s).unwrap_or(i32::MAX)
    }
}
