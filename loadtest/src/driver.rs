//! The open loop: send every scan at its due time on one of the devices,
//! whatever the earlier ones are doing, and record what comes back.
//!
//! One scheduler task walks the [`Schedule`], picks each scan's kind and pass
//! ([`crate::picker`]) and spawns it on the next device (round-robin). A scan
//! waits for one of its device's pipelining slots, then goes to the SDK;
//! latency runs from the due time, so queueing anywhere (in the tool, the
//! network or the gateway) is counted. At most [`BACKLOG_MAX`] scans are
//! outstanding; beyond that the scheduler waits (and the waiting still shows
//! in latency, since it is measured from the due time). After the schedule,
//! the run drains for a bounded time; a scan still unanswered then is
//! recorded as `info` (outcome unknown).

use crate::admin::Admin;
use crate::clock::Clock;
use crate::devices::Device;
use crate::history::{Op, Outcome, RevokeOp};
use crate::picker::{Job, Picker};
use crate::profile::Schedule;
use crate::setup::{Pools, REVOKE_REASON};
use crate::stats::{Answer, Recorder};
use scangate_client::{ClientError, ScanInput, ScanReply};
use scangate_core::{Decision, ScanId};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;

/// Most scans outstanding (spawned, not answered) at once: bounds the tool's
/// memory when the gateway falls behind the offered rate.
pub const BACKLOG_MAX: usize = 200_000;
/// Extra time the drain allows beyond one scan's full deadline.
pub const DRAIN_SLACK: Duration = Duration::from_secs(5);
/// Mid-run revokes happen between these shares of the window.
const REVOKE_FROM_SHARE: f64 = 0.1;
const REVOKE_TO_SHARE: f64 = 0.6;

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
}

/// A finished scan, sent to the collector.
struct Done {
    job: Job,
    due: Instant,
    sent: Option<Instant>,
    done: Instant,
    answer: std::result::Result<ScanReply, String>,
}

/// Sends an `info` record if the scan task ends without an answer (aborted
/// at the end of the drain).
struct Pending {
    tx: mpsc::UnboundedSender<Done>,
    job: Option<Job>,
    due: Instant,
    sent: Option<Instant>,
    _backlog: OwnedSemaphorePermit,
}

impl Pending {
    fn finish(mut self, answer: std::result::Result<ScanReply, String>) {
        self.report(answer);
    }

