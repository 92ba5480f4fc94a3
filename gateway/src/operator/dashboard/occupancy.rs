//! The dashboard's occupancy panel: every zone of every defined event with
//! who is inside now against its capacity, read at each request (polled by
//! the page) from zone occupancy's owner. Counts and names only.

use crate::definitions::DefinitionCache;
use scangate_actors::occupancy::Occupancy;
use scangate_core::event::ZoneCount;
use serde::Serialize;
use std::sync::Arc;

/// Most events the panel shows (by name): a control room follows a few
/// events at once; 32 events of up to 64 zones each still fit a scrolling
/// table, and the page says how many more there are (the admin API and
/// `/metrics` have them all).
pub const PANEL_EVENTS_MAX: usize = 32;

/// What the panel reads.
#[derive(Debug, Clone)]
pub struct ZoneBoard {
    /// The definitions (zones, capacities, nesting).
    pub definitions: Arc<DefinitionCache>,
    /// Who is inside.
    pub occupancy: Arc<Occupancy>,
}

/// One event's zones on the panel.
#[derive(Debug, Serialize)]
pub struct EventZones {
    /// The event.
    pub event: String,
    /// Its zones, in the definition's order.
    pub zones: Vec<ZoneCount>,
}

/// The panel.
#[derive(Debug, Serialize)]
pub struct Panel {
    /// At most [`PANEL_EVENTS_MAX`] events, by name.
    pub events: Vec<EventZones>,
    /// Defined events left out.
    pub more: usize,
}

impl ZoneBoard {
    /// The panel now.
    pub fn panel(&self) -> Panel {
        let mut all = self.definitions.all();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let more = all.len().saturating_sub(PANEL_EVENTS_MAX);
        let events = all
            .into_iter()
            .take(PANEL_EVENTS_MAX)
            .map(|(event, def)| {
                let zones = self.occupancy.report(&event, &def).zones;
                EventZones { event, zones }
            })
            .collect();
        Panel { events, more }
    }
}
