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
//!
//! And for scans a device granted offline (a run with an outage), where
//! the pass's counter is online grants plus offline grants and an offline
//! grant may go beyond `max_uses`: **over_grant** then counts online grants
//! only; the revoke rules judge online grants only; and
//! - **offline_lost**: every offline grant was acknowledged by the gateway
//!   (none refused for good, none left in a device's queue);
//! - **unflagged_conflict**: every offline grant stored beyond `max_uses`
//!   has an `over_limit` conflict, and every one the device made at or after
//!   the pass's revoke a `revoked_before_scan` one;
//! - **unfounded_conflict**: no such conflict without that cause.
//!
//! And for an event floor run (`--floor`), the rules of `floor` (zone
//! capacity, presence never negative, exits and re-entries spend no use,
//! check-only scans never stored, presence and occupancy read back as
//! replayed); there the use-count rules above count admissions only (an
//! exit, a re-entry and a move deeper are grants that spend no use).
//!
//! This file holds the verdict and what the rules read (each scan id's
//! summary, each pass's facts); `rules` holds one function per rule.

use crate::history::{History, Op, Outcome, PassObservation, StoredScan, UploadOp, last_uploads};
use crate::mix::ScanKind;
use scangate_core::AdminAction;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub mod floor;
mod rules;

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
    /// An offline grant never acknowledged by the gateway.
    OfflineLost,
    /// An offline grant that broke a rule without the gateway's conflict.
    UnflaggedConflict,
    /// A conflict the stored scan gives no cause for.
    UnfoundedConflict,
    /// A zone above its capacity after a granted entry (event floor).
    OverCapacity,
    /// An exit granted to a pass not inside the gate's zone.
    NegativePresence,
    /// An entry granted to a pass already inside (strict anti-passback).
    EntryWhileInside,
    /// An exit that raised the use count.
    ExitSpentUse,
    /// A re-entry or a move deeper that raised the use count.
    ReentrySpentUse,
    /// A pass's presence read back is not where its scans lead.
    PresenceMismatch,
    /// A zone's occupancy read back is not what the scans add up to.
    OccupancyMismatch,
    /// A check-only scan was stored in the scan log.
    CheckRecorded,
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
    /// How many scan ids were involved in all (`scans` shows the first few).
    pub scans_involved: usize,
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
    /// Violations per rule (every rule of [`Verdict::violations`], counted).
    pub by_rule: BTreeMap<Rule, usize>,
    /// The event floor's figures (a `--floor` run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<floor::FloorFigures>,
}

/// What the ops of one scan id add up to.
#[derive(Debug, Default)]
struct ScanSummary {
    granted: bool,
    /// Granted by the device alone (offline).
    offline_grant: bool,
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
                self.offline_grant |= op.offline;
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
    check_all(history, observed, None)
}

/// [`check`], and for an event floor run the floor's rules over `floor`
/// (the event's scan log and occupancy read back). A floor run without
/// it cannot be judged: every pass is then unchecked.
pub fn check_all(
    history: &History,
    observed: &HashMap<u32, PassObservation>,
    floor: Option<&crate::floor::observe::FloorObservation>,
) -> Verdict {
    let mut v = Verdict::default();
    let (admissions, judged) = match (&history.floor, floor) {
        (Some(h), Some(seen)) => (Some(floor::judge(history, h, seen, observed, &mut v)), true),
        (Some(_), None) => {
            v.notes
                .push("the event's scan log was not read back: the floor is not judged".into());
            (None, false)
        }
        (None, _) => (None, true),
    };
    let mut by_pass: BTreeMap<u32, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        match op.outcome {
            Outcome::Ok => v.ok += 1,
            Outcome::Fail(_) => v.fail += 1,
            Outcome::Info(_) => v.info += 1,
        }
        let forbidden = matches!(
            op.kind,
            ScanKind::Forged | ScanKind::Unknown | ScanKind::Expired | ScanKind::WrongZone
        );
        if forbidden && op.outcome == Outcome::Ok {
            v.violations.push(Violation {
                rule: Rule::UnexpectedGrant,
                pass: op
                    .pass
                    .map_or("-".into(), |p| history.pass_id(p).to_owned()),
                scans: vec![history.scan_id(op.scan)],
                scans_involved: 1,
                detail: format!("a scan of kind {} was granted", op.kind),
            });
        }
        // A check-only scan is answered but never counted: the floor's
        // rules judge it.
        if let (Some(p), false) = (op.pass, op.floor.is_some_and(|f| f.check_only)) {
            by_pass.entry(p).or_default().push(op);
        }
    }
    for revoke in &history.revokes {
        by_pass.entry(revoke.pass).or_default();
    }
    let uploads = last_uploads(&history.uploads);
    for (pass, ops) in by_pass {
        match observed.get(&pass) {
            Some(obs) if judged => {
                v.passes_checked += 1;
                let facts =
                    PassFacts::new(history, (pass, &ops), obs, &uploads, admissions.as_ref());
                rules::check_pass(&facts, &mut v);
            }
            _ => v.unchecked.push(history.pass_id(pass).to_owned()),
        }
    }
    v.violations
        .sort_by(|a, b| (a.rule, &a.pass).cmp(&(b.rule, &b.pass)));
    for x in &v.violations {
        *v.by_rule.entry(x.rule).or_default() += 1;
    }
    v.valid = v.violations.is_empty() && v.unchecked.is_empty();
    v
}

