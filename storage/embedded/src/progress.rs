//! How far the redo log and fjall have got ([`Progress`]), and what the
//! batches fjall may not hold yet wrote ([`Unfolded`]).
//!
//! A batch is acknowledged once its redo record is synced; fjall gets it a
//! moment later (the fold thread, `fold`). So that a read after an
//! acknowledged write sees it, a read first waits until fjall holds what it
//! needs: loading a pass and reading its scans or audit (the scan path's
//! reads, at an actor start) wait only for the batches that changed that
//! pass and are not folded yet ([`Progress::pass_caught_up`], almost always
//! none); the operator plane's other reads wait for every batch
//! acknowledged before they began ([`Progress::caught_up`]). Either wait is at most the fold lag
//! (the fold thread's `FOLD_LAG_BYTES` of batches' memtable inserts, and a
//! checkpoint's sync when one is under way).

use super::states::DirtyStates;
use scangate_core::PassId;
use scangate_storage::StoreError;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use tokio::sync::watch;

/// The passes a batch changed: their state, record, scans or audit.
#[derive(Default)]
pub struct Changed {
    passes: Vec<PassId>,
    /// The batch deleted records of passes it does not list (an event's
    /// purge, a retention step).
    every: bool,
}

impl Changed {
    /// Room for `n` passes.
    pub fn with_capacity(n: usize) -> Changed {
        Changed {
            passes: Vec::with_capacity(n),
            every: false,
        }
    }

    /// The batch changed pass `id`.
    pub fn push(&mut self, id: PassId) {
        self.passes.push(id);
    }

    /// The batch changed passes it cannot list.
    pub fn every(&mut self) {
        self.every = true;
    }
}

/// Keys that logged batches wrote and fjall may not hold yet, each with
/// the last batch that wrote it and what the writer needs of it. Entries go
/// once fjall holds their batch ([`Unfolded::prune`]), so the size is
/// bounded by the fold queue.
pub struct Unfolded<K, V> {
    last: HashMap<K, (u64, V)>,
    /// The keys each batch wrote, oldest batch first.
    batches: VecDeque<(u64, Vec<K>)>,
}

