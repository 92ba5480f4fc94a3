//! Forgetting by time in one group commit: scan ids past the retry window
//! ([`scangate_storage::Store::purge_scan_ids`]), and retention: scan
//! records, audit records and conflicts made before their event's cut-off,
//! removed with their indexes, at most a bounded number of rows per step
//! ([`scangate_storage::Store::purge_records`]).
//!
//! A retention walk goes through three tables in turn: `audit_times` and
//! `conflicts` in time order up to the latest cut-off, then `scans` in key
//! order (they are keyed by pass). Its cursor is the table's number (one
//! byte, [`Phase`]) and the last key examined there (empty: the table's
//! start), so rows kept for an event with a longer period are stepped over
//! rather than examined again every step.

use super::Batch;
use crate::layout::{self, backend};
use crate::record::Ks;
use scangate_core::PassId;
use scangate_storage::retention::{Retained, RetentionStep};
use scangate_storage::{Cursor, StoreError};
use std::collections::HashMap;
use std::ops::Bound;

/// The table a retention walk is in: the first byte of its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Audit = 0,
    Conflicts = 1,
    Scans = 2,
}

impl Phase {
    fn of(byte: u8) -> Option<Phase> {
        [Phase::Audit, Phase::Conflicts, Phase::Scans]
            .into_iter()
            .find(|p| *p as u8 == byte)
    }

    fn next(self) -> Option<Phase> {
        match self {
            Phase::Audit => Some(Phase::Conflicts),
            Phase::Conflicts => Some(Phase::Scans),
            Phase::Scans => None,
        }
    }
}

/// Where one table's walk ended.
enum Walk {
    /// Every row of the table's range was examined.
    Done,
    /// The budget ran out; the last key examined (empty: none yet).
    Paused(Vec<u8>),
}

/// A cursor's table and key; a cursor this store did not make is refused.
fn parse_cursor(after: Option<&Cursor>) -> Result<(Phase, Vec<u8>), StoreError> {
    let Some(Cursor(bytes)) = after else {
        return Ok((Phase::Audit, Vec::new()));
    };
    let phase = bytes
        .first()
        .and_then(|b| Phase::of(*b))
        .ok_or(StoreError::BadCursor)?;
    Ok((phase, bytes[1..].to_vec()))
}

/// The lower bound of a walk that continues after `from` (empty: the start).
fn after_key(from: Vec<u8>) -> Bound<Vec<u8>> {
    if from.is_empty() {
        Bound::Unbounded
    } else {
        Bound::Excluded(from)
    }
}

/// The end of a walk through a table keyed by time first: the step's latest
/// cut-off, itself left out.
fn before_latest(step: &RetentionStep) -> Bound<Vec<u8>> {
    Bound::Excluded(layout::time_bytes(step.latest()).to_vec())
}

