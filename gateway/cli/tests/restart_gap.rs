//! A gateway restarted on the same data dir and ports decides scans again at
//! once: its persisted stateless-reset key resets the scanner's old
//! connection at its next packet, and the SDK takes a reset or a missed
//! answer deadline as a dead link and reconnects. Retries reuse the scan id,
//! so nothing is counted twice.

use crate::common;

use common::{Gateway, START_DEADLINE, try_scan};
use scangate_client::{ClientError, Scanner};
use scangate_core::wire::ScanReply;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The longest a scanner may go without a decision once the restarted
/// gateway's `/readyz` says 200 (the issue's target).
const GAP_MAX: Duration = Duration::from_secs(1);
/// Scanning tasks sharing the one SDK connection, as a turnstile bank does.
const SCANNING_TASKS: usize = 4;
/// Between two `/readyz` polls: the measurement's resolution.
const READYZ_POLL: Duration = Duration::from_millis(5);

/// What the scanning tasks saw.
#[derive(Default)]
struct Seen {
    replies: Vec<(Instant, ScanReply)>,
    failed: usize,
}

/// Scans `token` continuously from `tasks` tasks until `stop`; every
/// decision is sent on `decided` (its time and reply), every scan that got
/// no decision counted in `Seen::failed`.
fn scan_continuously(
    scanner: &Scanner,
    token: &str,
    stop: &Arc<AtomicBool>,
    decided: &watch::Sender<Seen>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..SCANNING_TASKS)
        .map(|_| {
            let (scanner, token, stop) = (scanner.clone(), token.to_owned(), stop.clone());
            let decided = decided.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Acquire) {
                    let result: Result<ScanReply, ClientError> =
                        try_scan(&scanner, &token, "g", None).await;
                    decided.send_modify(|seen| match result {
                        Ok(reply) => seen.replies.push((Instant::now(), reply)),
                        Err(_) => seen.failed += 1,
                    });
                }
            })
        })
        .collect()
}

/// Waits (up to the start deadline) until what the tasks saw passes `ok`.
async fn wait_for(watch: &watch::Receiver<Seen>, what: &str, ok: impl FnMut(&Seen) -> bool) {
    let mut watch = watch.clone();
    tokio::time::timeout(START_DEADLINE, watch.wait_for(ok))
        .await
        .unwrap_or_else(|_| panic!("no {what} within {START_DEADLINE:?}"))
        .expect("the scanning tasks hold the sender");
}

/// Polls `/readyz` on `http` until it answers 200; returns when it first did.
async fn first_ready(http: std::net::SocketAddr) -> Instant {
    let url = format!("http://{http}/readyz");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("http client");
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Ok(resp) = client.get(&url).send().await
            && resp.status().is_success()
        {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(READYZ_POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_kill_and_restart_the_first_decision_follows_readyz_within_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let key = std::fs::read(dir.path().join("quic-reset-key")).expect("reset key");
    let pass = gw.issue_unlimited().await;
    let scanner = gw.scanner("turnstile").await;

    let stop = Arc::new(AtomicBool::new(false));
    let (decided, watch) = watch::channel(Seen::default());
    let tasks = scan_continuously(&scanner, &pass.token, &stop, &decided);
    wait_for(&watch, "decisions before the kill", |s| {
        s.replies.len() >= 20
    })
    .await;

    let http_addr = gw.http;
    let (quic, http) = (gw.quic.to_string(), gw.http.to_string());
    let killed = Instant::now();
    gw.kill9();
    let restart = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || Gateway::start(&dir, &["--quic", &quic, "--http", &http])
    });
    let ready = first_ready(http_addr).await;
    let gw = restart.await.expect("restarted");
    wait_for(&watch, "a decision after the restart", |s| {
        s.replies.iter().any(|(at, _)| *at > killed)
    })
    .await;
    stop.store(true, Ordering::Release);
    for task in tasks {
        task.await.expect("scanning task");
    }

    let seen = watch.borrow();
    let first_after = seen
        .replies
        .iter()
        .map(|(at, _)| *at)
        .find(|at| *at > killed)
        .expect("a decision after the kill");
    let gap = first_after.saturating_duration_since(ready);
    eprintln!(
        "restart: ready {:?} after the kill, first decision {gap:?} after /readyz",
        ready - killed
    );
    assert!(
        gap <= GAP_MAX,
        "no decision for {gap:?} after /readyz = 200"
    );

    // The same key on the restart: that is what lets it reset old connections.
    let again = std::fs::read(dir.path().join("quic-reset-key")).expect("reset key");
    assert_eq!(key, again, "the reset key survives restarts");

    // Never counted twice: each granted scan id is one use, a retry of a
    // scan whose answer was lost is answered as a replay of the first.
    let granted: HashSet<_> = seen
        .replies
        .iter()
        .filter(|(_, r)| r.decision.is_granted())
        .map(|(_, r)| r.scan_id.clone())
        .collect();
    let uses = u64::from(gw.pass(&pass.id).await.uses);
    let granted = u64::try_from(granted.len()).expect("count");
    let failed = u64::try_from(seen.failed).expect("count");
    assert!(
        (granted..=granted + failed).contains(&uses),
        "{uses} uses for {granted} granted scan ids and {failed} undecided scans"
    );
    drop(seen);
    scanner.close().await;
    assert!(gw.sigterm().success());
}
