//! The upload's pure parts: outcomes, acknowledgements, journal lines.

use super::*;
use scangate_core::{Decision, Reason, ScanId};

fn scan(decision: Decision) -> OfflineScan {
    OfflineScan {
        token: "T".repeat(56),
        gate: "north".into(),
        event: "fest".into(),
        scan_id: ScanId::new("off-1").expect("scan id"),
        device_time_ms: 1_782_900_000_000,
        snapshot_version: 1_782_899_000_000,
        decision,
    }
}

#[test]
fn a_pass_less_conflict_only_for_a_device_grant() {
    let denied = scan(Decision::Denied(Reason::Unknown));
    let none = pass_less(&denied, "d", None, ConflictKind::Forged, 5);
    assert!(matches!(none, Outcome::Nothing));
    let granted = scan(Decision::Granted);
    match pass_less(&granted, "d", None, ConflictKind::Forged, 5) {
        Outcome::PassLess(c) => {
            assert_eq!(
                (c.kind, c.pass_id, c.at_ms),
                (ConflictKind::Forged, None, 5)
            );
            assert_eq!((c.device.as_str(), c.gate.as_str()), ("d", "north"));
        }
        _ => panic!("a grant of a forged token is flagged"),
    }
}

#[test]
fn acknowledgements_say_what_was_kept_and_only_new_conflicts_are_fresh() {
    let s = scan(Decision::Granted);
    let pass = PassId([7; 16]);
    let mut fresh = Vec::new();
    let moved = s.scan_id.offline();
    let recorded = Outcome::Reconciled {
        pass,
        status: Reconcile::Recorded,
        recorded_as: moved.clone(),
        conflicts: vec![ConflictKind::OverLimit, ConflictKind::WrongGate],
    };
    let ack = settle(recorded, true, &s, "d", 9, &mut fresh);
    assert_eq!(ack.0, AckStatus::Recorded);
    assert_eq!(fresh.len(), 2, "{fresh:?}");
    assert!(
        fresh
            .iter()
            .all(|c| c.pass_id == Some(pass) && c.at_ms == 9 && c.scan_id == moved),
        "flagged under the scan id the pass recorded"
    );
    let duplicate = Outcome::Reconciled {
        pass,
        status: Reconcile::Duplicate,
        recorded_as: moved,
        conflicts: vec![ConflictKind::OverLimit],
    };
    let ack = settle(duplicate, true, &s, "d", 9, &mut fresh);
    assert_eq!(ack, (AckStatus::Duplicate, vec![ConflictKind::OverLimit]));
    assert_eq!(fresh.len(), 2, "a duplicate flags nothing anew");
    let forged = || Outcome::PassLess(conflict(&s, "d", None, ConflictKind::Forged, 9));
    let lost = settle(forged(), false, &s, "d", 9, &mut fresh);
    assert_eq!(lost, (AckStatus::Refused(ErrorCode::Unavailable), vec![]));
    assert_eq!(fresh.len(), 2, "not kept, not flagged");
    let kept = settle(forged(), true, &s, "d", 9, &mut fresh);
    assert_eq!(kept, (AckStatus::Recorded, vec![ConflictKind::Forged]));
    assert_eq!(fresh.len(), 3);
}

#[test]
fn a_journal_line_names_the_device_scan_and_rule_and_no_token() {
    let s = scan(Decision::Granted);
    let c = conflict(
        &s,
        "gate-a-1",
        None,
        ConflictKind::Forged,
        1_782_900_000_000,
    );
    let line = journal_line(&c);
    assert_eq!(line.who, "device:gate-a-1");
    assert_eq!(line.action, OperatorAction::OfflineConflict);
    assert_eq!(line.subject, "off-1");
    let detail = line.detail.clone().expect("detail");
    assert!(
        detail.starts_with("forged: pass none, event fest, gate north"),
        "{detail}"
    );
    let text = serde_json::to_string(&line).expect("json");
    assert!(!text.contains(&s.token), "{text}");
}