impl<K, V> Default for Unfolded<K, V> {
    fn default() -> Self {
        Unfolded {
            last: HashMap::new(),
            batches: VecDeque::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> Unfolded<K, V> {
    /// The last unfolded batch that wrote `key`, and what it wrote.
    pub fn get(&self, key: &K) -> Option<&(u64, V)> {
        self.last.get(key)
    }

    /// Remembers what batch `batch` wrote.
    pub fn logged(&mut self, batch: u64, written: impl IntoIterator<Item = (K, V)>) {
        let mut keys = Vec::new();
        for (key, value) in written {
            keys.push(key.clone());
            self.last.insert(key, (batch, value));
        }
        self.batches.push_back((batch, keys));
    }

    /// Forgets what fjall now holds (every batch up to `folded`).
    pub fn prune(&mut self, folded: u64) {
        while self
            .batches
            .front()
            .is_some_and(|(batch, _)| *batch <= folded)
        {
            let Some((batch, keys)) = self.batches.pop_front() else {
                break;
            };
            for key in keys {
                if self.last.get(&key).is_some_and(|(b, _)| *b <= batch) {
                    self.last.remove(&key);
                }
            }
        }
    }
}

/// How far the log and fjall have got.
pub struct Progress {
    /// The last batch acknowledged (its record synced).
    acked: AtomicU64,
    /// Passes whose state or record a logged batch changed and fjall may
    /// not hold yet: what [`Progress::pass_caught_up`] waits for. Holds ids
    /// and batch numbers only, no state (so no copy of a fact); an entry
    /// goes once fjall holds its batch (pruned at each acknowledgement).
    passes: Mutex<Unfolded<PassId, ()>>,
    /// The last batch that changed passes it could not list
    /// ([`Changed::every`]): every pass's reads wait for it too.
    every: AtomicU64,
    /// The last batch fjall holds; async readers wait on it.
    folded: watch::Sender<u64>,
    /// Set when a fold failed: fjall no longer follows the log.
    failed: AtomicBool,
    /// Why, for every error answered after it.
    cause: Mutex<String>,
    /// Set once the redo log could not be written: nothing more can be made
    /// durable (reads still can be answered). Why, in words; the first cause.
    log_failure: OnceLock<String>,
    /// The pass states of folded batches that fjall's `pass_state` may not
    /// hold yet: the state of record for them (`states`).
    pub states: DirtyStates,
    /// For the writer thread's blocking wait.
    lock: Mutex<()>,
    cond: Condvar,
}

impl Progress {
    /// Progress of a log whose records up to `last` are all in fjall (the
    /// next batch is `last + 1`).
    pub fn new(last: u64) -> Arc<Progress> {
        Arc::new(Progress {
            acked: AtomicU64::new(last),
            passes: Mutex::new(Unfolded::default()),
            every: AtomicU64::new(0),
            folded: watch::Sender::new(last),
            failed: AtomicBool::new(false),
            cause: Mutex::new(String::new()),
            log_failure: OnceLock::new(),
            states: DirtyStates::default(),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        })
    }

    /// Batch `batch` is durable and about to be answered; it changed the
    /// passes `changed`.
    pub fn acked(&self, batch: u64, changed: Changed) {
        {
            let mut passes = self.passes.lock().unwrap_or_else(PoisonError::into_inner);
            passes.prune(self.folded());
            passes.logged(batch, changed.passes.into_iter().map(|id| (id, ())));
        }
        if changed.every {
            self.every.store(batch, Ordering::Release);
        }
        self.acked.store(batch, Ordering::Release);
    }

    /// Waits until fjall holds every batch acknowledged before this call.
    pub async fn caught_up(&self) -> Result<(), StoreError> {
        self.folded_to(self.acked.load(Ordering::Acquire)).await
    }

    /// Waits until fjall holds every acknowledged change of pass `id`.
    pub async fn pass_caught_up(&self, id: PassId) -> Result<(), StoreError> {
        let last = {
            let passes = self.passes.lock().unwrap_or_else(PoisonError::into_inner);
            passes.get(&id).map(|(batch, ())| *batch)
        };
        let every = self.every.load(Ordering::Acquire);
        self.folded_to(last.unwrap_or(0).max(every)).await
    }

    /// Waits until fjall holds batch `target` (and all before).
    pub async fn folded_to(&self, target: u64) -> Result<(), StoreError> {
        if *self.folded.borrow() < target {
            let mut rx = self.folded.subscribe();
            // The sender lives as long as `self`: this cannot fail.
            let _ = rx.wait_for(|f| *f >= target).await;
        }
        self.check()
    }

    /// Blocks the writer until fjall holds batch `batch` (and all before).
    pub fn wait_folded(&self, batch: u64) -> Result<(), StoreError> {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while *self.folded.borrow() < batch && !self.failed.load(Ordering::Acquire) {
            guard = self
                .cond
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.check()
    }

    /// The last batch fjall holds.
    pub fn folded(&self) -> u64 {
        *self.folded.borrow()
    }

    /// Fails once a fold has failed: fjall no longer follows the log, so
    /// no write may be acknowledged and no read trusted until a restart.
    pub fn check(&self) -> Result<(), StoreError> {
        match self.fold_failure() {
            Some(why) => Err(StoreError::Failed(why)),
            None => Ok(()),
        }
    }

    /// Why folding failed, if it did.
    fn fold_failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        let cause = self.cause.lock().unwrap_or_else(PoisonError::into_inner);
        Some(format!(
            "the store could not apply a logged batch to its tables ({cause}); restart the gateway (the redo log is replayed)"
        ))
    }

    /// The writer could not write the redo log: it takes no more writes
    /// until a restart. Keeps the first cause (which says what to do).
    pub fn log_failed(&self, cause: &str) {
        // A later cause is dropped: the first one is what happened.
        let _ = self.log_failure.set(cause.to_owned());
    }

    /// Why the store can make nothing more durable until a restart, if so.
    /// Two atomic loads while it can (the scan path asks for every scan).
    pub fn failure(&self) -> Option<String> {
        self.fold_failure()
            .or_else(|| self.log_failure.get().cloned())
    }

    /// fjall now holds every batch up to `batch`: wakes whoever waits.
    pub fn set_folded(&self, batch: u64) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.folded.send_replace(batch);
        self.cond.notify_all();
    }

    /// Marks the store failed for good: fjall no longer follows the log.
    pub fn fail(&self, cause: &str) {
        {
            let mut kept = self.cause.lock().unwrap_or_else(PoisonError::into_inner);
            if kept.is_empty() {
                *kept = cause.to_owned();
            }
        }
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.failed.store(true, Ordering::Release);
        // Wakes every reader; each then sees the failure.
        self.folded.send_replace(u64::MAX);
        self.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn changed(ids: &[PassId]) -> Changed {
        let mut changed = Changed::default();
        ids.iter().for_each(|id| changed.push(*id));
        changed
    }

    #[tokio::test]
    async fn readers_wait_for_the_fold_of_what_was_acknowledged() {
        let progress = Progress::new(0);
        progress.acked(2, Changed::default());
        let reader = {
            let progress = Arc::clone(&progress);
            tokio::spawn(async move { progress.caught_up().await })
        };
        progress.set_folded(1);
        tokio::task::yield_now().await;
        assert!(!reader.is_finished(), "batch 2 is not folded yet");
        progress.set_folded(2);
        reader.await.expect("join").expect("caught up");
        assert_eq!(progress.folded(), 2);
    }

    #[tokio::test]
    async fn loading_a_pass_waits_only_for_the_unfolded_batches_that_changed_it() {
        let progress = Progress::new(0);
        let (a, b, untouched) = (PassId([1; 16]), PassId([2; 16]), PassId([3; 16]));
        progress.acked(1, changed(&[a]));
        progress.acked(2, changed(&[b]));
        assert!(
            progress.pass_caught_up(untouched).now_or_never().is_some(),
            "no unfolded batch changed it: no wait"
        );
        assert!(progress.pass_caught_up(a).now_or_never().is_none());
        assert!(progress.caught_up().now_or_never().is_none());
        progress.set_folded(1);
        let ready = progress.pass_caught_up(a).now_or_never();
        assert!(matches!(ready, Some(Ok(()))), "batch 1 is folded");
        assert!(
            progress.pass_caught_up(b).now_or_never().is_none(),
            "b changed in batch 2, not folded yet"
        );
        let waiting_b = {
            let progress = Arc::clone(&progress);
            tokio::spawn(async move { progress.pass_caught_up(b).await })
        };
        progress.set_folded(2);
        waiting_b.await.expect("join").expect("caught up");
        // What fjall holds is forgotten at the next acknowledgement.
        progress.acked(3, changed(&[a]));
        let passes = progress.passes.lock().expect("lock");
        assert!(passes.get(&b).is_none());
        assert_eq!(passes.get(&a).map(|(batch, ())| *batch), Some(3));
    }

    #[test]
    fn a_purge_makes_every_pass_wait_for_its_batch() {
        let progress = Progress::new(0);
        let (a, untouched) = (PassId([1; 16]), PassId([3; 16]));
        progress.acked(1, changed(&[a]));
        let mut purge = Changed::default();
        purge.every();
        progress.acked(2, purge);
        progress.set_folded(1);
        assert!(
            progress.pass_caught_up(untouched).now_or_never().is_none(),
            "batch 2 may have deleted its scans"
        );
        progress.set_folded(2);
        assert!(matches!(
            progress.pass_caught_up(untouched).now_or_never(),
            Some(Ok(()))
        ));
    }
}
