//! An erase is final, and the store is its arbiter: once a pass is erased,
//! every backend refuses each change that would make it usable or reachable
//! again ([`StoreError::Erased`]), whatever the caller checked first and
//! however the change raced with the erase.

use super::fixtures::{audit, audit_kept, inserted, now_ms};
use crate::retention::RetentionStep;
use crate::{HolderLink, Store, StoreError};
use scangate_core::{AdminAction, AuditRecord, PassId, Status};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Passes raced in [`an_erase_racing_with_changes_leaves_no_way_back`]:
/// enough rounds for the erase to land before, between and after the
/// other writes on a busy store.
const RACE_ROUNDS: usize = 12;

fn link(pass: PassId, seed: u8) -> HolderLink {
    HolderLink {
        pass_id: pass,
        secret_sha256: [seed; 32],
        created_ms: now_ms(),
    }
}

fn change(pass: PassId, action: AdminAction, before: Status, after: Status) -> AuditRecord {
    let mut a = audit(pass, action, before, after);
    if action == AdminAction::Reissue {
        a.token_generation = Some(1);
    }
    a
}

fn expect_erased<T: std::fmt::Debug>(got: Result<T, StoreError>, pass: PassId, what: &str) {
    assert!(
        matches!(got, Err(StoreError::Erased(id)) if id == pass),
        "{what} of an erased pass: {got:?}"
    );
}

/// After an erase: a reactivation, a re-issue and a holder link are each
/// refused with `Erased` and write nothing (no audit record, no link, the
/// status and token generation as the erase left them); the erase removed
/// the pass's earlier link; another erase still succeeds.
pub async fn an_erased_pass_takes_no_change_but_another_erase(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(3)).await;
    store
        .put_holder_link(link(pass.id, 1))
        .await
        .expect("link before the erase");
    let erase = audit(pass.id, AdminAction::Erase, Status::Active, Status::Revoked);
    store.commit_admin(erase.clone()).await.expect("erase");
    assert_eq!(
        store.holder_link(pass.id).await.expect("read link"),
        None,
        "the erase removed the holder link in the same write"
    );
    let reactivate = change(
        pass.id,
        AdminAction::Reactivate,
        Status::Revoked,
        Status::Active,
    );
    expect_erased(store.commit_admin(reactivate).await, pass.id, "reactivate");
    let reissue = change(
        pass.id,
        AdminAction::Reissue,
        Status::Revoked,
        Status::Revoked,
    );
    expect_erased(store.commit_admin(reissue).await, pass.id, "re-issue");
    expect_erased(
        store.put_holder_link(link(pass.id, 2)).await,
        pass.id,
        "a holder link",
    );
    let loaded = store.load_pass(pass.id).await.expect("load").expect("kept");
    assert_eq!(
        (loaded.status, loaded.token_generation),
        (Status::Revoked, 0),
        "nothing refused was applied"
    );
    assert_eq!(store.holder_link(pass.id).await.expect("read link"), None);
    let mut again = audit(
        pass.id,
        AdminAction::Erase,
        Status::Revoked,
        Status::Revoked,
    );
    again.at_ms = erase.at_ms + 1;
    store
        .commit_admin(again.clone())
        .await
        .expect("an erase of an erased pass succeeds");
    let kept = audit_kept(&store, pass.id).await;
    assert_eq!(kept, vec![erase, again], "only the erasures audited");
}

/// An erase racing with a reactivation and a holder link of the same
/// (suspended) pass, [`RACE_ROUNDS`] times: whichever lands first, the pass
/// ends revoked, erased (a later reactivation is refused) and without a
/// holder link; each raced change either applied before the erase or was
/// refused with `Erased`.
pub async fn an_erase_racing_with_changes_leaves_no_way_back(store: Arc<dyn Store>) {
    for round in 0..RACE_ROUNDS {
        let pass = inserted(&store, Some(3)).await;
        let suspend = audit(
            pass.id,
            AdminAction::Suspend,
            Status::Active,
            Status::Suspended,
        );
        store.commit_admin(suspend).await.expect("suspend");
        let erase = audit(
            pass.id,
            AdminAction::Erase,
            Status::Suspended,
            Status::Revoked,
        );
        let reactivate = change(
            pass.id,
            AdminAction::Reactivate,
            Status::Suspended,
            Status::Active,
        );
        let (erased, reactivated, linked) = tokio::join!(
            store.commit_admin(erase),
            store.commit_admin(reactivate),
            store.put_holder_link(link(pass.id, 3)),
        );
        erased.expect("the erase applies from any status");
        for (what, got) in [("reactivate", reactivated), ("link", linked)] {
            assert!(
                matches!(got, Ok(()) | Err(StoreError::Erased(_))),
                "round {round}: {what} raced with the erase: {got:?}"
            );
        }
        let loaded = store.load_pass(pass.id).await.expect("load").expect("kept");
        assert_eq!(loaded.status, Status::Revoked, "round {round}");
        assert_eq!(
            store.holder_link(pass.id).await.expect("read link"),
            None,
            "round {round}: a link outlived the erase"
        );
        let later = change(
            pass.id,
            AdminAction::Reactivate,
            Status::Revoked,
            Status::Active,
        );
        expect_erased(
            store.commit_admin(later).await,
            pass.id,
            "a later reactivate",
        );
    }
}

/// The erased marker outlives the audit record of the erase: once a
/// retention step removed every audit record of an erased pass, a
/// reactivation and a holder link are still refused. For backends with a
/// retention sweep, on a store of its own (the step removes every record
/// made before 1970-01-01T00:00:02Z).
pub async fn erased_outlives_its_audit_record(store: Arc<dyn Store>) {
    let pass = inserted(&store, None).await;
    let mut erase = audit(pass.id, AdminAction::Erase, Status::Active, Status::Revoked);
    // An old erase: older than the cut-off below, as nothing else here is.
    erase.at_ms = 1_000;
    store.commit_admin(erase).await.expect("erase");
    let mut step = RetentionStep {
        before_ms: 2_000,
        events: BTreeMap::new(),
        after: None,
        max_rows: crate::PAGE_MAX,
    };
    // Walk the whole sweep once: every step resumes where the last stopped.
    loop {
        let done = store.purge_records(step.clone()).await.expect("retention");
        match done.next {
            Some(next) => step.after = Some(next),
            None => break,
        }
    }
    let left = audit_kept(&store, pass.id).await;
    assert!(left.is_empty(), "retention kept {left:?}");
    let reactivate = change(
        pass.id,
        AdminAction::Reactivate,
        Status::Revoked,
        Status::Active,
    );
    expect_erased(
        store.commit_admin(reactivate).await,
        pass.id,
        "reactivate after retention",
    );
    expect_erased(
        store.put_holder_link(link(pass.id, 4)).await,
        pass.id,
        "a holder link after retention",
    );
}