    /// Reports the scan once; later calls (the drop after `finish`) do nothing.
    fn report(&mut self, answer: std::result::Result<ScanReply, String>) {
        if let Some(job) = self.job.take() {
            let _ = self.tx.send(Done {
                job,
                due: self.due,
                sent: self.sent,
                done: Instant::now(),
                answer,
            });
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.job.is_some() {
            self.report(Err("unanswered_at_end".into()));
        }
    }
}

/// Runs the open loop to the end of the schedule and the drain.
pub async fn drive(input: DriveInput, devices: &[Arc<Device>], clock: Clock) -> DriveOutput {
    let DriveInput {
        schedule,
        window,
        mut picker,
        pools,
        admin,
        run_id,
        scan_deadline,
    } = input;
    let begin = Instant::now();
    let revoker = tokio::spawn(revoke_during(admin, pools, begin, window, clock));
    let (tx, rx) = mpsc::unbounded_channel::<Done>();
    // Unbounded channel, bounded use: every message holds a backlog permit's
    // worth of work, so at most BACKLOG_MAX are ever queued.
    let collector = tokio::spawn(collect(rx, begin, clock));
    let backlog = Arc::new(Semaphore::new(BACKLOG_MAX));
    let mut tasks = JoinSet::new();
    for (n, offset) in schedule.enumerate() {
        let due = begin + offset;
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let Ok(permit) = backlog.clone().acquire_owned().await else {
            break;
        };
        let job = picker.next_job();
        let device = devices[n % devices.len()].clone();
        let pending = Pending {
            tx: tx.clone(),
            job: Some(job),
            due,
            sent: None,
            _backlog: permit,
        };
        tasks.spawn(scan_one(pending, device, run_id.clone()));
        while tasks.try_join_next().is_some() {}
    }
    drop(tx);
    let all = u32::try_from(BACKLOG_MAX).unwrap_or(u32::MAX);
    let drained =
        tokio::time::timeout(scan_deadline + DRAIN_SLACK, backlog.acquire_many(all)).await;
    let abandoned = if drained.is_err() {
        tasks.len() as u64
    } else {
        0
    };
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let (recorder, ops) = collector.await.unwrap_or_default();
    let revokes = revoker.await.unwrap_or_default();
    DriveOutput {
        elapsed: Duration::from_micros(recorder.last_done_us),
        recorder,
        ops,
        revokes,
        abandoned,
    }
}

async fn scan_one(mut pending: Pending, device: Arc<Device>, run_id: String) {
    let Some(job) = pending.job.as_ref() else {
        return;
    };
    let input = ScanInput {
        token: job.token.clone(),
        gate: device.gate.clone(),
        event: None,
        scan_id: ScanId::new(crate::history::scan_id(&run_id, job.seq)).ok(),
    };
    let Ok(_slot) = device.slots.acquire().await else {
        return pending.finish(Err("closed".into()));
    };
    pending.sent = Some(Instant::now());
    let answer = device
        .scanner
        .scan(input)
        .await
        .map_err(|e| error_class(&e));
    pending.finish(answer);
}

/// A short class for an error, used as a report key.
fn error_class(e: &ClientError) -> String {
    match e {
        ClientError::Timeout { .. } => "timeout".into(),
        ClientError::ConnectionLost => "connection_lost".into(),
        ClientError::Connect { .. } => "connect".into(),
        ClientError::Rejected(w) => format!("rejected_{}", w.code.as_str()),
        ClientError::Saturated { .. } => "saturated".into(),
        ClientError::Closed => "closed".into(),
        ClientError::Protocol(_) => "protocol".into(),
        _ => "other".into(),
    }
}

async fn collect(
    mut rx: mpsc::UnboundedReceiver<Done>,
    begin: Instant,
    clock: Clock,
) -> (Recorder, Vec<Op>) {
    let mut recorder = Recorder::default();
    let mut ops = Vec::new();
    let offset = |t: Instant| {
        u64::try_from(t.saturating_duration_since(begin).as_micros()).unwrap_or(u64::MAX)
    };
    while let Some(d) = rx.recv().await {
        let (answer, outcome, replayed) = match &d.answer {
            Ok(reply) => {
                let outcome = match reply.decision {
                    Decision::Granted => Outcome::Ok,
                    Decision::Denied(r) => Outcome::Fail(r),
                };
                (Answer::Decided(reply.decision), outcome, reply.replayed)
            }
            Err(class) => (
                Answer::Error(class.clone()),
                Outcome::Info(class.clone()),
                false,
            ),
        };
        recorder.record(d.job.kind, offset(d.due), offset(d.done), &answer);
        ops.push(Op {
            kind: d.job.kind,
            pass: d.job.pass,
            scan: d.job.seq,
            // Never sent: it cannot have been counted, but `info` keeps the
            // checker conservative. Its send time is its due time.
            sent_ms: clock.unix_ms(d.sent.unwrap_or(d.due)),
            done_ms: clock.unix_ms(d.done),
            outcome: if d.sent.is_none() && matches!(outcome, Outcome::Info(_)) {
                Outcome::Info("never_sent".into())
            } else {
                outcome
            },
            replayed,
        });
    }
    (recorder, ops)
}

/// Revokes the mid-run half of the revoked pool, spread over the window.
async fn revoke_during(
    admin: Admin,
    pools: Arc<Pools>,
    begin: Instant,
    window: Duration,
    clock: Clock,
) -> Vec<RevokeOp> {
    let n = pools.revoked_during.len().max(1) as f64;
    let mut done = Vec::new();
    for (j, &pass) in pools.revoked_during.iter().enumerate() {
        let share = REVOKE_FROM_SHARE + (REVOKE_TO_SHARE - REVOKE_FROM_SHARE) * j as f64 / n;
        tokio::time::sleep_until((begin + window.mul_f64(share)).into()).await;
        let invoked_ms = clock.unix_ms_now();
        let result = admin
            .revoke(&pools.passes[pass as usize].id, REVOKE_REASON)
            .await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, "a mid-run revoke failed");
        }
        done.push(RevokeOp {
            pass,
            invoked_ms,
            completed_ms: result.ok().map(|_| clock.unix_ms_now()),
        });
    }
    done
}
