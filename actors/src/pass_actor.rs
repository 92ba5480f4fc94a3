//! The actor of one pass: it handles that pass's scans and admin changes one
//! at a time, in arrival order, so a use is counted once and a revocation
//! applies to every scan ordered after it.
//!
//! Its in-memory pass is only ever what the store acknowledged: a decision is
//! made durable first and applied after. A write the store has taken cannot
//! be withdrawn, so one that outlives the store deadline is answered at the
//! deadline (outcome unknown) while the actor waits for its outcome before
//! the next request. When the store fails, the actor answers with the error,
//! closes its queue and stops; the next request starts a fresh actor from the
//! store's state, never from this one's memory.

use crate::clock::now_ms;
use crate::directory::{Directory, Handle, LiveGuard};
use crate::error::{AdminError, ScanError};
use crate::queue::{Queue, Ticket};
use crate::request::{AdminChange, AnnulRequest, Scan, ScanOutcome};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};
use scangate_core::pass::{self, REASON_MAX_BYTES, check_len};
use scangate_core::rules::{self, AnnulRefusal, Change, ScanContext};
use scangate_core::{AdminAction, AuditRecord, Pass, Reason, ScanRecord};
use scangate_storage::{Annul, AnnulConflict, Store, StoreError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A request to a pass's actor. Every request but the actor's own idle check
/// carries the [`Ticket`] that bounds the mailbox.
pub(crate) enum PassMsg {
    /// Decide a scan.
    Scan {
        scan: Scan,
        reply: RpcReplyPort<Result<ScanOutcome, ScanError>>,
        ticket: Ticket,
    },
    /// Apply an admin change.
    Admin {
        change: AdminChange,
        reply: RpcReplyPort<Result<Pass, AdminError>>,
        ticket: Ticket,
    },
    /// Annul a granted scan of this pass.
    Annul {
        request: AnnulRequest,
        reply: RpcReplyPort<Result<ScanRecord, AdminError>>,
        ticket: Ticket,
    },
    /// Read the pass as the actor holds it.
    Get {
        reply: RpcReplyPort<Pass>,
        ticket: Ticket,
    },
    /// Stop if nothing was admitted for `idle_ms` (sent by the registry's
    /// idle sweep).
    IdleCheck { idle_ms: u64 },
}

/// What an actor needs besides its pass.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) directory: Arc<Directory>,
    pub(crate) store_timeout: Duration,
    pub(crate) annul_window_ms: i64,
    /// On a store shared with other gateways: how old the pass in memory may
    /// be before a denial it causes (revoked, suspended, used up) is checked
    /// against the store first. `None`: this gateway is the only writer, so
    /// memory is the truth.
    pub(crate) recheck_after: Option<Duration>,
}

/// Starts the actor of `pass`, freshly loaded from the store.
///
/// `pre_start` does no I/O and never waits, so this completes in one poll:
/// a caller cancelled around it cannot leave an actor running unregistered.
pub(crate) async fn spawn(pass: Pass, settings: Settings) -> Result<Handle, SpawnErr> {
    let queue = Arc::new(Queue::new(settings.directory.clock_ms()));
    let args = Args {
        pass,
        settings,
        queue: Arc::clone(&queue),
    };
    // The join handle is not needed: the directory tracks the actor's life.
    let (actor, _join) = Actor::spawn(None, PassActor, args).await?;
    Ok(Handle { actor, queue })
}

struct PassActor;

struct Args {
    pass: Pass,
    settings: Settings,
    queue: Arc<Queue>,
}

struct State {
    pass: Pass,
    /// When `pass` was read from the store (or last confirmed by a write).
    loaded: Instant,
    settings: Settings,
    queue: Arc<Queue>,
    /// Set when the store failed: the actor stops after answering.
    failed: bool,
    _live: LiveGuard,
}

