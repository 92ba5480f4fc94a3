//! Messages of the `scangate/1` protocol (see `docs/protocol.md`).
//!
//! Every message is a MessagePack map (field names included, so fields can be
//! added without breaking old scanners) inside one frame (see [`crate::frame`]).
//! Every request carries a request id chosen by the scanner; the reply carries
//! the same id, so a scanner can pipeline many requests on one stream and
//! match replies that come back out of order.

use crate::decision::Decision;
use crate::scan::ScanId;
use serde::{Deserialize, Serialize};

/// The ALPN protocol id scanners and gateway agree on.
pub const ALPN: &[u8] = b"scangate/1";

/// A request from a scanner.
///
/// The body's type is a parameter only so that a sender can encode a
/// borrowed body (`Request<&RequestBody>` encodes to the same bytes) and
/// resend it on a retry without copying it; decoding is always into the
/// owned default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request<B = RequestBody> {
    /// Chosen by the scanner, echoed in the reply. Unique among the scanner's
    /// requests in flight on one stream.
    pub id: u64,
    /// What is asked.
    pub body: B,
}

/// The kinds of request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestBody {
    /// Decide a scan.
    Scan(ScanRequest),
    /// Liveness check; answered with [`ResponseBody::Pong`].
    Ping,
}

/// One scan, as the scanner saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRequest {
    /// The token read from the QR code.
    pub token: String,
    /// The gate the scanner stands at.
    pub gate: String,
    /// The event the scanner is configured for, if it checks one.
    pub event: Option<String>,
    /// The scanner's id for this attempt; a retry reuses it.
    pub scan_id: ScanId,
    /// The scanner's clock at the scan (Unix milliseconds); recorded, never trusted.
    pub scanner_time_ms: i64,
    /// How long the scanner waits for this answer, in milliseconds (its
    /// attempt deadline). The gateway gives up on the scan that long after
    /// receiving it, so a scan nobody waits for any more is not decided.
    /// Absent (older scanners): the gateway's own call deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
}

/// A reply from the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The request id this answers; 0 when the request could not be read.
    pub id: u64,
    /// The answer.
    pub body: ResponseBody,
}

/// The kinds of reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseBody {
    /// A decided scan.
    Scan(ScanReply),
    /// Answer to a ping.
    Pong,
    /// The request could not be decided.
    Error(WireError),
}

/// A decision, with what the scanner may show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReply {
    /// The scan id this decides.
    pub scan_id: ScanId,
    /// Granted or denied, and why.
    pub decision: Decision,
    /// The pass's use count after this scan (when the pass is known).
    pub uses: Option<u32>,
    /// The pass's limit (`None`: unlimited or unknown pass).
    pub max_uses: Option<u32>,
    /// The pass id shortened to 8 hex digits (when the token verified).
    pub pass: Option<String>,
    /// What the scanner may show on a grant (the holder's chosen display payload).
    pub display: Option<String>,
    /// True when this answers a retry from the stored first decision.
    pub replayed: bool,
}

/// Why a request got no decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// One human-readable sentence.
    pub message: String,
}

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
        }
    }
}

impl Response {
    /// An error reply.
    pub fn error(id: u64, code: ErrorCode, message: impl Into<String>) -> Self {
        Response {
            id,
            body: ResponseBody::Error(WireError {
                code,
                message: message.into(),
            }),
        }
    }
}
