//! The pass protocol: how one pass's scans, admin changes and annulments
//! become durable answers, as a state machine without I/O. (The messages on
//! the wire are [`crate::wire`]; this is what happens to a scan once it
//! reaches its pass.)
//!
//! One [`PassMachine`] per pass holds the pass as the store last
//! acknowledged it. Each request is a *turn*: [`PassMachine::on_scan`],
//! [`PassMachine::on_admin`] or [`PassMachine::on_annul`] start one, and the
//! turn answers every input with its next step: read the pass again, find a
//! scan, persist this record, or answer. The caller performs the step
//! (store calls, deadlines, tasks: the pass actor in `scangate-actors`) and
//! feeds the outcome back with the time (`now_ms`); the machine never reads
//! a clock and never waits. A turn borrows the machine mutably, so turns
//! cannot interleave: an admin change is applied before any scan ordered
//! after it is decided.
//!
//! The rules of a scan turn ([`ScanTurn`]):
//! 1. Decide with [`rules::decide`](crate::rules::decide) at `now_ms`.
//! 2. A transient denial (`busy`, `rate_limited`) is answered, never stored.
//! 3. A denial from the pass's state (revoked, suspended, used up, already
//!    inside, not inside) is checked
//!    against the store first (one reload) when another gateway may have
//!    changed the pass: [`MachineConfig::recheck_after_ms`] has passed since
//!    it was read, or the clock went back.
//! 4. Every other decision is persisted as a [`ScanRecord`] before it is
//!    answered, and applied to memory only once the store says it is durable.
//! 5. A scan id the store holds already is answered from the record stored
//!    first (`replayed`), counting nothing; one recorded for another pass is
//!    [`ScanFailure::ScanIdConflict`].
//! 6. A full commit queue answers `busy`; nothing was stored.
//! 7. A conflict (another writer moved the pass; nothing was written)
//!    reloads the pass and decides once more, once per turn.
//! 8. Any other store failure, or an unknown outcome, is answered as
//!    [`ScanFailure::Store`]; memory is no longer trusted ([`Stop::Failed`]),
//!    and a later turn on this machine reads the pass again first.
//! 9. A turn ends only when its write's outcome is in. A caller that stops
//!    waiting (a deadline) is answered by the I/O layer, "outcome unknown";
//!    the machine still applies the outcome when it comes (a late commit),
//!    so memory stays what the store holds.
//!
//! 10. An offline fact ([`PassMachine::on_offline`], [`OfflineTurn`]): a
//!     scan an offline device decided is recorded once per scan id (a known
//!     id answers [`Reconcile::Duplicate`], counting nothing; a device grant
//!     whose id holds the gateway's online denial of the same unanswered
//!     try is recorded under [`crate::ScanId::offline`]), its grant is
//!     counted even beyond `max_uses` or on a revoked pass (the person got
//!     in), and every rule it broke is flagged in the same record
//!     ([`offline_turn::conflicts`]). So a pass's use count is its online
//!     grants plus its offline grants, and may exceed `max_uses` only by
//!     offline grants; an online grant never takes it past `max_uses`.
//!
//! 11. A guard's override ([`PassMachine::on_admit`]) is a scan turn with
//!     no token: the rules are asked (their answer is kept on the record as
//!     what was overridden), then an active pass is granted whatever they
//!     said, even beyond `max_uses`; a revoked or suspended pass keeps its
//!     denial (only an explicit reactivate lifts those), recorded too. It
//!     is persisted, counted and answered by rules 3 to 9, and its record
//!     carries [`crate::scan::GuardOverride`]. So an online grant takes a
//!     pass past `max_uses` only by an operator's override.
//! 12. Fraud flags ([`crate::flags`]): an online scan that reaches its pass
//!     raises the flags its recent scans call for, decided with the rules
//!     at `now_ms` and recorded on its record (a retry answered from the
//!     record gets the flags stored first). A grant that raises a flag the
//!     policy denies becomes a denial with the flag's reason, counting
//!     nothing. The next member of a group pass entering at the gate of
//!     its last grant raises no `rapid_rescan`. The machine remembers each durable online scan; a machine
//!     for a pass read from the store is handed the pass's recent records
//!     ([`PassMachine::with_flags`]), so after a restart the flags see the
//!     history the store holds.
//! 13. A check-only scan ([`Scan::check_only`]) is decided by the same rules
//!     and answered at once: nothing is persisted or applied, so it spends
//!     no use, moves no one and leaves its scan id unrecorded (a later real
//!     scan with the same id is decided afresh).
//!
//! 14. Zone capacity ([`crate::event::occupancy`]): a grant of an entry
//!     into a zone with a capacity (or into a zone inside one) needs a
//!     place. The turn asks for it ([`ScanStep::Place`]) after the rules
//!     and the flags, before the record is persisted; the caller's zone
//!     owner reserves it until the commit is in (a check-only scan only
//!     asks). No place: the grant becomes a `zone_full` denial, persisted
//!     and counting nothing. Exits and entries into zones without a
//!     capacity need no place.
//!
//! Modules: `request` (what callers ask and get), `scan_turn`, `admin_turn`
//! (admin changes and annulments), [`offline_turn`] (offline facts).

