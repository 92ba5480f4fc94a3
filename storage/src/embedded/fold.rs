//! The folder thread, which applies logged batches to fjall behind the
//! writer, and the progress that readers and the writer wait on.
//!
//! A batch is acknowledged once its redo record is synced; fjall gets it a
//! moment later. Every read first waits until fjall holds every batch
//! acknowledged before the read began ([`Progress::caught_up`]), so a read
//! after an acknowledged write sees it. The wait is at most one fold (a
//! batch's memtable inserts, about a millisecond) and usually nothing.

use crate::StoreError;
use fjall::OwnedWriteBatch;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use tokio::sync::watch;

/// Batches logged but not yet folded before the writer waits: bounds the
/// memory of staged writes and how far fjall may lag (a few milliseconds).
pub const FOLD_QUEUE: usize = 8;

/// A logged batch on its way into fjall.
pub struct Fold {
    pub batch: u64,
    pub writes: OwnedWriteBatch,
}

/// How far the log and fjall have got.
pub struct Progress {
    /// The last batch acknowledged (its record synced).
    acked: AtomicU64,
    /// The last batch fjall holds; async readers wait on it.
    folded: watch::Sender<u64>,
    /// Set when a fold failed: fjall no longer follows the log.
    failed: AtomicBool,
    /// Why, for every error answered after it.
    cause: Mutex<String>,
    /// For the writer thread's blocking wait.
    lock: Mutex<()>,
    cond: Condvar,
}

impl Progress {
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress {
            acked: AtomicU64::new(0),
            folded: watch::Sender::new(0),
            failed: AtomicBool::new(false),
            cause: Mutex::new(String::new()),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        })
    }

    /// Batch `batch` is durable and about to be answered.
    pub fn acked(&self, batch: u64) {
        self.acked.store(batch, Ordering::Release);
    }

    /// Waits until fjall holds every batch acknowledged before this call.
    pub async fn caught_up(&self) -> Result<(), StoreError> {
        let target = self.acked.load(Ordering::Acquire);
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
        if self.failed.load(Ordering::Acquire) {
            let cause = self.cause.lock().unwrap_or_else(PoisonError::into_inner);
            return Err(StoreError::Backend(format!(
                "the store could not apply a logged batch to its tables ({cause}); restart the gateway (the redo log is replayed)"
            )));
        }
        Ok(())
    }

    fn set_folded(&self, batch: u64) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.folded.send_replace(batch);
        self.cond.notify_all();
    }

    fn fail(&self, cause: &str) {
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
/// (memtables and fjall's own journal, no sync: the redo log is what is
/// durable) and publishes the progress. A failure stops folding for good.
pub fn run(rx: Receiver<Fold>, progress: Arc<Progress>) {
    // However this thread ends before the writer lets it (an error, or a
    // panic inside fjall), readers and the writer must not wait for it.
    let mut guard = FailUnlessDone {
        progress,
        done: false,
    };
    for Fold { batch, writes } in rx {
        if let Err(e) = writes.durability(None).commit() {
            tracing::error!(batch, error = %e, "cannot apply a logged batch to the store's tables");
            guard.progress.fail(&e.to_string());
            return;
        }
        guard.progress.set_folded(batch);
    }
    guard.done = true;
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

    #[tokio::test]
    async fn a_fold_thread_that_dies_fails_the_waiters_instead_of_hanging_them() {
        let progress = Progress::new();
        progress.acked(1);
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
        assert!(progress.wait_folded(1).is_err());
    }

    #[tokio::test]
    async fn readers_wait_for_the_fold_of_what_was_acknowledged() {
        let progress = Progress::new();
        progress.acked(2);
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
}
