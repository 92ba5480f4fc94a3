//! The open loop: send every scan at its due time on one of the devices,
//! whatever the earlier ones are doing, and record what comes back.
//!
//! One scheduler walks the [`Schedule`], picks each scan's kind and pass
//! ([`crate::picker`]) and queues it on the next device's lane (round-robin).
//! A lane is one task per device: it keeps up to `depth` of its scans in
//! flight in the SDK and records each answer itself, so a scan costs no task
//! of its own and no message to a collector. Latency runs from the due time,
//! so queueing anywhere (in the lane, the network or the gateway) is
//! counted. At most [`BACKLOG_MAX`] scans wait in the lanes; beyond that the
//! scheduler waits (and the waiting still shows in latency, since it is
//! measured from the due time). After the schedule, the run drains for a
//! bounded time; a scan still unanswered then is recorded as `info`
//! (outcome unknown), or `never_sent` if it never left its lane.
//!
//! With an outage the devices are offline-capable scanners instead, one
//! scan at a time each ([`offline_lane`]): they decide offline while the
//! gateway is out of reach and sync their queues once it is back.
//!
//! Its jobs, one module each: this one schedules and gathers; [`lane`] keeps
//! one device's scans in flight and records them; [`offline_lane`] does the
//! same for an offline-capable device and syncs it; [`revoker`] revokes
//! passes mid-run.

mod lane;
mod offline_lane;
mod revoker;

pub use lane::OfflineLaneOutput;
pub use offline_lane::SYNC_DEADLINE;

use crate::admin::Admin;
use crate::clock::Clock;
use crate::devices::{self, Device, OfflineDevice};
use crate::history::{Op, RevokeOp};
use crate::picker::Picker;
use crate::profile::Schedule;
use crate::setup::Pools;
use crate::stats::Recorder;
use lane::{Due, LaneOutput, LaneSettings};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Most scans waiting in the lanes (due, not yet in flight) at once: bounds
/// the tool's memory when the gateway falls behind the offered rate.
pub const BACKLOG_MAX: usize = 200_000;
/// Most ops the lanes reserve room for up front: a crash loop's schedule
/// is an hour that its cycles usually end far sooner.
pub const OPS_RESERVED_MAX: u64 = 4_000_000;
/// Extra time the drain allows beyond one scan's full deadline.
pub const DRAIN_SLACK: Duration = Duration::from_secs(5);

/// What the open loop needs besides the devices.
pub struct DriveInput {
    /// Due times of every scan.
    pub schedule: Schedule,
    /// The window the schedule covers.
    pub window: Duration,
    /// Picks kinds and passes.
    pub picker: Picker,
    /// Passes revoked during the run, by the revoker, with their tokens known to the picker.
    pub pools: Arc<Pools>,
    /// The admin API, for mid-run revokes.
    pub admin: Admin,
    /// The run's id (scan id prefix).
    pub run_id: String,
    /// Longest one scan can take (all attempts).
    pub scan_deadline: Duration,
    /// The SDK makes more than one attempt per scan.
    pub sdk_retries: bool,
    /// When the schedule starts (its offsets are from this instant).
    pub begin: Instant,
    /// Cancelled once the gateway is back for good after an outage (pass
    /// one already cancelled for a run without).
    pub outage_over: CancellationToken,
    /// Cancelled to end the schedule early (the crash loop's cycles done);
    /// the open loop cancels it too when the schedule is over.
    pub stop_feed: CancellationToken,
    /// Gates the devices stand at (device `i` at gate `i % gates`): a floor
    /// scan goes to a device at its gate.
    pub gates: u32,
    /// An event floor run: where the replies say each pass is.
    pub belief: Option<Arc<crate::floor::Belief>>,
}

/// The scanners of a run.
pub enum Devices {
    /// Online scanners, each pipelining up to its depth.
    Online(Vec<Arc<Device>>),
    /// Offline-capable scanners (a run with an outage), one scan at a time.
    Offline(Vec<OfflineDevice>),
}

impl Devices {
    fn len(&self) -> usize {
        match self {
            Devices::Online(d) => d.len(),
            Devices::Offline(d) => d.len(),
        }
    }
}

/// What the open loop recorded.
pub struct DriveOutput {
    /// Statistics.
    pub recorder: Recorder,
    /// Every scan, in the order answers came back.
    pub ops: Vec<Op>,
    /// The mid-run revokes.
    pub revokes: Vec<RevokeOp>,
    /// From the first due time to the last answer.
    pub elapsed: Duration,
    /// Scans still unanswered when the drain ended.
    pub abandoned: u64,
    /// Offline decisions, uploads and syncs (offline-capable devices only).
    pub offline: OfflineLaneOutput,
}

