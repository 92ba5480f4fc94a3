//! The queue's file system work: the lock, creating and reading the file,
//! appending with a sync, cutting a torn tail, compacting.

use super::record::{self, FILE_HEADER_BYTES, FORMAT_VERSION, Kind};
use super::{
    COMPACT_FILE, LOCK_WAIT, OfflineQueue, QUEUE_FILE_READ_MAX_BYTES, QueueError, Queued, io_err,
};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Between two tries within [`LOCK_WAIT`].
const LOCK_RETRY: Duration = Duration::from_millis(5);

/// Takes the queue's advisory lock (released when the process ends, killed
/// or not), waiting up to [`LOCK_WAIT`] for it.
pub(super) fn lock(path: &Path) -> Result<File, QueueError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err(path, "open the lock file"))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(LOCK_RETRY);
            }
            Err(TryLockError::WouldBlock) => {
                return Err(QueueError::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(path, "lock")(e)),
        }
    }
}

/// The whole queue file, created (empty, durably) when missing. A
/// compaction's leftover from a crash is removed: the old file still holds
/// everything.
pub(super) fn read_or_create(dir: &Path, path: &Path) -> Result<Vec<u8>, QueueError> {
    let tmp = dir.join(COMPACT_FILE);
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&tmp, "remove a compaction's leftover")(e)),
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let header = record::file_header().to_vec();
            replace(dir, path, &header)?;
            return Ok(header);
        }
        Err(e) => return Err(io_err(path, "open")(e)),
    };
    let len = file.metadata().map_err(io_err(path, "stat"))?.len();
    let foreign = |reason: String| QueueError::Foreign {
        path: path.to_path_buf(),
        reason,
    };
    if len > QUEUE_FILE_READ_MAX_BYTES {
        return Err(foreign(format!(
            "{len} bytes, more than the {QUEUE_FILE_READ_MAX_BYTES} any queue holds"
        )));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(QUEUE_FILE_READ_MAX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io_err(path, "read"))?;
    match record::header_version(&bytes) {
        Some(FORMAT_VERSION) => Ok(bytes),
        Some(other) => Err(foreign(format!(
            "format version {other}, this SDK reads {FORMAT_VERSION}"
        ))),
        None => Err(foreign("no queue header".into())),
    }
}

/// The queue file opened for appending.
pub(super) fn append_handle(path: &Path) -> Result<File, QueueError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err(path, "open for appending"))
}

/// Writes `bytes` to the compaction file and syncs it; returns its path.
fn write_new(dir: &Path, bytes: &[u8]) -> Result<PathBuf, QueueError> {
    let tmp = dir.join(COMPACT_FILE);
    let mut file = File::create(&tmp).map_err(io_err(&tmp, "create"))?;
    file.write_all(bytes).map_err(io_err(&tmp, "write"))?;
    file.sync_all().map_err(io_err(&tmp, "sync"))?;
    Ok(tmp)
}

/// Makes `bytes` the content of `path` atomically: a new file, synced,
/// renamed over the old one, the directory synced.
fn replace(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), QueueError> {
    let tmp = write_new(dir, bytes)?;
    std::fs::rename(&tmp, path).map_err(io_err(path, "rename the new file over"))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync the directory"))
}

impl<T: Queued> OfflineQueue<T> {
    /// Appends whole records and syncs them. On failure the file is cut
    /// back to its last whole record (or, when that fails too or the sync
    /// failed, the queue takes no more writes: after a failed sync the
    /// kernel may have dropped the bytes and nothing here can tell).
    pub(super) fn append(&mut self, buf: &[u8]) -> Result<(), QueueError> {
        if let Err(e) = self.file.write_all(buf) {
            if self.truncate_to(self.file_bytes).is_err() {
                self.failed = true;
            }
            return Err(io_err(&self.path, "append")(e));
        }
        if let Err(e) = self.file.sync_data() {
            self.failed = true;
            return Err(io_err(&self.path, "sync")(e));
        }
        self.file_bytes += buf.len() as u64;
        Ok(())
    }

    /// Cuts the file to `len` bytes, durably.
    pub(super) fn truncate_to(&mut self, len: u64) -> Result<(), QueueError> {
        self.file
            .set_len(len)
            .and_then(|()| self.file.sync_data())
            .map_err(io_err(&self.path, "cut off a torn record"))?;
        self.file_bytes = len;
        Ok(())
    }

    /// Rewrites the file with the waiting entries only. Until the rename
    /// the old file stays whole; after it, a failure to sync the directory
    /// (the rename might not last a crash) stops further writes.
    pub(super) fn compact(&mut self) -> Result<(), QueueError> {
        let mut buf = record::file_header().to_vec();
        let mut sizes = Vec::with_capacity(self.entries.len());
        for live in self.entries.values() {
            let payload = rmp_serde::to_vec_named(&live.value)
                .map_err(|e| QueueError::Encode(e.to_string()))?;
            let start = buf.len();
            record::encode(Kind::Entry, &payload, &mut buf);
            sizes.push((buf.len() - start) as u64);
        }
        let tmp = write_new(&self.dir, &buf)?;
        std::fs::rename(&tmp, &self.path)
            .map_err(io_err(&self.path, "rename the new file over"))?;
        for (live, size) in self.entries.values_mut().zip(sizes) {
            live.record_bytes = size;
        }
        self.file_bytes = buf.len() as u64;
        self.live_bytes = self.file_bytes - FILE_HEADER_BYTES as u64;
        // The old handle now appends to a file no longer named queue.log.
        let handle = append_handle(&self.path);
        let synced = sync_dir(&self.dir);
        match (handle, synced) {
            (Ok(file), Ok(())) => {
                self.file = file;
                Ok(())
            }
            (Ok(file), Err(e)) => {
                self.file = file;
                self.failed = true;
                Err(e)
            }
            (Err(e), _) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}
