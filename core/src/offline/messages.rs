//! The `scangate/1` messages of the offline path (byte-exact in
//! `docs/protocol.md`, "Offline snapshots and uploads"):
//!
//! - [`SnapshotFetch`] / [`SnapshotChunk`]: a snapshot or delta travels in
//!   chunks of at most [`SNAPSHOT_CHUNK_MAX_BYTES`], one per request, so
//!   every frame stays under [`crate::frame::FRAME_MAX_BYTES`] and a 20 MB
//!   snapshot shares the stream with scans. [`SnapshotDownload`] is the
//!   device's side of it, sans I/O.
//! - [`OfflineUpload`] / [`OfflineAck`]: at most [`UPLOAD_BATCH_MAX`]
//!   offline scans per request, each acknowledged on its own.

/// Re-exported where the upload messages that carry it are.
pub use super::conflict::ConflictKind;
use super::format::BlobKind;
use super::{DELTA_MAX_BYTES, SNAPSHOT_MAX_BYTES};
use crate::decision::Decision;
use crate::error_code::ErrorCode;
use crate::pass::{EVENT_MAX_BYTES, GATE_MAX_BYTES};
use crate::scan::ScanId;
use crate::token::TOKEN_MAX_CHARS;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

/// Most snapshot bytes in one chunk reply (3 KiB): with the reply's other
/// fields (an event name of 64 bytes, four integers) it stays well under the
/// 4 KiB frame limit (checked by a test).
pub const SNAPSHOT_CHUNK_MAX_BYTES: usize = 3 * 1024;

/// Most offline scans in one upload request (8): eight scans with every
/// field at its limit encode to about 3 KB, inside one 4 KiB frame (checked
/// by a test), with room for fields added later.
pub const UPLOAD_BATCH_MAX: usize = 8;

/// Fetch (part of) the snapshot of an event.
///
/// The first request names no `version` and `offset` 0: the gateway picks
/// its newest version, and answers with a delta from `have_version` when it
/// can, else the whole snapshot. Later requests name the `version` and
/// `have_version` the first reply gave (`base_version`) and the next
/// `offset`, until `total_len` bytes have come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFetch {
    /// The event.
    pub event: String,
    /// The version the device holds (delta welcome), if any.
    #[serde(default)]
    pub have_version: Option<u64>,
    /// The version being downloaded; `None` on the first request.
    #[serde(default)]
    pub version: Option<u64>,
    /// Where the wanted chunk starts, in bytes.
    #[serde(default)]
    pub offset: u32,
}

/// A chunk of a signed snapshot or delta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// The event.
    pub event: String,
    /// The version the bytes make.
    pub version: u64,
    /// `Some(v)`: the bytes are a delta from version `v` (the device's
    /// `have_version`); `None`: a whole snapshot.
    pub base_version: Option<u64>,
    /// Length of the whole blob. `0`: the device is up to date (`version`
    /// equals its `have_version`), no bytes follow.
    pub total_len: u32,
    /// Where `data` starts in the blob.
    pub offset: u32,
    /// At most [`SNAPSHOT_CHUNK_MAX_BYTES`] bytes (MessagePack bin).
    pub data: Bytes,
}

impl SnapshotChunk {
    /// The chunk of `blob` at `offset` (the gateway's side). `None` when
    /// `offset` is past the end or the blob is over its limit.
    pub fn of(
        event: &str,
        version: u64,
        base_version: Option<u64>,
        blob: &Bytes,
        offset: u32,
    ) -> Option<SnapshotChunk> {
        let max = match base_version {
            Some(_) => DELTA_MAX_BYTES,
            None => SNAPSHOT_MAX_BYTES,
        };
        let start = offset as usize;
        if blob.len() > max || start > blob.len() || (start == blob.len() && start != 0) {
            return None;
        }
        let end = blob.len().min(start + SNAPSHOT_CHUNK_MAX_BYTES);
        Some(SnapshotChunk {
            event: event.to_owned(),
            version,
            base_version,
            total_len: blob.len() as u32,
            offset,
            data: blob.slice(start..end),
        })
    }
}

