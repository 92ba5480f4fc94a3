//! The run's clock: one monotonic start instant, mapped once to Unix time,
//! so every time the tool records is on one steady scale that can be
//! compared with the gateway's Unix-millisecond timestamps.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The start of a run, in both clocks.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// When the run started (monotonic).
    pub start: Instant,
    /// The same moment in Unix milliseconds.
    pub start_unix_ms: i64,
}

impl Clock {
    /// Starts the clock now.
    pub fn start() -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            start: Instant::now(),
            start_unix_ms: i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// An instant as Unix milliseconds on this run's scale.
    pub fn unix_ms(&self, at: Instant) -> i64 {
        let offset = at.saturating_duration_since(self.start).as_millis();
        self.start_unix_ms
            .saturating_add(i64::try_from(offset).unwrap_or(i64::MAX))
    }

    /// Now, as Unix milliseconds on this run's scale.
    pub fn unix_ms_now(&self) -> i64 {
        self.unix_ms(Instant::now())
    }

    /// Microseconds from the start to `at` (0 before the start).
    pub fn offset_us(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_micros()).unwrap_or(u64::MAX)
    }

    /// The instant `offset` after the start.
    pub fn at(&self, offset: Duration) -> Instant {
        self.start + offset
    }
}
