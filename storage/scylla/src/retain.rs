//! Retention on ScyllaDB ([`scangate_storage::Store::purge_records`]): one
//! bounded, resumable step of the walk that removes scan records, audit
//! records and conflicts made before their event's cut-off.
//!
//! The records live in their pass's partition (scan log: section 1, audit:
//! section 2), with a copy of each line in a bucketed index (`event_scans`
//! by event and 10 s, `audit_log` by 1 h, the same tag); conflicts live in
//! the `conflicts` index alone (an offline record's conflicts are also in
//! its body, removed with it). The walk has two phases, named by the
//! cursor's first byte:
//!
//! 1. **Passes**, in token order (`SELECT DISTINCT id, record`): a pass's
//!    event gives its cut-off; its scan-log and audit rows made before it
//!    are read (`at_ms < cut-off`) and each removed by a LWT `DELETE ... IF
//!    EXISTS` (the partition's rows are written by Paxos), with its index
//!    line (a plain delete: the key is the row's own time and tag, and for
//!    a scan its record's event). The cursor holds the last pass finished;
//!    a pass with more old rows than the step may remove is taken up again
//!    by the next step.
//! 2. **Conflicts**, bucket by bucket in time order up to the latest
//!    cut-off: each row whose event's cut-off has passed is deleted; a row
//!    an event keeps longer is stepped over (the next walk sees it again).
//!    The cursor holds the last row examined.
//!
//! Every row examined or removed, and every pass looked at, counts against
//! [`RetentionStep::max_rows`]. A removed scan's id is forgotten with it
//! (claim, scan-id row, purge entry), as the purge does. Bucket index rows of emptied buckets stay (a
//! read of the log skips an empty bucket at the cost of one query).

use super::codec::{self, AUDIT_BUCKET_MS, EVENT_BUCKET_MS, bucket, bucket_kind};
use super::read::BUCKETS_PER_QUERY;
use super::{Lwt, ScyllaStore, read_failed};
use futures_util::{StreamExt, stream};
use scangate_core::scan::Conflict;
use scangate_core::{Pass, PassId, ScanRecord};
use scangate_storage::retention::{KEEP_FOR_EVER, Retained, RetentionStep};
use scangate_storage::{Cursor, StoreError};

/// Rows removed at once (each a LWT and a plain delete).
const RETAIN_CONCURRENCY: usize = 16;
/// The scan-log section of a pass's partition.
const SCANS: i8 = 1;
/// The audit section of a pass's partition.
const AUDIT: i8 = 2;
/// The cursor's first byte: phase 1 (passes), phase 2 (conflicts).
const PHASE_PASSES: u8 = 1;
const PHASE_CONFLICTS: u8 = 2;

/// Where a step resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resume {
    /// After this pass in token order (`None`: from the first).
    Passes(Option<PassId>),
    /// After this conflict row (bucket, time, tag; `None`: from the first).
    Conflicts(Option<(i64, i64, String)>),
}

impl Resume {
    /// The cursor of this position.
    pub(crate) fn cursor(&self) -> Cursor {
        let mut out = Vec::new();
        match self {
            Resume::Passes(last) => {
                out.push(PHASE_PASSES);
                if let Some(id) = last {
                    out.extend_from_slice(&id.0);
                }
            }
            Resume::Conflicts(last) => {
                out.push(PHASE_CONFLICTS);
                if let Some((b, at, tag)) = last {
                    out.extend_from_slice(&b.to_be_bytes());
                    out.extend_from_slice(&at.to_be_bytes());
                    out.extend_from_slice(tag.as_bytes());
                }
            }
        }
        Cursor(out)
    }

    /// The position a cursor names; anything else is `BadCursor`.
    pub(crate) fn of(cursor: Option<&Cursor>) -> Result<Resume, StoreError> {
        let Some(Cursor(bytes)) = cursor else {
            return Ok(Resume::Passes(None));
        };
        match bytes.split_first() {
            Some((&PHASE_PASSES, [])) => Ok(Resume::Passes(None)),
            Some((&PHASE_PASSES, id)) => Ok(Resume::Passes(Some(
                codec::pass_id(id).map_err(|_| StoreError::BadCursor)?,
            ))),
            Some((&PHASE_CONFLICTS, [])) => Ok(Resume::Conflicts(None)),
            Some((&PHASE_CONFLICTS, rest)) if rest.len() >= 16 => {
                let (b, rest) = rest.split_at(8);
                let (at, tag) = rest.split_at(8);
                let number = |b: &[u8]| b.try_into().map(i64::from_be_bytes);
                let tag = String::from_utf8(tag.to_vec()).map_err(|_| StoreError::BadCursor)?;
                match (number(b), number(at)) {
                    (Ok(b), Ok(at)) => Ok(Resume::Conflicts(Some((b, at, tag)))),
                    _ => Err(StoreError::BadCursor),
                }
            }
            _ => Err(StoreError::BadCursor),
        }
    }
}

