//! Zone occupancy: who is inside each zone of one event now, and whether
//! an entry finds a place, as pure counting (the owner that serializes it,
//! one lock per event, lives in `scangate-actors`).
//!
//! The rules:
//! - A zone's occupancy counts every pass inside it or inside a zone
//!   within it (a holder in `vip`, inside `hall`, is in the hall too), so
//!   `hall`'s capacity bounds `hall` and `vip` together.
//! - The counts are kept by innermost zone (a pass's durable presence):
//!   `inside` holds what the store made durable, `held` the places reserved
//!   for entries whose commit is not in yet. A zone's occupancy for an
//!   entry's check is both together, so an entry never finds a place that
//!   an earlier entry still in flight was given.
//! - An entry needs a place in every zone it enters ([`entered`]: the gate's
//!   zone and its ancestors, less those the pass was inside already); a zone
//!   without a capacity always has one. An exit needs none and frees its
//!   places only once committed.
//! - The counts are a function of the passes' durable presence: rebuilt at
//!   start from the store ([`ZoneCounts::add`]), then moved by every
//!   committed movement ([`ZoneCounts::apply`]). They do not depend on the
//!   definition, which may change while people are inside; the definition
//!   only names the capacities and the nesting.

use super::{EVENT_ZONES_MAX, EventDefinition, Movement, ZoneDef};
use crate::pass::presence::{Presence, ZoneName};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most zone names one event's counts keep apart: the zones of the current
/// definition (at most [`EVENT_ZONES_MAX`]) and room for as many again
/// that people are still inside after a definition renamed or dropped
/// them. Anyone inside a zone beyond it is counted in
/// [`ZoneCounts::elsewhere`] only (in no defined zone either way).
pub const ZONE_NAMES_MAX: usize = 2 * EVENT_ZONES_MAX;

/// An entry that finds no place: this zone holds its capacity already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFull {
    /// The first full zone the entry would enter.
    pub zone: String,
}

/// One zone's line in an occupancy report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ZoneCount {
    /// The zone.
    pub zone: String,
    /// The zone it lies inside, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Passes inside it (or inside a zone within it) now, as the store holds
    /// them (entries whose commit is still in flight are not counted).
    pub inside: u64,
    /// How many may be inside at once; absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
    /// Places left (`capacity - inside`, never below 0); absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free: Option<u64>,
}

/// A place reserved for an entry in flight: the zone it goes into and the
/// zone the pass was in (so a move deeper into the venue holds no place in
/// the zones around it that already count the pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Place {
    after: ZoneName,
    before: Option<ZoneName>,
}

/// Who is inside each zone of one event, by innermost zone.
#[derive(Debug, Clone, Default)]
pub struct ZoneCounts {
    inside: HashMap<ZoneName, u32>,
    /// At most one entry per place key, so bounded by the zones of the
    /// definitions squared; in practice a handful.
    held: HashMap<Place, u32>,
    /// Passes inside a zone beyond [`ZONE_NAMES_MAX`] names.
    elsewhere: u32,
}

/// The zones `movement` enters, innermost first: the gate's zone (its
/// `after`) and its ancestors that the pass was not inside before.
/// An exit enters none. At most [`EVENT_ZONES_MAX`] + 1 steps.
pub fn entered<'d>(
    def: &'d EventDefinition,
    movement: &Movement,
) -> impl Iterator<Item = &'d ZoneDef> + use<'d> {
    let after = movement.after.zone().copied();
    let before = movement.before.zone().copied();
    let mut at = after.and_then(|z| def.zone(z.as_str()));
    let mut steps = 0;
    std::iter::from_fn(move || {
        while let Some(zone) = at.take() {
            steps += 1;
            if steps <= EVENT_ZONES_MAX + 1 {
                at = zone.parent.as_deref().and_then(|p| def.zone(p));
            }
            let was_inside = before.is_some_and(|b| def.within(b.as_str(), &zone.name));
            if !was_inside {
                return Some(zone);
            }
        }
        None
    })
}

/// Whether `movement` needs a place: it enters a zone with a capacity.
pub fn needs_place(def: &EventDefinition, movement: &Movement) -> bool {
    entered(def, movement).any(|z| z.capacity.is_some())
}

impl ZoneCounts {
    /// Counts a pass whose durable presence is `presence` (the rebuild).
    pub fn add(&mut self, presence: Presence) {
        if let Presence::Inside(zone) = presence {
            bump(&mut self.inside, &mut self.elsewhere, zone);
        }
    }

