//! Crashes and shutdowns: acknowledged grants survive `kill -9`; a gateway
//! frozen past the scanners' deadline loses nothing and counts no retry
//! twice; writes that outlive the store deadline count once and show;
//! SIGTERM answers every scan in flight and exits 0; a full disk fails the store
//! closed, and a restart keeps everything acknowledged before it.

use crate::common;

use bytes::BytesMut;
use common::Gateway;
use common::frames::scan_frame;
use scangate_client::ScannerConfig;
use scangate_core::Decision;
use scangate_core::frame;
use scangate_core::wire::{ErrorCode, Response, ResponseBody};
use scangate_gateway::operator::api::PassView;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Granted,
    Denied,
    Unknown,
}

/// What the scanners saw: the pass (its index), the scan id, the outcome.
type History = Vec<(usize, String, Outcome)>;

/// Scanners sending scans of the passes round-robin, each on its own device,
/// each scan with a fresh scan id, recording what it saw.
struct Load {
    history: Arc<Mutex<History>>,
    granted: Arc<AtomicUsize>,
    grant: Arc<Notify>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `workers` scanners with their SDK settings changed by `tweak`.
    /// A scanner stops at its first unknown outcome when `stop_at_unknown`
    /// (a gateway that is gone), or goes on (one that comes back).
    async fn start(
        gw: &Gateway,
        passes: &[PassView],
        workers: usize,
        tweak: fn(&mut ScannerConfig),
        stop_at_unknown: bool,
    ) -> Load {
        let mut load = Load {
            history: Arc::default(),
            granted: Arc::default(),
            grant: Arc::default(),
            stop: Arc::default(),
            tasks: Vec::new(),
        };
        let tokens: Arc<[String]> = passes.iter().map(|p| p.token.clone()).collect();
        for worker in 0..workers {
            let scanner = gw.scanner_with(&format!("load-{worker}"), tweak).await;
            let (tokens, history, granted, grant, stop) = (
                tokens.clone(),
                load.history.clone(),
                load.granted.clone(),
                load.grant.clone(),
                load.stop.clone(),
            );
            load.tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::Acquire) {
                    let pass = (worker * 7 + n * 13) % tokens.len();
                    let scan_id = format!("w{worker}-{n}");
                    n += 1;
                    let result =
                        common::try_scan(&scanner, &tokens[pass], "A", Some(&scan_id)).await;
                    let outcome = match result {
                        Ok(r) if r.decision == Decision::Granted => Outcome::Granted,
                        // After SDK retries, `busy` may follow an attempt
                        // that was counted: unknown, not a denial.
                        Ok(r) if r.decision.reason().is_some_and(|r| r.is_transient()) => {
                            Outcome::Unknown
                        }
                        Ok(_) => Outcome::Denied,
                        Err(_) => Outcome::Unknown,
                    };
                    history.lock().expect("lock").push((pass, scan_id, outcome));
                    if outcome == Outcome::Granted {
                        granted.fetch_add(1, Ordering::AcqRel);
                        grant.notify_waiters();
                    }
                    if outcome == Outcome::Unknown && stop_at_unknown {
                        break;
                    }
                }
            }));
        }
        load
    }

    /// Waits until the scanners have seen `n` grants in all.
    async fn until_granted(&self, n: usize) {
        let wait = async {
            loop {
                let next = self.grant.notified();
                if self.granted.load(Ordering::Acquire) >= n {
                    return;
                }
                next.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(120), wait)
            .await
            .expect("enough grants before the deadline");
    }

    fn granted(&self) -> usize {
        self.granted.load(Ordering::Acquire)
    }

    /// Stops the scanners and returns what they saw.
    async fn stop(self) -> History {
        self.stop.store(true, Ordering::Release);
        for t in self.tasks {
            t.await.expect("worker");
        }
        self.history.lock().expect("lock").clone()
    }
}

