//! The floor's rules on hand-made histories: a clean floor passes, and each
//! doctored one (an over-capacity moment, an exit of a pass not inside,
//! an exit that spent an entry, ...) is caught by its rule.
//!
//! The layout is `FloorLayout::new(6, 2, true)`: every zone has capacity
//! 1; gate 0 enters the hall, gate 1 leaves it, gate 2 is the stage's
//! `both` gate, gate 5 the hall's.

use super::super::{Rule, Verdict, check_all};
use crate::floor::observe::{EventScan, FloorObservation, Occupancy};
use crate::floor::{FloorAsk, FloorLayout};
use crate::history::{FloorHistory, History, Op, Outcome, PassObservation, StoredScan, scan_id};
use crate::mix::ScanKind;
use scangate_core::Reason;
use scangate_core::event::Direction;
use std::collections::HashMap;
use std::sync::Arc;

const RUN: &str = "f1";

/// One scan of the story: pass, gate, asked direction, granted or not,
/// the use count after it, and whether it only checked.
#[derive(Clone, Copy)]
struct Scan {
    pass: u32,
    gate: u32,
    direction: Option<Direction>,
    granted: bool,
    uses_after: u32,
    check: bool,
    /// Decided this much later than 10 ms after the scan before.
    delay_ms: i64,
}

fn at(pass: u32, gate: u32, granted: bool, uses_after: u32) -> Scan {
    Scan {
        pass,
        gate,
        direction: None,
        granted,
        uses_after,
        check: false,
        delay_ms: 0,
    }
}

/// The history, the per-pass read-back and the floor's read-back of
/// `scans` (each decided 10 ms after the one before, plus its delay); a check-only scan is
/// stored only when `store_checks`. `ends` is each pass's presence read
/// back; `occupancy` the zones' occupancy read back.
fn world(
    scans: &[Scan],
    store_checks: bool,
    ends: &[(&str, Option<&str>)],
    occupancy: Option<Occupancy>,
) -> (History, HashMap<u32, PassObservation>, FloorObservation) {
    let mut h = History {
        run_id: RUN.into(),
        passes: (0..ends.len()).map(|p| format!("{p:032x}")).collect(),
        floor: Some(FloorHistory {
            layout: Arc::new(FloorLayout::new(6, 2, true).expect("layout")),
            event: "floor".into(),
        }),
        ..History::default()
    };
    let mut seen = FloorObservation {
        baseline: occupancy.as_ref().map(|_| Occupancy::new()),
        occupancy,
        ..FloorObservation::default()
    };
    let mut observed: HashMap<u32, PassObservation> = HashMap::new();
    let mut t = 0;
    for (i, s) in scans.iter().enumerate() {
        t += 10 + s.delay_ms;
        let seq = i as u64;
        let kind = if s.check {
            ScanKind::Check
        } else {
            ScanKind::Entry
        };
        h.ops.push(Op {
            kind,
            pass: Some(s.pass),
            scan: seq,
            sent_ms: t - 1,
            done_ms: t + 1,
            outcome: if s.granted {
                Outcome::Ok
            } else {
                Outcome::Fail(Reason::AlreadyInside)
            },
            replayed: false,
            offline: false,
            floor: Some(FloorAsk {
                gate: s.gate,
                direction: s.direction,
                check_only: s.check,
            }),
        });
        if s.check && !store_checks {
            continue;
        }
        let id = scan_id(RUN, seq);
        seen.log.push(EventScan {
            scan_id: id.clone(),
            pass: s.pass,
            gate: format!("gate-{}", s.gate),
            granted: s.granted,
            uses_after: s.uses_after,
            at_ms: t,
        });
        let obs = observed.entry(s.pass).or_insert_with(|| PassObservation {
            max_uses: Some(1),
            uses: 0,
            uses_before: 0,
            scans: vec![],
            scans_complete: true,
            audit: vec![],
            conflicts: vec![],
            presence: ("outside".into(), None),
        });
        obs.uses = s.uses_after;
        obs.scans.push(StoredScan {
            scan_id: id,
            at_ms: t,
            scanner_ms: t,
            granted: s.granted,
            reason: (!s.granted).then(|| "already_inside".to_owned()),
            uses_after: s.uses_after,
        });
    }
    for (p, (word, zone)) in ends.iter().enumerate() {
        if let Some(obs) = observed.get_mut(&(p as u32)) {
            obs.presence = ((*word).to_owned(), zone.map(str::to_owned));
        }
    }
    (h, observed, seen)
}

