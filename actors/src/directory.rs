//! The map from pass id to the actor holding it, and the rules that keep
//! each pass held once.
//!
//! A slot is either *starting* (one caller is loading the pass and handing
//! it to its actor; the others wait on a watch channel) or *live*. Claiming a slot,
//! finishing a start and forgetting a stale actor each happen under the lock
//! of the pass's shard, so two first scans of the same pass start one actor,
//! and a pass its actor let go is replaced at most once per stale handle. The
//! map never holds more than `max_live` slots (one atomic count over all
//! shards): clients cannot grow it. [`SHARDS`] locks instead of one keep
//! scans of different passes from queueing on each other, and keep each of
//! the idle sweep's lock holds short.
//!
//! Idle passes are found here too: one sweep task per registry
//! ([`sweep_idle`]) asks the actors of the passes whose queue has admitted
//! nothing for `idle_stop` to let them go, instead of a timer per pass.

use crate::message::ActorMsg;
use crate::queue::Queue;
use ractor::ActorRef;
use scangate_core::PassId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// Longest time between two sweeps of one pass: an idle pass is let go at
/// most this long after `idle_stop` (sooner when `idle_stop` is short: a
/// sweep every quarter of it).
pub(crate) const SWEEP_MAX_INTERVAL: Duration = Duration::from_secs(1);

/// Locks the map is split over (by pass id).
pub(crate) const SHARDS: usize = 64;

/// Shortest time between idle sweeps, so a zero `idle_stop` cannot turn the
/// sweep into a busy loop.
const SWEEP_MIN_INTERVAL: Duration = Duration::from_millis(1);

/// How long a pass may idle while more than half of `max_live` passes are
/// held (when `idle_stop` is longer): under that pressure idle passes make
/// room (and give their memory back, ~2.8 KB each) within a second or two,
/// instead of new passes being answered `busy` until `idle_stop` has passed.
pub(crate) const PRESSURE_IDLE_STOP: Duration = Duration::from_secs(1);

/// What a live pass is reached through.
#[derive(Debug, Clone)]
pub(crate) struct Handle {
    /// The actor holding it.
    pub(crate) actor: ActorRef<ActorMsg>,
    /// The pass's admission counter (its bound on the actor's mailbox),
    /// new for every start: what tells one start of a pass from the next.
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

#[derive(Default)]
struct Shard {
    map: HashMap<PassId, Slot>,
    closed: bool,
}

impl Shard {
    /// The live passes of this shard that `keep` accepts.
    fn live<'s>(
        &'s self,
        keep: impl Fn(&Handle) -> bool + 's,
    ) -> impl Iterator<Item = (PassId, Handle)> + 's {
        self.map.iter().filter_map(move |(id, slot)| match slot {
            Slot::Live(h) if keep(h) => Some((*id, h.clone())),
            _ => None,
        })
    }
}

/// The map of live passes, shared by the registry and every actor.
pub(crate) struct Directory {
    shards: Box<[Mutex<Shard>]>,
    /// Slots taken (starting or live) in all shards; at most `max_live`.
    taken: AtomicUsize,
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
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            taken: AtomicUsize::new(0),
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

    /// The live passes of shard `n` whose queue has admitted nothing for
    /// `idle_ms`.
    fn idle_in(&self, n: usize, idle_ms: u64) -> Result<Vec<(PassId, Handle)>, Closed> {
        let now = self.clock_ms();
        let shard = lock(&self.shards[n]);
        if shard.closed {
            return Err(Closed);
        }
        Ok(shard.live(|h| h.queue.idle_ms(now) >= idle_ms).collect())
    }

