//! The checker on hand-made histories: each kind of violation is caught, a
//! clean history passes.

use super::*;
use crate::history::RevokeOp;
use scangate_core::{AuditRecord, Reason};

const RUN: &str = "t1";
const PASS: &str = "00112233445566778899aabbccddeeff";

fn op(kind: ScanKind, scan: u64, sent_ms: i64, outcome: Outcome) -> Op {
    Op {
        kind,
        pass: Some(0),
        scan,
        sent_ms,
        done_ms: sent_ms + 1,
        outcome,
        replayed: false,
    }
}

fn stored(scan: u64, at_ms: i64, granted: bool, uses_after: u32) -> StoredScan {
    StoredScan {
        scan_id: crate::history::scan_id(RUN, scan),
        at_ms,
        granted,
        reason: (!granted).then(|| "used_up".to_owned()),
        uses_after,
    }
}

fn history(ops: Vec<Op>) -> History {
    History {
        run_id: RUN.into(),
        passes: vec![PASS.into()],
        ops,
        revokes: vec![],
    }
}

fn observation(max_uses: u32, uses: u32, scans: Vec<StoredScan>) -> HashMap<u32, PassObservation> {
    HashMap::from([(
        0,
        PassObservation {
            max_uses: Some(max_uses),
            uses,
            uses_before: 0,
            scans,
            scans_complete: true,
            audit: vec![],
        },
    )])
}

/// Built from JSON, as the admin API returns it (fields added later with
/// defaults keep this working).
fn revoke_audit(at_ms: i64) -> AuditRecord {
    serde_json::from_value(serde_json::json!({
        "pass_id": PASS, "at_ms": at_ms, "who": "admin", "action": "revoke",
        "reason": "test", "status_before": "active", "status_after": "revoked",
    }))
    .expect("audit record")
}

fn rules(v: &Verdict) -> Vec<Rule> {
    v.violations.iter().map(|x| x.rule).collect()
}

/// A clean run: one grant, one rescan denied, one retry replayed, one
/// timeout that was not counted.
fn clean() -> (History, HashMap<u32, PassObservation>) {
    let mut retry = op(ScanKind::Retry, 1, 30, Outcome::Ok);
    retry.replayed = true;
    let h = history(vec![
        op(ScanKind::First, 1, 10, Outcome::Ok),
        op(ScanKind::Rescan, 2, 20, Outcome::Fail(Reason::UsedUp)),
        retry,
        op(ScanKind::Rescan, 3, 40, Outcome::Info("timeout".into())),
    ]);
    let o = observation(1, 1, vec![stored(1, 11, true, 1), stored(2, 21, false, 1)]);
    (h, o)
}

#[test]
fn a_clean_history_passes() {
    let (h, o) = clean();
    let v = check(&h, &o);
    assert!(v.valid, "{v:#?}");
    assert_eq!((v.ok, v.fail, v.info, v.passes_checked), (2, 1, 1, 1));
}

#[test]
fn an_over_grant_is_caught() {
    let h = history(vec![
        op(ScanKind::First, 1, 10, Outcome::Ok),
        op(ScanKind::Rescan, 2, 20, Outcome::Ok),
    ]);
    let o = observation(1, 2, vec![stored(1, 11, true, 1), stored(2, 21, true, 2)]);
    let v = check(&h, &o);
    assert!(!v.valid);
    assert!(rules(&v).contains(&Rule::OverGrant), "{v:#?}");
    let over = v
        .violations
        .iter()
        .find(|x| x.rule == Rule::OverGrant)
        .expect("over");
    assert_eq!(over.pass, PASS);
    assert_eq!(over.scans, vec!["t1-1".to_owned(), "t1-2".to_owned()]);
}

#[test]
fn a_lost_ok_is_caught() {
    let h = history(vec![op(ScanKind::First, 1, 10, Outcome::Ok)]);
    let v = check(&h, &observation(1, 0, vec![]));
    assert!(rules(&v).contains(&Rule::LostOk), "{v:#?}");
    assert!(rules(&v).contains(&Rule::UsesOutOfBounds), "{v:#?}");
    assert_eq!(v.violations[0].scans, vec!["t1-1".to_owned()]);
}

#[test]
fn a_double_counted_scan_id_is_caught() {
    // The retry was counted again: two records, two uses, one scan id.
    let h = history(vec![
        op(ScanKind::First, 1, 10, Outcome::Ok),
        op(ScanKind::Retry, 1, 20, Outcome::Ok),
    ]);
    let o = observation(5, 2, vec![stored(1, 11, true, 1), stored(1, 21, true, 2)]);
    let v = check(&h, &o);
    assert!(!v.valid);
    let doubles: Vec<&Violation> = v
        .violations
        .iter()
        .filter(|x| x.rule == Rule::DoubleCount)
        .collect();
    assert!(!doubles.is_empty(), "{v:#?}");
    assert!(doubles.iter().all(|d| d.scans == vec!["t1-1".to_owned()]));
    assert!(rules(&v).contains(&Rule::UsesOutOfBounds), "{v:#?}");
}

