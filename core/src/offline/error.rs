//! [`SnapshotError`]: why a device refuses a snapshot or a delta (one enum,
//! below both the codec that reads blobs and the keys that verify them).

use super::format::{FORMAT_VERSION, KeyFingerprint};
use thiserror::Error;

/// Why a device refuses a snapshot or a delta. Each message is one sentence
/// a CLI can print as is; none quotes a token or a key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Fewer bytes than the blob announces (a download cut short).
    #[error("the snapshot is truncated: {len} bytes of the {expected} it needs")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes announced (or the least any snapshot has).
        expected: usize,
    },
    /// More bytes than the limit for its kind.
    #[error("the snapshot is {len} bytes, over the limit of {max} bytes")]
    Oversized {
        /// Bytes present.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a well-formed scangate snapshot; names what is wrong.
    #[error("the snapshot is malformed: {0}")]
    Malformed(&'static str),
    /// A format version this build does not read.
    #[error(
        "snapshot format version {0} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedFormat(u8),
    /// A delta where a snapshot was expected, or the reverse.
    #[error("expected a {expected}, got a {found}")]
    WrongKind {
        /// What the caller asked to open.
        expected: &'static str,
        /// What the bytes are.
        found: &'static str,
    },
    /// Signed by another gateway's key.
    #[error("the snapshot was signed by another key ({found}), not this gateway's ({expected})")]
    WrongKey {
        /// The fingerprint of the key the device trusts.
        expected: KeyFingerprint,
        /// The fingerprint the snapshot names.
        found: KeyFingerprint,
    },
    /// The signature does not verify: the bytes were altered.
    #[error("the snapshot's signature does not verify: it was altered or damaged")]
    BadSignature,
    /// Past its expiry: the device must not decide from it.
    #[error("the snapshot expired at {expires_ms} ms (now {now_ms} ms): refresh it while online")]
    Expired {
        /// When it expired (Unix ms).
        expires_ms: i64,
        /// The time the check was made at (Unix ms).
        now_ms: i64,
    },
    /// For another event than the device's.
    #[error("the snapshot is for event {found:?}, not {expected:?}")]
    WrongEvent {
        /// The event the device admits to.
        expected: String,
        /// The event the snapshot covers.
        found: String,
    },
    /// A delta whose base is not the version the device holds.
    #[error("the delta applies to version {base}, but the device holds version {have}")]
    BaseMismatch {
        /// The version held.
        have: u64,
        /// The version the delta applies to.
        base: u64,
    },
}
