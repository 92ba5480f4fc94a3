//! What the writer thread keeps between batches ([`WriterState`]): its
//! copy of pass states ([`StateCache`]), the scan ids of batches logged but
//! not yet folded ([`Pending`]), the redo log, and the path that makes a
//! checked batch durable and hands it to the fold thread
//! ([`WriterState::log_and_fold`]) or starts the next segment
//! ([`WriterState::rotate`]). Checking a batch is `apply`'s job.

use super::fold::{FOLD_LAG_BYTES, Fold, Lag};
use super::layout::{LOG_KEY_LEN, Tables};
use super::progress::{Changed, Progress, Unfolded};
use super::record::Staged;
use super::redo::RedoLog;
use scangate_core::{PassId, ScanId, ScanRecord};
use scangate_storage::{PassState, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::Instant;

/// A `scans` key.
pub type LogKey = [u8; LOG_KEY_LEN];

/// Most pass states the writer keeps in memory: ~48 bytes each, so ~12 MiB.
/// Enough for every pass of a busy gate opening; beyond it the cache starts
/// over (the next read of each pass goes to the database once).
pub const STATE_CACHE_PASSES: usize = 1 << 18;

/// The writer's own copy of pass states (`None`: no such pass): a cache of
/// the fold thread's held states and fjall's `pass_state` behind them
/// (`states`), so a grant's check reads neither.
///
/// Measured: without it (each check reading fjall, plus a map of the states
/// unfolded batches wrote) the p50 at 8 grants in flight went from
/// 0.31–0.38 ms to 0.45–0.55 ms (`SCANGATE_BENCH_ONLY=store cargo bench -p
/// scangate-storage-embedded --bench store`, 3 interleaved pairs).
///
/// Invalidation: none is needed while it lives, because the writer is the
/// only code that writes pass states and updates an entry only once the
/// batch that read or wrote it is durable (a failed batch changes nothing).
/// It is dropped whole when it would pass [`STATE_CACHE_PASSES`] (after
/// fjall has caught up), and with the writer.
#[derive(Default)]
pub struct StateCache {
    states: HashMap<PassId, Option<PassState>>,
}

impl StateCache {
    pub fn get(&self, id: PassId) -> Option<Option<PassState>> {
        self.states.get(&id).copied()
    }

    /// Whether taking `n` more states would start the cache over (which
    /// needs fjall to hold every state first).
    pub fn would_overflow(&self, n: usize) -> bool {
        self.states.len() + n > STATE_CACHE_PASSES
    }

    /// Takes the states a durable batch read or wrote.
    pub fn absorb(&mut self, states: HashMap<PassId, Option<PassState>>) {
        if self.states.len() + states.len() > STATE_CACHE_PASSES {
            self.states.clear();
        }
        if states.len() <= STATE_CACHE_PASSES {
            self.states.extend(states);
        }
    }
}

/// A scan id's record as of some batch: `None` once forgotten.
pub type ScanEntry = Option<(LogKey, ScanRecord)>;

/// Scan ids written by batches that are logged but maybe not yet in fjall
/// (which owns them), so the duplicate check sees them: what lets the fold
/// run behind the writer instead of inside each batch.
///
/// Measured: with the writer waiting for fjall before each batch instead
/// (no unfolded entries), the p50 at 256 grants in flight went from
/// 4.9–7.2 ms to 9.7–15.7 ms and grants/s from 11–30k to 10–16k (same
/// bench and method as [`StateCache`]).
///
/// Invalidation: an entry goes once fjall holds the batch that wrote it
/// ([`Unfolded::prune`] at each batch and at every catch-up), so it holds at
/// most the fold queue's batches.
pub type Pending = Unfolded<ScanId, ScanEntry>;

/// Everything the writer thread keeps between batches.
pub struct WriterState {
    pub tables: Tables,
    pub cache: StateCache,
    pub pending: Pending,
    pub log: RedoLog,
    pub progress: Arc<Progress>,
    pub folds: SyncSender<Fold>,
    /// What fjall may not hold yet, in bytes: bounded by [`FOLD_LAG_BYTES`].
    pub lag: Lag,
    /// The last batch logged.
    pub logged: u64,
    /// Whether a pass's personal data was erased since the store opened:
    /// the clean close then compacts `pass_keys` and `personal`, so the
    /// erased keys' bytes leave the disk.
    pub erased: bool,
    /// Whether an erased pass held its fields in the clear in its record (a
    /// pass issued before sealing): the clean close compacts `passes` too.
    pub erased_in_clear: bool,
}

impl WriterState {
    /// Waits until fjall holds every logged batch.
    pub fn catch_up(&mut self) -> Result<(), StoreError> {
        self.progress.wait_folded(self.logged)?;
        self.pending.prune(self.logged);
        Ok(())
    }

    /// Makes a batch's staged writes durable in the redo log, takes what it
    /// read and wrote into the writer's memory, marks it acknowledged and
    /// queues it for fjall.
    pub fn log_and_fold(
        &mut self,
        mut writes: Staged,
        states: HashMap<PassId, Option<PassState>>,
        changed: Changed,
        scan_ids: HashMap<ScanId, ScanEntry>,
    ) -> Result<(), String> {
        self.progress.check().map_err(cause)?;
        let batch = self.logged + 1;
        let bytes = self
            .log
            .append(batch, &mut writes)
            .map_err(|e| e.to_string())
            .inspect_err(|e| self.progress.log_failed(e))?;
        self.logged = batch;
        let started = Instant::now();
        if self.cache.would_overflow(states.len()) {
            // Starting over drops states fjall may not hold yet: let it catch
            // up with the batches before this one first.
            self.progress.wait_folded(batch - 1).map_err(cause)?;
        }
        self.cache.absorb(states);
        self.pending.logged(batch, scan_ids);
        self.progress.acked(batch, changed);
        self.lag.logged(batch, bytes, self.progress.folded());
        // If the folder stopped (it failed), the batch is still durable in
        // the log and replayed at the next start; the next batch reports it.
        let _ = self.folds.send(Fold::Batch {
            batch,
            record: writes.into_record(),
        });
        // fjall never lags by more than `FOLD_LAG_BYTES`: past it the writer
        // waits for the folder (and a full queue, `FOLD_QUEUE`, does too).
        if let Some(until) = self.lag.must_fold(FOLD_LAG_BYTES) {
            let _ = self.progress.wait_folded(until);
        }
        // Recorded for every batch, zero when fjall kept up: the rate of the
        // sum is the share of the writer's time that fjall held it back.
        metrics::histogram!("scangate_store_fold_wait_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::gauge!("scangate_store_fold_lag_bytes").set(self.lag.bytes() as f64);
        Ok(())
    }

    /// Starts the next redo segment and queues the checkpoint of the full
    /// one for the folder, behind the batches it holds: the writer goes on
    /// at once instead of waiting for fjall's sync.
    pub fn rotate(&mut self) -> Result<(), StoreError> {
        let retired = self.log.rotate()?;
        let _ = self.folds.send(Fold::Checkpoint(retired));
        Ok(())
    }
}

/// Why a batch failed, in words: the cause inside a [`StoreError::Failed`]
/// (the batch outcome wraps it again), any other error as it reads.
fn cause(e: StoreError) -> String {
    match e {
        StoreError::Failed(why) => why,
        other => other.to_string(),
    }
}

#[cfg(test)]
impl WriterState {
    /// A writer state over the store in `dir` whose batches are logged but
    /// handed to the returned receiver instead of a folder: nothing reaches
    /// fjall unless the test applies it.
    pub fn unfolded(
        dir: &std::path::Path,
        tables: Tables,
    ) -> (WriterState, std::sync::mpsc::Receiver<Fold>) {
        let (log, _) = RedoLog::recover(dir, &tables).expect("redo log");
        let (folds, rx) = std::sync::mpsc::sync_channel(super::fold::FOLD_QUEUE);
        let w = WriterState {
            tables,
            cache: StateCache::default(),
            pending: Pending::default(),
            log,
            progress: Progress::new(0),
            folds,
            lag: Lag::default(),
            logged: 0,
            erased: false,
            erased_in_clear: false,
        };
        (w, rx)
    }
}

#[cfg(test)]
mod state_cache_tests {
    use super::*;
    use scangate_core::Status;

    fn state(uses: u32) -> Option<PassState> {
        Some(PassState {
            uses,
            status: Status::Active,
            max_uses: None,
            presence: scangate_core::pass::Presence::Outside,
        })
    }

    #[test]
    fn keeps_what_a_durable_batch_saw_and_stays_bounded() {
        let mut cache = StateCache::default();
        let id = |n: u128| PassId(n.to_be_bytes());
        let a = id(1);
        cache.absorb(HashMap::from([(a, state(1)), (id(2), None)]));
        assert_eq!(cache.get(a), Some(state(1)));
        assert_eq!(cache.get(id(2)), Some(None));
        assert_eq!(cache.get(id(3)), None);
        // A later batch's state replaces the earlier one.
        cache.absorb(HashMap::from([(a, state(2))]));
        assert_eq!(cache.get(a), Some(state(2)));
        // Filling it past the bound starts over instead of growing.
        let many: HashMap<_, _> = (10..10 + STATE_CACHE_PASSES as u128)
            .map(|i| (id(i), state(0)))
            .collect();
        cache.absorb(many);
        assert_eq!(cache.states.len(), STATE_CACHE_PASSES);
        assert_eq!(cache.get(a), None);
    }
}
