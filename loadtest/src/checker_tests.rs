//! The checker on hand-made histories: each kind of violation is caught, a
//! clean history passes.

use super::*;
use crate::checker::rules::TIME_SLACK_MS;
use crate::history::{FlaggedScan, RevokeOp, UploadOp, UploadStatus};
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
        offline: false,
        floor: None,
    }
}

fn stored(scan: u64, at_ms: i64, granted: bool, uses_after: u32) -> StoredScan {
    StoredScan {
        scan_id: crate::history::scan_id(RUN, scan),
        at_ms,
        scanner_ms: at_ms,
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
        uploads: vec![],
        floor: None,
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
            conflicts: vec![],
            presence: ("outside".into(), None),
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

// Offline grants (a run with an outage).

fn offline_grant(scan: u64, sent_ms: i64) -> Op {
    Op {
        offline: true,
        ..op(ScanKind::First, scan, sent_ms, Outcome::Ok)
    }
}

fn upload(scan: u64, status: UploadStatus, conflicts: &[&str]) -> UploadOp {
    UploadOp {
        scan,
        status,
        conflicts: conflicts.iter().map(|k| (*k).to_owned()).collect(),
    }
}

fn flag(scan: u64, kind: &str) -> FlaggedScan {
    FlaggedScan {
        scan_id: crate::history::scan_id(RUN, scan),
        kind: kind.to_owned(),
    }
}

/// One single-use pass: granted online (scan 1), then offline on another
/// device that could not know (scan 2), uploaded and flagged `over_limit`.
fn over_limit_offline() -> (History, HashMap<u32, PassObservation>) {
    let mut h = history(vec![
        op(ScanKind::First, 1, 10, Outcome::Ok),
        offline_grant(2, 20),
    ]);
    h.uploads = vec![upload(2, UploadStatus::Recorded, &["over_limit"])];
    let mut o = observation(1, 2, vec![stored(1, 11, true, 1), stored(2, 50, true, 2)]);
    o.get_mut(&0).expect("pass").conflicts = vec![flag(2, "over_limit")];
    (h, o)
}

#[test]
fn an_offline_grant_beyond_the_limit_that_is_flagged_passes() {
    let (h, o) = over_limit_offline();
    let v = check(&h, &o);
    assert!(v.valid, "{v:#?}");
    assert_eq!((v.ok, v.passes_checked), (2, 1));
}

#[test]
fn an_offline_grant_beyond_the_limit_without_its_flag_is_caught() {
    let (h, mut o) = over_limit_offline();
    o.get_mut(&0).expect("pass").conflicts.clear();
    let v = check(&h, &o);
    assert_eq!(rules(&v), vec![Rule::UnflaggedConflict], "{v:#?}");
    assert_eq!(v.violations[0].scans, vec!["t1-2".to_owned()]);
}

#[test]
fn a_flag_without_cause_is_caught() {
    // max_uses 2: the offline grant was within the limit, yet flagged;
    // and a flag on a scan the log does not hold as a grant.
    let (h, mut o) = over_limit_offline();
    let pass = o.get_mut(&0).expect("pass");
    pass.max_uses = Some(2);
    pass.conflicts.push(flag(7, "over_limit"));
    let v = check(&h, &o);
    assert_eq!(rules(&v), vec![Rule::UnfoundedConflict], "{v:#?}");
    assert_eq!(
        v.violations[0].scans,
        vec!["t1-2".to_owned(), "t1-7".to_owned()]
    );
}

#[test]
fn an_offline_grant_never_acknowledged_is_lost() {
    for status in [
        UploadStatus::Pending,
        UploadStatus::Refused("invalid_request".into()),
    ] {
        let mut h = history(vec![offline_grant(1, 10)]);
        h.uploads = vec![
            upload(1, UploadStatus::Refused("unavailable".into()), &[]),
            upload(1, status.clone(), &[]),
        ];
        let v = check(&h, &observation(1, 0, vec![]));
        assert!(rules(&v).contains(&Rule::OfflineLost), "{status:?}: {v:#?}");
        assert!(rules(&v).contains(&Rule::LostOk), "{status:?}: {v:#?}");
    }
    // Refused for now, then recorded: the last word counts.
    let mut h = history(vec![offline_grant(1, 10)]);
    h.uploads = vec![
        upload(1, UploadStatus::Refused("unavailable".into()), &[]),
        upload(1, UploadStatus::Recorded, &[]),
    ];
    let v = check(&h, &observation(1, 1, vec![stored(1, 30, true, 1)]));
    assert!(v.valid, "{v:#?}");
}

#[test]
fn online_grants_beyond_the_limit_are_still_an_over_grant_beside_offline_ones() {
    let (mut h, mut o) = over_limit_offline();
    h.ops.push(op(ScanKind::Rescan, 3, 60, Outcome::Ok));
    let pass = o.get_mut(&0).expect("pass");
    pass.uses = 3;
    pass.scans.push(stored(3, 61, true, 3));
    let v = check(&h, &o);
    assert!(rules(&v).contains(&Rule::OverGrant), "{v:#?}");
    let over = v.violations.iter().find(|x| x.rule == Rule::OverGrant);
    assert_eq!(
        over.map(|x| x.scans.clone()),
        Some(vec!["t1-1".to_owned(), "t1-3".to_owned()])
    );
}

/// A pass revoked at 100 (gateway time); an offline grant by a device that
/// did not know, at device time `device_ms`, uploaded (recorded) at 500.
fn revoked_offline(device_ms: i64, flagged: bool) -> Verdict {
    let mut h = history(vec![Op {
        kind: ScanKind::Revoked,
        ..offline_grant(1, device_ms)
    }]);
    h.uploads = vec![upload(1, UploadStatus::Recorded, &[])];
    let mut scan = stored(1, 500, true, 1);
    scan.scanner_ms = device_ms;
    let mut o = observation(5, 1, vec![scan]);
    let pass = o.get_mut(&0).expect("pass");
    pass.audit = vec![revoke_audit(100)];
    if flagged {
        pass.conflicts = vec![flag(1, "revoked_before_scan")];
    }
    check(&h, &o)
}

#[test]
fn an_offline_grant_after_a_revoke_is_flagged_not_a_grant_after_revoke() {
    let v = revoked_offline(300, true);
    assert!(v.valid, "{v:#?}");
    let v = revoked_offline(300, false);
    assert_eq!(rules(&v), vec![Rule::UnflaggedConflict], "{v:#?}");
    // Decided before the revoke: the flag has no cause.
    let v = revoked_offline(-200, true);
    assert_eq!(rules(&v), vec![Rule::UnfoundedConflict], "{v:#?}");
    assert!(revoked_offline(-200, false).valid);
    // Too close to the revoke to judge either way.
    assert!(revoked_offline(100 + TIME_SLACK_MS, true).valid);
    assert!(revoked_offline(100 + TIME_SLACK_MS, false).valid);
}
