//! Replay of the redo log at open: what fjall does not hold yet is applied,
//! in order; what it already holds is skipped; damage that loses anything
//! acknowledged stops the open.
//!
//! Rules (records carry consecutive sequence numbers, see `record`):
//! - fjall keeps two marks: `meta`/`logged`, the last record whose writes
//!   it holds but for pass states, and `meta`/`states`, the last record
//!   whose pass states it holds (written out apart, see `states`; a store
//!   without it is one written before, where `logged` covers both). A
//!   record's pass states are applied only above `states`, its other writes
//!   only above `logged`: applying an older absolute value over newer
//!   tables would make counts go backwards. `held` below is the lower mark:
//!   a record at or below it is skipped whole.
//! - The log must reach the higher mark: records between the two marks are
//!   half in fjall, so a log that ends (or is cut) below the higher one has
//!   lost writes fjall lacks, and the open fails.
//! - Zeros from a record boundary to the end of a segment are the unwritten
//!   rest of a prepared segment.
//! - A bad record (cut short, checksum failed) at the very end of the last
//!   segment, with nothing after it but zeros or the end of the file, is a
//!   torn final write: dropped with a warning.
//! - Any other bad bytes start a gap, closed by the next valid record. The
//!   gap is harmless when every record it may have held is at or below
//!   `held` (a warning names the file and offset); otherwise, or when no
//!   valid record ever closes it, or when numbers go backwards, the open
//!   fails with [`StoreError::CorruptLog`] naming the file and offset.

use super::layout::{Tables, backend, encode_logged, states_key};
use super::record::{self, HEADER, Ks, Record};
use super::segment::PREPARED_BYTES;
use super::states::mark_states;
use fjall::OwnedWriteBatch;
use scangate_storage::StoreError;
use std::fs;
use std::path::{Path, PathBuf};

/// How far past the last good record the search for the next one looks, in
/// sequence numbers: a segment (at most [`PREPARED_BYTES`]) holds at most
/// that many records of [`HEADER`] bytes or more, so the next valid record
/// after damage inside one segment is never further than this.
pub const RESYNC_WINDOW: u64 = PREPARED_BYTES / HEADER as u64;

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Records applied to fjall.
    pub batches: u64,
    /// The last sequence number the log or fjall holds: the next record
    /// written is one more.
    pub last: u64,
}

/// Replays `segments` (oldest first) onto `tables`, without syncing.
pub fn replay(
    dir: &Path,
    segments: &[(u64, PathBuf)],
    tables: &Tables,
) -> Result<Replayed, StoreError> {
    let logged = tables.load_logged()?;
    let states = tables.load_states()?.unwrap_or(logged);
    let mut replay = Replay {
        tables,
        held: logged.min(states),
        logged,
        states,
        last: None,
        gap: None,
        batches: 0,
    };
    for (i, (_, path)) in segments.iter().enumerate() {
        replay.segment(path, i + 1 == segments.len())?;
    }
    if let Some(gap) = replay.gap {
        return Err(gap.corrupt("no valid record follows it, so records it held are lost"));
    }
    let reached = replay.last.unwrap_or(0).max(replay.held);
    let high = logged.max(states);
    if reached < high {
        let (path, offset) = match segments.last() {
            Some((_, path)) => (path.clone(), fs::metadata(path).map_or(0, |m| m.len())),
            None => (dir.to_owned(), 0),
        };
        return Err(StoreError::CorruptLog {
            path,
            offset,
            detail: format!(
                "the log ends at record {reached}, but the tables hold pass states up to record {states} and the other writes up to record {logged}: records {} to {high} are lost",
                reached + 1
            ),
        });
    }
    if tables.load_states()?.is_none() {
        // A store of the previous format (or a new one): `logged` covered
        // its pass states. From now on they have their own mark.
        tables
            .meta
            .insert(states_key(), encode_logged(reached))
            .map_err(backend)?;
    }
    Ok(Replayed {
        batches: replay.batches,
        last: reached,
    })
}

/// Damaged bytes not yet followed by a valid record.
struct Gap {
    path: PathBuf,
    offset: usize,
}

impl Gap {
    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        corrupt(&self.path, self.offset, detail)
    }
}

fn corrupt(path: &Path, offset: usize, detail: impl Into<String>) -> StoreError {
    StoreError::CorruptLog {
        path: path.to_owned(),
        offset: offset as u64,
        detail: detail.into(),
    }
}

struct Replay<'t> {
    tables: &'t Tables,
    /// The last record fjall held whole at open: the lower of its marks.
    held: u64,
    /// The last record whose writes but for pass states fjall held.
    logged: u64,
    /// The last record whose pass states fjall held.
    states: u64,
    /// The last valid record seen.
    last: Option<u64>,
    /// The first damage not yet closed by a valid record.
    gap: Option<Gap>,
    batches: u64,
}

