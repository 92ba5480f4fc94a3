//! The retention sweep: removes scan records, audit records and offline
//! conflicts older than their event's period, and security incidents older
//! than the gateway's, a bounded number of rows at a time, in the
//! background, with metrics of what it removed.
//!
//! Periods: an event's definition may set its own (`policy.retention_s`);
//! every other event, and the incident log (a forged token names no event
//! that can be trusted), takes the gateway-wide
//! [`crate::config::ServeConfig::retention_s`] (0 = keep for ever). The
//! periods are read again at every step, so a changed definition counts
//! from the next second.

use crate::definitions::DefinitionCache;
use crate::edge::incidents::Incidents;
use scangate_storage::retention::{KEEP_FOR_EVER, Retained, RetentionStep};
use scangate_storage::{Cursor, Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Most rows one tick examines or removes, over every table: at one tick a
/// second, 2 000 rows/s is a small share of what the store's writer commits
/// (tens of thousands of scans a second on two cores), so a sweep over a
/// large backlog never crowds out the gates; a year of a busy venue (a few
/// million scans) is swept in under an hour.
pub const RETENTION_ROWS_PER_TICK: usize = 2_000;
/// How often the sweep takes a step: with [`RETENTION_ROWS_PER_TICK`], the
/// rate bound (rows per second).
pub const RETENTION_TICK: Duration = Duration::from_secs(1);

/// How long records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Seconds; never 0 (0 means no sweep at all).
    pub seconds: u64,
}

impl Period {
    /// `None` for 0: records are kept for ever.
    pub fn of_seconds(seconds: u64) -> Option<Period> {
        (seconds > 0).then_some(Period { seconds })
    }

    /// Records made before this time (Unix ms) are removed.
    pub fn cut_off(&self, now_ms: i64) -> i64 {
        let ms = i64::try_from(self.seconds.saturating_mul(1_000)).unwrap_or(i64::MAX);
        now_ms.saturating_sub(ms)
    }
}

/// What the sweep removes from.
pub struct Sweep {
    /// The store's scan records, audit records and conflicts.
    pub store: Arc<dyn Store>,
    /// The gateway-wide period; `None`: kept for ever.
    pub default: Option<Period>,
    /// Where each event's own period is read.
    pub definitions: Arc<DefinitionCache>,
    /// The security-incident log.
    pub incidents: Arc<Incidents>,
}

impl Sweep {
    /// The store step at `now_ms`: the default cut-off and each event's.
    fn step(&self, now_ms: i64, after: Option<Cursor>) -> RetentionStep {
        RetentionStep {
            before_ms: self.default.map_or(KEEP_FOR_EVER, |p| p.cut_off(now_ms)),
            events: self
                .definitions
                .retention_periods()
                .into_iter()
                .filter_map(|(event, s)| Some((event, Period::of_seconds(s)?.cut_off(now_ms))))
                .collect(),
            after,
            max_rows: RETENTION_ROWS_PER_TICK,
        }
    }
}

/// Runs the sweep until `shutdown`, one step per [`RETENTION_TICK`]; a
/// step with no period anywhere does nothing.
pub async fn run(sweep: Sweep, shutdown: CancellationToken) {
    tracing::info!(
        retention_s = sweep.default.map_or(0, |p| p.seconds),
        rows_per_tick = RETENTION_ROWS_PER_TICK,
        "retention sweep started (events may set their own period)"
    );
    let mut after: Option<Cursor> = None;
    let mut store_sweeps = true;
    let mut tick = tokio::time::interval(RETENTION_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now_ms = crate::now_ms();
        if let Some(p) = sweep.default {
            let removed = sweep.incidents.retain(p.cut_off(now_ms), Instant::now());
            if removed > 0 {
                metrics::counter!("scangate_retention_removed_total", "table" => "incidents")
                    .increment(removed);
            }
        }
        let step = sweep.step(now_ms, after.take());
        if !store_sweeps || !step.removes_any() {
            continue;
        }
        match sweep.store.purge_records(step).await {
            Ok(retained) => after = counted(retained),
            Err(StoreError::Busy) => {}
            Err(StoreError::Closed) => return,
            Err(StoreError::Config(why)) => {
                // A store without retention: say so once, not every tick.
                tracing::error!(%why, "retention sweep of the store stopped: records are kept");
                store_sweeps = false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention sweep step failed; retrying next tick");
            }
        }
    }
}

/// Counts what a step removed (`scangate_retention_removed_total{table}`);
/// the cursor for the next step.
fn counted(r: Retained) -> Option<Cursor> {
    for (table, n) in [
        ("scans", r.scans),
        ("audit", r.audit),
        ("conflicts", r.conflicts),
    ] {
        if n > 0 {
            metrics::counter!("scangate_retention_removed_total", "table" => table).increment(n);
        }
    }
    r.next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_of_zero_keeps_everything_and_others_cut_off_in_the_past() {
        assert_eq!(Period::of_seconds(0), None);
        let p = Period::of_seconds(60).expect("period");
        assert_eq!(p.cut_off(100_000), 40_000);
        let huge = Period::of_seconds(u64::MAX).expect("period");
        assert_eq!(huge.cut_off(0), -i64::MAX, "saturates, never wraps");
    }
}