/// One step's budget and tally.
struct Tally {
    left: usize,
    done: Retained,
}

impl Tally {
    fn spend(&mut self) {
        self.left = self.left.saturating_sub(1);
    }
}

impl ScyllaStore {
    /// [`scangate_storage::Store::purge_records`].
    pub(super) async fn retain(&self, step: RetentionStep) -> Result<Retained, StoreError> {
        let mut tally = Tally {
            left: step.max_rows,
            done: Retained::default(),
        };
        if !step.removes_any() {
            return Ok(tally.done);
        }
        let _permit = self.permit()?;
        let mut at = Resume::of(step.after.as_ref())?;
        if let Resume::Passes(last) = at {
            at = match self.retain_passes(&step, last, &mut tally).await? {
                Some(last) => Resume::Passes(last),
                None => Resume::Conflicts(None),
            };
        }
        if let Resume::Conflicts(last) = at.clone() {
            at = match self.retain_conflicts(&step, last, &mut tally).await? {
                Some(last) => Resume::Conflicts(Some(last)),
                None => {
                    tally.done.next = None;
                    return Ok(tally.done);
                }
            };
        }
        tally.done.next = Some(at.cursor());
        Ok(tally.done)
    }

    /// Phase 1 after `last`: `Some(last pass finished)` where the next step
    /// resumes, or `None` once every pass was walked.
    async fn retain_passes(
        &self,
        step: &RetentionStep,
        mut last: Option<PassId>,
        tally: &mut Tally,
    ) -> Result<Option<Option<PassId>>, StoreError> {
        while tally.left > 0 {
            let limit = i32::try_from(tally.left).unwrap_or(i32::MAX);
            let passes: Vec<(Vec<u8>, Option<Vec<u8>>)> = match last {
                None => self.rows(&self.st.retain_passes_first, (limit,)).await?,
                Some(id) => {
                    self.rows(&self.st.retain_passes_after, (id.0.as_slice(), limit))
                        .await?
                }
            };
            if passes.is_empty() {
                return Ok(None);
            }
            for (id, record) in passes {
                tally.spend();
                let id = codec::pass_id(&id)?;
                if let Some(record) = record {
                    let event = codec::decode::<Pass>(&record, "pass record")?.event;
                    if !self.retain_pass(id, &event, step, tally).await? {
                        return Ok(Some(last));
                    }
                }
                last = Some(id);
                if tally.left == 0 {
                    break;
                }
            }
        }
        Ok(Some(last))
    }

