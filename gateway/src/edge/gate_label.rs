//! Gate names as metric labels and dashboard keys, with their number bounded.
//!
//! A gate name is whatever string a scanner sends (up to `GATE_MAX_BYTES`).
//! Used as a Prometheus label value or a map key as is, a misconfigured or
//! hostile scanner could create a new time series per scan. So the first
//! [`GATE_LABELS_MAX`] distinct names seen are kept; every later one is
//! reported as [`OTHER_GATE`].

use metrics::{Counter, Histogram, SharedString, counter, histogram};
use scangate_core::{Decision, Reason};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

/// Distinct gate names reported as themselves. A large venue has tens of
/// gates, a festival site perhaps a hundred lanes; 256 leaves room while
/// keeping `scangate_scans_total` below 256 × (one grant, one override and
/// one per denial reason) series.
pub const GATE_LABELS_MAX: usize = 256;

/// The label every gate name beyond [`GATE_LABELS_MAX`] is reported as.
pub const OTHER_GATE: &str = "other";

/// The `reason` label of a guard's override admission in
/// `scangate_scans_total` (with `decision="granted"`): a grant the rules
/// did not make, told apart from the scanners' (`reason="none"`); no
/// denial reason is spelled so.
pub const OVERRIDE_REASON: &str = "override";

/// Distinct [`Gate::index`] values: every named gate and [`OTHER_GATE`].
pub const GATE_SLOTS: usize = GATE_LABELS_MAX + 1;

/// A gate as the metrics and the dashboard see it: its label and its
/// `scangate_scans_total` series, each looked up in the metrics registry
/// once and then only incremented: the lookup hashes three labels and
/// allocates a key, too much to pay on every scan.
pub struct Gate {
    /// The name, or [`OTHER_GATE`].
    pub name: Arc<str>,
    /// Where the live aggregate keeps this gate's figures: the order in
    /// which the gates were first seen, [`GATE_LABELS_MAX`] for
    /// [`OTHER_GATE`]; below [`GATE_SLOTS`].
    pub index: usize,
    /// One series per decision: granted, then each reason of
    /// [`Reason::ALL`]; registered at its first scan, as before.
    scans: [OnceLock<Counter>; 1 + Reason::ALL.len()],
    /// Its series of guard overrides ([`OVERRIDE_REASON`]), registered at
    /// its first override.
    overrides: OnceLock<Counter>,
    /// Its `scangate_gate_scan_seconds` series, registered at its first
    /// timed scan.
    latency: OnceLock<Histogram>,
}

impl Gate {
    fn new(name: Arc<str>, index: usize) -> Arc<Gate> {
        Arc::new(Gate {
            name,
            index,
            scans: std::array::from_fn(|_| OnceLock::new()),
            overrides: OnceLock::new(),
            latency: OnceLock::new(),
        })
    }

    /// Records the time to decide one scan at this gate that reached its
    /// pass's actor, in `scangate_gate_scan_seconds`.
    pub fn time(&self, seconds: f64) {
        self.latency
            .get_or_init(|| {
                histogram!(
                    "scangate_gate_scan_seconds",
                    "gate" => SharedString::from(self.name.clone()),
                )
            })
            .record(seconds);
    }

    /// Counts one decision taken at this gate in `scangate_scans_total`.
    pub fn count(&self, decision: Decision) {
        let slot = decision.reason().map_or(0, |r| 1 + r.index());
        self.scans[slot]
            .get_or_init(|| {
                counter!(
                    "scangate_scans_total",
                    "decision" => scangate_api::decision_word(decision.is_granted()),
                    "reason" => decision.reason().map_or("none", Reason::as_str),
                    "gate" => SharedString::from(self.name.clone()),
                )
            })
            .increment(1);
    }

    /// Counts one guard's override admission at this gate in
    /// `scangate_scans_total`, as `granted` with reason [`OVERRIDE_REASON`].
    pub fn count_override(&self) {
        self.overrides
            .get_or_init(|| {
                counter!(
                    "scangate_scans_total",
                    "decision" => scangate_api::decision_word(true),
                    "reason" => OVERRIDE_REASON,
                    "gate" => SharedString::from(self.name.clone()),
                )
            })
            .increment(1);
    }
}

/// The gates seen so far, so that a scan's gate costs one map lookup.
pub struct GateLabels {
    seen: RwLock<HashMap<Arc<str>, Arc<Gate>>>,
    other: Arc<Gate>,
}

