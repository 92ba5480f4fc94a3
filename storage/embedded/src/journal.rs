//! fjall's journal kept short across restarts.
//!
//! fjall reads its whole active journal file at every open, also the part
//! its tables already hold (it skips those writes one by one), and starts a
//! new file only at a flush once the file is past 64,000,000 bytes (fixed in
//! fjall 3.1; `max_journaling_size` bounds the older, sealed files, not this
//! one). A crash never flushes, so at a gate's pace the file grows from
//! start to start and every open reads more of it: ~20 ms per MiB on the
//! shared 2-core machine, over a second at 64 MB (docs/reliability.md).
//!
//! So before fjall opens, an active journal of at least
//! [`JOURNAL_SEAL_MIN_BYTES`] is sealed: an empty journal file with the next
//! number is created, as fjall's own rotation does. fjall then recovers the
//! old file as a sealed one (the same reading, once more), flushes what of
//! it its tables lack, and deletes it once they hold all of it (its journal
//! maintenance, after a flush or a memtable rotation: [`evict_sealed`] asks
//! for one). Nothing is deleted or rewritten here; the old file stays until
//! fjall itself has it in tables, so a crash at any point replays it again.
//! The file names (`<n>.jnl` in the store's directory, the highest number
//! the active one) and the lock file are fjall's on-disk convention, pinned
//! by `Cargo.lock`; `journal_tests` exercises it.

use super::layout::{Tables, backend};
use super::segment::{io_error, numbered, sync_dir};
use scangate_storage::StoreError;
use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// Length of fjall's active journal file from which an open seals it.
/// Every open reads the active file through (~20 ms per MiB at load 7 on
/// two cores); 4 MiB keeps that under ~80 ms there, a few times the rest of
/// a start, while a sealing (one more flush, a small table per keyspace it
/// touched, compacted later) comes only every 4 MiB of writes: every ~15 to
/// 30 starts in the crash loop at 100 scans/s. Counted up to the file's
/// first hole (see `written_bytes`).
pub const JOURNAL_SEAL_MIN_BYTES: u64 = 4 * 1024 * 1024;

/// fjall's journal file suffix and lock file (its `file.rs`).
pub(crate) const JOURNAL_SUFFIX: &str = ".jnl";
const FJALL_LOCK_FILE: &str = "lock";

/// A journal sealed before the open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The sealed file, which fjall deletes once its tables hold it.
    pub path: PathBuf,
    /// Bytes written to it (see `written_bytes`).
    pub bytes: u64,
}

/// Seals fjall's active journal in `dir` when it holds at least
/// `min_bytes` (see the module docs); `None` when there is none, it is
/// shorter, or another process holds the database (then fjall's own open
/// reports that). Call it before fjall opens `dir`.
pub fn seal_long_journal(dir: &Path, min_bytes: u64) -> Result<Option<Sealed>, StoreError> {
    let lock_path = dir.join(FJALL_LOCK_FILE);
    let lock = match File::open(&lock_path) {
        Ok(lock) => lock,
        // A new store: fjall creates it all.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("cannot open", &lock_path, e)),
    };
    // fjall's lock (an exclusive `flock`), held while the file is made so
    // that no fjall has the database open meanwhile; released when `lock`
    // drops, before fjall takes it.
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(None),
        Err(TryLockError::Error(e)) => return Err(io_error("cannot lock", &lock_path, e)),
    }
    // fjall's active journal: the highest-numbered one.
    let Some((number, active)) = numbered(dir, JOURNAL_SUFFIX)?.pop() else {
        return Ok(None);
    };
    let bytes = written_bytes(&active)?;
    if bytes < min_bytes {
        return Ok(None);
    }
    let next = dir.join(format!("{}{JOURNAL_SUFFIX}", number + 1));
    File::create_new(&next)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error("cannot create", &next, e))?;
    sync_dir(dir)?;
    Ok(Some(Sealed {
        path: active,
        bytes,
    }))
}

/// Bytes written to the journal file at `path`: up to its first hole.
/// fjall makes a journal file it creates 64 MiB long (a hole, on Linux's
/// file systems), writes from its start, and cuts it to what it holds at
/// the next open; the hole, read as zeros, ends that reading at once. Where
/// the file system keeps no holes this is the file's length; an empty file
/// (as [`seal_long_journal`] makes one) has no byte to seek from: 0.
pub(crate) fn written_bytes(path: &Path) -> Result<u64, StoreError> {
    let file = File::open(path).map_err(|e| io_error("cannot open", path, e))?;
    match rustix::fs::seek(&file, rustix::fs::SeekFrom::Hole(0)) {
        Ok(end) => Ok(end),
        // Linux: the offset (0) is at or past the end of the file.
        Err(rustix::io::Errno::NXIO) => Ok(0),
        Err(e) => Err(io_error("cannot find the end of", path, e.into())),
    }
}

/// Has fjall check at once whether its tables hold the journal sealed
/// before the open, and delete it if so. fjall checks only after a flush or
/// a memtable rotation; a sealed journal whose every write is in tables
/// already brings back nothing to flush, so this writes the format version
/// (unchanged) to `meta` and rotates `meta`'s memtable (fjall's hidden API,
/// as in [`Tables::flush_memtables`]): one tiny table. When the journal
/// brought back writes, fjall flushes them itself and checks after.
pub fn evict_sealed(tables: &Tables) -> Result<(), StoreError> {
    tables.write_format()?;
    tables.meta.rotate_memtable().map_err(backend)?;
    Ok(())
}
