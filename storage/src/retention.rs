//! Retention: one bounded step of the sweep that removes scan records,
//! audit records and conflicts made before a cut-off time
//! ([`Store::purge_records`](crate::Store::purge_records)).

use crate::query::Cursor;

/// One step of a retention sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionStep {
    /// Records made before this time (Unix ms) are removed.
    pub before_ms: i64,
    /// Where the walk over scan records continues (`None`: from the start);
    /// the [`Retained::next`] of the step before.
    pub after: Option<Cursor>,
    /// Most rows the step may examine or remove in all; the sweep's rate
    /// bound is this per tick.
    pub max_rows: usize,
}

/// What one step removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retained {
    /// Scan records removed (with their indexes and scan ids).
    pub scans: u64,
    /// Audit records removed.
    pub audit: u64,
    /// Offline conflicts removed.
    pub conflicts: u64,
    /// Where the next step continues the walk over scan records; `None`
    /// when it reached the end (the next step starts over).
    pub next: Option<Cursor>,
}