#[test]
fn a_grant_after_revoke_is_caught_in_gateway_order() {
    let h = history(vec![op(ScanKind::Revoked, 1, 10, Outcome::Ok)]);
    let mut o = observation(5, 1, vec![stored(1, 120, true, 1)]);
    o.get_mut(&0).expect("pass").audit = vec![revoke_audit(100)];
    let v = check(&h, &o);
    assert_eq!(rules(&v), vec![Rule::GrantAfterRevoke], "{v:#?}");
    assert_eq!(v.violations[0].scans, vec!["t1-1".to_owned()]);
}

#[test]
fn a_grant_after_revoke_is_caught_in_real_time() {
    // The gateway's clock says the grant came first, but the tool saw the
    // revoke complete before it even sent the scan.
    let mut h = history(vec![op(ScanKind::Revoked, 1, 200, Outcome::Ok)]);
    h.revokes.push(RevokeOp {
        pass: 0,
        invoked_ms: 100,
        completed_ms: Some(150),
    });
    let mut o = observation(5, 1, vec![stored(1, 90, true, 1)]);
    o.get_mut(&0).expect("pass").audit = vec![revoke_audit(100)];
    let v = check(&h, &o);
    assert_eq!(rules(&v), vec![Rule::GrantAfterRevoke], "{v:#?}");
}

#[test]
fn grants_before_a_revoke_are_fine() {
    let mut h = history(vec![
        op(ScanKind::Revoked, 1, 10, Outcome::Ok),
        op(ScanKind::Revoked, 2, 200, Outcome::Fail(Reason::Revoked)),
    ]);
    h.revokes.push(RevokeOp {
        pass: 0,
        invoked_ms: 100,
        completed_ms: Some(150),
    });
    let mut o = observation(5, 1, vec![stored(1, 11, true, 1), stored(2, 201, false, 1)]);
    o.get_mut(&0).expect("pass").audit = vec![revoke_audit(120)];
    assert!(check(&h, &o).valid);
}

#[test]
fn replay_mismatch_and_unexpected_grants_are_caught() {
    let mut forged = op(ScanKind::Forged, 9, 5, Outcome::Ok);
    forged.pass = None;
    let h = history(vec![
        op(ScanKind::First, 1, 10, Outcome::Fail(Reason::UsedUp)),
        op(ScanKind::Retry, 1, 20, Outcome::Fail(Reason::Revoked)),
        forged,
    ]);
    let o = observation(1, 0, vec![stored(1, 11, false, 0)]);
    let v = check(&h, &o);
    assert_eq!(
        rules(&v),
        vec![Rule::ReplayMismatch, Rule::UnexpectedGrant],
        "{v:#?}"
    );
    assert_eq!(v.violations[1].pass, "-");
}

#[test]
fn a_pass_not_read_back_makes_the_verdict_unknown() {
    let (h, _) = clean();
    let v = check(&h, &HashMap::new());
    assert!(!v.valid);
    assert!(v.violations.is_empty());
    assert_eq!(v.unchecked, vec![PASS.to_owned()]);
}

#[test]
fn info_scans_may_or_may_not_count() {
    let h = history(vec![
        op(ScanKind::First, 1, 10, Outcome::Info("timeout".into())),
        op(ScanKind::First, 2, 10, Outcome::Fail(Reason::Busy)),
    ]);
    assert!(check(&h, &observation(2, 1, vec![stored(1, 11, true, 1)])).valid);
    assert!(check(&h, &observation(2, 0, vec![])).valid);
    // A busy answer was not counted; two uses cannot come from one unknown scan.
    let v = check(
        &h,
        &observation(2, 2, vec![stored(1, 11, true, 1), stored(2, 12, true, 2)]),
    );
    assert!(rules(&v).contains(&Rule::UsesOutOfBounds), "{v:#?}");
}

#[test]
fn an_operators_annul_relaxes_the_counter_rules_only() {
    let h = history(vec![
        op(ScanKind::First, 1, 10, Outcome::Ok),
        op(ScanKind::Rescan, 2, 20, Outcome::Ok),
    ]);
    let mut o = observation(1, 1, vec![stored(1, 11, true, 1), stored(2, 21, true, 1)]);
    let annul: AuditRecord = serde_json::from_value(serde_json::json!({
        "pass_id": PASS, "at_ms": 15, "who": "admin", "action": "annul",
        "reason": "double entry", "status_before": "active", "status_after": "active",
        "scan_id": "t1-1",
    }))
    .expect("annul record");
    o.get_mut(&0).expect("pass").audit = vec![annul];
    let v = check(&h, &o);
    // The use came back, so a second grant at uses_after = 1 is right.
    assert!(v.valid, "{v:#?}");
    assert_eq!(v.notes.len(), 1);
}
