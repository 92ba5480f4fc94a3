//! The per-pass rules, one function each, run in a fixed order by
//! [`check_pass`]. Each reads the pass's [`PassFacts`] and pushes what it
//! finds; none depends on another's findings.

use super::{Findings, PassFacts, Rule, State, Verdict};
use crate::history::{History, Op, PassObservation};
use scangate_core::Status;
use std::collections::BTreeMap;

/// Runs every per-pass rule on one pass, in a fixed order (the order of its
/// violations and notes in the verdict).
pub(super) fn check_pass(
    history: &History,
    pass: u32,
    ops: &[&Op],
    obs: &PassObservation,
    v: &mut Verdict,
) {
    let facts = PassFacts::new(history, pass, ops, obs);
    let mut out = Findings {
        pass: history.pass_id(pass).to_owned(),
        verdict: v,
    };
    check_replies(&facts, &mut out);
    check_stored_once(&facts, &mut out);
    check_max_uses(&facts, &mut out);
    let not_found = check_lost_ok(&facts, &mut out);
    check_use_count(&facts, &mut out);
    check_revokes(&facts, &mut out);
    if !obs.scans_complete {
        out.note(format!(
            "pass {}: its scan list hit the admin API's limit; {not_found} granted scan(s) could not be looked up",
            history.pass_id(pass)
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
    for s in &f.granted {
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

/// **over_grant**: never more grants than `max_uses`: the stored counter,
/// then (unless an annul gave a use back) the granted scans in the log, then
/// the scans answered `granted`, each added to the uses before the run. One
/// violation at most, for the first count found over.
fn check_max_uses(f: &PassFacts<'_>, out: &mut Findings<'_>) {
    let Some(max) = f.obs.max_uses else {
        return;
    };
    let before = u64::from(f.obs.uses_before);
    let over = |count: usize| !f.annulled && count as u64 + before > u64::from(max);
    if f.obs.uses > max {
        let detail = format!("uses = {} is over max_uses = {max}", f.obs.uses);
        out.push(Rule::OverGrant, f.granted_ids(), detail);
    } else if over(f.granted.len()) {
        let detail = format!(
            "{} granted scans in the log with max_uses = {max}",
            f.granted.len()
        );
        out.push(Rule::OverGrant, f.granted_ids(), detail);
    } else if over(f.ok_ids.len()) {
        let detail = format!(
            "{} scans answered granted with max_uses = {max}",
            f.ok_ids.len()
        );
        out.push(Rule::OverGrant, f.ok_ids.clone(), detail);
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
    let ok = f.ok_ids.len() as u64;
    let info = f.info_ids.len() as u64;
    let granted = f.granted.len() as u64;
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
            f.ok_ids.clone(),
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
            f.granted_ids(),
            format!("uses grew by {run_uses} but the log holds {granted} grants of this run"),
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
    let after: Vec<String> = f
        .granted
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
            .filter(|(_, s)| s.state() == State::Ok && s.earliest_sent_ms.is_some_and(|t| t > done))
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