/// What a finished download holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Downloaded {
    /// The device's version is the newest: nothing to apply.
    Current,
    /// A whole signed snapshot: open it with
    /// [`crate::offline::SnapshotVerifier::open_snapshot`].
    Snapshot(Vec<u8>),
    /// A signed delta from the device's version: open it with
    /// [`crate::offline::SnapshotVerifier::open_delta`].
    Delta(Vec<u8>),
}

/// A chunk that does not continue the download. Nothing is kept of it: the
/// device asks again ([`SnapshotDownload::next_request`]) or starts over.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// For another event, version or base than the download's first chunk.
    #[error("the chunk belongs to another download ({0})")]
    Mismatch(&'static str),
    /// Not at the offset asked for.
    #[error("the chunk starts at byte {got}, the download is at byte {want}")]
    WrongOffset {
        /// The chunk's offset.
        got: u32,
        /// The bytes held so far.
        want: u32,
    },
    /// Announces more bytes than a snapshot or delta may have, or carries
    /// more than a chunk may.
    #[error("the download announces or carries more bytes than allowed")]
    Oversized,
}

/// The device's side of a chunked download, sans I/O: says which chunk to
/// ask for next and checks each one continues the same blob. Holds at most
/// the announced length, itself bounded by [`SNAPSHOT_MAX_BYTES`].
#[derive(Debug, Clone)]
pub struct SnapshotDownload {
    event: String,
    have_version: Option<u64>,
    /// `(version, base_version, total_len)` from the first chunk.
    blob: Option<(u64, Option<u64>, u32)>,
    bytes: Vec<u8>,
}

impl SnapshotDownload {
    /// Starts a download of `event` for a device holding `have_version`.
    pub fn new(event: impl Into<String>, have_version: Option<u64>) -> Self {
        SnapshotDownload {
            event: event.into(),
            have_version,
            blob: None,
            bytes: Vec::new(),
        }
    }

    /// The next request to send; `None` once everything has come.
    pub fn next_request(&self) -> Option<SnapshotFetch> {
        match self.blob {
            None => Some(SnapshotFetch {
                event: self.event.clone(),
                have_version: self.have_version,
                version: None,
                offset: 0,
            }),
            Some((version, base, total)) => {
                (self.bytes.len() < total as usize).then(|| SnapshotFetch {
                    event: self.event.clone(),
                    have_version: base,
                    version: Some(version),
                    offset: self.bytes.len() as u32,
                })
            }
        }
    }

    /// Takes the reply to [`Self::next_request`].
    pub fn accept(&mut self, chunk: &SnapshotChunk) -> Result<(), DownloadError> {
        if chunk.event != self.event {
            return Err(DownloadError::Mismatch("event"));
        }
        let got = (chunk.version, chunk.base_version, chunk.total_len);
        let (_, base, total) = self.blob.unwrap_or(got);
        if self.blob.is_some_and(|blob| blob != got) {
            return Err(DownloadError::Mismatch("version or length"));
        }
        if base.is_some() && base != self.have_version {
            return Err(DownloadError::Mismatch("a delta from a version not held"));
        }
        let kind = if base.is_some() {
            BlobKind::Delta
        } else {
            BlobKind::Snapshot
        };
        let max = match kind {
            BlobKind::Delta => DELTA_MAX_BYTES,
            BlobKind::Snapshot => SNAPSHOT_MAX_BYTES,
        };
        let want = self.bytes.len() as u32;
        if chunk.offset != want {
            return Err(DownloadError::WrongOffset {
                got: chunk.offset,
                want,
            });
        }
        let end = self.bytes.len() + chunk.data.len();
        if total as usize > max
            || chunk.data.len() > SNAPSHOT_CHUNK_MAX_BYTES
            || end > total as usize
        {
            return Err(DownloadError::Oversized);
        }
        self.blob = Some(got);
        self.bytes.extend_from_slice(&chunk.data);
        Ok(())
    }

