//! The fold thread, which applies logged batches to fjall behind the
//! writer (fjall's memtables and journal, not synced: the redo log is what
//! is durable), the batches waiting for it merged into one fjall commit
//! (`merge`), keeps their pass states in memory and writes them out now and
//! then (`states`), syncs fjall now and then and at a checkpoint deletes
//! full redo segments, and, while idle, probes whether fjall can still
//! write.
//! What readers and the writer wait on is `progress`.

use super::layout::Tables;
use super::merge::Merged;
use super::progress::Progress;
use super::segment::Retired;
use super::states::{DIRTY_STATES_MAX, DirtyStates, STATE_WRITE_EVERY};
use fjall::{Database, PersistMode};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Most bytes of logged batches (the size of their redo records) fjall may
/// lag behind before the writer waits for the folder: bounds the memory of
/// staged writes (a few times this) and how far fjall lags. The lag must
/// ride out fjall's fold pauses of 100–400 ms (fjall syncs its journal
/// under the journal lock at the start of every memtable flush) without
/// stopping the writer: 16 MiB is ~5 s of single-use grants at 10k/s.
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
/// at most 100 ms of journal to write: a larger write-back holds up the redo
/// log's own `fdatasync`s (same disk, same filesystem journal).
pub const SYNC_EVERY: Duration = Duration::from_millis(100);

/// How often an idle folder asks fjall whether it can still write (fjall
/// refuses `persist` once a background worker has failed, e.g. on a full
/// disk at a flush): the store's `failure`, and so `/readyz`, shows a dead
/// worker within this even when nothing is written. Costs one empty
/// `persist` (a lock, no I/O) per interval.
pub const HEALTH_CHECK_EVERY: Duration = Duration::from_millis(100);

/// What the writer hands the folder, in log order.
pub enum Fold {
    /// A logged batch on its way into fjall: its number and its sealed
    /// redo record, which the folder decodes.
    Batch { batch: u64, record: Vec<u8> },
    /// Every batch sent before this one lies in these full redo segments:
    /// once they are folded, make fjall durable and delete the segments.
    Checkpoint(Retired),
}

