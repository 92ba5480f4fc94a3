//! What callers ask of a pass and what they get back.

use crate::event::{Direction, EventDefinition};
use crate::flags::Flag;
use crate::pass::{
    AdminAction, GATE_MAX_BYTES, Pass, PassError, REASON_MAX_BYTES, check_len, check_name,
};
use crate::scan::{ScanId, ScanRecord};
use crate::{Decision, Reason};
use std::sync::Arc;

/// One scan of a pass, as the gateway hands it over after the token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The scanner's id for this attempt; a retry carries the same id.
    pub scan_id: ScanId,
    /// The gate the scanner stands at.
    pub gate: String,
    /// The event the scanner is configured for, if any.
    pub event: Option<String>,
    /// The scanning device (its certificate name).
    pub device: String,
    /// The scanner's own clock at the scan (Unix milliseconds).
    pub scanner_time_ms: i64,
    /// The token's own not-after (Unix milliseconds), for short-lived tokens.
    pub token_not_after_ms: Option<i64>,
    /// The pass generation the token was signed for (0: never re-issued).
    pub token_generation: u8,
    /// The direction the scanner named (an entry or an exit at a `both` gate).
    pub direction: Option<Direction>,
    /// Decide only: nothing is stored, counted or moved, and the scan id
    /// is not recorded (a guard checking a pass).
    pub check_only: bool,
    /// The definition of the pass's event, if it has one: filled in by
    /// whoever holds the pass (its event is known only once it is loaded).
    pub definition: Option<Arc<EventDefinition>>,
}

/// The answer to a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Granted, or denied and why.
    pub decision: Decision,
    /// The pass's use count after this scan; `None` when the pass is unknown
    /// or the scan was refused before reaching it (`busy`).
    pub uses: Option<u32>,
    /// The pass's use limit; `None` when unlimited, unknown or refused.
    pub max_uses: Option<u32>,
    /// What the scanner may show; only on a grant.
    pub display: Option<String>,
    /// The card fields its holder shared; only on a grant of a pass with a card.
    pub card: Option<Box<crate::pass::SharedCard>>,
    /// True when this answers a retry from the stored first decision (nothing
    /// was counted this time).
    pub replayed: bool,
    /// The fraud flags the scan raised (rule 12), in [`Flag::ALL`] order.
    pub flags: Vec<Flag>,
    /// The pass's end of validity (Unix ms), for the guard's screen.
    pub valid_until_ms: Option<i64>,
    /// Whether the holder is inside after this scan; `None` when the
    /// pass's event has no definition (presence is not tracked) or unknown.
    pub inside: Option<bool>,
    /// The zone the holder is in after this scan, when inside.
    pub zone: Option<String>,
    /// The zones the pass admits to (empty: every zone).
    pub zones: Vec<String>,
}

impl ScanOutcome {
    /// A denial that never reached a pass (`unknown`, `busy`).
    pub fn refused(reason: Reason) -> Self {
        ScanOutcome {
            decision: Decision::Denied(reason),
            uses: None,
            max_uses: None,
            display: None,
            card: None,
            replayed: false,
            flags: Vec::new(),
            valid_until_ms: None,
            inside: None,
            zone: None,
            zones: Vec::new(),
        }
    }

    /// The answer for `pass` with `decision` taken and `uses` after it;
    /// `defined`: the pass's event has a definition (presence is shown).
    pub(crate) fn for_pass(
        pass: &Pass,
        decision: Decision,
        uses: u32,
        replayed: bool,
        defined: bool,
    ) -> Self {
        ScanOutcome {
            decision,
            uses: Some(uses),
            max_uses: pass.max_uses,
            display: decision
                .is_granted()
                .then(|| pass.display.clone())
                .flatten(),
            card: decision
                .is_granted()
                .then(|| pass.card.as_ref().map(|card| Box::new(card.shared())))
                .flatten(),
            replayed,
            flags: Vec::new(),
            valid_until_ms: pass.valid_until_ms,
            inside: defined.then(|| pass.presence.is_inside()),
            zone: pass.presence.zone().map(|z| z.as_str().to_owned()),
            zones: pass.zones.clone(),
        }
    }

    /// The answer to a retry, from the record stored first.
    pub(crate) fn replay(pass: &Pass, record: &ScanRecord, defined: bool) -> Self {
        let mut outcome = Self::for_pass(pass, record.decision, record.uses_after, true, defined);
        outcome.flags = record.flags.clone();
        outcome
    }
}

/// An operator taking back one granted scan of a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnulRequest {
    /// The granted scan.
    pub scan_id: ScanId,
    /// Why, in the operator's words (at most
    /// [`REASON_MAX_BYTES`](crate::pass::REASON_MAX_BYTES)).
    pub reason: String,
    /// Who (the admin token's name).
    pub who: String,
}

/// An operator's change to a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminChange {
    /// Revoke, suspend or reactivate.
    pub action: AdminAction,
    /// Why, in the operator's words (at most
    /// [`REASON_MAX_BYTES`](crate::pass::REASON_MAX_BYTES)).
    pub reason: String,
    /// Who (the admin token's name).
    pub who: String,
}

/// A guard's override: admit the pass at `gate` by hand (an operator's
/// request, `POST /v1/passes/{id}/admit`). It is decided and made durable
/// as a scan, counted through the same conditional commit, and marked on its
/// record ([`crate::scan::GuardOverride`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmitOrder {
    /// A fresh scan id the gateway made for the override.
    pub scan_id: ScanId,
    /// The gate the guard stands at.
    pub gate: String,
    /// Why, in the operator's words (at most
    /// [`REASON_MAX_BYTES`](crate::pass::REASON_MAX_BYTES)).
    pub reason: String,
    /// Who (the admin token's name).
    pub who: String,
    /// When the operator asked (Unix ms), as the record's scanner time.
    pub asked_ms: i64,
}

impl AdmitOrder {
    /// Checks the gate's name and the reason's length, as every admin
    /// change's reason is checked.
    pub fn check(&self) -> Result<(), PassError> {
        check_name("gate", &self.gate, GATE_MAX_BYTES)?;
        check_len("reason", &self.reason, REASON_MAX_BYTES)
    }
}

/// The device an override's scan record names: no scanner read a token.
pub const OVERRIDE_DEVICE: &str = "guard-override";
