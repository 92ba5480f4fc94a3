//! LWT answers, driver errors, unknown outcomes and refusals.

use crate::outcome::{self, ClaimOwner, Failure, Resolution};
use scangate_core::{AdminAction, AuditRecord, Decision, PassId, Reason, Status};
use scangate_storage::conformance::{new_id, now_ms, scan};
use scangate_storage::{Annul, AnnulConflict, StoreError};
use scylla::errors::{DbError, ExecutionError, RequestAttemptError, WriteType};
use scylla::statement::Consistency;
use scylla::value::CqlValue;
use std::time::Duration;

#[test]
fn applied_is_read_from_its_column() {
    let yes = [Some(CqlValue::Boolean(true)), None];
    let no = [Some(CqlValue::Int(3)), Some(CqlValue::Boolean(false))];
    assert!(outcome::applied(&["[applied]", "uses"], Some(&yes)).expect("answer"));
    assert!(!outcome::applied(&["uses", "[applied]"], Some(&no)).expect("answer"));
    assert!(outcome::applied(&["uses"], Some(&no)).is_err(), "no column");
    assert!(outcome::applied(&["[applied]"], None).is_err(), "no row");
    assert!(
        outcome::applied(&["[applied]"], Some(&[None])).is_err(),
        "null"
    );
    let not_bool = [Some(CqlValue::Int(1))];
    assert!(outcome::applied(&["[applied]"], Some(&not_bool)).is_err());
}

fn db(error: DbError) -> ExecutionError {
    ExecutionError::LastAttemptError(RequestAttemptError::DbError(error, "test".into()))
}

#[test]
fn only_errors_that_prove_nothing_ran_are_not_unknown() {
    let unknown = [
        ExecutionError::RequestTimeout(Duration::from_millis(500)),
        db(DbError::WriteTimeout {
            consistency: Consistency::LocalQuorum,
            received: 1,
            required: 2,
            write_type: WriteType::Cas,
        }),
        db(DbError::Unavailable {
            consistency: Consistency::LocalQuorum,
            required: 2,
            alive: 1,
        }),
        db(DbError::ServerError),
    ];
    for e in unknown {
        assert!(matches!(outcome::classify(&e), Failure::Unknown(_)), "{e}");
    }
    let busy = [
        db(DbError::Overloaded),
        ExecutionError::LastAttemptError(RequestAttemptError::UnableToAllocStreamId),
    ];
    for e in busy {
        assert!(
            matches!(
                outcome::classify(&e),
                Failure::NotExecuted(StoreError::Busy)
            ),
            "{e}"
        );
    }
    for e in [
        db(DbError::SyntaxError),
        db(DbError::Invalid),
        ExecutionError::EmptyPlan,
    ] {
        // Not executed, and the driver's error is kept whole as the source.
        match outcome::classify(&e) {
            Failure::NotExecuted(StoreError::Unavailable { source, .. }) => assert_eq!(
                source
                    .downcast_ref::<ExecutionError>()
                    .map(ToString::to_string),
                Some(e.to_string())
            ),
            other => panic!("{e}: {other:?}"),
        }
    }
}

#[test]
fn an_unknown_outcome_is_resolved_by_what_the_serial_read_found() {
    let pass = new_id();
    let ours = scan(pass, Decision::Granted, 1, now_ms());
    assert_eq!(
        outcome::resolve(&ours, Some(ours.clone())),
        Resolution::Committed
    );
    let mut theirs = ours.clone();
    theirs.at_ms += 7;
    theirs.gate = "south".into();
    assert_eq!(
        outcome::resolve(&ours, Some(theirs.clone())),
        Resolution::Other(Box::new(theirs))
    );
    assert_eq!(outcome::resolve(&ours, None), Resolution::StillUnknown);
    // The batch's random stamp tells our row from an identical record that
    // a concurrent attempt of the same scan stored first.
    let stamped = (Some(7_i64), ours.clone());
    assert_eq!(
        outcome::resolve(&stamped, Some((Some(7), ours.clone()))),
        Resolution::Committed
    );
    assert_eq!(
        outcome::resolve(&stamped, Some((Some(8), ours.clone()))),
        Resolution::Other(Box::new((Some(8), ours)))
    );
}

#[test]
fn a_claim_read_back_names_its_owner() {
    let (ours, other) = (new_id(), new_id());
    let intended = scan(other, Decision::Granted, 1, now_ms());
    assert_eq!(
        outcome::claim_owner(ours, Some((ours, scan(ours, Decision::Granted, 1, 0)))),
        ClaimOwner::Ours
    );
    assert_eq!(
        outcome::claim_owner(ours, Some((other, intended.clone()))),
        ClaimOwner::Other {
            pass: other,
            intended: Box::new(intended)
        }
    );
    assert_eq!(outcome::claim_owner(ours, None), ClaimOwner::Nobody);
}

