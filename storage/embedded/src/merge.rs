//! Logged batches merged into one fjall commit ([`Merged`]): what the fold
//! thread applies when several batches wait for it.
//!
//! One fjall commit costs a journal lock, a `write` to the OS, a sequence
//! number, a wake of its readers and a write-stall check per keyspace,
//! whatever its size; merged, those are paid once per group instead of once
//! per logged batch. A pass's state and the store's next sequence number are
//! written by nearly every batch: merged, each goes into a memtable once per
//! group (the last value), not once per batch.
//!
//! All of a merged group is one atomic fjall batch that also records the
//! group's last batch as held (`meta`/`logged`), so fjall holds a whole
//! group or none of it, exactly as it held a whole batch or none before.
//! Pass states are the exception: a group's pass states (the last of each
//! pass) go to the fold thread's [`DirtyStates`], the state of record
//! until a write-out puts them in fjall with their own mark
//! (`meta`/`states`, see `states`). Within one fjall batch
//! every write has the same sequence number and the later write of a key
//! wins (as within one logged batch, where a pass scanned twice writes its
//! state twice), so the writes are staged in log order.

use super::layout::Tables;
use super::record::{self, KeyWrites, Ks};
use super::states::DirtyStates;
use fjall::{OwnedWriteBatch, PersistMode};
use std::collections::{HashMap, HashSet};

/// Most logged batches merged into one fjall commit: bounds the memory of
/// a group (its records are at most [`MERGE_MAX_BYTES`] besides) and how
/// long the fold thread goes without publishing progress. 64 full batches
/// of 256 grants are ~16k grants, a few tens of milliseconds of memtable
/// inserts: readers waiting for the fold wait at most that much longer.
pub const MERGE_MAX_BATCHES: usize = 64;

/// Most bytes of redo records merged into one fjall commit (the group's
/// last record may pass it): 4 MiB is a quarter of `FOLD_LAG_BYTES`, so a
/// group never holds most of what the writer may run ahead by.
pub const MERGE_MAX_BYTES: usize = 4 << 20;

/// Logged batches being merged into one fjall commit.
pub struct Merged {
    tables: Tables,
    fjall: OwnedWriteBatch,
    keys: KeyWrites,
    /// The last value of each `meta` key (nearly every batch writes the
    /// next sequence number again), staged once at the commit.
    repeated: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// The last state of each pass the group wrote, for [`DirtyStates`].
    states: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// The passes whose record, key or personal data the group wrote.
    records: HashSet<Vec<u8>>,
    /// The last batch merged.
    pub last: u64,
    /// How many batches are merged.
    pub batches: usize,
    /// Bytes of their redo records.
    pub bytes: usize,
}

impl Merged {
    /// An empty group for `tables`.
    pub fn new(tables: &Tables) -> Merged {
        Merged {
            tables: tables.clone(),
            fjall: OwnedWriteBatch::with_capacity(tables.db.clone(), 256),
            keys: KeyWrites::new(tables),
            repeated: HashMap::new(),
            states: HashMap::new(),
            records: HashSet::new(),
            last: 0,
            batches: 0,
            bytes: 0,
        }
    }

    /// Whether the group is at its bound ([`MERGE_MAX_BATCHES`],
    /// [`MERGE_MAX_BYTES`]).
    pub fn is_full(&self) -> bool {
        self.batches >= MERGE_MAX_BATCHES || self.bytes >= MERGE_MAX_BYTES
    }

    /// Adds logged batch `batch`, the next after the group's last, from its
    /// sealed redo record. `Err` if the record does not decode (a bug: this
    /// process encoded it).
    pub fn add(&mut self, batch: u64, sealed: &[u8]) -> Result<(), String> {
        debug_assert!(self.batches == 0 || batch == self.last + 1);
        let Merged {
            tables,
            fjall,
            keys,
            repeated,
            states,
            records,
            ..
        } = self;
        record::for_each_op(record::sealed_ops(sealed), |op| match op {
            (Ks::PassState, key, value) => {
                states.insert(key.to_vec(), value.map(<[u8]>::to_vec));
            }
            (Ks::Meta, key, value) => {
                repeated.insert(key.to_vec(), value.map(<[u8]>::to_vec));
            }
            op => {
                if matches!(op.0, Ks::Passes | Ks::PassKeys | Ks::Personal) {
                    records.insert(op.1.to_vec());
                }
                record::stage_op(op, tables, fjall, keys);
            }
        })
        .ok_or_else(|| format!("logged batch {batch} does not decode"))?;
        self.last = batch;
        self.batches += 1;
        self.bytes += sealed.len();
        Ok(())
    }