fn shown(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    ids.into_iter().take(SCANS_SHOWN_MAX).collect()
}

/// One pass's findings: its violations and notes go to the verdict.
struct Findings<'v> {
    pass: String,
    verdict: &'v mut Verdict,
}

impl Findings<'_> {
    fn push(&mut self, rule: Rule, scans: Vec<String>, detail: String) {
        self.verdict.violations.push(Violation {
            rule,
            pass: self.pass.clone(),
            scans_involved: scans.len(),
            scans: shown(scans),
            detail,
        });
    }

    fn note(&mut self, note: String) {
        self.verdict.notes.push(note);
    }
}

/// What one pass's checks read: the tool's side (per scan id) and the
/// store's side (this run's records in the scan log).
struct PassFacts<'h> {
    history: &'h History,
    pass: u32,
    obs: &'h PassObservation,
    summaries: BTreeMap<u64, ScanSummary>,
    /// Scan ids answered `granted`.
    ok_ids: Vec<String>,
    /// Scan ids with no answer (and no decision on another attempt).
    info_ids: Vec<String>,
    /// An operator annulled a scan of the pass: it gave a use back.
    annulled: bool,
    /// This run's records in the scan log, by scan id.
    stored: HashMap<&'h str, Vec<&'h StoredScan>>,
    /// This run's granted records in the scan log.
    granted: Vec<&'h StoredScan>,
    /// Of those, the ones that spend a use (all of them but on an event
    /// floor, where exits, re-entries and moves deeper do not).
    counting: Vec<&'h StoredScan>,
    /// Scan ids answered `granted` whose grant spends a use.
    ok_counting: Vec<String>,
    /// Scan ids a device granted offline.
    offline_ids: HashSet<String>,
    /// The last upload of each offline grant, by sequence number.
    uploads: &'h HashMap<u64, &'h UploadOp>,
    /// The kinds the gateway flagged, by scan id.
    flags: HashMap<&'h str, BTreeSet<&'h str>>,
}

impl<'h> PassFacts<'h> {
    fn new(
        history: &'h History,
        (pass, ops): (u32, &[&Op]),
        obs: &'h PassObservation,
        uploads: &'h HashMap<u64, &'h UploadOp>,
        admissions: Option<&HashSet<String>>,
    ) -> Self {
        let spends = |id: &str| admissions.is_none_or(|a| a.contains(id));
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
        let (ok_ids, info_ids) = (ids_in(State::Ok), ids_in(State::Info));
        let offline_ids = summaries
            .iter()
            .filter(|(_, s)| s.offline_grant)
            .map(|(seq, _)| history.scan_id(*seq))
            .collect();
        let mut flags: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for c in &obs.conflicts {
            flags.entry(&c.scan_id).or_default().insert(&c.kind);
        }
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
        let granted: Vec<&StoredScan> = ours.into_iter().filter(|s| s.granted).collect();
        PassFacts {
            history,
            pass,
            obs,
            summaries,
            ok_counting: ok_ids.iter().filter(|id| spends(id)).cloned().collect(),
            ok_ids,
            info_ids,
            annulled: obs.audit.iter().any(|a| a.action == AdminAction::Annul),
            stored,
            counting: granted
                .iter()
                .copied()
                .filter(|s| spends(&s.scan_id))
                .collect(),
            granted,
            offline_ids,
            uploads,
            flags,
        }
    }

    /// Granted records of scans not granted offline (online grants).
    fn online_granted(&self) -> Vec<&'h StoredScan> {
        let online = |s: &&StoredScan| !self.offline_ids.contains(&s.scan_id);
        self.granted.iter().copied().filter(online).collect()
    }

    /// Online grants that spend a use.
    fn online_counting(&self) -> Vec<&'h StoredScan> {
        let online = |s: &&StoredScan| !self.offline_ids.contains(&s.scan_id);
        self.counting.iter().copied().filter(online).collect()
    }

    fn counting_ids(&self) -> Vec<String> {
        self.counting.iter().map(|s| s.scan_id.clone()).collect()
    }
}

#[cfg(test)]
#[path = "checker_tests.rs"]
mod tests;
