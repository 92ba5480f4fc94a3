//! Pass states as the state of record between checkpoints ([`DirtyStates`]):
//! the fold thread keeps the pass states that folded batches wrote in
//! memory and writes them to fjall's `pass_state` only now and then, as one
//! fjall batch that records how far it goes (`meta`/`states`), instead of
//! inserting every grant's state into fjall's memtable.
//!
//! Rules:
//! - fjall's `pass_state` plus this map is what fjall alone held before: a
//!   reader looks here first, then in fjall (a miss here after a write-out
//!   means fjall holds the state, since an entry leaves only after its
//!   write-out is committed).
//! - The write-out is due every [`STATE_WRITE_EVERY`], when the map holds
//!   [`DIRTY_STATES_MAX`] passes, at every checkpoint (before its sync and
//!   before the checkpoint deletes segments) and before a read that walks
//!   `pass_state` (`query_passes`), so that read sees every acknowledged
//!   state.
//! - `meta`/`states` is the last batch whose pass states fjall holds;
//!   `meta`/`logged` the last whose other writes it holds. Replay applies a
//!   record's pass states only above the first and its other writes only
//!   above the second (see `replay`).

use super::layout::{self, Tables, backend};
use fjall::{OwnedWriteBatch, PersistMode};
use scangate_storage::StoreError;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How often the fold thread writes the pass states it holds to fjall.
/// Each write-out costs one memtable insert per pass changed since the
/// last, however often it was scanned, so a longer interval saves more
/// inserts for passes scanned many times (season cards, staff badges); a
/// crash replays at most this much more of the redo log's pass states (the
/// log is replayed from the last checkpoint anyway). One second keeps the
/// map small (a gate's passes of one second) and replay unchanged in
/// practice.
pub const STATE_WRITE_EVERY: Duration = Duration::from_secs(1);

/// Most pass states held before a write-out is due whatever the interval:
/// ~100 bytes each in the map, so at most ~26 MiB, and a write-out of one
/// fjall batch of at most this many states (tens of milliseconds).
pub const DIRTY_STATES_MAX: usize = 1 << 18;

/// A held pass state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The batch that wrote it.
    pub batch: u64,
    /// The state as fjall would hold it (`None`: removed).
    pub value: Option<Vec<u8>>,
    /// The group (its last batch) that wrote this state, when it also
    /// wrote the pass's record, key or personal data (0: it did not, so
    /// fjall holds the record that goes with the state: every group before
    /// it is committed before it is merged): a reader pairs the state with
    /// those from fjall only once fjall holds this batch.
    pub record: u64,
}

/// What a reader does with a pass's state ([`DirtyStates::look`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Held {
    /// Not held: fjall's `pass_state` holds the pass's last state (or none).
    InFjall,
    /// Held, and fjall holds the pass's record that goes with it.
    State(Option<Vec<u8>>),
    /// Held, but the batch that wrote its record is not in fjall yet: look
    /// again once the fold has committed this batch.
    Wait(u64),
}

#[derive(Default)]
struct Inner {
    states: HashMap<Vec<u8>, Entry>,
    /// The last batch whose states were merged in.
    merged: u64,
    /// The last batch whose other writes fjall holds (set after the fold's
    /// commit returns, so a snapshot taken later holds them).
    committed: u64,
    /// The last batch `meta`/`states` was written for by this process.
    marked: u64,
}

/// The pass states folded batches wrote that fjall's `pass_state` may not
/// hold yet. Shared by the fold thread (which merges and writes out) and
/// readers; its lock is held for map operations and a reader's fjall
/// snapshot only.
#[derive(Default)]
pub struct DirtyStates {
    inner: Mutex<Inner>,
    /// Held by a write-out from its copy to its forgetting.
    writing: Mutex<()>,
}

impl DirtyStates {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the pass states (last value per pass) of the batches up to
    /// `batch`, before the rest of their writes is committed to fjall and
    /// after every batch before them is ([`DirtyStates::committed`]: the
    /// fold thread merges and commits one group at a time); `records`: the
    /// passes whose record, key or personal data those batches also wrote.
    pub fn merge(
        &self,
        batch: u64,
        states: HashMap<Vec<u8>, Option<Vec<u8>>>,
        records: &HashSet<Vec<u8>>,
    ) {
        let mut inner = self.lock();
        for (key, value) in states {
            let record = if records.contains(&key) { batch } else { 0 };
            inner.states.insert(
                key,
                Entry {
                    batch,
                    value,
                    record,
                },
            );
        }
        inner.merged = inner.merged.max(batch);
    }

