//! The definition's checks and the movement rules, with fixed inputs.

use super::*;
use crate::decision::Reason;
use crate::pass::presence::{Presence, ZoneName};

/// The issue's minimal definition, as it stands.
pub(crate) const ISSUE_EXAMPLE: &str = r#"
{"gates": [{"name": "north", "zone": "hall", "direction": "in"},
           {"name": "north-out", "zone": "hall", "direction": "out"},
           {"name": "vip-door", "zone": "vip", "direction": "both"}],
 "zones": [{"name": "hall", "capacity": 5}, {"name": "vip", "parent": "hall"}],
 "policy": {"reentry": true, "anti_passback": "strict"}}"#;

pub(crate) fn example() -> EventDefinition {
    serde_json::from_str(ISSUE_EXAMPLE).expect("the issue's example parses")
}

fn inside(zone: &str) -> Presence {
    Presence::Inside(ZoneName::new(zone).expect("zone"))
}

#[test]
fn the_issues_example_is_accepted_as_it_stands() {
    let def = example();
    assert_eq!(def.validate(), Ok(()));
    assert_eq!(def.gates.len(), 3);
    assert_eq!(def.zone("hall").and_then(|z| z.capacity), Some(5));
    assert!(def.policy.reentry);
    assert_eq!(def.policy.anti_passback, AntiPassback::Strict);
    assert!(!def.policy.parent_access, "off unless said");
    assert!(def.within("vip", "hall"));
    assert!(!def.within("hall", "vip"));
}

#[test]
fn every_problem_is_named_at_once() {
    let def: EventDefinition = serde_json::from_str(
        r#"{"gates": [{"name": "a", "zone": "nowhere", "direction": "in"},
                      {"name": "a", "zone": "x", "direction": "out"}],
            "zones": [{"name": "x", "parent": "y", "capacity": -1},
                      {"name": "y", "parent": "x"},
                      {"name": "z", "parent": "ghost"},
                      {"name": "z"}]}"#,
    )
    .expect("well-formed JSON");
    let problems = def.validate().expect_err("inconsistent").problems;
    let expect = [
        Problem::DuplicateZone { name: "z".into() },
        Problem::NegativeCapacity {
            zone: "x".into(),
            capacity: -1,
        },
        Problem::UnknownParent {
            zone: "z".into(),
            parent: "ghost".into(),
        },
        Problem::ZoneCycle { zone: "x".into() },
        Problem::ZoneCycle { zone: "y".into() },
        Problem::DuplicateGate { name: "a".into() },
        Problem::UnknownZone {
            gate: "a".into(),
            zone: "nowhere".into(),
        },
    ];
    for p in &expect {
        assert!(problems.contains(p), "{p} missing from {problems:?}");
    }
    assert_eq!(problems.len(), expect.len(), "{problems:?}");
}

#[test]
fn limits_are_named_and_problems_are_bounded() {
    let gates = (0..EVENT_GATES_MAX + 1)
        .map(|i| GateDef {
            name: format!("g{i}"),
            zone: "ghost".into(),
            direction: GateDirection::In,
            position: None,
        })
        .collect();
    let zones = (0..EVENT_ZONES_MAX + 1)
        .map(|i| ZoneDef {
            name: format!("z{i}"),
            capacity: None,
            parent: None,
        })
        .collect();
    let def = EventDefinition {
        gates,
        zones,
        policy: Policy::default(),
    };
    let err = def.validate().expect_err("too big");
    assert_eq!(
        err.problems[..2],
        [
            Problem::TooManyGates {
                count: EVENT_GATES_MAX + 1,
                max: EVENT_GATES_MAX
            },
            Problem::TooManyZones {
                count: EVENT_ZONES_MAX + 1,
                max: EVENT_ZONES_MAX
            }
        ]
    );
    assert_eq!(err.problems.len(), PROBLEMS_MAX);
    assert_eq!(err.more, 2 + EVENT_GATES_MAX + 1 - PROBLEMS_MAX);
    assert!(err.to_string().contains("more"));
    let empty = EventDefinition {
        gates: vec![],
        zones: vec![],
        policy: Policy::default(),
    };
    assert_eq!(
        empty.validate().expect_err("no gate").problems,
        [Problem::NoGates]
    );
}

#[test]
fn unknown_fields_and_directions_are_refused() {
    let typo = r#"{"gates": [], "zone": []}"#;
    assert!(serde_json::from_str::<EventDefinition>(typo).is_err());
    let sideways = r#"{"gates": [{"name": "a", "zone": "x", "direction": "sideways"}]}"#;
    assert!(serde_json::from_str::<EventDefinition>(sideways).is_err());
}

#[test]
fn a_gate_resolves_its_direction() {
    let def = example();
    let dir = |gate, asked| def.at_gate(gate, asked).map(|at| at.direction);
    assert_eq!(dir("north", None), Ok(Direction::In));
    assert_eq!(dir("north", Some(Direction::In)), Ok(Direction::In));
    assert_eq!(
        dir("north", Some(Direction::Out)),
        Err(Reason::WrongDirection)
    );
    assert_eq!(dir("north-out", None), Ok(Direction::Out));
    assert_eq!(
        dir("north-out", Some(Direction::In)),
        Err(Reason::WrongDirection)
    );
    assert_eq!(dir("vip-door", None), Err(Reason::DirectionNeeded));
    assert_eq!(dir("vip-door", Some(Direction::Out)), Ok(Direction::Out));
    assert_eq!(dir("south", None), Err(Reason::UnknownGate));
}

