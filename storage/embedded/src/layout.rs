//! The on-disk layout: keyspaces, key encodings, value codecs and the format
//! version checked at open.
//!
//! | keyspace | key | value |
//! | --- | --- | --- |
//! | `meta` | `format` / `seq` / `logged` / `states` / `store_id` | u32 BE format version / u64 BE next sequence number / u64 BE last redo record these tables hold (but for pass states) / u64 BE last redo record whose pass states they hold / 16 random bytes, which `redo/STORE` names too (`log_owner`; absent before the first open of a build that writes it, which older builds ignore) |
//! | `passes` | pass id (16 B) | msgpack [`Pass`] with `uses` = 0 (volatile, kept in `pass_state`) |
//! | `pass_state` | pass id | [`PassState`], 10 B (+ presence when not outside): the only thing a grant reads and writes |
//! | `scans` | pass id ‖ at_ms ‖ seq (32 B) | msgpack [`ScanRecord`] |
//! | `scan_ids` | scan id (UTF-8) | the `scans` key of its record (32 B) |
//! | `scan_id_times` | at_ms ‖ scan id | empty: the purge index, oldest first |
//! | `audit` | pass id ‖ at_ms ‖ seq (32 B) | msgpack [`AuditRecord`] |
//! | `passes_by_event` | event len (1 B) ‖ event ‖ pass id | empty: list an event's passes |
//! | `event_scans` | event len ‖ event ‖ at_ms ‖ seq | the `scans` key: list an event's scans by time |
//! | `audit_times` | at_ms ‖ seq (16 B) | the `audit` key: the global audit log by time |
//! | `conflicts` | at_ms ‖ seq (16 B) | msgpack [`Conflict`](scangate_core::scan::Conflict): flagged offline scans by time recorded |
//! | `conflict_tags` | scan id ‖ `/` ‖ kind | the `conflicts` key: one row per scan id and kind, whenever it is written again |
//! | `holder_links` | pass id (16 B) | [`HolderLink`](scangate_storage::HolderLink), 40 B: the SHA-256 of the link's secret ‖ created_ms |
//! | `pass_keys` | pass id | the pass's personal-data key (32 B), or empty once erased: kept apart, small, compacted after an erase |
//! | `personal` | pass id | the pass's display text and card fields, sealed under its key ([`scangate_storage::personal`]) |
//! | `events` | event name (UTF-8) | msgpack [`EventDefinition`](scangate_core::event::EventDefinition) |
//!
//! `at_ms` is an i64 with its sign bit flipped, big-endian, so byte order is
//! time order; `seq` is a store-wide u64 counter that keeps equal times apart.

use super::config::{ISSUED_MEMTABLE_BYTES, SCAN_MEMTABLE_BYTES};
use scangate_storage::{PassState, StoreError};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use scangate_core::offline::messages::ConflictKind;
use scangate_core::pass::{Presence, ZoneName};
use scangate_core::{AuditRecord, Pass, PassId, ScanId, ScanRecord, Status};
/// Records are encoded as every backend does (compact msgpack; the format
/// version guards their shape).
pub use scangate_storage::record::{decode, encode, merge_pass};
use std::time::{Duration, Instant};

/// The on-disk format this build reads and writes. Bump it on any change to
/// the table above, to the encoded types or to the redo log; `open` refuses
/// other versions, except that it upgrades `FORMAT_UPGRADABLE` (2) in place.
/// 3: writes go through the redo log (`redo/`), which a format-2 build would
/// ignore, losing acknowledged grants; the tables are as in 2.
/// 4: the `conflicts` keyspace (redo ops may name it, which a format-3 build
/// cannot replay); scan records may carry offline facts.
/// 5: the `conflict_tags` keyspace (redo ops may name it, which a format-4
/// build cannot replay).
/// 6: the `holder_links`, `pass_keys`, `personal` and `events` keyspaces
/// (redo ops may name them, which a format-5 build cannot replay), pass
/// states longer than 10 bytes (a presence other than outside), which a
/// format-5 build takes for corrupt; pass records are written without
/// their personal fields, which are sealed under a per-pass key (a
/// format-5 build would show passes without them).
/// 7: pass states written to the tables apart from the rest, with their own
/// mark (`meta`/`states`, see `states`): a format-6 build would replay a
/// crashed directory only above `meta`/`logged` and lose the pass states of
/// the records between the two marks (uses counted again).
pub const FORMAT_VERSION: u32 = 7;

