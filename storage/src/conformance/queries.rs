//! Conformance properties of the operator plane's queries and of annul.

use super::fixtures::{audit, inserted, unique, uses};
use super::{new_id, new_pass, now_ms, scan};
use crate::AnnulConflict;
use crate::query::{Annul, AuditQuery, Cursor, PassCondition, PassQuery, ScanQuery, ScanScope};
use crate::{Store, StoreError};
use scangate_core::{AdminAction, AuditRecord, Decision, Kind, PassId, Reason, ScanRecord, Status};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Most pages a property follows before it calls the store's paging broken.
const PAGES_MAX: usize = 10_000;

/// An event name no other property uses.
fn fresh_event() -> String {
    let (a, b) = unique();
    format!("ev-{a:x}-{b:x}")
}

/// Follows `next` cursors until the end, collecting every item.
pub(super) async fn all_pages<T, F, Fut>(mut page: F) -> Vec<T>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: Future<Output = Result<crate::Page<T>, StoreError>>,
{
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..PAGES_MAX {
        let p = page(after).await.expect("page");
        out.extend(p.items);
        match p.next {
            Some(c) => after = Some(c),
            None => return out,
        }
    }
    panic!("paging did not end within {PAGES_MAX} pages");
}

/// Passes list by event, kind and status, in pages that together hold each
/// matching pass once.
pub async fn passes_list_by_event_kind_status(store: Arc<dyn Store>) {
    let fx = EventPasses::insert(&store).await;
    event_pages_hold_each_pass_once(&store, &fx).await;
    event_passes_filter_by_kind_and_status(&store, &fx).await;
    passes_without_an_event_filter_by_status(&store, fx.suspended).await;
    event_passes_filter_by_condition(&store, &fx).await;
    let foreign = Some(Cursor(b"\x01z".to_vec()));
    let err = store
        .query_passes(PassQuery {
            after: foreign,
            ..fx.query(None, None, 2)
        })
        .await;
    assert!(matches!(err, Err(StoreError::BadCursor)), "got {err:?}");
}

/// Five passes of a fresh event (three tickets, two card shares, the first
/// suspended) and one pass of another event.
struct EventPasses {
    event: String,
    passes: Vec<scangate_core::Pass>,
    other: PassId,
    suspended: PassId,
}

impl EventPasses {
    async fn insert(store: &Arc<dyn Store>) -> EventPasses {
        let event = fresh_event();
        let mut passes = Vec::new();
        for kind in [
            Kind::Ticket,
            Kind::Ticket,
            Kind::Ticket,
            Kind::CardShare,
            Kind::CardShare,
        ] {
            let mut p = new_pass(Some(1));
            p.event = event.clone();
            p.kind = kind;
            passes.push(p);
        }
        passes[2].valid_until_ms = Some(now_ms() + 3_600_000);
        store.insert_passes(passes.clone()).await.expect("insert");
        let other = inserted(store, Some(1)).await.id; // another event
        let suspended = passes[0].id;
        let change = audit(
            suspended,
            AdminAction::Suspend,
            Status::Active,
            Status::Suspended,
        );
        store.commit_admin(change).await.expect("suspend");
        EventPasses {
            event,
            passes,
            other,
            suspended,
        }
    }

    /// A first-page query of the event's passes.
    fn query(&self, kind: Option<Kind>, status: Option<Status>, limit: usize) -> PassQuery {
        PassQuery {
            event: Some(self.event.clone()),
            kind,
            status,
            condition: None,
            after: None,
            limit,
        }
    }
}

