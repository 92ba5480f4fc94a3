//! The event floor's rules (`--floor`): the run's grants replayed in the
//! gateway's order through the event's definition.
//!
//! **Order.** The event's scan log as `GET /v1/scans?event=` lists it:
//! by the gateway's decision time (`at_ms`), then, within a millisecond,
//! by the store's commit order; two grants of one pass are ordered as its
//! actor decided them. A gateway takes an entry's decision time before it
//! asks for the entry's place, and an exit frees its place once committed,
//! so an entry granted into a place an exit freed may carry an earlier
//! time than that exit when the entry waited between the two: an entry
//! that finds its zone over capacity is forgiven as many places as other
//! passes' exits from that zone decided up to [`ORDER_SLACK_MS`] after it.
//!
//! **Movement.** A stored grant's zone comes from its gate, its direction
//! from the gate or (at a `both` gate) from the request the tool sent;
//! its presence before is the replay's, and the movement is what the
//! definition's own rule ([`step`]) makes of them.
//!
//! **Occupancy.** A zone counts its holders and those of the zones inside
//! it (a holder on the `stage` is inside the `hall` too), plus the passes
//! the gateway reported inside before the run (other runs' passes).
//!
//! Rules: **over_capacity** (a zone above its capacity after a granted
//! entry), **negative_presence** (an exit granted to a pass not inside
//! the gate's zone), **entry_while_inside** (an entry granted to a pass
//! inside, under strict anti-passback), **exit_spent_use** /
//! **reentry_spent_use** (an exit, a re-entry or a move deeper that raised
//! the use count), **presence_mismatch** (a pass's presence read back is
//! not the replay's), **occupancy_mismatch** (the occupancy read back is
//! not the replay's), **check_recorded** (a check-only scan in the scan
//! log), and a grant at a gate or direction the definition refuses is
//! **unexpected_grant**. The admissions the replay finds are what the
//! use-count rules then count (see [`super::check_all`]).

use super::{Rule, Verdict, Violation, shown};
use crate::floor::observe::{EventScan, FloorObservation};
use crate::floor::{FloorLayout, ZONES};
use crate::history::{FloorHistory, History, PassObservation, scan_seq};
use scangate_core::Reason;
use scangate_core::event::{Direction, step};
use scangate_core::pass::Presence;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// How far after an over-capacity entry (its decision time) an exit of
/// another pass from the same zone still counts as having freed a place
/// before it: the time an entry may wait between its decision and its
/// place, under load, on a shared machine. A lasting excess (a lost
/// release, a place given twice) outlives it.
pub const ORDER_SLACK_MS: i64 = 100;

/// An entry that found its zone over capacity: judged once the exits
/// after it are known.
struct OverAt {
    zone: usize,
    index: usize,
    at_ms: i64,
    pass: u32,
    excess: u64,
    scan_id: String,
}

/// What the replay found per zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ZoneFigures {
    /// The zone.
    pub zone: String,
    /// Its capacity in this run (`None`: none).
    pub capacity: Option<u64>,
    /// Inside before the run, as the gateway reported (0 without the route).
    pub before: u64,
    /// The most inside at once, in the gateway's order.
    pub peak: u64,
    /// Inside at the end, by the replay.
    pub end: u64,
    /// Inside at the end, as the gateway reported (`None`: not read).
    pub reported_end: Option<u64>,
}

/// The floor's figures, in the verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FloorFigures {
    /// Per zone.
    pub zones: Vec<ZoneFigures>,
    /// Granted entries (admissions, re-entries and moves deeper).
    pub entries: u64,
    /// Of which admissions (each spent a use).
    pub admissions: u64,
    /// Granted exits.
    pub exits: u64,
}

/// The replay's state: each pass's presence and last use count, each
/// zone's count of this run's passes.
struct Replay<'a> {
    layout: &'a FloorLayout,
    presence: HashMap<u32, Presence>,
    uses: HashMap<u32, u32>,
    inside: [u64; 3],
    before: [u64; 3],
    figures: FloorFigures,
    over: Vec<OverAt>,
    /// Per zone, the exits from it: (log index, decision time, pass).
    freed: [Vec<(usize, i64, u32)>; 3],
    broken: BTreeMap<(Rule, u32), Vec<String>>,
    admissions: HashSet<String>,
}

/// The zones a holder present in `presence` counts in: its zone and every
/// zone around it.
fn counted_in(layout: &FloorLayout, presence: &Presence) -> Vec<usize> {
    let Some(zone) = presence
        .zone()
        .and_then(|z| FloorLayout::zone_index(z.as_str()))
    else {
        return Vec::new();
    };
    (0..ZONES.len())
        .filter(|z| layout.within(zone, *z))
        .collect()
}