    /// The whole blob, once [`Self::next_request`] says `None`.
    pub fn finish(self) -> Option<Downloaded> {
        let (version, base, total) = self.blob?;
        if self.bytes.len() != total as usize {
            return None;
        }
        Some(match base {
            _ if total == 0 && Some(version) == self.have_version => Downloaded::Current,
            Some(_) => Downloaded::Delta(self.bytes),
            None => Downloaded::Snapshot(self.bytes),
        })
    }
}

/// Upload scans decided offline, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineUpload {
    /// 1 to [`UPLOAD_BATCH_MAX`] scans, each with its own scan id.
    pub scans: Vec<OfflineScan>,
}

/// One scan an offline device decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineScan {
    /// The token read from the QR code.
    pub token: String,
    /// The gate the device stands at.
    pub gate: String,
    /// The event of the snapshot it decided from.
    pub event: String,
    /// The device's id for the scan; a re-upload reuses it.
    pub scan_id: ScanId,
    /// The device's clock at the scan (Unix ms): recorded, never trusted.
    pub device_time_ms: i64,
    /// The snapshot version the decision was made from.
    pub snapshot_version: u64,
    /// What the device decided (and showed).
    pub decision: Decision,
}

/// Why an upload request is refused as a whole (`invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UploadError {
    /// No scans, or more than [`UPLOAD_BATCH_MAX`].
    #[error("an upload holds 1 to {UPLOAD_BATCH_MAX} scans, not {0}")]
    BatchSize(usize),
    /// Two scans of the batch share a scan id.
    #[error("two scans of the upload share a scan id")]
    DuplicateScanId,
}

impl OfflineUpload {
    /// Checks the batch bound and that scan ids are distinct. Each scan's
    /// own fields are checked by [`OfflineScan::check`], so one bad scan is
    /// refused alone.
    pub fn check(&self) -> Result<(), UploadError> {
        let n = self.scans.len();
        if n == 0 || n > UPLOAD_BATCH_MAX {
            return Err(UploadError::BatchSize(n));
        }
        let mut ids: Vec<&ScanId> = self.scans.iter().map(|s| &s.scan_id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(UploadError::DuplicateScanId);
        }
        Ok(())
    }
}

impl OfflineScan {
    /// Checks the fields a scan request has too: token length, gate and
    /// event names. The message names the field (for `invalid_request`).
    pub fn check(&self) -> Result<(), String> {
        if self.token.len() > TOKEN_MAX_CHARS {
            return Err(format!("token: longer than {TOKEN_MAX_CHARS} characters"));
        }
        crate::name::check_name("gate", &self.gate, GATE_MAX_BYTES).map_err(|e| e.to_string())?;
        crate::name::check_name("event", &self.event, EVENT_MAX_BYTES).map_err(|e| e.to_string())
    }
}

/// The gateway's answer to an upload: one acknowledgement per scan, in the
/// order of the upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineAck {
    /// One per uploaded scan.
    pub scans: Vec<ScanAck>,
}

/// What became of one uploaded scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanAck {
    /// The scan id acknowledged.
    pub scan_id: ScanId,
    /// Recorded now, recorded before, or refused.
    pub status: AckStatus,
    /// Every rule the scan broke, as the gateway flagged them (empty: none,
    /// or not recorded). At most [`ConflictKind::ALL`]`.len()`, each once.
    /// A kind this build does not know (a newer gateway's) is skipped when
    /// read, so the acknowledgement, and the status a device acts on, stays
    /// readable.
    #[serde(default, deserialize_with = "known_kinds")]
    pub conflicts: Vec<ConflictKind>,
}

/// The conflict kinds of an acknowledgement that this build knows. The
/// list is bounded by the frame it came in (4 KiB).
fn known_kinds<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ConflictKind>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
}

/// The fate of one uploaded scan. `recorded` and `duplicate` are durable:
/// the device may drop the scan from its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// Recorded durably now.
    Recorded,
    /// Recorded by an earlier upload of the same scan id; nothing counted again.
    Duplicate,
    /// Not recorded (a field breaks its limit: `invalid_request`; the store
    /// failed: `unavailable`, upload it again). Stays in the device's queue
    /// unless the code says it can never be recorded.
    Refused(ErrorCode),
}
