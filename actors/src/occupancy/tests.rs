//! The occupancy owner: places held, settled, left in doubt and settled
//! by a retry, with fixed definitions and store answers.

use super::*;
use scangate_core::PassId;
use scangate_core::event::step;
use std::time::Duration;

fn hall(capacity: i64) -> Arc<EventDefinition> {
    use scangate_core::event::{GateDef, GateDirection, ZoneDef};
    Arc::new(EventDefinition {
        gates: vec![GateDef {
            name: "in".into(),
            zone: "hall".into(),
            direction: GateDirection::In,
            position: None,
        }],
        zones: vec![ZoneDef {
            name: "hall".into(),
            capacity: Some(capacity),
            parent: None,
        }],
        policy: Default::default(),
    })
}

fn placing(def: &Arc<EventDefinition>) -> Placing {
    let at = def.at_gate("in", None).expect("gate");
    Placing {
        event: "fest".into(),
        definition: Arc::clone(def),
        movement: step(&at, Default::default()).expect("entry"),
        hold: true,
    }
}

fn record(p: &Placing) -> ScanRecord {
    record_of(p, "s-1")
}

/// The granted entry `p` as scan `id`.
fn record_of(p: &Placing, id: &str) -> ScanRecord {
    ScanRecord {
        gate: "in".into(),
        device: "d".into(),
        movement: Some(Box::new(p.movement)),
        ..scangate_core::testing::granted_record(id, PassId([1; 16]), 0)
    }
}

/// The retry of `p`'s scan decided from the pass it finds inside (a
/// denial: no movement, no place).
fn denied_retry(p: &Placing) -> ScanRecord {
    ScanRecord {
        decision: scangate_core::Decision::Denied(scangate_core::Reason::AlreadyInside),
        movement: None,
        ..record(p)
    }
}

fn timeout() -> Result<(), StoreError> {
    Err(StoreError::Timeout(Duration::from_secs(2)))
}

fn duplicate_of(first: ScanRecord) -> Result<(), StoreError> {
    Err(StoreError::DuplicateScanId {
        existing: Box::new(first),
    })
}

fn inside(o: &Occupancy, def: &EventDefinition) -> (u64, u64) {
    let r = o.report("fest", def);
    (r.zones[0].inside, r.held)
}

#[test]
fn a_place_is_held_until_its_commit_settles_it() {
    let def = hall(1);
    let o = Occupancy::default();
    let p = placing(&def);
    let (room, hold) = o.place(&p);
    assert!(room);
    assert_eq!(inside(&o, &def), (0, 1));
    assert!(!o.place(&p).0, "the held place is taken");
    // Nothing written: the place comes back.
    o.moving(&record(&p), hold).settle(&Err(StoreError::Busy));
    assert_eq!(inside(&o, &def), (0, 0));
    // Durable: the pass is counted inside, the hold gone.
    let (_, hold) = o.place(&p);
    o.moving(&record(&p), hold).settle(&Ok(()));
    assert_eq!(inside(&o, &def), (1, 0));
    assert!(!o.place(&p).0, "full");
}

#[test]
fn an_unknown_outcome_keeps_the_place_and_a_dropped_hold_gives_it_back() {
    let def = hall(2);
    let o = Occupancy::default();
    let p = placing(&def);
    let (_, hold) = o.place(&p);
    let timeout = Err(StoreError::Timeout(Duration::from_secs(2)));
    o.moving(&record(&p), hold).settle(&timeout);
    assert_eq!(inside(&o, &def), (0, 1), "kept: errs high");
    let (_, hold) = o.place(&p);
    drop(hold);
    assert_eq!(inside(&o, &def), (0, 1), "an abandoned hold is released");
    let mut check = placing(&def);
    check.hold = false;
    assert!(o.place(&check).0, "one place left, and a check holds none");
    assert_eq!(inside(&o, &def), (0, 1));
}

