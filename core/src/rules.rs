//! The decision function: `(pass state, scan, now) -> (decision, state change)`.
//!
//! Rules apply in this fixed order; the first that fails names the reason:
//!
//! 1. `wrong_event`   the scanner names an event and the pass belongs to another;
//!    `superseded`    the token is of an older generation than the pass (it was
//!    re-issued since: an old screenshot or a forwarded copy);
//! 2. `revoked`       the pass is revoked;
//! 3. `suspended`     the pass is suspended;
//! 4. `not_yet_valid` `now` is before `valid_from`;
//! 5. `expired`       `now` is at or after `valid_until`, or after the token's own not-after,
//!    or the pass is dynamic and the token has no not-after (a static token
//!    of a dynamic pass: an old screenshot or a printout, refused for good);
//! 6. `wrong_gate`    the pass lists gates and this gate is not among them;
//!
//! Then, only when the pass's event has a definition ([`crate::event`]):
//!
//! 7. `unknown_gate`, `direction_needed`, `wrong_direction`: the gate is not
//!    in the definition, a `both` gate got no direction, or the direction
//!    is not the gate's;
//! 8. `wrong_zone`    the pass lists zones and none admits to the gate's zone;
//! 9. `already_inside` / `not_inside`: strict anti-passback
//!    ([`event::step`](crate::event::step)).
//!
//! Last, for an admission only (every scan of an event without a
//! definition; an entry from outside, or a re-entry where the policy does
//! not allow it free):
//!
//! 10. `used_up`      `uses` has reached `max_uses`. So `max_uses` counts
//!     admissions: an exit, a move deeper into the venue and a re-entry
//!     allowed by the policy spend nothing.
//!
//! Otherwise the scan is granted: the change is "uses + 1" without a
//! definition, and the [`Movement`] (uses + 1 for an admission, the new
//! presence) with one. Token checks
//! (`malformed`, `forged`), lookup (`unknown`) and admission control (`busy`,
//! `rate_limited`) happen before this function is reached.
//!
//! [`annul`] is the rule for taking a grant back: only a granted, not yet
//! annulled scan of the same pass, within the annul window.

use crate::decision::{Decision, Reason};
use crate::event::{self, Direction, EventDefinition, Movement};
use crate::pass::{Pass, PassId, Presence, Status};
use crate::scan::ScanRecord;
use thiserror::Error;

/// How long after a grant an operator may annul it by default (15 minutes):
/// long enough to fix a mistaken scan at the gate, short enough that the
/// use count of a finished entry is settled.
pub const ANNUL_WINDOW_DEFAULT_MS: i64 = 15 * 60 * 1000;

/// What a scan asks, as far as the rules care.
#[derive(Debug, Clone, Copy)]
pub struct ScanContext<'a> {
    /// The event the scanner is configured for, if any.
    pub event: Option<&'a str>,
    /// The gate the scanner stands at.
    pub gate: &'a str,
    /// The token's own not-after (Unix milliseconds), for short-lived tokens.
    pub token_not_after_ms: Option<i64>,
    /// The pass generation the token was signed for; `None`: no token to
    /// compare (a guard's override, an offline device's own decision).
    pub token_generation: Option<u8>,
    /// The definition of the pass's event, if it has one.
    pub definition: Option<&'a EventDefinition>,
    /// The direction the scan named (needed at a `both` gate only).
    pub direction: Option<Direction>,
}

/// The state change a decision asks to persist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing changes (a denial).
    None,
    /// The pass's use count becomes `uses` (a grant).
    Use {
        /// The new use count.
        uses: u32,
    },
    /// A grant at a gate of a defined event: the use count becomes `uses`
    /// (one more for an admission, the same otherwise) and presence
    /// becomes `movement.after`.
    Move {
        /// The new use count.
        uses: u32,
        /// The entry or exit.
        movement: Movement,
    },
}

