//! The map from pass id to its live actor, and the rules that keep it to
//! exactly one actor per pass.
//!
//! A slot is either *starting* (one caller is loading the pass and spawning
//! its actor; the others wait on a watch channel) or *live*. Claiming a slot,
//! finishing a start and forgetting a stale actor each happen under one lock,
//! so two first scans of the same pass start one actor, and an actor that
//! stopped is replaced at most once per stale handle. The map never holds
//! more than `max_live` slots: clients cannot grow it.
//!
//! Idle actors are found here too: one sweep task per registry
//! ([`sweep_idle`]) asks the actors whose queue has admitted nothing for
//! `idle_stop` to stop, instead of every actor keeping a timer task.

use crate::pass_actor::PassMsg;
use crate::queue::Queue;
use ractor::{ActorId, ActorRef};
use scangate_core::PassId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// Longest time between idle sweeps: an idle actor stops at most this long
/// after `idle_stop` (sooner when `idle_stop` is short: a sweep every quarter
/// of it).
pub(crate) const SWEEP_MAX_INTERVAL: Duration = Duration::from_secs(1);

/// Shortest time between idle sweeps, so a zero `idle_stop` cannot turn the
/// sweep into a busy loop.
const SWEEP_MIN_INTERVAL: Duration = Duration::from_millis(1);

/// How long an actor may idle while more than half of `max_live` actors are
/// alive (when `idle_stop` is longer): under that pressure idle actors make
/// room (and give their memory back, ~9 KB each) within a second or two,
/// instead of new passes being answered `busy` until `idle_stop` has passed.
pub(crate) const PRESSURE_IDLE_STOP: Duration = Duration::from_secs(1);

/// What a live pass is reached through.
#[derive(Debug, Clone)]
pub(crate) struct Handle {
    /// The actor.
    pub(crate) actor: ActorRef<PassMsg>,
    /// Its admission counter (the mailbox bound).
    pub(crate) queue: Arc<Queue>,
}

/// How a start ended, as waiters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Still loading.
    Pending,
    /// The store has no such pass.
    Unknown,
}

enum Slot {
    Starting(watch::Receiver<Start>),
    Live(Handle),
}

/// The outcome of [`Directory::claim`].
pub(crate) enum Claim {
    /// The pass has a live actor.
    Live(Handle),
    /// Another caller is starting it: wait for a change, then claim again.
    Wait(watch::Receiver<Start>),
    /// This caller must start it, then call [`StartGuard::finish`] or
    /// [`StartGuard::unknown`]; dropping the guard gives the slot up.
    Start(StartGuard),
    /// `max_live` slots are taken.
    Full,
    /// The registry is shutting down.
    Closed,
}

struct Slots {
    map: HashMap<PassId, Slot>,
    closed: bool,
}

/// The map of live actors, shared by the registry and every actor.
pub(crate) struct Directory {
    slots: Mutex<Slots>,
    max_live: usize,
    live: AtomicUsize,
    started: AtomicU64,
    emptied: Notify,
    /// Zero of [`Directory::clock_ms`].
    epoch: Instant,
}

impl Directory {
    /// An empty directory holding at most `max_live` slots.
    pub(crate) fn new(max_live: usize) -> Arc<Self> {
        Arc::new(Directory {
            slots: Mutex::new(Slots {
                map: HashMap::new(),
                closed: false,
            }),
            max_live,
            live: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            emptied: Notify::new(),
            epoch: Instant::now(),
        })
    }

