//! Forgetting by time in one group commit: scan ids past the retry window
//! ([`scangate_storage::Store::purge_scan_ids`]), and retention: scan
//! records, audit records and conflicts made before a cut-off, removed with
//! their indexes, at most a bounded number of rows per step
//! ([`scangate_storage::Store::purge_records`]).

use super::Batch;
use crate::layout::{self, backend};
use crate::record::Ks;
use scangate_storage::retention::{Retained, RetentionStep};
use scangate_storage::{Cursor, StoreError};
use std::ops::Bound;

impl Batch<'_> {
    /// Forgets up to `max` scan ids of scans before `before_ms`, oldest first.
    pub(super) fn purge(&mut self, before_ms: i64, max: usize) -> Result<u64, StoreError> {
        let end = layout::time_bytes(before_ms);
        let mut forgotten = 0u64;
        for guard in self
            .w
            .tables
            .scan_id_times
            .range(..end.as_slice())
            .take(max)
        {
            let key = guard.key().map_err(backend)?;
            let (at, scan_id) = layout::parse_time_index_key(&key)?;
            if matches!(self.scan_ids.get(&scan_id), Some(None)) {
                continue; // forgotten earlier in this batch
            }
            self.reads += 1;
            self.writes.remove(Ks::ScanIdTimes, key);
            let points_here = match self
                .w
                .tables
                .scan_ids
                .get(scan_id.as_str())
                .map_err(backend)?
            {
                Some(scan_key) => layout::log_key_time(&scan_key)? == at,
                None => false,
            };
            if points_here {
                self.writes.remove(Ks::ScanIds, scan_id.as_str().as_bytes());
                self.scan_ids.insert(scan_id, None);
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// One retention step; the caller has caught fjall up with the log.
    pub(super) fn retain(&mut self, step: &RetentionStep) -> Result<Retained, StoreError> {
        let mut out = Retained::default();
        let mut budget = step.max_rows;
        self.retain_audit(step.before_ms, &mut budget, &mut out)?;
        self.retain_conflicts(step.before_ms, &mut budget, &mut out)?;
        self.retain_scans(step, budget, &mut out)?;
        Ok(out)
    }

    /// Walks `scans` in key order from the cursor (they are keyed by pass,
    /// not by time), examining at most `budget` rows.
    fn retain_scans(
        &mut self,
        step: &RetentionStep,
        budget: usize,
        out: &mut Retained,
    ) -> Result<(), StoreError> {
        let start = match &step.after {
            Some(c) => Bound::Excluded(c.0.clone()),
            None => Bound::Unbounded,
        };
        let tables = self.w.tables.clone();
        let mut last: Option<Vec<u8>> = None;
        for (examined, guard) in tables
            .scans
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .enumerate()
        {
            if examined >= budget {
                out.next = last.map(Cursor);
                return Ok(());
            }
            let (key, value) = guard.into_inner().map_err(backend)?;
            last = Some(key.to_vec());
            let at = layout::log_key_time(&key)?;
            if at >= step.before_ms {
                continue;
            }
            self.reads += 1;
            let record = layout::decode_scan(&value)?;
            let seq =
                u64::from_be_bytes(key[24..32].try_into().map_err(|_| {
                    StoreError::Corrupt("a scans key shorter than 32 bytes".into())
                })?);
            self.writes.remove(Ks::Scans, &key);
            self.writes
                .remove(Ks::ScanIdTimes, layout::time_index_key(at, &record.scan_id));
            if !record.event.is_empty() {
                self.writes.remove(
                    Ks::EventScans,
                    layout::event_scan_key(&record.event, at, seq),
                );
            }
            let id = record.scan_id.as_str();
            if tables
                .scan_ids
                .get(id)
                .map_err(backend)?
                .is_some_and(|k| *k == *key)
            {
                self.writes.remove(Ks::ScanIds, id.as_bytes());
                self.scan_ids.insert(record.scan_id.clone(), None);
            }
            out.scans += 1;
        }
        Ok(())
    }

    /// Removes audit records before `before_ms`, oldest first.
    fn retain_audit(
        &mut self,
        before_ms: i64,
        budget: &mut usize,
        out: &mut Retained,
    ) -> Result<(), StoreError> {
        let end = layout::time_bytes(before_ms);
        let tables = self.w.tables.clone();
        for guard in tables.audit_times.range(..end.as_slice()).take(*budget) {
            let (key, audit_key) = guard.into_inner().map_err(backend)?;
            self.writes.remove(Ks::AuditTimes, &key);
            self.writes.remove(Ks::Audit, &audit_key);
            *budget -= 1;
            out.audit += 1;
        }
        Ok(())
    }

    /// Removes conflicts recorded before `before_ms`, oldest first, with
    /// their tags when the tag points at them.
    fn retain_conflicts(
        &mut self,
        before_ms: i64,
        budget: &mut usize,
        out: &mut Retained,
    ) -> Result<(), StoreError> {
        let end = layout::time_bytes(before_ms);
        let tables = self.w.tables.clone();
        for guard in tables.conflicts.range(..end.as_slice()).take(*budget) {
            let (key, value) = guard.into_inner().map_err(backend)?;
            let conflict: scangate_core::scan::Conflict = layout::decode(&value, "conflict")?;
            let tag = layout::conflict_tag_key(&conflict.scan_id, conflict.kind);
            if tables
                .conflict_tags
                .get(&tag)
                .map_err(backend)?
                .is_some_and(|k| *k == *key)
            {
                self.writes.remove(Ks::ConflictTags, &tag);
            }
            self.writes.remove(Ks::Conflicts, &key);
            *budget -= 1;
            out.conflicts += 1;
        }
        Ok(())
    }
}
