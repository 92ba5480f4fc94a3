//! Queries for the operator plane: filtered, cursor-paginated lists of
//! passes, scans and audit records, and the request to annul a grant.
//!
//! Every page is bounded twice: by its `limit` (at most [`PAGE_MAX`] items)
//! and by [`EXAMINE_MAX`], the most stored entries one call may look at. A
//! filter that matches little therefore returns a short (even empty) page
//! with a `next` cursor instead of reading the whole store in one request;
//! the caller follows `next` until it is `None`.

use crate::error::{AnnulConflict, StoreError};
use scangate_core::flags::Flag;
use scangate_core::offline::messages::ConflictKind;
use scangate_core::scan::Conflict;
use scangate_core::{AuditRecord, Kind, Pass, PassId, Reason, ScanId, ScanRecord, Status};

/// Most items one page may hold: a page is one HTTP response, and 1 000
/// records (~300 KB of JSON) is as much as a person or a script wants at once.
pub const PAGE_MAX: usize = 1_000;

/// Most records one [`Store::list_scans`](crate::Store::list_scans) or
/// [`Store::list_audit`](crate::Store::list_audit) returns, whatever `limit`
/// asks, in every backend: one call never reads a pass's whole history
/// (a pass scanned all day), and the answer stays one bounded allocation.
pub const LIST_MAX: usize = 10_000;

/// Most stored entries one page may examine, matching or not: bounds the
/// work (and the time a read holds a blocking thread) of one request to a
/// few milliseconds, whatever the filter.
pub const EXAMINE_MAX: usize = 20_000;

/// Where a page ends: opaque bytes (a backend's key), given back to get the
/// next page. The admin API shows it as hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(pub Vec<u8>);

/// Longest cursor accepted, bytes: a backend key is at most a 1-byte length,
/// an event name and 16 bytes of time and sequence, or a 32-byte log key.
pub const CURSOR_MAX_BYTES: usize = 96;

/// One page of results, oldest (or lowest id) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The matching items, at most the query's limit.
    pub items: Vec<T>,
    /// Where to continue; `None` when nothing is left.
    pub next: Option<Cursor>,
}

/// Which passes to list, in id order (within the event when one is named).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassQuery {
    /// Only this event's passes.
    pub event: Option<String>,
    /// Only passes of this kind.
    pub kind: Option<Kind>,
    /// Only passes with this status.
    pub status: Option<Status>,
    /// Only passes in this condition (used up, expired), whatever their
    /// status. Checked on each examined pass, so the page stays bounded
    /// by [`EXAMINE_MAX`] as every other filter.
    pub condition: Option<PassCondition>,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
    /// Most items, 1 to [`PAGE_MAX`] (larger is clamped).
    pub limit: usize,
}

impl PassQuery {
    /// Whether a pass passes the non-key filters (kind, status, condition).
    /// Every backend lists with this one test.
    pub fn matches(&self, p: &Pass) -> bool {
        self.kind.is_none_or(|k| p.kind == k)
            && self.status.is_none_or(|s| p.status == s)
            && self.condition.is_none_or(|c| c.holds(p))
    }
}

/// A state of a pass that follows from its count or its window rather than
/// its stored status: what `pass list --status used_up|expired` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassCondition {
    /// Its use count has reached `max_uses` (a scan would be `used_up`).
    UsedUp,
    /// Its window ended at or before `now_ms` (a scan would be `expired`).
    Expired {
        /// The caller's clock (Unix ms): stores read no clock for a query.
        now_ms: i64,
    },
}

impl PassCondition {
    /// Whether `p` is in this condition.
    pub fn holds(self, p: &Pass) -> bool {
        match self {
            PassCondition::UsedUp => p.remaining() == Some(0),
            PassCondition::Expired { now_ms } => p.valid_until_ms.is_some_and(|u| now_ms >= u),
        }
    }
}

/// Whose scans to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanScope {
    /// One pass's scans.
    Pass(PassId),
    /// Every scan of an event's passes.
    Event(String),
}

/// Which scans to list, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanQuery {
    /// A pass or an event.
    pub scope: ScanScope,
    /// Only scans at this gate.
    pub gate: Option<String>,
    /// Only grants (`true`) or only denials (`false`).
    pub granted: Option<bool>,
    /// Only denials for this reason.
    pub reason: Option<Reason>,
    /// Only scans decided at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only scans decided before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// Only scans that raised a fraud flag (any, or this one): how the
    /// flags are listed, through the same bounded walk as every scan query.
    pub flagged: Option<FlagFilter>,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
    /// Most items, 1 to [`PAGE_MAX`] (larger is clamped).
    pub limit: usize,
}

