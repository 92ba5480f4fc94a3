//! `--net-fault SPEC`: what the proxy does to each datagram ([`Faults`]),
//! and when the path is cut or the scanners' address moves ([`NetFault`]).
//!
//! A SPEC is comma-separated `key=value` items, each key at most once:
//! `loss=10%`, `delay=20ms`, `jitter=10ms`, `dup=1%`, `reorder=2%`,
//! `partition=AT:FOR` (seconds from the start of the schedule, or with a
//! unit: `3:2`, `1500ms:2s`) and `roam=EVERY` (`2s`, `500ms`).

use std::time::Duration;

/// Largest share of datagrams lost, duplicated or reordered: above half,
/// QUIC handshakes rarely finish within a scan's deadline and the run
/// measures nothing but timeouts.
pub const SHARE_MAX: f64 = 0.5;
/// Longest one-way delay (and jitter): far beyond any venue network; a
/// longer one only holds datagrams in the proxy's bounded queue.
pub const DELAY_MAX: Duration = Duration::from_secs(2);
/// Shortest interval between two roams: a path validation takes a round
/// trip, and moving faster than that tests nothing the slower rate does not.
pub const ROAM_EVERY_MIN: Duration = Duration::from_millis(100);
/// How long a reordered datagram is held back beyond its delay, so that
/// the datagrams sent after it within this time overtake it (a few
/// loopback round trips: QUIC's reordering threshold is 3 packets or 9/8
/// of an RTT, so this is seen as reordering, sometimes as loss).
pub const REORDER_HOLD: Duration = Duration::from_millis(10);

/// What happens to each datagram, both ways.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Share of datagrams dropped, 0 to [`SHARE_MAX`].
    pub loss: f64,
    /// Delay of every datagram.
    pub delay: Duration,
    /// Extra delay, uniform from 0 to this, per datagram.
    pub jitter: Duration,
    /// Share of datagrams sent twice (the copy with its own delay).
    pub dup: f64,
    /// Share of datagrams held back [`REORDER_HOLD`] beyond their delay.
    pub reorder: f64,
}

/// A whole `--net-fault`: the per-datagram faults and the timed ones.
#[derive(Debug, Clone, PartialEq)]
pub struct NetFault {
    /// The SPEC as given (for the report).
    pub spec: String,
    /// Per-datagram faults.
    pub faults: Faults,
    /// The path cut at `.0` from the start of the schedule for `.1`.
    pub partition: Option<(Duration, Duration)>,
    /// The scanners' address moves this often.
    pub roam_every: Option<Duration>,
}

/// `N%` as a share, from 0 to [`SHARE_MAX`].
fn share(key: &str, v: &str) -> Result<f64, String> {
    let n = v
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("{key} takes a percentage such as {key}=2%, not {v:?}"))?;
    let max = SHARE_MAX * 100.0;
    if n > max {
        return Err(format!("{key} must be at most {max}%, not {v}"));
    }
    Ok(n / 100.0)
}

/// `20ms`, `1.5s`, or a bare number in `bare` units (`None`: a unit is needed).
fn duration(key: &str, v: &str, bare: Option<f64>) -> Result<Duration, String> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, Some(0.001))
    } else if let Some(n) = v.strip_suffix('s') {
        (n, Some(1.0))
    } else {
        (v, bare)
    };
    let secs = scale.and_then(|s| {
        let n = num.trim().parse::<f64>().ok()?;
        (n.is_finite() && n >= 0.0 && n * s <= 86_400.0).then_some(n * s)
    });
    secs.map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{key} takes a duration such as 20ms or 2s, not {v:?}"))
}

fn bounded_delay(key: &str, v: &str) -> Result<Duration, String> {
    let d = duration(key, v, None)?;
    if d > DELAY_MAX {
        return Err(format!("{key} must be at most {DELAY_MAX:?}, not {v}"));
    }
    Ok(d)
}

