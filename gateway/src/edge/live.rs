//! The live view behind the dashboard: a bounded, in-memory aggregate of the
//! scans this gateway decided, fed by the scan path on every decision and
//! published as one JSON [`Snapshot`] per second.
//!
//! Every collection here has a named bound; memory does not grow with the
//! number of scans. Nothing personal is kept: a pass appears only as its short
//! id (8 hex digits), and tokens never reach this module. The numbers start
//! from zero when the gateway starts (Prometheus keeps the long history).

use crate::edge::gate_label::{GATE_SLOTS, Gate, GateLabels};
use crate::health::HealthProbe;
use hdrhistogram::Histogram;
use scangate_core::pass::Pass;
use scangate_core::{Decision, PassId, Reason};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Seconds of per-second history kept (the scans/s chart, p50/p99, warnings):
/// one minute is what a person watching the gates reads at a glance.
pub const WINDOW_SECS: usize = 60;
/// Seconds the scans/s figures are averaged over: short enough to follow a
/// gate opening, long enough not to flicker.
pub const RATE_SECS: usize = 10;
/// Most recent denials kept: a screenful, enough to see a pattern.
pub const RECENT_DENIALS_MAX: usize = 50;
/// Events tracked by name; later ones are summed as `other`. Events are
/// created by operators, so this is generous for one gateway.
pub const EVENTS_MAX: usize = 64;
/// Passes issued since start whose event is remembered, to count their grants
/// per event (a pass id and an index: about 32 bytes each, so ~32 MB at most).
/// Passes beyond it still add to their event's capacity, but their grants are
/// counted in [`Snapshot::grants_unattributed`] instead.
pub const ISSUED_TRACKED_MAX: usize = 1_000_000;
/// How often a snapshot is published.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);
/// The largest latency the per-second histograms tell apart, microseconds:
/// 60 s, above any scan deadline; a slower scan counts as 60 s.
const LATENCY_MAX_US: u64 = 60_000_000;
/// Significant decimal digits of the latency histograms: p50/p99 within 1 %.
/// With [`LATENCY_MAX_US`] that is 2,560 counters (20 KiB) per second of
/// history, about 1.2 MiB for the whole window.
const LATENCY_SIGFIG: u8 = 2;
const _: () = assert!(RATE_SECS < WINDOW_SECS, "the rate is read from the window");
/// Per-second slots: the window plus the second now filling.
const SLOTS: usize = WINDOW_SECS + 1;

/// One decision, as the scan path reports it.
pub struct Sample<'a> {
    /// The gate (see [`GateLabels`]).
    pub gate: &'a Gate,
    /// Granted or denied and why.
    pub decision: Decision,
    /// The pass, when the token verified.
    pub pass: Option<PassId>,
    /// True when this decision counted a use (a grant that is not a replay).
    pub counted_use: bool,
    /// Time to decide, for scans that went through the pass's actor.
    pub latency: Option<Duration>,
}

/// The live aggregate. Cheap to feed: one uncontended lock and a few adds per scan.
pub struct Live {
    gates: GateLabels,
    inner: Mutex<Inner>,
    scanners: AtomicUsize,
    started_ms: i64,
    health: Option<Arc<HealthProbe>>,
}

#[derive(Default)]
struct Inner {
    seconds: Vec<Second>,
    /// By [`Gate::index`]; a gate's slot holds its name from its first scan.
    gates: Vec<GateTotals>,
    reasons: [u64; Reason::ALL.len()],
    granted: u64,
    denied: u64,
    busy: u64,
    rate_limited: u64,
    recent: VecDeque<Denial>,
    events: Vec<EventTotals>,
    issued: HashMap<PassId, u16>,
    grants_unattributed: u64,
    /// By [`Gate::index`]: a gate's recent latencies, from its first timed scan.
    gate_latency: Vec<Option<Box<GateLatency>>>,
}

/// One second of history; reused (reset) when its slot comes round again.
#[derive(Clone)]
struct Second {
    at_s: i64,
    scans: u32,
    busy: u32,
    rate_limited: u32,
    /// Time to decide, microseconds.
    latency: Histogram<u64>,
    /// Scans by [`Gate::index`] (`GATE_SLOTS` long).
    gates: Vec<u32>,
}

