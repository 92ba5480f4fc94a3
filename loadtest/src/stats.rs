//! Counting what came back: an HDR latency histogram, counts per decision,
//! reason, kind and error, and a per-second time series.

use crate::mix::ScanKind;
use hdrhistogram::Histogram;
use scangate_core::Decision;
use serde::Serialize;
use std::collections::BTreeMap;

/// Longest latency the histograms hold, µs (larger values are clamped):
/// far above any scan deadline the tool allows.
pub const LATENCY_MAX_US: u64 = 600_000_000;
/// Precision of the whole-run histogram (3 significant digits: 0.1 %).
const SIGFIG_TOTAL: u8 = 3;
/// Precision of each second's histogram (2 digits: 1 %; small enough to keep
/// an hour of seconds in memory).
const SIGFIG_SECOND: u8 = 2;
/// Longest time series kept, seconds (matches the longest run plus drain).
pub const SERIES_MAX_S: usize = 3_700;

/// What one scan came to, for counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A decision.
    Decided(Decision),
    /// No decision; the error class (`timeout`, `connection_lost`, ...).
    Error(String),
}

/// One second of the run.
#[derive(Debug, Clone)]
pub struct Second {
    /// Scans due in this second.
    pub offered: u64,
    /// Scans answered (decided) in this second.
    pub decided: u64,
    /// Of which granted.
    pub granted: u64,
    /// Scans that ended with an error in this second.
    pub errors: u64,
    latency: Histogram<u32>,
}

/// Counts of one kind of scan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Granted.
    pub granted: u64,
    /// Denied, by reason.
    pub denied: BTreeMap<String, u64>,
    /// No decision, by error class.
    pub errors: BTreeMap<String, u64>,
}

impl Counts {
    fn add(&mut self, result: &Answer) {
        match result {
            Answer::Decided(Decision::Granted) => self.granted += 1,
            Answer::Decided(Decision::Denied(r)) => {
                *self.denied.entry(r.as_str().into()).or_default() += 1
            }
            Answer::Error(class) => *self.errors.entry(class.clone()).or_default() += 1,
        }
    }

    fn merge(&mut self, other: &Counts) {
        self.granted += other.granted;
        for (reason, n) in &other.denied {
            *self.denied.entry(reason.clone()).or_default() += n;
        }
        for (class, n) in &other.errors {
            *self.errors.entry(class.clone()).or_default() += n;
        }
    }

    /// Scans denied, all reasons.
    pub fn denied_total(&self) -> u64 {
        self.denied.values().sum()
    }

    /// Scans without a decision.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Everything counted during a run.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency from due time to answer, µs, of every decided scan.
    pub latency: Histogram<u64>,
    /// All scans.
    pub total: Counts,
    /// Per kind of scan.
    pub by_kind: BTreeMap<ScanKind, Counts>,
    /// Per second since the start.
    pub seconds: Vec<Second>,
    /// Scans counted.
    pub scans: u64,
    /// Latest answer, µs after the start.
    pub last_done_us: u64,
}

fn histogram<T: hdrhistogram::Counter>(sigfig: u8) -> Histogram<T> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, sigfig)
        .unwrap_or_else(|_| Histogram::new(sigfig).unwrap_or_else(|_| unreachable!("valid sigfig")))
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency: histogram(SIGFIG_TOTAL),
            total: Counts::default(),
            by_kind: BTreeMap::new(),
            seconds: Vec::new(),
            scans: 0,
            last_done_us: 0,
        }
    }
}

impl Recorder {
    /// Counts one scan: due and answered at these offsets from the start (µs).
    pub fn record(&mut self, kind: ScanKind, due_us: u64, done_us: u64, result: &Answer) {
        self.scans += 1;
        self.last_done_us = self.last_done_us.max(done_us);
        self.total.add(result);
        self.by_kind.entry(kind).or_default().add(result);
        if let Some(s) = self.second(due_us) {
            s.offered += 1;
        }
        let latency_us = done_us.saturating_sub(due_us).clamp(1, LATENCY_MAX_US);
        let decided = matches!(result, Answer::Decided(_));
        if decided {
            self.latency.saturating_record(latency_us);
        }
        if let Some(s) = self.second(done_us) {
            match result {
                Answer::Decided(d) => {
                    s.decided += 1;
                    s.granted += u64::from(d.is_granted());
                    s.latency.saturating_record(latency_us);
                }
                Answer::Error(_) => s.errors += 1,
            }
        }
    }

