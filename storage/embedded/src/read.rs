//! The operator plane's queries over the embedded layout: each walks one
//! keyspace range in key order, from just after the cursor, examining at most
//! [`EXAMINE_MAX`] entries, and returns the last key examined as the next
//! cursor when it stopped early.

use super::layout::{self, StateBytes, Tables, backend, time_bytes};
use fjall::Keyspace;
use scangate_core::scan::Conflict;
use scangate_core::{AuditRecord, Pass, PassId, ScanRecord};
use scangate_storage::PassState;
use scangate_storage::StoreError;
use scangate_storage::query::{
    AuditQuery, ConflictQuery, Cursor, EXAMINE_MAX, PAGE_MAX, Page, PassQuery, ScanQuery, ScanScope,
};
use std::ops::Bound;

/// Walks `ks` over `[lower, upper)`, starting after `after` when given (which
/// must lie in the range's prefix `scope`), keeping what `keep` maps to
/// `Some`, until `limit` items or [`EXAMINE_MAX`] entries.
fn walk<T>(
    ks: &Keyspace,
    scope: &[u8],
    lower: Vec<u8>,
    upper: Vec<u8>,
    after: Option<&Cursor>,
    limit: usize,
    mut keep: impl FnMut(&[u8], &[u8]) -> Result<Option<T>, StoreError>,
) -> Result<Page<T>, StoreError> {
    let limit = limit.clamp(1, PAGE_MAX);
    let start = match after {
        Some(c) if !c.0.starts_with(scope) => return Err(StoreError::BadCursor),
        Some(c) if c.0 >= lower => Bound::Excluded(c.0.clone()),
        _ => Bound::Included(lower),
    };
    let mut items = Vec::with_capacity(limit.min(64));
    let mut last: Option<Vec<u8>> = None;
    for (examined, guard) in ks.range((start, Bound::Excluded(upper))).enumerate() {
        if items.len() >= limit || examined >= EXAMINE_MAX {
            // Something is left: continue after the last key examined.
            return Ok(Page {
                items,
                next: last.map(Cursor),
            });
        }
        let (key, value) = guard.into_inner().map_err(backend)?;
        if let Some(item) = keep(&key, &value)? {
            items.push(item);
        }
        last = Some(key.to_vec());
    }
    Ok(Page { items, next: None })
}

/// `prefix` followed by `tail`.
fn join(prefix: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + tail.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(tail);
    k
}

/// The pass with this id, or corruption if its index entry has no pass.
fn load(t: &Tables, id: PassId) -> Result<Pass, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("pass {id} is indexed but missing"));
    let state = t
        .pass_state
        .get(id.0)
        .map_err(backend)?
        .ok_or_else(corrupt)?;
    let record = t.passes.get(id.0).map_err(backend)?.ok_or_else(corrupt)?;
    let mut pass = layout::merge_pass(id, &record, PassState::decode(id, &state)?)?;
    let key = t.pass_keys.get(id.0).map_err(backend)?;
    let sealed = t.personal.get(id.0).map_err(backend)?;
    scangate_storage::personal::reunite(&mut pass, key.as_deref(), sealed.as_deref())?;
    Ok(pass)
}

/// [`scangate_storage::Store::query_passes`].
pub fn passes(t: &Tables, q: &PassQuery) -> Result<Page<Pass>, StoreError> {
    let matches = |p: &Pass| q.matches(p);
    match &q.event {
        Some(event) => {
            let prefix = layout::event_prefix(event);
            let (lower, upper) = (join(&prefix, &[0; 16]), join(&prefix, &[0xff; 17]));
            walk(
                &t.passes_by_event,
                &prefix,
                lower,
                upper,
                q.after.as_ref(),
                q.limit,
                |key, _| {
                    let id: [u8; 16] = key[prefix.len()..]
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("pass index key".into()))?;
                    let pass = load(t, PassId(id))?;
                    Ok(matches(&pass).then_some(pass))
                },
            )
        }
        None => {
            if q.after.as_ref().is_some_and(|c| c.0.len() != 16) {
                return Err(StoreError::BadCursor);
            }
            walk(
                &t.pass_state,
                &[],
                vec![0; 16],
                vec![0xff; 17],
                q.after.as_ref(),
                q.limit,
                |key, value| {
                    let id: [u8; 16] = key
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("pass state key".into()))?;
                    let id = PassId(id);
                    let state = PassState::decode(id, value)?;
                    if q.status.is_some_and(|s| s != state.status) {
                        return Ok(None); // skip the record read
                    }
                    let pass = load(t, id)?;
                    Ok(matches(&pass).then_some(pass))
                },
            )
        }
    }
}

