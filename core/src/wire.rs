//! Messages of the `scangate/1` protocol (see `docs/protocol.md`).
//!
//! Every message is a MessagePack map (field names included, so fields can be
//! added without breaking old scanners) inside one frame (see [`crate::frame`]).
//! Every request carries a request id chosen by the scanner; the reply carries
//! the same id, so a scanner can pipeline many requests on one stream and
//! match replies that come back out of order.

use crate::decision::Decision;
pub use crate::error_code::ErrorCode;
use crate::event::Direction;
use crate::flags::Flag;
use crate::frame::DecodeError;
use crate::offline::messages::{OfflineAck, OfflineUpload, SnapshotChunk, SnapshotFetch};
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
    /// Fetch a chunk of an event's offline snapshot or delta; answered with
    /// [`ResponseBody::Snapshot`].
    Snapshot(SnapshotFetch),
    /// Upload scans decided offline; answered with [`ResponseBody::OfflineAck`].
    OfflineUpload(OfflineUpload),
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
    /// An entry (`in`) or an exit (`out`): needed at a `both` gate of an
    /// event with a definition, checked against the gate elsewhere, and
    /// ignored for an event without one. Absent (older scanners): the gate's
    /// own direction.
    /// A spelling other than `in` or `out` is kept as
    /// [`ScanDirection::Unknown`] and denied `unknown_direction`, not
    /// refused as a malformed frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<ScanDirection>,
    /// Decide only: the answer says what a scan would get, and nothing is
    /// counted, moved or recorded (the scan id stays free).
    #[serde(default, skip_serializing_if = "is_false")]
    pub check_only: bool,
}

/// A scan's direction as a scanner sent it: an entry, an exit, or any
/// other spelling, which the gateway denies `unknown_direction` (so a
/// scanner with a bug, or a newer one, gets a specific answer and its
/// stream goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScanDirection {
    /// An entry.
    In,
    /// An exit.
    Out,
    /// Any other spelling (sent back as `unknown`).
    #[serde(other)]
    Unknown,
}

impl ScanDirection {
    /// The direction, if it is one.
    pub fn known(self) -> Option<Direction> {
        match self {
            ScanDirection::In => Some(Direction::In),
            ScanDirection::Out => Some(Direction::Out),
            ScanDirection::Unknown => None,
        }
    }
}

impl From<Direction> for ScanDirection {
    fn from(d: Direction) -> Self {
        match d {
            Direction::In => ScanDirection::In,
            Direction::Out => ScanDirection::Out,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
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
    /// A chunk of a signed snapshot or delta.
    Snapshot(SnapshotChunk),
    /// What became of each uploaded offline scan.
    OfflineAck(OfflineAck),
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
    /// The fraud flags the scan raised (`rapid_rescan`, `shared_code`,
    /// `impossible_travel`, `forgery_burst`), at most one of each. Absent
    /// when none (and from older gateways); older scanners ignore it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
    /// On a grant of a pass with a card: the fields its holder shared
    /// (an unshared field is absent). Absent otherwise; older scanners
    /// ignore the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Box<crate::pass::SharedCard>>,
    /// What a guard's screen shows of the pass, when the pass is known.
    /// Absent from older gateways; older scanners ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<GuardView>,
}

impl ScanReply {
    /// A reply that says the decision alone: no counts, pass, display,
    /// flags, card or guard view (a denial before the pass is known; the
    /// base of a reply built from fewer facts).
    pub fn bare(scan_id: ScanId, decision: Decision) -> ScanReply {
        ScanReply {
            scan_id,
            decision,
            uses: None,
            max_uses: None,
            pass: None,
            display: None,
            replayed: false,
            flags: Vec::new(),
            card: None,
            guard: None,
        }
    }
}

/// What a guard's screen shows beside the decision (entries used and
/// allowed are the reply's `uses` and `max_uses`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardView {
    /// The pass's end of validity (Unix ms); absent: no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until_ms: Option<i64>,
    /// Whether the holder is inside after this scan; absent when the
    /// pass's event has no definition (presence is not tracked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside: Option<bool>,
    /// The zone the holder is in after this scan, when inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The zones the pass admits to; empty: every zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
}

/// Longest [`WireError`] message, in bytes. One sentence for a person fits
/// in far less; the bound keeps every error reply well inside
/// [`crate::frame::FRAME_MAX_BYTES`] whatever the message quotes (a decode
/// error may quote the hostile input itself), and keeps logs of it short.
pub const ERROR_MESSAGE_MAX_BYTES: usize = 256;
/// Ends a message cut at [`ERROR_MESSAGE_MAX_BYTES`], so a reader sees it was cut.
const TRUNCATED_MARK: &str = "…";

/// Why a request got no decision.
///
/// The message is bounded by construction: [`WireError::new`] (and decoding)
/// cut it at a character boundary to at most [`ERROR_MESSAGE_MAX_BYTES`], and
/// the field is private, so no caller can build a longer one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireErrorFields")]
pub struct WireError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// One human-readable sentence, at most [`ERROR_MESSAGE_MAX_BYTES`].
    message: String,
}

