//! The actor of one pass: it handles that pass's scans and admin changes one
//! at a time, in arrival order, so a use is counted once and a revocation
//! applies to every scan ordered after it.
//!
//! The rules live in the pass's [`PassMachine`] (`scangate_core::protocol`):
//! this actor feeds it each request with the time from the registry's
//! [`Clock`], performs the steps it returns (store calls under deadlines)
//! and hands it their outcomes. Its in-memory pass is only ever what the
//! store acknowledged: a decision is made durable first and applied after.
//! A write the store has taken cannot
//! be withdrawn, so one that outlives the store deadline is answered at the
//! deadline (outcome unknown) while the actor waits for its outcome before
//! the next request. When the store fails, the actor answers with the error,
//! closes its queue and stops; the next request starts a fresh actor from the
//! store's state, never from this one's memory.

use crate::clock::Clock;
use crate::directory::{Directory, Handle, LiveGuard};
use crate::error::{AdminError, Fault, ScanError};
use crate::message::PassMsg;
use crate::queue::{Queue, Ticket};
use crate::store_call::{Reply, deadline, write};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};
use scangate_core::event::Definitions;
use scangate_core::flags::{FlagPolicy, RecentScans};
use scangate_core::protocol::{
    AdminChange, AdminStep, AdmitOrder, AnnulRequest, AnnulStep, MachineConfig, OfflineFact,
    OfflineStep, PassMachine, Reconciled, Scan, ScanFailure, ScanOutcome, ScanStep, ScanTurn, Stop,
};
use scangate_core::{Pass, PassId, ScanRecord};
use scangate_storage::{Annul, Store, StoreError};
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

/// What an actor needs besides its pass.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) directory: Arc<Directory>,
    /// Where decisions get their time.
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store_timeout: Duration,
    /// The protocol's settings: the annul window, and on a store shared
    /// with other gateways how old a denial's copy may be.
    pub(crate) machine: MachineConfig,
    /// Which fraud flags a scan raises and which deny.
    pub(crate) flag_policy: Arc<FlagPolicy>,
    /// `flag_policy`'s horizon, computed once: how far back an actor's
    /// history read looks.
    pub(crate) flag_horizon_ms: i64,
    /// Event definitions, looked up (without waiting) for every scan.
    pub(crate) definitions: Arc<dyn Definitions>,
    /// Zone occupancy's owner: places for entries into zones with a capacity.
    pub(crate) occupancy: Arc<crate::occupancy::Occupancy>,
}

/// Starts the actor of `pass`, freshly loaded from the store.
///
/// `pre_start` does no I/O and never waits, so this completes in one poll:
/// a caller cancelled around it cannot leave an actor running unregistered.
pub(crate) async fn spawn(
    pass: Pass,
    recent: RecentScans,
    settings: Settings,
) -> Result<Handle, SpawnErr> {
    let queue = Arc::new(Queue::new(settings.directory.clock_ms()));
    let args = Args {
        pass,
        recent,
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
    /// The pass's recent scans, read from the store with it.
    recent: RecentScans,
    settings: Settings,
    queue: Arc<Queue>,
}

struct State {
    /// The pass and the protocol's rules; this actor performs its steps.
    machine: PassMachine,
    settings: Settings,
    queue: Arc<Queue>,
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
        let now = args.settings.clock.now_ms();
        Ok(State {
            machine: PassMachine::new(args.pass, now, args.settings.machine)
                .with_flags(Arc::clone(&args.settings.flag_policy), args.recent),
            settings: args.settings,
            queue: args.queue,
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
            } => state.scan_message(&myself, scan, reply, ticket).await,
            PassMsg::Offline {
                fact,
                reply,
                ticket,
            } => {
                let mut reply = Reply::new(reply);
                let answer = Box::pin(state.offline(fact, &mut reply)).await;
                state.settle_counted(&myself, ticket, reply, answer);
            }
            PassMsg::Admin {
                change,
                reply,
                ticket,
            } => {
                let mut reply = Reply::new(reply);
                let answer = Box::pin(state.admin(change, &mut reply)).await;
                state.stop_if_failed(&myself, state.machine.is_failed(), answer.as_ref().err());
                reply.send(answer);
                drop(ticket);
            }
            PassMsg::Admit {
                order,
                reply,
                ticket,
            } => {
                let mut reply = Reply::new(reply);
                let answer = Box::pin(state.admit(order, &mut reply)).await;
                state.settle_counted(&myself, ticket, reply, answer);
            }
            PassMsg::Annul {
                request,
                reply,
                ticket,
            } => {
                let mut reply = Reply::new(reply);
                let answer = Box::pin(state.annul(request, &mut reply)).await;
                state.stop_if_failed(&myself, state.machine.is_failed(), answer.as_ref().err());
                reply.send(answer);
                drop(ticket);
            }
            PassMsg::Get { reply, ticket } => {
                let _ = reply.send(state.machine.pass().clone());
                drop(ticket);
            }
            PassMsg::IdleCheck { idle_ms } => state.idle_check(&myself, idle_ms),
        }
        Ok(())
    }
}

