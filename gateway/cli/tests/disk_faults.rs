//! Disk faults against the real binary (the full disk and the damaged redo
//! log are in `durability.rs` and `damaged_log.rs`):
//!
//! - a read-only data dir at start, made real with a read-only bind mount
//!   in a mount namespace of the gateway's own (`unshare`): the whole dir,
//!   fresh or used, or its `store/` alone. The gateway refuses to start,
//!   exits non-zero, names the path and the cause, and writes nothing;
//!   writable again, it starts and holds everything it had.
//! - a stalled disk: the store's threads frozen in place (ptrace, see
//!   `common::stall`) under a running gateway. Scans are answered
//!   `unavailable` within their own deadline, none is granted while
//!   nothing can be made durable, and once the disk answers again scans
//!   are granted, the stalled ones count once, and a `kill -9` loses no
//!   acknowledged grant.

use crate::common;

use bytes::BytesMut;
use common::stall::{self, STORE_THREADS};
use common::{Gateway, bin, read_response, wait_with_deadline};
use scangate_core::frame;
use scangate_core::wire::{ErrorCode, Request, RequestBody, ResponseBody, ScanRequest};
use scangate_core::{Decision, ScanId};
use std::collections::BTreeMap;
use std::fs::Permissions;
use std::hash::{DefaultHasher, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a data dir holds: each entry's path and, for a file, a hash of its
/// bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Option<u64>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).expect("read dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(dir).expect("inside").to_owned();
            if path.is_dir() {
                todo.push(path);
                out.insert(rel, None);
            } else {
                let mut h = DefaultHasher::new();
                h.write(&std::fs::read(&path).expect("read file"));
                out.insert(rel, Some(h.finish()));
            }
        }
    }
    out
}

/// Starts `scangate serve` on `dir` with `read_only` (the dir or a folder
/// inside it) bind-mounted read-only, in a mount namespace of its own;
/// returns whether it exited by itself with success, and what it said.
fn serve_with_read_only(dir: &Path, read_only: &Path) -> (bool, String) {
    let log = tempfile::NamedTempFile::new().expect("log file");
    let remount = r#"mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@""#;
    let mut child = Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c", remount])
        .arg(read_only)
        .arg(bin())
        .args(["serve", "--data-dir", dir.to_str().expect("utf-8")])
        .args(["--quic", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(log.reopen().expect("log"))
        .spawn()
        .expect("unshare (util-linux)");
    let status = wait_with_deadline(&mut child);
    let said = std::fs::read_to_string(log.path()).expect("log");
    (status.success(), said)
}

/// Asserts that a start on `dir` with `read_only` mounted read-only is
/// refused, with a message naming `read_only` (or a path inside it) and
/// the cause, and that it wrote nothing.
fn assert_refused(dir: &Path, read_only: &Path) {
    let before = tree(dir);
    let (success, said) = serve_with_read_only(dir, read_only);
    assert!(
        !success,
        "started on a read-only {}:\n{said}",
        read_only.display()
    );
    let named = read_only.to_str().expect("utf-8");
    let last = said.lines().last().unwrap_or_default();
    assert!(last.contains(named), "the path is not named: {said}");
    assert!(
        last.to_lowercase().contains("read-only"),
        "the cause is not named: {said}"
    );
    assert_eq!(
        tree(dir),
        before,
        "a refused start wrote to {}",
        dir.display()
    );
    eprintln!("refused: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_data_dir_is_refused_at_start_and_nothing_is_written() {
    // An empty dir, private as `scangate` makes it, so that what refuses
    // the start is the first write.
    let fresh = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(fresh.path(), Permissions::from_mode(0o700)).expect("chmod");
    assert_refused(fresh.path(), fresh.path());
    assert!(tree(fresh.path()).is_empty(), "nothing created");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), Permissions::from_mode(0o700)).expect("chmod");
    let gw = Gateway::start(dir.path(), &[]);
    let store = dir.path().join("store");
    let mode = std::fs::metadata(&store)
        .expect("store")
        .permissions()
        .mode();
    let mode = format!("{:o}", mode & 0o777);
    assert_eq!(mode, "700", "the store is private from its first start");
    let pass = gw.issue_one(3).await;
    let scanner = gw.scanner("ro-gate").await;
    let reply = common::scan(&scanner, &pass.token, "A", Some("before-ro")).await;
    assert_eq!(reply.decision, Decision::Granted);
    scanner.close().await;
    assert!(gw.sigterm().success());

    assert_refused(dir.path(), dir.path());
    assert_refused(dir.path(), &store);

    let gw = Gateway::start(dir.path(), &[]);
    assert_eq!(gw.pass(&pass.id).await.uses, 1, "the grant is held");
    let scanner = gw.scanner("ro-gate").await;
    let again = common::scan(&scanner, &pass.token, "A", Some("after-ro")).await;
    assert_eq!(again.decision, Decision::Granted);
    gw.kill9();
}

/// How long each scan of the stall test lets the gateway decide
/// (`timeout_ms` on the wire): well under the store's 5 s call deadline,
/// so the scan's own deadline is the one that must hold.
const SCAN_TIMEOUT_MS: u32 = 1_000;
/// What a debug build on a shared CI core may add to that deadline before
/// its answer is on the wire and read.
const ANSWER_SLACK: Duration = Duration::from_millis(1_500);
/// Scans sent while the disk is stalled, each of its own pass.
const STALLED_SCANS: usize = 8;
/// How long the gateway may take to grant again once the disk answers.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);

fn scan_request(id: u64, token: &str, scan_id: &str) -> Request {
    Request {
        id,
        body: RequestBody::Scan(ScanRequest {
            token: token.to_owned(),
            gate: "A".into(),
            event: None,
            scan_id: ScanId::new(scan_id).expect("scan id"),
            scanner_time_ms: 0,
            timeout_ms: Some(SCAN_TIMEOUT_MS),
            direction: None,
            check_only: false,
        }),
    }
}

/// What the gateway answered to one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Decided(Decision),
    Error(ErrorCode),
}

