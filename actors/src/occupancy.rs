//! Zone occupancy's owner: one [`ZoneCounts`] per event behind its own
//! lock, so every entry into a zone with a capacity is checked and
//! reserved against every other, from any pass's actor, one at a time.
//!
//! A zone is shared by many passes, so its count cannot live in a pass's
//! actor: each pass's actor asks this owner, with its turn's
//! [`Placing`], for a place before the commit ([`Occupancy::place`]); the
//! place is held by a [`Hold`] until the write's outcome is in, then
//! settled ([`Moving::settle`]): a durable movement moves the counts, a
//! write that did not happen gives the place back, and one whose outcome is
//! unknown keeps it (the count errs high, never above a capacity, until
//! the next start rebuilds it). A hold dropped unsettled (the actor
//! stopped) gives its place back.
//!
//! One lock per event, not per zone: an entry into `vip` inside `hall`
//! checks both zones at once. It is held for counting only (no await);
//! scans of events without capacities never take it for a check, only to
//! move the counts after their commit.
//!
//! At start the counts are rebuilt from the passes' durable presence
//! ([`Occupancy::rebuild`]) before any scan is served.

use scangate_core::ScanRecord;
use scangate_core::event::{EventDefinition, Movement, Place, ZoneCount, ZoneCounts};
use scangate_core::protocol::Placing;
use scangate_storage::{EVENTS_MAX, PAGE_MAX, PassQuery, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// One event's counts, shared by the holds on them.
type Counts = Arc<Mutex<ZoneCounts>>;

/// Every event's zone counts (at most [`EVENTS_MAX`], the store's bound on
/// definitions: only an event with a definition moves anyone).
#[derive(Debug, Default)]
pub struct Occupancy {
    events: RwLock<HashMap<String, Counts>>,
}

/// An event's occupancy as an operator reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every zone of the definition, in its order.
    pub zones: Vec<ZoneCount>,
    /// Places reserved for entries whose commit is in flight.
    pub held: u64,
    /// Passes inside zones the counts no longer name apart.
    pub elsewhere: u64,
}

/// A place reserved for an entry until its commit is in; dropped unsettled,
/// it is given back.
#[derive(Debug)]
pub(crate) struct Hold {
    counts: Counts,
    place: Option<Place>,
}

/// A scan record on its way to the store, with what its commit does to the
/// counts.
#[derive(Debug)]
pub(crate) struct Moving {
    counts: Option<Counts>,
    movement: Option<Movement>,
    hold: Option<Hold>,
}

fn lock(counts: &Mutex<ZoneCounts>) -> MutexGuard<'_, ZoneCounts> {
    // Counting never panics half-way through an update that matters: a
    // poisoned lock still holds consistent counts.
    counts.lock().unwrap_or_else(|p| p.into_inner())
}

impl Occupancy {
    /// The counts of `event`, made empty on first use (an event's counts
    /// exist from its first movement, or from the rebuild).
    fn counts(&self, event: &str) -> Option<Counts> {
        let map = self.events.read().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(event) {
            return Some(Arc::clone(c));
        }
        drop(map);
        let mut map = self.events.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= EVENTS_MAX && !map.contains_key(event) {
            tracing::warn!(
                event,
                "zone counts for more events than definitions may exist"
            );
            return None;
        }
        Some(Arc::clone(map.entry(event.to_owned()).or_default()))
    }

    /// Asks for a place for `placing`'s entry: whether there is one, and
    /// the hold on it when the entry holds (not a check-only scan).
    pub(crate) fn place(&self, placing: &Placing) -> (bool, Option<Hold>) {
        let Some(counts) = self.counts(&placing.event) else {
            // No counts can be kept: no place can be promised.
            return (false, None);
        };
        let def = placing.definition.as_ref();
        let mut c = lock(&counts);
        if !placing.hold {
            return (c.room(def, &placing.movement).is_ok(), None);
        }
        match c.hold(def, &placing.movement) {
            Ok(place) => {
                drop(c);
                (true, Some(Hold { counts, place }))
            }
            Err(full) => {
                tracing::debug!(event = %placing.event, zone = %full.zone, "zone full");
                (false, None)
            }
        }
    }

