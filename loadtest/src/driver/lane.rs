//! One device's lane: its due scans in order, up to the device's depth of
//! them in flight in the SDK, each answer recorded by the lane itself (no
//! task per scan, no message to a collector). Once the schedule is done and
//! the drain time is up, what is left is recorded as unanswered.

use crate::clock::Clock;
use crate::devices::Device;
use crate::history::{Op, Outcome, UploadOp};
use crate::picker::Job;
use crate::stats::{Answer, Recorder};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use scangate_client::{ClientError, Decided, ScanInput, ScanOptions, ScanReply};
use scangate_core::{Decision, ScanId};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A scan due at `due`, queued on a lane.
pub(super) struct Due {
    pub(super) job: Job,
    pub(super) due: Instant,
}

/// What one lane recorded.
#[derive(Default)]
pub(super) struct LaneOutput {
    pub(super) recorder: Recorder,
    pub(super) ops: Vec<Op>,
    pub(super) abandoned: u64,
    /// What an offline-capable lane saw besides its scans.
    pub(super) offline: OfflineLaneOutput,
}

/// What a lane needs besides its queue and device.
#[derive(Clone)]
pub(super) struct LaneSettings {
    pub(super) run_id: Arc<str>,
    pub(super) begin: Instant,
    pub(super) clock: Clock,
    /// Cancelled when the schedule is done; the drain then runs this long.
    pub(super) ended: CancellationToken,
    pub(super) drain: Duration,
    /// The SDK makes more than one attempt per scan: a transient denial
    /// (`busy`) may then follow an attempt that timed out and was counted.
    pub(super) sdk_retries: bool,
    /// Cancelled once the gateway is back for good after the run's outage
    /// (at once when there is none): offline lanes then sync their queues.
    pub(super) outage_over: CancellationToken,
    /// An event floor run: where each reply says its pass is now.
    pub(super) belief: Option<Arc<crate::floor::Belief>>,
}

/// One device's lane: takes its due scans in order, keeps up to the
/// device's depth of them in flight, records each answer, and once the
/// schedule is done and the drain time is up, records what is left as
/// unanswered.
pub(super) async fn lane(
    mut rx: mpsc::Receiver<Due>,
    device: Arc<Device>,
    s: LaneSettings,
    mut out: LaneOutput,
) -> LaneOutput {
    let mut in_flight = FuturesUnordered::new();
    let mut open = true;
    let drain = async {
        s.ended.cancelled().await;
        tokio::time::sleep(s.drain).await;
    };
    tokio::pin!(drain);
    loop {
        tokio::select! {
            biased;
            Some((due, sent, answer)) = in_flight.next() => {
                record(&mut out, &s, due, Some(sent), Instant::now(), answer);
            }
            next = rx.recv(), if open && in_flight.len() < device.depth => match next {
                Some(due) => in_flight.push(InFlight::start(&device, &s.run_id, due)),
                None => open = false,
            },
            () = &mut drain, if open || !in_flight.is_empty() => break,
            // Schedule done, queue empty, nothing in flight.
            else => return out,
        }
    }
    // The drain is over: what is still in flight or queued gets no answer.
    let now = Instant::now();
    for scan in in_flight.iter_mut() {
        if let Some(due) = scan.due.take() {
            out.abandoned += 1;
            record(&mut out, &s, due, Some(scan.sent), now, unanswered());
        }
    }
    rx.close();
    while let Ok(due) = rx.try_recv() {
        out.abandoned += 1;
        record(&mut out, &s, due, None, now, unanswered());
    }
    out
}

pub(super) fn unanswered() -> Result<Decided, String> {
    Err("unanswered_at_end".into())
}

/// One scan in the SDK's hands; yields its job back with the answer.
struct InFlight {
    /// Taken when the scan ends (answered, or abandoned at the end).
    due: Option<Due>,
    sent: Instant,
    call: Pin<Box<dyn Future<Output = Result<ScanReply, ClientError>> + Send>>,
}

impl InFlight {
    fn start(device: &Device, run_id: &str, mut due: Due) -> InFlight {
        let input = ScanInput {
            // Recording the answer needs the job's kind, pass and number only.
            token: std::mem::take(&mut due.job.token),
            gate: device.gate.clone(),
            event: None,
            scan_id: ScanId::new(crate::history::scan_id(run_id, due.job.seq)).ok(),
        };
        let options = due
            .job
            .floor
            .map_or(ScanOptions::default(), |f| ScanOptions {
                direction: f.direction,
                check_only: f.check_only,
            });
        let scanner = device.scanner.clone();
        InFlight {
            due: Some(due),
            sent: Instant::now(),
            call: Box::pin(async move { scanner.scan_with(input, options).await }),
        }
    }
}