impl Change {
    /// The use count after the change, from `uses` before it.
    pub fn uses_after(&self, uses: u32) -> u32 {
        match self {
            Change::None => uses,
            Change::Use { uses } | Change::Move { uses, .. } => *uses,
        }
    }

    /// The movement, for a grant at a gate of a defined event.
    pub fn movement(&self) -> Option<Movement> {
        match self {
            Change::Move { movement, .. } => Some(*movement),
            Change::None | Change::Use { .. } => None,
        }
    }
}

/// A decision and the change that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Granted or denied, and why.
    pub decision: Decision,
    /// What to persist before the decision may be acknowledged.
    pub change: Change,
}

/// What the rules read of a pass. The gateway borrows it from a [`Pass`];
/// an offline device builds it from a snapshot entry (see
/// [`crate::offline`]), so both paths run the same rules.
#[derive(Debug, Clone, Copy)]
pub struct PassView<'a> {
    /// The event the pass belongs to.
    pub event: &'a str,
    /// Whether it may be used at all.
    pub status: Status,
    /// Start of validity (Unix ms), inclusive.
    pub valid_from_ms: Option<i64>,
    /// End of validity (Unix ms), exclusive.
    pub valid_until_ms: Option<i64>,
    /// Most grants; `None`: unlimited.
    pub max_uses: Option<u32>,
    /// Grants so far (offline: at snapshot time plus the device's own).
    pub uses: u32,
    /// Gates it admits to; empty admits to every gate.
    pub gates: &'a [String],
    /// A dynamic pass (its static token is refused as `expired`).
    pub dynamic: bool,
    /// How many times it was re-issued: the generation of its tokens.
    pub token_generation: u8,
    /// Zones it admits to; empty admits to every zone.
    pub zones: &'a [String],
    /// Where its holder is.
    pub presence: Presence,
}

impl<'a> From<&'a Pass> for PassView<'a> {
    fn from(pass: &'a Pass) -> Self {
        PassView {
            event: &pass.event,
            status: pass.status,
            valid_from_ms: pass.valid_from_ms,
            valid_until_ms: pass.valid_until_ms,
            max_uses: pass.max_uses,
            uses: pass.uses,
            gates: &pass.gates,
            dynamic: pass.dynamic_ttl_s.is_some(),
            token_generation: pass.token_generation,
            zones: &pass.zones,
            presence: pass.presence,
        }
    }
}

/// Decides a scan of `pass` at `now_ms`. Pure: the caller persists
/// `change` and only then applies it with [`apply`].
pub fn decide(pass: &Pass, scan: &ScanContext<'_>, now_ms: i64) -> Outcome {
    decide_view(&PassView::from(pass), scan, now_ms)
}

/// [`decide`] on a [`PassView`]: the one rule function of both paths.
pub fn decide_view(pass: &PassView<'_>, scan: &ScanContext<'_>, now_ms: i64) -> Outcome {
    let deny = |reason| Outcome {
        decision: Decision::Denied(reason),
        change: Change::None,
    };
    if let Some(reason) = first_failing_rule(pass, scan, now_ms) {
        return deny(reason);
    }
    let movement = match scan.definition.map(|def| floor(def, pass, scan)) {
        None => None,
        Some(Ok(movement)) => Some(movement),
        Some(Err(reason)) => return deny(reason),
    };
    let admission = movement.is_none_or(|m| m.admission);
    if admission && pass.max_uses.is_some_and(|max| pass.uses >= max) {
        return deny(Reason::UsedUp);
    }
    let uses = if admission { pass.uses + 1 } else { pass.uses };
    Outcome {
        decision: Decision::Granted,
        change: match movement {
            None => Change::Use { uses },
            Some(movement) => Change::Move { uses, movement },
        },
    }
}

/// Rules 7 to 9: the gate, the zone and presence in a defined event.
fn floor(
    def: &EventDefinition,
    pass: &PassView<'_>,
    scan: &ScanContext<'_>,
) -> Result<Movement, Reason> {
    let at = def.at_gate(scan.gate, scan.direction)?;
    if !def.admits(pass.zones, at.zone) {
        return Err(Reason::WrongZone);
    }
    event::step(&at, pass.presence)
}

