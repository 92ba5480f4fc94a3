//! The one place this crate reads the wall clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC, from the system clock.
///
/// Decisions are taken with this time (`scangate-core` never reads a clock).
/// A clock set before 1970 reads as 0 rather than failing a scan.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
