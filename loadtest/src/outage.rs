//! The outage scenario (`--spawn --outage AT:FOR`): the spawned gateway is
//! stopped AT seconds into the schedule for FOR seconds, then brought back,
//! while offline-capable devices keep deciding; and the offline figures of
//! such a run.
//!
//! Two kinds: `kill` (SIGKILL, a real crash, then the binary started again
//! on the same data dir and ports) and `pause` (SIGSTOP, then SIGCONT: the
//! process and its sockets stay, nothing answers, as behind a network cut).

use crate::LoadError;
use crate::history::{Op, Outcome, UploadOp, UploadStatus, last_uploads};
use crate::target::Target;
use clap::ValueEnum;
use serde::Serialize;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How the gateway is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageKind {
    /// SIGKILL, then started again: a crash.
    Kill,
    /// SIGSTOP, then SIGCONT: a network cut.
    Pause,
}

/// When and how long the gateway is stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outage {
    /// From the start of the schedule.
    pub at: Duration,
    /// How long it stays down.
    pub length: Duration,
    /// How it is stopped.
    pub kind: OutageKind,
}

/// `AT:FOR`, seconds (fractions allowed), each finite and above 0 (AT may
/// be 0), without the kind.
impl FromStr for Outage {
    type Err = String;

    fn from_str(s: &str) -> Result<Outage, String> {
        let bad = || format!("--outage takes AT_S:FOR_S in seconds (e.g. 5:10), not {s:?}");
        let (at, length) = s.split_once(':').ok_or_else(bad)?;
        let secs = |t: &str| t.trim().parse::<f64>().ok().filter(|v| v.is_finite());
        let (at, length) = (secs(at).ok_or_else(bad)?, secs(length).ok_or_else(bad)?);
        if at < 0.0 || length <= 0.0 {
            return Err(bad());
        }
        Ok(Outage {
            at: Duration::from_secs_f64(at),
            length: Duration::from_secs_f64(length),
            kind: OutageKind::Kill,
        })
    }
}

/// What the outage did, as the tool saw it.
#[derive(Debug, Default)]
pub struct OutageLog {
    /// When the gateway was stopped.
    pub began: Option<Instant>,
    /// When it answered `/readyz` again.
    pub back: Option<Instant>,
    /// From the restart (or SIGCONT) to ready.
    pub restart: Option<Duration>,
    /// Why it could not be stopped or brought back.
    pub error: Option<String>,
}

/// Stops the gateway at `begin + at` for `length`, brings it back and
/// waits until it is ready; cancels `over` at the end, whatever happened.
pub async fn outage(
    target: &Target,
    outage: Outage,
    begin: Instant,
    over: CancellationToken,
) -> OutageLog {
    let mut log = OutageLog::default();
    if let Err(e) = stop_and_restart(target, outage, begin, &mut log).await {
        tracing::warn!(error = %e, "the outage could not be carried out");
        log.error = Some(e.to_string());
    }
    over.cancel();
    log
}

async fn stop_and_restart(
    target: &Target,
    outage: Outage,
    begin: Instant,
    log: &mut OutageLog,
) -> Result<(), LoadError> {
    tokio::time::sleep_until((begin + outage.at).into()).await;
    match outage.kind {
        OutageKind::Kill => target.crash().await?,
        OutageKind::Pause => target.pause().await?,
    }
    let began = Instant::now();
    log.began = Some(began);
    tokio::time::sleep_until((began + outage.length).into()).await;
    let restarted = Instant::now();
    match outage.kind {
        OutageKind::Kill => target.start_again().await?,
        OutageKind::Pause => target.resume().await?,
    }
    target.until_ready().await?;
    let back = Instant::now();
    log.back = Some(back);
    log.restart = Some(back - restarted);
    Ok(())
}