impl Future for InFlight {
    type Output = (Due, Instant, Result<Decided, String>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let answer = std::task::ready!(this.call.as_mut().poll(cx));
        match this.due.take() {
            Some(due) => Poll::Ready((
                due,
                this.sent,
                answer.map(Decided::online).map_err(|e| error_class(&e)),
            )),
            // Polled again after it ended: never done by FuturesUnordered.
            None => Poll::Pending,
        }
    }
}

/// A short class for an error, used as a report key.
pub(super) fn error_class(e: &ClientError) -> String {
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

/// Counts one scan in the lane's statistics and history. `sent` is `None`
/// for a scan that never left the lane. A denial the device made offline
/// is `info` for the checker: an online try before it may have reached the
/// gateway and been counted there before its answer was lost.
pub(super) fn record(
    out: &mut LaneOutput,
    s: &LaneSettings,
    Due { job, due }: Due,
    sent: Option<Instant>,
    done: Instant,
    answer: Result<Decided, String>,
) {
    let offset = |t: Instant| {
        u64::try_from(t.saturating_duration_since(s.begin).as_micros()).unwrap_or(u64::MAX)
    };
    let offline = answer.as_ref().is_ok_and(Decided::is_offline);
    let (counted, outcome, replayed) = match answer {
        Ok(Decided { reply, .. }) => {
            if let (Some(belief), Some(pass), Some(guard)) = (&s.belief, job.pass, &reply.guard) {
                belief.heard(pass, guard.inside, guard.zone.as_deref());
            }
            let outcome = match reply.decision {
                Decision::Granted => Outcome::Ok,
                Decision::Denied(r) if offline => Outcome::Info(format!("offline_{r}")),
                // Not necessarily the first attempt's answer: unknown.
                Decision::Denied(r) if r.is_transient() && s.sdk_retries => {
                    Outcome::Info(format!("{r}_after_retries"))
                }
                Decision::Denied(r) => Outcome::Fail(r),
            };
            (Answer::Decided(reply.decision), outcome, reply.replayed)
        }
        Err(class) => {
            // Never sent: it cannot have been counted, but `info` keeps the
            // checker conservative.
            let why = if sent.is_some() {
                class.clone()
            } else {
                "never_sent".into()
            };
            (Answer::Error(class), Outcome::Info(why), false)
        }
    };
    out.recorder
        .record(job.kind, offset(due), offset(done), &counted);
    out.ops.push(Op {
        kind: job.kind,
        pass: job.pass,
        scan: job.seq,
        // A scan never sent has its due time as its send time.
        sent_ms: s.clock.unix_ms(sent.unwrap_or(due)),
        done_ms: s.clock.unix_ms(done),
        outcome,
        replayed,
        offline,
        floor: job.floor,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{DeviceSettings, connect_all};
    use crate::mix::ScanKind;
    use scangate_certs::Pki;
    use scangate_core::Reason;
    use scangate_core::wire::ALPN;

    /// A gateway that completes the handshake and reads every request, but
    /// never answers one: real QUIC and mutual TLS on loopback.
    fn silent_gateway(pki: &Pki) -> quinn::Endpoint {
        let tls = pki.server_config(ALPN).expect("server tls");
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).expect("QUIC TLS");
        let config = quinn::ServerConfig::with_crypto(std::sync::Arc::new(crypto));
        let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().expect("addr"))
            .expect("endpoint");
        let accepting = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                tokio::spawn(async move {
                    let Ok(connection) = incoming.await else {
                        return;
                    };
                    while let Ok((_send, mut recv)) = connection.accept_bi().await {
                        // Held open, read, never answered.
                        while let Ok(Some(_)) = recv.read_chunk(64 * 1024, true).await {}
                    }
                });
            }
        });
        endpoint
    }

    async fn silent_device(dir: &std::path::Path) -> (quinn::Endpoint, Arc<Device>) {
        let pki = Pki::open(&dir.join("pki"));
        pki.init(&[]).expect("pki");
        let server = silent_gateway(&pki);
        let addr = server.local_addr().expect("addr");
        let settings = DeviceSettings {
            depth: 2,
            timeout_ms: 100,
            attempts: 1,
            source_ip: None,
        };
        let mut devices = connect_all(dir, addr, 1, 1, &settings)
            .await
            .expect("device");
        (server, devices.remove(0))
    }

    fn settings(drain: Duration) -> LaneSettings {
        LaneSettings {
            run_id: "Ltest".into(),
            begin: Instant::now(),
            clock: Clock::start(),
            ended: CancellationToken::new(),
            drain,
            sdk_retries: false,
            outage_over: CancellationToken::new(),
            belief: None,
        }
    }

    fn job(seq: u64) -> Due {
        Due {
            job: Job {
                seq,
                kind: ScanKind::First,
                pass: Some(0),
                token: "not-a-real-token".into(),
                floor: None,
            },
            due: Instant::now(),
        }
    }

    /// With SDK retries, `busy` may answer a retry of an attempt that timed
    /// out and was counted: its outcome is unknown, not a denial.
    #[test]
    fn a_transient_denial_after_sdk_retries_is_unknown() {
        let busy = || {
            let id = ScanId::new("Ltest-0").expect("scan id");
            ScanReply::bare(id, Decision::Denied(Reason::Busy))
        };
        let outcome = |sdk_retries: bool| {
            let s = LaneSettings {
                sdk_retries,
                ..settings(Duration::ZERO)
            };
            let mut out = LaneOutput::default();
            let now = Instant::now();
            record(&mut out, &s, job(0), Some(now), now, Ok(busy().into()));
            assert_eq!(out.recorder.scans, 1);
            out.ops.remove(0).outcome
        };
        assert_eq!(outcome(false), Outcome::Fail(Reason::Busy));
        assert_eq!(outcome(true), Outcome::Info("busy_after_retries".into()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_the_drain_cuts_off_is_recorded_once_as_unanswered_or_never_sent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_server, device) = silent_device(dir.path()).await;
        let (tx, rx) = mpsc::channel(20);
        for seq in 0..20 {
            tx.try_send(job(seq)).expect("queued");
        }
        drop(tx);
        // Two in flight, each timing out after 100 ms: a 300 ms drain ends
        // with most of the twenty still queued.
        let s = settings(Duration::from_millis(300));
        s.ended.cancel();
        let out = lane(rx, device, s, LaneOutput::default()).await;
        assert_eq!(out.ops.len(), 20, "every scan recorded");
        assert_eq!(out.recorder.scans, 20);
        let mut seqs: Vec<u64> = out.ops.iter().map(|op| op.scan).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..20).collect::<Vec<_>>(), "each scan once");
        let class = |op: &Op| match &op.outcome {
            Outcome::Info(class) => class.clone(),
            other => panic!("a silent gateway decided {other:?}"),
        };
        let never_sent = out
            .ops
            .iter()
            .filter(|op| class(op) == "never_sent")
            .count();
        let cut_in_flight = out
            .ops
            .iter()
            .filter(|op| class(op) == "unanswered_at_end")
            .count();
        let timed_out = out.ops.iter().filter(|op| class(op) == "timeout").count();
        assert_eq!(never_sent + cut_in_flight + timed_out, 20);
        // A timeout takes 100 ms and two run at once: at most 8 fit.
        assert!(never_sent >= 12, "{never_sent} never sent");
        assert_eq!(out.abandoned as usize, never_sent + cut_in_flight);
        assert_eq!(
            out.recorder.total.errors.get("unanswered_at_end").copied(),
            Some(out.abandoned)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lane_with_nothing_left_ends_without_sitting_out_the_drain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_server, device) = silent_device(dir.path()).await;
        let (tx, rx) = mpsc::channel(1);
        drop(tx);
        let s = settings(Duration::from_secs(3_600));
        s.ended.cancel();
        let ended = tokio::time::timeout(
            Duration::from_secs(60),
            lane(rx, device, s, LaneOutput::default()),
        )
        .await
        .expect("the lane ended instead of waiting out an hour of drain");
        assert_eq!(ended.recorder.scans, 0);
        assert_eq!(ended.abandoned, 0);
    }
}

/// What an offline-capable lane saw besides its scans.
#[derive(Debug, Default)]
pub struct OfflineLaneOutput {
    /// Every upload acknowledgement and, at the end, what stayed queued.
    pub uploads: Vec<UploadOp>,
    /// When each device first decided offline (one entry per device that did).
    pub first_offline: Vec<Instant>,
    /// When a sync after the outage last left the queue empty.
    pub drained: Option<Instant>,
    /// Offline grants still queued when the lane gave up syncing.
    pub pending: u64,
    /// Syncs that failed (the gateway unreachable, the queue file).
    pub sync_errors: u64,
}