    /// Milliseconds since the directory was made: the clock queues record
    /// admissions in.
    pub(crate) fn clock_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The live actors whose queue has admitted nothing for `idle_ms`.
    fn idle(&self, idle_ms: u64) -> Vec<Handle> {
        let now = self.clock_ms();
        self.lock()
            .map
            .values()
            .filter_map(|slot| match slot {
                Slot::Live(h) if h.queue.idle_ms(now) >= idle_ms => Some(h.clone()),
                _ => None,
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding this lock leaves the map consistent (every
        // critical section is a single insert or remove), so keep going.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Finds the pass's actor, or the right to start it.
    pub(crate) fn claim(self: &Arc<Self>, id: PassId) -> Claim {
        let mut slots = self.lock();
        if slots.closed {
            return Claim::Closed;
        }
        match slots.map.get(&id) {
            Some(Slot::Live(handle)) => Claim::Live(handle.clone()),
            Some(Slot::Starting(rx)) => Claim::Wait(rx.clone()),
            None if slots.map.len() >= self.max_live => Claim::Full,
            None => {
                let (tx, rx) = watch::channel(Start::Pending);
                slots.map.insert(id, Slot::Starting(rx));
                Claim::Start(StartGuard {
                    directory: Arc::clone(self),
                    id,
                    tx,
                    done: false,
                })
            }
        }
    }

    /// The pass's live actor, if any, without starting one.
    pub(crate) fn live(&self, id: PassId) -> Result<Option<Handle>, Closed> {
        let slots = self.lock();
        if slots.closed {
            return Err(Closed);
        }
        Ok(match slots.map.get(&id) {
            Some(Slot::Live(handle)) => Some(handle.clone()),
            _ => None,
        })
    }

    /// Forgets `actor` as the pass's actor (it stopped or is stopping). A
    /// newer actor of the same pass is left alone.
    pub(crate) fn forget(&self, id: PassId, actor: ActorId) {
        let mut slots = self.lock();
        if matches!(slots.map.get(&id), Some(Slot::Live(h)) if h.actor.get_id() == actor) {
            slots.map.remove(&id);
        }
    }

    /// Takes no more work and returns every live actor, to be drained.
    pub(crate) fn close(&self) -> Vec<Handle> {
        let mut slots = self.lock();
        slots.closed = true;
        slots
            .map
            .values()
            .filter_map(|slot| match slot {
                Slot::Live(handle) => Some(handle.clone()),
                Slot::Starting(_) => None,
            })
            .collect()
    }

    /// Counts a started actor; the guard, kept in the actor's state, undoes
    /// it (and forgets the actor) when the actor is gone, however it ended.
    pub(crate) fn actor_started(self: &Arc<Self>, id: PassId, actor: ActorId) -> LiveGuard {
        let live = self.live.fetch_add(1, Ordering::AcqRel) + 1;
        self.started.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("scangate_actors_started_total").increment(1);
        metrics::gauge!("scangate_actors_live").set(live as f64);
        LiveGuard {
            directory: Arc::clone(self),
            id,
            actor,
        }
    }

    /// Actors alive now.
    pub(crate) fn live_count(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Actors started since the registry was made.
    #[cfg(test)]
    pub(crate) fn started_count(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Waits until no actor is alive, or `deadline`.
    pub(crate) async fn wait_empty(&self, deadline: Instant) {
        loop {
            let emptied = self.emptied.notified();
            if self.live_count() == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, emptied).await.is_err() {
                return;
            }
        }
    }

    /// Whether [`Self::close`] was called.
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Puts `handle` in the pass's slot as if it were live (tests of stale handles).
    #[cfg(test)]
    pub(crate) fn insert_live(&self, id: PassId, handle: Handle) {
        self.lock().map.insert(id, Slot::Live(handle));
    }
}

/// Every sweep interval, asks each actor idle for `idle_stop` (or
/// [`PRESSURE_IDLE_STOP`] while more than half the slots are live) to stop;
/// it stops only if its queue is still empty, see `PassActor`'s idle check.
/// Ends once the directory is dropped or closed (shutdown drains every actor).
pub(crate) async fn sweep_idle(directory: Weak<Directory>, idle_stop: Duration) {
    let every = (idle_stop / 4).clamp(SWEEP_MIN_INTERVAL, SWEEP_MAX_INTERVAL);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(directory) = directory.upgrade() else {
            return;
        };
        if directory.lock().closed {
            return;
        }
        let idle = if directory.live_count() > directory.max_live / 2 {
            idle_stop.min(PRESSURE_IDLE_STOP)
        } else {
            idle_stop
        };
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        for handle in directory.idle(idle_ms) {
            // Already stopping is fine: it leaves the directory by itself.
            let _ = handle.actor.cast(PassMsg::IdleCheck { idle_ms });
        }
    }
}

/// The registry is shutting down.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closed;

/// The right, and the duty, to start one pass's actor.
pub(crate) struct StartGuard {
    directory: Arc<Directory>,
    id: PassId,
    tx: watch::Sender<Start>,
    done: bool,
}

impl StartGuard {
    /// The pass does not exist: free the slot and tell the waiters.
    pub(crate) fn unknown(mut self) {
        self.directory.lock().map.remove(&self.id);
        self.done = true;
        self.tx.send_replace(Start::Unknown);
    }

    /// The actor is running: make it the pass's actor. Gives the handle back
    /// if the registry closed meanwhile (the caller stops that actor).
    pub(crate) fn finish(mut self, handle: Handle) -> Result<Handle, Handle> {
        let mut slots = self.directory.lock();
        self.done = true;
        if slots.closed {
            slots.map.remove(&self.id);
            return Err(handle);
        }
        slots.map.insert(self.id, Slot::Live(handle.clone()));
        Ok(handle)
    }
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        // Failed or cancelled: the starting slot is still ours (nobody else
        // replaces a starting slot), give it up. Dropping `tx` wakes waiters.
        if !self.done {
            self.directory.lock().map.remove(&self.id);
        }
    }
}

/// Kept in a live actor's state: counts it alive until the state is dropped.
pub(crate) struct LiveGuard {
    directory: Arc<Directory>,
    id: PassId,
    actor: ActorId,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.directory.forget(self.id, self.actor);
        let live = self.directory.live.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!("scangate_actors_live").set(live as f64);
        if live == 0 {
            self.directory.emptied.notify_waiters();
        }
    }
}
