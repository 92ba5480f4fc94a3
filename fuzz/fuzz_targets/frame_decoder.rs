//! Feeds arbitrary bytes to the gateway's frame splitter and request decoder,
//! the way a stream reader does: split every whole frame, decode each, stop at
//! an oversized length. Must never panic or allocate beyond the frame limit.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use scangate_core::frame::{self, FRAME_MAX_BYTES, FrameError, LENGTH_BYTES};
use scangate_core::wire::Request;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    loop {
        match frame::split_frame(&mut buf) {
            Ok((version, payload)) => {
                assert!(payload.len() < FRAME_MAX_BYTES);
                let _ = frame::decode::<Request>(version, &payload);
            }
            Err(FrameError::Empty) => {
                let _ = buf.split_to(LENGTH_BYTES);
            }
            Err(FrameError::Incomplete | FrameError::TooLarge { .. }) => break,
        }
    }
});
