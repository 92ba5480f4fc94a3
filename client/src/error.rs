//! The one error type of the scanner SDK.

use scangate_core::offline::messages::DownloadError;
use scangate_core::wire::WireError;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// Why a request got no answer. A denial is **not** an error: it is a normal
/// [`scangate_core::wire::ScanReply`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The configuration is unusable (bad PEM, a limit out of range).
    #[error("scanner configuration: {0}")]
    Config(String),
    /// No connection to the gateway could be made.
    #[error("cannot connect to the gateway at {addr}: {reason}")]
    Connect {
        /// The gateway address.
        addr: SocketAddr,
        /// Why (unreachable, TLS refused, timed out, ...).
        reason: String,
    },
    /// A scanner with several gateway addresses reached none of them: each
    /// was tried once, in turn, and refused or gave no handshake in time.
    #[error("none of the {tried} gateway address(es) could be reached; the last said: {last}")]
    AllGatewaysFailed {
        /// How many addresses were tried.
        tried: usize,
        /// The last address's error (a [`ClientError::Connect`]).
        last: Box<ClientError>,
    },
    /// Every attempt ran out of time.
    #[error("no answer from the gateway after {attempts} attempt(s) of {per_attempt:?} each")]
    Timeout {
        /// Attempts made.
        attempts: u32,
        /// The deadline of each.
        per_attempt: Duration,
    },
    /// The connection was lost while the request was outstanding (and no
    /// attempt was left to retry on a new one).
    #[error("the connection to the gateway was lost")]
    ConnectionLost,
    /// The gateway answered with an error that retrying does not fix (or
    /// kept answering `unavailable` until the attempts ran out).
    #[error("the gateway refused the request: {} ({})", .0.message(), .0.code.as_str())]
    Rejected(WireError),
    /// The request does not fit the protocol's frame (a token read from a QR
    /// code far longer than any scangate token): it is not sent.
    #[error(
        "the token is too long to send: the request would be {len} bytes, the protocol allows {max}; this is not a scangate QR code"
    )]
    RequestTooLarge {
        /// The encoded request's length (version byte + payload).
        len: usize,
        /// The frame limit, [`scangate_core::frame::FRAME_MAX_BYTES`].
        max: usize,
    },
    /// The gateway answered something this SDK does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// All `max_in_flight` slots stayed busy for a whole request timeout.
    #[error("{max_in_flight} requests already in flight; none finished within {waited:?}")]
    Saturated {
        /// The configured limit.
        max_in_flight: usize,
        /// How long this request waited for a slot.
        waited: Duration,
    },
    /// [`crate::Scanner::close`] was called.
    #[error("the scanner was closed")]
    Closed,
    /// The operating system's random number generator failed (scan ids).
    #[error("no randomness for a scan id: {0}")]
    Entropy(String),
    /// The gateway serves no offline snapshot of the event (or moved on
    /// from the version being downloaded, more often than the download
    /// starts over).
    #[error("the gateway serves no offline snapshot of event {event:?}: {message}")]
    SnapshotUnavailable {
        /// The event asked for.
        event: String,
        /// The gateway's explanation.
        message: String,
    },
    /// A snapshot chunk did not continue the download.
    #[error("snapshot download: {0}")]
    Download(#[from] DownloadError),
    /// A whole snapshot download ran past its total deadline.
    #[error("the snapshot download did not finish within {after:?}")]
    DownloadTimeout {
        /// The total deadline.
        after: Duration,
    },
}

impl ClientError {
    /// True when another attempt (same scan id) may succeed.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            ClientError::Connect { .. } | ClientError::Timeout { .. } => true,
            ClientError::AllGatewaysFailed { .. } => true,
            ClientError::ConnectionLost => true,
            ClientError::Rejected(e) => is_retryable_code(e),
            _ => false,
        }
    }
}

/// Wire errors worth a retry with the same scan id.
pub(crate) fn is_retryable_code(e: &WireError) -> bool {
    use scangate_core::wire::ErrorCode;
    matches!(e.code, ErrorCode::Unavailable | ErrorCode::ShuttingDown)
}
