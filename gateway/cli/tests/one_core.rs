//! A gateway pinned to one core (`taskset -c 0`, as in a container limited
//! to one CPU) stops cleanly under load: saturated with grants, it gets
//! SIGTERM and exits 0 within its stop bound (the drain deadline, then the
//! store's close and its stop-time flush, each bounded). fjall sized its
//! worker pool from the cores it may use (one here), and that single worker
//! could block on its own full queue while the stop-time flush waited for
//! it, forever.

mod common;

use common::Gateway;
use scangate_gateway::config::DRAIN_TIMEOUT_MS;
use scangate_storage_embedded::{CLOSE_FLUSH_LIMIT, CLOSE_TIMEOUT};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Scanner connections, and scans each keeps in flight: well past what one
/// core commits, so the gateway stays saturated.
const SCANNERS: usize = 8;
/// Unlimited passes the load spreads over (one pass's grants are serial).
const PASSES: usize = 256;
const IN_FLIGHT_PER_SCANNER: usize = 8;

/// Grants before the SIGTERM: some 20 MiB of fjall writes per keyspace the
/// scan path writes, past its 16 MiB memtable, so memtable rotations and
/// flushes are under way (what filled fjall's worker queue).
const GRANTS_BEFORE_STOP: u64 = 80_000;

/// Runs: the deadlock came in 2 of 3 saturated runs.
const RUNS: usize = 3;

/// Saturates the pinned gateway until it has granted
/// [`GRANTS_BEFORE_STOP`], sends SIGTERM while the load goes on, and returns
/// how long it took to exit 0.
async fn stop_under_load() -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start_under(&["taskset", "-c", "0"], dir.path(), &[]);
    let passes = gw
        .issue(serde_json::json!({"event": "fest", "unlimited": true, "count": PASSES}))
        .await;
    let tokens: Arc<[String]> = passes.iter().map(|p| p.token.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let granted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for s in 0..SCANNERS {
        let scanner = gw.scanner(&format!("core-{s}")).await;
        for t in 0..IN_FLIGHT_PER_SCANNER {
            let (scanner, tokens) = (scanner.clone(), tokens.clone());
            let (stop, granted) = (stop.clone(), granted.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let id = format!("c{s}-{t}-{n}");
                    let token = &tokens[(s * IN_FLIGHT_PER_SCANNER + t + n as usize * 7) % PASSES];
                    n += 1;
                    // After the SIGTERM scans fail: that is expected.
                    if let Ok(r) = common::try_scan(&scanner, token, "A", Some(&id)).await
                        && r.decision == scangate_core::Decision::Granted
                    {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while granted.load(Ordering::Relaxed) < GRANTS_BEFORE_STOP {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let signalled = Instant::now();
    let status = tokio::task::spawn_blocking(move || gw.sigterm())
        .await
        .expect("join");
    let took = signalled.elapsed();
    stop.store(true, Ordering::Release);
    for task in tasks {
        let _ = task.await;
    }
    assert!(status.success(), "exit status {status:?} after {took:?}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_pinned_to_one_core_stops_under_load_within_its_stop_bound() {
    // The 30 s stop grace period operations.md asks for: each step of a
    // stop is bounded, a deadlocked one never ends.
    let bound = Duration::from_millis(DRAIN_TIMEOUT_MS) + CLOSE_TIMEOUT + CLOSE_FLUSH_LIMIT;
    for run in 0..RUNS {
        let took = stop_under_load().await;
        eprintln!("run {run}: SIGTERM to exit 0 in {took:?}");
        assert!(
            took <= bound,
            "run {run}: {took:?}, past the stop bound {bound:?}"
        );
    }
}
