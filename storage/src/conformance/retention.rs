//! The retention step: records made before the cut-off go, with their
//! indexes; newer ones, passes and use counts stay. It removes every old
//! record of the store, so it runs on a store of its own (not in
//! `run_all`), and only on backends with retention (embedded).

use super::fixtures::{audit, inserted, now_ms, scan};
use crate::retention::{Retained, RetentionStep};
use crate::{AuditQuery, Store};
use scangate_core::{AdminAction, Decision, Status};
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
    let audit = store
        .query_audit(AuditQuery {
            pass: Some(pass.id),
            limit: crate::PAGE_MAX,
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.items, vec![new_audit]);
    let kept = store
        .load_pass(pass.id)
        .await
        .expect("load")
        .expect("the pass stays");
    assert_eq!(kept.uses, 3, "the use count is not a record to remove");
}