/// The `[from, until)` time bounds of a query under `prefix`.
fn time_range(prefix: &[u8], from_ms: Option<i64>, until_ms: Option<i64>) -> (Vec<u8>, Vec<u8>) {
    let lower = join(prefix, &time_bytes(from_ms.unwrap_or(i64::MIN)));
    let upper = match until_ms {
        Some(until) => join(prefix, &time_bytes(until)),
        None => join(prefix, &[0xff; 17]),
    };
    (lower, upper)
}

/// [`scangate_storage::Store::query_scans`].
pub fn scans(t: &Tables, q: &ScanQuery) -> Result<Page<ScanRecord>, StoreError> {
    match &q.scope {
        ScanScope::Pass(id) => {
            let (lower, upper) = time_range(&id.0, q.from_ms, q.until_ms);
            walk(
                &t.scans,
                &id.0,
                lower,
                upper,
                q.after.as_ref(),
                q.limit,
                |_, value| {
                    let r = layout::decode_scan(value)?;
                    Ok(q.matches(&r).then_some(r))
                },
            )
        }
        ScanScope::Event(event) => {
            let prefix = layout::event_prefix(event);
            let (lower, upper) = time_range(&prefix, q.from_ms, q.until_ms);
            walk(
                &t.event_scans,
                &prefix,
                lower,
                upper,
                q.after.as_ref(),
                q.limit,
                |_, scan_key| {
                    let bytes = t.scans.get(scan_key).map_err(backend)?.ok_or_else(|| {
                        StoreError::Corrupt("an event scan entry points at nothing".into())
                    })?;
                    let r = layout::decode_scan(&bytes)?;
                    Ok(q.matches(&r).then_some(r))
                },
            )
        }
    }
}

/// [`scangate_storage::Store::query_conflicts`]: the `conflicts` keyspace
/// in time order, filtered.
pub fn conflicts(t: &Tables, q: &ConflictQuery) -> Result<Page<Conflict>, StoreError> {
    if q.after.as_ref().is_some_and(|c| c.0.len() != 16) {
        return Err(StoreError::BadCursor);
    }
    let (lower, upper) = time_range(&[], q.from_ms, q.until_ms);
    walk(
        &t.conflicts,
        &[],
        lower,
        upper,
        q.after.as_ref(),
        q.limit,
        |_, value| {
            let c: Conflict = layout::decode(value, "conflict record")?;
            Ok(q.matches(&c).then_some(c))
        },
    )
}

/// [`scangate_storage::Store::query_audit`].
pub fn audit(t: &Tables, q: &AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
    match q.pass {
        Some(id) => {
            let (lower, upper) = time_range(&id.0, q.from_ms, q.until_ms);
            walk(
                &t.audit,
                &id.0,
                lower,
                upper,
                q.after.as_ref(),
                q.limit,
                |_, value| layout::decode_audit(value).map(Some),
            )
        }
        None => {
            let (lower, upper) = time_range(&[], q.from_ms, q.until_ms);
            walk(
                &t.audit_times,
                &[],
                lower,
                upper,
                q.after.as_ref(),
                q.limit,
                |_, audit_key| {
                    let bytes = t.audit.get(audit_key).map_err(backend)?.ok_or_else(|| {
                        StoreError::Corrupt("an audit time entry points at nothing".into())
                    })?;
                    layout::decode_audit(&bytes).map(Some)
                },
            )
        }
    }
}
