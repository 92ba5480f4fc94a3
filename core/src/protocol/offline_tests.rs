//! Offline facts (rule 10), one case at a time, with a fixed `now`.

use super::offline_turn::{DEVICE_CLOCK_AHEAD_MAX_MS, conflicts};
use super::tests::{ALONE, Fault, pass};
use super::*;
use crate::offline::SNAPSHOT_TTL_DEFAULT_MS;
use crate::offline::messages::ConflictKind;
use crate::pass::{AdminAction, Status};
use crate::testing::offline_fact as fact;
use crate::{Decision, Reason};

/// The upload's time in these tests.
const NOW: i64 = 1_000_000;
/// The snapshot the devices decided from (its `created_ms`).
const SNAPSHOT: u64 = crate::testing::SNAPSHOT_VERSION;

fn persisted(step: OfflineStep<Fault>) -> ScanRecord {
    match step {
        OfflineStep::Persist(record) => record,
        other => panic!("expected a persist step, got {other:?}"),
    }
}

fn answered(step: OfflineStep<Fault>) -> Reconciled {
    match step {
        OfflineStep::Answer(Ok(r)) => r,
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// Reconciles `fact` with every write landing; returns the record and answer.
fn reconcile(m: &mut PassMachine, fact: OfflineFact) -> (ScanRecord, Reconciled) {
    let mut turn = m.on_offline(fact);
    let record = persisted(turn.start(NOW));
    let answer = answered(turn.on_commit(Ok(())));
    (record, answer)
}

#[test]
fn two_devices_grant_a_single_use_ticket_both_count_one_is_over_limit() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let (first, a) = reconcile(&mut m, fact("o-1", "dev-a", 950_000));
    assert_eq!((a.status, a.uses), (Reconcile::Recorded, 1));
    assert!(
        a.conflicts.is_empty(),
        "within the limit: {:?}",
        a.conflicts
    );
    assert_eq!(
        (first.at_ms, first.scanner_time_ms, first.uses_after),
        (NOW, 950_000, 1)
    );
    let (second, b) = reconcile(&mut m, fact("o-2", "dev-b", 951_000));
    assert_eq!(
        (b.status, b.uses),
        (Reconcile::Recorded, 2),
        "counted beyond"
    );
    assert_eq!(b.conflicts, vec![ConflictKind::OverLimit]);
    assert_eq!(second.decision, Decision::Granted);
    let facts = second.offline.expect("marked offline");
    assert_eq!(facts.snapshot_version, SNAPSHOT);
    assert_eq!(facts.conflicts, vec![ConflictKind::OverLimit]);
    assert_eq!(m.pass().uses, 2);
    assert_eq!(m.stop(NOW), Some(Stop::Spent));
}

#[test]
fn a_known_scan_id_is_a_duplicate_and_counts_nothing() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let (first, _) = reconcile(&mut m, fact("o-1", "dev-a", 950_000));
    let mut turn = m.on_offline(fact("o-1", "dev-a", 950_000));
    let again = persisted(turn.start(NOW + 5));
    assert_eq!(again.uses_after, 2, "the machine does not know the id");
    let answer = answered(turn.on_commit(Err(Fault::Duplicate(Box::new(first)))));
    assert_eq!((answer.status, answer.uses), (Reconcile::Duplicate, 1));
    assert!(answer.conflicts.is_empty());
    assert_eq!(m.pass().uses, 1, "nothing counted twice");
}

#[test]
fn a_status_change_before_the_device_time_is_flagged_after_it_is_not() {
    let mut revoked = pass(Some(5));
    revoked.status = Status::Revoked;
    revoked.status_since_ms = Some(960_000);
    let before = conflicts(&revoked, &fact("o-1", "d", 959_999), NOW);
    assert!(before.is_empty(), "revoked after the scan: {before:?}");
    let at = conflicts(&revoked, &fact("o-1", "d", 960_000), NOW);
    assert_eq!(at, vec![ConflictKind::RevokedBeforeScan]);
    let mut suspended = revoked.clone();
    suspended.status = Status::Suspended;
    let after = conflicts(&suspended, &fact("o-1", "d", 970_000), NOW);
    assert_eq!(after, vec![ConflictKind::SuspendedBeforeScan]);
    // No recorded time: the status is taken to predate every scan.
    suspended.status_since_ms = None;
    let unknown = conflicts(&suspended, &fact("o-1", "d", 0), NOW);
    assert!(unknown.contains(&ConflictKind::SuspendedBeforeScan));
}

