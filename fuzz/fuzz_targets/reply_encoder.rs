//! Feeds arbitrary bytes to the gateway's stream reader logic and encodes the
//! reply each frame would get: the error reply to an undecodable frame (its
//! message may quote the input), and for a decoded scan request the error
//! and the decision replies that echo its fields. Every reply must encode
//! into one frame (error messages are bounded by construction) and decode
//! back to itself; nothing may panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use scangate_core::frame::{self, FrameError, LENGTH_BYTES};
use scangate_core::wire::{
    ERROR_MESSAGE_MAX_BYTES, ErrorCode, Request, RequestBody, Response, ResponseBody, ScanReply,
};
use scangate_core::{Decision, Reason};

fn round_trip(reply: &Response) {
    let mut out = BytesMut::new();
    frame::encode(reply, &mut out).expect("every reply fits a frame");
    let (version, payload) = frame::split_frame(&mut out).expect("a whole frame");
    let back: Response = frame::decode(version, &payload).expect("decodes");
    assert_eq!(&back, reply);
    if let ResponseBody::Error(e) = &back.body {
        assert!(e.message().len() <= ERROR_MESSAGE_MAX_BYTES);
    }
}

fn replies_to(request: Request) -> Vec<Response> {
    let id = request.id;
    let RequestBody::Scan(scan) = request.body else {
        return vec![Response { id, body: ResponseBody::Pong }];
    };
    let gate_error = scangate_core::pass::check_name(
        "gate",
        &scan.gate,
        scangate_core::pass::GATE_MAX_BYTES,
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    vec![
        Response::error(id, ErrorCode::InvalidRequest, gate_error),
        Response::error(
            id,
            ErrorCode::ScanIdConflict,
            format!("scan id {} was already used for another pass", scan.scan_id),
        ),
        Response {
            id,
            body: ResponseBody::Scan(ScanReply::bare(
                scan.scan_id,
                Decision::Denied(Reason::Forged),
            )),
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    loop {
        match frame::split_frame(&mut buf) {
            Ok((version, payload)) => match frame::decode::<Request>(version, &payload) {
                Ok(request) => replies_to(request).iter().for_each(round_trip),
                Err(e) => round_trip(&Response::undecodable(&e)),
            },
            Err(FrameError::Empty) => {
                let _ = buf.split_to(LENGTH_BYTES);
            }
            Err(FrameError::Incomplete | FrameError::TooLarge { .. }) => break,
        }
    }
});