/// The older formats `open` upgrades by rewriting the version: 2 (no redo
/// log yet), 3 (no `conflicts` keyspace: fjall creates it empty at open),
/// 4 (no `conflict_tags`: created empty; the conflicts a format-4 build
/// kept have no tag, so a pass-less one written again after the upgrade
/// gets a second row), 5 (no `holder_links`, `pass_keys`, `personal` or
/// `events`: created empty, so no pass has a holder link yet; the passes
/// it issued keep their personal fields in the clear in their records,
/// readable as before, until erased; every stored state is 10 bytes, read
/// as outside), 6 (no `meta`/`states`: its `meta`/`logged` covers its pass
/// states, and the first start writes the mark from it). Their tables and
/// records read unchanged.
pub const FORMAT_UPGRADABLE: [u32; 5] = [2, 3, 4, 5, 6];

const META_FORMAT: &[u8] = b"format";
const META_SEQ: &[u8] = b"seq";
const META_LOGGED: &[u8] = b"logged";
const META_STATES: &[u8] = b"states";

/// How often [`Tables::flush_memtables`] looks whether fjall's flushes are done.
const FLUSH_POLL: Duration = Duration::from_millis(5);

/// Length of a `scans` / `audit` key.
pub const LOG_KEY_LEN: usize = 32;

/// Handles to every keyspace of one database. Cheap to clone.
#[derive(Clone)]
pub struct Tables {
    pub db: Database,
    pub meta: Keyspace,
    pub passes: Keyspace,
    pub pass_state: Keyspace,
    pub scans: Keyspace,
    pub scan_ids: Keyspace,
    pub scan_id_times: Keyspace,
    pub audit: Keyspace,
    pub passes_by_event: Keyspace,
    pub event_scans: Keyspace,
    pub audit_times: Keyspace,
    pub conflicts: Keyspace,
    pub conflict_tags: Keyspace,
    pub holder_links: Keyspace,
    pub pass_keys: Keyspace,
    pub personal: Keyspace,
    pub events: Keyspace,
}

impl Tables {
    /// Opens (or creates) the keyspaces and checks the format version. A new
    /// database gets the current version written durably.
    pub fn open(db: Database) -> Result<Tables, StoreError> {
        // `memtable_bytes` is the keyspace's largest memtable when it is
        // created (`None`: fjall's 64 MiB); fjall keeps the size a keyspace
        // was created with, so an existing store keeps its sizes.
        let ks = |name: &str, memtable_bytes: Option<u64>| {
            db.keyspace(name, || {
                let options = KeyspaceCreateOptions::default();
                match memtable_bytes {
                    Some(bytes) => options.max_memtable_size(bytes),
                    None => options,
                }
            })
            .map_err(backend)
        };
        // Written by every grant: `SCAN_MEMTABLE_BYTES`, what a crash replays.
        let scanned = Some(SCAN_MEMTABLE_BYTES);
        // Written when passes are issued, then only read: `ISSUED_MEMTABLE_BYTES`.
        let issued = Some(ISSUED_MEMTABLE_BYTES);
        let tables = Tables {
            meta: ks("meta", None)?,
            passes: ks("passes", issued)?,
            pass_state: ks("pass_state", scanned)?,
            scans: ks("scans", scanned)?,
            scan_ids: ks("scan_ids", scanned)?,
            scan_id_times: ks("scan_id_times", scanned)?,
            audit: ks("audit", None)?,
            passes_by_event: ks("passes_by_event", issued)?,
            event_scans: ks("event_scans", scanned)?,
            audit_times: ks("audit_times", None)?,
            // Created empty when an older data directory is opened.
            conflicts: ks("conflicts", None)?,
            conflict_tags: ks("conflict_tags", None)?,
            holder_links: ks("holder_links", None)?,
            pass_keys: ks("pass_keys", issued)?,
            personal: ks("personal", issued)?,
            events: ks("events", None)?,
            db,
        };
        match tables.meta.get(META_FORMAT).map_err(backend)? {
            Some(v) => {
                let found = u32::from_be_bytes(fixed(&v, "format version")?);
                if FORMAT_UPGRADABLE.contains(&found) {
                    tables.write_format()?;
                    tracing::info!(from = found, to = FORMAT_VERSION, "store format upgraded");
                } else if found != FORMAT_VERSION {
                    return Err(StoreError::Config(format!(
                        "the data directory holds store format {found}, this build reads format {FORMAT_VERSION}"
                    )));
                }
            }
            None => {
                if !tables.passes.is_empty().map_err(backend)? {
                    return Err(StoreError::Config(
                        "the data directory holds passes but no store format version".into(),
                    ));
                }
                tables.write_format()?;
            }
        }
        Ok(tables)
    }