/// `used_up` keeps the passes whose count reached `max_uses`, whatever
/// their status; `expired` the passes whose window ended at the time given.
async fn event_passes_filter_by_condition(store: &Arc<dyn Store>, fx: &EventPasses) {
    let listed = |condition| {
        let q = PassQuery {
            condition: Some(condition),
            ..fx.query(None, None, 100)
        };
        let store = store.clone();
        async move {
            let page = store.query_passes(q).await.expect("condition");
            page.items.iter().map(|p| p.id).collect::<Vec<_>>()
        }
    };
    assert!(listed(PassCondition::UsedUp).await.is_empty(), "none used");
    let used = fx.passes[1].id;
    store
        .commit_scan(scan(used, Decision::Granted, 1, now_ms()))
        .await
        .expect("grant the only use");
    assert_eq!(listed(PassCondition::UsedUp).await, vec![used]);
    // Only the third fixture pass has an end: an hour from now.
    let later = now_ms() + 2 * 3_600_000;
    let expired = listed(PassCondition::Expired { now_ms: later }).await;
    assert_eq!(expired, vec![fx.passes[2].id], "ended by then");
    let now = PassCondition::Expired { now_ms: now_ms() };
    assert!(listed(now).await.is_empty(), "none ended yet");
}

/// Pages of two hold each of the event's passes once, and only those.
async fn event_pages_hold_each_pass_once(store: &Arc<dyn Store>, fx: &EventPasses) {
    let listed = all_pages(|after| {
        let q = PassQuery {
            after,
            ..fx.query(None, None, 2)
        };
        let store = store.clone();
        async move { store.query_passes(q).await }
    })
    .await;
    let ids: Vec<PassId> = listed.iter().map(|p| p.id).collect();
    let want: BTreeSet<PassId> = fx.passes.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), 5, "each pass once");
    assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), want);
    assert!(!ids.contains(&fx.other), "only the event's passes");
    let first = store
        .query_passes(fx.query(None, None, 2))
        .await
        .expect("page");
    assert_eq!(first.items.len(), 2);
    assert!(first.next.is_some(), "a full page says where to go on");
}

/// The kind and status filters keep only the matching passes.
async fn event_passes_filter_by_kind_and_status(store: &Arc<dyn Store>, fx: &EventPasses) {
    let cards = store
        .query_passes(fx.query(Some(Kind::CardShare), None, 100))
        .await
        .expect("kind");
    assert_eq!(cards.items.len(), 2);
    assert!(cards.items.iter().all(|p| p.kind == Kind::CardShare));
    let held = store
        .query_passes(fx.query(None, Some(Status::Suspended), 100))
        .await
        .expect("status");
    assert_eq!(
        held.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![fx.suspended]
    );
    assert_eq!(held.items[0].status, Status::Suspended);
}

/// Without an event: every pass of that status, `suspended` among them.
async fn passes_without_an_event_filter_by_status(store: &Arc<dyn Store>, suspended: PassId) {
    let everywhere = all_pages(|after| {
        let q = PassQuery {
            status: Some(Status::Suspended),
            after,
            limit: 1_000,
            ..PassQuery::default()
        };
        let store = store.clone();
        async move { store.query_passes(q).await }
    })
    .await;
    assert!(everywhere.iter().any(|p| p.id == suspended));
    assert!(everywhere.iter().all(|p| p.status == Status::Suspended));
}

/// Scans list per pass and per event, filtered by gate, decision, reason
/// and time, oldest first, in pages.
pub async fn scans_query_filters_and_pages(store: Arc<dyn Store>) {
    let fx = EventScans::commit(&store).await;
    let of_pass = store
        .query_scans(ScanQuery::all(ScanScope::Pass(fx.pass), 100))
        .await
        .expect("pass");
    assert_eq!(of_pass.items, fx.records[..2].to_vec());
    let of_event = store.query_scans(fx.query(100)).await.expect("event");
    assert_eq!(of_event.items, fx.records[..3].to_vec());
    assert_eq!(of_event.next, None);
    event_scans_filter(&store, &fx).await;
    let paged = all_pages(|after| {
        let q = ScanQuery {
            after,
            ..fx.query(1)
        };
        let store = store.clone();
        async move { store.query_scans(q).await }
    })
    .await;
    assert_eq!(paged, of_event.items, "pages of one hold the same scans");
    let foreign = ScanQuery {
        after: Some(Cursor(fx.pass.0.to_vec())),
        ..fx.query(1)
    };
    assert!(matches!(
        store.query_scans(foreign).await,
        Err(StoreError::BadCursor)
    ));
}

