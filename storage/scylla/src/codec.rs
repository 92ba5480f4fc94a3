//! Values as they are stored: records (msgpack blobs), pass state columns,
//! time buckets, clustering keys and the cursors handed to callers.

use scangate_core::pass::{Presence, ZoneName};
use scangate_core::{PassId, Status};
use scangate_storage::query::CURSOR_MAX_BYTES;
use scangate_storage::{Cursor, PassState, StoreError};

pub use scangate_storage::record::{decode, encode};

/// Sections of a pass's partition (the first clustering column of
/// `passes`). Section 0 holds the retry window, one row per scan id with a
/// TTL, written and read only by point statements (see `statements`); it
/// comes first, so reads of the logs never step over its expired rows.
pub mod section {
    /// The pass's scan log, by time, kept.
    pub const SCAN_LOG: i8 = 1;
    /// The pass's admin changes, by time, kept.
    pub const AUDIT: i8 = 2;
}

/// Width of an event's scan-log partition in time. Sized for the design
/// burst: 5 000 scans/s of one event fill 50 000 rows (~12 MB) in 10 s,
/// within ScyllaDB's comfortable partition size; a quieter event just has
/// fewer rows per bucket. Part of the schema: changing it strands old rows.
pub const EVENT_BUCKET_MS: i64 = 10_000;

/// Width of a partition of the global audit log: admin changes are rare (a
/// bulk revoke of 100 000 passes in an hour is ~30 MB).
pub const AUDIT_BUCKET_MS: i64 = 3_600_000;

/// Width of a partition of the scan-id purge index (one day).
pub const SCAN_ID_DAY_MS: i64 = 86_400_000;

/// Kinds of rows of the `buckets` index.
pub mod bucket_kind {
    /// An event's scan-log buckets (scope: the event).
    pub const EVENT_SCANS: &str = "event_scans";
    /// The global audit log's buckets (scope: empty).
    pub const AUDIT: &str = "audit";
    /// The purge index's days (scope: empty), with the retention TTL.
    pub const SCAN_ID_DAYS: &str = "scan_id_days";
    /// The conflicts index's buckets (scope: empty).
    pub const CONFLICTS: &str = "conflicts";
}

/// Passes of one event are spread over this many partitions of
/// `passes_by_event` by the first four bits of their (random) id, so an
/// event of a million passes has ~60 000 per partition, still in id order
/// when the shards are read in turn.
pub const EVENT_SHARDS: i8 = 16;

/// The shard of `passes_by_event` a pass id lives in.
pub fn event_shard(id: PassId) -> i8 {
    i8::try_from(id.0[0] >> 4).unwrap_or(0)
}

/// The bucket of a time for a bucket width.
pub fn bucket(at_ms: i64, width_ms: i64) -> i64 {
    at_ms.div_euclid(width_ms)
}

/// The stored `use_limit` of a pass: its `max_uses`, or one more than any
/// `u32` for an unlimited pass, so `use_limit >= uses_after` holds for any
/// count and one LWT condition covers both kinds.
pub fn use_limit(max_uses: Option<u32>) -> i64 {
    max_uses.map_or(i64::from(u32::MAX) + 1, i64::from)
}

/// `max_uses` back from a stored `use_limit`.
pub fn max_uses(id: PassId, use_limit: i64) -> Result<Option<u32>, StoreError> {
    if use_limit > i64::from(u32::MAX) {
        return Ok(None);
    }
    u32::try_from(use_limit)
        .map(Some)
        .map_err(|_| corrupt(id, "use limit"))
}

/// The stored spelling of a status.
pub fn status_text(status: Status) -> &'static str {
    status.as_str()
}

/// A status back from its stored spelling.
pub fn parse_status(id: PassId, text: &str) -> Result<Status, StoreError> {
    text.parse().map_err(|_| corrupt(id, "status"))
}

/// The columns that hold a pass's state, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateColumns {
    /// `uses`.
    pub uses: i64,
    /// `status`.
    pub status: String,
    /// `use_limit`.
    pub use_limit: i64,
    /// `presence` (null: outside).
    pub presence: Option<String>,
}

/// The stored `presence` of a pass: null outside (as every pass written
/// before presence existed), `left`, or `inside:` and the zone.
pub fn presence_text(presence: Presence) -> Option<String> {
    match presence {
        Presence::Outside => None,
        Presence::Left => Some("left".to_owned()),
        Presence::Inside(zone) => Some(format!("inside:{zone}")),
    }
}

