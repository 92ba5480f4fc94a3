//! Zone counting: places, nesting, exits, the rebuild and the report.

use super::*;
use crate::event::{Direction, EventDefinition, step};

/// hall (capacity 2) with vip (capacity 1) inside it, and a lounge with
/// no capacity inside vip.
fn venue() -> EventDefinition {
    serde_json::from_str(
        r#"{"gates": [{"name": "north", "zone": "hall", "direction": "both"},
                      {"name": "vip-door", "zone": "vip", "direction": "both"},
                      {"name": "lounge-door", "zone": "lounge", "direction": "both"}],
            "zones": [{"name": "hall", "capacity": 2},
                      {"name": "vip", "parent": "hall", "capacity": 1},
                      {"name": "lounge", "parent": "vip"}],
            "policy": {"reentry": true, "anti_passback": "strict"}}"#,
    )
    .expect("venue")
}

fn inside(zone: &str) -> Presence {
    Presence::Inside(ZoneName::new(zone).expect("zone"))
}

fn moving(def: &EventDefinition, gate: &str, dir: Direction, from: Presence) -> Movement {
    step(&def.at_gate(gate, Some(dir)).expect("gate"), from).expect("a movement")
}

#[test]
fn an_entry_holds_a_place_until_capacity_then_the_zone_is_full() {
    let def = venue();
    let mut c = ZoneCounts::default();
    let entry = moving(&def, "north", Direction::In, Presence::Outside);
    let first = c.hold(&def, &entry).expect("room").expect("a place");
    c.hold(&def, &entry).expect("room").expect("a place");
    assert_eq!(
        c.hold(&def, &entry),
        Err(ZoneFull {
            zone: "hall".into()
        }),
        "held places count"
    );
    assert_eq!(c.occupancy(&def, "hall", false), 0, "nothing durable yet");
    // A commit that did not happen gives its place back.
    c.release(&first);
    assert!(c.room(&def, &entry).is_ok());
}

#[test]
fn a_committed_entry_counts_and_an_exit_frees_its_place_once_committed() {
    let def = venue();
    let mut c = ZoneCounts::default();
    let entry = moving(&def, "north", Direction::In, Presence::Outside);
    for _ in 0..2 {
        let place = c.hold(&def, &entry).expect("room").expect("a place");
        c.release(&place);
        c.apply(&entry);
    }
    assert_eq!(c.occupancy(&def, "hall", true), 2);
    assert!(c.room(&def, &entry).is_err(), "full");
    let exit = moving(&def, "north", Direction::Out, inside("hall"));
    assert_eq!(c.hold(&def, &exit), Ok(None), "an exit needs no place");
    c.apply(&exit);
    assert_eq!(c.occupancy(&def, "hall", false), 1);
    assert!(c.room(&def, &entry).is_ok(), "the exit freed a place");
}

#[test]
fn nested_zones_count_inside_their_parents() {
    let def = venue();
    let mut c = ZoneCounts::default();
    // Straight into vip from outside: a place in vip and in hall.
    let vip = moving(&def, "vip-door", Direction::In, Presence::Outside);
    assert_eq!(
        entered(&def, &vip)
            .map(|z| z.name.as_str())
            .collect::<Vec<_>>(),
        ["vip", "hall"]
    );
    c.apply(&vip);
    assert_eq!(
        (
            c.occupancy(&def, "vip", false),
            c.occupancy(&def, "hall", false)
        ),
        (1, 1)
    );
    // Into the hall from outside: hall now holds its capacity.
    c.apply(&moving(&def, "north", Direction::In, Presence::Outside));
    let more = moving(&def, "north", Direction::In, Presence::Outside);
    assert_eq!(
        c.room(&def, &more),
        Err(ZoneFull {
            zone: "hall".into()
        })
    );
    // A move from hall into the full vip is refused by vip alone...
    let deeper = moving(&def, "vip-door", Direction::In, inside("hall"));
    assert_eq!(c.room(&def, &deeper), Err(ZoneFull { zone: "vip".into() }));
    // ...and a move from vip into the lounge (no capacity) needs no place,
    // though hall and vip are full: the pass is in both already.
    let lounge = moving(&def, "lounge-door", Direction::In, inside("vip"));
    assert!(!needs_place(&def, &lounge));
    c.apply(&lounge);
    assert_eq!(
        (
            c.occupancy(&def, "lounge", false),
            c.occupancy(&def, "vip", false)
        ),
        (1, 1)
    );
    // Leaving vip from the lounge: out of both, still in the hall.
    c.apply(&moving(&def, "vip-door", Direction::Out, inside("lounge")));
    assert_eq!(
        (
            c.occupancy(&def, "vip", false),
            c.occupancy(&def, "hall", false)
        ),
        (0, 2)
    );
}

#[test]
fn a_held_move_deeper_takes_no_second_place_in_the_zone_around_it() {
    let def = venue();
    let mut c = ZoneCounts::default();
    c.add(inside("hall"));
    let deeper = moving(&def, "vip-door", Direction::In, inside("hall"));
    c.hold(&def, &deeper)
        .expect("room")
        .expect("a place in vip");
    // hall: one durable, plus nothing for the move in flight.
    assert_eq!(c.occupancy(&def, "hall", true), 1);
    assert!(
        c.room(
            &def,
            &moving(&def, "north", Direction::In, Presence::Outside)
        )
        .is_ok()
    );
}

#[test]
fn the_rebuild_counts_presence_and_the_report_gives_capacity_and_free() {
    let def = venue();
    let mut c = ZoneCounts::default();
    for p in [
        inside("hall"),
        inside("lounge"),
        Presence::Left,
        Presence::Outside,
    ] {
        c.add(p);
    }
    let report = c.report(&def);
    let line = |zone: &str| {
        report
            .iter()
            .find(|z| z.zone == zone)
            .expect("zone")
            .clone()
    };
    assert_eq!(
        (
            line("hall").inside,
            line("hall").capacity,
            line("hall").free
        ),
        (2, Some(2), Some(0))
    );
    assert_eq!((line("vip").inside, line("vip").free), (1, Some(0)));
    assert_eq!(
        (
            line("lounge").inside,
            line("lounge").capacity,
            line("lounge").free
        ),
        (1, None, None)
    );
    assert_eq!(line("vip").parent.as_deref(), Some("hall"));
}

#[test]
fn zone_names_beyond_the_bound_are_counted_elsewhere_exactly() {
    let def = venue();
    let mut c = ZoneCounts::default();
    for i in 0..ZONE_NAMES_MAX + 3 {
        c.add(inside(&format!("old-{i}")));
    }
    assert_eq!(c.elsewhere(), 3);
    let gone = Movement {
        direction: Direction::Out,
        zone: ZoneName::new("hall").expect("zone"),
        before: inside(&format!("old-{}", ZONE_NAMES_MAX + 1)),
        after: Presence::Left,
        admission: false,
    };
    c.apply(&gone);
    assert_eq!(c.elsewhere(), 2);
    assert_eq!(c.occupancy(&def, "hall", true), 0, "none in a defined zone");
}
