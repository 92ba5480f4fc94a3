//! The correctness checker: a pure function from a run's [`History`] and
//! what the admin API says was stored to a [`Verdict`].
//!
//! Rules, per pass (Jepsen style: `ok` = granted, `fail` = denied, `info` =
//! unknown outcome):
//! - **over_grant**: never more grants than `max_uses` (the stored counter,
//!   the granted scans in the log, the `ok` answers).
//! - **lost_ok**: every `ok` scan is in the scan log, as granted.
//! - **uses_out_of_bounds**: `ok ≤ uses used in this run ≤ ok + info`
//!   (counted over distinct scan ids).
//! - **counter_mismatch**: the use counter equals the granted scans in the log.
//! - **double_count**: no scan id stored twice, no two grants with the same
//!   `uses_after`, no scan id granted fresh (not replayed) twice.
//! - **grant_after_revoke**: no grant stored after a revoke or suspend in the
//!   audit log (gateway order, `at` vs `at_ms`), and no grant of a scan the
//!   tool first sent after it saw the revoke complete (real time).
//! - **replay_mismatch**: a retry (same scan id) gets the first decision.
//! - **unexpected_grant**: forged, unknown and expired tokens are never granted.

use crate::history::{History, Op, Outcome, PassObservation, StoredScan};
use crate::mix::ScanKind;
use scangate_core::{AdminAction, Status};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most scan ids one violation lists (the count is always given).
pub const SCANS_SHOWN_MAX: usize = 10;

/// Which rule a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// More grants than `max_uses`.
    OverGrant,
    /// An acknowledged grant is not stored as a grant.
    LostOk,
    /// The use count is outside `[ok, ok + info]`.
    UsesOutOfBounds,
    /// The use counter disagrees with the granted scans in the log.
    CounterMismatch,
    /// One scan counted twice.
    DoubleCount,
    /// A grant ordered after a completed revoke or suspend.
    GrantAfterRevoke,
    /// A retry got another decision than the first.
    ReplayMismatch,
    /// A forged, unknown or expired token was granted.
    UnexpectedGrant,
}

/// One broken rule, naming the pass and the scans involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// The pass id, or `-` for tokens of no pass.
    pub pass: String,
    /// Scan ids involved (at most [`SCANS_SHOWN_MAX`]).
    pub scans: Vec<String>,
    /// What was seen, in one sentence.
    pub detail: String,
}

/// The checker's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// True when no rule is broken and every touched pass was read back.
    pub valid: bool,
    /// Passes checked against the store.
    pub passes_checked: usize,
    /// Scans answered `granted`.
    pub ok: u64,
    /// Scans answered `denied`.
    pub fail: u64,
    /// Scans with no answer.
    pub info: u64,
    /// Broken rules.
    pub violations: Vec<Violation>,
    /// Passes that could not be read back (the verdict is then not valid).
    pub unchecked: Vec<String>,
    /// Checks that could only be done in part, and why.
    pub notes: Vec<String>,
}

/// What the ops of one scan id add up to.
#[derive(Debug, Default)]
struct ScanSummary {
    granted: bool,
    denied: bool,
    info: bool,
    fresh_grants: u32,
    earliest_sent_ms: Option<i64>,
    decisions: BTreeSet<String>,
}

impl ScanSummary {
    fn add(&mut self, op: &Op) {
        self.earliest_sent_ms = Some(
            self.earliest_sent_ms
                .map_or(op.sent_ms, |t| t.min(op.sent_ms)),
        );
        match &op.outcome {
            Outcome::Ok => {
                self.granted = true;
                if !op.replayed {
                    self.fresh_grants += 1;
                }
                self.decisions.insert("granted".into());
            }
            Outcome::Fail(r) if r.is_transient() => {}
            Outcome::Fail(r) => {
                self.denied = true;
                self.decisions.insert(r.as_str().into());
            }
            Outcome::Info(_) => self.info = true,
        }
    }

