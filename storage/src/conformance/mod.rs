//! The storage conformance suite: what every [`Store`] backend must do, one
//! async function per property, each taking an `Arc<dyn Store>` and
//! panicking with a clear message when the backend breaks the property.
//!
//! Every property uses fresh pass ids and scan ids, so they can share one
//! store (one ScyllaDB keyspace per test run) and run in any order, except
//! [`closed_store_refuses_writes`], which closes the store and so comes last
//! in [`run_all`]. Times are near the wall clock, except in
//! [`purge_forgets_scan_ids_but_keeps_scans`], which uses 1970 times.

mod erased;
mod fixtures;
mod flags;
mod floor;
mod holder;
mod offline;
mod personal;
mod queries;
mod retention;
mod warm;

pub use erased::{
    an_erase_racing_with_changes_leaves_no_way_back,
    an_erased_pass_takes_no_change_but_another_erase, erased_outlives_its_audit_record,
};
pub use fixtures::{new_id, new_pass, new_scan_id, now_ms, scan};
pub use flags::flagged_scans_are_kept_and_listed_by_flag;
pub use floor::{entries_and_exits_keep_presence_conditionally, event_definitions_round_trip};
pub use holder::holder_links_replace_and_remove;
pub use offline::{
    offline_facts_count_beyond_the_limit_with_their_conflicts,
    pass_less_conflicts_are_listed_by_filter_and_page,
    pass_less_conflicts_written_twice_keep_one_row,
};
pub use personal::{erase_removes_personal_data_and_keeps_the_record, personal_fields_round_trip};
pub use queries::{
    annul_gives_the_use_back_once, audit_queries_by_pass_and_time,
    passes_list_by_event_kind_status, scans_query_filters_and_pages,
};
pub use retention::{
    retention_honours_each_events_period, retention_removes_old_records_and_keeps_new_ones,
};
pub use warm::{
    a_stale_warmed_entry_is_corrected_by_the_conditional_grant,
    a_warm_up_never_overwrites_a_newer_entry, issued_passes_are_served_from_the_cache,
    warm_up_caches_what_is_on_now, warm_up_fixture,
};

use crate::{Store, StoreError};
use fixtures::{audit, expect_conflict, inserted, uses};
use scangate_core::{AdminAction, Decision, Kind, Reason, Status};
use std::sync::Arc;

/// Runs every property, the closing one last. The store is closed afterwards.
pub async fn run_all(store: Arc<dyn Store>) {
    insert_then_load_round_trips(store.clone()).await;
    insert_is_all_or_none(store.clone()).await;
    grant_updates_uses(store.clone()).await;
    duplicate_scan_id_is_refused(store.clone()).await;
    concurrent_duplicate_scan_ids_count_once(store.clone()).await;
    conditional_grant_conflicts(store.clone()).await;
    admin_change_is_kept_with_audit(store.clone()).await;
    scans_list_oldest_first_with_limit(store.clone()).await;
    purge_forgets_scan_ids_but_keeps_scans(store.clone()).await;
    concurrent_grants_never_exceed_max_uses(store.clone()).await;
    passes_list_by_event_kind_status(store.clone()).await;
    scans_query_filters_and_pages(store.clone()).await;
    annul_gives_the_use_back_once(store.clone()).await;
    audit_queries_by_pass_and_time(store.clone()).await;
    offline_facts_count_beyond_the_limit_with_their_conflicts(store.clone()).await;
    pass_less_conflicts_are_listed_by_filter_and_page(store.clone()).await;
    pass_less_conflicts_written_twice_keep_one_row(store.clone()).await;
    holder_links_replace_and_remove(store.clone()).await;
    flagged_scans_are_kept_and_listed_by_flag(store.clone()).await;
    personal_fields_round_trip(store.clone()).await;
    erase_removes_personal_data_and_keeps_the_record(store.clone()).await;
    an_erased_pass_takes_no_change_but_another_erase(store.clone()).await;
    an_erase_racing_with_changes_leaves_no_way_back(store.clone()).await;
    event_definitions_round_trip(store.clone()).await;
    entries_and_exits_keep_presence_conditionally(store.clone()).await;
    closed_store_refuses_writes(store).await;
}

