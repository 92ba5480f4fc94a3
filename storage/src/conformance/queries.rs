//! Conformance properties of the operator plane's queries and of annul.

use super::fixtures::{audit, inserted, unique, uses};
use super::{new_id, new_pass, now_ms, scan};
use crate::query::{Annul, AnnulConflict, AuditQuery, Cursor, PassQuery, ScanQuery, ScanScope};
use crate::{Store, StoreError};
use scangate_core::{AdminAction, Decision, Kind, PassId, Reason, Status};
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
async fn all_pages<T, F, Fut>(mut page: F) -> Vec<T>
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
    store.insert_passes(passes.clone()).await.expect("insert");
    let other = inserted(&store, Some(1)).await; // another event
    let suspended = passes[0].id;
    store
        .commit_admin(audit(
            suspended,
            AdminAction::Suspend,
            Status::Active,
            Status::Suspended,
        ))
        .await
        .expect("suspend");

    let query = |kind, status, limit| PassQuery {
        event: Some(event.clone()),
        kind,
        status,
        after: None,
        limit,
    };
    let listed = all_pages(|after| {
        let q = PassQuery {
            after,
            ..query(None, None, 2)
        };
        let store = store.clone();
        async move { store.query_passes(q).await }
    })
    .await;
    let ids: Vec<PassId> = listed.iter().map(|p| p.id).collect();
    let want: BTreeSet<PassId> = passes.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), 5, "each pass once");
    assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), want);
    assert!(!ids.contains(&other.id), "only the event's passes");
    let first = store
        .query_passes(query(None, None, 2))
        .await
        .expect("page");
    assert_eq!(first.items.len(), 2);
    assert!(first.next.is_some(), "a full page says where to go on");

    let cards = store
        .query_passes(query(Some(Kind::CardShare), None, 100))
        .await
        .expect("kind");
    assert_eq!(cards.items.len(), 2);
    assert!(cards.items.iter().all(|p| p.kind == Kind::CardShare));
    let held = store
        .query_passes(query(None, Some(Status::Suspended), 100))
        .await
        .expect("status");
    assert_eq!(
        held.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![suspended]
    );
    assert_eq!(held.items[0].status, Status::Suspended);

    // Without an event: every pass, the suspended one among them.
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

    let foreign = Some(Cursor(b"\x01z".to_vec()));
    let err = store
        .query_passes(PassQuery {
            after: foreign,
            ..query(None, None, 2)
        })
        .await;
    assert!(matches!(err, Err(StoreError::BadCursor)), "got {err:?}");
}

/// Scans list per pass and per event, filtered by gate, decision, reason
/// and time, oldest first, in pages.
pub async fn scans_query_filters_and_pages(store: Arc<dyn Store>) {
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
    let rec = |pass: &scangate_core::Pass, d, uses, at, gate: &str| {
        let mut r = scan(pass.id, d, uses, at);
        r.event = pass.event.clone();
        r.gate = gate.to_owned();
        r
    };
    let records = [
        rec(&p, Decision::Granted, 1, t + 10, "a"),
        rec(&p, Decision::Denied(Reason::WrongGate), 1, t + 20, "b"),
        rec(&q, Decision::Granted, 1, t + 30, "a"),
        rec(&elsewhere, Decision::Granted, 1, t + 25, "a"),
    ];
    for r in &records {
        store.commit_scan(r.clone()).await.expect("commit");
    }
    let ev = |limit| ScanQuery::all(ScanScope::Event(event.clone()), limit);
    let of_pass = store
        .query_scans(ScanQuery::all(ScanScope::Pass(p.id), 100))
        .await
        .expect("pass");
    assert_eq!(of_pass.items, records[..2].to_vec());
    let of_event = store.query_scans(ev(100)).await.expect("event");
    assert_eq!(
        of_event.items,
        vec![records[0].clone(), records[1].clone(), records[2].clone()]
    );
    assert_eq!(of_event.next, None);
    let gate_a = store
        .query_scans(ScanQuery {
            gate: Some("a".into()),
            ..ev(100)
        })
        .await
        .expect("gate");
    assert_eq!(gate_a.items, vec![records[0].clone(), records[2].clone()]);
    let denied = store
        .query_scans(ScanQuery {
            granted: Some(false),
            ..ev(100)
        })
        .await
        .expect("denied");
    assert_eq!(denied.items, vec![records[1].clone()]);
    let why = ScanQuery {
        reason: Some(Reason::WrongGate),
        ..ev(100)
    };
    assert_eq!(store.query_scans(why).await.expect("reason").items.len(), 1);
    let window = ScanQuery {
        from_ms: Some(t + 15),
        until_ms: Some(t + 30),
        ..ev(100)
    };
    assert_eq!(
        store.query_scans(window).await.expect("time").items,
        vec![records[1].clone()]
    );
    let paged = all_pages(|after| {
        let q = ScanQuery { after, ..ev(1) };
        let store = store.clone();
        async move { store.query_scans(q).await }
    })
    .await;
    assert_eq!(paged, of_event.items, "pages of one hold the same scans");
    let foreign = ScanQuery {
        after: Some(Cursor(p.id.0.to_vec())),
        ..ev(1)
    };
    assert!(matches!(
        store.query_scans(foreign).await,
        Err(StoreError::BadCursor)
    ));
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
    // Times a century ahead, unique to this run: the global log holds only
    // this property's records there.
    let (a, _) = unique();
    let base =
        now_ms() + 100 * 365 * 86_400_000 + i64::try_from(a % 1_000_000).unwrap_or(0) * 1_000;
    let (one, two) = (
        inserted(&store, Some(1)).await,
        inserted(&store, Some(1)).await,
    );
    let mut kept = Vec::new();
    for (n, (pass, action, before, after)) in [
        (
            one.id,
            AdminAction::Suspend,
            Status::Active,
            Status::Suspended,
        ),
        (two.id, AdminAction::Revoke, Status::Active, Status::Revoked),
        (
            one.id,
            AdminAction::Reactivate,
            Status::Suspended,
            Status::Active,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = audit(pass, action, before, after);
        r.at_ms = base + i64::try_from(n).unwrap_or(0) * 10;
        store.commit_admin(r.clone()).await.expect("admin");
        kept.push(r);
    }
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
        .query_audit(range(Some(one.id), 100))
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
