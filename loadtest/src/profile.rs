//! Load profiles and the open-loop schedule they produce.
//!
//! A profile is a rate curve over a window; [`Schedule`] turns it into the
//! due time of every scan (an offset from the start of the run). The driver
//! sends each scan at its due time whatever happened to the earlier ones, and
//! measures latency from that due time, so a slow gateway cannot hide its
//! queueing (no coordinated omission). Pure: no clock, no I/O.

use std::time::Duration;

/// Default number of attendees of the `gate-opening` profile: the mission's
/// stadium, 40,000 people arriving in the same ten minutes.
pub const ATTENDEES_DEFAULT: u64 = 40_000;
/// Default length of the `gate-opening` window, minutes.
pub const MINUTES_DEFAULT: f64 = 10.0;
/// Default number of gates the devices are spread over.
pub const GATES_DEFAULT: u32 = 8;
/// Share of the window spent ramping up to the peak (`gate-opening`).
pub const RAMP_UP_SHARE: f64 = 0.25;
/// Share of the window spent ramping down from the peak (`gate-opening`).
pub const RAMP_DOWN_SHARE: f64 = 0.35;
/// Rate at both edges of the window, as a share of the peak: some people are
/// always early and some late.
pub const EDGE_SHARE: f64 = 0.1;
/// Default seconds between two bursts (a bus or a train arriving).
pub const BURST_EVERY_S_DEFAULT: f64 = 10.0;
/// Default length of one burst, milliseconds.
pub const BURST_MS_DEFAULT: u64 = 500;
/// Default rate multiplier during a burst.
pub const BURST_FACTOR_DEFAULT: f64 = 2.0;
/// Default rate of the `constant` profile, scans per second.
pub const RATE_DEFAULT: f64 = 1_000.0;
/// Default length of the `constant` profile, seconds.
pub const DURATION_S_DEFAULT: f64 = 10.0;

/// Longest run the tool accepts, seconds: a load test is bounded in time.
pub const DURATION_MAX_S: f64 = 3_600.0;
/// Most scans one run may schedule: bounds the history the checker keeps
/// (about 60 bytes a scan) and the time the check takes.
pub const SCANS_MAX: u64 = 20_000_000;
/// Resolution of the schedule: the rate curve is sampled once per slot and
/// the scans of a slot are spread evenly over it.
const SLOT: Duration = Duration::from_millis(1);

/// The shape of the offered load over the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// The same rate from start to end.
    Constant,
    /// A ramp to a peak and back, with short bursts on top.
    GateOpening(Bursts),
}

/// Short bursts on top of the `gate-opening` curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Bursts {
    /// Seconds from the start of one burst to the next.
    pub every_s: f64,
    /// Length of one burst, seconds.
    pub length_s: f64,
    /// Rate multiplier while a burst lasts (1.0: no bursts).
    pub factor: f64,
}

impl Shape {
    /// The relative rate at `t_s` seconds into a window of `window_s`
    /// seconds (any positive scale; the schedule normalizes it).
    pub fn weight(&self, t_s: f64, window_s: f64) -> f64 {
        match self {
            Shape::Constant => 1.0,
            Shape::GateOpening(b) => {
                let x = (t_s / window_s).clamp(0.0, 1.0);
                let level = if x < RAMP_UP_SHARE {
                    x / RAMP_UP_SHARE
                } else if x > 1.0 - RAMP_DOWN_SHARE {
                    (1.0 - x) / RAMP_DOWN_SHARE
                } else {
                    1.0
                };
                let base = EDGE_SHARE + (1.0 - EDGE_SHARE) * level;
                let in_burst = b.every_s > 0.0 && (t_s % b.every_s) < b.length_s;
                if in_burst { base * b.factor } else { base }
            }
        }
    }

    /// The short name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Shape::Constant => "constant",
            Shape::GateOpening(_) => "gate-opening",
        }
    }
}

/// The due times of `total` scans spread over `window` following a shape.
///
/// Deterministic: slot `k` ends with exactly `round(total * W_k / W)` scans
/// due (`W_k` the summed weights up to slot `k`), so the whole run schedules
/// exactly `total` scans.
#[derive(Debug, Clone)]
pub struct Schedule {
    shape: Shape,
    window_s: f64,
    slots: u64,
    total: u64,
    weight_sum: f64,
    slot: u64,
    cumulative: f64,
    emitted: u64,
    in_slot: u64,
    in_slot_done: u64,
}