/// Sends `scans` (token, scan id) on one new stream of `conn` at once;
/// their answers in order and the time each took from the send.
async fn scan_all(conn: &quinn::Connection, scans: &[(&str, String)]) -> Vec<(Answer, Duration)> {
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    let mut out = BytesMut::new();
    for (i, (token, scan_id)) in scans.iter().enumerate() {
        frame::encode(&scan_request(i as u64, token, scan_id), &mut out).expect("fits");
    }
    let sent = Instant::now();
    send.write_all(&out).await.expect("write");
    let (mut inbox, mut answers) = (BytesMut::new(), BTreeMap::new());
    for _ in scans {
        let r = read_response(&mut recv, &mut inbox).await;
        let answer = match r.body {
            ResponseBody::Scan(s) => Answer::Decided(s.decision),
            ResponseBody::Error(e) => Answer::Error(e.code),
            other => panic!("a scan answered with {other:?}"),
        };
        answers.insert(r.id, (answer, sent.elapsed()));
    }
    answers.into_values().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_disk_answers_unavailable_in_time_and_acknowledges_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let mut passes = Vec::new();
    for _ in 0..=STALLED_SCANS {
        passes.push(gw.issue_one(5).await);
    }
    let conn = common::raw_connection(dir.path(), gw.quic, "stall-gate").await;
    let warm = scan_all(&conn, &[(&passes[0].token, "warm".into())]).await;
    assert_eq!(warm[0].0, Answer::Decided(Decision::Granted));

    let frozen = stall::freeze(gw.child.id(), STORE_THREADS);
    let stalled: Vec<(&str, String)> = passes[1..]
        .iter()
        .enumerate()
        .map(|(i, p)| (p.token.as_str(), format!("stalled-{i}")))
        .collect();
    let answers = scan_all(&conn, &stalled).await;
    let deadline = Duration::from_millis(SCAN_TIMEOUT_MS.into()) + ANSWER_SLACK;
    for (i, (answer, took)) in answers.iter().enumerate() {
        assert_eq!(*answer, Answer::Error(ErrorCode::Unavailable), "scan {i}");
        assert!(*took <= deadline, "scan {i} answered after {took:?}");
    }
    eprintln!(
        "{} store threads frozen; answers: {answers:?}",
        frozen.threads
    );
    frozen.thaw();

    // Granted again once the disk answers. Scans that still miss their
    // deadline meanwhile are unknown: they may land late.
    let recovery = gw.issue_unlimited().await;
    let started = Instant::now();
    let mut after: Vec<(&str, String)> = Vec::new();
    loop {
        assert!(
            started.elapsed() < RECOVERY_DEADLINE,
            "no grant after the stall"
        );
        after.push((&recovery.token, format!("after-{}", after.len())));
        let a = scan_all(&conn, &after[after.len() - 1..]).await;
        if a[0].0 == Answer::Decided(Decision::Granted) {
            break;
        }
    }
    // Every write that outlived its deadline landed once: a retry of each
    // scan with its scan id is answered from it.
    let retried = scan_all(&conn, &stalled).await;
    for (i, (answer, _)) in retried.iter().enumerate() {
        assert_eq!(*answer, Answer::Decided(Decision::Granted), "retry {i}");
    }
    let retried_after = scan_all(&conn, &after).await;
    let granted_after = retried_after
        .iter()
        .filter(|(a, _)| *a == Answer::Decided(Decision::Granted))
        .count();
    assert!(granted_after >= 1);

    gw.kill9();
    let gw = Gateway::start(dir.path(), &[]);
    assert_eq!(gw.pass(&passes[0].id).await.uses, 1, "the warm-up grant");
    let uses = gw.pass(&recovery.id).await.uses as usize;
    assert_eq!(uses, granted_after, "after the stall: each grant once");
    for p in &passes[1..] {
        assert_eq!(gw.pass(&p.id).await.uses, 1, "a stalled scan counts once");
    }
    gw.kill9();
}
