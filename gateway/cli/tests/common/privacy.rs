//! Helpers of the privacy tests (erasure, retention, card consent): byte
//! searches over a data directory and a look at a pass's stored key.

use scangate_core::PassId;
use scangate_storage_embedded::{EmbeddedConfig, EmbeddedStore};
use std::path::{Path, PathBuf};

/// Every file under `dir` (recursively) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    assert!(!needle.is_empty(), "an empty needle is in every file");
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            let kind = std::fs::symlink_metadata(&path).expect("metadata");
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).expect("read file");
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
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
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