/// The fields of a [`WireError`] as decoded, before the message is bounded.
#[derive(Deserialize)]
struct WireErrorFields {
    code: ErrorCode,
    message: String,
}

impl From<WireErrorFields> for WireError {
    fn from(fields: WireErrorFields) -> Self {
        WireError::new(fields.code, fields.message)
    }
}

impl WireError {
    /// An error with `message` cut to at most [`ERROR_MESSAGE_MAX_BYTES`]
    /// bytes (at a character boundary, ending in `…` when cut).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > ERROR_MESSAGE_MAX_BYTES {
            let keep = message.floor_char_boundary(ERROR_MESSAGE_MAX_BYTES - TRUNCATED_MARK.len());
            message.truncate(keep);
            message.push_str(TRUNCATED_MARK);
        }
        debug_assert!(message.len() <= ERROR_MESSAGE_MAX_BYTES);
        WireError { code, message }
    }

    /// The human-readable sentence.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Response {
    /// An error reply (its message bounded by [`WireError::new`]).
    pub fn error(id: u64, code: ErrorCode, message: impl Into<String>) -> Self {
        Response {
            id,
            body: ResponseBody::Error(WireError::new(code, message)),
        }
    }

    /// The reply to a frame whose payload could not be read: id 0 (the
    /// request's id is unknown), the code for `e`, and its description.
    pub fn undecodable(e: &DecodeError) -> Self {
        Response::error(0, e.code(), e.to_string())
    }
}

