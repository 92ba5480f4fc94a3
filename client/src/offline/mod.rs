//! Offline mode: a gate that keeps deciding when its gateway is out of
//! reach, from a signed snapshot on disk, and uploads what it decided alone
//! once the gateway is back.
//!
//! [`OfflineScanner`] joins the pieces: a [`crate::Scanner`] (connected
//! lazily, so a device can start with no gateway reachable), a
//! [`crate::ModeTracker`], the snapshot of its event, and the durable
//! [`crate::OfflineQueue`] of offline grants, all in one directory (layout
//! in [`files`]). The offline decision is `scangate_core`'s
//! [`Snapshot::decide`](scangate_core::offline::Snapshot::decide), the
//! rules the gateway runs, on the snapshot plus the device's own uses
//! (the counting rule is in `uses`).
//!
//! Never: a grant from a missing, expired, altered, foreign-key or
//! other-event snapshot (those are [`OfflineError`]s saying why); an
//! offline grant returned before it is synced to the queue file; a queued
//! scan dropped before the gateway acknowledged it (`recorded` or
//! `duplicate`) or refused it for good.

pub mod files;
mod scanner;
mod uses;

pub use scanner::{OfflineScanner, Refreshed, SyncReport};
pub use uses::REACHED_USES_MAX;

use crate::{ClientError, ModeConfig, QueueError, QueueLimits, Queued};
use scangate_core::offline::messages::OfflineScan;
use scangate_core::offline::{KeyFingerprint, REFRESH_INTERVAL_DEFAULT_MS, SnapshotError};
use scangate_core::scan::ScanId;
use std::path::{Path, PathBuf};
use thiserror::Error;

impl Queued for OfflineScan {
    fn scan_id(&self) -> &ScanId {
        &self.scan_id
    }
}

/// What an [`OfflineScanner`] needs beyond its [`crate::ScannerConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineConfig {
    /// The directory of the device's offline state (created if missing).
    pub dir: PathBuf,
    /// The event the scanner admits to; its snapshot is fetched and a
    /// scan's `event`, when `None`, is this one.
    pub event: String,
    /// When to go offline and back (default [`ModeConfig::default`]).
    pub mode: ModeConfig,
    /// The upload queue's bounds (default [`QueueLimits::default`]).
    pub queue: QueueLimits,
    /// How often [`OfflineScanner::refresh_due`] says a refresh is due
    /// while online, in milliseconds (default
    /// [`REFRESH_INTERVAL_DEFAULT_MS`], 30 s: the longest a revocation
    /// takes to reach a connected device).
    pub refresh_interval_ms: i64,
}

impl OfflineConfig {
    /// The defaults, for `event`, in `dir`.
    pub fn new(dir: impl Into<PathBuf>, event: impl Into<String>) -> OfflineConfig {
        OfflineConfig {
            dir: dir.into(),
            event: event.into(),
            mode: ModeConfig::default(),
            queue: QueueLimits::default(),
            refresh_interval_ms: REFRESH_INTERVAL_DEFAULT_MS,
        }
    }
}

/// Why an offline operation failed. A denial is never an error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OfflineError {
    /// An online request failed for a reason other than the gateway being
    /// out of reach (those make the scanner decide offline instead).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The upload queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The snapshot held, or the one just downloaded, is refused: the
    /// device does not decide offline from it.
    #[error("cannot use the offline snapshot: {source}{}", repin_hint(.source, .key_file))]
    Snapshot {
        /// Why (expired, altered, another key, another event, ...).
        source: SnapshotError,
        /// The pinned key's file, named when the key is the problem.
        key_file: PathBuf,
    },
    /// No snapshot is held yet.
    #[error("no offline snapshot of event {event:?} in {}: fetch one while the gateway is reachable", dir.display())]
    NoSnapshot {
        /// The scanner's event.
        event: String,
        /// The state directory.
        dir: PathBuf,
    },
    /// No gateway key is pinned and none was given.
    #[error("no gateway snapshot key pinned in {}: give the gateway's public snapshot key to OfflineScanner::open", path.display())]
    NoKey {
        /// Where the pinned key would be.
        path: PathBuf,
    },
    /// The key given is not the one pinned.
    #[error("the gateway key given ({given}) is not the one pinned in {} ({pinned}); if the gateway's key was changed on purpose, call OfflineScanner::pin_key with the new one (or remove that file)", path.display())]
    KeyMismatch {
        /// The key file.
        path: PathBuf,
        /// Its key's fingerprint.
        pinned: KeyFingerprint,
        /// The given key's fingerprint.
        given: KeyFingerprint,
    },
    /// The key file does not hold a key.
    #[error("{} is not a gateway key file: {reason}", path.display())]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The deltas file is damaged (a length past its end or its bounds).
    #[error("{} is damaged; remove it and refresh the snapshot while online", path.display())]
    BadDeltasFile {
        /// The file.
        path: PathBuf,
    },
    /// The uses file does not decode.
    #[error("{} is damaged; stop the scanner, upload its queue, remove the file and refresh the snapshot", path.display())]
    BadUsesFile {
        /// The file.
        path: PathBuf,
    },
    /// A state file is larger than any this SDK writes.
    #[error("{} is over {max} bytes, larger than any this SDK writes", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its bound.
        max: usize,
    },
    /// The file system refused.
    #[error("offline state {}: cannot {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// After a [`SnapshotError::WrongKey`]: how to trust a new key.
fn repin_hint(source: &SnapshotError, key_file: &Path) -> String {
    match source {
        SnapshotError::WrongKey { .. } => format!(
            "; the device trusts the key pinned in {}: if the gateway's key was changed on purpose, pin the new one (OfflineScanner::pin_key) or remove that file and give the new key",
            key_file.display()
        ),
        _ => String::new(),
    }
}
