//! The pass protocol's rules, one case at a time, with a fixed `now`.

use super::*;
use crate::pass::{AdminAction, PassId, Status};
use crate::scan::{Annulment, ScanId};
use crate::{Decision, Reason};

/// A store error for the tests, one variant per [`FaultKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fault {
    Busy,
    Conflict,
    NotFound,
    Duplicate(Box<ScanRecord>),
    NotAnnullable(Option<AnnulRefusal>),
    Erased,
    Broken,
}

impl StoreFault for Fault {
    fn kind(&self) -> FaultKind<'_> {
        match self {
            Fault::Busy => FaultKind::Busy,
            Fault::Conflict => FaultKind::Conflict,
            Fault::NotFound => FaultKind::PassNotFound,
            Fault::Duplicate(first) => FaultKind::DuplicateScanId(first),
            Fault::NotAnnullable(why) => FaultKind::NotAnnullable(*why),
            Fault::Erased => FaultKind::Refused,
            Fault::Broken => FaultKind::Failed,
        }
    }
}

pub(super) type Step = ScanStep<Fault>;

/// The pass every rule is tried on: the shared fixture, with one fixed id.
pub(super) fn pass(max_uses: Option<u32>) -> Pass {
    crate::testing::pass(PassId([3; 16]), max_uses)
}

pub(super) fn scan(id: &str) -> Scan {
    Scan {
        scan_id: ScanId::new(id).expect("scan id"),
        gate: "north".into(),
        event: Some("fest".into()),
        device: "gate-1".into(),
        scanner_time_ms: 5,
        token_not_after_ms: None,
        token_generation: 0,
        direction: None,
        check_only: false,
        definition: None,
    }
}

pub(super) const ALONE: MachineConfig = MachineConfig {
    recheck_after_ms: None,
    annul_window_ms: 1_000,
};

const SHARED: MachineConfig = MachineConfig {
    recheck_after_ms: Some(1_000),
    ..ALONE
};

pub(super) fn persisted(step: Step) -> ScanRecord {
    match step {
        ScanStep::Persist(record) => record,
        other => panic!("expected a persist step, got {other:?}"),
    }
}