/// Runs until the writer drops its sender: applies the logged batches to
/// fjall (memtables and fjall's own journal, written to the OS but not
/// synced: the redo log is what is durable), every batch already queued
/// merged into one commit up to the `merge` bounds, and publishes the
/// progress; at a checkpoint, syncs fjall and deletes the full redo
/// segments, off the writer's path. A failure to apply or sync stops
/// folding for good. Pass states go to `dirty` and reach fjall when a
/// write-out is due ([`StateClock`]), and at every checkpoint.
pub fn run(rx: Receiver<Fold>, progress: Arc<Progress>, tables: Tables) {
    // However this thread ends before the writer lets it (an error, or a
    // panic inside fjall), readers and the writer must not wait for it.
    let mut guard = FailUnlessDone {
        progress,
        done: false,
    };
    let mut synced = Instant::now();
    let mut states = StateClock {
        written: Instant::now(),
    };
    // A checkpoint taken from the queue behind the batches of a group.
    let mut held_back = None;
    loop {
        let next = match held_back.take() {
            Some(fold) => Ok(fold),
            None => rx.recv_timeout(HEALTH_CHECK_EVERY),
        };
        let step = match next {
            Ok(Fold::Batch { batch, record }) => {
                let mut group = Merged::new(&tables);
                merge_queued(&rx, &mut group, (batch, record), &mut held_back).and_then(|()| {
                    fold_group(&tables, &guard.progress, group, &mut synced, &mut states)
                })
            }
            Ok(Fold::Checkpoint(retired)) => {
                checkpoint(&tables, &guard.progress, retired, &mut synced, &mut states)
            }
            Err(RecvTimeoutError::Timeout) => probe(&tables.db)
                .and_then(|()| states.write_out_if_due(&guard.progress.states, &tables)),
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Err(cause) = step {
            guard.progress.fail(&cause);
            return;
        }
    }
    guard.done = true;
}

/// Merges `first` and every batch queued behind it, without waiting, until
/// the group is full; a checkpoint met on the way is held back for after
/// the group (it covers the batches before it).
fn merge_queued(
    rx: &Receiver<Fold>,
    group: &mut Merged,
    (batch, record): (u64, Vec<u8>),
    held_back: &mut Option<Fold>,
) -> Result<(), String> {
    group.add(batch, &record)?;
    while !group.is_full() {
        match rx.try_recv() {
            Ok(Fold::Batch { batch, record }) => group.add(batch, &record)?,
            Ok(checkpoint) => {
                *held_back = Some(checkpoint);
                break;
            }
            // Empty, or the writer is gone (the next receive says so).
            Err(_) => break,
        }
    }
    Ok(())
}

/// When the fold thread last wrote the held pass states out.
struct StateClock {
    written: Instant,
}

impl StateClock {
    /// Writes the held pass states out if [`STATE_WRITE_EVERY`] has passed
    /// since the last write-out or [`DIRTY_STATES_MAX`] are held.
    fn write_out_if_due(&mut self, dirty: &DirtyStates, tables: &Tables) -> Result<(), String> {
        if self.written.elapsed() >= STATE_WRITE_EVERY || dirty.len() >= DIRTY_STATES_MAX {
            self.write_out(dirty, tables)?;
        }
        Ok(())
    }

    fn write_out(&mut self, dirty: &DirtyStates, tables: &Tables) -> Result<(), String> {
        dirty.write_out(tables)?;
        self.written = Instant::now();
        Ok(())
    }
}

/// Applies a merged group to fjall (its pass states to the held ones) and
/// publishes it; writes the pass states out if due; syncs fjall's journal
/// if the last sync is [`SYNC_EVERY`] old.
fn fold_group(
    tables: &Tables,
    progress: &Progress,
    group: Merged,
    synced: &mut Instant,
    states: &mut StateClock,
) -> Result<(), String> {
    let last = group.commit(&progress.states)?;
    progress.set_folded(last);
    states.write_out_if_due(&progress.states, tables)?;
    if synced.elapsed() >= SYNC_EVERY {
        sync(&tables.db, "between checkpoints")?;
        *synced = Instant::now();
    }
    Ok(())
}

/// Writes the held pass states out and makes fjall durable, then deletes
/// the full segments whose batches it now holds (pass states included: the
/// write-out's mark covers every batch folded). A crash between the sync
/// and the deletion leaves segments whose records fjall holds under both
/// marks: replay skips them.
fn checkpoint(
    tables: &Tables,
    progress: &Progress,
    retired: Retired,
    synced: &mut Instant,
    states: &mut StateClock,
) -> Result<(), String> {
    let started = Instant::now();
    states.write_out(&progress.states, tables)?;
    sync(&tables.db, "at a checkpoint")?;
    *synced = Instant::now();
    // Left in place, a segment is replayed at the next start: harmless, and
    // the next checkpoint tries again.
    if let Err(e) = retired.delete() {
        tracing::warn!(error = %e, "cannot delete a checkpointed redo segment");
    }
    metrics::histogram!("scangate_store_checkpoint_seconds")
        .record(started.elapsed().as_secs_f64());
    Ok(())
}

/// The idle health probe: whether fjall can still write (an empty
/// `persist`, a lock and no I/O; it fails once a background worker has).
fn probe(db: &Database) -> Result<(), String> {
    db.persist(PersistMode::Buffer).map_err(|e| {
        tracing::error!(error = %e, "the store's tables can take no more writes");
        format!("the store's tables can take no more writes: {e}")
    })
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
    use scangate_storage::StoreError;

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
    fn the_folder_checkpoints_a_rotated_segment_after_folding_its_batches_and_their_states() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder(dir.path().join("db")).open().expect("db");
        let tables = Tables::open(db).expect("tables");
        let (mut log, _) = RedoLog::recover(dir.path(), &tables).expect("recover");
        let mut staged = Staged::new(2);
        staged.insert(Ks::Passes, b"k", b"v");
        staged.insert(Ks::PassState, b"k", b"state");
        log.append(1, &mut staged).expect("append");
        let retired = log.rotate().expect("rotate");
        let segments = || {
            segment::segments(&dir.path().join(segment::DIR))
                .expect("list")
                .len()
        };
        assert_eq!(segments(), 2, "the full segment stays until the checkpoint");

        let (tx, rx) = std::sync::mpsc::sync_channel(FOLD_QUEUE);
        tx.send(Fold::Batch {
            batch: 1,
            record: staged.into_record(),
        })
        .expect("send");
        tx.send(Fold::Checkpoint(retired)).expect("send");
        drop(tx);
        let progress = Progress::new(0);
        progress.acked(1, Default::default());
        run(rx, Arc::clone(&progress), tables.clone());

        assert_eq!(progress.folded(), 1);
        assert_eq!(
            tables.passes.get(b"k").expect("get").as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(segments(), 1, "only the current segment is left");
        assert_eq!(
            tables.pass_state.get(b"k").expect("get").as_deref(),
            Some(&b"state"[..]),
            "the checkpoint wrote the held pass states out before deleting the segment"
        );
        assert_eq!(tables.load_states().expect("mark"), Some(1));
    }

    #[tokio::test]
    async fn a_fold_thread_that_dies_fails_the_waiters_instead_of_hanging_them() {
        let progress = Progress::new(0);
        progress.acked(1, Default::default());
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
}
