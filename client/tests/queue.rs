//! The offline queue on real files: reopen, torn tails cut at every byte,
//! damage refused, acknowledgements, compaction, bounds, the lock, and a
//! child process killed with SIGKILL right after a push.

use scangate_client::queue::{COMPACT_MIN_DEAD_BYTES, LOCK_FILE, QUEUE_FILE, QueueLimits};
use scangate_client::{OfflineQueue, Pushed, QueueError, Queued, ScanId};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What a scanner would queue after an offline grant (the real entry type
/// comes with the offline decision; the queue takes any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OfflineScan {
    scan_id: ScanId,
    token: String,
    gate: String,
    device_time_ms: i64,
    note: String,
}

impl Queued for OfflineScan {
    fn scan_id(&self) -> &ScanId {
        &self.scan_id
    }
}

fn scan(id: &str) -> OfflineScan {
    scan_with_note(id, "")
}

fn scan_with_note(id: &str, note: &str) -> OfflineScan {
    OfflineScan {
        scan_id: ScanId::new(id).expect("scan id"),
        token: "AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKKLLLLMMMMNNNN".into(),
        gate: "north-1".into(),
        device_time_ms: 1_790_000_000_000,
        note: note.into(),
    }
}

fn open(dir: &Path) -> OfflineQueue<OfflineScan> {
    OfflineQueue::open(dir, QueueLimits::default()).expect("open")
}

fn ids(queue: &OfflineQueue<OfflineScan>) -> Vec<String> {
    queue
        .pending()
        .map(|e| e.scan_id.as_str().to_owned())
        .collect()
}

fn id(s: &str) -> ScanId {
    ScanId::new(s).expect("scan id")
}

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

/// Set in the child process: the queue directory and the scan id to push.
const CHILD_DIR: &str = "SCANGATE_QUEUE_CHILD_DIR";
const CHILD_SCAN_ID: &str = "SCANGATE_QUEUE_CHILD_SCAN_ID";
/// The line the child prints once `push` has returned.
const PUSHED: &str = "queue-child: pushed";
/// Longest the parent waits for the child's line.
const CHILD_WAIT: Duration = Duration::from_secs(30);

/// Kills the child however the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_scanner_killed_right_after_a_push_keeps_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = KillOnDrop(
        Command::new(exe)
            .args(["--exact", "queue_child", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_SCAN_ID, "killed-1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            // libtest may have written "test queue_child ... " on the same line.
            if line.ends_with(PUSHED) {
                let _ = tx.send(());
                return;
            }
        }
    });
    rx.recv_timeout(CHILD_WAIT)
        .expect("the child pushed within the deadline");
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reap");
    // The lock died with the child; the entry is there, once.
    let q = open(dir.path());
    assert_eq!(ids(&q), ["killed-1"]);
}

/// The child of the test above; does nothing unless started by it.
#[test]
#[ignore = "started as a child process by a_scanner_killed_right_after_a_push_keeps_the_entry"]
fn queue_child() {
    let (Some(dir), Some(scan_id)) = (
        std::env::var_os(CHILD_DIR),
        std::env::var(CHILD_SCAN_ID).ok(),
    ) else {
        return;
    };
    let mut q = open(Path::new(&dir));
    assert_eq!(q.push(scan(&scan_id)).expect("push"), Pushed::Queued);
    println!("{PUSHED}");
    // Wait to be killed: no exit, no destructor, as in a crash.
    loop {
        std::thread::park();
    }
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