    /// Records that fjall holds every write of the batches up to `batch`.
    pub fn committed(&self, batch: u64) {
        let mut inner = self.lock();
        inner.committed = inner.committed.max(batch);
    }

    /// The entry this map holds for `key`; `None`: fjall's `pass_state`
    /// holds the pass's last state (or none).
    pub fn get(&self, key: &[u8]) -> Option<Entry> {
        self.lock().states.get(key).cloned()
    }

    /// What a reader of pass `key` does, decided together with `snapshot`
    /// (a fjall snapshot, taken under the map's lock): with the answer
    /// [`Held::InFjall`] or [`Held::State`], the snapshot's record of the
    /// pass goes with the state. A scan changes only a pass's state, so
    /// scans of the pass, however many fold meanwhile, never make a reader
    /// look again; only its record changing again and again does.
    pub fn look<S>(&self, key: &[u8], snapshot: impl FnOnce() -> S) -> (Held, S) {
        let inner = self.lock();
        let snapshot = snapshot();
        let held = match inner.states.get(key) {
            None => Held::InFjall,
            Some(held) if held.record > inner.committed => Held::Wait(held.record),
            Some(held) => Held::State(held.value.clone()),
        };
        (held, snapshot)
    }

    /// A pass's state bytes as of the last folded batch: held here, else
    /// fjall's, looked up in that order (an entry leaves only once fjall
    /// holds it, so the order never reads a stale state). The flag says
    /// whether fjall was read.
    pub fn read(&self, tables: &Tables, key: &[u8]) -> Result<(Option<Vec<u8>>, bool), StoreError> {
        if let Some(held) = self.get(key) {
            return Ok((held.value, false));
        }
        let stored = tables.pass_state.get(key).map_err(backend)?;
        Ok((stored.map(|v| v.to_vec()), true))
    }

    /// How many passes' states are held.
    pub fn len(&self) -> usize {
        self.lock().states.len()
    }

    /// Writes every held state to fjall as one batch (handed to the OS, not
    /// synced: the redo log holds them until a checkpoint syncs fjall) with
    /// `meta`/`states` set to the last batch merged, then forgets the
    /// entries that did not change meanwhile. The map is copied under the
    /// lock and committed without it, so the writer and `load_pass` never
    /// wait for fjall here; write-outs run one at a time. With no state
    /// held the mark still moves up to the last batch merged (batches that
    /// changed no pass state), so that it does not lag `meta`/`logged` for
    /// good. Returns how many states it wrote.
    pub fn write_out(&self, tables: &Tables) -> Result<usize, String> {
        let _one_at_a_time = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let (copy, upto) = {
            let inner = self.lock();
            if inner.states.is_empty() && inner.marked >= inner.merged {
                return Ok(0);
            }
            (inner.states.clone(), inner.merged)
        };
        let mut fjall = OwnedWriteBatch::with_capacity(tables.db.clone(), copy.len() + 1);
        for (key, Entry { value, .. }) in &copy {
            match value {
                Some(value) => fjall.insert(&tables.pass_state, key.as_slice(), value.as_slice()),
                None => fjall.remove(&tables.pass_state, key.as_slice()),
            }
        }
        mark_states(upto, tables, &mut fjall);
        if let Err(e) = fjall.durability(Some(PersistMode::Buffer)).commit() {
            tracing::error!(error = %e, "cannot write pass states to the store's tables");
            return Err(format!(
                "cannot write pass states to the store's tables: {e}"
            ));
        }
        let mut inner = self.lock();
        let committed = inner.committed;
        for (key, written) in &copy {
            // Only what fjall now holds leaves: a newer state stays held, and
            // so does one whose record the fold has not committed yet (a
            // write-out for `query_passes` runs beside the fold thread), so
            // that a reader never pairs it with the record before.
            if inner
                .states
                .get(key)
                .is_some_and(|held| held.batch == written.batch && held.record <= committed)
            {
                inner.states.remove(key);
            }
        }
        inner.marked = inner.marked.max(upto);
        metrics::histogram!("scangate_store_state_write_out_passes").record(copy.len() as f64);
        Ok(copy.len())
    }
}

