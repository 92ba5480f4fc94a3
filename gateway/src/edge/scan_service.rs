//! One scan at the gateway: check the request, verify the token (forgeries
//! stop here, touching nothing), hand it to the pass's actor, shape the reply.
//! Every decision is counted here, once: in `scangate_scans_total` (by
//! decision, reason and bounded gate label) and in the live dashboard's
//! aggregate; every fraud flag raised, once, in `scangate_flags_total{kind}`
//! (a replayed answer counts none).

use crate::config::RateLimit;
use crate::edge::gate_label::{Gate, LastGate};
use crate::edge::incidents::{Incidents, Refusal};
use crate::edge::live::{Live, Sample};
use crate::edge::ratelimit::Bucket;
use crate::operator::dashboard::flags::FlagBoard;
use governor::clock::{Clock, DefaultClock};
use metrics::{counter, histogram};
use scangate_actors::{Registry, Scan, ScanError, ScanOutcome};
use scangate_core::flags::{Flag, FlagThresholds};
use scangate_core::pass::{EVENT_MAX_BYTES, GATE_MAX_BYTES, check_name};
use scangate_core::token::{Claims, Keyring};
use scangate_core::wire::{
    ErrorCode, GuardView, ResponseBody, ScanDirection, ScanReply, ScanRequest, WireError,
};
use scangate_core::{Decision, PassId, Reason, ScanId};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The gateway's scan path, shared by every connection.
pub struct ScanService {
    keyring: Keyring,
    registry: Registry,
    live: Arc<Live>,
    undecided_log: Throttle,
    /// Forged and malformed tokens, kept for the operator.
    incidents: Arc<Incidents>,
    /// `forgery_burst` past this many forged or malformed tokens from one
    /// device in a minute.
    forgery_burst_per_minute: u32,
    /// The dashboard's fraud flags panel.
    flag_board: Arc<FlagBoard>,
}

/// What the cheap, synchronous checks decided.
pub enum Precheck {
    /// Answer at once with this.
    Answer(ResponseBody),
    /// Verified: decide through the pass's actor, at this gate.
    Decide(Claims, Arc<Gate>),
}

impl ScanService {
    /// A scan path over this keyring and registry, reporting every decision
    /// to `live`.
    pub fn new(keyring: Keyring, registry: Registry, live: Arc<Live>) -> Self {
        ScanService {
            keyring,
            registry,
            live,
            undecided_log: Throttle::new(),
            incidents: Arc::default(),
            forgery_burst_per_minute: FlagThresholds::default().forgery_burst_per_minute,
            flag_board: Arc::default(),
        }
    }

    /// This scan path showing the flags it raises on `board`.
    pub fn with_flag_board(mut self, board: Arc<FlagBoard>) -> Self {
        self.flag_board = board;
        self
    }

    /// This scan path keeping its incidents in `incidents`, with
    /// `forgery_burst` past `per_minute` tokens from one device.
    pub fn with_incidents(mut self, incidents: Arc<Incidents>, per_minute: u32) -> Self {
        self.incidents = incidents;
        self.forgery_burst_per_minute = per_minute;
        self
    }

    /// The live aggregate this scan path feeds.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// The checks that need no actor, cache or store, cheapest first: field
    /// limits, the device's rate, the token's format and signature; then
    /// whether the store can still record a decision at all. `last_gate`
    /// is the stream's, where the request's gate is looked up once its
    /// name has passed its checks.
    pub fn precheck(
        &self,
        req: &ScanRequest,
        last_gate: &mut LastGate,
        device: &str,
        bucket: &Bucket,
    ) -> Precheck {
        if let Err(e) =
            check_name("gate", &req.gate, GATE_MAX_BYTES).and_then(|()| match &req.event {
                Some(event) => check_name("event", event, EVENT_MAX_BYTES),
                None => Ok(()),
            })
        {
            return Precheck::Answer(counted_error(ErrorCode::InvalidRequest, e.to_string()));
        }
        if req.timeout_ms == Some(0) {
            return Precheck::Answer(counted_error(
                ErrorCode::InvalidRequest,
                "timeout_ms must be at least 1 (or absent)",
            ));
        }
        let gate = last_gate.gate(self.live.gates(), &req.gate);
        if !bucket.try_take() {
            return Precheck::Answer(self.denied(req, gate, Reason::RateLimited));
        }
        let claims = match self.keyring.verify(&req.token) {
            Ok(claims) => claims,
            Err(e) => return Precheck::Answer(self.refused(req, gate, device, bucket, e.reason())),
        };
        // A genuine token with a direction that is none: the scanner's bug,
        // answered here (nothing to decide), after the token so a forgery
        // still reaches the incident log.
        if req.direction == Some(ScanDirection::Unknown) {
            return Precheck::Answer(self.denied(req, gate, Reason::UnknownDirection));
        }
        // Every decision is recorded, so a store that can write nothing more
        // can decide nothing: say so at once (the cause is in the log and on
        // /readyz) rather than start an actor whose commit must fail.
        if self.registry.store_failure().is_some() {
            return Precheck::Answer(counted_error(
                ErrorCode::Unavailable,
                "this gateway's store has failed and records nothing until it is restarted; \
                 retry with the same scan id on another gateway",
            ));
        }
        Precheck::Decide(claims, gate.clone())
    }