    /// Passes inside zones beyond [`ZONE_NAMES_MAX`] names.
    pub fn elsewhere(&self) -> u32 {
        self.elsewhere
    }

    /// Passes inside `zone` or a zone within it: durable ones, and with
    /// `held` the places reserved for entries in flight too.
    pub fn occupancy(&self, def: &EventDefinition, zone: &str, held: bool) -> u64 {
        let within = |name: &ZoneName| def.within(name.as_str(), zone);
        let durable: u64 = self
            .inside
            .iter()
            .filter(|(name, _)| within(name))
            .map(|(_, n)| u64::from(*n))
            .sum();
        let entering = |p: &Place| within(&p.after) && !p.before.as_ref().is_some_and(within);
        let pending: u64 = self
            .held
            .iter()
            .filter(|(p, _)| held && entering(p))
            .map(|(_, n)| u64::from(*n))
            .sum();
        durable + pending
    }

    /// Whether `movement` finds a place in every zone it enters, counting
    /// the places held for entries in flight.
    pub fn room(&self, def: &EventDefinition, movement: &Movement) -> Result<(), ZoneFull> {
        for zone in entered(def, movement) {
            let Some(capacity) = zone.capacity else {
                continue;
            };
            let capacity = u64::try_from(capacity).unwrap_or(0);
            if self.occupancy(def, &zone.name, true) >= capacity {
                return Err(ZoneFull {
                    zone: zone.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// Reserves a place for `movement` (an entry into a zone with a
    /// capacity) until its commit is in: `Ok(place)` is what to
    /// [`Self::release`] then; `Ok(None)` when it needs no place.
    pub fn hold(
        &mut self,
        def: &EventDefinition,
        movement: &Movement,
    ) -> Result<Option<Place>, ZoneFull> {
        if !needs_place(def, movement) {
            return Ok(None);
        }
        self.room(def, movement)?;
        let Some(after) = movement.after.zone().copied() else {
            return Ok(None);
        };
        let place = Place {
            after,
            before: movement.before.zone().copied(),
        };
        *self.held.entry(place).or_default() += 1;
        Ok(Some(place))
    }

    /// Gives back a place [`Self::hold`] reserved.
    pub fn release(&mut self, place: &Place) {
        if let Some(n) = self.held.get_mut(place) {
            debug_assert!(*n > 0, "a place is released once");
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.held.remove(place);
            }
        }
    }

    /// Places held for entries in flight.
    pub fn held(&self) -> u64 {
        self.held.values().map(|n| u64::from(*n)).sum()
    }

    /// A committed movement: the pass left `before` and is in `after`.
    pub fn apply(&mut self, movement: &Movement) {
        if let Some(zone) = movement.before.zone() {
            match self.inside.get_mut(zone) {
                Some(n) => {
                    // The store checked `before` in the commit: it was counted.
                    debug_assert!(*n > 0, "a pass leaves a zone it was counted in");
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.inside.remove(zone);
                    }
                }
                None => self.elsewhere = self.elsewhere.saturating_sub(1),
            }
        }
        if let Some(zone) = movement.after.zone() {
            bump(&mut self.inside, &mut self.elsewhere, *zone);
        }
    }

    /// Every zone of `def` with its durable occupancy, in the definition's order.
    pub fn report(&self, def: &EventDefinition) -> Vec<ZoneCount> {
        def.zones
            .iter()
            .map(|z| {
                let inside = self.occupancy(def, &z.name, false);
                let capacity = z.capacity.map(|c| u64::try_from(c).unwrap_or(0));
                ZoneCount {
                    zone: z.name.clone(),
                    parent: z.parent.clone(),
                    inside,
                    capacity,
                    free: capacity.map(|c| c.saturating_sub(inside)),
                }
            })
            .collect()
    }
}

/// One more inside `zone`, or in `elsewhere` when the map is full.
fn bump(map: &mut HashMap<ZoneName, u32>, elsewhere: &mut u32, zone: ZoneName) {
    if map.len() < ZONE_NAMES_MAX || map.contains_key(&zone) {
        *map.entry(zone).or_default() += 1;
    } else {
        *elsewhere += 1;
    }
}

#[cfg(test)]
#[path = "occupancy_tests.rs"]
mod tests;
