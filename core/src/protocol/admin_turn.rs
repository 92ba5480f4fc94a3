//! The turns of an operator's requests: an admin change (revoke, suspend,
//! reactivate) and an annulment (one grant taken back). Both are checked
//! against the pass in memory, made durable, and only then applied.

use super::{AdminChange, AdminFailure, AnnulRequest, FaultKind, PassMachine, StoreFault};
use crate::pass::{
    self, AdminAction, Pass, PassError, REASON_MAX_BYTES, REISSUE_MAX, Status, check_len,
};
use crate::rules;
use crate::scan::{AuditRecord, ScanId, ScanRecord};

/// What the caller does next in an admin change's turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminStep<E> {
    /// Answer with the pass as it is now; the turn is over.
    Answer(Result<Pass, AdminFailure<E>>),
    /// Read the pass afresh, then call [`AdminTurn::on_reload`].
    Reload,
    /// Make the status change durable with this audit record, then call
    /// [`AdminTurn::on_commit`].
    Persist(AuditRecord),
}

/// One admin change being applied; it holds its machine until the turn is over.
#[derive(Debug)]
pub struct AdminTurn<'m> {
    machine: &'m mut PassMachine,
    change: AdminChange,
    /// The status being persisted and when it was decided (Unix ms),
    /// applied when the store says done.
    after: Option<(Status, i64)>,
}

impl<'m> AdminTurn<'m> {
    pub(super) fn new(machine: &'m mut PassMachine, change: AdminChange) -> Self {
        AdminTurn {
            machine,
            change,
            after: None,
        }
    }

    /// The turn's first step, at `now_ms`.
    pub fn start<E>(&mut self, now_ms: i64) -> AdminStep<E> {
        if let Err(e) = check_len("reason", &self.change.reason, REASON_MAX_BYTES) {
            return AdminStep::Answer(Err(AdminFailure::Invalid(e)));
        }
        if self.machine.failed {
            return AdminStep::Reload;
        }
        self.check(now_ms)
    }

    /// The pass read again, or why not.
    pub fn on_reload<E: StoreFault>(
        &mut self,
        fresh: Result<Pass, E>,
        now_ms: i64,
    ) -> AdminStep<E> {
        match fresh {
            Ok(pass) => {
                self.machine.reloaded(pass, now_ms);
                self.check(now_ms)
            }
            Err(error) => AdminStep::Answer(Err(fail(self.machine, error))),
        }
    }

    /// The outcome of the [`AdminStep::Persist`] write, whenever it came.
    pub fn on_commit<E: StoreFault>(&mut self, written: Result<(), E>) -> AdminStep<E> {
        let Some(after) = self.after.take() else {
            // Not after a persist step: read the truth and check again.
            self.machine.fail();
            return AdminStep::Reload;
        };
        match written {
            Ok(()) => {
                let (after, at_ms) = after;
                let pass = &mut self.machine.pass;
                if self.change.action == AdminAction::Reissue {
                    // A new token, the status untouched.
                    pass.token_generation = pass.token_generation.saturating_add(1);
                    return AdminStep::Answer(Ok(pass.clone()));
                }
                pass.status = after;
                pass.status_since_ms = Some(at_ms);
                pass.status_reason = Some(std::mem::take(&mut self.change.reason));
                if self.change.action == AdminAction::Erase {
                    // The store erased them with the change; memory follows.
                    pass.display = None;
                    pass.card = None;
                }
                AdminStep::Answer(Ok(pass.clone()))
            }
            Err(error) if error.kind() == FaultKind::Busy => {
                AdminStep::Answer(Err(AdminFailure::Busy))
            }
            // A refusal wrote nothing: memory is still what the store holds.
            Err(error) if error.kind() == FaultKind::Refused => {
                AdminStep::Answer(Err(AdminFailure::Store(error)))
            }
            Err(error) => AdminStep::Answer(Err(fail(self.machine, error))),
        }
    }

    /// Checks the transition from the status in memory (a re-issue keeps
    /// the status and takes the next token generation).
    fn check<E>(&mut self, now_ms: i64) -> AdminStep<E> {
        let before = self.machine.pass.status;
        let generation = self.machine.pass.token_generation;
        let (after, token_generation) = match self.change.action {
            AdminAction::Reissue if generation == REISSUE_MAX => {
                return AdminStep::Answer(Err(AdminFailure::Invalid(PassError::ReissueLimit)));
            }
            AdminAction::Reissue => (before, Some(generation + 1)),
            action => match pass::transition(before, action) {
                Ok(after) => (after, None),
                Err(e) => return AdminStep::Answer(Err(AdminFailure::Transition(e))),
            },
        };
        self.after = Some((after, now_ms));
        AdminStep::Persist(AuditRecord {
            pass_id: self.machine.pass.id,
            at_ms: now_ms,
            who: self.change.who.clone(),
            action: self.change.action,
            reason: self.change.reason.clone(),
            status_before: before,
            status_after: after,
            scan_id: None,
            token_generation,
        })
    }
}

