//! The rule function on a defined event: the sequences with a
//! fixed `now`, and a property over any sequence of entries and exits.

use super::tests::example;
use super::*;
use crate::decision::{Decision, Reason};
use crate::pass::{Pass, Presence};
use crate::rules::{ScanContext, apply, decide};
use proptest::prelude::*;

const NOW: i64 = 1_500;

fn pass(max_uses: Option<u32>) -> Pass {
    Pass {
        max_uses,
        ..crate::pass::tests::sample()
    }
}

fn scan<'a>(
    def: &'a EventDefinition,
    gate: &'a str,
    direction: Option<Direction>,
) -> ScanContext<'a> {
    ScanContext {
        event: None,
        gate,
        token_not_after_ms: None,
        token_generation: None,
        definition: Some(def),
        direction,
    }
}

/// Decides and applies, as the protocol does after a durable commit.
fn run(p: &mut Pass, ctx: &ScanContext<'_>) -> Decision {
    let out = decide(p, ctx, NOW);
    apply(p, out.change);
    out.decision
}

#[test]
fn entry_exit_reentry_with_strict_anti_passback() {
    // The test 1, as rules: entry, entry again, exit, entry again,
    // exit, exit while outside.
    let def = example();
    let mut p = pass(Some(1));
    let entry = scan(&def, "north", None);
    let exit = scan(&def, "north-out", None);
    assert_eq!(run(&mut p, &entry), Decision::Granted);
    assert_eq!(p.uses, 1);
    assert_eq!(run(&mut p, &entry), Decision::Denied(Reason::AlreadyInside));
    assert_eq!(run(&mut p, &exit), Decision::Granted);
    assert_eq!(
        (p.uses, p.presence),
        (1, Presence::Left),
        "an exit spends nothing"
    );
    assert_eq!(
        run(&mut p, &entry),
        Decision::Granted,
        "re-entry on a used-up count"
    );
    assert_eq!(p.uses, 1, "re-entry does not spend max_uses");
    assert_eq!(run(&mut p, &exit), Decision::Granted);
    assert_eq!(run(&mut p, &exit), Decision::Denied(Reason::NotInside));
    assert_eq!(p.uses, 1);
}

#[test]
fn without_reentry_an_entry_after_an_exit_is_an_admission() {
    let mut def = example();
    def.policy.reentry = false;
    let mut p = pass(Some(1));
    assert_eq!(run(&mut p, &scan(&def, "north", None)), Decision::Granted);
    assert_eq!(
        run(&mut p, &scan(&def, "north-out", None)),
        Decision::Granted
    );
    assert_eq!(
        run(&mut p, &scan(&def, "north", None)),
        Decision::Denied(Reason::UsedUp)
    );
}

#[test]
fn gate_and_zone_denials_come_after_the_pass_rules() {
    let def = example();
    let mut p = pass(Some(1));
    p.zones = vec!["hall".into()];
    let vip = scan(&def, "vip-door", Some(Direction::In));
    assert_eq!(run(&mut p, &vip), Decision::Denied(Reason::WrongZone));
    let nowhere = scan(&def, "south", None);
    assert_eq!(run(&mut p, &nowhere), Decision::Denied(Reason::UnknownGate));
    let both = scan(&def, "vip-door", None);
    assert_eq!(
        run(&mut p, &both),
        Decision::Denied(Reason::DirectionNeeded)
    );
    p.status = crate::Status::Revoked;
    assert_eq!(run(&mut p, &nowhere), Decision::Denied(Reason::Revoked));
    assert_eq!(p.presence, Presence::Outside, "denials move no one");
}

#[test]
fn a_vip_pass_enters_the_parent_zone_only_with_parent_access() {
    let mut def = example();
    let mut p = pass(None);
    p.zones = vec!["vip".into()];
    let hall = scan(&def, "north", None);
    assert_eq!(run(&mut p, &hall), Decision::Denied(Reason::WrongZone));
    def.policy.parent_access = true;
    let hall = scan(&def, "north", None);
    assert_eq!(run(&mut p, &hall), Decision::Granted);
    let vip = scan(&def, "vip-door", Some(Direction::In));
    assert_eq!(run(&mut p, &vip), Decision::Granted);
    assert_eq!(p.uses, 1, "hall then vip is one admission");
}

#[test]
fn without_a_definition_direction_is_ignored() {
    let mut p = pass(Some(2));
    let ctx = ScanContext {
        event: None,
        gate: "anywhere",
        token_not_after_ms: None,
        token_generation: None,
        definition: None,
        direction: Some(Direction::Out),
    };
    assert_eq!(run(&mut p, &ctx), Decision::Granted);
    assert_eq!((p.uses, p.presence), (1, Presence::Outside));
}

proptest! {
    /// Any sequence of scans at the example's gates: admissions never pass
    /// max_uses, exits never spend, and with strict anti-passback every
    /// granted entry from outside finds the pass outside.
    #[test]
    fn admissions_stay_within_max_uses(
        max in 1u32..4,
        reentry in any::<bool>(),
        scans in proptest::collection::vec(0u8..4, 0..60),
    ) {
        let mut def = example();
        def.policy.reentry = reentry;
        let mut p = pass(Some(max));
        for s in scans {
            let (gate, dir) = match s {
                0 => ("north", None),
                1 => ("north-out", None),
                2 => ("vip-door", Some(Direction::In)),
                _ => ("vip-door", Some(Direction::Out)),
            };
            let before = (p.uses, p.presence);
            let out = decide(&p, &scan(&def, gate, dir), NOW);
            apply(&mut p, out.change);
            prop_assert!(p.uses <= max);
            if s == 1 || s == 3 {
                prop_assert_eq!(p.uses, before.0, "an exit never spends");
            }
            if out.decision == Decision::Denied(Reason::AlreadyInside) {
                prop_assert!(before.1.is_inside());
            }
        }
    }
}
