//! The offline facts of the model proptests (`model_tests`): one fact's
//! turn run against the model store, and its answer checked against the
//! model: recorded once, counted if a grant, `over_limit` exactly when the
//! uses before it had reached the limit.

use super::model_tests::{Fate, Store};
use super::tests::{Fault, scan};
use super::*;
use crate::offline::messages::ConflictKind;
use crate::{Decision, Reason};
use proptest::prelude::*;

pub(super) fn run_offline(
    m: &mut PassMachine,
    store: &mut Store,
    n: u8,
    granted: bool,
    mut fate: Fate,
    now: i64,
) -> Result<Reconciled, ScanFailure<Fault>> {
    let s = scan(&format!("o{n}"));
    let fact = OfflineFact {
        scan_id: s.scan_id,
        gate: s.gate,
        event: "fest".into(),
        device: format!("device-{n}"),
        device_time_ms: now,
        snapshot_version: 0,
        device_decision: if granted {
            Decision::Granted
        } else {
            Decision::Denied(Reason::UsedUp)
        },
        token_not_after_ms: None,
        token_generation: 0,
    };
    let mut turn = m.on_offline(fact);
    let mut step = turn.start(now);
    loop {
        step = match step {
            OfflineStep::Answer(answer) => return answer,
            OfflineStep::Reload => turn.on_reload(Ok(store.pass.clone()), now),
            OfflineStep::Persist(record) => {
                let written = store.commit_scan(record, std::mem::replace(&mut fate, Fate::Lands));
                turn.on_commit(written)
            }
        };
    }
}

/// Checks an offline fact's answer against the model: recorded once,
/// counted if a grant, `over_limit` exactly when the uses before it had
/// reached the limit.
pub(super) fn check_offline(
    answer: &Result<Reconciled, ScanFailure<Fault>>,
    before: &Pass,
    known: Option<&ScanRecord>,
    store: &Store,
    (granted, fate): (bool, Fate),
) -> Result<(), TestCaseError> {
    match (answer, known) {
        (Ok(r), Some(first)) => {
            prop_assert_eq!(r.status, Reconcile::Duplicate);
            prop_assert_eq!(store.pass.uses, before.uses, "a duplicate counts nothing");
            let first_conflicts = first.offline.as_ref().map(|f| f.conflicts.clone());
            prop_assert_eq!(Some(r.conflicts.clone()), first_conflicts);
        }
        (Ok(r), None) => {
            prop_assert_eq!(r.status, Reconcile::Recorded);
            let uses = before.uses + u32::from(granted);
            prop_assert_eq!(store.pass.uses, uses, "counted once");
            // A grant's conditional write confirms the count; a denial's
            // answer is memory, which may be behind another gateway's use.
            if granted {
                prop_assert_eq!(r.uses, uses);
            } else {
                prop_assert!(r.uses <= uses);
            }
            let over = granted && before.max_uses.is_some_and(|max| before.uses >= max);
            let flagged = r.conflicts.contains(&ConflictKind::OverLimit);
            prop_assert_eq!(flagged, over, "over_limit exactly beyond the limit");
        }
        (Err(ScanFailure::Busy), _) => {
            prop_assert_eq!(fate, Fate::Busy);
            prop_assert_eq!(store.pass.uses, before.uses, "busy counts nothing");
        }
        (Err(ScanFailure::Store(_)), _) => {
            prop_assert!(matches!(fate, Fate::Lost | Fate::Unknown));
        }
        (Err(ScanFailure::ScanIdConflict), _) => prop_assert!(false, "one pass: no id conflict"),
    }
    Ok(())
}
