//! Fresh ids, records and small helpers for the conformance properties.

use crate::{AuditQuery, Store, StoreError};
use scangate_core::{AdminAction, AuditRecord, Decision, Pass, PassId, ScanId, ScanRecord, Status};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The wall clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(super) fn unique() -> (u64, u64) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (
        nanos,
        (u64::from(std::process::id()) << 32) | COUNTER.fetch_add(1, Ordering::Relaxed),
    )
}

/// A pass id no other call in this process (or a concurrent run) returns.
pub fn new_id() -> PassId {
    let (a, b) = unique();
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&a.to_be_bytes());
    id[8..].copy_from_slice(&b.to_be_bytes());
    PassId(id)
}

/// A scan id no other call returns.
pub fn new_scan_id() -> ScanId {
    let (a, b) = unique();
    ScanId::new(format!("conf-{a:x}-{b:x}")).expect("a valid scan id")
}

/// An active ticket with a fresh id and no uses yet: the shared fixture
/// (`scangate_core::testing`) in the conformance event, with nothing to show,
/// issued now.
pub fn new_pass(max_uses: Option<u32>) -> Pass {
    Pass {
        event: "conformance".into(),
        display: None,
        created_ms: now_ms(),
        ..scangate_core::testing::pass(new_id(), max_uses)
    }
}

/// A scan record with a fresh scan id.
pub fn scan(pass: PassId, decision: Decision, uses_after: u32, at_ms: i64) -> ScanRecord {
    ScanRecord {
        scan_id: new_scan_id(),
        pass_id: pass,
        at_ms,
        scanner_time_ms: at_ms - 3,
        gate: "north-1".into(),
        device: "scanner-01".into(),
        decision,
        uses_after,
        event: "conformance".into(),
        annulled: None,
        offline: None,
        guard_override: None,
        flags: Vec::new(),
        movement: None,
    }
}

pub(super) fn audit(
    pass: PassId,
    action: AdminAction,
    before: Status,
    after: Status,
) -> AuditRecord {
    AuditRecord {
        pass_id: pass,
        at_ms: now_ms(),
        who: "conformance-admin".into(),
        action,
        reason: format!("conformance: {}", action.as_str()),
        status_before: before,
        status_after: after,
        scan_id: None,
        token_generation: None,
    }
}

pub(super) async fn inserted(store: &Arc<dyn Store>, max_uses: Option<u32>) -> Pass {
    let pass = new_pass(max_uses);
    store
        .insert_passes(vec![pass.clone()])
        .await
        .expect("insert");
    pass
}

pub(super) async fn uses(store: &Arc<dyn Store>, id: PassId) -> u32 {
    store
        .load_pass(id)
        .await
        .expect("load")
        .expect("stored")
        .uses
}

pub(super) async fn expect_conflict(
    store: &Arc<dyn Store>,
    record: ScanRecord,
    pass: PassId,
    stored: u32,
) {
    match store.commit_scan(record.clone()).await {
        Err(StoreError::Conflict {
            pass: p,
            stored_uses,
        }) => {
            assert_eq!(
                (p, stored_uses),
                (pass, stored),
                "conflict names the pass and its stored uses"
            );
        }
        other => panic!(
            "grant {} on {pass} must conflict, got {other:?}",
            record.uses_after
        ),
    }
    assert_eq!(
        store.find_scan(&record.scan_id).await.expect("find"),
        None,
        "a conflict writes nothing"
    );
}

/// Every audit record the store keeps of pass `id`, oldest first (one page).
pub(super) async fn audit_kept(store: &Arc<dyn Store>, id: PassId) -> Vec<AuditRecord> {
    store
        .query_audit(AuditQuery {
            pass: Some(id),
            limit: crate::PAGE_MAX,
            ..AuditQuery::default()
        })
        .await
        .expect("audit")
        .items
}