impl Replay<'_> {
    /// The `index`-th record of the log, granted, asked in `direction`
    /// (at a `both` gate).
    fn grant(&mut self, index: usize, rec: &EventScan, direction: Option<Direction>) {
        let p = rec.pass;
        let before = self.presence.get(&p).cloned().unwrap_or_default();
        let last_uses = self.uses.insert(p, rec.uses_after).unwrap_or(0);
        let spent = rec.uses_after != last_uses;
        let at = match self.layout.definition.at_gate(&rec.gate, direction) {
            Ok(at) => at,
            Err(_) => return self.broke(Rule::UnexpectedGrant, p, rec),
        };
        let movement = match step(&at, before) {
            Ok(m) => m,
            Err(Reason::NotInside) => return self.broke(Rule::NegativePresence, p, rec),
            Err(Reason::AlreadyInside) => return self.broke(Rule::EntryWhileInside, p, rec),
            Err(_) => return self.broke(Rule::UnexpectedGrant, p, rec),
        };
        match (movement.direction, movement.admission) {
            (Direction::Out, _) => self.figures.exits += 1,
            (Direction::In, admission) => {
                self.figures.entries += 1;
                self.figures.admissions += u64::from(admission);
            }
        }
        if movement.admission {
            self.admissions.insert(rec.scan_id.clone());
        } else if spent && movement.direction == Direction::Out {
            self.broke(Rule::ExitSpentUse, p, rec);
        } else if spent {
            self.broke(Rule::ReentrySpentUse, p, rec);
        }
        let (left, entered) = (
            counted_in(self.layout, &movement.before),
            counted_in(self.layout, &movement.after),
        );
        for &z in left.iter().filter(|z| !entered.contains(z)) {
            self.inside[z] = self.inside[z].saturating_sub(1);
            self.freed[z].push((index, rec.at_ms, p));
        }
        for &z in entered.iter().filter(|z| !left.contains(z)) {
            self.inside[z] += 1;
            let now = self.before[z] + self.inside[z];
            let zone = &mut self.figures.zones[z];
            zone.peak = zone.peak.max(now);
            if let Some(excess) = self.layout.capacities[z].and_then(|c| now.checked_sub(c)) {
                self.over.push(OverAt {
                    zone: z,
                    index,
                    at_ms: rec.at_ms,
                    pass: p,
                    excess,
                    scan_id: rec.scan_id.clone(),
                });
            }
        }
        self.presence.insert(p, movement.after);
    }

    fn broke(&mut self, rule: Rule, pass: u32, rec: &EventScan) {
        let scans = self.broken.entry((rule, pass)).or_default();
        scans.push(rec.scan_id.clone());
    }
}

/// Judges the floor of `history` against what was read back; returns the
/// scan ids of the grants that are admissions (what the use-count rules
/// count).
pub(super) fn judge(
    history: &History,
    floor: &FloorHistory,
    seen: &FloorObservation,
    observed: &HashMap<u32, PassObservation>,
    v: &mut Verdict,
) -> HashSet<String> {
    let layout = &floor.layout;
    let mut asks = HashMap::new();
    for op in &history.ops {
        if let Some(ask) = op.floor {
            asks.entry(op.scan).or_insert(ask);
        }
    }
    let base = |z: usize| {
        seen.baseline
            .as_ref()
            .and_then(|b| b.get(ZONES[z]))
            .copied()
    };
    let mut replay = Replay {
        layout,
        presence: HashMap::new(),
        uses: observed.iter().map(|(p, o)| (*p, o.uses_before)).collect(),
        inside: [0; 3],
        before: [0, 1, 2].map(|z| base(z).unwrap_or(0)),
        figures: FloorFigures::default(),
        over: Vec::new(),
        freed: Default::default(),
        broken: BTreeMap::new(),
        admissions: HashSet::new(),
    };
    replay.figures.zones = (0..ZONES.len())
        .map(|z| ZoneFigures {
            zone: ZONES[z].to_owned(),
            capacity: layout.capacities[z],
            before: replay.before[z],
            peak: replay.before[z],
            ..ZoneFigures::default()
        })
        .collect();
    let mut recorded_checks = Vec::new();
    for (i, rec) in seen.log.iter().enumerate() {
        let ask = scan_seq(&history.run_id, &rec.scan_id).and_then(|s| asks.get(&s));
        match ask {
            Some(a) if a.check_only => recorded_checks.push(rec.scan_id.clone()),
            _ if rec.granted => replay.grant(i, rec, ask.and_then(|a| a.direction)),
            _ => {}
        }
    }
    report(history, &mut replay, v, recorded_checks);
    compare_end(history, &mut replay, seen, observed, v);
    v.floor = Some(std::mem::take(&mut replay.figures));
    replay.admissions
}

