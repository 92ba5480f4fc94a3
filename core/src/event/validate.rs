//! Checking a definition: every problem is named at once, so an operator
//! fixes a file in one round; a definition with any problem is refused whole.

use super::{EVENT_GATES_MAX, EVENT_ZONES_MAX, EventDefinition, RETENTION_S_MAX};
use crate::name::check_name;
use crate::pass::GATE_MAX_BYTES;
use crate::pass::presence::ZONE_MAX_BYTES;
use serde::Serialize;
use std::collections::HashSet;
use std::fmt;

/// Most problems one answer names: a file with more is broken throughout,
/// and the first 64 show how; the count of the rest is given.
pub const PROBLEMS_MAX: usize = 64;

/// One thing wrong with a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "problem")]
#[non_exhaustive]
pub enum Problem {
    /// More gates than [`EVENT_GATES_MAX`].
    TooManyGates {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More zones than [`EVENT_ZONES_MAX`].
    TooManyZones {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A gate or zone name breaks the name rules.
    BadName {
        /// `gate`, `zone`, `gate zone` or `zone parent`.
        field: &'static str,
        /// The name, cut to its limit.
        name: String,
        /// Which rule it breaks.
        rule: String,
    },
    /// Two gates share a name.
    DuplicateGate {
        /// The name.
        name: String,
    },
    /// Two zones share a name.
    DuplicateZone {
        /// The name.
        name: String,
    },
    /// A gate leads into a zone the definition does not have.
    UnknownZone {
        /// The gate.
        gate: String,
        /// The zone it names.
        zone: String,
    },
    /// A zone's parent is not defined.
    UnknownParent {
        /// The zone.
        zone: String,
        /// The parent it names.
        parent: String,
    },
    /// A zone lies inside itself through its parents.
    ZoneCycle {
        /// The zone where the cycle was found.
        zone: String,
    },
    /// A capacity below zero.
    NegativeCapacity {
        /// The zone.
        zone: String,
        /// The capacity given.
        capacity: i64,
    },
    /// A definition with no gate cannot admit anyone.
    NoGates,
    /// A retention period outside 1 to [`RETENTION_S_MAX`] seconds.
    RetentionOutOfRange {
        /// The period given.
        retention_s: u64,
        /// The longest period allowed.
        max: u64,
    },
    /// The policy's `flags` breaks a rule of a flag policy.
    FlagPolicy {
        /// Which rule, in words.
        rule: String,
    },
    /// The policy's `flags` names a gate (walking times, positions) that
    /// the definition does not have.
    FlagGate {
        /// `walking` or `positions`.
        field: &'static str,
        /// The gate named (cut to the gate limit).
        gate: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::TooManyGates { count, max } => {
                write!(f, "{count} gates: an event has at most {max}")
            }
            Problem::TooManyZones { count, max } => {
                write!(f, "{count} zones: an event has at most {max}")
            }
            Problem::BadName { field, name, rule } => write!(f, "{field} {name:?}: {rule}"),
            Problem::DuplicateGate { name } => write!(f, "gate {name:?} is defined twice"),
            Problem::DuplicateZone { name } => write!(f, "zone {name:?} is defined twice"),
            Problem::UnknownZone { gate, zone } => {
                write!(f, "gate {gate:?} is in zone {zone:?}, which is not defined")
            }
            Problem::UnknownParent { zone, parent } => {
                write!(
                    f,
                    "zone {zone:?} has parent {parent:?}, which is not defined"
                )
            }
            Problem::ZoneCycle { zone } => {
                write!(f, "zone {zone:?} lies inside itself through its parents")
            }
            Problem::NegativeCapacity { zone, capacity } => {
                write!(
                    f,
                    "zone {zone:?} has capacity {capacity}; a capacity is 0 or more"
                )
            }
            Problem::NoGates => f.write_str("an event definition needs at least one gate"),
            Problem::RetentionOutOfRange { retention_s, max } => write!(
                f,
                "policy.retention_s {retention_s}: from 1 to {max} seconds (leave it out for the gateway's --retention-s)"
            ),
            Problem::FlagPolicy { rule } => write!(f, "policy.flags: {rule}"),
            Problem::FlagGate { field, gate } => {
                write!(f, "policy.flags.{field}: gate {gate:?} is not defined")
            }
        }
    }
}

/// Every problem of a refused definition (at most [`PROBLEMS_MAX`], and how
/// many more there were).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problems {
    /// The problems, in the order of the file.
    pub problems: Vec<Problem>,
    /// How many more were found beyond [`PROBLEMS_MAX`].
    pub more: usize,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        if self.more > 0 {
            write!(f, "; and {} more", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl Problems {
    fn push(&mut self, p: Problem) {
        if self.problems.len() < PROBLEMS_MAX {
            self.problems.push(p);
        } else {
            self.more += 1;
        }
    }

    fn name(&mut self, field: &'static str, name: &str, max: usize) {
        if let Err(e) = check_name(field, name, max) {
            let cut = &name[..name.floor_char_boundary(max)];
            self.push(Problem::BadName {
                field,
                name: cut.to_owned(),
                rule: e.to_string(),
            });
        }
    }
}

impl EventDefinition {
    /// Checks the definition; `Err` names every problem found.
    pub fn validate(&self) -> Result<(), Problems> {
        let mut out = Problems {
            problems: Vec::new(),
            more: 0,
        };
        if self.gates.is_empty() {
            out.push(Problem::NoGates);
        }
        if self.gates.len() > EVENT_GATES_MAX {
            out.push(Problem::TooManyGates {
                count: self.gates.len(),
                max: EVENT_GATES_MAX,
            });
        }
        if self.zones.len() > EVENT_ZONES_MAX {
            out.push(Problem::TooManyZones {
                count: self.zones.len(),
                max: EVENT_ZONES_MAX,
            });
        }
        if let Some(retention_s) = self
            .policy
            .retention_s
            .filter(|s| !(1..=RETENTION_S_MAX).contains(s))
        {
            out.push(Problem::RetentionOutOfRange {
                retention_s,
                max: RETENTION_S_MAX,
            });
        }
        self.check_zones(&mut out);
        self.check_gates(&mut out);
        self.check_flags(&mut out);
        if out.problems.is_empty() && out.more == 0 {
            Ok(())
        } else {
            Err(out)
        }
    }

    fn check_zones(&self, out: &mut Problems) {
        let mut seen = HashSet::with_capacity(self.zones.len());
        for zone in &self.zones {
            out.name("zone", &zone.name, ZONE_MAX_BYTES);
            if !seen.insert(zone.name.as_str()) {
                out.push(Problem::DuplicateZone {
                    name: zone.name.clone(),
                });
            }
            if let Some(capacity) = zone.capacity.filter(|c| *c < 0) {
                out.push(Problem::NegativeCapacity {
                    zone: zone.name.clone(),
                    capacity,
                });
            }
            if let Some(parent) = &zone.parent
                && self.zone(parent).is_none()
            {
                out.push(Problem::UnknownParent {
                    zone: zone.name.clone(),
                    parent: parent.clone(),
                });
            }
        }
        for zone in &self.zones {
            if self.in_cycle(&zone.name) {
                out.push(Problem::ZoneCycle {
                    zone: zone.name.clone(),
                });
            }
        }
    }

    /// Whether following parents from `start` comes back to it.
    fn in_cycle(&self, start: &str) -> bool {
        let mut at = self.zone(start).and_then(|z| z.parent.as_deref());
        // A path without a cycle has at most `zones.len()` steps.
        for _ in 0..=self.zones.len() {
            match at {
                None => return false,
                Some(zone) if zone == start => return true,
                Some(zone) => at = self.zone(zone).and_then(|z| z.parent.as_deref()),
            }
        }
        // Still walking: a cycle that does not pass through `start`; that
        // cycle's own zones report it.
        false
    }

    /// The event's flag policy: its own rules, and every gate it names is
    /// one of the definition's.
    fn check_flags(&self, out: &mut Problems) {
        let Some(flags) = &self.policy.flags else {
            return;
        };
        for problem in flags.check() {
            out.push(Problem::FlagPolicy {
                rule: problem.to_string(),
            });
        }
        let walking = flags.walking.iter().flat_map(|w| [&w.from, &w.to]);
        let named = walking.map(|g| ("walking", g));
        let placed = flags.positions.iter().map(|p| ("positions", &p.gate));
        for (field, gate) in named.chain(placed) {
            if self.gate(gate).is_none() {
                let cut = &gate[..gate.floor_char_boundary(GATE_MAX_BYTES)];
                out.push(Problem::FlagGate {
                    field,
                    gate: cut.to_owned(),
                });
            }
        }
    }

    fn check_gates(&self, out: &mut Problems) {
        let mut seen = HashSet::with_capacity(self.gates.len());
        for gate in &self.gates {
            out.name("gate", &gate.name, GATE_MAX_BYTES);
            if !seen.insert(gate.name.as_str()) {
                out.push(Problem::DuplicateGate {
                    name: gate.name.clone(),
                });
            }
            if self.zone(&gate.zone).is_none() {
                out.push(Problem::UnknownZone {
                    gate: gate.name.clone(),
                    zone: gate.zone.clone(),
                });
            }
        }
    }
}