/// A pass stored and loaded back is the same pass; an unknown id loads `None`.
pub async fn insert_then_load_round_trips(store: Arc<dyn Store>) {
    let mut pass = new_pass(Some(3));
    pass.gates = vec!["north-1".into(), "vip".into()];
    pass.display = Some("Ada L. · Row 4".into());
    pass.valid_from_ms = Some(now_ms() - 60_000);
    pass.valid_until_ms = Some(now_ms() + 3_600_000);
    pass.kind = Kind::Pass;
    let unlimited = new_pass(None);
    store
        .insert_passes(vec![pass.clone(), unlimited.clone()])
        .await
        .expect("insert");
    assert_eq!(store.load_pass(pass.id).await.expect("load"), Some(pass));
    assert_eq!(
        store.load_pass(unlimited.id).await.expect("load"),
        Some(unlimited)
    );
    assert_eq!(store.load_pass(new_id()).await.expect("load unknown"), None);
}

/// An insert naming a stored id (or one id twice) fails with `PassExists`
/// and stores none of its passes.
pub async fn insert_is_all_or_none(store: Arc<dyn Store>) {
    let taken = new_pass(Some(1));
    store
        .insert_passes(vec![taken.clone()])
        .await
        .expect("insert");
    let fresh = new_pass(Some(1));
    let err = store
        .insert_passes(vec![fresh.clone(), taken.clone()])
        .await;
    assert!(
        matches!(err, Err(StoreError::PassExists(id)) if id == taken.id),
        "got {err:?}"
    );
    assert_eq!(
        store.load_pass(fresh.id).await.expect("load"),
        None,
        "partial insert"
    );
    let twice = new_pass(Some(1));
    let err = store
        .insert_passes(vec![twice.clone(), twice.clone()])
        .await;
    assert!(
        matches!(err, Err(StoreError::PassExists(id)) if id == twice.id),
        "got {err:?}"
    );
    assert_eq!(store.load_pass(twice.id).await.expect("load"), None);
}

/// A grant sets the use count and keeps the scan; a denial keeps the scan
/// and leaves the count alone.
pub async fn grant_updates_uses(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(3)).await;
    let grant = scan(pass.id, Decision::Granted, 1, now_ms());
    store.commit_scan(grant.clone()).await.expect("grant");
    assert_eq!(uses(&store, pass.id).await, 1);
    assert_eq!(
        store.find_scan(&grant.scan_id).await.expect("find"),
        Some(grant)
    );
    let denial = scan(pass.id, Decision::Denied(Reason::WrongGate), 1, now_ms());
    store.commit_scan(denial.clone()).await.expect("denial");
    assert_eq!(uses(&store, pass.id).await, 1);
    assert_eq!(
        store.find_scan(&denial.scan_id).await.expect("find"),
        Some(denial)
    );
}

/// A second commit with a recorded scan id answers `DuplicateScanId` with the
/// first record and writes nothing.
pub async fn duplicate_scan_id_is_refused(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(5)).await;
    let first = scan(pass.id, Decision::Granted, 1, now_ms());
    store.commit_scan(first.clone()).await.expect("first");
    let mut retry = first.clone();
    retry.uses_after = 2;
    retry.at_ms += 5;
    match store.commit_scan(retry).await {
        Err(StoreError::DuplicateScanId { existing }) => assert_eq!(*existing, first),
        other => panic!("a retried scan id must be refused, got {other:?}"),
    }
    // Also when the retry names another pass.
    let other = inserted(&store, Some(5)).await;
    let mut elsewhere = first.clone();
    elsewhere.pass_id = other.id;
    let err = store.commit_scan(elsewhere).await;
    assert!(
        matches!(err, Err(StoreError::DuplicateScanId { .. })),
        "got {err:?}"
    );
    assert_eq!(uses(&store, pass.id).await, 1);
    assert_eq!(uses(&store, other.id).await, 0);
    assert_eq!(store.list_scans(pass.id, 10).await.expect("list").len(), 1);
}

