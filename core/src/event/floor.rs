//! Movement through a defined event: where a scan stands, whether a pass's
//! zones admit to it, and what a granted entry or exit does to presence.
//!
//! The rules of [`step`] (`Z` is the gate's zone):
//! - An entry from `Outside` is an admission (it spends a use). From `Left`
//!   it is one too unless the policy allows re-entry.
//! - An entry while inside a zone that `Z` lies within (deeper into the
//!   venue: `hall`, then `vip`) is a move; it spends nothing.
//! - An entry while inside `Z` or a zone within it, or inside a zone
//!   unrelated to `Z`, is `already_inside` with strict anti-passback; with
//!   anti-passback off it is a new admission.
//! - An exit while inside `Z` or a zone within it leaves `Z`: the holder is
//!   then in `Z`'s parent, or `Left` when `Z` has none. It never spends a use.
//! - Any other exit is `not_inside` with strict anti-passback; with
//!   anti-passback off it is granted and changes nothing.

use super::{AntiPassback, Direction, EventDefinition, GateDirection};
use crate::decision::Reason;
use crate::pass::presence::{Presence, ZoneName};
use serde::{Deserialize, Serialize};

/// Where a scan stands: a defined gate, its zone and the scan's direction.
#[derive(Debug, Clone, Copy)]
pub struct AtGate<'d> {
    /// The definition the gate belongs to.
    pub definition: &'d EventDefinition,
    /// The gate's zone.
    pub zone: &'d str,
    /// An entry or an exit.
    pub direction: Direction,
}

/// What a granted entry or exit changes, kept in its scan record so the
/// store can apply it in the same commit (and check `before` as a
/// condition, like the use count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// An entry or an exit.
    pub direction: Direction,
    /// The gate's zone.
    pub zone: ZoneName,
    /// Presence as the decision read it.
    pub before: Presence,
    /// Presence after the scan.
    pub after: Presence,
    /// Whether this is an admission to the event (it spends a use).
    pub admission: bool,
}

impl EventDefinition {
    /// Resolves a scan at gate `gate` asking `asked`: `unknown_gate` for a
    /// gate the definition lacks, `direction_needed` at a `both` gate
    /// without a direction, `wrong_direction` for an exit at an `in` gate
    /// or an entry at an `out` gate.
    pub fn at_gate(&self, gate: &str, asked: Option<Direction>) -> Result<AtGate<'_>, Reason> {
        let g = self.gate(gate).ok_or(Reason::UnknownGate)?;
        let direction = match (g.direction, asked) {
            (GateDirection::In, None | Some(Direction::In)) => Direction::In,
            (GateDirection::Out, None | Some(Direction::Out)) => Direction::Out,
            (GateDirection::Both, Some(d)) => d,
            (GateDirection::Both, None) => return Err(Reason::DirectionNeeded),
            (GateDirection::In | GateDirection::Out, Some(_)) => {
                return Err(Reason::WrongDirection);
            }
        };
        Ok(AtGate {
            definition: self,
            zone: &g.zone,
            direction,
        })
    }

    /// Whether a pass listing `pass_zones` (empty: every zone) may pass a
    /// gate of `zone`: it lists `zone`, or, with the policy's
    /// `parent_access`, a zone lying within `zone`.
    pub fn admits(&self, pass_zones: &[String], zone: &str) -> bool {
        pass_zones.is_empty()
            || pass_zones
                .iter()
                .any(|z| z == zone || (self.policy.parent_access && self.within(z, zone)))
    }
}

/// The movement a scan at `at` makes from `presence`, or the presence
/// denial (`already_inside`, `not_inside`). See the module's rules.
pub fn step(at: &AtGate<'_>, presence: Presence) -> Result<Movement, Reason> {
    let def = at.definition;
    let strict = def.policy.anti_passback == AntiPassback::Strict;
    let zone = ZoneName::new(at.zone).map_err(|_| Reason::UnknownGate)?;
    let (after, admission) = match at.direction {
        Direction::In => {
            let admission = match presence {
                Presence::Outside => true,
                Presence::Left => !def.policy.reentry,
                Presence::Inside(p) => {
                    let deeper = def.within(at.zone, p.as_str()) && p != *at.zone;
                    if deeper {
                        false
                    } else if strict {
                        return Err(Reason::AlreadyInside);
                    } else {
                        true
                    }
                }
            };
            (Presence::Inside(zone), admission)
        }
        Direction::Out => {
            let leaving = presence
                .zone()
                .is_some_and(|p| def.within(p.as_str(), at.zone));
            let after = if leaving {
                def.parent(at.zone).map_or(Presence::Left, Presence::Inside)
            } else if strict {
                return Err(Reason::NotInside);
            } else {
                presence
            };
            (after, false)
        }
    };
    Ok(Movement {
        direction: at.direction,
        zone,
        before: presence,
        after,
        admission,
    })
}