#[test]
fn zones_admit_their_own_and_parents_only_when_the_policy_says() {
    let mut def = example();
    let vip = vec!["vip".to_owned()];
    let hall = vec!["hall".to_owned()];
    assert!(def.admits(&[], "hall"), "no zones: every zone");
    assert!(def.admits(&vip, "vip"));
    assert!(!def.admits(&vip, "hall"), "parent_access is off");
    assert!(!def.admits(&hall, "vip"), "never a child zone");
    def.policy.parent_access = true;
    assert!(def.admits(&vip, "hall"));
    assert!(!def.admits(&hall, "vip"), "never a child zone");
}

#[test]
fn entries_and_exits_move_presence_as_the_rules_say() {
    let def = example();
    let at = |gate, d| def.at_gate(gate, d).expect("gate");
    let north = at("north", None);
    let out = at("north-out", None);
    let vip_in = at("vip-door", Some(Direction::In));
    let vip_out = at("vip-door", Some(Direction::Out));

    let m = step(&north, Presence::Outside).expect("first entry");
    assert!(m.admission);
    assert_eq!(m.after, inside("hall"));
    assert_eq!(step(&north, inside("hall")), Err(Reason::AlreadyInside));
    assert_eq!(step(&north, inside("vip")), Err(Reason::AlreadyInside));
    let deeper = step(&vip_in, inside("hall")).expect("hall to vip");
    assert!(!deeper.admission, "a move deeper spends nothing");
    assert_eq!(deeper.after, inside("vip"));
    let back = step(&vip_out, inside("vip")).expect("vip to hall");
    assert_eq!(back.after, inside("hall"), "leaving vip is being in hall");
    let gone = step(&out, inside("vip")).expect("out of hall from vip");
    assert_eq!(gone.after, Presence::Left);
    assert!(!gone.admission);
    assert_eq!(step(&out, Presence::Left), Err(Reason::NotInside));
    assert_eq!(step(&out, Presence::Outside), Err(Reason::NotInside));
    let again = step(&north, Presence::Left).expect("re-entry");
    assert!(!again.admission, "re-entry is free with reentry: true");

    let mut strictless = example();
    strictless.policy.anti_passback = AntiPassback::Off;
    strictless.policy.reentry = false;
    let north = strictless.at_gate("north", None).expect("gate");
    let out = strictless.at_gate("north-out", None).expect("gate");
    let twice = step(&north, inside("hall")).expect("off: no denial");
    assert!(
        twice.admission,
        "off: an entry while inside is an admission"
    );
    assert!(step(&north, Presence::Left).expect("entry").admission);
    let noop = step(&out, Presence::Outside).expect("off: exit granted");
    assert_eq!(noop.after, Presence::Outside, "and changes nothing");
}

#[test]
fn a_retention_period_is_optional_and_bounded() {
    let mut def = example();
    assert_eq!(def.policy.retention_s, None, "the gateway's default");
    for ok in [1, 86_400, RETENTION_S_MAX] {
        def.policy.retention_s = Some(ok);
        assert_eq!(def.validate(), Ok(()), "{ok}");
    }
    for bad in [0, RETENTION_S_MAX + 1, u64::MAX] {
        def.policy.retention_s = Some(bad);
        let problems = def.validate().expect_err("out of range").problems;
        assert_eq!(
            problems,
            vec![Problem::RetentionOutOfRange {
                retention_s: bad,
                max: RETENTION_S_MAX
            }]
        );
        assert!(problems[0].to_string().contains("policy.retention_s"));
    }
    let parsed: EventDefinition = serde_json::from_str(
        r#"{"gates": [{"name": "n", "zone": "hall", "direction": "in"}],
            "zones": [{"name": "hall"}], "policy": {"retention_s": 3600}}"#,
    )
    .expect("parses");
    assert_eq!(parsed.policy.retention_s, Some(3600));
    let text = serde_json::to_string(&example()).expect("json");
    assert!(!text.contains("retention_s"), "left out when unset: {text}");
}

#[test]
fn an_events_flag_policy_is_checked_with_every_problem_named() {
    let mut def = example();
    def.policy.flags = Some(
        serde_json::from_value(serde_json::json!({
            "deny": ["rapid_rescan", "forgery_burst"],
            "walking": [{"from": "north", "to": "south", "seconds": 30}],
            "positions": [{"gate": "vip-door", "x_m": 0, "y_m": 0}],
            "walking_speed_mm_per_s": 0
        }))
        .expect("a flag policy"),
    );
    let problems = def.validate().expect_err("refused").problems;
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems.contains(&Problem::FlagGate {
        field: "walking",
        gate: "south".into()
    }));
    let text = def.validate().expect_err("refused").to_string();
    assert!(text.contains("forgery_burst"), "{text}");
    assert!(text.contains("walking_speed_mm_per_s"), "{text}");
    // A good one is accepted and read back as it was written.
    let mut good = example();
    good.policy.flags = Some(crate::flags::FlagPolicy {
        deny: [crate::flags::Flag::RapidRescan].into(),
        ..Default::default()
    });
    assert_eq!(good.validate(), Ok(()));
    let json = serde_json::to_string(&good).expect("json");
    let back: EventDefinition = serde_json::from_str(&json).expect("back");
    assert_eq!(back, good);
    assert!(
        !serde_json::to_string(&example())
            .expect("json")
            .contains("flags"),
        "absent when not set"
    );
}
