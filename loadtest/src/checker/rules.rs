//! The per-pass rules, one function each, run in a fixed order by
//! [`check_pass`]. Each reads the pass's [`PassFacts`] and pushes what it
//! finds; none depends on another's findings.

use super::{Findings, PassFacts, Rule, State, Verdict};
use crate::history::{StoredScan, UploadStatus};
use scangate_core::Status;
use std::collections::BTreeMap;

/// Device and gateway times closer than this are not judged against each
/// other (the tool's clock is the host's, read at another moment).
pub const TIME_SLACK_MS: i64 = 100;

/// Runs every per-pass rule on one pass, in a fixed order (the order of its
/// violations and notes in the verdict).
pub(super) fn check_pass(facts: &PassFacts<'_>, v: &mut Verdict) {
    let mut out = Findings {
        pass: facts.history.pass_id(facts.pass).to_owned(),
        verdict: v,
    };
    check_replies(facts, &mut out);
    check_stored_once(facts, &mut out);
    check_max_uses(facts, &mut out);
    let not_found = check_lost_ok(facts, &mut out);
    check_use_count(facts, &mut out);
    check_revokes(facts, &mut out);
    check_offline_uploaded(facts, &mut out);
    check_flags(facts, &mut out);
    if !facts.obs.scans_complete {
        out.note(format!(
            "pass {}: its scan list hit the admin API's limit; {not_found} granted scan(s) could not be looked up",
            out.pass
        ));
    }
}

/// **replay_mismatch**: every answer to one scan id is the same decision;
/// **double_count**: one scan id is granted fresh (not `replayed`) at most
/// once. What the replies alone say.
fn check_replies(f: &PassFacts<'_>, out: &mut Findings<'_>) {
    for (seq, s) in &f.summaries {
        if s.decisions.len() > 1 {
            let seen: Vec<&str> = s.decisions.iter().map(String::as_str).collect();
            out.push(
                Rule::ReplayMismatch,
                vec![f.history.scan_id(*seq)],
                format!("one scan id was answered {}", seen.join(" and ")),
            );
        }
        if s.fresh_grants > 1 {
            out.push(
                Rule::DoubleCount,
                vec![f.history.scan_id(*seq)],
                format!(
                    "one scan id was granted {} times without `replayed`",
                    s.fresh_grants
                ),
            );
        }
    }
}

/// **double_count** in the scan log: no scan id stored twice, and (unless an
/// operator annulled a scan, which gives a use back) no two grants with the
/// same `uses_after`.
fn check_stored_once(f: &PassFacts<'_>, out: &mut Findings<'_>) {
    let mut twice: Vec<String> = f
        .stored
        .iter()
        .filter(|(_, r)| r.len() > 1)
        .map(|(id, _)| (*id).to_owned())
        .collect();
    twice.sort();
    if !twice.is_empty() {
        let detail = format!("{} scan id(s) stored more than once", twice.len());
        out.push(Rule::DoubleCount, twice, detail);
    }
    if f.annulled {
        return;
    }
    let mut by_uses: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for s in &f.counting {
        by_uses
            .entry(s.uses_after)
            .or_default()
            .push(s.scan_id.clone());
    }
    for (uses_after, ids) in by_uses.into_iter().filter(|(_, ids)| ids.len() > 1) {
        let detail = format!(
            "{} grants all recorded uses_after = {uses_after}",
            ids.len()
        );
        out.push(Rule::DoubleCount, ids, detail);
    }
}

/// **over_grant**: never more online grants than `max_uses`: the stored
/// counter less the offline grants in the log, then (unless an annul gave a
/// use back) the online grants in the log, then the scans answered
/// `granted` online, each added to the uses before the run. One violation
/// at most, for the first count found over. (An offline grant is a fact
/// the gateway counts even beyond the limit: it is flagged, not refused.)
fn check_max_uses(f: &PassFacts<'_>, out: &mut Findings<'_>) {
    let Some(max) = f.obs.max_uses else {
        return;
    };
    let before = u64::from(f.obs.uses_before);
    let over = |count: usize| !f.annulled && count as u64 + before > u64::from(max);
    let online = f.online_counting();
    let ids = || online.iter().map(|s| s.scan_id.clone()).collect::<Vec<_>>();
    let offline_stored = f.counting.len() - online.len();
    let online_uses = f.obs.uses.saturating_sub(offline_stored as u32);
    let ok_online: Vec<String> = f
        .ok_counting
        .iter()
        .filter(|id| !f.offline_ids.contains(*id))
        .cloned()
        .collect();
    if online_uses > max {
        let detail = match offline_stored {
            0 => format!("uses = {} is over max_uses = {max}", f.obs.uses),
            n => format!(
                "uses = {} less {n} offline grants is over max_uses = {max}",
                f.obs.uses
            ),
        };
        out.push(Rule::OverGrant, ids(), detail);
    } else if over(online.len()) {
        let detail = format!(
            "{} online grants in the log with max_uses = {max}",
            online.len()
        );
        out.push(Rule::OverGrant, ids(), detail);
    } else if over(ok_online.len()) {
        let detail = format!(
            "{} scans answered granted online with max_uses = {max}",
            ok_online.len()
        );
        out.push(Rule::OverGrant, ok_online, detail);
    }
}