mod admin_turn;
pub mod offline_turn;
mod request;
mod scan_turn;

#[cfg(test)]
mod admit_tests;
#[cfg(test)]
mod flag_tests;
#[cfg(test)]
mod model_offline;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod offline_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod zone_tests;

pub use admin_turn::{AdminStep, AdminTurn, AnnulStep, AnnulTurn, AnnulWrite};
pub use offline_turn::{OfflineFact, OfflineStep, OfflineTurn, Reconcile, Reconciled};
pub use request::{AdminChange, AdmitOrder, AnnulRequest, OVERRIDE_DEVICE, Scan, ScanOutcome};
pub use scan_turn::{Placing, ScanStep, ScanTurn};

use crate::flags::{FlagPolicy, RecentScans};
use crate::pass::{Pass, PassError, TransitionError};
use crate::rules::AnnulRefusal;
use crate::scan::ScanRecord;
use std::sync::{Arc, LazyLock};

/// What the machine needs besides its pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineConfig {
    /// On a store other gateways write too: how old (in milliseconds) the
    /// pass in memory may be before a denial it causes is checked against
    /// the store first. `None`: this gateway is the only writer, so memory
    /// is the truth.
    pub recheck_after_ms: Option<i64>,
    /// How long after a grant an operator may annul it, in milliseconds.
    pub annul_window_ms: i64,
}

/// Why the machine's owner should stop it after a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The store failed or a write's outcome is unknown: memory is not
    /// trusted. Restart from the store.
    Failed,
    /// The pass can no longer be granted without an operator's change
    /// (revoked, used up, past its window): it needs no resident state.
    Spent,
}

/// What the protocol must know about a store error to act on it. The
/// store's own error type implements it (through a wrapper where the orphan
/// rule asks for one); the machine hands the error back in its answers.
pub trait StoreFault {
    /// The kind of failure.
    fn kind(&self) -> FaultKind<'_>;
}

/// The store errors the protocol tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind<'a> {
    /// The commit queue is full; nothing was written.
    Busy,
    /// A conditional write did not apply: another writer moved the pass.
    /// Nothing was written.
    Conflict,
    /// The store has no such pass.
    PassNotFound,
    /// The scan id is recorded already: the record stored first.
    DuplicateScanId(&'a ScanRecord),
    /// An annul did not apply (`None`: the scan is not kept). Nothing was
    /// written.
    NotAnnullable(Option<AnnulRefusal>),
    /// The store refused the change for a fact it keeps that the pass's
    /// memory does not (the pass was erased: an erase is final). Nothing was
    /// written and memory is still what the store holds.
    Refused,
    /// Anything else: the store failed, or the outcome is unknown.
    Failed,
}

/// Why a scan turn could not be answered with a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanFailure<E> {
    /// The scan id is already recorded for another pass.
    ScanIdConflict,
    /// The store's commit queue is full; nothing was written. (A scan turn
    /// answers this as a `busy` denial instead; an offline fact has no
    /// denial to give.)
    Busy,
    /// The store failed (the machine now says [`Stop::Failed`]).
    Store(E),
}

/// Why an admin change or annulment was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminFailure<E> {
    /// The store no longer has the pass.
    NotFound,
    /// The change does not apply to the pass's status.
    Transition(TransitionError),
    /// No scan with this id is kept.
    ScanNotFound,
    /// The scan cannot be annulled.
    Annul(AnnulRefusal),
    /// The request itself is invalid (a reason longer than its limit).
    Invalid(PassError),
    /// The store's commit queue is full; nothing was applied.
    Busy,
    /// The store failed.
    Store(E),
}

/// The state of one pass between turns.
#[derive(Debug, Clone)]
pub struct PassMachine {
    pass: Pass,
    /// When `pass` was read from the store, or last confirmed by a grant
    /// (Unix milliseconds, the caller's clock).
    loaded_ms: i64,
    config: MachineConfig,
    /// Set when the store failed: memory is not trusted until read again.
    failed: bool,
    /// Which fraud flags a scan raises and which deny (rule 12).
    flag_policy: Arc<FlagPolicy>,
    /// The pass's recent online scans the flags are decided from.
    recent: RecentScans,
}