/// Four scans: of pass `pass` (granted at gate a, denied at gate b), of a
/// second pass of the event (granted at gate a), and, between them in
/// time, of a pass of another event (the last record).
struct EventScans {
    event: String,
    pass: PassId,
    records: [ScanRecord; 4],
    t: i64,
}

impl EventScans {
    async fn commit(store: &Arc<dyn Store>) -> EventScans {
        let event = fresh_event();
        let mk = |event: &str| {
            let mut p = new_pass(None);
            p.event = event.to_owned();
            p
        };
        let (p, q, elsewhere) = (mk(&event), mk(&event), mk(&fresh_event()));
        store
            .insert_passes(vec![p.clone(), q.clone(), elsewhere.clone()])
            .await
            .expect("insert");
        let t = now_ms();
        let rec = |pass: &scangate_core::Pass, d, at, gate: &str| {
            let mut r = scan(pass.id, d, 1, at);
            r.event = pass.event.clone();
            r.gate = gate.to_owned();
            r
        };
        let records = [
            rec(&p, Decision::Granted, t + 10, "a"),
            rec(&p, Decision::Denied(Reason::WrongGate), t + 20, "b"),
            rec(&q, Decision::Granted, t + 30, "a"),
            rec(&elsewhere, Decision::Granted, t + 25, "a"),
        ];
        for r in &records {
            store.commit_scan(r.clone()).await.expect("commit");
        }
        EventScans {
            event,
            pass: p.id,
            records,
            t,
        }
    }

    /// Every scan of the event, `limit` a page.
    fn query(&self, limit: usize) -> ScanQuery {
        ScanQuery::all(ScanScope::Event(self.event.clone()), limit)
    }
}

/// The gate, decision, reason and time filters of an event's scans.
async fn event_scans_filter(store: &Arc<dyn Store>, fx: &EventScans) {
    let r = &fx.records;
    let gate_a = ScanQuery {
        gate: Some("a".into()),
        ..fx.query(100)
    };
    let gate_a = store.query_scans(gate_a).await.expect("gate");
    assert_eq!(gate_a.items, vec![r[0].clone(), r[2].clone()]);
    let denied = ScanQuery {
        granted: Some(false),
        ..fx.query(100)
    };
    let denied = store.query_scans(denied).await.expect("denied");
    assert_eq!(denied.items, vec![r[1].clone()]);
    let why = ScanQuery {
        reason: Some(Reason::WrongGate),
        ..fx.query(100)
    };
    assert_eq!(store.query_scans(why).await.expect("reason").items.len(), 1);
    let window = ScanQuery {
        from_ms: Some(fx.t + 15),
        until_ms: Some(fx.t + 30),
        ..fx.query(100)
    };
    assert_eq!(
        store.query_scans(window).await.expect("time").items,
        vec![r[1].clone()]
    );
}

