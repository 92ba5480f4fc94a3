//! The offline messages: round trips through real frames, the worst cases
//! fit one frame, and a chunked download end to end.

use super::messages::*;
use super::tests::{pass, signer, snapshot_of};
use crate::decision::{Decision, Reason};
use crate::frame::{self, FRAME_MAX_BYTES};
use crate::pass::{EVENT_MAX_BYTES, GATE_MAX_BYTES};
use crate::scan::{SCAN_ID_MAX_BYTES, ScanId};
use crate::wire::{ErrorCode, Request, RequestBody, Response, ResponseBody};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

fn round_trip<T>(msg: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut buf = BytesMut::new();
    frame::encode(msg, &mut buf).expect("fits a frame");
    let (v, payload) = frame::split_frame(&mut buf).expect("a whole frame");
    assert!(buf.is_empty());
    frame::decode(v, &payload).expect("decodes")
}

/// A 64-byte name of 2-byte characters: the longest a name may be.
fn long_name() -> String {
    "é".repeat(GATE_MAX_BYTES / 2)
}

fn worst_scan(n: usize) -> OfflineScan {
    let id = format!("{n:0>width$}", width = SCAN_ID_MAX_BYTES);
    OfflineScan {
        token: "A".repeat(crate::token::TOKEN_MAX_CHARS),
        gate: long_name(),
        event: "é".repeat(EVENT_MAX_BYTES / 2),
        scan_id: ScanId::new(id).expect("id"),
        device_time_ms: i64::MIN,
        snapshot_version: u64::MAX,
        decision: Decision::Denied(Reason::NeedsNetwork),
    }
}

#[test]
fn the_largest_upload_and_its_ack_fit_one_frame() {
    let upload = Request {
        id: u64::MAX,
        body: RequestBody::OfflineUpload(OfflineUpload {
            scans: (0..UPLOAD_BATCH_MAX).map(worst_scan).collect(),
        }),
    };
    assert_eq!(upload.body, round_trip(&upload).body);
    let ack = Response {
        id: u64::MAX,
        body: ResponseBody::OfflineAck(OfflineAck {
            scans: (0..UPLOAD_BATCH_MAX)
                .map(|n| ScanAck {
                    scan_id: worst_scan(n).scan_id,
                    status: AckStatus::Refused(ErrorCode::SnapshotUnavailable),
                    conflicts: ConflictKind::ALL.to_vec(),
                })
                .collect(),
        }),
    };
    assert_eq!(ack, round_trip(&ack));
    // One more scan would not be a valid batch, whatever its size.
    let mut over = OfflineUpload {
        scans: (0..=UPLOAD_BATCH_MAX).map(worst_scan).collect(),
    };
    assert_eq!(
        over.check(),
        Err(UploadError::BatchSize(UPLOAD_BATCH_MAX + 1))
    );
    over.scans.truncate(UPLOAD_BATCH_MAX);
    assert_eq!(over.check(), Ok(()));
    over.scans[1].scan_id = over.scans[0].scan_id.clone();
    assert_eq!(over.check(), Err(UploadError::DuplicateScanId));
    over.scans.clear();
    assert_eq!(over.check(), Err(UploadError::BatchSize(0)));
}

#[test]
fn the_largest_chunk_reply_fits_one_frame_as_binary() {
    let blob = Bytes::from(vec![0xab; SNAPSHOT_CHUNK_MAX_BYTES * 2]);
    let chunk = SnapshotChunk::of(&long_name(), u64::MAX, Some(u64::MAX), &blob, 0);
    let reply = Response {
        id: u64::MAX,
        body: ResponseBody::Snapshot(chunk.expect("chunk")),
    };
    let mut buf = BytesMut::new();
    frame::encode(&reply, &mut buf).expect("fits");
    // MessagePack bin: the data costs its length plus 3 bytes, not 2 per byte.
    assert!(
        buf.len() < SNAPSHOT_CHUNK_MAX_BYTES + 200,
        "{} bytes",
        buf.len()
    );
    assert!(buf.len() <= FRAME_MAX_BYTES);
    assert_eq!(reply, round_trip(&reply));
}

#[test]
fn a_snapshot_fetch_round_trips_and_old_fields_default() {
    let fetch = Request {
        id: 7,
        body: RequestBody::Snapshot(SnapshotFetch {
            event: "fest".into(),
            have_version: Some(3),
            version: Some(4),
            offset: 3072,
        }),
    };
    assert_eq!(fetch, round_trip(&fetch));
    // The smallest first request: only the event.
    #[derive(serde::Serialize)]
    struct Minimal {
        event: &'static str,
    }
    let bytes = rmp_serde::to_vec_named(&Minimal { event: "fest" }).expect("msgpack");
    let read: SnapshotFetch = rmp_serde::from_slice(&bytes).expect("decodes");
    assert_eq!(
        (read.have_version, read.version, read.offset),
        (None, None, 0)
    );
}

