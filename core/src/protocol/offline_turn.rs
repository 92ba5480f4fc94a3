//! An offline fact's turn: a scan an offline device decided, uploaded
//! later, reconciled with the pass (rule 10 of the [module](super)).
//!
//! The person got in (or was turned away) already: nothing here decides
//! again. The turn records the fact once (idempotent by scan id, like a
//! scan), counts a device grant even beyond `max_uses`, and flags every rule
//! the scan broke ([`conflicts`]), judged at the device's time with the rule
//! function of both paths ([`rules::decide_view`]).
//!
//! A device decides offline under the scan id of its online try when that
//! try went unanswered, and the gateway may have decided the try before it
//! died. Where it granted, the upload is that grant (one person, counted
//! once). Where it denied and the device granted, someone got in that the
//! denial does not count: the fact is recorded under another scan id
//! instead ([`ScanId::offline`]), counted and flagged like any offline grant.

use super::{FaultKind, PassMachine, ScanFailure, StoreFault};
use crate::decision::{Decision, Reason};
use crate::offline::SNAPSHOT_TTL_DEFAULT_MS;
use crate::offline::messages::ConflictKind;
use crate::pass::{Pass, Status};
use crate::rules::{self, PassView, ScanContext};
use crate::scan::{OfflineFacts, ScanId, ScanRecord};

/// How far a device's clock may run ahead of the gateway's before its scan
/// is flagged `time_in_future` (5 minutes): handhelds without time sync
/// drift seconds to minutes a day, which is no one's fault; a clock set
/// hours ahead (to stretch a snapshot's life) is flagged.
pub const DEVICE_CLOCK_AHEAD_MAX_MS: i64 = 5 * 60 * 1000;

/// One uploaded offline scan, as the gateway hands it to its pass once the
/// token checked out and named this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineFact {
    /// The device's scan id; a re-upload carries the same.
    pub scan_id: ScanId,
    /// The gate the device stood at.
    pub gate: String,
    /// The event of the snapshot the device decided from.
    pub event: String,
    /// The device (its certificate name).
    pub device: String,
    /// The device's clock at the scan (Unix ms): recorded, never trusted.
    pub device_time_ms: i64,
    /// The snapshot version the device decided from: the snapshot's
    /// `created_ms`, as the gateway numbers versions.
    pub snapshot_version: u64,
    /// What the device decided and showed.
    pub device_decision: Decision,
    /// The token's own not-after (Unix ms), for short-lived tokens.
    pub token_not_after_ms: Option<i64>,
    /// The pass generation the token was signed for (0: never re-issued).
    pub token_generation: u8,
}

/// Whether the fact was recorded now or by an earlier upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconcile {
    /// Recorded durably now (counted, if a grant of this pass's event).
    Recorded,
    /// Recorded by an earlier upload of the scan id; nothing counted now.
    Duplicate,
}

/// What became of an offline fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Recorded now or before.
    pub status: Reconcile,
    /// The scan id the fact is recorded under: the device's, or
    /// [`ScanId::offline`] of it (see the [module](self)).
    pub scan_id: ScanId,
    /// Every rule the scan broke (for a duplicate: as recorded first).
    pub conflicts: Vec<ConflictKind>,
    /// The pass's use count after the turn.
    pub uses: u32,
}

/// What the caller does next in an offline fact's turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineStep<E> {
    /// Answer the caller; the turn is over.
    Answer(Result<Reconciled, ScanFailure<E>>),
    /// Read the pass afresh, then call [`OfflineTurn::on_reload`].
    Reload,
    /// Make this record durable with its conflicts in one commit (for a
    /// counted grant conditional on the stored count being
    /// `uses_after - 1`, whatever the status and limit), then call
    /// [`OfflineTurn::on_commit`].
    Persist(ScanRecord),
}

/// One offline fact being reconciled; it holds its machine until the turn is over.
#[derive(Debug)]
pub struct OfflineTurn<'m> {
    machine: &'m mut PassMachine,
    fact: OfflineFact,
    reloaded: bool,
    /// The upload's time, from [`Self::start`] or [`Self::on_reload`].
    now_ms: i64,
    /// The fact moved to [`ScanId::offline`] once; it never moves again.
    rekeyed: bool,
    /// The record being persisted, applied when the store says done.
    persisting: Option<ScanRecord>,
}

impl<'m> OfflineTurn<'m> {
    pub(super) fn new(machine: &'m mut PassMachine, fact: OfflineFact) -> Self {
        OfflineTurn {
            machine,
            fact,
            reloaded: false,
            now_ms: 0,
            rekeyed: false,
            persisting: None,
        }
    }

    /// The turn's first step, at `now_ms` (the upload's time).
    pub fn start<E>(&mut self, now_ms: i64) -> OfflineStep<E> {
        if self.machine.failed {
            self.reloaded = true;
            return OfflineStep::Reload;
        }
        self.record(now_ms)
    }