    /// Records [`FORMAT_VERSION`] durably.
    pub(crate) fn write_format(&self) -> Result<(), StoreError> {
        self.meta
            .insert(META_FORMAT, FORMAT_VERSION.to_be_bytes())
            .map_err(backend)?;
        self.db.persist(PersistMode::SyncAll).map_err(backend)
    }

    /// Every keyspace, `meta` first.
    pub(crate) fn all(&self) -> [&Keyspace; 16] {
        [
            &self.meta,
            &self.passes,
            &self.pass_state,
            &self.scans,
            &self.scan_ids,
            &self.scan_id_times,
            &self.audit,
            &self.passes_by_event,
            &self.event_scans,
            &self.audit_times,
            &self.conflicts,
            &self.conflict_tags,
            &self.holder_links,
            &self.pass_keys,
            &self.personal,
            &self.events,
        ]
    }

    /// Has fjall write every memtable out to table files and waits until its
    /// flush threads are done, at most `limit`; returns whether they were.
    /// For a clean close, once nothing writes any more: fjall drops the
    /// flushes still queued when the database closes, and the next open
    /// replays their journal instead. fjall tells no one when a flush ends,
    /// so this polls its count of sealed memtables. The two calls are fjall's
    /// hidden API (pinned by `Cargo.lock`; the store's tests exercise them).
    pub fn flush_memtables(&self, limit: Duration) -> Result<bool, StoreError> {
        let deadline = Instant::now() + limit;
        for keyspace in self.all() {
            keyspace.rotate_memtable().map_err(backend)?;
        }
        while self.all().iter().any(|k| k.sealed_memtable_count() > 0) {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(FLUSH_POLL);
        }
        Ok(true)
    }

    /// The sequence number of the last redo record these tables hold (0:
    /// none yet, or a store written before records were numbered across
    /// restarts).
    pub fn load_logged(&self) -> Result<u64, StoreError> {
        match self.meta.get(META_LOGGED).map_err(backend)? {
            Some(v) => Ok(u64::from_be_bytes(fixed(&v, "redo record number")?)),
            None => Ok(0),
        }
    }

    /// The last redo record whose pass states the tables hold
    /// (`meta`/`states`, see `states`); `None` in a store written before
    /// pass states were written out apart: there `logged` covers them.
    pub fn load_states(&self) -> Result<Option<u64>, StoreError> {
        match self.meta.get(META_STATES).map_err(backend)? {
            Some(v) => Ok(Some(u64::from_be_bytes(fixed(&v, "redo record number")?))),
            None => Ok(None),
        }
    }

    /// The next free sequence number, as last committed.
    pub fn load_seq(&self) -> Result<u64, StoreError> {
        match self.meta.get(META_SEQ).map_err(backend)? {
            Some(v) => Ok(u64::from_be_bytes(fixed(&v, "sequence number")?)),
            None => Ok(0),
        }
    }
}