    /// Answers a scan that the actor must decide.
    pub async fn decide(
        &self,
        device: &str,
        gate: &Gate,
        claims: Claims,
        req: ScanRequest,
    ) -> ResponseBody {
        let started = Instant::now();
        let scan = Scan {
            scan_id: req.scan_id.clone(),
            gate: req.gate,
            event: req.event,
            device: device.to_owned(),
            scanner_time_ms: req.scanner_time_ms,
            token_not_after_ms: claims.not_after_ms,
            token_generation: claims.generation,
            direction: req.direction.and_then(ScanDirection::known),
            check_only: req.check_only,
            definition: None,
        };
        let wait = req.timeout_ms.map(|ms| Duration::from_millis(ms.into()));
        let check_only = req.check_only;
        let pass = claims.pass_id;
        let body = match self.registry.scan_within(pass, scan, wait).await {
            Ok(out) => {
                let counted = (!check_only).then_some(started);
                self.answered(device, gate, pass, req.scan_id, counted, out)
            }
            Err(e) => self.not_decided(pass, &req.scan_id, e),
        };
        let seconds = started.elapsed().as_secs_f64();
        histogram!("scangate_scan_seconds").record(seconds);
        gate.time(seconds);
        body
    }

    /// The reply to a decided scan, after raising its flags on the board
    /// and counting it with the time since `counted` (`None`: a check-only
    /// scan, which changes nothing, the counts included).
    fn answered(
        &self,
        device: &str,
        gate: &Gate,
        pass: PassId,
        scan_id: ScanId,
        counted: Option<Instant>,
        out: ScanOutcome,
    ) -> ResponseBody {
        if !out.replayed {
            for &flag in &out.flags {
                counter!("scangate_flags_total", "kind" => flag.as_str()).increment(1);
                let at = crate::now_ms();
                self.flag_board
                    .raised(at, flag, Some(pass), device, &gate.name);
            }
        }
        if let Some(started) = counted {
            let granted = out.decision.is_granted() && !out.replayed;
            let took = Some(started.elapsed());
            self.record(gate, out.decision, Some(pass), granted, took);
        }
        let guard = out.uses.is_some().then_some(GuardView {
            valid_until_ms: out.valid_until_ms,
            inside: out.inside,
            zone: out.zone,
            zones: out.zones,
        });
        ResponseBody::Scan(ScanReply {
            scan_id,
            decision: out.decision,
            uses: out.uses,
            max_uses: out.max_uses,
            pass: Some(pass.short()),
            display: out.display,
            replayed: out.replayed,
            flags: out.flags,
            card: out.card,
            guard,
        })
    }

    /// The reply to a scan that was not decided (the store, the deadline,
    /// a scan id of another pass, the gateway stopping).
    fn not_decided(&self, pass: PassId, scan_id: &ScanId, e: ScanError) -> ResponseBody {
        match e {
            ScanError::ScanIdConflict => counted_error(
                ErrorCode::ScanIdConflict,
                format!("scan id {scan_id} was already used for another pass"),
            ),
            ScanError::ShuttingDown => {
                counted_error(ErrorCode::ShuttingDown, "the gateway is shutting down")
            }
            e => {
                if let Some(held_back) = self.undecided_log.admit() {
                    tracing::warn!(
                        pass = %pass.short(),
                        error = %e,
                        not_logged_since = held_back,
                        "scan not decided"
                    );
                }
                counted_error(
                    ErrorCode::Unavailable,
                    format!("{e}; retry with the same scan id"),
                )
            }
        }
    }

