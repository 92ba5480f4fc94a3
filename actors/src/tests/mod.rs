//! Tests of the registry and the pass actors against the in-memory store.

mod annul;
mod clock;
mod flags;
mod lifecycle;
mod offline;
mod scans;
mod store_faults;

use crate::test_store::{CommitMode, MemStore};
use crate::{AdminChange, Registry, RegistryConfig, Scan, ScanError, ScanOutcome};
use scangate_core::{AdminAction, Decision, Pass, PassId, Reason, ScanId, Status};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// A fresh pass id per call, so tests never share passes.
fn new_id() -> PassId {
    static NEXT: AtomicU8 = AtomicU8::new(1);
    PassId([NEXT.fetch_add(1, Ordering::Relaxed); 16])
}

/// The shared fixture (`scangate_core::testing`) with a fresh id.
fn pass(max_uses: Option<u32>) -> Pass {
    scangate_core::testing::pass(new_id(), max_uses)
}

/// An operator's revoke of a lost ticket.
fn revoke() -> AdminChange {
    AdminChange {
        action: AdminAction::Revoke,
        reason: "lost".into(),
        who: "ops".into(),
    }
}

pub(crate) fn scan(id: &str) -> Scan {
    Scan {
        scan_id: ScanId::new(id).expect("scan id"),
        gate: "north".into(),
        event: Some("fest".into()),
        device: "gate-1".into(),
        scanner_time_ms: 1,
        token_not_after_ms: None,
        token_generation: 0,
        direction: None,
        check_only: false,
        definition: None,
    }
}

fn config() -> RegistryConfig {
    RegistryConfig::default()
}

/// A registry over a store holding `passes`.
fn setup(config: RegistryConfig, passes: &[&Pass]) -> (Registry, Arc<MemStore>) {
    let store = Arc::new(MemStore::new());
    for p in passes {
        store.put((*p).clone());
    }
    (Registry::new(store.clone(), config), store)
}

fn granted(outcome: &ScanOutcome) -> bool {
    outcome.decision == Decision::Granted
}

fn denied(reason: Reason) -> Decision {
    Decision::Denied(reason)
}

/// Waits for `cond` with a deadline of one second of (possibly virtual)
/// time, yielding to the runtime in between; panics naming `what`.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(1), async {
        while !cond() {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting until {what}");
}

type Pending = tokio::task::JoinHandle<Result<ScanOutcome, ScanError>>;

/// Holds the store's commits, sends one scan (its commit is held), then a
/// second, and waits until both occupy the pass's queue.
async fn hold_first_queue_second(
    registry: &Registry,
    store: &MemStore,
    id: PassId,
    scan_ids: [&'static str; 2],
) -> (Pending, Pending, Arc<crate::queue::Queue>) {
    store.set_mode(CommitMode::Hold);
    let send = |scan_id: &'static str| {
        let registry = registry.clone();
        tokio::spawn(async move { registry.scan(id, scan(scan_id)).await })
    };
    let first = send(scan_ids[0]);
    wait_until("the first commit is held", || store.commits_started() == 1).await;
    let second = send(scan_ids[1]);
    let queue = registry
        .directory()
        .live(id)
        .expect("open")
        .expect("live")
        .queue;
    wait_until("two requests are queued", || queue.len() == 2).await;
    (first, second, queue)
}