impl State {
    /// A scan from the queue. When its caller gave up while it waited (its
    /// deadline), the caller was told the outcome is unknown and a retry
    /// with the same scan id is decided then: deciding now would spend the
    /// time, and maybe a use, on no one, so it is dropped unanswered.
    async fn scan_message(
        &mut self,
        myself: &ActorRef<PassMsg>,
        scan: Scan,
        reply: RpcReplyPort<Result<ScanOutcome, ScanError>>,
        ticket: Ticket,
    ) {
        if reply.is_closed() {
            metrics::counter!("scangate_scans_abandoned_total").increment(1);
            drop(ticket);
            return;
        }
        let mut reply = Reply::new(reply);
        // Boxed, so a live actor's resting task holds a pointer rather than
        // room for the largest request's future.
        let answer = Box::pin(self.scan(scan, &mut reply)).await;
        self.settle_counted(myself, ticket, reply, answer);
    }

    /// A scan's turn: the machine decides, this performs its steps (store
    /// calls under their deadlines) and hands it their outcomes.
    ///
    /// Retries need no lookup of their own: the store refuses a scan id it
    /// already holds inside the same atomic commit (`DuplicateScanId`, with
    /// the first record), and the machine answers from that record. One
    /// scan-id read per scan (in the store's writer), not two.
    async fn scan(
        &mut self,
        mut scan: Scan,
        reply: &mut Reply<Result<ScanOutcome, ScanError>>,
    ) -> Result<ScanOutcome, ScanError> {
        let State {
            machine, settings, ..
        } = self;
        let id = machine.pass().id;
        let timeout = settings.store_timeout;
        // The pass's event is known here: its definition decides the gate.
        scan.definition = settings.definitions.definition(&machine.pass().event);
        let on_late = || reply.send(Err(ScanError::Store(StoreError::Timeout(timeout))));
        drive_scan(settings, id, machine.on_scan(scan), on_late)
            .await
            .map_err(ScanError::from)
    }

    /// A guard's override: a scan turn without a token (the same commit,
    /// counted the same way), answered as an operator's request.
    async fn admit(
        &mut self,
        order: AdmitOrder,
        reply: &mut Reply<Result<ScanOutcome, AdminError>>,
    ) -> Result<ScanOutcome, AdminError> {
        let State {
            machine, settings, ..
        } = self;
        let id = machine.pass().id;
        let timeout = settings.store_timeout;
        let on_late = || reply.send(Err(AdminError::Store(StoreError::Timeout(timeout))));
        drive_scan(settings, id, machine.on_admit(order), on_late)
            .await
            .map_err(AdminError::from)
    }

