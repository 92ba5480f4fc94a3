//! The event floor (`--floor`, issue 29): the tool describes an event of
//! its own (gates `in`, `out` and `both` across three nested zones with
//! capacities, re-entry on, anti-passback strict, parent access on),
//! issues passes with zones, and sends entries and exits through the
//! zones' gates so that zones fill and empty.
//!
//! The layout, for `--gates G` (at least [`FLOOR_GATES_MIN`]): gate `i`
//! (named `gate-i`, as the devices stand) takes the role `i % 6` of
//! [`GATE_ROLES`]; zones `hall` (no parent), `stage` and `lounge` (both
//! inside `hall`). Passes come in four classes ([`CLASSES`]): `hall` only,
//! `stage` (and so `hall`, by parent access), `lounge` (and `hall`), and
//! every zone.
//!
//! Modules: [`setup`] sets the definition and issues the passes (and
//! probes whether the gateway enforces capacity); [`pick`] chooses each
//! floor scan from what the gateway last said of its pass; [`observe`]
//! reads the event's scan log and occupancy back for the checker.

pub mod observe;
pub mod pick;
pub mod setup;

use crate::devices::gate_name;
use scangate_core::event::{Direction, EventDefinition, GateDirection};
use serde::Serialize;
use std::sync::atomic::{AtomicU8, Ordering};

/// Fewest gates a floor run needs: one of each role in [`GATE_ROLES`].
pub const FLOOR_GATES_MIN: u32 = GATE_ROLES.len() as u32;
/// The zones, by index: `hall` holds the other two.
pub const ZONES: [&str; 3] = ["hall", "stage", "lounge"];
const HALL: usize = 0;
const STAGE: usize = 1;
const LOUNGE: usize = 2;
/// Each zone's parent (an index into [`ZONES`]).
const PARENTS: [Option<usize>; 3] = [None, Some(HALL), Some(HALL)];
/// Each zone's capacity as a share of the run's floor passes: the hall
/// takes half of them, each inner zone an eighth, so with more entries than
/// exits in the mix every zone fills and stays near full.
pub const CAPACITY_SHARES: [f64; 3] = [0.5, 0.125, 0.125];
/// Gate `i`'s zone and direction: role `i % 6`.
pub const GATE_ROLES: [(usize, GateDirection); 6] = [
    (HALL, GateDirection::In),
    (HALL, GateDirection::Out),
    (STAGE, GateDirection::Both),
    (LOUNGE, GateDirection::In),
    (LOUNGE, GateDirection::Out),
    (HALL, GateDirection::Both),
];
/// The pass classes' zone lists (empty: every zone).
pub const CLASSES: [&[&str]; 4] = [&["hall"], &["stage"], &["lounge"], &[]];
/// Pass `k` of the floor is of class `CLASS_OF[k % 10]`: four in ten
/// `hall`, three `stage`, two `lounge`, one every zone.
const CLASS_OF: [u8; 10] = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3];
/// Fewest passes a floor run issues (the zones' capacities are shares of them).
pub const FLOOR_PASSES_MIN: u64 = 64;
/// Scans planned per floor pass: keeps each pass's scan list well under
/// the admin API's 1,000 per request, so the checker reads it all.
pub const SCANS_PER_FLOOR_PASS: u64 = 50;
/// Most passes a floor run issues.
pub const FLOOR_PASSES_MAX: u64 = 200_000;

/// The class of the floor's `k`-th pass.
pub fn class_of(k: usize) -> u8 {
    CLASS_OF[k % CLASS_OF.len()]
}

/// Floor passes a run of `total` scans issues.
pub fn passes_for(total: u64) -> u64 {
    total
        .div_ceil(SCANS_PER_FLOOR_PASS)
        .clamp(FLOOR_PASSES_MIN, FLOOR_PASSES_MAX)
}

