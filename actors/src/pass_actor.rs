//! The pass actors: [`ACTORS`](crate::slots::ACTORS) ractor actors started
//! with the gateway ([`crate::slots`]), each holding the passes whose id
//! falls in its slot and handling their scans and admin changes one at a
//! time, in arrival order, so a use is counted once and a revocation applies
//! to every scan ordered after it. A pass is held from its first request
//! until it is spent, fails, or idles; a first scan sends one message to a
//! running actor instead of starting one (docs/architecture.md, "The kept
//! form of the actor").
//!
//! The rules live in each pass's [`PassMachine`] (`scangate_core::protocol`):
//! the actor feeds it each request with the time from the registry's
//! [`Clock`], performs the steps it returns (store calls under deadlines)
//! and hands it their outcomes. A held pass is only ever what the store
//! acknowledged: a decision is made durable first and applied after. A
//! write the store has taken cannot be withdrawn, so one that outlives the
//! store deadline is answered at the deadline (outcome unknown) while the
//! actor waits for its outcome before the next request. When the store
//! fails, the actor answers with the error, closes the pass's queue and lets
//! the pass go; the next request loads it afresh from the store, never from
//! this actor's memory.
//!
//! An actor awaits each turn before the next, so the passes of one actor
//! wait for each other's store calls: with k scans in flight over `ACTORS`
//! actors, a scan shares its actor with another in flight with probability
//! 1 − e^(−k/4,096) (22 % at 1,024, 16 scanners × 64), and then may wait for
//! that one's turn (a group commit).

use crate::directory::LiveGuard;
use crate::error::{AdminError, Fault, ScanError};
use crate::message::{ActorMsg, PassMsg};
use crate::queue::{Queue, Ticket};
use crate::settings::Settings;
use crate::store_call::{Reply, deadline, write};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use scangate_core::protocol::{
    AdminChange, AdminStep, AdmitOrder, AnnulRequest, AnnulStep, OfflineFact, OfflineStep,
    PassMachine, Reconciled, Scan, ScanFailure, ScanOutcome, ScanStep, ScanTurn, Stop,
};
use scangate_core::{Pass, PassId, ScanRecord};
use scangate_storage::{Annul, StoreError};
use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;

/// The actor type; [`crate::slots`] starts one per slot.
pub(crate) struct PassActor;

/// An actor's state: the passes it holds.
pub(crate) struct State {
    /// The passes this actor holds.
    passes: HashMap<PassId, Held>,
    settings: Settings,
}

/// One pass this actor holds.
struct Held {
    /// The pass and the protocol's rules; the actor performs its steps.
    machine: PassMachine,
    queue: Arc<Queue>,
    _live: LiveGuard,
}

/// What becomes of a held pass after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Held,
    LetGo,
}

impl Actor for PassActor {
    type Msg = ActorMsg;
    type State = State;
    type Arguments = Settings;

