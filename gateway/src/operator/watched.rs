//! A small JSON file in the data directory that a running gateway follows:
//! read again whenever its modification time, length or inode changes (the
//! CLI replaces it by rename), checked with one `stat` per use. This is how
//! `scangate token ...` and `scangate certs revoke` reach a running gateway
//! without a restart.
//!
//! What a file that cannot be read or parsed means depends on the file, so
//! each follower picks its [`OnError`]: for admin tokens the empty list
//! (only the bootstrap token works: the safe side), for revoked devices the
//! last good list (an empty one would let every revoked device back in).

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// Largest such file read by default, bytes: bounds what a reload allocates
/// (the token file holds at most a thousand short entries). A file with a
/// larger stated capacity passes its own bound to [`Watched::keeping_last_good`].
pub const FILE_MAX_BYTES: u64 = 1024 * 1024;

/// What identifies one version of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// What one `stat` of the path found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Not looked at yet.
    Never,
    /// No such file: nothing written yet (or deleted on purpose).
    Missing,
    /// This version of the file.
    File(Stamp),
    /// The path could not be looked at (permissions, I/O): not the same as
    /// missing, so it is handled as a file that cannot be read.
    Unknown,
}

/// What a follower holds when the file on disk cannot be read or parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// `T::default()`: right where the default is the restrictive answer.
    Default,
    /// The last version that was read and parsed, with an error in the log
    /// and `scangate_watched_file_unreadable{file}` at 1 until a good
    /// version is read: right where the default would open a door.
    KeepLastGood,
}

/// The file's parsed contents, kept until the file changes.
pub struct Watched<T> {
    path: PathBuf,
    max_bytes: u64,
    on_error: OnError,
    current: Mutex<(Seen, Arc<T>)>,
}

impl<T: DeserializeOwned + Default + Send + Sync> Watched<T> {
    /// Follows `path` (which need not exist yet: then `T::default()`); a
    /// file that cannot be read or parsed reads as `T::default()`.
    pub fn new(path: PathBuf) -> Self {
        Watched {
            path,
            max_bytes: FILE_MAX_BYTES,
            on_error: OnError::Default,
            current: Mutex::new((Seen::Never, Arc::new(T::default()))),
        }
    }

    /// Follows `path` (of at most `max_bytes`), read now: a file that cannot
    /// be read or parsed is an error here (the caller refuses to start), and
    /// later keeps the last good version ([`OnError::KeepLastGood`]). A
    /// missing file is `T::default()` (nothing written yet).
    pub fn keeping_last_good(path: PathBuf, max_bytes: u64) -> anyhow::Result<Self> {
        let seen = look(&path);
        let value = read_json_within(&path, max_bytes)?;
        unreadable_gauge(&path).set(0.0);
        Ok(Watched {
            path,
            max_bytes,
            on_error: OnError::KeepLastGood,
            current: Mutex::new((seen, Arc::new(value))),
        })
    }

    /// The contents as of now, reread if the file changed; a file that
    /// cannot be read or parsed is handled by its [`OnError`], and the
    /// failure is logged once per version of the file.
    pub fn get(&self) -> Arc<T> {
        let seen = look(&self.path);
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0 != seen {
            let value = match seen {
                Seen::Never | Seen::Missing => Ok(T::default()),
                Seen::File(_) => read_json_within(&self.path, self.max_bytes),
                Seen::Unknown => Err(anyhow::anyhow!("cannot look at {}", self.path.display())),
            };
            let value = match (value, self.on_error) {
                (Ok(v), policy) => {
                    if policy == OnError::KeepLastGood {
                        unreadable_gauge(&self.path).set(0.0);
                    }
                    Arc::new(v)
                }
                (Err(e), OnError::Default) => {
                    tracing::error!(file = %self.path.display(), error = %format!("{e:#}"), "cannot read; treating it as empty");
                    Arc::new(T::default())
                }
                (Err(e), OnError::KeepLastGood) => {
                    unreadable_gauge(&self.path).set(1.0);
                    tracing::error!(file = %self.path.display(), error = %format!("{e:#}"), "cannot read; keeping the last good version until it is repaired");
                    current.1.clone()
                }
            };
            *current = (seen, value);
        }
        current.1.clone()
    }
}

/// One `stat` of `path`.
fn look(path: &Path) -> Seen {
    match fs::metadata(path) {
        Ok(m) => Seen::File(Stamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode: m.ino(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Seen::Missing,
        Err(_) => Seen::Unknown,
    }
}

/// `scangate_watched_file_unreadable{file}`: 1 while a followed file that
/// keeps its last good version cannot be read.
fn unreadable_gauge(path: &Path) -> metrics::Gauge {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    metrics::gauge!("scangate_watched_file_unreadable", "file" => file)
}

/// Reads a JSON file of at most [`FILE_MAX_BYTES`]; a missing file is the default.
pub fn read_json<T: DeserializeOwned + Default>(path: &Path) -> anyhow::Result<T> {
    read_json_within(path, FILE_MAX_BYTES)
}

/// Reads a JSON file of at most `max_bytes`; a missing file is the default.
pub fn read_json_within<T: DeserializeOwned + Default>(
    path: &Path,
    max_bytes: u64,
) -> anyhow::Result<T> {
    use anyhow::Context;
    use std::io::Read;
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // Reads one byte past the bound, so a file that grew after any `stat`
    // is still refused without reading more of it.
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > max_bytes {
        anyhow::bail!("{} is larger than {max_bytes} bytes", path.display());
    }
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid", path.display()))
}

/// Replaces a JSON file atomically (write a 0600 temporary, sync, rename).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    write_bytes(path, &serde_json::to_vec_pretty(value)?)
}

/// Replaces a file with `bytes` atomically (write a 0600 temporary, sync,
/// rename).
pub fn write_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    let tmp = path.with_extension("json.tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
    struct List {
        names: Vec<String>,
    }

    #[test]
    fn a_path_that_cannot_be_looked_at_keeps_the_last_good_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).expect("mkdir");
        let path = sub.join("list.json");
        let good = List {
            names: vec!["lost-phone".into()],
        };
        write_json(&path, &good).expect("write");
        let watched = Watched::<List>::keeping_last_good(path.clone(), 1024).expect("read");
        assert_eq!(watched.get().names, good.names);
        // `sub` becomes a file: stat fails with ENOTDIR, not "missing".
        fs::remove_dir_all(&sub).expect("rm");
        fs::write(&sub, b"").expect("file");
        assert_eq!(watched.get().names, good.names, "never read as empty");
        // A file over the bound is refused, not cut.
        fs::remove_file(&sub).expect("rm");
        fs::create_dir(&sub).expect("mkdir");
        fs::write(&path, vec![b' '; 1025]).expect("big");
        assert!(read_json_within::<List>(&path, 1024).is_err());
        assert_eq!(watched.get().names, good.names);
    }
}
