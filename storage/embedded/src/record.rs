//! The redo record codec: how one batch's writes are encoded for the log,
//! checked and decoded again at replay.
//!
//! Record: `len` u32 LE (of `batch` and `ops`) ‖ CRC-32 u32 LE (of the same) ‖
//! `batch` u64 LE ‖ ops; op: keyspace u8 ‖ kind u8 (1 insert, 0 remove) ‖ key
//! length u16 LE ‖ key ‖ (insert only) value length u32 LE ‖ value.
//!
//! `batch` is the record's sequence number: one more than the record before
//! it, across segments and restarts (a start continues from the last number
//! the log or the tables hold). Every batch folded into fjall also writes its
//! number to `meta`/`logged` in the same fjall batch (a merged group of
//! batches, its last number: see `merge`), so fjall always knows the last
//! record it holds, and replay applies only records above it.

use super::layout::{self, Tables};
use fjall::{Keyspace, OwnedWriteBatch};
use std::collections::BTreeMap;

/// Bytes before a record's ops: length, checksum, batch number.
pub const HEADER: usize = 16;

/// Bytes before a record's body: length and checksum.
const PREFIX: usize = 8;

/// Which keyspace an op writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Ks {
    Meta = 0,
    Passes = 1,
    PassState = 2,
    Scans = 3,
    ScanIds = 4,
    ScanIdTimes = 5,
    Audit = 6,
    PassesByEvent = 7,
    EventScans = 8,
    AuditTimes = 9,
    Conflicts = 10,
    ConflictTags = 11,
    HolderLinks = 12,
    PassKeys = 13,
    Personal = 14,
    Events = 15,
}

impl Ks {
    fn from_u8(b: u8) -> Option<Ks> {
        Some(match b {
            0 => Ks::Meta,
            1 => Ks::Passes,
            2 => Ks::PassState,
            3 => Ks::Scans,
            4 => Ks::ScanIds,
            5 => Ks::ScanIdTimes,
            6 => Ks::Audit,
            7 => Ks::PassesByEvent,
            8 => Ks::EventScans,
            9 => Ks::AuditTimes,
            10 => Ks::Conflicts,
            11 => Ks::ConflictTags,
            12 => Ks::HolderLinks,
            13 => Ks::PassKeys,
            14 => Ks::Personal,
            15 => Ks::Events,
            _ => return None,
        })
    }

    fn of(self, t: &Tables) -> &Keyspace {
        match self {
            Ks::Meta => &t.meta,
            Ks::Passes => &t.passes,
            Ks::PassState => &t.pass_state,
            Ks::Scans => &t.scans,
            Ks::ScanIds => &t.scan_ids,
            Ks::ScanIdTimes => &t.scan_id_times,
            Ks::Audit => &t.audit,
            Ks::PassesByEvent => &t.passes_by_event,
            Ks::EventScans => &t.event_scans,
            Ks::AuditTimes => &t.audit_times,
            Ks::Conflicts => &t.conflicts,
            Ks::ConflictTags => &t.conflict_tags,
            Ks::HolderLinks => &t.holder_links,
            Ks::PassKeys => &t.pass_keys,
            Ks::Personal => &t.personal,
            Ks::Events => &t.events,
        }
    }
}

/// A batch's writes to `pass_keys`, in key order, the last per key
/// winning (`None`: removed). They reach fjall by ingestion, straight into
/// a table file of their own, never through fjall's journal: the journal
/// keeps what it was given until 64 MB more have been written, whereas a
/// key in table files leaves the disk when the keyspace is compacted after
/// its erasure (see `writer::compact_erased`).
pub struct KeyWrites {
    keyspace: Keyspace,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl KeyWrites {
    /// None yet, for `tables`' `pass_keys`.
    pub fn new(tables: &Tables) -> KeyWrites {
        KeyWrites {
            keyspace: tables.pass_keys.clone(),
            writes: BTreeMap::new(),
        }
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.writes.insert(key.to_vec(), value.map(<[u8]>::to_vec));
    }

    /// Writes them to fjall, durably in a new table file; before the rest of
    /// the batch is committed, so that fjall never records a batch as held
    /// (`meta`/`logged`) without its keys.
    pub fn ingest(self) -> fjall::Result<()> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let mut ingestion = self.keyspace.start_ingestion()?;
        for (key, value) in self.writes {
            match value {
                Some(value) => ingestion.write(key, value)?,
                None => ingestion.write_tombstone(key)?,
            }
        }
        ingestion.finish()
    }
}

/// One batch's writes, encoded for the log. fjall gets them from the same
/// bytes (the fold thread decodes them, [`for_each_op`]), so the writer
/// encodes each write once and builds nothing for fjall on its own path.
pub struct Staged {
    /// The record being built: header space, then the ops.
    record: Vec<u8>,
}

impl Staged {
    /// Nothing staged yet; `ops` is a capacity hint.
    pub fn new(ops: usize) -> Staged {
        let mut record = Vec::with_capacity(HEADER + ops * 96);
        record.resize(HEADER, 0);
        Staged { record }
    }

    /// Stages `key` = `value` in `ks`.
    pub fn insert(&mut self, ks: Ks, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.op(ks, 1, key);
        let len = u32::try_from(value.len()).expect("values are far below 4 GiB");
        self.record.extend_from_slice(&len.to_le_bytes());
        self.record.extend_from_slice(value);
    }

