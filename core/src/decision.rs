//! Decisions and denial reasons. A denial is a normal value, never an error.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a scan was denied. The spellings (snake_case) are part of the public
/// contract: scanners, scripts and dashboards match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The token is not a well-formed scangate token.
    Malformed,
    /// The token's signature does not verify (or names an unknown key).
    Forged,
    /// The token is genuine but no such pass exists.
    Unknown,
    /// The pass was revoked.
    Revoked,
    /// The pass is suspended.
    Suspended,
    /// The pass's validity window has not started.
    NotYetValid,
    /// The pass's validity window (or the token's own lifetime) has ended.
    Expired,
    /// The pass has been used `max_uses` times.
    UsedUp,
    /// The pass belongs to another event than the scanner's.
    WrongEvent,
    /// The pass does not admit to this gate.
    WrongGate,
    /// The scanning device sent more scans than its rate allows.
    RateLimited,
    /// The gateway is overloaded; retry with the same scan id.
    Busy,
    /// An offline device cannot decide this token without the gateway: a
    /// short-lived token of a dynamic pass, whose tag only the gateway's
    /// secret verifies. The guard sends the holder to an online gate.
    NeedsNetwork,
    /// The pass was re-issued since this token was made: an old copy of its
    /// code (a screenshot, a forwarded ticket). The pass itself is fine;
    /// its holder has the new code.
    Superseded,
    /// The event's policy denies a fraud flag: this pass was let in less
    /// than a minute ago (by default), so this may be a copy passed back.
    RapidRescan,
    /// The event's policy denies a fraud flag: this pass was just shown on
    /// another scanner, so two people may hold the same code.
    SharedCode,
    /// The event's policy denies a fraud flag: this pass was let in at
    /// another gate too recently for anyone to have walked here.
    ImpossibleTravel,
    /// The event has a definition and this gate is not in it.
    UnknownGate,
    /// The gate lets people pass both ways and the scan named no direction.
    DirectionNeeded,
    /// The scan's direction is not the gate's (an exit at an entry gate).
    WrongDirection,
    /// The pass does not admit to the gate's zone.
    WrongZone,
    /// An entry while the pass is inside already (anti-passback).
    AlreadyInside,
    /// An exit while the pass is not inside (anti-passback).
    NotInside,
    /// An entry into a zone (or a zone around it) that holds as many people
    /// as its capacity: someone must leave first. Stored like every other
    /// denial; a new scan later may be granted.
    ZoneFull,
    /// The scan named a direction other than `in` or `out` (a scanner's
    /// bug): decided at the edge, nothing counted or recorded.
    UnknownDirection,
}

impl Reason {
    /// Every reason, in declaration order (handy for metrics and tests).
    pub const ALL: [Reason; 25] = [
        Reason::Malformed,
        Reason::Forged,
        Reason::Unknown,
        Reason::Revoked,
        Reason::Suspended,
        Reason::NotYetValid,
        Reason::Expired,
        Reason::UsedUp,
        Reason::WrongEvent,
        Reason::WrongGate,
        Reason::RateLimited,
        Reason::Busy,
        Reason::NeedsNetwork,
        Reason::Superseded,
        Reason::RapidRescan,
        Reason::SharedCode,
        Reason::ImpossibleTravel,
        Reason::UnknownGate,
        Reason::DirectionNeeded,
        Reason::WrongDirection,
        Reason::WrongZone,
        Reason::AlreadyInside,
        Reason::NotInside,
        Reason::ZoneFull,
        Reason::UnknownDirection,
    ];

    /// The reason's place in [`Reason::ALL`], for tables indexed by reason.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The contract spelling, e.g. `used_up`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::Forged => "forged",
            Reason::Unknown => "unknown",
            Reason::Revoked => "revoked",
            Reason::Suspended => "suspended",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Expired => "expired",
            Reason::UsedUp => "used_up",
            Reason::WrongEvent => "wrong_event",
            Reason::WrongGate => "wrong_gate",
            Reason::RateLimited => "rate_limited",
            Reason::Busy => "busy",
            Reason::NeedsNetwork => "needs_network",
            Reason::Superseded => "superseded",
            Reason::RapidRescan => "rapid_rescan",
            Reason::SharedCode => "shared_code",
            Reason::ImpossibleTravel => "impossible_travel",
            Reason::UnknownGate => "unknown_gate",
            Reason::DirectionNeeded => "direction_needed",
            Reason::WrongDirection => "wrong_direction",
            Reason::WrongZone => "wrong_zone",
            Reason::AlreadyInside => "already_inside",
            Reason::NotInside => "not_inside",
            Reason::ZoneFull => "zone_full",
            Reason::UnknownDirection => "unknown_direction",
        }
    }

    /// What a guard or an operator reads for this reason: one plain sentence.
    pub fn words(self) -> &'static str {
        match self {
            Reason::Malformed => "This is not a scangate code.",
            Reason::Forged => "This code is forged or from another system.",
            Reason::Unknown => "No such pass exists.",
            Reason::Revoked => "This pass was revoked.",
            Reason::Suspended => "This pass is suspended for now.",
            Reason::NotYetValid => "This pass is not valid yet.",
            Reason::Expired => "This pass (or this code) has expired.",
            Reason::UsedUp => "This pass has been used as often as it may.",
            Reason::WrongEvent => "This pass is for another event.",
            Reason::WrongGate => "This pass does not admit at this gate.",
            Reason::RateLimited => "This scanner is scanning too fast; scan again.",
            Reason::Busy => "The gateway is busy; scan again.",
            Reason::NeedsNetwork => "This code needs an online gate.",
            Reason::UnknownGate => "This gate is not part of the event's plan.",
            Reason::DirectionNeeded => "Choose in or out at this gate, then scan again.",
            Reason::WrongDirection => "This gate does not let people pass that way.",
            Reason::WrongZone => "This pass does not admit to this area.",
            Reason::AlreadyInside => "This pass is already inside.",
            Reason::NotInside => "This pass is not inside, so it cannot go out.",
            Reason::ZoneFull => "This area is full: wait until someone leaves.",
            Reason::UnknownDirection => "This scanner sent neither in nor out: set its direction.",
            Reason::Superseded => "This code was replaced by a newer one: ask for the new code.",
            Reason::RapidRescan => "This pass was just let in: it may be a copy passed back.",
            Reason::SharedCode => "This pass was just shown on another scanner.",
            Reason::ImpossibleTravel => "This pass was let in at another gate too recently.",
        }
    }

    /// Whether a scanner may retry the same scan id later and get another answer
    /// (`busy`, `rate_limited`). Such denials are never stored.
    pub fn is_transient(self) -> bool {
        matches!(self, Reason::Busy | Reason::RateLimited)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to "may this person in, now, here?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Let them in; the use has been counted.
    Granted,
    /// Keep them out, for this reason.
    Denied(Reason),
}

impl Decision {
    /// True for [`Decision::Granted`].
    pub fn is_granted(self) -> bool {
        matches!(self, Decision::Granted)
    }

    /// The denial reason, `None` when granted.
    pub fn reason(self) -> Option<Reason> {
        match self {
            Decision::Granted => None,
            Decision::Denied(r) => Some(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_one_plain_sentence() {
        for reason in Reason::ALL {
            let words = reason.words();
            assert!(words.ends_with('.'), "{}: {words}", reason.as_str());
            assert!(
                !words.contains('_'),
                "{}: no contract spelling",
                reason.as_str()
            );
        }
    }

    #[test]
    fn every_reason_sits_at_its_index_in_all() {
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i, "{}", reason.as_str());
        }
    }
}