/// Many commits of one scan id at once (which a group-committing backend
/// puts in one batch): exactly one applies, the rest are duplicates.
pub async fn concurrent_duplicate_scan_ids_count_once(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(5)).await;
    let record = scan(pass.id, Decision::Granted, 1, now_ms());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (store, record) = (store.clone(), record.clone());
        tasks.spawn(async move { store.commit_scan(record).await });
    }
    let (mut applied, mut duplicates) = (0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.expect("task") {
            Ok(()) => applied += 1,
            Err(StoreError::DuplicateScanId { existing }) => {
                assert_eq!(*existing, record);
                duplicates += 1;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((applied, duplicates), (1, 15));
    assert_eq!(uses(&store, pass.id).await, 1);
}

/// A grant applies only on an active pass whose stored count is
/// `uses_after - 1` and within `max_uses`; otherwise `Conflict` and nothing
/// is written.
pub async fn conditional_grant_conflicts(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(2)).await;
    for uses_after in [0, 2, 3] {
        let r = scan(pass.id, Decision::Granted, uses_after, now_ms());
        expect_conflict(&store, r, pass.id, 0).await;
    }
    for n in 1..=2 {
        store
            .commit_scan(scan(pass.id, Decision::Granted, n, now_ms()))
            .await
            .expect("grant within the limit");
    }
    expect_conflict(
        &store,
        scan(pass.id, Decision::Granted, 3, now_ms()),
        pass.id,
        2,
    )
    .await;
    assert_eq!(uses(&store, pass.id).await, 2);

    let mut suspended = new_pass(Some(2));
    suspended.status = Status::Suspended;
    store
        .insert_passes(vec![suspended.clone()])
        .await
        .expect("insert");
    expect_conflict(
        &store,
        scan(suspended.id, Decision::Granted, 1, now_ms()),
        suspended.id,
        0,
    )
    .await;
    let unknown = new_id();
    expect_conflict(
        &store,
        scan(unknown, Decision::Granted, 1, now_ms()),
        unknown,
        0,
    )
    .await;
}

/// An admin change sets status and reason, keeps an audit record, and binds
/// later grants; an unknown pass is `NotFound`.
pub async fn admin_change_is_kept_with_audit(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(3)).await;
    let suspend = audit(
        pass.id,
        AdminAction::Suspend,
        Status::Active,
        Status::Suspended,
    );
    store.commit_admin(suspend.clone()).await.expect("suspend");
    let loaded = store
        .load_pass(pass.id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(loaded.status, Status::Suspended);
    assert_eq!(
        loaded.status_reason.as_deref(),
        Some(suspend.reason.as_str())
    );
    expect_conflict(
        &store,
        scan(pass.id, Decision::Granted, 1, now_ms()),
        pass.id,
        0,
    )
    .await;

    let mut reactivate = audit(
        pass.id,
        AdminAction::Reactivate,
        Status::Suspended,
        Status::Active,
    );
    reactivate.at_ms = suspend.at_ms + 1;
    store
        .commit_admin(reactivate.clone())
        .await
        .expect("reactivate");
    store
        .commit_scan(scan(pass.id, Decision::Granted, 1, now_ms()))
        .await
        .expect("grant after reactivate");
    let listed = store.list_audit(pass.id, 10).await.expect("audit");
    assert_eq!(listed, vec![suspend, reactivate.clone()]);
    assert_eq!(store.list_audit(pass.id, 1).await.expect("audit").len(), 1);
    let missing = audit(
        new_id(),
        AdminAction::Revoke,
        Status::Active,
        Status::Revoked,
    );
    let err = store.commit_admin(missing.clone()).await;
    assert!(
        matches!(err, Err(StoreError::NotFound(id)) if id == missing.pass_id),
        "got {err:?}"
    );
}

/// A pass's scans list oldest first, at most `limit`, and only its own.
pub async fn scans_list_oldest_first_with_limit(store: Arc<dyn Store>) {
    let pass = inserted(&store, None).await;
    let neighbour = inserted(&store, None).await;
    let t = now_ms();
    let mut records = Vec::new();
    for (n, offset) in [(1, 30), (2, 10), (3, 20)] {
        let r = scan(pass.id, Decision::Granted, n, t + offset);
        store.commit_scan(r.clone()).await.expect("grant");
        records.push(r);
    }
    let denied = scan(pass.id, Decision::Denied(Reason::Expired), 3, t + 10);
    store.commit_scan(denied.clone()).await.expect("denial");
    store
        .commit_scan(scan(neighbour.id, Decision::Granted, 1, t))
        .await
        .expect("neighbour");
    let listed = store.list_scans(pass.id, 100).await.expect("list");
    let times: Vec<i64> = listed.iter().map(|r| r.at_ms - t).collect();
    assert_eq!(times, vec![10, 10, 20, 30], "oldest first");
    assert!(listed.contains(&denied) && records.iter().all(|r| listed.contains(r)));
    let two = store.list_scans(pass.id, 2).await.expect("list");
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|r| r.at_ms == t + 10));
    assert!(store.list_scans(pass.id, 0).await.expect("list").is_empty());
    assert!(
        store
            .list_scans(new_id(), 10)
            .await
            .expect("list")
            .is_empty()
    );
}