/// Which flagged scans a [`ScanQuery`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagFilter {
    /// Scans that raised any flag.
    Any,
    /// Scans that raised this flag.
    Only(Flag),
}

impl FlagFilter {
    /// Whether a record's flags pass.
    pub fn matches(self, flags: &[Flag]) -> bool {
        match self {
            FlagFilter::Any => !flags.is_empty(),
            FlagFilter::Only(flag) => flags.contains(&flag),
        }
    }
}

impl ScanQuery {
    /// All scans of `scope`, first page of `limit`.
    pub fn all(scope: ScanScope, limit: usize) -> Self {
        ScanQuery {
            scope,
            gate: None,
            granted: None,
            reason: None,
            from_ms: None,
            until_ms: None,
            flagged: None,
            after: None,
            limit,
        }
    }

    /// Whether a record passes the non-key filters (gate, decision, reason, flags).
    pub fn matches(&self, r: &ScanRecord) -> bool {
        self.gate.as_ref().is_none_or(|g| *g == r.gate)
            && self.granted.is_none_or(|g| g == r.decision.is_granted())
            && self.reason.is_none_or(|x| r.decision.reason() == Some(x))
            && self.flagged.is_none_or(|f| f.matches(&r.flags))
    }
}

/// Which audit records to list, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this pass's records; `None`: every pass.
    pub pass: Option<PassId>,
    /// Only records at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only records before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
    /// Most items, 1 to [`PAGE_MAX`] (larger is clamped).
    pub limit: usize,
}

/// Most conflicts one [`Store::record_conflicts`](crate::Store::record_conflicts)
/// call takes (64): the pass-less conflicts of one upload batch (8 scans,
/// at most a few rules each) with room to spare; a caller with more splits.
pub const RECORD_CONFLICTS_MAX: usize = 64;

/// Which conflicts (flagged offline scans) to list, oldest recorded first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConflictQuery {
    /// Only this event's conflicts.
    pub event: Option<String>,
    /// Only conflicts of this kind.
    pub kind: Option<ConflictKind>,
    /// Only this pass's conflicts.
    pub pass: Option<PassId>,
    /// Only conflicts recorded at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only conflicts recorded before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
    /// Most items, 1 to [`PAGE_MAX`] (larger is clamped).
    pub limit: usize,
}

impl ConflictQuery {
    /// Whether a conflict passes every filter (the time range included).
    pub fn matches(&self, c: &Conflict) -> bool {
        self.event.as_ref().is_none_or(|e| *e == c.event)
            && self.kind.is_none_or(|k| k == c.kind)
            && self.pass.is_none_or(|p| Some(p) == c.pass_id)
            && self.from_ms.is_none_or(|from| c.at_ms >= from)
            && self.until_ms.is_none_or(|until| c.at_ms < until)
    }
}

/// Take one grant back: see [`crate::Store::commit_annul`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annul {
    /// The granted scan.
    pub scan_id: ScanId,
    /// The pass's use count the caller saw; the annul applies only if the
    /// store holds the same (like a conditional grant), and it becomes one less.
    pub expected_uses: u32,
    /// The audit record to keep; its `pass_id` must be the scan's pass, its
    /// `who` and `at_ms` mark the scan record as annulled.
    pub audit: AuditRecord,
}

impl Annul {
    /// Checks this annul against what the store holds, in the order every
    /// store checks it: the scan (`None`: not kept) exists, is of the audit
    /// record's pass, is a grant and is not annulled yet; then that pass's
    /// stored use count (`None`: the pass has no state) is the one the
    /// caller saw and above 0. Returns the scan to annul. Reads nothing.
    pub fn check(
        &self,
        scan: Option<ScanRecord>,
        uses: Option<u32>,
    ) -> Result<ScanRecord, StoreError> {
        let refuse = |why| StoreError::NotAnnullable {
            scan_id: self.scan_id.clone(),
            why,
        };
        let Some(record) = scan else {
            return Err(refuse(AnnulConflict::NoSuchScan));
        };
        if record.pass_id != self.audit.pass_id {
            return Err(refuse(AnnulConflict::OtherPass));
        }
        if !record.decision.is_granted() {
            return Err(refuse(AnnulConflict::NotGranted));
        }
        if record.annulled.is_some() {
            return Err(refuse(AnnulConflict::AlreadyAnnulled));
        }
        let Some(uses) = uses else {
            return Err(StoreError::NotFound(record.pass_id));
        };
        if uses != self.expected_uses || uses == 0 {
            return Err(StoreError::Conflict {
                pass: record.pass_id,
                stored_uses: uses,
            });
        }
        Ok(record)
    }
}