impl Schedule {
    /// A schedule of `total` scans over `window`.
    pub fn new(shape: Shape, window: Duration, total: u64) -> Self {
        let window_s = window.as_secs_f64();
        let slots = (window.as_nanos().div_ceil(SLOT.as_nanos())).max(1) as u64;
        let weight_sum = (0..slots)
            .map(|k| shape.weight(slot_mid_s(k), window_s))
            .sum::<f64>();
        Schedule {
            shape,
            window_s,
            slots,
            total,
            weight_sum,
            slot: 0,
            cumulative: 0.0,
            emitted: 0,
            in_slot: 0,
            in_slot_done: 0,
        }
    }

    /// Scans this schedule produces in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The peak rate of the schedule, scans per second (bursts included).
    pub fn peak_per_s(&self) -> f64 {
        let per_weight = self.total as f64 / self.weight_sum / SLOT.as_secs_f64();
        (0..self.slots)
            .map(|k| self.shape.weight(slot_mid_s(k), self.window_s))
            .fold(0.0, f64::max)
            * per_weight
    }
}

fn slot_mid_s(k: u64) -> f64 {
    (k as f64 + 0.5) * SLOT.as_secs_f64()
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        while self.in_slot_done == self.in_slot {
            if self.slot >= self.slots || self.weight_sum <= 0.0 {
                return None;
            }
            self.cumulative += self.shape.weight(slot_mid_s(self.slot), self.window_s);
            let target = if self.slot + 1 == self.slots {
                self.total
            } else {
                ((self.total as f64) * self.cumulative / self.weight_sum).round() as u64
            };
            self.in_slot = target.min(self.total).saturating_sub(self.emitted);
            self.in_slot_done = 0;
            self.slot += 1;
        }
        let slot_start = SLOT * u32::try_from(self.slot - 1).unwrap_or(u32::MAX);
        let step = SLOT.as_nanos() as u64 * self.in_slot_done / self.in_slot;
        self.in_slot_done += 1;
        self.emitted += 1;
        Some(slot_start + Duration::from_nanos(step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bursts() -> Bursts {
        Bursts {
            every_s: 1.0,
            length_s: 0.2,
            factor: 2.0,
        }
    }

    #[test]
    fn constant_schedules_exactly_total_in_order() {
        let due: Vec<Duration> =
            Schedule::new(Shape::Constant, Duration::from_secs(2), 1_000).collect();
        assert_eq!(due.len(), 1_000);
        assert!(due.windows(2).all(|w| w[0] <= w[1]));
        assert!(*due.last().expect("last") < Duration::from_secs(2));
        let first_second = due.iter().filter(|d| d.as_secs() == 0).count();
        assert!((499..=501).contains(&first_second), "{first_second}");
    }

    #[test]
    fn gate_opening_peaks_in_the_middle_with_bursts() {
        let shape = Shape::GateOpening(bursts());
        let due: Vec<Duration> = Schedule::new(shape, Duration::from_secs(10), 20_000).collect();
        assert_eq!(due.len(), 20_000);
        let per_s = |s: u64| due.iter().filter(|d| d.as_secs() == s).count();
        assert!(per_s(5) > 2 * per_s(0), "{} vs {}", per_s(5), per_s(0));
        let burst = due
            .iter()
            .filter(|d| d.as_secs() == 5 && d.subsec_millis() < 200)
            .count();
        let calm = due
            .iter()
            .filter(|d| d.as_secs() == 5 && (400..600).contains(&d.subsec_millis()))
            .count();
        assert!(burst > calm * 3 / 2, "burst {burst} calm {calm}");
    }

    #[test]
    fn peak_accounts_for_bursts() {
        let s = Schedule::new(Shape::Constant, Duration::from_secs(4), 4_000);
        assert!((s.peak_per_s() - 1_000.0).abs() < 1.0);
        let g = Schedule::new(Shape::GateOpening(bursts()), Duration::from_secs(4), 4_000);
        assert!(g.peak_per_s() > 1_000.0);
    }

    #[test]
    fn tiny_and_empty_schedules() {
        assert_eq!(
            Schedule::new(Shape::Constant, Duration::from_millis(1), 3).count(),
            3
        );
        assert_eq!(
            Schedule::new(Shape::Constant, Duration::from_secs(1), 0).count(),
            0
        );
    }
}
