//! The retention sweep: removes scan records, audit records and offline
//! conflicts older than the configured period, a bounded number of rows at
//! a time, in the background, with metrics of what it removed.
//!
//! The period is gateway-wide ([`crate::config::ServeConfig::retention_s`],
//! 0 = keep for ever). Per-event periods plug in at [`Period::cut_off`]:
//! once events have definitions, a step would take the event's own period
//! for the records of that event (the scan walk decodes each record, which
//! names its event).

use scangate_storage::retention::{Retained, RetentionStep};
use scangate_storage::{Cursor, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
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

/// Runs the sweep until `shutdown`, one step per [`RETENTION_TICK`].
pub async fn run(store: Arc<dyn Store>, period: Period, shutdown: CancellationToken) {
    tracing::info!(
        retention_s = period.seconds,
        rows_per_tick = RETENTION_ROWS_PER_TICK,
        "retention sweep started"
    );
    let mut after: Option<Cursor> = None;
    let mut tick = tokio::time::interval(RETENTION_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let step = RetentionStep {
            before_ms: period.cut_off(crate::now_ms()),
            events: Default::default(),
            after: after.take(),
            max_rows: RETENTION_ROWS_PER_TICK,
        };
        match store.purge_records(step).await {
            Ok(retained) => after = counted(retained),
            Err(StoreError::Busy) => {}
            Err(StoreError::Closed) => return,
            Err(StoreError::Config(why)) => {
                // A store without retention: say so once, not every tick.
                tracing::error!(%why, "retention sweep stopped: records are kept");
                return;
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
