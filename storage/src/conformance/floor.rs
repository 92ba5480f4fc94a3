//! Event definitions and presence: what every backend keeps of the event floor.

use super::fixtures::{expect_conflict, inserted, now_ms, scan, unique};
use crate::Store;
use scangate_core::event::{
    AntiPassback, Direction, EventDefinition, GateDef, GateDirection, Movement, Policy, ZoneDef,
};
use scangate_core::pass::{Presence, ZoneName};
use scangate_core::{Decision, Reason};
use std::sync::Arc;

fn definition(hall_capacity: i64) -> EventDefinition {
    let gate = |name: &str, direction| GateDef {
        name: name.into(),
        zone: "hall".into(),
        direction,
        position: None,
    };
    EventDefinition {
        gates: vec![
            gate("north", GateDirection::In),
            gate("north-out", GateDirection::Out),
        ],
        zones: vec![ZoneDef {
            name: "hall".into(),
            capacity: Some(hall_capacity),
            parent: None,
        }],
        policy: Policy {
            reentry: true,
            anti_passback: AntiPassback::Strict,
            ..Policy::default()
        },
    }
}

/// A definition stored is loaded back; a second put replaces it; the list
/// holds it; an event without one loads `None`.
pub async fn event_definitions_round_trip(store: Arc<dyn Store>) {
    let (a, b) = unique();
    let event = format!("conf-ev-{a:x}-{b:x}");
    assert_eq!(store.load_event(&event).await.expect("load"), None);
    store.put_event(&event, &definition(5)).await.expect("put");
    assert_eq!(
        store.load_event(&event).await.expect("load"),
        Some(definition(5))
    );
    store
        .put_event(&event, &definition(7))
        .await
        .expect("replace");
    assert_eq!(
        store.load_event(&event).await.expect("load"),
        Some(definition(7)),
        "the last put wins"
    );
    let all = store.list_events().await.expect("list");
    assert!(
        all.iter().any(|(e, d)| *e == event && *d == definition(7)),
        "listed"
    );
}

fn moved(before: Presence, after: Presence, direction: Direction, admission: bool) -> Movement {
    Movement {
        direction,
        zone: ZoneName::new("hall").expect("zone"),
        before,
        after,
        admission,
    }
}

/// A granted entry or exit sets presence with its count in one commit, on
/// the condition that presence is where the decision read it; an exit or a
/// free re-entry spends no use, even on a used-up pass.
pub async fn entries_and_exits_keep_presence_conditionally(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(1)).await;
    let hall = Presence::Inside(ZoneName::new("hall").expect("zone"));
    let now = now_ms();
    let mut entry = scan(pass.id, Decision::Granted, 1, now);
    entry.movement = Some(Box::new(moved(
        Presence::Outside,
        hall,
        Direction::In,
        true,
    )));
    store.commit_scan(entry).await.expect("entry");
    let loaded = store.load_pass(pass.id).await.expect("load").expect("pass");
    assert_eq!((loaded.uses, loaded.presence), (1, hall));

    // Decided from a presence the store no longer holds: refused.
    let mut stale = scan(pass.id, Decision::Granted, 1, now + 1);
    stale.movement = Some(Box::new(moved(Presence::Left, hall, Direction::In, false)));
    expect_conflict(&store, stale, pass.id, 1).await;

    let denial = scan(pass.id, Decision::Denied(Reason::AlreadyInside), 1, now + 2);
    store.commit_scan(denial).await.expect("denial");

    let mut exit = scan(pass.id, Decision::Granted, 1, now + 3);
    exit.movement = Some(Box::new(moved(hall, Presence::Left, Direction::Out, false)));
    store.commit_scan(exit).await.expect("exit");
    let loaded = store.load_pass(pass.id).await.expect("load").expect("pass");
    assert_eq!((loaded.uses, loaded.presence), (1, Presence::Left));

    let mut again = scan(pass.id, Decision::Granted, 1, now + 4);
    again.movement = Some(Box::new(moved(Presence::Left, hall, Direction::In, false)));
    store
        .commit_scan(again)
        .await
        .expect("free re-entry at max_uses");
    let loaded = store.load_pass(pass.id).await.expect("load").expect("pass");
    assert_eq!((loaded.uses, loaded.presence), (1, hall));

    // An admission beyond max_uses is refused whatever the presence says.
    let mut over = scan(pass.id, Decision::Granted, 2, now + 5);
    over.movement = Some(Box::new(moved(hall, hall, Direction::In, true)));
    expect_conflict(&store, over, pass.id, 1).await;
}