#[test]
fn a_revoked_pass_still_counts_the_fact() {
    let mut p = pass(Some(5));
    p.status = Status::Revoked;
    let mut m = PassMachine::new(p, 0, ALONE);
    let (record, r) = reconcile(&mut m, fact("o-1", "d", 950_000));
    assert_eq!((record.decision, r.uses), (Decision::Granted, 1));
    assert_eq!(r.conflicts, vec![ConflictKind::RevokedBeforeScan]);
}

#[test]
fn admin_changes_record_when_the_status_changed() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let change = AdminChange {
        action: AdminAction::Revoke,
        reason: "lost".into(),
        who: "ops".into(),
    };
    let mut turn = m.on_admin(change);
    assert!(matches!(turn.start::<Fault>(42), AdminStep::Persist(_)));
    let pass = match turn.on_commit::<Fault>(Ok(())) {
        AdminStep::Answer(Ok(pass)) => pass,
        other => panic!("expected the pass, got {other:?}"),
    };
    assert_eq!(
        (pass.status, pass.status_since_ms),
        (Status::Revoked, Some(42))
    );
    assert_eq!(m.pass().status_since_ms, Some(42));
}

#[test]
fn device_clock_rules_are_flagged_each() {
    let p = pass(None);
    let snapshot = i64::try_from(SNAPSHOT).expect("fits");
    let ahead = NOW + DEVICE_CLOCK_AHEAD_MAX_MS;
    assert!(
        conflicts(&p, &fact("o", "d", ahead), NOW).is_empty(),
        "at the allowance"
    );
    assert_eq!(
        conflicts(&p, &fact("o", "d", ahead + 1), NOW),
        vec![ConflictKind::TimeInFuture]
    );
    assert_eq!(
        conflicts(&p, &fact("o", "d", snapshot - 1), NOW),
        vec![ConflictKind::TimeBeforeSnapshot]
    );
    let stale = snapshot + SNAPSHOT_TTL_DEFAULT_MS + 1;
    let flagged = conflicts(&p, &fact("o", "d", stale), stale);
    assert_eq!(flagged, vec![ConflictKind::ExpiredSnapshot]);
}

#[test]
fn window_and_gate_are_judged_at_the_device_time_both_flagged() {
    let mut p = pass(None);
    p.gates = vec!["south".into()];
    p.valid_from_ms = Some(950_000);
    p.valid_until_ms = Some(960_000);
    assert_eq!(
        conflicts(&p, &fact("o", "d", 955_000), NOW),
        vec![ConflictKind::WrongGate],
        "inside the window at the device's time, though past it now"
    );
    assert_eq!(
        conflicts(&p, &fact("o", "d", 961_000), NOW),
        vec![ConflictKind::OutsideValidity, ConflictKind::WrongGate]
    );
    let mut at_gate = fact("o", "d", 955_000);
    at_gate.gate = "south".into();
    assert!(conflicts(&p, &at_gate, NOW).is_empty());
}

#[test]
fn an_old_generation_admitted_offline_is_counted_and_flagged_superseded() {
    let mut reissued = pass(Some(5));
    reissued.token_generation = 2;
    let old = fact("o-1", "d", 950_000);
    assert_eq!(
        conflicts(&reissued, &old, NOW),
        vec![ConflictKind::Superseded],
        "the online rule: a token of generation 0 on a pass of generation 2"
    );
    let current = OfflineFact {
        token_generation: 2,
        ..fact("o-2", "d", 950_000)
    };
    assert!(conflicts(&reissued, &current, NOW).is_empty());
    // With every other rule it broke, each flagged, and counted all the same.
    reissued.gates = vec!["south".into()];
    reissued.uses = 5;
    let mut m = PassMachine::new(reissued, 0, ALONE);
    let (record, r) = reconcile(&mut m, old);
    assert_eq!((record.decision, r.uses), (Decision::Granted, 6));
    assert_eq!(
        r.conflicts,
        vec![
            ConflictKind::Superseded,
            ConflictKind::OverLimit,
            ConflictKind::WrongGate
        ]
    );
}