fn first_failing_rule(pass: &PassView<'_>, scan: &ScanContext<'_>, now_ms: i64) -> Option<Reason> {
    if scan.event.is_some_and(|e| e != pass.event) {
        return Some(Reason::WrongEvent);
    }
    if scan
        .token_generation
        .is_some_and(|g| g != pass.token_generation)
    {
        return Some(Reason::Superseded);
    }
    match pass.status {
        Status::Revoked => return Some(Reason::Revoked),
        Status::Suspended => return Some(Reason::Suspended),
        Status::Active => {}
    }
    if pass.valid_from_ms.is_some_and(|from| now_ms < from) {
        return Some(Reason::NotYetValid);
    }
    let pass_ended = pass.valid_until_ms.is_some_and(|until| now_ms >= until);
    let token_ended = scan.token_not_after_ms.is_some_and(|na| now_ms > na);
    let static_token_of_dynamic_pass = pass.dynamic && scan.token_not_after_ms.is_none();
    if pass_ended || token_ended || static_token_of_dynamic_pass {
        return Some(Reason::Expired);
    }
    if !pass.gates.is_empty() && !pass.gates.iter().any(|g| g == scan.gate) {
        return Some(Reason::WrongGate);
    }
    None
}

/// Applies a persisted change to the in-memory pass.
pub fn apply(pass: &mut Pass, change: Change) {
    match change {
        Change::None => {}
        Change::Use { uses } => {
            debug_assert_eq!(uses, pass.uses + 1, "a grant adds exactly one use");
            debug_assert!(
                pass.max_uses.is_none_or(|max| uses <= max),
                "a pass is never used beyond max_uses"
            );
            pass.uses = uses;
        }
        Change::Move { uses, movement } => {
            debug_assert_eq!(
                uses,
                pass.uses + u32::from(movement.admission),
                "only an admission adds a use"
            );
            debug_assert!(
                !movement.admission || pass.max_uses.is_none_or(|max| uses <= max),
                "an admission never takes a pass beyond max_uses"
            );
            debug_assert_eq!(movement.before, pass.presence, "decided from this presence");
            pass.uses = uses;
            pass.presence = movement.after;
        }
    }
}

/// Why a scan cannot be annulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AnnulRefusal {
    /// The scan belongs to another pass.
    #[error("the scan belongs to another pass")]
    OtherPass,
    /// Only grants can be annulled.
    #[error("the scan was denied; only grants can be annulled")]
    NotGranted,
    /// The scan was annulled already.
    #[error("the scan was already annulled")]
    AlreadyAnnulled,
    /// An entry or exit at a gate of a defined event: giving back its use
    /// would leave the pass's presence wrong, so it is not annulled.
    #[error("an entry or exit of an event with a definition cannot be annulled")]
    Movement,
    /// The annul window has passed.
    #[error("the scan is older than the annul window of {window_ms} ms")]
    TooLate {
        /// The window, in milliseconds.
        window_ms: i64,
    },
}

/// Whether `record` may be annulled on `pass` at `now_ms`, with an annul
/// window of `window_ms`. Pure; the caller makes the annulment durable.
pub fn annul(
    pass: PassId,
    record: &ScanRecord,
    now_ms: i64,
    window_ms: i64,
) -> Result<(), AnnulRefusal> {
    if record.pass_id != pass {
        return Err(AnnulRefusal::OtherPass);
    }
    if !record.decision.is_granted() {
        return Err(AnnulRefusal::NotGranted);
    }
    if record.annulled.is_some() {
        return Err(AnnulRefusal::AlreadyAnnulled);
    }
    if record.movement.is_some() {
        return Err(AnnulRefusal::Movement);
    }
    if now_ms.saturating_sub(record.at_ms) > window_ms {
        return Err(AnnulRefusal::TooLate { window_ms });
    }
    Ok(())
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
