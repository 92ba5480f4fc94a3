//! A scan's turn: decide, read the pass again if the denial may be stale or
//! the write conflicted, persist, then apply and answer (rules 1 to 9 of the
//! [module](super)).

use super::{FaultKind, PassMachine, ScanFailure, StoreFault, within_limit};
use super::{Scan, ScanOutcome};
use crate::Reason;
use crate::pass::Pass;
use crate::rules::{self, Outcome, ScanContext};
use crate::scan::ScanRecord;

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
    persisting: Option<(Outcome, i64)>,
}

impl<'m> ScanTurn<'m> {
    pub(super) fn new(machine: &'m mut PassMachine, scan: Scan) -> Self {
        ScanTurn {
            machine,
            scan,
            reloaded: false,
            persisting: None,
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
        let Some((outcome, decided_ms)) = self.persisting.take() else {
            // Not after a persist step: what was written is unknown to this
            // turn, so read the truth and decide again (a write of this scan
            // id that did land is then answered from its record).
            self.machine.fail();
            return ScanStep::Reload;
        };
        let error = match written {
            Ok(()) => return ScanStep::Answer(Ok(self.apply(outcome, decided_ms))),
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

    /// Decides at `now_ms` from the pass in memory.
    fn decide<E>(&mut self, now_ms: i64) -> ScanStep<E> {
        let machine = &*self.machine;
        let scan = &self.scan;
        let ctx = ScanContext {
            event: scan.event.as_deref(),
            gate: &scan.gate,
            token_not_after_ms: scan.token_not_after_ms,
            definition: scan.definition.as_deref(),
            direction: scan.direction,
        };
        let outcome = rules::decide(&machine.pass, &ctx, now_ms);
        let reason = outcome.decision.reason();
        if let Some(reason) = reason.filter(|r| r.is_transient()) {
            // Never stored: a retry may get another answer.
            return ScanStep::Answer(Ok(ScanOutcome::refused(reason)));
        }
        if !self.reloaded && machine.denial_may_be_stale(reason, now_ms) {
            self.reloaded = true;
            return ScanStep::Reload;
        }
        if scan.check_only {
            // Rule 11: the answer alone; nothing is stored or applied.
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
            movement: outcome.change.movement().map(Box::new),
        };
        self.persisting = Some((outcome, now_ms));
        ScanStep::Persist(record)
    }

    /// The store made `outcome` (decided at `decided_ms`) durable: apply it
    /// and say what was decided.
    fn apply(&mut self, outcome: Outcome, decided_ms: i64) -> ScanOutcome {
        let machine = &mut *self.machine;
        if outcome.decision.is_granted() {
            // The conditional write confirmed the stored status and count,
            // as of the decision at the latest.
            machine.loaded_ms = machine.loaded_ms.max(decided_ms);
        }
        rules::apply(&mut machine.pass, outcome.change);
        debug_assert!(
            !outcome.decision.is_granted() || within_limit(&machine.pass),
            "an online grant never takes a pass beyond max_uses"
        );
        let uses = machine.pass.uses;
        let defined = self.scan.definition.is_some();
        ScanOutcome::for_pass(&machine.pass, outcome.decision, uses, false, defined)
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
