//! The run's report: one serializable value, printed for people (default)
//! or as one JSON object (`--json`).

use crate::checker::Verdict;
use crate::crash_loop::CrashFigures;
use crate::outage::OfflineFigures;
use crate::stats::{Counts, Recorder};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Most violations the human report lists (the JSON has them all).
const VIOLATIONS_SHOWN_MAX: usize = 20;

/// What a run was.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// The run's id (prefix of its scan ids).
    pub run_id: String,
    /// `spawned in-process` or the data dir of the running gateway.
    pub target: String,
    /// `constant` or `gate-opening`.
    pub profile: String,
    /// Length of the schedule, seconds.
    pub window_s: f64,
    /// Simulated scanner devices.
    pub devices: usize,
    /// Gates they stand at.
    pub gates: u32,
    /// Scans in flight per device at most.
    pub depth: usize,
    /// The mix (`first=80,...`).
    pub mix: String,
    /// Passes set up or read for the run.
    pub passes: usize,
    /// The highest offered rate of the schedule, scans/s.
    pub peak_offered_per_s: f64,
}

/// What an event floor run (`--floor`) set up; the replay's figures per
/// zone are in the verdict (`check.floor`).
#[derive(Debug, Clone, Serialize)]
pub struct FloorReport {
    /// The event whose definition the run set.
    pub event: String,
    /// What the capacity probe found (`--floor-capacity auto`): the
    /// gateway answers `zone_full`; absent when not probed.
    pub capacity_enforced: Option<bool>,
    /// Passes issued for the floor.
    pub passes: usize,
}

/// One second of the time series.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Seconds since the start.
    pub t: usize,
    /// Scans due in this second.
    pub offered: u64,
    /// Scans decided in this second.
    pub decided: u64,
    /// Of which granted.
    pub granted: u64,
    /// Scans that ended without a decision in this second.
    pub errors: u64,
    /// Median latency of this second's answers, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What ran.
    pub run: RunInfo,
    /// Scans sent (scheduled).
    pub scans: u64,
    /// Scans scheduled per second of the window.
    pub offered_per_s: f64,
    /// Scans decided per second, first due time to last answer.
    pub scans_per_s: f64,
    /// First due time to last answer, seconds.
    pub elapsed_s: f64,
    /// Latency from the due time, decided scans, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
    /// Scans that timed out.
    pub timeouts: u64,
    /// Scans without a decision (timeouts included).
    pub errors: u64,
    /// Every scan by outcome.
    pub counts: Counts,
    /// Per kind of scan.
    pub by_kind: BTreeMap<String, Counts>,
    /// Per second.
    pub series: Vec<Point>,
    /// `pass`, `fail`, `unknown` (passes not read back) or `skipped`.
    pub verdict: String,
    /// The checker's findings (absent with `--no-check`).
    pub check: Option<Verdict>,
    /// Offline decisions, uploads, conflicts and times (runs with `--outage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline: Option<OfflineFigures>,
    /// Cycles, kills and restart times (runs with `--crash-loop`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crash_loop: Option<CrashFigures>,
    /// What the fault proxy did and whether the scanners recovered (runs
    /// with `--net-fault`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_fault: Option<crate::netfault::NetFaultFigures>,
    /// The event floor (runs with `--floor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<FloorReport>,
}

impl Report {
    /// Builds the report.
    pub fn new(run: RunInfo, rec: &Recorder, verdict: Option<Verdict>) -> Self {
        let elapsed_s = rec.last_done_us as f64 / 1e6;
        let decided = rec.total.granted + rec.total.denied_total();
        let series = rec
            .seconds
            .iter()
            .enumerate()
            .map(|(t, s)| Point {
                t,
                offered: s.offered,
                decided: s.decided,
                granted: s.granted,
                errors: s.errors,
                p50_ms: s.quantile_ms(0.5),
                p99_ms: s.quantile_ms(0.99),
                max_ms: s.max_ms(),
            })
            .collect();
        let word = match &verdict {
            None => "skipped",
            Some(v) if v.valid => "pass",
            Some(v) if v.violations.is_empty() => "unknown",
            Some(_) => "fail",
        };
        Report {
            scans: rec.scans,
            offered_per_s: rec.scans as f64 / run.window_s.max(1e-9),
            scans_per_s: if elapsed_s > 0.0 {
                decided as f64 / elapsed_s
            } else {
                0.0
            },
            elapsed_s,
            p50_ms: rec.quantile_ms(0.5),
            p90_ms: rec.quantile_ms(0.9),
            p99_ms: rec.quantile_ms(0.99),
            p999_ms: rec.quantile_ms(0.999),
            max_ms: rec.latency.max() as f64 / 1_000.0,
            timeouts: rec.total.errors.get("timeout").copied().unwrap_or(0),
            errors: rec.total.errors_total(),
            counts: rec.total.clone(),
            by_kind: rec
                .by_kind
                .iter()
                .map(|(k, c)| (k.as_str().to_owned(), c.clone()))
                .collect(),
            series,
            verdict: word.to_owned(),
            check: verdict,
            offline: None,
            crash_loop: None,
            net_fault: None,
            floor: None,
            run,
        }
    }