impl NetFault {
    /// Parses a SPEC (see the module's docs); every bad item is refused
    /// with one sentence naming it.
    pub fn parse(spec: &str) -> Result<NetFault, String> {
        let mut nf = NetFault {
            spec: spec.trim().to_owned(),
            faults: Faults::default(),
            partition: None,
            roam_every: None,
        };
        let mut seen: Vec<&str> = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, v) = item
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| format!("--net-fault: {item:?} is not key=value"))?;
            if seen.contains(&key) {
                return Err(format!("--net-fault: {key} is given twice"));
            }
            seen.push(key);
            nf.set(key, v).map_err(|e| format!("--net-fault: {e}"))?;
        }
        if seen.is_empty() {
            return Err("--net-fault: no fault given (e.g. loss=10%,dup=1%)".into());
        }
        Ok(nf)
    }

    fn set(&mut self, key: &str, v: &str) -> Result<(), String> {
        let f = &mut self.faults;
        match key {
            "loss" => f.loss = share(key, v)?,
            "dup" => f.dup = share(key, v)?,
            "reorder" => f.reorder = share(key, v)?,
            "delay" => f.delay = bounded_delay(key, v)?,
            "jitter" => f.jitter = bounded_delay(key, v)?,
            "partition" => {
                let bad = || format!("partition takes AT:FOR (e.g. 3:2, in seconds), not {v:?}");
                let (at, length) = v.split_once(':').ok_or_else(bad)?;
                let at = duration(key, at, Some(1.0)).map_err(|_| bad())?;
                let length = duration(key, length, Some(1.0)).map_err(|_| bad())?;
                if length.is_zero() {
                    return Err(bad());
                }
                self.partition = Some((at, length));
            }
            "roam" => {
                let every = duration(key, v, Some(1.0))?;
                if every < ROAM_EVERY_MIN {
                    return Err(format!("roam must be at least {ROAM_EVERY_MIN:?}, not {v}"));
                }
                self.roam_every = Some(every);
            }
            other => {
                return Err(format!(
                    "unknown key {other:?} (loss, delay, jitter, dup, reorder, partition, roam)"
                ));
            }
        }
        Ok(())
    }

    /// Checks that the partition starts and heals within a schedule of
    /// `window_s` seconds: scans must still be sent after it heals, to
    /// see the scanners recover.
    pub fn fits(&self, window_s: f64) -> Result<(), String> {
        let Some((at, length)) = self.partition else {
            return Ok(());
        };
        let end = (at + length).as_secs_f64();
        if end >= window_s {
            return Err(format!(
                "--net-fault: the partition heals at {end} s, not before the schedule's end at {window_s} s: no scan would be left to see the scanners recover"
            ));
        }
        Ok(())
    }
}

/// The `--net-fault` of a run whose schedule lasts `window_s` seconds;
/// refused beside `--outage` or `--crash-loop` (`beside`): their own cuts
/// and crashes would blur what the network did.
pub fn plan(text: Option<&str>, window_s: f64, beside: bool) -> Result<Option<NetFault>, String> {
    let Some(text) = text else {
        return Ok(None);
    };
    if beside {
        return Err("--net-fault cannot be combined with --outage or --crash-loop".into());
    }
    let nf = NetFault::parse(text)?;
    nf.fits(window_s)?;
    Ok(Some(nf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_is_keys_and_values() {
        let nf = NetFault::parse("loss=10%, delay=20ms,jitter=1.5s,dup=1%,reorder=2%").expect("ok");
        let f = nf.faults;
        assert_eq!((f.loss, f.dup, f.reorder), (0.1, 0.01, 0.02));
        assert_eq!(f.delay, Duration::from_millis(20));
        assert_eq!(f.jitter, Duration::from_millis(1_500));
        assert_eq!((nf.partition, nf.roam_every), (None, None));
        let nf = NetFault::parse("partition=3:2,roam=500ms").expect("ok");
        assert_eq!(
            nf.partition,
            Some((Duration::from_secs(3), Duration::from_secs(2)))
        );
        assert_eq!(nf.roam_every, Some(Duration::from_millis(500)));
        assert_eq!(nf.faults, Faults::default());
        let nf = NetFault::parse("partition=1500ms:2s").expect("ok");
        assert_eq!(
            nf.partition,
            Some((Duration::from_millis(1_500), Duration::from_secs(2)))
        );
    }

    #[test]
    fn a_bad_spec_gets_one_sentence_naming_it() {
        for (bad, says) in [
            ("", "no fault"),
            ("loss", "key=value"),
            ("loss=10", "percentage"),
            ("loss=60%", "at most 50%"),
            ("loss=-1%", "percentage"),
            ("delay=20", "duration"),
            ("delay=3s", "at most"),
            ("jitter=xs", "duration"),
            ("partition=3", "AT:FOR"),
            ("partition=3:0", "AT:FOR"),
            ("roam=10ms", "at least"),
            ("loss=1%,loss=2%", "twice"),
            ("drop=1%", "unknown key"),
        ] {
            let e = NetFault::parse(bad).expect_err(bad);
            assert!(e.contains(says) && !e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn a_partition_must_heal_before_the_schedule_ends() {
        let nf = NetFault::parse("partition=3:2").expect("ok");
        assert!(nf.fits(10.0).is_ok());
        assert!(nf.fits(5.0).expect_err("late").contains("heals at 5 s"));
        assert!(NetFault::parse("loss=1%").expect("ok").fits(1.0).is_ok());
        assert_eq!(plan(None, 1.0, true), Ok(None));
        let e = plan(Some("loss=1%"), 10.0, true).expect_err("beside");
        assert!(e.contains("combined"), "{e}");
        assert!(plan(Some("partition=3:2"), 10.0, false).is_ok());
    }
}