/// Stages `batch` as the last batch whose pass states fjall holds
/// (`meta`/`states`), in the same fjall batch as those states.
pub fn mark_states(batch: u64, tables: &Tables, fjall: &mut OwnedWriteBatch) {
    fjall.insert(
        &tables.meta,
        layout::states_key(),
        layout::encode_logged(batch),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjall::Database;

    #[test]
    fn held_states_shadow_fjall_until_written_out_with_their_mark() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder(dir.path().join("db")).open().expect("db");
        let tables = Tables::open(db).expect("tables");
        tables.pass_state.insert(b"p", b"old").expect("insert");
        tables.pass_state.insert(b"gone", b"old").expect("insert");
        let dirty = DirtyStates::default();
        let none = HashSet::new();
        dirty.merge(
            4,
            HashMap::from([
                (b"p".to_vec(), Some(b"uses=1".to_vec())),
                (b"gone".to_vec(), None),
            ]),
            &none,
        );
        dirty.merge(
            7,
            HashMap::from([(b"p".to_vec(), Some(b"uses=2".to_vec()))]),
            &none,
        );
        dirty.committed(7);
        let value = |k: &[u8]| dirty.get(k).map(|held| (held.batch, held.value));
        assert_eq!(value(b"p"), Some((7, Some(b"uses=2".to_vec()))));
        assert_eq!(value(b"gone"), Some((4, None)));
        assert_eq!(value(b"other"), None);
        let stored = |k: &[u8]| tables.pass_state.get(k).expect("get").map(|v| v.to_vec());
        assert_eq!(stored(b"p"), Some(b"old".to_vec()), "not written yet");
        assert_eq!(tables.load_states().expect("mark"), None);

        assert_eq!(dirty.write_out(&tables), Ok(2));
        assert_eq!(dirty.len(), 0);
        assert_eq!(stored(b"p"), Some(b"uses=2".to_vec()));
        assert_eq!(stored(b"gone"), None);
        assert_eq!(tables.load_states().expect("mark"), Some(7));
        assert_eq!(dirty.write_out(&tables), Ok(0), "nothing left");
        // A batch that changed no state still moves the mark.
        dirty.merge(9, HashMap::new(), &none);
        assert_eq!(dirty.write_out(&tables), Ok(0));
        assert_eq!(tables.load_states().expect("mark"), Some(9));
    }

    #[test]
    fn a_reader_waits_only_for_a_record_written_beside_a_held_state() {
        let dirty = DirtyStates::default();
        let state = |uses: &str| HashMap::from([(b"p".to_vec(), Some(uses.as_bytes().to_vec()))]);
        let look = |dirty: &DirtyStates| dirty.look(b"p", || ()).0;
        assert_eq!(look(&dirty), Held::InFjall);
        // Batch 3 issued the pass (record and state); it is not committed yet.
        dirty.merge(3, state("uses=0"), &HashSet::from([b"p".to_vec()]));
        assert_eq!(look(&dirty), Held::Wait(3));
        dirty.committed(3);
        assert_eq!(look(&dirty), Held::State(Some(b"uses=0".to_vec())));
        // Scans change only the state: no wait for their batches.
        dirty.merge(4, state("uses=1"), &HashSet::new());
        assert_eq!(look(&dirty), Held::State(Some(b"uses=1".to_vec())));
        // A revocation rewrites the record: wait for its batch.
        dirty.merge(5, state("revoked"), &HashSet::from([b"p".to_vec()]));
        assert_eq!(look(&dirty), Held::Wait(5));
    }

    #[test]
    fn a_write_out_keeps_a_state_whose_record_is_not_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder(dir.path().join("db")).open().expect("db");
        let tables = Tables::open(db).expect("tables");
        let dirty = DirtyStates::default();
        let issued = HashMap::from([(b"p".to_vec(), Some(b"uses=0".to_vec()))]);
        dirty.merge(2, issued, &HashSet::from([b"p".to_vec()]));
        assert_eq!(dirty.write_out(&tables), Ok(1));
        assert_eq!(dirty.len(), 1, "held until its record is committed");
        dirty.committed(2);
        assert_eq!(dirty.write_out(&tables), Ok(1));
        assert_eq!(dirty.len(), 0);
    }
}
