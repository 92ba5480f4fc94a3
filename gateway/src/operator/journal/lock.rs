//! The edit lock of a data-dir file that the CLI and a running gateway both
//! change (`admin-tokens.json`, `revoked-devices.json`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Holds an exclusive advisory lock on `FILE.lock` beside `file` while it
/// lives: the read-modify-write edits of `admin-tokens.json` and
/// `revoked-devices.json` (by the CLI and by a running gateway at once) and
/// their journal lines happen one at a time, in the same order.
pub struct EditLock(File);

/// The edit lock of a file could not be taken.
#[derive(Debug, thiserror::Error)]
#[error("cannot lock {} for editing", .file.display())]
pub struct LockError {
    /// The file to be edited.
    pub file: PathBuf,
    /// What the OS said.
    pub source: std::io::Error,
}

impl EditLock {
    /// Waits for the lock of `file`.
    pub fn acquire(file: &Path) -> Result<EditLock, LockError> {
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        let locked = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(PathBuf::from(name))
            .and_then(|f| f.lock().map(|()| EditLock(f)));
        locked.map_err(|source| LockError {
            file: file.to_owned(),
            source,
        })
    }
}

impl Drop for EditLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}