    /// A forged or malformed token: denied, kept in the incident log, and
    /// flagged `forgery_burst` when its device sends too many.
    fn refused(
        &self,
        req: &ScanRequest,
        gate: &Gate,
        device: &str,
        bucket: &Bucket,
        reason: Reason,
    ) -> ResponseBody {
        let counted = bucket
            .forgeries()
            .count(Instant::now(), self.forgery_burst_per_minute);
        let refusal = Refusal {
            at_ms: crate::now_ms(),
            device,
            gate: &req.gate,
            reason,
            token: &req.token,
        };
        let flags = self.incidents.note(refusal, counted);
        if counted.first_burst {
            let at = crate::now_ms();
            self.flag_board
                .raised(at, Flag::ForgeryBurst, None, device, &req.gate);
        }
        let mut body = self.denied(req, gate, reason);
        if let ResponseBody::Scan(reply) = &mut body {
            reply.flags = flags;
        }
        body
    }

    /// A denial decided at the edge (no pass state involved) at `gate`.
    pub fn denied(&self, req: &ScanRequest, gate: &Gate, reason: Reason) -> ResponseBody {
        let decision = Decision::Denied(reason);
        self.record(gate, decision, None, false, None);
        ResponseBody::Scan(ScanReply::bare(req.scan_id.clone(), decision))
    }
}

impl ScanService {
    /// Counts one decision in the metrics and the live aggregate.
    fn record(
        &self,
        gate: &Gate,
        decision: Decision,
        pass: Option<PassId>,
        counted_use: bool,
        latency: Option<Duration>,
    ) {
        gate.count(decision);
        self.live.record(
            crate::now_ms(),
            Sample {
                gate,
                decision,
                pass,
                counted_use,
                latency,
            },
        );
    }
}

/// An error reply body; its message is cut to
/// [`scangate_core::wire::ERROR_MESSAGE_MAX_BYTES`] by [`WireError::new`], so
/// an error reply always fits a frame whatever it quotes.
pub fn error(code: ErrorCode, message: impl Into<String>) -> ResponseBody {
    ResponseBody::Error(WireError::new(code, message))
}

/// An error answer to a scan, counted in `scangate_scan_errors_total{code}`:
/// a scan answered with an error is not a decision, so it is not in
/// `scangate_scans_total`, and its log line is throttled.
pub fn counted_error(code: ErrorCode, message: impl Into<String>) -> ResponseBody {
    counter!("scangate_scan_errors_total", "code" => code.as_str()).increment(1);
    error(code, message)
}

/// At most one log line a second for one kind of event: a stalled store
/// fails thousands of scans a second, each already answered, so the log says
/// once a second how many it did not print. A rate limit of one per second.
pub(crate) struct Throttle<C: Clock = DefaultClock> {
    bucket: Bucket<C>,
    held_back: AtomicU64,
}

impl Throttle {
    pub(crate) fn new() -> Self {
        Throttle::with_clock(DefaultClock::default())
    }
}

impl<C: Clock> Throttle<C> {
    fn with_clock(clock: C) -> Self {
        let once_a_second = RateLimit {
            scans_per_s: NonZeroU32::MIN,
            burst: NonZeroU32::MIN,
            ..RateLimit::default()
        };
        Throttle {
            bucket: Bucket::with_clock(&once_a_second, clock),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may be printed now (`n` were held back since
    /// the last one), `None` when this one is held back.
    pub(crate) fn admit(&self) -> Option<u64> {
        if self.bucket.try_take() {
            Some(self.held_back.swap(0, Ordering::Relaxed))
        } else {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Throttle;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    #[test]
    fn the_throttle_prints_once_a_second_and_counts_the_rest() {
        let clock = FakeRelativeClock::default();
        let t = Throttle::with_clock(clock.clone());
        let mut now_ms = 0;
        let mut admit_at = |ms: u64| {
            clock.advance(Duration::from_millis(ms - now_ms));
            now_ms = ms;
            t.admit()
        };
        assert_eq!(admit_at(5), Some(0));
        assert_eq!(admit_at(6), None);
        assert_eq!(admit_at(900), None);
        assert_eq!(admit_at(1_010), Some(2));
        assert_eq!(admit_at(1_011), None);
        assert_eq!(admit_at(5_000), Some(1));
    }
}
