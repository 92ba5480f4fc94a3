//! Gate names as metric labels and dashboard keys, with their number bounded.
//!
//! A gate name is whatever string a scanner sends (up to `GATE_MAX_BYTES`).
//! Used as a Prometheus label value or a map key as is, a misconfigured or
//! hostile scanner could create a new time series per scan. So the first
//! [`GATE_LABELS_MAX`] distinct names seen are kept; every later one is
//! reported as [`OTHER_GATE`].

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

/// Distinct gate names reported as themselves. A large venue has tens of
/// gates, a festival site perhaps a hundred lanes; 256 leaves room while
/// keeping `scangate_scans_total` below 256 × 2 decisions × 13 reasons series.
pub const GATE_LABELS_MAX: usize = 256;

/// The label every gate name beyond [`GATE_LABELS_MAX`] is reported as.
pub const OTHER_GATE: &str = "other";

/// The gate names seen so far, interned so that a label costs one `Arc` clone.
pub struct GateLabels {
    seen: RwLock<HashSet<Arc<str>>>,
    other: Arc<str>,
}

impl Default for GateLabels {
    fn default() -> Self {
        GateLabels {
            seen: RwLock::new(HashSet::with_capacity(GATE_LABELS_MAX)),
            other: Arc::from(OTHER_GATE),
        }
    }
}

impl GateLabels {
    /// The label for `gate`: the name itself while fewer than
    /// [`GATE_LABELS_MAX`] names have been seen (or if it was seen already),
    /// [`OTHER_GATE`] after that.
    pub fn label(&self, gate: &str) -> Arc<str> {
        // A poisoned lock only means another thread panicked mid-insert; the
        // set is still a valid set.
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
        let label: Arc<str> = Arc::from(gate);
        seen.insert(label.clone());
        label
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_beyond_the_cap_are_other() {
        let labels = GateLabels::default();
        for i in 0..GATE_LABELS_MAX {
            assert_eq!(&*labels.label(&format!("g{i}")), format!("g{i}"));
        }
        assert_eq!(&*labels.label("one-too-many"), OTHER_GATE);
        // Names seen before the cap keep their own label.
        assert_eq!(&*labels.label("g0"), "g0");
        assert_eq!(
            labels.seen.read().map(|s| s.len()).unwrap_or(0),
            GATE_LABELS_MAX
        );
    }
}
