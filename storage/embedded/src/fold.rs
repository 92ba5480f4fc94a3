//! The folder thread, which applies logged batches to fjall behind the
//! writer, and the progress that readers and the writer wait on.
//!
//! A batch is acknowledged once its redo record is synced; fjall gets it a
//! moment later. So a read after an acknowledged write sees it, a read
//! first waits until fjall holds what it needs: loading a pass (the scan
//! path's read, at every actor start) waits only for the batches that
//! changed that pass and are not folded yet ([`Progress::pass_caught_up`],
//! almost always none); the operator plane's reads wait for every batch
//! acknowledged before they began ([`Progress::caught_up`]). Either wait is
//! at most the fold lag ([`FOLD_LAG_BYTES`] of batches' memtable inserts, and a
//! checkpoint's sync when one is under way).

use super::segment::Retired;
use fjall::{Database, OwnedWriteBatch, PersistMode};
use scangate_core::PassId;
use scangate_storage::StoreError;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Most bytes of logged batches (the size of their redo records) fjall may
/// lag behind before the writer waits for the folder: bounds the memory of
/// staged writes (a few times this) and how far fjall lags. Folding pauses
/// now and then for 100–400 ms: fjall syncs its journal under the journal
/// lock at the start of every memtable flush, while the flush fills the
/// disk's queue. The earlier bound, 256 batches, was half a second of small
/// batches at 10k grants/s, so the writer, and every scan behind it, stopped
/// with the folder. 16 MiB is ~5 s of single-use grants at 10k/s.
pub const FOLD_LAG_BYTES: usize = 16 << 20;

/// Batches queued for the folder at most, whatever their size: a bound in
/// count beside [`FOLD_LAG_BYTES`], reached only by many tiny batches.
pub const FOLD_QUEUE: usize = 16_384;

/// The logged batches fjall may not hold yet and the bytes of their redo
/// records: what the writer checks against [`FOLD_LAG_BYTES`].
#[derive(Default)]
pub struct Lag {
    batches: VecDeque<(u64, usize)>,
    bytes: usize,
}

impl Lag {
    /// Batch `batch`, `bytes` long, was logged; fjall holds every batch up
    /// to `folded`.
    pub fn logged(&mut self, batch: u64, bytes: usize, folded: u64) {
        while let Some(&(oldest, len)) = self.batches.front() {
            if oldest > folded {
                break;
            }
            self.batches.pop_front();
            self.bytes -= len;
        }
        self.batches.push_back((batch, bytes));
        self.bytes += bytes;
    }

    /// Bytes of the logged batches fjall may not hold yet.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The batch fjall must hold before the lag is back within `max` bytes
    /// (`None`: it is within already). The newest batch is never asked for,
    /// so the writer never waits for the batch it has just queued.
    pub fn must_fold(&self, max: usize) -> Option<u64> {
        let mut bytes = self.bytes;
        let mut until = None;
        for (batch, len) in self
            .batches
            .iter()
            .take(self.batches.len().saturating_sub(1))
        {
            if bytes <= max {
                break;
            }
            bytes -= len;
            until = Some(*batch);
        }
        until
    }
}

/// How often the folder syncs fjall's journal between checkpoints. Not for
/// durability (the redo log has it) but so that a checkpoint's sync finds
/// little to write: 64 MiB of journal written back at once held up the redo
/// log's own `fdatasync`s (same disk, same filesystem journal) for ~120 ms.
pub const SYNC_EVERY: Duration = Duration::from_millis(100);

/// How often an idle folder asks fjall whether it can still write (fjall
/// refuses `persist` once a background worker has failed, e.g. on a full
/// disk at a flush): the store's `failure`, and so `/readyz`, shows a dead
/// worker within this even when nothing is written. Costs one empty
/// `persist` (a lock, no I/O) per interval.
pub const HEALTH_CHECK_EVERY: Duration = Duration::from_millis(100);