    /// An offline fact's turn: recorded with its conflicts in one durable
    /// commit, counted, answered (a known scan id: `Duplicate`).
    async fn offline(
        &mut self,
        fact: OfflineFact,
        reply: &mut Reply<Result<Reconciled, ScanError>>,
    ) -> Result<Reconciled, ScanError> {
        let State {
            machine, settings, ..
        } = self;
        let id = machine.pass().id;
        let timeout = settings.store_timeout;
        let mut turn = machine.on_offline(fact);
        let mut step = turn.start(settings.clock.now_ms());
        loop {
            step = match step {
                OfflineStep::Answer(answer) => return answer.map_err(ScanError::from),
                OfflineStep::Reload => {
                    let fresh = settings.reload(id).await;
                    turn.on_reload(fresh, settings.clock.now_ms())
                }
                OfflineStep::Persist(record) => {
                    let on_late =
                        || reply.send(Err(ScanError::Store(StoreError::Timeout(timeout))));
                    let written = write(timeout, settings.store.commit_scan(record), on_late).await;
                    note_scan_write(id, &written);
                    turn.on_commit(written.map_err(Fault))
                }
            };
        }
    }

    /// An admin change's turn: checked, made durable, then applied.
    async fn admin(
        &mut self,
        change: AdminChange,
        reply: &mut Reply<Result<Pass, AdminError>>,
    ) -> Result<Pass, AdminError> {
        let State {
            machine, settings, ..
        } = self;
        let id = machine.pass().id;
        let timeout = settings.store_timeout;
        let mut turn = machine.on_admin(change);
        let mut step = turn.start(settings.clock.now_ms());
        loop {
            step = match step {
                AdminStep::Answer(answer) => return answer.map_err(AdminError::from),
                AdminStep::Reload => {
                    let fresh = settings.reload(id).await;
                    turn.on_reload(fresh, settings.clock.now_ms())
                }
                AdminStep::Persist(audit) => {
                    let on_late =
                        || reply.send(Err(AdminError::Store(StoreError::Timeout(timeout))));
                    let written = write(timeout, settings.store.commit_admin(audit), on_late).await;
                    turn.on_commit(written.map_err(Fault))
                }
            };
        }
    }

    /// An annulment's turn: find the scan, check the rule, make the
    /// annulment durable (conditional on the use count held), give the use back.
    async fn annul(
        &mut self,
        request: AnnulRequest,
        reply: &mut Reply<Result<ScanRecord, AdminError>>,
    ) -> Result<ScanRecord, AdminError> {
        let State {
            machine, settings, ..
        } = self;
        let id = machine.pass().id;
        let timeout = settings.store_timeout;
        let mut turn = machine.on_annul(request);
        let mut step = turn.start();
        loop {
            step = match step {
                AnnulStep::Answer(answer) => return answer.map_err(AdminError::from),
                AnnulStep::Find(scan_id) => {
                    let found = deadline(timeout, settings.store.find_scan(&scan_id)).await;
                    turn.on_found(found.map_err(Fault), settings.clock.now_ms())
                }
                AnnulStep::Reload => {
                    let fresh = settings.reload(id).await;
                    turn.on_reload(fresh, settings.clock.now_ms())
                }
                AnnulStep::Persist(w) => {
                    let annul = Annul {
                        scan_id: w.scan_id,
                        expected_uses: w.expected_uses,
                        audit: w.audit,
                    };
                    let on_late =
                        || reply.send(Err(AdminError::Store(StoreError::Timeout(timeout))));
                    let written = write(timeout, settings.store.commit_annul(annul), on_late).await;
                    turn.on_commit(written.map_err(Fault))
                }
            };
        }
    }

    /// After a store failure: drop the store's cached copy, refuse new
    /// requests (callers route to a fresh actor) and stop; requests already
    /// queued are dropped unanswered and their callers route again too.
    fn stop_if_failed(
        &self,
        myself: &ActorRef<PassMsg>,
        failed: bool,
        error: Option<&impl Display>,
    ) {
        if failed {
            let pass = self.machine.pass().id;
            let error = error.map(ToString::to_string).unwrap_or_default();
            tracing::warn!(pass = %pass.short(), %error, "store failed; pass actor restarts from the store");
            self.settings.store.invalidate(pass);
            self.queue.close();
            myself.stop(Some("store failed".into()));
        }
    }

