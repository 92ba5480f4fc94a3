//! A scan's turn: decide, read the pass again if the denial may be stale or
//! the write conflicted, raise the fraud flags, persist, then apply and answer
//! (rules 1 to 9 and 11 to 13 of the [module](super)).

use super::{AdmitOrder, OVERRIDE_DEVICE, Scan, ScanOutcome};
use super::{FaultKind, PassMachine, ScanFailure, StoreFault, within_limit};
use crate::event::{EventDefinition, Movement, occupancy};
use crate::flags::{self, Flag, FlagPolicy, Presented, Seen};
use crate::pass::{Pass, Status};
use crate::rules::{self, Change, Outcome, ScanContext};
use crate::scan::{GuardOverride, ScanRecord};
use crate::{Decision, Reason};
use std::sync::Arc;

/// What the caller does next in a scan's turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanStep<E> {
    /// Answer the caller; the turn is over.
    Answer(Result<ScanOutcome, ScanFailure<E>>),
    /// Read the pass afresh from the store, past any cache, then call
    /// [`ScanTurn::on_reload`].
    Reload,
    /// Make this record durable (a conditional write: the store refuses a
    /// grant whose count or status it does not hold, and a scan id it has),
    /// then call [`ScanTurn::on_commit`].
    Persist(ScanRecord),
    /// Ask the event's zone owner for a place for this entry (it enters a
    /// zone with a capacity, rule 14), then call [`ScanTurn::on_place`].
    Place(Box<Placing>),
}

/// An entry that needs a place in a zone with a capacity (rule 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placing {
    /// The pass's event.
    pub event: String,
    /// Its definition, as the decision read it (capacities, nesting).
    pub definition: Arc<EventDefinition>,
    /// The entry.
    pub movement: Movement,
    /// Reserve the place until the commit is in (`false`: a check-only
    /// scan, which only asks whether there is one).
    pub hold: bool,
}

/// A decision waiting for its place: the outcome, its flags, what the
/// rules said (an override's `overrode`) and when it was decided.
#[derive(Debug)]
struct Awaiting {
    outcome: Outcome,
    raised: Vec<Flag>,
    overrode: Option<Reason>,
    decided_ms: i64,
}

/// One scan being decided; it holds its machine until the turn is over.
#[derive(Debug)]
pub struct ScanTurn<'m> {
    machine: &'m mut PassMachine,
    scan: Scan,
    /// The pass was read again in this turn: at most once per turn.
    reloaded: bool,
    /// The decision being persisted and when it was taken (Unix ms),
    /// applied when the store says done.
    /// Its flags ride along, to be remembered and answered.
    persisting: Option<(Outcome, i64, Vec<Flag>)>,
    /// Set for a guard's override: who and why, marked on the record.
    admit: Option<AdmitOrder>,
    /// A grant waiting for its zone place (rule 14).
    awaiting: Option<Awaiting>,
}

impl<'m> ScanTurn<'m> {
    pub(super) fn new(machine: &'m mut PassMachine, scan: Scan) -> Self {
        ScanTurn {
            machine,
            scan,
            reloaded: false,
            persisting: None,
            admit: None,
            awaiting: None,
        }
    }

    /// A guard's override of the machine's pass, as a scan turn: the same
    /// steps, commit and answers as a scan (rule 11 of the [module](super)).
    pub(super) fn admitting(machine: &'m mut PassMachine, order: AdmitOrder) -> Self {
        let scan = Scan {
            scan_id: order.scan_id.clone(),
            gate: order.gate.clone(),
            event: None,
            device: OVERRIDE_DEVICE.into(),
            scanner_time_ms: order.asked_ms,
            // No token is presented: only the pass's own rules are asked.
            token_not_after_ms: Some(i64::MAX),
            token_generation: 0,
            // An override decides as for an event without a definition: it
            // moves no one (presence changes only by scans at its gates).
            direction: None,
            check_only: false,
            definition: None,
        };
        ScanTurn {
            admit: Some(order),
            ..Self::new(machine, scan)
        }
    }

    /// The turn's first step, at `now_ms`.
    pub fn start<E>(&mut self, now_ms: i64) -> ScanStep<E> {
        if self.machine.failed {
            // Memory is not trusted after a failure: read the truth first.
            self.reloaded = true;
            return ScanStep::Reload;
        }
        self.decide(now_ms)
    }

    /// The pass read again (`Ok`), or why it could not be (a store without
    /// the pass answers an error of kind [`FaultKind::PassNotFound`]).
    pub fn on_reload<E: StoreFault>(&mut self, fresh: Result<Pass, E>, now_ms: i64) -> ScanStep<E> {
        match fresh {
            Ok(pass) => {
                self.machine.reloaded(pass, now_ms);
                self.decide(now_ms)
            }
            Err(error) => self.fail(error),
        }
    }