fn judged(w: (History, HashMap<u32, PassObservation>, FloorObservation)) -> Verdict {
    check_all(&w.0, &w.1, Some(&w.2))
}

fn rules(v: &Verdict) -> Vec<Rule> {
    v.violations.iter().map(|x| x.rule).collect()
}

fn occupancy(hall: u64, stage: u64, lounge: u64) -> Option<Occupancy> {
    Some(Occupancy::from([
        ("hall".to_owned(), hall),
        ("stage".to_owned(), stage),
        ("lounge".to_owned(), lounge),
    ]))
}

/// Pass 0 enters the hall and leaves; pass 1 enters (the one place is
/// free again); pass 0's re-entry is refused; a check of pass 1 is not
/// stored; pass 1 leaves; pass 2 enters the stage (which counts in the
/// hall too, so only now) and comes back out into the hall, both at the
/// stage's `both` gate.
fn clean() -> Vec<Scan> {
    let stage = |direction, uses_after| Scan {
        direction: Some(direction),
        ..at(2, 2, true, uses_after)
    };
    vec![
        at(0, 0, true, 1),
        at(0, 1, true, 1),
        at(1, 0, true, 1),
        at(0, 0, false, 1),
        Scan {
            check: true,
            ..at(1, 5, true, 1)
        },
        at(1, 1, true, 1),
        stage(Direction::In, 1),
        stage(Direction::Out, 1),
    ]
}

const CLEAN_ENDS: [(&str, Option<&str>); 3] =
    [("left", None), ("left", None), ("inside", Some("hall"))];

#[test]
fn a_clean_floor_passes_with_its_figures() {
    let v = judged(world(&clean(), false, &CLEAN_ENDS, occupancy(1, 0, 0)));
    assert!(v.valid, "{v:#?}");
    let f = v.floor.expect("figures");
    assert_eq!((f.entries, f.admissions, f.exits), (3, 3, 3));
    let hall = &f.zones[0];
    assert_eq!(
        (hall.capacity, hall.peak, hall.end, hall.reported_end),
        (Some(1), 1, 1, Some(1))
    );
    assert_eq!(f.zones[1].peak, 1);
    assert!(v.by_rule.is_empty());
}

#[test]
fn an_over_capacity_moment_is_caught() {
    // Two passes in a hall of one place: the second entry goes over.
    let scans = [at(0, 0, true, 1), at(1, 0, true, 1), at(1, 1, true, 1)];
    let ends = [("inside", Some("hall")), ("left", None)];
    let v = judged(world(&scans, false, &ends, None));
    assert_eq!(rules(&v), vec![Rule::OverCapacity], "{v:#?}");
    assert_eq!(v.violations[0].scans, vec![scan_id(RUN, 1)]);
    assert!(v.violations[0].detail.contains("zone hall"), "{v:#?}");
    assert_eq!(v.by_rule.get(&Rule::OverCapacity), Some(&1));
    assert_eq!(v.floor.expect("figures").zones[0].peak, 2);
}

#[test]
fn an_entry_decided_just_before_the_exit_that_freed_its_place_is_not_over() {
    // Pass 1's entry is decided 10 ms before pass 0's exit: within the
    // slack, that exit may have freed the place first.
    let scans = [at(0, 0, true, 1), at(1, 0, true, 1), at(0, 1, true, 1)];
    let ends = [("left", None), ("inside", Some("hall"))];
    let v = judged(world(&scans, false, &ends, None));
    assert!(v.valid, "{v:#?}");
    // A second later, it cannot have.
    let late = [
        scans[0],
        scans[1],
        Scan {
            delay_ms: 1_000,
            ..scans[2]
        },
    ];
    let v = judged(world(&late, false, &ends, None));
    assert_eq!(rules(&v), vec![Rule::OverCapacity], "{v:#?}");
}

