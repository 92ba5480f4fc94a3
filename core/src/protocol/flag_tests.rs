//! Rule 12: the fraud flags of a scan turn, with a fixed `now`.

use super::tests::{ALONE, Fault, Step, pass, scan};
use super::*;
use crate::flags::{Flag, FlagPolicy, RecentScans};
use crate::{Decision, Reason};
use std::sync::Arc;

fn persisted(step: Step) -> ScanRecord {
    match step {
        ScanStep::Persist(record) => record,
        other => panic!("expected a persist step, got {other:?}"),
    }
}

/// One scan on `device` at `now`, its write succeeding: the record and the answer.
fn scan_on(m: &mut PassMachine, id: &str, device: &str, now: i64) -> (ScanRecord, ScanOutcome) {
    let mut s = scan(id);
    s.device = device.into();
    let mut turn = m.on_scan(s);
    let record = persisted(turn.start::<Fault>(now));
    match turn.on_commit::<Fault>(Ok(())) {
        ScanStep::Answer(Ok(outcome)) => (record, outcome),
        other => panic!("expected a decision, got {other:?}"),
    }
}

fn denying(flag: Flag) -> Arc<FlagPolicy> {
    Arc::new(FlagPolicy {
        deny: [flag].into(),
        ..FlagPolicy::default()
    })
}

#[test]
fn a_rescan_is_flagged_on_its_record_and_its_answer() {
    let mut m = PassMachine::new(pass(None), 0, ALONE);
    let (first, answer) = scan_on(&mut m, "s1", "gate-1", 1_000);
    assert!(
        first.flags.is_empty() && answer.flags.is_empty(),
        "a clean first scan"
    );
    let (again, answer) = scan_on(&mut m, "s2", "gate-1", 2_000);
    assert_eq!(again.flags, vec![Flag::RapidRescan]);
    assert_eq!(answer.flags, vec![Flag::RapidRescan]);
    assert_eq!(answer.decision, Decision::Granted, "flagged, not denied");
    let (_, later) = scan_on(&mut m, "s3", "gate-1", 200_000);
    assert!(later.flags.is_empty(), "outside the window");
}

#[test]
fn a_policy_that_denies_a_flag_turns_the_grant_into_its_denial() {
    let mut m = PassMachine::new(pass(None), 0, ALONE)
        .with_flags(denying(Flag::RapidRescan), RecentScans::default());
    scan_on(&mut m, "s1", "gate-1", 1_000);
    let (record, answer) = scan_on(&mut m, "s2", "gate-1", 2_000);
    assert_eq!(answer.decision, Decision::Denied(Reason::RapidRescan));
    assert_eq!(record.decision, answer.decision);
    assert_eq!(
        (record.uses_after, m.pass().uses),
        (1, 1),
        "the denial counted nothing"
    );
}

#[test]
fn a_denied_flag_does_not_replace_another_denial() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE)
        .with_flags(denying(Flag::RapidRescan), RecentScans::default());
    scan_on(&mut m, "s1", "gate-1", 1_000);
    let (record, answer) = scan_on(&mut m, "s2", "gate-1", 2_000);
    assert_eq!(answer.decision, Decision::Denied(Reason::UsedUp));
    assert_eq!(record.flags, vec![Flag::RapidRescan], "still flagged");
}

#[test]
fn a_group_enters_one_by_one_under_a_policy_that_denies_rapid_rescan() {
    let mut m = PassMachine::new(pass(Some(3)), 0, ALONE)
        .with_flags(denying(Flag::RapidRescan), RecentScans::default());
    for (i, now) in [1_000, 3_000, 5_000].into_iter().enumerate() {
        let (record, answer) = scan_on(&mut m, &format!("m{i}"), "gate-1", now);
        assert_eq!(
            (answer.decision, record.flags.as_slice()),
            (Decision::Granted, &[][..]),
            "member {i}"
        );
    }
    assert_eq!(m.pass().uses, 3);
    // A fourth person: nothing left to admit, and flagged.
    let (record, answer) = scan_on(&mut m, "m3", "gate-1", 7_000);
    assert_eq!(answer.decision, Decision::Denied(Reason::UsedUp));
    assert_eq!(record.flags, vec![Flag::RapidRescan]);
    // One person's unlimited pass scanned again is still denied.
    let mut one = PassMachine::new(pass(None), 0, ALONE)
        .with_flags(denying(Flag::RapidRescan), RecentScans::default());
    scan_on(&mut one, "p1", "gate-1", 1_000);
    let (_, again) = scan_on(&mut one, "p2", "gate-1", 3_000);
    assert_eq!(again.decision, Decision::Denied(Reason::RapidRescan));
}

#[test]
fn shared_code_sees_another_device_and_a_restart_sees_the_store() {
    let mut m = PassMachine::new(pass(None), 0, ALONE);
    let (first, _) = scan_on(&mut m, "s1", "gate-1", 1_000);
    let (_, answer) = scan_on(&mut m, "s2", "gate-2", 1_500);
    assert_eq!(answer.flags, vec![Flag::RapidRescan, Flag::SharedCode]);
    // A machine built after a restart from the stored record alone.
    let mut stored = pass(None);
    stored.uses = 1;
    let recent = RecentScans::from_records([&first]);
    let mut fresh =
        PassMachine::new(stored, 1_600, ALONE).with_flags(denying(Flag::SharedCode), recent);
    let (_, answer) = scan_on(&mut fresh, "s3", "gate-3", 1_700);
    assert_eq!(answer.decision, Decision::Denied(Reason::SharedCode));
}

#[test]
fn a_retry_is_answered_with_the_flags_stored_first() {
    let mut m = PassMachine::new(pass(None), 0, ALONE);
    scan_on(&mut m, "s1", "gate-1", 1_000);
    let (first, _) = scan_on(&mut m, "s2", "gate-1", 2_000);
    let mut turn = m.on_scan(scan("s2"));
    persisted(turn.start::<Fault>(3_000));
    match turn.on_commit(Err(Fault::Duplicate(Box::new(first)))) {
        ScanStep::Answer(Ok(answer)) => {
            assert!(answer.replayed);
            assert_eq!(answer.flags, vec![Flag::RapidRescan]);
        }
        other => panic!("expected a replay, got {other:?}"),
    }
}

#[test]
fn a_transient_refusal_raises_and_remembers_nothing() {
    let mut m = PassMachine::new(pass(None), 0, ALONE);
    scan_on(&mut m, "s1", "gate-1", 1_000);
    let mut turn = m.on_scan(scan("s2"));
    persisted(turn.start::<Fault>(2_000));
    match turn.on_commit(Err(Fault::Busy)) {
        ScanStep::Answer(Ok(answer)) => {
            assert_eq!(answer.decision, Decision::Denied(Reason::Busy));
            assert!(answer.flags.is_empty());
        }
        other => panic!("expected busy, got {other:?}"),
    }
    assert_eq!(m.recent().last_grant().map(|g| g.at_ms), Some(1_000));
}
