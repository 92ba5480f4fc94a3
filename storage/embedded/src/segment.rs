//! The redo log's segment files: where they live, how they are named and
//! sized, listed, synced and deleted. The lowest layer of the log: the
//! append path (`redo`), the zero-fill (`prepare`) and the replay
//! (`replay`) all build on it, and it imports none of them.
//!
//! A segment is `redo/<number, 20 digits>.log`; one being prepared (written
//! with zeros before use) is `.zeroed` until the log adopts it, so a crash
//! while it is written leaves nothing to replay.

use scangate_storage::StoreError;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// The log's directory inside the store directory.
pub const DIR: &str = "redo";

/// A segment is checkpointed (fjall synced, segment deleted) once it holds
/// this much: bounds both the disk the log takes and the replay after a
/// crash (64 MiB replays in well under a second).
pub const SEGMENT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The next segment is prepared (written with zeros) once the current one
/// holds this much.
pub const PREPARE_AFTER_BYTES: u64 = 1024 * 1024;

/// Length of a prepared segment: room for the record that crosses
/// [`SEGMENT_MAX_BYTES`] too.
pub const PREPARED_BYTES: u64 = SEGMENT_MAX_BYTES + 1024 * 1024;

/// Suffix of a segment's file name (its number, 20 digits, before it).
pub const SEGMENT_SUFFIX: &str = ".log";

/// Suffix of a segment being prepared: [`segments`] does not list it, so a
/// crash while it is written leaves nothing to replay.
pub const PREPARED_SUFFIX: &str = ".zeroed";

/// Segments no longer appended to. Deleting them is safe once fjall durably
/// holds their batches; until then a crash replays them.
#[derive(Debug)]
pub struct Retired {
    dir: PathBuf,
    below: u64,
}

impl Retired {
    /// The segments in `dir` numbered below `below`.
    pub fn below(dir: PathBuf, below: u64) -> Retired {
        Retired { dir, below }
    }

    /// Deletes every segment numbered below the current one. Not followed by
    /// a directory sync: a deletion a crash undoes only replays records that
    /// fjall already holds, in order, before the newer segments' records
    /// (applying a record twice changes nothing).
    pub fn delete(self) -> Result<(), StoreError> {
        delete_below(&self.dir, self.below)
    }
}

/// Deletes every segment numbered below `segment` (one already gone is fine).
pub fn delete_below(dir: &Path, segment: u64) -> Result<(), StoreError> {
    for (n, path) in segments(dir)? {
        if n < segment {
            remove_if_present(&path)?;
        }
    }
    Ok(())
}

pub fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("cannot delete", path, e)),
        _ => Ok(()),
    }
}

/// The log's segments, oldest first.
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    numbered(dir, SEGMENT_SUFFIX)
}

/// The files in `dir` named by a number and `suffix`, in number order.
pub fn numbered(dir: &Path, suffix: &str) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error("cannot list", dir, e))? {
        let path = entry.map_err(|e| io_error("cannot list", dir, e))?.path();
        let number = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(suffix))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = number {
            out.push((n, path));
        }
    }
    out.sort_unstable();
    Ok(out)
}

pub fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}{SEGMENT_SUFFIX}"))
}

pub fn prepared_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}{PREPARED_SUFFIX}"))
}

pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("cannot sync", dir, e))
}

pub fn io_error(what: &str, path: &Path, e: io::Error) -> StoreError {
    StoreError::unavailable(format!("{what} {}", path.display()), e)
}
