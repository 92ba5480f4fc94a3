//! Offline facts and conflicts: an offline record's grant is conditional on
//! the count alone, its conflicts are kept in its own commit, pass-less
//! conflicts are kept on their own, and conflicts are listed by filter and
//! page.

use super::fixtures::{audit, expect_conflict, inserted, new_scan_id, now_ms, scan, unique, uses};
use crate::{ConflictQuery, RECORD_CONFLICTS_MAX, Store, StoreError};
use scangate_core::offline::messages::ConflictKind;
use scangate_core::scan::{Conflict, OfflineFacts};
use scangate_core::{AdminAction, Decision, PassId, ScanRecord, Status};
use std::sync::Arc;

/// An offline grant of `pass` counted as the `uses_after`th use, flagged `conflicts`.
fn offline_grant(pass: PassId, uses_after: u32, conflicts: Vec<ConflictKind>) -> ScanRecord {
    let mut r = scan(pass, Decision::Granted, uses_after, now_ms());
    r.scanner_time_ms = r.at_ms - 60_000;
    r.device = format!("offline-{uses_after}");
    r.offline = Some(OfflineFacts {
        snapshot_version: 1,
        device_decision: Decision::Granted,
        conflicts,
    });
    r
}

/// An offline grant is a fact: counted on a revoked pass and beyond
/// `max_uses`, conditional on the stored count only; its conflicts come
/// back from `query_conflicts`; a re-upload is `DuplicateScanId`.
pub async fn offline_facts_count_beyond_the_limit_with_their_conflicts(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(1)).await;
    let revoke = audit(
        pass.id,
        AdminAction::Revoke,
        Status::Active,
        Status::Revoked,
    );
    store.commit_admin(revoke.clone()).await.expect("revoke");
    let stored = store.load_pass(pass.id).await.expect("load").expect("kept");
    assert_eq!(
        stored.status_since_ms,
        Some(revoke.at_ms),
        "when it changed"
    );
    let online = scan(pass.id, Decision::Granted, 1, now_ms());
    expect_conflict(&store, online, pass.id, 0).await;

    let first = offline_grant(pass.id, 1, vec![ConflictKind::RevokedBeforeScan]);
    store
        .commit_scan(first.clone())
        .await
        .expect("a fact on a revoked pass");
    let over = vec![ConflictKind::OverLimit, ConflictKind::RevokedBeforeScan];
    let second = offline_grant(pass.id, 2, over);
    store
        .commit_scan(second.clone())
        .await
        .expect("beyond max_uses");
    assert_eq!(uses(&store, pass.id).await, 2, "both counted");
    expect_conflict(&store, offline_grant(pass.id, 2, vec![]), pass.id, 2).await;
    let again = store.commit_scan(first.clone()).await;
    assert!(
        matches!(&again, Err(StoreError::DuplicateScanId { existing }) if **existing == first),
        "a re-upload is refused with the record kept: {again:?}"
    );
    assert_eq!(uses(&store, pass.id).await, 2, "counted once");
    let found = store.find_scan(&second.scan_id).await.expect("find");
    assert_eq!(found, Some(second.clone()), "offline facts kept");

    let of_pass = |kind| ConflictQuery {
        pass: Some(pass.id),
        kind,
        limit: 10,
        ..ConflictQuery::default()
    };
    let all = store.query_conflicts(of_pass(None)).await.expect("query");
    let want: Vec<Conflict> = [&first, &second]
        .into_iter()
        .flat_map(Conflict::of_record)
        .collect();
    assert_eq!(
        sorted(all.items),
        sorted(want),
        "one row per kind, nothing else"
    );
    let over = store
        .query_conflicts(of_pass(Some(ConflictKind::OverLimit)))
        .await
        .expect("query");
    assert_eq!(over.items.len(), 1, "exactly one over_limit");
    assert_eq!(over.items[0].scan_id, second.scan_id);
    assert_eq!(over.items[0].device_time_ms, second.scanner_time_ms);
}

/// Conflicts without a pass (forged tokens, unknown passes) are kept all
/// or none, bounded per call, and listed by event, kind and time, a page at
/// a time.
pub async fn pass_less_conflicts_are_listed_by_filter_and_page(store: Arc<dyn Store>) {
    let (a, b) = unique();
    let event = format!("conflicts-{:x}", a ^ b);
    let at = now_ms();
    let conflict = |n: i64, kind| Conflict {
        at_ms: at + n,
        scan_id: new_scan_id(),
        event: event.clone(),
        pass_id: None,
        kind,
        device: "scanner-09".into(),
        gate: "north-1".into(),
        device_time_ms: at - 1_000,
    };
    let kept = vec![
        conflict(0, ConflictKind::Forged),
        conflict(1, ConflictKind::UnknownPass),
        conflict(2, ConflictKind::Forged),
    ];
    store.record_conflicts(kept.clone()).await.expect("record");
    let too_many = vec![conflict(9, ConflictKind::Forged); RECORD_CONFLICTS_MAX + 1];
    let refused = store.record_conflicts(too_many).await;
    assert!(
        matches!(refused, Err(StoreError::TooLarge { .. })),
        "{refused:?}"
    );

    let mut query = ConflictQuery {
        event: Some(event.clone()),
        from_ms: Some(at),
        limit: 1,
        ..ConflictQuery::default()
    };
    let mut pages = Vec::new();
    for _ in 0..50 {
        let page = store.query_conflicts(query.clone()).await.expect("page");
        pages.extend(page.items);
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        pages, kept,
        "every conflict once, in time order, none of the refused call"
    );
    let forged = ConflictQuery {
        event: Some(event.clone()),
        kind: Some(ConflictKind::Forged),
        from_ms: Some(at),
        until_ms: Some(at + 2),
        limit: 10,
        ..ConflictQuery::default()
    };
    let page = store.query_conflicts(forged).await.expect("filtered");
    assert_eq!(page.items, vec![kept[0].clone()], "kind and time range");
}

/// A pass-less conflict recorded again (a re-upload whose acknowledgement
/// was lost, the gateway's time unchanged) lands on the row its scan id and
/// kind already have: one row, listed once. Another kind of the same scan
/// is a row of its own.
pub async fn pass_less_conflicts_written_twice_keep_one_row(store: Arc<dyn Store>) {
    let (a, b) = unique();
    let event = format!("again-{:x}", a ^ b);
    let forged = Conflict {
        at_ms: now_ms(),
        scan_id: new_scan_id(),
        event: event.clone(),
        pass_id: None,
        kind: ConflictKind::Forged,
        device: "scanner-10".into(),
        gate: "north-2".into(),
        device_time_ms: now_ms() - 5_000,
    };
    let unknown = Conflict {
        kind: ConflictKind::UnknownPass,
        ..forged.clone()
    };
    store
        .record_conflicts(vec![forged.clone()])
        .await
        .expect("record");
    store
        .record_conflicts(vec![forged.clone(), unknown.clone()])
        .await
        .expect("record again");
    let query = ConflictQuery {
        event: Some(event),
        limit: 10,
        ..ConflictQuery::default()
    };
    let rows = store.query_conflicts(query).await.expect("query");
    assert_eq!(
        sorted(rows.items),
        sorted(vec![forged, unknown]),
        "one row per scan id and kind"
    );
}

fn sorted(mut v: Vec<Conflict>) -> Vec<Conflict> {
    v.sort_by(|x, y| {
        (x.scan_id.as_str(), x.kind.as_str()).cmp(&(y.scan_id.as_str(), y.kind.as_str()))
    });
    v
}