    /// Could this scan id have been counted, and was that acknowledged?
    /// A stored denial excludes a grant (a retry is answered from it).
    fn state(&self) -> State {
        if self.granted {
            State::Ok
        } else if self.denied {
            State::Fail
        } else if self.info {
            State::Info
        } else {
            State::Fail
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ok,
    Fail,
    Info,
}

/// Checks a history against what the store holds. `observed` maps pass
/// indices of the history to what the admin API returned for them.
pub fn check(history: &History, observed: &HashMap<u32, PassObservation>) -> Verdict {
    let mut v = Verdict::default();
    let mut by_pass: BTreeMap<u32, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        match op.outcome {
            Outcome::Ok => v.ok += 1,
            Outcome::Fail(_) => v.fail += 1,
            Outcome::Info(_) => v.info += 1,
        }
        let forbidden = matches!(
            op.kind,
            ScanKind::Forged | ScanKind::Unknown | ScanKind::Expired
        );
        if forbidden && op.outcome == Outcome::Ok {
            v.violations.push(Violation {
                rule: Rule::UnexpectedGrant,
                pass: op
                    .pass
                    .map_or("-".into(), |p| history.pass_id(p).to_owned()),
                scans: vec![history.scan_id(op.scan)],
                detail: format!("a scan of kind {} was granted", op.kind),
            });
        }
        if let Some(p) = op.pass {
            by_pass.entry(p).or_default().push(op);
        }
    }
    for revoke in &history.revokes {
        by_pass.entry(revoke.pass).or_default();
    }
    for (pass, ops) in by_pass {
        match observed.get(&pass) {
            Some(obs) => {
                v.passes_checked += 1;
                check_pass(history, pass, &ops, obs, &mut v);
            }
            None => v.unchecked.push(history.pass_id(pass).to_owned()),
        }
    }
    v.violations
        .sort_by(|a, b| (a.rule, &a.pass).cmp(&(b.rule, &b.pass)));
    v.valid = v.violations.is_empty() && v.unchecked.is_empty();
    v
}

fn shown(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    ids.into_iter().take(SCANS_SHOWN_MAX).collect()
}

fn check_pass(history: &History, pass: u32, ops: &[&Op], obs: &PassObservation, v: &mut Verdict) {
    let pass_id = history.pass_id(pass).to_owned();
    let mut push = |rule: Rule, scans: Vec<String>, detail: String| {
        v.violations.push(Violation {
            rule,
            pass: pass_id.clone(),
            scans: shown(scans),
            detail,
        });
    };

    let mut summaries: BTreeMap<u64, ScanSummary> = BTreeMap::new();
    for op in ops {
        summaries.entry(op.scan).or_default().add(op);
    }
    let ids_in = |state: State| -> Vec<String> {
        summaries
            .iter()
            .filter(|(_, s)| s.state() == state)
            .map(|(seq, _)| history.scan_id(*seq))
            .collect()
    };
    let ok_ids = ids_in(State::Ok);
    let info_ids = ids_in(State::Info);

    // What the replies alone say.
    for (seq, s) in &summaries {
        if s.decisions.len() > 1 {
            let seen: Vec<&str> = s.decisions.iter().map(String::as_str).collect();
            push(
                Rule::ReplayMismatch,
                vec![history.scan_id(*seq)],
                format!("one scan id was answered {}", seen.join(" and ")),
            );
        }
        if s.fresh_grants > 1 {
            push(
                Rule::DoubleCount,
                vec![history.scan_id(*seq)],
                format!(
                    "one scan id was granted {} times without `replayed`",
                    s.fresh_grants
                ),
            );
        }
    }

    // An operator's annul gives a use back: then more grants than max_uses
    // can be right, grants can share a `uses_after`, and the counter no longer equals the grants in the log.
    let annulled = obs.audit.iter().any(|a| a.action == AdminAction::Annul);

    // The scan log: this run's records only (other scans of a pass from a file are not ours).
    let prefix = format!("{}-", history.run_id);
    let ours: Vec<&StoredScan> = obs
        .scans
        .iter()
        .filter(|s| s.scan_id.starts_with(&prefix))
        .collect();
    let mut stored: HashMap<&str, Vec<&StoredScan>> = HashMap::new();
    for s in &ours {
        stored.entry(s.scan_id.as_str()).or_default().push(s);
    }
    let mut twice: Vec<String> = stored
        .iter()
        .filter(|(_, r)| r.len() > 1)
        .map(|(id, _)| (*id).to_owned())
        .collect();
    twice.sort();
    if !twice.is_empty() {
        push(
            Rule::DoubleCount,
            twice.clone(),
            format!("{} scan id(s) stored more than once", twice.len()),
        );
    }
    let granted: Vec<&StoredScan> = ours.iter().copied().filter(|s| s.granted).collect();
    let mut by_uses: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for s in &granted {
        by_uses
            .entry(s.uses_after)
            .or_default()
            .push(s.scan_id.clone());
    }
    for (uses_after, ids) in by_uses
        .into_iter()
        .filter(|(_, ids)| !annulled && ids.len() > 1)
    {
        push(
            Rule::DoubleCount,
            ids.clone(),
            format!(
                "{} grants all recorded uses_after = {uses_after}",
                ids.len()
            ),
        );
    }

    // Limits.
    if let Some(max) = obs.max_uses {
        if obs.uses > max {
            push(
                Rule::OverGrant,
                granted.iter().map(|s| s.scan_id.clone()).collect(),
                format!("uses = {} is over max_uses = {max}", obs.uses),
            );
        } else if !annulled && granted.len() as u64 + u64::from(obs.uses_before) > u64::from(max) {
            push(
                Rule::OverGrant,
                granted.iter().map(|s| s.scan_id.clone()).collect(),
                format!(
                    "{} granted scans in the log with max_uses = {max}",
                    granted.len()
                ),
            );
        } else if !annulled && ok_ids.len() as u64 + u64::from(obs.uses_before) > u64::from(max) {
            push(
                Rule::OverGrant,
                ok_ids.clone(),
                format!(
                    "{} scans answered granted with max_uses = {max}",
                    ok_ids.len()
                ),
            );
        }
    }

    // Every ok is stored as a grant.
    let mut lost = Vec::new();
    let mut not_found = 0usize;
    for id in &ok_ids {
        match stored.get(id.as_str()) {
            Some(records) if records.iter().any(|r| r.granted) => {}
            Some(_) => lost.push(id.clone()),
            None if obs.scans_complete => lost.push(id.clone()),
            None => not_found += 1,
        }
    }
    if !lost.is_empty() {
        push(
            Rule::LostOk,
            lost.clone(),
            format!(
                "{} scan(s) answered granted are not stored as granted",
                lost.len()
            ),
        );
    }

    // ok ≤ uses of this run ≤ ok + info.
    let ok = ok_ids.len() as u64;
    let info = info_ids.len() as u64;
    match obs.uses.checked_sub(obs.uses_before).map(u64::from) {
        _ if annulled => v.notes.push(format!(
            "pass {pass_id}: an operator annulled a scan during the run; use counts not checked"
        )),
        None => push(
            Rule::UsesOutOfBounds,
            vec![],
            format!(
                "uses fell from {} to {} during the run",
                obs.uses_before, obs.uses
            ),
        ),
        Some(run_uses) if run_uses < ok => push(
            Rule::UsesOutOfBounds,
            ok_ids.clone(),
            format!("uses grew by {run_uses} but {ok} scans were answered granted"),
        ),
        Some(run_uses) if run_uses > ok + info => push(
            Rule::UsesOutOfBounds,
            info_ids.clone(),
            format!(
                "uses grew by {run_uses} but only {ok} granted + {info} unanswered scans could count"
            ),
        ),
        Some(run_uses) if obs.scans_complete && run_uses != granted.len() as u64 => push(
            Rule::CounterMismatch,
            granted.iter().map(|s| s.scan_id.clone()).collect(),
            format!(
                "uses grew by {run_uses} but the log holds {} grants of this run",
                granted.len()
            ),
        ),
        Some(_) => {}
    }

    check_revokes(history, pass, &summaries, &granted, obs, &mut push);

    if !obs.scans_complete {
        v.notes.push(format!(
            "pass {}: its scan list hit the admin API's limit; {not_found} granted scan(s) could not be looked up",
            history.pass_id(pass)
        ));
    }
}

/// Grants ordered after a revoke: in the gateway's order (the audit log) and
/// in real time (the tool saw the revoke complete before sending the scan).
fn check_revokes(
    history: &History,
    pass: u32,
    summaries: &BTreeMap<u64, ScanSummary>,
    granted: &[&StoredScan],
    obs: &PassObservation,
    push: &mut impl FnMut(Rule, Vec<String>, String),
) {
    // Blocked intervals from the audit log: [change to not active, change back).
    let mut blocked: Vec<(i64, Option<i64>)> = Vec::new();
    for a in &obs.audit {
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
    let after: Vec<String> = granted
        .iter()
        .filter(|s| inside(s.at_ms))
        .map(|s| s.scan_id.clone())
        .collect();
    if !after.is_empty() {
        push(
            Rule::GrantAfterRevoke,
            after.clone(),
            format!(
                "{} grant(s) stored after the pass was revoked or suspended at {}",
                after.len(),
                blocked.first().map_or(0, |b| b.0)
            ),
        );
    }

    let reactivated = obs.audit.iter().any(|a| a.status_after == Status::Active);
    for revoke in history.revokes.iter().filter(|r| r.pass == pass) {
        let Some(done) = revoke.completed_ms else {
            continue;
        };
        if reactivated {
            continue; // someone reactivated it; real-time order is then not ours to judge
        }
        let late: Vec<String> = summaries
            .iter()
            .filter(|(_, s)| s.state() == State::Ok && s.earliest_sent_ms.is_some_and(|t| t > done))
            .map(|(seq, _)| history.scan_id(*seq))
            .collect();
        if !late.is_empty() {
            push(
                Rule::GrantAfterRevoke,
                late.clone(),
                format!(
                    "{} scan(s) first sent after the revoke completed at {done} were granted",
                    late.len()
                ),
            );
        }
    }
}

#[cfg(test)]
#[path = "checker_tests.rs"]
mod tests;