fn parse_presence(id: PassId, text: Option<&str>) -> Result<Presence, StoreError> {
    match text {
        None => Ok(Presence::Outside),
        Some("left") => Ok(Presence::Left),
        Some(t) => t
            .strip_prefix("inside:")
            .and_then(|zone| ZoneName::new(zone).ok())
            .map(Presence::Inside)
            .ok_or_else(|| corrupt(id, "presence")),
    }
}

/// The ScyllaDB encoding of a [`PassState`]: its static columns.
pub trait FromColumns: Sized {
    /// Decodes the state columns of pass `id`.
    fn from_columns(id: PassId, c: &StateColumns) -> Result<Self, StoreError>;
}

impl FromColumns for PassState {
    fn from_columns(id: PassId, c: &StateColumns) -> Result<PassState, StoreError> {
        Ok(PassState {
            uses: u32::try_from(c.uses).map_err(|_| corrupt(id, "use count"))?,
            status: parse_status(id, &c.status)?,
            max_uses: max_uses(id, c.use_limit)?,
            presence: parse_presence(id, c.presence.as_deref())?,
        })
    }
}

fn corrupt(id: PassId, what: &str) -> StoreError {
    StoreError::Corrupt(format!("state of pass {id}: bad {what}"))
}

/// A pass id from a stored blob.
pub fn pass_id(bytes: &[u8]) -> Result<PassId, StoreError> {
    bytes
        .try_into()
        .map(PassId)
        .map_err(|_| StoreError::Corrupt(format!("pass id of {} bytes", bytes.len())))
}

/// A position in a log ordered by `(at_ms, tag)`: the inclusive lower bound
/// a page starts at. A tag is a scan id or an audit record's random tag.
/// Ordered like the clustering key: by time, then by the tag's bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogKey {
    /// Time, Unix ms.
    pub at_ms: i64,
    /// Tie breaker within one millisecond.
    pub tag: String,
}

impl LogKey {
    /// The first key at or after `at_ms`.
    pub fn at(at_ms: i64) -> LogKey {
        LogKey {
            at_ms,
            tag: String::new(),
        }
    }

    /// The smallest key after `(at_ms, tag)`: the tag with a NUL appended
    /// (no tag holds one, and text sorts by its UTF-8 bytes).
    pub fn after(at_ms: i64, tag: &str) -> LogKey {
        LogKey {
            at_ms,
            tag: format!("{tag}\0"),
        }
    }
}

/// Which log a cursor belongs to: its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CursorKind {
    /// A scan log (of a pass or of an event).
    Scans = b'S',
    /// An audit log (of a pass or global).
    Audit = b'A',
    /// The conflicts index.
    Conflicts = b'C',
}

/// The cursor of a log position: kind ‖ at_ms (8 bytes BE) ‖ tag.
pub fn log_cursor(kind: CursorKind, key: &LogKey) -> Cursor {
    let mut out = Vec::with_capacity(9 + key.tag.len());
    out.push(kind as u8);
    out.extend_from_slice(&key.at_ms.to_be_bytes());
    out.extend_from_slice(key.tag.as_bytes());
    Cursor(out)
}

/// A log position back from a cursor of `kind`; anything else is
/// [`StoreError::BadCursor`].
pub fn parse_log_cursor(kind: CursorKind, cursor: &Cursor) -> Result<LogKey, StoreError> {
    let b = &cursor.0;
    if b.len() < 9 || b.len() > CURSOR_MAX_BYTES || b[0] != kind as u8 {
        return Err(StoreError::BadCursor);
    }
    let at: [u8; 8] = b[1..9].try_into().map_err(|_| StoreError::BadCursor)?;
    let tag = std::str::from_utf8(&b[9..]).map_err(|_| StoreError::BadCursor)?;
    Ok(LogKey {
        at_ms: i64::from_be_bytes(at),
        tag: tag.to_owned(),
    })
}

/// The pass id a pass cursor holds (the last id of the previous page).
pub fn parse_pass_cursor(cursor: &Cursor) -> Result<PassId, StoreError> {
    <[u8; 16]>::try_from(cursor.0.as_slice())
        .map(PassId)
        .map_err(|_| StoreError::BadCursor)
}
