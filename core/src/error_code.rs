//! [`ErrorCode`]: the machine-readable error codes of `scangate/1`
//! replies (re-exported by [`crate::wire`]; below both the wire messages
//! and the offline messages that name them).

use serde::{Deserialize, Serialize};

/// Machine-readable error codes. See `docs/protocol.md` for what a scanner
/// should do with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame's payload is not a valid request. The stream stays usable.
    MalformedFrame,
    /// The frame's length prefix exceeds the limit. The gateway stops reading
    /// that stream (its framing can no longer be trusted); the connection lives.
    FrameTooLarge,
    /// The frame's version byte is not one this gateway speaks.
    UnsupportedVersion,
    /// A field of the request is invalid (named in the message).
    InvalidRequest,
    /// The scan id was already used for a different pass.
    ScanIdConflict,
    /// The gateway could not decide in time or its store failed. Retry with the
    /// same scan id: it is safe.
    Unavailable,
    /// The gateway is shutting down; reconnect (possibly to another gateway).
    ShuttingDown,
    /// No offline snapshot of that event is served, or the version being
    /// downloaded is no longer held: start the download again.
    SnapshotUnavailable,
}

impl ErrorCode {
    /// The contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::ScanIdConflict => "scan_id_conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::SnapshotUnavailable => "snapshot_unavailable",
        }
    }
}
