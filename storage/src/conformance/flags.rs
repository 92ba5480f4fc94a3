//! Conformance of the fraud flags a scan record carries: kept with the
//! record, read back by id and by pass, and listed per event by filter.

use super::fixtures::unique;
use super::scan;
use crate::Store;
use crate::query::{FlagFilter, ScanQuery, ScanScope};
use scangate_core::flags::Flag;
use scangate_core::{Decision, Reason, ScanRecord};
use std::sync::Arc;

/// A record's flags are stored with it and come back from `find_scan`,
/// `list_scans` and `query_scans`; a flag filter keeps the flagged scans
/// (any flag, or one), in pages that together hold each once.
pub async fn flagged_scans_are_kept_and_listed_by_flag(store: Arc<dyn Store>) {
    let (a, b) = unique();
    let event = format!("flags-{a:x}-{b:x}");
    let records = commit_flagged(&store, &event).await;
    let found = store.find_scan(&records[2].scan_id).await.expect("find");
    assert_eq!(
        found.as_ref(),
        Some(&records[2]),
        "the flags are kept with the record"
    );
    let listed = store
        .list_scans(records[0].pass_id, 10)
        .await
        .expect("list");
    assert_eq!(listed, records.to_vec());

    let query = |flagged, limit| ScanQuery {
        flagged: Some(flagged),
        ..ScanQuery::all(ScanScope::Event(event.clone()), limit)
    };
    let any = store
        .query_scans(query(FlagFilter::Any, 100))
        .await
        .expect("any");
    assert_eq!(any.items, records[1..].to_vec());
    let shared = query(FlagFilter::Only(Flag::SharedCode), 100);
    let shared = store.query_scans(shared).await.expect("shared_code");
    assert_eq!(shared.items, vec![records[2].clone()]);
    let travel = query(FlagFilter::Only(Flag::ImpossibleTravel), 100);
    assert!(
        store
            .query_scans(travel)
            .await
            .expect("none")
            .items
            .is_empty()
    );
    let paged = super::queries::all_pages(|after| {
        let q = ScanQuery {
            after,
            ..query(FlagFilter::Any, 1)
        };
        let store = store.clone();
        async move { store.query_scans(q).await }
    })
    .await;
    assert_eq!(
        paged,
        records[1..].to_vec(),
        "pages of one hold each flagged scan once"
    );
}

/// One pass of `event` and three scans of it committed: a plain grant, a
/// rapid rescan, and a denial flagged twice.
async fn commit_flagged(store: &Arc<dyn Store>, event: &str) -> [ScanRecord; 3] {
    let mut pass = super::new_pass(None);
    pass.event = event.to_owned();
    store
        .insert_passes(vec![pass.clone()])
        .await
        .expect("insert");
    let t = super::now_ms();
    let rec = |uses, decision, at, flags: Vec<Flag>| {
        let mut r = scan(pass.id, decision, uses, at);
        r.event = event.to_owned();
        r.flags = flags;
        r
    };
    let records = [
        rec(1, Decision::Granted, t, vec![]),
        rec(2, Decision::Granted, t + 1, vec![Flag::RapidRescan]),
        rec(
            2,
            Decision::Denied(Reason::SharedCode),
            t + 2,
            vec![Flag::RapidRescan, Flag::SharedCode],
        ),
    ];
    for r in &records {
        store.commit_scan(r.clone()).await.expect("commit");
    }
    records
}
