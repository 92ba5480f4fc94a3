//! The byte layout of `docs/protocol.md` against the code: the fuzz seeds in
//! `fuzz/seeds/snapshot_open/` were written from that page alone (not with
//! this crate); sealed with a key, they open and apply as the page says.

use super::format::EntryIndex;
use super::tests::signer;
use crate::pass::Status;

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
