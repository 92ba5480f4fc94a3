//! Length-prefixed framing.
//!
//! ```text
//! u32 big-endian  length of what follows (version byte + payload)
//! u8              frame version (1)
//! ...             payload: one MessagePack-encoded message
//! ```
//!
//! Decoding is split the way mini-redis and quinn-proto do it: first "is a
//! whole frame here?" ([`FrameError::Incomplete`] means wait for bytes, not an
//! error), with the length compared to the limit **before** anything is
//! allocated; then parse the payload, where a bad payload is a separate,
//! specific error and the stream's framing stays intact.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

/// The frame version this crate writes and reads.
pub const FRAME_VERSION: u8 = 1;
/// Bytes of the length prefix.
pub const LENGTH_BYTES: usize = 4;
/// Largest frame body (version byte + payload) a peer may send, in bytes. A
/// scan request is about 150 bytes; 4 KiB leaves room for growth while keeping
/// a hostile sender's cost to the gateway small.
pub const FRAME_MAX_BYTES: usize = 4 * 1024;

/// Whether a whole frame is buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Not enough bytes yet; read more.
    #[error("incomplete frame")]
    Incomplete,
    /// The length prefix exceeds [`FRAME_MAX_BYTES`].
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A zero length: not even a version byte.
    #[error("empty frame")]
    Empty,
}

/// A whole frame's payload could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The version byte is not [`FRAME_VERSION`].
    #[error("frame version {0} is not supported (this gateway speaks version {FRAME_VERSION})")]
    UnsupportedVersion(u8),
    /// The payload is not a valid message.
    #[error("frame payload is not a valid message: {0}")]
    Malformed(#[source] rmp_serde::decode::Error),
}

impl DecodeError {
    /// A short, bounded label for metrics: `version` or `malformed`.
    pub fn cause(&self) -> &'static str {
        match self {
            DecodeError::UnsupportedVersion(_) => "version",
            DecodeError::Malformed(_) => "malformed",
        }
    }
}