pub(super) fn answered(step: Step) -> Result<ScanOutcome, ScanFailure<Fault>> {
    match step {
        ScanStep::Answer(answer) => answer,
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// One scan at `now`, every write succeeding, no reload expected.
pub(super) fn scan_ok(machine: &mut PassMachine, id: &str, now: i64) -> ScanOutcome {
    let mut turn = machine.on_scan(scan(id));
    persisted(turn.start(now));
    answered(turn.on_commit(Ok(()))).expect("decided")
}

#[test]
fn a_grant_is_persisted_first_and_applied_only_when_durable() {
    let mut m = PassMachine::new(pass(Some(2)), 0, ALONE);
    let mut turn = m.on_scan(scan("s1"));
    let record = persisted(turn.start(1_234));
    assert_eq!(record.decision, Decision::Granted);
    assert_eq!((record.uses_after, record.at_ms), (1, 1_234));
    assert_eq!(
        (record.gate.as_str(), record.event.as_str()),
        ("north", "fest")
    );
    let outcome = answered(turn.on_commit(Ok(()))).expect("granted");
    assert_eq!(outcome.decision, Decision::Granted);
    assert_eq!((outcome.uses, outcome.max_uses), (Some(1), Some(2)));
    assert_eq!(outcome.display.as_deref(), Some(crate::testing::DISPLAY));
    assert!(!outcome.replayed);
    assert_eq!(m.pass().uses, 1);
}

#[test]
fn nothing_is_applied_before_the_store_answers() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let mut turn = m.on_scan(scan("s1"));
    persisted(turn.start(10));
    // The store refuses (its queue is full): no use was counted.
    let busy = answered(turn.on_commit(Err(Fault::Busy)));
    assert_eq!(busy, Ok(ScanOutcome::refused(Reason::Busy)));
    assert_eq!(m.pass().uses, 0);
    assert_eq!(m.stop(10), None);
}

#[test]
fn a_denial_is_stored_and_counts_nothing() {
    let mut p = pass(Some(1));
    p.status = Status::Suspended;
    let mut m = PassMachine::new(p, 0, ALONE);
    let mut turn = m.on_scan(scan("d"));
    let record = persisted(turn.start(10));
    assert_eq!(record.decision, Decision::Denied(Reason::Suspended));
    assert_eq!(record.uses_after, 0);
    let outcome = answered(turn.on_commit(Ok(()))).expect("denied");
    assert_eq!(outcome.decision, Decision::Denied(Reason::Suspended));
    assert_eq!(outcome.display, None, "display only on a grant");
}

#[test]
fn a_stored_scan_id_is_answered_from_its_first_record() {
    let mut m = PassMachine::new(pass(Some(3)), 0, ALONE);
    scan_ok(&mut m, "a", 10);
    let mut turn = m.on_scan(scan("a"));
    let mut first = persisted(turn.start(20));
    first.uses_after = 1; // what the store holds from the first time
    let retry = answered(turn.on_commit(Err(Fault::Duplicate(Box::new(first.clone())))));
    let retry = retry.expect("replayed");
    assert!(retry.replayed && retry.decision == Decision::Granted);
    assert_eq!(retry.uses, Some(1));
    assert_eq!(m.pass().uses, 1, "the retry counted nothing");

    let mut elsewhere = first;
    elsewhere.pass_id = PassId([9; 16]);
    let mut turn = m.on_scan(scan("a"));
    persisted(turn.start(30));
    let conflict = answered(turn.on_commit(Err(Fault::Duplicate(Box::new(elsewhere)))));
    assert_eq!(conflict, Err(ScanFailure::ScanIdConflict));
    assert_eq!(
        m.stop(30),
        None,
        "a reused id is the scanner's fault, not the store's"
    );
}

#[test]
fn a_conflict_reloads_and_decides_once_more() {
    let mut m = PassMachine::new(pass(Some(2)), 0, ALONE);
    let mut turn = m.on_scan(scan("c"));
    persisted(turn.start(10));
    assert_eq!(turn.on_commit(Err(Fault::Conflict)), Step::Reload);
    // Another gateway used the last use meanwhile.
    let mut truth = pass(Some(2));
    truth.uses = 2;
    let record = persisted(turn.on_reload(Ok(truth), 11));
    assert_eq!(record.decision, Decision::Denied(Reason::UsedUp));
    let outcome = answered(turn.on_commit(Ok(()))).expect("decided");
    assert_eq!(
        (outcome.decision, outcome.uses),
        (Decision::Denied(Reason::UsedUp), Some(2))
    );
    assert_eq!(m.stop(11), Some(Stop::Spent));
}

#[test]
fn a_second_conflict_in_one_turn_is_a_failure() {
    let mut m = PassMachine::new(pass(None), 0, ALONE);
    let mut turn = m.on_scan(scan("c"));
    persisted(turn.start(10));
    assert_eq!(turn.on_commit(Err(Fault::Conflict)), Step::Reload);
    persisted(turn.on_reload(Ok(pass(None)), 10));
    let failed = answered(turn.on_commit(Err(Fault::Conflict)));
    assert_eq!(failed, Err(ScanFailure::Store(Fault::Conflict)));
    assert_eq!(m.stop(10), Some(Stop::Failed));
}

#[test]
fn after_a_failure_memory_is_not_trusted() {
    let mut m = PassMachine::new(pass(Some(5)), 0, ALONE);
    let mut turn = m.on_scan(scan("f"));
    persisted(turn.start(10));
    let failed = answered(turn.on_commit(Err(Fault::Broken)));
    assert_eq!(failed, Err(ScanFailure::Store(Fault::Broken)));
    assert_eq!(m.stop(10), Some(Stop::Failed));
    assert_eq!(m.pass().uses, 0, "an unknown outcome is not applied");

    // The write did land: the next turn reads it before deciding.
    let mut landed = pass(Some(5));
    landed.uses = 1;
    let mut turn = m.on_scan(scan("g"));
    assert_eq!(turn.start::<Fault>(20), Step::Reload);
    let record = persisted(turn.on_reload(Ok(landed), 20));
    assert_eq!(record.uses_after, 2);
    answered(turn.on_commit(Ok(()))).expect("granted");
    assert_eq!(m.stop(20), None, "read again: trusted again");

    // A reload that fails is a failure too.
    let mut m = PassMachine::new(pass(Some(5)), 0, ALONE);
    let mut turn = m.on_scan(scan("h"));
    persisted(turn.start(10));
    assert_eq!(turn.on_commit(Err(Fault::Conflict)), Step::Reload);
    let gone = answered(turn.on_reload(Err(Fault::NotFound), 10));
    assert_eq!(gone, Err(ScanFailure::Store(Fault::NotFound)));
    assert_eq!(m.stop(10), Some(Stop::Failed));
}

#[test]
fn a_late_commit_is_applied_whenever_it_lands() {
    // The I/O layer answered the caller at its deadline (outcome unknown);
    // the machine still waits for the write and applies its outcome, so the
    // next turn decides from what the store holds.
    let mut m = PassMachine::new(pass(Some(2)), 0, ALONE);
    let mut turn = m.on_scan(scan("l1"));
    persisted(turn.start(1_000));
    answered(turn.on_commit(Ok(()))).expect("granted, to no one");
    assert_eq!(m.pass().uses, 1);
    let next = scan_ok(&mut m, "l2", 61_001);
    assert_eq!(next.uses, Some(2));
}

#[test]
fn the_window_is_judged_at_the_time_given() {
    let mut p = pass(Some(5));
    p.valid_from_ms = Some(1_000);
    p.valid_until_ms = Some(2_000);
    let mut m = PassMachine::new(p, 0, ALONE);
    let early = scan_ok(&mut m, "e", 999);
    assert_eq!(early.decision, Decision::Denied(Reason::NotYetValid));
    assert!(scan_ok(&mut m, "in", 1_999).decision.is_granted());
    assert_eq!(m.stop(1_999), None);
    let late = scan_ok(&mut m, "late", 2_000);
    assert_eq!(late.decision, Decision::Denied(Reason::Expired));
    assert_eq!(m.stop(2_000), Some(Stop::Spent), "past its window");
}

#[test]
fn on_a_shared_store_an_old_denial_is_read_again_first() {
    let mut revoked = pass(None);
    revoked.status = Status::Revoked;
    let mut m = PassMachine::new(revoked.clone(), 10_000, SHARED);
    // Fresher than recheck_after: memory answers.
    let fresh = scan_ok(&mut m, "a", 10_999);
    assert_eq!(fresh.decision, Decision::Denied(Reason::Revoked));
    // As old as recheck_after: read again, once, and decide from the truth.
    let mut turn = m.on_scan(scan("b"));
    assert_eq!(turn.start::<Fault>(11_000), Step::Reload);
    let record = persisted(turn.on_reload(Ok(pass(None)), 11_001));
    assert_eq!(record.decision, Decision::Granted, "reactivated elsewhere");
    answered(turn.on_commit(Ok(()))).expect("granted");

    // A clock stepped back behind the read: the age is unknown, read again.
    let mut m = PassMachine::new(revoked.clone(), 10_000, SHARED);
    let mut turn = m.on_scan(scan("c"));
    assert_eq!(turn.start::<Fault>(9_000), Step::Reload);
    // Still revoked: denied without a second reload.
    let record = persisted(turn.on_reload(Ok(revoked.clone()), 9_000));
    assert_eq!(record.decision, Decision::Denied(Reason::Revoked));

    // Only this gateway writes: memory is the truth, however old.
    let mut m = PassMachine::new(revoked, 0, ALONE);
    let alone = scan_ok(&mut m, "d", 1_000_000);
    assert_eq!(alone.decision, Decision::Denied(Reason::Revoked));
}

#[test]
fn a_grant_confirms_the_copy_on_a_shared_store() {
    let mut p = pass(Some(1));
    p.uses = 0;
    let mut m = PassMachine::new(p, 0, SHARED);
    assert!(scan_ok(&mut m, "g", 5_000).decision.is_granted());
    // Used up, and the copy was confirmed by the grant at 5 000.
    let used = scan_ok(&mut m, "u", 5_999);
    assert_eq!(used.decision, Decision::Denied(Reason::UsedUp));
    let mut turn = m.on_scan(scan("v"));
    assert_eq!(
        turn.start::<Fault>(6_000),
        Step::Reload,
        "older than 1 s now"
    );
}

fn change(action: AdminAction, reason: &str) -> AdminChange {
    AdminChange {
        action,
        reason: reason.into(),
        who: "ops".into(),
    }
}

#[test]
fn an_admin_change_is_persisted_then_applied() {
    let mut m = PassMachine::new(pass(None), 0, ALONE);
    let mut turn = m.on_admin(change(AdminAction::Suspend, "fight"));
    let audit = match turn.start::<Fault>(77) {
        AdminStep::Persist(audit) => audit,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (audit.status_before, audit.status_after),
        (Status::Active, Status::Suspended)
    );
    assert_eq!((audit.at_ms, audit.who.as_str()), (77, "ops"));
    let AdminStep::Answer(Ok(after)) = turn.on_commit::<Fault>(Ok(())) else {
        panic!("applied")
    };
    assert_eq!(after.status, Status::Suspended);
    assert_eq!(after.status_reason.as_deref(), Some("fight"));
    // Ordered after it: the next scan is denied.
    let next = scan_ok(&mut m, "s", 78);
    assert_eq!(next.decision, Decision::Denied(Reason::Suspended));
}

#[test]
fn an_admin_change_that_cannot_apply_is_refused_before_any_write() {
    let mut m = PassMachine::new(pass(None), 0, ALONE);
    let mut turn = m.on_admin(change(AdminAction::Reactivate, "r"));
    assert!(matches!(
        turn.start::<Fault>(1),
        AdminStep::Answer(Err(AdminFailure::Transition(_)))
    ));
    let long = "x".repeat(crate::pass::REASON_MAX_BYTES + 1);
    let mut turn = m.on_admin(change(AdminAction::Revoke, &long));
    assert!(matches!(
        turn.start::<Fault>(1),
        AdminStep::Answer(Err(AdminFailure::Invalid(_)))
    ));
    // Busy: nothing applied, nothing failed.
    let mut turn = m.on_admin(change(AdminAction::Revoke, "r"));
    assert!(matches!(turn.start::<Fault>(1), AdminStep::Persist(_)));
    assert_eq!(
        turn.on_commit(Err(Fault::Busy)),
        AdminStep::Answer(Err(AdminFailure::Busy))
    );
    assert_eq!((m.pass().status, m.stop(1)), (Status::Active, None));
    // Refused for a fact only the store keeps (an erase is final): the
    // refusal is answered, nothing applied, memory still trusted.
    let mut turn = m.on_admin(change(AdminAction::Revoke, "r"));
    assert!(matches!(turn.start::<Fault>(1), AdminStep::Persist(_)));
    let refused = turn.on_commit(Err(Fault::Erased));
    assert_eq!(
        refused,
        AdminStep::Answer(Err(AdminFailure::Store(Fault::Erased)))
    );
    assert_eq!((m.pass().status, m.stop(1)), (Status::Active, None));
    // The store lost the pass: not found, and memory is not trusted.
    let mut turn = m.on_admin(change(AdminAction::Revoke, "r"));
    assert!(matches!(turn.start::<Fault>(1), AdminStep::Persist(_)));
    let gone = turn.on_commit(Err(Fault::NotFound));
    assert_eq!(gone, AdminStep::Answer(Err(AdminFailure::NotFound)));
    assert_eq!(
        (m.pass().status, m.stop(1)),
        (Status::Active, Some(Stop::Failed))
    );
}

fn grant_record(id: &str, at_ms: i64) -> ScanRecord {
    crate::testing::granted_record(id, PassId([3; 16]), at_ms)
}

fn annul(id: &str) -> AnnulRequest {
    AnnulRequest {
        scan_id: ScanId::new(id).expect("id"),
        reason: "twice".into(),
        who: "ops".into(),
    }
}

#[test]
fn an_annulment_finds_the_grant_checks_its_window_and_gives_the_use_back() {
    let mut used = pass(Some(1));
    used.uses = 1;
    let mut m = PassMachine::new(used, 0, ALONE);
    let mut turn = m.on_annul(annul("g"));
    let AnnulStep::<Fault>::Find(id) = turn.start() else {
        panic!("find first")
    };
    assert_eq!(id.as_str(), "g");
    // The window (1 000 ms) is judged at the time given.
    let write = match turn.on_found::<Fault>(Ok(Some(grant_record("g", 10_000))), 11_000) {
        AnnulStep::Persist(write) => write,
        other => panic!("{other:?}"),
    };
    assert_eq!((write.expected_uses, write.audit.at_ms), (1, 11_000));
    assert_eq!(write.audit.scan_id.as_ref().map(ScanId::as_str), Some("g"));
    let mut annulled = grant_record("g", 10_000);
    annulled.annulled = Some(Annulment {
        at_ms: 11_000,
        who: "ops".into(),
    });
    let done = turn.on_commit::<Fault>(Ok(annulled.clone()));
    assert_eq!(done, AnnulStep::Answer(Ok(annulled)));
    assert_eq!(m.pass().uses, 0);
    assert_eq!(m.stop(11_000), None, "a use is back: not spent");

    let mut turn = m.on_annul(annul("g"));
    turn.start::<Fault>();
    let late = turn.on_found::<Fault>(Ok(Some(grant_record("g", 10_000))), 11_001);
    assert!(matches!(
        late,
        AnnulStep::Answer(Err(AdminFailure::Annul(AnnulRefusal::TooLate {
            window_ms: 1_000
        })))
    ));
    let mut turn = m.on_annul(annul("nope"));
    turn.start::<Fault>();
    let none = turn.on_found::<Fault>(Ok(None), 11_001);
    assert_eq!(none, AnnulStep::Answer(Err(AdminFailure::ScanNotFound)));
}

#[test]
fn an_annulment_that_conflicts_reads_again_and_tries_once_more() {
    let mut used = pass(Some(2));
    used.uses = 1;
    let mut m = PassMachine::new(used, 0, ALONE);
    let mut turn = m.on_annul(annul("g"));
    turn.start::<Fault>();
    let step = turn.on_found::<Fault>(Ok(Some(grant_record("g", 100))), 200);
    assert!(matches!(
        step,
        AnnulStep::Persist(AnnulWrite {
            expected_uses: 1,
            ..
        })
    ));
    assert_eq!(turn.on_commit(Err(Fault::Conflict)), AnnulStep::Reload);
    let mut truth = pass(Some(2));
    truth.uses = 2;
    let AnnulStep::<Fault>::Find(_) = turn.on_reload(Ok(truth), 300) else {
        panic!("find again")
    };
    let step = turn.on_found::<Fault>(Ok(Some(grant_record("g", 100))), 300);
    assert!(matches!(
        step,
        AnnulStep::Persist(AnnulWrite {
            expected_uses: 2,
            ..
        })
    ));
    let refused = turn.on_commit(Err(Fault::NotAnnullable(Some(
        AnnulRefusal::AlreadyAnnulled,
    ))));
    assert_eq!(
        refused,
        AnnulStep::Answer(Err(AdminFailure::Annul(AnnulRefusal::AlreadyAnnulled)))
    );
    assert_eq!((m.pass().uses, m.stop(300)), (2, Some(Stop::Spent)));
}

#[test]
fn a_check_only_scan_is_answered_without_a_write() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let mut check = scan("check-1");
    check.check_only = true;
    let step: Step = m.on_scan(check.clone()).start(10);
    match step {
        ScanStep::Answer(Ok(out)) => {
            assert_eq!((out.decision, out.uses), (Decision::Granted, Some(0)));
        }
        other => panic!("a check is answered at once, got {other:?}"),
    }
    assert_eq!(m.pass().uses, 0, "nothing applied");
    // The same scan id, for real, is decided afresh and persisted.
    let real = scan("check-1");
    let step: Step = m.on_scan(real).start(11);
    assert!(matches!(step, ScanStep::Persist(ref r) if r.scan_id.as_str() == "check-1"));
}

#[test]
fn a_presence_denial_on_a_shared_store_is_checked_against_the_store_first() {
    let mut inside = pass(Some(1));
    inside.uses = 1;
    inside.presence =
        crate::pass::Presence::Inside(crate::pass::ZoneName::new("hall").expect("zone"));
    let mut m = PassMachine::new(inside, 0, SHARED);
    let mut entry = scan("again-1");
    entry.event = None;
    entry.definition = Some(std::sync::Arc::new(crate::event::tests::example()));
    // Past recheck_after_ms: the copy may be behind another gateway's exit.
    let step: Step = m.on_scan(entry).start(5_000);
    assert_eq!(step, ScanStep::Reload);
}