/// Serves `blob` chunk by chunk through real frames, as a gateway would.
fn download(blob: &Bytes, base: Option<u64>, have: Option<u64>) -> Option<Downloaded> {
    let mut d = SnapshotDownload::new("fest", have);
    let mut rounds = 0;
    while let Some(fetch) = d.next_request() {
        let fetch = round_trip(&fetch);
        let chunk = SnapshotChunk::of("fest", 9, base, blob, fetch.offset).expect("in range");
        d.accept(&round_trip(&chunk)).expect("continues");
        rounds += 1;
        assert!(
            rounds <= blob.len() / SNAPSHOT_CHUNK_MAX_BYTES + 1,
            "bounded rounds"
        );
    }
    d.finish()
}

#[test]
fn a_chunked_download_delivers_the_signed_bytes_whole() {
    let passes: Vec<_> = (0..400).map(pass).collect();
    let bytes = snapshot_of(&passes, 9).to_signed_bytes(&signer());
    assert!(bytes.len() > 4 * SNAPSHOT_CHUNK_MAX_BYTES, "several chunks");
    let blob = Bytes::from(bytes.clone());
    assert_eq!(
        download(&blob, None, Some(2)),
        Some(Downloaded::Snapshot(bytes.clone()))
    );
    assert_eq!(
        download(&blob, Some(2), Some(2)),
        Some(Downloaded::Delta(bytes))
    );
    assert_eq!(
        download(&Bytes::new(), Some(9), Some(9)),
        Some(Downloaded::Current)
    );
}

#[test]
fn a_chunk_that_does_not_continue_the_download_is_refused() {
    let blob = Bytes::from(vec![1u8; SNAPSHOT_CHUNK_MAX_BYTES * 3]);
    let chunk = |version, base, offset| SnapshotChunk::of("fest", version, base, &blob, offset);
    let mut d = SnapshotDownload::new("fest", Some(1));
    d.accept(&chunk(5, None, 0).expect("chunk")).expect("first");
    let at = SNAPSHOT_CHUNK_MAX_BYTES as u32;
    let other_version = chunk(6, None, at).expect("chunk");
    assert!(matches!(
        d.accept(&other_version),
        Err(DownloadError::Mismatch(_))
    ));
    let skipped = chunk(5, None, 2 * at).expect("chunk");
    assert_eq!(
        d.accept(&skipped),
        Err(DownloadError::WrongOffset {
            got: 2 * at,
            want: at
        })
    );
    let mut wrong_event = chunk(5, None, at).expect("chunk");
    wrong_event.event = "other".into();
    assert_eq!(
        d.accept(&wrong_event),
        Err(DownloadError::Mismatch("event"))
    );
    let mut stuffed = chunk(5, None, at).expect("chunk");
    stuffed.data = Bytes::from(vec![0u8; SNAPSHOT_CHUNK_MAX_BYTES + 1]);
    assert_eq!(d.accept(&stuffed), Err(DownloadError::Oversized));
    // A delta from a version the device does not hold.
    let mut fresh = SnapshotDownload::new("fest", Some(1));
    assert!(fresh.accept(&chunk(5, Some(4), 0).expect("chunk")).is_err());
    // Announcing more than a snapshot may have.
    let mut huge = chunk(5, None, 0).expect("chunk");
    huge.total_len = u32::MAX;
    assert_eq!(
        SnapshotDownload::new("fest", None).accept(&huge),
        Err(DownloadError::Oversized)
    );
    // The gateway side: no chunk past the end.
    assert_eq!(chunk(5, None, blob.len() as u32), None);
}

proptest! {
    #[test]
    fn offline_scans_round_trip(
        token in "[A-Z2-7]{0,64}",
        gate in "[a-z0-9-]{1,64}",
        t in any::<i64>(),
        v in any::<u64>(),
        reason in proptest::sample::select(Reason::ALL.to_vec()),
        granted in any::<bool>(),
    ) {
        let decision = if granted { Decision::Granted } else { Decision::Denied(reason) };
        let scan = OfflineScan {
            token, gate, event: "fest".into(), scan_id: ScanId::new("s-1").expect("id"),
            device_time_ms: t, snapshot_version: v, decision,
        };
        prop_assert_eq!(scan.check(), Ok(()));
        let req = Request { id: 1, body: RequestBody::OfflineUpload(OfflineUpload { scans: vec![scan] }) };
        prop_assert_eq!(round_trip(&req), req);
    }
}

#[test]
fn conflict_kinds_spell_as_their_serde_names_and_an_old_ack_decodes() {
    for kind in ConflictKind::ALL {
        assert_eq!(serde_json::to_value(kind).expect("json"), kind.as_str());
        assert_eq!(kind.as_str().parse::<ConflictKind>(), Ok(kind));
    }
    assert!("overlimit".parse::<ConflictKind>().is_err());
    // An ack without the field (nothing flagged) decodes as no conflicts.
    let ack: ScanAck =
        serde_json::from_str(r#"{"scan_id":"s-1","status":"recorded"}"#).expect("decodes");
    assert!(ack.conflicts.is_empty());
    // A kind a newer gateway added is skipped; the rest and the status stay.
    let newer =
        r#"{"scan_id":"s-1","status":"duplicate","conflicts":["over_limit","tomorrow_kind"]}"#;
    let ack: ScanAck = serde_json::from_str(newer).expect("decodes");
    assert_eq!(
        (ack.status, ack.conflicts),
        (AckStatus::Duplicate, vec![ConflictKind::OverLimit])
    );
}