    /// Stages the removal of `key` from `ks`.
    pub fn remove(&mut self, ks: Ks, key: impl AsRef<[u8]>) {
        self.op(ks, 0, key.as_ref());
    }

    fn op(&mut self, ks: Ks, kind: u8, key: &[u8]) {
        let len = u16::try_from(key.len()).expect("keys are at most a few hundred bytes");
        self.record.push(ks as u8);
        self.record.push(kind);
        self.record.extend_from_slice(&len.to_le_bytes());
        self.record.extend_from_slice(key);
    }

    /// Bytes of the record so far, header included.
    pub fn len(&self) -> usize {
        self.record.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.record.len() == HEADER
    }

    /// The finished record of batch `batch`.
    pub fn seal(&mut self, batch: u64) -> &[u8] {
        self.record[8..16].copy_from_slice(&batch.to_le_bytes());
        let body = &self.record[8..];
        let len = u32::try_from(body.len()).expect("a batch record is far below 4 GiB");
        let crc = crc32fast::hash(body);
        self.record[..4].copy_from_slice(&len.to_le_bytes());
        self.record[4..8].copy_from_slice(&crc.to_le_bytes());
        &self.record
    }

    /// The sealed record's bytes, for the fold thread ([`sealed_ops`]).
    pub fn into_record(self) -> Vec<u8> {
        self.record
    }
}

/// The ops of a record this process sealed ([`Staged::seal`]): no checksum
/// to check, the bytes never left memory.
pub fn sealed_ops(record: &[u8]) -> &[u8] {
    record.get(HEADER..).unwrap_or_default()
}

/// A record that checked out.
#[derive(Debug)]
pub struct Record<'a> {
    /// Its sequence number.
    pub batch: u64,
    /// Its encoded ops.
    pub ops: &'a [u8],
    /// Where the next record starts.
    pub next: usize,
}

/// The record starting at `at`; `None` if it is cut short or its checksum
/// fails.
pub fn record_at(bytes: &[u8], at: usize) -> Option<Record<'_>> {
    let len = claimed_len(bytes, at)?;
    let crc = u32::from_le_bytes(bytes.get(at + 4..at + PREFIX)?.try_into().ok()?);
    let body = bytes.get(at + PREFIX..(at + PREFIX).checked_add(len)?)?;
    if len < 8 || crc32fast::hash(body) != crc {
        return None;
    }
    let batch = u64::from_le_bytes(body[..8].try_into().ok()?);
    Some(Record {
        batch,
        ops: &body[8..],
        next: at + PREFIX + len,
    })
}

/// The body length the record header at `at` claims; `None` if the header
/// is cut short.
pub fn claimed_len(bytes: &[u8], at: usize) -> Option<usize> {
    let len = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(len.try_into().ok()?) as usize)
}

/// Where a record claiming body length `len` at `at` would end.
pub fn claimed_end(at: usize, len: usize) -> usize {
    at.saturating_add(PREFIX).saturating_add(len)
}

/// The sequence number a record at `at` would carry, read before its
/// checksum (to skip unlikely places cheaply); `None` if cut short.
pub fn batch_at(bytes: &[u8], at: usize) -> Option<u64> {
    let raw = bytes.get(at.checked_add(PREFIX)?..at.checked_add(HEADER)?)?;
    Some(u64::from_le_bytes(raw.try_into().ok()?))
}

/// One decoded op: its keyspace, key, and value (`None`: a removal).
pub type Op<'a> = (Ks, &'a [u8], Option<&'a [u8]>);

/// Calls `f` with every op of a record's `ops`, in order; `None` if they
/// do not decode.
pub fn for_each_op<'a>(mut ops: &'a [u8], mut f: impl FnMut(Op<'a>)) -> Option<()> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = b.split_at_checked(n)?;
        *b = tail;
        Some(head)
    }
    while !ops.is_empty() {
        let head = take(&mut ops, 4)?;
        let which = Ks::from_u8(head[0])?;
        let key_len = u16::from_le_bytes([head[2], head[3]]) as usize;
        let key = take(&mut ops, key_len)?;
        match head[1] {
            1 => {
                let len = take(&mut ops, 4)?;
                let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
                f((which, key, Some(take(&mut ops, len)?)));
            }
            0 => f((which, key, None)),
            _ => return None,
        }
    }
    Some(())
}

/// Stages one op for fjall: `pass_keys` into `keys`, the rest into `fjall`.
pub fn stage_op(
    (which, key, value): Op<'_>,
    tables: &Tables,
    fjall: &mut OwnedWriteBatch,
    keys: &mut KeyWrites,
) {
    match (which, value) {
        (Ks::PassKeys, value) => keys.put(key, value),
        (ks, Some(value)) => fjall.insert(ks.of(tables), key, value),
        (ks, None) => fjall.remove(ks.of(tables), key),
    }
}

/// Stages `batch` as the last record fjall holds (`meta`/`logged`), in
/// the same fjall batch as its writes.
pub fn mark_held(batch: u64, tables: &Tables, fjall: &mut OwnedWriteBatch) {
    fjall.insert(
        &tables.meta,
        layout::logged_key(),
        layout::encode_logged(batch),
    );
}
