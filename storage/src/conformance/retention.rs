//! The retention step: records made before the cut-off go, with their
//! indexes; newer ones, passes and use counts stay. It removes every old
//! record of the store, so it runs on a store of its own (not in
//! `run_all`), and only on backends with retention (embedded; ScyllaDB when
//! `SCYLLA_NODES` is set).

use super::fixtures::{audit, audit_kept, inserted, new_pass, new_scan_id, now_ms, scan};
use crate::retention::{Retained, RetentionStep};
use crate::{ConflictQuery, Store};
use scangate_core::offline::messages::ConflictKind;
use scangate_core::scan::Conflict;
use scangate_core::{AdminAction, Decision, PassId, Status};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Old scans and audit records (1970) are removed by steps of at most two
/// rows until the walk ends; recent ones stay, and so does the pass.
pub async fn retention_removes_old_records_and_keeps_new_ones(store: Arc<dyn Store>) {
    let pass = inserted(&store, None).await;
    let old = [
        scan(pass.id, Decision::Granted, 1, 1_000),
        scan(pass.id, Decision::Granted, 2, 2_000),
    ];
    let new = scan(pass.id, Decision::Granted, 3, now_ms());
    for s in old.iter().chain([&new]) {
        store.commit_scan(s.clone()).await.expect("scan");
    }
    let mut old_audit = audit(
        pass.id,
        AdminAction::Suspend,
        Status::Active,
        Status::Suspended,
    );
    old_audit.at_ms = 3_000;
    store.commit_admin(old_audit).await.expect("suspend");
    let new_audit = audit(
        pass.id,
        AdminAction::Reactivate,
        Status::Suspended,
        Status::Active,
    );
    store
        .commit_admin(new_audit.clone())
        .await
        .expect("reactivate");

    let mut total = Retained::default();
    let mut after = None;
    for _ in 0..100 {
        let step = RetentionStep {
            before_ms: 10_000,
            events: BTreeMap::new(),
            after: after.take(),
            max_rows: 2,
        };
        let r = store.purge_records(step).await.expect("step");
        assert!(
            r.scans + r.audit + r.conflicts <= 2,
            "a step stays in its bound: {r:?}"
        );
        (total.scans, total.audit) = (total.scans + r.scans, total.audit + r.audit);
        after = r.next;
        if after.is_none() && r.scans + r.audit == 0 {
            break;
        }
    }
    assert_eq!((total.scans, total.audit), (2, 1), "the old records went");
    assert_eq!(
        store.list_scans(pass.id, 10).await.expect("scans"),
        vec![new]
    );
    for s in &old {
        assert_eq!(store.find_scan(&s.scan_id).await.expect("find"), None);
    }
    let audit = audit_kept(&store, pass.id).await;
    assert_eq!(audit, vec![new_audit]);
    let kept = store
        .load_pass(pass.id)
        .await
        .expect("load")
        .expect("the pass stays");
    assert_eq!(kept.uses, 3, "the use count is not a record to remove");
}

/// Steps of at most `max_rows` until the walk ends with nothing removed;
/// what they removed in all.
async fn sweep(store: &Arc<dyn Store>, before_ms: i64, events: &BTreeMap<String, i64>) -> Retained {
    let mut total = Retained::default();
    let mut after = None;
    for _ in 0..1_000 {
        let step = RetentionStep {
            before_ms,
            events: events.clone(),
            after: after.take(),
            max_rows: 2,
        };
        let r = store.purge_records(step).await.expect("step");
        assert!(
            r.scans + r.audit + r.conflicts <= 2,
            "a step stays in its bound: {r:?}"
        );
        total.scans += r.scans;
        total.audit += r.audit;
        total.conflicts += r.conflicts;
        after = r.next;
        if after.is_none() && r.scans + r.audit + r.conflicts == 0 {
            return total;
        }
    }
    panic!("the sweep did not end in 1 000 steps: {total:?}");
}