/// Checks every pass against what the scanners saw: never over `max_uses`,
/// every acknowledged grant stored, `ok <= uses <= ok + unknown`, the log
/// and the count agreeing. Returns the acknowledged grants checked.
async fn check_history(
    gw: &Gateway,
    passes: &[PassView],
    history: &History,
    max_uses: u32,
) -> usize {
    let mut checked_grants = 0;
    for (i, pass) in passes.iter().enumerate() {
        let mine: Vec<_> = history.iter().filter(|(p, _, _)| *p == i).collect();
        let ok: HashSet<&str> = mine
            .iter()
            .filter(|(_, _, o)| *o == Outcome::Granted)
            .map(|(_, id, _)| id.as_str())
            .collect();
        let info = mine
            .iter()
            .filter(|(_, _, o)| *o == Outcome::Unknown)
            .count() as u32;
        let stored = gw.pass(&pass.id).await;
        assert!(
            stored.uses <= max_uses,
            "pass {i} over-granted: {}",
            stored.uses
        );
        assert!(
            stored.uses >= ok.len() as u32,
            "pass {i} lost acknowledged grants"
        );
        assert!(
            stored.uses <= ok.len() as u32 + info,
            "pass {i} counted more than was sent"
        );
        let scans = gw.scans(&pass.id).await;
        let stored_grants: HashSet<&str> = scans
            .iter()
            .filter(|s| s["decision"] == "granted")
            .filter_map(|s| s["scan_id"].as_str())
            .collect();
        assert_eq!(
            stored_grants.len() as u32,
            stored.uses,
            "pass {i}: log and count agree"
        );
        assert!(
            ok.is_subset(&stored_grants),
            "pass {i}: an acknowledged grant is missing from the log"
        );
        checked_grants += ok.len();
    }
    checked_grants
}

/// The stored uses of `passes`, summed.
async fn total_uses(gw: &Gateway, passes: &[PassView]) -> u32 {
    let mut total = 0;
    for pass in passes {
        total += gw.pass(&pass.id).await.uses;
    }
    total
}

/// Passes of the load tests, and their limit.
const PASSES: usize = 60;
const MAX_USES: u32 = 3;

