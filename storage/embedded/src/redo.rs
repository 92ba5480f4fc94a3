//! The redo log: how a batch becomes durable without waiting for fjall.
//!
//! The writer encodes each batch's writes (keyspace, key, value or removal)
//! as one checksummed record, appends it to the current segment and
//! `fdatasync`s it; only then are callers answered. The folder thread applies
//! the same writes to fjall afterwards, without syncing, so the writer's next
//! batch overlaps fjall's memtable work. When a segment is full the writer
//! starts the next one at once ([`RedoLog::rotate`]) and leaves the
//! checkpoint to the folder: once fjall holds every batch of the full
//! segment, it makes fjall durable and deletes the segment ([`Retired`]). A
//! clean close rotates too, so the last segment goes the same way.
//!
//! Segments are written over zeros where possible: once the current segment
//! holds [`PREPARE_AFTER_BYTES`], a background thread writes the next one full
//! of zeros and syncs it, and the writer moves to it at the next rotation (at
//! once if the current segment was not prepared itself). An `fdatasync` that
//! overwrites allocated blocks has no file size or block map to write; one
//! that grows the file does, which costs a second write per commit (about
//! 140 instead of 205 µs per `fdatasync` on our disk). A store that logs
//! less than that (tests, a quiet gateway) never writes the 64 MiB of zeros.
//!
//! Opening replays every segment left (a crash since the last checkpoint) on
//! top of fjall (see `replay`): records hold absolute values under
//! consecutive sequence numbers, fjall records the number of the last one it
//! holds, and only records above it are applied, so nothing older ever
//! overwrites anything newer. The record codec is in `record`; zeros after
//! the last record of a segment are the unwritten rest of a prepared one.

use super::layout::{Tables, backend};
use super::log_owner;
use super::prepare::Preparing;
use super::record::Staged;
use super::replay::{self, Replayed};
use super::segment::{
    DIR, PREPARE_AFTER_BYTES, PREPARED_SUFFIX, Retired, SEGMENT_MAX_BYTES, delete_below, io_error,
    numbered, prepared_path, remove_if_present, segment_path, segments, sync_dir,
};
use fjall::PersistMode;
use scangate_storage::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Why [`RedoLog::append`] made nothing durable. Either way the store takes
/// no more writes until the gateway restarts (the log is replayed then).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// This record's write or `fdatasync` failed (a full disk, an I/O
    /// error): what reached the file is unknown, so the log stops here.
    #[error(
        "cannot write the redo log: {0}; it takes no more writes: restart the gateway once the disk has room (the log is replayed)"
    )]
    Write(#[source] io::Error),
    /// An earlier append failed; a record after a torn one would be lost at
    /// replay, so none is written.
    #[error("the redo log failed earlier; restart the gateway")]
    FailedEarlier,
}

/// The segment being appended to.
pub struct RedoLog {
    dir: PathBuf,
    file: File,
    segment: u64,
    written: u64,
    /// Set after any I/O failure: what reached the file is unknown, so
    /// nothing more may be appended (a record after a torn one would be
    /// lost at replay).
    failed: bool,
    /// Whether this segment was written with zeros before use.
    prepared: bool,
    /// The next segment, being prepared in the background.
    next: Option<Preparing>,
}

impl RedoLog {
    /// Replays what a crash left in `store_dir`'s log onto `tables`, makes
    /// fjall durable, deletes the replayed segments and starts a fresh one.
    /// Returns the log and what the replay did (its `last` is the number the
    /// next batch follows). A damaged log that lost acknowledged records
    /// fails with [`StoreError::CorruptLog`] and changes nothing on disk.
    pub fn recover(store_dir: &Path, tables: &Tables) -> Result<(RedoLog, Replayed), StoreError> {
        let dir = store_dir.join(DIR);
        fs::create_dir_all(&dir).map_err(|e| io_error("cannot create", &dir, e))?;
        log_owner::claim(&dir, tables)?;
        let segments = segments(&dir)?;
        let replayed = replay::replay(&dir, &segments, tables)?;
        tables.db.persist(PersistMode::SyncData).map_err(backend)?;
        // Delete before starting anew: a crash in between leaves no segment
        // (nothing to replay: fjall holds it all) rather than an old segment
        // with a torn tail that is no longer the last.
        let next = segments.last().map_or(1, |(n, _)| n + 1);
        delete_below(&dir, next)?;
        for (_, leftover) in numbered(&dir, PREPARED_SUFFIX)? {
            remove_if_present(&leftover)?;
        }
        sync_dir(&dir)?;
        let log = RedoLog::create(dir, next)?;
        if replayed.batches > 0 {
            tracing::info!(
                batches = replayed.batches,
                last = replayed.last,
                "replayed the store's redo log"
            );
        }
        Ok((log, replayed))
    }

