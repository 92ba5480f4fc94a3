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
//! unknown keeps it, in doubt (the count errs high, never above a
//! capacity). A place in doubt is settled by the next write of the same
//! scan id, the scanner's retry: the store then says whether the first
//! write is there (`occupancy/doubt.rs`); without a retry through this gateway it
//! stays held until the next start rebuilds the counts. A hold dropped
//! unsettled (the actor stopped) gives its place back.
//!
//! One lock per event, not per zone: an entry into `vip` inside `hall`
//! checks both zones at once. It is held for counting only (no await);
//! scans of events without capacities never take it for a check, only to
//! move the counts after their commit.
//!
//! At start the counts are rebuilt from the passes' durable presence
//! ([`Occupancy::rebuild`]) before any scan is served.

mod doubt;

pub use doubt::IN_DOUBT_MAX;
use doubt::{Doubt, Doubts};
use scangate_core::event::{EventDefinition, Movement, Place, ZoneCount, ZoneCounts};
use scangate_core::protocol::Placing;
use scangate_core::{ScanId, ScanRecord};
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
    /// Places whose entry's write outcome is unknown, by scan id.
    doubts: Arc<Doubts>,
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
    /// Where a place of this write's scan id is kept in doubt: only for a
    /// write that holds a place or settles an earlier doubt (no cost to
    /// any other).
    keep: Option<(Arc<Doubts>, ScanId)>,
    /// An earlier write of the same scan id whose outcome was unknown: this
    /// write's outcome settles it.
    doubt: Option<Doubt>,
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
        let doubt = self.doubts.take(&record.scan_id);
        let keep = (hold.is_some() || doubt.is_some())
            .then(|| (Arc::clone(&self.doubts), record.scan_id.clone()));
        Moving {
            counts: movement.and_then(|_| self.counts(&record.event)),
            movement,
            hold,
            keep,
            doubt,
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
        let place = hold.as_mut().and_then(|h| h.place.take());
        let counts = hold.as_ref().map(|h| &h.counts).or(self.counts.as_ref());
        let counts = counts.map(Arc::clone);
        if unknown {
            self.leave_in_doubt(place, counts);
            return;
        }
        if let Some(earlier) = self.doubt.take()
            && let doubt::Settled::Not(earlier) = earlier.settle(written)
        {
            self.keep_doubt(earlier);
        }
        let Some(counts) = counts else {
            return;
        };
        let mut c = lock(&counts);
        if let Some(place) = &place {
            c.release(place);
        }
        if let (Ok(()), Some(m)) = (written, &self.movement) {
            c.apply(m);
        }
    }

    /// This write's outcome is unknown: its place (if it held one) stays
    /// held, in doubt, for a retry of the scan id to settle. At most one
    /// write of a scan id lands, so this place stands for an earlier one in
    /// doubt too, which is given back; a write that held none leaves an
    /// earlier doubt as it was.
    fn leave_in_doubt(&mut self, place: Option<Place>, counts: Option<Counts>) {
        let earlier = self.doubt.take();
        let (Some(place), Some(counts)) = (place, counts) else {
            if let Some(earlier) = earlier {
                self.keep_doubt(earlier);
            }
            return;
        };
        metrics::counter!("scangate_zone_places_in_doubt_total").increment(1);
        if let Some(earlier) = earlier {
            earlier.give_back();
        }
        self.keep_doubt(Doubt::new(counts, place));
    }

    /// Keeps `doubt` under this write's scan id for a later write to settle.
    fn keep_doubt(&self, doubt: Doubt) {
        // `keep` is set whenever this write holds a place or a doubt.
        if let Some((doubts, scan_id)) = &self.keep {
            doubts.keep(scan_id.clone(), doubt);
        }
    }
}

impl Drop for Moving {
    /// A write never settled (its actor stopped first) leaves the doubt it
    /// took as it was.
    fn drop(&mut self) {
        if let Some(earlier) = self.doubt.take() {
            self.keep_doubt(earlier);
        }
    }
}

#[cfg(test)]
mod tests;