/// One floor scan as asked: the gate (its index; the device standing there
/// sends it), the direction sent (at a `both` gate), and whether it only
/// checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloorAsk {
    /// The gate's index (`gate-i`).
    pub gate: u32,
    /// The direction in the request (`None`: the gate's own).
    pub direction: Option<Direction>,
    /// A check-only scan.
    pub check_only: bool,
}

/// One pass of the floor: its index in the run's pools and its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloorPass {
    /// Index into the pools' passes.
    pub pass: u32,
    /// Index into [`CLASSES`].
    pub class: u8,
}

/// One gate of the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloorGate {
    /// Its zone (an index into [`ZONES`]).
    pub zone: usize,
    /// Which way it lets people pass.
    pub direction: GateDirection,
}

impl FloorGate {
    /// True when an entry may be scanned here.
    pub fn enters(&self) -> bool {
        self.direction != GateDirection::Out
    }

    /// True when an exit may be scanned here.
    pub fn exits(&self) -> bool {
        self.direction != GateDirection::In
    }

    /// The direction a scan here sends for `wanted` (only a `both` gate
    /// takes one).
    pub fn ask(&self, wanted: Direction) -> Option<Direction> {
        (self.direction == GateDirection::Both).then_some(wanted)
    }
}

/// The floor of a run: the definition the tool sets, and its gates and
/// zones by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloorLayout {
    /// The definition, as set on the gateway.
    pub definition: EventDefinition,
    /// Gate `i`'s zone and direction.
    pub gates: Vec<FloorGate>,
    /// Each zone's capacity (`None`: no limit), by index into [`ZONES`].
    pub capacities: [Option<u64>; 3],
    /// Whether a pass of class `c` may pass a gate of zone `z`:
    /// `admitted[c][z]`, from the definition's rule, worked out once (the
    /// picker asks it for every gate of every pass it tries).
    admitted: [[bool; 3]; 4],
}

/// What a layout cannot be built from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LayoutError(String);

impl FloorLayout {
    /// The layout for `gates` gates and `passes` floor passes; zones get
    /// their capacities only when `capacity` is on.
    pub fn new(gates: u32, passes: u64, capacity: bool) -> Result<Self, LayoutError> {
        if gates < FLOOR_GATES_MIN {
            return Err(LayoutError(format!(
                "--floor needs at least {FLOOR_GATES_MIN} gates (one of each role), not {gates}"
            )));
        }
        let floor_gates: Vec<FloorGate> = (0..gates as usize)
            .map(|i| {
                let (zone, direction) = GATE_ROLES[i % GATE_ROLES.len()];
                FloorGate { zone, direction }
            })
            .collect();
        let capacities = CAPACITY_SHARES
            .map(|share| capacity.then(|| ((passes as f64 * share).floor() as u64).max(1)));
        let json = serde_json::json!({
            "gates": floor_gates.iter().enumerate().map(|(i, g)| serde_json::json!({
                "name": gate_name(i as u32),
                "zone": ZONES[g.zone],
                "direction": g.direction,
            })).collect::<Vec<_>>(),
            "zones": (0..ZONES.len()).map(|z| {
                let mut zone = serde_json::json!({"name": ZONES[z]});
                if let Some(parent) = PARENTS[z] {
                    zone["parent"] = ZONES[parent].into();
                }
                if let Some(c) = capacities[z] {
                    zone["capacity"] = c.into();
                }
                zone
            }).collect::<Vec<_>>(),
            "policy": {"reentry": true, "anti_passback": "strict", "parent_access": true},
        });
        let definition: EventDefinition = serde_json::from_value(json)
            .map_err(|e| LayoutError(format!("the floor's definition does not parse: {e}")))?;
        definition
            .validate()
            .map_err(|p| LayoutError(format!("the floor's definition is refused: {p}")))?;
        let admitted = CLASSES.map(|class| {
            let zones: Vec<String> = class.iter().map(|z| (*z).to_owned()).collect();
            ZONES.map(|zone| definition.admits(&zones, zone))
        });
        Ok(FloorLayout {
            definition,
            gates: floor_gates,
            capacities,
            admitted,
        })
    }