    /// The pass read again, or why not.
    pub fn on_reload<E: StoreFault>(
        &mut self,
        fresh: Result<Pass, E>,
        now_ms: i64,
    ) -> OfflineStep<E> {
        match fresh {
            Ok(pass) => {
                self.machine.reloaded(pass, now_ms);
                self.record(now_ms)
            }
            Err(error) => self.fail(error),
        }
    }

    /// The outcome of the [`OfflineStep::Persist`] write, whenever it came.
    pub fn on_commit<E: StoreFault>(&mut self, written: Result<(), E>) -> OfflineStep<E> {
        let Some(record) = self.persisting.take() else {
            self.machine.fail();
            return OfflineStep::Reload;
        };
        let error = match written {
            Ok(()) => {
                let pass = &mut self.machine.pass;
                if record.decision.is_granted() {
                    // Not `rules::apply`: a fact may go beyond `max_uses`.
                    debug_assert_eq!(record.uses_after, pass.uses + 1, "counted once");
                    pass.uses = record.uses_after;
                }
                let conflicts = record.offline.map(|f| f.conflicts).unwrap_or_default();
                return OfflineStep::Answer(Ok(Reconciled {
                    status: Reconcile::Recorded,
                    scan_id: record.scan_id,
                    conflicts,
                    uses: pass.uses,
                }));
            }
            Err(error) => error,
        };
        match error.kind() {
            FaultKind::DuplicateScanId(first) if first.pass_id != self.machine.pass.id => {
                OfflineStep::Answer(Err(ScanFailure::ScanIdConflict))
            }
            FaultKind::DuplicateScanId(first) if self.admitted_past_a_denial(first) => {
                self.fact.scan_id = self.fact.scan_id.offline();
                self.rekeyed = true;
                self.record(self.now_ms)
            }
            FaultKind::DuplicateScanId(first) => OfflineStep::Answer(Ok(Reconciled {
                status: Reconcile::Duplicate,
                scan_id: first.scan_id.clone(),
                conflicts: first
                    .offline
                    .as_ref()
                    .map(|f| f.conflicts.clone())
                    .unwrap_or_default(),
                uses: self.machine.pass.uses,
            })),
            FaultKind::Busy => OfflineStep::Answer(Err(ScanFailure::Busy)),
            FaultKind::Conflict if !self.reloaded => {
                self.reloaded = true;
                OfflineStep::Reload
            }
            _ => self.fail(error),
        }
    }

    /// Whether `first`, the record holding this fact's scan id, is the
    /// gateway's online denial of the try the device then granted offline
    /// (see the [module](self)). Once moved, the fact stays where it is: a
    /// record already under the derived id is its duplicate.
    fn admitted_past_a_denial(&self, first: &ScanRecord) -> bool {
        !self.rekeyed
            && first.offline.is_none()
            && !first.decision.is_granted()
            && self.fact.device_decision.is_granted()
    }

    /// The record of the fact against the pass in memory, at `now_ms`.
    fn record<E>(&mut self, now_ms: i64) -> OfflineStep<E> {
        self.now_ms = now_ms;
        let pass = &self.machine.pass;
        let fact = &self.fact;
        let of_event = fact.event == pass.event;
        // A scan of another event's pass is recorded as what it is (a
        // denial, flagged), never counted.
        let decision = match fact.device_decision {
            Decision::Granted if !of_event => Decision::Denied(Reason::WrongEvent),
            other => other,
        };
        let counted = decision.is_granted();
        let record = ScanRecord {
            scan_id: fact.scan_id.clone(),
            pass_id: pass.id,
            at_ms: now_ms,
            scanner_time_ms: fact.device_time_ms,
            gate: fact.gate.clone(),
            device: fact.device.clone(),
            decision,
            uses_after: pass.uses + u32::from(counted),
            event: pass.event.clone(),
            annulled: None,
            offline: Some(OfflineFacts {
                snapshot_version: fact.snapshot_version,
                device_decision: fact.device_decision,
                conflicts: conflicts(pass, fact, now_ms),
            }),
            guard_override: None,
            flags: Vec::new(),
            movement: None,
        };
        self.persisting = Some(record.clone());
        OfflineStep::Persist(record)
    }

    fn fail<E>(&mut self, error: E) -> OfflineStep<E> {
        self.machine.fail();
        OfflineStep::Answer(Err(ScanFailure::Store(error)))
    }
}

