//! A guard's override (rule 11): a scan turn without a token that grants an
//! active pass whatever the rules say, counted through the same commit.

use super::tests::{ALONE, Fault, answered, pass, persisted, scan_ok};
use super::*;
use crate::pass::Status;
use crate::scan::{AuditRecord, GuardOverride, ScanId};
use crate::{Decision, Reason};

fn order(id: &str) -> AdmitOrder {
    AdmitOrder {
        scan_id: ScanId::new(id).expect("scan id"),
        gate: "north".into(),
        reason: "phone broke, id checked".into(),
        who: "guard-7".into(),
        asked_ms: 40,
    }
}

#[test]
fn an_override_of_a_used_up_pass_is_counted_beyond_max_uses_and_marked() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    assert!(scan_ok(&mut m, "s1", 10).decision.is_granted());
    assert_eq!(
        scan_ok(&mut m, "s2", 11).decision,
        Decision::Denied(Reason::UsedUp)
    );
    let mut turn = m.on_admit(order("admit-1"));
    let record = persisted(turn.start::<Fault>(50));
    assert_eq!(record.decision, Decision::Granted);
    assert_eq!(
        (record.uses_after, record.device.as_str()),
        (2, OVERRIDE_DEVICE)
    );
    assert_eq!(
        record.guard_override,
        Some(Box::new(GuardOverride {
            who: "guard-7".into(),
            reason: "phone broke, id checked".into(),
            overrode: Some(Reason::UsedUp),
        }))
    );
    let audit = AuditRecord::of_override(&record).expect("a granted override is audited");
    assert_eq!(
        (audit.action, audit.scan_id.as_ref()),
        (crate::AdminAction::Admit, Some(&record.scan_id))
    );
    assert_eq!(m.pass().uses, 1, "nothing applied before the store answers");
    let mut turn = m.on_admit(order("admit-1"));
    persisted(turn.start::<Fault>(50));
    let answer = answered(turn.on_commit(Ok(()))).expect("decided");
    assert_eq!((answer.decision, answer.uses), (Decision::Granted, Some(2)));
    assert_eq!(m.pass().uses, 2);
}

#[test]
fn an_override_of_a_pass_the_rules_would_grant_keeps_none_as_overridden() {
    let mut m = PassMachine::new(pass(Some(3)), 0, ALONE);
    let mut turn = m.on_admit(order("admit-2"));
    let record = persisted(turn.start::<Fault>(50));
    let o = record.guard_override.expect("marked");
    assert_eq!((record.decision, o.overrode), (Decision::Granted, None));
    assert!(record.event == "fest" && record.gate == "north");
}

#[test]
fn an_override_never_admits_a_revoked_or_suspended_pass() {
    for status in [Status::Revoked, Status::Suspended] {
        let held = crate::Pass {
            status,
            ..pass(Some(1))
        };
        let mut m = PassMachine::new(held, 0, ALONE);
        let mut turn = m.on_admit(order("admit-3"));
        let record = persisted(turn.start::<Fault>(50));
        assert!(!record.decision.is_granted(), "{status:?}");
        assert!(
            AuditRecord::of_override(&record).is_none(),
            "no audit for a refusal"
        );
        let answer = answered(turn.on_commit(Ok(()))).expect("decided");
        assert_eq!(answer.uses, Some(0), "{status:?}: nothing counted");
    }
}

#[test]
fn an_override_that_conflicts_reads_again_and_counts_on_the_fresh_count() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let mut turn = m.on_admit(order("admit-4"));
    assert_eq!(persisted(turn.start::<Fault>(50)).uses_after, 1);
    assert_eq!(turn.on_commit(Err(Fault::Conflict)), ScanStep::Reload);
    let moved = crate::Pass {
        uses: 1,
        ..pass(Some(1))
    };
    let record = persisted(turn.on_reload(Ok(moved), 51));
    assert_eq!(
        record.uses_after, 2,
        "counted on the count another writer left"
    );
    assert!(
        answered(turn.on_commit(Ok(())))
            .expect("decided")
            .decision
            .is_granted()
    );
}

#[test]
fn an_admit_order_checks_its_gate_and_reason() {
    assert_eq!(order("a").check(), Ok(()));
    let bad_gate = AdmitOrder {
        gate: "bad\u{7}gate".into(),
        ..order("a")
    };
    assert_eq!(bad_gate.check().map_err(|e| e.field()), Err("gate"));
    let long = AdmitOrder {
        reason: "x".repeat(crate::pass::REASON_MAX_BYTES + 1),
        ..order("a")
    };
    assert_eq!(long.check().map_err(|e| e.field()), Err("reason"));
}
