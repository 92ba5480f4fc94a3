//! The device's offline state on disk, in the directory the app chooses:
//!
//! | file | what | written |
//! | --- | --- | --- |
//! | `gateway.pub` | the pinned snapshot key: 64 hex digits (32 bytes) | once, when pinned |
//! | `snapshot.bin` | the last whole signed snapshot, as received | on a whole refresh |
//! | `deltas.bin` | the signed deltas received since, each a u32 BE length then the blob | on a delta refresh |
//! | `uses.bin` | the uses the gateway has that the snapshot may not count (MessagePack) | after an upload or a refresh |
//! | `queue.log`, `queue.lock` | the upload queue ([`crate::queue`]) | on each offline grant |
//!
//! Every file but the queue is replaced whole: a temp file, `fsync`,
//! rename over the old one, `fsync` of the directory, so a crash leaves the
//! old file or the new one, never half of one. Everything is read back with
//! a size bound checked before reading, and every blob is verified again
//! against the pinned key when it is loaded.

use super::OfflineError;
use super::uses::Reached;
use scangate_core::offline::messages::SNAPSHOT_CHUNK_MAX_BYTES;
use scangate_core::offline::{
    DELTA_MAX_BYTES, SNAPSHOT_MAX_BYTES, Snapshot, SnapshotError, SnapshotVerifier,
};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use tracing::debug;

/// The pinned key's file.
pub const KEY_FILE: &str = "gateway.pub";
/// The whole snapshot's file.
pub const SNAPSHOT_FILE: &str = "snapshot.bin";
/// The deltas' file.
pub const DELTAS_FILE: &str = "deltas.bin";
/// The reached uses' file.
pub const USES_FILE: &str = "uses.bin";

/// Most deltas kept on top of the whole snapshot (16: eight minutes of
/// refreshes at the default 30 s). With that many held, the next refresh
/// asks for the whole snapshot, so a reload never replays a long chain.
pub const DELTAS_HELD_MAX: usize = 16;
/// Largest deltas file (16 MiB). A refresh asks for the whole snapshot
/// rather than a delta when one more delta of the largest size
/// ([`DELTA_MAX_BYTES`]) could pass it.
pub const DELTAS_FILE_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Largest uses file: [`super::uses::REACHED_USES_MAX`] entries of at
/// most 32 bytes each (index, time and MessagePack's framing).
const USES_FILE_MAX_BYTES: usize = super::uses::REACHED_USES_MAX * 32 + 16;
/// Length of the key file: 64 hex digits and an optional newline.
const KEY_FILE_MAX_BYTES: usize = 65;

const _: () = assert!(DELTAS_FILE_MAX_BYTES >= DELTA_MAX_BYTES + 4);
const _: () = assert!(SNAPSHOT_CHUNK_MAX_BYTES < DELTA_MAX_BYTES);

fn io_err(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> OfflineError + use<> {
    let path = path.to_path_buf();
    move |source| OfflineError::Io { path, op, source }
}

/// Replaces `dir/name` with `bytes` atomically and durably (a temp file,
/// `fsync`, rename, `fsync` of the directory). Public for apps that keep
/// their own small files beside the SDK's (the CLI's `event` file).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), OfflineError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp).map_err(io_err(&tmp, "create"))?;
    file.write_all(bytes).map_err(io_err(&tmp, "write"))?;
    file.sync_all().map_err(io_err(&tmp, "sync"))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_err(&path, "rename into place"))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync the directory"))
}

/// The file's bytes, `None` when it does not exist; refused past `max`
/// ([`OfflineError::FileTooLarge`]) without reading more than `max + 1`.
pub fn read_bounded(path: &Path, max: usize) -> Result<Option<Vec<u8>>, OfflineError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "open")(e)),
    };
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path, "read"))?;
    if bytes.len() > max {
        return Err(OfflineError::FileTooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(Some(bytes))
}

/// The pinned key, if any.
pub(crate) fn read_key(dir: &Path) -> Result<Option<SnapshotVerifier>, OfflineError> {
    read_key_file(&dir.join(KEY_FILE))
}

/// A gateway key file in the pinned key's format (64 hex digits and an
/// optional newline, as the gateway writes `DATA/offline-signing-key.pub`);
/// `None` when the file does not exist.
pub fn read_key_file(path: &Path) -> Result<Option<SnapshotVerifier>, OfflineError> {
    let path = path.to_path_buf();
    let Some(bytes) = read_bounded(&path, KEY_FILE_MAX_BYTES)? else {
        return Ok(None);
    };
    let bad = |reason: &'static str| OfflineError::BadKeyFile {
        path: path.clone(),
        reason,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("not text"))?;
    let raw = data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.trim().as_bytes())
        .map_err(|_| bad("not hexadecimal"))?;
    let key: [u8; 32] = raw.try_into().map_err(|_| bad("not 32 bytes"))?;
    SnapshotVerifier::from_bytes(&key)
        .map(Some)
        .map_err(|_| bad("not an Ed25519 public key"))
}

/// Pins `key` (replacing any pinned one).
pub(crate) fn write_key(dir: &Path, key: &SnapshotVerifier) -> Result<(), OfflineError> {
    let text = format!("{}\n", data_encoding::HEXLOWER.encode(&key.to_bytes()));
    write_atomic(dir, KEY_FILE, text.as_bytes())
}