/// The `meta` key under which the sequence number of the last redo record
/// the tables hold is kept (written with every folded batch).
pub fn logged_key() -> &'static [u8] {
    META_LOGGED
}

/// The `meta` key under which the last redo record whose pass states the
/// tables hold is kept (written with every write-out of pass states), its
/// value encoded as [`encode_logged`]'s.
pub fn states_key() -> &'static [u8] {
    META_STATES
}

/// The value of [`logged_key`].
pub fn encode_logged(batch: u64) -> [u8; 8] {
    batch.to_be_bytes()
}

/// The `meta` key under which the next sequence number is kept.
pub fn seq_key() -> &'static [u8] {
    META_SEQ
}

/// The embedded encoding of a [`PassState`]: 10 bytes, then presence when
/// it is not outside (so a pass of an event without a definition keeps the
/// 10 bytes of format 5): the only thing a grant reads and writes.
pub trait StateBytes: Sized {
    /// `uses` BE ‖ status ‖ has-limit ‖ limit BE, then nothing (outside),
    /// `1` (left) or `2` ‖ zone length ‖ zone (inside).
    fn encode(&self) -> Vec<u8>;
    /// Decodes a stored state; anything malformed is corruption.
    fn decode(id: PassId, bytes: &[u8]) -> Result<Self, StoreError>;
}

/// Bytes of a state before its presence.
const STATE_FIXED: usize = 10;

impl StateBytes for PassState {
    fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; STATE_FIXED];
        out[..4].copy_from_slice(&self.uses.to_be_bytes());
        out[4] = match self.status {
            Status::Active => 0,
            Status::Suspended => 1,
            Status::Revoked => 2,
        };
        if let Some(max) = self.max_uses {
            out[5] = 1;
            out[6..].copy_from_slice(&max.to_be_bytes());
        }
        match self.presence {
            Presence::Outside => {}
            Presence::Left => out.push(1),
            Presence::Inside(zone) => {
                let name = zone.as_str().as_bytes();
                out.push(2);
                // A zone name is at most ZONE_MAX_BYTES (64).
                out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(name);
            }
        }
        out
    }

    fn decode(id: PassId, bytes: &[u8]) -> Result<PassState, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("state of pass {id}: {what}"));
        if bytes.len() < STATE_FIXED {
            return Err(corrupt("wrong length"));
        }
        let (b, rest) = bytes.split_at(STATE_FIXED);
        let status = match b[4] {
            0 => Status::Active,
            1 => Status::Suspended,
            2 => Status::Revoked,
            _ => return Err(corrupt("unknown status")),
        };
        let max_uses = match b[5] {
            0 => None,
            1 => Some(u32::from_be_bytes([b[6], b[7], b[8], b[9]])),
            _ => return Err(corrupt("bad use-limit flag")),
        };
        let presence = match rest {
            [] => Presence::Outside,
            [1] => Presence::Left,
            [2, len, name @ ..] if usize::from(*len) == name.len() => {
                let name = std::str::from_utf8(name).map_err(|_| corrupt("zone not UTF-8"))?;
                Presence::Inside(ZoneName::new(name).map_err(|_| corrupt("bad zone name"))?)
            }
            _ => return Err(corrupt("bad presence")),
        };
        Ok(PassState {
            uses: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            status,
            max_uses,
            presence,
        })
    }
}