/// Runs the open loop to the end of the schedule and the drain (and, for
/// offline-capable devices, their final syncs); closes the devices.
pub async fn drive(input: DriveInput, devices: Devices, clock: Clock) -> DriveOutput {
    let DriveInput {
        schedule,
        window,
        picker,
        pools,
        admin,
        run_id,
        scan_deadline,
        sdk_retries,
        begin,
        outage_over,
        stop_feed,
        gates,
        belief,
    } = input;
    let revoker = tokio::spawn(revoker::revoke_during(
        admin,
        pools,
        (begin, window),
        clock,
        stop_feed.clone(),
    ));
    let settings = LaneSettings {
        run_id: run_id.into(),
        begin,
        clock,
        ended: CancellationToken::new(),
        drain: scan_deadline + DRAIN_SLACK,
        sdk_retries,
        outage_over,
        belief,
    };
    let lanes_n = devices.len().max(1);
    // Each lane's history is sized for its share of the schedule up front:
    // growing a vector of a million ops mid-run copies it again and again.
    let ops_per_lane =
        usize::try_from(schedule.total().min(OPS_RESERVED_MAX)).map_or(0, |t| t.div_ceil(lanes_n));
    let online = match &devices {
        Devices::Online(d) => d.clone(),
        Devices::Offline(_) => Vec::new(),
    };
    let (lanes, workers) = spawn_lanes(devices, &settings, ops_per_lane);
    feed(schedule, picker, (lanes, gates), begin, stop_feed.clone()).await;
    // The schedule is over, run out or stopped: a crash loop stops too.
    stop_feed.cancel();
    settings.ended.cancel();
    let out = gather(workers, ops_per_lane * lanes_n).await;
    devices::close_all(&online).await;
    let revokes = revoker.await.unwrap_or_default();
    DriveOutput {
        elapsed: Duration::from_micros(out.recorder.last_done_us),
        recorder: out.recorder,
        ops: out.ops,
        revokes,
        abandoned: out.abandoned,
        offline: out.offline,
    }
}

/// One lane task per device, each with a queue of its share of
/// [`BACKLOG_MAX`] and a history sized for `ops_per_lane` scans.
fn spawn_lanes(
    devices: Devices,
    settings: &LaneSettings,
    ops_per_lane: usize,
) -> (Vec<mpsc::Sender<Due>>, Vec<JoinHandle<LaneOutput>>) {
    let per_lane = (BACKLOG_MAX / devices.len().max(1)).max(1);
    let mut lanes = Vec::with_capacity(devices.len());
    let mut workers = Vec::with_capacity(devices.len());
    let mut queue = || {
        let (tx, rx) = mpsc::channel(per_lane);
        lanes.push(tx);
        let out = LaneOutput {
            ops: Vec::with_capacity(ops_per_lane),
            ..LaneOutput::default()
        };
        (rx, out, settings.clone())
    };
    match devices {
        Devices::Online(devices) => {
            for device in devices {
                let (rx, out, s) = queue();
                workers.push(tokio::spawn(lane::lane(rx, device, s, out)));
            }
        }
        Devices::Offline(devices) => {
            for device in devices {
                let (rx, out, s) = queue();
                workers.push(tokio::spawn(offline_lane::offline_lane(rx, device, s, out)));
            }
        }
    }
    (lanes, workers)
}

/// The lane of the `n`-th scan: the next one round-robin, or for a floor
/// scan at gate `g` the next of the lanes whose device stands there
/// (lanes `g`, `g + gates`, ...; the plan gives every gate a device).
fn lane_of(n: usize, floor_gate: Option<u32>, lanes: usize, gates: u32) -> usize {
    let gates = (gates.max(1) as usize).min(lanes.max(1));
    match floor_gate.map(|g| g as usize).filter(|g| *g < gates) {
        Some(g) => {
            let at_gate = (lanes - g).div_ceil(gates);
            g + gates * (n % at_gate.max(1))
        }
        None => n % lanes.max(1),
    }
}

/// Walks the schedule: at each due time, picks the scan and queues it on
/// its lane ([`lane_of`]), waiting while that lane's queue is full.
/// Stops early once `stop` is cancelled. Dropping the lanes at the end
/// tells them the schedule is done.
async fn feed(
    schedule: Schedule,
    mut picker: Picker,
    (lanes, gates): (Vec<mpsc::Sender<Due>>, u32),
    begin: Instant,
    stop: CancellationToken,
) {
    if lanes.is_empty() {
        return;
    }
    for (n, offset) in schedule.enumerate() {
        let due = begin + offset;
        if due > Instant::now() {
            tokio::select! {
                () = tokio::time::sleep_until(due.into()) => {}
                () = stop.cancelled() => break,
            }
        }
        if stop.is_cancelled() {
            break;
        }
        let job = picker.next_job();
        let lane = lane_of(n, job.floor.map(|f| f.gate), lanes.len(), gates);
        if lanes[lane].send(Due { job, due }).await.is_err() {
            break;
        }
    }
}

/// Waits for every lane and merges what they recorded, ops in the order
/// their answers came back.
async fn gather(workers: Vec<JoinHandle<LaneOutput>>, ops: usize) -> LaneOutput {
    let mut out = LaneOutput {
        ops: Vec::with_capacity(ops),
        ..LaneOutput::default()
    };
    for worker in workers {
        if let Ok(lane) = worker.await {
            out.recorder.merge(&lane.recorder);
            out.ops.extend(lane.ops);
            out.abandoned += lane.abandoned;
            out.offline.merge(lane.offline);
        }
    }
    out.ops.sort_by_key(|op| op.done_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::lane_of;

    #[test]
    fn a_floor_scan_goes_to_a_device_at_its_gate() {
        // 8 devices at 3 gates: gate 1 has devices 1, 4 and 7.
        let lanes: Vec<usize> = (0..6).map(|n| lane_of(n, Some(1), 8, 3)).collect();
        assert_eq!(lanes, vec![1, 4, 7, 1, 4, 7]);
        assert!((0..20).all(|n| lane_of(n, Some(2), 8, 3) % 3 == 2));
        assert_eq!(lane_of(5, None, 8, 3), 5);
        assert_eq!(lane_of(9, None, 8, 3), 1);
    }
}
