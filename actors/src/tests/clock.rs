//! Rules that depend on the time, driven through the registry's clock: the
//! test sets the time, nothing sleeps.

use super::*;
use crate::{AdminError, AnnulRequest, Clock};
use scangate_core::rules::AnnulRefusal;
use std::sync::atomic::AtomicI64;

/// A clock the test sets (Unix milliseconds).
pub(super) struct ManualClock(AtomicI64);

impl ManualClock {
    pub(super) fn at(ms: i64) -> Arc<Self> {
        Arc::new(ManualClock(AtomicI64::new(ms)))
    }

    pub(super) fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A registry over `store` (holding `passes`) that reads `clock`.
pub(super) fn setup_with(
    store: MemStore,
    config: RegistryConfig,
    passes: &[&Pass],
    clock: &Arc<ManualClock>,
) -> (Registry, Arc<MemStore>) {
    for p in passes {
        store.put((*p).clone());
    }
    let store = Arc::new(store);
    let clock: Arc<dyn Clock> = clock.clone();
    (Registry::with_clock(store.clone(), config, clock), store)
}

#[tokio::test]
async fn a_pass_expires_at_the_time_the_clock_gives_and_its_actor_goes() {
    let mut p = pass(None);
    p.valid_from_ms = Some(1_000);
    p.valid_until_ms = Some(2_000);
    let clock = ManualClock::at(999);
    let (registry, _store) = setup_with(MemStore::new(), config(), &[&p], &clock);
    let early = registry.scan(p.id, scan("e")).await.expect("early");
    assert_eq!(early.decision, denied(Reason::NotYetValid));
    clock.set(1_999);
    assert!(granted(&registry.scan(p.id, scan("in")).await.expect("in")));
    assert_eq!(
        registry.live_actors(),
        1,
        "still grantable: the actor stays"
    );
    clock.set(2_000);
    let late = registry.scan(p.id, scan("late")).await.expect("late");
    assert_eq!(late.decision, denied(Reason::Expired));
    wait_until("the expired pass's actor stopped", || {
        registry.live_actors() == 0
    })
    .await;
}

#[tokio::test]
async fn on_a_shared_store_a_denial_is_read_again_once_the_copy_is_old() {
    let p = pass(None);
    let cfg = RegistryConfig {
        shared_recheck_ms: 1_000,
        ..config()
    };
    let clock = ManualClock::at(50_000);
    let (registry, store) = setup_with(MemStore::new_shared(), cfg, &[&p], &clock);
    registry.admin(p.id, revoke()).await.expect("revoke");
    // Another gateway reactivates it: only the store knows.
    store.set_status(p.id, Status::Active);
    clock.set(50_999);
    let fresh = registry.scan(p.id, scan("a")).await.expect("a");
    assert_eq!(
        fresh.decision,
        denied(Reason::Revoked),
        "copy under 1 s old"
    );
    clock.set(51_000);
    let old = registry.scan(p.id, scan("b")).await.expect("b");
    assert!(granted(&old), "read again at 1 s: {old:?}");
}

#[tokio::test]
async fn the_annul_window_is_judged_at_the_time_the_clock_gives() {
    let p = pass(Some(2));
    let cfg = RegistryConfig {
        annul_window_ms: 60_000,
        ..config()
    };
    let clock = ManualClock::at(1_000_000);
    let (registry, store) = setup_with(MemStore::new(), cfg, &[&p], &clock);
    assert!(granted(&registry.scan(p.id, scan("g1")).await.expect("g1")));
    assert!(granted(&registry.scan(p.id, scan("g2")).await.expect("g2")));
    let annul = |id: &str| AnnulRequest {
        scan_id: ScanId::new(id).expect("scan id"),
        reason: "twice".into(),
        who: "ops".into(),
    };
    clock.set(1_060_000);
    let record = registry
        .annul(p.id, annul("g1"))
        .await
        .expect("at the window's end");
    assert_eq!(record.annulled.map(|a| a.at_ms), Some(1_060_000));
    clock.set(1_060_001);
    let late = registry.annul(p.id, annul("g2")).await;
    assert!(
        matches!(
            late,
            Err(AdminError::Annul(AnnulRefusal::TooLate {
                window_ms: 60_000
            }))
        ),
        "{late:?}"
    );
    assert_eq!(store.stored(p.id).uses, 1);
}
