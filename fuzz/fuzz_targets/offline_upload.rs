//! Feeds arbitrary bytes to the gateway's reading of an offline upload, the
//! way its QUIC edge does: a frame payload decoded as a request and, when it
//! is an `OfflineUpload`, the batch checks (`OfflineUpload::check`), each
//! scan's own checks (`OfflineScan::check`) and its token's verification.
//! Must never panic; what passes a check must hold what the check promises
//! (1 to `UPLOAD_BATCH_MAX` scans, distinct scan ids, bounded fields); the
//! acknowledgement the gateway would send, every scan with every conflict,
//! must fit one frame; and an accepted request must survive a round trip.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use scangate_core::frame::{self, FRAME_VERSION};
use scangate_core::offline::messages::{
    AckStatus, ConflictKind, OfflineAck, OfflineUpload, ScanAck, UPLOAD_BATCH_MAX,
};
use scangate_core::token::{Keyring, SigningKey, TOKEN_MAX_CHARS};
use scangate_core::wire::{Request, RequestBody};
use std::collections::HashSet;

fn check(upload: &OfflineUpload, ring: &Keyring) {
    if upload.check().is_ok() {
        let n = upload.scans.len();
        assert!((1..=UPLOAD_BATCH_MAX).contains(&n), "{n} scans passed");
        let ids: HashSet<_> = upload.scans.iter().map(|s| &s.scan_id).collect();
        assert_eq!(ids.len(), n, "a scan id twice passed");
    }
    for scan in &upload.scans {
        if scan.check().is_ok() {
            assert!(scan.token.len() <= TOKEN_MAX_CHARS);
            let _ = ring.verify(&scan.token);
        }
    }
    // The answer: one acknowledgement per scan, each naming every rule.
    let ack = OfflineAck {
        scans: upload
            .scans
            .iter()
            .take(UPLOAD_BATCH_MAX)
            .map(|s| ScanAck {
                scan_id: s.scan_id.clone(),
                status: AckStatus::Recorded,
                conflicts: ConflictKind::ALL.to_vec(),
            })
            .collect(),
    };
    let mut out = BytesMut::new();
    frame::encode(&ack, &mut out).expect("every acknowledgement fits a frame");
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = frame::decode::<Request>(FRAME_VERSION, data) else {
        return;
    };
    let RequestBody::OfflineUpload(upload) = &request.body else {
        return;
    };
    let ring = Keyring::new(
        &[SigningKey {
            id: 1,
            secret: [0x11; 32],
        }],
        1,
    )
    .expect("ring");
    check(upload, &ring);
    let mut out = BytesMut::new();
    if frame::encode(&request, &mut out).is_ok() {
        let (version, payload) = frame::split_frame(&mut out).expect("a whole frame");
        let back: Request = frame::decode(version, &payload).expect("decodes back");
        assert_eq!(back, request);
    }
});