#[derive(Default, Clone)]
struct GateTotals {
    /// `None` until the gate's first scan.
    name: Option<Arc<str>>,
    granted: u64,
    denied: u64,
}

struct Denial {
    at_ms: i64,
    gate: Arc<str>,
    reason: Reason,
    pass: Option<PassId>,
}

struct EventTotals {
    name: Arc<str>,
    passes: u64,
    capacity: u64,
    unlimited: u64,
    grants: u64,
}

/// Counts a scanner connection while it lives.
pub struct ScannerGuard(Arc<Live>);

impl Drop for ScannerGuard {
    fn drop(&mut self) {
        self.0.scanners.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Live {
    /// An empty aggregate; `now_ms` is the start.
    pub fn new(now_ms: i64) -> Arc<Live> {
        Live::build(now_ms, None)
    }

    /// [`Live::new`], whose snapshots also carry the gateway's health (the
    /// store's state and the data dir's room).
    pub fn with_health(now_ms: i64, health: Arc<HealthProbe>) -> Arc<Live> {
        Live::build(now_ms, Some(health))
    }

    fn build(now_ms: i64, health: Option<Arc<HealthProbe>>) -> Arc<Live> {
        let second = Second {
            at_s: 0,
            scans: 0,
            busy: 0,
            rate_limited: 0,
            latency: latency_histogram(),
            gates: vec![0; GATE_SLOTS],
        };
        let inner = Inner {
            seconds: vec![second; SLOTS],
            gates: vec![GateTotals::default(); GATE_SLOTS],
            gate_latency: (0..GATE_SLOTS).map(|_| None).collect(),
            ..Inner::default()
        };
        Arc::new(Live {
            gates: GateLabels::default(),
            inner: Mutex::new(inner),
            scanners: AtomicUsize::new(0),
            started_ms: now_ms,
            health,
        })
    }

    /// The gates scans are counted at: their bounded labels and metrics.
    pub fn gates(&self) -> &GateLabels {
        &self.gates
    }

    /// Counts an open scanner connection until the guard is dropped.
    pub fn scanner_connected(self: &Arc<Self>) -> ScannerGuard {
        self.scanners.fetch_add(1, Ordering::Relaxed);
        ScannerGuard(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Poisoned only if a panic hit mid-update: the counters stay usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one decision made at `now_ms`.
    pub fn record(&self, now_ms: i64, sample: Sample<'_>) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let second = slot(&mut inner.seconds, now_ms.div_euclid(1000));
        second.scans += 1;
        second.gates[sample.gate.index] += 1;
        if let Some(latency) = sample.latency {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            second.latency.saturating_record(us);
            inner.gate_latency[sample.gate.index]
                .get_or_insert_with(GateLatency::new)
                .record(now_ms.div_euclid(1000), us);
        }
        let gate = &mut inner.gates[sample.gate.index];
        if gate.name.is_none() {
            gate.name = Some(sample.gate.name.clone());
        }
        match sample.decision.reason() {
            None => {
                inner.granted += 1;
                gate.granted += 1;
            }
            Some(reason) => {
                inner.denied += 1;
                gate.denied += 1;
                inner.reasons[reason.index()] += 1;
                match reason {
                    Reason::Busy => {
                        inner.busy += 1;
                        second.busy += 1;
                    }
                    Reason::RateLimited => {
                        inner.rate_limited += 1;
                        second.rate_limited += 1;
                    }
                    _ => {}
                }
                if inner.recent.len() == RECENT_DENIALS_MAX {
                    inner.recent.pop_front();
                }
                inner.recent.push_back(Denial {
                    at_ms: now_ms,
                    gate: sample.gate.name.clone(),
                    reason,
                    pass: sample.pass,
                });
            }
        }
        if sample.counted_use {
            let event = sample.pass.and_then(|id| inner.issued.get(&id).copied());
            match event.and_then(|i| inner.events.get_mut(usize::from(i))) {
                Some(event) => event.grants += 1,
                None => inner.grants_unattributed += 1,
            }
        }
    }

    /// Adds freshly issued passes to their events' capacity.
    pub fn issued(&self, passes: &[Pass]) {
        self.add_issued(passes.iter().map(|p| (p.id, p.event.as_str(), p.max_uses)));
    }

    /// Adds passes, as `(id, event, max_uses)`, to their events' capacity.
    fn add_issued<'a>(&self, passes: impl Iterator<Item = (PassId, &'a str, Option<u32>)>) {
        let mut inner = self.lock();
        for (id, event, max_uses) in passes {
            let index = inner.event_index(event);
            let event = &mut inner.events[usize::from(index)];
            event.passes += 1;
            match max_uses {
                Some(n) => event.capacity += u64::from(n),
                None => event.unlimited += 1,
            }
            if inner.issued.len() < ISSUED_TRACKED_MAX {
                inner.issued.insert(id, index);
            }
        }
    }

    /// The figures as of `now_ms`.
    pub fn snapshot(&self, now_ms: i64) -> Snapshot {
        // Outside the lock: the store and the disk are asked, not the scans.
        let health = self.health.as_ref().map(|probe| probe.sample());
        let inner = self.lock();
        let now_s = now_ms.div_euclid(1000);
        let window = inner.window(now_s);
        Snapshot {
            at_ms: now_ms,
            uptime_s: (now_ms - self.started_ms).max(0) / 1000,
            window_s: WINDOW_SECS,
            rate_s: RATE_SECS,
            scanners: self.scanners.load(Ordering::Relaxed),
            scans: inner.granted + inner.denied,
            granted: inner.granted,
            denied: inner.denied,
            scans_per_s: inner.rate(now_s, None),
            series: window.series,
            latency_ms: Latency {
                p50: quantile_ms(&window.latency, 0.50),
                p99: quantile_ms(&window.latency, 0.99),
                samples: window.latency.len(),
            },
            gates: inner.gate_views(now_s),
            reasons: Reason::ALL
                .iter()
                .map(|r| ReasonCount {
                    reason: r.as_str(),
                    count: inner.reasons[r.index()],
                })
                .collect(),
            events: inner.event_views(),
            grants_unattributed: inner.grants_unattributed,
            recent_denials: inner.denial_views(),
            warnings: Warnings {
                busy: window.busy,
                rate_limited: window.rate_limited,
                busy_total: inner.busy,
                rate_limited_total: inner.rate_limited,
            },
            health,
        }
    }

    /// Publishes a JSON snapshot every [`SNAPSHOT_INTERVAL`] until `stop` is
    /// cancelled; then the channel closes, which ends every live stream. A
    /// watch channel holds only the latest snapshot: a slow reader skips
    /// snapshots, it never queues them.
    pub fn publish(self: &Arc<Self>, stop: CancellationToken) -> watch::Receiver<Arc<str>> {
        let (tx, rx) = watch::channel(self.json(crate::now_ms()));
        let live = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SNAPSHOT_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                tx.send_replace(live.json(crate::now_ms()));
            }
        });
        rx
    }

    /// The snapshot as JSON.
    pub fn json(&self, now_ms: i64) -> Arc<str> {
        // Serializing plain structs of numbers and strings cannot fail.
        serde_json::to_string(&self.snapshot(now_ms))
            .unwrap_or_default()
            .into()
    }
}

