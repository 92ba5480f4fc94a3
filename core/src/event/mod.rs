//! An event's definition: its gates, its zones and its policy, as an
//! operator describes them once (`PUT /v1/events/{event}`), and the rules
//! of movement through them.
//!
//! An event without a definition is decided exactly as before definitions
//! existed: every grant is an admission that spends a use, and a scan's
//! `direction` is ignored.
//!
//! Modules:
//! - `validate`: every problem of an inconsistent definition, named
//!   ([`Problem`]), and the limits ([`EVENT_GATES_MAX`], [`EVENT_ZONES_MAX`]).
//! - `floor`: where a scan stands ([`EventDefinition::at_gate`]), whether a
//!   pass's zones admit to a gate's zone, and the movement a granted entry
//!   or exit makes ([`Movement`]).
//! - `occupancy`: who is inside each zone now and whether an entry finds a
//!   place ([`ZoneCounts`]; `zone_full`), as pure counting.

mod floor;
pub mod occupancy;
mod validate;

pub use floor::{AtGate, Movement, step};
pub use occupancy::{Place, ZoneCount, ZoneCounts, ZoneFull};
pub use validate::{PROBLEMS_MAX, Problem, Problems};

use crate::flags::FlagPolicy;
use crate::pass::presence::ZoneName;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where the holder of a pass finds its event's definition: a lookup that
/// never waits (the gateway's in-memory copy of the stored definitions).
pub trait Definitions: Send + Sync {
    /// The definition of `event`, if it has one.
    fn definition(&self, event: &str) -> Option<Arc<EventDefinition>>;
}

/// No event has a definition: every scan is decided as before definitions.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDefinitions;

impl Definitions for NoDefinitions {
    fn definition(&self, _event: &str) -> Option<Arc<EventDefinition>> {
        None
    }
}

/// Most gates one event may define: a stadium has a few dozen turnstile
/// banks; 512 leaves room for every door of a fairground and keeps a
/// definition (and a lookup by name) small.
pub const EVENT_GATES_MAX: usize = 512;
/// Most zones one event may define: halls, stages, lounges and backstage
/// areas of one venue; their nesting is checked for cycles in
/// `EVENT_ZONES_MAX` steps at most.
pub const EVENT_ZONES_MAX: usize = 64;
/// Largest definition as JSON text, in bytes: 512 gates with names,
/// zones and positions fit in well under this.
pub const DEFINITION_MAX_BYTES: usize = 128 * 1024;

/// What an operator says about an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventDefinition {
    /// The gates scanners stand at (1 to [`EVENT_GATES_MAX`]).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 512))]
    pub gates: Vec<GateDef>,
    /// The zones gates lead into, nested through `parent` (at most
    /// [`EVENT_ZONES_MAX`]).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub zones: Vec<ZoneDef>,
    /// How entries and exits are judged.
    #[serde(default)]
    pub policy: Policy,
}

/// One gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GateDef {
    /// The gate's name, as scanners send it.
    pub name: String,
    /// The zone an entry here leads into (an exit leaves it).
    pub zone: String,
    /// Which way people pass.
    pub direction: GateDirection,
    /// Where the gate is, in metres on the venue's own grid (for walking
    /// times between gates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

/// A gate's place on the venue's grid, in whole metres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// Metres east of the grid's origin.
    pub x_m: i32,
    /// Metres north of the grid's origin.
    pub y_m: i32,
}

/// One zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ZoneDef {
    /// The zone's name.
    pub name: String,
    /// How many may be inside at once; `None`: no limit. Signed so that a
    /// negative number is refused by name rather than as a type error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub capacity: Option<i64>,
    /// The zone this one lies inside (`vip` inside `hall`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// Which way a gate lets people pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GateDirection {
    /// Entries only.
    In,
    /// Exits only.
    Out,
    /// Both; each scan names its direction.
    Both,
}

/// The direction of one scan: an entry or an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Into the gate's zone.
    In,
    /// Out of the gate's zone.
    Out,
}

impl Direction {
    /// The contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            _ => Err(format!("unknown direction {s:?}: expected in or out")),
        }
    }
}

/// How an event judges entries and exits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Policy {
    /// An entry after an exit is granted without spending a use (`false`:
    /// every entry from outside is a new admission that spends one).
    pub reentry: bool,
    /// Whether presence denies: `strict` refuses an entry while inside
    /// (`already_inside`) and an exit while outside (`not_inside`).
    pub anti_passback: AntiPassback,
    /// A pass for a zone also admits to that zone's ancestors (a `vip`
    /// pass enters `hall` when `vip` lies inside `hall`). Never the other
    /// way: a pass for `hall` is `wrong_zone` at a `vip` gate.
    pub parent_access: bool,
    /// How long this event's scan records, audit records and offline
    /// conflicts are kept, seconds (1 to [`RETENTION_S_MAX`]); `None`: the
    /// gateway's `--retention-s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3_155_760_000_u64))]
    pub retention_s: Option<u64>,
    /// The event's own fraud-flag policy (which flags deny, the windows,
    /// walking times between its gates), in the format of
    /// `serve --flag-policy`. It wins over the gateway-wide policy for the
    /// event's passes; absent: the gateway-wide one applies.
    /// (`forgery_burst` is decided before any pass, hence any event, is
    /// known: its threshold stays gateway-wide.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<FlagPolicy>,
}

/// Longest retention an event may set, seconds (100 Julian years): past
/// the longest statutory record-keeping periods (a decade or two) with
/// room, and small enough that the cut-off in milliseconds never overflows.
pub const RETENTION_S_MAX: u64 = 100 * 31_557_600;

/// Anti-passback: whether presence denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AntiPassback {
    /// Presence is tracked but never denies; an entry while inside the same
    /// zone is a new admission (it spends a use).
    #[default]
    Off,
    /// An entry while inside is `already_inside`, an exit while not inside
    /// is `not_inside`.
    Strict,
}

impl EventDefinition {
    /// The gate named `name`.
    pub fn gate(&self, name: &str) -> Option<&GateDef> {
        self.gates.iter().find(|g| g.name == name)
    }

    /// The zone named `name`.
    pub fn zone(&self, name: &str) -> Option<&ZoneDef> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// The parent of zone `name`, if it has one (and it is a valid name).
    pub fn parent(&self, name: &str) -> Option<ZoneName> {
        let parent = self.zone(name)?.parent.as_deref()?;
        ZoneName::new(parent).ok()
    }

    /// Whether `inner` is `outer` or lies inside it (through parents, at
    /// most [`EVENT_ZONES_MAX`] steps: a validated definition has no cycle).
    pub fn within(&self, inner: &str, outer: &str) -> bool {
        let mut at = Some(inner);
        for _ in 0..=EVENT_ZONES_MAX {
            let Some(zone) = at else { return false };
            if zone == outer {
                return true;
            }
            at = self.zone(zone).and_then(|z| z.parent.as_deref());
        }
        false
    }
}

#[cfg(test)]
mod decide_tests;
#[cfg(test)]
pub(crate) mod tests;

// The OpenAPI document states these limits as literals (utoipa's attributes
// take no constants).
const _: () = assert!(EVENT_GATES_MAX == 512 && EVENT_ZONES_MAX == 64);
const _: () = assert!(RETENTION_S_MAX == 3_155_760_000);