/// **lost_ok**: every scan answered `granted` is stored as a grant. A scan id
/// missing from a scan list the admin API cut short cannot be judged:
/// returns how many were missing so.
fn check_lost_ok(f: &PassFacts<'_>, out: &mut Findings<'_>) -> usize {
    let mut lost = Vec::new();
    let mut not_found = 0usize;
    for id in &f.ok_ids {
        match f.stored.get(id.as_str()) {
            Some(records) if records.iter().any(|r| r.granted) => {}
            Some(_) => lost.push(id.clone()),
            None if f.obs.scans_complete => lost.push(id.clone()),
            None => not_found += 1,
        }
    }
    if !lost.is_empty() {
        let detail = format!(
            "{} scan(s) answered granted are not stored as granted",
            lost.len()
        );
        out.push(Rule::LostOk, lost, detail);
    }
    not_found
}

/// **uses_out_of_bounds**: `ok ≤ uses used in this run ≤ ok + info`, and the
/// counter never falls; **counter_mismatch**: with the whole scan log read,
/// the uses of this run equal its granted records. Not checked once an
/// operator annulled a scan (a note says so).
fn check_use_count(f: &PassFacts<'_>, out: &mut Findings<'_>) {
    let obs = f.obs;
    let ok = f.ok_counting.len() as u64;
    let info = f.info_ids.len() as u64;
    let granted = f.counting.len() as u64;
    match obs.uses.checked_sub(obs.uses_before).map(u64::from) {
        _ if f.annulled => out.note(format!(
            "pass {}: an operator annulled a scan during the run; use counts not checked",
            out.pass
        )),
        None => out.push(
            Rule::UsesOutOfBounds,
            vec![],
            format!(
                "uses fell from {} to {} during the run",
                obs.uses_before, obs.uses
            ),
        ),
        Some(run_uses) if run_uses < ok => out.push(
            Rule::UsesOutOfBounds,
            f.ok_counting.clone(),
            format!("uses grew by {run_uses} but {ok} scans were answered granted"),
        ),
        Some(run_uses) if run_uses > ok + info => out.push(
            Rule::UsesOutOfBounds,
            f.info_ids.clone(),
            format!(
                "uses grew by {run_uses} but only {ok} granted + {info} unanswered scans could count"
            ),
        ),
        Some(run_uses) if obs.scans_complete && run_uses != granted => out.push(
            Rule::CounterMismatch,
            f.counting_ids(),
            format!("uses grew by {run_uses} but the log holds {granted} grants of this run that spend a use"),
        ),
        Some(_) => {}
    }
}

/// **grant_after_revoke**, both orders: in the gateway's (the audit log) and
/// in real time (the tool saw the revoke complete before sending the scan).
fn check_revokes(f: &PassFacts<'_>, out: &mut Findings<'_>) {
    check_revokes_in_gateway_order(f, out);
    check_revokes_in_real_time(f, out);
}

/// No grant is stored while the audit log has the pass blocked: from a
/// change to not active up to the next change back to active (by `at_ms`).
fn check_revokes_in_gateway_order(f: &PassFacts<'_>, out: &mut Findings<'_>) {
    // Blocked intervals from the audit log: [change to not active, change back).
    let mut blocked: Vec<(i64, Option<i64>)> = Vec::new();
    for a in &f.obs.audit {
        match (a.status_after, blocked.last_mut()) {
            (Status::Active, Some((_, end @ None))) => *end = Some(a.at_ms),
            (Status::Active, _) => {}
            (_, Some((_, None))) => {}
            (_, _) => blocked.push((a.at_ms, None)),
        }
    }
    let inside = |at: i64| {
        blocked
            .iter()
            .any(|(from, to)| at > *from && to.is_none_or(|t| at < t))
    };
    // An offline grant is recorded at its upload, after any revoke the
    // device did not know of: the flag rules judge it.
    let after: Vec<String> = f
        .online_granted()
        .iter()
        .filter(|s| inside(s.at_ms))
        .map(|s| s.scan_id.clone())
        .collect();
    if !after.is_empty() {
        let detail = format!(
            "{} grant(s) stored after the pass was revoked or suspended at {}",
            after.len(),
            blocked.first().map_or(0, |b| b.0)
        );
        out.push(Rule::GrantAfterRevoke, after, detail);
    }
}

