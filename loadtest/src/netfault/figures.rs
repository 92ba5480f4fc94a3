//! What a run through the fault proxy reports (the report's `net_fault`)
//! and what must hold beyond the checker's rules: after a partition heals,
//! the scanners are answered again within one attempt's deadline plus
//! [`RECOVERY_SLACK`]; a roam really moved the flows.

use super::proxy::NetStats;
use super::scenario::NetLog;
use crate::clock::Clock;
use crate::history::{Op, Outcome};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Beyond one attempt's deadline, how long the scanners may take after a
/// partition heals to be answered again: the attempt that was waiting
/// gives up on the dead link within its deadline, then a new handshake
/// (Initial, the gateway's Retry, the rest: a few round trips) and the
/// scan itself; two seconds cover them on a loaded 2-core CI machine.
pub const RECOVERY_SLACK: Duration = Duration::from_secs(2);

/// The report's `net_fault`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetFaultFigures {
    /// The SPEC.
    pub spec: String,
    /// What the proxy did to the datagrams.
    pub proxy: NetStats,
    /// Scans answered with a decision (granted or denied).
    pub answered: u64,
    /// Scans without a decision (timeout, lost connection, a transient
    /// denial after SDK retries): outcome unknown to the checker.
    pub unanswered: u64,
    /// Scans the gateway answered from the stored first decision (a retry
    /// of a scan id it had already decided).
    pub replayed: u64,
    /// Latency of the answered scans from their send, ms: p50.
    pub answered_p50_ms: f64,
    /// p99.
    pub answered_p99_ms: f64,
    /// Slowest.
    pub answered_max_ms: f64,
    /// When the path was cut, s from the start of the schedule.
    pub partition_at_s: Option<f64>,
    /// How long it was cut, s.
    pub partition_s: Option<f64>,
    /// From the heal to the first scan answered after it, s.
    pub recovery_s: Option<f64>,
    /// The most `recovery_s` may be: one attempt's deadline plus [`RECOVERY_SLACK`].
    pub recovery_bound_s: Option<f64>,
    /// Scans sent after the heal plus the bound and still unanswered.
    pub unanswered_after_recovery: u64,
    /// Roams done (each moved every scanner's flow).
    pub roams: u32,
    /// Connections the scanners began beyond one per device: those they
    /// opened again (0 when every connection carried on through the faults).
    pub reconnects: u64,
    /// True when everything above that must hold held.
    pub held: bool,
    /// Why not, when it did not.
    pub notes: Vec<String>,
}

/// What [`NetFaultFigures::new`] reads.
pub struct NetInputs<'a> {
    /// The SPEC.
    pub spec: &'a str,
    /// The proxy's counts at the end.
    pub stats: NetStats,
    /// The timed faults' log.
    pub log: &'a NetLog,
    /// Whether a partition and roams were asked for.
    pub asked: (bool, bool),
    /// Every scan.
    pub ops: &'a [Op],
    /// The start of the schedule.
    pub begin: Instant,
    /// The run's clock (the ops' times are Unix ms on it).
    pub clock: Clock,
    /// One attempt's deadline.
    pub attempt: Duration,
    /// Devices (one connection each to begin with).
    pub devices: usize,
}

fn quantile(sorted: &[i64], q: f64) -> f64 {
    let last = sorted.len().saturating_sub(1);
    sorted
        .get(((last as f64) * q).round() as usize)
        .map_or(0.0, |v| *v as f64)
}

impl NetFaultFigures {
    /// The figures of one run, and whether what must hold held.
    pub fn new(i: &NetInputs<'_>) -> NetFaultFigures {
        let answered = |o: &&Op| matches!(o.outcome, Outcome::Ok | Outcome::Fail(_));
        let mut latencies: Vec<i64> = i
            .ops
            .iter()
            .filter(answered)
            .map(|o| o.done_ms - o.sent_ms)
            .collect();
        latencies.sort_unstable();
        let secs = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64();
        let bound = i.attempt + RECOVERY_SLACK;
        let mut f = NetFaultFigures {
            spec: i.spec.to_owned(),
            answered: latencies.len() as u64,
            unanswered: (i.ops.len() - latencies.len()) as u64,
            replayed: i.ops.iter().filter(|o| o.replayed).count() as u64,
            answered_p50_ms: quantile(&latencies, 0.5),
            answered_p99_ms: quantile(&latencies, 0.99),
            answered_max_ms: latencies.last().map_or(0.0, |v| *v as f64),
            partition_at_s: i.log.cut.map(|t| secs(i.begin, t)),
            partition_s: i.log.cut.zip(i.log.healed).map(|(a, b)| secs(a, b)),
            roams: i.log.roams,
            reconnects: i.stats.connections.saturating_sub(i.devices as u64),
            proxy: i.stats.clone(),
            ..NetFaultFigures::default()
        };
        if let Some(healed) = i.log.healed {
            let healed_ms = i.clock.unix_ms(healed);
            let first = i.ops.iter().filter(answered).map(|o| o.done_ms);
            f.recovery_s = first
                .filter(|d| *d >= healed_ms)
                .min()
                .map(|d| (d - healed_ms) as f64 / 1_000.0);
            f.recovery_bound_s = Some(bound.as_secs_f64());
            let after = healed_ms + i64::try_from(bound.as_millis()).unwrap_or(i64::MAX);
            f.unanswered_after_recovery = i
                .ops
                .iter()
                .filter(|o| o.sent_ms >= after && !answered(o))
                .count() as u64;
        }
        f.judge(i.asked, bound);
        f
    }