/// What the directory holds for the event.
#[derive(Debug)]
pub(crate) enum Held {
    /// No snapshot file.
    Missing,
    /// The files are there but refused (altered, another key, another event).
    Refused(SnapshotError),
    /// The snapshot with the deltas since applied, and the deltas' blobs.
    Ready {
        snapshot: Box<Snapshot>,
        deltas: Vec<Vec<u8>>,
    },
}

/// Loads and verifies the snapshot and its deltas. Expiry is not checked
/// here (an expired snapshot is held, and refused when a decision is asked
/// of it, saying so); signature, key, format and event are.
pub(crate) fn load(dir: &Path, key: &SnapshotVerifier, event: &str) -> Result<Held, OfflineError> {
    let Some(bytes) = read_bounded(&dir.join(SNAPSHOT_FILE), SNAPSHOT_MAX_BYTES)? else {
        return Ok(Held::Missing);
    };
    // `i64::MIN`: verify everything but the expiry (see above).
    let mut snapshot = match key.open_snapshot(&bytes, event, i64::MIN) {
        Ok(snapshot) => snapshot,
        Err(e) => return Ok(Held::Refused(e)),
    };
    let path = dir.join(DELTAS_FILE);
    let blobs = match read_bounded(&path, DELTAS_FILE_MAX_BYTES)? {
        Some(bytes) => split_deltas(&bytes).ok_or(OfflineError::BadDeltasFile { path })?,
        None => Vec::new(),
    };
    let mut deltas = Vec::with_capacity(blobs.len());
    for blob in blobs {
        let delta = match key.open_delta(&blob, event, i64::MIN) {
            Ok(delta) => delta,
            Err(e) => return Ok(Held::Refused(e)),
        };
        if delta.base_version() != snapshot.version() {
            // Left from before a whole snapshot replaced the old one.
            debug!(base = delta.base_version(), "stale delta skipped");
            continue;
        }
        snapshot = match snapshot.apply(&delta) {
            Ok(next) => next,
            Err(e) => return Ok(Held::Refused(e)),
        };
        deltas.push(blob);
    }
    Ok(Held::Ready {
        snapshot: Box::new(snapshot),
        deltas,
    })
}

/// The deltas file's bytes.
pub(crate) fn join_deltas(deltas: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(deltas.iter().map(|d| d.len() + 4).sum());
    for delta in deltas {
        out.extend_from_slice(&(delta.len() as u32).to_be_bytes());
        out.extend_from_slice(delta);
    }
    out
}

/// The blobs of a deltas file; `None` when a length runs past the end or
/// over [`DELTA_MAX_BYTES`], or there are more than [`DELTAS_HELD_MAX`].
fn split_deltas(mut bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if len > DELTA_MAX_BYTES || len > rest.len() || out.len() >= DELTAS_HELD_MAX {
            return None;
        }
        out.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    Some(out)
}

/// The reached uses kept on disk (an unreadable file is an error, not an
/// empty list: forgetting uses could admit someone twice).
pub(crate) fn read_uses(dir: &Path) -> Result<Vec<Reached>, OfflineError> {
    let path = dir.join(USES_FILE);
    match read_bounded(&path, USES_FILE_MAX_BYTES)? {
        None => Ok(Vec::new()),
        Some(bytes) => {
            rmp_serde::from_slice(&bytes).map_err(|_| OfflineError::BadUsesFile { path })
        }
    }
}

/// Replaces the uses file.
pub(crate) fn write_uses<'a>(
    dir: &Path,
    uses: impl Iterator<Item = &'a Reached>,
) -> Result<(), OfflineError> {
    let list: Vec<&Reached> = uses.collect();
    let bytes = rmp_serde::to_vec(&list).map_err(|e| OfflineError::Io {
        path: dir.join(USES_FILE),
        op: "encode",
        source: io::Error::other(e),
    })?;
    write_atomic(dir, USES_FILE, &bytes)
}

/// The pinned key's file.
pub(crate) fn key_path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_round_trip_and_a_cut_file_is_refused() {
        let deltas = vec![vec![1u8; 10], vec![], vec![2u8; 3]];
        let bytes = join_deltas(&deltas);
        assert_eq!(split_deltas(&bytes), Some(deltas));
        assert_eq!(split_deltas(&bytes[..bytes.len() - 1]), None);
        assert_eq!(split_deltas(&[0, 0]), None);
        let too_many = join_deltas(&vec![vec![0u8]; DELTAS_HELD_MAX + 1]);
        assert_eq!(split_deltas(&too_many), None);
    }

    #[test]
    fn a_file_over_its_bound_is_refused_before_it_is_read_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_atomic(dir.path(), "f", &[7u8; 100]).expect("write");
        let path = dir.path().join("f");
        assert_eq!(
            read_bounded(&path, 100).expect("read"),
            Some(vec![7u8; 100])
        );
        assert!(matches!(
            read_bounded(&path, 99),
            Err(OfflineError::FileTooLarge { max: 99, .. })
        ));
        assert_eq!(
            read_bounded(&dir.path().join("none"), 1).expect("read"),
            None
        );
    }
}