    fn second(&mut self, at_us: u64) -> Option<&mut Second> {
        let i = usize::try_from(at_us / 1_000_000).ok()?;
        if i >= SERIES_MAX_S {
            return None;
        }
        if self.seconds.len() <= i {
            self.seconds.resize_with(i + 1, Second::default);
        }
        self.seconds.get_mut(i)
    }

    /// The latency at quantile `q` (0..=1) of the whole run, ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1_000.0
    }

    /// Adds what `other` counted (another lane of the same run, on the same
    /// start) to this recorder.
    pub fn merge(&mut self, other: &Recorder) {
        add_histogram(&mut self.latency, &other.latency);
        self.total.merge(&other.total);
        for (kind, counts) in &other.by_kind {
            self.by_kind.entry(*kind).or_default().merge(counts);
        }
        if self.seconds.len() < other.seconds.len() {
            self.seconds
                .resize_with(other.seconds.len(), Second::default);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            mine.offered += theirs.offered;
            mine.decided += theirs.decided;
            mine.granted += theirs.granted;
            mine.errors += theirs.errors;
            add_histogram(&mut mine.latency, &theirs.latency);
        }
        self.scans += other.scans;
        self.last_done_us = self.last_done_us.max(other.last_done_us);
    }
}

/// Adds `from`'s counts to `to`. Every recorder's histograms come from
/// [`histogram`] with the same bounds (a value beyond them was clamped when
/// it was recorded), so the addition cannot run out of range.
fn add_histogram<T: hdrhistogram::Counter>(to: &mut Histogram<T>, from: &Histogram<T>) {
    if let Err(e) = to.add(from) {
        tracing::warn!(error = %e, "latency counts of one lane left out of the report");
    }
}

impl Default for Second {
    fn default() -> Self {
        Second {
            offered: 0,
            decided: 0,
            granted: 0,
            errors: 0,
            latency: histogram(SIGFIG_SECOND),
        }
    }
}

impl Second {
    /// The latency at quantile `q` of the scans answered in this second, ms
    /// (0 when none was).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1_000.0
    }

    /// The largest latency answered in this second, ms.
    pub fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::Reason;

    /// Three scans: a grant in second 0, a denial answered in second 1, a
    /// timeout answered in second 3.
    fn scans() -> [(ScanKind, u64, u64, Answer); 3] {
        [
            (
                ScanKind::First,
                0,
                2_000,
                Answer::Decided(Decision::Granted),
            ),
            (
                ScanKind::Rescan,
                500_000,
                1_500_000,
                Answer::Decided(Decision::Denied(Reason::UsedUp)),
            ),
            (
                ScanKind::First,
                900_000,
                3_100_000,
                Answer::Error("timeout".into()),
            ),
        ]
    }

    fn assert_counted(r: &Recorder) {
        assert_eq!(r.scans, 3);
        assert_eq!(r.last_done_us, 3_100_000);
        assert_eq!(r.total.granted, 1);
        assert_eq!(r.total.denied["used_up"], 1);
        assert_eq!(r.total.errors["timeout"], 1);
        assert_eq!(r.by_kind[&ScanKind::First].errors_total(), 1);
        assert_eq!(r.by_kind[&ScanKind::Rescan].denied_total(), 1);
        assert_eq!(r.seconds.len(), 4);
        assert_eq!(r.seconds[0].offered, 3);
        assert_eq!(r.seconds[1].decided, 1);
        assert_eq!(r.seconds[3].errors, 1);
        assert!(
            (r.quantile_ms(1.0) - 1_000.0).abs() < 1.0,
            "{}",
            r.quantile_ms(1.0)
        );
        assert!((r.seconds[0].quantile_ms(0.5) - 2.0).abs() < 0.05);
    }

    #[test]
    fn counts_latency_and_seconds() {
        let mut r = Recorder::default();
        for (kind, due, done, answer) in &scans() {
            r.record(*kind, *due, *done, answer);
        }
        assert_counted(&r);
    }

    #[test]
    fn lanes_merged_count_what_one_recorder_would() {
        let (mut a, mut b) = (Recorder::default(), Recorder::default());
        for (n, (kind, due, done, answer)) in scans().into_iter().enumerate() {
            let lane = if n == 1 { &mut b } else { &mut a };
            lane.record(kind, due, done, &answer);
        }
        // b's series is shorter than a's: both directions must line up.
        let mut merged = Recorder::default();
        merged.merge(&b);
        merged.merge(&a);
        assert_counted(&merged);
    }
}