/// Purging forgets scan ids recorded before the cut (bounded per call, so it
/// is called until it forgets nothing) and keeps the scan log and newer ids.
pub async fn purge_forgets_scan_ids_but_keeps_scans(store: Arc<dyn Store>) {
    const OLD_MS: i64 = 1_000_000; // 1970: older than any other property's scans
    let pass = inserted(&store, None).await;
    let old = scan(pass.id, Decision::Granted, 1, OLD_MS);
    let cut = scan(pass.id, Decision::Granted, 2, OLD_MS + 1);
    let new = scan(pass.id, Decision::Granted, 3, now_ms());
    for r in [&old, &cut, &new] {
        store.commit_scan(r.clone()).await.expect("grant");
    }
    let mut forgotten = 0;
    for _ in 0..1000 {
        let n = store.purge_scan_ids(OLD_MS + 1).await.expect("purge");
        if n == 0 {
            break;
        }
        forgotten += n;
    }
    assert!(forgotten >= 1, "the old scan id must be forgotten");
    assert_eq!(store.find_scan(&old.scan_id).await.expect("find"), None);
    assert_eq!(
        store.find_scan(&cut.scan_id).await.expect("find"),
        Some(cut.clone())
    );
    assert_eq!(
        store.find_scan(&new.scan_id).await.expect("find"),
        Some(new.clone())
    );
    assert_eq!(
        store.list_scans(pass.id, 10).await.expect("list"),
        vec![old, cut, new]
    );
}

/// Many tasks granting one pass at once, each deciding from what it loaded
/// and retrying on `Conflict`: exactly `max_uses` grants apply.
pub async fn concurrent_grants_never_exceed_max_uses(store: Arc<dyn Store>) {
    const MAX_USES: u32 = 10;
    const TASKS: usize = 64;
    const ATTEMPTS: usize = 500;
    let pass = inserted(&store, Some(MAX_USES)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            let mut granted = 0u32;
            for _ in 0..ATTEMPTS {
                let now = store
                    .load_pass(pass.id)
                    .await
                    .expect("load")
                    .expect("stored");
                if now.uses >= MAX_USES {
                    return granted;
                }
                match store
                    .commit_scan(scan(pass.id, Decision::Granted, now.uses + 1, now_ms()))
                    .await
                {
                    Ok(()) => granted += 1,
                    Err(StoreError::Conflict { .. }) => store.invalidate(pass.id),
                    Err(StoreError::Busy) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            granted
        });
    }
    let mut total = 0;
    while let Some(granted) = tasks.join_next().await {
        total += granted.expect("task");
    }
    assert_eq!(total, MAX_USES, "grants acknowledged");
    store.invalidate(pass.id);
    assert_eq!(uses(&store, pass.id).await, MAX_USES);
    let scans = store.list_scans(pass.id, 1000).await.expect("list");
    assert_eq!(scans.len(), MAX_USES as usize, "scan records");
}

/// After `close`, every write answers `Closed`; closing twice is fine.
pub async fn closed_store_refuses_writes(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(1)).await;
    store.close().await.expect("close");
    let err = store
        .commit_scan(scan(pass.id, Decision::Granted, 1, now_ms()))
        .await;
    assert!(matches!(err, Err(StoreError::Closed)), "got {err:?}");
    let err = store.insert_passes(vec![new_pass(None)]).await;
    assert!(matches!(err, Err(StoreError::Closed)), "got {err:?}");
    let err = store
        .commit_admin(audit(
            pass.id,
            AdminAction::Revoke,
            Status::Active,
            Status::Revoked,
        ))
        .await;
    assert!(matches!(err, Err(StoreError::Closed)), "got {err:?}");
    store.close().await.expect("second close");
}