/// The offline figures of a run with an outage (the report's `offline`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct OfflineFigures {
    /// `kill` or `pause`.
    pub outage_kind: Option<OutageKind>,
    /// When the gateway was stopped, seconds from the start of the schedule.
    pub outage_at_s: Option<f64>,
    /// How long it was down, to ready again, seconds.
    pub outage_s: Option<f64>,
    /// From the restart (or SIGCONT) to ready, seconds.
    pub restart_ready_s: Option<f64>,
    /// Why the outage could not be carried out, if it could not.
    pub outage_error: Option<String>,
    /// Scans the devices decided alone.
    pub offline_decisions: u64,
    /// Of which grants (each queued, to be uploaded).
    pub offline_grants: u64,
    /// Offline grants the gateway acknowledged (recorded or duplicate).
    pub uploaded: u64,
    /// Of which recorded by an earlier upload or the online try.
    pub duplicates: u64,
    /// Offline grants refused for good or still queued at the end.
    pub not_uploaded: u64,
    /// Conflicts the gateway flagged on upload, by kind.
    pub conflicts: BTreeMap<String, u64>,
    /// From the outage to the slowest device's first offline decision, s.
    pub switch_offline_s: Option<f64>,
    /// From the gateway back to the last queue emptied, s.
    pub drain_s: Option<f64>,
    /// Syncs that failed and were tried again.
    pub sync_errors: u64,
}

/// What the lanes and the outage left, for [`OfflineFigures::new`].
pub struct OfflineInputs<'a> {
    /// The outage.
    pub outage: Outage,
    /// What it did.
    pub log: &'a OutageLog,
    /// The start of the schedule.
    pub begin: Instant,
    /// Every scan.
    pub ops: &'a [Op],
    /// Every upload (the last word per scan counts).
    pub uploads: &'a [UploadOp],
    /// Each device's first offline decision.
    pub first_offline: &'a [Instant],
    /// When the last queue was emptied after the outage.
    pub drained: Option<Instant>,
    /// Failed syncs.
    pub sync_errors: u64,
}

impl OfflineFigures {
    /// Counts and times of one run with an outage.
    pub fn new(i: &OfflineInputs<'_>) -> OfflineFigures {
        let secs = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64();
        let offline: Vec<&Op> = i.ops.iter().filter(|o| o.offline).collect();
        let last = last_uploads(i.uploads);
        let mut f = OfflineFigures {
            outage_kind: Some(i.outage.kind),
            outage_at_s: i.log.began.map(|t| secs(i.begin, t)),
            outage_s: i.log.began.zip(i.log.back).map(|(a, b)| secs(a, b)),
            restart_ready_s: i.log.restart.map(|d| d.as_secs_f64()),
            outage_error: i.log.error.clone(),
            offline_decisions: offline.len() as u64,
            offline_grants: offline.iter().filter(|o| o.outcome == Outcome::Ok).count() as u64,
            switch_offline_s: i.log.began.and_then(|b| {
                let after = i.first_offline.iter().filter(|t| **t >= b);
                after.max().map(|t| secs(b, *t))
            }),
            drain_s: i.log.back.zip(i.drained).map(|(b, d)| secs(b, d)),
            sync_errors: i.sync_errors,
            ..OfflineFigures::default()
        };
        for u in last.values() {
            match u.status {
                UploadStatus::Recorded => f.uploaded += 1,
                UploadStatus::Duplicate => {
                    (f.uploaded, f.duplicates) = (f.uploaded + 1, f.duplicates + 1)
                }
                UploadStatus::Refused(_) | UploadStatus::Pending => f.not_uploaded += 1,
            }
            for kind in &u.conflicts {
                *f.conflicts.entry(kind.clone()).or_default() += 1;
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_at_colon_for_in_seconds() {
        let o: Outage = "1.5:3".parse().expect("outage");
        assert_eq!(o.at, Duration::from_millis(1_500));
        assert_eq!(o.length, Duration::from_secs(3));
        for bad in ["", "3", "a:b", "1:0", "-1:2", "1:inf", "1:2:3"] {
            let e = bad.parse::<Outage>().expect_err(bad);
            assert!(e.contains("AT_S:FOR_S"), "{bad}: {e}");
        }
    }
}