/// The violations the replay found, one per rule and pass (or zone).
fn report(history: &History, r: &mut Replay<'_>, v: &mut Verdict, checks: Vec<String>) {
    for ((rule, pass), scans) in std::mem::take(&mut r.broken) {
        let detail = match rule {
            Rule::NegativePresence => "exit(s) granted to a pass not inside the gate's zone",
            Rule::EntryWhileInside => {
                "entry(ies) granted to a pass already inside (strict anti-passback)"
            }
            Rule::ExitSpentUse => "exit(s) that raised the use count",
            Rule::ReentrySpentUse => "re-entry(ies) or move(s) deeper that raised the use count",
            _ => "grant(s) at a gate or in a direction the definition refuses",
        };
        let detail = format!("{} {detail}", scans.len());
        v.violations
            .push(violation(rule, history.pass_id(pass), scans, &detail));
    }
    let mut over: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for o in std::mem::take(&mut r.over)
        .into_iter()
        .filter(|o| o.excess > 0)
    {
        if !forgiven(&r.freed[o.zone], &o) {
            over.entry(o.zone).or_default().push(o.scan_id);
        }
    }
    for (z, scans) in over {
        let detail = format!(
            "zone {} went above its capacity of {} (at most {} inside) at {} granted entries",
            ZONES[z],
            r.layout.capacities[z].unwrap_or(0),
            r.figures.zones[z].peak,
            scans.len()
        );
        v.violations
            .push(violation(Rule::OverCapacity, "-", scans, &detail));
    }
    if !checks.is_empty() {
        let detail = format!("{} check-only scan(s) stored in the scan log", checks.len());
        v.violations
            .push(violation(Rule::CheckRecorded, "-", checks, &detail));
    }
}

/// Whether other passes' exits from the entry's zone, decided after it in
/// the log but within [`ORDER_SLACK_MS`] of its time, free as many places
/// as it is over (`freed` is in log order, so in time order).
fn forgiven(freed: &[(usize, i64, u32)], o: &OverAt) -> bool {
    let from = freed.partition_point(|(i, _, _)| *i <= o.index);
    let until = o.at_ms.saturating_add(ORDER_SLACK_MS);
    let later = freed[from..].iter().take_while(|(_, at, _)| *at <= until);
    let others = later.filter(|(_, _, pass)| *pass != o.pass);
    others
        .take(usize::try_from(o.excess).unwrap_or(usize::MAX))
        .count() as u64
        >= o.excess
}

/// Each pass's presence, and each zone's occupancy (where read), at the
/// end against the replay's.
fn compare_end(
    history: &History,
    r: &mut Replay<'_>,
    seen: &FloorObservation,
    observed: &HashMap<u32, PassObservation>,
    v: &mut Verdict,
) {
    let mut passes: Vec<&u32> = observed.keys().collect();
    passes.sort();
    for p in passes {
        let (word, zone) = &observed[p].presence;
        let replayed = r.presence.get(p).cloned().unwrap_or_default();
        let expected = match &replayed {
            Presence::Outside => ("outside", None),
            Presence::Left => ("left", None),
            Presence::Inside(z) => ("inside", Some(z.as_str())),
        };
        if (word.as_str(), zone.as_deref()) != expected {
            let detail = format!(
                "presence read back {word} {} but the scan log leads to {} {}",
                zone.as_deref().unwrap_or(""),
                expected.0,
                expected.1.unwrap_or("")
            );
            v.violations.push(violation(
                Rule::PresenceMismatch,
                history.pass_id(*p),
                vec![],
                &detail,
            ));
        }
    }
    for (z, figures) in r.figures.zones.iter_mut().enumerate() {
        figures.end = r.before[z] + r.inside[z];
        figures.reported_end = seen
            .occupancy
            .as_ref()
            .map(|o| o.get(ZONES[z]).copied().unwrap_or(0));
        if let Some(reported) = figures.reported_end.filter(|n| *n != figures.end) {
            let detail = format!(
                "zone {}: the gateway reports {reported} inside, the scan log leads to {}",
                ZONES[z], figures.end
            );
            v.violations
                .push(violation(Rule::OccupancyMismatch, "-", vec![], &detail));
        }
    }
}

fn violation(rule: Rule, pass: &str, scans: Vec<String>, detail: &str) -> Violation {
    Violation {
        rule,
        pass: pass.to_owned(),
        scans_involved: scans.len(),
        detail: detail.to_owned(),
        scans: shown(scans),
    }
}

#[cfg(test)]
#[path = "floor_tests.rs"]
mod tests;