    /// Starts segment `segment` as an empty file that grows as it is written.
    fn create(dir: PathBuf, segment: u64) -> Result<RedoLog, StoreError> {
        let path = segment_path(&dir, segment);
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_error("cannot create", &path, e))?;
        RedoLog::started(dir, file, segment, false)
    }

    /// Starts segment `segment` on the prepared file of zeros.
    fn adopt(dir: PathBuf, segment: u64) -> Result<RedoLog, StoreError> {
        let (from, path) = (prepared_path(&dir, segment), segment_path(&dir, segment));
        fs::rename(&from, &path).map_err(|e| io_error("cannot rename", &from, e))?;
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| io_error("cannot open", &path, e))?;
        RedoLog::started(dir, file, segment, true)
    }

    fn started(
        dir: PathBuf,
        file: File,
        segment: u64,
        prepared: bool,
    ) -> Result<RedoLog, StoreError> {
        sync_dir(&dir)?;
        Ok(RedoLog {
            dir,
            file,
            segment,
            written: 0,
            failed: false,
            prepared,
            next: None,
        })
    }

    /// Appends batch `batch`'s record and waits until it is on disk; returns
    /// the record's length in bytes. After one failed write every later
    /// append fails with [`AppendError::FailedEarlier`].
    pub fn append(&mut self, batch: u64, staged: &mut Staged) -> Result<usize, AppendError> {
        if self.failed {
            return Err(AppendError::FailedEarlier);
        }
        let record = staged.seal(batch);
        let outcome = self
            .file
            .write_all_at(record, self.written)
            .and_then(|()| self.file.sync_data());
        match outcome {
            Ok(()) => {
                self.written += record.len() as u64;
                if self.written >= PREPARE_AFTER_BYTES && self.next.is_none() {
                    self.next = Some(Preparing::start(&self.dir, self.segment + 1));
                }
                Ok(record.len())
            }
            Err(e) => {
                self.failed = true;
                Err(AppendError::Write(e))
            }
        }
    }

    /// Whether it is time to move to the next segment: this one is full, or
    /// it was not prepared and the next one now is. (A zero-fill that
    /// failed waits for the segment to fill, then is reported once.)
    pub fn rotation_due(&mut self) -> bool {
        self.written >= SEGMENT_MAX_BYTES
            || (!self.prepared && self.next.as_mut().is_some_and(Preparing::ready))
    }

    /// Starts the next segment and returns the full ones, to delete once
    /// fjall durably holds every batch logged so far.
    pub fn rotate(&mut self) -> Result<Retired, StoreError> {
        if self.failed {
            return Err(StoreError::Failed(AppendError::FailedEarlier.to_string()));
        }
        let segment = self.segment + 1;
        let prepared = match self.next.take().map(Preparing::wait) {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot prepare the next redo segment; it will grow as it is written");
                false
            }
            None => false,
        };
        let next = match prepared {
            true => RedoLog::adopt(self.dir.clone(), segment).or_else(|e| {
                tracing::warn!(error = %e, "cannot use the prepared redo segment; starting an empty one");
                RedoLog::create(self.dir.clone(), segment)
            })?,
            false => RedoLog::create(self.dir.clone(), segment)?,
        };
        *self = next;
        Ok(Retired::below(self.dir.clone(), self.segment))
    }
}