impl Default for GateLabels {
    fn default() -> Self {
        GateLabels {
            seen: RwLock::new(HashMap::with_capacity(GATE_LABELS_MAX)),
            other: Gate::new(Arc::from(OTHER_GATE), GATE_LABELS_MAX),
        }
    }
}

impl GateLabels {
    /// The gate named `gate`: itself while fewer than [`GATE_LABELS_MAX`]
    /// names have been seen (or if it was seen already), the
    /// [`OTHER_GATE`] after that.
    pub fn label(&self, gate: &str) -> Arc<Gate> {
        if gate == OTHER_GATE {
            // One gate answers to the name, whether a scanner sent it or it
            // stands for every name past the cap.
            return self.other.clone();
        }
        // A poisoned lock only means another thread panicked mid-insert; the
        // map is still a valid map.
        if let Some(known) = self
            .seen
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(gate)
        {
            return known.clone();
        }
        let mut seen = self.seen.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = seen.get(gate) {
            return known.clone();
        }
        if seen.len() >= GATE_LABELS_MAX {
            return self.other.clone();
        }
        let name: Arc<str> = Arc::from(gate);
        let entry = Gate::new(name.clone(), seen.len());
        seen.insert(name, entry.clone());
        entry
    }
}

/// The gate a stream's scans were last at. A scanner sends the same gate
/// name scan after scan, so a stream looks its gate up again only when the
/// name changes: a comparison of a few bytes instead of a lock and a hash.
/// (A name past the cap reads back as [`OTHER_GATE`], so it is looked up
/// every time, as without this.)
pub struct LastGate(Arc<Gate>);

impl LastGate {
    /// Nothing seen yet.
    pub fn new(labels: &GateLabels) -> Self {
        LastGate(labels.other.clone())
    }

    /// The gate named `name`, as [`GateLabels::label`] gives it.
    pub fn gate(&mut self, labels: &GateLabels, name: &str) -> &Arc<Gate> {
        if *self.0.name != *name {
            self.0 = labels.label(name);
        }
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_beyond_the_cap_are_other() {
        let labels = GateLabels::default();
        for i in 0..GATE_LABELS_MAX {
            assert_eq!(&*labels.label(&format!("g{i}")).name, format!("g{i}"));
        }
        assert_eq!(&*labels.label("one-too-many").name, OTHER_GATE);
        // Names seen before the cap keep their own label.
        assert_eq!(&*labels.label("g0").name, "g0");
        // A gate is made once: every scan at it shares its counters.
        assert!(Arc::ptr_eq(&labels.label("g1"), &labels.label("g1")));
        assert!(Arc::ptr_eq(
            &labels.label("one-too-many"),
            &labels.label("another")
        ));
        assert_eq!(
            labels.seen.read().map(|s| s.len()).unwrap_or(0),
            GATE_LABELS_MAX
        );
        // Each gate has its own slot, `other` the last one.
        let mut slots: Vec<usize> = (0..GATE_LABELS_MAX)
            .map(|i| labels.label(&format!("g{i}")).index)
            .collect();
        slots.push(labels.label("another").index);
        slots.sort_unstable();
        assert_eq!(slots, (0..GATE_SLOTS).collect::<Vec<_>>());
    }

    #[test]
    fn the_override_reason_is_no_denial_reason() {
        assert!(Reason::ALL.iter().all(|r| r.as_str() != OVERRIDE_REASON));
        assert_ne!(OVERRIDE_REASON, "none");
    }

    #[test]
    fn a_gate_named_other_is_the_other_gate() {
        let labels = GateLabels::default();
        assert!(Arc::ptr_eq(&labels.label(OTHER_GATE), &labels.other));
        assert_eq!(labels.seen.read().map(|s| s.len()).unwrap_or(1), 0);
    }

    #[test]
    fn the_last_gate_follows_the_name() {
        let labels = GateLabels::default();
        let mut last = LastGate::new(&labels);
        let north = last.gate(&labels, "north").clone();
        assert_eq!(&*north.name, "north");
        assert!(Arc::ptr_eq(last.gate(&labels, "north"), &north));
        assert_eq!(&*last.gate(&labels, "south").name, "south");
        assert!(Arc::ptr_eq(last.gate(&labels, "north"), &north));
        assert!(Arc::ptr_eq(last.gate(&labels, OTHER_GATE), &labels.other));
    }
}