/// What the writer hands the folder, in log order.
pub enum Fold {
    /// A logged batch on its way into fjall.
    Batch { batch: u64, writes: OwnedWriteBatch },
    /// Every batch sent before this one lies in these full redo segments:
    /// once they are folded, make fjall durable and delete the segments.
    Checkpoint(Retired),
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
    /// not hold yet: what [`Progress::pass_caught_up`] waits for.
    passes: Mutex<Unfolded<PassId, ()>>,
    /// The last batch fjall holds; async readers wait on it.
    folded: watch::Sender<u64>,
    /// Set when a fold failed: fjall no longer follows the log.
    failed: AtomicBool,
    /// Why, for every error answered after it.
    cause: Mutex<String>,
    /// Set once the redo log could not be written: nothing more can be made
    /// durable (reads still can be answered). Why, in words; the first cause.
    log_failure: OnceLock<String>,
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
            folded: watch::Sender::new(last),
            failed: AtomicBool::new(false),
            cause: Mutex::new(String::new()),
            log_failure: OnceLock::new(),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        })
    }

    /// Batch `batch` is durable and about to be answered; it changed the
    /// state or record of the passes `changed`.
    pub fn acked(&self, batch: u64, changed: Vec<PassId>) {
        {
            let mut passes = self.passes.lock().unwrap_or_else(PoisonError::into_inner);
            passes.prune(self.folded());
            passes.logged(batch, changed.into_iter().map(|id| (id, ())));
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
        self.folded_to(last.unwrap_or(0)).await
    }

    async fn folded_to(&self, target: u64) -> Result<(), StoreError> {
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

    fn set_folded(&self, batch: u64) {
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

/// Runs until the writer drops its sender: applies each batch to fjall
/// (memtables and fjall's own journal, written to the OS but not synced:
/// the redo log is what is durable) and publishes the progress; at a checkpoint, syncs fjall and
/// deletes the full redo segments, off the writer's path. A failure to
/// apply or sync stops folding for good.
pub fn run(rx: Receiver<Fold>, progress: Arc<Progress>, db: Database) {
    // However this thread ends before the writer lets it (an error, or a
    // panic inside fjall), readers and the writer must not wait for it.
    let mut guard = FailUnlessDone {
        progress,
        done: false,
    };
    let mut synced = Instant::now();
    loop {
        let fold = match rx.recv_timeout(HEALTH_CHECK_EVERY) {
            Ok(fold) => fold,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = db.persist(PersistMode::Buffer) {
                    tracing::error!(error = %e, "the store's tables can take no more writes");
                    guard
                        .progress
                        .fail(&format!("the store's tables can take no more writes: {e}"));
                    return;
                }
                continue;
            }
        };
        match fold {
            Fold::Batch { batch, writes } => {
                // Handed to the OS at once (one `write`, no sync): a process
                // that dies (kill -9) then leaves fjall holding every folded
                // batch, so a damaged redo log loses only what fjall lacks.
                if let Err(e) = writes.durability(Some(PersistMode::Buffer)).commit() {
                    tracing::error!(batch, error = %e, "cannot apply a logged batch to the store's tables");
                    guard.progress.fail(&e.to_string());
                    return;
                }
                guard.progress.set_folded(batch);
                if synced.elapsed() >= SYNC_EVERY {
                    if let Err(e) = sync(&db, "between checkpoints") {
                        guard.progress.fail(&e);
                        return;
                    }
                    synced = Instant::now();
                }
            }
            Fold::Checkpoint(retired) => {
                let started = Instant::now();
                if let Err(e) = sync(&db, "at a checkpoint") {
                    guard.progress.fail(&e);
                    return;
                }
                synced = Instant::now();
                // Left in place, a segment is replayed at the next start:
                // harmless, and the next checkpoint tries again.
                if let Err(e) = retired.delete() {
                    tracing::warn!(error = %e, "cannot delete a checkpointed redo segment");
                }
                metrics::histogram!("scangate_store_checkpoint_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
        }
    }
    guard.done = true;
}

/// Makes fjall's journal durable; the error says when it failed.
fn sync(db: &Database, when: &str) -> Result<(), String> {
    db.persist(PersistMode::SyncData).map_err(|e| {
        tracing::error!(error = %e, "cannot sync the store's tables {when}");
        format!("cannot sync the store's tables {when}: {e}")
    })
}

/// Marks the store failed when dropped before `done` is set.
struct FailUnlessDone {
    progress: Arc<Progress>,
    done: bool,
}

impl Drop for FailUnlessDone {
    fn drop(&mut self) {
        if !self.done {
            self.progress.fail("the fold thread stopped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Tables;
    use crate::record::{Ks, Staged};
    use crate::redo::RedoLog;
    use crate::segment;

    #[test]
    fn the_lag_names_the_batch_to_wait_for_and_forgets_folded_ones() {
        let mut lag = Lag::default();
        for batch in 1..=4 {
            lag.logged(batch, 100, 0);
        }
        assert_eq!(lag.must_fold(400), None, "within the bound");
        assert_eq!(lag.must_fold(250), Some(2), "two oldest batches must go");
        assert_eq!(
            lag.must_fold(0),
            Some(3),
            "never the batch just queued, so the writer cannot wait for itself"
        );
        // Batches up to 3 folded: only 4 and the new 5 are left.
        lag.logged(5, 100, 3);
        assert_eq!(lag.must_fold(200), None);
        assert_eq!(lag.must_fold(100), Some(4));
    }

    #[test]
    fn the_folder_checkpoints_a_rotated_segment_after_folding_its_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder(dir.path().join("db")).open().expect("db");
        let tables = Tables::open(db).expect("tables");
        let (mut log, _) = RedoLog::recover(dir.path(), &tables).expect("recover");
        let mut staged = Staged::new(&tables, 1);
        staged.insert(Ks::Passes, b"k", b"v");
        log.append(1, &mut staged).expect("append");
        let retired = log.rotate().expect("rotate");
        let segments = || {
            std::fs::read_dir(dir.path().join(segment::DIR))
                .expect("list")
                .count()
        };
        assert_eq!(segments(), 2, "the full segment stays until the checkpoint");

        let (tx, rx) = std::sync::mpsc::sync_channel(FOLD_QUEUE);
        tx.send(Fold::Batch {
            batch: 1,
            writes: staged.fjall,
        })
        .expect("send");
        tx.send(Fold::Checkpoint(retired)).expect("send");
        drop(tx);
        let progress = Progress::new(0);
        progress.acked(1, Vec::new());
        run(rx, Arc::clone(&progress), tables.db.clone());

        assert_eq!(progress.folded(), 1);
        assert_eq!(
            tables.passes.get(b"k").expect("get").as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(segments(), 1, "only the current segment is left");
    }

    #[tokio::test]
    async fn a_fold_thread_that_dies_fails_the_waiters_instead_of_hanging_them() {
        let progress = Progress::new(0);
        progress.acked(1, Vec::new());
        let (tx, rx) = std::sync::mpsc::sync_channel::<Fold>(1);
        let folder = {
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                let _guard = FailUnlessDone {
                    progress,
                    done: false,
                };
                drop(rx);
                panic!("fjall panicked");
            })
        };
        assert!(folder.join().is_err());
        drop(tx);
        let err = progress
            .caught_up()
            .await
            .expect_err("the fold thread died");
        assert!(err.to_string().contains("the fold thread stopped"), "{err}");
        assert!(matches!(err, StoreError::Failed(_)), "{err}");
        assert!(matches!(
            progress.wait_folded(1),
            Err(StoreError::Failed(_))
        ));
    }

    #[tokio::test]
    async fn readers_wait_for_the_fold_of_what_was_acknowledged() {
        let progress = Progress::new(0);
        progress.acked(2, Vec::new());
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
        use futures_util::FutureExt;
        let progress = Progress::new(0);
        let (a, b, untouched) = (PassId([1; 16]), PassId([2; 16]), PassId([3; 16]));
        progress.acked(1, vec![a]);
        progress.acked(2, vec![b]);
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
        progress.acked(3, vec![a]);
        let passes = progress.passes.lock().expect("lock");
        assert!(passes.get(&b).is_none());
        assert_eq!(passes.get(&a).map(|(batch, ())| *batch), Some(3));
    }
}