fn state(uses: u32, status: Status) -> scangate_storage::PassState {
    scangate_storage::PassState {
        uses,
        status,
        max_uses: Some(3),
        presence: scangate_core::pass::Presence::Outside,
    }
}

#[test]
fn a_refused_scan_is_a_duplicate_or_a_conflict() {
    let pass = new_id();
    let grant = scan(pass, Decision::Granted, 2, now_ms());
    let first = scan(pass, Decision::Granted, 1, now_ms());
    match outcome::scan_refused(&grant, Some(first.clone()), Some(state(1, Status::Active))) {
        StoreError::DuplicateScanId { existing } => assert_eq!(*existing, first),
        e => panic!("want a duplicate, got {e:?}"),
    }
    assert!(matches!(
        outcome::scan_refused(&grant, None, Some(state(3, Status::Active))),
        StoreError::Conflict { stored_uses: 3, .. }
    ));
    assert!(matches!(
        outcome::scan_refused(&grant, None, Some(state(1, Status::Revoked))),
        StoreError::Conflict { stored_uses: 1, .. }
    ));
    assert!(matches!(
        outcome::scan_refused(&grant, None, None),
        StoreError::Conflict { stored_uses: 0, .. }
    ));
    let denial = scan(pass, Decision::Denied(Reason::Expired), 0, now_ms());
    assert!(matches!(
        outcome::scan_refused(&denial, None, None),
        StoreError::Internal(_)
    ));
}

fn annul_of(pass: PassId, grant: &scangate_core::ScanRecord, expected: u32) -> Annul {
    Annul {
        scan_id: grant.scan_id.clone(),
        expected_uses: expected,
        audit: AuditRecord {
            pass_id: pass,
            at_ms: now_ms(),
            who: "test".into(),
            action: AdminAction::Annul,
            reason: "test".into(),
            status_before: Status::Active,
            status_after: Status::Active,
            scan_id: Some(grant.scan_id.clone()),
            token_generation: None,
        },
    }
}

#[test]
fn annuls_are_checked_like_the_embedded_store_checks_them() {
    let pass = new_id();
    let grant = scan(pass, Decision::Granted, 1, now_ms());
    let annul = annul_of(pass, &grant, 1);
    let why = |r: Result<_, StoreError>| match r {
        Err(StoreError::NotAnnullable { why, .. }) => Some(why),
        _ => None,
    };
    assert_eq!(
        outcome::annul_check(&annul, Some((Some(1), grant.clone()))).ok(),
        Some(grant.clone())
    );
    assert_eq!(
        why(outcome::annul_check(&annul, None)),
        Some(AnnulConflict::NoSuchScan)
    );
    let theirs = scan(new_id(), Decision::Granted, 1, now_ms());
    assert_eq!(
        why(outcome::annul_check(&annul, Some((Some(1), theirs)))),
        Some(AnnulConflict::OtherPass)
    );
    let denial = scan(pass, Decision::Denied(Reason::Revoked), 1, now_ms());
    assert_eq!(
        why(outcome::annul_check(&annul, Some((Some(1), denial)))),
        Some(AnnulConflict::NotGranted)
    );
    let mut done = grant.clone();
    done.annulled = Some(scangate_core::Annulment {
        at_ms: 1,
        who: "x".into(),
    });
    assert_eq!(
        why(outcome::annul_check(&annul, Some((Some(0), done.clone())))),
        Some(AnnulConflict::AlreadyAnnulled)
    );
    assert!(matches!(
        outcome::annul_check(&annul, Some((Some(2), grant.clone()))),
        Err(StoreError::Conflict { stored_uses: 2, .. })
    ));
    assert!(matches!(
        outcome::annul_check(&annul, Some((None, grant.clone()))),
        Err(StoreError::NotFound(_))
    ));
    // After a batch that did not apply: the reason now, or a conflict.
    assert_eq!(
        why(Err(outcome::annul_refused(&annul, Some((Some(0), done))))),
        Some(AnnulConflict::AlreadyAnnulled)
    );
    assert!(matches!(
        outcome::annul_refused(&annul, Some((Some(1), grant.clone()))),
        StoreError::Conflict { .. }
    ));
    // Unknown outcome, our audit line absent: annulled by another, or unknown.
    assert!(matches!(
        outcome::annul_unresolved(&annul, Some((Some(0), done_again(&grant)))),
        Some(StoreError::NotAnnullable {
            why: AnnulConflict::AlreadyAnnulled,
            ..
        })
    ));
    assert!(outcome::annul_unresolved(&annul, Some((Some(1), grant))).is_none());
    assert!(outcome::annul_unresolved(&annul, None).is_none());
}

fn done_again(grant: &scangate_core::ScanRecord) -> scangate_core::ScanRecord {
    let mut r = grant.clone();
    r.annulled = Some(scangate_core::Annulment {
        at_ms: 2,
        who: "someone else".into(),
    });
    r
}