/// An annul marks the grant, gives its use back and keeps an audit record,
/// once; it is conditional on the use count and refuses what is not a
/// recorded grant of the pass.
pub async fn annul_gives_the_use_back_once(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(1)).await;
    let grant = scan(pass.id, Decision::Granted, 1, now_ms());
    store.commit_scan(grant.clone()).await.expect("grant");
    let annul = |scan_id, expected_uses| {
        let mut a = audit(pass.id, AdminAction::Annul, Status::Active, Status::Active);
        a.scan_id = Some(grant.scan_id.clone());
        Annul {
            scan_id,
            expected_uses,
            audit: a,
        }
    };
    let err = store.commit_annul(annul(grant.scan_id.clone(), 0)).await;
    assert!(
        matches!(err, Err(StoreError::Conflict { stored_uses: 1, .. })),
        "got {err:?}"
    );
    let done = store
        .commit_annul(annul(grant.scan_id.clone(), 1))
        .await
        .expect("annul");
    assert!(done.annulled.is_some());
    assert_eq!(uses(&store, pass.id).await, 0);
    assert_eq!(
        store.find_scan(&grant.scan_id).await.expect("find"),
        Some(done.clone())
    );
    let refused = |r: Result<_, StoreError>, want: AnnulConflict| match r {
        Err(StoreError::NotAnnullable { why, .. }) => assert_eq!(why, want),
        other => panic!("expected {want:?}, got {other:?}"),
    };
    refused(
        store.commit_annul(annul(grant.scan_id.clone(), 0)).await,
        AnnulConflict::AlreadyAnnulled,
    );
    refused(
        store.commit_annul(annul(super::new_scan_id(), 0)).await,
        AnnulConflict::NoSuchScan,
    );
    let denial = scan(pass.id, Decision::Denied(Reason::Expired), 0, now_ms());
    store.commit_scan(denial.clone()).await.expect("denial");
    refused(
        store.commit_annul(annul(denial.scan_id.clone(), 0)).await,
        AnnulConflict::NotGranted,
    );
    let other = inserted(&store, Some(1)).await;
    let theirs = scan(other.id, Decision::Granted, 1, now_ms());
    store.commit_scan(theirs.clone()).await.expect("grant");
    refused(
        store.commit_annul(annul(theirs.scan_id.clone(), 1)).await,
        AnnulConflict::OtherPass,
    );
    // The use is back: the pass grants again.
    store
        .commit_scan(scan(pass.id, Decision::Granted, 1, now_ms()))
        .await
        .expect("grant after annul");
    let trail = store.list_audit(pass.id, 10).await.expect("audit");
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].action, AdminAction::Annul);
    assert_eq!(trail[0].scan_id.as_ref(), Some(&grant.scan_id));
}

/// Audit records list per pass and globally, by time range, in pages.
pub async fn audit_queries_by_pass_and_time(store: Arc<dyn Store>) {
    let (one, base, kept) = audit_trail(&store).await;
    let range = |pass, limit| AuditQuery {
        pass,
        from_ms: Some(base),
        until_ms: Some(base + 1_000),
        after: None,
        limit,
    };
    let global = store.query_audit(range(None, 100)).await.expect("global");
    assert_eq!(global.items, kept);
    let mine = store
        .query_audit(range(Some(one), 100))
        .await
        .expect("pass");
    assert_eq!(mine.items, vec![kept[0].clone(), kept[2].clone()]);
    let later = AuditQuery {
        from_ms: Some(base + 5),
        ..range(None, 100)
    };
    assert_eq!(
        store.query_audit(later).await.expect("from").items,
        kept[1..].to_vec()
    );
    let paged = all_pages(|after| {
        let q = AuditQuery {
            after,
            ..range(None, 1)
        };
        let store = store.clone();
        async move { store.query_audit(q).await }
    })
    .await;
    assert_eq!(paged, kept);
    let nobody = store
        .query_audit(range(Some(new_id()), 10))
        .await
        .expect("unknown");
    assert!(nobody.items.is_empty() && nobody.next.is_none());
}

/// Three admin changes of two passes, 10 ms apart from `base`, a time a
/// century ahead and unique to this run (so the global log holds only
/// these there). Returns the first pass (changed twice), `base` and the
/// records in order.
async fn audit_trail(store: &Arc<dyn Store>) -> (PassId, i64, Vec<AuditRecord>) {
    let (a, _) = unique();
    let base =
        now_ms() + 100 * 365 * 86_400_000 + i64::try_from(a % 1_000_000).unwrap_or(0) * 1_000;
    let (one, two) = (
        inserted(store, Some(1)).await.id,
        inserted(store, Some(1)).await.id,
    );
    let changes = [
        (one, AdminAction::Suspend, Status::Active, Status::Suspended),
        (two, AdminAction::Revoke, Status::Active, Status::Revoked),
        (
            one,
            AdminAction::Reactivate,
            Status::Suspended,
            Status::Active,
        ),
    ];
    let mut kept = Vec::new();
    for (n, (pass, action, before, after)) in changes.into_iter().enumerate() {
        let mut r = audit(pass, action, before, after);
        r.at_ms = base + i64::try_from(n).unwrap_or(0) * 10;
        store.commit_admin(r.clone()).await.expect("admin");
        kept.push(r);
    }
    (one, base, kept)
}
