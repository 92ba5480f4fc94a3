//! A small JSON file in the data directory that a running gateway follows:
//! read again whenever its modification time, length or inode changes (the
//! CLI replaces it by rename), checked with one `stat` per use. This is how
//! `scangate token ...` and `scangate certs revoke` reach a running gateway
//! without a restart.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// Largest such file read, bytes: bounds what a reload allocates (the files
/// hold at most a thousand short entries).
pub const FILE_MAX_BYTES: u64 = 1024 * 1024;

/// What identifies one version of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// The file's parsed contents, kept until the file changes.
pub struct Watched<T> {
    path: PathBuf,
    current: Mutex<(Option<Stamp>, Arc<T>)>,
}

impl<T: DeserializeOwned + Default + Send + Sync> Watched<T> {
    /// Follows `path` (which need not exist yet: then `T::default()`).
    pub fn new(path: PathBuf) -> Self {
        Watched {
            path,
            current: Mutex::new((None, Arc::new(T::default()))),
        }
    }

    /// The contents as of now, reread if the file changed. A file that
    /// cannot be read or parsed reads as `T::default()` (for tokens: only the
    /// bootstrap token works; the failure is logged), never as stale data.
    pub fn get(&self) -> Arc<T> {
        let stamp = fs::metadata(&self.path).ok().map(|m| Stamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode: m.ino(),
        });
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0 != stamp {
            let value = match stamp {
                None => T::default(),
                Some(_) => read_json(&self.path).unwrap_or_else(|e| {
                    tracing::error!(file = %self.path.display(), error = %e, "cannot read; treating it as empty");
                    T::default()
                }),
            };
            *current = (stamp, Arc::new(value));
        }
        current.1.clone()
    }
}

/// Reads a JSON file of at most [`FILE_MAX_BYTES`]; a missing file is the default.
pub fn read_json<T: DeserializeOwned + Default>(path: &Path) -> anyhow::Result<T> {
    use anyhow::Context;
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if meta.len() > FILE_MAX_BYTES {
        anyhow::bail!("{} is larger than {FILE_MAX_BYTES} bytes", path.display());
    }
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid", path.display()))
}

/// Replaces a JSON file atomically (write a 0600 temporary, sync, rename).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    use anyhow::Context;
    let tmp = path.with_extension("json.tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(&serde_json::to_vec_pretty(value)?)?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