/// The slot for second `at_s`, reset if it last held an older second.
fn slot(seconds: &mut [Second], at_s: i64) -> &mut Second {
    let slot = &mut seconds[at_s.rem_euclid(SLOTS as i64) as usize];
    if slot.at_s != at_s {
        slot.at_s = at_s;
        slot.scans = 0;
        slot.busy = 0;
        slot.rate_limited = 0;
        slot.latency.reset();
        slot.gates.fill(0);
    }
    slot
}

impl Inner {
    /// The index of `name` in `events`, adding it (or `other`, past the cap).
    fn event_index(&mut self, name: &str) -> u16 {
        const _: () = assert!(EVENTS_MAX < u16::MAX as usize);
        let name =
            if self.events.len() >= EVENTS_MAX && !self.events.iter().any(|e| &*e.name == name) {
                "other"
            } else {
                name
            };
        if let Some(i) = self.events.iter().position(|e| &*e.name == name) {
            return i as u16;
        }
        self.events.push(EventTotals {
            name: Arc::from(name),
            passes: 0,
            capacity: 0,
            unlimited: 0,
            grants: 0,
        });
        (self.events.len() - 1) as u16
    }
}

/// The last [`WINDOW_SECS`] whole seconds, summed for a snapshot.
struct Window {
    /// Scans per second, oldest first.
    series: Vec<u32>,
    /// Decision latencies over the window.
    latency: Histogram<u64>,
    /// `busy` answers over the window.
    busy: u64,
    /// `rate_limited` answers over the window.
    rate_limited: u64,
}

