//! The durable offline queue: what a scanner decided alone, kept in a file
//! until the gateway has acknowledged it.
//!
//! One file (`queue.log`) in a directory the app chooses, holding entries
//! of any type that can be serialized and names its scan id ([`Queued`]).
//! [`OfflineQueue::push`] appends the entry and syncs it (`fdatasync`)
//! before it returns, so an entry the caller was told about survives a
//! crash or a power cut. [`OfflineQueue::ack`] appends acknowledgement
//! records (synced too) and compacts the file (a new file, synced, renamed
//! over the old one, directory synced) once it holds more acknowledged
//! bytes than live ones. A crash in the middle of an append leaves a torn
//! record at the end of the file, which [`OfflineQueue::open`] cuts off (its
//! `push` never returned); damage anywhere else is
//! [`QueueError::Corrupt`], never skipped. One process at a time holds the
//! queue (an advisory `flock` on `queue.lock`, released when its file is
//! closed or the process dies). The lock belongs to the open file, so a
//! child the app forks while a queue is open holds it too until the child
//! execs (std opens it close-on-exec): [`OfflineQueue::open`] waits up to
//! [`LOCK_WAIT`] for it, so a reopen in an app that spawns processes is
//! not refused for that moment.
//!
//! The calls block on disk I/O (a sync takes milliseconds): call them from
//! a blocking context (`tokio::task::spawn_blocking`), one at a time.

mod file;
mod record;

use record::{FILE_HEADER_BYTES, Kind, RECORD_BODY_MAX_BYTES, Step};
use scangate_core::scan::{SCAN_ID_MAX_BYTES, ScanId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use tracing::warn;

/// The queue file's name in its directory.
pub const QUEUE_FILE: &str = "queue.log";
/// The lock file's name in the queue's directory.
pub const LOCK_FILE: &str = "queue.lock";

/// How long [`OfflineQueue::open`] waits for a lock held elsewhere before
/// it answers [`QueueError::Locked`] (SQLite's busy timeout, for the same
/// reason): a child that another thread forks while a handle closes the
/// queue holds the lock until the child's exec, microseconds to
/// milliseconds; a process that keeps the queue open holds it far longer.
pub const LOCK_WAIT: Duration = Duration::from_millis(250);
/// Where a compaction writes before it renames over [`QUEUE_FILE`].
const COMPACT_FILE: &str = "queue.log.tmp";

/// Default [`QueueLimits::max_entries`]: one lane scans at most one person
/// every two seconds, about 43,000 in a day; a day offline fits twice over.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
/// Default [`QueueLimits::max_file_bytes`]: 100,000 entries of a few
/// hundred bytes plus their acknowledgements before a compaction.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest file [`OfflineQueue::open`] reads, whatever the limits (1 GiB):
/// the whole file is read into memory once.
pub const QUEUE_FILE_READ_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// Scan ids per acknowledgement record: with the longest scan ids (and
/// MessagePack's few bytes each) a record stays under the record bound.
pub const ACK_IDS_PER_RECORD: usize = 128;
/// Acknowledged bytes that make a compaction worth its copy (when they also
/// outweigh the live entries); an emptied queue is always compacted.
pub const COMPACT_MIN_DEAD_BYTES: u64 = 64 * 1024;

const _: () = assert!(ACK_IDS_PER_RECORD * (SCAN_ID_MAX_BYTES + 2) + 8 < RECORD_BODY_MAX_BYTES);
const _: () = assert!(DEFAULT_MAX_FILE_BYTES <= QUEUE_FILE_READ_MAX_BYTES);

/// What can be queued: any serializable value that names its scan id (the
/// key of idempotence here and at the gateway).
pub trait Queued: Serialize + DeserializeOwned {
    /// The scan this entry records.
    fn scan_id(&self) -> &ScanId;
}

/// Bounds of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most entries waiting for the gateway (default [`DEFAULT_MAX_ENTRIES`]).
    pub max_entries: usize,
    /// Largest queue file, in bytes (default [`DEFAULT_MAX_FILE_BYTES`], at
    /// most [`QUEUE_FILE_READ_MAX_BYTES`]).
    pub max_file_bytes: u64,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_entries: DEFAULT_MAX_ENTRIES,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// Why a queue operation failed. Messages never hold an entry's content.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The file system refused.
    #[error("offline queue {}: cannot {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// Another process holds the queue.
    #[error("offline queue {} is in use by another process", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The file is not a scangate offline queue, or of another format version.
    #[error("{} is not an offline queue this SDK reads ({reason})", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What is wrong with its header.
        reason: String,
    },
    /// The file is damaged somewhere a crash during an append cannot explain.
    #[error(
        "offline queue {} is damaged at byte {offset}: {reason}; move it aside, keep it for the operator and start a new queue",
        path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A bound was reached; nothing was written.
    #[error(
        "offline queue full: {pending} entries in {file_bytes} bytes (limits: {max_entries} entries, {max_file_bytes} bytes)"
    )]
    Full {
        /// Entries waiting.
        pending: usize,
        /// The file's size.
        file_bytes: u64,
        /// [`QueueLimits::max_entries`].
        max_entries: usize,
        /// [`QueueLimits::max_file_bytes`].
        max_file_bytes: u64,
    },
    /// One entry encodes to more than the record bound.
    #[error("an offline queue entry is {len} bytes; at most {max} fit a record")]
    EntryTooLarge {
        /// Its encoded size.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The entry could not be serialized.
    #[error("an offline queue entry cannot be encoded: {0}")]
    Encode(String),
    /// A write failed and could not be undone; the queue takes no more
    /// writes until it is opened again (which cuts the partial record off).
    #[error("offline queue {}: a failed write could not be undone; open the queue again", path.display())]
    Failed {
        /// The file.
        path: PathBuf,
    },
}