impl Actor for PassActor {
    type Msg = PassMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<PassMsg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        let live = args
            .settings
            .directory
            .actor_started(args.pass.id, myself.get_id());
        tracing::debug!(pass = %args.pass.id.short(), uses = args.pass.uses, "pass actor started");
        Ok(State {
            pass: args.pass,
            loaded: Instant::now(),
            settings: args.settings,
            queue: args.queue,
            failed: false,
            _live: live,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<PassMsg>,
        message: PassMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        // Business outcomes and store failures are both answered as values;
        // an `Err` here would only stop the actor without answering.
        match message {
            PassMsg::Scan {
                scan,
                reply,
                ticket,
            } => {
                if reply.is_closed() {
                    // The caller gave up while this waited in the queue (its
                    // deadline): it was told the outcome is unknown, and a
                    // retry with the same scan id is decided then. Deciding
                    // now would spend the time, and maybe a use, on no one.
                    metrics::counter!("scangate_scans_abandoned_total").increment(1);
                    drop(ticket);
                    return Ok(());
                }
                let mut reply = Reply::new(reply);
                // Boxed, so a live actor's resting task holds a pointer
                // rather than room for the largest request's future.
                let answer = Box::pin(state.scan(scan, &mut reply)).await;
                state.stop_if_failed(&myself);
                // Settle whether this actor stays before answering, so a scan
                // the caller sends after this answer never races the stop.
                drop(ticket);
                state.stop_if_spent(&myself);
                reply.send(answer);
            }
            PassMsg::Admin {
                change,
                reply,
                ticket,
            } => {
                let mut reply = Reply::new(reply);
                let answer = Box::pin(state.admin(change, &mut reply)).await;
                state.stop_if_failed(&myself);
                reply.send(answer);
                drop(ticket);
            }
            PassMsg::Annul {
                request,
                reply,
                ticket,
            } => {
                let mut reply = Reply::new(reply);
                let answer = Box::pin(state.annul(request, &mut reply)).await;
                state.stop_if_failed(&myself);
                reply.send(answer);
                drop(ticket);
            }
            PassMsg::Get { reply, ticket } => {
                let _ = reply.send(state.pass.clone());
                drop(ticket);
            }
            PassMsg::IdleCheck { idle_ms } => state.idle_check(&myself, idle_ms),
        }
        Ok(())
    }
}

impl State {
    /// Scan: decide, make durable, then apply and answer.
    ///
    /// Retries need no lookup of their own: the store refuses a scan id it
    /// already holds inside the same atomic commit (`DuplicateScanId`, with
    /// the first record), and the answer is replayed from that record. One
    /// scan-id read per scan (in the store's writer), not two.
    async fn scan(
        &mut self,
        scan: Scan,
        reply: &mut Reply<Result<ScanOutcome, ScanError>>,
    ) -> Result<ScanOutcome, ScanError> {
        let timeout = self.settings.store_timeout;
        let ctx = ScanContext {
            event: scan.event.as_deref(),
            gate: &scan.gate,
            token_not_after_ms: scan.token_not_after_ms,
        };
        let mut reloaded = false;
        loop {
            let now = now_ms();
            let outcome = rules::decide(&self.pass, &ctx, now);
            if let Some(reason) = outcome.decision.reason().filter(|r| r.is_transient()) {
                // Transient denials are never stored: a retry may get another answer.
                return Ok(ScanOutcome::refused(reason));
            }
            if !reloaded && self.denial_may_be_stale(outcome.decision.reason()) {
                // Another gateway may have reactivated the pass or annulled a
                // use since we read it: read it again before saying no.
                reloaded = true;
                if let Err(e) = self.reload().await {
                    return Err(self.fail_scan(e));
                }
                continue;
            }
            let uses_after = match outcome.change {
                Change::Use { uses } => uses,
                Change::None => self.pass.uses,
            };
            let record = ScanRecord {
                scan_id: scan.scan_id.clone(),
                pass_id: self.pass.id,
                at_ms: now,
                scanner_time_ms: scan.scanner_time_ms,
                gate: scan.gate.clone(),
                device: scan.device.clone(),
                decision: outcome.decision,
                uses_after,
                event: self.pass.event.clone(),
                annulled: None,
            };
            let commit = self.settings.store.commit_scan(record);
            let on_late = || reply.send(Err(ScanError::Store(StoreError::Timeout(timeout))));
            match write(timeout, commit, on_late).await {
                Ok(()) => {
                    if outcome.decision.is_granted() && self.settings.recheck_after.is_some() {
                        // The conditional write just confirmed the stored
                        // status and count (only a shared store needs to know).
                        self.loaded = Instant::now();
                    }
                    rules::apply(&mut self.pass, outcome.change);
                    debug_assert!(
                        within_limit(&self.pass),
                        "a pass is never used beyond max_uses"
                    );
                    return Ok(ScanOutcome::for_pass(
                        &self.pass,
                        outcome.decision,
                        uses_after,
                        false,
                    ));
                }
                // A retry of this scan id raced us (or the id belongs to another pass).
                Err(StoreError::DuplicateScanId { existing }) => return self.replay(&existing),
                // The commit queue is full and nothing was written: transient.
                Err(StoreError::Busy) => {
                    metrics::counter!("scangate_busy_total", "cause" => "store").increment(1);
                    return Ok(ScanOutcome::refused(Reason::Busy));
                }
                // Another writer (another gateway node) moved the pass: nothing
                // was written; read the truth and decide once more.
                Err(StoreError::Conflict { stored_uses, .. }) if !reloaded => {
                    reloaded = true;
                    tracing::debug!(pass = %self.pass.id.short(), stored_uses, "grant conflicted, reloading");
                    if let Err(e) = self.reload().await {
                        return Err(self.fail_scan(e));
                    }
                }
                Err(e) => return Err(self.fail_scan(e)),
            }
        }
    }