    /// True when the checker ran and found nothing wrong.
    pub fn passed(&self) -> bool {
        self.verdict == "pass" || self.verdict == "skipped"
    }

    /// The report for people.
    pub fn human(&self) -> String {
        let r = &self.run;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "scangate-load {} · {} · {} devices at {} gates · depth {} · mix {}",
            r.run_id, r.profile, r.devices, r.gates, r.depth, r.mix
        );
        let _ = writeln!(s, "target: {} · {} passes", r.target, r.passes);
        let _ = writeln!(
            s,
            "offered  {:>9.0} scans/s ({} scans over {:.1} s, peak {:.0}/s)",
            self.offered_per_s, self.scans, r.window_s, r.peak_offered_per_s
        );
        let _ = writeln!(
            s,
            "achieved {:>9.0} scans/s ({} decided in {:.1} s)",
            self.scans_per_s,
            self.counts.granted + self.counts.denied_total(),
            self.elapsed_s
        );
        let _ = writeln!(
            s,
            "latency from due time: p50 {:.2} ms · p90 {:.2} · p99 {:.2} · p99.9 {:.2} · max {:.2}",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms
        );
        let _ = writeln!(
            s,
            "{:<9} {:>9} {:>9} {:>7}  denied by reason / errors",
            "kind", "granted", "denied", "errors"
        );
        let mut rows: Vec<(&str, &Counts)> =
            self.by_kind.iter().map(|(k, c)| (k.as_str(), c)).collect();
        rows.push(("all", &self.counts));
        for (kind, c) in rows {
            let detail: Vec<String> = c
                .denied
                .iter()
                .chain(c.errors.iter())
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "{kind:<9} {:>9} {:>9} {:>7}  {}",
                c.granted,
                c.denied_total(),
                c.errors_total(),
                detail.join(", ")
            );
        }
        if let Some(o) = &self.offline {
            s.push_str(&offline_summary(o));
        }
        if let Some(c) = &self.crash_loop {
            s.push_str(&crash_summary(c));
        }
        if let Some(n) = &self.net_fault {
            s.push_str(&crate::netfault::figures::summary(n));
        }
        if let Some(f) = self.check.as_ref().and_then(|c| c.floor.as_ref()) {
            s.push_str(&floor_summary(f));
        }
        s.push_str(&self.check_summary());
        s
    }

    /// The checker's verdict, its violations and notes, for people: the end
    /// of [`Report::human`], and what the binary prints on stderr beside
    /// `--json` when the check did not pass.
    pub fn check_summary(&self) -> String {
        let mut s = String::new();
        match &self.check {
            None => {
                let _ = writeln!(s, "check: skipped");
            }
            Some(v) => {
                let _ = writeln!(
                    s,
                    "check: {} · {} passes read back · ok {} / fail {} / info {} · {} violation(s)",
                    self.verdict.to_uppercase(),
                    v.passes_checked,
                    v.ok,
                    v.fail,
                    v.info,
                    v.violations.len()
                );
                for x in v.violations.iter().take(VIOLATIONS_SHOWN_MAX) {
                    let _ = writeln!(
                        s,
                        "  VIOLATION {:?} pass {}: {} (scans {})",
                        x.rule,
                        x.pass,
                        x.detail,
                        x.scans.join(" ")
                    );
                }
                if !v.unchecked.is_empty() {
                    let _ = writeln!(
                        s,
                        "  {} pass(es) could not be read back, e.g. {}",
                        v.unchecked.len(),
                        v.unchecked[0]
                    );
                }
                for note in v.notes.iter().take(VIOLATIONS_SHOWN_MAX) {
                    let _ = writeln!(s, "  note: {note}");
                }
            }
        }
        s
    }
}