impl Replay<'_> {
    fn segment(&mut self, path: &Path, last_segment: bool) -> Result<(), StoreError> {
        let bytes = fs::read(path)
            .map_err(|e| StoreError::unavailable(format!("cannot read {}", path.display()), e))?;
        let mut at = 0;
        while at < bytes.len() {
            if let Some(record) = record::record_at(&bytes, at) {
                self.record(path, at, &record)?;
                at = record.next;
                continue;
            }
            if bytes[at..].iter().all(|&b| b == 0) {
                break; // the unwritten rest of a prepared segment
            }
            let next = self.resync(&bytes, at);
            if next.is_none() && last_segment && self.gap.is_none() && torn(&bytes, at) {
                tracing::warn!(
                    segment = %path.display(),
                    offset = at,
                    bytes = bytes.len() - at,
                    last_record = self.last,
                    "dropping an incomplete final redo record (a write cut short, so never acknowledged, or a log cut off at its end)"
                );
                return Ok(());
            }
            self.gap.get_or_insert_with(|| Gap {
                path: path.to_owned(),
                offset: at,
            });
            match next {
                Some(next) => at = next,
                None => break,
            }
        }
        Ok(())
    }

    /// Checks `record`'s place in the sequence, closes an open gap if it is
    /// harmless, and applies the record unless fjall holds it.
    fn record(&mut self, path: &Path, at: usize, record: &Record<'_>) -> Result<(), StoreError> {
        let batch = record.batch;
        if let Some(last) = self.last
            && batch <= last
        {
            return Err(corrupt(
                path,
                at,
                format!("record {batch} follows record {last}: numbers went backwards"),
            ));
        }
        let first_missing = self.last.map_or(self.held, |l| l.max(self.held)) + 1;
        if batch > first_missing {
            let missing = format!("records {first_missing} to {} are lost", batch - 1);
            return Err(match &self.gap {
                Some(gap) => gap.corrupt(format!("damaged bytes; {missing}")),
                None => corrupt(
                    path,
                    at,
                    format!("a record is missing before this one; {missing}"),
                ),
            });
        }
        if let Some(gap) = self.gap.take() {
            tracing::warn!(
                segment = %gap.path.display(),
                offset = gap.offset,
                resumed_at = %path.display(),
                resumed_offset = at,
                held = self.held,
                "the redo log has damaged bytes; the store's tables already hold every record they covered, so the start goes on (check the disk)"
            );
        }
        if batch > self.held {
            self.apply(batch, record.ops)
                .ok_or_else(|| corrupt(path, at, format!("record {batch} does not decode")))??;
            self.batches += 1;
        }
        self.last = Some(batch);
        Ok(())
    }

    /// Applies what fjall lacks of record `batch`: its pass states above
    /// the `states` mark, its other writes above `logged`, each with its
    /// mark, as one fjall batch. `None` if the ops do not decode.
    fn apply(&self, batch: u64, ops: &[u8]) -> Option<Result<(), StoreError>> {
        let (states, others) = (batch > self.states, batch > self.logged);
        let mut fjall = OwnedWriteBatch::with_capacity(self.tables.db.clone(), 8);
        let mut keys = record::KeyWrites::new(self.tables);
        record::for_each_op(ops, |op| {
            if (op.0 == Ks::PassState && states) || (op.0 != Ks::PassState && others) {
                record::stage_op(op, self.tables, &mut fjall, &mut keys);
            }
        })?;
        if others {
            record::mark_held(batch, self.tables, &mut fjall);
        }
        if states {
            mark_states(batch, self.tables, &mut fjall);
        }
        Some(keys.ingest().and_then(|()| fjall.commit()).map_err(backend))
    }

    /// The offset of the next valid record after the bad one at `at`, if
    /// any: one whose number could follow the last good record (within
    /// [`RESYNC_WINDOW`]) and whose checksum holds. Reading the number first
    /// keeps the search cheap: a checksum only where the number fits.
    fn resync(&self, bytes: &[u8], at: usize) -> Option<usize> {
        let near = self.last.unwrap_or(self.held);
        let fits = |batch: u64| match self.last {
            Some(last) => batch > last && batch - last <= RESYNC_WINDOW,
            None => batch > 0 && batch.abs_diff(near) <= RESYNC_WINDOW,
        };
        (at + 1..bytes.len()).find(|&o| {
            record::batch_at(bytes, o).is_some_and(fits) && record::record_at(bytes, o).is_some()
        })
    }
}