    /// Stops at once when the pass can no longer be granted (used up,
    /// revoked, expired) and nothing is queued: a single-use ticket's actor
    /// (~9 KB) does not linger for `idle_stop` after its one grant. A later
    /// scan starts a fresh actor from the store, like after an idle stop.
    /// After a turn that may count a use (a scan, an offline fact): stops
    /// the actor if the turn failed or spent the pass, settled before the
    /// answer goes out, so a request sent after the answer never races the
    /// stop.
    fn settle_counted<T, E: Display>(
        &self,
        myself: &ActorRef<PassMsg>,
        ticket: Ticket,
        mut reply: Reply<Result<T, E>>,
        answer: Result<T, E>,
    ) {
        let stop = self.machine.stop(self.settings.clock.now_ms());
        self.stop_if_failed(myself, stop == Some(Stop::Failed), answer.as_ref().err());
        drop(ticket);
        self.stop_if_spent(myself, stop);
        reply.send(answer);
    }

    fn stop_if_spent(&self, myself: &ActorRef<PassMsg>, stop: Option<Stop>) {
        if stop == Some(Stop::Spent) && self.queue.close_if_empty() {
            tracing::debug!(pass = %self.machine.pass().id.short(), "pass spent, stopping its actor");
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
            tracing::debug!(pass = %self.machine.pass().id.short(), "pass actor idle, stopping");
            myself.stop(Some("idle".into()));
        }
    }
}

impl Settings {
    /// Reads the pass afresh from the store (past any cache) under the
    /// store deadline; a store without it answers `NotFound`.
    async fn reload(&self, id: PassId) -> Result<Pass, Fault> {
        self.store.invalidate(id);
        match deadline(self.store_timeout, self.store.load_pass(id)).await {
            Ok(Some(fresh)) => Ok(fresh),
            Ok(None) => Err(Fault(StoreError::NotFound(id))),
            Err(e) => Err(Fault(e)),
        }
    }
}

/// Performs a scan turn's steps (store calls under their deadlines) and
/// hands the machine their outcomes; `on_late` answers a caller whose
/// deadline passed while the write is still awaited.
async fn drive_scan(
    settings: &Settings,
    id: PassId,
    mut turn: ScanTurn<'_>,
    mut on_late: impl FnMut(),
) -> Result<ScanOutcome, ScanFailure<Fault>> {
    let timeout = settings.store_timeout;
    let mut step = turn.start(settings.clock.now_ms());
    // A zone place held for this turn's entry until its commit is in.
    let mut held = None;
    loop {
        step = match step {
            ScanStep::Answer(answer) => return answer,
            ScanStep::Reload => {
                let fresh = settings.reload(id).await;
                turn.on_reload(fresh, settings.clock.now_ms())
            }
            ScanStep::Place(placing) => {
                let (room, hold) = settings.occupancy.place(&placing);
                held = hold;
                turn.on_place(room)
            }
            ScanStep::Persist(record) => {
                let moving = settings.occupancy.moving(&record, held.take());
                let written =
                    write(timeout, settings.store.commit_scan(record), &mut on_late).await;
                moving.settle(&written);
                note_scan_write(id, &written);
                turn.on_commit(written.map_err(Fault))
            }
        };
    }
}

/// What the metrics and the debug log say about a scan's write.
fn note_scan_write(id: PassId, written: &Result<(), StoreError>) {
    match written {
        // The commit queue is full and nothing was written: answered busy.
        Err(StoreError::Busy) => {
            metrics::counter!("scangate_busy_total", "cause" => "store").increment(1);
        }
        Err(StoreError::Conflict { stored_uses, .. }) => {
            tracing::debug!(pass = %id.short(), stored_uses, "grant conflicted");
        }
        _ => {}
    }
}