/// What [`OfflineQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The entry is on disk.
    Queued,
    /// An entry with this scan id was already waiting; nothing was written.
    AlreadyQueued,
}

/// A live entry and its size in the file.
struct Live<T> {
    value: T,
    record_bytes: u64,
}

/// The durable queue of one scanner (see the module documentation).
pub struct OfflineQueue<T> {
    dir: PathBuf,
    path: PathBuf,
    limits: QueueLimits,
    /// The queue file, opened for appending.
    file: File,
    /// Held for the queue's lifetime: the advisory lock.
    _lock: File,
    /// Waiting entries, in push order.
    entries: BTreeMap<u64, Live<T>>,
    /// Scan id → key in `entries`.
    by_id: HashMap<ScanId, u64>,
    next_seq: u64,
    /// The file's length as far as whole records go.
    file_bytes: u64,
    /// Bytes of the live entries' records.
    live_bytes: u64,
    /// Set when a failed append could not be cut off again.
    failed: bool,
}

impl<T> std::fmt::Debug for OfflineQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineQueue")
            .field("path", &self.path)
            .field("pending", &self.entries.len())
            .field("file_bytes", &self.file_bytes)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> QueueError + use<> {
    let path = path.to_path_buf();
    move |source| QueueError::Io { path, op, source }
}