#[cfg(test)]
impl RedoLog {
    /// Makes every later write fail as on a full disk (ENOSPC, `/dev/full`).
    pub(super) fn fill_disk(&mut self) {
        self.file = OpenOptions::new()
            .append(true)
            .open("/dev/full")
            .expect("/dev/full");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Ks;
    use crate::segment::PREPARED_BYTES;
    use fjall::Database;

    fn open(dir: &Path) -> Tables {
        let db = Database::builder(dir.join("db")).open().expect("db");
        Tables::open(db).expect("tables")
    }

    /// A new store directory, its tables and its (empty) redo log.
    fn fresh_log() -> (tempfile::TempDir, Tables, RedoLog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let tables = open(dir.path());
        let (log, _) = RedoLog::recover(dir.path(), &tables).expect("recover");
        (dir, tables, log)
    }

    /// The numbers of the segments in `dir`.
    fn numbers(dir: &Path) -> Vec<u64> {
        let listed = segments(dir).expect("segments");
        listed.into_iter().map(|(n, _)| n).collect()
    }

    fn logged(log: &mut RedoLog, batch: u64, key: &[u8], value: &[u8]) {
        let mut staged = Staged::new(2);
        staged.insert(Ks::Passes, key, value);
        staged.remove(Ks::ScanIds, key);
        log.append(batch, &mut staged).expect("append");
    }

    /// Logs 64 KiB batches (numbered from 1) until the segment holds
    /// [`PREPARE_AFTER_BYTES`]; returns the last batch number.
    fn log_past_prepare(log: &mut RedoLog) -> u64 {
        let value = vec![7u8; 64 * 1024];
        let mut batch = 0;
        while log.written < PREPARE_AFTER_BYTES {
            batch += 1;
            logged(log, batch, b"big", &value);
        }
        batch
    }

    fn assert_pass_value(tables: &Tables, key: &[u8], value: &[u8]) {
        let stored = tables.passes.get(key).expect("get");
        assert_eq!(
            stored.as_deref(),
            Some(value),
            "{}",
            String::from_utf8_lossy(key)
        );
    }

    #[test]
    fn logged_batches_are_replayed_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let tables = open(dir.path());
            tables.scan_ids.insert(b"k1", b"old").expect("insert");
            let (mut log, replayed) = RedoLog::recover(dir.path(), &tables).expect("recover");
            assert_eq!(replayed.batches, 0);
            logged(&mut log, 1, b"k1", b"v1");
            logged(&mut log, 2, b"k1", b"v2");
            logged(&mut log, 3, b"k2", b"v3");
            // A crash in the middle of a fourth record.
            let torn = [9, 0, 0, 0, 1, 2];
            log.file.write_all_at(&torn, log.written).expect("torn");
            // Nothing was folded into fjall: the log alone holds the batches.
        }
        let tables = open(dir.path());
        let (log, replayed) = RedoLog::recover(dir.path(), &tables).expect("recover");
        assert_eq!(replayed.batches, 3);
        assert_pass_value(&tables, b"k1", b"v2");
        assert_pass_value(&tables, b"k2", b"v3");
        assert!(tables.scan_ids.get(b"k1").expect("get").is_none());
        // The replayed segments are gone; one fresh, empty segment is left.
        let left = segments(&log.dir).expect("segments");
        assert_eq!(left.len(), 1);
        assert_eq!(fs::metadata(&left[0].1).expect("meta").len(), 0);
    }

    /// Logs one batch, damages the segment with `damage`, starts a later
    /// segment (so the damaged one is not a torn tail) and expects the next
    /// start to refuse the log as corrupt.
    fn assert_corrupt_before_the_last_segment(damage: impl FnOnce(&RedoLog)) {
        let (dir, tables, mut log) = fresh_log();
        logged(&mut log, 1, b"k", b"v");
        damage(&log);
        RedoLog::create(log.dir.clone(), log.segment + 1).expect("segment");
        let err = RedoLog::recover(dir.path(), &tables)
            .map(|_| ())
            .expect_err("a damaged record before the last segment");
        assert!(err.to_string().contains("corrupt redo log"), "{err}");
    }

    #[test]
    fn a_bad_record_before_the_last_segment_is_corruption() {
        assert_corrupt_before_the_last_segment(|log| {
            let first = segment_path(&log.dir, log.segment);
            let mut bytes = fs::read(&first).expect("read");
            let n = bytes.len();
            bytes[n - 1] ^= 0xff;
            fs::write(&first, bytes).expect("write");
        });
    }

    #[test]
    fn bytes_after_the_zeros_of_a_segment_are_not_its_end() {
        // Zeros, then something: a damaged segment, not a prepared one.
        assert_corrupt_before_the_last_segment(|log| {
            let damage = [0, 0, 0, 0, 0, 0, 0, 0, 1];
            log.file.write_all_at(&damage, log.written).expect("write");
        });
    }

    #[test]
    fn a_log_directory_it_cannot_create_is_unavailable_with_the_io_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tables = open(dir.path());
        fs::write(dir.path().join(DIR), b"a file where the log directory goes").expect("file");
        let err = RedoLog::recover(dir.path(), &tables)
            .map(|_| ())
            .expect_err("no log directory");
        let StoreError::Unavailable { what, source } = &err else {
            panic!("expected Unavailable, got {err:?}");
        };
        assert!(what.contains("cannot create"), "{what}");
        let io = source
            .downcast_ref::<io::Error>()
            .expect("the io::Error itself");
        assert_eq!(io.kind(), io::ErrorKind::AlreadyExists, "{io}");
    }

    #[test]
    fn after_a_failed_write_nothing_more_is_appended() {
        let (_dir, _tables, mut log) = fresh_log();
        log.fill_disk();
        let mut staged = Staged::new(1);
        staged.insert(Ks::Passes, b"k", b"v");
        let first = log.append(1, &mut staged).expect_err("a full disk");
        assert!(matches!(first, AppendError::Write(_)), "{first}");
        assert!(
            first.to_string().contains("cannot write the redo log"),
            "{first}"
        );
        // Even once writes would work again, the log refuses: what reached
        // the file is unknown, and a record after a torn one would be lost.
        log.file = OpenOptions::new()
            .append(true)
            .open(segment_path(&log.dir, log.segment))
            .expect("segment");
        let second = log.append(2, &mut staged).expect_err("refused");
        assert!(matches!(second, AppendError::FailedEarlier), "{second}");
        assert!(log.rotate().is_err(), "no checkpoint after a failure");
    }

    #[test]
    fn a_crash_before_the_folder_checkpoints_replays_the_rotated_segment_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = {
            let tables = open(dir.path());
            let (mut log, _) = RedoLog::recover(dir.path(), &tables).expect("recover");
            let first = log.segment;
            logged(&mut log, 1, b"k", b"v1");
            logged(&mut log, 2, b"j", b"w");
            // The writer starts a new segment; the folder has not synced
            // fjall or deleted the full one yet when the process dies.
            let _retired = log.rotate().expect("rotate");
            logged(&mut log, 3, b"k", b"v2");
            assert_eq!(numbers(&log.dir), vec![first, first + 1]);
            first
        };
        let tables = open(dir.path());
        let (log, replayed) = RedoLog::recover(dir.path(), &tables).expect("recover");
        assert_eq!(replayed.batches, 3, "both segments");
        assert_pass_value(&tables, b"k", b"v2");
        assert_pass_value(&tables, b"j", b"w");
        assert!(log.segment > first + 1);
    }

    #[test]
    fn deleting_rotated_segments_keeps_the_current_one() {
        let (_dir, _tables, mut log) = fresh_log();
        logged(&mut log, 1, b"k", b"v");
        let older = log.rotate().expect("rotate");
        logged(&mut log, 2, b"k", b"v2");
        let old = log.rotate().expect("rotate");
        old.delete().expect("delete");
        // The older checkpoint comes late: its segments are already gone.
        older.delete().expect("nothing left to delete is fine");
        assert_eq!(numbers(&log.dir), vec![log.segment]);
    }

    #[test]
    fn the_log_moves_to_a_prepared_segment_and_replays_across_its_zeros() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, batches) = {
            let tables = open(dir.path());
            let (mut log, _) = RedoLog::recover(dir.path(), &tables).expect("recover");
            let first = log.segment;
            let batch = log_past_prepare(&mut log);
            assert!(!log.prepared, "a fresh segment grows as it is written");
            log.next
                .as_mut()
                .expect("preparing the next segment")
                .settle();
            assert!(log.rotation_due(), "an unprepared segment gives way early");
            let _retired = log.rotate().expect("rotate");
            assert!(log.prepared);
            let path = segment_path(&log.dir, log.segment);
            logged(&mut log, batch + 1, b"k", b"v1");
            logged(&mut log, batch + 2, b"k", b"v2");
            let len = fs::metadata(&path).expect("meta").len();
            assert_eq!(len, PREPARED_BYTES, "records overwrite the zeros");
            // The prepared segment is not the last one at the crash: its
            // zeros must end it without a complaint.
            let _retired = log.rotate().expect("rotate");
            logged(&mut log, batch + 3, b"j", b"w");
            assert_eq!(numbers(&log.dir), vec![first, first + 1, first + 2]);
            let leftover = prepared_path(&log.dir, first + 3);
            fs::write(&leftover, b"half-prepared").expect("leftover");
            (first, batch + 3)
        };
        let tables = open(dir.path());
        let (log, replayed) = RedoLog::recover(dir.path(), &tables).expect("recover");
        assert_eq!(replayed.batches, batches);
        assert_pass_value(&tables, b"k", b"v2");
        assert_pass_value(&tables, b"j", b"w");
        assert_eq!(numbers(&log.dir), vec![first + 3]);
        assert!(
            !prepared_path(&log.dir, first + 3).exists(),
            "a leftover is removed"
        );
    }

    #[test]
    fn a_failed_zero_fill_leaves_the_segment_to_fill_and_the_next_one_grows() {
        let (_dir, _tables, mut log) = fresh_log();
        // A directory where the zero-fill wants its file: it cannot open it.
        let blocker = prepared_path(&log.dir, log.segment + 1);
        fs::create_dir(&blocker).expect("blocker");
        let batch = log_past_prepare(&mut log);
        log.next.as_mut().expect("a zero-fill was tried").settle();
        assert!(
            !log.rotation_due(),
            "no early move to a segment that is not there"
        );
        let _retired = log.rotate().expect("rotate");
        assert!(!log.prepared);
        logged(&mut log, batch + 1, b"k", b"v");
        assert_eq!(log.written, log.file.metadata().expect("meta").len());
        fs::remove_dir(&blocker).expect("unblock");
    }

    #[test]
    fn a_checkpoint_starts_a_new_segment_and_deletes_the_old() {
        let (_dir, _tables, mut log) = fresh_log();
        logged(&mut log, 1, b"k", b"v");
        let before = log.segment;
        log.rotate().expect("rotate").delete().expect("delete");
        assert_eq!(numbers(&log.dir), vec![before + 1]);
    }
}