    /// The outcome of the [`ScanStep::Persist`] write, whenever it came.
    pub fn on_commit<E: StoreFault>(&mut self, written: Result<(), E>) -> ScanStep<E> {
        let Some((outcome, decided_ms, flags)) = self.persisting.take() else {
            // Not after a persist step: what was written is unknown to this
            // turn, so read the truth and decide again (a write of this scan
            // id that did land is then answered from its record).
            self.machine.fail();
            return ScanStep::Reload;
        };
        let error = match written {
            Ok(()) => return ScanStep::Answer(Ok(self.apply(outcome, decided_ms, flags))),
            Err(error) => error,
        };
        match error.kind() {
            FaultKind::DuplicateScanId(first) => ScanStep::Answer(self.replay(first)),
            FaultKind::Busy => ScanStep::Answer(Ok(ScanOutcome::refused(Reason::Busy))),
            FaultKind::Conflict if !self.reloaded => {
                self.reloaded = true;
                ScanStep::Reload
            }
            _ => self.fail(error),
        }
    }

    /// Whether the zone owner found a place for the [`ScanStep::Place`]
    /// entry (and holds it, unless the scan is check-only): without one the
    /// grant becomes a `zone_full` denial, counting nothing.
    pub fn on_place<E>(&mut self, room: bool) -> ScanStep<E> {
        let Some(mut waiting) = self.awaiting.take() else {
            // Not after a place step: decide afresh from the store's truth.
            self.machine.fail();
            return ScanStep::Reload;
        };
        if !room {
            waiting.outcome = Outcome {
                decision: Decision::Denied(Reason::ZoneFull),
                change: Change::None,
            };
        }
        self.finish(waiting)
    }

    /// Decides at `now_ms` from the pass in memory.
    fn decide<E>(&mut self, now_ms: i64) -> ScanStep<E> {
        let machine = &*self.machine;
        let scan = &self.scan;
        let ctx = ScanContext {
            event: scan.event.as_deref(),
            gate: &scan.gate,
            token_not_after_ms: scan.token_not_after_ms,
            token_generation: self.admit.is_none().then_some(scan.token_generation),
            definition: scan.definition.as_deref(),
            direction: scan.direction,
        };
        let ruled = rules::decide(&machine.pass, &ctx, now_ms);
        let mut outcome = match self.admit {
            Some(_) => admit(&machine.pass, ruled),
            None => ruled,
        };
        if let Some(reason) = outcome.decision.reason().filter(|r| r.is_transient()) {
            // Never stored: a retry may get another answer.
            return ScanStep::Answer(Ok(ScanOutcome::refused(reason)));
        }
        let raised = self.raise_flags(&mut outcome, now_ms);
        let reason = outcome.decision.reason();
        if !self.reloaded && machine.denial_may_be_stale(reason, now_ms) {
            self.reloaded = true;
            return ScanStep::Reload;
        }
        let waiting = Awaiting {
            outcome,
            raised,
            overrode: ruled.decision.reason(),
            decided_ms: now_ms,
        };
        if let Some(placing) = self.placing(&waiting.outcome) {
            self.awaiting = Some(waiting);
            return ScanStep::Place(Box::new(placing));
        }
        self.finish(waiting)
    }

    /// Rule 14: the place a granted entry into a zone with a capacity needs.
    fn placing(&self, outcome: &Outcome) -> Option<Placing> {
        let definition = self.scan.definition.as_ref()?;
        let movement = outcome.change.movement()?;
        let needed = outcome.decision.is_granted() && occupancy::needs_place(definition, &movement);
        needed.then(|| Placing {
            event: self.machine.pass.event.clone(),
            definition: Arc::clone(definition),
            movement,
            hold: !self.scan.check_only,
        })
    }

    /// The decision is final: answered at once for a check-only scan
    /// (rule 13), else persisted.
    fn finish<E>(&mut self, waiting: Awaiting) -> ScanStep<E> {
        let Awaiting {
            outcome,
            raised,
            overrode,
            decided_ms: now_ms,
        } = waiting;
        let machine = &*self.machine;
        let scan = &self.scan;
        if scan.check_only {
            // Rule 13: the answer alone; nothing is stored or applied.
            let uses = machine.pass.uses;
            let defined = scan.definition.is_some();
            let answer =
                ScanOutcome::for_pass(&machine.pass, outcome.decision, uses, false, defined);
            return ScanStep::Answer(Ok(answer));
        }
        let uses_after = outcome.change.uses_after(machine.pass.uses);
        let record = ScanRecord {
            scan_id: scan.scan_id.clone(),
            pass_id: machine.pass.id,
            at_ms: now_ms,
            scanner_time_ms: scan.scanner_time_ms,
            gate: scan.gate.clone(),
            device: scan.device.clone(),
            decision: outcome.decision,
            uses_after,
            event: machine.pass.event.clone(),
            annulled: None,
            offline: None,
            guard_override: self.admit.as_ref().map(|o| {
                Box::new(GuardOverride {
                    who: o.who.clone(),
                    reason: o.reason.clone(),
                    overrode,
                })
            }),
            flags: raised.clone(),
            movement: outcome.change.movement().map(Box::new),
        };
        self.persisting = Some((outcome, now_ms, raised));
        ScanStep::Persist(record)
    }

