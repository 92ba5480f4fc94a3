//! Retention: one bounded step of the sweep that removes scan records,
//! audit records and conflicts made before a cut-off time
//! ([`Store::purge_records`](crate::Store::purge_records)), each event's
//! own cut-off where it has one.

use crate::query::Cursor;
use std::collections::BTreeMap;

/// The cut-off of records that are kept for ever: nothing is made before it.
pub const KEEP_FOR_EVER: i64 = i64::MIN;

/// One step of a retention sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionStep {
    /// Records of events without a period of their own are removed when
    /// made before this time (Unix ms); [`KEEP_FOR_EVER`]: never.
    pub before_ms: i64,
    /// The cut-offs (Unix ms) of events with a period of their own, by
    /// event name: at most one per stored definition
    /// ([`EVENTS_MAX`](crate::EVENTS_MAX)). An audit record's event is its
    /// pass's.
    pub events: BTreeMap<String, i64>,
    /// Where the walk continues (`None`: from the start); the
    /// [`Retained::next`] of the step before. Opaque to callers: a backend
    /// may walk several tables in turn.
    pub after: Option<Cursor>,
    /// Most rows the step may examine or remove in all; the sweep's rate
    /// bound is this per tick.
    pub max_rows: usize,
}

impl RetentionStep {
    /// The cut-off of the records of `event`.
    pub fn cut_off(&self, event: &str) -> i64 {
        self.events.get(event).copied().unwrap_or(self.before_ms)
    }

    /// The latest cut-off of any event: no record made at or after it is
    /// removed, so a walk in time order stops there.
    pub fn latest(&self) -> i64 {
        self.events.values().copied().fold(self.before_ms, i64::max)
    }

    /// The earliest cut-off of any event: every record made before it is
    /// removed, whatever its event, without looking the event up.
    pub fn earliest(&self) -> i64 {
        self.events.values().copied().fold(self.before_ms, i64::min)
    }

    /// Whether the step can remove anything at all.
    pub fn removes_any(&self) -> bool {
        self.latest() > KEEP_FOR_EVER
    }
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
    /// Where the next step continues the walk; `None` when it reached the
    /// end (the next step starts over).
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_has_its_cut_off_and_the_rest_the_default() {
        let mut step = RetentionStep {
            before_ms: 1_000,
            events: BTreeMap::new(),
            after: None,
            max_rows: 10,
        };
        assert_eq!((step.earliest(), step.latest()), (1_000, 1_000));
        step.events.insert("short".into(), 5_000);
        step.events.insert("long".into(), 10);
        assert_eq!(step.cut_off("short"), 5_000);
        assert_eq!(step.cut_off("long"), 10);
        assert_eq!(step.cut_off("other"), 1_000);
        assert_eq!((step.earliest(), step.latest()), (10, 5_000));
        assert!(step.removes_any());
        step.before_ms = KEEP_FOR_EVER;
        step.events.clear();
        assert!(!step.removes_any(), "no period anywhere: nothing to do");
    }
}