/// The policy of a machine built without one: every flag raised, none denies.
static DEFAULT_FLAG_POLICY: LazyLock<Arc<FlagPolicy>> =
    LazyLock::new(|| Arc::new(FlagPolicy::default()));

impl PassMachine {
    /// A machine for `pass`, read from the store at `now_ms`.
    pub fn new(pass: Pass, now_ms: i64, config: MachineConfig) -> Self {
        // A stored pass may be beyond `max_uses` by offline grants (rule 10).
        PassMachine {
            pass,
            loaded_ms: now_ms,
            config,
            failed: false,
            flag_policy: Arc::clone(&DEFAULT_FLAG_POLICY),
            recent: RecentScans::default(),
        }
    }

    /// The machine with `policy` for its flags and `recent`, the pass's
    /// recent scans as the store holds them (rule 12).
    pub fn with_flags(mut self, policy: Arc<FlagPolicy>, recent: RecentScans) -> Self {
        self.flag_policy = policy;
        self.recent = recent;
        self
    }

    /// The recent scans the flags are decided from.
    pub fn recent(&self) -> &RecentScans {
        &self.recent
    }

    /// The pass as the store last acknowledged it.
    pub fn pass(&self) -> &Pass {
        &self.pass
    }

    /// Starts a scan's turn; [`ScanTurn::start`] gives its first step.
    pub fn on_scan(&mut self, scan: Scan) -> ScanTurn<'_> {
        ScanTurn::new(self, scan)
    }

    /// Starts a guard's override: a scan turn ([`ScanTurn::start`]) that
    /// grants an active pass whatever the rules say (rule 11).
    pub fn on_admit(&mut self, order: AdmitOrder) -> ScanTurn<'_> {
        ScanTurn::admitting(self, order)
    }

    /// Starts an offline fact's turn; [`OfflineTurn::start`] gives its first step.
    pub fn on_offline(&mut self, fact: OfflineFact) -> OfflineTurn<'_> {
        OfflineTurn::new(self, fact)
    }

    /// Starts an admin change's turn; [`AdminTurn::start`] gives its first step.
    pub fn on_admin(&mut self, change: AdminChange) -> AdminTurn<'_> {
        AdminTurn::new(self, change)
    }

    /// Starts an annulment's turn; [`AnnulTurn::start`] gives its first step.
    pub fn on_annul(&mut self, request: AnnulRequest) -> AnnulTurn<'_> {
        AnnulTurn::new(self, request)
    }

    /// Whether the store failed under the last turn: memory is not trusted
    /// (the same as [`Stop::Failed`] from [`Self::stop`], without a time).
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Whether the owner should stop after the turn just ended, at `now_ms`.
    pub fn stop(&self, now_ms: i64) -> Option<Stop> {
        if self.failed {
            Some(Stop::Failed)
        } else if self.pass.is_spent(now_ms) {
            Some(Stop::Spent)
        } else {
            None
        }
    }

    /// Takes a pass freshly read from the store at `now_ms`.
    fn reloaded(&mut self, fresh: Pass, now_ms: i64) {
        debug_assert_eq!(fresh.id, self.pass.id, "a reload reads the same pass");
        self.pass = fresh;
        self.loaded_ms = now_ms;
        self.failed = false;
    }

    /// The store failed or its outcome is unknown.
    fn fail(&mut self) {
        self.failed = true;
    }

    /// Whether a denial for `reason` may come from a copy another gateway
    /// has changed since: shared store, and the copy is `recheck_after_ms`
    /// old or the clock went back past the read.
    fn denial_may_be_stale(&self, reason: Option<crate::Reason>, now_ms: i64) -> bool {
        use crate::Reason::{AlreadyInside, NotInside, Revoked, Suspended, UsedUp};
        // Presence is pass state too: another gateway may have moved the pass.
        let from_state = matches!(
            reason,
            Some(Revoked | Suspended | UsedUp | AlreadyInside | NotInside)
        );
        from_state
            && self.config.recheck_after_ms.is_some_and(|after| {
                now_ms < self.loaded_ms || now_ms.saturating_sub(self.loaded_ms) >= after
            })
    }
}

/// The invariant of an online grant: it never takes the count past
/// `max_uses` (offline facts may, rule 10).
fn within_limit(pass: &Pass) -> bool {
    pass.max_uses.is_none_or(|max| pass.uses <= max)
}