/// A gateway on `dir` (with `extra` arguments to `serve`) with [`PASSES`]
/// passes of [`MAX_USES`] uses each.
async fn gateway_with_passes(dir: &std::path::Path, extra: &[&str]) -> (Gateway, Vec<PassView>) {
    let gw = Gateway::start(dir, extra);
    let passes = gw
        .issue(serde_json::json!({"event": "fest", "max_uses": MAX_USES, "count": PASSES}))
        .await;
    (gw, passes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_never_loses_an_acknowledged_grant() {
    const KILL_AFTER_GRANTS: usize = 120;
    let dir = tempfile::tempdir().expect("tempdir");
    let (gw, passes) = gateway_with_passes(dir.path(), &[]).await;
    let load = Load::start(&gw, &passes, 8, |_| {}, true).await;
    load.until_granted(KILL_AFTER_GRANTS).await;
    gw.kill9();
    let history = load.stop().await;

    let gw = Gateway::start(dir.path(), &[]);
    assert!(check_history(&gw, &passes, &history, MAX_USES).await >= KILL_AFTER_GRANTS);
    assert!(gw.sigterm().success());
}

/// A gateway frozen mid-burst for longer than the scanners' deadline
/// (SIGSTOP: what a paused VM, or a disk stalled for a second, does to it),
/// then thawed. The scans that timed out are unknown to their scanners; no
/// grant is lost or counted twice, and a retry of each with the same scan
/// id gets the decision stored for it and counts nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_gateway_loses_no_grant_and_a_retry_counts_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gw, passes) = gateway_with_passes(dir.path(), &[]).await;
    let short_deadline = |c: &mut ScannerConfig| {
        c.request_timeout_ms = 300;
        c.attempts = 1;
    };
    let load = Load::start(&gw, &passes, 8, short_deadline, false).await;
    load.until_granted(40).await;
    gw.signal("STOP");
    // The freeze itself, what is under test: over three deadlines long.
    tokio::time::sleep(Duration::from_secs(1)).await;
    gw.signal("CONT");
    load.until_granted(load.granted() + 40).await;
    let history = load.stop().await;

    let unknown: Vec<&(usize, String, Outcome)> = history
        .iter()
        .filter(|(_, _, o)| *o == Outcome::Unknown)
        .collect();
    assert!(
        !unknown.is_empty(),
        "the freeze outlasted no scanner's deadline"
    );
    check_history(&gw, &passes, &history, MAX_USES).await;

    let before = total_uses(&gw, &passes).await;
    let scanner = gw.scanner("retry").await;
    let (mut fresh_grants, mut replays) = (0, 0);
    for (pass, scan_id, _) in &unknown {
        let log = gw.scans(&passes[*pass].id).await;
        let stored = log
            .iter()
            .find(|s| s["scan_id"] == scan_id.as_str())
            .map(|s| s["decision"] == "granted");
        let reply = common::scan(&scanner, &passes[*pass].token, "A", Some(scan_id)).await;
        let granted = reply.decision == Decision::Granted;
        match stored {
            Some(stored_granted) => {
                assert!(
                    reply.replayed,
                    "{scan_id}: a stored scan is answered from its record"
                );
                assert_eq!(granted, stored_granted, "{scan_id}: the stored decision");
                replays += 1;
            }
            // Never reached the gateway (the SDK gave up before sending it).
            None => fresh_grants += u32::from(granted && !reply.replayed),
        }
    }
    assert_eq!(
        total_uses(&gw, &passes).await,
        before + fresh_grants,
        "retries counted again"
    );
    // The thawed gateway decided scans whose scanners had given up on them.
    assert!(
        replays > 0,
        "no scan that timed out was decided after the thaw"
    );
    eprintln!(
        "{} unknown, {replays} of them decided after the thaw",
        unknown.len()
    );
    scanner.close().await;
    assert!(gw.sigterm().success());
}

/// A store slower than its deadline (`--store-timeout-ms 1`, less than one
/// group commit): many writes outlive it, their scans are answered
/// `unavailable` and the SDK retries them with the same scan id. The late
/// writes land all the same, so every retry is answered from them, and each
/// pass then shows exactly the uses its log holds: nothing lost, nothing
/// counted twice, no pass read before its late write landed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_outlive_the_store_deadline_count_once_and_show() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gw, passes) = gateway_with_passes(dir.path(), &["--store-timeout-ms", "1"]).await;
    let retrying = |c: &mut ScannerConfig| c.attempts = 3;
    let load = Load::start(&gw, &passes, 8, retrying, false).await;
    load.until_granted(PASSES * MAX_USES as usize / 2).await;
    let history = load.stop().await;

    let late = common::metric(&gw.metrics().await, "scangate_store_late_writes_total", &[]);
    assert!(late > 0.0, "no write outlived a 1 ms deadline");
    let checked = check_history(&gw, &passes, &history, MAX_USES).await;
    eprintln!(
        "{late} late writes, {checked} acknowledged grants, {} unknown",
        history
            .iter()
            .filter(|(_, _, o)| *o == Outcome::Unknown)
            .count()
    );
    assert!(gw.sigterm().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_every_scan_in_flight_and_exits_0() {
    const SCANS: u64 = 300;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let passes = gw
        .issue(serde_json::json!({"event": "fest", "unlimited": true, "count": 10}))
        .await;
    let conn = common::raw_connection(dir.path(), gw.quic, "term").await;
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");

    let mut out = BytesMut::new();
    for id in 1..=SCANS {
        frame::encode(
            &scan_frame(id, &passes[(id % 10) as usize].token, "term"),
            &mut out,
        )
        .expect("fits");
    }
    send.write_all(&out).await.expect("write all scans");

    let mut inbox = BytesMut::new();
    let mut replies: HashMap<u64, Response> = HashMap::new();
    let mut term = None;
    while replies.len() < SCANS as usize {
        while let Ok((v, payload)) = frame::split_frame(&mut inbox) {
            let r: Response = frame::decode(v, &payload).expect("response");
            assert!(replies.insert(r.id, r).is_none(), "one reply per request");
            if term.is_none() {
                // Scans are in flight now: stop the gateway under them.
                term = Some(std::thread::spawn({
                    let gw_pid = gw.child.id();
                    move || {
                        std::process::Command::new("kill")
                            .args(["-TERM", &gw_pid.to_string()])
                            .status()
                    }
                }));
            }
        }
        if replies.len() == SCANS as usize {
            break;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), recv.read_chunk(64 * 1024, true))
            .await
            .expect("replies keep coming")
            .expect("read")
            .expect("the gateway answers every scan before closing the stream");
        inbox.extend_from_slice(&chunk.bytes);
    }
    assert!(
        term.expect("SIGTERM sent")
            .join()
            .expect("kill")
            .expect("kill ran")
            .success()
    );
    let mut granted = 0u32;
    for r in replies.values() {
        match &r.body {
            ResponseBody::Scan(s) if s.decision == Decision::Granted => granted += 1,
            // A full per-pass queue is a decided answer too (nothing counted).
            ResponseBody::Scan(s)
                if s.decision == Decision::Denied(scangate_core::Reason::Busy) => {}
            ResponseBody::Error(e) => assert_eq!(e.code, ErrorCode::ShuttingDown),
            other => panic!("unexpected reply {other:?}"),
        }
    }
    assert!(granted > 0);
    let status = gw.wait_exit();
    assert!(status.success(), "exit status {status:?}");

    // Every grant answered is durable.
    let gw = Gateway::start(dir.path(), &[]);
    assert_eq!(total_uses(&gw, &passes).await, granted);
    assert!(gw.sigterm().success());
}

/// A disk that fills up (`Gateway::start_on_a_small_disk`). The gateway
/// fails closed and says so: the request that did not fit is
/// refused, scans are not granted, `/readyz` answers 503 with the cause and
/// `scangate_store_failed` is 1, while it keeps answering. Restarted
/// without the limit, it holds every grant and pass it acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_closed_and_a_restart_keeps_everything_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start_on_a_small_disk(dir.path());
    let pass = gw.issue_one(1_000).await;
    let scanner = gw.scanner("full-disk").await;
    const GRANTS: u32 = 10;
    for i in 0..GRANTS {
        let scan_id = format!("before-{i}");
        let reply = common::scan(&scanner, &pass.token, "north", Some(&scan_id)).await;
        assert_eq!(reply.decision, Decision::Granted);
    }

    let (acknowledged, (status, body)) = gw.fill_disk().await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("restart the gateway"), "{body}");

    // Failed closed, and it says so, while it keeps answering.
    let (status, body) = gw.probe("/readyz").await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.starts_with("not ready: the store failed: "), "{body}");
    assert!(body.contains("File too large"), "{body}");
    assert_eq!(
        common::metric(&gw.metrics().await, "scangate_store_failed", &[]),
        1.0
    );
    assert_eq!(gw.probe("/healthz").await.0, reqwest::StatusCode::OK);
    // The live dashboard's snapshot carries it too (the page shows it as a warning).
    let (_, snapshot) = gw.probe("/live/snapshot").await;
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot).expect("snapshot");
    let why = snapshot["health"]["store_failure"]
        .as_str()
        .expect("a store failure");
    assert!(why.contains("File too large"), "{why}");
    // Scans are answered `unavailable` at the edge: no actor starts for them.
    let started = |text: &str| common::metric(text, "scangate_actors_started_total", &[]);
    let before = started(&gw.metrics().await);
    for i in 0..3 {
        let scan_id = format!("after-the-disk-filled-{i}");
        let after = common::try_scan(&scanner, &pass.token, "north", Some(&scan_id)).await;
        assert!(
            matches!(&after, Err(scangate_client::ClientError::Rejected(e))
                if e.code == ErrorCode::Unavailable && e.message().contains("store has failed")),
            "a scan on a failed store must not be decided: {after:?}"
        );
    }
    assert_eq!(started(&gw.metrics().await), before, "actors started");
    scanner.close().await;
    let _ = gw.sigterm();

    // Restarted with room: every acknowledged grant and pass is there.
    let gw = Gateway::start(dir.path(), &[]);
    assert_eq!(gw.probe("/readyz").await.0, reqwest::StatusCode::OK);
    assert_eq!(
        common::metric(&gw.metrics().await, "scangate_store_failed", &[]),
        0.0
    );
    // The scan refused above was never counted: the failed store wrote nothing.
    assert_eq!(gw.pass(&pass.id).await.uses, GRANTS);
    for id in &acknowledged {
        assert_eq!(gw.pass(id).await.uses, 0, "pass {id}");
    }
    let scanner = gw.scanner("full-disk").await;
    let reply = common::scan(&scanner, &pass.token, "north", Some("after-restart")).await;
    assert_eq!(reply.decision, Decision::Granted);
    assert_eq!(reply.uses, Some(GRANTS + 1));
    scanner.close().await;
}