    /// The index of zone `name`.
    pub fn zone_index(name: &str) -> Option<usize> {
        ZONES.iter().position(|z| *z == name)
    }

    /// Whether a pass of `class` may pass a gate of zone `zone` (the
    /// definition's own rule, parent access included).
    pub fn admits(&self, class: u8, zone: usize) -> bool {
        self.admitted
            .get(usize::from(class))
            .and_then(|c| c.get(zone))
            .copied()
            .unwrap_or(false)
    }

    /// Whether zone `inner` is `outer` or lies inside it.
    pub fn within(&self, inner: usize, outer: usize) -> bool {
        self.definition.within(ZONES[inner], ZONES[outer])
    }
}

/// What the tool last heard of each pass's presence (from the `guard`
/// view of its scans' replies), by pool index: what the picker reads to
/// send exits to passes inside and entries to the others. A belief, not a
/// fact: scans in flight may change it; the checker judges the store.
#[derive(Debug)]
pub struct Belief {
    states: Vec<AtomicU8>,
}

/// Where the tool believes a pass is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Where {
    /// Outside, or left.
    Out,
    /// Inside this zone (index into [`ZONES`]).
    Inside(usize),
}

impl Belief {
    /// Every one of `passes` outside.
    pub fn new(passes: usize) -> Self {
        Belief {
            states: (0..passes).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// Where pass `pass` is believed to be.
    pub fn get(&self, pass: u32) -> Where {
        match self
            .states
            .get(pass as usize)
            .map(|s| s.load(Ordering::Relaxed))
        {
            Some(z @ 1..) => Where::Inside(usize::from(z - 1)),
            _ => Where::Out,
        }
    }

    /// What a reply's guard view said: inside `zone`, or not inside.
    pub fn heard(&self, pass: u32, inside: Option<bool>, zone: Option<&str>) {
        let state = match (inside, zone.and_then(FloorLayout::zone_index)) {
            (Some(true), Some(z)) => u8::try_from(z + 1).unwrap_or(0),
            (Some(false), _) => 0,
            // Nothing said (an event without a definition): keep the belief.
            _ => return,
        };
        if let Some(s) = self.states.get(pass as usize) {
            s.store(state, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_a_valid_definition_with_every_role() {
        let l = FloorLayout::new(8, 400, true).expect("layout");
        assert_eq!(l.definition.gates.len(), 8);
        assert_eq!(l.capacities, [Some(200), Some(50), Some(50)]);
        assert_eq!(l.definition.gates[2].name, "gate-2");
        assert!(l.gates[2].enters() && l.gates[2].exits());
        assert!(!l.gates[1].enters() && l.gates[1].exits());
        assert!(l.within(1, 0) && !l.within(0, 1));
        // Parent access: a stage pass enters the hall, a hall pass not the stage.
        assert!(l.admits(1, HALL) && !l.admits(0, STAGE) && l.admits(3, LOUNGE));
        let open = FloorLayout::new(6, 400, false).expect("layout");
        assert_eq!(open.capacities, [None, None, None]);
        assert!(open.definition.zones.iter().all(|z| z.capacity.is_none()));
        let e = FloorLayout::new(5, 400, true).expect_err("too few gates");
        assert!(e.to_string().contains("at least 6 gates"), "{e}");
    }

    #[test]
    fn the_belief_follows_what_replies_say() {
        let b = Belief::new(2);
        assert_eq!(b.get(0), Where::Out);
        b.heard(0, Some(true), Some("stage"));
        assert_eq!(b.get(0), Where::Inside(STAGE));
        b.heard(0, None, None);
        assert_eq!(b.get(0), Where::Inside(STAGE));
        b.heard(0, Some(false), None);
        assert_eq!(b.get(0), Where::Out);
        assert_eq!(b.get(9), Where::Out);
    }
}
