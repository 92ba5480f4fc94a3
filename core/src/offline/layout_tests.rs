//! The byte layout of `docs/protocol.md` against the code (the fuzz seeds in
//! `fuzz/seeds/snapshot_open/` were written from that page alone, not with
//! this crate; sealed with a key, they open and apply as the page says), and
//! the sizes issue 26 asks for.

use super::format::{ENTRY_BYTES, EntryIndex};
use super::tests::{NOW, pass, signer};
use super::{Delta, SnapshotMeta, build};
use crate::pass::{Pass, Status};

const SNAPSHOT: &[u8] = include_bytes!("../../../fuzz/seeds/snapshot_open/sealed-snapshot");
const DELTA: &[u8] = include_bytes!("../../../fuzz/seeds/snapshot_open/sealed-delta");

#[test]
fn blobs_written_from_the_documented_layout_open_and_apply() {
    let signer = signer();
    let verifier = signer.verifier();
    // The seeds' first byte is the fuzz target's mode; the rest is unsealed.
    let snapshot = signer.seal(SNAPSHOT[1..].to_vec());
    let snap = verifier
        .open_snapshot(&snapshot, "fest", 2_000)
        .expect("the documented snapshot layout opens");
    assert_eq!((snap.version(), snap.created_ms()), (3, 1_000));
    assert_eq!(snap.gates(), ["north", "south"]);
    assert_eq!(snap.profiles()[0].max_uses, Some(1));
    assert!(snap.profiles()[1].dynamic);
    let statuses: Vec<Status> = snap.entries().iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [Status::Suspended, Status::Revoked, Status::Active]
    );

    let delta = signer.seal(DELTA[1..].to_vec());
    let delta = verifier
        .open_delta(&delta, "fest", 2_000)
        .expect("the documented delta layout opens");
    let next = snap.apply(&delta).expect("applies to version 3");
    assert_eq!(next.version(), 4);
    assert_eq!(next.gates(), ["north", "south", "vip"]);
    let indexes: Vec<EntryIndex> = next.entries().iter().map(|e| e.index).collect();
    assert_eq!(
        indexes,
        [
            EntryIndex([1; 12]),
            EntryIndex([3; 12]),
            EntryIndex([9; 12])
        ]
    );
    assert_eq!(next.entry(&EntryIndex([9; 12])).map(|e| e.profile), Some(2));
}

#[test]
fn sizes_stay_inside_the_targets() {
    // One key: 50k passes within 2 MB; a delta of 1,000 changes within 64 KB.
    let one = crate::testing::one_key_keyring(1);
    let mut passes: Vec<Pass> = (0..50_000).map(pass).collect();
    let meta = SnapshotMeta::new("fest", 1, NOW);
    let v1 = build(&meta, &passes, |p| [one.sign(p.id, None)], None).expect("v1");
    let bytes = v1.to_signed_bytes(&signer());
    assert!(bytes.len() <= 2_000_000, "{} bytes", bytes.len());
    assert!(bytes.len() >= 50_000 * ENTRY_BYTES);
    for p in passes.iter_mut().step_by(50).take(1_000) {
        p.uses = 1;
    }
    let meta = SnapshotMeta::new("fest", 2, NOW);
    let v2 = build(&meta, &passes, |p| [one.sign(p.id, None)], Some(&v1)).expect("v2");
    let delta = Delta::between(&v1, &v2).expect("delta");
    assert_eq!(delta.changed().len(), 1_000);
    let len = delta.to_signed_bytes(&signer()).expect("fits").len();
    assert!(len <= 64 * 1024, "{len} bytes");
}