impl<T: Queued> OfflineQueue<T> {
    /// Opens the queue in `dir` (created if missing), cutting off a torn
    /// last record. Fails with [`QueueError::Locked`] when another process
    /// still holds it after [`LOCK_WAIT`] and [`QueueError::Corrupt`] when it
    /// is damaged elsewhere.
    pub fn open(dir: &Path, limits: QueueLimits) -> Result<Self, QueueError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir, "create the directory"))?;
        let lock = file::lock(&dir.join(LOCK_FILE))?;
        let path = dir.join(QUEUE_FILE);
        let bytes = file::read_or_create(dir, &path)?;
        let mut queue = OfflineQueue {
            dir: dir.to_path_buf(),
            file: file::append_handle(&path)?,
            path,
            limits,
            _lock: lock,
            entries: BTreeMap::new(),
            by_id: HashMap::new(),
            next_seq: 0,
            file_bytes: FILE_HEADER_BYTES as u64,
            live_bytes: 0,
            failed: false,
        };
        let good = queue.replay(&bytes)?;
        if good < bytes.len() {
            warn!(path = %queue.path.display(), cut_bytes = bytes.len() - good,
                "offline queue: a record torn by a crash during an append was dropped");
            queue.truncate_to(good as u64)?;
        }
        Ok(queue)
    }

    /// Appends `entry` and syncs it before returning. An entry whose scan id
    /// is already waiting is not written again ([`Pushed::AlreadyQueued`]).
    pub fn push(&mut self, entry: T) -> Result<Pushed, QueueError> {
        self.check_usable()?;
        if self.by_id.contains_key(entry.scan_id()) {
            return Ok(Pushed::AlreadyQueued);
        }
        let payload =
            rmp_serde::to_vec_named(&entry).map_err(|e| QueueError::Encode(e.to_string()))?;
        if 1 + payload.len() > RECORD_BODY_MAX_BYTES {
            return Err(QueueError::EntryTooLarge {
                len: 1 + payload.len(),
                max: RECORD_BODY_MAX_BYTES,
            });
        }
        let bytes = record::record_bytes(payload.len()) as u64;
        if self.file_bytes + bytes > self.limits.max_file_bytes && self.dead_bytes() > 0 {
            self.compact()?;
        }
        if self.entries.len() >= self.limits.max_entries
            || self.file_bytes + bytes > self.limits.max_file_bytes
        {
            return Err(self.full());
        }
        let mut buf = Vec::with_capacity(bytes as usize);
        record::encode(Kind::Entry, &payload, &mut buf);
        self.append(&buf)?;
        self.insert(entry, bytes);
        Ok(Pushed::Queued)
    }

    /// The waiting entries, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &T> {
        self.entries.values().map(|live| &live.value)
    }

    /// How many entries are waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an entry with this scan id is waiting.
    pub fn contains(&self, scan_id: &ScanId) -> bool {
        self.by_id.contains_key(scan_id)
    }

    /// The queue file's size in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// The queue file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Marks the entries with these scan ids done, durably; ids not waiting
    /// are ignored. Returns how many entries left the queue.
    pub fn ack<'a>(
        &mut self,
        scan_ids: impl IntoIterator<Item = &'a ScanId>,
    ) -> Result<usize, QueueError> {
        self.check_usable()?;
        let mut done: Vec<&ScanId> = scan_ids
            .into_iter()
            .filter(|id| self.by_id.contains_key(*id))
            .collect();
        done.sort_unstable();
        done.dedup();
        if done.is_empty() {
            return Ok(0);
        }
        let mut buf = Vec::new();
        for chunk in done.chunks(ACK_IDS_PER_RECORD) {
            let payload =
                rmp_serde::to_vec(chunk).map_err(|e| QueueError::Encode(e.to_string()))?;
            record::encode(Kind::Ack, &payload, &mut buf);
        }
        // Acknowledging must work on a full file too: then the compaction,
        // which leaves the acknowledged entries out, is the durable ack.
        let fits = self.file_bytes + buf.len() as u64 <= self.limits.max_file_bytes;
        if fits {
            self.append(&buf)?;
        }
        for id in &done {
            self.remove(id);
        }
        let dead = self.dead_bytes();
        if !fits
            || self.entries.is_empty()
            || (dead >= COMPACT_MIN_DEAD_BYTES && dead >= self.live_bytes)
        {
            self.compact()?;
        }
        Ok(done.len())
    }

    /// Applies the file's records; returns where the intact records end.
    fn replay(&mut self, bytes: &[u8]) -> Result<usize, QueueError> {
        let mut pos = FILE_HEADER_BYTES;
        loop {
            let (kind, payload, next) = match record::read(bytes, pos) {
                Step::Record {
                    kind,
                    payload,
                    next,
                } => (kind, payload, next),
                Step::End | Step::Torn => return Ok(pos),
                Step::Corrupt(reason) => return Err(self.corrupt(pos, reason)),
            };
            let record_bytes = (next - pos) as u64;
            self.file_bytes += record_bytes;
            match kind {
                Kind::Entry => {
                    let entry: T = rmp_serde::from_slice(payload)
                        .map_err(|_| self.corrupt(pos, "an entry that does not decode"))?;
                    if !self.by_id.contains_key(entry.scan_id()) {
                        self.insert(entry, record_bytes);
                    }
                }
                Kind::Ack => {
                    let ids: Vec<ScanId> = rmp_serde::from_slice(payload).map_err(|_| {
                        self.corrupt(pos, "an acknowledgement that does not decode")
                    })?;
                    for id in &ids {
                        self.remove(id);
                    }
                }
            }
            pos = next;
        }
    }

    fn insert(&mut self, entry: T, record_bytes: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_id.insert(entry.scan_id().clone(), seq);
        self.entries.insert(
            seq,
            Live {
                value: entry,
                record_bytes,
            },
        );
        self.live_bytes += record_bytes;
    }

    fn remove(&mut self, id: &ScanId) {
        if let Some(live) = self
            .by_id
            .remove(id)
            .and_then(|seq| self.entries.remove(&seq))
        {
            self.live_bytes -= live.record_bytes;
        }
    }

    /// Bytes of acknowledgements and acknowledged entries in the file.
    fn dead_bytes(&self) -> u64 {
        self.file_bytes - FILE_HEADER_BYTES as u64 - self.live_bytes
    }

    fn full(&self) -> QueueError {
        QueueError::Full {
            pending: self.entries.len(),
            file_bytes: self.file_bytes,
            max_entries: self.limits.max_entries,
            max_file_bytes: self.limits.max_file_bytes,
        }
    }

    fn corrupt(&self, offset: usize, reason: &'static str) -> QueueError {
        QueueError::Corrupt {
            path: self.path.clone(),
            offset: offset as u64,
            reason,
        }
    }

    fn check_usable(&self) -> Result<(), QueueError> {
        if self.failed {
            return Err(QueueError::Failed {
                path: self.path.clone(),
            });
        }
        Ok(())
    }
}