    /// The answer to a retry, from the decision stored first.
    fn replay(&self, first: &ScanRecord) -> Result<ScanOutcome, ScanError> {
        if first.pass_id != self.pass.id {
            return Err(ScanError::ScanIdConflict);
        }
        Ok(ScanOutcome::replay(&self.pass, first))
    }

    /// Admin change: check the transition, make it durable, then apply it.
    async fn admin(
        &mut self,
        change: AdminChange,
        reply: &mut Reply<Result<Pass, AdminError>>,
    ) -> Result<Pass, AdminError> {
        check_len("reason", &change.reason, REASON_MAX_BYTES)?;
        let before = self.pass.status;
        let after = pass::transition(before, change.action)?;
        let audit = AuditRecord {
            pass_id: self.pass.id,
            at_ms: now_ms(),
            who: change.who,
            action: change.action,
            reason: change.reason.clone(),
            status_before: before,
            status_after: after,
            scan_id: None,
        };
        let timeout = self.settings.store_timeout;
        let commit = self.settings.store.commit_admin(audit);
        let on_late = || reply.send(Err(AdminError::Store(StoreError::Timeout(timeout))));
        match write(timeout, commit, on_late).await {
            Ok(()) => {
                self.pass.status = after;
                self.pass.status_reason = Some(change.reason);
                Ok(self.pass.clone())
            }
            Err(StoreError::Busy) => Err(AdminError::Busy),
            Err(StoreError::NotFound(_)) => {
                self.fail(&StoreError::NotFound(self.pass.id));
                Err(AdminError::NotFound)
            }
            Err(e) => {
                self.fail(&e);
                Err(AdminError::Store(e))
            }
        }
    }

    /// Annul: check the rule on the stored scan, make the annulment durable
    /// (conditional on the use count this actor holds), then give the use back.
    async fn annul(
        &mut self,
        request: AnnulRequest,
        reply: &mut Reply<Result<ScanRecord, AdminError>>,
    ) -> Result<ScanRecord, AdminError> {
        check_len("reason", &request.reason, REASON_MAX_BYTES)?;
        let timeout = self.settings.store_timeout;
        let mut reloaded = false;
        loop {
            let found = deadline(timeout, self.settings.store.find_scan(&request.scan_id)).await;
            let record = match found {
                Ok(Some(record)) => record,
                Ok(None) => return Err(AdminError::ScanNotFound),
                Err(StoreError::Busy) => return Err(AdminError::Busy),
                Err(e) => return Err(AdminError::Store(e)),
            };
            let now = now_ms();
            rules::annul(self.pass.id, &record, now, self.settings.annul_window_ms)?;
            let annul = Annul {
                scan_id: request.scan_id.clone(),
                expected_uses: self.pass.uses,
                audit: AuditRecord {
                    pass_id: self.pass.id,
                    at_ms: now,
                    who: request.who.clone(),
                    action: AdminAction::Annul,
                    reason: request.reason.clone(),
                    status_before: self.pass.status,
                    status_after: self.pass.status,
                    scan_id: Some(request.scan_id.clone()),
                },
            };
            let commit = self.settings.store.commit_annul(annul);
            let on_late = || reply.send(Err(AdminError::Store(StoreError::Timeout(timeout))));
            match write(timeout, commit, on_late).await {
                Ok(annulled) => {
                    self.pass.uses -= 1;
                    return Ok(annulled);
                }
                Err(StoreError::NotAnnullable { why, .. }) => {
                    return Err(match why {
                        AnnulConflict::OtherPass => AnnulRefusal::OtherPass.into(),
                        AnnulConflict::NotGranted => AnnulRefusal::NotGranted.into(),
                        AnnulConflict::AlreadyAnnulled => AnnulRefusal::AlreadyAnnulled.into(),
                        _ => AdminError::ScanNotFound,
                    });
                }
                Err(StoreError::Busy) => return Err(AdminError::Busy),
                // Another node moved the count: read the truth, try once more.
                Err(StoreError::Conflict { .. }) if !reloaded => {
                    reloaded = true;
                    match self.reload().await {
                        Ok(()) => {}
                        Err(StoreError::NotFound(_)) => {
                            self.fail(&StoreError::NotFound(self.pass.id));
                            return Err(AdminError::NotFound);
                        }
                        Err(e) => {
                            self.fail(&e);
                            return Err(AdminError::Store(e));
                        }
                    }
                }
                Err(e) => {
                    self.fail(&e);
                    return Err(AdminError::Store(e));
                }
            }
        }
    }