#[test]
fn a_retry_refused_as_a_duplicate_settles_the_doubt_as_written() {
    let def = hall(2);
    let o = Occupancy::default();
    let p = placing(&def);
    let (_, hold) = o.place(&p);
    o.moving(&record(&p), hold).settle(&timeout());
    assert_eq!((inside(&o, &def), o.doubts.len()), ((0, 1), 1));
    // Told nothing (busy): the doubt waits.
    o.moving(&denied_retry(&p), None)
        .settle(&Err(StoreError::Busy));
    assert_eq!((inside(&o, &def), o.doubts.len()), ((0, 1), 1));
    // The store holds the first write: the entry is inside.
    o.moving(&denied_retry(&p), None)
        .settle(&duplicate_of(record(&p)));
    assert_eq!((inside(&o, &def), o.doubts.len()), ((1, 0), 0));
}

#[test]
fn a_retry_written_settles_the_doubt_as_not_written() {
    let def = hall(2);
    let o = Occupancy::default();
    let p = placing(&def);
    let (_, hold) = o.place(&p);
    o.moving(&record(&p), hold).settle(&timeout());
    // The retry holds its own place; unknown again, one place stands
    // for both (at most one write of a scan id lands).
    let (_, hold) = o.place(&p);
    assert_eq!(inside(&o, &def), (0, 2));
    o.moving(&record(&p), hold).settle(&timeout());
    assert_eq!((inside(&o, &def), o.doubts.len()), ((0, 1), 1));
    // Written: the scan id was free, so no earlier write is there.
    let (_, hold) = o.place(&p);
    o.moving(&record(&p), hold).settle(&Ok(()));
    assert_eq!((inside(&o, &def), o.doubts.len()), ((1, 0), 0));
    assert!(o.place(&p).0, "one place left of two");
}

#[test]
fn doubts_are_bounded_and_one_beyond_stays_held() {
    let max = i64::try_from(IN_DOUBT_MAX).expect("fits");
    let def = hall(max + 10);
    let o = Occupancy::default();
    let p = placing(&def);
    for i in 0..=IN_DOUBT_MAX {
        let (_, hold) = o.place(&p);
        o.moving(&record_of(&p, &format!("s-{i}")), hold)
            .settle(&timeout());
    }
    let held = u64::try_from(IN_DOUBT_MAX + 1).expect("fits");
    assert_eq!(
        (inside(&o, &def), o.doubts.len()),
        ((0, held), IN_DOUBT_MAX)
    );
    // A scan that is no retry takes no doubt.
    let (_, hold) = o.place(&p);
    o.moving(&record_of(&p, "fresh"), hold).settle(&Ok(()));
    assert_eq!(o.doubts.len(), IN_DOUBT_MAX);
    assert_eq!(inside(&o, &def), (1, held));
}

/// The hall as the only event's definition.
struct Floor(Arc<EventDefinition>);

impl scangate_core::event::Definitions for Floor {
    fn definition(&self, event: &str) -> Option<Arc<EventDefinition>> {
        (event == "fest").then(|| Arc::clone(&self.0))
    }
}

/// Through the pass's actor on the in-memory store: an entry whose write
/// lands but is answered as a timeout leaves its place in doubt; the
/// scanner's retry of the same scan id is refused as a duplicate by the
/// store, which settles the doubt: the entry is counted inside.
#[tokio::test]
async fn a_retry_through_the_pass_actor_settles_a_place_left_in_doubt() {
    use crate::test_store::{CommitMode, MemStore};
    use crate::{Registry, RegistryConfig, Scan};
    let def = hall(5);
    let store = Arc::new(MemStore::new());
    let pass = scangate_core::testing::pass(PassId([9; 16]), Some(1));
    store.put(pass.clone());
    let floor = Arc::new(Floor(Arc::clone(&def)));
    let registry = Registry::with_definitions(store.clone(), RegistryConfig::default(), floor);
    let entry = || Scan {
        gate: "in".into(),
        ..crate::tests::scan("e-1")
    };
    store.set_mode(CommitMode::FailAfterWrite);
    let first = registry.scan(pass.id, entry()).await;
    assert!(first.is_err(), "{first:?}");
    assert_eq!(store.stored(pass.id).uses, 1, "the write landed");
    assert_eq!(inside(registry.occupancy(), &def), (0, 1), "in doubt");

    store.set_mode(CommitMode::Normal);
    let retry = registry.scan(pass.id, entry()).await.expect("the retry");
    assert!(retry.replayed, "{retry:?}");
    assert_eq!(
        inside(registry.occupancy(), &def),
        (1, 0),
        "settled: inside"
    );
}
