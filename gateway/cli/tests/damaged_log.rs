//! A damaged redo log never makes counts go backwards: scanners use up
//! passes on the real binary, the gateway is killed (`kill -9`), the last
//! redo segment is damaged on disk (a torn final record, 64 KiB cut off its
//! end, one byte flipped in its middle), and the restarted gateway either
//! refuses to start, naming the file and offset, or holds every
//! acknowledged grant and grants no pass past its limit. A log on a disk of
//! its own (linked in) is kept across a crash and never taken by another
//! data directory.

use crate::common;

use common::Gateway;
use scangate_core::Decision;
use scangate_gateway::operator::api::PassView;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

/// Passes used up by the load: with [`MAX_USES`], some 1,200 grants, a few
/// hundred KiB of redo records, so 64 KiB cut off the end loses hundreds.
const PASSES: usize = 400;
const MAX_USES: u32 = 3;
/// Scanners, each using up its share of the passes.
const SCANNERS: usize = 8;

/// What the scanners saw of one pass: grants acknowledged, and scans whose
/// outcome they never learned.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    granted: u32,
    unknown: u32,
}

/// Uses up every pass (scanning each until it is denied), `SCANNERS` at a
/// time; returns what each pass's scanner saw.
async fn use_up(gw: &Gateway, passes: &[PassView]) -> Vec<Seen> {
    let tokens: Arc<[String]> = passes.iter().map(|p| p.token.clone()).collect();
    let mut tasks = Vec::new();
    for s in 0..SCANNERS {
        let scanner = gw.scanner(&format!("damage-{s}")).await;
        let tokens = tokens.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for pass in (s..tokens.len()).step_by(SCANNERS) {
                let mut mine = Seen::default();
                for n in 0..=MAX_USES {
                    let id = format!("d{pass}-{n}");
                    match common::try_scan(&scanner, &tokens[pass], "A", Some(&id)).await {
                        Ok(r) if r.decision == Decision::Granted => mine.granted += 1,
                        Ok(_) => break,
                        Err(_) => mine.unknown += 1,
                    }
                }
                seen.push((pass, mine));
            }
            scanner.close().await;
            seen
        }));
    }
    let mut all = vec![Seen::default(); tokens.len()];
    for task in tasks {
        for (pass, seen) in task.await.expect("scanner task") {
            all[pass] = seen;
        }
    }
    all
}

