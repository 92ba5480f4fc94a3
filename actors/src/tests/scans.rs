//! Scan decisions: exactly once, retries, conflicts, admin ordering.

use super::*;
use crate::test_store::CommitMode;
use crate::{AdminError, ScanError};
use tokio::task::JoinSet;

async fn concurrent_grants(max_uses: u32, scans: usize) {
    let p = pass(Some(max_uses));
    let (registry, store) = setup(config(), &[&p]);
    let mut set = JoinSet::new();
    for i in 0..scans {
        let registry = registry.clone();
        set.spawn(async move { registry.scan(p.id, scan(&format!("s{i}"))).await });
    }
    let outcomes: Vec<ScanOutcome> = set
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("decided"))
        .collect();
    let grants = outcomes.iter().filter(|o| granted(o)).count();
    let used_up = outcomes
        .iter()
        .filter(|o| o.decision == denied(Reason::UsedUp))
        .count();
    assert_eq!(grants, max_uses as usize);
    assert_eq!(used_up, scans - max_uses as usize);
    assert_eq!(store.stored(p.id).uses, max_uses);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_scans_start_one_actor() {
    // Unlimited, so the pass is never spent and its actor stays for all 50
    // (a spent pass's actor stops at once and a later scan starts another).
    let p = pass(None);
    let (registry, _store) = setup(config(), &[&p]);
    let mut set = JoinSet::new();
    for i in 0..50 {
        let registry = registry.clone();
        set.spawn(async move { registry.scan(p.id, scan(&format!("f{i}"))).await });
    }
    for outcome in set.join_all().await {
        assert!(granted(&outcome.expect("decided")));
    }
    assert_eq!(
        registry.directory().started_count(),
        1,
        "concurrent first scans start one actor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_scans_grant_a_single_use_pass_once() {
    concurrent_grants(1, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_scans_grant_a_three_use_pass_three_times() {
    concurrent_grants(3, 50).await;
}

#[tokio::test]
async fn a_retry_replays_the_first_decision_and_counts_once() {
    let p = pass(Some(2));
    let (registry, store) = setup(config(), &[&p]);
    let first = registry.scan(p.id, scan("a")).await.expect("first");
    assert!(granted(&first) && !first.replayed);
    assert_eq!(
        (first.uses, first.max_uses, first.display.as_deref()),
        (Some(1), Some(2), Some(scangate_core::testing::DISPLAY))
    );
    let retry = registry.scan(p.id, scan("a")).await.expect("retry");
    assert!(granted(&retry) && retry.replayed);
    assert_eq!(retry.uses, Some(1));
    assert_eq!(store.stored(p.id).uses, 1, "the retry counted nothing");
}

#[tokio::test]
async fn a_denial_is_stored_and_replayed_even_after_the_pass_changes() {
    let mut p = pass(Some(1));
    p.status = Status::Suspended;
    let (registry, _store) = setup(config(), &[&p]);
    let first = registry.scan(p.id, scan("d")).await.expect("first");
    assert_eq!(first.decision, denied(Reason::Suspended));
    assert_eq!(first.display, None, "display only on a grant");
    let change = AdminChange {
        action: AdminAction::Reactivate,
        reason: "paid".into(),
        who: "ops".into(),
    };
    registry.admin(p.id, change).await.expect("reactivate");
    let retry = registry.scan(p.id, scan("d")).await.expect("retry");
    assert_eq!(retry.decision, denied(Reason::Suspended));
    assert!(retry.replayed);
    assert!(granted(
        &registry.scan(p.id, scan("d2")).await.expect("new id")
    ));
}

#[tokio::test]
async fn a_scan_id_reused_for_another_pass_is_a_conflict() {
    let (a, b) = (pass(Some(1)), pass(Some(1)));
    let (registry, store) = setup(config(), &[&a, &b]);
    assert!(granted(
        &registry.scan(a.id, scan("same")).await.expect("a")
    ));
    let reused = registry.scan(b.id, scan("same")).await;
    assert!(
        matches!(reused, Err(ScanError::ScanIdConflict)),
        "{reused:?}"
    );
    assert_eq!(store.stored(b.id).uses, 0);
}

#[tokio::test]
async fn revoke_suspend_and_reactivate_apply_to_the_next_scan() {
    let p = pass(None);
    let (registry, store) = setup(config(), &[&p]);
    let admin = |action| AdminChange {
        action,
        reason: "ops said so".into(),
        who: "ops".into(),
    };
    let suspended = registry
        .admin(p.id, admin(AdminAction::Suspend))
        .await
        .expect("suspend");
    assert_eq!(suspended.status, Status::Suspended);
    assert_eq!(suspended.status_reason.as_deref(), Some("ops said so"));
    let s1 = registry.scan(p.id, scan("s1")).await.expect("s1");
    assert_eq!(s1.decision, denied(Reason::Suspended));

    registry
        .admin(p.id, admin(AdminAction::Reactivate))
        .await
        .expect("reactivate");
    assert!(granted(&registry.scan(p.id, scan("s2")).await.expect("s2")));

    registry
        .admin(p.id, admin(AdminAction::Revoke))
        .await
        .expect("revoke");
    let s3 = registry.scan(p.id, scan("s3")).await.expect("s3");
    assert_eq!(s3.decision, denied(Reason::Revoked));

    let again = registry.admin(p.id, admin(AdminAction::Suspend)).await;
    assert!(matches!(again, Err(AdminError::Transition(_))), "{again:?}");
    assert_eq!(store.stored(p.id).status, Status::Revoked);
    assert_eq!(store.audit_len(), 3, "one audit record per applied change");

    let long = AdminChange {
        reason: "x".repeat(scangate_core::pass::REASON_MAX_BYTES + 1),
        ..admin(AdminAction::Reactivate)
    };
    let too_long = registry.admin(p.id, long).await;
    assert!(
        matches!(too_long, Err(AdminError::Invalid(_))),
        "{too_long:?}"
    );
}

#[tokio::test]
async fn an_unknown_pass_is_denied_without_starting_an_actor() {
    let (registry, _store) = setup(config(), &[]);
    let mut set = JoinSet::new();
    for i in 0..10 {
        let registry = registry.clone();
        set.spawn(async move { registry.scan(new_id(), scan(&format!("u{i}"))).await });
    }
    let id = new_id();
    for _ in 0..5 {
        let registry = registry.clone();
        set.spawn(async move { registry.scan(id, scan("u-same-pass")).await });
    }
    for outcome in set.join_all().await {
        let outcome = outcome.expect("decided");
        assert_eq!(outcome, ScanOutcome::refused(Reason::Unknown));
    }
    let admin = AdminChange {
        action: AdminAction::Revoke,
        reason: "r".into(),
        who: "ops".into(),
    };
    assert!(matches!(
        registry.admin(id, admin).await,
        Err(AdminError::NotFound)
    ));
    assert_eq!(registry.directory().started_count(), 0);
    assert_eq!(registry.live_actors(), 0);
}

#[tokio::test]
async fn a_conflict_reloads_the_pass_and_decides_once_more() {
    let p = pass(Some(2));
    let (registry, store) = setup(config(), &[&p]);
    assert!(granted(&registry.scan(p.id, scan("c1")).await.expect("c1")));
    store.bump_uses(p.id); // another gateway node used the last one
    let second = registry.scan(p.id, scan("c2")).await.expect("c2");
    assert_eq!(second.decision, denied(Reason::UsedUp));
    assert_eq!(second.uses, Some(2));
    assert_eq!(store.stored(p.id).uses, 2);
    assert_eq!(registry.directory().started_count(), 1, "no restart needed");
}

#[tokio::test]
async fn a_busy_store_answers_busy_and_stores_nothing() {
    let p = pass(Some(1));
    let (registry, store) = setup(config(), &[&p]);
    store.set_mode(CommitMode::Busy);
    let busy = registry.scan(p.id, scan("b")).await.expect("busy");
    assert_eq!(busy, ScanOutcome::refused(Reason::Busy));
    store.set_mode(CommitMode::Normal);
    let retry = registry.scan(p.id, scan("b")).await.expect("retry");
    assert!(granted(&retry) && !retry.replayed, "busy was not stored");
}

#[tokio::test]
async fn pass_reads_from_the_actor_or_the_store_without_starting_one() {
    let p = pass(Some(3));
    let (registry, _store) = setup(config(), &[&p]);
    let cold = registry.pass(p.id).await.expect("read").expect("exists");
    assert_eq!(cold.uses, 0);
    assert_eq!(registry.directory().started_count(), 0);
    registry.scan(p.id, scan("p1")).await.expect("scan");
    let warm = registry.pass(p.id).await.expect("read").expect("exists");
    assert_eq!(warm.uses, 1);
    assert!(registry.pass(new_id()).await.expect("read").is_none());
}

/// A pass this gateway's actor holds as revoked, reactivated through another
/// gateway on the same store: what the next scan here says.
async fn scan_after_a_reactivation_elsewhere(store: MemStore, recheck_ms: u64) -> ScanOutcome {
    let p = pass(None);
    store.put(p.clone());
    let config = RegistryConfig {
        shared_recheck_ms: recheck_ms,
        ..config()
    };
    let store = Arc::new(store);
    let registry = Registry::new(store.clone(), config);
    registry.admin(p.id, revoke()).await.expect("revoke");
    // The other gateway's reactivation reaches only the store.
    store.set_status(p.id, Status::Active);
    registry.scan(p.id, scan("after")).await.expect("scan")
}

#[tokio::test]
async fn on_a_shared_store_an_old_denial_is_checked_against_the_store() {
    let outcome = scan_after_a_reactivation_elsewhere(MemStore::new_shared(), 0).await;
    assert!(granted(&outcome), "got {outcome:?}");
}

#[tokio::test]
async fn on_a_shared_store_a_fresh_denial_is_not_reread() {
    let outcome = scan_after_a_reactivation_elsewhere(MemStore::new_shared(), 60_000).await;
    assert_eq!(outcome.decision, denied(Reason::Revoked));
}

#[tokio::test]
async fn on_a_store_only_this_gateway_writes_memory_is_the_truth() {
    let outcome = scan_after_a_reactivation_elsewhere(MemStore::new(), 0).await;
    assert_eq!(outcome.decision, denied(Reason::Revoked));
}
