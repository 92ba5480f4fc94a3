//! Each gate's p99 for the dashboard, in bounded memory: two latency
//! histograms per gate that scanned, one per [`GATE_EPOCH_SECS`] epoch, the
//! current and the one before, so a gate's p99 covers its scans of the last
//! 30 to 60 seconds (the dashboard's window).

use super::{LATENCY_MAX_US, WINDOW_SECS, quantile_ms};
use hdrhistogram::Histogram;

/// Seconds one epoch spans: half the window, so the current and the last
/// epoch together hold between half and all of it.
pub const GATE_EPOCH_SECS: i64 = (WINDOW_SECS / 2) as i64;

/// Significant decimal digits of a gate's histograms: 1, so a gate's p99 is
/// within 10 % (enough to tell a slow lane from a fast one) and one gate's
/// two histograms take about 6 KiB; with every one of the 257 gate slots
/// scanned that is about 1.5 MiB, and nothing for a gate that never scanned.
const GATE_SIGFIG: u8 = 1;

/// One gate's latencies, microseconds, by epoch.
pub(super) struct GateLatency {
    /// `(epoch number, histogram)`; the slot is `epoch % 2`.
    epochs: [(i64, Histogram<u64>); 2],
}

impl GateLatency {
    #[allow(
        clippy::expect_used,
        reason = "constant bounds that hdrhistogram accepts (1 us to 60 s, 1 digit)"
    )]
    pub(super) fn new() -> Box<GateLatency> {
        let empty = || {
            Histogram::new_with_bounds(1, LATENCY_MAX_US, GATE_SIGFIG)
                .expect("constant bounds that hdrhistogram accepts")
        };
        Box::new(GateLatency {
            epochs: [(i64::MIN, empty()), (i64::MIN, empty())],
        })
    }

    /// Records one scan's time to decide, `us`, at `now_s`.
    pub(super) fn record(&mut self, now_s: i64, us: u64) {
        let epoch = now_s.div_euclid(GATE_EPOCH_SECS);
        let (at, histogram) = &mut self.epochs[epoch.rem_euclid(2) as usize];
        if *at != epoch {
            histogram.reset();
            *at = epoch;
        }
        histogram.saturating_record(us);
    }

    /// The p99 of the current and the last epoch at `now_s`, milliseconds;
    /// `None` when the gate decided nothing through an actor in them.
    pub(super) fn p99_ms(&self, now_s: i64) -> Option<f64> {
        let epoch = now_s.div_euclid(GATE_EPOCH_SECS);
        let mut merged: Option<Histogram<u64>> = None;
        for (at, histogram) in &self.epochs {
            if *at != epoch && *at != epoch - 1 {
                continue;
            }
            match merged.as_mut() {
                None => merged = Some(histogram.clone()),
                Some(m) => {
                    // Same bounds on both: adding cannot fail.
                    let _ = m.add(histogram);
                }
            }
        }
        merged.and_then(|m| quantile_ms(&m, 0.99))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gates_p99_covers_this_epoch_and_the_last_only() {
        let mut g = GateLatency::new();
        let t0 = 10 * GATE_EPOCH_SECS;
        assert_eq!(g.p99_ms(t0), None, "no scans yet");
        for _ in 0..99 {
            g.record(t0, 1_000); // 1 ms
        }
        g.record(t0, 200_000); // one slow scan: 200 ms
        let p99 = g.p99_ms(t0).expect("samples");
        assert!((0.9..1.1).contains(&p99), "99 of 100 at 1 ms: {p99}");
        for _ in 0..10 {
            g.record(t0 + GATE_EPOCH_SECS, 200_000);
        }
        let p99 = g.p99_ms(t0 + GATE_EPOCH_SECS).expect("both epochs");
        assert!(p99 >= 180.0, "the slow epoch shows: {p99}");
        // Two epochs on, the first is gone; three on, both are.
        let p99 = g.p99_ms(t0 + 2 * GATE_EPOCH_SECS).expect("the last epoch");
        assert!(p99 >= 180.0, "{p99}");
        assert_eq!(g.p99_ms(t0 + 3 * GATE_EPOCH_SECS), None);
        // A slot reused by a later epoch starts empty.
        g.record(t0 + 2 * GATE_EPOCH_SECS, 2_000);
        let p99 = g.p99_ms(t0 + 2 * GATE_EPOCH_SECS).expect("samples");
        assert!(p99 >= 180.0, "the last epoch still counts: {p99}");
        let p99 = g.p99_ms(t0 + 3 * GATE_EPOCH_SECS).expect("samples");
        assert!((1.8..2.2).contains(&p99), "only the new epoch: {p99}");
    }
}