    /// Rule 12: the flags the pass's recent scans call for at `now_ms`; a
    /// grant that raises one the policy denies becomes that flag's denial
    /// (a guard's override is recorded with its flags but never denied by
    /// them).
    fn raise_flags(&self, outcome: &mut Outcome, now_ms: i64) -> Vec<Flag> {
        let machine = &*self.machine;
        let policy = self.flag_policy();
        let pass = &machine.pass;
        let counted = outcome.change.uses_after(pass.uses) > pass.uses;
        let scan = Presented {
            gate: &self.scan.gate,
            device: &self.scan.device,
            group_admission: flags::group_admission(pass.max_uses, counted),
        };
        let raised = machine.recent.flags(policy, &scan, now_ms);
        let deniable = outcome.decision.is_granted() && self.admit.is_none();
        if let Some(reason) = deniable.then(|| flags::denial(policy, &raised)).flatten() {
            *outcome = Outcome {
                decision: Decision::Denied(reason),
                change: Change::None,
            };
        }
        raised
    }

    /// The flag policy of this scan: its event's own (in the definition's
    /// `policy.flags`) when it has one, else the gateway-wide one.
    fn flag_policy(&self) -> &FlagPolicy {
        let event = self.scan.definition.as_deref();
        match event.and_then(|d| d.policy.flags.as_ref()) {
            Some(own) => own,
            None => &self.machine.flag_policy,
        }
    }

    /// The store made `outcome` (decided at `decided_ms`) durable: apply it
    /// and say what was decided.
    fn apply(&mut self, outcome: Outcome, decided_ms: i64, flags: Vec<Flag>) -> ScanOutcome {
        let machine = &mut *self.machine;
        machine.recent.remember_seen(Seen {
            at_ms: decided_ms,
            gate: self.scan.gate.clone(),
            device: self.scan.device.clone(),
            granted: outcome.decision.is_granted(),
        });
        if outcome.decision.is_granted() {
            // The conditional write confirmed the stored status and count,
            // as of the decision at the latest.
            machine.loaded_ms = machine.loaded_ms.max(decided_ms);
        }
        match (outcome.change, self.admit.is_some()) {
            // An override may count beyond `max_uses` (rule 11).
            (Change::Use { uses }, true) => machine.pass.uses = uses,
            (change, _) => rules::apply(&mut machine.pass, change),
        }
        debug_assert!(
            !outcome.decision.is_granted() || self.admit.is_some() || within_limit(&machine.pass),
            "an online grant never takes a pass beyond max_uses"
        );
        let uses = machine.pass.uses;
        let defined = self.scan.definition.is_some();
        let mut answer =
            ScanOutcome::for_pass(&machine.pass, outcome.decision, uses, false, defined);
        answer.flags = flags;
        answer
    }

    /// The answer to a retry, from the decision stored first.
    fn replay<E>(&self, first: &ScanRecord) -> Result<ScanOutcome, ScanFailure<E>> {
        if first.pass_id != self.machine.pass.id {
            return Err(ScanFailure::ScanIdConflict);
        }
        let defined = self.scan.definition.is_some();
        Ok(ScanOutcome::replay(&self.machine.pass, first, defined))
    }

    fn fail<E>(&mut self, error: E) -> ScanStep<E> {
        self.machine.fail();
        ScanStep::Answer(Err(ScanFailure::Store(error)))
    }
}

/// What a guard's override decides, given what the rules decided: an active
/// pass is granted whatever they said (one more use, beyond `max_uses` if
/// it must); a revoked or suspended pass keeps its denial, since only an
/// explicit reactivate lifts those.
fn admit(pass: &Pass, ruled: Outcome) -> Outcome {
    let held = match pass.status {
        Status::Revoked => Reason::Revoked,
        Status::Suspended => Reason::Suspended,
        Status::Active => {
            return Outcome {
                decision: Decision::Granted,
                change: Change::Use {
                    uses: pass.uses.saturating_add(1),
                },
            };
        }
    };
    debug_assert_eq!(ruled.decision, Decision::Denied(held), "status rules first");
    Outcome {
        decision: Decision::Denied(held),
        change: Change::None,
    }
}