#[test]
fn a_move_deeper_takes_no_second_place_in_the_zone_around() {
    // Pass 0 in the hall (full at 1), then onto the stage: the hall still
    // counts it once.
    let stage = Scan {
        direction: Some(Direction::In),
        ..at(0, 2, true, 1)
    };
    let scans = [at(0, 0, true, 1), stage];
    let v = judged(world(
        &scans,
        false,
        &[("inside", Some("stage"))],
        occupancy(1, 1, 0),
    ));
    assert!(v.valid, "{v:#?}");
    assert_eq!(v.floor.expect("figures").zones[0].peak, 1);
}

#[test]
fn an_exit_of_a_pass_not_inside_is_a_negative_presence() {
    let scans = [at(0, 1, true, 0)];
    let v = judged(world(&scans, false, &[("left", None)], None));
    assert!(rules(&v).contains(&Rule::NegativePresence), "{v:#?}");
    // The presence read back is not where the log leads (outside) either.
    assert!(rules(&v).contains(&Rule::PresenceMismatch), "{v:#?}");
}

#[test]
fn an_exit_that_spent_an_entry_is_caught() {
    let scans = [at(0, 0, true, 1), at(0, 1, true, 2)];
    let v = judged(world(&scans, false, &[("left", None)], None));
    let found = rules(&v);
    assert!(found.contains(&Rule::ExitSpentUse), "{v:#?}");
    // One admission, two uses: the counter disagrees as well.
    assert!(
        found.contains(&Rule::OverGrant) || found.contains(&Rule::CounterMismatch),
        "{v:#?}"
    );
    let spent = v
        .violations
        .iter()
        .find(|x| x.rule == Rule::ExitSpentUse)
        .expect("spent");
    assert_eq!(spent.scans, vec![scan_id(RUN, 1)]);
}

#[test]
fn a_re_entry_that_spent_an_entry_is_caught() {
    let mut scans = vec![at(0, 0, true, 1), at(0, 1, true, 1), at(0, 0, true, 2)];
    let v = judged(world(&scans, false, &[("inside", Some("hall"))], None));
    assert!(rules(&v).contains(&Rule::ReentrySpentUse), "{v:#?}");
    // The same story with the re-entry free is clean.
    scans[2].uses_after = 1;
    let v = judged(world(&scans, false, &[("inside", Some("hall"))], None));
    assert!(v.valid, "{v:#?}");
}

#[test]
fn an_entry_granted_to_a_pass_inside_is_caught() {
    let scans = [at(0, 0, true, 1), at(0, 5, true, 1)];
    let scans = [
        scans[0],
        Scan {
            direction: Some(Direction::In),
            ..scans[1]
        },
    ];
    let v = judged(world(&scans, false, &[("inside", Some("hall"))], None));
    assert_eq!(rules(&v), vec![Rule::EntryWhileInside], "{v:#?}");
}

#[test]
fn a_stored_check_a_wrong_end_and_a_wrong_occupancy_are_caught() {
    let v = judged(world(&clean(), true, &CLEAN_ENDS, occupancy(1, 0, 0)));
    assert_eq!(rules(&v), vec![Rule::CheckRecorded], "{v:#?}");
    let ends = [
        ("left", None),
        ("inside", Some("hall")),
        ("inside", Some("hall")),
    ];
    let v = judged(world(&clean(), false, &ends, occupancy(2, 1, 0)));
    let found = rules(&v);
    assert!(found.contains(&Rule::PresenceMismatch), "{v:#?}");
    let mismatched = found
        .iter()
        .filter(|r| **r == Rule::OccupancyMismatch)
        .count();
    assert_eq!(mismatched, 2, "hall and stage: {v:#?}");
}

#[test]
fn a_floor_without_its_read_back_is_not_judged() {
    let (h, observed, _) = world(&clean(), false, &CLEAN_ENDS, None);
    let v = check_all(&h, &observed, None);
    assert!(!v.valid && v.violations.is_empty());
    assert_eq!(v.unchecked.len(), 3);
}