/// Splits the next whole frame off `buf`: returns `(version, payload)`.
/// Leaves `buf` untouched on any error.
pub fn split_frame(buf: &mut BytesMut) -> Result<(u8, Bytes), FrameError> {
    if buf.len() < LENGTH_BYTES {
        return Err(FrameError::Incomplete);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > FRAME_MAX_BYTES {
        return Err(FrameError::TooLarge {
            len,
            max: FRAME_MAX_BYTES,
        });
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if buf.len() < LENGTH_BYTES + len {
        return Err(FrameError::Incomplete);
    }
    buf.advance(LENGTH_BYTES);
    let mut body = buf.split_to(len).freeze();
    let version = body.get_u8();
    Ok((version, body))
}

/// Decodes a frame's payload, checking the version first.
pub fn decode<T: DeserializeOwned>(version: u8, payload: &[u8]) -> Result<T, DecodeError> {
    if version != FRAME_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    rmp_serde::from_slice(payload).map_err(DecodeError::Malformed)
}

/// A message could not be made into a frame. `out` is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded message (version byte included) exceeds [`FRAME_MAX_BYTES`],
    /// so the peer would refuse it (a scan request carrying a token far
    /// longer than any real one, for example).
    #[error("the message is {len} bytes encoded, over the frame limit of {max} bytes")]
    TooLarge {
        /// The encoded length (version byte + payload).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The message cannot be represented in MessagePack (a bug in its type).
    #[error("the message cannot be encoded: {0}")]
    Unencodable(String),
}

/// Appends one frame holding `msg` to `out`, or leaves `out` untouched and
/// says why not. Every reply the gateway builds fits (error messages are
/// bounded by [`crate::wire::WireError::new`]); a request may not, when the
/// scanner read an over-long QR code.
pub fn encode<T: Serialize>(msg: &T, out: &mut BytesMut) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_u32(0);
    out.put_u8(FRAME_VERSION);
    let mut w = out.writer();
    let written = rmp_serde::encode::write_named(&mut w, msg);
    let out = w.into_inner();
    let len = out.len() - start - LENGTH_BYTES;
    let failure = match written {
        Err(e) => Some(EncodeError::Unencodable(e.to_string())),
        Ok(()) if len > FRAME_MAX_BYTES => Some(EncodeError::TooLarge {
            len,
            max: FRAME_MAX_BYTES,
        }),
        Ok(()) => None,
    };
    if let Some(e) = failure {
        out.truncate(start);
        return Err(e);
    }
    // `len` is at most FRAME_MAX_BYTES, so it fits the u32 prefix.
    out[start..start + LENGTH_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Decision, Reason};
    use crate::scan::ScanId;
    use crate::wire::*;
    use proptest::prelude::*;

    fn scan(token: &str) -> Request {
        Request {
            id: 42,
            body: RequestBody::Scan(ScanRequest {
                token: token.into(),
                gate: "north-1".into(),
                event: Some("fest".into()),
                scan_id: ScanId::new("s-1").expect("id"),
                scanner_time_ms: 1_700_000_000_000,
                timeout_ms: None,
                direction: None,
                check_only: false,
            }),
        }
    }

    #[test]
    fn round_trips_and_waits_for_whole_frames() {
        let mut buf = BytesMut::new();
        encode(&scan("T"), &mut buf).expect("encode");
        let whole = buf.clone();
        for cut in 0..whole.len() {
            let mut part = BytesMut::from(&whole[..cut]);
            assert_eq!(
                split_frame(&mut part),
                Err(FrameError::Incomplete),
                "cut at {cut}"
            );
            assert_eq!(part.len(), cut, "an incomplete frame is not consumed");
        }
        let (v, payload) = split_frame(&mut buf).expect("whole frame");
        assert!(buf.is_empty());
        assert_eq!(decode::<Request>(v, &payload).expect("decodes"), scan("T"));
    }

    #[test]
    fn byte_vector_of_a_ping() {
        let mut buf = BytesMut::new();
        encode(
            &Request {
                id: 1,
                body: RequestBody::Ping,
            },
            &mut buf,
        )
        .expect("encode");
        // len=16, version 1, map{id:1, body:"ping"}
        assert_eq!(&buf[..5], &[0, 0, 0, 16, 1]);
        assert_eq!(&buf[5..], b"\x82\xa2id\x01\xa4body\xa4ping");
    }

    #[test]
    fn oversized_length_is_refused_before_reading_the_body() {
        let mut buf = BytesMut::new();
        buf.put_u32((FRAME_MAX_BYTES + 1) as u32);
        assert_eq!(
            split_frame(&mut buf),
            Err(FrameError::TooLarge {
                len: FRAME_MAX_BYTES + 1,
                max: FRAME_MAX_BYTES
            })
        );
        let mut empty = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert_eq!(split_frame(&mut empty), Err(FrameError::Empty));
    }

    #[test]
    fn bad_version_and_garbage_are_distinct_errors() {
        assert!(matches!(
            decode::<Request>(2, b""),
            Err(DecodeError::UnsupportedVersion(2))
        ));
        assert!(matches!(
            decode::<Request>(1, b"\xc1garbage"),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn responses_round_trip() {
        let r = Response {
            id: 9,
            body: ResponseBody::Scan(ScanReply {
                scan_id: ScanId::new("x").expect("id"),
                decision: Decision::Denied(Reason::UsedUp),
                uses: Some(3),
                max_uses: Some(3),
                pass: Some("abcd0123".into()),
                display: None,
                replayed: false,
                flags: Vec::new(),
                card: None,
                guard: None,
            }),
        };
        let mut buf = BytesMut::new();
        encode(&r, &mut buf).expect("encode");
        let (v, p) = split_frame(&mut buf).expect("frame");
        assert_eq!(decode::<Response>(v, &p).expect("decodes"), r);
    }

    proptest! {
        #[test]
        fn request_round_trip(id in any::<u64>(), token in "[A-Z2-7]{0,64}", gate in "[a-z0-9-]{1,32}", t in any::<i64>(), timeout_ms in any::<Option<u32>>()) {
            let req = Request { id, body: RequestBody::Scan(ScanRequest {
                token, gate, event: None, scan_id: ScanId::new("abc").expect("id"), scanner_time_ms: t, timeout_ms, direction: None, check_only: false,
            })};
            let mut buf = BytesMut::new();
            encode(&req, &mut buf).expect("encode");
            let (v, p) = split_frame(&mut buf).expect("frame");
            prop_assert_eq!(decode::<Request>(v, &p).expect("decodes"), req);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::from(&bytes[..]);
            if let Ok((v, p)) = split_frame(&mut buf) {
                let _ = decode::<Request>(v, &p);
            }
        }
    }
}