    /// What committing `record` will do to the counts: a granted movement
    /// moves them; `hold` is settled with it.
    pub(crate) fn moving(&self, record: &ScanRecord, hold: Option<Hold>) -> Moving {
        let movement = record
            .movement
            .as_deref()
            .copied()
            .filter(|_| record.decision.is_granted());
        Moving {
            counts: movement.and_then(|_| self.counts(&record.event)),
            movement,
            hold,
        }
    }

    /// The occupancy of `event` under `def`; `None` before any count of it
    /// exists (no one has moved: every zone is empty).
    pub fn report(&self, event: &str, def: &EventDefinition) -> Report {
        let map = self.events.read().unwrap_or_else(|p| p.into_inner());
        let Some(counts) = map.get(event).map(Arc::clone) else {
            drop(map);
            return Report {
                zones: ZoneCounts::default().report(def),
                held: 0,
                elsewhere: 0,
            };
        };
        drop(map);
        let c = lock(&counts);
        Report {
            zones: c.report(def),
            held: c.held(),
            elsewhere: u64::from(c.elsewhere()),
        }
    }

    /// Rebuilds `events`' counts from the passes' durable presence, page by
    /// page ([`PAGE_MAX`] passes, the store's own bound per call). Call
    /// before any scan is served: movements committed meanwhile would be
    /// counted twice. Returns how many passes were found inside.
    pub async fn rebuild<'e>(
        &self,
        store: &dyn Store,
        events: impl IntoIterator<Item = &'e str>,
    ) -> Result<u64, StoreError> {
        let mut inside = 0;
        for event in events {
            let mut counts = ZoneCounts::default();
            let mut query = PassQuery {
                event: Some(event.to_owned()),
                limit: PAGE_MAX,
                ..PassQuery::default()
            };
            loop {
                let page = store.query_passes(query.clone()).await?;
                for pass in &page.items {
                    inside += u64::from(pass.presence.is_inside());
                    counts.add(pass.presence);
                }
                match page.next {
                    Some(next) => query.after = Some(next),
                    None => break,
                }
            }
            let mut map = self.events.write().unwrap_or_else(|p| p.into_inner());
            if map.len() < EVENTS_MAX || map.contains_key(event) {
                map.insert(event.to_owned(), Arc::new(Mutex::new(counts)));
            }
        }
        Ok(inside)
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(place) = self.place.take() {
            lock(&self.counts).release(&place);
        }
    }
}

impl Moving {
    /// The commit's outcome: durable moves the counts (and turns the held
    /// place into a durable one, under one lock); nothing written gives the
    /// place back; an unknown outcome keeps it held.
    pub(crate) fn settle(mut self, written: &Result<(), StoreError>) {
        let unknown = match written {
            Ok(()) => false,
            Err(
                StoreError::Busy
                | StoreError::Conflict { .. }
                | StoreError::NotFound(_)
                | StoreError::DuplicateScanId { .. },
            ) => false,
            Err(_) => true,
        };
        let mut hold = self.hold.take();
        if unknown {
            if let Some(h) = hold.as_mut().filter(|h| h.place.is_some()) {
                metrics::counter!("scangate_zone_places_in_doubt_total").increment(1);
                // Kept held: the count errs high until the next start.
                h.place = None;
            }
            return;
        }
        let place = hold.as_mut().and_then(|h| h.place.take());
        let Some(counts) = hold.as_ref().map(|h| &h.counts).or(self.counts.as_ref()) else {
            return;
        };
        let mut c = lock(counts);
        if let Some(place) = &place {
            c.release(place);
        }
        if let (Ok(()), Some(m)) = (written, &self.movement) {
            c.apply(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::event::step;
    use scangate_core::{Decision, PassId, ScanId};
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
        ScanRecord {
            scan_id: ScanId::new("s-1").expect("id"),
            pass_id: PassId([1; 16]),
            at_ms: 0,
            scanner_time_ms: 0,
            gate: "in".into(),
            device: "d".into(),
            decision: Decision::Granted,
            uses_after: 1,
            event: "fest".into(),
            annulled: None,
            offline: None,
            guard_override: None,
            flags: Vec::new(),
            movement: Some(Box::new(p.movement)),
        }
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
}