/// Reading the aggregate for a snapshot (whole seconds only: the current
/// one is still filling).
impl Inner {
    fn window(&self, now_s: i64) -> Window {
        let mut w = Window {
            series: vec![0u32; WINDOW_SECS],
            latency: latency_histogram(),
            busy: 0,
            rate_limited: 0,
        };
        let in_window = |s: &&Second| s.at_s >= now_s - WINDOW_SECS as i64 && s.at_s < now_s;
        for s in self.seconds.iter().filter(in_window) {
            let age = (now_s - s.at_s) as usize; // 1..=WINDOW_SECS
            w.series[WINDOW_SECS - age] = s.scans;
            // Same bounds on both sides, so adding cannot fail.
            let _ = w.latency.add(&s.latency);
            w.busy += u64::from(s.busy);
            w.rate_limited += u64::from(s.rate_limited);
        }
        w
    }

    /// Scans per second over the last [`RATE_SECS`], of one gate or all.
    fn rate(&self, now_s: i64, gate: Option<usize>) -> f64 {
        let in_rate = |s: &&Second| s.at_s >= now_s - RATE_SECS as i64 && s.at_s < now_s;
        let scans: u64 = self
            .seconds
            .iter()
            .filter(in_rate)
            .map(|s| u64::from(gate.map_or(s.scans, |g| s.gates[g])))
            .sum();
        scans as f64 / RATE_SECS as f64
    }

    fn gate_views(&self, now_s: i64) -> Vec<GateView> {
        let mut gates: Vec<GateView> = self
            .gates
            .iter()
            .enumerate()
            .filter_map(|(index, t)| {
                Some(GateView {
                    gate: t.name.as_deref()?.to_owned(),
                    scans_per_s: self.rate(now_s, Some(index)),
                    p99_ms: self.gate_latency[index]
                        .as_ref()
                        .and_then(|g| g.p99_ms(now_s)),
                    granted: t.granted,
                    denied: t.denied,
                })
            })
            .collect();
        gates.sort_by(|a, b| a.gate.cmp(&b.gate));
        gates
    }

    fn event_views(&self) -> Vec<EventView> {
        self.events
            .iter()
            .map(|e| EventView {
                event: e.name.to_string(),
                passes: e.passes,
                capacity: e.capacity,
                unlimited: e.unlimited,
                grants: e.grants,
            })
            .collect()
    }

    /// The recent denials, newest first.
    fn denial_views(&self) -> Vec<DenialView> {
        self.recent
            .iter()
            .rev()
            .map(|d| DenialView {
                at_ms: d.at_ms,
                gate: d.gate.to_string(),
                reason: d.reason.as_str(),
                pass: d.pass.map(|p| p.short()),
            })
            .collect()
    }
}

/// An empty latency histogram of [`LATENCY_MAX_US`] and [`LATENCY_SIGFIG`].
/// Its arguments are constants that hdrhistogram accepts (low 1 ≥ 1, high
/// ≥ 2 × low, sigfig ≤ 5), so it cannot fail at run time;
/// `quantiles_are_within_one_percent` builds one.
#[allow(clippy::expect_used)]
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_SIGFIG)
        .expect("constant bounds that hdrhistogram accepts")
}

/// The `q` quantile in milliseconds; `None` with no samples.
fn quantile_ms(latency: &Histogram<u64>, q: f64) -> Option<f64> {
    (!latency.is_empty()).then(|| latency.value_at_quantile(q) as f64 / 1000.0)
}

mod gate_latency;
use gate_latency::GateLatency;
mod snapshot;
pub use snapshot::{DenialView, EventView, GateView, Latency, ReasonCount, Snapshot, Warnings};

#[cfg(test)]
mod tests;