    /// Hands the group's pass states to `dirty` (first, so that fjall
    /// never holds a batch's other writes before `dirty` holds its states),
    /// then applies the rest to fjall as one batch (memtables and fjall's
    /// journal, handed to the OS, not synced), its pass keys first; returns
    /// the last batch it holds.
    pub fn commit(self, dirty: &DirtyStates) -> Result<u64, String> {
        let Merged {
            tables,
            mut fjall,
            mut keys,
            repeated,
            states,
            records,
            last,
            ..
        } = self;
        dirty.merge(last, states, &records);
        for (key, value) in &repeated {
            record::stage_op(
                (Ks::Meta, key, value.as_deref()),
                &tables,
                &mut fjall,
                &mut keys,
            );
        }
        record::mark_held(last, &tables, &mut fjall);
        // Keys first: the commit records the group as held (`meta`/`logged`).
        if let Err(e) = keys.ingest() {
            tracing::error!(last, error = %e, "cannot write logged batches' pass keys to the store's tables");
            return Err(e.to_string());
        }
        // Handed to the OS at once (one `write`, no sync): a process that dies
        // (kill -9) then leaves fjall holding every folded batch, so a damaged
        // redo log loses only what fjall lacks.
        if let Err(e) = fjall.durability(Some(PersistMode::Buffer)).commit() {
            tracing::error!(last, error = %e, "cannot apply logged batches to the store's tables");
            return Err(e.to_string());
        }
        dirty.committed(last);
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout;
    use crate::record::Staged;
    use fjall::Database;

    fn sealed(batch: u64, writes: &[record::Op<'_>]) -> Vec<u8> {
        let mut staged = Staged::new(writes.len());
        for (ks, key, value) in writes {
            match value {
                Some(value) => staged.insert(*ks, key, value),
                None => staged.remove(*ks, key),
            }
        }
        staged.seal(batch);
        staged.into_record()
    }

    #[test]
    fn merged_batches_land_as_one_commit_with_the_last_value_of_each_key_and_states_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder(dir.path().join("db")).open().expect("db");
        let tables = Tables::open(db).expect("tables");
        tables.scan_ids.insert(b"gone", b"old").expect("insert");
        let mut group = Merged::new(&tables);
        let first = sealed(
            7,
            &[
                (Ks::PassState, b"p", Some(b"uses=1")),
                (Ks::Scans, b"s1", Some(b"first")),
                (Ks::PassKeys, b"p", Some(b"key")),
            ],
        );
        let second = sealed(
            8,
            &[
                (Ks::PassState, b"p", Some(b"uses=2")),
                (Ks::Scans, b"s1", Some(b"annulled")),
                (Ks::Scans, b"s2", Some(b"second")),
                (Ks::ScanIds, b"gone", None),
            ],
        );
        group.add(7, &first).expect("decode");
        group.add(8, &second).expect("decode");
        assert_eq!((group.batches, group.last), (2, 8));
        assert_eq!(group.bytes, first.len() + second.len());
        let dirty = DirtyStates::default();
        assert_eq!(group.commit(&dirty), Ok(8));

        let get = |ks: &fjall::Keyspace, key: &[u8]| ks.get(key).expect("get").map(|v| v.to_vec());
        assert_eq!(get(&tables.pass_state, b"p"), None, "states wait in memory");
        let held = dirty.get(b"p").expect("held");
        assert_eq!((held.batch, held.value), (8, Some(b"uses=2".to_vec())));
        assert_eq!(
            held.record, 8,
            "the group, up to batch 8, wrote the pass's key"
        );
        assert_eq!(get(&tables.scans, b"s1"), Some(b"annulled".to_vec()));
        assert_eq!(get(&tables.scans, b"s2"), Some(b"second".to_vec()));
        assert_eq!(get(&tables.pass_keys, b"p"), Some(b"key".to_vec()));
        assert_eq!(get(&tables.scan_ids, b"gone"), None);
        let held = get(&tables.meta, layout::logged_key()).expect("held");
        assert_eq!(
            held,
            layout::encode_logged(8).as_ref(),
            "the group's last batch is held"
        );
    }

    #[test]
    fn a_group_is_full_at_its_batch_or_byte_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder(dir.path().join("db")).open().expect("db");
        let tables = Tables::open(db).expect("tables");
        let mut group = Merged::new(&tables);
        for batch in 1..=MERGE_MAX_BATCHES as u64 {
            assert!(!group.is_full());
            group
                .add(batch, &sealed(batch, &[(Ks::Scans, b"k", Some(b"v"))]))
                .expect("decode");
        }
        assert!(group.is_full(), "at the batch bound");
        let mut group = Merged::new(&tables);
        let big = vec![0u8; MERGE_MAX_BYTES];
        group
            .add(1, &sealed(1, &[(Ks::Scans, b"k", Some(&big))]))
            .expect("decode");
        assert!(group.is_full(), "at the byte bound");
    }
}
