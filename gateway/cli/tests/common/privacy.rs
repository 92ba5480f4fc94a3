//! Helpers of the privacy tests (erasure, retention, card consent): byte
//! searches over a data directory and a look at a pass's stored key.

use scangate_core::PassId;
use scangate_storage_embedded::{EmbeddedConfig, EmbeddedStore};
use std::fs::Metadata;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The entries of directory `d` with their metadata (links not followed),
/// leaving out what a running gateway deletes while they are listed
/// (fjall's flushes and compactions, the redo log's checkpoints): a file
/// gone holds nothing.
fn entries(d: &Path) -> Vec<(PathBuf, Metadata)> {
    let listed = match std::fs::read_dir(d) {
        Ok(listed) => listed,
        Err(e) if e.kind() == ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("read dir {}: {e}", d.display()),
    };
    let mut out = Vec::new();
    for entry in listed {
        let path = entry.expect("entry").path();
        match std::fs::symlink_metadata(&path) {
            Ok(kind) => out.push((path, kind)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => panic!("metadata of {}: {e}", path.display()),
        }
    }
    out
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    assert!(!needle.is_empty(), "an empty needle is in every file");
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for (path, kind) in entries(&d) {
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let bytes = match std::fs::read(&path) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => panic!("read {}: {e}", path.display()),
                };
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path);
                }
            }
        }
    }
    found
}

/// Files under `dir` (recursively), counted: a search over none proves nothing.
pub fn file_count(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for (path, kind) in entries(&d) {
            if kind.is_dir() {
                stack.push(path);
            } else {
                n += 1;
            }
        }
    }
    n
}

/// The personal-data key stored for pass `id` in the (stopped) gateway's
/// data directory `dir`, read by opening its store.
pub async fn stored_key(dir: &Path, id: &str) -> Option<Vec<u8>> {
    let id: PassId = id.parse().expect("pass id");
    let store =
        EmbeddedStore::open(&dir.join("store"), EmbeddedConfig::default()).expect("open store");
    store.stored_key(id).await.expect("read the key")
}