/// One pass of `event` with a grant at 1 000 and at 5 000 (1970), a
/// suspension at 1 000 and a reactivation at 5 000, and a conflict of its
/// event at each time.
async fn history(store: &Arc<dyn Store>, event: &str) -> PassId {
    let pass = scangate_core::Pass {
        event: event.to_owned(),
        ..new_pass(None)
    };
    store
        .insert_passes(vec![pass.clone()])
        .await
        .expect("insert");
    for (n, at) in [(1, 1_000), (2, 5_000)] {
        let mut s = scan(pass.id, Decision::Granted, n, at);
        s.event = event.to_owned();
        store.commit_scan(s).await.expect("scan");
    }
    let changes = [
        (
            AdminAction::Suspend,
            Status::Active,
            Status::Suspended,
            1_000,
        ),
        (
            AdminAction::Reactivate,
            Status::Suspended,
            Status::Active,
            5_000,
        ),
    ];
    for (action, before, after, at) in changes {
        let mut a = audit(pass.id, action, before, after);
        a.at_ms = at;
        store.commit_admin(a).await.expect("admin");
    }
    let conflicts = [1_000, 5_000].map(|at| Conflict {
        at_ms: at,
        scan_id: new_scan_id(),
        event: event.to_owned(),
        pass_id: Some(pass.id),
        kind: ConflictKind::Forged,
        device: "scanner-11".into(),
        gate: "north-1".into(),
        device_time_ms: at,
    });
    store
        .record_conflicts(conflicts.to_vec())
        .await
        .expect("conflicts");
    pass.id
}

/// The times of what `event`'s pass `id` still has: scans, audit, conflicts.
async fn left(store: &Arc<dyn Store>, event: &str, id: PassId) -> [Vec<i64>; 3] {
    let scans = store.list_scans(id, 10).await.expect("scans");
    let audit = audit_kept(store, id).await;
    let conflicts = store
        .query_conflicts(ConflictQuery {
            event: Some(event.to_owned()),
            kind: None,
            pass: None,
            from_ms: None,
            until_ms: None,
            after: None,
            limit: crate::PAGE_MAX,
        })
        .await
        .expect("conflicts");
    [
        scans.iter().map(|s| s.at_ms).collect(),
        audit.iter().map(|a| a.at_ms).collect(),
        conflicts.items.iter().map(|c| c.at_ms).collect(),
    ]
}

/// Each event's own cut-off: an event with a short period loses both
/// generations of records, one with a long period keeps both, an event
/// without a period follows the default (loses only the older); audit
/// records go by their pass's event. Steps of two rows walk past the rows
/// kept for the long period rather than stalling on them.
pub async fn retention_honours_each_events_period(store: Arc<dyn Store>) {
    let tag = new_scan_id().as_str().replace(['-', ':', '.'], "");
    let short = format!("short{}", &tag[tag.len().saturating_sub(12)..]);
    let long = format!("long{}", &tag[tag.len().saturating_sub(12)..]);
    let other = format!("other{}", &tag[tag.len().saturating_sub(12)..]);
    let ids = [
        history(&store, &short).await,
        history(&store, &long).await,
        history(&store, &other).await,
    ];
    let events = BTreeMap::from([(short.clone(), 10_000), (long.clone(), 500)]);
    let removed = sweep(&store, 3_000, &events).await;
    assert_eq!(
        (removed.scans, removed.audit, removed.conflicts),
        (3, 3, 3),
        "short: both of each; other: the older; long: none"
    );
    let none: Vec<i64> = Vec::new();
    assert_eq!(
        left(&store, &short, ids[0]).await,
        [none.clone(), none.clone(), none]
    );
    let both = vec![1_000, 5_000];
    assert_eq!(
        left(&store, &long, ids[1]).await,
        [both.clone(), both.clone(), both]
    );
    let newer = vec![5_000];
    assert_eq!(
        left(&store, &other, ids[2]).await,
        [newer.clone(), newer.clone(), newer]
    );
    for id in ids {
        let pass = store
            .load_pass(id)
            .await
            .expect("load")
            .expect("the pass stays");
        assert_eq!(pass.uses, 2, "the use count is not a record to remove");
    }
    assert_eq!(
        sweep(&store, 3_000, &events).await,
        Retained::default(),
        "a second sweep finds nothing more"
    );
}