/// An i64 time as 8 bytes whose byte order is numeric order.
pub fn time_bytes(at_ms: i64) -> [u8; 8] {
    ((at_ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The inverse of [`time_bytes`].
pub fn time_from_bytes(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// A `scans` / `audit` key: pass id ‖ at_ms ‖ seq.
pub fn log_key(pass: PassId, at_ms: i64, seq: u64) -> [u8; LOG_KEY_LEN] {
    let mut k = [0u8; LOG_KEY_LEN];
    k[..16].copy_from_slice(&pass.0);
    k[16..24].copy_from_slice(&time_bytes(at_ms));
    k[24..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The time part of a `scans` key, checked for length.
pub fn log_key_time(key: &[u8]) -> Result<i64, StoreError> {
    if key.len() != LOG_KEY_LEN {
        return Err(StoreError::Corrupt(format!(
            "scan-id entry: a {}-byte scan key",
            key.len()
        )));
    }
    Ok(time_from_bytes(fixed(&key[16..24], "scan time")?))
}

/// The prefix of an event's index entries: length byte ‖ event. Event names
/// are validated to at most 64 bytes; a longer one is cut at 255 (it cannot
/// be stored, so nothing is lost).
pub fn event_prefix(event: &str) -> Vec<u8> {
    let bytes = &event.as_bytes()[..event.len().min(usize::from(u8::MAX))];
    let mut k = Vec::with_capacity(1 + bytes.len() + 16);
    k.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(bytes);
    k
}

/// A `passes_by_event` key: event prefix ‖ pass id.
pub fn pass_event_key(event: &str, id: PassId) -> Vec<u8> {
    let mut k = event_prefix(event);
    k.extend_from_slice(&id.0);
    k
}

/// An `event_scans` key: event prefix ‖ at_ms ‖ seq.
pub fn event_scan_key(event: &str, at_ms: i64, seq: u64) -> Vec<u8> {
    let mut k = event_prefix(event);
    k.extend_from_slice(&time_bytes(at_ms));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// An `audit_times` key: at_ms ‖ seq.
pub fn audit_time_key(at_ms: i64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&time_bytes(at_ms));
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// A `conflict_tags` key: scan id ‖ `/` ‖ kind (`/` is not a scan-id
/// character), the same for every write of one scan's conflict of one kind.
pub fn conflict_tag_key(scan_id: &ScanId, kind: ConflictKind) -> Vec<u8> {
    let (id, kind) = (scan_id.as_str().as_bytes(), kind.as_str().as_bytes());
    let mut k = Vec::with_capacity(id.len() + 1 + kind.len());
    k.extend_from_slice(id);
    k.push(b'/');
    k.extend_from_slice(kind);
    k
}

/// A `scan_id_times` key: at_ms ‖ scan id.
pub fn time_index_key(at_ms: i64, scan_id: &ScanId) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + scan_id.as_str().len());
    k.extend_from_slice(&time_bytes(at_ms));
    k.extend_from_slice(scan_id.as_str().as_bytes());
    k
}

/// Splits a `scan_id_times` key back into its time and scan id.
pub fn parse_time_index_key(key: &[u8]) -> Result<(i64, ScanId), StoreError> {
    let corrupt = || StoreError::Corrupt("scan-id time index entry".into());
    if key.len() <= 8 {
        return Err(corrupt());
    }
    let at = time_from_bytes(fixed(&key[..8], "scan time")?);
    let text = std::str::from_utf8(&key[8..]).map_err(|_| corrupt())?;
    let id = ScanId::new(text).map_err(|_| corrupt())?;
    Ok((at, id))
}

/// A stored pass record: the pass with its volatile use count and presence
/// reset (both are kept in `pass_state`).
pub fn encode_pass(pass: &Pass) -> Result<Vec<u8>, StoreError> {
    let mut stored = pass.clone();
    stored.uses = 0;
    stored.presence = Presence::Outside;
    encode(&stored)
}

/// Decodes a scan record.
pub fn decode_scan(bytes: &[u8]) -> Result<ScanRecord, StoreError> {
    decode(bytes, "scan record")
}

/// Decodes an audit record.
pub fn decode_audit(bytes: &[u8]) -> Result<AuditRecord, StoreError> {
    decode(bytes, "audit record")
}

/// Exactly `N` bytes, or corruption.
fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what}: {} bytes, expected {N}", bytes.len())))
}

/// A fjall failure as a store error.
pub fn backend(e: fjall::Error) -> StoreError {
    StoreError::unavailable("fjall", e)
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