/// Whether the bad record at `at` (with no valid record after it) is a torn
/// final write: its header is cut short, or the length it claims runs past
/// the end of the file, or only zeros follow the length it claims.
fn torn(bytes: &[u8], at: usize) -> bool {
    match record::claimed_len(bytes, at) {
        None => true,
        Some(len) => {
            let end = record::claimed_end(at, len);
            end >= bytes.len() || bytes[end..].iter().all(|&b| b == 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Merged;
    use crate::record::{Ks, Staged};
    use crate::redo::RedoLog;
    use crate::segment;
    use crate::states::DirtyStates;
    use fjall::Database;

    fn open(dir: &Path) -> Tables {
        let db = Database::builder(dir.join("db")).open().expect("db");
        Tables::open(db).expect("tables")
    }

    /// Logs batches 1..=5 writing `k` = `v1`..`v5` and folds the first
    /// `folded` of them into fjall, as the folder would; returns the store
    /// directory and the one segment's path.
    fn logged_five(folded: u64) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let tables = open(dir.path());
        let (mut log, _) = RedoLog::recover(dir.path(), &tables).expect("recover");
        for batch in 1..=5u64 {
            let mut staged = Staged::new(1);
            staged.insert(Ks::Passes, b"k", format!("v{batch}"));
            log.append(batch, &mut staged).expect("append");
            if batch <= folded {
                // Folded and written out, as the fold thread would.
                let (mut group, dirty) = (Merged::new(&tables), DirtyStates::default());
                group.add(batch, &staged.into_record()).expect("decode");
                group.commit(&dirty).expect("fold");
                dirty.write_out(&tables).expect("write out");
            }
        }
        let segment = fs::read_dir(dir.path().join(segment::DIR))
            .expect("list")
            .map(|e| e.expect("entry").path())
            .find(|p| p.extension().is_some_and(|e| e == "log"))
            .expect("a segment");
        (dir, segment)
    }

    /// Where each record of `path` starts.
    fn offsets(path: &Path) -> Vec<usize> {
        let bytes = fs::read(path).expect("read");
        let mut at = 0;
        let mut out = Vec::new();
        while let Some(r) = record::record_at(&bytes, at) {
            out.push(at);
            at = r.next;
        }
        out
    }

    fn flip(path: &Path, at: usize) {
        let mut bytes = fs::read(path).expect("read");
        bytes[at] ^= 0x5a;
        fs::write(path, bytes).expect("write");
    }

    fn value(dir: &Path) -> (Result<Replayed, StoreError>, Option<Vec<u8>>) {
        let tables = open(dir);
        let outcome = RedoLog::recover(dir, &tables).map(|(_, r)| r);
        let stored = tables.passes.get(b"k").expect("get").map(|v| v.to_vec());
        (outcome, stored)
    }

    #[test]
    fn damage_to_records_fjall_holds_is_skipped_and_nothing_goes_backwards() {
        let (dir, segment) = logged_five(5);
        let at = offsets(&segment);
        flip(&segment, at[1] + HEADER + 2);
        let (outcome, stored) = value(dir.path());
        let replayed = outcome.expect("fjall holds every damaged record: start");
        assert_eq!(stored.as_deref(), Some(&b"v5"[..]), "not v1: no regression");
        assert_eq!(
            replayed,
            Replayed {
                batches: 0,
                last: 5
            }
        );
    }

    #[test]
    fn a_log_cut_off_inside_a_record_fjall_holds_never_overwrites_newer_tables() {
        let (dir, segment) = logged_five(5);
        let at = offsets(&segment);
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .expect("open");
        file.set_len((at[3] + 5) as u64).expect("truncate");
        let (outcome, stored) = value(dir.path());
        assert_eq!(outcome.expect("a torn tail").last, 5);
        assert_eq!(stored.as_deref(), Some(&b"v5"[..]), "not v3");
    }

    #[test]
    fn records_above_what_fjall_holds_are_replayed_in_order() {
        let (dir, _) = logged_five(2);
        let (outcome, stored) = value(dir.path());
        assert_eq!(
            outcome.expect("replay"),
            Replayed {
                batches: 3,
                last: 5
            }
        );
        assert_eq!(stored.as_deref(), Some(&b"v5"[..]));
    }

    #[test]
    fn damage_to_records_fjall_lacks_with_valid_records_after_refuses_naming_file_and_offset() {
        let (dir, segment) = logged_five(2);
        let at = offsets(&segment);
        flip(&segment, at[2] + HEADER + 1);
        let before = fs::read(&segment).expect("read");
        let (outcome, stored) = value(dir.path());
        let err = outcome.expect_err("record 3 is lost: corruption, not a torn write");
        match &err {
            StoreError::CorruptLog { path, offset, .. } => {
                assert_eq!(path, &segment);
                assert_eq!(*offset, at[2] as u64);
            }
            other => panic!("{other}"),
        }
        let text = err.to_string();
        assert!(text.contains(&segment.display().to_string()), "{text}");
        assert!(text.contains(&format!("at byte {}", at[2])), "{text}");
        assert!(text.contains("records 3 to 3 are lost"), "{text}");
        assert_eq!(
            stored.as_deref(),
            Some(&b"v2"[..]),
            "nothing applied past the damage"
        );
        assert_eq!(
            fs::read(&segment).expect("read"),
            before,
            "the log is left as found"
        );
    }

    #[test]
    fn a_damaged_final_record_followed_by_garbage_is_not_a_torn_write() {
        let (dir, segment) = logged_five(2);
        let at = offsets(&segment);
        // The length of record 5 shrunk: what it claimed ends before the
        // rest of its bytes, which are not zeros.
        let mut bytes = fs::read(&segment).expect("read");
        bytes[at[4]..at[4] + 4].copy_from_slice(&9u32.to_le_bytes());
        fs::write(&segment, bytes).expect("write");
        let (outcome, _) = value(dir.path());
        let err = outcome.expect_err("not torn");
        assert!(
            matches!(err, StoreError::CorruptLog { offset, .. } if offset == at[4] as u64),
            "{err}"
        );
    }
}