/// The floor's figures, for people: each zone's peak and end against its
/// capacity.
fn floor_summary(f: &crate::checker::floor::FloorFigures) -> String {
    let zones: Vec<String> = f
        .zones
        .iter()
        .map(|z| {
            let capacity = z
                .capacity
                .map_or("no capacity".to_owned(), |c| format!("capacity {c}"));
            format!("{} peak {} end {} ({capacity})", z.zone, z.peak, z.end)
        })
        .collect();
    format!(
        "floor: {} entries granted ({} admissions), {} exits · {}\n",
        f.entries,
        f.admissions,
        f.exits,
        zones.join(" · ")
    )
}

/// The crash loop's figures, for people.
fn crash_summary(c: &CrashFigures) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "crash loop: {}/{} cycles · {} kills ({} in start-up, {} double) · restart to ready p50 {:.2} s · p99 {:.2} · max {:.2}{}",
        c.cycles,
        c.cycles_planned,
        c.kills,
        c.kills_in_startup,
        c.double_kills,
        c.restart_p50_s,
        c.restart_p99_s,
        c.restart_max_s,
        c.error
            .as_ref()
            .map_or(String::new(), |e| format!(" · STOPPED: {e}"))
    );
    s
}

/// The offline figures, for people.
fn offline_summary(o: &OfflineFigures) -> String {
    let secs = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2} s"));
    let mut s = String::new();
    let kind = o.outage_kind.map_or("?", |k| match k {
        crate::outage::OutageKind::Kill => "kill",
        crate::outage::OutageKind::Pause => "pause",
    });
    let _ = writeln!(
        s,
        "outage ({kind}): at {} for {} (ready {} after the restart){}",
        secs(o.outage_at_s),
        secs(o.outage_s),
        secs(o.restart_ready_s),
        o.outage_error
            .as_ref()
            .map_or(String::new(), |e| format!(" · FAILED: {e}"))
    );
    let _ = writeln!(
        s,
        "offline: {} decisions, {} grants · uploaded {} ({} duplicates), not uploaded {} · switch offline {} · queues drained {} after the gateway was back",
        o.offline_decisions,
        o.offline_grants,
        o.uploaded,
        o.duplicates,
        o.not_uploaded,
        secs(o.switch_offline_s),
        secs(o.drain_s)
    );
    let conflicts: Vec<String> = o
        .conflicts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        s,
        "conflicts flagged on upload: {}",
        if conflicts.is_empty() {
            "none".to_owned()
        } else {
            conflicts.join(", ")
        }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{Rule, Violation};

    fn report(check: Option<Verdict>) -> Report {
        let run = RunInfo {
            run_id: "Ltest".into(),
            target: "t".into(),
            profile: "constant".into(),
            window_s: 1.0,
            devices: 1,
            gates: 1,
            depth: 1,
            mix: "first=1".into(),
            passes: 1,
            peak_offered_per_s: 1.0,
        };
        Report::new(run, &Recorder::default(), check)
    }

    #[test]
    fn the_check_summary_names_each_violation_and_ends_the_human_report() {
        let verdict = Verdict {
            passes_checked: 1,
            ok: 2,
            violations: vec![Violation {
                rule: Rule::OverGrant,
                pass: "p1".into(),
                scans: vec!["Ltest-1".into(), "Ltest-2".into()],
                scans_involved: 2,
                detail: "uses = 2 is over max_uses = 1".into(),
            }],
            ..Verdict::default()
        };
        let failed = report(Some(verdict));
        assert!(!failed.passed());
        let summary = failed.check_summary();
        assert!(
            summary.starts_with("check: FAIL · 1 passes read back"),
            "{summary}"
        );
        assert!(
            summary.contains(
                "VIOLATION OverGrant pass p1: uses = 2 is over max_uses = 1 (scans Ltest-1 Ltest-2)"
            ),
            "{summary}"
        );
        assert!(failed.human().ends_with(&summary));

        let skipped = report(None);
        assert!(skipped.passed());
        assert_eq!(skipped.check_summary(), "check: skipped\n");
    }
}