    /// Reads the pass afresh from the store (past any cache); memory held so
    /// far is dropped. `NotFound` if the store no longer has it.
    async fn reload(&mut self) -> Result<(), StoreError> {
        let id = self.pass.id;
        self.settings.store.invalidate(id);
        match deadline(
            self.settings.store_timeout,
            self.settings.store.load_pass(id),
        )
        .await?
        {
            Some(fresh) => {
                debug_assert!(
                    within_limit(&fresh),
                    "the store holds a pass beyond max_uses"
                );
                self.pass = fresh;
                self.loaded = Instant::now();
                Ok(())
            }
            None => Err(StoreError::NotFound(id)),
        }
    }

    /// Whether a denial for `reason` comes from pass state that another
    /// gateway may have changed since this actor read it.
    fn denial_may_be_stale(&self, reason: Option<Reason>) -> bool {
        let from_state = matches!(
            reason,
            Some(Reason::Revoked | Reason::Suspended | Reason::UsedUp)
        );
        from_state
            && self
                .settings
                .recheck_after
                .is_some_and(|after| self.loaded.elapsed() >= after)
    }

    fn fail_scan(&mut self, error: StoreError) -> ScanError {
        self.fail(&error);
        ScanError::Store(error)
    }

    /// The store failed or its outcome is unknown: memory can no longer be
    /// trusted. Drop the store's cached copy; the actor stops after answering.
    fn fail(&mut self, error: &StoreError) {
        tracing::warn!(pass = %self.pass.id.short(), %error, "store failed; pass actor restarts from the store");
        self.settings.store.invalidate(self.pass.id);
        self.failed = true;
    }

    /// After a store failure: refuse new requests (callers route to a fresh
    /// actor) and stop; requests already queued are dropped unanswered and
    /// their callers route again too.
    fn stop_if_failed(&self, myself: &ActorRef<PassMsg>) {
        if self.failed {
            self.queue.close();
            myself.stop(Some("store failed".into()));
        }
    }

    /// Stops at once when the pass can no longer be granted (used up,
    /// revoked, expired) and nothing is queued: a single-use ticket's actor
    /// (~9 KB) does not linger for `idle_stop` after its one grant. A later
    /// scan starts a fresh actor from the store, like after an idle stop.
    fn stop_if_spent(&self, myself: &ActorRef<PassMsg>) {
        if !self.failed && self.pass.is_spent(now_ms()) && self.queue.close_if_empty() {
            tracing::debug!(pass = %self.pass.id.short(), "pass spent, stopping its actor");
            myself.stop(Some("spent".into()));
        }
    }

    /// Stops when nothing was admitted for `idle_ms` and nothing is queued.
    fn idle_check(&self, myself: &ActorRef<PassMsg>, idle_ms: u64) {
        let idle_for = self.queue.idle_ms(self.settings.directory.clock_ms());
        // Closing only succeeds with nothing queued or being sent, so no
        // request is lost: later senders see the queue closed and start a
        // new actor.
        if idle_for >= idle_ms && self.queue.close_if_empty() {
            tracing::debug!(pass = %self.pass.id.short(), "pass actor idle, stopping");
            myself.stop(Some("idle".into()));
        }
    }
}

/// The invariant: never more uses than `max_uses`.
fn within_limit(pass: &Pass) -> bool {
    pass.max_uses.is_none_or(|max| pass.uses <= max)
}

/// Where a request's answer goes: once, at the end, or early when a write
/// outlives the store deadline (then the end's answer has no one to go to).
struct Reply<T>(Option<RpcReplyPort<T>>);

impl<T> Reply<T> {
    fn new(port: RpcReplyPort<T>) -> Self {
        Reply(Some(port))
    }

    /// Answers, unless answered already. The caller may have given up (its
    /// own deadline); nothing to do then.
    fn send(&mut self, answer: T) {
        if let Some(port) = self.0.take() {
            let _ = port.send(answer);
        }
    }
}

/// A store write under the deadline. The store may have taken the write
/// already (the embedded store's writer queue, a ScyllaDB request on the
/// wire), so running out does not withdraw it: `on_late` answers the caller
/// (outcome unknown, retry with the same scan id) and the write's own
/// outcome is awaited, so this actor's memory stays what the store holds and
/// no fresh actor reads the pass before the write lands.
async fn write<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
    on_late: impl FnOnce(),
) -> Result<T, StoreError> {
    let mut call = std::pin::pin!(call);
    if let Ok(outcome) = tokio::time::timeout(timeout, &mut call).await {
        return outcome;
    }
    metrics::counter!("scangate_store_late_writes_total").increment(1);
    // Debug only: the caller's `unavailable` is logged where it is answered
    // (one line per scan already), and a failure by `fail`.
    tracing::debug!(
        ?timeout,
        "a store write outlived its deadline; answered unavailable, waiting for its outcome"
    );
    on_late();
    call.await
}

/// A store read under its deadline; running out is a [`StoreError::Timeout`].
pub(crate) async fn deadline<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(StoreError::Timeout(timeout)))
}