impl DecodeError {
    /// The error code a reply to this error carries.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            DecodeError::Malformed(_) => ErrorCode::MalformedFrame,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Reason;
    use crate::frame::{self, EncodeError, FRAME_MAX_BYTES};
    use crate::pass::{CARD_FIELD_MAX_BYTES, DISPLAY_MAX_BYTES, SharedCard};
    use crate::scan::SCAN_ID_MAX_BYTES;
    use bytes::BytesMut;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Any spelling but `in` and `out` reads as `Unknown` (denied
    /// `unknown_direction` at the edge) in both encodings a scan arrives in.
    #[test]
    fn a_foreign_direction_reads_as_unknown() {
        for (text, want) in [
            ("in", ScanDirection::In),
            ("out", ScanDirection::Out),
            ("sideways", ScanDirection::Unknown),
            ("IN", ScanDirection::Unknown),
            ("", ScanDirection::Unknown),
        ] {
            let packed = rmp_serde::to_vec(text).expect("msgpack");
            let read: ScanDirection = rmp_serde::from_slice(&packed).expect("msgpack");
            assert_eq!(read, want, "{text:?}");
            let json: ScanDirection = serde_json::from_value(text.into()).expect("json");
            assert_eq!(json, want, "{text:?}");
        }
        assert_eq!(ScanDirection::Unknown.known(), None);
        assert_eq!(
            ScanDirection::from(Direction::Out).known(),
            Some(Direction::Out)
        );
    }

    /// The hostile frame: a map whose body is a 4,000-byte string,
    /// which the decoder's error quotes in full.
    fn long_body_frame() -> Vec<u8> {
        let msg = BTreeMap::from([("body", "A".repeat(4_000))]);
        let mut payload = rmp_serde::to_vec_named(&msg).expect("msgpack");
        payload.insert(0, frame::FRAME_VERSION);
        payload
    }

    #[test]
    fn the_reply_to_an_undecodable_long_body_fits_a_frame() {
        let payload = long_body_frame();
        let e = frame::decode::<Request>(payload[0], &payload[1..]).expect_err("not a request");
        assert!(
            e.to_string().len() > 4_000,
            "the error quotes the whole input"
        );
        let reply = Response::undecodable(&e);
        let ResponseBody::Error(wire) = &reply.body else {
            panic!("an error reply")
        };
        assert_eq!(wire.code, ErrorCode::MalformedFrame);
        assert_eq!(wire.message().len(), ERROR_MESSAGE_MAX_BYTES);
        assert!(wire.message().ends_with(TRUNCATED_MARK));
        let mut out = BytesMut::new();
        frame::encode(&reply, &mut out).expect("fits");
        let (v, p) = frame::split_frame(&mut out).expect("frame");
        assert_eq!(frame::decode::<Response>(v, &p).expect("decodes"), reply);
    }

    #[test]
    fn messages_are_cut_at_a_character_boundary() {
        // 'é' is 2 bytes: the cut must not split one.
        let e = WireError::new(ErrorCode::InvalidRequest, "é".repeat(1_000));
        assert!(e.message().len() <= ERROR_MESSAGE_MAX_BYTES);
        assert!(e.message().ends_with(TRUNCATED_MARK));
        let short = WireError::new(ErrorCode::InvalidRequest, "gate: too long");
        assert_eq!(short.message(), "gate: too long");
    }

    #[test]
    fn a_decoded_error_is_bounded_too() {
        #[derive(Serialize)]
        struct Raw {
            code: ErrorCode,
            message: String,
        }
        let raw = Raw {
            code: ErrorCode::Unavailable,
            message: "x".repeat(2_000),
        };
        let bytes = rmp_serde::to_vec_named(&raw).expect("msgpack");
        let e: WireError = rmp_serde::from_slice(&bytes).expect("decodes");
        assert_eq!(e.message().len(), ERROR_MESSAGE_MAX_BYTES);
    }

    #[test]
    fn the_largest_scan_reply_fits_a_frame() {
        let reply = Response {
            id: u64::MAX,
            body: ResponseBody::Scan(ScanReply {
                scan_id: ScanId::new("s".repeat(SCAN_ID_MAX_BYTES)).expect("id"),
                decision: Decision::Denied(Reason::WrongGate),
                uses: Some(u32::MAX),
                max_uses: Some(u32::MAX),
                pass: Some("0123abcd".into()),
                // Multi-byte characters: the display limit counts bytes.
                display: Some("é".repeat(DISPLAY_MAX_BYTES / 2)),
                replayed: true,
                flags: Flag::ALL.to_vec(),
                // Every card field shared, each at its byte limit.
                card: Some(Box::new({
                    let full = || Some("é".repeat(CARD_FIELD_MAX_BYTES / 2));
                    SharedCard {
                        name: full(),
                        email: full(),
                        phone: full(),
                        company: full(),
                        title: full(),
                        links: full(),
                    }
                })),
                guard: None,
            }),
        };
        frame::encode(&reply, &mut BytesMut::new()).expect("fits");
    }

    #[test]
    fn flags_are_absent_when_none_and_old_readers_skip_them() {
        let mut reply = crate::testing::granted_reply(ScanId::new("s").expect("id"));
        let bytes = rmp_serde::to_vec_named(&reply).expect("encode");
        assert!(
            !bytes.windows(5).any(|w| w == b"flags"),
            "no field when no flag"
        );
        reply.flags = vec![Flag::RapidRescan, Flag::SharedCode];
        let bytes = rmp_serde::to_vec_named(&reply).expect("encode");
        assert_eq!(
            rmp_serde::from_slice::<ScanReply>(&bytes).expect("decode"),
            reply
        );
        // A scanner built before the field: its reply type has no `flags`.
        #[derive(Deserialize)]
        struct OldReply {
            decision: Decision,
            replayed: bool,
        }
        let old: OldReply = rmp_serde::from_slice(&bytes).expect("an old scanner reads it");
        assert_eq!((old.decision, old.replayed), (Decision::Granted, false));
    }

    #[test]
    fn a_request_too_long_for_a_frame_is_an_error_that_writes_nothing() {
        let mut out = BytesMut::from(&b"kept"[..]);
        let req = Request {
            id: 1,
            body: RequestBody::Scan(ScanRequest {
                token: "A".repeat(4_296), // a version-40 QR code's capacity
                gate: "g".into(),
                event: None,
                scan_id: ScanId::new("s").expect("id"),
                scanner_time_ms: 0,
                timeout_ms: None,
                direction: None,
                check_only: false,
            }),
        };
        match frame::encode(&req, &mut out) {
            Err(EncodeError::TooLarge { len, max }) => {
                assert!(len > max && max == FRAME_MAX_BYTES, "{len} > {max}")
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert_eq!(&out[..], b"kept");
    }

    proptest! {
        #[test]
        fn any_error_message_makes_a_reply_that_fits(message in ".{0,3000}", id in any::<u64>()) {
            let reply = Response::error(id, ErrorCode::InvalidRequest, message);
            prop_assert!(frame::encode(&reply, &mut BytesMut::new()).is_ok());
        }
    }
}