/// The newest redo segment of the data dir `dir`.
fn last_segment(dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = fs::read_dir(dir.join("store/redo"))
        .expect("redo dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().expect("a redo segment")
}

/// Where the records of a segment end: after its last byte that is not
/// zero (a prepared segment is zeros past its records).
fn data_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

fn cut_to(segment: &Path, len: usize) {
    let file = fs::OpenOptions::new()
        .write(true)
        .open(segment)
        .expect("open segment");
    file.set_len(len as u64).expect("truncate");
}

/// Issues the passes, uses them up, waits until the tables hold every
/// acknowledged grant, kills the gateway, damages the last segment with
/// `damage` (given its bytes up to where its records end, it changes the
/// file) and restarts. Checks that the start was refused with the file and
/// offset named, or that every pass holds its acknowledged grants and no
/// pass is granted past its limit.
async fn a_damaged_log_never_regresses(damage: fn(&Path, &[u8])) {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let passes = gw
        .issue(json!({"event": "fest", "max_uses": MAX_USES, "count": PASSES}))
        .await;
    let seen = use_up(&gw, &passes).await;
    let granted: u32 = seen.iter().map(|s| s.granted).sum();
    assert!(granted as usize > PASSES * 2, "the load granted {granted}");
    // A read of the scan log waits until the tables hold every batch
    // acknowledged before it.
    gw.scans(&passes[0].id).await;
    gw.kill9();

    let segment = last_segment(dir.path());
    let bytes = fs::read(&segment).expect("read segment");
    let end = data_end(&bytes);
    assert!(end > 128 * 1024, "only {end} bytes of redo records");
    damage(&segment, &bytes[..end]);

    let log = dir.path().join("restart.log");
    let stderr = Stdio::from(fs::File::create(&log).expect("log file"));
    let gw = match Gateway::try_start_logging_to(dir.path(), &[], stderr) {
        Ok(gw) => gw,
        Err(status) => {
            let text = fs::read_to_string(&log).expect("read log");
            assert!(!status.success(), "{status}");
            assert!(text.contains("corrupt redo log"), "{text}");
            assert!(text.contains(&segment.display().to_string()), "{text}");
            assert!(text.contains("at byte "), "{text}");
            return;
        }
    };
    let scanner = gw.scanner("after-restart").await;
    for (i, pass) in passes.iter().enumerate() {
        let uses = gw.pass(&pass.id).await.uses;
        let Seen { granted, unknown } = seen[i];
        assert!(
            granted <= uses && uses <= granted + unknown,
            "pass {i}: {granted} grants acknowledged ({unknown} unknown) before the crash, {uses} stored after"
        );
        let mut more = 0;
        for n in 0..=MAX_USES {
            let id = format!("after-{i}-{n}");
            let reply = common::scan(&scanner, &pass.token, "A", Some(&id)).await;
            if reply.decision != Decision::Granted {
                break;
            }
            more += 1;
        }
        assert!(
            granted + more <= MAX_USES,
            "pass {i}: granted {granted} before the crash and {more} after, limit {MAX_USES}"
        );
    }
    scanner.close().await;
    assert!(gw.sigterm().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_final_record_is_dropped() {
    a_damaged_log_never_regresses(|segment, records| cut_to(segment, records.len() - 10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_with_64_kib_cut_off_its_end_never_regresses() {
    a_damaged_log_never_regresses(|segment, records| cut_to(segment, records.len() - 64 * 1024))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_flipped_in_the_middle_of_the_log_never_regresses() {
    a_damaged_log_never_regresses(|segment, records| {
        let mut bytes = fs::read(segment).expect("read");
        bytes[records.len() / 2] ^= 0xff;
        fs::write(segment, bytes).expect("write");
    })
    .await;
}

/// `store/redo` linked to a directory elsewhere (a disk of its own,
/// docs/operations.md): the log there keeps every acknowledged grant across
/// a `kill -9`, and a second data directory linked to the same log is
/// refused before it reads it, with the directory named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_on_its_own_disk_keeps_grants_and_is_never_shared() {
    let (dir, disk) = (
        tempfile::tempdir().expect("data"),
        tempfile::tempdir().expect("disk"),
    );
    let log_dir = disk.path().join("scangate-redo");
    let link = |data: &Path| {
        fs::create_dir_all(data.join("store")).expect("store dir");
        std::os::unix::fs::symlink(&log_dir, data.join("store/redo")).expect("link");
    };
    fs::create_dir(&log_dir).expect("log dir");
    link(dir.path());
    let gw = Gateway::start(dir.path(), &[]);
    let passes = gw
        .issue(json!({"event": "fest", "max_uses": MAX_USES, "count": 40}))
        .await;
    let seen = use_up(&gw, &passes).await;
    assert!(seen.iter().all(|s| s.granted > 0), "every pass was used");
    gw.kill9();
    assert!(log_dir.join("STORE").is_file(), "the log names its store");

    let gw = Gateway::start(dir.path(), &[]);
    for (pass, seen) in passes.iter().zip(&seen) {
        let uses = gw.pass(&pass.id).await.uses;
        assert!(
            seen.granted <= uses && uses <= seen.granted + seen.unknown,
            "{} acknowledged ({} unknown), {uses} stored after the crash",
            seen.granted,
            seen.unknown
        );
    }
    assert!(gw.sigterm().success());

    let other = tempfile::tempdir().expect("another data dir");
    link(other.path());
    let log = other.path().join("start.log");
    let stderr = Stdio::from(fs::File::create(&log).expect("log file"));
    let status = Gateway::try_start_logging_to(other.path(), &[], stderr)
        .map(|_| ())
        .expect_err("a log directory of another store must be refused");
    assert!(!status.success(), "{status}");
    let text = fs::read_to_string(&log).expect("read log");
    assert!(text.contains("belongs to another store"), "{text}");
    assert!(text.contains(&log_dir.display().to_string()), "{text}");
}
