//! Offline facts reconciled through the pass's actor, against the test
//! store: counted once, beyond the limit if need be, flagged, listed.

use super::clock::{ManualClock, setup_with};
use super::*;
use crate::Reconcile;
use scangate_core::offline::messages::ConflictKind;
use scangate_core::testing::offline_fact as fact;
use scangate_storage::ConflictQuery;

/// The gateway's clock at the uploads (Unix ms).
const NOW: i64 = 1_000_000;

fn kinds(r: &crate::Reconciled) -> Vec<ConflictKind> {
    r.conflicts.clone()
}

#[tokio::test]
async fn one_ticket_on_two_offline_devices_counts_twice_one_over_limit_naming_both() {
    let p = pass(Some(1));
    let clock = ManualClock::at(NOW);
    let (registry, store) = setup_with(MemStore::new(), config(), &[&p], &clock);
    let a = registry
        .reconcile(p.id, fact("off-a", "dev-a", 950_000))
        .await;
    let b = registry
        .reconcile(p.id, fact("off-b", "dev-b", 951_000))
        .await;
    let (a, b) = (a.expect("recorded"), b.expect("recorded"));
    assert_eq!(
        (a.status, b.status),
        (Reconcile::Recorded, Reconcile::Recorded)
    );
    assert!(kinds(&a).is_empty());
    assert_eq!(kinds(&b), vec![ConflictKind::OverLimit]);
    assert_eq!(store.stored(p.id).uses, 2, "both entries counted");

    let query = ConflictQuery {
        kind: Some(ConflictKind::OverLimit),
        limit: 10,
        ..ConflictQuery::default()
    };
    let page = registry.conflicts(query).await.expect("listed");
    assert_eq!(page.items.len(), 1, "exactly one over_limit conflict");
    let view = &page.items[0];
    assert_eq!(view.conflict.pass_id, Some(p.id));
    assert_eq!(
        (view.conflict.device.as_str(), view.other_devices.as_slice()),
        ("dev-b", ["dev-a".to_owned()].as_slice()),
        "the conflict names both devices"
    );
}

#[tokio::test]
async fn a_revocation_before_the_device_time_is_flagged_after_it_is_not() {
    let (early, late) = (pass(Some(3)), pass(Some(3)));
    let clock = ManualClock::at(960_000);
    let (registry, _store) = setup_with(MemStore::new(), config(), &[&early, &late], &clock);
    for p in [&early, &late] {
        registry
            .admin(p.id, revoke())
            .await
            .expect("revoked at 960 000");
    }
    clock.set(NOW);
    let after = registry
        .reconcile(early.id, fact("rv-1", "d", 960_001))
        .await;
    assert_eq!(
        kinds(&after.expect("recorded")),
        vec![ConflictKind::RevokedBeforeScan]
    );
    let before = registry
        .reconcile(late.id, fact("rv-2", "d", 959_999))
        .await;
    let before = before.expect("recorded");
    assert!(kinds(&before).is_empty(), "scanned before the revocation");
    assert_eq!(before.uses, 1, "the fact is counted on a revoked pass");
}

#[tokio::test]
async fn a_reupload_is_a_duplicate_and_counts_nothing() {
    let p = pass(Some(1));
    let clock = ManualClock::at(NOW);
    let (registry, store) = setup_with(MemStore::new(), config(), &[&p], &clock);
    let first = registry.reconcile(p.id, fact("dup-1", "d", 950_000)).await;
    assert_eq!(first.expect("recorded").status, Reconcile::Recorded);
    let again = registry.reconcile(p.id, fact("dup-1", "d", 950_000)).await;
    let again = again.expect("answered");
    assert_eq!((again.status, again.uses), (Reconcile::Duplicate, 1));
    assert_eq!(store.stored(p.id).uses, 1, "counted once");
    let unknown = registry
        .reconcile(new_id(), fact("dup-2", "d", 950_000))
        .await;
    assert!(
        matches!(unknown, Err(ScanError::UnknownPass)),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn offline_facts_among_concurrent_online_scans_keep_the_count_exact() {
    const ONLINE: usize = 12;
    const OFFLINE: usize = 6;
    let p = pass(Some(8));
    let clock = ManualClock::at(NOW);
    let (registry, store) = setup_with(MemStore::new(), config(), &[&p], &clock);
    let mut online = tokio::task::JoinSet::new();
    let mut offline = tokio::task::JoinSet::new();
    for n in 0..ONLINE.max(OFFLINE) {
        if n < ONLINE {
            let r = registry.clone();
            online.spawn(async move { r.scan(p.id, scan(&format!("on-{n}"))).await });
        }
        if n < OFFLINE {
            let r = registry.clone();
            let f = fact(&format!("off-{n}"), &format!("dev-{n}"), 950_000);
            offline.spawn(async move { r.reconcile(p.id, f).await });
        }
    }
    let mut online_grants = 0u32;
    while let Some(done) = online.join_next().await {
        let outcome = done.expect("joined").expect("decided");
        online_grants += u32::from(granted(&outcome));
    }
    let mut over = 0;
    while let Some(done) = offline.join_next().await {
        let r = done.expect("joined").expect("recorded");
        assert_eq!(r.status, Reconcile::Recorded);
        over += usize::from(r.conflicts.contains(&ConflictKind::OverLimit));
    }
    let uses = store.stored(p.id).uses;
    assert_eq!(
        uses,
        online_grants + OFFLINE as u32,
        "online + offline grants"
    );
    assert!(online_grants <= 8, "online never beyond max_uses");
    // Every offline grant counted after the limit was reached is flagged.
    assert_eq!(over, (uses as usize).saturating_sub(8).min(OFFLINE));
}