/// Every rule an offline scan of `pass` broke, in [`ConflictKind::ALL`]
/// order, judged against the pass as stored before the fact is counted and
/// the upload's time `now_ms`. Only a device grant can break a rule: a
/// device denial is recorded with none.
///
/// - `unknown_pass`: the pass is of another event than the upload's.
/// - `superseded`: [`rules::decide_view`]'s generation rule: the token is
///   of another generation than the pass's (it was re-issued). A re-issue's
///   time is kept in the pass's audit, not on the pass, so, like a status
///   set at an unrecorded time, it is taken to predate every scan.
/// - `over_limit`: the uses before it had reached `max_uses`.
/// - `revoked_before_scan` / `suspended_before_scan`: the pass is revoked /
///   suspended and its status changed at or before the device's time (or at
///   an unrecorded time: a status set before `status_since_ms` existed is
///   taken to predate every scan).
/// - `outside_validity`, `wrong_gate`: [`rules::decide_view`] at the
///   device's time on the pass's window, gates and the token's not-after.
/// - `expired_snapshot`: the device's time is later than the snapshot's
///   version (its creation) plus [`SNAPSHOT_TTL_DEFAULT_MS`].
/// - `time_in_future`: the device's time is later than `now_ms` plus
///   [`DEVICE_CLOCK_AHEAD_MAX_MS`].
/// - `time_before_snapshot`: the device's time is before the snapshot's version.
pub fn conflicts(pass: &Pass, fact: &OfflineFact, now_ms: i64) -> Vec<ConflictKind> {
    if !fact.device_decision.is_granted() {
        return Vec::new();
    }
    let t = fact.device_time_ms;
    let changed_by_then = pass.status_since_ms.is_none_or(|since| since <= t);
    let snapshot_ms = i64::try_from(fact.snapshot_version).unwrap_or(i64::MAX);
    let ruled = RuleReasons::of(pass, fact);
    let broken = |kind: ConflictKind| match kind {
        ConflictKind::UnknownPass => fact.event != pass.event,
        ConflictKind::Superseded => ruled.generation == Some(Reason::Superseded),
        ConflictKind::OverLimit => pass.max_uses.is_some_and(|max| pass.uses >= max),
        ConflictKind::RevokedBeforeScan => pass.status == Status::Revoked && changed_by_then,
        ConflictKind::SuspendedBeforeScan => pass.status == Status::Suspended && changed_by_then,
        ConflictKind::OutsideValidity => {
            matches!(ruled.window, Some(Reason::NotYetValid | Reason::Expired))
        }
        ConflictKind::WrongGate => ruled.gate == Some(Reason::WrongGate),
        ConflictKind::ExpiredSnapshot => t > snapshot_ms.saturating_add(SNAPSHOT_TTL_DEFAULT_MS),
        ConflictKind::TimeInFuture => t > now_ms.saturating_add(DEVICE_CLOCK_AHEAD_MAX_MS),
        ConflictKind::TimeBeforeSnapshot => t < snapshot_ms,
        // Found before a pass is reached (token checks, lookup).
        ConflictKind::Forged => false,
    };
    ConflictKind::ALL
        .into_iter()
        .filter(|&k| broken(k))
        .collect()
}

/// What the rule function says of one part of the pass at a time, at the
/// device's time: the token's generation, the validity window (with the
/// token's not-after), the gates. One part at a time, so a scan that broke
/// several is flagged for each; status and count are judged by
/// [`conflicts`] itself.
struct RuleReasons {
    generation: Option<Reason>,
    window: Option<Reason>,
    gate: Option<Reason>,
}

impl RuleReasons {
    fn of(pass: &Pass, fact: &OfflineFact) -> Self {
        let t = fact.device_time_ms;
        // Nothing but the part asked about can fail in each view.
        let bare = PassView {
            status: Status::Active,
            uses: 0,
            max_uses: None,
            valid_from_ms: None,
            valid_until_ms: None,
            dynamic: false,
            gates: &[],
            ..PassView::from(pass)
        };
        // Offline facts are judged as before event definitions: an offline
        // device holds no presence, so a definition plays no part.
        let bare_ctx = ScanContext {
            event: None,
            gate: &fact.gate,
            token_not_after_ms: None,
            token_generation: None,
            definition: None,
            direction: None,
        };
        let reason = |view: &PassView<'_>, ctx: &ScanContext<'_>| {
            rules::decide_view(view, ctx, t).decision.reason()
        };
        let window = PassView {
            valid_from_ms: pass.valid_from_ms,
            valid_until_ms: pass.valid_until_ms,
            dynamic: pass.dynamic_ttl_s.is_some(),
            ..bare
        };
        let gates = PassView {
            gates: &pass.gates,
            ..bare
        };
        let with_expiry = ScanContext {
            token_not_after_ms: fact.token_not_after_ms,
            ..bare_ctx
        };
        let with_generation = ScanContext {
            token_generation: Some(fact.token_generation),
            ..bare_ctx
        };
        RuleReasons {
            generation: reason(&bare, &with_generation),
            window: reason(&window, &with_expiry),
            gate: reason(&gates, &bare_ctx),
        }
    }
}
