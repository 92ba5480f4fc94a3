//! The figures the dashboard shows, as sent to it (JSON, once per second).
//! Nothing here identifies a person: gates, events, reasons, counts, and a
//! pass only as its 8-hex-digit prefix.

use crate::health::Health;
use serde::Serialize;

/// What the dashboard shows; sent as JSON once per second.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// When it was taken (Unix milliseconds).
    pub at_ms: i64,
    /// Seconds since the gateway started (the counters start then).
    pub uptime_s: i64,
    /// Seconds of history behind `series`, latency and warnings.
    pub window_s: usize,
    /// Seconds `scans_per_s` is averaged over.
    pub rate_s: usize,
    /// Scanner connections open now.
    pub scanners: usize,
    /// Scans decided since start.
    pub scans: u64,
    /// Of which granted.
    pub granted: u64,
    /// Of which denied.
    pub denied: u64,
    /// Scans per second over the last `rate_s` whole seconds.
    pub scans_per_s: f64,
    /// Scans in each of the last `window_s` whole seconds, oldest first.
    pub series: Vec<u32>,
    /// Decision latency over the window (scans that reached a pass's actor).
    pub latency_ms: Latency,
    /// Per gate, by name.
    pub gates: Vec<GateView>,
    /// Denials by reason since start (every reason, zeros included).
    pub reasons: Vec<ReasonCount>,
    /// Uses against issued capacity, per event, for passes issued since start.
    pub events: Vec<EventView>,
    /// Grants of passes whose event is not known here (issued before this
    /// start, or beyond [`ISSUED_TRACKED_MAX`](super::ISSUED_TRACKED_MAX)).
    pub grants_unattributed: u64,
    /// Most recent denials, newest first.
    pub recent_denials: Vec<DenialView>,
    /// Overload signs.
    pub warnings: Warnings,
    /// The store's state and the data dir's room (absent for an aggregate
    /// made without a probe, as in unit tests).
    pub health: Option<Health>,
}

/// p50 and p99, milliseconds; `None` with no samples.
#[derive(Debug, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Scans measured.
    pub samples: u64,
}

/// One gate's figures.
#[derive(Debug, Serialize)]
pub struct GateView {
    /// Its label (`other` collects names beyond the cap).
    pub gate: String,
    /// Scans per second over the last `rate_s` seconds.
    pub scans_per_s: f64,
    /// The 99th percentile of its time to decide, milliseconds, over its
    /// scans of the last 30 to 60 s that reached a pass's actor; `null`
    /// when there were none.
    pub p99_ms: Option<f64>,
    /// Granted since start.
    pub granted: u64,
    /// Denied since start.
    pub denied: u64,
}

/// Denials for one reason.
#[derive(Debug, Serialize)]
pub struct ReasonCount {
    /// The contract spelling, e.g. `used_up`.
    pub reason: &'static str,
    /// Denials since start.
    pub count: u64,
}

/// One event's uses against capacity.
#[derive(Debug, Serialize)]
pub struct EventView {
    /// The event name.
    pub event: String,
    /// Passes issued since start.
    pub passes: u64,
    /// Sum of `max_uses` of those passes (unlimited ones excluded).
    pub capacity: u64,
    /// Of those passes, how many are unlimited.
    pub unlimited: u64,
    /// Uses counted on those passes since start.
    pub grants: u64,
}

/// One recent denial: no token, no personal data.
#[derive(Debug, Serialize)]
pub struct DenialView {
    /// When (Unix milliseconds).
    pub at_ms: i64,
    /// The gate's label.
    pub gate: String,
    /// Why.
    pub reason: &'static str,
    /// The pass's first 8 hex digits, when the token verified.
    pub pass: Option<String>,
}

/// Overload signs, over the window and since start.
#[derive(Debug, Serialize)]
pub struct Warnings {
    /// `busy` answers in the window.
    pub busy: u64,
    /// `rate_limited` answers in the window.
    pub rate_limited: u64,
    /// `busy` answers since start.
    pub busy_total: u64,
    /// `rate_limited` answers since start.
    pub rate_limited_total: u64,
}
