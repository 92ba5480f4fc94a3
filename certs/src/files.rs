//! Writing PKI files: never overwriting, never leaving half a file, keys private.

use crate::CertError;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of private key files: readable by the owner only.
pub const KEY_FILE_MODE: u32 = 0o600;
/// Mode of certificate files: public material.
pub const CERT_FILE_MODE: u32 = 0o644;
/// Mode of the directories this crate creates.
pub const DIR_MODE: u32 = 0o700;

/// Largest PEM file this crate reads, in bytes. Our files are under 1 KiB;
/// the bound keeps a wrong path (a log, a device) from being read whole.
pub const PEM_MAX_BYTES: u64 = 64 * 1024;

/// Creates `dir` (and its parents) with [`DIR_MODE`] if it does not exist.
/// An existing directory is left as it is.
pub fn create_dir(dir: &Path) -> Result<(), CertError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder
        .create(dir)
        .map_err(|e| CertError::io("creating directory", dir, e))
}

/// Writes `contents` to `path` with `mode`, refusing to replace an existing
/// file ([`CertError::AlreadyExists`]).
///
/// The bytes go to a temporary file in the same directory first, are synced,
/// and are then hard-linked into place: the link fails if `path` exists, and a
/// crash leaves either no file or the whole file, never half of one.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), CertError> {
    let tmp = temp_path(path);
    let result = write_temp(&tmp, contents, mode).and_then(|()| link_into_place(&tmp, path));
    // The temporary name is ours alone; failing to remove it only leaves litter.
    let _ = fs::remove_file(&tmp);
    result?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Reads a PEM file of at most [`PEM_MAX_BYTES`].
pub fn read_pem(path: &Path) -> Result<String, CertError> {
    let meta = fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CertError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            CertError::io("reading", path, e)
        }
    })?;
    if meta.len() > PEM_MAX_BYTES {
        return Err(CertError::parse(
            path.display().to_string(),
            format_args!(
                "{} bytes is more than a PEM file of this PKI holds",
                meta.len()
            ),
        ));
    }
    fs::read_to_string(path).map_err(|e| CertError::io("reading", path, e))
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per process and per call, so two writers never share a temp file.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

fn write_temp(tmp: &Path, contents: &[u8], mode: u32) -> Result<(), CertError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file: File = options
        .open(tmp)
        .map_err(|e| CertError::io("creating", tmp, e))?;
    // The process umask may have narrowed the mode; set it exactly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| CertError::io("setting permissions of", tmp, e))?;
    }
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| CertError::io("writing", tmp, e))
}

fn link_into_place(tmp: &Path, path: &Path) -> Result<(), CertError> {
    fs::hard_link(tmp, path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CertError::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            CertError::io("writing", path, e)
        }
    })
}

fn sync_dir(dir: &Path) -> Result<(), CertError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| CertError::io("syncing directory", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_overwrites_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.key");
        write_new(&path, b"one", KEY_FILE_MODE).expect("first write");
        assert!(matches!(
            write_new(&path, b"two", KEY_FILE_MODE),
            Err(CertError::AlreadyExists { .. })
        ));
        assert_eq!(fs::read(&path).expect("read"), b"one");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.key")]);
    }

    #[test]
    fn reading_a_missing_file_names_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope.pem");
        assert!(matches!(read_pem(&path), Err(CertError::Missing { path: p }) if p == path));
    }
}