    /// Removes pass `id`'s scan-log and audit rows made before its event's
    /// cut-off, within the budget; whether none is left.
    async fn retain_pass(
        &self,
        id: PassId,
        event: &str,
        step: &RetentionStep,
        tally: &mut Tally,
    ) -> Result<bool, StoreError> {
        let cut = step.cut_off(event);
        if cut == KEEP_FOR_EVER {
            return Ok(true);
        }
        for section in [SCANS, AUDIT] {
            let limit = i32::try_from(tally.left).unwrap_or(i32::MAX);
            if limit == 0 {
                return Ok(false);
            }
            let rows: Vec<(i64, String, Option<Vec<u8>>)> = self
                .rows(
                    &self.st.retain_old_rows,
                    (id.0.as_slice(), section, cut, limit),
                )
                .await?;
            let more = rows.len() >= tally.left;
            let removed: Vec<Result<bool, StoreError>> = stream::iter(rows)
                .map(|(at, tag, body)| self.retain_row(id, section, at, tag, body))
                .buffer_unordered(RETAIN_CONCURRENCY)
                .collect()
                .await;
            for r in removed {
                tally.spend();
                if r? {
                    match section {
                        SCANS => tally.done.scans += 1,
                        _ => tally.done.audit += 1,
                    }
                }
            }
            if more {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Removes one row of pass `id`'s log and its index line; whether the
    /// row was there.
    async fn retain_row(
        &self,
        id: PassId,
        section: i8,
        at: i64,
        tag: String,
        body: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        let values = (id.0.as_slice(), section, at, tag.as_str());
        let answer = self
            .session
            .execute_unpaged(&self.st.retain_delete_row, values)
            .await;
        let removed = match self.lwt("retention delete", answer)? {
            Lwt::Applied => true,
            Lwt::NotApplied => false,
            // Left for the next walk, which reads it again if it is there.
            Lwt::Unknown => return Err(self.still_unknown()),
        };
        let index = if section == SCANS {
            // Its scan id goes with it (claim, scan-id row, purge entry), as
            // in the embedded store, before its time-to-live would end it.
            let day = bucket(at, codec::SCAN_ID_DAY_MS);
            self.forget_scan_id(day, at, &tag, id.0.as_slice()).await?;
            let Some(body) = body else {
                return Ok(removed);
            };
            let record: ScanRecord = codec::decode(&body, "scan record")?;
            if record.event.is_empty() {
                return Ok(removed);
            }
            let b = bucket(at, EVENT_BUCKET_MS);
            let values = (record.event.as_str(), b, at, tag.as_str());
            self.session
                .execute_unpaged(&self.st.retain_event_scan_delete, values)
                .await
        } else {
            let values = (bucket(at, AUDIT_BUCKET_MS), at, tag.as_str());
            self.session
                .execute_unpaged(&self.st.retain_audit_log_delete, values)
                .await
        };
        index.map_err(|e| read_failed(&e))?;
        Ok(removed)
    }

    /// Phase 2 after `last`: `Some(last row examined)` where the next step
    /// resumes, or `None` once the walk reached the latest cut-off.
    async fn retain_conflicts(
        &self,
        step: &RetentionStep,
        last: Option<(i64, i64, String)>,
        tally: &mut Tally,
    ) -> Result<Option<(i64, i64, String)>, StoreError> {
        let latest = step.latest();
        let last_bucket = bucket(latest.saturating_sub(1), AUDIT_BUCKET_MS);
        let mut from = last;
        let first = from.as_ref().map_or(i64::MIN, |(b, _, _)| *b);
        let buckets = self
            .buckets(bucket_kind::CONFLICTS, "", first, last_bucket)
            .await?;
        let more_buckets = buckets.len() >= BUCKETS_PER_QUERY as usize;
        let last_read = buckets.last().copied();
        for b in buckets {
            let (after_at, after_tag) = match &from {
                Some((fb, at, tag)) if *fb == b => (*at, tag.clone()),
                _ => (i64::MIN, String::new()),
            };
            let limit = i32::try_from(tally.left).unwrap_or(i32::MAX);
            if limit == 0 {
                return Ok(from);
            }
            let rows: Vec<(i64, String, Vec<u8>)> = self
                .rows(
                    &self.st.retain_conflicts,
                    (b, after_at, after_tag.as_str(), latest, "", limit),
                )
                .await?;
            let full = rows.len() >= tally.left;
            for (at, tag, body) in rows {
                tally.spend();
                let conflict: Conflict = codec::decode(&body, "conflict")?;
                if at < step.cut_off(&conflict.event) {
                    self.session
                        .execute_unpaged(&self.st.retain_conflict_delete, (b, at, tag.as_str()))
                        .await
                        .map_err(|e| read_failed(&e))?;
                    tally.done.conflicts += 1;
                }
                from = Some((b, at, tag));
            }
            if full {
                return Ok(from);
            }
        }
        // As many buckets as one query returns: the next step reads on
        // after the last of them; fewer, and the walk is done.
        match last_read {
            Some(b) if more_buckets => Ok(Some((b, i64::MAX, String::new()))),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_others_are_refused() {
        for at in [
            Resume::Passes(None),
            Resume::Passes(Some(PassId([7; 16]))),
            Resume::Conflicts(None),
            Resume::Conflicts(Some((-3, 1_000, "scan-1/replayed".into()))),
        ] {
            assert_eq!(Resume::of(Some(&at.cursor())).expect("decodes"), at);
        }
        assert_eq!(Resume::of(None).expect("start"), Resume::Passes(None));
        for bad in [
            vec![],
            vec![9],
            vec![PHASE_PASSES, 1, 2],
            vec![PHASE_CONFLICTS, 0, 1],
        ] {
            assert!(
                matches!(
                    Resume::of(Some(&Cursor(bad.clone()))),
                    Err(StoreError::BadCursor)
                ),
                "{bad:?}"
            );
        }
    }
}