/// No scan the tool first sent after it saw a revoke of the pass complete
/// is granted. Not judged once anyone reactivated the pass (real-time order
/// is then not the tool's to know).
fn check_revokes_in_real_time(f: &PassFacts<'_>, out: &mut Findings<'_>) {
    let reactivated = f.obs.audit.iter().any(|a| a.status_after == Status::Active);
    if reactivated {
        return;
    }
    let revokes = f.history.revokes.iter().filter(|r| r.pass == f.pass);
    for done in revokes.filter_map(|r| r.completed_ms) {
        let late: Vec<String> = f
            .summaries
            .iter()
            .filter(|(_, s)| s.state() == State::Ok && !s.offline_grant)
            .filter(|(_, s)| s.earliest_sent_ms.is_some_and(|t| t > done))
            .map(|(seq, _)| f.history.scan_id(*seq))
            .collect();
        if !late.is_empty() {
            let detail = format!(
                "{} scan(s) first sent after the revoke completed at {done} were granted",
                late.len()
            );
            out.push(Rule::GrantAfterRevoke, late, detail);
        }
    }
}

/// **offline_lost**: every offline grant was acknowledged by the gateway
/// (`recorded` or `duplicate`): none refused for good, none still in a
/// device's queue when the run stopped syncing.
fn check_offline_uploaded(f: &PassFacts<'_>, out: &mut Findings<'_>) {
    let mut lost = Vec::new();
    for (seq, _) in f.summaries.iter().filter(|(_, s)| s.offline_grant) {
        let status = f.uploads.get(seq).map(|u| &u.status);
        if let Some(UploadStatus::Refused(_) | UploadStatus::Pending) = status {
            lost.push(f.history.scan_id(*seq));
        }
    }
    if !lost.is_empty() {
        let detail = format!(
            "{} offline grant(s) never acknowledged by the gateway (refused, or still queued)",
            lost.len()
        );
        out.push(Rule::OfflineLost, lost, detail);
    }
}

/// The conflict kinds the checker can judge from what it reads back.
const JUDGED_KINDS: [&str; 2] = ["over_limit", "revoked_before_scan"];

/// **unflagged_conflict** / **unfounded_conflict**: for each kind the
/// checker judges, a stored offline grant that broke it has that conflict,
/// and a scan that has it broke it. `over_limit`: the uses before it had
/// reached `max_uses` (`uses_after > max_uses`). `revoked_before_scan`: the
/// pass was revoked when the upload was recorded, by a change at or before
/// the device's time (within [`TIME_SLACK_MS`] not judged).
fn check_flags(f: &PassFacts<'_>, out: &mut Findings<'_>) {
    for kind in JUDGED_KINDS {
        let (mut unflagged, mut unfounded) = (Vec::new(), Vec::new());
        for s in &f.granted {
            let cause = cause(f, kind, s);
            let flagged = f
                .flags
                .get(s.scan_id.as_str())
                .is_some_and(|k| k.contains(kind));
            let offline = f.offline_ids.contains(&s.scan_id);
            match cause {
                Some(true) if offline && !flagged => unflagged.push(s.scan_id.clone()),
                Some(false) if flagged => unfounded.push(s.scan_id.clone()),
                _ => {}
            }
        }
        // A flag on a scan that is not stored as a grant has no cause.
        for (id, kinds) in &f.flags {
            let stored_grant = f.granted.iter().any(|s| s.scan_id == *id);
            if kinds.contains(kind) && !stored_grant {
                unfounded.push((*id).to_owned());
            }
        }
        if !unflagged.is_empty() {
            let detail = format!(
                "{} offline grant(s) broke {kind} and are not flagged",
                unflagged.len()
            );
            out.push(Rule::UnflaggedConflict, unflagged, detail);
        }
        if !unfounded.is_empty() {
            unfounded.sort();
            let detail = format!("{} scan(s) flagged {kind} without cause", unfounded.len());
            out.push(Rule::UnfoundedConflict, unfounded, detail);
        }
    }
}

/// Whether stored grant `s` broke `kind`; `None` when that cannot be told.
fn cause(f: &PassFacts<'_>, kind: &str, s: &StoredScan) -> Option<bool> {
    match kind {
        "over_limit" => Some(f.obs.max_uses.is_some_and(|max| s.uses_after > max)),
        "revoked_before_scan" => {
            // The pass's status when the upload was recorded, and since when.
            let last = f.obs.audit.iter().rev().find(|a| a.at_ms <= s.at_ms);
            let Some(change) = last.filter(|a| a.status_after == Status::Revoked) else {
                return Some(false);
            };
            let near = |a: i64, b: i64| (a - b).abs() <= TIME_SLACK_MS;
            if near(change.at_ms, s.scanner_ms) || near(change.at_ms, s.at_ms) {
                return None;
            }
            Some(change.at_ms <= s.scanner_ms)
        }
        _ => None,
    }
}