    /// Sets `held` and `notes`.
    fn judge(&mut self, (partition, roam): (bool, bool), bound: Duration) {
        if partition {
            match self.recovery_s {
                None => self
                    .notes
                    .push("no scan was answered after the partition healed".into()),
                Some(r) if r > bound.as_secs_f64() => self.notes.push(format!(
                    "the scanners were answered again {r:.2} s after the partition healed, over the bound of {:.2} s",
                    bound.as_secs_f64()
                )),
                Some(_) => {}
            }
        }
        if roam && self.proxy.roamed == 0 {
            self.notes
                .push("no flow was moved: the run ended before the first roam".into());
        }
        self.held = self.notes.is_empty();
    }
}

/// The figures, for people (a few lines of the human report).
pub fn summary(f: &NetFaultFigures) -> String {
    let p = &f.proxy;
    let mut s = format!(
        "net faults {}: datagrams up {} down {} · lost {} · duplicated {} · reordered {} · cut {} · overflow {} · roamed {}\n",
        f.spec,
        p.up,
        p.down,
        p.lost,
        p.duplicated,
        p.reordered,
        p.partitioned,
        p.overflow,
        p.roamed
    );
    s.push_str(&format!(
        "  answered {} · unanswered {} · replayed {} · answered p50 {:.0} ms, p99 {:.0}, max {:.0} · reconnects {}\n",
        f.answered,
        f.unanswered,
        f.replayed,
        f.answered_p50_ms,
        f.answered_p99_ms,
        f.answered_max_ms,
        f.reconnects
    ));
    if let (Some(r), Some(b)) = (f.recovery_s, f.recovery_bound_s) {
        s.push_str(&format!(
            "  answered again {r:.2} s after the partition healed (bound {b:.2} s)\n"
        ));
    }
    for note in &f.notes {
        s.push_str(&format!("  did not hold: {note}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mix::ScanKind;

    fn op(sent_ms: i64, done_ms: i64, outcome: Outcome) -> Op {
        Op {
            kind: ScanKind::First,
            pass: Some(0),
            scan: 0,
            sent_ms,
            done_ms,
            outcome,
            replayed: false,
            offline: false,
            floor: None,
        }
    }

    fn figures(ops: &[Op], log: &NetLog, roamed: u64, clock: Clock) -> NetFaultFigures {
        NetFaultFigures::new(&NetInputs {
            spec: "partition=1:1",
            stats: NetStats {
                roamed,
                connections: 5,
                ..NetStats::default()
            },
            log,
            asked: (log.cut.is_some(), true),
            ops,
            begin: clock.start,
            clock,
            attempt: Duration::from_millis(500),
            devices: 4,
        })
    }

    #[test]
    fn recovery_is_the_first_answer_after_the_heal_within_its_bound() {
        let clock_ms = |c: &Clock, ms: u64| c.unix_ms(c.start + Duration::from_millis(ms));
        let c = Clock::start();
        let log = NetLog {
            cut: Some(c.start + Duration::from_secs(1)),
            healed: Some(c.start + Duration::from_secs(2)),
            roams: 1,
        };
        let at = |ms| clock_ms(&c, ms);
        let timeout = || Outcome::Info("timeout".into());
        let ops = [
            op(at(500), at(510), Outcome::Ok),
            op(at(1_500), at(2_000), timeout()),
            op(at(2_100), at(2_900), Outcome::Ok),
            op(at(5_000), at(5_600), timeout()),
        ];
        let f = figures(&ops, &log, 4, c);
        assert!(f.held, "{f:?}");
        assert_eq!((f.answered, f.unanswered, f.reconnects), (2, 2, 1));
        let r = f.recovery_s.expect("recovered");
        assert!((0.85..=0.95).contains(&r), "{r}");
        assert_eq!(f.recovery_bound_s, Some(2.5));
        assert_eq!(f.unanswered_after_recovery, 1);
        assert_eq!(f.answered_max_ms, 800.0);
        // Answered only long after the heal: over the bound.
        let late = [op(at(2_100), at(5_000), Outcome::Ok)];
        let f = figures(&late, &log, 4, c);
        assert!(!f.held && f.notes[0].contains("over the bound"), "{f:?}");
        // Never answered again; and no flow moved.
        let f = figures(&ops[..2], &log, 0, c);
        assert!(!f.held && f.notes.len() == 2, "{f:?}");
    }
}