    async fn pre_start(
        &self,
        _myself: ActorRef<ActorMsg>,
        settings: Settings,
    ) -> Result<State, ActorProcessingErr> {
        Ok(State {
            passes: HashMap::new(),
            settings,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ActorMsg>,
        message: ActorMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        // Business outcomes and store failures are both answered as values;
        // an `Err` here would only stop the actor without answering.
        let State { passes, settings } = state;
        match message {
            ActorMsg::Start {
                pass,
                recent,
                queue,
            } => {
                let id = pass.id;
                let live = settings.directory.pass_started(id, &queue);
                tracing::debug!(pass = %id.short(), uses = pass.uses, "pass held by its actor");
                let now = settings.clock.now_ms();
                let machine = PassMachine::new(*pass, now, settings.machine)
                    .with_flags(Arc::clone(&settings.flag_policy), recent);
                passes.insert(
                    id,
                    Held {
                        machine,
                        queue,
                        _live: live,
                    },
                );
            }
            ActorMsg::To(id, request) => {
                // Not held: dropped, its caller routes again.
                let Some(held) = passes.get_mut(&id) else {
                    return Ok(());
                };
                if held.handle(request, settings).await == Keep::LetGo {
                    let_go(passes, &id);
                }
            }
            ActorMsg::IdleCheck { pass, idle_ms } => {
                let idle = passes
                    .get(&pass)
                    .is_some_and(|held| held.idle(settings, idle_ms));
                if idle {
                    let_go(passes, &pass);
                }
            }
        }
        Ok(())
    }
}

/// How much larger than its passes an actor's map may grow before it gives
/// memory back: a map keeps room for its peak, ~500 B a place, which after
/// a burst of 100,000 held passes would be ~50 MB over the 4,096 actors.
const SHRINK_RATIO: usize = 4;

/// Lets a pass go, and gives back the map's room once it is mostly empty.
fn let_go<V>(passes: &mut HashMap<PassId, V>, id: &PassId) {
    passes.remove(id);
    if passes.capacity() > SHRINK_RATIO * passes.len().max(4) {
        passes.shrink_to(2 * passes.len());
    }
}

impl Held {
    async fn handle(&mut self, request: PassMsg, settings: &Settings) -> Keep {
        match request {
            PassMsg::Scan {
                scan,
                reply,
                ticket,
            } => self.scan_message(settings, scan, reply, ticket).await,
            PassMsg::Offline {
                fact,
                reply,
                ticket,
            } => {
                let mut reply = Reply::new(reply);
                let answer = Box::pin(self.offline(settings, fact, &mut reply)).await;
                self.settle_counted(settings, ticket, reply, answer)
            }
            PassMsg::Admin {
                change,
                reply,
                ticket,
            } => {
                let mut reply = Reply::new(reply);
                let answer = Box::pin(self.admin(settings, change, &mut reply)).await;
                let keep = self.keep_unless_failed(settings, answer.as_ref().err());
                reply.send(answer);
                drop(ticket);
                keep
            }
            PassMsg::Admit {
                order,
                reply,
                ticket,
            } => {
                let mut reply = Reply::new(reply);
                let answer = Box::pin(self.admit(settings, order, &mut reply)).await;
                self.settle_counted(settings, ticket, reply, answer)
            }
            PassMsg::Annul {
                request,
                reply,
                ticket,
            } => {
                let mut reply = Reply::new(reply);
                let answer = Box::pin(self.annul(settings, request, &mut reply)).await;
                let keep = self.keep_unless_failed(settings, answer.as_ref().err());
                reply.send(answer);
                drop(ticket);
                keep
            }
            PassMsg::Get { reply, ticket } => {
                let _ = reply.send(self.machine.pass().clone());
                drop(ticket);
                Keep::Held
            }
        }
    }

    /// A scan from the queue. When its caller gave up while it waited (its
    /// deadline), the caller was told the outcome is unknown and a retry
    /// with the same scan id is decided then: deciding now would spend the
    /// time, and maybe a use, on no one, so it is dropped unanswered.
    async fn scan_message(
        &mut self,
        settings: &Settings,
        scan: Scan,
        reply: RpcReplyPort<Result<ScanOutcome, ScanError>>,
        ticket: Ticket,
    ) -> Keep {
        if reply.is_closed() {
            metrics::counter!("scangate_scans_abandoned_total").increment(1);
            drop(ticket);
            return Keep::Held;
        }
        let mut reply = Reply::new(reply);
        // Boxed, so the actor's resting task holds a pointer rather than
        // room for the largest request's future.
        let answer = Box::pin(self.scan(settings, scan, &mut reply)).await;
        self.settle_counted(settings, ticket, reply, answer)
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
        settings: &Settings,
        mut scan: Scan,
        reply: &mut Reply<Result<ScanOutcome, ScanError>>,
    ) -> Result<ScanOutcome, ScanError> {
        let machine = &mut self.machine;
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
        settings: &Settings,
        order: AdmitOrder,
        reply: &mut Reply<Result<ScanOutcome, AdminError>>,
    ) -> Result<ScanOutcome, AdminError> {
        let machine = &mut self.machine;
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
        settings: &Settings,
        fact: OfflineFact,
        reply: &mut Reply<Result<Reconciled, ScanError>>,
    ) -> Result<Reconciled, ScanError> {
        let machine = &mut self.machine;
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
        settings: &Settings,
        change: AdminChange,
        reply: &mut Reply<Result<Pass, AdminError>>,
    ) -> Result<Pass, AdminError> {
        let machine = &mut self.machine;
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
        settings: &Settings,
        request: AnnulRequest,
        reply: &mut Reply<Result<ScanRecord, AdminError>>,
    ) -> Result<ScanRecord, AdminError> {
        let machine = &mut self.machine;
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
    /// requests for the pass (callers route again and load it afresh) and
    /// let it go; its requests already queued are dropped unanswered, and
    /// their callers route again too.
    fn keep_unless_failed(&self, settings: &Settings, error: Option<&impl Display>) -> Keep {
        if !self.machine.is_failed() {
            return Keep::Held;
        }
        let pass = self.machine.pass().id;
        let error = error.map(ToString::to_string).unwrap_or_default();
        tracing::warn!(pass = %pass.short(), %error, "store failed; the pass is loaded afresh from the store");
        settings.store.invalidate(pass);
        self.queue.close();
        Keep::LetGo
    }

    /// After a turn that may count a use (a scan, an offline fact): lets
    /// the pass go if the turn failed, or if the pass can no longer be
    /// granted (used up, revoked, expired) and nothing is queued for it, so
    /// a single-use ticket is not held for `idle_stop` after its one grant
    /// (a later scan loads it afresh, as after an idle stop). Settled before
    /// the answer goes out: the pass's queue is closed first, so a request
    /// sent after the answer routes again rather than racing the release.
    fn settle_counted<T, E: Display>(
        &self,
        settings: &Settings,
        ticket: Ticket,
        mut reply: Reply<Result<T, E>>,
        answer: Result<T, E>,
    ) -> Keep {
        let stop = self.machine.stop(settings.clock.now_ms());
        let mut keep = self.keep_unless_failed(settings, answer.as_ref().err());
        drop(ticket);
        if keep == Keep::Held && stop == Some(Stop::Spent) && self.queue.close_if_empty() {
            tracing::debug!(pass = %self.machine.pass().id.short(), "pass spent, its actor lets it go");
            keep = Keep::LetGo;
        }
        reply.send(answer);
        keep
    }

    /// Whether nothing was admitted for `idle_ms` and nothing is queued; if
    /// so the pass's queue is closed (later senders route again and load it
    /// afresh), so no request is lost.
    fn idle(&self, settings: &Settings, idle_ms: u64) -> bool {
        let idle_for = self.queue.idle_ms(settings.directory.clock_ms());
        let idle = idle_for >= idle_ms && self.queue.close_if_empty();
        if idle {
            tracing::debug!(pass = %self.machine.pass().id.short(), "pass idle, its actor lets it go");
        }
        idle
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_mostly_emptied_gives_its_room_back() {
        let id = |n: u8| PassId([n; 16]);
        let mut passes: HashMap<PassId, u8> = (0..100).map(|n| (id(n), n)).collect();
        let peak = passes.capacity();
        for n in 0..90 {
            let_go(&mut passes, &id(n));
        }
        assert_eq!(passes.len(), 10);
        assert!(
            passes.capacity() <= SHRINK_RATIO * 10 && passes.capacity() < peak,
            "room kept: {} of {peak}",
            passes.capacity()
        );
        // A few passes in a small map: no shrinking back and forth.
        let before = passes.capacity();
        let_go(&mut passes, &id(95));
        assert!(passes.capacity() >= 9 && passes.capacity() <= before);
    }
}
