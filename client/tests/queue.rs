//! The offline queue on real files: reopen, torn tails cut at every byte,
//! damage refused, acknowledgements, compaction, bounds and the lock. (The
//! SIGKILL test is in `queue_crash.rs`: a child forked while another test
//! here opens a queue would hold that queue's lock until it execs.)

use crate::support;

use scangate_client::queue::{COMPACT_MIN_DEAD_BYTES, LOCK_FILE, QUEUE_FILE, QueueLimits};
use scangate_client::{OfflineQueue, Pushed, QueueError, ScanId};
use std::path::Path;
use support::queue::{OfflineScan, id, ids, open, scan, scan_with_note};

#[test]
fn entries_survive_a_reopen_in_order_and_a_repeated_scan_id_is_kept_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut q = open(dir.path());
    assert!(q.is_empty());
    assert_eq!(q.push(scan("a")).expect("push"), Pushed::Queued);
    assert_eq!(q.push(scan("b")).expect("push"), Pushed::Queued);
    let size = q.file_bytes();
    assert_eq!(q.push(scan("a")).expect("push"), Pushed::AlreadyQueued);
    assert_eq!(q.file_bytes(), size, "a repeated scan id writes nothing");
    drop(q);
    let q = open(dir.path());
    assert_eq!(ids(&q), ["a", "b"]);
    assert_eq!(q.pending().next(), Some(&scan("a")));
    assert_eq!(
        std::fs::metadata(q.path()).expect("stat").len(),
        q.file_bytes()
    );
}

/// The queue file after pushing `a`, `b`, `c`, and the offset where `c` starts.
fn three_entries(dir: &Path) -> (Vec<u8>, u64) {
    let mut q = open(dir);
    q.push(scan("a")).expect("push");
    q.push(scan("b")).expect("push");
    let c_starts = q.file_bytes();
    q.push(scan("c")).expect("push");
    drop(q);
    (std::fs::read(dir.join(QUEUE_FILE)).expect("read"), c_starts)
}

#[test]
fn a_cut_at_every_byte_of_the_last_record_drops_only_that_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, c_starts) = three_entries(dir.path());
    let path = dir.path().join(QUEUE_FILE);
    for cut in c_starts as usize..bytes.len() {
        std::fs::write(&path, &bytes[..cut]).expect("write");
        let mut q = open(dir.path());
        assert_eq!(ids(&q), ["a", "b"], "cut at {cut}");
        assert_eq!(q.file_bytes(), c_starts, "cut at {cut}");
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len(),
            c_starts,
            "the torn record is cut off the file (cut at {cut})"
        );
        // What comes next is appended after whole records only.
        q.push(scan("d")).expect("push");
        drop(q);
        assert_eq!(ids(&open(dir.path())), ["a", "b", "d"], "cut at {cut}");
    }
}

#[test]
fn a_zero_filled_tail_is_torn_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, c_starts) = three_entries(dir.path());
    let mut grown = bytes[..c_starts as usize].to_vec();
    grown.resize(bytes.len(), 0);
    std::fs::write(dir.path().join(QUEUE_FILE), &grown).expect("write");
    assert_eq!(ids(&open(dir.path())), ["a", "b"]);
}

#[test]
fn a_flipped_byte_before_the_last_record_is_an_error_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, c_starts) = three_entries(dir.path());
    let path = dir.path().join(QUEUE_FILE);
    for i in 0..c_starts as usize {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x20;
        std::fs::write(&path, &damaged).expect("write");
        match OfflineQueue::<OfflineScan>::open(dir.path(), QueueLimits::default()) {
            Err(QueueError::Foreign { .. }) if i < 8 => {}
            Err(QueueError::Corrupt { offset, .. }) if i >= 8 => {
                assert!(offset <= i as u64, "flip at {i} reported at {offset}");
            }
            other => panic!("flip at byte {i}: {other:?}"),
        }
        assert_eq!(
            std::fs::read(&path).expect("read"),
            damaged,
            "a refused queue is left as it is (flip at {i})"
        );
    }
}

#[test]
fn acknowledged_entries_stay_gone_after_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut q = open(dir.path());
    for n in ["a", "b", "c", "d", "e"] {
        q.push(scan(n)).expect("push");
    }
    let acked = q
        .ack([&id("b"), &id("d"), &id("never-queued")])
        .expect("ack");
    assert_eq!(acked, 2);
    assert_eq!(ids(&q), ["a", "c", "e"]);
    assert!(!q.contains(&id("b")));
    drop(q);
    let mut q = open(dir.path());
    assert_eq!(ids(&q), ["a", "c", "e"]);
    assert_eq!(
        q.ack([&id("b")]).expect("ack again"),
        0,
        "an ack is idempotent"
    );
    // Acknowledged, a scan id may be queued again (the gateway counts it once).
    assert_eq!(q.push(scan("b")).expect("push"), Pushed::Queued);
    assert_eq!(ids(&q), ["a", "c", "e", "b"]);
}

#[test]
fn compaction_shrinks_the_file_and_keeps_what_waits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut q = open(dir.path());
    let note = "x".repeat(1_000);
    let n = (COMPACT_MIN_DEAD_BYTES / 1_000 + 10) as usize;
    let all: Vec<String> = (0..n).map(|i| format!("scan-{i}")).collect();
    for s in &all {
        q.push(scan_with_note(s, &note)).expect("push");
    }
    let before = q.file_bytes();
    assert!(before > COMPACT_MIN_DEAD_BYTES);
    let done: Vec<ScanId> = all[..n - 1].iter().map(|s| id(s)).collect();
    assert_eq!(q.ack(&done).expect("ack"), n - 1);
    let after = q.file_bytes();
    assert!(after < 2_000, "compacted from {before} to {after} bytes");
    assert_eq!(std::fs::metadata(q.path()).expect("stat").len(), after);
    assert!(!dir.path().join("queue.log.tmp").exists());
    q.push(scan("late")).expect("push after compaction");
    drop(q);
    let mut q = open(dir.path());
    assert_eq!(ids(&q), [all[n - 1].as_str(), "late"]);
    // An emptied queue is always compacted, down to its header.
    q.ack([&id(&all[n - 1]), &id("late")]).expect("ack");
    assert!(q.is_empty());
    assert_eq!(q.file_bytes(), 8);
    drop(q);
    assert!(open(dir.path()).is_empty());
}