/// What the caller does next in an annulment's turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnulStep<E> {
    /// Answer with the annulled scan record; the turn is over.
    Answer(Result<ScanRecord, AdminFailure<E>>),
    /// Read the scan stored under this id, then call [`AnnulTurn::on_found`].
    Find(ScanId),
    /// Read the pass afresh, then call [`AnnulTurn::on_reload`].
    Reload,
    /// Make the annulment durable, then call [`AnnulTurn::on_commit`].
    Persist(AnnulWrite),
}

/// An annulment to make durable: what the store's annul call takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnulWrite {
    /// The granted scan.
    pub scan_id: ScanId,
    /// The use count in memory: the store applies the annulment only if it
    /// holds the same (a conditional write, like a grant).
    pub expected_uses: u32,
    /// The audit record to keep.
    pub audit: AuditRecord,
}

/// One annulment being applied; it holds its machine until the turn is over.
#[derive(Debug)]
pub struct AnnulTurn<'m> {
    machine: &'m mut PassMachine,
    request: AnnulRequest,
    /// The pass was read again in this turn: at most once per turn.
    reloaded: bool,
}

impl<'m> AnnulTurn<'m> {
    pub(super) fn new(machine: &'m mut PassMachine, request: AnnulRequest) -> Self {
        AnnulTurn {
            machine,
            request,
            reloaded: false,
        }
    }

    /// The turn's first step.
    pub fn start<E>(&mut self) -> AnnulStep<E> {
        if let Err(e) = check_len("reason", &self.request.reason, REASON_MAX_BYTES) {
            return AnnulStep::Answer(Err(AdminFailure::Invalid(e)));
        }
        if self.machine.failed {
            self.reloaded = true;
            return AnnulStep::Reload;
        }
        AnnulStep::Find(self.request.scan_id.clone())
    }

    /// The scan found under the id (`None`: not kept), or why not, at `now_ms`.
    pub fn on_found<E: StoreFault>(
        &mut self,
        found: Result<Option<ScanRecord>, E>,
        now_ms: i64,
    ) -> AnnulStep<E> {
        let record = match found {
            Ok(Some(record)) => record,
            Ok(None) => return AnnulStep::Answer(Err(AdminFailure::ScanNotFound)),
            Err(e) if e.kind() == FaultKind::Busy => {
                return AnnulStep::Answer(Err(AdminFailure::Busy));
            }
            // A read wrote nothing: memory is still what the store holds.
            Err(e) => return AnnulStep::Answer(Err(AdminFailure::Store(e))),
        };
        let (pass, window_ms) = (&self.machine.pass, self.machine.config.annul_window_ms);
        if let Err(refusal) = rules::annul(pass.id, &record, now_ms, window_ms) {
            return AnnulStep::Answer(Err(AdminFailure::Annul(refusal)));
        }
        let request = &self.request;
        AnnulStep::Persist(AnnulWrite {
            scan_id: request.scan_id.clone(),
            expected_uses: pass.uses,
            audit: AuditRecord {
                pass_id: pass.id,
                at_ms: now_ms,
                who: request.who.clone(),
                action: AdminAction::Annul,
                reason: request.reason.clone(),
                status_before: pass.status,
                status_after: pass.status,
                scan_id: Some(request.scan_id.clone()),
                token_generation: None,
            },
        })
    }

    /// The pass read again, or why not.
    pub fn on_reload<E: StoreFault>(
        &mut self,
        fresh: Result<Pass, E>,
        now_ms: i64,
    ) -> AnnulStep<E> {
        match fresh {
            Ok(pass) => {
                self.machine.reloaded(pass, now_ms);
                AnnulStep::Find(self.request.scan_id.clone())
            }
            Err(error) => AnnulStep::Answer(Err(fail(self.machine, error))),
        }
    }

    /// The outcome of the [`AnnulStep::Persist`] write, whenever it came.
    pub fn on_commit<E: StoreFault>(&mut self, written: Result<ScanRecord, E>) -> AnnulStep<E> {
        let error = match written {
            Ok(annulled) => {
                let pass = &mut self.machine.pass;
                debug_assert!(pass.uses > 0, "an annulled grant was counted");
                pass.uses = pass.uses.saturating_sub(1);
                return AnnulStep::Answer(Ok(annulled));
            }
            Err(error) => error,
        };
        let failure = match error.kind() {
            FaultKind::NotAnnullable(Some(refusal)) => AdminFailure::Annul(refusal),
            FaultKind::NotAnnullable(None) => AdminFailure::ScanNotFound,
            FaultKind::Busy => AdminFailure::Busy,
            FaultKind::Conflict if !self.reloaded => {
                // Another writer moved the count: read the truth, try once more.
                self.reloaded = true;
                return AnnulStep::Reload;
            }
            FaultKind::Refused => AdminFailure::Store(error),
            _ => fail(self.machine, error),
        };
        AnnulStep::Answer(Err(failure))
    }
}

/// The store failed (or has no such pass) under an operator's request:
/// memory is no longer trusted.
fn fail<E: StoreFault>(machine: &mut PassMachine, error: E) -> AdminFailure<E> {
    machine.fail();
    if error.kind() == FaultKind::PassNotFound {
        AdminFailure::NotFound
    } else {
        AdminFailure::Store(error)
    }
}