    /// The shard holding `id`'s slot.
    fn shard(&self, id: PassId) -> MutexGuard<'_, Shard> {
        lock(&self.shards[spread(id, SHARDS)])
    }

    /// Takes one of the `max_live` slots; false if all are taken.
    fn take_slot(&self) -> bool {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_live).then_some(n + 1)
            })
            .is_ok()
    }

    /// Removes `id`'s slot from `shard` and gives its place back.
    fn remove(&self, shard: &mut Shard, id: PassId) {
        if shard.map.remove(&id).is_some() {
            self.taken.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Removes `id`'s slot, whatever it holds, and gives its place back.
    fn free(&self, id: PassId) {
        self.remove(&mut self.shard(id), id);
    }

    /// Finds the pass's actor, or the right to start it.
    pub(crate) fn claim(self: &Arc<Self>, id: PassId) -> Claim {
        let mut shard = self.shard(id);
        if shard.closed {
            return Claim::Closed;
        }
        match shard.map.get(&id) {
            Some(Slot::Live(handle)) => Claim::Live(handle.clone()),
            Some(Slot::Starting(rx)) => Claim::Wait(rx.clone()),
            None if !self.take_slot() => Claim::Full,
            None => {
                let (tx, rx) = watch::channel(Start::Pending);
                shard.map.insert(id, Slot::Starting(rx));
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
        let shard = self.shard(id);
        if shard.closed {
            return Err(Closed);
        }
        Ok(match shard.map.get(&id) {
            Some(Slot::Live(handle)) => Some(handle.clone()),
            _ => None,
        })
    }

    /// Forgets the start of the pass that admits through `queue` (its actor
    /// let it go, or stopped). A newer start of the same pass is left alone.
    pub(crate) fn forget(&self, id: PassId, queue: &Arc<Queue>) {
        let mut shard = self.shard(id);
        if matches!(shard.map.get(&id), Some(Slot::Live(h)) if Arc::ptr_eq(&h.queue, queue)) {
            self.remove(&mut shard, id);
        }
    }

    /// Takes no more work. A start racing the close finds its shard closed
    /// when it finishes ([`StartGuard::finish`]); the registry drains the
    /// actors.
    pub(crate) fn close(&self) {
        for shard in self.shards.iter() {
            lock(shard).closed = true;
        }
    }

    /// Counts a pass its actor now holds; the guard, kept beside the pass in
    /// the actor's state, undoes it (and forgets the start) when the pass is
    /// let go or the actor is gone, however it ended.
    pub(crate) fn pass_started(self: &Arc<Self>, id: PassId, queue: &Arc<Queue>) -> LiveGuard {
        let live = self.live.fetch_add(1, Ordering::AcqRel) + 1;
        self.started.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("scangate_actors_started_total").increment(1);
        metrics::gauge!("scangate_actors_live").set(live as f64);
        LiveGuard {
            directory: Arc::clone(self),
            id,
            queue: Arc::clone(queue),
        }
    }

    /// Passes held by their actors now.
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
        self.shards.iter().any(|shard| lock(shard).closed)
    }

    /// Puts `handle` in the pass's slot as if it were live (tests of stale
    /// handles), taking a slot if the pass had none.
    #[cfg(test)]
    pub(crate) fn insert_live(&self, id: PassId, handle: Handle) {
        if self.shard(id).map.insert(id, Slot::Live(handle)).is_none() {
            self.taken.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Every sweep interval, asks each actor idle for `idle_stop` (or
/// [`PRESSURE_IDLE_STOP`] while more than half the slots are live) to stop;
/// it stops only if its queue is still empty, see `PassActor`'s idle check.
///
/// The interval is walked one shard per tick ([`SHARDS`] ticks per sweep),
/// so actors that went idle together (a gate-opening crowd, the first second
/// of pressure) stop in small steps spread over the interval: one tick stops
/// at most one shard's idle actors, about `1/SHARDS` of them, and scans in
/// flight never wait behind all of them at once.
///
/// Ends once the directory is dropped or closed (shutdown drains every actor).
pub(crate) async fn sweep_idle(directory: Weak<Directory>, idle_stop: Duration) {
    let every = (idle_stop / 4).clamp(SWEEP_MIN_INTERVAL, SWEEP_MAX_INTERVAL);
    let mut ticks = tokio::time::interval((every / SHARDS as u32).max(SWEEP_MIN_INTERVAL));
    // A late tick (a busy runtime) is made up at once, so every shard is
    // still swept once per interval.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    for shard in (0..SHARDS).cycle() {
        ticks.tick().await;
        let Some(directory) = directory.upgrade() else {
            return;
        };
        let idle = if directory.live_count() > directory.max_live / 2 {
            idle_stop.min(PRESSURE_IDLE_STOP)
        } else {
            idle_stop
        };
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        let Ok(handles) = directory.idle_in(shard, idle_ms) else {
            return;
        };
        for (pass, handle) in handles {
            // A stopped actor is fine: its passes left the directory with it.
            let _ = handle.actor.cast(ActorMsg::IdleCheck { pass, idle_ms });
        }
    }
}

/// The registry is shutting down.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closed;

/// Which of `n` parts pass `id` falls in (its id's first 8 bytes modulo
/// `n`; ids are random).
pub(crate) fn spread(id: PassId, n: usize) -> usize {
    let [a, b, c, d, e, f, g, h, ..] = id.0;
    let part = u64::from_le_bytes([a, b, c, d, e, f, g, h]) % n as u64;
    // part < n, so the cast cannot truncate.
    part as usize
}

/// Locks a shard here, or an actor slot (`slots`). A panic while holding
/// either leaves it consistent (every critical section is a single insert,
/// remove or swap), so keep going.
pub(crate) fn lock<T>(shard: &Mutex<T>) -> MutexGuard<'_, T> {
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

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
        self.directory.free(self.id);
        self.done = true;
        self.tx.send_replace(Start::Unknown);
    }

    /// The actor is running: make it the pass's actor. Gives the handle back
    /// if the registry closed meanwhile (the caller stops that actor).
    pub(crate) fn finish(mut self, handle: Handle) -> Result<Handle, Handle> {
        let mut shard = self.directory.shard(self.id);
        self.done = true;
        if shard.closed {
            self.directory.remove(&mut shard, self.id);
            return Err(handle);
        }
        shard.map.insert(self.id, Slot::Live(handle.clone()));
        Ok(handle)
    }
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        // Failed or cancelled: the starting slot is still ours (nobody else
        // replaces a starting slot), give it up. Dropping `tx` wakes waiters.
        if !self.done {
            self.directory.free(self.id);
        }
    }
}

/// Kept beside a held pass in its actor's state: counts it live until
/// dropped.
pub(crate) struct LiveGuard {
    directory: Arc<Directory>,
    id: PassId,
    queue: Arc<Queue>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.directory.forget(self.id, &self.queue);
        let live = self.directory.live.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!("scangate_actors_live").set(live as f64);
        if live == 0 {
            self.directory.emptied.notify_waiters();
        }
    }
}