#[test]
fn bounds_answer_queue_full_and_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = QueueLimits {
        max_entries: 2,
        ..QueueLimits::default()
    };
    let mut q = OfflineQueue::open(dir.path(), limits).expect("open");
    q.push(scan("a")).expect("push");
    q.push(scan("b")).expect("push");
    let size = q.file_bytes();
    match q.push(scan("c")) {
        Err(QueueError::Full {
            pending,
            max_entries,
            ..
        }) => assert_eq!((pending, max_entries), (2, 2)),
        other => panic!("expected a full queue, got {other:?}"),
    }
    assert_eq!(std::fs::metadata(q.path()).expect("stat").len(), size);
    q.ack([&id("a")]).expect("ack");
    q.push(scan("c")).expect("room again");

    // A byte bound: the file holds its header and two entries, no more.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut q = open(dir.path());
    q.push(scan("a")).expect("push");
    let one = q.file_bytes() - 8;
    drop(q);
    let limits = QueueLimits {
        max_file_bytes: 8 + 2 * one,
        ..QueueLimits::default()
    };
    let mut q = OfflineQueue::open(dir.path(), limits).expect("open");
    q.push(scan("b")).expect("push");
    assert!(matches!(q.push(scan("c")), Err(QueueError::Full { .. })));
    // Acknowledging still works on a full file (by compacting), and makes room.
    assert_eq!(q.ack([&id("a")]).expect("ack on a full file"), 1);
    q.push(scan("c")).expect("room again");
    drop(q);
    assert_eq!(ids(&open(dir.path())), ["b", "c"]);

    let huge = scan_with_note("huge", &"y".repeat(20_000));
    let mut q = open(dir.path());
    assert!(matches!(
        q.push(huge),
        Err(QueueError::EntryTooLarge { .. })
    ));
}

#[test]
fn one_process_at_a_time_holds_a_queue_and_a_foreign_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = open(dir.path());
    assert!(matches!(
        OfflineQueue::<OfflineScan>::open(dir.path(), QueueLimits::default()),
        Err(QueueError::Locked { path }) if path == dir.path().join(LOCK_FILE)
    ));
    drop(q);
    let _again = open(dir.path());

    let other = tempfile::tempdir().expect("tempdir");
    std::fs::write(other.path().join(QUEUE_FILE), b"not a queue at all").expect("write");
    let err = OfflineQueue::<OfflineScan>::open(other.path(), QueueLimits::default())
        .expect_err("foreign");
    assert!(matches!(err, QueueError::Foreign { .. }), "{err:?}");
    assert!(err.to_string().contains("not an offline queue"), "{err}");
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Op {
    Push(u8),
    Ack(Vec<u8>),
    Reopen,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0..12u8).prop_map(Op::Push),
        2 => proptest::collection::vec(0..12u8, 0..5).prop_map(Op::Ack),
        1 => Just(Op::Reopen),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Against a plain list, through pushes, acks, bounds, compactions and
    /// reopens: the queue holds exactly the pushed and not yet acknowledged
    /// scan ids, in push order, each once, and refuses only at a bound.
    #[test]
    fn the_queue_matches_a_plain_list(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let one = {
            let mut q = open(dir.path());
            q.push(scan("probe")).expect("push");
            q.file_bytes() - 8
        };
        std::fs::remove_file(dir.path().join(QUEUE_FILE)).expect("reset");
        let limits = QueueLimits { max_entries: 6, max_file_bytes: 8 + 8 * one };
        let mut q = OfflineQueue::open(dir.path(), limits).expect("open");
        let mut model: Vec<String> = Vec::new();
        for op in ops {
            match op {
                Op::Push(n) => {
                    let name = format!("s{n}");
                    match q.push(scan(&name)) {
                        Ok(Pushed::AlreadyQueued) => proptest::prop_assert!(model.contains(&name)),
                        Ok(Pushed::Queued) => {
                            proptest::prop_assert!(!model.contains(&name));
                            model.push(name);
                        }
                        Err(QueueError::Full { pending, file_bytes, .. }) => {
                            proptest::prop_assert!(!model.contains(&name));
                            proptest::prop_assert!(
                                pending >= limits.max_entries
                                    || file_bytes + one > limits.max_file_bytes
                            );
                        }
                        Err(e) => proptest::prop_assert!(false, "push: {e}"),
                    }
                }
                Op::Ack(ns) => {
                    let acked: Vec<ScanId> = ns.iter().map(|n| id(&format!("s{n}"))).collect();
                    let before = model.len();
                    model.retain(|m| !acked.iter().any(|a| a.as_str() == m));
                    proptest::prop_assert_eq!(q.ack(&acked).expect("ack"), before - model.len());
                }
                Op::Reopen => {
                    drop(q);
                    q = OfflineQueue::open(dir.path(), limits).expect("reopen");
                }
            }
            proptest::prop_assert_eq!(ids(&q), model.clone());
            proptest::prop_assert!(q.file_bytes() <= limits.max_file_bytes);
        }
        drop(q);
        proptest::prop_assert_eq!(ids(&OfflineQueue::<OfflineScan>::open(dir.path(), limits).expect("open")), model);
    }
}
