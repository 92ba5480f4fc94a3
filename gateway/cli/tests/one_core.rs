//! A gateway pinned to one core (`taskset -c 0`, as in a container limited
//! to one CPU) stops cleanly under load: saturated with grants, it gets
//! SIGTERM and exits 0 within its stop bound (the drain deadline, then the
//! store's close and its stop-time flush, each bounded). fjall sized its
//! worker pool from the cores it may use (one here), and that single worker
//! could block on its own full queue while the stop-time flush waited for
//! it, forever.
//!
//! "No deadlock at any core count": the same stop under load with the
//! gateway pinned to 2, 4, 8, ... of the CPUs this test may use and to all
//! of them ([`core_sets`]), so a machine with more cores checks more counts
//! (the 2-core development machine: 1 and 2; a 16-core one: 1, 2, 4, 8, 16).

use crate::common;

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

/// Runs per larger core set: the one-core deadlock cannot happen there
/// (fjall gets a worker per core), so these look for another; two keep the
/// whole file within a few minutes on two cores.
const RUNS_PER_LARGER_SET: usize = 2;

/// One stop under load at a time in this file: two saturated gateways at
/// once would share the cores each is pinned to and measure neither.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The CPUs this process may run on, in order (`Cpus_allowed_list` of
/// `/proc/self/status`, e.g. `0-1` or `0,2-5`).
fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list");
    cpu_list(list.trim())
}

/// The CPUs of a kernel CPU list (`0-1`, `0,2-5`).
fn cpu_list(list: &str) -> Vec<usize> {
    let number = |s: &str| s.parse::<usize>().expect("a CPU number");
    list.split(',')
        .flat_map(|part| match part.split_once('-') {
            Some((a, b)) => number(a)..=number(b),
            None => number(part)..=number(part),
        })
        .collect()
}

/// The `taskset -c` lists past one core: the first 2, 4, 8, ... allowed
/// CPUs, and all of them.
fn core_sets(cpus: &[usize]) -> Vec<String> {
    let mut counts: Vec<usize> = std::iter::successors(Some(2), |n| Some(n * 2))
        .take_while(|&n| n < cpus.len())
        .collect();
    if cpus.len() > 1 {
        counts.push(cpus.len());
    }
    counts
        .into_iter()
        .map(|n| {
            let list: Vec<String> = cpus[..n].iter().map(usize::to_string).collect();
            list.join(",")
        })
        .collect()
}

/// Saturates the gateway pinned to `cpus` (a `taskset -c` list) until it
/// has granted [`GRANTS_BEFORE_STOP`], sends SIGTERM while the load goes
/// on, and returns how long it took to exit 0.
async fn stop_under_load(cpus: &str) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start_under(&["taskset", "-c", cpus], dir.path(), &[]);
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

/// The 30 s stop grace period operations.md asks for: each step of a
/// stop is bounded, a deadlocked one never ends.
fn stop_bound() -> Duration {
    Duration::from_millis(DRAIN_TIMEOUT_MS) + CLOSE_TIMEOUT + CLOSE_FLUSH_LIMIT
}

/// `runs` stops under load pinned to `cpus`, each within [`stop_bound`].
async fn stops_within_bound(cpus: &str, runs: usize) {
    let bound = stop_bound();
    for run in 0..runs {
        let took = stop_under_load(cpus).await;
        eprintln!("cpus {cpus}, run {run}: SIGTERM to exit 0 in {took:?}");
        assert!(
            took <= bound,
            "cpus {cpus}, run {run}: {took:?}, past the stop bound {bound:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_pinned_to_one_core_stops_under_load_within_its_stop_bound() {
    let _alone = ONE_AT_A_TIME.lock().await;
    stops_within_bound("0", RUNS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_pinned_to_two_cores_and_more_stops_under_load_within_its_stop_bound() {
    // A one-CPU machine has nothing past the one-core test to check.
    let sets = core_sets(&allowed_cpus());
    eprintln!("core sets: {sets:?}");
    let _alone = ONE_AT_A_TIME.lock().await;
    for cpus in sets {
        stops_within_bound(&cpus, RUNS_PER_LARGER_SET).await;
    }
}

#[test]
fn core_sets_double_up_to_every_allowed_cpu() {
    assert_eq!(cpu_list("0-1"), [0, 1]);
    assert_eq!(cpu_list("0,2-4,7"), [0, 2, 3, 4, 7]);
    assert_eq!(core_sets(&cpu_list("0,2-4")), ["0,2", "0,2,3,4"]);
    assert!(core_sets(&[0]).is_empty());
    assert_eq!(core_sets(&[0, 1]), ["0,1"]);
    assert_eq!(core_sets(&[0, 1, 2]), ["0,1", "0,1,2"]);
    let sixteen: Vec<usize> = (0..16).collect();
    let counts: Vec<usize> = core_sets(&sixteen)
        .iter()
        .map(|s| s.split(',').count())
        .collect();
    assert_eq!(counts, [2, 4, 8, 16]);
}