/// Walks `table` in key order after `from` up to `end`, handing each row
/// (key, value) to `visit`; examines at most `budget` rows, and says where
/// it stopped when the budget ran out first.
fn walk(
    table: &fjall::Keyspace,
    from: Vec<u8>,
    end: Bound<Vec<u8>>,
    budget: &mut usize,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<Walk, StoreError> {
    let mut last = Vec::new();
    for guard in table.range::<Vec<u8>, _>((after_key(from), end)) {
        if *budget == 0 {
            return Ok(Walk::Paused(last));
        }
        *budget -= 1;
        let (key, value) = guard.into_inner().map_err(backend)?;
        last = key.to_vec();
        visit(&key, &value)?;
    }
    Ok(Walk::Done)
}

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
        let (mut phase, mut from) = parse_cursor(step.after.as_ref())?;
        let mut budget = step.max_rows;
        loop {
            let from = std::mem::take(&mut from);
            let walk = match phase {
                Phase::Audit => self.retain_audit(step, from, &mut budget, &mut out)?,
                Phase::Conflicts => self.retain_conflicts(step, from, &mut budget, &mut out)?,
                Phase::Scans => self.retain_scans(step, from, &mut budget, &mut out)?,
            };
            if let Walk::Paused(key) = walk {
                let mut cursor = Vec::with_capacity(1 + key.len());
                cursor.push(phase as u8);
                cursor.extend_from_slice(&key);
                out.next = Some(Cursor(cursor));
                return Ok(out);
            }
            match phase.next() {
                Some(next) => phase = next,
                None => return Ok(out),
            }
        }
    }

    /// Walks `scans` in key order after `from`, examining at most `budget`
    /// rows; decodes only those made before the latest cut-off.
    fn retain_scans(
        &mut self,
        step: &RetentionStep,
        from: Vec<u8>,
        budget: &mut usize,
        out: &mut Retained,
    ) -> Result<Walk, StoreError> {
        let tables = self.w.tables.clone();
        let latest = step.latest();
        walk(
            &tables.scans,
            from,
            Bound::Unbounded,
            budget,
            |key, value| {
                let at = layout::log_key_time(key)?;
                if at >= latest {
                    return Ok(());
                }
                let record = layout::decode_scan(value)?;
                if at < step.cut_off(&record.event) {
                    self.reads += 1;
                    self.remove_scan(key, at, &record)?;
                    out.scans += 1;
                }
                Ok(())
            },
        )
    }

    /// Stages the removal of one scan record with its indexes and, when it
    /// still points here, its scan id.
    fn remove_scan(
        &mut self,
        key: &[u8],
        at: i64,
        record: &scangate_core::ScanRecord,
    ) -> Result<(), StoreError> {
        let seq = u64::from_be_bytes(
            key[24..32]
                .try_into()
                .map_err(|_| StoreError::Corrupt("a scans key shorter than 32 bytes".into()))?,
        );
        self.writes.remove(Ks::Scans, key);
        self.writes
            .remove(Ks::ScanIdTimes, layout::time_index_key(at, &record.scan_id));
        if !record.event.is_empty() {
            self.writes.remove(
                Ks::EventScans,
                layout::event_scan_key(&record.event, at, seq),
            );
        }
        let id = record.scan_id.as_str();
        if self
            .w
            .tables
            .scan_ids
            .get(id)
            .map_err(backend)?
            .is_some_and(|k| *k == *key)
        {
            self.writes.remove(Ks::ScanIds, id.as_bytes());
            self.scan_ids.insert(record.scan_id.clone(), None);
        }
        Ok(())
    }

    /// Walks audit records made before the latest cut-off, oldest first,
    /// after `from`; those before the earliest go without a look at their
    /// pass, the others by their pass's event.
    fn retain_audit(
        &mut self,
        step: &RetentionStep,
        from: Vec<u8>,
        budget: &mut usize,
        out: &mut Retained,
    ) -> Result<Walk, StoreError> {
        let earliest = step.earliest();
        let tables = self.w.tables.clone();
        let mut events: HashMap<[u8; 16], String> = HashMap::new();
        let end = before_latest(step);
        walk(&tables.audit_times, from, end, budget, |key, audit_key| {
            let at = layout::time_from_bytes(
                key.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt("a short audit time key".into()))?,
            );
            if at >= earliest {
                let pass: [u8; 16] = audit_key
                    .get(..16)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt("a short audit key".into()))?;
                let event = match events.get(&pass) {
                    Some(e) => e.clone(),
                    None => {
                        let e = self.event_of(PassId(pass))?;
                        events.insert(pass, e.clone());
                        e
                    }
                };
                if at >= step.cut_off(&event) {
                    return Ok(());
                }
            }
            self.writes.remove(Ks::AuditTimes, key);
            self.writes.remove(Ks::Audit, audit_key);
            out.audit += 1;
            Ok(())
        })
    }

    /// The event of pass `id` (empty when its record is missing: the
    /// gateway's default period then applies).
    fn event_of(&mut self, id: PassId) -> Result<String, StoreError> {
        self.reads += 1;
        let Some(record) = self.w.tables.passes.get(id.0).map_err(backend)? else {
            return Ok(String::new());
        };
        let pass: scangate_core::Pass = layout::decode(&record, "pass record")?;
        Ok(pass.event)
    }

    /// Walks conflicts recorded before the latest cut-off, oldest first,
    /// after `from`; removes those before their event's cut-off, with
    /// their tags when the tag points at them.
    fn retain_conflicts(
        &mut self,
        step: &RetentionStep,
        from: Vec<u8>,
        budget: &mut usize,
        out: &mut Retained,
    ) -> Result<Walk, StoreError> {
        let tables = self.w.tables.clone();
        let end = before_latest(step);
        walk(&tables.conflicts, from, end, budget, |key, value| {
            let conflict: scangate_core::scan::Conflict = layout::decode(value, "conflict")?;
            if conflict.at_ms >= step.cut_off(&conflict.event) {
                return Ok(());
            }
            let tag = layout::conflict_tag_key(&conflict.scan_id, conflict.kind);
            if tables
                .conflict_tags
                .get(&tag)
                .map_err(backend)?
                .is_some_and(|k| *k == *key)
            {
                self.writes.remove(Ks::ConflictTags, &tag);
            }
            self.writes.remove(Ks::Conflicts, key);
            out.conflicts += 1;
            Ok(())
        })
    }
}
