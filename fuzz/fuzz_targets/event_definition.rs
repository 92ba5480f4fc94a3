//! Feeds arbitrary bytes to an event definition as `PUT /v1/events/{event}`
//! reads it (`scangate_api::from_json_object`, then `validate`). Must never
//! panic, and must keep what a stored definition relies on:
//!
//! - a refused definition names 1 to `PROBLEMS_MAX` problems, and its
//!   answer's text can be written;
//! - an accepted one has 1 to `EVENT_GATES_MAX` gates, at most
//!   `EVENT_ZONES_MAX` zones, every gate's zone defined, no zone inside
//!   itself, and every gate resolves for its own direction;
//! - it comes back equal from the store's encoding (named MessagePack, as
//!   `scangate_storage::record::encode_named` writes it: a definition that
//!   did not would stop the next start) and from the JSON the API answers
//!   with (a client may PUT back what it read).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate_core::event::{
    Direction, EVENT_GATES_MAX, EVENT_ZONES_MAX, EventDefinition, GateDirection, PROBLEMS_MAX,
};

fn accepted(def: &EventDefinition) {
    assert!((1..=EVENT_GATES_MAX).contains(&def.gates.len()));
    assert!(def.zones.len() <= EVENT_ZONES_MAX);
    for gate in &def.gates {
        assert!(def.zone(&gate.zone).is_some(), "gate {:?}", gate.name);
        let asked = match gate.direction {
            GateDirection::Out => Direction::Out,
            GateDirection::In | GateDirection::Both => Direction::In,
        };
        let at = def.at_gate(&gate.name, Some(asked)).expect("its own gate");
        assert!(def.within(at.zone, at.zone));
        assert!(def.admits(&[], at.zone));
    }
    for zone in &def.zones {
        // Following parents ends at a zone with none, within the bound.
        let mut at = zone;
        for _ in 0..=EVENT_ZONES_MAX {
            match at.parent.as_deref() {
                Some(parent) => at = def.zone(parent).expect("a defined parent"),
                None => break,
            }
        }
        assert!(at.parent.is_none(), "zone {:?} has no root", zone.name);
        assert!(def.within(&zone.name, &at.name));
    }
    let stored = rmp_serde::to_vec_named(def).expect("encodes");
    let loaded: EventDefinition = rmp_serde::from_slice(&stored).expect("decodes");
    assert_eq!(&loaded, def, "the store's copy differs");
    let answered = serde_json::to_vec(def).expect("JSON");
    let read_back: EventDefinition =
        scangate_api::from_json_object(&answered).expect("its own JSON reads");
    assert_eq!(&read_back, def, "the API's copy differs");
}

fuzz_target!(|data: &[u8]| {
    let Ok(def) = scangate_api::from_json_object::<EventDefinition>(data) else {
        return;
    };
    match def.validate() {
        Ok(()) => accepted(&def),
        Err(problems) => {
            assert!((1..=PROBLEMS_MAX).contains(&problems.problems.len()));
            assert!(!problems.to_string().is_empty());
        }
    }
});