#[test]
fn another_events_pass_is_recorded_denied_and_flagged_never_counted() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let mut other = fact("o-1", "d", 950_000);
    other.event = "other-fest".into();
    let (record, r) = reconcile(&mut m, other);
    assert_eq!(record.decision, Decision::Denied(Reason::WrongEvent));
    assert_eq!(
        record.offline.map(|f| f.device_decision),
        Some(Decision::Granted)
    );
    assert_eq!((r.uses, r.conflicts), (0, vec![ConflictKind::UnknownPass]));
}

#[test]
fn a_device_denial_is_recorded_not_counted_not_flagged() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let mut denied = fact("o-1", "d", NOW + DEVICE_CLOCK_AHEAD_MAX_MS * 10);
    denied.device_decision = Decision::Denied(Reason::UsedUp);
    let (record, r) = reconcile(&mut m, denied);
    assert_eq!(record.decision, Decision::Denied(Reason::UsedUp));
    assert_eq!((r.status, r.uses), (Reconcile::Recorded, 0));
    assert!(r.conflicts.is_empty());
}

#[test]
fn a_conflicting_write_reloads_once_then_counts_on_the_fresh_pass() {
    let mut m = PassMachine::new(pass(Some(3)), 0, ALONE);
    let mut turn = m.on_offline(fact("o-1", "d", 950_000));
    persisted(turn.start(NOW));
    assert_eq!(turn.on_commit(Err(Fault::Conflict)), OfflineStep::Reload);
    let mut fresh = pass(Some(3));
    fresh.uses = 2;
    let record = persisted(turn.on_reload(Ok(fresh), NOW));
    assert_eq!(record.uses_after, 3);
    let busy = turn.on_commit(Err(Fault::Busy));
    assert_eq!(busy, OfflineStep::Answer(Err(ScanFailure::Busy)));
    assert!(!m.is_failed(), "busy wrote nothing");
}

/// The gateway's online record of scan `id` on pass `m`: what a device's
/// unanswered online try left behind before it decided offline.
fn online_record(m: &PassMachine, id: &str, decision: Decision) -> ScanRecord {
    let mut scratch = PassMachine::new(m.pass().clone(), 0, ALONE);
    let record = persisted(scratch.on_offline(fact(id, "dev-a", 950_000)).start(NOW));
    ScanRecord {
        decision,
        offline: None,
        flags: Vec::new(),
        ..record
    }
}

#[test]
fn an_offline_grant_past_an_unanswered_online_denial_is_counted_under_its_offline_id() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let _ = reconcile(&mut m, fact("door-1", "dev-door", 940_000));
    let denial = online_record(&m, "lane-1", Decision::Denied(Reason::UsedUp));
    let mut turn = m.on_offline(fact("lane-1", "dev-a", 950_000));
    let _ = persisted(turn.start(NOW));
    let moved = persisted(turn.on_commit(Err(Fault::Duplicate(Box::new(denial.clone())))));
    assert_eq!(moved.scan_id.as_str(), "lane-1:offline");
    assert_eq!((moved.decision, moved.uses_after), (Decision::Granted, 2));
    let answer = answered(turn.on_commit(Ok(())));
    assert_eq!((answer.status, answer.uses), (Reconcile::Recorded, 2));
    assert_eq!(answer.conflicts, vec![ConflictKind::OverLimit]);

    // The re-upload meets the denial, then its own record: a duplicate.
    let mut turn = m.on_offline(fact("lane-1", "dev-a", 950_000));
    let _ = persisted(turn.start(NOW + 5));
    let again = persisted(turn.on_commit(Err(Fault::Duplicate(Box::new(denial)))));
    assert_eq!(again.scan_id, moved.scan_id);
    let answer = answered(turn.on_commit(Err(Fault::Duplicate(Box::new(moved)))));
    assert_eq!((answer.status, answer.uses), (Reconcile::Duplicate, 2));
    assert_eq!(answer.conflicts, vec![ConflictKind::OverLimit]);
    assert_eq!(m.pass().uses, 2, "counted once");
}

#[test]
fn an_offline_grant_of_a_try_granted_online_is_that_grant() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let grant = online_record(&m, "lane-1", Decision::Granted);
    let mut turn = m.on_offline(fact("lane-1", "dev-a", 950_000));
    let _ = persisted(turn.start(NOW));
    let answer = answered(turn.on_commit(Err(Fault::Duplicate(Box::new(grant)))));
    assert_eq!(answer.status, Reconcile::Duplicate);
    assert!(answer.conflicts.is_empty());
}
