//! Rule 14 (a place in a zone with a capacity) and an event's own flag
//! policy, in the scan turn, with a fixed `now`.

use super::tests::{ALONE, Fault, Step, answered, pass, persisted, scan};
use super::*;
use crate::event::EventDefinition;
use crate::flags::{Flag, FlagPolicy};
use crate::pass::{Presence, ZoneName};
use crate::{Decision, Reason};
use std::sync::Arc;

fn festival() -> Arc<EventDefinition> {
    Arc::new(crate::event::tests::example())
}

/// A scan of the example event at `gate`, with its definition.
fn at(id: &str, gate: &str, def: &Arc<EventDefinition>) -> Scan {
    let mut s = scan(id);
    s.gate = gate.into();
    s.definition = Some(Arc::clone(def));
    s
}

fn placing(step: Step) -> Placing {
    match step {
        ScanStep::Place(p) => *p,
        other => panic!("expected a place step, got {other:?}"),
    }
}

#[test]
fn an_entry_into_a_zone_with_a_capacity_asks_for_a_place_before_its_write() {
    let def = festival();
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let mut turn = m.on_scan(at("in-1", "north", &def));
    let asked = placing(turn.start(10));
    assert!(asked.hold, "a real entry holds its place");
    assert_eq!(
        (asked.event.as_str(), asked.movement.zone.as_str()),
        ("fest", "hall")
    );
    let record = persisted(turn.on_place(true));
    assert_eq!(record.decision, Decision::Granted);
    assert!(record.movement.is_some());
    let out = answered(turn.on_commit(Ok(()))).expect("decided");
    assert_eq!(out.decision, Decision::Granted);
    assert!(m.pass().presence.is_inside());
}

#[test]
fn no_place_is_a_stored_zone_full_denial_that_counts_nothing() {
    let def = festival();
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let mut turn = m.on_scan(at("in-1", "north", &def));
    placing(turn.start::<Fault>(10));
    let record = persisted(turn.on_place(false));
    assert_eq!(record.decision, Decision::Denied(Reason::ZoneFull));
    assert_eq!((record.uses_after, record.movement), (0, None));
    let out = answered(turn.on_commit(Ok(()))).expect("decided");
    assert_eq!(out.decision, Decision::Denied(Reason::ZoneFull));
    assert_eq!(
        (m.pass().uses, m.pass().presence),
        (0, Presence::Outside),
        "nothing applied"
    );
}

#[test]
fn a_check_only_entry_asks_without_holding_and_writes_nothing() {
    let def = festival();
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let mut check = at("check-1", "north", &def);
    check.check_only = true;
    let mut turn = m.on_scan(check);
    let asked = placing(turn.start::<Fault>(10));
    assert!(!asked.hold, "a check only asks");
    let out = answered(turn.on_place::<Fault>(false)).expect("answered at once");
    assert_eq!(out.decision, Decision::Denied(Reason::ZoneFull));
    assert_eq!(m.pass().uses, 0);
}

#[test]
fn exits_and_zones_without_a_capacity_need_no_place() {
    let def = festival();
    let mut inside = pass(Some(1));
    inside.uses = 1;
    inside.presence = Presence::Inside(ZoneName::new("hall").expect("zone"));
    let mut m = PassMachine::new(inside, 0, ALONE);
    // hall → vip: vip has no capacity, and the pass is in hall already.
    let mut deeper = at("vip-1", "vip-door", &def);
    deeper.direction = Some(crate::event::Direction::In);
    let record = persisted(m.on_scan(deeper).start(10));
    assert_eq!(record.decision, Decision::Granted);
    // An exit frees a place; it never asks for one.
    let mut m = PassMachine::new(m.pass().clone(), 0, ALONE);
    let record = persisted(m.on_scan(at("out-1", "north-out", &def)).start(20));
    assert_eq!(record.decision, Decision::Granted);
}

#[test]
fn a_place_step_answered_out_of_turn_reads_the_store_again() {
    let mut m = PassMachine::new(pass(Some(1)), 0, ALONE);
    let mut turn = m.on_scan(scan("s1"));
    persisted(turn.start::<Fault>(10));
    assert_eq!(turn.on_place::<Fault>(true), ScanStep::Reload);
}

#[test]
fn the_events_own_flag_policy_wins_over_the_gateways() {
    let mut own = crate::event::tests::example();
    own.zones[0].capacity = None;
    own.policy.reentry = true;
    own.policy.anti_passback = crate::event::AntiPassback::Off;
    own.policy.flags = Some(FlagPolicy {
        deny: [Flag::RapidRescan].into(),
        ..FlagPolicy::default()
    });
    let def = Arc::new(own);
    // The gateway-wide policy (the machine's) denies nothing.
    let mut m = PassMachine::new(pass(None), 0, ALONE);
    let mut turn = m.on_scan(at("s1", "north", &def));
    persisted(turn.start::<Fault>(1_000));
    answered(turn.on_commit::<Fault>(Ok(()))).expect("first");
    let mut turn = m.on_scan(at("s2", "north", &def));
    let record = persisted(turn.start::<Fault>(2_000));
    assert_eq!(record.flags, vec![Flag::RapidRescan]);
    assert_eq!(record.decision, Decision::Denied(Reason::RapidRescan));
    // Without the event's policy the same rescan is only flagged.
    let mut plain = crate::event::tests::example();
    plain.zones[0].capacity = None;
    plain.policy.anti_passback = crate::event::AntiPassback::Off;
    let plain = Arc::new(plain);
    let mut m = PassMachine::new(pass(None), 0, ALONE);
    let mut turn = m.on_scan(at("s1", "north", &plain));
    persisted(turn.start::<Fault>(1_000));
    answered(turn.on_commit::<Fault>(Ok(()))).expect("first");
    let record = persisted(m.on_scan(at("s2", "north", &plain)).start::<Fault>(2_000));
    assert_eq!(
        (record.flags.as_slice(), record.decision),
        ([Flag::RapidRescan].as_slice(), Decision::Granted)
    );
}
